#!/usr/bin/env bash
# Run pgbank in the foreground until Ctrl-C: the HTTP shim against the local
# cluster that scripts/setup.sh started (the cluster keeps running after).
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$PGBANK_ROOT"

if [ -x shim/pgbank-http ]; then
	export PGBANK_DB=${PGBANK_DB:-"host=$PGBANK_RUN port=$PGBANK_PGPORT dbname=$PGBANK_DBNAME user=$PGBANK_WEB_ROLE"}
	echo "run: shim on http://${PGBANK_LISTEN:-127.0.0.1:8080} (Ctrl-C stops it)"
	exec shim/pgbank-http
fi
echo "run: database ready at $PGBANK_RUN:$PGBANK_PGPORT (no shim built); Ctrl-C stops watching"
exec tail -n 0 -F "$PGBANK_RUN/postgres.log"
