-- Ledger (sql/src/40_ledger.sql): accounts, transfers and every rule of
-- pgbank.transfer, idempotency, the invariants.
\i regress/include/setup.sql

-- (the users, as 20_users.sql makes them)
SELECT username FROM pgbank.create_user('alice', 'secret1', 'Alice Liddell', 'alice@example.com');
SELECT username FROM pgbank.create_user('bob', 'secret2', 'Bob Ross', 'bob@example.com');
SELECT username FROM pgbank.create_user('carol_3', 'secret3', 'Carol', 'carol@example.org');

-- === accounts ===
SELECT id, owner, balance, currency FROM pgbank.create_account('alice', 'USD', 1000);
SELECT id, owner, balance, currency FROM pgbank.create_account('bob', 'USD');
SELECT id, owner, balance, currency FROM pgbank.create_account('alice', 'EUR', 500);
SELECT id, owner, balance, currency FROM pgbank.create_account('bob', 'EUR', 10);
SELECT id, owner, balance, currency FROM pgbank.create_account('carol_3', 'CAD', 70);
-- a new currency is a row, not code
INSERT INTO pgbank.currencies (code, name) VALUES ('GBP', 'Pound sterling');
SELECT id, owner, balance, currency FROM pgbank.create_account('carol_3', 'GBP', 5);
-- invalid accounts
SELECT pgbank.create_account('alice', 'USD');
SELECT pgbank.create_account('alice', 'XYZ');
SELECT pgbank.create_account('alice', NULL);
SELECT pgbank.create_account('nobody', 'USD');
SELECT pgbank.create_account('carol_3', 'USD', -1);

SELECT id, owner, balance FROM pgbank.get_account(1);
SELECT pgbank.get_account(999);
SELECT id, currency FROM pgbank.list_accounts('alice', 5, 1);
SELECT id, currency FROM pgbank.list_accounts('alice', 5, 2);
SELECT count(*) FROM pgbank.list_accounts('nobody', 10, 1);
SELECT pgbank.list_accounts('alice', 4, 1);
SELECT pgbank.list_accounts('alice', 11, 1);
SELECT pgbank.list_accounts('alice', 5, 0);

-- === transfers ===
-- one call: the transfer, both accounts after the move, both entries
SELECT (r).transfer.from_account_id, (r).transfer.to_account_id, (r).transfer.amount,
       (r).transfer.currency,
       (r).from_account.balance AS from_balance, (r).to_account.balance AS to_balance,
       (r).from_entry.amount AS from_entry, (r).to_entry.amount AS to_entry,
       (r).from_entry.transfer_id = (r).transfer.id AS linked
  FROM (SELECT pgbank.transfer(1, 2, 250) AS r) s;
-- usable as JSON, with simple bank's field names
SELECT json_object_keys(to_json(pgbank.transfer(2, 1, 50, 'USD')));
SELECT id, balance FROM pgbank.accounts WHERE id IN (1, 2) ORDER BY id;
-- to the last cent is allowed; past it is an overdraft
SELECT pgbank.transfer(4, 3, 11);
SELECT pgbank.transfer(4, 3, 10) IS NOT NULL AS emptied;
SELECT pgbank.transfer(4, 3, 1);

-- every rule has its own SQLSTATE
\set VERBOSITY sqlstate
SELECT pgbank.transfer(1, 2, 0);
SELECT pgbank.transfer(1, 2, -5);
SELECT pgbank.transfer(1, 1, 5);
SELECT pgbank.transfer(1, 999, 5);
SELECT pgbank.transfer(999, 1, 5);
SELECT pgbank.transfer(1, 3, 5);
SELECT pgbank.transfer(1, 2, 5, 'EUR');
SELECT pgbank.transfer(2, 1, 100000);
SELECT pgbank.transfer(NULL, 1, 5);
SELECT pgbank.transfer(1, 2, NULL);
SELECT pgbank.transfer(1, 2, 5, NULL, '');
\set VERBOSITY default
SELECT pgbank.transfer(1, 2, 0);
SELECT pgbank.transfer(1, 1, 5);
SELECT pgbank.transfer(1, 999, 5);
SELECT pgbank.transfer(999, 1, 5);
SELECT pgbank.transfer(1, 3, 5);
SELECT pgbank.transfer(1, 2, 5, 'EUR');
SELECT pgbank.transfer(2, 1, 100000);
-- nothing moved by the failures above
SELECT id, balance FROM pgbank.accounts ORDER BY id;

