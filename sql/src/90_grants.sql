-- Nothing in pgbank is callable by PUBLIC: roles get EXECUTE explicitly.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgbank FROM PUBLIC;

-- The API role of the HTTP shim may call the SECURITY DEFINER functions,
-- the API, and nothing else (they run with pinned search_paths).
CREATE OR REPLACE FUNCTION pgbank.grant_api(role_name name) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f regprocedure;
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA pgbank TO %I', role_name);
	FOR f IN
		SELECT p.oid::regprocedure FROM pg_proc p
		 WHERE p.pronamespace = 'pgbank'::regnamespace AND p.prosecdef
	LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, role_name);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION pgbank.grant_api(name) FROM PUBLIC;
COMMENT ON FUNCTION pgbank.grant_api(name) IS
	'Let a role (the HTTP shim''s) call every SECURITY DEFINER function of pgbank';
