#!/usr/bin/env bash
# Soak: mixed HTTP load (bench/http/mixed.lua: transfers, account reads,
# statements) for SOAK_SECONDS (default 600; not part of make test), after
# a warm-up, with the shim's memory and each of its PostgreSQL backends'
# measured at the start and at the end: the shim's VmRSS, each backend's
# RssAnon (its private memory: memory contexts, caches; shared buffers
# are not counted). Prints both and the end/start ratio, and fails when
# the shim or a backend grew by more than 10 % plus 2 MB, or any request
# failed: growth under a steady load is a leak to fix. Needs the local
# cluster (make test or scripts/setup.sh).
#
#   bench/soak.sh                     # 8 clients, 600 s
#   SOAK_SECONDS=60 SOAK_CLIENTS=16 bench/soak.sh
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$PGBANK_ROOT"

CLIENTS=${SOAK_CLIENTS:-8}
SECONDS_RUN=${SOAK_SECONDS:-600}
WARMUP=${SOAK_WARMUP:-20}
USERS=${SOAK_USERS:-32}
PORT=${SOAK_PORT:-18088}
SHIM=${SOAK_SHIM:-shim/pgbank-http}
PSQL=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
CLIENTS_FILE=$PGBANK_RUN/bench-soak-clients.tsv
SHIM_LOG=$PGBANK_RUN/bench-soak-shim.log
shim_pid=

cleanup() {
	[ -n "$shim_pid" ] && kill -TERM "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null
	"${PSQL[@]}" -c 'DROP SCHEMA IF EXISTS bench_soak CASCADE' 2>/dev/null || true
	rm -f "$CLIENTS_FILE"
}
trap cleanup EXIT

[ -x "$SHIM" ] || make -s shim/pgbank-http

: >"$SHIM_LOG"
. bench/http/lib.sh
make_clients bench_soak sk "$USERS" "$CLIENTS_FILE"
start_shim "$PORT" PGBANK_APPLICATION_NAME=pgbank-soak
shim_pid=$started

load() {
	local out
	out=$(BENCH_CLIENTS=$CLIENTS_FILE wrk -t2 -c"$CLIENTS" -d"${1}s" -s bench/http/mixed.lua \
		"http://127.0.0.1:$PORT" 2>&1)
	echo "$out" | sed 's/^/    wrk | /'
	echo "$out" | grep -q '^non-2xx or errors: 0$' || { echo "soak: requests failed"; exit 1; }
}

# "<shim VmRSS kB> <pid>:<RssAnon kB> ..." for the shim and its backends
memory() {
	local pids p line
	line="$(awk '/^VmRSS:/ { print $2 }' "/proc/$shim_pid/status")"
	pids=$("${PSQL[@]}" -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbank-soak' ORDER BY pid")
	for p in $pids; do
		line+=" $p:$(awk '/^RssAnon:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)"
	done
	echo "$line"
}

echo "== $CLIENTS clients, warm-up ${WARMUP}s, then ${SECONDS_RUN}s of mixed load, $USERS users"
load "$WARMUP" >/dev/null
start=$(memory)
load "$SECONDS_RUN"
end=$(memory)
echo "start: $start"
echo "end:   $end"
# shellcheck disable=SC2016
awk -v start="$start" -v end="$end" '
	function grew(a, b) { return b > a * 1.10 + 2048 }
	BEGIN {
		ns = split(start, s, " "); ne = split(end, e, " ")
		printf "shim VmRSS %d kB -> %d kB (x%.3f)\n", s[1], e[1], e[1] / s[1]
		bad = grew(s[1], e[1])
		for (i = 2; i <= ns; i++) { split(s[i], kv, ":"); before[kv[1]] = kv[2] }
		for (i = 2; i <= ne; i++) {
			split(e[i], kv, ":")
			if (!(kv[1] in before)) { printf "backend %s is new (a reconnect)\n", kv[1]; continue }
			printf "backend %s RssAnon %d kB -> %d kB (x%.3f)\n", kv[1], before[kv[1]], kv[2], kv[2] / before[kv[1]]
			if (grew(before[kv[1]], kv[2])) bad = 1
		}
		if (bad) { print "soak: FAIL: memory grew under a steady load"; exit 1 }
		print "soak: no growth beyond 10 % + 2 MB"
	}'
