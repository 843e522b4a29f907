#!/usr/bin/env bash
# The HTTP shim against the same SQL functions called directly, in one run:
#   1. wrk (keep-alive) against POST /transfers, then pgbench -M prepared
#      calling pgbank.api_transfer with the same arguments;
#   2. the same for GET /accounts/{id} and pgbank.api_get_account;
#   3. the shim's resident memory (VmRSS) with 1,000 open keep-alive
#      connections.
# Same number of clients (wrk connections = pgbench clients = shim pool
# size) and duration on both sides. Prints requests per second for both and
# the ratio shim/direct (goal for transfers: >= 0.8). Needs the local
# cluster (make test or scripts/setup.sh) and identity's pgbank.login.
#
#   bench/http.sh                      # 8 clients, 10 s per measurement
#   HTTP_BENCH_CLIENTS=16 HTTP_BENCH_SECONDS=30 bench/http.sh
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$PGBANK_ROOT"

CLIENTS=${HTTP_BENCH_CLIENTS:-8}
SECONDS_EACH=${HTTP_BENCH_SECONDS:-10}
USERS=${HTTP_BENCH_USERS:-32}
KEEPALIVE=${HTTP_BENCH_KEEPALIVE:-1000}
PORT=${HTTP_BENCH_PORT:-18089}
THREADS=${HTTP_BENCH_THREADS:-2}
PSQL=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
CLIENTS_FILE=$PGBANK_RUN/bench-http-clients.tsv
SHIM_LOG=$PGBANK_RUN/bench-http-shim.log
shim_pid=

cleanup() {
	[ -n "$shim_pid" ] && kill -TERM "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null
	"${PSQL[@]}" -c 'DROP SCHEMA IF EXISTS bench_http CASCADE' 2>/dev/null || true
	rm -f "$CLIENTS_FILE"
}
trap cleanup EXIT

[ -x shim/pgbank-http ] || make -s shim/pgbank-http

# Users, each with a USD account holding plenty, and an access token.
# Cheap Argon2 for these throwaway users; the tokens live 15 minutes.
run=$(date +%s)
"${PSQL[@]}" -v users="$USERS" -v run="$run" <<'SQL'
SET pgbank.argon2_opslimit = 1;
SET pgbank.argon2_memlimit = '8kB';
DROP SCHEMA IF EXISTS bench_http CASCADE;
CREATE SCHEMA bench_http;
CREATE TABLE bench_http.clients (i int PRIMARY KEY, token text NOT NULL, account_id bigint NOT NULL);
INSERT INTO bench_http.clients
SELECT i, (pgbank.login(name, 'benchpass')).access_token, a.id
  FROM generate_series(1, :users) i,
       LATERAL (SELECT (pgbank.create_user(format('bh%s_%s', :'run', i), 'benchpass', 'Bench',
                        format('bh%s_%s@bench.example', :'run', i))).username AS name) u,
       LATERAL pgbank.create_account(u.name, 'USD', 1000000000000) a;
SQL
"${PSQL[@]}" -F $'\t' -c 'SELECT token, account_id FROM bench_http.clients ORDER BY i' >"$CLIENTS_FILE"

PGBANK_DB="host=$PGBANK_RUN port=$PGBANK_PGPORT dbname=$PGBANK_DBNAME user=$PGBANK_WEB_ROLE" \
PGBANK_LISTEN=127.0.0.1:$PORT PGBANK_POOL_SIZE=$CLIENTS \
	shim/pgbank-http 2>"$SHIM_LOG" &
shim_pid=$!
for _ in $(seq 50); do
	curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
	sleep 0.1
done

# wrk: requests/s, and the count of non-200 answers (must be 0)
shim_rate() {
	local out
	out=$(BENCH_CLIENTS=$CLIENTS_FILE wrk -t"$THREADS" -c"$CLIENTS" -d"${SECONDS_EACH}s" \
		-s "bench/http/$1.lua" "http://127.0.0.1:$PORT" 2>&1)
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
	local name=$1 shim=$2 direct=$3
	printf '%-24s shim %10.1f req/s   direct %10.1f req/s   shim/direct %.2f\n' \
		"$name" "$shim" "$direct" "$(awk -v a="$shim" -v b="$direct" 'BEGIN { print a / b }')"
}

echo "== $CLIENTS clients, ${SECONDS_EACH}s each, $USERS users, $(nproc) CPUs"
t_shim=$(shim_rate transfer)
t_direct=$(direct_rate transfer)
g_shim=$(shim_rate get_account)
g_direct=$(direct_rate get_account)
report "POST /transfers" "$t_shim" "$t_direct"
report "GET /accounts/{id}" "$g_shim" "$g_direct"
python3 bench/http/keepalive.py "$PORT" "$shim_pid" "$KEEPALIVE"
