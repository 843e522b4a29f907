-- Sessions (sql/src/30_sessions.sql): login and its throttle, access and
-- refresh tokens, verify_access_token, renewal, logout, expiry, upkeep, and
-- what the HTTP shim's role may call. Tokens never appear in the output:
-- they are captured with \gset and compared in SQL.
\i regress/include/setup.sql
-- pgbank.token_key is set in regress/regress.conf

-- (the users, as 20_users.sql makes them)
SELECT count(*) AS users FROM (VALUES ('id_dora', 'secret1', 'Dora', 'dora@example.com'),
	('id_eve', 'secret2', 'Eve', 'eve@example.com'), ('id_ben', 'secret3', 'Ben', 'ben@example.com'),
	('id_ada', 'secret4', 'Ada', 'ada@example.com'), ('id_nora', 'secret5', 'Nora', 'nora@example.com')) v(u, p, n, e),
	pgbank.create_user(u, p, n, e);
SELECT pgbank.make_admin('id_ada');
CREATE ROLE id_plain;

-- === settings (extension/throttle.c, extension/token.c) ===
SELECT name, setting, unit, context FROM pg_settings
 WHERE name IN ('pgbank.access_token_duration', 'pgbank.refresh_token_duration',
                'pgbank.login_max_failures', 'pgbank.login_failure_window',
                'pgbank.login_throttle_entries')
 ORDER BY name;

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

-- (what 20_users.sql's sections leave behind here: a session of ben's, and
-- the passwords dora and eve changed, which end their sessions)
SELECT access_token AS ben_access FROM pgbank.login('id_ben', 'secret3') \gset
SELECT access_token AS eve_access FROM pgbank.login('id_eve', 'secret2') \gset
SELECT username FROM pgbank.update_user(:'eve_access', 'id_eve', password => 'secret22');
SELECT username FROM pgbank.update_user(:'dora_access', 'id_dora', password => 'newsecret1');
SELECT access_token AS dora_access, refresh_token AS dora_refresh, session_id AS dora_session
  FROM pgbank.login('id_dora', 'newsecret1') \gset

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

-- a throttled entry is never dropped to make room: with id_t1 throttled,
-- 100 more users' failures drop the oldest of the others (id_t2), and
-- id_t1 stays throttled
SET pgbank.login_failure_window = '1h';
SELECT pg_temp.err($$SELECT pgbank.login('id_t1', 'wrong1')$$) FROM generate_series(1, 5);
SELECT count(pg_temp.err(format('SELECT pgbank.login(%L, %L)', format('id_t%s', i), 'wrong1')))
  FROM generate_series(2, 101) i;
SELECT count(*) AS tracked, bool_or(username = 'id_t1' AND throttled) AS first_throttled,
       bool_or(username = 'id_t2') AS second_tracked, bool_or(username = 'id_t101') AS last_tracked
  FROM pgbank.login_throttle();
