-- Email in the managed build. The database cannot open SMTP connections
-- on a managed service, so delivery is the shim's outbox worker
-- (pgbank-http --outbox-worker, docs/managed.md), which runs these
-- functions: the claim, lease, retry and result rules of
-- extension/outbox.c, each statement the same. It connects as the owner of
-- pgbank (it reads the SMTP secrets); none of these is SECURITY DEFINER,
-- so the API role cannot call them.

-- The settings a worker delivers with, secrets included.
CREATE OR REPLACE FUNCTION pgbank.outbox_smtp(OUT url text, OUT mail_from text, OUT username text,
		OUT password text, OUT tls text, OUT timeout_ms integer, OUT connect_timeout_ms integer,
		OUT run_time_ms integer)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT pgbank.setting('pgbank.smtp_url'), pgbank.setting('pgbank.smtp_from'),
		   pgbank.setting('pgbank.smtp_username'), pgbank.setting('pgbank.smtp_password'),
		   pgbank.setting('pgbank.smtp_tls'), pgbank.setting_ms('pgbank.smtp_timeout')::integer,
		   pgbank.setting_ms('pgbank.smtp_connect_timeout')::integer,
		   pgbank.setting_ms('pgbank.outbox_run_time')::integer
$$;
COMMENT ON FUNCTION pgbank.outbox_smtp() IS
	'Managed build: the SMTP settings the outbox worker delivers with (the owner only: it includes the password)';

-- Messages whose attempts are used up but that are still due become failed.
CREATE OR REPLACE FUNCTION pgbank.outbox_sweep() RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
	WITH dead AS (
	  SELECT id FROM pgbank.outbox
	   WHERE (status = 'pending'
			  OR (status = 'sending' AND claimed_at <= now() - make_interval(secs => pgbank.setting_seconds('pgbank.outbox_lease'))))
		 AND attempts >= pgbank.setting('pgbank.outbox_max_attempts')::integer
	   FOR UPDATE SKIP LOCKED)
	UPDATE pgbank.outbox o
	   SET status = 'failed', claimed_at = NULL, claimed_by = NULL,
		   last_error = CASE WHEN o.status = 'sending'
							 THEN 'runner stopped during the last attempt; last error: '
								  || coalesce(o.last_error, 'none')
							 ELSE o.last_error END
	  FROM dead WHERE o.id = dead.id
$$;

-- Claim the next due message for this connection (its backend): at most
-- one row; commit right after, before talking to SMTP.
CREATE OR REPLACE FUNCTION pgbank.outbox_claim()
	RETURNS TABLE (id bigint, recipient text, subject text, body text, attempts integer,
				   claimed_at timestamptz, created_at timestamptz, message_id text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgbank.outbox_sweep();
	RETURN QUERY
	WITH due AS (
	  SELECT x.id FROM pgbank.outbox x
	   WHERE ((x.status = 'pending' AND x.next_attempt_at <= now())
			  OR (x.status = 'sending' AND x.claimed_at <= now() - make_interval(secs => pgbank.setting_seconds('pgbank.outbox_lease'))))
		 AND x.attempts < pgbank.setting('pgbank.outbox_max_attempts')::integer
	   ORDER BY x.next_attempt_at, x.id
	   LIMIT 1
	   FOR UPDATE SKIP LOCKED)
	UPDATE pgbank.outbox o
	   SET status = 'sending', attempts = o.attempts + 1,
		   claimed_at = clock_timestamp(), claimed_by = pg_backend_pid()
	  FROM due WHERE o.id = due.id
	RETURNING o.id, o.recipient, o.subject, o.body, o.attempts, o.claimed_at, o.created_at,
		-- the C build's Message-ID: the row and its creation in microseconds since 2000
		format('<outbox-%s-%s@pgbank>', o.id,
			(extract(epoch FROM o.created_at - timestamptz '2000-01-01 00:00:00+00') * 1000000)::bigint);
END
$$;
COMMENT ON FUNCTION pgbank.outbox_claim() IS
	'Managed build: claim the next due outbox message for this connection (the outbox worker), after failing those out of attempts';

-- The result of a claimed message, if the claim is still this
-- connection's (else a warning, and false: it may be sent twice).
CREATE OR REPLACE FUNCTION pgbank.outbox_result(message_id bigint, claimed_at timestamptz, error text)
	RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF error IS NULL THEN
		UPDATE pgbank.outbox o
		   SET status = 'sent', sent_at = clock_timestamp(), claimed_at = NULL, claimed_by = NULL
		 WHERE o.id = message_id AND o.status = 'sending' AND o.claimed_at = outbox_result.claimed_at
		   AND o.claimed_by = pg_backend_pid();
	ELSE
		UPDATE pgbank.outbox o
		   SET status = CASE WHEN o.attempts >= pgbank.setting('pgbank.outbox_max_attempts')::integer
							 THEN 'failed' ELSE 'pending' END,
			   last_error = error,
			   next_attempt_at = CASE WHEN o.attempts >= pgbank.setting('pgbank.outbox_max_attempts')::integer
				   THEN o.next_attempt_at
				   ELSE clock_timestamp() + make_interval(secs => pgbank.setting_ms('pgbank.outbox_backoff')
						/ 1000.0 * 2 ^ least(o.attempts - 1, 20)) END,
			   claimed_at = NULL, claimed_by = NULL
		 WHERE o.id = message_id AND o.status = 'sending' AND o.claimed_at = outbox_result.claimed_at
		   AND o.claimed_by = pg_backend_pid();
	END IF;
	IF NOT FOUND THEN
		RAISE WARNING USING
			MESSAGE = format('outbox message %s was claimed again before its result was recorded', message_id),
			DETAIL = 'Its lease (pgbank.outbox_lease) expired during the attempt, so it may be sent twice.',
			HINT = 'Make pgbank.outbox_lease longer than pgbank.smtp_timeout.';
		RETURN false;
	END IF;
	RETURN true;
END
$$;
COMMENT ON FUNCTION pgbank.outbox_result(bigint, timestamptz, text) IS
	'Managed build: record the outbox worker''s result for a message it claimed (error NULL: sent)';

CREATE OR REPLACE FUNCTION pgbank.new_secret_code() RETURNS text
	LANGUAGE sql VOLATILE PARALLEL SAFE
	RETURN pgbank.b64url_encode(pgbank.crypto_random_bytes(32));

-- The pg_cron job still runs this: it fails the messages out of attempts;
-- delivering is the worker's.
CREATE OR REPLACE PROCEDURE pgbank.run_outbox(max_messages integer DEFAULT 1000)
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF max_messages IS NULL OR max_messages NOT BETWEEN 1 AND 1000 THEN
		PERFORM pgbank.invalid_input('max_messages', 'must be between 1 and 1000');
	END IF;
	PERFORM pgbank.outbox_sweep();
END
$$;

CREATE OR REPLACE FUNCTION pgbank.deliver_outbox(max_messages integer DEFAULT 10) RETURNS integer
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
		MESSAGE = 'the managed build of pgbank does not send email from the database',
		DETAIL = 'A managed database cannot open SMTP connections.',
		HINT = 'Run the outbox worker: pgbank-http --outbox-worker (docs/managed.md).';
END
$$;

-- No run of the job waits in the managed build (the worker polls,
-- PGBANK_OUTBOX_POLL): nobody to wake.
CREATE OR REPLACE FUNCTION pgbank.outbox_wake_trigger() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN NULL;
END
$$;
