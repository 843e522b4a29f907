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
