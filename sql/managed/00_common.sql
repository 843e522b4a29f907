-- The managed build's foundations (docs/managed.md): pgcrypto through
-- wrappers, the settings the C build defines as GUCs, base64url, and the
-- twin of the one constant-time comparison of secrets.

-- ----- pgcrypto -----
-- pgcrypto is a required extension, but its schema is chosen when it is
-- created (PostgreSQL 15 has no @extschema:pgcrypto@): these wrappers are
-- written with its schema found now, and everything else calls them.
DO $$
DECLARE
	s text := (SELECT n.nspname FROM pg_catalog.pg_extension e
				 JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
				WHERE e.extname = 'pgcrypto');
BEGIN
	IF s IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pgcrypto is not installed',
			HINT = 'CREATE EXTENSION pgbank CASCADE installs it.';
	END IF;
	EXECUTE format($f$
		CREATE OR REPLACE FUNCTION pgbank.crypto_hmac_sha256(data bytea, key bytea) RETURNS bytea
			LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
			RETURN %1$I.hmac(data, key, 'sha256');
		CREATE OR REPLACE FUNCTION pgbank.crypto_random_bytes(n integer) RETURNS bytea
			LANGUAGE sql VOLATILE STRICT PARALLEL SAFE
			RETURN %1$I.gen_random_bytes(n);
		CREATE OR REPLACE FUNCTION pgbank.crypto_crypt(password text, salt text) RETURNS text
			LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
			RETURN %1$I.crypt(password, salt);
		CREATE OR REPLACE FUNCTION pgbank.crypto_bcrypt_salt(cost integer) RETURNS text
			LANGUAGE sql VOLATILE STRICT PARALLEL SAFE
			RETURN %1$I.gen_salt('bf', cost);
	$f$, s);
END
$$;
COMMENT ON FUNCTION pgbank.crypto_hmac_sha256(bytea, bytea) IS
	'pgcrypto''s HMAC-SHA256 (managed build)';
COMMENT ON FUNCTION pgbank.crypto_random_bytes(integer) IS
	'pgcrypto''s random bytes (managed build)';
COMMENT ON FUNCTION pgbank.crypto_crypt(text, text) IS
	'pgcrypto''s crypt() (managed build)';
COMMENT ON FUNCTION pgbank.crypto_bcrypt_salt(integer) IS
	'pgcrypto''s gen_salt(''bf'', cost) (managed build)';

-- ----- settings -----
-- The C build defines pgbank.* as GUCs (secrets superuser-only). Here a
-- GUC is only a placeholder that any session can read and SET, so
-- settings live in this table, which only its owner can read: secrets
-- (the token key, the SMTP password) only here, read by functions that run
-- as the owner; any other setting is the placeholder's value in a session
-- of a superuser or of a member of the owner (so the API role cannot SET
-- its own throttle limits), else this table's, else the C build's default.
CREATE TABLE pgbank.settings (
	name text PRIMARY KEY CHECK (name ~ '^pgbank\.[a-z0-9_]+$'),
	value text NOT NULL
);
COMMENT ON TABLE pgbank.settings IS
	'The managed build''s settings (its secrets only here): one row per setting changed from its default';
SELECT pg_catalog.pg_extension_config_dump('pgbank.settings', '');

