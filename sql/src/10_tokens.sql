-- Tokens (extension/paseto.c, jwt.c, token.c): PASETO v4, JWT HS256 and
-- the token Maker. None is SECURITY DEFINER; 90_grants.sql revokes EXECUTE
-- from PUBLIC. Checking functions raise 28000 on every failure.

CREATE OR REPLACE FUNCTION pgbank.paseto_v4_local_encrypt(payload text, key bytea,
		footer text DEFAULT '', implicit_assertion text DEFAULT '')
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_v4_local_encrypt'
	LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_v4_local_encrypt(text, bytea, text, text) IS
	'PASETO v4.local token of a payload under a 32-byte key, with a random nonce';

CREATE OR REPLACE FUNCTION pgbank.paseto_v4_local_encrypt_nonce(payload bytea, key bytea,
		nonce bytea, footer text, implicit_assertion text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_v4_local_encrypt_nonce'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_v4_local_encrypt_nonce(bytea, bytea, bytea, text, text) IS
	'For tests only: PASETO v4.local with a given nonce (the official vectors); a reused nonce breaks v4.local';

CREATE OR REPLACE FUNCTION pgbank.paseto_v4_local_decrypt(token text, key bytea,
		implicit_assertion text DEFAULT '')
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_v4_local_decrypt'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_v4_local_decrypt(text, bytea, text) IS
	'Payload of a PASETO v4.local token (its footer, if any, is authenticated); 28000 on any failure';

CREATE OR REPLACE FUNCTION pgbank.paseto_v4_public_sign(payload text, secret_key bytea,
		footer text DEFAULT '', implicit_assertion text DEFAULT '')
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_v4_public_sign'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_v4_public_sign(text, bytea, text, text) IS
	'PASETO v4.public token: a payload signed with a 64-byte libsodium Ed25519 secret key';

CREATE OR REPLACE FUNCTION pgbank.paseto_v4_public_verify(token text, public_key bytea,
		implicit_assertion text DEFAULT '')
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_v4_public_verify'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_v4_public_verify(text, bytea, text) IS
	'Payload of a PASETO v4.public token whose Ed25519 signature checks under a 32-byte public key; 28000 on any failure';

CREATE OR REPLACE FUNCTION pgbank.paseto_footer(token text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_footer'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_footer(text) IS
	'The footer of a v4 token, unchecked (to choose a key); trust it only after decrypt or verify accepted the token';

CREATE OR REPLACE FUNCTION pgbank.jwt_hs256_sign(claims json, key bytea)
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_jwt_hs256_sign'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.jwt_hs256_sign(json, bytea) IS
	'JWT of a claims object, HMAC-SHA256 signed (header {"alg":"HS256","typ":"JWT"}); key of 32 bytes or more';

CREATE OR REPLACE FUNCTION pgbank.jwt_hs256_verify(token text, key bytea)
	RETURNS json
	AS 'MODULE_PATHNAME', 'pgbank_jwt_hs256_verify'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.jwt_hs256_verify(text, bytea) IS
	'Claims of an HS256 JWT after checking alg, signature (constant time), exp and nbf; 28000 on any failure';

-- The token Maker (pgbank.token_format, pgbank.token_key).
CREATE TYPE pgbank.token_claims AS (
	token_id uuid,
	username text,
	roles text[],
	issued_at timestamptz,
	expires_at timestamptz
);
COMMENT ON TYPE pgbank.token_claims IS
	'What a checked access or refresh token says: its id, user, roles and lifetime';

CREATE OR REPLACE FUNCTION pgbank.token_issue(username text, roles text[], duration interval)
	RETURNS TABLE (token text, token_id uuid, issued_at timestamptz, expires_at timestamptz)
	AS 'MODULE_PATHNAME', 'pgbank_token_issue'
	LANGUAGE C VOLATILE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION pgbank.token_issue(text, text[], interval) IS
	'A new token for a user and roles, valid for duration, in pgbank.token_format under pgbank.token_key';

CREATE OR REPLACE FUNCTION pgbank.token_verify(token text)
	RETURNS pgbank.token_claims
	AS 'MODULE_PATHNAME', 'pgbank_token_verify'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.token_verify(text) IS
	'Claims of a token made by token_issue, after checking format, key, integrity and expiry; 28000 on any failure';
