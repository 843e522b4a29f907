-- pgbank install script, assembled from sql/src/*.sql in file-name order.
\echo Use "CREATE EXTENSION pgbank" to load this file. \quit

-- Currencies are data, so a new one needs no code: INSERT a row.
CREATE TABLE pgbank.currencies (
	code text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
	name text NOT NULL,
	minor_units smallint NOT NULL DEFAULT 2 CHECK (minor_units BETWEEN 0 AND 4)
);
INSERT INTO pgbank.currencies (code, name) VALUES
	('USD', 'United States dollar'),
	('EUR', 'Euro'),
	('CAD', 'Canadian dollar');

-- The columns of the Go simple bank's users table come first, in its order.
CREATE TABLE pgbank.users (
	username text PRIMARY KEY CHECK (username ~ '^[a-zA-Z0-9_]{3,100}$'),
	hashed_password text NOT NULL,
	full_name text NOT NULL CHECK (length(full_name) BETWEEN 1 AND 100),
	email text NOT NULL UNIQUE CHECK (length(email) <= 200),
	is_email_verified boolean NOT NULL DEFAULT false,
	password_changed_at timestamptz NOT NULL DEFAULT '0001-01-01 00:00:00Z',
	created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pgbank.accounts (
	id bigserial PRIMARY KEY,
	owner text NOT NULL REFERENCES pgbank.users (username) ON UPDATE CASCADE,
	balance bigint NOT NULL CHECK (balance >= 0),
	currency text NOT NULL REFERENCES pgbank.currencies (code),
	created_at timestamptz NOT NULL DEFAULT now(),
	CONSTRAINT accounts_owner_currency_key UNIQUE (owner, currency)
);

-- idempotency_key is global: clients should use random keys (UUIDs).
CREATE TABLE pgbank.transfers (
	id bigserial PRIMARY KEY,
	from_account_id bigint NOT NULL REFERENCES pgbank.accounts (id),
	to_account_id bigint NOT NULL REFERENCES pgbank.accounts (id),
	amount bigint NOT NULL CHECK (amount > 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	currency text NOT NULL REFERENCES pgbank.currencies (code),
	idempotency_key text UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 255),
	CHECK (from_account_id <> to_account_id)
);
CREATE INDEX transfers_from_account_id_idx ON pgbank.transfers (from_account_id);
CREATE INDEX transfers_to_account_id_idx ON pgbank.transfers (to_account_id);

-- Every transfer writes two entries; balance_after is the account's balance
-- right after that entry, which lets an idempotent retry answer exactly
-- what the first call answered.
CREATE TABLE pgbank.entries (
	id bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES pgbank.accounts (id),
	amount bigint NOT NULL CHECK (amount <> 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	transfer_id bigint REFERENCES pgbank.transfers (id),
	balance_after bigint CHECK (balance_after >= 0)
);
CREATE INDEX entries_account_id_idx ON pgbank.entries (account_id);
CREATE INDEX entries_transfer_id_idx ON pgbank.entries (transfer_id);

-- What pgbank.transfer returns: simple bank's TransferTxResult.
CREATE TYPE pgbank.transfer_result AS (
	transfer pgbank.transfers,
	from_account pgbank.accounts,
	to_account pgbank.accounts,
	from_entry pgbank.entries,
	to_entry pgbank.entries
);
