-- The API: one function per HTTP route (shim/routes.c), the bank's and the
-- games', each SECURITY DEFINER with a pinned search_path and granted to
-- the API role (90_grants.sql). Each is the same thin shape: the caller
-- and the role the route needs (pgbank.caller), the request's pieces read
-- by 00_common.sql's parsers, the core function of the concern, and its
-- answer as JSON (the Go simple bank's, field for field). Authenticated
-- functions take the bearer token first (NULL when the request had none).

-- An account is its owner's; where banker_may, a banker's too.
CREATE OR REPLACE FUNCTION pgbank.check_account_owner(a pgbank.accounts, claims pgbank.token_claims,
	banker_may boolean) RETURNS void
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	-- IS DISTINCT FROM: a house account has no owner, and is no one's
	IF a.owner IS DISTINCT FROM claims.username AND NOT (banker_may AND pgbank.caller_has_role(claims, 'banker')) THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('account_not_owned'),
			MESSAGE = 'account doesn''t belong to the authenticated user';
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.check_account_owner(pgbank.accounts, pgbank.token_claims, boolean) IS
	'Raise account_not_owned unless the account is the caller''s (or, where banker_may, the caller is a banker)';

-- ----- users and sessions -----

CREATE OR REPLACE FUNCTION pgbank.api_create_user(body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb := pgbank.body_object(body);
BEGIN
	RETURN pgbank.user_json(pgbank.create_user(pgbank.body_text(b, 'username'),
		pgbank.body_text(b, 'password'), pgbank.body_text(b, 'full_name'),
		pgbank.body_text(b, 'email')));
END
$$;
COMMENT ON FUNCTION pgbank.api_create_user(json) IS
	'POST /users {username, password, full_name, email}: the new user';

-- pgbank.login's answer is read by column name, so the user may come back as
-- a "user" column or as the username; the hash never leaves.
CREATE OR REPLACE FUNCTION pgbank.api_login_user(body json, user_agent text, client_ip text)
	RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb := pgbank.body_object(body);
	username text := pgbank.required('username', pgbank.body_text(b, 'username'));
	password text := pgbank.required('password', pgbank.body_text(b, 'password'));
	l jsonb;
	u pgbank.users;
BEGIN
	SELECT to_jsonb(r) INTO l
	  FROM pgbank.login(username, password, user_agent, client_ip::inet) r;
	SELECT * INTO u FROM pgbank.users x
	 WHERE x.username = coalesce(l -> 'user' ->> 'username', l ->> 'username');
	RETURN json_build_object('session_id', l -> 'session_id',
		'access_token', l -> 'access_token',
		'access_token_expires_at', l -> 'access_token_expires_at',
		'refresh_token', l -> 'refresh_token',
		'refresh_token_expires_at', l -> 'refresh_token_expires_at',
		'user', pgbank.user_json(u));
END
$$;
COMMENT ON FUNCTION pgbank.api_login_user(json, text, text) IS
	'POST /users/login {username, password}: session_id, access and refresh tokens with expiries, user';

CREATE OR REPLACE FUNCTION pgbank.api_renew_access(body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb := pgbank.body_object(body);
	refresh_token text := pgbank.required('refresh_token', pgbank.body_text(b, 'refresh_token'));
	r jsonb;
BEGIN
	SELECT to_jsonb(x) INTO r FROM pgbank.renew_access_token(refresh_token) x;
	RETURN json_build_object('access_token', r -> 'access_token',
		'access_token_expires_at', r -> 'access_token_expires_at');
END
$$;
COMMENT ON FUNCTION pgbank.api_renew_access(json) IS
	'POST /tokens/renew_access {refresh_token}: a new access token and its expiry';

CREATE OR REPLACE FUNCTION pgbank.api_logout(body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb := pgbank.body_object(body);
	refresh_token text := pgbank.required('refresh_token', pgbank.body_text(b, 'refresh_token'));
BEGIN
	PERFORM pgbank.logout(refresh_token);
	RETURN '{}'::json;
END
$$;
COMMENT ON FUNCTION pgbank.api_logout(json) IS
	'POST /v1/logout {refresh_token}: block the session (its tokens stop working)';

-- ----- browser sessions (docs/web.md) -----
-- The web app's session is carried by two cookies the shim sets from the
-- answers of these functions (shim/cookies.c): the access token and the
-- refresh token, each with the seconds it stays valid (its Max-Age). Each
-- returns (answer, access_token, access_max_age, refresh_token,
-- refresh_max_age): a NULL token leaves its cookie as it is, '' clears it.
-- The tokens are never in the answer, which the page's scripts read.

-- Seconds from now until an expiry, at least 0 (a cookie's Max-Age).
CREATE OR REPLACE FUNCTION pgbank.seconds_until(expires_at timestamptz) RETURNS integer
	LANGUAGE sql STABLE STRICT
	RETURN greatest(0, floor(extract(epoch FROM expires_at - now())))::integer;
COMMENT ON FUNCTION pgbank.seconds_until(timestamptz) IS
	'Whole seconds from now until a time, 0 once it has passed';

-- What the page learns of its session: the user and when it ends.
CREATE OR REPLACE FUNCTION pgbank.session_json(username text, access_expires_at timestamptz,
	refresh_expires_at timestamptz) RETURNS json
	LANGUAGE sql STABLE
	RETURN (SELECT json_build_object('user', pgbank.user_json(u),
			'access_token_expires_at', access_expires_at,
			'refresh_token_expires_at', refresh_expires_at)
		  FROM pgbank.users u WHERE u.username = session_json.username);
COMMENT ON FUNCTION pgbank.session_json(text, timestamptz, timestamptz) IS
	'The answer of the session routes: the user and the expiries of the session''s tokens';

CREATE OR REPLACE FUNCTION pgbank.api_session_login(body json, user_agent text, client_ip text,
	OUT answer json, OUT access_token text, OUT access_max_age integer,
	OUT refresh_token text, OUT refresh_max_age integer)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb := pgbank.body_object(body);
	l pgbank.login_result;
BEGIN
	l := pgbank.login(pgbank.required('username', pgbank.body_text(b, 'username')),
		pgbank.required('password', pgbank.body_text(b, 'password')), user_agent, client_ip::inet);
	answer := pgbank.session_json((l."user").username, l.access_token_expires_at,
		l.refresh_token_expires_at);
	access_token := l.access_token;
	access_max_age := pgbank.seconds_until(l.access_token_expires_at);
	refresh_token := l.refresh_token;
	refresh_max_age := pgbank.seconds_until(l.refresh_token_expires_at);
END
$$;
COMMENT ON FUNCTION pgbank.api_session_login(json, text, text) IS
	'POST /v1/session {username, password}: sign in (pgbank.login); the tokens go to the session cookies';

-- A valid access cookie answers as it is; else the refresh cookie renews
-- it (pgbank.renew_access_token), so a page stays signed in as long as the
-- refresh token lasts. Neither: 28000.
CREATE OR REPLACE FUNCTION pgbank.api_session(access text, refresh text,
	OUT answer json, OUT access_token text, OUT access_max_age integer,
	OUT refresh_token text, OUT refresh_max_age integer)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims;
	s pgbank.sessions;
	r pgbank.renew_result;
BEGIN
	IF access IS NOT NULL THEN
		BEGIN
			claims := pgbank.verify_access_token(access);
		EXCEPTION WHEN invalid_authorization_specification THEN
			claims := NULL;		-- expired or revoked: renew below
		END;
	END IF;
	IF claims.username IS NOT NULL THEN
		SELECT * INTO STRICT s FROM pgbank.sessions x
		 WHERE x.id = (SELECT t.session_id FROM pgbank.access_tokens t WHERE t.token_id = claims.token_id);
		answer := pgbank.session_json(claims.username, claims.expires_at, s.expires_at);
		RETURN;
	END IF;
	IF refresh IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_authorization_specification',
			MESSAGE = 'not signed in',
			HINT = 'POST /v1/session {username, password} signs in.';
	END IF;
	r := pgbank.renew_access_token(refresh);
	s := pgbank.session_of(refresh, false);
	answer := pgbank.session_json(s.username, r.access_token_expires_at, s.expires_at);
	access_token := r.access_token;
	access_max_age := pgbank.seconds_until(r.access_token_expires_at);
END
$$;
COMMENT ON FUNCTION pgbank.api_session(text, text) IS
	'GET /v1/session: the signed-in user, renewing the access cookie from the refresh cookie when it has expired';

-- Signing out blocks the session (pgbank.logout revokes its access tokens)
-- and clears both cookies; without a refresh cookie there is nothing to
-- revoke, and the cookies are cleared all the same.
CREATE OR REPLACE FUNCTION pgbank.api_session_logout(refresh text,
	OUT answer json, OUT access_token text, OUT access_max_age integer,
	OUT refresh_token text, OUT refresh_max_age integer)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF refresh IS NOT NULL THEN
		PERFORM pgbank.logout(refresh);
	END IF;
	answer := json_build_object('revoked', refresh IS NOT NULL);
	access_token := '';
	access_max_age := 0;
	refresh_token := '';
	refresh_max_age := 0;
END
$$;
COMMENT ON FUNCTION pgbank.api_session_logout(text) IS
	'DELETE /v1/session: sign out (pgbank.logout of the refresh cookie''s session) and clear the session cookies';

-- The caller comes first, so a request without a token is refused whatever its
-- body; who may change whom is pgbank.check_user_change's.
CREATE OR REPLACE FUNCTION pgbank.api_update_user(token text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor', 'banker', 'admin');
	b jsonb := pgbank.body_object(body);
BEGIN
	RETURN json_build_object('user', to_json(pgbank.change_user(claims,
		pgbank.required('username', pgbank.body_text(b, 'username')),
		pgbank.body_text(b, 'full_name'), pgbank.body_text(b, 'email'),
		pgbank.body_text(b, 'password'))));
END
$$;
COMMENT ON FUNCTION pgbank.api_update_user(text, json) IS
	'PATCH /v1/update_user {username, full_name?, email?, password?}: {"user": ...}';

CREATE OR REPLACE FUNCTION pgbank.api_verify_email(email_id text, secret_code text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.verify_email(pgbank.param_id('email_id', email_id),
		pgbank.required('secret_code', nullif(secret_code, '')));
END
$$;
COMMENT ON FUNCTION pgbank.api_verify_email(text, text) IS
	'GET /v1/verify_email?email_id=&secret_code=: pgbank.verify_email''s answer, {"is_verified": true}';

-- ----- accounts and transfers -----

CREATE OR REPLACE FUNCTION pgbank.api_create_account(token text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor');
	b jsonb := pgbank.body_object(body);
	a pgbank.accounts;
BEGIN
	a := pgbank.create_account(claims.username,
		pgbank.required('currency', pgbank.body_text(b, 'currency')));
	RETURN pgbank.account_json(a);
END
$$;
COMMENT ON FUNCTION pgbank.api_create_account(text, json) IS
	'POST /accounts {currency}: a new account of the caller (one per currency)';

CREATE OR REPLACE FUNCTION pgbank.api_get_account(token text, id text) RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor', 'banker');
	a pgbank.accounts := pgbank.get_account(pgbank.param_id('id', id));
BEGIN
	PERFORM pgbank.check_account_owner(a, claims, true);
	RETURN pgbank.account_json(a);
END
$$;
COMMENT ON FUNCTION pgbank.api_get_account(text, text) IS
	'GET /accounts/{id}: one account of the caller''s (a banker may read any)';

CREATE OR REPLACE FUNCTION pgbank.api_list_accounts(token text, page_id text, page_size text)
	RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor');
BEGIN
	RETURN coalesce((SELECT json_agg(pgbank.account_json(a) ORDER BY a.id)
		FROM pgbank.list_accounts(claims.username, pgbank.param_int('page_size', page_size),
			pgbank.param_int('page_id', page_id)) a), '[]'::json);
END
$$;
COMMENT ON FUNCTION pgbank.api_list_accounts(text, text, text) IS
	'GET /accounts?page_id=&page_size=: a page of the caller''s accounts';

-- What a POST /transfers request asks, read and checked as far as it can
-- be before the money moves: the caller (a depositor) owns the paying
-- account. The one reading of a transfer request, alone or coalesced.
CREATE OR REPLACE FUNCTION pgbank.transfer_request(token text, body json,
	OUT from_id bigint, OUT to_id bigint, OUT amount bigint, OUT currency text, OUT reference text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor');
	b jsonb := pgbank.body_object(body);
BEGIN
	from_id := pgbank.required('from_account_id', pgbank.body_bigint(b, 'from_account_id'));
	to_id := pgbank.required('to_account_id', pgbank.body_bigint(b, 'to_account_id'));
	amount := pgbank.required('amount', pgbank.body_bigint(b, 'amount'));
	currency := pgbank.required('currency', pgbank.body_text(b, 'currency'));
	IF from_id < 1 THEN
		PERFORM pgbank.invalid_input('from_account_id', 'must be 1 or more');
	END IF;
	IF to_id < 1 THEN
		PERFORM pgbank.invalid_input('to_account_id', 'must be 1 or more');
	END IF;
	PERFORM pgbank.check_account_owner(pgbank.get_account(from_id), claims, false);
	reference := pgbank.body_text(b, 'reference');
END
$$;
COMMENT ON FUNCTION pgbank.transfer_request(text, json) IS
	'A POST /transfers request read and checked (caller, fields, ownership of the paying account), for api_transfer and api_transfer_each';

CREATE OR REPLACE FUNCTION pgbank.api_transfer(token text, body json, idempotency_key text)
	RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r record := pgbank.transfer_request(token, body);
	result pgbank.transfer_result := pgbank.transfer(r.from_id, r.to_id, r.amount, r.currency,
		idempotency_key, r.reference);
BEGIN
	RETURN pgbank.transfer_json(result);
END
$$;
COMMENT ON FUNCTION pgbank.api_transfer(text, json, text) IS
	'POST /transfers {from_account_id, to_account_id, amount, currency, reference?} (Idempotency-Key header): the TransferTxResult';

-- ----- the ledger: deposits, withdrawals, statements, holds, batches -----

-- An id read from a body: required and positive, as a path id is.
CREATE OR REPLACE FUNCTION pgbank.body_id(body jsonb, field text) RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id bigint := pgbank.required(field, pgbank.body_bigint(body, field));
BEGIN
	IF id < 1 THEN
		PERFORM pgbank.invalid_input(field, 'must be 1 or more');
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION pgbank.body_id(jsonb, text) IS
	'An account id of a request body: required, 1 or more; 22023 naming the field otherwise';

-- A banker moves money in or out; the answer shows the account in full and
-- of the house account only its id and currency.
CREATE OR REPLACE FUNCTION pgbank.house_move_json(r pgbank.transfer_result, deposit boolean) RETURNS json
	LANGUAGE sql STABLE
	RETURN json_build_object('transfer', pgbank.transfer_row_json(r.transfer),
		'account', pgbank.account_json(CASE WHEN deposit THEN r.to_account ELSE r.from_account END),
		'entry', json_build_object('id', (CASE WHEN deposit THEN r.to_entry ELSE r.from_entry END).id,
			'amount', (CASE WHEN deposit THEN r.to_entry ELSE r.from_entry END).amount,
			'balance_after', (CASE WHEN deposit THEN r.to_entry ELSE r.from_entry END).balance_after,
			'created_at', (CASE WHEN deposit THEN r.to_entry ELSE r.from_entry END).created_at));
COMMENT ON FUNCTION pgbank.house_move_json(pgbank.transfer_result, boolean) IS
	'A deposit or withdrawal as the API answers it: the transfer, the customer''s account and entry';

-- A banker's deposit or withdrawal request: {account_id, amount, reference}.
CREATE OR REPLACE FUNCTION pgbank.house_move(token text, body json, idempotency_key text, deposit boolean)
	RETURNS json
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'banker');
	b jsonb := pgbank.body_object(body);
	account_id bigint := pgbank.body_id(b, 'account_id');
	amount bigint := pgbank.required('amount', pgbank.body_bigint(b, 'amount'));
	reference text := pgbank.required('reference', pgbank.body_text(b, 'reference'));
	moved pgbank.transfer_result;
BEGIN
	IF deposit THEN
		moved := pgbank.deposit(account_id, amount, reference, idempotency_key);
	ELSE
		moved := pgbank.withdraw(account_id, amount, reference, idempotency_key);
	END IF;
	RETURN pgbank.house_move_json(moved, deposit);
END
$$;
COMMENT ON FUNCTION pgbank.house_move(text, json, text, boolean) IS
	'A banker''s deposit (or withdrawal) request read, made and answered: api_deposit and api_withdraw';

CREATE OR REPLACE FUNCTION pgbank.api_deposit(token text, body json, idempotency_key text) RETURNS json
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT pgbank.house_move(token, body, idempotency_key, true)
$$;
COMMENT ON FUNCTION pgbank.api_deposit(text, json, text) IS
	'POST /deposits {account_id, amount, reference} (banker; Idempotency-Key header): money in from the house account';

CREATE OR REPLACE FUNCTION pgbank.api_withdraw(token text, body json, idempotency_key text) RETURNS json
	LANGUAGE sql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT pgbank.house_move(token, body, idempotency_key, false)
$$;
COMMENT ON FUNCTION pgbank.api_withdraw(text, json, text) IS
	'POST /withdrawals {account_id, amount, reference} (banker; Idempotency-Key header): money out to the house account';

-- A transfer is seen by the owner of either of its accounts, or a banker;
-- of the accounts it shows only their ids and currency.
CREATE OR REPLACE FUNCTION pgbank.check_transfer_visible(t pgbank.transfers, claims pgbank.token_claims)
	RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT pgbank.caller_has_role(claims, 'banker') AND NOT EXISTS (
		SELECT 1 FROM pgbank.accounts a
		 WHERE a.id IN (t.from_account_id, t.to_account_id) AND a.owner = claims.username) THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('account_not_owned'),
			MESSAGE = 'transfer doesn''t belong to the authenticated user';
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.check_transfer_visible(pgbank.transfers, pgbank.token_claims) IS
	'Raise account_not_owned unless the caller owns one of the transfer''s accounts or is a banker';

CREATE OR REPLACE FUNCTION pgbank.api_get_transfer(token text, id text) RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor', 'banker');
	t pgbank.transfers := pgbank.get_transfer(pgbank.param_id('id', id));
BEGIN
	PERFORM pgbank.check_transfer_visible(t, claims);
	RETURN pgbank.transfer_row_json(t);
END
$$;
COMMENT ON FUNCTION pgbank.api_get_transfer(text, text) IS
	'GET /transfers/{id}: a transfer to or from an account of the caller''s (a banker may read any)';

CREATE OR REPLACE FUNCTION pgbank.api_transfer_by_key(token text, id text, idempotency_key text)
	RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor', 'banker');
	a pgbank.accounts := pgbank.get_account(pgbank.param_id('id', id));
	t pgbank.transfers;
BEGIN
	PERFORM pgbank.check_account_owner(a, claims, true);
	t := pgbank.transfer_by_key(a.id,
		pgbank.required('idempotency_key', nullif(idempotency_key, '')));
	RETURN pgbank.transfer_row_json(t);
END
$$;
COMMENT ON FUNCTION pgbank.api_transfer_by_key(text, text, text) IS
	'GET /accounts/{id}/transfer_by_key?idempotency_key=: the transfer an account of the caller''s paid with that key';

-- The account of a statement or list: the caller's, or any for a banker.
CREATE OR REPLACE FUNCTION pgbank.readable_account(claims pgbank.token_claims, id text) RETURNS bigint
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a pgbank.accounts := pgbank.get_account(pgbank.param_id('id', id));
BEGIN
	PERFORM pgbank.check_account_owner(a, claims, true);
	RETURN a.id;
END
$$;
COMMENT ON FUNCTION pgbank.readable_account(pgbank.token_claims, text) IS
	'The id of a path''s account that the caller may read (its owner or a banker)';

CREATE OR REPLACE FUNCTION pgbank.api_account_entries(token text, id text, page_size text, before_entry_id text)
	RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor', 'banker');
	account bigint := pgbank.readable_account(claims, id);
	size bigint := coalesce(pgbank.param_int('page_size', page_size), 50);
	lines json;
	last bigint;
	n bigint;
BEGIN
	SELECT json_agg(json_build_object('entry_id', s.entry_id, 'transfer_id', s.transfer_id,
			'counterparty_account_id', s.counterparty_account_id, 'amount', s.amount,
			'balance_after', s.balance_after, 'reference', s.reference, 'created_at', s.created_at)
			ORDER BY s.created_at DESC, s.entry_id DESC),
	       min(s.entry_id) FILTER (WHERE s.last), count(*)
	  INTO lines, last, n
	  FROM (SELECT x.*, row_number() OVER () = size AS last
	          FROM pgbank.account_statement(account, size,
	               CASE WHEN before_entry_id IS NOT NULL AND before_entry_id <> ''
	                    THEN pgbank.param_id('before_entry_id', before_entry_id) END) x) s;
	RETURN json_build_object('entries', coalesce(lines, '[]'::json), 'next_before_entry_id', last);
END
$$;
COMMENT ON FUNCTION pgbank.api_account_entries(text, text, text, text) IS
	'GET /accounts/{id}/entries?page_size=&before_entry_id=: a page of the statement, newest first, and the cursor of the next page (null at the end)';

CREATE OR REPLACE FUNCTION pgbank.api_account_transfers(token text, id text, page_size text,
	before_transfer_id text)
	RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor', 'banker');
	account bigint := pgbank.readable_account(claims, id);
	size bigint := coalesce(pgbank.param_int('page_size', page_size), 50);
	list json;
	last bigint;
BEGIN
	SELECT json_agg(pgbank.transfer_row_json(s.x) ORDER BY s.o), max((s.x).id) FILTER (WHERE s.o = size)
	  INTO list, last
	  FROM (SELECT x, row_number() OVER () AS o
	          FROM pgbank.account_transfers(account, size,
	               CASE WHEN before_transfer_id IS NOT NULL AND before_transfer_id <> ''
	                    THEN pgbank.param_id('before_transfer_id', before_transfer_id) END) x) s;
	RETURN json_build_object('transfers', coalesce(list, '[]'::json), 'next_before_transfer_id', last);
END
$$;
COMMENT ON FUNCTION pgbank.api_account_transfers(text, text, text, text) IS
	'GET /accounts/{id}/transfers?page_size=&before_transfer_id=: a page of the account''s transfers, newest first, and the cursor of the next page (null at the end)';

CREATE OR REPLACE FUNCTION pgbank.api_balance_at(token text, id text, at text) RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor', 'banker');
	account bigint := pgbank.readable_account(claims, id);
	t timestamptz := pgbank.required('at', pgbank.param_timestamp('at', at));
BEGIN
	RETURN json_build_object('account_id', account, 'at', t, 'balance', pgbank.balance_at(account, t));
END
$$;
COMMENT ON FUNCTION pgbank.api_balance_at(text, text, text) IS
	'GET /accounts/{id}/balance?at=: the account''s posted balance at a time';

-- A hold is the paying account's: its owner makes, posts and voids it (a
-- banker may post or void any); the receiving owner may read it.
CREATE OR REPLACE FUNCTION pgbank.api_hold(token text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor');
	b jsonb := pgbank.body_object(body);
	from_id bigint := pgbank.body_id(b, 'from_account_id');
	to_id bigint := pgbank.body_id(b, 'to_account_id');
BEGIN
	PERFORM pgbank.check_account_owner(pgbank.get_account(from_id), claims, false);
	RETURN pgbank.hold_json(pgbank.hold(from_id, to_id,
		pgbank.required('amount', pgbank.body_bigint(b, 'amount')),
		pgbank.required('currency', pgbank.body_text(b, 'currency')),
		coalesce(pgbank.body_bigint(b, 'timeout_seconds'), 3600),
		pgbank.body_text(b, 'reference')));
END
$$;
COMMENT ON FUNCTION pgbank.api_hold(text, json) IS
	'POST /holds {from_account_id, to_account_id, amount, currency, timeout_seconds?, reference?}: a pending transfer reserving funds';

CREATE OR REPLACE FUNCTION pgbank.readable_hold(claims pgbank.token_claims, id text, payer_only boolean)
	RETURNS pgbank.holds
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	h pgbank.holds := pgbank.get_hold(pgbank.param_id('id', id));
BEGIN
	IF NOT pgbank.caller_has_role(claims, 'banker') AND NOT EXISTS (
		SELECT 1 FROM pgbank.accounts a
		 WHERE a.owner = claims.username
		   AND (a.id = h.from_account_id OR (NOT payer_only AND a.id = h.to_account_id))) THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('account_not_owned'),
			MESSAGE = 'hold doesn''t belong to the authenticated user';
	END IF;
	RETURN h;
END
$$;
COMMENT ON FUNCTION pgbank.readable_hold(pgbank.token_claims, text, boolean) IS
	'A path''s hold that the caller may see (an owner of either account, or a banker) or, with payer_only, resolve (the payer or a banker)';

CREATE OR REPLACE FUNCTION pgbank.api_get_hold(token text, id text) RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor', 'banker');
	h pgbank.holds := pgbank.readable_hold(claims, id, false);
BEGIN
	RETURN pgbank.hold_json(h);
END
$$;
COMMENT ON FUNCTION pgbank.api_get_hold(text, text) IS
	'GET /holds/{id}: a hold from or to an account of the caller''s (a banker may read any)';

CREATE OR REPLACE FUNCTION pgbank.api_post_hold(token text, id text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor', 'banker');
	h pgbank.holds := pgbank.readable_hold(claims, id, true);
	b jsonb := CASE WHEN body IS NULL THEN '{}'::jsonb ELSE pgbank.body_object(body) END;
	posted pgbank.transfer_result;
BEGIN
	posted := pgbank.post_hold(h.id, pgbank.body_bigint(b, 'amount'));
	RETURN pgbank.transfer_json(posted);
END
$$;
COMMENT ON FUNCTION pgbank.api_post_hold(text, text, json) IS
	'POST /holds/{id}/post {amount?}: move the held amount (or less) and release the hold; the TransferTxResult';

CREATE OR REPLACE FUNCTION pgbank.api_void_hold(token text, id text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor', 'banker');
	h pgbank.holds := pgbank.readable_hold(claims, id, true);
	voided pgbank.holds;
BEGIN
	voided := pgbank.void_hold(h.id);
	RETURN pgbank.hold_json(voided);
END
$$;
COMMENT ON FUNCTION pgbank.api_void_hold(text, text) IS
	'POST /holds/{id}/void: release a pending hold, moving nothing';

-- Many POST /transfers requests in one transaction, for a front end that
-- coalesces concurrent requests into one commit: each request (its token,
-- body and Idempotency-Key) answered as api_transfer alone would answer it,
-- with its JSON or its error. The money moves through pgbank.transfer_each,
-- which refuses items without a savepoint; a request's own token and body
-- are read in an exception block each (a subtransaction that writes
-- nothing), as they raise. Answer no request before the commit.
CREATE OR REPLACE FUNCTION pgbank.api_transfer_each(tokens text[], bodies json[], idempotency_keys text[])
	RETURNS TABLE (item integer, answer json, sqlstate text, message text, detail text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n int := coalesce(cardinality(tokens), 0);
	f bigint[] := array_fill(NULL::bigint, ARRAY[n]);
	t bigint[] := array_fill(NULL::bigint, ARRAY[n]);
	amounts bigint[] := array_fill(NULL::bigint, ARRAY[n]);
	currencies text[] := array_fill(NULL::text, ARRAY[n]);
	refs text[] := array_fill(NULL::text, ARRAY[n]);
	keys text[] := array_fill(NULL::text, ARRAY[n]);
	err_state text[] := array_fill(NULL::text, ARRAY[n]);
	err_message text[] := array_fill(NULL::text, ARRAY[n]);
	err_detail text[] := array_fill(NULL::text, ARRAY[n]);
	which int[] := '{}';
	r record;
	e_state text;
	e_message text;
	e_detail text;
BEGIN
	IF n NOT BETWEEN 1 AND 1000 OR cardinality(bodies) IS DISTINCT FROM n
	   OR cardinality(idempotency_keys) IS DISTINCT FROM n THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('batch_size'),
			MESSAGE = 'a batch takes 1 to 1000 requests, a token, body and key each',
			DETAIL = 'A batch has 1 to 1000 items, one element of each array per item.';
	END IF;
	-- One subtransaction reads every request; only when one of them raises
	-- does each get its own (a subtransaction apiece costs more than the rest).
	BEGIN
		FOR i IN 1 .. n LOOP
			r := pgbank.transfer_request(tokens[i], bodies[i]);
			f[i] := r.from_id; t[i] := r.to_id; amounts[i] := r.amount;
			currencies[i] := r.currency; refs[i] := r.reference; keys[i] := idempotency_keys[i];
		END LOOP;
		which := ARRAY(SELECT generate_series(1, n));
	EXCEPTION WHEN OTHERS THEN
		FOR i IN 1 .. n LOOP
			BEGIN
				r := pgbank.transfer_request(tokens[i], bodies[i]);
				f[i] := r.from_id; t[i] := r.to_id; amounts[i] := r.amount;
				currencies[i] := r.currency; refs[i] := r.reference; keys[i] := idempotency_keys[i];
				which := which || i;
			EXCEPTION WHEN OTHERS THEN
				GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
					e_detail = PG_EXCEPTION_DETAIL;
				err_state[i] := e_state;
				err_message[i] := e_message;
				err_detail[i] := nullif(e_detail, '');
			END;
		END LOOP;
	END;
	IF cardinality(which) > 0 THEN
		FOR r IN
			SELECT which[e.item + 1] AS i, e.result, e.sqlstate, e.message, e.detail
			  FROM pgbank.transfer_each(
			       ARRAY(SELECT f[w] FROM unnest(which) w), ARRAY(SELECT t[w] FROM unnest(which) w),
			       ARRAY(SELECT amounts[w] FROM unnest(which) w), ARRAY(SELECT currencies[w] FROM unnest(which) w),
			       ARRAY(SELECT keys[w] FROM unnest(which) w), ARRAY(SELECT refs[w] FROM unnest(which) w)) e
		LOOP
			IF r.sqlstate IS NULL THEN
				item := r.i - 1;
				answer := pgbank.transfer_json(r.result);
				sqlstate := NULL;
				message := NULL;
				detail := NULL;
				RETURN NEXT;
			ELSE
				err_state[r.i] := r.sqlstate;
				err_message[r.i] := r.message;
				err_detail[r.i] := r.detail;
			END IF;
		END LOOP;
	END IF;
	FOR i IN 1 .. n LOOP
		CONTINUE WHEN err_state[i] IS NULL;
		item := i - 1;
		answer := NULL;
		sqlstate := err_state[i];
		message := err_message[i];
		detail := err_detail[i];
		RETURN NEXT;
	END LOOP;
END
$$;
COMMENT ON FUNCTION pgbank.api_transfer_each(text[], json[], text[]) IS
	'Many POST /transfers requests (token, body, Idempotency-Key each) in one transaction: each item (from 0) answered as api_transfer would, its JSON or its error (for the shim''s coalescing)';

-- Every paying account of a batch is the caller's; an item that is not, or
-- is malformed, is named by its index as the batch's own errors are.
CREATE OR REPLACE FUNCTION pgbank.api_transfer_batch(token text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.caller(token, 'depositor');
	b jsonb := pgbank.body_object(body);
	items jsonb := b -> 'transfers';
	item jsonb;
	i int := 0;
	f bigint[] := '{}';
	t bigint[] := '{}';
	amounts bigint[] := '{}';
	currencies text[] := '{}';
	refs text[] := '{}';
	ids bigint[];
	owned bigint;
BEGIN
	IF items IS NULL OR jsonb_typeof(items) <> 'array' THEN
		PERFORM pgbank.invalid_input('transfers', 'must be an array of transfers');
	END IF;
	IF jsonb_array_length(items) NOT BETWEEN 1 AND 1000 THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('batch_size'),
			MESSAGE = format('a batch of %s items is out of range', jsonb_array_length(items)),
			DETAIL = 'A batch has 1 to 1000 items.';
	END IF;
	FOR item IN SELECT x FROM jsonb_array_elements(items) x LOOP
		BEGIN
			IF jsonb_typeof(item) <> 'object' THEN
				PERFORM pgbank.invalid_input('transfers', 'must be an array of objects');
			END IF;
			f := f || pgbank.body_id(item, 'from_account_id');
			t := t || pgbank.body_id(item, 'to_account_id');
			amounts := amounts || pgbank.required('amount', pgbank.body_bigint(item, 'amount'));
			currencies := currencies || pgbank.required('currency', pgbank.body_text(item, 'currency'));
			refs := refs || pgbank.body_text(item, 'reference');
		EXCEPTION WHEN invalid_parameter_value THEN
			DECLARE
				m text;
				d text;
				c text;
			BEGIN
				GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, c = COLUMN_NAME;
				RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
					MESSAGE = format('item %s: %s', i, m), DETAIL = d, COLUMN = c;
			END;
		END;
		i := i + 1;
	END LOOP;
	SELECT min(x.o - 1) INTO owned
	  FROM unnest(f) WITH ORDINALITY x (id, o)
	  LEFT JOIN pgbank.accounts a ON a.id = x.id
	 WHERE a.owner IS DISTINCT FROM claims.username;
	IF owned IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM pgbank.accounts a WHERE a.id = f[owned + 1]) THEN
			RAISE EXCEPTION USING ERRCODE = 'no_data_found',
				MESSAGE = format('item %s: account %s not found', owned, f[owned + 1]),
				DETAIL = 'Field: from_account_id.';
		END IF;
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('account_not_owned'),
			MESSAGE = format('item %s: account doesn''t belong to the authenticated user', owned);
	END IF;
	ids := pgbank.transfer_batch(f, t, amounts, currencies, refs);
	RETURN json_build_object('transfers', (SELECT json_agg(pgbank.transfer_row_json(x) ORDER BY o)
		FROM unnest(ids) WITH ORDINALITY u (id, o) JOIN pgbank.transfers x ON x.id = u.id));
END
$$;
COMMENT ON FUNCTION pgbank.api_transfer_batch(text, json) IS
	'POST /transfers/batch {transfers: [{from_account_id, to_account_id, amount, currency, reference?}, ...]}: up to 1000 transfers of the caller''s accounts, all or none';

-- ----- game results -----

CREATE OR REPLACE FUNCTION pgbank.api_game_create(token text, game text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.game_create((pgbank.caller(token, 'depositor')).username, game, body);
END
$$;
COMMENT ON FUNCTION pgbank.api_game_create(text, text, json) IS
	'POST /v1/games/{game}/results: store a result of the caller; returns the row';

CREATE OR REPLACE FUNCTION pgbank.api_game_get(token text, game text, id text) RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.game_get((pgbank.caller(token, 'depositor')).username, game,
		pgbank.param_id('id', id));
END
$$;
COMMENT ON FUNCTION pgbank.api_game_get(text, text, text) IS
	'GET /v1/games/{game}/results/{id}: one result of the caller (another user''s is not found)';

CREATE OR REPLACE FUNCTION pgbank.api_game_list(token text, game text, page_id text, page_size text,
	from_date text, to_date text) RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.game_list((pgbank.caller(token, 'depositor')).username, game,
		pgbank.param_int('page_id', page_id), pgbank.param_int('page_size', page_size),
		pgbank.param_date('from', from_date), pgbank.param_date('to', to_date));
END
$$;
COMMENT ON FUNCTION pgbank.api_game_list(text, text, text, text, text, text) IS
	'GET /v1/games/{game}/results?page_id=&page_size=&from=&to=: a page of the caller''s results, newest first';

CREATE OR REPLACE FUNCTION pgbank.api_game_update(token text, game text, id text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.game_update((pgbank.caller(token, 'depositor')).username, game,
		pgbank.param_id('id', id), body);
END
$$;
COMMENT ON FUNCTION pgbank.api_game_update(text, text, text, json) IS
	'PATCH /v1/games/{game}/results/{id}: change the given fields of a result of the caller';

CREATE OR REPLACE FUNCTION pgbank.api_game_delete(token text, game text, id text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.game_delete((pgbank.caller(token, 'depositor')).username, game,
		pgbank.param_id('id', id));
END
$$;
COMMENT ON FUNCTION pgbank.api_game_delete(text, text, text) IS
	'DELETE /v1/games/{game}/results/{id}: delete a result of the caller; returns the deleted row';

CREATE OR REPLACE FUNCTION pgbank.api_game_table(token text, game text) RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.game_table((pgbank.caller(token, 'depositor')).username, game);
END
$$;
COMMENT ON FUNCTION pgbank.api_game_table(text, text) IS
	'GET /v1/games/{game}/table: the caller''s results of a game ready to render, with a summary';

-- The registry of games, for clients that build their forms from it (the
-- web app): each game's slug, name, fields, placement and breakdown field.
CREATE OR REPLACE FUNCTION pgbank.api_games() RETURNS json
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT json_build_object('games', coalesce(json_agg(json_build_object('slug', g.slug,
		'name', g.name, 'fields', g.fields, 'placement_field', g.placement_field,
		'breakdown_field', g.breakdown_field) ORDER BY g.slug), '[]'))
	  FROM pgbank.games g
$$;
COMMENT ON FUNCTION pgbank.api_games() IS
	'GET /v1/games: the registered games and their fields, {"games": [...]}';
