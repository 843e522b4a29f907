-- Users (sql/src/20_users.sql): creating users and their passwords, roles,
-- the first admin, grant_role and revoke_role, and who may change whom
-- (update_user). Tokens never appear in the output: they are captured with
-- \gset and compared in SQL.
\i regress/include/setup.sql

-- === users ===
SELECT username, full_name, email, is_email_verified,
       hashed_password LIKE '$argon2id$%' AS argon2id,
       pgbank.password_matches(hashed_password, 'secret1') AS right_password,
       pgbank.password_matches(hashed_password, 'secret2') AS wrong_password,
       password_changed_at = '0001-01-01 00:00:00Z' AS never_changed
  FROM pgbank.create_user('alice', 'secret1', 'Alice Liddell', 'alice@example.com');
SELECT username FROM pgbank.create_user('bob', 'secret2', 'Bob Ross', 'bob@example.com');
SELECT username FROM pgbank.create_user('carol_3', 'secret3', 'Carol', 'carol@example.org');
-- the clear password is stored nowhere
SELECT count(*) AS rows_holding_clear_password FROM pgbank.users
 WHERE hashed_password LIKE '%secret%';
-- two hashes of one password differ (random salt)
SELECT pgbank.hash_password('same') <> pgbank.hash_password('same') AS salted;
SELECT pgbank.password_matches('not a hash', 'x') AS malformed_hash_never_matches;

-- invalid users: each error names its field
SELECT pgbank.create_user('al', 'secret1', 'Al', 'al@example.com');
SELECT pgbank.create_user('bad-name', 'secret1', 'Bad', 'bad@example.com');
SELECT pgbank.create_user(NULL, 'secret1', 'Bad', 'bad@example.com');
SELECT pgbank.create_user('dave', '12345', 'Dave', 'dave@example.com');
SELECT pgbank.create_user('dave', repeat('x', 1025), 'Dave', 'dave@example.com');
SELECT pgbank.create_user('dave', 'secret4', '', 'dave@example.com');
SELECT pgbank.create_user('dave', 'secret4', 'Dave', 'not-an-email');
SELECT pgbank.create_user('dave', 'secret4', 'Dave', 'a@b');
-- duplicates
SELECT pgbank.create_user('alice', 'secret1', 'Other Alice', 'other@example.com');
SELECT pgbank.create_user('alice2', 'secret1', 'Other Alice', 'alice@example.com');

-- === roles ===
SELECT username FROM pgbank.create_user('id_dora', 'secret1', 'Dora', 'dora@example.com');
SELECT username FROM pgbank.create_user('id_eve', 'secret2', 'Eve', 'eve@example.com');
SELECT username FROM pgbank.create_user('id_ben', 'secret3', 'Ben', 'ben@example.com');
SELECT username FROM pgbank.create_user('id_ada', 'secret4', 'Ada', 'ada@example.com');
SELECT username FROM pgbank.create_user('id_nora', 'secret5', 'Nora', 'nora@example.com');
-- every new user is a depositor, by the trigger on pgbank.users
SELECT username, pgbank.roles_of(username) AS roles FROM pgbank.users
 WHERE username LIKE 'id\_%' ORDER BY username;
INSERT INTO pgbank.users (username, hashed_password, full_name, email)
VALUES ('id_raw', 'x', 'Raw', 'raw@example.com');
SELECT pgbank.roles_of('id_raw') AS inserted_directly;
-- the schema backs the role names and the users
SELECT pg_temp.err($$INSERT INTO pgbank.user_roles VALUES ('id_raw', 'owner')$$);
SELECT pg_temp.err($$INSERT INTO pgbank.user_roles VALUES ('id_nobody', 'banker')$$);
SELECT pgbank.roles_of('id_nobody') AS unknown_user_has_none;

-- the first admin: a superuser's make_admin
SELECT pgbank.make_admin('id_ada');
SELECT pgbank.make_admin('id_ada') AS again_is_a_no_op;
SELECT pgbank.make_admin('id_nobody');
-- nobody else can call it, even with EXECUTE granted
CREATE ROLE id_plain;
GRANT USAGE ON SCHEMA pgbank TO id_plain;
SET ROLE id_plain;
SELECT pgbank.make_admin('id_eve');
RESET ROLE;
GRANT EXECUTE ON FUNCTION pgbank.make_admin(text) TO id_plain;
SET ROLE id_plain;
SELECT pgbank.make_admin('id_eve');
RESET ROLE;
SELECT pgbank.roles_of('id_eve') AS eve_still;

