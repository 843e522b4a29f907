#!/usr/bin/env bash
# A cheap GET during a flood of sign-ups (each one Argon2id hash), with and
# without the shim's hashing bound, in one run:
#   1. GET /accounts/{id} alone: its latency (p50, p99);
#   2. the same GET while wrk floods POST /users, on a shim whose hashing
#      bound is the whole pool (PGBANK_HASH_WORKERS = pool size: as before
#      the bound existed);
#   3. the same with the default bound (a quarter of the pool).
# Prints the GET's p50 and p99 and the sign-ups per second for each, and the
# ratios of 2 and 3 to 1. Needs the local cluster (make test or
# scripts/setup.sh); it leaves the flood's users in the database.
#
#   bench/hashing.sh                      # pool 8, 32 flooding clients, 8 s
#   HASH_BENCH_POOL=16 HASH_BENCH_FLOOD=64 bench/hashing.sh
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$PGBANK_ROOT"

POOL=${HASH_BENCH_POOL:-8}
FLOOD=${HASH_BENCH_FLOOD:-32}
SECONDS_EACH=${HASH_BENCH_SECONDS:-8}
PORT=${HASH_BENCH_PORT:-18088}
SHIM=${HASH_BENCH_SHIM:-shim/pgbank-http}
PSQL=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
SHIM_LOG=$PGBANK_RUN/bench-hashing-shim.log
shim_pid=
flood_pid=

stop_shim() {
	[ -n "$flood_pid" ] && kill "$flood_pid" 2>/dev/null && wait "$flood_pid" 2>/dev/null
	[ -n "$shim_pid" ] && kill -TERM "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null
	flood_pid=
	shim_pid=
}
trap stop_shim EXIT

[ -x "$SHIM" ] || make -s shim/pgbank-http

# One reader with an account and a token (cheap Argon2 for this one user).
run=$(date +%s)
read -r token account < <("${PSQL[@]}" -F ' ' -v run="$run" <<'SQL'
SET pgbank.argon2_opslimit = 1;
SET pgbank.argon2_memlimit = '8kB';
SELECT (pgbank.login(u.name, 'benchpass')).access_token, a.id
  FROM (SELECT (pgbank.create_user(format('hb%s', :'run'), 'benchpass', 'Bench',
                format('hb%s@bench.example', :'run'))).username AS name) u,
       LATERAL pgbank.create_account(u.name, 'USD', 0) a;
SQL
)

start_shim() {
	PGBANK_DB="host=$PGBANK_RUN port=$PGBANK_PGPORT dbname=$PGBANK_DBNAME user=$PGBANK_WEB_ROLE" \
	PGBANK_LISTEN=127.0.0.1:$PORT PGBANK_POOL_SIZE=$POOL PGBANK_HASH_WORKERS=$1 PGBANK_GRPC_LISTEN= \
		"$SHIM" 2>>"$SHIM_LOG" &
	shim_pid=$!
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
		sleep 0.1
	done
}

# The GET's latency, one client with keep-alive: "p50 p99" in ms.
get_latency() {
	local out
	out=$(wrk -t1 -c1 -d"${SECONDS_EACH}s" --latency -H "Authorization: Bearer $token" \
		"http://127.0.0.1:$PORT/accounts/$account" 2>&1)
	echo "$out" | sed 's/^/    wrk get | /' >&2
	echo "$out" | awk '
		function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
		                 if (v ~ /s$/) return v * 1000; return v }
		$1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
		END { printf "%.2f %.2f\n", p50, p99 }'
}

# The GET's latency while wrk floods sign-ups; "p50 p99 signups/s".
flooded_latency() {
	local out=$PGBANK_RUN/bench-hashing-flood.txt lat rate
	wrk -t2 -c"$FLOOD" -d"$((SECONDS_EACH + 3))s" --timeout 30s -s bench/http/signup.lua \
		"http://127.0.0.1:$PORT" >"$out" 2>&1 &
	flood_pid=$!
	sleep 2
	lat=$(get_latency)
	wait "$flood_pid" || true
	flood_pid=
	sed 's/^/    wrk flood | /' "$out" >&2
	rate=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out")
	echo "$lat $rate"
}

report() {
	printf '%-40s GET p50 %8.2f ms  p99 %8.2f ms   sign-ups %7s/s\n' "$1" "$2" "$3" "${4:--}"
}

echo "== pool $POOL, $FLOOD flooding clients, ${SECONDS_EACH}s each, $(nproc) CPUs"
: >"$SHIM_LOG"
start_shim "$POOL"
read -r a50 a99 < <(get_latency)
read -r u50 u99 urate < <(flooded_latency)
stop_shim
start_shim 0
limit=$(curl -s "http://127.0.0.1:$PORT/metrics" | sed -n 's/^pgbank_pool_hashing_limit //p')
read -r b50 b99 brate < <(flooded_latency)
stop_shim
report "no flood" "$a50" "$a99"
report "flood, no bound (hash workers $POOL)" "$u50" "$u99" "$urate"
report "flood, default bound (hash workers $limit)" "$b50" "$b99" "$brate"
awk -v a50="$a50" -v a99="$a99" -v u50="$u50" -v u99="$u99" -v b50="$b50" -v b99="$b99" 'BEGIN {
	printf "GET p50 x%.1f and p99 x%.1f of no flood without the bound; x%.1f and x%.1f with it\n",
		u50 / a50, u99 / a99, b50 / a50, b99 / a99 }'