-- === idempotency ===
SELECT (pgbank.transfer(1, 2, 7, NULL, 'key-1')).transfer.id AS first_id \gset
SELECT (r).transfer.id = :first_id AS same_transfer,
       (r).from_account.balance AS from_balance_then, (r).to_account.balance AS to_balance_then
  FROM (SELECT pgbank.transfer(1, 2, 7, NULL, 'key-1') AS r) s;
-- the replay answers what the first call answered, even after later moves
SELECT pgbank.transfer(1, 2, 1) IS NOT NULL AS moved_again;
SELECT to_json(pgbank.transfer(1, 2, 7, 'USD', 'key-1'))::text =
       to_json(pgbank.transfer(1, 2, 7, NULL, 'key-1'))::text AS identical_replay;
SELECT (pgbank.transfer(1, 2, 7, 'USD', 'key-1')).from_account.balance AS balance_after_first_call;
SELECT count(*) AS transfers_with_key FROM pgbank.transfers WHERE idempotency_key = 'key-1';
\set VERBOSITY sqlstate
SELECT pgbank.transfer(1, 2, 8, NULL, 'key-1');
SELECT pgbank.transfer(1, 2, 7, 'EUR', 'key-1');
\set VERBOSITY default
-- a key belongs to its paying account: another account's same key is
-- another transfer (rolled back here, to keep the balances below)
BEGIN;
SELECT (pgbank.transfer(2, 1, 7, NULL, 'key-1')).transfer.id <> :first_id AS another_accounts_transfer;
ROLLBACK;
SELECT pgbank.transfer(1, 2, 8, NULL, 'key-1');
-- an idempotency key is 1 to 255 characters
SELECT pgbank.transfer(1, 2, 7, NULL, '');
SELECT pgbank.transfer(1, 2, 7, NULL, repeat('k', 256));
SELECT (pgbank.transfer(1, 2, 1, NULL, repeat('k', 255))).transfer.amount AS longest_key_accepted;
-- a failed transfer does not burn its key
SELECT pgbank.transfer(2, 1, 100000, NULL, 'key-2');
SELECT (pgbank.transfer(2, 1, 3, NULL, 'key-2')).transfer.amount;

-- === invariants ===
-- money is never created or lost: entries sum to zero, per transfer and overall
SELECT count(*) AS unbalanced_transfers FROM (
  SELECT transfer_id FROM pgbank.entries GROUP BY transfer_id HAVING sum(amount) <> 0) s;
SELECT sum(amount) AS all_entries FROM pgbank.entries;
SELECT count(*) AS transfers, (SELECT count(*) FROM pgbank.entries) AS entries
  FROM pgbank.transfers;
-- the schema backs the rules too
\set VERBOSITY terse
UPDATE pgbank.accounts SET balance = -1 WHERE id = 1;
INSERT INTO pgbank.transfers (from_account_id, to_account_id, amount, currency)
VALUES (1, 2, 0, 'USD');
\set VERBOSITY default

-- the API role can call nothing that is not SECURITY DEFINER
CREATE ROLE pgbank_regress_web;
SELECT pgbank.grant_api('pgbank_regress_web');
SET ROLE pgbank_regress_web;
SELECT pgbank.transfer(1, 2, 1);
SELECT * FROM pgbank.users;
RESET ROLE;
DROP OWNED BY pgbank_regress_web;
DROP ROLE pgbank_regress_web;

-- === double entry: house accounts, deposits, withdrawals ===
-- every currency has one house account (no owner, a negative id), a new
-- currency too; opening balances above were deposits from it
SELECT id, owner, currency, balance FROM pgbank.accounts WHERE owner IS NULL ORDER BY id;
SELECT (pgbank.house_account('EUR')).id AS eur_house;
SELECT pg_temp.err($$SELECT pgbank.house_account('XYZ')$$);
SELECT t.from_account_id, t.to_account_id, t.amount, t.reference
  FROM pgbank.transfers t WHERE t.to_account_id = 1 AND t.reference = 'opening balance';
-- each currency sums to zero
SELECT currency, sum(balance) FROM pgbank.accounts GROUP BY currency ORDER BY currency;
-- a deposit is a transfer from the house account, with a reference
SELECT (r).transfer.from_account_id, (r).transfer.to_account_id, (r).transfer.reference,
       (r).to_account.balance AS balance_after, (r).from_account.balance AS house_after
  FROM (SELECT pgbank.deposit(2, 300, 'cash at the counter') AS r) s;
-- a withdrawal is a transfer to it; it cannot overdraw
SELECT (r).transfer.from_account_id, (r).transfer.to_account_id, (r).from_account.balance
  FROM (SELECT pgbank.withdraw(2, 100, 'cash out') AS r) s;