-- (the sessions the sections below act with)
SELECT session_id AS dora_session, access_token AS dora_access, refresh_token AS dora_refresh
  FROM pgbank.login('id_dora', 'secret1', 'psql-test/1.0', '192.0.2.7') \gset

-- === role checks for other modules ===
SELECT pgbank.caller_has_role(pgbank.verify_access_token(:'dora_access'), 'depositor') AS depositor,
       pgbank.caller_has_role(pgbank.verify_access_token(:'dora_access'), 'banker') AS banker,
       pgbank.caller_has_role(NULL, 'banker') AS null_claims;
SELECT pgbank.require_role(pgbank.verify_access_token(:'dora_access'), 'banker', 'depositor');
SELECT pgbank.require_role(pgbank.verify_access_token(:'dora_access'), 'banker', 'admin');
SELECT pgbank.require_role(NULL, 'banker');

-- === grant_role and revoke_role (admin only) ===
SELECT access_token AS ada_access FROM pgbank.login('id_ada', 'secret4') \gset
SELECT access_token AS ben_access, refresh_token AS ben_refresh FROM pgbank.login('id_ben', 'secret3') \gset
SELECT access_token AS eve_access, refresh_token AS eve_refresh, session_id AS eve_session
  FROM pgbank.login('id_eve', 'secret2') \gset
SELECT access_token AS nora_access, refresh_token AS nora_refresh
  FROM pgbank.login('id_nora', 'secret5') \gset
SELECT (pgbank.verify_access_token(:'ada_access')).roles AS ada_roles;
SELECT pgbank.grant_role(:'ada_access', 'id_ben', 'banker');
SELECT pgbank.grant_role(:'ada_access', 'id_ben', 'banker') AS again_is_a_no_op;
-- a grant reaches the user's tokens at renewal; its current token is untouched
SELECT (pgbank.verify_access_token(:'ben_access')).roles AS ben_old_token;
SELECT access_token AS ben_access FROM pgbank.renew_access_token(:'ben_refresh') \gset
SELECT (pgbank.verify_access_token(:'ben_access')).roles AS ben_renewed;
-- only an admin: depositor and banker are refused, for grants and revocations
SELECT pg_temp.err(format('SELECT pgbank.grant_role(%L, %L, %L)', :'dora_access', 'id_dora', 'admin'));
SELECT pg_temp.err(format('SELECT pgbank.grant_role(%L, %L, %L)', :'ben_access', 'id_ben', 'admin'));
SELECT pg_temp.err(format('SELECT pgbank.revoke_role(%L, %L, %L)', :'dora_access', 'id_ben', 'banker'));
SELECT pg_temp.err(format('SELECT pgbank.revoke_role(%L, %L, %L)', :'ben_access', 'id_eve', 'depositor'));
SELECT pg_temp.err(format('SELECT pgbank.grant_role(%L, %L, %L)', 'garbage', 'id_ben', 'admin'));
SELECT pg_temp.err(format('SELECT pgbank.revoke_role(%L, %L, %L)', NULL, 'id_ben', 'banker'));
SELECT pgbank.roles_of('id_ben') AS ben_unchanged, pgbank.roles_of('id_dora') AS dora_unchanged;
-- bad role, unknown user
SELECT pgbank.grant_role(:'ada_access', 'id_ben', 'owner');
SELECT pgbank.grant_role(:'ada_access', 'id_ben', NULL);
SELECT pgbank.revoke_role(:'ada_access', 'id_ben', 'root');
SELECT pg_temp.err(format('SELECT pgbank.grant_role(%L, %L, %L)', :'ada_access', 'id_nobody', 'banker'));
SELECT pg_temp.err(format('SELECT pgbank.revoke_role(%L, %L, %L)', :'ada_access', NULL, 'banker'));
-- revoking a role the user does not hold changes nothing
SELECT pgbank.revoke_role(:'ada_access', 'id_nora', 'banker');
SELECT (pgbank.verify_access_token(:'nora_access')).roles AS nora_token_still_valid;
-- revoking one it holds revokes its access tokens now, not at expiry
SELECT pgbank.revoke_role(:'ada_access', 'id_nora', 'depositor');
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'nora_access'));
SELECT access_token AS nora_access FROM pgbank.renew_access_token(:'nora_refresh') \gset
SELECT (pgbank.verify_access_token(:'nora_access')).roles AS nora_renewed;

