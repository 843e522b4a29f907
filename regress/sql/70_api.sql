-- The HTTP API functions (sql/src/70_api.sql): the JSON they answer and
-- every input error, each naming its field. Authenticated functions are
-- checked here up to the token (no token: 28000); with real tokens they are
-- tested end to end by regress/t/30-http.sh.
\i regress/include/setup.sql

-- === POST /users ===
SELECT json_object_keys(pgbank.api_create_user(
	'{"username": "api_ann", "password": "secret1", "full_name": "Ann", "email": "api_ann@example.com"}'));
SELECT u->>'username' AS username, u->>'full_name' AS full_name, u->>'email' AS email,
       (u->>'password_changed_at')::timestamptz = '0001-01-01 00:00:00Z' AS never_changed,
       (u->>'created_at')::timestamptz = now() AS created_now
  FROM (SELECT pgbank.api_create_user('{"username": "api_ben", "password": "secret1", "full_name": "Ben", "email": "api_ben@example.com"}')::jsonb) s(u);
-- the hash is never in the answer
SELECT pgbank.api_create_user('{"username": "api_cid", "password": "secret1", "full_name": "Cid", "email": "api_cid@example.com"}')::text
       LIKE '%argon2%' AS leaks_hash;
-- errors name the field
SELECT pgbank.api_create_user(NULL);
SELECT pgbank.api_create_user('{}');
SELECT pgbank.api_create_user('{"username": "api_dee"}');
SELECT pgbank.api_create_user('{"username": "api_dee", "password": "secret1"}');
SELECT pgbank.api_create_user('{"username": "api_dee", "password": "secret1", "full_name": "Dee"}');
SELECT pgbank.api_create_user('{"username": "api_dee", "password": "secret1", "full_name": "Dee", "email": "nope"}');
SELECT pgbank.api_create_user('{"username": 12345, "password": "secret1", "full_name": "Dee", "email": "d@example.com"}');
SELECT pgbank.api_create_user('{"username": "api_dee", "password": 123456, "full_name": "Dee", "email": "d@example.com"}');
SELECT pgbank.api_create_user('[]');
SELECT pgbank.api_create_user('{"username": "api_ann", "password": "secret1", "full_name": "Ann", "email": "other@example.com"}');
SELECT pgbank.api_create_user('{"username": "api_ann2", "password": "secret1", "full_name": "Ann", "email": "api_ann@example.com"}');

-- === authenticated functions without a token: 28000 before anything else ===
SELECT pgbank.api_create_account(NULL, '{"currency": "USD"}');
SELECT pgbank.api_create_account('', '{"currency": "USD"}');
SELECT pgbank.api_get_account(NULL, '1');
SELECT pgbank.api_get_account(NULL, 'not-a-number');
SELECT pgbank.api_list_accounts(NULL, '1', '5');
SELECT pgbank.api_transfer(NULL, '{}', NULL);
SELECT pgbank.api_update_user(NULL, '{"username": 5}');
SELECT pgbank.caller(NULL, 'depositor');

-- === input checks that come before any other function ===
SELECT pgbank.api_verify_email(NULL, 'code');
SELECT pgbank.api_verify_email('1', NULL);
SELECT pgbank.api_verify_email('1', '');
SELECT pgbank.api_verify_email('abc', 'code');
SELECT pgbank.api_verify_email('0', 'code');
SELECT pgbank.api_login_user('{"password": "secret1"}', NULL, NULL);
SELECT pgbank.api_login_user('{"username": "api_ann"}', NULL, NULL);
SELECT pgbank.api_login_user('{"username": 1}', NULL, NULL);
SELECT pgbank.api_renew_access('{}');
SELECT pgbank.api_renew_access('{"refresh_token": 5}');
SELECT pgbank.api_logout(NULL);

-- === JSON shapes: the simple bank's field names, nothing more ===
SELECT json_object_keys(pgbank.account_json(a))
  FROM pgbank.create_account('api_ann', 'USD', 100) a;
