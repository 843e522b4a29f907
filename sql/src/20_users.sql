-- Users: the users table (the Go simple bank's), passwords, the rule for
-- each user field, roles, and who may change whom (update_user,
-- grant_role, revoke_role). docs/identity.md.

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

-- === passwords (extension/password.c): Argon2id through libsodium, and bcrypt ===
CREATE OR REPLACE FUNCTION pgbank.hash_password(password text) RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_hash_password'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.hash_password(text) IS
	'Argon2id hash of a password in libsodium''s crypto_pwhash_str format';

CREATE OR REPLACE FUNCTION pgbank.password_matches(hashed_password text, password text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgbank_password_matches'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.password_matches(text, text) IS
	'Whether a password matches an Argon2id or a bcrypt hash (constant time)';

CREATE OR REPLACE FUNCTION pgbank.dummy_password_check(password text) RETURNS void
	AS 'MODULE_PATHNAME', 'pgbank_dummy_password_check'
	LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.dummy_password_check(text) IS
	'Check a password against a dummy Argon2id hash at the current cost, as long as password_matches takes (login, for a user that does not exist)';

CREATE OR REPLACE FUNCTION pgbank.password_needs_rehash(hashed_password text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'pgbank_password_needs_rehash'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.password_needs_rehash(text) IS
	'Whether a hash is not of the kind (pgbank.password_hash) and cost hash_password makes now: login then rehashes the password';

-- === the fields ===
-- The rule for each user field, in one place: create_user, login and
-- update_user check with this. NULL is invalid; a caller to which NULL
-- means "keep the field" tests for it first.
CREATE OR REPLACE FUNCTION pgbank.check_user_field(field text, value text) RETURNS void
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

CREATE OR REPLACE FUNCTION pgbank.create_user(username text, password text, full_name text, email text)
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

-- simple bank's userResponse: a user without its password hash. The one
-- definition of what of a user is shown; user_json is its JSON.
CREATE TYPE pgbank.user_response AS (
	username text,
	full_name text,
	email text,
	password_changed_at timestamptz,
	created_at timestamptz
);
CREATE OR REPLACE FUNCTION pgbank.to_user_response(u pgbank.users) RETURNS pgbank.user_response
	LANGUAGE sql IMMUTABLE
	RETURN ROW((u).username, (u).full_name, (u).email, (u).password_changed_at,
			   (u).created_at)::pgbank.user_response;
COMMENT ON FUNCTION pgbank.to_user_response(pgbank.users) IS
	'A user as the API shows it (simple bank''s userResponse, no password hash)';

CREATE OR REPLACE FUNCTION pgbank.user_json(u pgbank.users) RETURNS json
	LANGUAGE sql STABLE
	RETURN to_json(pgbank.to_user_response(u));
COMMENT ON FUNCTION pgbank.user_json(pgbank.users) IS
	'A user as the simple bank answers it: to_user_response as JSON';

-- === roles ===
-- A user holds any number of roles: depositor (own accounts, own game
-- results), banker (reads every account, updates depositors' names and
-- emails), admin (grants and revokes roles, updates anyone's name and
-- email). A user without a role can sign in but do nothing else.
CREATE TABLE pgbank.user_roles (
	username text NOT NULL
		REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,
	role text NOT NULL CHECK (role IN ('depositor', 'banker', 'admin')),
	granted_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (username, role)
);

-- Every new user is a depositor, however the row is inserted.
CREATE OR REPLACE FUNCTION pgbank.user_roles_default() RETURNS trigger
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

CREATE OR REPLACE FUNCTION pgbank.roles_of(username text) RETURNS text[]
	LANGUAGE sql STABLE STRICT
	RETURN (SELECT coalesce(array_agg(r.role ORDER BY r.role), '{}')
			  FROM pgbank.user_roles r WHERE r.username = roles_of.username);
COMMENT ON FUNCTION pgbank.roles_of(text) IS
	'The roles a user holds, sorted (empty array if none)';

CREATE OR REPLACE FUNCTION pgbank.caller_has_role(claims pgbank.token_claims, role text) RETURNS boolean
	LANGUAGE sql IMMUTABLE
	RETURN coalesce(role = ANY ((claims).roles), false);
COMMENT ON FUNCTION pgbank.caller_has_role(pgbank.token_claims, text) IS
	'Whether verified token claims carry a role (false for NULL claims)';

CREATE OR REPLACE FUNCTION pgbank.require_role(claims pgbank.token_claims, VARIADIC roles text[]) RETURNS void
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
CREATE OR REPLACE FUNCTION pgbank.make_admin(username text) RETURNS text[]
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

CREATE OR REPLACE FUNCTION pgbank.check_role_target(username text, role text) RETURNS void
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

CREATE OR REPLACE FUNCTION pgbank.grant_role(token text, username text, role text) RETURNS text[]
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgbank.caller(token, 'admin');
	PERFORM pgbank.check_role_target(username, role);
	INSERT INTO pgbank.user_roles (username, role) VALUES (username, role)
		ON CONFLICT DO NOTHING;
	RETURN pgbank.roles_of(username);
END
$$;
COMMENT ON FUNCTION pgbank.grant_role(text, text, text) IS
	'Admin only: give a user a role (from its next login or renewal); the user''s roles after';

CREATE OR REPLACE FUNCTION pgbank.revoke_role(token text, username text, role text) RETURNS text[]
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgbank.caller(token, 'admin');
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

-- === who may change whom ===
-- A bank's rule: a password is changed only by its owner; another user's
-- name or email may be changed by a banker when that user is neither a
-- banker nor an admin, and by an admin for anyone. Every change is
-- announced to the account's email address (50_email.sql), so a stolen
-- access token cannot take an account over silently.
CREATE OR REPLACE FUNCTION pgbank.check_user_change(claims pgbank.token_claims, target text,
	changes_password boolean) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	target_roles text[];
BEGIN
	IF claims.username = target THEN
		-- oneself, with any role (a user without one can do nothing)
		IF cardinality(claims.roles) = 0 THEN
			PERFORM pgbank.require_role(claims, 'depositor', 'banker', 'admin');
		END IF;
		RETURN;
	END IF;
	IF changes_password THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('user %s may not change the password of user %s', claims.username, target),
			HINT = 'Only its owner changes a password.';
	END IF;
	target_roles := coalesce(pgbank.roles_of(target), '{}');
	IF NOT (pgbank.caller_has_role(claims, 'admin')
			OR (pgbank.caller_has_role(claims, 'banker')
				AND NOT target_roles && ARRAY['banker', 'admin'])) THEN
		RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
			MESSAGE = format('user %s may not update user %s', claims.username, target),
			HINT = 'A user updates itself; a banker a depositor''s name and email; an admin anyone''s name and email.';
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.check_user_change(pgbank.token_claims, text, boolean) IS
	'Raise 42501 unless the caller may change the target user (its password only if it is the caller)';

-- The change itself, for a caller whose token is verified.
CREATE OR REPLACE FUNCTION pgbank.change_user(claims pgbank.token_claims, username text,
	full_name text, email text, password text)
	RETURNS pgbank.user_response
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	u pgbank.users;
BEGIN
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
	PERFORM pgbank.check_user_change(claims, username, password IS NOT NULL);

	SELECT * INTO u FROM pgbank.users x WHERE x.username = change_user.username FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('user %s not found', username);
	END IF;
	-- One statement per column, each only when the value changes, so that
	-- triggers on UPDATE OF email fire only for a new address.
	IF full_name IS NOT NULL AND full_name <> u.full_name THEN
		UPDATE pgbank.users x SET full_name = change_user.full_name
		 WHERE x.username = u.username RETURNING * INTO u;
	END IF;
	IF email IS NOT NULL AND email <> u.email THEN
		BEGIN
			UPDATE pgbank.users x SET email = change_user.email, is_email_verified = false
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
COMMENT ON FUNCTION pgbank.change_user(pgbank.token_claims, text, text, text, text) IS
	'update_user for verified claims: change a user''s full name, email (unverifies it) or '
	'password (ends its sessions); NULL keeps a field';

CREATE OR REPLACE FUNCTION pgbank.update_user(token text, username text, full_name text DEFAULT NULL,
	email text DEFAULT NULL, password text DEFAULT NULL)
	RETURNS pgbank.user_response
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.change_user(pgbank.verify_access_token(token), username, full_name, email, password);
END
$$;
COMMENT ON FUNCTION pgbank.update_user(text, text, text, text, text) IS
	'Change a user''s full name, email (unverifies it) or password (ends its sessions); '
	'NULL keeps a field. Who may change whom: pgbank.check_user_change';
