#!/usr/bin/env bash
# Run every test suite: each executable regress/t/*.sh, in name order, against
# the cluster that scripts/setup.sh prepared. A suite passes when it exits 0.
# Prints one line per suite and a closing "N passed, N failed" line.
set -uo pipefail
. "$(dirname "$0")/env.sh"
cd "$PGBANK_ROOT"

passed=0
failed=0
failures=()
mkdir -p "$PGBANK_RUN/logs"
[ "$(id -u)" -eq 0 ] && chown "$PGBANK_OSUSER" "$PGBANK_RUN" "$PGBANK_RUN/logs"
for suite in ${PGBANK_SUITES:-regress/t/*.sh}; do
	[ -f "$suite" ] || suite="regress/t/$suite.sh"    # a bare name: 32-web
	name=$(basename "$suite" .sh)
	log="$PGBANK_RUN/logs/$name.log"
	start=$(date +%s)
	if bash "$suite" >"$log" 2>&1; then
		passed=$((passed + 1))
		printf 'ok    %-28s %4ss\n' "$name" "$(($(date +%s) - start))"
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL  %-28s %4ss   (log: %s)\n' "$name" "$(($(date +%s) - start))" "$log"
		tail -n 40 "$log" | sed 's/^/      | /'
	fi
done
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
