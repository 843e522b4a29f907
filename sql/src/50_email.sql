-- Email: verification codes (extension/email.c; compared with
-- pgbank.secret_code_matches, 00_common.sql), the announcements of a
-- changed password or address, and the outbox that delivers them over SMTP
-- (extension/outbox.c). docs/email.md explains the design.

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
-- A transaction that queues messages wakes the waiting runs of the pg_cron
-- job when it commits, so a message leaves within moments, not at the next
-- minute (extension/outbox_wake.c).
CREATE OR REPLACE FUNCTION pgbank.outbox_wake_trigger() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pgbank_outbox_wake_trigger'
	LANGUAGE C;
COMMENT ON FUNCTION pgbank.outbox_wake_trigger() IS
	'Trigger: the waiting outbox runs are woken when the transaction that queued messages commits';
CREATE TRIGGER outbox_wake
	AFTER INSERT ON pgbank.outbox
	FOR EACH STATEMENT EXECUTE FUNCTION pgbank.outbox_wake_trigger();

CREATE OR REPLACE FUNCTION pgbank.new_secret_code() RETURNS text
	AS 'MODULE_PATHNAME', 'pgbank_new_secret_code'
	LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION pgbank.new_secret_code() IS
	'43 characters of base64url from 32 random bytes (libsodium randombytes)';

-- Issue a verification code for a user's current address and queue the
-- message that carries it. Called by the triggers below, so it happens in
-- the transaction that creates the user or changes the address.
CREATE OR REPLACE FUNCTION pgbank.queue_verify_email(username text, full_name text, email text)
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

CREATE OR REPLACE FUNCTION pgbank.users_verify_email_trigger() RETURNS trigger
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
CREATE OR REPLACE FUNCTION pgbank.users_email_changed_trigger() RETURNS trigger
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

-- A changed password or address is announced to the address the account
-- had, whoever made the change, so a stolen access token cannot take an
-- account over silently (the new address gets its verification above).
CREATE OR REPLACE FUNCTION pgbank.users_changed_trigger() RETURNS trigger
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	what text;
BEGIN
	IF NEW.hashed_password IS DISTINCT FROM OLD.hashed_password THEN
		what := 'Your Simple Bank password was changed.';
	END IF;
	IF NEW.email IS DISTINCT FROM OLD.email THEN
		what := concat_ws(E'\n', what,
			format('Your Simple Bank email address was changed to %s.', NEW.email));
	END IF;
	INSERT INTO pgbank.outbox (kind, recipient, subject, body, payload)
	VALUES ('account_changed', OLD.email, 'Your Simple Bank account was changed',
			format(E'Hello %s,\n\n%s\n\nIf you did not make this change, contact us at once.\n',
				   NEW.full_name, what),
			jsonb_build_object('username', NEW.username,
				'password', NEW.hashed_password IS DISTINCT FROM OLD.hashed_password,
				'email', NEW.email IS DISTINCT FROM OLD.email));
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgbank.users_changed_trigger() IS
	'Trigger: a changed password or email is announced to the user''s previous address';
CREATE TRIGGER users_changed_announce
	AFTER UPDATE OF hashed_password, email ON pgbank.users
	FOR EACH ROW WHEN (OLD.hashed_password IS DISTINCT FROM NEW.hashed_password
	                   OR OLD.email IS DISTINCT FROM NEW.email)
	EXECUTE FUNCTION pgbank.users_changed_trigger();

