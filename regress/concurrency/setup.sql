-- Accounts and a wrapper for the concurrency test (not part of the extension).
-- The wrapper counts deliberate overdrafts (PB004) and lets every other error
-- through, so pgbench reports it as a failed or aborted transaction.
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS pgbank_conc CASCADE;
CREATE SCHEMA pgbank_conc;
CREATE SEQUENCE pgbank_conc.overdrafts;
CREATE FUNCTION pgbank_conc.transfer(a bigint, b bigint, amount bigint) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pgbank.transfer(a, b, amount);
EXCEPTION WHEN SQLSTATE 'PB004' THEN
	PERFORM nextval('pgbank_conc.overdrafts');
END
$$;
-- A batch of two random transfers, all or none (one overdraft refuses both).
CREATE FUNCTION pgbank_conc.batch(a bigint, b bigint, c bigint, amount bigint) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pgbank.transfer_batch(ARRAY[a, b], ARRAY[b, c], ARRAY[amount, amount / 2 + 1]);
EXCEPTION WHEN SQLSTATE 'PB004' THEN
	PERFORM nextval('pgbank_conc.overdrafts');
END
$$;
-- Independent items: an overdraft is an item's answer, not an error; any
-- other refusal is a failure of the test.
CREATE FUNCTION pgbank_conc.each(a bigint, b bigint, c bigint, amount bigint) RETURNS void
	LANGUAGE plpgsql AS $$
DECLARE
	bad text;
BEGIN
	SELECT string_agg(sqlstate || ' ' || message, '; ') INTO bad
	  FROM pgbank.transfer_each(ARRAY[a, b, c], ARRAY[b, c, a], ARRAY[amount, amount, amount])
	 WHERE sqlstate IS NOT NULL AND sqlstate <> 'PB004';
	IF bad IS NOT NULL THEN
		RAISE EXCEPTION 'transfer_each refused: %', bad;
	END IF;
END
$$;
-- A hold of a few seconds (some expire before they are resolved).
CREATE FUNCTION pgbank_conc.hold(a bigint, b bigint, amount bigint) RETURNS void
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pgbank.hold(a, b, amount, NULL, 1 + amount % 3);
EXCEPTION WHEN SQLSTATE 'PB004' THEN
	PERFORM nextval('pgbank_conc.overdrafts');
END
$$;
-- Resolve a pending hold: post part of it, void it, or run the expiry job.
CREATE FUNCTION pgbank_conc.resolve(lo bigint, hi bigint, pick bigint) RETURNS void
	LANGUAGE plpgsql AS $$
DECLARE
	h pgbank.holds;
BEGIN
	IF pick % 5 = 0 THEN
		PERFORM pgbank.expire_holds();
		RETURN;
	END IF;
	SELECT * INTO h FROM pgbank.holds x
	 WHERE x.status = 'pending' AND x.from_account_id BETWEEN lo AND hi AND x.expires_at > now()
	 ORDER BY x.id LIMIT 1 FOR UPDATE SKIP LOCKED;
	IF NOT FOUND THEN
		RETURN;
	END IF;
	BEGIN
		IF pick % 2 = 0 THEN
			PERFORM pgbank.post_hold(h.id, 1 + h.amount / 2);
		ELSE
			PERFORM pgbank.void_hold(h.id);
		END IF;
	EXCEPTION WHEN SQLSTATE 'PB021' THEN
		NULL;	-- it expired between the look and the lock: the job's to release
	END;
END
$$;
CREATE TABLE pgbank_conc.opening AS
	WITH u AS (
		SELECT (pgbank.create_user(format('conc_%s_%s', :'run', i), 'concurrency',
		                           'Concurrency Test', format('conc_%s_%s@example.com', :'run', i))).username
		  FROM generate_series(1, :accounts) i)
	SELECT a.* FROM u, LATERAL pgbank.create_account(u.username, 'USD', :opening) a;
SELECT min(id) AS lo, max(id) AS hi, sum(balance) AS total FROM pgbank_conc.opening \gset
\echo :lo :hi :total