-- === update_user ===
-- a depositor updates itself, and only itself
SELECT username, full_name, email, password_changed_at = '0001-01-01 00:00:00Z' AS password_kept
  FROM pgbank.update_user(:'dora_access', 'id_dora', full_name => 'Dora Explorer');
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, %L)', :'dora_access', 'id_eve', 'Evil'));
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, %L)', :'dora_access', 'id_nobody', 'Evil'));
-- a user without roles may not even update itself
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, %L)', :'nora_access', 'id_nora', 'Nora N'));
-- a banker and an admin update anyone
SELECT username, full_name FROM pgbank.update_user(:'ben_access', 'id_eve', 'Eve by Ben');
SELECT username, full_name FROM pgbank.update_user(:'ada_access', 'id_eve', 'Eve by Ada');
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, %L)', :'ben_access', 'id_nobody', 'X'));
-- no valid token
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, %L)', NULL, 'id_dora', 'X'));
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, %L)', :'dora_refresh', 'id_dora', 'X'));
-- invalid fields, each named
SELECT pgbank.update_user(:'dora_access', 'id-dora', 'X');
SELECT pgbank.update_user(:'dora_access', NULL, 'X');
SELECT pgbank.update_user(:'dora_access', 'id_dora', '  ');
SELECT pgbank.update_user(:'dora_access', 'id_dora', repeat('x', 101));
SELECT pgbank.update_user(:'dora_access', 'id_dora', email => 'not-an-email');
SELECT pgbank.update_user(:'dora_access', 'id_dora', password => '12345');
-- NULL keeps a field
SELECT username, full_name, email FROM pgbank.update_user(:'dora_access', 'id_dora');
-- a new email is unverified; the same email keeps the verification
UPDATE pgbank.users SET is_email_verified = true WHERE username = 'id_dora';
SELECT email FROM pgbank.update_user(:'dora_access', 'id_dora', email => 'dora@example.com');
SELECT is_email_verified AS same_email_still_verified FROM pgbank.users WHERE username = 'id_dora';
SELECT email FROM pgbank.update_user(:'dora_access', 'id_dora', email => 'dora@example.org');
SELECT is_email_verified AS new_email_verified FROM pgbank.users WHERE username = 'id_dora';
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, email => %L)',
       :'dora_access', 'id_dora', 'eve@example.com'));
-- a new password: password_changed_at, and every session of the user ends
SELECT access_token AS dora_access2, refresh_token AS dora_refresh2
  FROM pgbank.login('id_dora', 'secret1') \gset
SELECT count(*) AS dora_open_sessions FROM pgbank.sessions
 WHERE username = 'id_dora' AND NOT is_blocked;
SELECT password_changed_at > now() - interval '1 min' AS changed_now
  FROM pgbank.update_user(:'dora_access', 'id_dora', password => 'newsecret1');
SELECT count(*) AS dora_open_sessions FROM pgbank.sessions
 WHERE username = 'id_dora' AND NOT is_blocked;
SELECT count(*) AS dora_live_tokens FROM pgbank.access_tokens
 WHERE username = 'id_dora' AND revoked_at IS NULL;
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'dora_access'));
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'dora_access2'));
SELECT pg_temp.err(format('SELECT pgbank.renew_access_token(%L)', :'dora_refresh2'));
SELECT pg_temp.err($$SELECT pgbank.login('id_dora', 'secret1')$$);
SELECT access_token AS dora_access, refresh_token AS dora_refresh, session_id AS dora_session
  FROM pgbank.login('id_dora', 'newsecret1') \gset
-- nobody changes another user's password, not a banker, not an admin
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, password => %L)', :'ben_access', 'id_eve', 'secret22'));
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, password => %L)', :'ada_access', 'id_eve', 'secret22'));
-- eve changing her password ends eve's sessions, not the banker's
SELECT count(*) > 0 AS eve_has_open_sessions FROM pgbank.sessions
 WHERE username = 'id_eve' AND NOT is_blocked;
SELECT username FROM pgbank.update_user(:'eve_access', 'id_eve', password => 'secret22');
SELECT count(*) AS eve_open_sessions FROM pgbank.sessions
 WHERE username = 'id_eve' AND NOT is_blocked;
SELECT (pgbank.verify_access_token(:'ben_access')).username AS ben_still_in;
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'eve_access'));

-- === who may change whom: every caller role x target x field ===
-- Callers hold exactly one role (or none); targets are the caller itself
-- and a user of each role. Every attempt is rolled back: the table shows
-- only whether it was allowed (ok) or refused (its SQLSTATE).
SELECT count(*) AS users
  FROM unnest(ARRAY['m_none', 'm_depositor', 'm_banker', 'm_admin', 't_depositor', 't_banker', 't_admin']) u,
       pgbank.create_user(u, 'secret1', u, u || '@example.com');
