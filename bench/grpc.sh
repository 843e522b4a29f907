#!/usr/bin/env bash
# The gRPC front against the same SQL call made directly, in one run:
#   1. pgbank.v1.Bank/Transfer, unary, from 8 concurrent streams: 8 h2load
#      clients (nghttp2-client), one stream each, each with its own token
#      and its own pair of accounts, sending framed gRPC requests; then
#      pgbench -M prepared with 8 clients making the call the RPC makes
#      (pgbank.api_transfer, the statement of POST /transfers), each on its
#      own pair too, so neither side waits on row locks;
#   2. the shim's resident memory (VmRSS) with 1,000 idle gRPC connections,
#      each served one Health/Check call.
# Same clients (streams = pgbench clients = shim pool size) and duration on
# both sides, in alternating rounds. Prints calls per second for both and the ratio grpc/direct
# (goal: >= 0.8), measured in the same run. Every gRPC answer must be OK
# (counted in the shim's /metrics). Needs the local cluster (make test or
# scripts/setup.sh).
#
#   bench/grpc.sh                      # 8 streams, 3 rounds of 5 s a side
#   GRPC_BENCH_CLIENTS=16 GRPC_BENCH_SECONDS=10 GRPC_BENCH_ROUNDS=5 bench/grpc.sh
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$PGBANK_ROOT"

CLIENTS=${GRPC_BENCH_CLIENTS:-8}
SECONDS_EACH=${GRPC_BENCH_SECONDS:-5}
ROUNDS=${GRPC_BENCH_ROUNDS:-3}
IDLE=${GRPC_BENCH_IDLE:-1000}
PORT=${GRPC_BENCH_PORT:-19099}
HTTP_PORT=${GRPC_BENCH_HTTP_PORT:-18088}
PSQL=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
WORK=$(mktemp -d)
SHIM_LOG=$PGBANK_RUN/bench-grpc-shim.log
shim_pid=

cleanup() {
	[ -n "$shim_pid" ] && kill -TERM "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null
	"${PSQL[@]}" -c 'DROP SCHEMA IF EXISTS bench_grpc CASCADE' 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

[ -x shim/pgbank-http ] || make -s shim/pgbank-http
command -v h2load >/dev/null || { echo "bench: h2load missing (apt-get install nghttp2-client)" >&2; exit 1; }

# Twice as many users as clients (client k pays user k + CLIENTS), each
# with a USD account holding plenty and an access token. Cheap Argon2 for
# these throwaway users; the tokens live 15 minutes.
run=$(date +%s)
"${PSQL[@]}" -v users="$((2 * CLIENTS))" -v run="$run" <<'SQL'
SET pgbank.argon2_opslimit = 1;
SET pgbank.argon2_memlimit = '8kB';
DROP SCHEMA IF EXISTS bench_grpc CASCADE;
CREATE SCHEMA bench_grpc;
CREATE TABLE bench_grpc.clients (i int PRIMARY KEY, token text NOT NULL, account_id bigint NOT NULL);
INSERT INTO bench_grpc.clients
SELECT i, (pgbank.login(name, 'benchpass')).access_token, a.id
  FROM generate_series(1, :users) i,
       LATERAL (SELECT (pgbank.create_user(format('bg%s_%s', :'run', i), 'benchpass', 'Bench',
                        format('bg%s_%s@bench.example', :'run', i))).username AS name) u,
       LATERAL pgbank.create_account(u.name, 'USD', 1000000000000) a;
SQL
"${PSQL[@]}" -F $'\t' -c 'SELECT token, account_id FROM bench_grpc.clients ORDER BY i' |
	/usr/bin/python3 bench/grpc/frames.py "$WORK" "$CLIENTS"

PGBANK_DB="host=$PGBANK_RUN port=$PGBANK_PGPORT dbname=$PGBANK_DBNAME user=$PGBANK_WEB_ROLE" \
PGBANK_LISTEN=127.0.0.1:$HTTP_PORT PGBANK_GRPC_LISTEN=127.0.0.1:$PORT \
PGBANK_POOL_SIZE=$CLIENTS PGBANK_TIMEOUT=600 \
	shim/pgbank-http 2>"$SHIM_LOG" &
shim_pid=$!
for _ in $(seq 50); do
	curl -sf "http://127.0.0.1:$HTTP_PORT/readyz" >/dev/null && break
	sleep 0.1
done

# Transfer calls counted by the shim: OK, CANCELLED (h2load cuts the
# stream it has open when its time is up), or any other code (bad).
calls() {
	curl -s "http://127.0.0.1:$HTTP_PORT/metrics" |
		awk -v want="$1" '$1 ~ /^pgbank_grpc_calls_total\{method="\/pgbank.v1.Bank\/Transfer"/ {
			code = $1; sub(/.*code="/, "", code); sub(/".*/, "", code)
			if (code == want || (want == "bad" && code != "OK" && code != "CANCELLED")) n += $2
		} END { print n + 0 }'
}

