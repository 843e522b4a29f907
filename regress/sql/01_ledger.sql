-- Ledger: users, accounts, transfers and every rule of pgbank.transfer.
CREATE EXTENSION pgbank;
\set VERBOSITY default
\pset null '(null)'
\set SHOW_CONTEXT never

-- === users ===
SELECT username, full_name, email, is_email_verified,
       hashed_password LIKE '$argon2id$%' AS argon2id,
       pgbank.password_matches(hashed_password, 'secret1') AS right_password,
       pgbank.password_matches(hashed_password, 'secret2') AS wrong_password,
       password_changed_at = '0001-01-01 00:00:00Z' AS never_changed
  FROM pgbank.create_user('alice', 'secret1', 'Alice Liddell', 'alice@example.com');
SELECT username FROM pgbank.create_user('bob', 'secret2', 'Bob Ross', 'bob@example.com');
SELECT username FROM pgbank.create_user('carol_3', 'secret3', 'Carol', 'carol@example.org');
-- the clear password is stored nowhere
SELECT count(*) AS rows_holding_clear_password FROM pgbank.users
 WHERE hashed_password LIKE '%secret%';
-- two hashes of one password differ (random salt)
SELECT pgbank.hash_password('same') <> pgbank.hash_password('same') AS salted;
SELECT pgbank.password_matches('not a hash', 'x') AS malformed_hash_never_matches;

-- invalid users: each error names its field
SELECT pgbank.create_user('al', 'secret1', 'Al', 'al@example.com');
SELECT pgbank.create_user('bad-name', 'secret1', 'Bad', 'bad@example.com');
SELECT pgbank.create_user(NULL, 'secret1', 'Bad', 'bad@example.com');
SELECT pgbank.create_user('dave', '12345', 'Dave', 'dave@example.com');
SELECT pgbank.create_user('dave', repeat('x', 1025), 'Dave', 'dave@example.com');
SELECT pgbank.create_user('dave', 'secret4', '', 'dave@example.com');
SELECT pgbank.create_user('dave', 'secret4', 'Dave', 'not-an-email');
SELECT pgbank.create_user('dave', 'secret4', 'Dave', 'a@b');
-- duplicates
SELECT pgbank.create_user('alice', 'secret1', 'Other Alice', 'other@example.com');
SELECT pgbank.create_user('alice2', 'secret1', 'Other Alice', 'alice@example.com');

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
SELECT pgbank.transfer(2, 1, 7, NULL, 'key-1');
SELECT pgbank.transfer(1, 2, 7, 'EUR', 'key-1');
\set VERBOSITY default
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
