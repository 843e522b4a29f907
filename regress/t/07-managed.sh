#!/usr/bin/env bash
# The managed build (docs/managed.md) on a server that cannot load
# pgbank.so: a second PostgreSQL tree under .run/managed-t without
# pgbank.so, the managed build installed in it, a cluster with pg_cron
# preloaded and no pgbank (regress/managed/cluster.sh), then:
#  - the allow-list of a managed service mimicked with Debian's pgextwlist
#    (pgcrypto and pg_cron); pgbank itself is a trusted extension, which
#    PostgreSQL lets a database owner create without any allow-list;
#  - a role that owns its database and is not superuser runs CREATE
#    EXTENSION pg_cron, then CREATE EXTENSION pgbank CASCADE (pgcrypto
#    comes with it), and schedules pgbank's jobs as itself;
#  - scripts/sqlbuild.py refuses a C function without twin, a twin without
#    C function of its arguments, and a twin of a function that is not C;
#  - no routine of schema pgbank is LANGUAGE C, and the tree has no pgbank.so;
#  - the isolation specs of regress/specs (the same expected output);
#  - the regress files run with pg_regress (alternative expected output
#    NAME_1.out only where the cryptography and the settings differ), but
#    10_tokens (PASETO: only its JWT HS256 section is compared, and must be
#    the C build's expected output line for line) and 50_email (delivery
#    from the database: regress/t/08-outbox-worker.sh tests the worker).
# Socket only, no TCP port.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

. regress/managed/cluster.sh
fail() { echo "FAIL: $*"; exit 1; }

