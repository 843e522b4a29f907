#!/usr/bin/env bash
# The managed build (no C) against the C build, in one run: the local
# cluster that `make test` (scripts/setup.sh) prepared runs the C build, a
# managed cluster (regress/managed/cluster.sh, in .run/managed-bench) the
# managed one, on the same machine, one after the other. In a fresh
# database of each (the same steps):
#   - transfers: pgbench, C clients for T seconds, bench/transfer.pgbench
#     over A accounts (random pairs), with synchronous_commit off so that
#     the figure is the functions' work rather than the disk's flushes:
#     transactions per second, best of R rounds, the two builds taking
#     turns (both clusters run at once, the machine is shared);
#   - login: L logins (pgbank.login, a right password, each build's default
#     hash: Argon2id at libsodium's interactive cost for C, bcrypt cost 10
#     for managed), timed inside the server: logins per second;
#   - token check: N JWT HS256 tokens issued, then token_verify of all of
#     them in one statement (the managed build has no PASETO; the C build's
#     PASETO figure is printed beside): tokens per second.
# Prints each figure and the ratio managed / C.
# Usage: bench/managed.sh [T] [C] [A] [L] [N] [R]  (defaults 10 4 1000 20 5000 3)
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$PGBANK_ROOT"
. regress/managed/cluster.sh

T=${1:-10} C=${2:-4} A=${3:-1000} L=${4:-20} N=${5:-5000} R=${6:-3}
case "$T$C$A$L$N$R" in *[!0-9]*) echo "usage: bench/managed.sh [T] [C] [A] [L] [N] [R]" >&2; exit 2 ;; esac
trap managed_stop EXIT
db=pgbank_bench_managed

# prepare PSQL...: a fresh database with pgbank, A funded accounts, a key
prepare() {
	as_pg "$@" -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
	as_pg "$@" -q -d "$db" -v a="$A" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pgbank CASCADE;
DO $$ BEGIN
	IF to_regclass('pgbank.settings') IS NOT NULL THEN
		INSERT INTO pgbank.settings VALUES ('pgbank.token_key', encode(gen_random_bytes(32), 'hex'));
	END IF;
END $$;
INSERT INTO pgbank.users (username, hashed_password, full_name, email)
	SELECT 'bench_' || g, 'x', 'Bench', 'bench_' || g || '@bench.test' FROM generate_series(1, :a) g;
SELECT count(pgbank.create_account('bench_' || g, 'USD', 1000000)) FROM generate_series(1, :a) g \gset
SELECT pgbank.create_user('bench_login', 'a right password', 'Bench', 'login@bench.test') IS NOT NULL AS made \gset
SQL
}

# transfers HOST PSQL...: transactions per second of one pgbench run
transfers() {
	local host=$1 lo hi
	shift
	lo=$(as_pg "$@" -tA -d "$db" -c "SELECT min(id) FROM pgbank.accounts WHERE owner IS NOT NULL")
	hi=$(as_pg "$@" -tA -d "$db" -c "SELECT max(id) FROM pgbank.accounts WHERE owner IS NOT NULL")
	as_pg env PGOPTIONS="-c synchronous_commit=off" "$pgbench" -n -h "$host" -p "$PGBANK_PGPORT" \
		-U postgres -c "$C" -j "$C" -T "$T" -D lo="$lo" -D hi="$hi" -f bench/transfer.pgbench "$db" 2>/dev/null |
		sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1
}

# measure PSQL...: prints "logins_per_s jwt_per_s"
measure() {
	as_pg "$@" -q -tA -d "$db" -v l="$L" -v n="$N" <<'SQL' | tr '\n' ' '
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.per_second(q text, runs int) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE t0 timestamptz; BEGIN
	t0 := clock_timestamp();
	EXECUTE q;
	RETURN round(runs / extract(epoch FROM clock_timestamp() - t0), 1);
END $$;
SELECT pg_temp.per_second(format('SELECT count((pgbank.login(''bench_login'', ''a right password'')).session_id) FROM generate_series(1, %s)', :l), :l);
SET pgbank.token_format = jwt;
CREATE TEMP TABLE jwt AS SELECT t.token FROM generate_series(1, :n) g,
	LATERAL pgbank.token_issue('bench_' || g % 100, ARRAY['depositor'], interval '1 hour') t;
SELECT pg_temp.per_second('SELECT count(c.username) FROM jwt b, LATERAL pgbank.token_verify(b.token) c', :n);
SQL
	echo
}

best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 > b + 0) ? a : b }'; }

pgbench=$(pg_bindir)/pgbench
c_psql=("$(pg_bindir)/psql" -X -v ON_ERROR_STOP=1 -h "$PGBANK_RUN" -p "$PGBANK_PGPORT" -U postgres)
echo "== preparing the C build (local cluster) and the managed build (.run/managed-bench)" >&2
prepare "${c_psql[@]}"
managed_cluster "$PGBANK_RUN/managed-bench"
prepare "${mpsql[@]}"
c_tps=0 m_tps=0
for r in $(seq "$R"); do
	echo "== round $r: transfers" >&2
	c_tps=$(best "$c_tps" "$(transfers "$PGBANK_RUN" "${c_psql[@]}")")
	m_tps=$(best "$m_tps" "$(transfers "$mt" "${mpsql[@]}")")
done
echo "== logins and tokens" >&2
c=$(measure "${c_psql[@]}")
m=$(measure "${mpsql[@]}")
paseto=$(as_pg "${c_psql[@]}" -q -tA -d "$db" -v n="$N" <<'SQL'
SET pgbank.token_format = paseto;
CREATE TEMP TABLE p AS SELECT t.token FROM generate_series(1, :n) g,
	LATERAL pgbank.token_issue('bench_' || g % 100, ARRAY['depositor'], interval '1 hour') t;
SELECT clock_timestamp() AS t0 \gset
SELECT count(c.username) FROM p b, LATERAL pgbank.token_verify(b.token) c \gset
SELECT round(:n / extract(epoch FROM clock_timestamp() - :'t0'::timestamptz), 1);
SQL
)
as_pg "${c_psql[@]}" -q -d postgres -c "DROP DATABASE $db WITH (FORCE)"
managed_stop

read -r c_login c_jwt <<<"$c"
read -r m_login m_jwt <<<"$m"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "pgbank, managed build (no C) / C build, one run: T=${T}s C=$C accounts=$A logins=$L tokens=$N rounds=$R"
printf '%-34s %12s %12s %8s\n' "" "C build" "managed" "ratio"
printf '%-34s %12s %12s %8s\n' "transfers per second (best round)" "$c_tps" "$m_tps" "$(ratio "$m_tps" "$c_tps")"
printf '%-34s %12s %12s %8s\n' "logins per second (default hash)" "$c_login" "$m_login" "$(ratio "$m_login" "$c_login")"
printf '%-34s %12s %12s %8s\n' "JWT token_verify per second" "$c_jwt" "$m_jwt" "$(ratio "$m_jwt" "$c_jwt")"
printf '%-34s %12s %12s %8s\n' "(C build: PASETO token_verify)" "$paseto" "-" "-"
