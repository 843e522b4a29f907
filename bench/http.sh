#!/usr/bin/env bash
# The HTTP shim against the same SQL functions called directly, in one run:
#   1. wrk (keep-alive) against POST /transfers, then pgbench -M prepared
#      calling pgbank.api_transfer with the same arguments;
#   2. the same for GET /accounts/{id} and pgbank.api_get_account;
#   3. the shim's resident memory (VmRSS) with 1,000 open keep-alive
#      connections;
#   4. coalescing (PGBANK_COALESCE_WORKERS): POST /transfers on the hot
#      pair (every request between the same two accounts) and over all the
#      accounts, through this shim (coalescing, the default) and a second
#      one that does not coalesce (PGBANK_COALESCE_WORKERS=0); goal: the hot
#      pair >= 5x, the uniform case not slower.
# Same number of clients (wrk connections = pgbench clients = shim pool
# size) and duration on both sides. Prints requests per second for both and
# the ratio shim/direct (goal for transfers: >= 0.8). Needs the local
# cluster (make test or scripts/setup.sh) and identity's pgbank.login.
#
# GET /accounts/{id} runs in a read-only transaction (one pipelined round
# trip: set_config of transaction_read_only, the statement, Sync); to see
# what that costs, run this once with a build from before it
# (HTTP_BENCH_SHIM) and compare the two shim/direct ratios.
#
#   bench/http.sh                      # 8 clients, 10 s per measurement
#   HTTP_BENCH_CLIENTS=16 HTTP_BENCH_SECONDS=30 bench/http.sh
#   HTTP_BENCH_SHIM=/path/to/other/pgbank-http bench/http.sh
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$PGBANK_ROOT"

CLIENTS=${HTTP_BENCH_CLIENTS:-8}
SECONDS_EACH=${HTTP_BENCH_SECONDS:-10}
USERS=${HTTP_BENCH_USERS:-32}
KEEPALIVE=${HTTP_BENCH_KEEPALIVE:-1000}
PORT=${HTTP_BENCH_PORT:-18089}
THREADS=${HTTP_BENCH_THREADS:-2}
SHIM=${HTTP_BENCH_SHIM:-shim/pgbank-http}
PSQL=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
CLIENTS_FILE=$PGBANK_RUN/bench-http-clients.tsv
SHIM_LOG=$PGBANK_RUN/bench-http-shim.log
shim_pid=
alone_pid=

cleanup() {
	[ -n "$shim_pid" ] && kill -TERM "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null
	[ -n "$alone_pid" ] && kill -TERM "$alone_pid" 2>/dev/null && wait "$alone_pid" 2>/dev/null
	"${PSQL[@]}" -c 'DROP SCHEMA IF EXISTS bench_http CASCADE' 2>/dev/null || true
	rm -f "$CLIENTS_FILE"
}
trap cleanup EXIT

[ -x "$SHIM" ] || make -s shim/pgbank-http

. bench/http/lib.sh
make_clients bench_http bh "$USERS" "$CLIENTS_FILE"
: >"$SHIM_LOG"
start_shim "$PORT"
shim_pid=$started

# wrk: requests/s, and the count of non-200 answers (must be 0)
shim_rate() {
	local out
	out=$(BENCH_CLIENTS=$CLIENTS_FILE wrk -t"$THREADS" -c"$CLIENTS" -d"${SECONDS_EACH}s" \
		-s "bench/http/$1.lua" "http://127.0.0.1:${2:-$PORT}" 2>&1)
	echo "$out" | sed 's/^/    wrk | /' >&2
	echo "$out" | grep -q '^non-2xx or errors: 0$' || { echo "bench: $1: errors over HTTP" >&2; exit 1; }
	echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p'
}

direct_rate() {
	local out
	out=$("$(pg_bindir)/pgbench" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_EACH" \
		-D n="$USERS" -f "bench/http/$1.pgbench" 2>&1)
	echo "$out" | grep -E 'failed|tps' | sed 's/^/    pgbench | /' >&2
	echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p'
}

report() {
	local name=$1 shim=$2 direct=$3 what=${4:-shim} base=${5:-direct}
	printf '%-24s %s %10.1f req/s   %s %10.1f req/s   %s/%s %.2f\n' "$name" "$what" "$shim" \
		"$base" "$direct" "$what" "$base" "$(awk -v a="$shim" -v b="$direct" 'BEGIN { print a / b }')"
}

echo "== $CLIENTS clients, ${SECONDS_EACH}s each, $USERS users, $(nproc) CPUs"
t_shim=$(shim_rate transfer)
t_direct=$(direct_rate transfer)
g_shim=$(shim_rate get_account)
g_direct=$(direct_rate get_account)
report "POST /transfers" "$t_shim" "$t_direct"
report "GET /accounts/{id}" "$g_shim" "$g_direct"
python3 bench/http/keepalive.py "$PORT" "$shim_pid" "$KEEPALIVE"

start_shim $((PORT - 1)) PGBANK_COALESCE_WORKERS=0
alone_pid=$started
hot_on=$(shim_rate hot_transfer)
hot_off=$(shim_rate hot_transfer $((PORT - 1)))
uni_on=$(shim_rate transfer)
uni_off=$(shim_rate transfer $((PORT - 1)))
report "hot pair POST /transfers" "$hot_on" "$hot_off" coalesced alone
report "uniform POST /transfers" "$uni_on" "$uni_off" coalesced alone
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^pgbank_pool_coalesce(d_statements|d_requests|_rerun)_total'
