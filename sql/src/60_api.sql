-- The bank's HTTP API (shim/routes.c calls these): one function per route,
-- taking the request's pieces as json and text and returning the JSON the
-- Go simple bank answers, field for field. Path and query values arrive as
-- text so that a malformed one fails here, naming its field (22023).
-- Authenticated functions take the bearer token first (NULL when the
-- request had none) and check it with pgbank.verify_access_token.

-- ----- shapes of the simple bank's answers -----

CREATE FUNCTION pgbank.user_json(u pgbank.users) RETURNS json
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT json_build_object('username', u.username, 'full_name', u.full_name,
		'email', u.email, 'password_changed_at', u.password_changed_at,
		'created_at', u.created_at)
$$;
COMMENT ON FUNCTION pgbank.user_json(pgbank.users) IS
	'A user as the simple bank answers it (no password hash)';

CREATE FUNCTION pgbank.account_json(a pgbank.accounts) RETURNS json
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT json_build_object('id', a.id, 'owner', a.owner, 'balance', a.balance,
		'currency', a.currency, 'created_at', a.created_at)
$$;
COMMENT ON FUNCTION pgbank.account_json(pgbank.accounts) IS
	'An account as the simple bank answers it';

CREATE FUNCTION pgbank.transfer_json(r pgbank.transfer_result) RETURNS json
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT json_build_object(
		'transfer', json_build_object('id', (r.transfer).id,
			'from_account_id', (r.transfer).from_account_id,
			'to_account_id', (r.transfer).to_account_id,
			'amount', (r.transfer).amount, 'created_at', (r.transfer).created_at),
		'from_account', pgbank.account_json(r.from_account),
		'to_account', pgbank.account_json(r.to_account),
		'from_entry', json_build_object('id', (r.from_entry).id,
			'account_id', (r.from_entry).account_id,
			'amount', (r.from_entry).amount, 'created_at', (r.from_entry).created_at),
		'to_entry', json_build_object('id', (r.to_entry).id,
			'account_id', (r.to_entry).account_id,
			'amount', (r.to_entry).amount, 'created_at', (r.to_entry).created_at))
$$;
COMMENT ON FUNCTION pgbank.transfer_json(pgbank.transfer_result) IS
	'A transfer result as the simple bank''s TransferTxResult';

-- ----- reading requests -----

-- The request body as an object; no body reads as {} so the first missing
-- field is the one reported.
CREATE FUNCTION pgbank.api_body(body json) RETURNS jsonb
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF body IS NULL THEN
		RETURN '{}'::jsonb;
	END IF;
	IF json_typeof(body) <> 'object' THEN
		PERFORM pgbank.invalid_input('body', 'must be a JSON object');
	END IF;
	RETURN body::jsonb;
END
$$;
COMMENT ON FUNCTION pgbank.api_body(json) IS
	'A request body as a JSON object ({} when absent); anything else is 22023';

