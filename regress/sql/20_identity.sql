-- Identity: roles, login and its throttle, sessions, renewal, logout,
-- verify_access_token, update_user, grant_role and revoke_role.
-- Tokens never appear in the output: they are captured with \gset and
-- compared in SQL.
\set VERBOSITY default
\pset null '(null)'
\set SHOW_CONTEXT never
-- pgbank.token_key is set in regress/regress.conf

-- err(sql): the SQLSTATE and message of the error sql raises, so that each
-- error's code is visible; 'no error' if it raises none.
CREATE FUNCTION pg_temp.err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- === settings (extension/session.c) ===
SELECT name, setting, unit, context FROM pg_settings
 WHERE name IN ('pgbank.access_token_duration', 'pgbank.refresh_token_duration',
                'pgbank.login_max_failures', 'pgbank.login_failure_window',
                'pgbank.login_throttle_entries')
 ORDER BY name;

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

-- === login ===
SELECT session_id AS dora_session, access_token AS dora_access, refresh_token AS dora_refresh
  FROM pgbank.login('id_dora', 'secret1', 'psql-test/1.0', '192.0.2.7') \gset
-- simple bank's loginUserResponse, the user without its password hash
SELECT json_object_keys(to_json(l)) FROM pgbank.login('id_dora', 'secret1') l;
SELECT json_object_keys(to_json(l)->'user') FROM pgbank.login('id_dora', 'secret1') l;
SELECT l.session_id IS NOT NULL AS has_session,
       l.access_token <> l.refresh_token AS two_tokens,
       l.access_token_expires_at - now() BETWEEN '14 min' AND '16 min' AS access_15min,
       l.refresh_token_expires_at - now() BETWEEN '23 h 59 min' AND '24 h 1 min' AS refresh_24h,
       (l."user").username, (l."user").full_name, (l."user").email,
       (l."user").password_changed_at = '0001-01-01 00:00:00Z' AS never_changed,
       (l."user").created_at = u.created_at AS created_at
  FROM pgbank.login('id_eve', 'secret2') l, pgbank.users u WHERE u.username = 'id_eve';
-- one session row, keyed by the refresh token's id, and one access token row
SELECT s.username, s.user_agent, s.client_ip, s.is_blocked,
       s.refresh_token = :'dora_refresh' AS holds_refresh_token,
       s.id = (pgbank.token_verify(:'dora_refresh')).token_id AS keyed_by_token_id,
       s.expires_at = (pgbank.token_verify(:'dora_refresh')).expires_at AS expires_with_token
  FROM pgbank.sessions s WHERE s.id = :'dora_session';
SELECT t.username, t.session_id = :'dora_session' AS of_session, t.revoked_at,
       t.expires_at = (pgbank.token_verify(:'dora_access')).expires_at AS expires_with_token
  FROM pgbank.access_tokens t WHERE t.token_id = (pgbank.token_verify(:'dora_access')).token_id;
SELECT count(*) AS dora_sessions FROM pgbank.sessions WHERE username = 'id_dora';

-- errors
SELECT pg_temp.err($$SELECT pgbank.login('id_nobody', 'secret1')$$);
SELECT pg_temp.err($$SELECT pgbank.login('id_dora', 'secret2')$$);
SELECT pgbank.login('id_dora', 'secret2');
SELECT pgbank.login('id-dora', 'secret1');
SELECT pgbank.login(NULL, 'secret1');
SELECT pgbank.login('id_dora', '12345');
SELECT pgbank.login('id_dora', NULL);
SELECT pgbank.login('id_dora', 'secret1', repeat('x', 1025));
-- the failed ones opened no session
SELECT count(*) AS dora_sessions FROM pgbank.sessions WHERE username = 'id_dora';

-- === verify_access_token ===
SELECT username, roles, token_id IS NOT NULL AS has_id,
       expires_at - issued_at = '15 min' AS lasts_15min
  FROM pgbank.verify_access_token(:'dora_access');
SELECT pg_temp.err($$SELECT pgbank.verify_access_token(NULL)$$);
SELECT pg_temp.err($$SELECT pgbank.verify_access_token('')$$);
SELECT pg_temp.err($$SELECT pgbank.verify_access_token('not a token')$$);
-- tampered: one character changed in the middle
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)',
       overlay(:'dora_access' PLACING
               CASE WHEN substr(:'dora_access', 40, 1) = 'A' THEN 'B' ELSE 'A' END
               FROM 40 FOR 1)));