DELETE FROM pgbank.user_roles WHERE username IN ('m_none', 'm_banker', 'm_admin', 't_banker', 't_admin');
INSERT INTO pgbank.user_roles (username, role)
VALUES ('m_banker', 'banker'), ('m_admin', 'admin'), ('t_banker', 'banker'), ('t_admin', 'admin');
CREATE TEMP TABLE matrix_caller AS
SELECT u AS caller, coalesce(array_to_string(pgbank.roles_of(u), ','), '') AS roles,
       (SELECT access_token FROM pgbank.login(u, 'secret1')) AS token
  FROM unnest(ARRAY['m_none', 'm_depositor', 'm_banker', 'm_admin']) u;
SELECT c.caller, t.target,
       split_part(pg_temp.err(format('SELECT pgbank.update_user(%L, %L, full_name => %L)',
           c.token, coalesce(nullif(t.target, 'itself'), c.caller), 'New Name'), true), ':', 1) AS full_name,
       split_part(pg_temp.err(format('SELECT pgbank.update_user(%L, %L, email => %L)',
           c.token, coalesce(nullif(t.target, 'itself'), c.caller), 'new@example.com'), true), ':', 1) AS email,
       split_part(pg_temp.err(format('SELECT pgbank.update_user(%L, %L, password => %L)',
           c.token, coalesce(nullif(t.target, 'itself'), c.caller), 'newsecret'), true), ':', 1) AS password
  FROM matrix_caller c, (VALUES (1, 'itself'), (2, 't_depositor'), (3, 't_banker'), (4, 't_admin')) t(n, target)
 ORDER BY array_position(ARRAY['m_none', 'm_depositor', 'm_banker', 'm_admin'], c.caller), t.n;
-- the refusals say why
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, %L)',
       (SELECT token FROM matrix_caller WHERE caller = 'm_banker'), 't_admin', 'X'));
SELECT pg_temp.err(format('SELECT pgbank.update_user(%L, %L, password => %L)',
       (SELECT token FROM matrix_caller WHERE caller = 'm_admin'), 't_depositor', 'newsecret'));
-- nothing above changed anyone
SELECT count(*) AS changed FROM pgbank.users
 WHERE (username LIKE 'm\_%' OR username LIKE 't\_%')
   AND (full_name <> username OR email <> username || '@example.com'
        OR password_changed_at <> '0001-01-01 00:00:00Z');

DROP OWNED BY id_plain;
DROP ROLE id_plain;

-- === the other build's passwords: bcrypt (pgcrypto's, as the managed build makes them) ===
SELECT pgbank.password_matches('$2a$04$.5gJDnXGuL/Roz07G/Ii5OpHRUOdewRKhZQtLR5Zz115FQLLo3iay', 'bcrypt pw') AS bcrypt_right,
       pgbank.password_matches('$2a$04$.5gJDnXGuL/Roz07G/Ii5OpHRUOdewRKhZQtLR5Zz115FQLLo3iay', 'bcrypt px') AS bcrypt_wrong,
       pgbank.password_matches('$2a$04$.5gJDnXGuL/Roz07G/Ii5OpHRUOdewRKhZQtLR5Zz115FQLLo3iayx', 'bcrypt pw') AS malformed;
-- what is not of the kind (pgbank.password_hash) and cost of new hashes needs a rehash
SELECT pgbank.password_needs_rehash('$2a$04$.5gJDnXGuL/Roz07G/Ii5OpHRUOdewRKhZQtLR5Zz115FQLLo3iay') AS bcrypt_needs,
       pgbank.password_needs_rehash(pgbank.hash_password('x')) AS new_needs,
       pgbank.password_needs_rehash('not a hash') AS malformed_needs;
SET pgbank.password_hash = bcrypt;
SET pgbank.bcrypt_cost = 5;
SELECT h LIKE '$2a$05$%' AS bcrypt_made, pgbank.password_matches(h, 'y') AS verifies,
       pgbank.password_needs_rehash(h) AS new_needs, pgbank.password_needs_rehash('$2a$04$.5gJDnXGuL/Roz07G/Ii5OpHRUOdewRKhZQtLR5Zz115FQLLo3iay') AS cost_4_needs,
       pgbank.password_needs_rehash(u.hashed_password) AS old_kind_needs
  FROM (SELECT pgbank.hash_password('y') AS h) x, pgbank.users u WHERE u.username = 'alice';
RESET pgbank.bcrypt_cost;
RESET pgbank.password_hash;
