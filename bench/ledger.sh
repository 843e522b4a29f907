#!/usr/bin/env bash
# Ledger benchmark, in one run on one cluster (the local one from
# scripts/setup.sh), with pgbench in prepared mode, same clients and duration
# for every run. Reports, each as a ratio to its baseline in the same run:
#   1. pgbank.transfer over 1,000 accounts at 1 and 8 clients, against
#      PostgreSQL's tpcb-like script (scale 10) and against a one-INSERT
#      commit at 8 clients (goal: >= 0.50);
#   2. pgbank.transfer_batch of 100 transfers at 8 clients, in transfers per
#      second, against the single transfer (goal: >= 10x): over all 1,000
#      accounts (any two batches share accounts, so they queue on each
#      other's locks), and with each client on its own 125 accounts;
#   3. the hot pair (two accounts, both directions) at 8 clients: the single
#      path against pgbank.transfer_each of 8 independent items per call
#      (what the shim's coalescing would commit), at 1 and 8 clients;
#   4. a statement page of 50 of an account with 1,000,000 entries against
#      one with 10,000 (goal: within 2x), with the plan;
#   5. the rows alone: what PostgreSQL takes to write the transfers and
#      entries of batches of 100 on own accounts by plain INSERTs, nothing
#      else (bench/rows-own.pgbench, rolled back), against the single
#      transfer and the batches of section 2: the ceiling of any batch here.
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
	  FROM generate_series(1, 1006) i,
	       LATERAL pgbank.create_user('bench_' || i, 'benchmark', 'Bench', 'bench' || i || '@example.com') u) s;
CREATE TABLE bench_one (id bigserial PRIMARY KEY, v bigint NOT NULL, at timestamptz NOT NULL DEFAULT now());
SQL
"$PGBENCH" -i -q -s 10 >/dev/null 2>&1
lo=$("${PSQL[@]}" -c "SELECT min(id) FROM pgbank.accounts WHERE owner IS NOT NULL")
hot=$((lo + 1000))
small=$((lo + 1002))
big=$((lo + 1004))

# Statements: 10,000 and 1,000,000 entries (half of them paid to a second
# account each), written in bulk as transfers alternating in direction with
# balances that follow, so that the ledger's invariants still hold.
fill() {	# account counterparty entries
	"${PSQL[@]}" -v a="$1" -v b="$2" -v n="$3" <<'SQL'
BEGIN;
CREATE TEMP TABLE f ON COMMIT DROP AS
	SELECT i, nextval('pgbank.transfers_id_seq') AS id,
	       CASE WHEN i % 2 = 1 THEN :a ELSE :b END AS src, CASE WHEN i % 2 = 1 THEN :b ELSE :a END AS dst,
	       now() - (:n - i) * interval '1 ms' AS at
	  FROM generate_series(1, :n) i;
INSERT INTO pgbank.transfers (id, from_account_id, to_account_id, amount, created_at, currency)
	SELECT id, src, dst, 1, at, 'USD' FROM f ORDER BY i;
INSERT INTO pgbank.entries (account_id, amount, created_at, transfer_id, balance_after)
	SELECT x.account_id, x.amount, f.at, f.id, 1000000000000 + x.after
	  FROM f, LATERAL (VALUES (f.src, -1, CASE WHEN f.src = :a THEN -1 ELSE 0 END),
	                          (f.dst, 1, CASE WHEN f.dst = :a THEN 0 ELSE 1 END)) x (account_id, amount, after)
	 ORDER BY f.i, x.amount;
COMMIT;
SQL
}
fill "$small" "$((small + 1))" 10000
fill "$big" "$((big + 1))" 1000000
"${PSQL[@]}" -c "VACUUM ANALYZE"
problems=$("${PSQL[@]}" -c "SELECT count(*) FROM pgbank.check_ledger()")

run() {	# clients args...: transactions per second
	local clients=$1
	shift
	"${PSQL[@]}" -c CHECKPOINT
	"$PGBENCH" -n -M prepared -c "$clients" -j "$((clients < 2 ? 1 : 2))" -T "$DURATION" "$@" 2>&1 |
		sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p'
}
many="-f transfer.pgbench -D lo=$lo -D hi=$((lo + 999))"

