#!/usr/bin/env bash
# End to end over real HTTP: starts shim/pgbank-http on a free loopback port
# against the local cluster (as the API role), runs regress/http/e2e.py,
# which prints one ok/FAIL line per case and exits non-zero on any failure.
# It stops and restarts the cluster once (the 503 and recovery case).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

[ -x shim/pgbank-http ] || { echo "FAIL: shim/pgbank-http is not built"; exit 1; }
export PGBANK_ROOT PGBANK_RUN PGBANK_PGPORT PGBANK_DBNAME PGBANK_WEB_ROLE PGBANK_OSUSER PG_CONFIG
exec python3 regress/http/e2e.py
