#!/usr/bin/env bash
# End to end over real HTTP: each regress/http/test_*.py (one concern each,
# sharing regress/http/helpers.py) starts shim/pgbank-http on free loopback
# ports against the local cluster (as the API role), prints one ok/FAIL line
# per case and exits non-zero on any failure. test_restart.py stops and
# restarts the cluster once; test_security.py also runs the AddressSanitizer
# build (shim/pgbank-http-asan, built here). Name files to run only them:
#   regress/t/30-http.sh games security     # test_games.py, test_security.py
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

[ -x shim/pgbank-http ] || { echo "FAIL: shim/pgbank-http is not built"; exit 1; }
export PGBANK_ROOT PGBANK_RUN PGBANK_PGPORT PGBANK_DBNAME PGBANK_WEB_ROLE PGBANK_OSUSER PG_CONFIG
make -s shim/pgbank-http-asan

files=()
for name in "$@"; do
	name=${name##*/}
	name=${name#test_}
	files+=("regress/http/test_${name%.py}.py")
done
[ ${#files[@]} -gt 0 ] || files=(regress/http/test_*.py)

failed=()
for f in "${files[@]}"; do
	echo "== $f"
	python3 "$f" || failed+=("${f##*/}")
done
echo "http: ${#files[@]} files, ${#failed[@]} failed${failed[*]:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