echo "== the build refuses a C function without twin, a twin without C function, a twin of SQL"
make -s managed
sources=(build/errcodes.sql $(ls sql/src/*.sql))
twins=$(mktemp -d)
trap 'rm -rf "$twins"' EXIT
refused() {  # refused MESSAGE: sqlbuild fails on $twins with MESSAGE
	local out
	if out=$(python3 scripts/sqlbuild.py managed "$PGBANK_VERSION" "$twins"/*.sql -- "${sources[@]}" 2>&1 >/dev/null); then
		fail "sqlbuild accepted $1"
	fi
	echo "$out" | grep -q "$1" || fail "sqlbuild did not say '$1': $out"
}
cp sql/managed/*.sql "$twins/"
python3 scripts/sqlbuild.py managed "$PGBANK_VERSION" "$twins"/*.sql -- "${sources[@]}" >"$twins/out"
sed "s,$twins/,sql/managed/,g" "$twins/out" | cmp -s - "build/managed/pgbank--$PGBANK_VERSION.sql" ||
	fail "the copy does not build the same script"
rm "$twins/out"
sed -i 's/^CREATE OR REPLACE FUNCTION pgbank.withdraw(/CREATE OR REPLACE FUNCTION pgbank.not_withdraw(/' "$twins/40_ledger.sql"
refused "pgbank.withdraw(account_id bigint, amount bigint, reference text, idempotency_key text DEFAULT NULL) is LANGUAGE C and has no twin"
cp sql/managed/40_ledger.sql "$twins/"
sed -i 's/^CREATE OR REPLACE FUNCTION pgbank.hold(from_account_id bigint,/CREATE OR REPLACE FUNCTION pgbank.hold(from_account bigint,/' "$twins/40_ledger.sql"
refused "is the twin of no LANGUAGE C routine of sql/src with these arguments"
cp sql/managed/40_ledger.sql "$twins/"
printf 'CREATE OR REPLACE FUNCTION pgbank.check_page_size(page_size bigint, min_size int, max_size int) RETURNS void\n\tLANGUAGE sql IMMUTABLE RETURN NULL;\n' >"$twins/99_x.sql"
refused "a twin of a routine of sql/src/00_common.sql that is not LANGUAGE C"

trap 'rm -rf "$twins"; managed_stop' EXIT
managed_cluster "$PGBANK_RUN/managed-t"
t=$mt bin=$mbin psql=("${mpsql[@]}")
[ -e "$("$bin/pg_config" --pkglibdir)/pgbank.so" ] && fail "the managed tree has a pgbank.so"
grep -q module_pathname "$t"/pg/usr/share/postgresql/15/extension/pgbank.control &&
	fail "the managed control file names a module"

echo "== CREATE EXTENSION pgbank CASCADE by a database owner that is not superuser"
as_pg "${psql[@]}" -q -d postgres -c "CREATE ROLE bank_owner LOGIN NOSUPERUSER NOCREATEROLE" \
	-c "CREATE DATABASE bank OWNER bank_owner"
as_pg "${psql[@]}" -q -d bank -U bank_owner -c "CREATE EXTENSION pg_cron" \
	-c "SET client_min_messages = warning" -c "CREATE EXTENSION pgbank CASCADE"
jobs=$(as_pg "${psql[@]}" -tA -d bank -U bank_owner -c "SELECT count(*) FROM pgbank.schedule_jobs()" \
	-c "SELECT string_agg(DISTINCT username, ',') FROM cron.job")
echo "jobs scheduled: $(echo $jobs)"
[ "$(echo $jobs)" = "3 bank_owner" ] || fail "the owner could not schedule pgbank's jobs: $jobs"
owner=$(as_pg "${psql[@]}" -tA -d bank -c "SELECT extowner::regrole FROM pg_extension WHERE extname = 'pgbank'")
[ "$owner" = bank_owner ] || fail "pgbank is owned by $owner"
super=$(as_pg "${psql[@]}" -tA -d bank -c "SELECT rolsuper FROM pg_roles WHERE rolname = 'bank_owner'")
[ "$super" = f ] || fail "bank_owner is a superuser"
exts=$(as_pg "${psql[@]}" -tA -d bank -c "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension")
echo "extensions: $exts"
[ "$exts" = "pg_cron,pgbank,pgcrypto,plpgsql" ] || fail "not pgbank with pgcrypto and pg_cron: $exts"

echo "== no C"
c=$(as_pg "${psql[@]}" -tA -d bank -c "SELECT count(*) FROM pg_proc WHERE prolang = 13 AND pronamespace = 'pgbank'::regnamespace")
n=$(as_pg "${psql[@]}" -tA -d bank -c "SELECT count(*) FROM pg_proc WHERE pronamespace = 'pgbank'::regnamespace")
echo "routines of pgbank: $n, in C: $c"
[ "$c" = 0 ] && [ "$n" -gt 100 ] || fail "C routines in the managed build ($c of $n)"

echo "== the owner's secret is not the API role's"
as_pg "${psql[@]}" -q -d postgres -c "CREATE ROLE bank_api LOGIN"
as_pg "${psql[@]}" -q -d bank -U bank_owner \
	-c "INSERT INTO pgbank.settings VALUES ('pgbank.token_key', repeat('ab', 32))" \
	-c "SELECT pgbank.grant_api('bank_api')" >/dev/null
out=$(as_pg "${psql[@]}" -d bank -U bank_api -c "SELECT value FROM pgbank.settings" 2>&1 || true)
echo "$out" | grep -q 'permission denied for table settings' || fail "the API role read pgbank.settings: $out"
out=$(as_pg "${psql[@]}" -d bank -U bank_api -c "SELECT pgbank.token_key()" 2>&1 || true)
echo "$out" | grep -q 'permission denied for function token_key' || fail "the API role called token_key(): $out"

echo "== a login with an Argon2id hash (made by the C build) is refused with PB016, the hash kept"
hash='$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
as_pg "${psql[@]}" -q -d bank -c "INSERT INTO pgbank.users (username, hashed_password, full_name, email)
	VALUES ('moved', '$hash', 'Moved', 'moved@example.com')"
out=$(as_pg "${psql[@]}" -d bank -c "\\set VERBOSITY sqlstate" -c "SELECT pgbank.login('moved', 'secret1')" 2>&1 || true)
echo "login: $out"
echo "$out" | grep -q 'PB016' || fail "an Argon2id login did not raise PB016: $out"
left=$(as_pg "${psql[@]}" -tA -d bank -c "SELECT hashed_password = '$hash' FROM pgbank.users WHERE username = 'moved'")
[ "$left" = t ] || fail "the refused login changed the hash"

echo "== the managed build's settings default to the C build's (docs/operations.md, generated from its GUCs)"
# Differences on purpose (docs/managed.md): tokens in JWT (no PASETO), a
# smaller login throttle (its slots are sequences); C only: Argon2id.
grep -o '^| `pgbank\.[a-z_0-9]*` | `[^`]*`' docs/operations.md |
	sed 's/^| `\(pgbank\.[a-z_0-9]*\)` | `\([^`]*\)`/\1 \2/' >"$t/c-defaults"
[ "$(wc -l <"$t/c-defaults")" -gt 15 ] || fail "no settings table in docs/operations.md"
while read -r name c_default; do
	m=$(as_pg "${psql[@]}" -tA -d bank -c "SELECT coalesce(pgbank.setting_default('$name'), '(none)')")
	case "$name" in
	pgbank.token_format) want=jwt ;;
	pgbank.login_throttle_entries) want=1000 ;;
	pgbank.argon2_memlimit | pgbank.argon2_opslimit | pgbank.password_hash) want='(none)' ;;
	*) want=$c_default ;;
	esac
	[ "$m" = "$want" ] || fail "$name: the managed default is $m, not $want (the C build's: $c_default)"
done <"$t/c-defaults"

echo "== pg_regress on the managed build"
as_pg "${psql[@]}" -q -d postgres -c "CREATE DATABASE contrib_regression"
as_pg "${psql[@]}" -q -d contrib_regression -f regress/managed/test-key.sql
mkdir -p "$t/regress" && [ "$(id -u)" -eq 0 ] && chown "$PGBANK_OSUSER" "$t/regress"
as_pg "$bin/../lib/pgxs/src/test/regress/pg_regress" --use-existing --host="$t" \
	--port="$PGBANK_PGPORT" --user=postgres --dbname=contrib_regression --bindir="$bin" \
	--inputdir=regress --outputdir="$t/regress" 00_common 20_users 30_sessions 40_ledger 60_games 70_api ||
	{ cat "$t/regress/regression.diffs"; fail "pg_regress on the managed build"; }
echo "== the isolation specs (lock order, idempotency and hold races) on the managed build"
mkdir -p "$t/isolation" && [ "$(id -u)" -eq 0 ] && chown "$PGBANK_OSUSER" "$t/isolation"
as_pg "${psql[@]}" -q -d postgres -c "CREATE DATABASE isolation_managed"
as_pg "${psql[@]}" -q -d isolation_managed -f regress/managed/test-key.sql
as_pg "$bin/../lib/pgxs/src/test/isolation/pg_isolation_regress" --use-existing --host="$t" \
	--port="$PGBANK_PGPORT" --user=postgres --dbname=isolation_managed --bindir="$bin" \
	--inputdir=regress --outputdir="$t/isolation" \
	$(ls regress/specs/*.spec | sed 's,.*/,,; s,\.spec$,,') ||
	{ cat "$t/isolation/regression.diffs"; fail "isolation specs on the managed build"; }
echo "== 10_tokens: the JWT HS256 section as the C build's"
as_pg "$bin/../lib/pgxs/src/test/regress/pg_regress" --use-existing --host="$t" \
	--port="$PGBANK_PGPORT" --user=postgres --dbname=contrib_regression --bindir="$bin" \
	--inputdir=regress --outputdir="$t/regress" 10_tokens >/dev/null || true
section() { awk -v s='-- === JWT HS256 ===' '/^-- === /{on=($0==s)} on' "$1"; }
section regress/expected/10_tokens.out >"$t/jwt.expected"
section "$t/regress/results/10_tokens.out" | grep -v '^ERROR:  extension "pgcrypto" already exists$' >"$t/jwt.out"
[ "$(wc -l <"$t/jwt.expected")" -gt 200 ] || fail "no JWT HS256 section in 10_tokens.out"
diff "$t/jwt.expected" "$t/jwt.out" || fail "the JWT HS256 section differs from the C build's"
echo "ok"