# h2load: one client, one stream each, for SECONDS_EACH; calls/s from the
# shim's count of OK Transfer calls, which must be every call.
grpc_rate() {
	local k ok0 bad0 cut0 ok1 bad1 cut1 pids=()
	ok0=$(calls OK)
	bad0=$(calls bad)
	cut0=$(calls CANCELLED)
	for k in $(seq "$CLIENTS"); do
		h2load -c 1 -m 1 -D "$SECONDS_EACH" -d "$WORK/transfer-$k.bin" \
			-H 'content-type: application/grpc' -H 'te: trailers' \
			-H "authorization: Bearer $(cat "$WORK/token-$k")" \
			"http://127.0.0.1:$PORT/pgbank.v1.Bank/Transfer" >"$WORK/h2load-$k.log" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	ok1=$(calls OK)
	bad1=$(calls bad)
	cut1=$(calls CANCELLED)
	[ "$bad1" -eq "$bad0" ] || { echo "bench: $((bad1 - bad0)) Transfer calls not OK" >&2; exit 1; }
	[ "$((cut1 - cut0))" -le "$CLIENTS" ] ||
		{ echo "bench: $((cut1 - cut0)) Transfer calls cancelled" >&2; exit 1; }
	[ "$ok1" -gt "$ok0" ] || { echo "bench: no Transfer call succeeded" >&2; exit 1; }
	awk -v n="$((ok1 - ok0))" -v t="$SECONDS_EACH" 'BEGIN { print n / t }'
}

direct_rate() {
	local out
	out=$("$(pg_bindir)/pgbench" -n -M prepared -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" \
		-D clients="$CLIENTS" -f bench/grpc/transfer.pgbench 2>&1)
	echo "$out" | grep -q 'number of failed transactions: 0 ' ||
		{ echo "bench: pgbench had failed transactions" >&2; exit 1; }
	echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p'
}

# Rounds of gRPC then direct, so that a burst of other load on the machine
# falls on both sides; the rates are the means over the rounds.
echo "== $CLIENTS streams, $ROUNDS rounds of ${SECONDS_EACH}s each side, $(nproc) CPUs"
sum_grpc=0
sum_direct=0
for round in $(seq "$ROUNDS"); do
	g=$(grpc_rate)
	d=$(direct_rate)
	printf '    round %d: grpc %.1f calls/s, direct %.1f calls/s\n' "$round" "$g" "$d" >&2
	sum_grpc=$(awk -v a="$sum_grpc" -v b="$g" 'BEGIN { print a + b }')
	sum_direct=$(awk -v a="$sum_direct" -v b="$d" 'BEGIN { print a + b }')
done
t_grpc=$(awk -v a="$sum_grpc" -v n="$ROUNDS" 'BEGIN { print a / n }')
t_direct=$(awk -v a="$sum_direct" -v n="$ROUNDS" 'BEGIN { print a / n }')
printf '%-28s grpc %10.1f calls/s   direct %10.1f calls/s   grpc/direct %.2f\n' \
	"pgbank.v1.Bank/Transfer" "$t_grpc" "$t_direct" \
	"$(awk -v a="$t_grpc" -v b="$t_direct" 'BEGIN { print a / b }')"
read -r n serving before during < <(/usr/bin/python3 bench/grpc/idle.py "$PORT" "$shim_pid" "$IDLE")
[ "$serving" -eq "$n" ] || { echo "bench: $((n - serving)) of $n idle connections not served" >&2; exit 1; }
printf '%-28s VmRSS %d kB before, %d kB with %d idle gRPC connections: %.1f kB each\n' \
	"idle connections" "$before" "$during" "$n" \
	"$(awk -v a="$before" -v b="$during" -v n="$n" 'BEGIN { print (b - a) / n }')"
