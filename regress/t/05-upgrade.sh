#!/usr/bin/env bash
# Upgrade from every released version: install it in a scratch database,
# put data in every table (regress/upgrade/data-<version>.sql), run
# ALTER EXTENSION pgbank UPDATE, check that the old data still works
# (regress/upgrade/check.sql: old users log in, old tokens verify and renew,
# old accounts transfer), then that the catalog equals a fresh install's:
# every function's definition, and a pg_dump of schema pgbank once the
# extension's members are detached (pg_dump leaves members out).
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

bin=$(pg_bindir)
psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1)
work=$PGBANK_RUN/upgrade
fail() { echo "FAIL: $*"; exit 1; }
db() { echo "pgbank_upgrade_$1" | tr . _; }
mkdir -p "$work"
[ "$(id -u)" -eq 0 ] && chown "$PGBANK_OSUSER" "$work"

recreate() {
	as_pg "${psql[@]}" -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" 2>&1 |
		grep -v 'does not exist, skipping' || true
}

# The catalog of schema pgbank as text: function definitions, then the dump.
catalog() {
	as_pg "${psql[@]}" -d "$1" -tA -c "SELECT pg_get_functiondef(p.oid) FROM pg_proc p
		WHERE p.pronamespace = 'pgbank'::regnamespace ORDER BY p.oid::regprocedure::text" >"$work/$1.functions"
	as_pg "${psql[@]}" -d "$1" -tA -f regress/upgrade/detach.sql >"$work/$1.extension"
	as_pg "$bin/pg_dump" --schema-only --schema=pgbank -d "$1" |
		grep -v '^\\\(un\)\?restrict ' >"$work/$1.dump"
}

same() {
	local what=$1 old=$2 new=$3
	if ! diff -u "$work/$new.$what" "$work/$old.$what" >"$work/$old.$what.diff"; then
		head -n 80 "$work/$old.$what.diff"
		fail "$what after the upgrade differs from a fresh install (- fresh, + upgraded; $work/$old.$what.diff)"
	fi
}

current=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" pgbank.control)
fresh=$(db "$current")
recreate "$fresh"
as_pg "${psql[@]}" -d "$fresh" -c 'CREATE EXTENSION pgbank CASCADE'
catalog "$fresh"
echo "fresh install of $current: $(grep -c . "$work/$fresh.dump") dump lines"

for script in sql/pgbank--*.sql; do
	version=${script#sql/pgbank--}
	version=${version%.sql}
	case $version in *--*) continue ;; esac
	[ -f "regress/upgrade/data-$version.sql" ] || fail "no regress/upgrade/data-$version.sql for released $version"
	old=$(db "$version")
	recreate "$old"
	as_pg "${psql[@]}" -d "$old" -c "CREATE EXTENSION pgbank VERSION '$version' CASCADE"
	as_pg "${psql[@]}" -d "$old" -o /dev/null -f "regress/upgrade/data-$version.sql"
	as_pg "${psql[@]}" -d "$old" -c 'ALTER EXTENSION pgbank UPDATE'
	as_pg "${psql[@]}" -d "$old" -o /dev/null -f regress/upgrade/check.sql 2>"$work/$old.check" ||
		{ cat "$work/$old.check"; fail "the data of $version does not work after the upgrade"; }
	sed -n 's/^.*NOTICE:  ok: /  ok: /p' "$work/$old.check"
	catalog "$old"
	same functions "$old" "$fresh"
	same extension "$old" "$fresh"
	same dump "$old" "$fresh"
	echo "ok: $version -> $current equals a fresh install of $current"
	as_pg "${psql[@]}" -d postgres -c "DROP DATABASE $old"
done
as_pg "${psql[@]}" -d postgres -c "DROP DATABASE $fresh"
