-- Tokens: the token Maker (token_issue, token_verify), PASETO v4 (every
-- official test vector), JWT HS256, and the secrecy of pgbank.token_key.
-- regress.conf sets pgbank.token_key to 000102...1f (the test key below).
\set VERBOSITY default
\pset null '(null)'
\set SHOW_CONTEXT never
\set tkey '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set okey 'ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'

-- Helpers: the error (SQLSTATE and message) a statement raises, or 'ok';
-- base64url in plain SQL, independent of the extension's coder.
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.b64u(b bytea) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT rtrim(translate(replace(encode(b, 'base64'), E'\n', ''), '+/', '-_'), '=')
$$;
CREATE FUNCTION pg_temp.unb64u(s text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
	SELECT decode(translate(s, '-_', '+/') || repeat('=', (4 - length(s) % 4) % 4), 'base64')
$$;

-- === the token Maker: PASETO v4.local by default ===
SHOW pgbank.token_format;
SELECT * FROM pgbank.token_issue('tok_alice', ARRAY['depositor', 'banker'], '15 minutes') \gset
SELECT :'token' LIKE 'v4.local.%' AS paseto_local,
       :'expires_at'::timestamptz - :'issued_at'::timestamptz AS lifetime,
       abs(extract(epoch FROM :'issued_at'::timestamptz - clock_timestamp())) < 60 AS issued_now;
SELECT token_id = :'token_id' AS same_id, username, roles,
       issued_at = :'issued_at' AS same_issued_at,
       expires_at = :'expires_at' AS same_expires_at
  FROM pgbank.token_verify(:'token');
-- the payload is simple bank's Payload, times in RFC 3339
SELECT p->>'id' = :'token_id' AS id, p->>'username' AS username,
       p->>'role' AS role, p->'roles' AS roles,
       p->>'issued_at' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS rfc3339_issued_at,
       (p->>'issued_at')::timestamptz = :'issued_at' AS issued_at,
       (p->>'expired_at')::timestamptz = :'expires_at' AS expired_at,
       (SELECT array_agg(k ORDER BY k) FROM json_object_keys(p) k) AS keys
  FROM (SELECT pgbank.paseto_v4_local_decrypt(:'token', decode(:'tkey', 'hex'))::json AS p) x;
-- two tokens for the same claims differ (random nonce and id)
SELECT count(DISTINCT t.token) AS tokens, count(DISTINCT t.token_id) AS ids
  FROM generate_series(1, 3) g,
       LATERAL pgbank.token_issue('tok_alice', '{depositor}', g * interval '0 hour' + '1 hour') t;
-- no roles: role is "" as in simple bank, roles is empty
SELECT username, roles FROM pgbank.token_verify(
	(SELECT token FROM pgbank.token_issue('tok_nobody', '{}', '1 hour')));
SELECT pgbank.paseto_v4_local_decrypt(token, decode(:'tkey', 'hex'))::json->>'role' = '' AS empty_role
  FROM pgbank.token_issue('tok_nobody', '{}', '1 hour');
-- names and roles are escaped in JSON
SELECT username = E'tok "q"\\\n' AS same_username, roles FROM pgbank.token_verify(
	(SELECT token FROM pgbank.token_issue(E'tok "q"\\\n', ARRAY['a"b', 'ü'], '1 hour')));

-- === the token Maker: JWT HS256 ===
SET pgbank.token_format = jwt;
SELECT * FROM pgbank.token_issue('tok_bob', ARRAY['depositor'], '15 minutes') \gset
SELECT split_part(:'token', '.', 1) AS header,
       convert_from(pg_temp.unb64u(split_part(:'token', '.', 1)), 'UTF8') AS decoded_header;
SELECT token_id = :'token_id' AS same_id, username, roles,
       issued_at = :'issued_at' AS same_issued_at,
       expires_at = :'expires_at' AS same_expires_at
  FROM pgbank.token_verify(:'token');
SELECT c->>'id' = :'token_id' AS id, c->>'jti' = :'token_id' AS jti,
       c->>'sub' AS sub, c->>'username' AS username, c->>'role' AS role,
       (c->>'exp')::bigint - (c->>'iat')::bigint AS exp_minus_iat,
       (c->>'iat')::bigint = floor(extract(epoch FROM :'issued_at'::timestamptz)) AS iat,
       (SELECT array_agg(k ORDER BY k) FROM json_object_keys(c) k) AS keys
  FROM (SELECT pgbank.jwt_hs256_verify(:'token', decode(:'tkey', 'hex')) AS c) x;
-- a JWT is not accepted while the format is paseto, and the other way round
SET pgbank.token_format = paseto;
SELECT * FROM pgbank.token_verify(:'token');
SELECT token AS paseto_token FROM pgbank.token_issue('tok_bob', '{depositor}', '1 hour') \gset
SET pgbank.token_format = jwt;
SELECT * FROM pgbank.token_verify(:'paseto_token');
SET pgbank.token_format = 'v2';
RESET pgbank.token_format;

-- === expired tokens, in both formats ===
SELECT token AS expired FROM pgbank.token_issue('tok_alice', '{depositor}', '-1 second') \gset
SELECT * FROM pgbank.token_verify(:'expired');
SELECT token AS expired FROM pgbank.token_issue('tok_alice', '{depositor}', '0') \gset
SELECT * FROM pgbank.token_verify(:'expired');
SELECT token AS tiny FROM pgbank.token_issue('tok_alice', '{depositor}', '10 milliseconds') \gset
SELECT pg_sleep(0.05);
SELECT * FROM pgbank.token_verify(:'tiny');
SET pgbank.token_format = jwt;
SELECT token AS expired FROM pgbank.token_issue('tok_alice', '{depositor}', '-1 second') \gset
SELECT * FROM pgbank.token_verify(:'expired');
SELECT token AS tiny FROM pgbank.token_issue('tok_alice', '{depositor}', '10 milliseconds') \gset
SELECT pg_sleep(0.05);
SELECT * FROM pgbank.token_verify(:'tiny');
RESET pgbank.token_format;

-- === another key ===
SELECT token AS first_key_token FROM pgbank.token_issue('tok_alice', '{depositor}', '1 hour') \gset
SET pgbank.token_format = jwt;
SELECT token AS first_key_jwt FROM pgbank.token_issue('tok_alice', '{depositor}', '1 hour') \gset
SET pgbank.token_key = :'okey';
SELECT * FROM pgbank.token_verify(:'first_key_jwt');
RESET pgbank.token_format;
SELECT * FROM pgbank.token_verify(:'first_key_token');
SELECT username FROM pgbank.token_verify(
	(SELECT token FROM pgbank.token_issue('tok_other', '{depositor}', '1 hour')));
RESET pgbank.token_key;
SELECT username FROM pgbank.token_verify(:'first_key_token');

-- === missing or invalid key, invalid arguments ===
SET pgbank.token_key = '';
SELECT * FROM pgbank.token_issue('tok_alice', '{depositor}', '1 hour');
SELECT * FROM pgbank.token_verify(:'first_key_token');
RESET pgbank.token_key;
-- a bad key is refused without echoing it
SET pgbank.token_key = 'abc';
SET pgbank.token_key = 'zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
SELECT username FROM pgbank.token_verify(:'first_key_token');
SELECT * FROM pgbank.token_issue(NULL, '{depositor}', '1 hour');
SELECT * FROM pgbank.token_issue('', '{depositor}', '1 hour');
SELECT * FROM pgbank.token_issue('tok_alice', NULL, '1 hour');
SELECT * FROM pgbank.token_issue('tok_alice', ARRAY['depositor', NULL], '1 hour');
SELECT * FROM pgbank.token_issue('tok_alice', '{{a},{b}}', '1 hour');
SELECT * FROM pgbank.token_issue('tok_alice', '{depositor}', NULL);
SELECT * FROM pgbank.token_issue('tok_alice', '{depositor}', '10000 years');
SELECT * FROM pgbank.token_verify(NULL);
SELECT * FROM pgbank.token_verify('');
SELECT * FROM pgbank.token_verify('not a token');

-- === payloads that are not simple bank's Payload (made with the key) ===
CREATE TEMP TABLE bad_payloads (label text, payload text);
INSERT INTO bad_payloads VALUES
	('not json', 'hello'),
	('not an object', '["id"]'),
	('no id', '{"username":"u","roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00Z"}'),
	('bad uuid', '{"id":"1234","username":"u","roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00Z"}'),
	('two ids', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00Z"}'),
	('no username', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00Z"}'),
	('empty username', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"","roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00Z"}'),
	('username a number', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":7,"roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00Z"}'),
	('no roles', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00Z"}'),
	('roles a string', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":"r","issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00Z"}'),
	('roles with a number', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":["r",1],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00Z"}'),
	('roles nested', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":[["r"]],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00Z"}'),
	('no issued_at', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":["r"],"expired_at":"2999-01-01T00:00:00Z"}'),
	('issued_at not RFC 3339', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":["r"],"issued_at":"2020-01-01 00:00:00","expired_at":"2999-01-01T00:00:00Z"}'),
	('no expired_at', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":["r"],"issued_at":"2020-01-01T00:00:00Z"}'),
	('expired_at 30 February', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-02-30T00:00:00Z"}'),
	('expired_at hour 24', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T24:00:00Z"}'),
	('expired_at bad zone', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00+0200"}'),
	('expired_at empty fraction', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2999-01-01T00:00:00.Z"}'),
	('expired in 2020', '{"id":"0c1e8c57-6c9b-4a4c-9e1e-3f0a2d7b9c10","username":"u","roles":["r"],"issued_at":"2020-01-01T00:00:00Z","expired_at":"2020-01-01T00:15:00Z"}'),
	('valid, zone offsets and nanoseconds', '{"id":"0C1E8C57-6C9B-4A4C-9E1E-3F0A2D7B9C10","username":"u","roles":["r","s"],"issued_at":"2020-01-01T02:00:00.123456789+02:00","expired_at":"2999-01-01T00:00:00-01:30","extra":{"roles":5}}');
SELECT label, pg_temp.error_of(format('SELECT pgbank.token_verify(%L)',
		pgbank.paseto_v4_local_encrypt(payload, decode(:'tkey', 'hex')))) AS paseto
  FROM bad_payloads ORDER BY label;
SET pgbank.token_format = jwt;
SELECT label, pg_temp.error_of(format('SELECT pgbank.token_verify(%L)',
		pgbank.jwt_hs256_sign(payload::json, decode(:'tkey', 'hex')))) AS jwt
  FROM bad_payloads WHERE label NOT IN ('not json', 'not an object') ORDER BY label;
RESET pgbank.token_format;
SELECT token_id, username, roles,
       issued_at = '2020-01-01 00:00:00.123456Z' AS issued_at_utc,
       expires_at = '2999-01-01 01:30:00Z' AS expires_at_utc
  FROM pgbank.token_verify(pgbank.paseto_v4_local_encrypt(
	(SELECT payload FROM bad_payloads WHERE label LIKE 'valid%'), decode(:'tkey', 'hex')));
