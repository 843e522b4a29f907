-- The C build's writer of moves (extension/ledger_rows.c): the rows a move
-- writes get what INSERT and UPDATE would give them. (Not run on the managed
-- build, whose moves are SQL statements.)
\i regress/include/setup.sql

SELECT username FROM pgbank.create_user('alice', 'secret1', 'Alice Liddell', 'alice@example.com');
SELECT username FROM pgbank.create_user('bob', 'secret2', 'Bob Ross', 'bob@example.com');
SELECT id, owner, balance FROM pgbank.create_account('alice', 'USD', 1000);
SELECT id, owner, balance FROM pgbank.create_account('bob', 'USD', 1000);

-- privileges: a role that may call transfer but not insert transfers
CREATE ROLE ledger_writer;
GRANT USAGE ON SCHEMA pgbank TO ledger_writer;
GRANT EXECUTE ON FUNCTION pgbank.transfer(bigint, bigint, bigint, text, text, text) TO ledger_writer;
GRANT UPDATE ON pgbank.accounts TO ledger_writer;
SET ROLE ledger_writer;
SELECT pg_temp.err('SELECT pgbank.transfer(1, 2, 1)');
RESET ROLE;
GRANT SELECT ON pgbank.accounts TO ledger_writer;
SET ROLE ledger_writer;
SELECT pg_temp.err('SELECT pgbank.transfer(1, 2, 1)');
RESET ROLE;
GRANT INSERT, SELECT ON pgbank.transfers TO ledger_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA pgbank TO ledger_writer;
SET ROLE ledger_writer;
SELECT pg_temp.err('SELECT pgbank.transfer(1, 2, 1)');
RESET ROLE;
-- the rows are returned: INSERT alone is not enough, as for INSERT ... RETURNING
GRANT INSERT ON pgbank.entries TO ledger_writer;
SET ROLE ledger_writer;
SELECT pg_temp.err('SELECT pgbank.transfer(1, 2, 1)');
RESET ROLE;
GRANT SELECT ON pgbank.entries TO ledger_writer;
SET ROLE ledger_writer;
SELECT (pgbank.transfer(1, 2, 1)).transfer.amount AS allowed;
RESET ROLE;
-- row-level security would filter a statement's rows: refused, not ignored
BEGIN;
ALTER TABLE pgbank.accounts ENABLE ROW LEVEL SECURITY;
SET ROLE ledger_writer;
SELECT pg_temp.err('SELECT pgbank.transfer(1, 2, 1)');
RESET ROLE;
ROLLBACK;
REVOKE ALL ON ALL TABLES IN SCHEMA pgbank FROM ledger_writer;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgbank FROM ledger_writer;
REVOKE ALL ON FUNCTION pgbank.transfer(bigint, bigint, bigint, text, text, text) FROM ledger_writer;
REVOKE ALL ON SCHEMA pgbank FROM ledger_writer;
DROP ROLE ledger_writer;
-- the foreign-key checks a move's own locks make needless are not run: in
-- this transaction's index scans, accounts are probed twice (the locks) and
-- transfers not at all; with a DBA's trigger on a table, its checks run
CREATE FUNCTION pg_temp.scans_of_a_transfer() RETURNS TABLE (relname name, index_scans bigint)
	LANGUAGE plpgsql AS $$
BEGIN
	CREATE TEMP TABLE before_scans ON COMMIT DROP AS
		SELECT s.relname, s.idx_scan FROM pg_stat_xact_user_tables s WHERE s.schemaname = 'pgbank';
	PERFORM pgbank.transfer(1, 2, 1);
	RETURN QUERY SELECT s.relname, s.idx_scan - coalesce(b.idx_scan, 0)
		FROM pg_stat_xact_user_tables s LEFT JOIN before_scans b USING (relname)
	   WHERE s.schemaname = 'pgbank' AND s.relname IN ('accounts', 'transfers', 'entries')
	   ORDER BY 1;
	DROP TABLE before_scans;
END $$;
BEGIN;
SELECT * FROM pg_temp.scans_of_a_transfer();
CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER noop AFTER INSERT ON pgbank.transfers FOR EACH ROW EXECUTE FUNCTION pg_temp.noop();
SELECT * FROM pg_temp.scans_of_a_transfer();
CREATE TRIGGER noop AFTER INSERT ON pgbank.entries FOR EACH ROW EXECUTE FUNCTION pg_temp.noop();
SELECT * FROM pg_temp.scans_of_a_transfer();
ROLLBACK;
-- a DBA's AFTER triggers fire, row and statement, column lists included
BEGIN;
CREATE FUNCTION pg_temp.said() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE '% % % on %', TG_WHEN, TG_LEVEL, TG_OP, TG_TABLE_NAME;
	RETURN NULL;
END $$;
CREATE TRIGGER said AFTER INSERT ON pgbank.entries FOR EACH ROW EXECUTE FUNCTION pg_temp.said();
CREATE TRIGGER said AFTER INSERT ON pgbank.transfers FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.said();
CREATE TRIGGER said AFTER UPDATE OF balance ON pgbank.accounts FOR EACH ROW EXECUTE FUNCTION pg_temp.said();
SELECT (pgbank.transfer(1, 2, 1)).transfer.amount;
SELECT cardinality(pgbank.transfer_batch(ARRAY[1, 2], ARRAY[2, 1], ARRAY[1, 1])) AS batch;
-- a BEFORE ROW trigger could change or drop a row the ledger computed
CREATE TRIGGER said_before BEFORE INSERT ON pgbank.entries FOR EACH ROW EXECUTE FUNCTION pg_temp.said();
SELECT pg_temp.err('SELECT pgbank.transfer(1, 2, 1)');
ROLLBACK;
-- a table not as this library knows it: a clear error
BEGIN;
ALTER TABLE pgbank.entries RENAME COLUMN balance_after TO balance_then;
SELECT pg_temp.err('SELECT pgbank.transfer(1, 2, 1)');
ROLLBACK;
-- no write in a read-only transaction
BEGIN READ ONLY;
SELECT pg_temp.err('SELECT pgbank.transfer(1, 2, 1)');
ROLLBACK;
-- every constraint still holds: a CHECK the engine's own checks do not make
BEGIN;
ALTER TABLE pgbank.transfers ADD CONSTRAINT small CHECK (amount < 2) NOT VALID;
SELECT pg_temp.err('SELECT pgbank.transfer(1, 2, 2)');
ROLLBACK;
-- and the partial unique index of keys: a keyed row the key's lookup cannot
-- see (written without entries, behind the ledger's back) still stops a
-- second transfer with that key; keyless transfers have no entry in it
BEGIN;
INSERT INTO pgbank.transfers (from_account_id, to_account_id, amount, currency, idempotency_key)
	VALUES (1, 2, 1, 'USD', 'k-1');
SELECT pg_temp.err($$SELECT pgbank.transfer(1, 2, 1, NULL, 'k-1')$$);
ROLLBACK;
SELECT pg_get_indexdef('pgbank.transfers_idempotency_key_idx'::regclass) AS key_index;

-- nothing moved without its entries
SELECT * FROM pgbank.check_ledger();
