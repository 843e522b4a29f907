-- Tokens in the managed build: JWT HS256 with pgcrypto's HMAC; PASETO v4
-- refused (its primitives are not in pgcrypto). Twins of extension/jwt.c,
-- paseto.c and token.c; the token key is the secret setting
-- pgbank.token_key of pgbank.settings (00_common.sql).

ALTER TABLE pgbank.settings ADD CHECK (name <> 'pgbank.token_key' OR value ~ '^([0-9a-fA-F]{64})?$');

CREATE OR REPLACE FUNCTION pgbank.paseto_unavailable() RETURNS void
	LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
		MESSAGE = 'paseto v4 is not available in the managed build of pgbank',
		DETAIL = 'PASETO v4 needs XChaCha20, BLAKE2b and Ed25519, which pgcrypto does not have.',
		HINT = 'Use JWT HS256 (pgbank.token_format = jwt), or the C build of pgbank.';
END
$$;
COMMENT ON FUNCTION pgbank.paseto_unavailable() IS
	'Raise feature_not_supported: what every PASETO function of the managed build does';

CREATE OR REPLACE FUNCTION pgbank.paseto_v4_local_encrypt(payload text, key bytea,
		footer text DEFAULT '', implicit_assertion text DEFAULT '')
	RETURNS text
	LANGUAGE plpgsql VOLATILE PARALLEL SAFE AS $$
BEGIN
	PERFORM pgbank.paseto_unavailable();
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.paseto_v4_local_encrypt_nonce(payload bytea, key bytea,
		nonce bytea, footer text, implicit_assertion text)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	PERFORM pgbank.paseto_unavailable();
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.paseto_v4_local_decrypt(token text, key bytea,
		implicit_assertion text DEFAULT '')
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	PERFORM pgbank.paseto_unavailable();
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.paseto_v4_public_sign(payload text, secret_key bytea,
		footer text DEFAULT '', implicit_assertion text DEFAULT '')
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	PERFORM pgbank.paseto_unavailable();
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.paseto_v4_public_verify(token text, public_key bytea,
		implicit_assertion text DEFAULT '')
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	PERFORM pgbank.paseto_unavailable();
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.paseto_footer(token text)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
	PERFORM pgbank.paseto_unavailable();
	RETURN NULL;
END
$$;

-- ----- JWT HS256 -----

