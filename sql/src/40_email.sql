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
