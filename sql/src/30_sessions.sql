-- Sessions: logins with a throttle, access and refresh tokens, renewal,
-- logout, and the one caller check every authenticated function uses
-- (pgbank.caller). The throttle's counters and settings are C
-- (extension/throttle.c), so are the token durations (extension/token.c);
-- tokens themselves are 10_tokens.sql's.
-- docs/identity.md.

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
CREATE OR REPLACE FUNCTION pgbank.sessions_revoke_tokens() RETURNS trigger
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

-- Issue an access token for a session and record it.
CREATE OR REPLACE FUNCTION pgbank.issue_access_token(username text, roles text[], session_id uuid)
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

-- === who is calling ===

-- An access token's claims, once it is known to be one that login or
-- renewal issued and nobody revoked: one primary-key lookup after the
-- token's own checks (token_verify).
CREATE OR REPLACE FUNCTION pgbank.verify_access_token(token text) RETURNS pgbank.token_claims
	LANGUAGE plpgsql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims;
BEGIN
	IF token IS NULL OR token = '' THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_authorization_specification',
			MESSAGE = 'authorization header is not provided',
			HINT = 'Send "Authorization: Bearer <access token>".';
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

-- The one caller check of every authenticated function: the token first
-- (28000), then the role the function needs (42501), so a user whose role
-- was revoked can do nothing its token still claims.
CREATE OR REPLACE FUNCTION pgbank.caller(token text, VARIADIC roles text[]) RETURNS pgbank.token_claims
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	claims pgbank.token_claims := pgbank.verify_access_token(token);
BEGIN
	PERFORM pgbank.require_role(claims, VARIADIC roles);
	RETURN claims;
END
$$;
COMMENT ON FUNCTION pgbank.caller(text, text[]) IS
	'Claims of a valid access token whose user holds one of the roles; 28000 or 42501 otherwise';

-- === login, renewal, logout ===

CREATE OR REPLACE FUNCTION pgbank.login(username text, password text, user_agent text DEFAULT NULL,
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
	-- Counted before the check, for the user if it exists and for the
	-- client's address; taken back on success: see extension/throttle.c.
	PERFORM pgbank.login_throttle_attempt(u.username, client_ip);
	IF u.username IS NULL THEN
		-- As slow as a wrong password: the time does not tell that the user
		-- does not exist.
		PERFORM pgbank.dummy_password_check(password);
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('user %s not found', username);
	END IF;
	IF NOT pgbank.password_matches(u.hashed_password, password) THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_password',
			MESSAGE = format('wrong password for user %s', u.username);
	END IF;
	PERFORM pgbank.login_throttle_passed(u.username, client_ip);
	-- A hash of another kind or cost than new ones gets replaced, not
	-- waiting for a concurrent login of the user (its FOR SHARE): that one
	-- or the next rehashes. password_changed_at stays: it is no change.
	IF pgbank.password_needs_rehash(u.hashed_password) THEN
		UPDATE pgbank.users x SET hashed_password = pgbank.hash_password(password)
		 WHERE x.username = (SELECT y.username FROM pgbank.users y
							  WHERE y.username = u.username AND y.hashed_password = u.hashed_password
							  FOR UPDATE SKIP LOCKED);
	END IF;

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
	'no_data_found for an unknown user, invalid_password, login_throttled (the user''s failures or the address''s)';

-- The session of a refresh token, locked; every check renewal and logout
-- share. FOR SHARE suffices for renewal (a concurrent logout then waits, and
-- revokes the token renewal issued) and FOR UPDATE is logout's.
CREATE OR REPLACE FUNCTION pgbank.session_of(refresh_token text, for_update boolean) RETURNS pgbank.sessions
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
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('session_other_user'),
			MESSAGE = 'session belongs to another user';
	END IF;
	IF NOT pgbank.secret_code_matches(s.refresh_token, refresh_token) THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('refresh_token_mismatch'),
			MESSAGE = 'refresh token does not match the session';
	END IF;
	RETURN s;
END
$$;
COMMENT ON FUNCTION pgbank.session_of(text, boolean) IS
	'The session of a verified refresh token, locked (no_data_found, session_other_user, refresh_token_mismatch)';

CREATE OR REPLACE FUNCTION pgbank.renew_access_token(refresh_token text) RETURNS pgbank.renew_result
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s pgbank.sessions;
BEGIN
	s := pgbank.session_of(refresh_token, false);
	IF s.is_blocked THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('session_blocked'), MESSAGE = 'session is blocked';
	END IF;
	IF s.expires_at <= now() THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('session_expired'), MESSAGE = 'session has expired';
	END IF;
	-- Roles are read again, so grants and revocations reach the new token.
	RETURN pgbank.issue_access_token(s.username, pgbank.roles_of(s.username), s.id);
END
$$;
COMMENT ON FUNCTION pgbank.renew_access_token(text) IS
	'A new access token for a session''s refresh token (docs/errors.md: session_blocked, '
	'session_other_user, refresh_token_mismatch, session_expired)';

CREATE OR REPLACE FUNCTION pgbank.logout(refresh_token text) RETURNS void
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

-- === upkeep ===
CREATE OR REPLACE FUNCTION pgbank.purge_expired_sessions(keep interval DEFAULT '7 days')
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

-- === the login throttle (extension/throttle.c) ===
CREATE OR REPLACE FUNCTION pgbank.login_throttle_attempt(username text, client_ip inet) RETURNS void
	AS 'MODULE_PATHNAME', 'pgbank_login_throttle_attempt'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.login_throttle_attempt(text, inet) IS
	'Count a login attempt of a user (NULL: no such user) from a client address (NULL: unknown), '
	'or raise login_throttled when either has too many failures in its window, or the throttle is full of throttled ones';

CREATE OR REPLACE FUNCTION pgbank.login_throttle_passed(username text, client_ip inet) RETURNS void
	AS 'MODULE_PATHNAME', 'pgbank_login_throttle_passed'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.login_throttle_passed(text, inet) IS
	'A right password: forget the user''s counted failures and take this attempt back from the address''s';

CREATE OR REPLACE FUNCTION pgbank.login_throttle_clear(username text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgbank_login_throttle_clear'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgbank.login_throttle_clear(text) IS
	'Forget a user''s counted login failures (whether there were any)';

CREATE OR REPLACE FUNCTION pgbank.login_throttle_clear_address(client_ip inet) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgbank_login_throttle_clear_address'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgbank.login_throttle_clear_address(inet) IS
	'Forget a client address''s (an IPv6 /64''s) counted login failures (whether there were any)';

CREATE OR REPLACE FUNCTION pgbank.login_throttle()
	RETURNS TABLE (username text, failures int, window_started_at timestamptz, throttled boolean)
	AS 'MODULE_PATHNAME', 'pgbank_login_throttle'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.login_throttle() IS
	'Users with failed logins in a window not yet over, and whether they are throttled';

CREATE OR REPLACE FUNCTION pgbank.login_throttle_addresses()
	RETURNS TABLE (client_ip inet, failures int, window_started_at timestamptz, throttled boolean)
	AS 'MODULE_PATHNAME', 'pgbank_login_throttle_addresses'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.login_throttle_addresses() IS
	'Client addresses (IPv6: /64 networks) with failed logins in a window not yet over, and whether they are throttled';
