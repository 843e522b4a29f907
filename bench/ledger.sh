#!/usr/bin/env bash
# Ledger benchmark, in one run on one cluster (the local one from
# scripts/setup.sh), with pgbench in prepared mode, same clients and duration:
#   - pgbank.transfer over 1,000 accounts
#   - pgbank.transfer over 2 accounts (a hot pair, both directions)
#   - PostgreSQL's built-in tpcb-like script (scale 10, so that 8 clients do
#     not all queue on one branch row)
# at 1 and 8 clients. Prints transfers per second and pgbank/tpcb-like.
# Usage: bench/ledger.sh [seconds per run, default 20]
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$PGBANK_ROOT/bench"

DURATION=${1:-20}
DB=pgbank_bench
PGBENCH="$(pg_bindir)/pgbench"
PSQL=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)

"${PSQL[@]}" -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
export PGDATABASE=$DB
"${PSQL[@]}" <<'SQL'
CREATE EXTENSION pgbank;
-- Cheap hashes: the benchmark is about transfers, not passwords.
SET pgbank.argon2_opslimit = 1;
SET pgbank.argon2_memlimit = '8kB';
SELECT FROM (
	SELECT pgbank.create_account(u.username, 'USD', 1000000000000)
	  FROM generate_series(1, 1002) i,
	       LATERAL pgbank.create_user('bench_' || i, 'benchmark', 'Bench', 'bench' || i || '@example.com') u) s;
SQL
"$PGBENCH" -i -q -s 10 >/dev/null 2>&1
"${PSQL[@]}" -c "VACUUM ANALYZE"
lo=$("${PSQL[@]}" -c "SELECT min(id) FROM pgbank.accounts")

run() {	# name clients args...
	local name=$1 clients=$2
	shift 2
	"${PSQL[@]}" -c CHECKPOINT
	"$PGBENCH" -n -M prepared -c "$clients" -j "$((clients < 2 ? 1 : 2))" -T "$DURATION" "$@" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p'
}

# Warm-up, not reported: the first run after the set-up was up to 40% slower
# than the same run later (the set-up's writes still being flushed).
WARMUP=$((DURATION < 5 ? DURATION : 5))
for script in "-f transfer.pgbench -D lo=$lo -D hi=$((lo + 999))" "-b tpcb-like"; do
	# shellcheck disable=SC2086
	"$PGBENCH" -n -M prepared -c 8 -j 2 -T "$WARMUP" $script >/dev/null 2>&1
done

printf '%-8s %14s %14s %14s %12s %12s\n' clients 'pgbank 1000' 'pgbank 2' 'tpcb-like' 'ratio 1000' 'ratio 2'
for c in 1 8; do
	many=$(run many "$c" -D lo="$lo" -D hi=$((lo + 999)) -f transfer.pgbench)
	hot=$(run hot "$c" -D lo="$((lo + 1000))" -D hi=$((lo + 1001)) -f transfer.pgbench)
	tpcb=$(run tpcb "$c" -b tpcb-like)
	awk -v c="$c" -v m="$many" -v h="$hot" -v t="$tpcb" \
		'BEGIN { printf "%-8s %14.0f %14.0f %14.0f %12.2f %12.2f\n", c, m, h, t, m / t, h / t }'
done
echo "(transactions per second, ${DURATION}s per run, pgbench -M prepared; ratio = pgbank / tpcb-like)"
"${PSQL[@]}" -c "SELECT 'money conserved: ' || (sum(balance) = 1002 * 1000000000000) FROM pgbank.accounts"
