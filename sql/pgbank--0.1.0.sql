-- pgbank install script, assembled from sql/src/*.sql in file-name order.
\echo Use "CREATE EXTENSION pgbank" to load this file. \quit

-- Currencies are data, so a new one needs no code: INSERT a row.
CREATE TABLE pgbank.currencies (
	code text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
	name text NOT NULL,
	minor_units smallint NOT NULL DEFAULT 2 CHECK (minor_units BETWEEN 0 AND 4)
);
INSERT INTO pgbank.currencies (code, name) VALUES
	('USD', 'United States dollar'),
	('EUR', 'Euro'),
	('CAD', 'Canadian dollar');

-- The columns of the Go simple bank's users table come first, in its order.
CREATE TABLE pgbank.users (
	username text PRIMARY KEY CHECK (username ~ '^[a-zA-Z0-9_]{3,100}$'),
	hashed_password text NOT NULL,
	full_name text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 100),
	email text NOT NULL UNIQUE CHECK (length(email) <= 200),
	is_email_verified boolean NOT NULL DEFAULT false,
	password_changed_at timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00Z',
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pgbank.accounts (
	id bigserial PRIMARY KEY,
	owner text NOT NULL REFERENCES pgbank.users (username) ON UPDATE CASCADE,
	balance bigint NOT NULL CHECK (balance >= 0),
	currency text NOT NULL REFERENCES pgbank.currencies (code),
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT accounts_owner_currency_key UNIQUE (owner, currency)
);

-- idempotency_key is global: clients should use random keys (UUIDs).
CREATE TABLE pgbank.transfers (
	id bigserial PRIMARY KEY,
	from_account_id bigint NOT NULL REFERENCES pgbank.accounts (id),
	to_account_id bigint NOT NULL REFERENCES pgbank.accounts (id),
	amount bigint NOT NULL CHECK (amount > 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	currency text NOT NULL REFERENCES pgbank.currencies (code),
	idempotency_key text UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
	CHECK (from_account_id <> to_account_id)
);
CREATE INDEX transfers_from_account_id_idx ON pgbank.transfers (from_account_id);
CREATE INDEX transfers_to_account_id_idx ON pgbank.transfers (to_account_id);

-- Every transfer writes two entries; balance_after is the account's balance
-- right after that entry, which lets an idempotent retry answer exactly
-- what the first call answered.
CREATE TABLE pgbank.entries (
	id bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES pgbank.accounts (id),
	amount bigint NOT NULL CHECK (amount <> 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	transfer_id bigint REFERENCES pgbank.transfers (id),
	balance_after bigint CHECK (balance_after >= 0)
);
CREATE INDEX entries_account_id_idx ON pgbank.entries (account_id);
CREATE INDEX entries_transfer_id_idx ON pgbank.entries (transfer_id);

-- What pgbank.transfer returns: simple bank's TransferTxResult.
CREATE TYPE pgbank.transfer_result AS (
	transfer pgbank.transfers,
	from_account pgbank.accounts,
	to_account pgbank.accounts,
	from_entry pgbank.entries,
	to_entry pgbank.entries
);
-- Passwords (extension/password.c): Argon2id through libsodium.
CREATE FUNCTION pgbank.hash_password(password text) RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_hash_password'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.hash_password(text) IS
	'Argon2id hash of a password in libsodium''s crypto_pwhash_str format';

CREATE FUNCTION pgbank.password_matches(hashed_password text, password text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgbank_password_matches'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.password_matches(text, text) IS
	'Whether a password matches an Argon2id hash (constant time)';

-- Input checks shared by the functions below; each names the bad field.
CREATE FUNCTION pgbank.invalid_input(field text, message text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
		MESSAGE = format('invalid %s: %s', field, message),
		DETAIL = format('Field: %s.', field), COLUMN = field;
END
$$;

-- The rules for a user's fields, each in one place: create_user, login and
-- update_user check with this. NULL is invalid; a caller to which NULL
-- means "keep the field" tests for it first.
CREATE FUNCTION pgbank.check_user_field(field text, value text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	CASE field
	WHEN 'username' THEN
		IF value IS NULL OR value !~ '^[a-zA-Z0-9_]{3,100}$' THEN
			PERFORM pgbank.invalid_input(field,
				'must be 3 to 100 letters, digits or underscores');
		END IF;
	WHEN 'password' THEN
		IF value IS NULL OR length(value) < 6 OR length(value) > 1024 THEN
			PERFORM pgbank.invalid_input(field, 'must be 6 to 1024 characters');
		END IF;
	WHEN 'full_name' THEN
		IF value IS NULL OR length(btrim(value)) = 0 OR length(value) > 100 THEN
			PERFORM pgbank.invalid_input(field, 'must be 1 to 100 characters');
		END IF;
	WHEN 'email' THEN
		IF value IS NULL OR length(value) > 200
		   OR value !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' THEN
			PERFORM pgbank.invalid_input(field, 'must be a valid email address');
		END IF;
	END CASE;
END
$$;
COMMENT ON FUNCTION pgbank.check_user_field(text, text) IS
	'Check a username, password, full_name or email against its rule; 22023 naming the field';

CREATE FUNCTION pgbank.create_user(username text, password text, full_name text, email text)
	RETURNS pgbank.users
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	u pgbank.users;
BEGIN
	PERFORM pgbank.check_user_field('username', username);
	PERFORM pgbank.check_user_field('password', password);
	PERFORM pgbank.check_user_field('full_name', full_name);
	PERFORM pgbank.check_user_field('email', email);
	BEGIN
		INSERT INTO pgbank.users (username, hashed_password, full_name, email)
		VALUES (username, pgbank.hash_password(password), full_name, email)
		RETURNING * INTO u;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION USING ERRCODE = 'unique_violation',
			MESSAGE = CASE WHEN SQLERRM ~ 'users_pkey'
				THEN format('username %s already exists', username)
				ELSE format('email %s already exists', email) END,
			COLUMN = CASE WHEN SQLERRM ~ 'users_pkey' THEN 'username' ELSE 'email' END;
	END;
	RETURN u;
END
$$;
COMMENT ON FUNCTION pgbank.create_user(text, text, text, text) IS
	'Create a user; the password is stored only as an Argon2id hash';

CREATE FUNCTION pgbank.create_account(owner text, currency text, balance bigint DEFAULT 0)
	RETURNS pgbank.accounts
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a pgbank.accounts;
BEGIN
	IF currency IS NULL OR NOT EXISTS (SELECT 1 FROM pgbank.currencies c WHERE c.code = currency) THEN
		PERFORM pgbank.invalid_input('currency', format('unsupported currency %s', coalesce(currency, 'NULL')));
	END IF;
	IF balance IS NULL OR balance < 0 THEN
		PERFORM pgbank.invalid_input('balance', 'must be zero or more');
	END IF;
	IF owner IS NULL OR NOT EXISTS (SELECT 1 FROM pgbank.users u WHERE u.username = owner) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('user %s does not exist', coalesce(owner, 'NULL')),
			COLUMN = 'owner';
	END IF;
	BEGIN
		INSERT INTO pgbank.accounts (owner, currency, balance)
		VALUES (owner, currency, balance)
		RETURNING * INTO a;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION USING ERRCODE = 'unique_violation',
			MESSAGE = format('user %s already has a %s account', owner, currency),
			COLUMN = 'currency';
	END;
	RETURN a;
END
$$;
COMMENT ON FUNCTION pgbank.create_account(text, text, bigint) IS
	'Open an account for a user in a currency (one per user and currency)';

CREATE FUNCTION pgbank.get_account(id bigint) RETURNS pgbank.accounts
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a pgbank.accounts;
BEGIN
	SELECT * INTO a FROM pgbank.accounts acc WHERE acc.id = get_account.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('account %s not found', coalesce(id::text, 'NULL'));
	END IF;
	RETURN a;
END
$$;
COMMENT ON FUNCTION pgbank.get_account(bigint) IS 'One account by id';

CREATE FUNCTION pgbank.list_accounts(owner text, page_size int, page_id int)
	RETURNS SETOF pgbank.accounts
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF page_id IS NULL OR page_id < 1 THEN
		PERFORM pgbank.invalid_input('page_id', 'must be 1 or more');
	END IF;
	IF page_size IS NULL OR page_size NOT BETWEEN 5 AND 10 THEN
		PERFORM pgbank.invalid_input('page_size', 'must be between 5 and 10');
	END IF;
	RETURN QUERY
		SELECT * FROM pgbank.accounts a WHERE a.owner = list_accounts.owner
		ORDER BY a.id LIMIT page_size OFFSET (page_id - 1)::bigint * page_size;
END
$$;
COMMENT ON FUNCTION pgbank.list_accounts(text, int, int) IS
	'A page of a user''s accounts, by id (page_id from 1, page_size 5 to 10)';

-- The transfer itself is C (extension/ledger.c): see its comments.
CREATE FUNCTION pgbank.transfer(from_account_id bigint, to_account_id bigint, amount bigint,
	currency text DEFAULT NULL, idempotency_key text DEFAULT NULL)
	RETURNS pgbank.transfer_result
	AS 'MODULE_PATHNAME', 'pgbank_transfer'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.transfer(bigint, bigint, bigint, text, text) IS
	'Move amount between two accounts of one currency: one transfer and two entries, atomically';
-- Tokens (extension/paseto.c, jwt.c, token.c): PASETO v4, JWT HS256 and
-- the token Maker. None is SECURITY DEFINER; 99_grants.sql revokes EXECUTE
-- from PUBLIC. Checking functions raise 28000 on every failure.

CREATE FUNCTION pgbank.paseto_v4_local_encrypt(payload text, key bytea,
		footer text DEFAULT '', implicit_assertion text DEFAULT '')
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_v4_local_encrypt'
	LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_v4_local_encrypt(text, bytea, text, text) IS
	'PASETO v4.local token of a payload under a 32-byte key, with a random nonce';

CREATE FUNCTION pgbank.paseto_v4_local_encrypt_nonce(payload bytea, key bytea,
		nonce bytea, footer text, implicit_assertion text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_v4_local_encrypt_nonce'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_v4_local_encrypt_nonce(bytea, bytea, bytea, text, text) IS
	'For tests only: PASETO v4.local with a given nonce (the official vectors); a reused nonce breaks v4.local';

CREATE FUNCTION pgbank.paseto_v4_local_decrypt(token text, key bytea,
		implicit_assertion text DEFAULT '')
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_v4_local_decrypt'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_v4_local_decrypt(text, bytea, text) IS
	'Payload of a PASETO v4.local token (its footer, if any, is authenticated); 28000 on any failure';

CREATE FUNCTION pgbank.paseto_v4_public_sign(payload text, secret_key bytea,
		footer text DEFAULT '', implicit_assertion text DEFAULT '')
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_v4_public_sign'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_v4_public_sign(text, bytea, text, text) IS
	'PASETO v4.public token: a payload signed with a 64-byte libsodium Ed25519 secret key';

CREATE FUNCTION pgbank.paseto_v4_public_verify(token text, public_key bytea,
		implicit_assertion text DEFAULT '')
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_v4_public_verify'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_v4_public_verify(text, bytea, text) IS
	'Payload of a PASETO v4.public token whose Ed25519 signature checks under a 32-byte public key; 28000 on any failure';

CREATE FUNCTION pgbank.paseto_footer(token text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_paseto_footer'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.paseto_footer(text) IS
	'The footer of a v4 token, unchecked (to choose a key); trust it only after decrypt or verify accepted the token';

CREATE FUNCTION pgbank.jwt_hs256_sign(claims json, key bytea)
	RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_jwt_hs256_sign'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.jwt_hs256_sign(json, bytea) IS
	'JWT of a claims object, HMAC-SHA256 signed (header {"alg":"HS256","typ":"JWT"}); key of 32 bytes or more';

CREATE FUNCTION pgbank.jwt_hs256_verify(token text, key bytea)
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

CREATE FUNCTION pgbank.token_issue(username text, roles text[], duration interval)
	RETURNS TABLE (token text, token_id uuid, issued_at timestamptz, expires_at timestamptz)
	AS 'MODULE_PATHNAME', 'pgbank_token_issue'
	LANGUAGE C VOLATILE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION pgbank.token_issue(text, text[], interval) IS
	'A new token for a user and roles, valid for duration, in pgbank.token_format under pgbank.token_key';

CREATE FUNCTION pgbank.token_verify(token text)
	RETURNS pgbank.token_claims
	AS 'MODULE_PATHNAME', 'pgbank_token_verify'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.token_verify(text) IS
	'Claims of a token made by token_issue, after checking format, key, integrity and expiry; 28000 on any failure';
-- Identity: roles, sessions, login with a throttle, renewal, logout, the
-- access-token check every authenticated function uses, and update_user.
-- Settings, the throttle's counters and the constant-time comparison are C
-- (extension/session.c); tokens themselves are 20_tokens.sql's. See
-- docs/identity.md.

-- === roles ===
-- A user holds any number of roles: depositor (own accounts), banker (reads
-- every account, updates any user), admin (grants and revokes roles).
CREATE TABLE pgbank.user_roles (
	username text NOT NULL
		REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,
	role text NOT NULL CHECK (role IN ('depositor', 'banker', 'admin')),
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (username, role)
);

-- Every new user is a depositor, however the row is inserted.
CREATE FUNCTION pgbank.user_roles_default() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO pgbank.user_roles (username, role) VALUES (NEW.username, 'depositor');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgbank.user_roles_default() IS
	'Trigger: a new user gets the depositor role';
CREATE TRIGGER users_default_role AFTER INSERT ON pgbank.users
	FOR EACH ROW EXECUTE FUNCTION pgbank.user_roles_default();

CREATE FUNCTION pgbank.roles_of(username text) RETURNS text[]
	LANGUAGE sql STABLE STRICT
	SET search_path = pg_catalog, pg_temp
	RETURN (SELECT coalesce(array_agg(r.role ORDER BY r.role), '{}')
			  FROM pgbank.user_roles r WHERE r.username = roles_of.username);
COMMENT ON FUNCTION pgbank.roles_of(text) IS
	'The roles a user holds, sorted (empty array if none)';

-- What the API functions use to enforce roles on verified claims.
CREATE FUNCTION pgbank.caller_has_role(claims pgbank.token_claims, role text) RETURNS boolean
	LANGUAGE sql IMMUTABLE
	RETURN coalesce(role = ANY ((claims).roles), false);
COMMENT ON FUNCTION pgbank.caller_has_role(pgbank.token_claims, text) IS
	'Whether verified token claims carry a role (false for NULL claims)';

CREATE FUNCTION pgbank.require_role(claims pgbank.token_claims, VARIADIC roles text[]) RETURNS void
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT coalesce((claims).roles && roles, false) THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('user %s does not have the role %s',
				coalesce((claims).username, 'NULL'), array_to_string(roles, ' or '));
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.require_role(pgbank.token_claims, text[]) IS
	'Raise 42501 unless the claims carry at least one of the roles';

-- The first admin: only a superuser can make one (then admins grant roles).
CREATE FUNCTION pgbank.make_admin(username text) RETURNS text[]
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = 'only a superuser can make an admin with make_admin',
			HINT = 'An admin can grant the role with pgbank.grant_role.';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pgbank.users u WHERE u.username = make_admin.username) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('user %s not found', username);
	END IF;
	INSERT INTO pgbank.user_roles (username, role) VALUES (username, 'admin')
		ON CONFLICT DO NOTHING;
	RETURN pgbank.roles_of(username);
END
$$;
COMMENT ON FUNCTION pgbank.make_admin(text) IS
	'Superuser only: give a user the admin role (to create the first admin)';

-- === sessions and issued access tokens ===
-- One row per login, keyed by the refresh token's id, as simple bank keeps
-- them.
CREATE TABLE pgbank.sessions (
	id uuid PRIMARY KEY,
	username text NOT NULL
		REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,
	refresh_token text NOT NULL,
	user_agent text CHECK (length(user_agent) <= 1024),
	client_ip inet,
	is_blocked boolean NOT NULL DEFAULT false,
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_username_idx ON pgbank.sessions (username);

-- Every access token login and renewal issue, so one can be revoked before
-- it expires. verify_access_token accepts only tokens listed here and not
-- revoked: one primary-key lookup. Rows are useless once expired
-- (purge_expired_sessions deletes them).
CREATE TABLE pgbank.access_tokens (
	token_id uuid PRIMARY KEY,
	username text NOT NULL
		REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,
	session_id uuid NOT NULL REFERENCES pgbank.sessions (id) ON DELETE CASCADE,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz
);
CREATE INDEX access_tokens_session_id_idx ON pgbank.access_tokens (session_id);
CREATE INDEX access_tokens_username_idx ON pgbank.access_tokens (username);

-- Blocking a session, however it is done, revokes its access tokens, so
-- verify_access_token need not look at the session.
CREATE FUNCTION pgbank.sessions_revoke_tokens() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE pgbank.access_tokens t SET revoked_at = now()
	 WHERE t.session_id = NEW.id AND t.revoked_at IS NULL;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgbank.sessions_revoke_tokens() IS
	'Trigger: a session that becomes blocked has its access tokens revoked';
CREATE TRIGGER sessions_blocked_revoke_tokens AFTER UPDATE OF is_blocked ON pgbank.sessions
	FOR EACH ROW WHEN (NEW.is_blocked AND NOT OLD.is_blocked)
	EXECUTE FUNCTION pgbank.sessions_revoke_tokens();

-- simple bank's userResponse: a user without its password hash.
CREATE TYPE pgbank.user_response AS (
	username text,
	full_name text,
	email text,
	password_changed_at timestamptz,
	created_at timestamptz
);
CREATE FUNCTION pgbank.to_user_response(u pgbank.users) RETURNS pgbank.user_response
	LANGUAGE sql IMMUTABLE
	RETURN ROW((u).username, (u).full_name, (u).email, (u).password_changed_at,
			   (u).created_at)::pgbank.user_response;
COMMENT ON FUNCTION pgbank.to_user_response(pgbank.users) IS
	'A user as the API shows it (simple bank''s userResponse, no password hash)';

-- to_json() of these gives simple bank's loginUserResponse and
-- renewAccessTokenResponse.
CREATE TYPE pgbank.login_result AS (
	session_id uuid,
	access_token text,
	access_token_expires_at timestamptz,
	refresh_token text,
	refresh_token_expires_at timestamptz,
	"user" pgbank.user_response
);
CREATE TYPE pgbank.renew_result AS (
	access_token text,
	access_token_expires_at timestamptz
);

-- Durations are GUCs of extension/session.c, in seconds, shown with units
-- ('1d'). As seconds, so that a day is 86400 s even across a DST change.
CREATE FUNCTION pgbank.setting_interval(name text) RETURNS interval
	LANGUAGE sql STABLE STRICT
	RETURN pg_catalog.make_interval(secs => pg_catalog.date_part('epoch',
		pg_catalog.current_setting(name)::interval));
COMMENT ON FUNCTION pgbank.setting_interval(text) IS
	'A duration setting (such as pgbank.access_token_duration) as an interval';

-- Issue an access token for a session and record it.
CREATE FUNCTION pgbank.issue_access_token(username text, roles text[], session_id uuid)
	RETURNS pgbank.renew_result
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t record;
BEGIN
	SELECT * INTO STRICT t FROM pgbank.token_issue(username, roles,
		pgbank.setting_interval('pgbank.access_token_duration'));
	INSERT INTO pgbank.access_tokens (token_id, username, session_id, expires_at)
	VALUES (t.token_id, username, session_id, t.expires_at);
	RETURN ROW(t.token, t.expires_at)::pgbank.renew_result;
END
$$;
COMMENT ON FUNCTION pgbank.issue_access_token(text, text[], uuid) IS
	'Issue and record an access token of a session (pgbank.access_token_duration)';

-- === the functions the HTTP shim calls ===

CREATE FUNCTION pgbank.verify_access_token(token text) RETURNS pgbank.token_claims
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims;
BEGIN
	IF token IS NULL OR token = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_authorization_specification',
			MESSAGE = 'missing access token';
	END IF;
	claims := pgbank.token_verify(token);
	PERFORM FROM pgbank.access_tokens t
	 WHERE t.token_id = claims.token_id AND t.username = claims.username
	   AND t.revoked_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_authorization_specification',
			MESSAGE = 'access token is revoked or unknown',
			DETAIL = 'Only access tokens from login or renewal count, until logout.';
	END IF;
	RETURN claims;
END
$$;
COMMENT ON FUNCTION pgbank.verify_access_token(text) IS
	'Claims of a valid access token that login or renewal issued and nobody revoked; 28000 otherwise';

CREATE FUNCTION pgbank.login(username text, password text, user_agent text DEFAULT NULL,
	client_ip inet DEFAULT NULL)
	RETURNS pgbank.login_result
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	u pgbank.users;
	roles text[];
	rt record;
	at pgbank.renew_result;
BEGIN
	PERFORM pgbank.check_user_field('username', username);
	PERFORM pgbank.check_user_field('password', password);
	IF length(user_agent) > 1024 THEN
		PERFORM pgbank.invalid_input('user_agent', 'must be at most 1024 characters');
	END IF;
	-- FOR SHARE: a concurrent password change waits for this login to commit
	-- and then ends its session too, or this login sees the new hash.
	SELECT * INTO u FROM pgbank.users x WHERE x.username = login.username FOR SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('user %s not found', username);
	END IF;
	-- Counted before the check, cleared on success: see extension/session.c.
	PERFORM pgbank.login_throttle_attempt(u.username);
	IF NOT pgbank.password_matches(u.hashed_password, password) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_password',
			MESSAGE = format('wrong password for user %s', u.username);
	END IF;
	PERFORM pgbank.login_throttle_clear(u.username);

	roles := pgbank.roles_of(u.username);
	SELECT * INTO STRICT rt FROM pgbank.token_issue(u.username, roles,
		pgbank.setting_interval('pgbank.refresh_token_duration'));
	INSERT INTO pgbank.sessions (id, username, refresh_token, user_agent, client_ip, expires_at)
	VALUES (rt.token_id, u.username, rt.token, user_agent, client_ip, rt.expires_at);
	at := pgbank.issue_access_token(u.username, roles, rt.token_id);
	RETURN ROW(rt.token_id, at.access_token, at.access_token_expires_at,
			   rt.token, rt.expires_at, pgbank.to_user_response(u))::pgbank.login_result;
END
$$;
COMMENT ON FUNCTION pgbank.login(text, text, text, inet) IS
	'Check a password and open a session: access and refresh tokens and the user. '
	'P0002 unknown user, 28P01 wrong password, PB015 too many failures';

-- The session of a refresh token, locked; every check renewal and logout
-- share. FOR SHARE suffices for renewal (a concurrent logout then waits, and
-- revokes the token renewal issued) and FOR UPDATE is logout's.
CREATE FUNCTION pgbank.session_of(refresh_token text, for_update boolean) RETURNS pgbank.sessions
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims;
	s pgbank.sessions;
BEGIN
	IF refresh_token IS NULL OR refresh_token = '' THEN
		PERFORM pgbank.invalid_input('refresh_token', 'is required');
	END IF;
	claims := pgbank.token_verify(refresh_token);
	IF for_update THEN
		SELECT * INTO s FROM pgbank.sessions x WHERE x.id = claims.token_id FOR UPDATE;
	ELSE
		SELECT * INTO s FROM pgbank.sessions x WHERE x.id = claims.token_id FOR SHARE;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = 'session not found';
	END IF;
	IF s.username <> claims.username THEN
		RAISE EXCEPTION USING ERRCODE = 'PB012',
			MESSAGE = 'session belongs to another user';
	END IF;
	IF NOT pgbank.secret_equal(s.refresh_token, refresh_token) THEN
		RAISE EXCEPTION USING ERRCODE = 'PB013',
			MESSAGE = 'refresh token does not match the session';
	END IF;
	RETURN s;
END
$$;
COMMENT ON FUNCTION pgbank.session_of(text, boolean) IS
	'The session of a verified refresh token, locked (P0002, PB012, PB013)';

CREATE FUNCTION pgbank.renew_access_token(refresh_token text) RETURNS pgbank.renew_result
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s pgbank.sessions;
BEGIN
	s := pgbank.session_of(refresh_token, false);
	IF s.is_blocked THEN
		RAISE EXCEPTION USING ERRCODE = 'PB011', MESSAGE = 'session is blocked';
	END IF;
	IF s.expires_at <= now() THEN
		RAISE EXCEPTION USING ERRCODE = 'PB014', MESSAGE = 'session has expired';
	END IF;
	-- Roles are read again, so grants and revocations reach the new token.
	RETURN pgbank.issue_access_token(s.username, pgbank.roles_of(s.username), s.id);
END
$$;
COMMENT ON FUNCTION pgbank.renew_access_token(text) IS
	'A new access token for a session''s refresh token. '
	'28000 bad token, P0002 no session, PB011 blocked, PB012 other user, PB013 mismatch, PB014 expired';

CREATE FUNCTION pgbank.logout(refresh_token text) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s pgbank.sessions;
BEGIN
	s := pgbank.session_of(refresh_token, true);
	-- The trigger sessions_blocked_revoke_tokens revokes its access tokens.
	UPDATE pgbank.sessions x SET is_blocked = true WHERE x.id = s.id AND NOT x.is_blocked;
END
$$;
COMMENT ON FUNCTION pgbank.logout(text) IS
	'Block the session of a refresh token and revoke its access tokens (again is a no-op)';

CREATE FUNCTION pgbank.check_role_target(username text, role text) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF role IS NULL OR role NOT IN ('depositor', 'banker', 'admin') THEN
		PERFORM pgbank.invalid_input('role', 'must be depositor, banker or admin');
	END IF;
	IF username IS NULL OR NOT EXISTS (SELECT 1 FROM pgbank.users u WHERE u.username = check_role_target.username) THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('user %s not found', coalesce(username, 'NULL'));
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.check_role_target(text, text) IS
	'Validate the role and the user of grant_role and revoke_role (22023, P0002)';

CREATE FUNCTION pgbank.grant_role(token text, username text, role text) RETURNS text[]
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgbank.require_role(pgbank.verify_access_token(token), 'admin');
	PERFORM pgbank.check_role_target(username, role);
	INSERT INTO pgbank.user_roles (username, role) VALUES (username, role)
		ON CONFLICT DO NOTHING;
	RETURN pgbank.roles_of(username);
END
$$;
COMMENT ON FUNCTION pgbank.grant_role(text, text, text) IS
	'Admin only: give a user a role (from its next login or renewal); the user''s roles after';

CREATE FUNCTION pgbank.revoke_role(token text, username text, role text) RETURNS text[]
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgbank.require_role(pgbank.verify_access_token(token), 'admin');
	PERFORM pgbank.check_role_target(username, role);
	DELETE FROM pgbank.user_roles r WHERE r.username = revoke_role.username AND r.role = revoke_role.role;
	-- Access tokens carry roles: revoke the user's so the role goes now, not
	-- when they expire. The sessions live on; renewal gives the new roles.
	IF FOUND THEN
		UPDATE pgbank.access_tokens t SET revoked_at = now()
		 WHERE t.username = revoke_role.username AND t.revoked_at IS NULL;
	END IF;
	RETURN pgbank.roles_of(username);
END
$$;
COMMENT ON FUNCTION pgbank.revoke_role(text, text, text) IS
	'Admin only: take a role from a user and revoke the user''s access tokens; the user''s roles after';

CREATE FUNCTION pgbank.update_user(token text, username text, full_name text DEFAULT NULL,
	email text DEFAULT NULL, password text DEFAULT NULL)
	RETURNS pgbank.user_response
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims;
	u pgbank.users;
BEGIN
	claims := pgbank.verify_access_token(token);
	PERFORM pgbank.check_user_field('username', username);
	-- NULL keeps a field.
	IF full_name IS NOT NULL THEN
		PERFORM pgbank.check_user_field('full_name', full_name);
	END IF;
	IF email IS NOT NULL THEN
		PERFORM pgbank.check_user_field('email', email);
	END IF;
	IF password IS NOT NULL THEN
		PERFORM pgbank.check_user_field('password', password);
	END IF;
	IF NOT (pgbank.caller_has_role(claims, 'banker') OR pgbank.caller_has_role(claims, 'admin')
			OR (claims.username = username AND pgbank.caller_has_role(claims, 'depositor'))) THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('user %s may not update user %s', claims.username, username),
			HINT = 'A depositor may update only itself; a banker or admin anyone.';
	END IF;

	SELECT * INTO u FROM pgbank.users x WHERE x.username = update_user.username FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('user %s not found', username);
	END IF;
	-- One statement per column, each only when the value changes, so that
	-- triggers on UPDATE OF email fire only for a new address.
	IF full_name IS NOT NULL AND full_name <> u.full_name THEN
		UPDATE pgbank.users x SET full_name = update_user.full_name
		 WHERE x.username = u.username RETURNING * INTO u;
	END IF;
	IF email IS NOT NULL AND email <> u.email THEN
		BEGIN
			UPDATE pgbank.users x SET email = update_user.email, is_email_verified = false
			 WHERE x.username = u.username RETURNING * INTO u;
		EXCEPTION WHEN unique_violation THEN
			RAISE EXCEPTION USING ERRCODE = 'unique_violation',
				MESSAGE = format('email %s already exists', email), COLUMN = 'email';
		END;
	END IF;
	IF password IS NOT NULL THEN
		UPDATE pgbank.users x
		   SET hashed_password = pgbank.hash_password(password), password_changed_at = now()
		 WHERE x.username = u.username RETURNING * INTO u;
		-- End every session of the user (the trigger revokes their tokens).
		UPDATE pgbank.sessions s SET is_blocked = true
		 WHERE s.username = u.username AND NOT s.is_blocked;
	END IF;
	RETURN pgbank.to_user_response(u);
END
$$;
COMMENT ON FUNCTION pgbank.update_user(text, text, text, text, text) IS
	'Change a user''s full name, email (unverifies it) or password (ends its sessions); '
	'NULL keeps a field. A depositor updates itself, a banker or admin anyone';

-- === upkeep ===
CREATE FUNCTION pgbank.purge_expired_sessions(keep interval DEFAULT '7 days')
	RETURNS TABLE (access_tokens_deleted bigint, sessions_deleted bigint)
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	-- An expired access token fails verification anyway: its row is useless.
	DELETE FROM pgbank.access_tokens t WHERE t.expires_at < now();
	GET DIAGNOSTICS access_tokens_deleted = ROW_COUNT;
	DELETE FROM pgbank.sessions s WHERE s.expires_at < now() - keep;
	GET DIAGNOSTICS sessions_deleted = ROW_COUNT;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION pgbank.purge_expired_sessions(interval) IS
	'Delete expired access-token rows and sessions expired for longer than keep';

-- === the login throttle and secret comparison (extension/session.c) ===
CREATE FUNCTION pgbank.login_throttle_attempt(username text) RETURNS void
	AS 'MODULE_PATHNAME', 'pgbank_login_throttle_attempt'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgbank.login_throttle_attempt(text) IS
	'Count a login attempt of a user, or raise PB015 when it has too many failures in the window';

CREATE FUNCTION pgbank.login_throttle_clear(username text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgbank_login_throttle_clear'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgbank.login_throttle_clear(text) IS
	'Forget a user''s counted login failures (whether there were any)';

CREATE FUNCTION pgbank.login_throttle()
	RETURNS TABLE (username text, failures int, window_started_at timestamptz, throttled boolean)
	AS 'MODULE_PATHNAME', 'pgbank_login_throttle'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.login_throttle() IS
	'Users with failed logins in a window not yet over, and whether they are throttled';

CREATE FUNCTION pgbank.secret_equal(a text, b text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgbank_secret_equal'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.secret_equal(text, text) IS
	'Whether two secrets are equal, in time independent of their contents';
-- Email verification (extension/email.c) and the outbox that delivers it
-- over SMTP (extension/outbox.c). docs/email.md explains the design.

-- As the Go simple bank keeps them; email is the address the code was sent
-- to, so a code for an address the user no longer has cannot verify it.
CREATE TABLE pgbank.verify_emails (
	id bigserial PRIMARY KEY,
	username text NOT NULL REFERENCES pgbank.users (username)
		ON UPDATE CASCADE ON DELETE CASCADE,
	email text NOT NULL,
	secret_code text NOT NULL CHECK (length(secret_code) >= 32),
	is_used boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now(),
	expired_at timestamptz NOT NULL DEFAULT now() + interval '15 minutes'
);
CREATE INDEX verify_emails_username_idx ON pgbank.verify_emails (username);

-- Messages to send. A row is written in the transaction that wants the
-- message sent, so a message exists exactly when that transaction commits.
-- status: pending (due at next_attempt_at) -> sending (claimed by a runner
-- until claimed_at + pgbank.outbox_lease) -> sent, or back to pending with
-- a later next_attempt_at, or failed after pgbank.outbox_max_attempts.
CREATE TABLE pgbank.outbox (
	id bigserial PRIMARY KEY,
	kind text NOT NULL CHECK (kind ~ '^[a-z_]{1,50}$'),
	recipient text NOT NULL CHECK (recipient ~ '^[^@\s<>]+@[^@\s<>]+$'),
	subject text NOT NULL CHECK (subject !~ '[\r\n]'),
	body text NOT NULL,
	payload jsonb NOT NULL DEFAULT '{}',
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
	attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	last_error text,
	created_at timestamptz NOT NULL DEFAULT now(),
	sent_at timestamptz,
	claimed_at timestamptz,
	claimed_by integer,
	CHECK ((status = 'sent') = (sent_at IS NOT NULL)),
	CHECK ((status = 'sending') = (claimed_at IS NOT NULL AND claimed_by IS NOT NULL))
);
-- The runners' only query: what is due, oldest first.
CREATE INDEX outbox_due_idx ON pgbank.outbox (next_attempt_at, id)
	WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_recipient_idx ON pgbank.outbox (recipient);

CREATE FUNCTION pgbank.new_secret_code() RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_new_secret_code'
	LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.new_secret_code() IS
	'43 characters of base64url from 32 random bytes (libsodium randombytes)';

CREATE FUNCTION pgbank.secret_code_matches(expected text, given text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgbank_secret_code_matches'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.secret_code_matches(text, text) IS
	'Whether two secret codes are equal, in time independent of their contents';

-- Issue a verification code for a user's current address and queue the
-- message that carries it. Called by the triggers below, so it happens in
-- the transaction that creates the user or changes the address.
CREATE FUNCTION pgbank.queue_verify_email(username text, full_name text, email text)
	RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ve pgbank.verify_emails;
	link text;
BEGIN
	INSERT INTO pgbank.verify_emails (username, email, secret_code, expired_at)
	VALUES (username, email, pgbank.new_secret_code(),
			now() + current_setting('pgbank.verify_email_ttl')::interval)
	RETURNING * INTO ve;
	link := format('%s/v1/verify_email?email_id=%s&secret_code=%s',
				   rtrim(current_setting('pgbank.public_url'), '/'),
				   ve.id, ve.secret_code);
	INSERT INTO pgbank.outbox (kind, recipient, subject, body, payload)
	VALUES ('verify_email', email, 'Welcome to Simple Bank',
			format(E'Hello %s,\n\nThank you for registering with us!\n'
				   || E'Please open this link to verify your email address:\n\n'
				   || E'%s\n\nThe link expires at %s.\n',
				   full_name, link,
				   to_char(ve.expired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')),
			jsonb_build_object('verify_email_id', ve.id, 'username', username));
	RETURN ve.id;
END
$$;
COMMENT ON FUNCTION pgbank.queue_verify_email(text, text, text) IS
	'Issue an email verification code and queue its message in pgbank.outbox; returns the verify_emails id';

CREATE FUNCTION pgbank.users_verify_email_trigger() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgbank.queue_verify_email(NEW.username, NEW.full_name, NEW.email);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgbank.users_verify_email_trigger() IS
	'Trigger: a new user, or a new address, gets a verification code and message';

-- A new address is not verified, whoever changes it.
CREATE FUNCTION pgbank.users_email_changed_trigger() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	NEW.is_email_verified := false;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION pgbank.users_email_changed_trigger() IS
	'Trigger: changing a user''s email resets is_email_verified';

CREATE TRIGGER users_verify_email_insert
	AFTER INSERT ON pgbank.users
	FOR EACH ROW EXECUTE FUNCTION pgbank.users_verify_email_trigger();
CREATE TRIGGER users_verify_email_update
	AFTER UPDATE OF email ON pgbank.users
	FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email)
	EXECUTE FUNCTION pgbank.users_verify_email_trigger();
CREATE TRIGGER users_email_changed
	BEFORE UPDATE OF email ON pgbank.users
	FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email)
	EXECUTE FUNCTION pgbank.users_email_changed_trigger();

-- The link's target. The code is compared only after the row is found by
-- id and locked, in constant time, and before anything about the row's
-- state is revealed: without the code a caller learns only whether an id
-- exists.
CREATE FUNCTION pgbank.verify_email(email_id bigint, secret_code text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ve pgbank.verify_emails;
	current_email text;
BEGIN
	IF email_id IS NULL OR email_id < 1 THEN
		PERFORM pgbank.invalid_input('email_id', 'must be a positive integer');
	END IF;
	IF secret_code IS NULL OR length(secret_code) NOT BETWEEN 32 AND 128 THEN
		PERFORM pgbank.invalid_input('secret_code', 'must be 32 to 128 characters');
	END IF;
	SELECT * INTO ve FROM pgbank.verify_emails v WHERE v.id = email_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('email verification %s not found', email_id);
	END IF;
	IF NOT pgbank.secret_code_matches(ve.secret_code, secret_code) THEN
		RAISE EXCEPTION USING ERRCODE = 'PB040',
			MESSAGE = 'wrong email verification code', COLUMN = 'secret_code';
	END IF;
	IF ve.is_used THEN
		RAISE EXCEPTION USING ERRCODE = 'PB041',
			MESSAGE = 'email verification code already used';
	END IF;
	IF ve.expired_at <= now() THEN
		RAISE EXCEPTION USING ERRCODE = 'PB042',
			MESSAGE = 'email verification code expired',
			HINT = 'Changing the email address sends a new code.';
	END IF;
	SELECT u.email INTO current_email FROM pgbank.users u
	 WHERE u.username = ve.username FOR UPDATE;
	IF current_email IS DISTINCT FROM ve.email THEN
		RAISE EXCEPTION USING ERRCODE = 'PB043',
			MESSAGE = 'email verification code is for an address the user no longer has';
	END IF;
	UPDATE pgbank.verify_emails v SET is_used = true WHERE v.id = ve.id;
	UPDATE pgbank.users u SET is_email_verified = true WHERE u.username = ve.username;
	RETURN json_build_object('is_verified', true);
END
$$;
COMMENT ON FUNCTION pgbank.verify_email(bigint, text) IS
	'Follow an email verification link: marks the code used and the user''s email verified; returns {"is_verified": true}';

-- Delivery (extension/outbox.c). The procedure commits after claiming a
-- message and after recording its result; the function does all in the
-- caller's transaction. docs/email.md compares them.
CREATE PROCEDURE pgbank.run_outbox(max_messages integer DEFAULT 1000)
	AS 'MODULE_PATHNAME', 'pgbank_run_outbox'
	LANGUAGE C;
COMMENT ON PROCEDURE pgbank.run_outbox(integer) IS
	'Deliver up to max_messages due outbox messages over SMTP for at most pgbank.outbox_run_time, committing after each claim and each result (what the pg_cron job calls)';

CREATE FUNCTION pgbank.deliver_outbox(max_messages integer DEFAULT 10) RETURNS integer
	AS 'MODULE_PATHNAME', 'pgbank_deliver_outbox'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgbank.deliver_outbox(integer) IS
	'Deliver up to max_messages due outbox messages over SMTP in the caller''s transaction; returns how many were sent';

CREATE FUNCTION pgbank.schedule_outbox(schedule text DEFAULT '* * * * *') RETURNS bigint
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	job bigint;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is not installed in this database',
			DETAIL = 'The outbox is delivered by a pg_cron job.',
			HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database and CREATE EXTENSION pg_cron.';
	END IF;
	-- Dynamic, so that pgbank does not depend on pg_cron being installed.
	-- cron.schedule updates the job of the same name: calling again is safe.
	EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
		USING 'pgbank-outbox', schedule, 'CALL pgbank.run_outbox()';
	RETURN job;
END
$$;
COMMENT ON FUNCTION pgbank.schedule_outbox(text) IS
	'Schedule (or reschedule) the pg_cron job "pgbank-outbox" that delivers the outbox; needs pg_cron in this database';

REVOKE ALL ON PROCEDURE pgbank.run_outbox(integer) FROM PUBLIC;
-- Game results: one typed table per game, a registry that describes them,
-- and generic functions that read the registry. Adding a game is one new
-- table and one registry row; the functions do not change (docs/games.md).

-- A list of short names (teammates): at most max_items, each non-blank and
-- at most max_length characters. Used by CHECK constraints.
CREATE FUNCTION pgbank.bounded_texts(a text[], max_items int, max_length int)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT a IS NOT NULL
	   AND cardinality(a) <= max_items
	   AND (cardinality(a) = 0 OR array_ndims(a) = 1)
	   AND NOT EXISTS (SELECT 1 FROM unnest(a) e
	                    WHERE e IS NULL OR btrim(e) = '' OR length(e) > max_length)
$$;
COMMENT ON FUNCTION pgbank.bounded_texts(text[], int, int) IS
	'Whether a text array has at most max_items non-blank elements of at most max_length characters';

-- The registry. fields is the ordered list of the fields a client may send,
-- one object per field:
--   {"name": column, "type": "integer"|"text"|"date"|"text[]",
--    "required": bool, "min": n|"YYYY-MM-DD", "max": n,
--    "max_length": n, "values": [allowed strings], "max_items": n,
--    "derived_from": field}
-- A field with derived_from is computed by the table (a generated column) and
-- may not be sent. Every results table has the columns id bigserial, owner,
-- date date, result text ('win' or 'loss'), created_at and updated_at;
-- the registry trigger below checks this, and that every field is a column.
CREATE TABLE pgbank.games (
	slug text PRIMARY KEY CHECK (slug ~ '^[a-z][a-z0-9_]{0,31}$'),
	name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	results_table regclass NOT NULL UNIQUE,
	fields jsonb NOT NULL CHECK (jsonb_typeof(fields) = 'array'),
	-- the field whose best (lowest) value is the summary's best_placement
	placement_field text,
	-- the field the table's summary is broken down by (legend, hero, mode)
	breakdown_field text
);
COMMENT ON TABLE pgbank.games IS
	'Registry of games: the results table of each and the fields a client may send';

-- Reject a registry row the generic functions could not use.
CREATE FUNCTION pgbank.games_check() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f jsonb;
	col text;
	names text[] := '{}';
BEGIN
	FOREACH col IN ARRAY ARRAY['id', 'owner', 'date', 'result', 'created_at', 'updated_at'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_attribute a
		                WHERE a.attrelid = NEW.results_table AND a.attname = col
		                  AND a.attnum > 0 AND NOT a.attisdropped) THEN
			PERFORM pgbank.invalid_input('results_table',
				format('%s has no column %s', NEW.results_table, col));
		END IF;
	END LOOP;
	FOR f IN SELECT * FROM jsonb_array_elements(NEW.fields) LOOP
		IF jsonb_typeof(f) <> 'object' OR NOT f ? 'name' OR NOT f ? 'type'
		   OR f->>'type' NOT IN ('integer', 'text', 'date', 'text[]') THEN
			PERFORM pgbank.invalid_input('fields',
				format('%s needs a name and a type among integer, text, date, text[]', f));
		END IF;
		IF f->>'name' = ANY (names) THEN
			PERFORM pgbank.invalid_input('fields', format('%s is listed twice', f->>'name'));
		END IF;
		IF f->>'name' IN ('id', 'owner', 'created_at', 'updated_at')
		   OR NOT EXISTS (SELECT 1 FROM pg_attribute a
		                   WHERE a.attrelid = NEW.results_table AND a.attname = f->>'name'
		                     AND a.attnum > 0 AND NOT a.attisdropped) THEN
			PERFORM pgbank.invalid_input('fields',
				format('%s is not a column of %s a client may set', f->>'name', NEW.results_table));
		END IF;
		IF (f->>'type' = 'integer' AND NOT (f ? 'min' AND f ? 'max'))
		   OR (f->>'type' = 'date' AND NOT f ? 'min')
		   OR (f->>'type' = 'text[]' AND NOT f ? 'max_items') THEN
			PERFORM pgbank.invalid_input('fields',
				format('%s needs min and max (integer), min (date) or max_items (text[])', f->>'name'));
		END IF;
		names := names || (f->>'name');
	END LOOP;
	IF NEW.placement_field IS NOT NULL AND NOT NEW.placement_field = ANY (names) THEN
		PERFORM pgbank.invalid_input('placement_field', 'must be one of the fields');
	END IF;
	IF NEW.breakdown_field IS NOT NULL AND NOT NEW.breakdown_field = ANY (names) THEN
		PERFORM pgbank.invalid_input('breakdown_field', 'must be one of the fields');
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER games_check BEFORE INSERT OR UPDATE ON pgbank.games
	FOR EACH ROW EXECUTE FUNCTION pgbank.games_check();

-- Apex Legends. Placement 1..60 covers trios (20 squads), duos (30) and the
-- solo mode (60 players); a win is placement 1, so result is derived.
CREATE TABLE pgbank.apex_results (
	id bigserial PRIMARY KEY,
	owner text NOT NULL REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,
	date date NOT NULL CHECK (date >= '2019-02-04'),
	result text GENERATED ALWAYS AS (CASE WHEN placement = 1 THEN 'win' ELSE 'loss' END) STORED,
	legend text NOT NULL CHECK (btrim(legend) <> '' AND length(legend) <= 50),
	kills integer NOT NULL CHECK (kills BETWEEN 0 AND 60),
	placement integer NOT NULL CHECK (placement BETWEEN 1 AND 60),
	damage integer NOT NULL CHECK (damage BETWEEN 0 AND 50000),
	time_seconds integer NOT NULL CHECK (time_seconds BETWEEN 0 AND 3600),
	teammates text[] NOT NULL DEFAULT '{}' CHECK (pgbank.bounded_texts(teammates, 3, 50)),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX apex_results_owner_date_idx ON pgbank.apex_results (owner, date DESC, id DESC);

-- Fortnite: battle royale of 100 players; a win is placement 1.
CREATE TABLE pgbank.fortnite_results (
	id bigserial PRIMARY KEY,
	owner text NOT NULL REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,
	date date NOT NULL CHECK (date >= '2017-07-21'),
	result text GENERATED ALWAYS AS (CASE WHEN placement = 1 THEN 'win' ELSE 'loss' END) STORED,
	kills integer NOT NULL CHECK (kills BETWEEN 0 AND 99),
	placement integer NOT NULL CHECK (placement BETWEEN 1 AND 100),
	mode text NOT NULL CHECK (mode IN ('solo', 'duos', 'trios', 'squads', 'ltm')),
	teammates text[] NOT NULL DEFAULT '{}' CHECK (pgbank.bounded_texts(teammates, 3, 50)),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fortnite_results_owner_date_idx ON pgbank.fortnite_results (owner, date DESC, id DESC);

-- Heroes of the Storm: two teams of five, so a result is a win or a loss.
CREATE TABLE pgbank.hots_results (
	id bigserial PRIMARY KEY,
	owner text NOT NULL REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,
	date date NOT NULL CHECK (date >= '2015-06-02'),
	result text NOT NULL CHECK (result IN ('win', 'loss')),
	hero text NOT NULL CHECK (btrim(hero) <> '' AND length(hero) <= 50),
	kills integer NOT NULL CHECK (kills BETWEEN 0 AND 100),
	deaths integer NOT NULL CHECK (deaths BETWEEN 0 AND 100),
	assists integer NOT NULL CHECK (assists BETWEEN 0 AND 200),
	time_seconds integer NOT NULL CHECK (time_seconds BETWEEN 0 AND 7200),
	map text NOT NULL CHECK (btrim(map) <> '' AND length(map) <= 50),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hots_results_owner_date_idx ON pgbank.hots_results (owner, date DESC, id DESC);

INSERT INTO pgbank.games (slug, name, results_table, placement_field, breakdown_field, fields) VALUES
('apex', 'Apex Legends', 'pgbank.apex_results', 'placement', 'legend', $json$[
	{"name": "date", "type": "date", "required": true, "min": "2019-02-04"},
	{"name": "result", "type": "text", "derived_from": "placement"},
	{"name": "legend", "type": "text", "required": true, "max_length": 50},
	{"name": "kills", "type": "integer", "required": true, "min": 0, "max": 60},
	{"name": "placement", "type": "integer", "required": true, "min": 1, "max": 60},
	{"name": "damage", "type": "integer", "required": true, "min": 0, "max": 50000},
	{"name": "time_seconds", "type": "integer", "required": true, "min": 0, "max": 3600},
	{"name": "teammates", "type": "text[]", "max_items": 3, "max_length": 50}
]$json$),
('fortnite', 'Fortnite', 'pgbank.fortnite_results', 'placement', 'mode', $json$[
	{"name": "date", "type": "date", "required": true, "min": "2017-07-21"},
	{"name": "result", "type": "text", "derived_from": "placement"},
	{"name": "kills", "type": "integer", "required": true, "min": 0, "max": 99},
	{"name": "placement", "type": "integer", "required": true, "min": 1, "max": 100},
	{"name": "mode", "type": "text", "required": true, "values": ["solo", "duos", "trios", "squads", "ltm"]},
	{"name": "teammates", "type": "text[]", "max_items": 3, "max_length": 50}
]$json$),
('hots', 'Heroes of the Storm', 'pgbank.hots_results', NULL, 'hero', $json$[
	{"name": "date", "type": "date", "required": true, "min": "2015-06-02"},
	{"name": "result", "type": "text", "required": true, "values": ["win", "loss"]},
	{"name": "hero", "type": "text", "required": true, "max_length": 50},
	{"name": "kills", "type": "integer", "required": true, "min": 0, "max": 100},
	{"name": "deaths", "type": "integer", "required": true, "min": 0, "max": 100},
	{"name": "assists", "type": "integer", "required": true, "min": 0, "max": 200},
	{"name": "time_seconds", "type": "integer", "required": true, "min": 0, "max": 7200},
	{"name": "map", "type": "text", "required": true, "max_length": 50}
]$json$);

-- Games registered later (and their results) are kept by pg_dump.
SELECT pg_catalog.pg_extension_config_dump('pgbank.games',
	$$WHERE slug NOT IN ('apex', 'fortnite', 'hots')$$);
SELECT pg_catalog.pg_extension_config_dump('pgbank.apex_results', '');
SELECT pg_catalog.pg_extension_config_dump('pgbank.apex_results_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgbank.fortnite_results', '');
SELECT pg_catalog.pg_extension_config_dump('pgbank.fortnite_results_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgbank.hots_results', '');
SELECT pg_catalog.pg_extension_config_dump('pgbank.hots_results_id_seq', '');

-- The registry row of a game, or P0002 'unknown game x'.
CREATE FUNCTION pgbank.game_lookup(game text) RETURNS pgbank.games
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games;
BEGIN
	SELECT * INTO g FROM pgbank.games WHERE slug = game;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown game %s', coalesce(left(game, 64), 'NULL')),
			DETAIL = 'Field: game.', COLUMN = 'game';
	END IF;
	RETURN g;
END
$$;
COMMENT ON FUNCTION pgbank.game_lookup(text) IS
	'The registry row of a game by slug; P0002 for an unknown game';

-- Check one field's JSON value against its registry spec; 22023 naming the
-- field when it is wrong.
CREATE FUNCTION pgbank.game_check_field(f jsonb, v jsonb) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	name text := f->>'name';
	maxlen int := coalesce((f->>'max_length')::int, 100);
	s text;
	d date;
	e jsonb;
	msg text;
BEGIN
	IF f ? 'derived_from' THEN
		PERFORM pgbank.invalid_input(name,
			format('cannot be set: it is derived from %s', f->>'derived_from'));
	END IF;
	CASE f->>'type'
	WHEN 'integer' THEN
		msg := format('must be an integer between %s and %s', f->>'min', f->>'max');
		IF jsonb_typeof(v) <> 'number' OR (v #>> '{}') !~ '^-?[0-9]+$'
		   OR (v #>> '{}')::numeric NOT BETWEEN (f->>'min')::numeric AND (f->>'max')::numeric THEN
			PERFORM pgbank.invalid_input(name, msg);
		END IF;
	WHEN 'text' THEN
		s := v #>> '{}';
		IF f ? 'values' THEN
			IF jsonb_typeof(v) <> 'string' OR NOT (f->'values') ? s THEN
				PERFORM pgbank.invalid_input(name, format('must be one of %s',
					(SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(f->'values') x)));
			END IF;
		ELSIF jsonb_typeof(v) <> 'string' OR btrim(s) = '' OR length(s) > maxlen THEN
			PERFORM pgbank.invalid_input(name,
				format('must be a non-blank string of at most %s characters', maxlen));
		END IF;
	WHEN 'date' THEN
		msg := format('must be a date (YYYY-MM-DD) from %s to today', f->>'min');
		IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
			PERFORM pgbank.invalid_input(name, msg);
		END IF;
		BEGIN
			d := (v #>> '{}')::date;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			PERFORM pgbank.invalid_input(name, msg);
		END;
		IF d < (f->>'min')::date OR d > current_date THEN
			PERFORM pgbank.invalid_input(name, msg);
		END IF;
	WHEN 'text[]' THEN
		msg := format('must be an array of at most %s non-blank strings of at most %s characters',
			f->>'max_items', maxlen);
		IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) > (f->>'max_items')::int THEN
			PERFORM pgbank.invalid_input(name, msg);
		END IF;
		FOR e IN SELECT * FROM jsonb_array_elements(v) LOOP
			IF jsonb_typeof(e) <> 'string' OR btrim(e #>> '{}') = ''
			   OR length(e #>> '{}') > maxlen THEN
				PERFORM pgbank.invalid_input(name, msg);
			END IF;
		END LOOP;
	END CASE;
END
$$;
COMMENT ON FUNCTION pgbank.game_check_field(jsonb, jsonb) IS
	'Check one JSON value against a registry field spec; 22023 naming the field';

-- Validate a request body against a game's fields: a JSON object, no unknown
-- or repeated field, every value of the right type and range, and (unless
-- partial) every required field present. Returns the body as jsonb.
CREATE FUNCTION pgbank.game_validate(g pgbank.games, body json, partial boolean)
	RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb;
	k text;
	f jsonb;
BEGIN
	IF body IS NULL OR json_typeof(body) <> 'object' THEN
		PERFORM pgbank.invalid_input('body', 'must be a JSON object');
	END IF;
	-- text cannot hold \u0000 (an odd number of backslashes before u0000)
	IF body::text ~ '(^|[^\\])(\\\\)*\\u0000' THEN
		PERFORM pgbank.invalid_input('body', 'must not contain \u0000');
	END IF;
	b := body::jsonb;
	FOR k IN SELECT json_object_keys(body) LOOP
		IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(g.fields) s WHERE s->>'name' = k) THEN
			PERFORM pgbank.invalid_input(left(k, 64), format('unknown field for %s', g.slug));
		END IF;
	END LOOP;
	SELECT k2 INTO k FROM json_object_keys(body) k2 GROUP BY k2 HAVING count(*) > 1 LIMIT 1;
	IF FOUND THEN
		PERFORM pgbank.invalid_input(k, 'is given more than once');
	END IF;
	-- the values given first, so that a wrong value is reported as such
	FOR f IN SELECT * FROM jsonb_array_elements(g.fields) LOOP
		IF b ? (f->>'name') THEN
			PERFORM pgbank.game_check_field(f, b->(f->>'name'));
		END IF;
	END LOOP;
	FOR f IN SELECT * FROM jsonb_array_elements(g.fields) LOOP
		IF NOT partial AND NOT b ? (f->>'name') AND coalesce((f->>'required')::boolean, false) THEN
			PERFORM pgbank.invalid_input(f->>'name', 'is required');
		END IF;
	END LOOP;
	RETURN b;
END
$$;
COMMENT ON FUNCTION pgbank.game_validate(pgbank.games, json, boolean) IS
	'Validate a results body against a game''s registry fields; 22023 naming the field';

-- The column list of the fields present in a validated body, quoted, taken
-- from the registry (never from the body).
CREATE FUNCTION pgbank.game_columns(g pgbank.games, b jsonb, prefix text DEFAULT '')
	RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT string_agg(prefix || format('%I', f->>'name'), ', ' ORDER BY n)
	  FROM jsonb_array_elements(g.fields) WITH ORDINALITY AS s(f, n)
	 WHERE b ? (f->>'name')
$$;
COMMENT ON FUNCTION pgbank.game_columns(pgbank.games, jsonb, text) IS
	'Quoted registry columns of the fields a validated body holds';

-- The core functions take the caller's username: only the SECURITY DEFINER
-- API functions below (which take it from a verified token) call them.

CREATE FUNCTION pgbank.game_create(username text, game text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	b jsonb := pgbank.game_validate(g, body, false);
	cols text := pgbank.game_columns(g, b);
	r json;
BEGIN
	EXECUTE format('INSERT INTO %s AS t (owner, %s) SELECT $1, %s'
	               ' FROM jsonb_populate_record(NULL::%s, $2) r RETURNING to_json(t)',
	               g.results_table, cols, pgbank.game_columns(g, b, 'r.'), g.results_table)
		INTO r USING username, b;
	RETURN r;
END
$$;
COMMENT ON FUNCTION pgbank.game_create(text, text, json) IS
	'Store a result of a game for a user; returns the created row as JSON';

CREATE FUNCTION pgbank.game_get(username text, game text, id bigint) RETURNS json
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	r json;
BEGIN
	EXECUTE format('SELECT to_json(t) FROM %s t WHERE t.id = $1 AND t.owner = $2', g.results_table)
		INTO r USING id, username;
	IF r IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = 'result not found',
			DETAIL = 'Field: id.', COLUMN = 'id';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION pgbank.game_get(text, text, bigint) IS
	'One of a user''s results of a game; P0002 when missing or another user''s';

CREATE FUNCTION pgbank.game_list(username text, game text, page_id int DEFAULT 1,
	page_size int DEFAULT 10, from_date date DEFAULT NULL, to_date date DEFAULT NULL)
	RETURNS json
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	r json;
BEGIN
	page_id := coalesce(page_id, 1);
	page_size := coalesce(page_size, 10);
	IF page_id < 1 THEN
		PERFORM pgbank.invalid_input('page_id', 'must be 1 or more');
	END IF;
	IF page_size NOT BETWEEN 1 AND 100 THEN
		PERFORM pgbank.invalid_input('page_size', 'must be between 1 and 100');
	END IF;
	IF from_date > to_date THEN
		PERFORM pgbank.invalid_input('to', 'must not be before from');
	END IF;
	EXECUTE format('SELECT coalesce(json_agg(to_json(t) ORDER BY t.date DESC, t.id DESC), ''[]'')'
	               '  FROM (SELECT * FROM %s t WHERE t.owner = $1'
	               '          AND ($2::date IS NULL OR t.date >= $2)'
	               '          AND ($3::date IS NULL OR t.date <= $3)'
	               '        ORDER BY t.date DESC, t.id DESC LIMIT $4 OFFSET $5) t',
	               g.results_table)
		INTO r USING username, from_date, to_date, page_size, (page_id - 1)::bigint * page_size;
	RETURN json_build_object('results', r, 'page_id', page_id, 'page_size', page_size);
END
$$;
COMMENT ON FUNCTION pgbank.game_list(text, text, int, int, date, date) IS
	'A page of a user''s results of a game, newest first (date, then id), optionally within a date range';

CREATE FUNCTION pgbank.game_update(username text, game text, id bigint, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	b jsonb := pgbank.game_validate(g, body, true);
	sets text;
	r json;
BEGIN
	SELECT string_agg(format('%1$I = r.%1$I', f->>'name'), ', ')
	  INTO sets
	  FROM jsonb_array_elements(g.fields) f WHERE b ? (f->>'name');
	IF sets IS NULL THEN
		-- nothing to change: answer the row as it is
		RETURN pgbank.game_get(username, game, id);
	END IF;
	EXECUTE format('UPDATE %s AS t SET %s, updated_at = now()'
	               '  FROM jsonb_populate_record(NULL::%s, $3) r'
	               ' WHERE t.id = $1 AND t.owner = $2 RETURNING to_json(t)',
	               g.results_table, sets, g.results_table)
		INTO r USING id, username, b;
	IF r IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = 'result not found',
			DETAIL = 'Field: id.', COLUMN = 'id';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION pgbank.game_update(text, text, bigint, json) IS
	'Change the given fields of one of a user''s results of a game; returns the row as JSON';

CREATE FUNCTION pgbank.game_delete(username text, game text, id bigint) RETURNS json
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	r json;
BEGIN
	EXECUTE format('DELETE FROM %s t WHERE t.id = $1 AND t.owner = $2 RETURNING to_json(t)',
	               g.results_table)
		INTO r USING id, username;
	IF r IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = 'result not found',
			DETAIL = 'Field: id.', COLUMN = 'id';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION pgbank.game_delete(text, text, bigint) IS
	'Delete one of a user''s results of a game; returns the deleted row as JSON';

-- The statistics of a set of results as one jsonb expression, built from the
-- registry: matches, wins, losses, best_placement (when the game has a
-- placement), totals and averages of each integer field (the placement gets
-- an average only: a total of placements means nothing).
CREATE FUNCTION pgbank.game_stats_sql(g pgbank.games) RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT format('jsonb_build_object(''matches'', count(*),'
	              ' ''wins'', count(*) FILTER (WHERE t.result = ''win''),'
	              ' ''losses'', count(*) FILTER (WHERE t.result = ''loss'')%s,'
	              ' ''totals'', jsonb_build_object(%s), ''averages'', jsonb_build_object(%s))',
	              CASE WHEN g.placement_field IS NOT NULL
	                   THEN format(', ''best_placement'', min(t.%I)', g.placement_field) ELSE '' END,
	              coalesce(string_agg(format('%L, coalesce(sum(t.%I), 0)', f->>'name', f->>'name'), ', '
	                                  ORDER BY n) FILTER (WHERE f->>'name' IS DISTINCT FROM g.placement_field), ''),
	              coalesce(string_agg(format('%L, round(avg(t.%I), 2)', f->>'name', f->>'name'), ', '
	                                  ORDER BY n), ''))
	  FROM jsonb_array_elements(g.fields) WITH ORDINALITY AS s(f, n)
	 WHERE f->>'type' = 'integer'
$$;
COMMENT ON FUNCTION pgbank.game_stats_sql(pgbank.games) IS
	'The SQL expression of a game''s summary statistics, built from its registry row';

CREATE FUNCTION pgbank.game_table(username text, game text) RETURNS json
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	stats text := pgbank.game_stats_sql(g);
	rows json;
	summary jsonb;
	breakdown jsonb;
BEGIN
	EXECUTE format('SELECT coalesce(json_agg(to_json(t) ORDER BY t.date DESC, t.id DESC), ''[]'')'
	               '  FROM %s t WHERE t.owner = $1', g.results_table)
		INTO rows USING username;
	EXECUTE format('SELECT %s FROM %s t WHERE t.owner = $1', stats, g.results_table)
		INTO summary USING username;
	IF g.breakdown_field IS NOT NULL THEN
		EXECUTE format('SELECT coalesce(jsonb_agg(s.b ORDER BY s.matches DESC, s.k), ''[]'')'
		               '  FROM (SELECT t.%1$I AS k, count(*) AS matches,'
		               '               jsonb_build_object(%2$L, t.%1$I) || %3$s AS b'
		               '          FROM %4$s t WHERE t.owner = $1 GROUP BY t.%1$I) s',
		               g.breakdown_field, g.breakdown_field, stats, g.results_table)
			INTO breakdown USING username;
		summary := summary || jsonb_build_object('breakdown_by', g.breakdown_field,
		                                         'breakdown', breakdown);
	END IF;
	RETURN json_build_object('game', g.slug, 'name', g.name, 'rows', rows, 'summary', summary);
END
$$;
COMMENT ON FUNCTION pgbank.game_table(text, text) IS
	'A user''s results of a game ready to render (newest first) and their summary, with a breakdown';

-- The API: each function takes the caller from an access token
-- (pgbank.verify_access_token, 28000 when it is missing, bad, expired or
-- revoked) and its path and query parameters as text, so that a bad one is
-- reported naming its field. An empty string means "not given".

-- A path or query parameter as a bigint within [lo, hi], NULL when absent.
CREATE FUNCTION pgbank.game_param_int(field text, v text, lo bigint, hi bigint) RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF v IS NULL OR v = '' THEN
		RETURN NULL;
	END IF;
	IF v !~ '^[0-9]{1,18}$' OR v::bigint NOT BETWEEN lo AND hi THEN
		PERFORM pgbank.invalid_input(field, format('must be an integer between %s and %s', lo, hi));
	END IF;
	RETURN v::bigint;
END
$$;
COMMENT ON FUNCTION pgbank.game_param_int(text, text, bigint, bigint) IS
	'Parse a text parameter as an integer in a range, naming the field when it is not';

-- A query parameter as a date (YYYY-MM-DD), NULL when absent.
CREATE FUNCTION pgbank.game_param_date(field text, v text) RETURNS date
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF v IS NULL OR v = '' THEN
		RETURN NULL;
	END IF;
	IF v ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
		BEGIN
			RETURN v::date;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	END IF;
	PERFORM pgbank.invalid_input(field, 'must be a date (YYYY-MM-DD)');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgbank.game_param_date(text, text) IS
	'Parse a text parameter as a YYYY-MM-DD date, naming the field when it is not';

-- A result id from the path: a missing or malformed id is bad input.
CREATE FUNCTION pgbank.game_param_id(v text) RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF v IS NULL OR v !~ '^[0-9]{1,18}$' OR v::bigint < 1 THEN
		PERFORM pgbank.invalid_input('id', 'must be a positive integer');
	END IF;
	RETURN v::bigint;
END
$$;
COMMENT ON FUNCTION pgbank.game_param_id(text) IS
	'Parse a result id from a path, naming the field when it is not a positive integer';

CREATE FUNCTION pgbank.api_game_create(token text, game text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_create(caller, game, body);
END
$$;
COMMENT ON FUNCTION pgbank.api_game_create(text, text, json) IS
	'POST /v1/games/{game}/results: store a result of the token''s user; returns the row';

CREATE FUNCTION pgbank.api_game_get(token text, game text, id text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_get(caller, game, pgbank.game_param_id(id));
END
$$;
COMMENT ON FUNCTION pgbank.api_game_get(text, text, text) IS
	'GET /v1/games/{game}/results/{id}: one result of the token''s user (404 for another user''s)';

CREATE FUNCTION pgbank.api_game_list(token text, game text, page_id text, page_size text,
	from_date text, to_date text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_list(caller, game,
		pgbank.game_param_int('page_id', page_id, 1, 2147483647)::int,
		pgbank.game_param_int('page_size', page_size, 1, 100)::int,
		pgbank.game_param_date('from', from_date),
		pgbank.game_param_date('to', to_date));
END
$$;
COMMENT ON FUNCTION pgbank.api_game_list(text, text, text, text, text, text) IS
	'GET /v1/games/{game}/results?page_id=&page_size=&from=&to=: a page of the token''s user''s results, newest first';

CREATE FUNCTION pgbank.api_game_update(token text, game text, id text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_update(caller, game, pgbank.game_param_id(id), body);
END
$$;
COMMENT ON FUNCTION pgbank.api_game_update(text, text, text, json) IS
	'PATCH /v1/games/{game}/results/{id}: change the given fields of a result of the token''s user';

CREATE FUNCTION pgbank.api_game_delete(token text, game text, id text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_delete(caller, game, pgbank.game_param_id(id));
END
$$;
COMMENT ON FUNCTION pgbank.api_game_delete(text, text, text) IS
	'DELETE /v1/games/{game}/results/{id}: delete a result of the token''s user; returns the deleted row';

CREATE FUNCTION pgbank.api_game_table(token text, game text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_table(caller, game);
END
$$;
COMMENT ON FUNCTION pgbank.api_game_table(text, text) IS
	'GET /v1/games/{game}/table: the token''s user''s results of a game ready to render, with a summary';
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
-- Nothing in pgbank is callable by PUBLIC: roles get EXECUTE explicitly.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgbank FROM PUBLIC;

-- The API role of the HTTP shim may call the SECURITY DEFINER functions,
-- the API, and nothing else (they run with pinned search_paths).
CREATE FUNCTION pgbank.grant_api(role_name name) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f regprocedure;
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA pgbank TO %I', role_name);
	FOR f IN
		SELECT p.oid::regprocedure FROM pg_proc p
		 WHERE p.pronamespace = 'pgbank'::regnamespace AND p.prosecdef
	LOOP
		EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f, role_name);
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION pgbank.grant_api(name) FROM PUBLIC;
COMMENT ON FUNCTION pgbank.grant_api(name) IS
	'Let a role (the HTTP shim''s) call every SECURITY DEFINER function of pgbank';
