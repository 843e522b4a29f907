#!/usr/bin/env bash
# Concurrency: many clients doing random transfers in both directions over a
# few accounts, then over a hot pair, then a mix of transfers, atomic and
# independent batches and holds (posted, voided, expired). Must show zero
# deadlocks, zero failed transactions other than deliberate overdrafts, a
# total that never changes (checked while the load runs) and, at the end,
# every invariant of pgbank.check_ledger(): each balance the sum of its
# entries, each currency summing to zero, two entries a transfer, held the
# sum of pending holds.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT/regress/concurrency"

CLIENTS=${CONC_CLIENTS:-12}
SECONDS_PER_PHASE=${CONC_SECONDS:-10}
PSQL=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
fail() { echo "FAIL: $*"; exit 1; }
sql() { "${PSQL[@]}" -c "$1"; }

deadlocks() {
	sql "SELECT pg_stat_clear_snapshot(); SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()" | tail -n 1
}

phase() {
	local name=$1 accounts=$2 opening=$3 max_amount=$4 scripts=$5 run="$$_$1"
	local lo hi total d0 d1 out monitor_log=$PGBANK_RUN/conc-monitor-$name.log
	read -r lo hi total < <("${PSQL[@]}" -F ' ' -v run="$run" -v accounts="$accounts" \
		-v opening="$opening" -f setup.sql)
	echo "== $name: $accounts accounts ($lo..$hi), total $total, $CLIENTS clients, ${SECONDS_PER_PHASE}s"
	d0=$(deadlocks)

	# While the load runs, read the total again and again: one snapshot each.
	(
		end=$((SECONDS + SECONDS_PER_PHASE))
		while [ $SECONDS -lt $end ]; do
			sql "SELECT sum(balance) FROM pgbank.accounts WHERE id BETWEEN $lo AND $hi"
		done
	) >"$monitor_log" &
	local monitor=$!

	# shellcheck disable=SC2086
	out=$("$(pg_bindir)/pgbench" -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_PER_PHASE" \
		-D lo="$lo" -D hi="$hi" -D max_amount="$max_amount" $scripts 2>&1) ||
		{ echo "$out"; fail "pgbench exited with an error"; }
	wait "$monitor"
	echo "$out" | grep -E 'processed|failed|aborted|tps' || true

	sleep 1
	d1=$(deadlocks)
	local processed failed overdrafts moved distinct_totals bad_accounts
	processed=$(echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
	overdrafts=$(sql "SELECT last_value - 1 + is_called::int FROM pgbank_conc.overdrafts")
	moved=$(sql "SELECT count(*) FROM pgbank.transfers WHERE from_account_id BETWEEN $lo AND $hi")
	local problems
	problems=$(sql "SELECT count(*) FROM pgbank.check_ledger()")
	sql "SELECT problem, id, detail FROM pgbank.check_ledger() LIMIT 10" 
	distinct_totals=$(sort -u "$monitor_log" | tr '\n' ' ')
	# opening balances are deposits: an entry like any other
	bad_accounts=$(sql "SELECT count(*) FROM pgbank_conc.opening o JOIN pgbank.accounts a USING (id)
		WHERE a.balance <> coalesce((SELECT sum(e.amount) FROM pgbank.entries e WHERE e.account_id = a.id), 0)")
	local now_total unbalanced
	now_total=$(sql "SELECT sum(balance) FROM pgbank.accounts WHERE id BETWEEN $lo AND $hi")
	unbalanced=$(sql "SELECT count(*) FROM (SELECT transfer_id FROM pgbank.entries e JOIN pgbank.transfers t ON t.id = e.transfer_id
		WHERE t.from_account_id BETWEEN $lo AND $hi GROUP BY transfer_id HAVING sum(e.amount) <> 0 OR count(*) <> 2) s")
	echo "processed=$processed transfers=$moved overdrafts=$overdrafts failed=${failed:-0} deadlocks=$((d1 - d0))"
	echo "totals seen while running: $distinct_totals(samples: $(wc -l <"$monitor_log"))"

	[ -n "$processed" ] && [ "$processed" -gt 0 ] || fail "no transactions processed"
	echo "$out" | grep -q 'aborted' && fail "clients aborted"
	[ "${failed:-0}" -eq 0 ] || fail "$failed failed transactions"
	[ $((d1 - d0)) -eq 0 ] || fail "$((d1 - d0)) deadlocks"
	if [ "$scripts" = "-f transfer.pgbench" ]; then
		[ "$processed" -eq $((moved + overdrafts)) ] || fail "processed $processed != transfers $moved + overdrafts $overdrafts"
	fi
	[ "$moved" -gt 0 ] || fail "no money moved"
	[ "$overdrafts" -gt 0 ] || fail "no overdraft was attempted: the test is too gentle"
	[ "$now_total" = "$total" ] || fail "total changed: $total -> $now_total"
	[ "$distinct_totals" = "$total " ] || fail "a reader saw a total other than $total: $distinct_totals"
	[ "$bad_accounts" -eq 0 ] || fail "$bad_accounts accounts whose balance != opening + entries"
	[ "$unbalanced" -eq 0 ] || fail "$unbalanced transfers without exactly two balancing entries"
	[ "$problems" -eq 0 ] || fail "pgbank.check_ledger() found $problems problems"
	echo "ok: $name"
}

phase spread 8 1000 300 "-f transfer.pgbench"
phase hotpair 2 1000 400 "-f transfer.pgbench"
phase mixed 8 1000 300 "-f transfer.pgbench@4 -f batch.pgbench@2 -f each.pgbench@2 -f hold.pgbench@2 -f resolve.pgbench@2"
echo "== the whole ledger"
sql "SELECT problem, id, detail FROM pgbank.check_ledger() LIMIT 10"
[ "$(sql "SELECT count(*) FROM pgbank.check_ledger()")" -eq 0 ] || fail "pgbank.check_ledger() found problems"
echo "ok: pgbank.check_ledger()"
