#!/usr/bin/env bash
# The contract over HTTP and gRPC: the same end-to-end tests as
# regress/t/30-http.sh (regress/http/test_*.py) and regress/t/31-grpc.sh
# (regress/grpc/e2e_grpc.py; not when test files are named), with
# shim/pgbank-http in front of the managed build instead of the C build. The managed cluster (regress/managed/
# cluster.sh) stands in for the local one: PGBANK_RUN points at its
# directory (socket, pgdata, logs) and PG_CONFIG at its tree, so the tests'
# psql and pg_ctl (test_restart.py restarts it) are its own. Set up as
# scripts/setup.sh does the local database (pg_cron, CREATE EXTENSION
# pgbank CASCADE, scripts/post-install.sql: the API role and the jobs),
# plus the managed build's one step, the token key in pgbank.settings.
# Arguments name test files, as for 30-http.sh.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"
. regress/managed/cluster.sh
trap managed_stop EXIT

make -s shim/pgbank-http
CRON_DB=$PGBANK_DBNAME managed_cluster "$PGBANK_RUN/managed-h"
managed_local_db
PGBANK_RUN=$mt PG_CONFIG=$mbin/pg_config bash regress/t/30-http.sh "$@"
if [ $# -eq 0 ]; then
	echo "== gRPC (31-grpc.sh)"
	PGBANK_RUN=$mt PG_CONFIG=$mbin/pg_config bash regress/t/31-grpc.sh
fi
