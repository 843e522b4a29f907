#!/usr/bin/env bash
# Faults under HTTP transfer load with idempotency keys (regress/faults/,
# sharing load.py): kill -9 of the postmaster and of the shim (crash.py);
# a primary and a synchronous hot standby, the primary stopped and the
# standby promoted under load, and the read pool on the standby
# (failover.py). Each prints its measured numbers ("measured:") and one
# ok/FAIL line per check. Name scripts to run only them:
#   regress/t/70-faults.sh crash
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

[ -x shim/pgbank-http ] || { echo "FAIL: shim/pgbank-http is not built"; exit 1; }
export PGBANK_ROOT PGBANK_RUN PGBANK_PGPORT PGBANK_DBNAME PGBANK_WEB_ROLE PGBANK_OSUSER PG_CONFIG

scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(crash failover)
failed=()
for s in "${scripts[@]}"; do
	echo "== regress/faults/$s.py"
	/usr/bin/python3 "regress/faults/$s.py" || failed+=("$s")
done
echo "faults: ${#scripts[@]} scripts, ${#failed[@]} failed${failed[*]:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
