#!/usr/bin/env bash
# The pg_tle payload (make pgtle: build/managed/pgbank--VERSION.pgtle.sql).
# pg_tle is not packaged for Debian, so what pg_tle does is stood in for,
# and said so: (1) the payload contains no C; (2) it is valid SQL that a
# role that is not superuser runs, in a transaction then rolled back, with
# a stub pgtle.install_extension defined here that checks its arguments
# (name, version, requires, a script free of C) and keeps the script;
# (3) that script is the managed install script (the build), with CREATE
# SCHEMA pgbank first; (4) pg_tle runs a TLE's script as the role that
# creates it, with no superuser and no trust: here the kept script and a
# control file saying just that (superuser = false, requires = 'pgcrypto')
# are put where PostgreSQL finds extensions (pg_tle serves them from its
# tables instead) in a tree with no pgbank otherwise, and the database
# owner, not superuser, creates pgbank from them and uses it.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"
. regress/managed/cluster.sh
fail() { echo "FAIL: $*"; exit 1; }
trap managed_stop EXIT

make -s pgtle
payload=$PWD/build/managed/pgbank--$PGBANK_VERSION.pgtle.sql
echo "== (1) no C in the payload"
grep -Eiq 'LANGUAGE[[:space:]]+C([^[:alnum:]_]|$)|MODULE_PATHNAME|\$libdir' "$payload" &&
	fail "the payload has C: $(grep -Ein 'LANGUAGE[[:space:]]+C([^[:alnum:]_]|$)|MODULE_PATHNAME|\$libdir' "$payload" | head -3)"
[ "$(grep -c 'pgtle.install_extension(' "$payload")" = 1 ] || fail "not one install_extension call"

MANAGED_INSTALL=0 managed_cluster "$PGBANK_RUN/managed-tle"
ls "$mt"/pg/usr/share/postgresql/15/extension/pgbank* 2>/dev/null && fail "the tree has pgbank's files"
as_pg "${mpsql[@]}" -q -d postgres -c "CREATE ROLE tle_owner LOGIN" -c "CREATE DATABASE tle OWNER tle_owner"
owner=("$mbin/psql" -X -v ON_ERROR_STOP=1 -h "$mt" -p "$PGBANK_PGPORT" -U tle_owner -d tle)

echo "== (2) the payload, as a role that is not superuser, with a stub pgtle.install_extension, rolled back"
cat >"$mt/stub.sql" <<'SQL'
BEGIN;
SET LOCAL stub.version = :'version';
CREATE SCHEMA pgtle;
CREATE TABLE pgtle.installed (name text, version text, description text, ext text, requires text[]);
-- The stub: pg_tle's signature; checks what it is given and keeps it.
CREATE FUNCTION pgtle.install_extension(name text, version text, description text, ext text,
		requires text[] DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	IF name IS DISTINCT FROM 'pgbank' OR version IS DISTINCT FROM current_setting('stub.version')
	   OR requires IS DISTINCT FROM ARRAY['pgcrypto'] OR coalesce(description, '') = ''
	   OR ext IS NULL OR ext !~ '^CREATE SCHEMA pgbank;'
	   OR ext ~* 'LANGUAGE\s+c\M' OR position('MODULE_PATHNAME' IN ext) > 0 THEN
		RAISE EXCEPTION 'install_extension(%, %, %, ..., %): not pgbank''s arguments',
			name, version, description, requires;
	END IF;
	INSERT INTO pgtle.installed VALUES (name, version, description, ext, requires);
	RETURN 'OK';
END
$$;
\i :payload
SELECT count(*) AS calls, bool_and(NOT r.rolsuper) AS not_superuser
  FROM pgtle.installed, pg_roles r WHERE r.rolname = current_user;
\pset format unaligned
\pset tuples_only on
\o :kept
SELECT ext FROM pgtle.installed;
\o
ROLLBACK;
SQL
out=$(as_pg "${owner[@]}" -v version="$PGBANK_VERSION" -v payload="$payload" -v kept="$mt/kept.sql" \
	-f "$mt/stub.sql" 2>&1) || fail "the payload did not run: $out"
echo "$out" | grep -q '^ *1 | t$' || fail "not one call by a role that is not superuser: $out"
[ "$(as_pg "${owner[@]}" -tAc "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgtle'")" = 0 ] ||
	fail "the transaction was not rolled back"

echo "== (3) the script it installs is the managed build's"
/usr/bin/python3 - "$mt/kept.sql" "build/managed/pgbank--$PGBANK_VERSION.sql" <<'PY' || fail "the payload's script is not the build's"
import sys
kept = open(sys.argv[1]).read().rstrip("\n")
build = "".join(l for l in open(sys.argv[2]).read().splitlines(True) if not l.startswith("\\echo "))
sys.exit(0 if kept == ("CREATE SCHEMA pgbank;\n" + build).rstrip("\n") else 1)
PY

echo "== (4) the kept script as pg_tle runs it: as the database owner, not superuser, untrusted"
ext=$mt/pg/usr/share/postgresql/15/extension
cp "$mt/kept.sql" "$ext/pgbank--$PGBANK_VERSION.sql"
printf "comment = 'pgbank (pg_tle stand-in)'\ndefault_version = '%s'\nrelocatable = false\nsuperuser = false\nrequires = 'pgcrypto'\n" \
	"$PGBANK_VERSION" >"$ext/pgbank.control"
as_pg "${owner[@]}" -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pgbank CASCADE" \
	-c "INSERT INTO pgbank.settings VALUES ('pgbank.token_key', repeat('cd', 32)), ('pgbank.bcrypt_cost', '4')"
r=$(as_pg "${owner[@]}" -tA -c "SELECT count(*) FILTER (WHERE prolang = 13), count(*) FROM pg_proc WHERE pronamespace = 'pgbank'::regnamespace" \
	-c "SELECT (pgbank.create_user('tle_ann', 'secret1', 'Ann', 'ann@tle.test')).username" \
	-c "SELECT (pgbank.login('tle_ann', 'secret1')).user" -c "SELECT extowner::regrole FROM pg_extension WHERE extname = 'pgbank'")
echo "$r"
[ "$(echo "$r" | sed -n 1p)" = "0|$(echo "$r" | sed -n 1p | cut -d'|' -f2)" ] || fail "C routines: $r"
echo "$r" | grep -q '^(tle_ann,' || fail "no login"
[ "$(echo "$r" | tail -1)" = tle_owner ] || fail "pgbank is not the owner's"
echo "ok"
