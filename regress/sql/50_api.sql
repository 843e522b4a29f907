-- The HTTP API functions (sql/src/60_api.sql): the JSON they answer and
-- every input error, each naming its field. Authenticated functions are
-- checked here up to the token (no token: 28000); with real tokens they are
-- tested end to end by regress/t/30-http.sh.
\set VERBOSITY default
\pset null '(null)'
\set SHOW_CONTEXT never

-- === request bodies ===
SELECT pgbank.api_body(NULL) AS no_body, pgbank.api_body('{"a": 1}') AS object;
SELECT pgbank.api_body('[1, 2]');
SELECT pgbank.api_body('"text"');
SELECT pgbank.api_text('{"s": "x", "n": null}', 's') AS s,
       pgbank.api_text('{"s": "x", "n": null}', 'n') AS json_null,
       pgbank.api_text('{"s": "x"}', 'absent') AS absent;
SELECT pgbank.api_text('{"s": 5}', 's');
SELECT pgbank.api_text('{"s": {"a": 1}}', 's');
SELECT pgbank.api_bigint('{"n": 42}', 'n') AS n, pgbank.api_bigint('{"n": -7}', 'n') AS negative,
       pgbank.api_bigint('{"n": 1e3}', 'n') AS exponent, pgbank.api_bigint('{}', 'n') AS absent;
SELECT pgbank.api_bigint('{"amount": 1.5}', 'amount');
SELECT pgbank.api_bigint('{"amount": "10"}', 'amount');
SELECT pgbank.api_bigint('{"amount": 99999999999999999999}', 'amount');
SELECT pgbank.api_required('field', 1) AS one;
SELECT pgbank.api_required('currency', NULL::text);

-- === path and query values ===
SELECT pgbank.api_id('id', '1') AS one, pgbank.api_id('id', '123456789012345678') AS big,
       pgbank.api_id('page_size', '5', 5) AS five;
SELECT pgbank.api_id('id', NULL);
SELECT pgbank.api_id('id', '');
SELECT pgbank.api_id('id', 'abc');
SELECT pgbank.api_id('id', '0');
SELECT pgbank.api_id('id', '-3');
SELECT pgbank.api_id('id', '1 OR 1=1');
SELECT pgbank.api_id('id', '1234567890123456789');
SELECT pgbank.api_id('page_size', '4', 5);

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
SELECT pgbank.api_caller(NULL);

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
   AND p.proname NOT IN ('api_body', 'api_text', 'api_bigint', 'api_id', 'api_required',
                         'api_caller', 'api_not_yours')
   AND NOT p.prosecdef;
SELECT count(*) AS api_functions_without_pinned_search_path
  FROM pg_proc p
 WHERE p.pronamespace = 'pgbank'::regnamespace AND p.proname LIKE 'api\_%' AND p.prosecdef
   AND NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig);
SET ROLE regress_api_web;
SELECT json_object_keys(pgbank.api_create_user(
	'{"username": "api_eve", "password": "secret1", "full_name": "Eve", "email": "api_eve@example.com"}'));
SELECT pgbank.create_user('api_fay', 'secret1', 'Fay', 'api_fay@example.com');
SELECT pgbank.api_body('{}');
SELECT count(*) FROM pgbank.users;
RESET ROLE;
DROP OWNED BY regress_api_web;
DROP ROLE regress_api_web;