-- a refresh token is not an access token
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'dora_refresh'));
-- a valid token that login did not issue is refused
SELECT token AS bare_token FROM pgbank.token_issue('id_dora', '{banker}', '15 min') \gset
SELECT (pgbank.token_verify(:'bare_token')).username AS valid_token_of;
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'bare_token'));
-- a token made with another key
SET pgbank.token_key = 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100';
SELECT access_token AS other_key_access, refresh_token AS other_key_refresh
  FROM pgbank.login('id_eve', 'secret2') \gset
RESET pgbank.token_key;
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'other_key_access'));
SELECT pg_temp.err(format('SELECT pgbank.renew_access_token(%L)', :'other_key_refresh'));
-- durations are exact seconds: a day is 24 hours even across a DST change
SET TimeZone = 'America/New_York';
SELECT pgbank.setting_interval('pgbank.refresh_token_duration') AS refresh,
       pgbank.setting_interval('pgbank.access_token_duration') AS access;
SELECT '2026-03-07 12:00:00-05'::timestamptz + pgbank.setting_interval('pgbank.refresh_token_duration')
       AS refresh_expiry_across_dst,
       '2026-03-07 12:00:00-05'::timestamptz + interval '1 day' AS a_calendar_day_later;
RESET TimeZone;

-- the same flow with JWT HS256 tokens
SET pgbank.token_format = 'jwt';
SELECT access_token AS jwt_access, refresh_token AS jwt_refresh
  FROM pgbank.login('id_eve', 'secret2') \gset
SELECT split_part(:'jwt_access', '.', 1) = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9' AS access_is_jwt,
       split_part(:'jwt_refresh', '.', 1) = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9' AS refresh_is_jwt;
SELECT username, roles FROM pgbank.verify_access_token(:'jwt_access');
SELECT access_token AS jwt_renewed FROM pgbank.renew_access_token(:'jwt_refresh') \gset
SELECT (pgbank.verify_access_token(:'jwt_renewed')).username AS renewed_jwt_of,
       split_part(:'jwt_renewed', '.', 1) = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9' AS is_jwt;
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'jwt_refresh'));
SELECT pgbank.logout(:'jwt_refresh');
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'jwt_access'));
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'jwt_renewed'));
SELECT pg_temp.err(format('SELECT pgbank.renew_access_token(%L)', :'jwt_refresh'));
SELECT access_token AS jwt_access FROM pgbank.login('id_eve', 'secret2') \gset
RESET pgbank.token_format;
-- a JWT is no access token while the format is paseto
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'jwt_access'));
-- an expired access token
SET pgbank.access_token_duration = '1s';
SELECT access_token AS short_access FROM pgbank.login('id_eve', 'secret2') \gset
RESET pgbank.access_token_duration;
SHOW pgbank.access_token_duration;

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
-- a banker changing eve's password ends eve's sessions, not the banker's
SELECT count(*) > 0 AS eve_has_open_sessions FROM pgbank.sessions
 WHERE username = 'id_eve' AND NOT is_blocked;
SELECT username FROM pgbank.update_user(:'ben_access', 'id_eve', password => 'secret22');
SELECT count(*) AS eve_open_sessions FROM pgbank.sessions
 WHERE username = 'id_eve' AND NOT is_blocked;
SELECT (pgbank.verify_access_token(:'ben_access')).username AS ben_still_in;
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'eve_access'));

-- === renew_access_token ===
SELECT access_token AS dora_access_renewed FROM pgbank.renew_access_token(:'dora_refresh') \gset
SELECT :'dora_access_renewed' <> :'dora_access' AS new_token,
       (pgbank.verify_access_token(:'dora_access_renewed')).username,
       (pgbank.verify_access_token(:'dora_access')).username AS old_one_still_valid;
SELECT json_object_keys(to_json(r)) FROM pgbank.renew_access_token(:'dora_refresh') r;
SELECT count(*) AS dora_tokens_of_session FROM pgbank.access_tokens WHERE session_id = :'dora_session';
-- errors: bad input, bad token, no session
SELECT pgbank.renew_access_token(NULL);
SELECT pg_temp.err($$SELECT pgbank.renew_access_token('not a token')$$);
SELECT pg_temp.err(format('SELECT pgbank.renew_access_token(%L)', :'dora_access'));
SELECT pg_temp.err(format('SELECT pgbank.renew_access_token(%L)', :'bare_token'));
-- each check of the session has its own error: other user, mismatch, expired
SELECT access_token AS eve_access, refresh_token AS eve_refresh, session_id AS eve_session
  FROM pgbank.login('id_eve', 'secret22') \gset