SELECT pg_temp.err($$SELECT pgbank.withdraw(2, 100000, 'too much')$$);
-- a deposit needs its reference; a withdrawal by key is replayed
SELECT pg_temp.err($$SELECT pgbank.deposit(2, 5, NULL)$$);
SELECT pg_temp.err($$SELECT pgbank.deposit(2, 0, 'nothing')$$);
SELECT pg_temp.err($$SELECT pgbank.deposit(999, 5, 'nobody')$$);
SELECT (pgbank.withdraw(2, 1, 'atm', 'w-1')).transfer.id = (pgbank.withdraw(2, 1, 'atm', 'w-1')).transfer.id AS replayed;
-- only deposits and withdrawals touch a house account
SELECT pg_temp.err($$SELECT pgbank.transfer(-1, 2, 5)$$);
SELECT pg_temp.err($$SELECT pgbank.transfer(2, -1, 5)$$);
-- only a house account may go negative (the schema says so too)
\set VERBOSITY terse
UPDATE pgbank.accounts SET balance = -1 WHERE id = 2;
UPDATE pgbank.accounts SET owner = NULL WHERE id = 2;
\set VERBOSITY default

-- === bounds: no balance past the bigint range ===
-- the house of GBP lends the most a balance holds; one more cent is refused
SELECT (pgbank.deposit(6, 9223372036854775807 - 5, 'the most')).to_account.balance;
SELECT pg_temp.err($$SELECT pgbank.deposit(6, 1, 'one more')$$);
SELECT pg_temp.err($$SELECT pgbank.transfer(6, 6, 1)$$);

-- === references ===
SELECT (pgbank.transfer(1, 2, 1, 'USD', NULL, 'invoice 42 (é)')).transfer.reference;
SELECT pg_temp.err($$SELECT pgbank.transfer(1, 2, 1, NULL, NULL, '')$$);
SELECT pg_temp.err(format('SELECT pgbank.transfer(1, 2, 1, NULL, NULL, %L)', repeat('r', 256)));
SELECT pg_temp.err(format('SELECT pgbank.transfer(1, 2, 1, NULL, NULL, %L)', E'line\nbreak'));
SELECT length((pgbank.transfer(1, 2, 1, NULL, NULL, repeat('é', 255))).transfer.reference) AS longest_reference;

-- === a transfer by id, by key ===
SELECT id, from_account_id, to_account_id, amount FROM pgbank.get_transfer(:first_id);
SELECT pg_temp.err('SELECT pgbank.get_transfer(999999)');
SELECT id = :first_id AS by_key FROM pgbank.transfer_by_key(1, 'key-1');
-- a key belongs to its paying account: bob's account has no 'key-1'
SELECT pg_temp.err($$SELECT pgbank.transfer_by_key(2, 'key-1')$$);

-- === statements: newest first, from a cursor ===
SELECT username FROM pgbank.create_user('dora', 'secret4', 'Dora', 'dora@example.com');
SELECT id AS dora FROM pgbank.create_account('dora', 'USD', 100) \gset
SELECT pgbank.transfer(:dora, 1, 10, NULL, NULL, 'one') IS NOT NULL,
       pgbank.transfer(1, :dora, 5, NULL, NULL, 'two') IS NOT NULL,
       pgbank.transfer(:dora, 2, 20, NULL, NULL, 'three') IS NOT NULL;
SELECT transfer_id IS NOT NULL AS has_transfer, counterparty_account_id, amount, balance_after, reference
  FROM pgbank.account_statement(:dora, 2);
SELECT entry_id AS cursor FROM pgbank.account_statement(:dora, 2) ORDER BY entry_id LIMIT 1 \gset
-- a new entry arrives; the next page from the cursor is unchanged by it
SELECT pgbank.transfer(:dora, 1, 1, NULL, NULL, 'four') IS NOT NULL AS arrived;
SELECT counterparty_account_id, amount, balance_after, reference
  FROM pgbank.account_statement(:dora, 2, :cursor);
SELECT count(*) AS all_lines FROM pgbank.account_statement(:dora, 100);
SELECT pg_temp.err('SELECT pgbank.account_statement(' || :dora || ', 0)');
SELECT pg_temp.err('SELECT pgbank.account_statement(' || :dora || ', 101)');
SELECT pg_temp.err('SELECT pgbank.account_statement(999999, 10)');
SELECT pg_temp.err('SELECT pgbank.account_statement(' || :dora || ', 10, ' || :first_id || ')');
-- the account's transfers, newest first, from a transfer cursor
SELECT amount, reference FROM pgbank.account_transfers(:dora, 3);
SELECT reference FROM pgbank.account_transfers(:dora, 10,
	(SELECT id FROM pgbank.transfers WHERE reference = 'two' AND to_account_id = :dora));
