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
CREATE TABLE pgbank_conc.opening AS
	WITH u AS (
		SELECT (pgbank.create_user(format('conc_%s_%s', :'run', i), 'concurrency',
		                           'Concurrency Test', format('conc_%s_%s@example.com', :'run', i))).username
		  FROM generate_series(1, :accounts) i)
	SELECT a.* FROM u, LATERAL pgbank.create_account(u.username, 'USD', :opening) a;
SELECT min(id) AS lo, max(id) AS hi, sum(balance) AS total FROM pgbank_conc.opening \gset
\echo :lo :hi :total
