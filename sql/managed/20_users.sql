-- Passwords in the managed build: bcrypt with pgcrypto (libsodium's
-- Argon2id is not there). Twins of extension/password.c. A hash of either
-- format is recognised; this build verifies bcrypt only (docs/managed.md).

CREATE OR REPLACE FUNCTION pgbank.bcrypt_cost() RETURNS integer
	LANGUAGE plpgsql STABLE AS $$
DECLARE
	cost integer := pgbank.setting('pgbank.bcrypt_cost')::integer;
BEGIN
	IF cost NOT BETWEEN 4 AND 31 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('%s is outside the valid range for parameter "pgbank.bcrypt_cost" (4 .. 31)', cost);
	END IF;
	RETURN cost;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.hash_password(password text) RETURNS text
	LANGUAGE plpgsql VOLATILE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.crypto_crypt(password, pgbank.crypto_bcrypt_salt(pgbank.bcrypt_cost()));
END
$$;

CREATE OR REPLACE FUNCTION pgbank.password_matches(hashed_password text, password text) RETURNS boolean
	LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	k bytea;
BEGIN
	IF hashed_password LIKE '$argon2id$%' THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('password_reset_required'),
			MESSAGE = 'this password hash is argon2id, which the managed build cannot verify',
			DETAIL = 'pgcrypto has no Argon2id; the hash was made by the C build of pgbank.',
			HINT = 'An admin sets a new password for the user (pgbank.update_user), or let the user log in once on the C build with pgbank.password_hash = bcrypt (docs/managed.md).';
	END IF;
	IF hashed_password !~ '^\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}$' THEN
		RETURN false;	-- a malformed hash never matches
	END IF;
	-- constant time: the two are compared as HMACs under a key drawn now
	k := pgbank.crypto_random_bytes(32);
	RETURN pgbank.crypto_hmac_sha256(convert_to(pgbank.crypto_crypt(password, hashed_password), 'UTF8'), k)
		= pgbank.crypto_hmac_sha256(convert_to(hashed_password, 'UTF8'), k);
END
$$;

-- One bcrypt at the current cost under a fresh salt, and the comparison
-- password_matches makes: as long as verifying a hash of the current cost.
CREATE OR REPLACE FUNCTION pgbank.dummy_password_check(password text) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	k bytea := pgbank.crypto_random_bytes(32);
	h text := pgbank.crypto_crypt(password, pgbank.crypto_bcrypt_salt(pgbank.bcrypt_cost()));
BEGIN
	IF pgbank.crypto_hmac_sha256(convert_to(h, 'UTF8'), k)
			= pgbank.crypto_hmac_sha256(convert_to(encode(k, 'hex'), 'UTF8'), k) THEN
		RAISE EXCEPTION 'pgbank: a password matched the dummy hash';
	END IF;
END
$$;

-- bcrypt below the current cost is rehashed; Argon2id is not (this build
-- cannot verify it, so a login never gets here with one).
CREATE OR REPLACE FUNCTION pgbank.password_needs_rehash(hashed_password text) RETURNS boolean
	LANGUAGE sql STABLE STRICT PARALLEL SAFE
	RETURN hashed_password ~ '^\$2[abxy]\$\d\d\$' AND substr(hashed_password, 5, 2)::integer <> pgbank.bcrypt_cost();
