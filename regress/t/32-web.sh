#!/usr/bin/env bash
# The web app and Swagger UI in a real browser: Debian's chromium, driven
# by playwright-core (npm, regress/web/) through regress/web/browser.mjs,
# against shim/pgbank-http on a free loopback port, the local cluster and
# its real pg_cron outbox job delivering to an SMTP sink on loopback. The
# scenario (docs/web.md): sign up, verify the email from the sink, sign in,
# two results per game added, one edited, one deleted, the table's numbers
# equal the API's; an account opened, a transfer, the insufficient-funds
# and currency errors; signed in across a reload and past the access
# token's end; a cross-site form post refused; Swagger UI's Try it out;
# sign out and refused; no Content-Security-Policy violation on any page.
# Screenshots of each page: .run/web-screenshots/.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

SMTP_PORT=${PGBANK_SMTP_PORT:-2526}
SMTP_PYTHON=${PGBANK_SMTP_PYTHON:-/usr/bin/python3}
MAILDIR=$PGBANK_RUN/mail-web
SHOTS=$PGBANK_RUN/web-screenshots
psql=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
pids=()

say() { printf '32-web: %s\n' "$*"; }
fail() {
	say "FAIL: $*" >&2
	exit 1
}
sql() { "${psql[@]}" -c "$1"; }

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	sql "ALTER SYSTEM RESET pgbank.smtp_url" >/dev/null || true
	sql "ALTER SYSTEM RESET pgbank.public_url" >/dev/null || true
	sql "ALTER SYSTEM RESET pgbank.outbox_backoff" >/dev/null || true
	sql "SELECT pg_reload_conf()" >/dev/null || true
}
trap cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
	local port=$1 pid=$2 what=$3
	for _ in $(seq 100); do
		(echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || fail "$what did not start"
		sleep 0.1
	done
	fail "$what is not listening on $port"
}

[ -x shim/pgbank-http ] || fail "shim/pgbank-http is not built"
[ -x /usr/bin/chromium ] || scripts/setup.sh --packages chromium
scripts/swagger-ui.sh
[ -f regress/web/node_modules/playwright-core/package.json ] ||
	npm install --prefix regress/web --ignore-scripts --no-audit --no-fund --no-package-lock
rm -rf "$MAILDIR" "$SHOTS"
mkdir -p "$MAILDIR" "$SHOTS" "$PGBANK_RUN/logs"

PYTHONPATH=regress "$SMTP_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" \
	-c smtp_sink.Sink "$MAILDIR" >"$PGBANK_RUN/logs/smtp-web.log" 2>&1 &
pids+=($!)
wait_port "$SMTP_PORT" "${pids[-1]}" "the SMTP sink"

port=$(free_port)
base="http://127.0.0.1:$port"
sql "ALTER SYSTEM SET pgbank.smtp_url = 'smtp://127.0.0.1:$SMTP_PORT'"
sql "ALTER SYSTEM SET pgbank.public_url = '$base'"
sql "ALTER SYSTEM SET pgbank.outbox_backoff = '1s'"
sql "SELECT pg_reload_conf()" >/dev/null

other=$(free_port)
PGBANK_DB="host=$PGBANK_RUN port=$PGBANK_PGPORT dbname=$PGBANK_DBNAME user=$PGBANK_WEB_ROLE" \
	PGBANK_LISTEN="127.0.0.1:$port" PGBANK_GRPC_LISTEN= PGBANK_POOL_SIZE=4 \
	shim/pgbank-http >"$PGBANK_RUN/logs/shim-web.log" 2>&1 &
pids+=($!)
wait_port "$port" "${pids[-1]}" "the shim"
say "shim on $base, screenshots in $SHOTS"

PGBANK_WEB_URL=$base PGBANK_WEB_OTHER_PORT=$other PGBANK_WEB_MAILDIR=$MAILDIR \
	PGBANK_WEB_SHOTS=$SHOTS PGBANK_WEB_PSQL="$(pg_bindir)/psql" \
	node regress/web/browser.mjs
