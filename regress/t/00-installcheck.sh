#!/usr/bin/env bash
# pg_regress (regress/sql, regress/expected) in a temporary instance with
# pg_cron and pgbank preloaded; run as the unprivileged postgres user.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"
mkdir -p "$PGBANK_RUN/regress" "$PGBANK_RUN/isolation"
[ "$(id -u)" -eq 0 ] && chown -R "$PGBANK_OSUSER" "$PGBANK_RUN/regress" "$PGBANK_RUN/isolation"
if ! as_pg make -s installcheck RUNDIR="$PGBANK_RUN"; then
	cat "$PGBANK_RUN/regress/regression.diffs" 2>/dev/null | head -n 200
	exit 1
fi