-- The link's target. The code is compared only after the row is found by
-- id and locked, in constant time, and before anything about the row's
-- state is revealed: without the code a caller learns only whether an id
-- exists.
CREATE OR REPLACE FUNCTION pgbank.verify_email(email_id bigint, secret_code text) RETURNS json
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
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('verify_code_wrong'),
			MESSAGE = 'wrong email verification code', COLUMN = 'secret_code';
	END IF;
	IF ve.is_used THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('verify_code_used'),
			MESSAGE = 'email verification code already used';
	END IF;
	IF ve.expired_at <= now() THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('verify_code_expired'),
			MESSAGE = 'email verification code expired',
			HINT = 'Changing the email address sends a new code.';
	END IF;
	SELECT u.email INTO current_email FROM pgbank.users u
	 WHERE u.username = ve.username FOR UPDATE;
	IF current_email IS DISTINCT FROM ve.email THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('verify_code_stale_email'),
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
-- message and after recording its result, and waits for new messages; the
-- function does all in the caller's transaction. docs/email.md compares them.
CREATE OR REPLACE PROCEDURE pgbank.run_outbox(max_messages integer DEFAULT 1000)
	AS 'MODULE_PATHNAME', 'pgbank_run_outbox'
	LANGUAGE C;
COMMENT ON PROCEDURE pgbank.run_outbox(integer) IS
	'Deliver up to max_messages due outbox messages over SMTP for at most pgbank.outbox_run_time, committing after each claim and each result; outside a transaction block (as the pg_cron job calls it) it then waits for new messages until pgbank.outbox_run_time, up to max_messages after each wait';

CREATE OR REPLACE FUNCTION pgbank.deliver_outbox(max_messages integer DEFAULT 10) RETURNS integer
	AS 'MODULE_PATHNAME', 'pgbank_deliver_outbox'
	LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION pgbank.deliver_outbox(integer) IS
	'Deliver up to max_messages due outbox messages over SMTP in the caller''s transaction; returns how many were sent';

-- Every pg_cron job of pgbank, one row each in the VALUES list below: adding
-- a job is adding its row. Jobs are scheduled by name, so calling again
-- updates them in place (the local set-up does at every run).
CREATE OR REPLACE FUNCTION pgbank.schedule_jobs(only_job text DEFAULT NULL, new_schedule text DEFAULT NULL)
	RETURNS TABLE (jobname text, schedule text, command text, jobid bigint)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
			MESSAGE = 'pg_cron is not installed in this database',
			DETAIL = 'pgbank''s periodic jobs, the outbox delivery among them, are pg_cron jobs.',
			HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database and CREATE EXTENSION pg_cron.';
	END IF;
	IF new_schedule IS NOT NULL AND only_job IS NULL THEN
		PERFORM pgbank.invalid_input('new_schedule', 'is given without only_job (a schedule is one job''s)');
	END IF;
	FOR jobname, schedule, command IN
		SELECT j.name, coalesce(new_schedule, j.schedule), j.command
		  FROM (VALUES
			('pgbank-outbox', '* * * * *', 'CALL pgbank.run_outbox()'),
			('pgbank-purge-sessions', '17 * * * *', 'SELECT pgbank.purge_expired_sessions()'),
			('pgbank-expire-holds', '* * * * *', 'SELECT pgbank.expire_holds()')
		  ) AS j (name, schedule, command)
		 WHERE only_job IS NULL OR j.name = only_job
	LOOP
		-- Dynamic, so that pgbank does not depend on pg_cron being installed.
		EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO jobid USING jobname, schedule, command;
		RETURN NEXT;
	END LOOP;
	IF NOT FOUND THEN
		PERFORM pgbank.invalid_input('only_job', format('no pgbank job is named %s', only_job));
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.schedule_jobs(text, text) IS
	'Schedule (or reschedule, by name) every pg_cron job of pgbank, or only only_job, with new_schedule instead of its own when given; returns the jobs; needs pg_cron in this database';

CREATE OR REPLACE FUNCTION pgbank.schedule_outbox(schedule text DEFAULT '* * * * *') RETURNS bigint
	LANGUAGE sql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT j.jobid FROM pgbank.schedule_jobs('pgbank-outbox', schedule) j
$$;
COMMENT ON FUNCTION pgbank.schedule_outbox(text) IS
	'Schedule (or reschedule) the pg_cron job "pgbank-outbox" that delivers the outbox (pgbank.schedule_jobs); needs pg_cron in this database';

REVOKE ALL ON PROCEDURE pgbank.run_outbox(integer) FROM PUBLIC;