UPDATE pgbank.sessions SET username = 'id_ben' WHERE id = :'eve_session';
SELECT pg_temp.err(format('SELECT pgbank.renew_access_token(%L)', :'eve_refresh'));
SELECT pg_temp.err(format('SELECT pgbank.logout(%L)', :'eve_refresh'));
UPDATE pgbank.sessions SET username = 'id_eve', refresh_token = refresh_token || 'x'
 WHERE id = :'eve_session';
SELECT pg_temp.err(format('SELECT pgbank.renew_access_token(%L)', :'eve_refresh'));
SELECT pg_temp.err(format('SELECT pgbank.logout(%L)', :'eve_refresh'));
UPDATE pgbank.sessions SET refresh_token = :'eve_refresh', expires_at = now() - interval '1 s'
 WHERE id = :'eve_session';
SELECT pg_temp.err(format('SELECT pgbank.renew_access_token(%L)', :'eve_refresh'));
-- an expired refresh token fails as a token before its session is looked at
SET pgbank.refresh_token_duration = '1s';
SELECT refresh_token AS short_refresh FROM pgbank.login('id_eve', 'secret22') \gset
RESET pgbank.refresh_token_duration;

-- === logout ===
SELECT pgbank.logout(:'dora_refresh');
SELECT is_blocked FROM pgbank.sessions WHERE id = :'dora_session';
SELECT count(*) AS live_tokens_of_session FROM pgbank.access_tokens
 WHERE session_id = :'dora_session' AND revoked_at IS NULL;
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'dora_access'));
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'dora_access_renewed'));
SELECT pg_temp.err(format('SELECT pgbank.renew_access_token(%L)', :'dora_refresh'));
SELECT pgbank.logout(:'dora_refresh') AS again_is_a_no_op;
SELECT pgbank.logout(NULL);
SELECT pg_temp.err($$SELECT pgbank.logout('not a token')$$);
SELECT pg_temp.err(format('SELECT pgbank.logout(%L)', :'ben_access'));
-- blocking a session by hand revokes its tokens too
SELECT session_id AS ben_session, access_token AS ben_access2
  FROM pgbank.login('id_ben', 'secret3') \gset
UPDATE pgbank.sessions SET is_blocked = true WHERE id = :'ben_session';
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'ben_access2'));
SELECT (pgbank.verify_access_token(:'ben_access')).username AS other_session_unaffected;

-- === expiry: both short-lived tokens are now past their second ===
SELECT pg_sleep(1.2);
SELECT pg_temp.err(format('SELECT pgbank.verify_access_token(%L)', :'short_access'));
SELECT pg_temp.err(format('SELECT pgbank.renew_access_token(%L)', :'short_refresh'));

-- === login throttle ===
-- five failures in the window, then PB015 even for the right password: the
-- counters live in shared memory, so the failed logins' rollbacks keep them
SELECT pg_temp.err($$SELECT pgbank.login('id_ben', 'wrong1')$$) FROM generate_series(1, 4);
BEGIN;
SELECT pgbank.login('id_ben', 'wrong1');
ROLLBACK;
SELECT username, failures, throttled FROM pgbank.login_throttle() WHERE username = 'id_ben';
SELECT pg_temp.err($$SELECT pgbank.login('id_ben', 'secret3')$$);
SELECT pg_temp.err($$SELECT pgbank.login('id_ben', 'wrong1')$$);
SELECT username, failures, throttled FROM pgbank.login_throttle() WHERE username = 'id_ben';
-- other users are not affected
SELECT ("user").username FROM pgbank.login('id_ada', 'secret4');
-- a success clears a user's failures
SELECT pg_temp.err($$SELECT pgbank.login('id_ada', 'wrong1')$$) FROM generate_series(1, 2);
SELECT username, failures, throttled FROM pgbank.login_throttle() WHERE username = 'id_ada';
SELECT ("user").username FROM pgbank.login('id_ada', 'secret4');
SELECT count(*) AS ada_tracked FROM pgbank.login_throttle() WHERE username = 'id_ada';
-- unknown users are not tracked
SELECT pg_temp.err($$SELECT pgbank.login('id_ghost', 'wrong1')$$);
SELECT count(*) AS ghost_tracked FROM pgbank.login_throttle() WHERE username = 'id_ghost';
-- a lower limit applies at once; 0 turns the throttle off
SET pgbank.login_max_failures = 1;
SELECT pg_temp.err($$SELECT pgbank.login('id_ada', 'wrong1')$$);
SELECT pg_temp.err($$SELECT pgbank.login('id_ada', 'secret4')$$);
SET pgbank.login_max_failures = 0;
SELECT ("user").username AS throttle_off FROM pgbank.login('id_ada', 'secret4');
RESET pgbank.login_max_failures;
-- the window ends: ben may log in again
SET pgbank.login_failure_window = '1s';
SELECT pg_sleep(1.1);
SELECT count(*) AS ben_tracked FROM pgbank.login_throttle() WHERE username = 'id_ben';
SELECT ("user").username FROM pgbank.login('id_ben', 'secret3');
RESET pgbank.login_failure_window;
-- a clear by hand
SELECT pg_temp.err($$SELECT pgbank.login('id_eve', 'wrong1')$$);
SELECT pgbank.login_throttle_clear('id_eve') AS had_failures,
       pgbank.login_throttle_clear('id_eve') AS has_failures;
