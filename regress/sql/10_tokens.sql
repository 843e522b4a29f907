-- Tokens: the token Maker (token_issue, token_verify), PASETO v4 (every
-- official test vector), JWT HS256, and the secrecy of pgbank.token_key.
-- regress.conf sets pgbank.token_key to 000102...1f (the test key below).
\i regress/include/setup.sql
\set tkey '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
\set okey 'ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'

-- Helpers: base64url in plain SQL, independent of the extension's coder.
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
SELECT label, pg_temp.err(format('SELECT pgbank.token_verify(%L)',
		pgbank.paseto_v4_local_encrypt(payload, decode(:'tkey', 'hex')))) AS paseto
  FROM bad_payloads ORDER BY label;
SET pgbank.token_format = jwt;
SELECT label, pg_temp.err(format('SELECT pgbank.token_verify(%L)',
		pgbank.jwt_hs256_sign(payload::json, decode(:'tkey', 'hex')))) AS jwt
  FROM bad_payloads WHERE label NOT IN ('not json', 'not an object') ORDER BY label;
RESET pgbank.token_format;
SELECT token_id, username, roles,
       issued_at = '2020-01-01 00:00:00.123456Z' AS issued_at_utc,
       expires_at = '2999-01-01 01:30:00Z' AS expires_at_utc
  FROM pgbank.token_verify(pgbank.paseto_v4_local_encrypt(
	(SELECT payload FROM bad_payloads WHERE label LIKE 'valid%'), decode(:'tkey', 'hex')));

-- === PASETO v4: every official test vector (regress/data/paseto-v4.json) ===
-- local: decrypt gives the payload and encrypt with the vector's nonce gives
-- the exact token; public: sign gives the exact token (Ed25519 is
-- deterministic) and verify gives the payload; expect-fail: rejected.
\set v `cat regress/data/paseto-v4.json`
CREATE TEMP TABLE vectors AS
	SELECT t->>'name' AS name, (t->>'expect-fail')::boolean AS expect_fail, t
	  FROM json_array_elements(:'v'::json -> 'tests') t;
CREATE FUNCTION pg_temp.open_vector(t json) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	p text;
BEGIN
	IF t->>'key' IS NOT NULL THEN
		p := pgbank.paseto_v4_local_decrypt(t->>'token', decode(t->>'key', 'hex'),
											t->>'implicit-assertion');
	ELSE
		p := pgbank.paseto_v4_public_verify(t->>'token', decode(t->>'public-key', 'hex'),
											t->>'implicit-assertion');
	END IF;
	RETURN CASE WHEN p = t->>'payload' THEN 'payload' ELSE 'WRONG PAYLOAD' END;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.make_vector(t json) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	tok text;
BEGIN
	IF t->>'payload' IS NULL THEN
		RETURN '-';
	ELSIF t->>'key' IS NOT NULL THEN
		tok := pgbank.paseto_v4_local_encrypt_nonce(convert_to(t->>'payload', 'UTF8'),
			decode(t->>'key', 'hex'), decode(t->>'nonce', 'hex'),
			t->>'footer', t->>'implicit-assertion');
	ELSE
		tok := pgbank.paseto_v4_public_sign(t->>'payload', decode(t->>'secret-key', 'hex'),
			t->>'footer', t->>'implicit-assertion');
	END IF;
	RETURN CASE WHEN tok = t->>'token' THEN 'same token' ELSE 'DIFFERENT TOKEN' END;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT count(*) AS vectors, count(*) FILTER (WHERE expect_fail) AS expect_fail FROM vectors;
SELECT name, CASE WHEN t->>'key' IS NOT NULL THEN 'local' ELSE 'public' END AS kind,
       expect_fail, opened, made,
       CASE WHEN expect_fail THEN opened LIKE '28000:%' AND made = '-'
            ELSE opened = 'payload' AND made = 'same token' END AS pass
  FROM (SELECT name, t, expect_fail, pg_temp.open_vector(t) AS opened,
               pg_temp.make_vector(t) AS made FROM vectors) x
 ORDER BY name;
