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