-- the balance at a time: 0 before the account, its balance now
SELECT pgbank.balance_at(:dora, '2000-01-01') AS before_opening,
       pgbank.balance_at(:dora, clock_timestamp()) = (pgbank.get_account(:dora)).balance AS now_is_balance;
SELECT pgbank.balance_at(:dora, e.created_at) AS after_opening_deposit
  FROM pgbank.entries e WHERE e.account_id = :dora ORDER BY e.id LIMIT 1;
SELECT pg_temp.err('SELECT pgbank.balance_at(' || :dora || ', NULL)');

-- === holds (two-phase transfers) ===
SELECT id AS h1, status, amount, reference FROM pgbank.hold(:dora, 2, 40, 'USD', 60, 'hotel') \gset
SELECT :'status', :amount, :'reference';
-- posted balance unchanged, available less the hold
SELECT pgbank.account_json(a)->>'balance' AS balance, pgbank.account_json(a)->>'available' AS available
  FROM pgbank.get_account(:dora) a;
-- a transfer or another hold cannot spend what the hold reserved
SELECT pg_temp.err('SELECT pgbank.transfer(' || :dora || ', 2, 40)');
SELECT pg_temp.err('SELECT pgbank.hold(' || :dora || ', 2, 40)');
-- post less than held: the rest is released
SELECT (r).transfer.amount, (r).transfer.reference, (r).from_account.balance, (r).from_account.held
  FROM (SELECT pgbank.post_hold(:h1, 30) AS r) s;
SELECT status, transfer_id IS NOT NULL AS posted FROM pgbank.get_hold(:h1);
SELECT pg_temp.err('SELECT pgbank.post_hold(' || :h1 || ')');
SELECT pg_temp.err('SELECT pgbank.void_hold(' || :h1 || ')');
-- post more than held, nothing, or a missing hold
SELECT id AS h2 FROM pgbank.hold(:dora, 2, 10) \gset
SELECT pg_temp.err('SELECT pgbank.post_hold(' || :h2 || ', 11)');
SELECT pg_temp.err('SELECT pgbank.post_hold(' || :h2 || ', 0)');
SELECT pg_temp.err('SELECT pgbank.post_hold(999999)');
SELECT status FROM pgbank.void_hold(:h2);
SELECT pg_temp.err('SELECT pgbank.void_hold(' || :h2 || ')');
-- bad holds
SELECT pg_temp.err('SELECT pgbank.hold(' || :dora || ', 2, 10, NULL, 0)');
SELECT pg_temp.err('SELECT pgbank.hold(' || :dora || ', 2, 10, NULL, 2592001)');
SELECT pg_temp.err('SELECT pgbank.hold(' || :dora || ', 3, 10)');
SELECT pg_temp.err('SELECT pgbank.hold(' || :dora || ', -1, 10)');
SELECT pg_temp.err('SELECT pgbank.hold(' || :dora || ', ' || :dora || ', 10)');
-- past its timeout a hold cannot be posted or voided; the job expires it
SELECT id AS h3 FROM pgbank.hold(:dora, 2, 5, NULL, 1) \gset
UPDATE pgbank.holds SET expires_at = now() - interval '1 second' WHERE id = :h3;
SELECT pg_temp.err('SELECT pgbank.post_hold(' || :h3 || ')');
SELECT pg_temp.err('SELECT pgbank.void_hold(' || :h3 || ')');
SELECT held FROM pgbank.accounts WHERE id = :dora;
SELECT pgbank.expire_holds() AS expired, pgbank.expire_holds() AS expired_again;
SELECT status, held FROM pgbank.get_hold(:h3), pgbank.get_account(:dora);
-- the expiry job is one of pgbank's pg_cron jobs (this database has no pg_cron)
SELECT pg_temp.err($$SELECT pgbank.schedule_jobs('pgbank-expire-holds')$$);

-- === atomic batches ===
SELECT balance AS d0 FROM pgbank.accounts WHERE id = :dora \gset
SELECT cardinality(pgbank.transfer_batch(ARRAY[:dora, 1, :dora], ARRAY[1, :dora, 2], ARRAY[3, 2, 1],
	NULL, ARRAY['b1', NULL, 'b3'])) AS transfers;