CREATE FUNCTION pgbank.api_text(body jsonb, field text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF body -> field IS NULL OR jsonb_typeof(body -> field) = 'null' THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(body -> field) <> 'string' THEN
		PERFORM pgbank.invalid_input(field, 'must be a string');
	END IF;
	RETURN body ->> field;
END
$$;
COMMENT ON FUNCTION pgbank.api_text(jsonb, text) IS
	'A string field of a request body (NULL when absent); another type is 22023';

CREATE FUNCTION pgbank.api_bigint(body jsonb, field text) RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n numeric;
BEGIN
	IF body -> field IS NULL OR jsonb_typeof(body -> field) = 'null' THEN
		RETURN NULL;
	END IF;
	IF jsonb_typeof(body -> field) <> 'number' THEN
		PERFORM pgbank.invalid_input(field, 'must be an integer');
	END IF;
	n := (body ->> field)::numeric;
	IF n <> trunc(n) OR n NOT BETWEEN -9223372036854775808 AND 9223372036854775807 THEN
		PERFORM pgbank.invalid_input(field, 'must be an integer');
	END IF;
	RETURN n::bigint;
END
$$;
COMMENT ON FUNCTION pgbank.api_bigint(jsonb, text) IS
	'An integer field of a request body (NULL when absent); another type is 22023';

-- A path or query value that must be an integer of at least min_value.
CREATE FUNCTION pgbank.api_id(field text, value text, min_value bigint DEFAULT 1)
	RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF value IS NULL OR value = '' THEN
		PERFORM pgbank.invalid_input(field, 'is required');
	END IF;
	IF value !~ '^-?[0-9]{1,18}$' OR value::bigint < min_value THEN
		PERFORM pgbank.invalid_input(field, format('must be an integer of at least %s', min_value));
	END IF;
	RETURN value::bigint;
END
$$;
COMMENT ON FUNCTION pgbank.api_id(text, text, bigint) IS
	'A path or query value as an integer >= min_value; anything else is 22023 naming the field';

CREATE FUNCTION pgbank.api_required(field text, value anyelement) RETURNS anyelement
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF value IS NULL THEN
		PERFORM pgbank.invalid_input(field, 'is required');
	END IF;
	RETURN value;
END
$$;
COMMENT ON FUNCTION pgbank.api_required(text, anyelement) IS
	'The value, or 22023 naming the field when it is NULL';

-- The caller of an authenticated function: a missing token is 28000 here,
-- every other check is pgbank.verify_access_token's.
CREATE FUNCTION pgbank.api_caller(token text, OUT username text, OUT roles text[])
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF token IS NULL OR token = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_authorization_specification',
			MESSAGE = 'authorization header is not provided',
			HINT = 'Send "Authorization: Bearer <access token>".';
	END IF;
	SELECT c.username, c.roles INTO username, roles
	  FROM pgbank.verify_access_token(token) c;
	IF username IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_authorization_specification',
			MESSAGE = 'invalid access token';
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.api_caller(text) IS
	'Username and roles of an access token; 28000 when it is missing or invalid';

CREATE FUNCTION pgbank.api_not_yours() RETURNS void
	LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'PB010',
		MESSAGE = 'account doesn''t belong to the authenticated user';
END
$$;
COMMENT ON FUNCTION pgbank.api_not_yours() IS
	'Raise PB010: the account is not the caller''s (HTTP 401, as in the simple bank)';

-- ----- users and sessions -----

CREATE FUNCTION pgbank.api_create_user(body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb := pgbank.api_body(body);
BEGIN
	RETURN pgbank.user_json(pgbank.create_user(pgbank.api_text(b, 'username'),
		pgbank.api_text(b, 'password'), pgbank.api_text(b, 'full_name'),
		pgbank.api_text(b, 'email')));
END
$$;
COMMENT ON FUNCTION pgbank.api_create_user(json) IS
	'POST /users {username, password, full_name, email}: the new user (400 bad field, 403 duplicate)';

-- pgbank.login's answer is read by column name, so the user may come back as
-- a "user" column or as the username; the hash never leaves.
CREATE FUNCTION pgbank.api_login_user(body json, user_agent text, client_ip text)
	RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb := pgbank.api_body(body);
	username text := pgbank.api_required('username', pgbank.api_text(b, 'username'));
	password text := pgbank.api_required('password', pgbank.api_text(b, 'password'));
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

CREATE FUNCTION pgbank.api_renew_access(body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb := pgbank.api_body(body);
	refresh_token text := pgbank.api_required('refresh_token', pgbank.api_text(b, 'refresh_token'));
	r jsonb;
BEGIN
	SELECT to_jsonb(x) INTO r FROM pgbank.renew_access_token(refresh_token) x;
	RETURN json_build_object('access_token', r -> 'access_token',
		'access_token_expires_at', r -> 'access_token_expires_at');
END
$$;
COMMENT ON FUNCTION pgbank.api_renew_access(json) IS
	'POST /tokens/renew_access {refresh_token}: a new access token and its expiry';

CREATE FUNCTION pgbank.api_logout(body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb := pgbank.api_body(body);
	refresh_token text := pgbank.api_required('refresh_token', pgbank.api_text(b, 'refresh_token'));
BEGIN
	PERFORM pgbank.logout(refresh_token);
	RETURN '{}'::json;
END
$$;
COMMENT ON FUNCTION pgbank.api_logout(json) IS
	'POST /v1/logout {refresh_token}: block the session (its tokens stop working)';

-- The token is checked first, so a request without one is 401 whatever its
-- body; pgbank.update_user checks it again (and the caller's role).
CREATE FUNCTION pgbank.api_update_user(token text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.api_caller(token)).username;
	b jsonb := pgbank.api_body(body);
	username text := pgbank.api_required('username', pgbank.api_text(b, 'username'));
	full_name text := pgbank.api_text(b, 'full_name');
	email text := pgbank.api_text(b, 'email');
	password text := pgbank.api_text(b, 'password');
	u json;
BEGIN
	SELECT to_json(r) INTO u
	  FROM pgbank.update_user(token, username, full_name, email, password) r;
	RETURN json_build_object('user', u);
END
$$;
COMMENT ON FUNCTION pgbank.api_update_user(text, json) IS
	'PATCH /v1/update_user {username, full_name?, email?, password?}: {"user": ...} (oneself, or anyone for a banker)';

CREATE FUNCTION pgbank.api_verify_email(email_id text, secret_code text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	id bigint := pgbank.api_id('email_id', email_id);
	code text := pgbank.api_required('secret_code', nullif(secret_code, ''));
BEGIN
	RETURN pgbank.verify_email(id, code);
END
$$;
COMMENT ON FUNCTION pgbank.api_verify_email(text, text) IS
	'GET /v1/verify_email?email_id=&secret_code=: pgbank.verify_email''s answer, {"is_verified": true}';

-- ----- accounts and transfers -----

CREATE FUNCTION pgbank.api_create_account(token text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.api_caller(token)).username;
	b jsonb := pgbank.api_body(body);
BEGIN
	RETURN pgbank.account_json(pgbank.create_account(caller,
		pgbank.api_required('currency', pgbank.api_text(b, 'currency'))));
END
$$;
COMMENT ON FUNCTION pgbank.api_create_account(text, json) IS
	'POST /accounts {currency}: a new account of the token''s user (403 if one exists in that currency)';

CREATE FUNCTION pgbank.api_get_account(token text, id text) RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c record := pgbank.api_caller(token);
	a pgbank.accounts := pgbank.get_account(pgbank.api_id('id', id));
BEGIN
	IF a.owner <> c.username AND NOT 'banker' = ANY (c.roles) THEN
		PERFORM pgbank.api_not_yours();
	END IF;
	RETURN pgbank.account_json(a);
END
$$;
COMMENT ON FUNCTION pgbank.api_get_account(text, text) IS
	'GET /accounts/{id}: one account of the caller''s (a banker may read any; 401 PB010 otherwise)';

CREATE FUNCTION pgbank.api_list_accounts(token text, page_id text, page_size text)
	RETURNS json
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.api_caller(token)).username;
	pid bigint := pgbank.api_id('page_id', page_id, 1);
	psize bigint := pgbank.api_id('page_size', page_size, 5);
BEGIN
	IF pid > 2147483647 THEN
		PERFORM pgbank.invalid_input('page_id', 'is too large');
	END IF;
	IF psize > 10 THEN
		PERFORM pgbank.invalid_input('page_size', 'must be between 5 and 10');
	END IF;
	RETURN coalesce((SELECT json_agg(pgbank.account_json(a) ORDER BY a.id)
		FROM pgbank.list_accounts(caller, psize::int, pid::int) a), '[]'::json);
END
$$;
COMMENT ON FUNCTION pgbank.api_list_accounts(text, text, text) IS
	'GET /accounts?page_id=&page_size=: a page of the caller''s accounts (page_id >= 1, page_size 5..10)';

CREATE FUNCTION pgbank.api_transfer(token text, body json, idempotency_key text)
	RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.api_caller(token)).username;
	b jsonb := pgbank.api_body(body);
	from_id bigint := pgbank.api_required('from_account_id', pgbank.api_bigint(b, 'from_account_id'));
	to_id bigint := pgbank.api_required('to_account_id', pgbank.api_bigint(b, 'to_account_id'));
	amount bigint := pgbank.api_required('amount', pgbank.api_bigint(b, 'amount'));
	currency text := pgbank.api_required('currency', pgbank.api_text(b, 'currency'));
BEGIN
	IF from_id < 1 THEN
		PERFORM pgbank.invalid_input('from_account_id', 'must be 1 or more');
	END IF;
	IF to_id < 1 THEN
		PERFORM pgbank.invalid_input('to_account_id', 'must be 1 or more');
	END IF;
	IF (pgbank.get_account(from_id)).owner <> caller THEN
		PERFORM pgbank.api_not_yours();
	END IF;
	RETURN pgbank.transfer_json(pgbank.transfer(from_id, to_id, amount, currency,
		idempotency_key));
END
$$;
COMMENT ON FUNCTION pgbank.api_transfer(text, json, text) IS
	'POST /transfers {from_account_id, to_account_id, amount, currency} (Idempotency-Key header): the TransferTxResult';