SELECT id IS NOT NULL AS has_id, owner, balance, currency
  FROM pgbank.create_account('api_ben', 'USD') a;
SELECT key, json_typeof(value) AS type
  FROM json_each(pgbank.transfer_json(pgbank.transfer(
	(SELECT id FROM pgbank.accounts WHERE owner = 'api_ann'),
	(SELECT id FROM pgbank.accounts WHERE owner = 'api_ben'), 30, 'USD')));
SELECT t -> 'transfer' -> 'amount' AS amount,
       t -> 'from_account' -> 'balance' AS from_balance,
       t -> 'to_entry' -> 'amount' AS to_entry,
       (SELECT array_agg(k) FROM json_object_keys(t -> 'transfer') k) AS transfer_keys,
       (SELECT array_agg(k) FROM json_object_keys(t -> 'from_entry') k) AS entry_keys,
       (SELECT array_agg(k) FROM json_object_keys(t -> 'to_account') k) AS account_keys
  FROM (SELECT pgbank.transfer_json(pgbank.transfer(
	(SELECT id FROM pgbank.accounts WHERE owner = 'api_ann'),
	(SELECT id FROM pgbank.accounts WHERE owner = 'api_ben'), 1, 'USD')) AS t) s;
-- of the receiving account (another user's) only what identifies it; the
-- paying account is the caller's own, in full
SELECT (SELECT array_agg(k) FROM json_object_keys(t -> 'from_account') k) AS from_account_keys,
       t -> 'to_account' AS to_account_shown
  FROM (SELECT pgbank.transfer_json(pgbank.transfer(
	(SELECT id FROM pgbank.accounts WHERE owner = 'api_ann'),
	(SELECT id FROM pgbank.accounts WHERE owner = 'api_ben'), 1, 'USD')) AS t) s;

-- === every authenticated function checks the role it needs ===
-- A user whose roles were all revoked still signs in (and revoke_role
-- leaves its sessions, so it renews its token): every function refuses
-- such a token with 42501. A banker without the depositor role reads any
-- account and updates a depositor's name, and may do nothing else.
SELECT username FROM pgbank.create_user('api_norole', 'secret1', 'No Role', 'api_norole@example.com');
SELECT username FROM pgbank.create_user('api_banker', 'secret1', 'Banker', 'api_banker@example.com');
DELETE FROM pgbank.user_roles WHERE username IN ('api_norole', 'api_banker');
INSERT INTO pgbank.user_roles (username, role) VALUES ('api_banker', 'banker');
SELECT access_token AS norole FROM pgbank.login('api_norole', 'secret1') \gset
SELECT access_token AS banker FROM pgbank.login('api_banker', 'secret1') \gset
SELECT id AS ann_account FROM pgbank.accounts WHERE owner = 'api_ann' \gset
SELECT f AS function, pg_temp.err(format(q, :'norole'), true) AS without_a_role,
       pg_temp.err(format(q, :'banker'), true) AS banker_only
  FROM (VALUES
	('api_create_account', $q$SELECT pgbank.api_create_account(%L, '{"currency": "EUR"}')$q$),
	('api_get_account', $q$SELECT pgbank.api_get_account(%L, '$q$ || :ann_account || $q$')$q$),
	('api_list_accounts', $q$SELECT pgbank.api_list_accounts(%L, '1', '5')$q$),
	('api_transfer', $q$SELECT pgbank.api_transfer(%L, '{"from_account_id": $q$ || :ann_account || $q$, "to_account_id": 2, "amount": 1, "currency": "USD"}', NULL)$q$),
	('api_update_user', $q$SELECT pgbank.api_update_user(%L, '{"username": "api_norole", "full_name": "X"}')$q$),
	('api_game_create', $q$SELECT pgbank.api_game_create(%L, 'apex', '{"date": "2024-01-01", "legend": "Wraith", "kills": 1, "placement": 2, "damage": 10, "time_seconds": 60}')$q$),
	('api_game_get', $q$SELECT pgbank.api_game_get(%L, 'apex', '1')$q$),
	('api_game_list', $q$SELECT pgbank.api_game_list(%L, 'apex', NULL, NULL, NULL, NULL)$q$),
	('api_game_update', $q$SELECT pgbank.api_game_update(%L, 'apex', '1', '{"kills": 2}')$q$),
	('api_game_delete', $q$SELECT pgbank.api_game_delete(%L, 'apex', '1')$q$),
	('api_game_table', $q$SELECT pgbank.api_game_table(%L, 'apex')$q$),
	('api_deposit', $q$SELECT pgbank.api_deposit(%L, '{"account_id": $q$ || :ann_account || $q$, "amount": 1, "reference": "cash"}', NULL)$q$),
	('api_withdraw', $q$SELECT pgbank.api_withdraw(%L, '{"account_id": $q$ || :ann_account || $q$, "amount": 1, "reference": "cash"}', NULL)$q$),
	('api_get_transfer', $q$SELECT pgbank.api_get_transfer(%L, (SELECT max(id) FROM pgbank.transfers)::text)$q$),
	('api_transfer_by_key', $q$SELECT pgbank.api_transfer_by_key(%L, '$q$ || :ann_account || $q$', 'no-such-key')$q$),
	('api_account_entries', $q$SELECT pgbank.api_account_entries(%L, '$q$ || :ann_account || $q$', NULL, NULL)$q$),
	('api_account_transfers', $q$SELECT pgbank.api_account_transfers(%L, '$q$ || :ann_account || $q$', NULL, NULL)$q$),
	('api_balance_at', $q$SELECT pgbank.api_balance_at(%L, '$q$ || :ann_account || $q$', '2024-01-01T00:00:00Z')$q$),
	('api_hold', $q$SELECT pgbank.api_hold(%L, '{"from_account_id": $q$ || :ann_account || $q$, "to_account_id": 2, "amount": 1, "currency": "USD"}')$q$),
	('api_get_hold', $q$SELECT pgbank.api_get_hold(%L, '999999')$q$),
	('api_post_hold', $q$SELECT pgbank.api_post_hold(%L, '999999', NULL)$q$),
	('api_void_hold', $q$SELECT pgbank.api_void_hold(%L, '999999')$q$),
	('api_transfer_batch', $q$SELECT pgbank.api_transfer_batch(%L, '{"transfers": [{"from_account_id": $q$ || :ann_account || $q$, "to_account_id": 2, "amount": 1, "currency": "USD"}]}')$q$)) v(f, q)
 ORDER BY f;
-- every API function that takes a token is in the list above, but the
-- ones that take a refresh token (renew, logout: a session, not a role)
SELECT p.proname AS takes_a_token_but_not_listed
  FROM pg_proc p
 WHERE p.pronamespace = 'pgbank'::regnamespace AND p.proname LIKE 'api\_%'
   AND p.proargnames[1] = 'token'
   AND p.proname NOT IN ('api_create_account', 'api_get_account', 'api_list_accounts', 'api_transfer',
                         'api_update_user', 'api_game_create', 'api_game_get', 'api_game_list',
                         'api_game_update', 'api_game_delete', 'api_game_table',
                         'api_deposit', 'api_withdraw', 'api_get_transfer', 'api_transfer_by_key',
                         'api_account_entries', 'api_account_transfers', 'api_balance_at', 'api_hold',
                         'api_get_hold', 'api_post_hold', 'api_void_hold', 'api_transfer_batch');

-- === the ledger's API: deposits, statements, transfers, holds, batches ===
SELECT access_token AS ann FROM pgbank.login('api_ann', 'secret1') \gset
SELECT access_token AS ben FROM pgbank.login('api_ben', 'secret1') \gset
SELECT id AS ben_account FROM pgbank.accounts WHERE owner = 'api_ben' \gset
INSERT INTO pgbank.user_roles (username, role) VALUES ('api_banker', 'depositor');
-- a banker deposits and withdraws, with a reference; a depositor may not
SELECT d -> 'transfer' -> 'reference' AS reference, d -> 'account' -> 'balance' AS balance,
       d -> 'entry' -> 'amount' AS entry, (d -> 'transfer' ->> 'from_account_id')::bigint < 0 AS from_house
  FROM (SELECT pgbank.api_deposit(:'banker', format('{"account_id": %s, "amount": 500, "reference": "counter"}', :ann_account)::json, NULL) d) s;
SELECT (pgbank.api_withdraw(:'banker', format('{"account_id": %s, "amount": 50, "reference": "atm"}', :ann_account)::json, 'w-1') -> 'account' ->> 'balance') AS after_withdrawal;
SELECT pg_temp.err(format($q$SELECT pgbank.api_deposit(%L, '{"account_id": %s, "amount": 5, "reference": "x"}', NULL)$q$, :'ann', :ann_account));
SELECT pg_temp.err(format($q$SELECT pgbank.api_deposit(%L, '{"account_id": %s, "amount": 5}', NULL)$q$, :'banker', :ann_account));
SELECT pg_temp.err(format($q$SELECT pgbank.api_deposit(%L, '{"account_id": 0, "amount": 5, "reference": "x"}', NULL)$q$, :'banker'));
SELECT pg_temp.err(format($q$SELECT pgbank.api_withdraw(%L, '{"account_id": %s, "amount": 100000, "reference": "x"}', NULL)$q$, :'banker', :ann_account));
-- a transfer with a reference; its owner, the receiver and a banker see it
SELECT (pgbank.api_transfer(:'ann', format('{"from_account_id": %s, "to_account_id": %s, "amount": 25, "currency": "USD", "reference": "lunch"}', :ann_account, :ben_account)::json, 'lunch-1') -> 'transfer' ->> 'id') AS lunch \gset
SELECT t ->> 'reference' AS reference, (SELECT array_agg(k) FROM json_object_keys(t) k) AS keys
  FROM (SELECT pgbank.api_get_transfer(:'ben', :'lunch') t) s;
SELECT pgbank.api_get_transfer(:'banker', :'lunch') ->> 'amount' AS banker_sees;
SELECT pg_temp.err(format('SELECT pgbank.api_get_transfer(%L, %L)', :'norole', :'lunch'));
SELECT username FROM pgbank.create_user('api_gus', 'secret1', 'Gus', 'api_gus@example.com');
SELECT access_token AS gus FROM pgbank.login('api_gus', 'secret1') \gset
SELECT pg_temp.err(format('SELECT pgbank.api_get_transfer(%L, %L)', :'gus', :'lunch'));
SELECT pg_temp.err(format('SELECT pgbank.api_get_transfer(%L, %L)', :'gus', '999999'));
SELECT pg_temp.err(format('SELECT pgbank.api_transfer(%L, %L, NULL)', :'ann',
	format('{"from_account_id": %s, "to_account_id": %s, "amount": 1, "currency": "USD", "reference": ""}', :ann_account, :ben_account)));
-- by its idempotency key: the paying account's owner (or a banker) only
SELECT pgbank.api_transfer_by_key(:'ann', :'ann_account', 'lunch-1') ->> 'id' = :'lunch' AS by_key;
SELECT pg_temp.err(format('SELECT pgbank.api_transfer_by_key(%L, %L, %L)', :'ben', :'ann_account', 'lunch-1'));
SELECT pg_temp.err(format('SELECT pgbank.api_transfer_by_key(%L, %L, NULL)', :'ann', :'ann_account'));
SELECT pg_temp.err(format('SELECT pgbank.api_transfer_by_key(%L, %L, %L)', :'ann', 'x', 'lunch-1'));
-- the statement pages from its cursor
SELECT e -> 'entries' -> 0 ->> 'reference' AS newest, e -> 'entries' -> 0 ->> 'counterparty_account_id' = :'ben_account' AS counterparty,
       json_array_length(e -> 'entries') AS lines, e ->> 'next_before_entry_id' IS NOT NULL AS has_next
  FROM (SELECT pgbank.api_account_entries(:'ann', :'ann_account', '2', NULL) e) s;
SELECT pgbank.api_account_entries(:'ann', :'ann_account', '2', NULL) ->> 'next_before_entry_id' AS cursor \gset
SELECT json_array_length(e -> 'entries') AS lines, e -> 'entries' -> 0 ->> 'reference' AS next_newest
  FROM (SELECT pgbank.api_account_entries(:'ann', :'ann_account', '2', :'cursor') e) s;
SELECT e ->> 'next_before_entry_id' AS last_page_cursor
  FROM (SELECT pgbank.api_account_entries(:'ann', :'ann_account', '100', NULL) e) s;
SELECT pg_temp.err(format('SELECT pgbank.api_account_entries(%L, %L, NULL, NULL)', :'ben', :'ann_account'));
SELECT pg_temp.err(format('SELECT pgbank.api_account_entries(%L, %L, %L, NULL)', :'ann', :'ann_account', '0'));
SELECT pg_temp.err(format('SELECT pgbank.api_account_entries(%L, %L, NULL, %L)', :'ann', :'ann_account', 'x'));
SELECT json_array_length(pgbank.api_account_entries(:'banker', :'ann_account', NULL, NULL) -> 'entries') > 0 AS banker_reads;
SELECT t -> 'transfers' -> 0 ->> 'reference' AS newest_transfer
  FROM (SELECT pgbank.api_account_transfers(:'ben', :'ben_account', '1', NULL) t) s;
SELECT pg_temp.err(format('SELECT pgbank.api_account_transfers(%L, %L, NULL, %L)', :'ann', :'ann_account', '999999'));
-- the balance at a time
SELECT b ->> 'balance' AS balance_then FROM (SELECT pgbank.api_balance_at(:'ann', :'ann_account', '2000-01-01T00:00:00Z') b) s;
SELECT (b ->> 'balance')::bigint = (SELECT balance FROM pgbank.accounts WHERE id = :ann_account) AS now_is_balance
  FROM (SELECT pgbank.api_balance_at(:'ann', :'ann_account', to_char(clock_timestamp() AT TIME ZONE 'UTC' + interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) b) s;
SELECT pg_temp.err(format('SELECT pgbank.api_balance_at(%L, %L, %L)', :'ann', :'ann_account', 'yesterday'));
SELECT pg_temp.err(format('SELECT pgbank.api_balance_at(%L, %L, NULL)', :'ann', :'ann_account'));
-- holds: made by the payer, seen by both sides, posted or voided by the payer (or a banker)
SELECT pgbank.api_hold(:'ann', format('{"from_account_id": %s, "to_account_id": %s, "amount": 40, "currency": "USD", "timeout_seconds": 600, "reference": "deposit on keys"}', :ann_account, :ben_account)::json) ->> 'id' AS hold \gset
SELECT h ->> 'status' AS status, h ->> 'reference' AS reference, h ->> 'amount' AS amount
  FROM (SELECT pgbank.api_get_hold(:'ben', :'hold') h) s;
SELECT a ->> 'balance' AS balance, a ->> 'available' AS available FROM (SELECT pgbank.api_get_account(:'ann', :'ann_account') a) s;
SELECT pg_temp.err(format('SELECT pgbank.api_post_hold(%L, %L, NULL)', :'ben', :'hold'));
SELECT pg_temp.err(format('SELECT pgbank.api_get_hold(%L, %L)', :'gus', :'hold'));
SELECT p -> 'transfer' ->> 'amount' AS posted, p -> 'from_account' ->> 'available' AS available
  FROM (SELECT pgbank.api_post_hold(:'ann', :'hold', '{"amount": 15}') p) s;
SELECT pg_temp.err(format('SELECT pgbank.api_void_hold(%L, %L)', :'ann', :'hold'));
SELECT pgbank.api_hold(:'ann', format('{"from_account_id": %s, "to_account_id": %s, "amount": 5, "currency": "USD"}', :ann_account, :ben_account)::json) ->> 'id' AS hold2 \gset
SELECT pgbank.api_void_hold(:'banker', :'hold2') ->> 'status' AS voided_by_banker;
SELECT pg_temp.err(format('SELECT pgbank.api_hold(%L, %L)', :'ann', format('{"from_account_id": %s, "to_account_id": %s, "amount": 5}', :ann_account, :ben_account)));
SELECT pg_temp.err(format('SELECT pgbank.api_hold(%L, %L)', :'ben', format('{"from_account_id": %s, "to_account_id": %s, "amount": 5, "currency": "USD"}', :ann_account, :ben_account)));
SELECT pg_temp.err(format('SELECT pgbank.api_post_hold(%L, %L, %L)', :'ann', :'hold2', '{"amount": "all"}'));
-- batches: every paying account the caller's; an item's error names it
SELECT json_array_length(b -> 'transfers') AS transfers, b -> 'transfers' -> 1 ->> 'reference' AS second_reference
  FROM (SELECT pgbank.api_transfer_batch(:'ann', format('{"transfers": [{"from_account_id": %s, "to_account_id": %s, "amount": 1, "currency": "USD"}, {"from_account_id": %s, "to_account_id": %s, "amount": 2, "currency": "USD", "reference": "second"}]}', :ann_account, :ben_account, :ann_account, :ben_account)::json) b) s;
SELECT pg_temp.err(format('SELECT pgbank.api_transfer_batch(%L, %L)', :'ann', format('{"transfers": [{"from_account_id": %s, "to_account_id": %s, "amount": 1, "currency": "USD"}, {"from_account_id": %s, "to_account_id": %s, "amount": 1, "currency": "USD"}]}', :ann_account, :ben_account, :ben_account, :ann_account)));
SELECT pg_temp.err(format('SELECT pgbank.api_transfer_batch(%L, %L)', :'ann', format('{"transfers": [{"from_account_id": %s, "to_account_id": %s, "amount": 1, "currency": "USD"}, {"from_account_id": %s, "to_account_id": %s, "amount": 100000, "currency": "USD"}]}', :ann_account, :ben_account, :ann_account, :ben_account)));
SELECT pg_temp.err(format('SELECT pgbank.api_transfer_batch(%L, %L)', :'ann', format('{"transfers": [{"from_account_id": %s, "to_account_id": %s, "amount": 1}]}', :ann_account, :ben_account)));
SELECT pg_temp.err(format('SELECT pgbank.api_transfer_batch(%L, %L)', :'ann', '{"transfers": [{"from_account_id": 999999, "to_account_id": 1, "amount": 1, "currency": "USD"}]}'));
SELECT pg_temp.err(format('SELECT pgbank.api_transfer_batch(%L, %L)', :'ann', '{"transfers": []}'));
SELECT pg_temp.err(format('SELECT pgbank.api_transfer_batch(%L, %L)', :'ann', '{"transfers": {}}'));
SELECT pg_temp.err(format('SELECT pgbank.api_transfer_batch(%L, %L)', :'ann', '{"transfers": [1]}'));
-- a house account is no one's: not even a check that the API never reaches
SELECT pg_temp.err(format('SELECT pgbank.check_account_owner(pgbank.house_account(%L), pgbank.verify_access_token(%L), false)', 'USD', :'ann'));
-- many transfer requests in one transaction, each answered as alone
SELECT item, answer -> 'transfer' ->> 'amount' AS amount, answer -> 'to_account' AS to_account, sqlstate, message
  FROM pgbank.api_transfer_each(
	ARRAY[:'ann', :'ann', :'ben', NULL, :'ann', :'ann', :'ann'],
	ARRAY[format('{"from_account_id": %s, "to_account_id": %s, "amount": 3, "currency": "USD"}', :ann_account, :ben_account),
	      format('{"from_account_id": %s, "to_account_id": %s, "amount": 100000, "currency": "USD"}', :ann_account, :ben_account),
	      format('{"from_account_id": %s, "to_account_id": %s, "amount": 3, "currency": "USD"}', :ann_account, :ben_account),
	      '{}',
	      format('{"from_account_id": %s, "to_account_id": %s, "amount": 3}', :ann_account, :ben_account),
	      format('{"from_account_id": %s, "to_account_id": %s, "amount": 4, "currency": "USD"}', :ann_account, :ben_account),
	      format('{"from_account_id": %s, "to_account_id": %s, "amount": 4, "currency": "USD"}', :ann_account, :ben_account)]::json[],
	ARRAY[NULL, NULL, NULL, NULL, NULL, 'each-api', 'each-api'])
 ORDER BY item;
SELECT count(*) AS one_transfer_for_the_key FROM pgbank.transfers WHERE idempotency_key = 'each-api';
SELECT pg_temp.err($$SELECT pgbank.api_transfer_each(ARRAY['x'], ARRAY[]::json[], ARRAY[NULL])$$);
SELECT * FROM pgbank.check_ledger();

-- === browser sessions: tokens for the cookies, never in the answer ===
SELECT json_object_keys(s.answer) AS answer_keys
  FROM pgbank.api_session_login('{"username": "api_ann", "password": "secret1"}', 'regress', '127.0.0.1') s;
SELECT s.access_token AS access, s.refresh_token AS refresh,
       s.access_max_age BETWEEN 890 AND 900 AS access_lasts_15_minutes,
       s.refresh_max_age BETWEEN 86390 AND 86400 AS refresh_lasts_24_hours,
       s.answer->'user'->>'username' AS username
  FROM pgbank.api_session_login('{"username": "api_ann", "password": "secret1"}', 'regress', '127.0.0.1') s
\gset sess_
SELECT :'sess_username' AS signed_in, :'sess_access_lasts_15_minutes' AS access_15_minutes,
       :'sess_refresh_lasts_24_hours' AS refresh_24_hours;
-- a valid access token answers as it is: no new cookie
SELECT answer->'user'->>'username' AS username, access_token IS NULL AS no_new_access,
       refresh_token IS NULL AS no_new_refresh
  FROM pgbank.api_session(:'sess_access', :'sess_refresh');
-- once it has ended, the refresh token renews it
UPDATE pgbank.access_tokens SET revoked_at = now() WHERE username = 'api_ann' AND revoked_at IS NULL;
SELECT answer->'user'->>'username' AS username, access_token <> :'sess_access' AS renewed,
       access_max_age > 0 AS with_a_max_age, refresh_token IS NULL AS refresh_kept
  FROM pgbank.api_session(:'sess_access', :'sess_refresh');
SELECT pg_temp.err($$SELECT pgbank.api_session(NULL, NULL)$$);
SELECT pg_temp.err($$SELECT pgbank.api_session('garbage', NULL)$$);
SELECT left(pg_temp.err($$SELECT pgbank.api_session(NULL, 'garbage')$$), 5) AS garbage_refresh_token;  -- its message names the token format
SELECT pg_temp.err(format('SELECT pgbank.api_session(NULL, %L)', :'sess_access'));
SELECT pg_temp.err($$SELECT pgbank.api_session_login('{"username": "api_ann"}', NULL, NULL)$$);
SELECT pg_temp.err($$SELECT pgbank.api_session_login('{"username": "api_ann", "password": "wrong12"}', NULL, NULL)$$);
-- signing out blocks the session and clears both cookies
SELECT * FROM pgbank.api_session_logout(:'sess_refresh');
SELECT pg_temp.err(format('SELECT pgbank.api_session(NULL, %L)', :'sess_refresh'));
SELECT count(*) AS live_access_tokens FROM pgbank.access_tokens WHERE username = 'api_ann' AND revoked_at IS NULL
   AND session_id = (SELECT id FROM pgbank.sessions WHERE refresh_token = :'sess_refresh');
SELECT * FROM pgbank.api_session_logout(NULL);
SELECT pgbank.seconds_until(now() + interval '90 seconds') AS ninety, pgbank.seconds_until(now() - interval '1 day') AS zero;

-- === the game registry for clients that build forms ===
SELECT g->>'slug' AS slug, g->>'name' AS name, g->>'placement_field' AS placement_field,
       g->>'breakdown_field' AS breakdown_field,
       (g->'fields')::jsonb = (SELECT x.fields FROM pgbank.games x WHERE x.slug = g->>'slug') AS fields_are_the_registry
  FROM json_array_elements(pgbank.api_games()->'games') g;

-- === who may call what ===
CREATE ROLE regress_api_web;
SELECT pgbank.grant_api('regress_api_web');
SELECT p.oid::regprocedure AS callable_by_the_api_role
  FROM pg_proc p
 WHERE p.pronamespace = 'pgbank'::regnamespace AND p.proname LIKE 'api\_%'
   AND p.proname NOT LIKE 'api\_game\_%'  -- the games module's, tested there
   AND has_function_privilege('regress_api_web', p.oid, 'EXECUTE')
 ORDER BY 1::text;
SELECT p.oid::regprocedure AS api_function_not_security_definer
  FROM pg_proc p
 WHERE p.pronamespace = 'pgbank'::regnamespace AND p.proname LIKE 'api\_%'
   AND NOT p.prosecdef;
SELECT count(*) AS api_functions_without_pinned_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'pgbank'::regnamespace AND p.proname LIKE 'api\_%' AND p.prosecdef
   AND NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig);
-- The answers' helpers are SQL-standard bodies: bound when created, no
-- setting of their own, inlined into the caller's plan; a caller's
-- search_path that puts its own operator first changes nothing.
SELECT p.oid::regprocedure AS answer_helper, p.prosqlbody IS NOT NULL AS bound_at_creation,
       p.proconfig IS NULL AS no_settings
  FROM pg_proc p
 WHERE p.pronamespace = 'pgbank'::regnamespace AND p.proname LIKE '%\_json' AND NOT p.prosecdef
 ORDER BY 1::text;
EXPLAIN (VERBOSE, COSTS OFF) SELECT pgbank.account_json(a) FROM pgbank.accounts a;
CREATE SCHEMA regress_hostile;
CREATE FUNCTION regress_hostile.minus_zero(bigint, bigint) RETURNS bigint
	LANGUAGE sql IMMUTABLE RETURN 0;
CREATE OPERATOR regress_hostile.- (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_hostile.minus_zero);
SET search_path = regress_hostile, pg_catalog;
SELECT 7::bigint - 2::bigint AS hostile_minus;
SELECT (pgbank.account_json(ROW(1, 'x', 7, 'USD', '2026-01-01', 2)::pgbank.accounts)) ->> 'available' AS available;
RESET search_path;
DROP SCHEMA regress_hostile CASCADE;
SET ROLE regress_api_web;
SELECT json_object_keys(pgbank.api_create_user(
	'{"username": "api_eve", "password": "secret1", "full_name": "Eve", "email": "api_eve@example.com"}'));
SELECT pgbank.create_user('api_fay', 'secret1', 'Fay', 'api_fay@example.com');
SELECT pgbank.body_object('{}');
SELECT count(*) FROM pgbank.users;
RESET ROLE;
DROP OWNED BY regress_api_web;
DROP ROLE regress_api_web;