-- the footer of each passing vector reads back; libsodium's secret key is
-- seed || public key, as the vectors hold them
SELECT name, pgbank.paseto_footer(t->>'token') = t->>'footer' AS footer
  FROM vectors WHERE NOT expect_fail ORDER BY name;
SELECT DISTINCT substr(decode(t->>'secret-key', 'hex'), 33) = decode(t->>'public-key', 'hex') AS sk_holds_pk,
       substr(decode(t->>'secret-key', 'hex'), 1, 32) = decode(t->>'secret-key-seed', 'hex') AS sk_holds_seed
  FROM vectors WHERE t->>'secret-key' IS NOT NULL;

-- === PASETO v4.local ===
SELECT t->>'token' AS e9, decode(t->>'key', 'hex') AS k9, t->>'implicit-assertion' AS i9,
       t->>'footer' AS f9
  FROM vectors WHERE name = '4-E-9' \gset
-- round trips: random nonce, footer, implicit assertion, any text
SELECT pgbank.paseto_v4_local_decrypt(pgbank.paseto_v4_local_encrypt(p, :'k9', f, i), :'k9', i) = p AS round_trip,
       pgbank.paseto_v4_local_encrypt(p, :'k9', f, i) <> pgbank.paseto_v4_local_encrypt(p, :'k9', f, i) AS random_nonce,
       pgbank.paseto_footer(pgbank.paseto_v4_local_encrypt(p, :'k9', f, i)) = f AS footer
  FROM (VALUES ('', '', ''), ('{"a":1}', 'kid', ''), ('ünïcødé ✓', '', 'assert'),
               (repeat('x', 100000), repeat('f', 1000), repeat('i', 1000))) v(p, f, i);
-- wrong key, wrong implicit assertion, changed or dropped footer
SELECT pgbank.paseto_v4_local_decrypt(:'e9', decode(:'okey', 'hex'), :'i9');
SELECT pgbank.paseto_v4_local_decrypt(:'e9', :'k9', '');
SELECT pgbank.paseto_v4_local_decrypt(:'e9', :'k9', :'i9' || ' ');
SELECT pgbank.paseto_v4_local_decrypt(split_part(:'e9', '.', 1) || '.local.' || split_part(:'e9', '.', 3)
	|| '.' || pg_temp.b64u(convert_to('{"kid":"other"}', 'UTF8')), :'k9', :'i9');
SELECT pgbank.paseto_v4_local_decrypt('v4.local.' || split_part(:'e9', '.', 3), :'k9', :'i9');
SELECT pgbank.paseto_v4_local_decrypt(:'e9' || '.', :'k9', :'i9');
SELECT pgbank.paseto_v4_local_decrypt(:'e9' || '.e30', :'k9', :'i9');
SELECT pgbank.paseto_v4_local_decrypt(:'e9' || '=', :'k9', :'i9');
-- every bit of nonce || ciphertext || tag and of the footer, flipped
SELECT count(*) AS flipped_bits, result
  FROM (SELECT pg_temp.err(format('SELECT pgbank.paseto_v4_local_decrypt(%L, %L, %L)',
		'v4.local.' || pg_temp.b64u(set_bit(b, n, 1 - get_bit(b, n))) || '.' || split_part(:'e9', '.', 4),
		:'k9', :'i9')) AS result
          FROM (SELECT pg_temp.unb64u(split_part(:'e9', '.', 3)) AS b) x,
               generate_series(0, 8 * length(b) - 1) n
        UNION ALL
        SELECT pg_temp.err(format('SELECT pgbank.paseto_v4_local_decrypt(%L, %L, %L)',
		'v4.local.' || split_part(:'e9', '.', 3) || '.' || pg_temp.b64u(set_bit(f, n, 1 - get_bit(f, n))),
		:'k9', :'i9'))
          FROM (SELECT convert_to(:'f9', 'UTF8') AS f) x,
               generate_series(0, 8 * length(f) - 1) n) r
 GROUP BY result ORDER BY result;
-- every character of the token replaced by another
SELECT count(*) AS changed_characters, result
  FROM (SELECT pg_temp.err(format('SELECT pgbank.paseto_v4_local_decrypt(%L, %L, %L)',
		overlay(:'e9' PLACING CASE WHEN substr(:'e9', n, 1) = 'A' THEN 'B' ELSE 'A' END FROM n FOR 1),
		:'k9', :'i9')) AS result
          FROM generate_series(1, length(:'e9')) n) r
 GROUP BY result ORDER BY result;
