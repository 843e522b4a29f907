#!/usr/bin/env bash
# The shim's static files and session cookie, against baselines measured in
# the same run with the same wrk settings:
#   1. GET /healthz (no file, no database): the baseline of the HTTP path;
#   2. GET /js/games.js (a file, 200 with its body, sendfile) and the same
#      with If-None-Match (304, no body): requests per second, as ratios to 1;
#   3. GET /swagger/swagger-ui-bundle.js (1.5 MB): transfer rate;
#   4. GET /accounts?page_id=1&page_size=5 authenticated by the session
#      cookie against the same request with the bearer token (same SQL):
#      the ratio cookie/bearer (goal: about 1, the cookie costs nothing).
#
#   bench/web.sh                               # 8 connections, 5 s each
#   WEB_BENCH_CLIENTS=16 WEB_BENCH_SECONDS=10 bench/web.sh
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$PGBANK_ROOT"

CLIENTS=${WEB_BENCH_CLIENTS:-8}
SECONDS_EACH=${WEB_BENCH_SECONDS:-5}
PORT=${WEB_BENCH_PORT:-18088}
PSQL=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
shim_pid=
trap '[ -n "$shim_pid" ] && kill -TERM "$shim_pid" 2>/dev/null && wait "$shim_pid" 2>/dev/null' EXIT

[ -x shim/pgbank-http ] || make -s shim/pgbank-http
scripts/swagger-ui.sh
PGBANK_DB="host=$PGBANK_RUN port=$PGBANK_PGPORT dbname=$PGBANK_DBNAME user=$PGBANK_WEB_ROLE" \
	PGBANK_LISTEN=127.0.0.1:$PORT PGBANK_GRPC_LISTEN= PGBANK_POOL_SIZE=$CLIENTS \
	shim/pgbank-http 2>/dev/null &
shim_pid=$!
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
base=http://127.0.0.1:$PORT

# A throwaway user (cheap Argon2) with an account, and its access token.
user=bw$(date +%s)
token=$("${PSQL[@]}" <<SQL | tail -n 1
SET pgbank.argon2_opslimit = 1;
SET pgbank.argon2_memlimit = '8kB';
SELECT (pgbank.login(u.name, 'benchpass')).access_token
  FROM (SELECT (pgbank.create_user('$user', 'benchpass', 'Bench', '$user@bench.example')).username AS name) u,
       LATERAL pgbank.create_account(u.name, 'USD', 0) a;
SQL
)

# requests per second of wrk against a URL, with extra headers
rps() {
	local url=$1
	shift
	wrk -t2 -c"$CLIENTS" -d"${SECONDS_EACH}s" "$@" "$url" | awk '/^Requests\/sec/ { print $2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

etag=$(curl -sI "$base/js/games.js" | tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
health=$(rps "$base/healthz")
file=$(rps "$base/js/games.js")
notmod=$(rps "$base/js/games.js" -H "If-None-Match: $etag")
bundle_rps=$(rps "$base/swagger/swagger-ui-bundle.js")
bundle_size=$(stat -c %s build/swagger-ui/swagger-ui-bundle.js)
bearer=$(rps "$base/accounts?page_id=1&page_size=5" -H "Authorization: Bearer $token")
cookie=$(rps "$base/accounts?page_id=1&page_size=5" -H "Cookie: pgbank_access=$token")

printf '%-44s %10s %8s\n' "request ($CLIENTS connections, ${SECONDS_EACH}s)" "req/s" "ratio"
printf '%-44s %10.0f %8s\n' "GET /healthz (baseline)" "$health" 1.00
printf '%-44s %10.0f %8s\n' "GET /js/games.js (200, file)" "$file" "$(ratio "$file" "$health")"
printf '%-44s %10.0f %8s\n' "GET /js/games.js If-None-Match (304)" "$notmod" "$(ratio "$notmod" "$health")"
printf '%-44s %10.0f %8s   %s MB/s\n' "GET /swagger/swagger-ui-bundle.js" "$bundle_rps" "$(ratio "$bundle_rps" "$health")" \
	"$(awk -v r="$bundle_rps" -v s="$bundle_size" 'BEGIN { printf "%.0f", r * s / 1e6 }')"
printf '%-44s %10.0f %8s\n' "GET /accounts, bearer token (baseline)" "$bearer" 1.00
printf '%-44s %10.0f %8s\n' "GET /accounts, session cookie" "$cookie" "$(ratio "$cookie" "$bearer")"
