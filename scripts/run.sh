#!/usr/bin/env bash
# Run pgbank in the foreground until Ctrl-C: the HTTP shim against the local
# cluster that scripts/setup.sh started (the cluster keeps running after),
# and a local SMTP sink on pgbank.smtp_url's default address
# (127.0.0.1:2525) that writes each verification email to .run/mail/, so the
# whole flow works with no external service.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$PGBANK_ROOT"

[ -x shim/pgbank-http ] || { echo "run: shim/pgbank-http is not built (run make)" >&2; exit 1; }

mail_dir="$PGBANK_RUN/mail"
sink=
if /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 2525))' 2>/dev/null; then
	PYTHONPATH=regress /usr/bin/python3 -m aiosmtpd -n -l 127.0.0.1:2525 -c smtp_sink.Sink "$mail_dir" &
	sink=$!
	trap 'kill "$sink" 2>/dev/null || true' EXIT
	echo "run: SMTP sink on 127.0.0.1:2525, emails written to $mail_dir"
else
	echo "run: 127.0.0.1:2525 is in use; emails go to whatever listens there"
fi

export PGBANK_DB=${PGBANK_DB:-"host=$PGBANK_RUN port=$PGBANK_PGPORT dbname=$PGBANK_DBNAME user=$PGBANK_WEB_ROLE"}
url="http://${PGBANK_LISTEN:-127.0.0.1:8080}"
echo "run: shim on $url (Ctrl-C stops it; the database keeps running)"
echo "run: the web app at $url/ and Swagger UI at $url/swagger/"

# Not exec: the trap above stops the sink when the shim exits.
shim/pgbank-http