-- the throttle's key is bounded (login refuses such names before, by its own check)
SELECT pgbank.login_throttle_clear(repeat('u', 200));

-- a full table (pgbank.login_throttle_entries = 100 in regress.conf) makes
-- room by dropping the entry whose window began first...
SET pgbank.login_failure_window = '1h';
SELECT count(*) AS users FROM generate_series(1, 101) i,
       pgbank.create_user(format('id_t%s', i), 'secret1', 'T', format('t%s@example.com', i));
SELECT count(pg_temp.err(format('SELECT pgbank.login(%L, %L)', format('id_t%s', i), 'wrong1')))
  FROM generate_series(1, 100) i;
SELECT count(*) AS tracked, bool_or(username = 'id_t1') AS first_tracked FROM pgbank.login_throttle();
SELECT pg_temp.err($$SELECT pgbank.login('id_t101', 'wrong1')$$);
SELECT count(*) AS tracked, bool_or(username = 'id_t1') AS first_tracked,
       bool_or(username = 'id_t2') AS second_tracked, bool_or(username = 'id_t101') AS last_tracked
  FROM pgbank.login_throttle();
-- ...or, first, every entry whose window is over
SET pgbank.login_failure_window = '1s';
SELECT pg_sleep(1.1);
SELECT pg_temp.err($$SELECT pgbank.login('id_t1', 'wrong1')$$);
SET pgbank.login_failure_window = '1h';
SELECT username, failures FROM pgbank.login_throttle();
RESET pgbank.login_failure_window;
SELECT pgbank.login_throttle_clear('id_t1');

-- === upkeep ===
SELECT access_token AS eve_short FROM pgbank.login('id_eve', 'secret22') \gset
UPDATE pgbank.access_tokens SET expires_at = now() - interval '1 s'
 WHERE token_id = (pgbank.token_verify(:'eve_short')).token_id;
UPDATE pgbank.sessions SET expires_at = now() - interval '8 days' WHERE id = :'eve_session';
SELECT access_tokens_deleted > 0 AS tokens_purged, sessions_deleted AS sessions_purged
  FROM pgbank.purge_expired_sessions();
SELECT count(*) AS eve_old_session FROM pgbank.sessions WHERE id = :'eve_session';

-- === what the HTTP shim's role may do ===
SELECT p.proname, p.prosecdef, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'pgbank'::regnamespace
   AND p.proname IN ('login', 'renew_access_token', 'logout', 'verify_access_token',
                     'update_user', 'grant_role', 'revoke_role')
 ORDER BY p.proname;
CREATE ROLE id_web;
SELECT pgbank.grant_api('id_web');
SELECT f, has_function_privilege('id_web', f, 'EXECUTE') AS web_may_call
  FROM unnest(ARRAY['pgbank.login(text,text,text,inet)', 'pgbank.logout(text)',
                    'pgbank.renew_access_token(text)', 'pgbank.verify_access_token(text)',
                    'pgbank.update_user(text,text,text,text,text)',
                    'pgbank.grant_role(text,text,text)', 'pgbank.revoke_role(text,text,text)',
                    'pgbank.make_admin(text)', 'pgbank.login_throttle_clear(text)',
                    'pgbank.login_throttle()', 'pgbank.token_issue(text,text[],interval)',
                    'pgbank.purge_expired_sessions(interval)']::regprocedure[]) f;
SET ROLE id_web;
SELECT ("user").username FROM pgbank.login('id_ada', 'secret4');
SELECT count(*) FROM pgbank.sessions;
SET pgbank.refresh_token_duration = '100 days';
SET pgbank.login_max_failures = 0;
RESET ROLE;

DROP OWNED BY id_plain, id_web;
DROP ROLE id_plain, id_web;