CREATE OR REPLACE FUNCTION pgbank.setting_default(name text) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN CASE name
		WHEN 'pgbank.token_format' THEN 'jwt'	-- PASETO needs what pgcrypto lacks
		WHEN 'pgbank.login_throttle_entries' THEN '1000'	-- each a sequence
		-- then the C build's default of every other setting, but its
		-- Argon2id ones (scripts/sqlbuild.py writes them from extension/*.c)
		--@c-setting-defaults except pgbank.argon2_opslimit pgbank.argon2_memlimit pgbank.password_hash
	END;
COMMENT ON FUNCTION pgbank.setting_default(text) IS
	'The default of a managed setting (the C build''s GUC default; JWT, not PASETO, for tokens); NULL for an unknown name';

CREATE OR REPLACE FUNCTION pgbank.setting_is_secret(name text) RETURNS boolean
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN name IN ('pgbank.token_key', 'pgbank.smtp_username', 'pgbank.smtp_password');

-- Whether this session's placeholders count: the session's user is a
-- superuser or a member of the owner of pgbank.
CREATE OR REPLACE FUNCTION pgbank.setting_session_trusted() RETURNS boolean
	LANGUAGE sql STABLE
	RETURN (SELECT r.rolsuper OR pg_has_role(session_user, e.extowner, 'USAGE')
			  FROM pg_roles r, pg_extension e
			 WHERE r.rolname = session_user AND e.extname = 'pgbank');

-- What current_setting() of the fragments becomes (scripts/sqlbuild.py).
CREATE OR REPLACE FUNCTION pgbank.setting(name text, missing_ok boolean DEFAULT false) RETURNS text
	LANGUAGE plpgsql STABLE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	v text;
BEGIN
	IF NOT pgbank.setting_is_secret(name) AND pgbank.setting_session_trusted() THEN
		v := current_setting(name, true);
		IF v IS NOT NULL AND v <> '' THEN
			RETURN v;
		END IF;
	END IF;
	SELECT s.value INTO v FROM pgbank.settings s WHERE s.name = setting.name;
	IF FOUND THEN
		RETURN v;
	END IF;
	v := pgbank.setting_default(name);
	IF v IS NULL AND NOT missing_ok THEN
		RAISE EXCEPTION USING ERRCODE = 'undefined_object',
			MESSAGE = format('unrecognized configuration parameter "%s"', name);
	END IF;
	RETURN v;
END
$$;
COMMENT ON FUNCTION pgbank.setting(text, boolean) IS
	'A pgbank setting in the managed build: the GUC placeholder if set (never for a secret), else pgbank.settings, else the default';

-- Durations: a bare number is in the setting's unit, as a GUC with
-- GUC_UNIT_S or GUC_UNIT_MS reads it; else an interval ('15min', '1d').
CREATE OR REPLACE FUNCTION pgbank.setting_seconds(name text) RETURNS double precision
	LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
	v text := pgbank.setting(name);
BEGIN
	IF v ~ '^\s*\d+\s*$' THEN
		RETURN v::double precision;
	END IF;
	RETURN pg_catalog.date_part('epoch', v::interval);
END
$$;
COMMENT ON FUNCTION pgbank.setting_seconds(text) IS
	'A duration setting in seconds (a bare number is seconds)';

CREATE OR REPLACE FUNCTION pgbank.setting_ms(name text) RETURNS double precision
	LANGUAGE plpgsql STABLE STRICT AS $$
DECLARE
	v text := pgbank.setting(name);
BEGIN
	IF v ~ '^\s*\d+\s*$' THEN
		RETURN v::double precision;
	END IF;
	RETURN pg_catalog.date_part('epoch', v::interval) * 1000;
END
$$;
COMMENT ON FUNCTION pgbank.setting_ms(text) IS
	'A duration setting in milliseconds (a bare number is milliseconds)';

-- ----- base64url (RFC 4648 section 5, no padding, one encoding per string) -----
CREATE OR REPLACE FUNCTION pgbank.b64url_encode(data bytea) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN pg_catalog.rtrim(pg_catalog.translate(pg_catalog.encode(data, 'base64'),
		E'+/\n', '-_'), '=');

-- NULL for anything that is not the one encoding of some bytes.
CREATE OR REPLACE FUNCTION pgbank.b64url_decode(s text) RETURNS bytea
	LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b bytea;
BEGIN
	IF s !~ '^[A-Za-z0-9_-]*$' OR length(s) % 4 = 1 THEN
		RETURN NULL;
	END IF;
	b := decode(translate(s, '-_', '+/') || repeat('=', (4 - length(s) % 4) % 4), 'base64');
	-- non-zero unused bits in the last character
	IF pgbank.b64url_encode(b) <> s THEN
		RETURN NULL;
	END IF;
	RETURN b;
END
$$;

-- ----- secrets -----
-- Both are HMACed under a key drawn for this call, so the comparison of
-- the two MACs tells an observer neither where the secrets differ nor
-- their lengths (pgcrypto has no constant-time compare).
CREATE OR REPLACE FUNCTION pgbank.secret_code_matches(expected text, given text) RETURNS boolean
	LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	k bytea := pgbank.crypto_random_bytes(32);
BEGIN
	RETURN pgbank.crypto_hmac_sha256(convert_to(expected, 'UTF8'), k)
		= pgbank.crypto_hmac_sha256(convert_to(given, 'UTF8'), k);
END
$$;

-- ----- request values -----
-- Twins of extension/request.c: the same rules and errors in PL/pgSQL.

CREATE OR REPLACE FUNCTION pgbank.invalid_input(field text, message text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
		MESSAGE = format('invalid %s: %s', field, message),
		DETAIL = format('Field: %s.', field), COLUMN = field;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.required(field text, value anyelement) RETURNS anyelement
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF value IS NULL THEN
		PERFORM pgbank.invalid_input(field, 'is required');
	END IF;
	RETURN value;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.body_object(body json) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF body IS NULL OR json_typeof(body) <> 'object' THEN
		PERFORM pgbank.invalid_input('body', 'must be a JSON object');
	END IF;
	RETURN body::jsonb;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.body_text(body jsonb, field text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF body -> field IS NULL OR jsonb_typeof(body -> field) = 'null' THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(body -> field) <> 'string' THEN
		PERFORM pgbank.invalid_input(field, 'must be a string');
	END IF;
	RETURN body ->> field;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.body_bigint(body jsonb, field text) RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n numeric;
BEGIN
	IF body -> field IS NULL OR jsonb_typeof(body -> field) = 'null' THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(body -> field) <> 'number' THEN
		PERFORM pgbank.invalid_input(field, 'must be an integer');
	END IF;
	n := (body ->> field)::numeric;
	IF n <> trunc(n) OR n NOT BETWEEN -9223372036854775808 AND 9223372036854775807 THEN
		PERFORM pgbank.invalid_input(field, 'must be an integer');
	END IF;
	RETURN n::bigint;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.param_id(field text, value text) RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF value IS NULL OR value = '' THEN
		PERFORM pgbank.invalid_input(field, 'is required');
	END IF;
	IF value !~ '^[0-9]{1,18}$' OR value::bigint < 1 THEN
		PERFORM pgbank.invalid_input(field, 'must be a positive integer');
	END IF;
	RETURN value::bigint;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.param_int(field text, value text) RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF value IS NULL OR value = '' THEN
		RETURN NULL;
	END IF;
	IF value !~ '^-?[0-9]{1,18}$' THEN
		PERFORM pgbank.invalid_input(field, 'must be an integer');
	END IF;
	RETURN value::bigint;
END
$$;