CREATE OR REPLACE FUNCTION pgbank.token_invalid(message text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'invalid_authorization_specification', MESSAGE = message;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.check_not_null(is_null boolean, field text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF is_null THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = format('%s must not be null', field), DETAIL = format('Field: %s.', field);
	END IF;
END
$$;

-- A decoded segment as a JSON object, or 28000 (what extension/jwt.c says).
CREATE OR REPLACE FUNCTION pgbank.token_json_object(segment bytea, what text, message text)
	RETURNS json
	LANGUAGE plpgsql IMMUTABLE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t text;
	j json;
BEGIN
	BEGIN
		IF position('\x00'::bytea IN segment) > 0 THEN
			RAISE EXCEPTION 'nul';
		END IF;
		t := convert_from(segment, 'UTF8');
	EXCEPTION WHEN OTHERS THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_authorization_specification',
			MESSAGE = format('token %s is not valid text', what),
			DETAIL = 'It contains a NUL byte or is not valid in the database encoding.';
	END;
	BEGIN
		j := t::json;
	EXCEPTION WHEN OTHERS THEN
		PERFORM pgbank.token_invalid(message);
	END;
	IF json_typeof(j) <> 'object' THEN
		PERFORM pgbank.token_invalid(message);
	END IF;
	RETURN j;
END
$$;

-- How many times a JSON object has a key (json keeps repeated keys).
CREATE OR REPLACE FUNCTION pgbank.json_key_count(j json, key text) RETURNS bigint
	LANGUAGE sql IMMUTABLE STRICT
	RETURN (SELECT count(*) FROM pg_catalog.json_object_keys(j) k WHERE k = key);

-- An optional NumericDate claim as a time: absent (NULL), or once a number
-- in range; 28000 otherwise.
CREATE OR REPLACE FUNCTION pgbank.jwt_optional_date(claims json, claim text) RETURNS timestamptz
	LANGUAGE plpgsql IMMUTABLE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n int := pgbank.json_key_count(claims, claim);
	secs double precision;
BEGIN
	IF n = 0 THEN
		RETURN NULL;
	END IF;
	IF n = 1 AND json_typeof(claims -> claim) = 'number' THEN
		BEGIN
			secs := (claims ->> claim)::double precision;
		EXCEPTION WHEN numeric_value_out_of_range THEN
			secs := NULL;	-- as strtod's infinity: out of range
		END;
		IF secs BETWEEN -2.0e11 AND 2.0e11 THEN
			RETURN to_timestamp(trunc(secs * 1e6) / 1e6);
		END IF;
	END IF;
	PERFORM pgbank.token_invalid(format('token claim %s is not one valid NumericDate', claim));
	RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.jwt_hs256_sign(claims json, key bytea)
	RETURNS text
	LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	signed text;
BEGIN
	PERFORM pgbank.check_not_null(claims IS NULL, 'claims');
	PERFORM pgbank.check_not_null(key IS NULL, 'key');
	IF ltrim(claims::text, E' \t\n\r') NOT LIKE '{%' THEN
		PERFORM pgbank.invalid_input('claims', 'must be a json object');
	END IF;
	IF length(key) < 32 THEN
		PERFORM pgbank.invalid_input('key', 'must be at least 32 bytes');
	END IF;
	-- base64url of {"alg":"HS256","typ":"JWT"}
	signed := 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.' || pgbank.b64url_encode(convert_to(claims::text, 'UTF8'));
	RETURN signed || '.' || pgbank.b64url_encode(pgbank.crypto_hmac_sha256(convert_to(signed, 'UTF8'), key));
END
$$;

CREATE OR REPLACE FUNCTION pgbank.jwt_hs256_verify(token text, key bytea)
	RETURNS json
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	parts text[];
	header bytea;
	claims bytea;
	sig bytea;
	h json;
	c json;
	k bytea;
	ts timestamptz;
	now timestamptz := statement_timestamp();
BEGIN
	IF token IS NULL THEN
		PERFORM pgbank.token_invalid('token is missing');
	END IF;
	PERFORM pgbank.check_not_null(key IS NULL, 'key');
	IF length(key) < 32 THEN
		PERFORM pgbank.invalid_input('key', 'must be at least 32 bytes');
	END IF;
	parts := string_to_array(token, '.');
	IF coalesce(array_length(parts, 1), 0) <> 3 THEN
		PERFORM pgbank.token_invalid('token is not a jwt: it must have three segments');
	END IF;
	header := pgbank.b64url_decode(parts[1]);
	claims := pgbank.b64url_decode(parts[2]);
	sig := pgbank.b64url_decode(parts[3]);
	IF header IS NULL OR claims IS NULL OR sig IS NULL THEN
		PERFORM pgbank.token_invalid('token is not valid base64url');
	END IF;
	h := pgbank.token_json_object(header, 'header', 'token header is not a json object');
	IF pgbank.json_key_count(h, 'alg') <> 1 OR json_typeof(h -> 'alg') <> 'string' THEN
		PERFORM pgbank.token_invalid('token header must name its algorithm once');
	END IF;
	IF h ->> 'alg' <> 'HS256' THEN
		PERFORM pgbank.token_invalid('token algorithm is not HS256');
	END IF;
	IF pgbank.json_key_count(h, 'typ') > 1 OR (pgbank.json_key_count(h, 'typ') = 1 AND
		(json_typeof(h -> 'typ') <> 'string' OR lower(h ->> 'typ') NOT IN ('jwt', 'application/jwt'))) THEN
		PERFORM pgbank.token_invalid('token type is not JWT');
	END IF;
	IF pgbank.json_key_count(h, 'crit') > 0 THEN
		PERFORM pgbank.token_invalid('token header has critical extensions');
	END IF;
	-- constant time: the MACs are compared under a key drawn now
	k := pgbank.crypto_random_bytes(32);
	IF length(sig) <> 32 OR pgbank.crypto_hmac_sha256(sig, k) <> pgbank.crypto_hmac_sha256(
			pgbank.crypto_hmac_sha256(convert_to(parts[1] || '.' || parts[2], 'UTF8'), key), k) THEN
		PERFORM pgbank.token_invalid('token is invalid or was signed with another key');
	END IF;
	c := pgbank.token_json_object(claims, 'claims', 'token claims are not a json object');
	ts := pgbank.jwt_optional_date(c, 'exp');
	IF ts IS NOT NULL AND now >= ts THEN
		PERFORM pgbank.token_invalid('token has expired');
	END IF;
	ts := pgbank.jwt_optional_date(c, 'nbf');
	IF ts IS NOT NULL AND now < ts THEN
		PERFORM pgbank.token_invalid('token is not valid yet');
	END IF;
	RETURN c;
END
$$;

-- ----- the token Maker -----

CREATE OR REPLACE FUNCTION pgbank.rfc3339(ts timestamptz) RETURNS text
	LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
	RETURN pg_catalog.to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');

-- RFC 3339 (YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)) or NULL.
CREATE OR REPLACE FUNCTION pgbank.parse_rfc3339(s text) RETURNS timestamptz
	LANGUAGE plpgsql IMMUTABLE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF s !~ '^\d{4}-\d\d-\d\d[Tt]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$'
		OR left(s, 4) = '0000' THEN
		RETURN NULL;
	END IF;
	RETURN s::timestamptz;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

-- The 32 bytes of pgbank.token_key, or NULL when it is not set. Reads the
-- owner-only table: callable by the owner (and its SECURITY DEFINER
-- functions) only.
CREATE OR REPLACE FUNCTION pgbank.token_key() RETURNS bytea
	LANGUAGE sql STABLE
	RETURN (SELECT decode(s.value, 'hex') FROM pgbank.settings s
			 WHERE s.name = 'pgbank.token_key' AND s.value <> '');

CREATE OR REPLACE FUNCTION pgbank.token_format() RETURNS text
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f text := lower(pgbank.setting('pgbank.token_format'));
BEGIN
	IF f = 'paseto' THEN
		PERFORM pgbank.paseto_unavailable();
	ELSIF f <> 'jwt' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('invalid value for parameter "pgbank.token_format": "%s"', f),
			HINT = 'Available values: jwt (paseto needs the C build).';
	END IF;
	RETURN f;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.token_issue(username text, roles text[], duration interval)
	RETURNS TABLE (token text, token_id uuid, issued_at timestamptz, expires_at timestamptz)
	LANGUAGE plpgsql VOLATILE PARALLEL SAFE ROWS 1
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	key bytea;
	payload text;
BEGIN
	IF username IS NULL OR username = '' THEN
		PERFORM pgbank.invalid_input('username', 'must not be empty');
	END IF;
	IF roles IS NULL THEN
		PERFORM pgbank.invalid_input('roles', 'must not be null');
	END IF;
	IF duration IS NULL THEN
		PERFORM pgbank.invalid_input('duration', 'must not be null');
	END IF;
	IF array_ndims(roles) > 1 THEN
		PERFORM pgbank.invalid_input('roles', 'must be a one-dimensional array');
	END IF;
	IF array_position(roles, NULL) IS NOT NULL THEN
		PERFORM pgbank.invalid_input('roles', 'must not contain null');
	END IF;
	key := pgbank.token_key();
	IF key IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pgbank.token_key is not set',
			HINT = 'The owner of pgbank sets it to 64 hexadecimal characters: INSERT INTO pgbank.settings VALUES (''pgbank.token_key'', ...) (docs/managed.md).';
	END IF;
	PERFORM pgbank.token_format();
	token_id := gen_random_uuid();
	issued_at := clock_timestamp();
	expires_at := issued_at + duration;
	IF extract(year FROM expires_at AT TIME ZONE 'UTC') NOT BETWEEN 1 AND 9999 OR
		expires_at < '0001-01-01 00:00:00Z' THEN
		PERFORM pgbank.invalid_input('duration', 'the expiry time is out of range');
	END IF;
	payload := '{"id":"' || token_id || '","username":' || to_json(username)::text
		|| ',"role":' || to_json(coalesce(roles[array_lower(roles, 1)], ''))::text
		|| ',"roles":' || coalesce((SELECT '[' || string_agg(to_json(r)::text, ',' ORDER BY o) || ']'
									  FROM unnest(roles) WITH ORDINALITY AS u (r, o)), '[]')
		|| ',"issued_at":"' || pgbank.rfc3339(issued_at)
		|| '","expired_at":"' || pgbank.rfc3339(expires_at)
		|| '","sub":' || to_json(username)::text || ',"jti":"' || token_id
		|| '","iat":' || floor(extract(epoch FROM issued_at))::bigint
		|| ',"exp":' || floor(extract(epoch FROM expires_at))::bigint || '}';
	token := pgbank.jwt_hs256_sign(payload::json, key);
	RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.token_verify(token text)
	RETURNS pgbank.token_claims
	LANGUAGE plpgsql STABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	key bytea;
	c json;
	r pgbank.token_claims;
	n text;
BEGIN
	IF token IS NULL THEN
		PERFORM pgbank.token_invalid('token is missing');
	END IF;
	key := pgbank.token_key();
	IF key IS NULL THEN
		PERFORM pgbank.token_invalid('token cannot be verified: pgbank.token_key is not set');
	END IF;
	PERFORM pgbank.token_format();
	c := pgbank.jwt_hs256_verify(token, key);
	FOREACH n IN ARRAY ARRAY['id', 'username', 'roles', 'issued_at', 'expired_at'] LOOP
		IF pgbank.json_key_count(c, n) <> 1 OR json_typeof(c -> n) <>
				(CASE n WHEN 'roles' THEN 'array' ELSE 'string' END) THEN
			RAISE EXCEPTION USING ERRCODE = 'invalid_authorization_specification',
				MESSAGE = format('token claim %s is missing or invalid', n);
		END IF;
	END LOOP;
	IF c ->> 'id' !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
		PERFORM pgbank.token_invalid('token claim id is missing or invalid');
	END IF;
	r.token_id := (c ->> 'id')::uuid;
	r.username := c ->> 'username';
	IF r.username = '' THEN
		PERFORM pgbank.token_invalid('token claim username is missing or invalid');
	END IF;
	IF EXISTS (SELECT 1 FROM json_array_elements(c -> 'roles') e WHERE json_typeof(e) <> 'string') THEN
		PERFORM pgbank.token_invalid('token claim roles is missing or invalid');
	END IF;
	r.roles := ARRAY(SELECT e FROM json_array_elements_text(c -> 'roles') WITH ORDINALITY AS x (e, o) ORDER BY o);
	r.issued_at := pgbank.parse_rfc3339(c ->> 'issued_at');
	IF r.issued_at IS NULL THEN
		PERFORM pgbank.token_invalid('token claim issued_at is missing or invalid');
	END IF;
	r.expires_at := pgbank.parse_rfc3339(c ->> 'expired_at');
	IF r.expires_at IS NULL THEN
		PERFORM pgbank.token_invalid('token claim expired_at is missing or invalid');
	END IF;
	IF statement_timestamp() >= r.expires_at THEN
		PERFORM pgbank.token_invalid('token has expired');
	END IF;
	RETURN r;
END
$$;
