\set ECHO none
-- The start of every file of regress/sql (\i regress/include/setup.sql):
-- a fresh pgbank, so that each file runs alone and in any order, the same
-- psql settings, and the one helper every file uses to show an error.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pgbank CASCADE;
CREATE EXTENSION pgbank;
RESET client_min_messages;
\set VERBOSITY default
\pset null '(null)'
\set SHOW_CONTEXT never
-- err(sql[, rollback[, part]]): the SQLSTATE and message of the error sql
-- raises, or 'ok' if it raises none; with rollback, what it did is undone
-- either way; with part 'detail', the error's detail instead.
CREATE FUNCTION pg_temp.err(sql text, rollback boolean DEFAULT false, part text DEFAULT 'message')
	RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE sql;
	IF rollback THEN
		RAISE SQLSTATE 'ZZOK0';
	END IF;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN CASE WHEN SQLSTATE = 'ZZOK0' THEN 'ok'
				WHEN part = 'detail' THEN detail
				ELSE SQLSTATE || ': ' || SQLERRM END;
END
$$;
\set ECHO all