-- every truncation of the token
SELECT count(*) AS truncations, result
  FROM (SELECT pg_temp.err(format('SELECT pgbank.paseto_v4_local_decrypt(%L, %L, %L)',
		left(:'e9', n), :'k9', :'i9')) AS result
          FROM generate_series(0, length(:'e9') - 1) n) r
 GROUP BY result ORDER BY result;
-- headers, versions, purposes
SELECT pgbank.paseto_v4_local_decrypt('v3.local.' || split_part(:'e9', '.', 3), :'k9');
SELECT pgbank.paseto_v4_local_decrypt('v4.public.' || split_part(:'e9', '.', 3), :'k9');
SELECT pgbank.paseto_v4_local_decrypt('V4.LOCAL.' || split_part(:'e9', '.', 3), :'k9');
SELECT pgbank.paseto_v4_local_decrypt('v4.local', :'k9');
SELECT pgbank.paseto_v4_local_decrypt((SELECT t->>'token' FROM vectors WHERE name = '4-S-1'), :'k9');
-- short tokens: under 64 bytes of nonce and tag
SELECT pgbank.paseto_v4_local_decrypt('v4.local.', :'k9');
SELECT pgbank.paseto_v4_local_decrypt('v4.local.' || pg_temp.b64u(decode(repeat('00', 63), 'hex')), :'k9');
SELECT pgbank.paseto_v4_local_decrypt('v4.local.' || pg_temp.b64u(decode(repeat('00', 64), 'hex')), :'k9');
-- base64url: padding, the standard alphabet, spaces, impossible length,
-- non-canonical trailing bits (4-F-4 above is one too)
SELECT pgbank.paseto_v4_local_decrypt('v4.local.' || pg_temp.b64u(decode(repeat('00', 65), 'hex')) || '==', :'k9');
SELECT pgbank.paseto_v4_local_decrypt('v4.local.' || replace(split_part(:'e9', '.', 3), '_', '/'), :'k9');
SELECT pgbank.paseto_v4_local_decrypt('v4.local.' || replace(split_part(:'e9', '.', 3), '-', '+'), :'k9');
SELECT pgbank.paseto_v4_local_decrypt('v4.local. ' || split_part(:'e9', '.', 3), :'k9');
SELECT pgbank.paseto_v4_local_decrypt('v4.local.' || split_part(:'e9', '.', 3) || 'A', :'k9');
SELECT pgbank.paseto_v4_local_decrypt('v4.local.' || pg_temp.b64u(decode(repeat('00', 64), 'hex')) || 'AB', :'k9');
SELECT pgbank.paseto_v4_local_decrypt('v4.local.' || pg_temp.b64u(decode(repeat('00', 65), 'hex')) || 'B', :'k9');
SELECT pgbank.paseto_v4_local_decrypt(:'e9' || '!', :'k9', :'i9');
-- payloads that are not text are refused even with a valid tag
SELECT pgbank.paseto_v4_local_decrypt(pgbank.paseto_v4_local_encrypt_nonce('\xff'::bytea, :'k9',
	decode(repeat('00', 32), 'hex'), '', ''), :'k9');
SELECT pgbank.paseto_v4_local_decrypt(pgbank.paseto_v4_local_encrypt_nonce('\x610062'::bytea, :'k9',
	decode(repeat('00', 32), 'hex'), '', ''), :'k9');