# Warm-up, not reported: the first run after the set-up was up to 40% slower
# than the same run later (the set-up's writes still being flushed).
WARMUP=$((DURATION < 5 ? DURATION : 5))
for script in "$many" "-b tpcb-like" "-f insert.pgbench"; do
	# shellcheck disable=SC2086
	"$PGBENCH" -n -M prepared -c 8 -j 2 -T "$WARMUP" $script >/dev/null 2>&1
done

echo "== 1. a transfer over 1,000 accounts, against tpcb-like and a one-INSERT commit"
printf '%-8s %14s %14s %14s %12s %12s\n' clients 'pgbank 1000' 'tpcb-like' 'one INSERT' 'ratio tpcb' 'ratio INSERT'
for c in 1 8; do
	# shellcheck disable=SC2086
	m=$(run "$c" $many)
	t=$(run "$c" -b tpcb-like)
	i=$(run "$c" -f insert.pgbench)
	[ "$c" -eq 8 ] && single8=$m
	awk -v c="$c" -v m="$m" -v t="$t" -v i="$i" \
		'BEGIN { printf "%-8s %14.0f %14.0f %14.0f %12.2f %12.2f\n", c, m, t, i, m / t, m / i }'
done

echo "== 2. batches of 100 at 8 clients, in transfers per second"
b=$(run 8 -f batch.pgbench -D lo="$lo" -D hi=$((lo + 999)))
o=$(run 8 -f batch-own.pgbench -D lo="$lo" -D hi=$((lo + 999)))
awk -v s="$single8" -v b="$b" -v o="$o" 'BEGIN {
	printf "single %.0f/s; batches of 100 over all 1,000 accounts %.0f/s (%.0f calls/s): %.1fx\n", s, b * 100, b, b * 100 / s
	printf "batches of 100, each client its own 125 accounts: %.0f/s (%.0f calls/s): %.1fx\n", o * 100, o, o * 100 / s }'

echo "== 3. the hot pair at 8 clients: single transfers vs transfer_each of 8 items"
h=$(run 8 -f transfer.pgbench -D lo="$hot" -D hi=$((hot + 1)))
e1=$(run 1 -f each-hot.pgbench -D lo="$hot" -D items=8)
e8=$(run 8 -f each-hot.pgbench -D lo="$hot" -D items=8)
awk -v h="$h" -v a="$e1" -v b="$e8" 'BEGIN {
	printf "single, 8 clients: %.0f transfers/s\n", h
	printf "transfer_each x8, 1 client (one coalescing connection): %.0f transfers/s (%.1fx)\n", a * 8, a * 8 / h
	printf "transfer_each x8, 8 clients: %.0f transfers/s (%.1fx)\n", b * 8, b * 8 / h }'

echo "== 4. a statement page of 50: 10,000 entries vs 1,000,000"
s1=$(run 8 -f statement.pgbench -D account="$small")
s2=$(run 8 -f statement.pgbench -D account="$big")
awk -v a="$s1" -v b="$s2" 'BEGIN { printf "10,000 entries: %.0f pages/s; 1,000,000 entries: %.0f pages/s; ratio %.2f\n", a, b, a / b }'
echo "plan of the page query over 1,000,000 entries:"
"${PSQL[@]}" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
	SELECT e.id, e.transfer_id,
	       CASE WHEN t.from_account_id = e.account_id THEN t.to_account_id ELSE t.from_account_id END,
	       e.amount, e.balance_after, t.reference, e.created_at
	  FROM pgbank.entries e JOIN pgbank.transfers t ON t.id = e.transfer_id
	 WHERE e.account_id = $big AND (e.created_at, e.id) < ('infinity'::timestamptz, 9223372036854775807)
	 ORDER BY e.created_at DESC, e.id DESC LIMIT 50" | sed 's/^/    /'

echo "== 5. the rows alone: a batch's 100 transfers and 200 entries by plain INSERTs, rolled back"
r=$(run 8 -f rows-own.pgbench -D lo="$lo" -D hi=$((lo + 999)))
awk -v s="$single8" -v o="$o" -v r="$r" 'BEGIN {
	printf "rows of batches of 100 on own accounts, 8 clients: %.0f transfers/s (%.0f calls/s): %.1fx the single transfer;\n", r * 100, r, r * 100 / s
	printf "the batches of section 2 on own accounts reach %.2f of it\n", o / r }'

echo "(${DURATION}s per run, pgbench -M prepared; one run on a shared machine: compare the ratios)"
echo "ledger invariants before the runs: $problems problems; after: $("${PSQL[@]}" -c "SELECT count(*) FROM pgbank.check_ledger()")"
