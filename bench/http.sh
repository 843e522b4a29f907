#!/usr/bin/env bash
# The HTTP shim against the same SQL functions called directly, in one run:
#   1. wrk (keep-alive) against POST /transfers, then pgbench -M prepared
#      calling pgbank.api_transfer with the same arguments;
#   2. the same for GET /accounts/{id} and pgbank.api_get_account; and
#      GET /readyz (a worker runs SELECT 1), the cheapest request that goes
#      to PostgreSQL through the shim: the most any GET route could reach;
#   3. the shim's resident memory (VmRSS) with 1,000 open keep-alive
#      connections;
#   4. coalescing (PGBANK_COALESCE_WORKERS): POST /transfers on the hot
#      pair (every request between the same two accounts) and over all the
#      accounts, through this shim (coalescing, the default) and a second
#      one that does not coalesce (PGBANK_COALESCE_WORKERS=0); goal: the hot
#      pair >= 5x, the uniform case not slower.
# Same number of clients (wrk connections = pgbench clients = shim pool
# size) and duration on both sides. Prints requests per second for both and
# the ratio shim/direct (goals: POST /transfers >= 0.9, GET /accounts/{id}
# >= 0.8). Needs the local
# cluster (make test or scripts/setup.sh) and identity's pgbank.login.
#
# For the first two it also prints the CPU time one request costs the shim,
# PostgreSQL and the load generator (wrk, pgbench), and so the ratio that a
# shim costing no CPU would reach on this machine.
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
CPU_FILE=$PGBANK_RUN/bench-http-cpu
shim_pid=
alone_pid=

cleanup() {
	[ -n "$shim_pid" ] && kill -TERM "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null
	[ -n "$alone_pid" ] && kill -TERM "$alone_pid" 2>/dev/null && wait "$alone_pid" 2>/dev/null
	"${PSQL[@]}" -c 'DROP SCHEMA IF EXISTS bench_http CASCADE' 2>/dev/null || true
	rm -f "$CLIENTS_FILE" "$CPU_FILE".*
}
trap cleanup EXIT

[ -x "$SHIM" ] || make -s shim/pgbank-http

. bench/http/lib.sh
make_clients bench_http bh "$USERS" "$CLIENTS_FILE"
: >"$SHIM_LOG"
start_shim "$PORT"
shim_pid=$started

# wrk: requests/s, and the count of non-2xx answers (must be 0); the CPU
# each process took in $CPU_FILE.$1 (cpu_measure), the requests in
# $CPU_FILE.$1.n
shim_rate() {
	local out
	out=$(BENCH_CLIENTS=$CLIENTS_FILE cpu_measure "$CPU_FILE.$1" "${3-$shim_pid}" \
		wrk -t"$THREADS" -c"$CLIENTS" -d"${SECONDS_EACH}s" \
		-s "bench/http/$1.lua" "http://127.0.0.1:${2:-$PORT}")
	echo "$out" | sed 's/^/    wrk | /' >&2
	echo "$out" | grep -q '^non-2xx or errors: 0$' || { echo "bench: $1: errors over HTTP" >&2; exit 1; }
	echo "$out" | sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' >"$CPU_FILE.$1.n"
	echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p'
}

direct_rate() {
	local out
	out=$(cpu_measure "$CPU_FILE.$1.direct" "" \
		"$(pg_bindir)/pgbench" -n -M prepared -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_EACH" \
		-D n="$USERS" -f "bench/http/$1.pgbench")
	echo "$out" | grep -E 'failed|tps' | sed 's/^/    pgbench | /' >&2
	echo "$out" | sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' \
		>"$CPU_FILE.$1.direct.n"
	echo "$out" | sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p'
}

# cpu_line NAME BENCH: cpu_report of bench BENCH's two runs
cpu_line() {
	cpu_report "$1" "$CPU_FILE.$2" "$(cat "$CPU_FILE.$2.n")" \
		"$CPU_FILE.$2.direct" "$(cat "$CPU_FILE.$2.direct.n")"
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
r_shim=$(shim_rate readyz)
report "POST /transfers" "$t_shim" "$t_direct"
report "GET /accounts/{id}" "$g_shim" "$g_direct"
report "GET /readyz (SELECT 1)" "$r_shim" "$g_direct" shim "direct GET"
cpu_line "POST /transfers" transfer
cpu_line "GET /accounts/{id}" get_account
python3 bench/http/keepalive.py "$PORT" "$shim_pid" "$KEEPALIVE"

start_shim $((PORT - 1)) PGBANK_COALESCE_WORKERS=0
alone_pid=$started
hot_on=$(shim_rate hot_transfer)
hot_off=$(shim_rate hot_transfer $((PORT - 1)) "$alone_pid")
uni_on=$(shim_rate transfer)
uni_off=$(shim_rate transfer $((PORT - 1)) "$alone_pid")
report "hot pair POST /transfers" "$hot_on" "$hot_off" coalesced alone
report "uniform POST /transfers" "$uni_on" "$uni_off" coalesced alone
curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^pgbank_pool_coalesce(d_statements|d_requests|_rerun)_total'