-- key lengths and NULLs
SELECT pgbank.paseto_v4_local_encrypt('x', decode(repeat('00', 31), 'hex'));
SELECT pgbank.paseto_v4_local_encrypt('x', decode(repeat('00', 33), 'hex'));
SELECT pgbank.paseto_v4_local_decrypt(:'e9', '');
SELECT pgbank.paseto_v4_local_encrypt_nonce('x', :'k9', decode(repeat('00', 24), 'hex'), '', '');
SELECT pgbank.paseto_v4_local_encrypt(NULL, :'k9');
SELECT pgbank.paseto_v4_local_encrypt('x', NULL);
SELECT pgbank.paseto_v4_local_encrypt('x', :'k9', NULL);
SELECT pgbank.paseto_v4_local_encrypt('x', :'k9', '', NULL);
SELECT pgbank.paseto_v4_local_decrypt(NULL, :'k9');
SELECT pgbank.paseto_v4_local_decrypt(:'e9', NULL);
SELECT pgbank.paseto_v4_local_decrypt(:'e9', :'k9', NULL);
SELECT pgbank.paseto_v4_local_encrypt_nonce(NULL, :'k9', decode(repeat('00', 32), 'hex'), '', '');
SELECT pgbank.paseto_v4_local_encrypt_nonce('x', NULL, decode(repeat('00', 32), 'hex'), '', '');
SELECT pgbank.paseto_v4_local_encrypt_nonce('x', :'k9', NULL, '', '');
SELECT pgbank.paseto_v4_local_encrypt_nonce('x', :'k9', decode(repeat('00', 32), 'hex'), NULL, '');
SELECT pgbank.paseto_v4_local_encrypt_nonce('x', :'k9', decode(repeat('00', 32), 'hex'), '', NULL);

-- === PASETO v4.public ===
SELECT t->>'token' AS s3, decode(t->>'secret-key', 'hex') AS sk, decode(t->>'public-key', 'hex') AS pk,
       t->>'implicit-assertion' AS si3, t->>'footer' AS sf3
  FROM vectors WHERE name = '4-S-3' \gset
SELECT pgbank.paseto_v4_public_verify(pgbank.paseto_v4_public_sign(p, :'sk', f, i), :'pk', i) = p AS round_trip,
       pgbank.paseto_footer(pgbank.paseto_v4_public_sign(p, :'sk', f, i)) = f AS footer
  FROM (VALUES ('', '', ''), ('{"a":1}', 'kid', ''), ('ünïcødé ✓', '', 'assert')) v(p, f, i);
-- another key, wrong implicit assertion, changed or dropped footer
SELECT pgbank.paseto_v4_public_verify(:'s3', decode(:'tkey', 'hex'), :'si3');
SELECT pgbank.paseto_v4_public_verify(:'s3', :'pk', '');
SELECT pgbank.paseto_v4_public_verify('v4.public.' || split_part(:'s3', '.', 3) || '.'
	|| pg_temp.b64u(convert_to('{"kid":"other"}', 'UTF8')), :'pk', :'si3');
SELECT pgbank.paseto_v4_public_verify('v4.public.' || split_part(:'s3', '.', 3), :'pk', :'si3');
-- every bit of payload || signature and of the footer, flipped
SELECT count(*) AS flipped_bits, result
  FROM (SELECT pg_temp.err(format('SELECT pgbank.paseto_v4_public_verify(%L, %L, %L)',
		'v4.public.' || pg_temp.b64u(set_bit(b, n, 1 - get_bit(b, n))) || '.' || split_part(:'s3', '.', 4),
		:'pk', :'si3')) AS result
          FROM (SELECT pg_temp.unb64u(split_part(:'s3', '.', 3)) AS b) x,
               generate_series(0, 8 * length(b) - 1) n
        UNION ALL
        SELECT pg_temp.err(format('SELECT pgbank.paseto_v4_public_verify(%L, %L, %L)',
		'v4.public.' || split_part(:'s3', '.', 3) || '.' || pg_temp.b64u(set_bit(f, n, 1 - get_bit(f, n))),
		:'pk', :'si3'))
          FROM (SELECT convert_to(:'sf3', 'UTF8') AS f) x,
               generate_series(0, 8 * length(f) - 1) n) r
 GROUP BY result ORDER BY result;
-- every character replaced, every truncation
SELECT count(*) AS changed_characters, result
  FROM (SELECT pg_temp.err(format('SELECT pgbank.paseto_v4_public_verify(%L, %L, %L)',
		overlay(:'s3' PLACING CASE WHEN substr(:'s3', n, 1) = 'A' THEN 'B' ELSE 'A' END FROM n FOR 1),
		:'pk', :'si3')) AS result
          FROM generate_series(1, length(:'s3')) n) r
 GROUP BY result ORDER BY result;