SELECT balance - :d0 AS change FROM pgbank.accounts WHERE id = :dora;
-- all or none: the failing item is named by its index (from 0)
SELECT pg_temp.err(format('SELECT pgbank.transfer_batch(ARRAY[%s, 1], ARRAY[1, %s], ARRAY[1, 100000000])', :dora, :dora));
SELECT pg_temp.err(format('SELECT pgbank.transfer_batch(ARRAY[%s, 1], ARRAY[1, 999999], ARRAY[1, 1])', :dora));
SELECT pg_temp.err(format('SELECT pgbank.transfer_batch(ARRAY[%s, 1], ARRAY[1, 1], ARRAY[1, 1])', :dora));
SELECT pg_temp.err(format('SELECT pgbank.transfer_batch(ARRAY[%s], ARRAY[1], ARRAY[1], ARRAY[''EUR''])', :dora));
SELECT pg_temp.err(format('SELECT pgbank.transfer_batch(ARRAY[%s, NULL], ARRAY[1, 2], ARRAY[1, 1])', :dora));
SELECT balance - :d0 AS unchanged FROM pgbank.accounts WHERE id = :dora;
-- items see the ones before them: the second spends what the first paid in
SELECT cardinality(pgbank.transfer_batch(ARRAY[2, :dora], ARRAY[:dora, 2],
	ARRAY[100, (SELECT balance + 100 FROM pgbank.accounts WHERE id = :dora)])) AS chained;
SELECT balance AS emptied FROM pgbank.accounts WHERE id = :dora;
-- sizes
SELECT pg_temp.err('SELECT pgbank.transfer_batch(ARRAY[]::bigint[], ARRAY[]::bigint[], ARRAY[]::bigint[])');
SELECT pg_temp.err('SELECT pgbank.transfer_batch(ARRAY[1, 2], ARRAY[2], ARRAY[1, 1])');
SELECT pg_temp.err('SELECT pgbank.transfer_batch(array_fill(1::bigint, ARRAY[1001]), array_fill(2::bigint, ARRAY[1001]), array_fill(1::bigint, ARRAY[1001]))');
SELECT pgbank.deposit(1, 1000, 'for the largest batch') IS NOT NULL AS deposited;
SELECT cardinality(pgbank.transfer_batch(array_fill(1::bigint, ARRAY[1000]), array_fill(2::bigint, ARRAY[1000]),
	array_fill(1::bigint, ARRAY[1000]))) AS largest_batch;

-- === independent items (for a front end that coalesces requests) ===
-- each item answered as pgbank.transfer alone would: its result or its error
SELECT item, (result).transfer.amount, (result).from_account.balance IS NOT NULL AS has_balance,
       sqlstate, message, detail
  FROM pgbank.transfer_each(ARRAY[2, 2, 2, 999999, 2, 2, 2, 2, NULL],
	ARRAY[1, 1, 1, 1, 2, 3, 1, 1, 1],
	ARRAY[1, 100000000, 0, 1, 1, 1, 2, 2, 1],
	ARRAY['USD', NULL, NULL, NULL, NULL, NULL, 'EUR', NULL, NULL],
	ARRAY[NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'each-1', NULL]);
-- a key already used replays; the same key twice in one call is one transfer
SELECT item, (result).transfer.id IS NOT NULL AS ok, sqlstate
  FROM pgbank.transfer_each(ARRAY[2, 2, 2, 1], ARRAY[1, 1, 1, 2], ARRAY[2, 2, 3, 1], NULL,
	ARRAY['each-1', 'each-2', 'each-2', 'key-1']);
SELECT count(*) AS each_key_transfers FROM pgbank.transfers WHERE idempotency_key IN ('each-1', 'each-2');
SELECT (SELECT (result).transfer.id FROM pgbank.transfer_each(ARRAY[2], ARRAY[1], ARRAY[2], NULL, ARRAY['each-2']))
	= (SELECT id FROM pgbank.transfers WHERE idempotency_key = 'each-2') AS replays_stored;
-- the call itself is refused for arrays of different lengths
SELECT pg_temp.err('SELECT pgbank.transfer_each(ARRAY[1], ARRAY[2], ARRAY[1, 2])');

-- === the invariants ===
SELECT * FROM pgbank.check_ledger();
-- a broken ledger is reported, row by row
BEGIN;
UPDATE pgbank.accounts SET balance = balance + 1 WHERE id = 2;
DELETE FROM pgbank.entries WHERE id = (SELECT max(id) FROM pgbank.entries WHERE account_id = 1);
SELECT problem, id IS NOT NULL AS has_id FROM pgbank.check_ledger() ORDER BY 1, 2;
ROLLBACK;