SELECT pg_temp.err($$SELECT pgbank.login('id_t1', 'secret1')$$) AS first_still_throttled;
-- a table full of throttled entries fails closed: an attempt that needs a
-- new entry is throttled too, told when to try again (the first window's end);
-- tracked users are throttled as before, and a username that does not
-- exist, from no known address, needs no entry
SET pgbank.login_max_failures = 1;
SELECT count(*) FILTER (WHERE throttled) AS throttled, count(*) AS tracked FROM pgbank.login_throttle();
SELECT pg_temp.err($$SELECT pgbank.login('id_t2', 'secret1')$$) AS new_user;
SELECT pg_temp.err($$SELECT pgbank.login('id_t3', 'secret1')$$) AS tracked_user;
SELECT pg_temp.err($$SELECT pgbank.login('id_ghost', 'secret1')$$) AS unknown_user;
SELECT pg_temp.err($$SELECT pgbank.login('id_t2', 'secret1')$$, false, 'detail')
       ~ '^Every user and address it tracks is throttled, so this login cannot be counted\. Try again in 3[56]\d\d seconds\.$'
       AS retry_after_first_window;
-- entries are throttled by the limits in force: at 5 again, the others are
-- not throttled any more, and the oldest of them makes room
RESET pgbank.login_max_failures;
SELECT pg_temp.err($$SELECT pgbank.login('id_t2', 'wrong1')$$) AS new_user_again;
SELECT bool_or(username = 'id_t2') AS new_tracked, bool_or(username = 'id_t3') AS oldest_tracked,
       bool_or(username = 'id_t1' AND throttled) AS first_throttled
  FROM pgbank.login_throttle();
SELECT count(pgbank.login_throttle_clear(username)) AS cleared FROM pgbank.login_throttle();

-- === login throttle: the limit per client address ===
SELECT name, setting, unit, context FROM pg_settings
 WHERE name = 'pgbank.login_address_max_failures';
SET pgbank.login_address_max_failures = 3;
-- failures on different users add up for the address, unknown usernames
-- included; at the limit, even a right password is refused
SELECT pg_temp.err($$SELECT pgbank.login('id_ada', 'wrong1', NULL, '192.0.2.7')$$);
SELECT pg_temp.err($$SELECT pgbank.login('id_ghost', 'wrong1', NULL, '192.0.2.7')$$);
SELECT pg_temp.err($$SELECT pgbank.login('id_nora', 'wrong1', NULL, '192.0.2.7')$$);
SELECT client_ip, failures, throttled FROM pgbank.login_throttle_addresses();
SELECT pg_temp.err($$SELECT pgbank.login('id_t5', 'secret1', NULL, '192.0.2.7')$$) AS right_password;
-- a refused attempt counts for neither the address nor the user
SELECT pg_temp.err($$SELECT pgbank.login('id_nora', 'wrong1', NULL, '192.0.2.7')$$);
SELECT username, failures FROM pgbank.login_throttle() WHERE username = 'id_nora';
SELECT client_ip, failures FROM pgbank.login_throttle_addresses();
-- an IPv4-mapped IPv6 address is the IPv4 address; another address is free
SELECT pg_temp.err($$SELECT pgbank.login('id_t5', 'secret1', NULL, '::ffff:192.0.2.7')$$) AS mapped;
SELECT ("user").username AS other_address FROM pgbank.login('id_t5', 'secret1', NULL, '192.0.2.8');
-- IPv6 addresses count by their /64
SELECT pg_temp.err(format('SELECT pgbank.login(%L, %L, NULL, %L)', 'id_ghost', 'wrong1', a))
  FROM unnest(ARRAY['2001:db8:1:2::1', '2001:db8:1:2:ffff::9', '2001:db8:1:3::1']) a;
SELECT client_ip, failures, throttled FROM pgbank.login_throttle_addresses() ORDER BY client_ip;
-- a right password takes back its own attempt, not the address's failures
SELECT pg_temp.err($$SELECT pgbank.login('id_ada', 'wrong1', NULL, '198.51.100.1')$$);
SELECT pg_temp.err($$SELECT pgbank.login('id_ada', 'wrong1', NULL, '198.51.100.1')$$);
SELECT ("user").username AS success FROM pgbank.login('id_ada', 'secret4', NULL, '198.51.100.1');
SELECT client_ip, failures, throttled FROM pgbank.login_throttle_addresses()
 WHERE client_ip = '198.51.100.1';
SELECT count(*) AS ada_tracked FROM pgbank.login_throttle() WHERE username = 'id_ada';
SELECT pg_temp.err($$SELECT pgbank.login('id_ghost', 'wrong1', NULL, '198.51.100.1')$$);
SELECT pg_temp.err($$SELECT pgbank.login('id_ada', 'secret4', NULL, '198.51.100.1')$$) AS now_throttled;
-- a clear by hand; 0 turns the limit off; the shim's role cannot change it
SELECT pgbank.login_throttle_clear_address('192.0.2.7') AS had_failures,
       pgbank.login_throttle_clear_address('192.0.2.7') AS has_failures;
SELECT ("user").username AS cleared FROM pgbank.login('id_t5', 'secret1', NULL, '192.0.2.7');
SET pgbank.login_address_max_failures = 0;
SELECT ("user").username AS limit_off FROM pgbank.login('id_ada', 'secret4', NULL, '198.51.100.1');
RESET pgbank.login_address_max_failures;
SET ROLE id_plain;
SET pgbank.login_address_max_failures = 0;
RESET ROLE;
SELECT count(pgbank.login_throttle_clear_address(client_ip)) AS cleared
  FROM pgbank.login_throttle_addresses();
SELECT count(pgbank.login_throttle_clear(username)) AS cleared FROM pgbank.login_throttle();

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

-- === a login rehashes a hash of another kind or cost (here bcrypt, cost 5) ===
SELECT username FROM pgbank.create_user('id_bcrypt', 'placeholder', 'Bea', 'bea@example.com');
UPDATE pgbank.users SET hashed_password = '$2a$05$bzqDBaDuXfMBZ7w1bWmWG.0maeOHT3senpvdYzqr5UZAiKe8/2tUW' WHERE username = 'id_bcrypt';
SELECT ("user").username FROM pgbank.login('id_bcrypt', 'bcrypt pw');
SELECT hashed_password <> '$2a$05$bzqDBaDuXfMBZ7w1bWmWG.0maeOHT3senpvdYzqr5UZAiKe8/2tUW' AS replaced, hashed_password LIKE '$argon2id$%' AS argon2id,
       pgbank.password_matches(hashed_password, 'bcrypt pw') AS verifies,
       password_changed_at = '0001-01-01 00:00:00Z' AS no_password_change
  FROM pgbank.users WHERE username = 'id_bcrypt';
SELECT ("user").username AS again FROM pgbank.login('id_bcrypt', 'bcrypt pw');