SELECT count(*) AS truncations, result
  FROM (SELECT pg_temp.err(format('SELECT pgbank.paseto_v4_public_verify(%L, %L, %L)',
		left(:'s3', n), :'pk', :'si3')) AS result
          FROM generate_series(0, length(:'s3') - 1) n) r
 GROUP BY result ORDER BY result;
-- headers, short tokens, base64url
SELECT pgbank.paseto_v4_public_verify('v4.local.' || split_part(:'s3', '.', 3), :'pk');
SELECT pgbank.paseto_v4_public_verify('v3.public.' || split_part(:'s3', '.', 3), :'pk');
SELECT pgbank.paseto_v4_public_verify('v4.public.' || pg_temp.b64u(decode(repeat('00', 63), 'hex')), :'pk');
SELECT pgbank.paseto_v4_public_verify('v4.public.' || pg_temp.b64u(decode(repeat('00', 64), 'hex')), :'pk');
SELECT pgbank.paseto_v4_public_verify('v4.public.' || split_part(:'s3', '.', 3) || '=', :'pk');
SELECT pgbank.paseto_v4_public_verify('v4.public.' || split_part(:'s3', '.', 3) || '.', :'pk');
SELECT pgbank.paseto_v4_public_verify('v4.public.' || split_part(:'s3', '.', 3) || '.%', :'pk');
-- key lengths and NULLs
SELECT pgbank.paseto_v4_public_sign('x', substr(:'sk'::bytea, 1, 32));
SELECT pgbank.paseto_v4_public_verify(:'s3', :'sk');
SELECT pgbank.paseto_v4_public_sign(NULL, :'sk');
SELECT pgbank.paseto_v4_public_sign('x', NULL);
SELECT pgbank.paseto_v4_public_sign('x', :'sk', NULL);
SELECT pgbank.paseto_v4_public_sign('x', :'sk', '', NULL);
SELECT pgbank.paseto_v4_public_verify(NULL, :'pk');
SELECT pgbank.paseto_v4_public_verify(:'s3', NULL);
SELECT pgbank.paseto_v4_public_verify(:'s3', :'pk', NULL);
-- paseto_footer reads without checking; it refuses what is not a v4 token
SELECT pgbank.paseto_footer(:'e9') AS local_footer, pgbank.paseto_footer(:'s3') AS public_footer,
       pgbank.paseto_footer('v4.local.AAAA') AS no_footer,
       pgbank.paseto_footer(NULL) AS null_token;
SELECT pgbank.paseto_footer('v2.local.AAAA.e30');
SELECT pgbank.paseto_footer('v4.local.AAAA.e30=');
SELECT pgbank.paseto_footer('v4.local.AAAA.' || pg_temp.b64u('\xff'::bytea));

-- === JWT HS256 ===
CREATE EXTENSION pgcrypto;
-- a JWT signed in plain SQL with pgcrypto, for any header and claims
CREATE FUNCTION pg_temp.jwt(header text, claims text, key bytea) RETURNS text LANGUAGE sql AS $$
	SELECT s || '.' || pg_temp.b64u(hmac(convert_to(s, 'UTF8'), key, 'sha256'))
	  FROM (SELECT pg_temp.b64u(convert_to(header, 'UTF8')) || '.'
	               || pg_temp.b64u(convert_to(claims, 'UTF8')) AS s) x
