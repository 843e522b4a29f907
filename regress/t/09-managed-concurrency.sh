#!/usr/bin/env bash
# regress/t/10-concurrency.sh (many clients transferring both ways, a hot
# pair, batches and holds: no deadlock, no money lost or made, every
# invariant of check_ledger) and regress/t/20-identity-concurrency.sh
# (concurrent logins against the throttle, renewals against logout)
# against the managed build: the same scripts, with PGBANK_RUN and
# PG_CONFIG pointing at a managed cluster (regress/managed/cluster.sh)
# whose database is made as the local one.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"
. regress/managed/cluster.sh
trap managed_stop EXIT

CRON_DB=$PGBANK_DBNAME managed_cluster "$PGBANK_RUN/managed-c"
managed_local_db
PGBANK_RUN=$mt PG_CONFIG=$mbin/pg_config bash regress/t/10-concurrency.sh
# 20-identity-concurrency reads the limit with SHOW: here a placeholder,
# which the managed build reads in a superuser's session, set to the default
# (ALTER SYSTEM knows no placeholder; ALTER DATABASE does).
as_pg "${mpsql[@]}" -q -d "$PGBANK_DBNAME" -c "INSERT INTO pgbank.settings VALUES ('pgbank.bcrypt_cost', '4')" \
	-c "ALTER DATABASE $PGBANK_DBNAME SET pgbank.login_max_failures = 5"
PGBANK_RUN=$mt PG_CONFIG=$mbin/pg_config bash regress/t/20-identity-concurrency.sh
