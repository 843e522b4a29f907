#!/usr/bin/env bash
# The README's psql walk-through, run as written: every ```sql block of
# README.md, in order, in one psql session in a scratch database with the
# extension. A statement marked "-- fails: SQLSTATE ..." must fail with that
# SQLSTATE; every other statement must succeed. The check compares the
# sequence of SQLSTATEs psql reports with the sequence of marks.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

db=pgbank_readme
psql=("$(pg_bindir)/psql" -X -q -h "$PGBANK_RUN" -p "$PGBANK_PGPORT" -U postgres)
work=$(mktemp -d)
trap 'rm -rf "$work"; "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT

# The blocks, and the marks in them.
awk '/^```sql$/ { on = 1; next } /^```$/ { on = 0 } on' README.md >"$work/walk.sql"
grep -o -- '-- fails: [0-9A-Z]\{5\}' "$work/walk.sql" | awk '{ print $3 }' >"$work/expected" || true
[ -s "$work/walk.sql" ] || { echo "FAIL: README.md has no sql block"; exit 1; }
[ -s "$work/expected" ] || { echo "FAIL: README.md marks no failing statement"; exit 1; }

PGOPTIONS="-c client_min_messages=warning" "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
"${psql[@]}" -d "$db" -c 'CREATE EXTENSION pgbank CASCADE'

# Statements that fail are rolled back to a savepoint and the session goes on,
# as in an interactive psql; VERBOSITY sqlstate prints "ERROR:  <SQLSTATE>".
{
	printf '\\set VERBOSITY sqlstate\n\\set ON_ERROR_ROLLBACK on\nBEGIN;\n'
	cat "$work/walk.sql"
	printf 'COMMIT;\n'
} | "${psql[@]}" -d "$db" -v ON_ERROR_STOP=0 >"$work/out" 2>"$work/err" || true

grep -o 'ERROR:  [0-9A-Z]\{5\}' "$work/err" | awk '{ print $2 }' >"$work/got" || true
if ! diff -u "$work/expected" "$work/got"; then
	echo "FAIL: the README's failing statements differ (- marked in README, + what psql reported)"
	cat "$work/err"
	exit 1
fi
# A statement that should have worked, but failed with the code the next mark
# expects, would shift the sequence: the counts must match as well as the order,
# and nothing but ERROR lines may appear on stderr.
if grep -v '^ERROR:  [0-9A-Z]\{5\}$' "$work/err" | grep -q .; then
	echo "FAIL: psql wrote more than the expected errors:"
	cat "$work/err"
	exit 1
fi
echo "readme: $(wc -l <"$work/expected") marked failures as documented, all other statements succeeded"