$$;
-- known answers: ours equals the token computed independently with pgcrypto,
-- with a 32-byte key and a 100-byte key (longer than HMAC's block)
SELECT pgbank.jwt_hs256_sign('{"sub":"1234567890","name":"John Doe","iat":1516239022}', decode(:'tkey', 'hex')) AS kat;
SELECT k AS key_bytes,
       pgbank.jwt_hs256_sign(c::json, decode(repeat(h, k), 'hex'))
         = pg_temp.jwt('{"alg":"HS256","typ":"JWT"}', c, decode(repeat(h, k), 'hex')) AS same_as_pgcrypto
  FROM (VALUES ('{"sub":"1234567890","name":"John Doe","iat":1516239022}')) v(c),
       (VALUES ('5a', 32), ('c3', 100)) kk(h, k);
SELECT pgbank.jwt_hs256_sign('{"sub":"1234567890","name":"John Doe","iat":1516239022}', decode(:'tkey', 'hex'))
	= pg_temp.jwt('{"alg":"HS256","typ":"JWT"}', '{"sub":"1234567890","name":"John Doe","iat":1516239022}',
	              decode(:'tkey', 'hex')) AS kat_matches;
SELECT pgbank.jwt_hs256_verify(pgbank.jwt_hs256_sign('{"sub":"1234567890","name":"John Doe","iat":1516239022}',
	decode(:'tkey', 'hex')), decode(:'tkey', 'hex')) AS claims;
-- RFC 7515 appendix A.1: its key and token. The signature checks (pgcrypto
-- agrees), so our verify gets past it, to the exp of 2011: expired. With
-- one bit of the key changed, the signature is what fails.
\set rfc_token 'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
SELECT pg_temp.unb64u('AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow') AS rfc_key \gset
SELECT pg_temp.b64u(hmac(convert_to(split_part(:'rfc_token', '.', 1) || '.' || split_part(:'rfc_token', '.', 2), 'UTF8'),
	:'rfc_key', 'sha256')) = split_part(:'rfc_token', '.', 3) AS rfc_signature_per_pgcrypto;
SELECT pgbank.jwt_hs256_verify(:'rfc_token', :'rfc_key');
SELECT pgbank.jwt_hs256_verify(:'rfc_token', set_bit(:'rfc_key'::bytea, 0, 1 - get_bit(:'rfc_key'::bytea, 0)));
-- headers: only alg HS256, once; typ absent or JWT; no crit
SELECT h AS header, pg_temp.err(format('SELECT pgbank.jwt_hs256_verify(%L, %L)',
		pg_temp.jwt(h, '{"sub":"x"}', decode(:'tkey', 'hex')), decode(:'tkey', 'hex'))) AS result
  FROM (VALUES ('{"alg":"HS256","typ":"JWT"}'), ('{"alg":"HS256"}'), ('{"typ":"JWT","alg":"HS256"}'),
               ('{"alg":"none","typ":"JWT"}'), ('{"alg":"RS256","typ":"JWT"}'), ('{"alg":"HS512"}'),
               ('{"alg":"hs256"}'), ('{"typ":"JWT"}'), ('{"alg":null}'), ('{"alg":["HS256"]}'),
               ('{"alg":"HS256","alg":"HS256"}'), ('{"alg":"HS256","typ":"jwt"}'),
               ('{"alg":"HS256","typ":"application/JWT"}'), ('{"alg":"HS256","typ":"JWS"}'),
               ('{"alg":"HS256","typ":"application/jws"}'), ('{"alg":"HS256","kid":"k1"}'),
               ('{"alg":"HS256","typ":null}'), ('{"alg":"HS256","typ":"JWT","typ":"JWT"}'),
               ('{"alg":"HS256","crit":["exp"]}'), ('{"x":{"alg":"HS256"},"alg":"none"}'),
               ('["alg","HS256"]'), ('"HS256"'), ('{"alg":"HS256"'), ('')) v(h);
-- the classic alg none token, with an empty signature
SELECT pgbank.jwt_hs256_verify(pg_temp.b64u(convert_to('{"alg":"none","typ":"JWT"}', 'UTF8')) || '.'
	|| pg_temp.b64u(convert_to('{"sub":"x"}', 'UTF8')) || '.', decode(:'tkey', 'hex'));
-- claims: exp must be after now, nbf not after now, both numbers
SELECT c AS claims, pg_temp.err(format('SELECT pgbank.jwt_hs256_verify(%L, %L)',
		pg_temp.jwt('{"alg":"HS256","typ":"JWT"}', c, decode(:'tkey', 'hex')), decode(:'tkey', 'hex'))) AS result
  FROM (VALUES ('{}'), ('{"exp":4102444800}'), ('{"exp":4102444800.5,"nbf":1000000000}'),
               ('{"exp":1000000000}'), ('{"exp":0}'), ('{"exp":-1e300}'), ('{"exp":1e400}'),
               ('{"exp":"4102444800"}'), ('{"exp":null}'), ('{"exp":4102444800,"exp":4102444800}'),
               ('{"nbf":4102444800}'), ('{"nbf":"0"}'), ('{"nbf":1,"nbf":1}'),
               ('{"a":{"exp":0}}'), ('[{"exp":0}]'), ('"claims"'), ('{"exp":'), ('')) v(c);
SELECT pgbank.jwt_hs256_verify(pg_temp.jwt('{"alg":"HS256"}', '{"a":"' || chr(233) || '"}',
	decode(:'tkey', 'hex')), decode(:'tkey', 'hex')) AS unicode_claims;
-- segments and base64url
SELECT pgbank.jwt_hs256_sign('{"sub":"x"}', decode(:'tkey', 'hex')) AS jwt \gset
SELECT pgbank.jwt_hs256_verify('', decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_verify('..', decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_verify(split_part(:'jwt', '.', 1) || '.' || split_part(:'jwt', '.', 2), decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_verify(:'jwt' || '.', decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_verify(:'jwt' || '=', decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_verify(replace(:'jwt', '.', '=.'), decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_verify(split_part(:'jwt', '.', 1) || '.' || split_part(:'jwt', '.', 2) || '.'
	|| pg_temp.b64u(substr(pg_temp.unb64u(split_part(:'jwt', '.', 3)), 1, 31)), decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_verify(split_part(:'jwt', '.', 1) || '.' || split_part(:'jwt', '.', 2) || '.', decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_verify(pg_temp.b64u('\xff'::bytea) || '.' || split_part(:'jwt', '.', 2) || '.'
	|| split_part(:'jwt', '.', 3), decode(:'tkey', 'hex'));
-- wrong key, every flipped bit of each segment, every character, every truncation
SELECT pgbank.jwt_hs256_verify(:'jwt', decode(:'okey', 'hex'));
SELECT count(*) AS flipped_bits, result
  FROM (SELECT pg_temp.err(format('SELECT pgbank.jwt_hs256_verify(%L, %L)',
		array_to_string((SELECT array_agg(CASE WHEN i = s THEN pg_temp.b64u(set_bit(b, n, 1 - get_bit(b, n)))
		                                       ELSE split_part(:'jwt', '.', i) END ORDER BY i)
		                   FROM generate_series(1, 3) i), '.'),
		decode(:'tkey', 'hex'))) AS result
          FROM generate_series(1, 3) s,
               LATERAL (SELECT pg_temp.unb64u(split_part(:'jwt', '.', s)) AS b) x,
               LATERAL generate_series(0, 8 * length(b) - 1) n) r
 GROUP BY result ORDER BY result;
SELECT count(*) AS changed_characters, result
  FROM (SELECT pg_temp.err(format('SELECT pgbank.jwt_hs256_verify(%L, %L)',
		overlay(:'jwt' PLACING CASE WHEN substr(:'jwt', n, 1) = 'A' THEN 'B' ELSE 'A' END FROM n FOR 1),
		decode(:'tkey', 'hex'))) AS result
          FROM generate_series(1, length(:'jwt')) n) r
 GROUP BY result ORDER BY result;
SELECT count(*) AS truncations, result
  FROM (SELECT pg_temp.err(format('SELECT pgbank.jwt_hs256_verify(%L, %L)',
		left(:'jwt', n), decode(:'tkey', 'hex'))) AS result
          FROM generate_series(0, length(:'jwt') - 1) n) r
 GROUP BY result ORDER BY result;
-- keys, claims that are not an object, NULLs
SELECT pgbank.jwt_hs256_sign('{}', decode(repeat('00', 31), 'hex'));
SELECT pgbank.jwt_hs256_verify(:'jwt', decode(repeat('00', 31), 'hex'));
SELECT pgbank.jwt_hs256_sign('[1]', decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_sign(' "x"', decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_sign(NULL, decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_sign('{}', NULL);
SELECT pgbank.jwt_hs256_verify(NULL, decode(:'tkey', 'hex'));
SELECT pgbank.jwt_hs256_verify(:'jwt', NULL);

-- === pgbank.token_key is secret ===
-- hidden from SHOW ALL and pg_settings even for a superuser
SELECT count(*) AS token_key_in_pg_settings FROM pg_settings WHERE name = 'pgbank.token_key';
CREATE ROLE tok_web;
GRANT USAGE ON SCHEMA pgbank TO tok_web;
SET ROLE tok_web;
SELECT current_setting('pgbank.token_key');
SHOW pgbank.token_key;
SELECT count(*) AS token_key_in_pg_settings FROM pg_settings WHERE name = 'pgbank.token_key';
SHOW ALL \g | grep -c 'pgbank.token_key'
SHOW ALL \g | grep -c 'pgbank.token_format'
SET pgbank.token_key = :'okey';
SET pgbank.token_format = jwt;
SELECT pgbank.token_verify(:'first_key_token');
SELECT pgbank.paseto_v4_local_decrypt(:'e9', :'k9', :'i9');
SELECT pgbank.paseto_v4_local_encrypt_nonce('x', :'k9', decode(repeat('00', 32), 'hex'), '', '');
RESET ROLE;
REVOKE USAGE ON SCHEMA pgbank FROM tok_web;
DROP ROLE tok_web;

-- === base64url (extension/base64url.c): no byte of 0x80 or above ===
-- base64url (extension/base64url.c), beside 10_tokens.sql's checks of
-- padding, alphabet, length and trailing bits: libsodium's URL-safe
-- decoder takes bytes of 0x80 and above for characters of the alphabet,
-- so pgbank refuses them before it decodes. Each case puts a non-ASCII
-- character ('é', bytes c3 a9, or U+0080, bytes c2 80) into a token that is
-- valid otherwise: every format and every segment says "not valid base64url"
-- (without the check, each fails later, or not at all, with another error).
\set key '''\\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f''::bytea'

-- the token with characters n, n+1 of segment seg (1-based, '.'-separated)
-- replaced by c, so that its length in bytes stays a valid one
CREATE FUNCTION pg_temp.with_char(token text, seg int, n int, c text) RETURNS text
	LANGUAGE sql IMMUTABLE AS $$
	SELECT array_to_string(array_agg(CASE WHEN i = seg
										  THEN overlay(part PLACING c FROM n FOR octet_length(c))
										  ELSE part END ORDER BY i), '.')
	  FROM unnest(string_to_array(token, '.')) WITH ORDINALITY AS t(part, i)
$$;

-- a fixed nonce (tests only), so that the output is the same every run
SELECT pgbank.paseto_v4_local_encrypt_nonce('{"a":1}', :key, decode(repeat('00', 32), 'hex'),
                                            'kid', '') AS local,
       pgbank.jwt_hs256_sign('{"a":1}', :key) AS jwt \gset
-- the untouched tokens are fine
SELECT pgbank.paseto_v4_local_decrypt(:'local', :key) AS payload,
       pgbank.paseto_footer(:'local') AS footer,
       pgbank.jwt_hs256_verify(:'jwt', :key) AS claims;

-- Each statement below makes the broken tokens and runs one check per
-- token (\gexec): é then U+0080, each raises its ERROR in that order.
-- === v4.local: body, then footer ===
SELECT format('SELECT pgbank.paseto_v4_local_decrypt(%L, %s)',
              pg_temp.with_char(:'local', seg, 2, c), :'key')
  FROM unnest(ARRAY['é', chr(128)]) WITH ORDINALITY AS x(c, k), unnest(ARRAY[3, 4]) seg
 ORDER BY seg, k \gexec
-- paseto_footer checks nothing but the coding
SELECT format('SELECT pgbank.paseto_footer(%L)', pg_temp.with_char(:'local', 4, 2, c))
  FROM unnest(ARRAY['é', chr(128)]) WITH ORDINALITY AS x(c, k) ORDER BY k \gexec

-- === JWT: header, claims, signature ===
SELECT format('SELECT pgbank.jwt_hs256_verify(%L, %s)', pg_temp.with_char(:'jwt', seg, 3, c), :'key')
  FROM unnest(ARRAY['é', chr(128)]) WITH ORDINALITY AS x(c, k), generate_series(1, 3) seg
 ORDER BY seg, k \gexec
