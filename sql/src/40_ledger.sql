-- The ledger: currencies, accounts in minor units, transfers and their
-- entries, pgbank.transfer (C: extension/ledger.c) and the JSON the simple
-- bank answers for them. docs/ledger.md.

-- Currencies are data, so a new one needs no code: INSERT a row.
CREATE TABLE pgbank.currencies (
	code text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}$'),
	name text NOT NULL,
	minor_units smallint NOT NULL DEFAULT 2 CHECK (minor_units BETWEEN 0 AND 4)
);

-- Double entry: every currency has one house account (the bank's side of
-- deposits and withdrawals), the only account that may go negative, so that
-- the balances of each currency always sum to zero. A house account has no
-- owner and a negative id (its own sequence), so customers' ids are as
-- before and a house account sorts first in the lock order.
-- held is the sum of the account's pending holds (a two-phase transfer's
-- reservation): balance is the posted balance, balance - held what the owner
-- may still spend.
CREATE TABLE pgbank.accounts (
	id bigserial PRIMARY KEY,
	owner text REFERENCES pgbank.users (username) ON UPDATE CASCADE,
	balance bigint NOT NULL,
	currency text NOT NULL REFERENCES pgbank.currencies (code),
	created_at timestamptz NOT NULL DEFAULT now(),
	held bigint NOT NULL DEFAULT 0 CONSTRAINT accounts_held_check CHECK (held >= 0),
	CONSTRAINT accounts_owner_currency_key UNIQUE (owner, currency),
	-- what transfers and holds reference: an account and its currency
	CONSTRAINT accounts_id_currency_key UNIQUE (id, currency),
	CONSTRAINT accounts_house_check CHECK ((owner IS NULL) = (id < 0)),
	CONSTRAINT accounts_balance_check CHECK (owner IS NULL OR balance - held >= 0)
) WITH (fillfactor = 70);	-- room for the new version of a row on its page (HOT updates)
CREATE UNIQUE INDEX accounts_house_key ON pgbank.accounts (currency) WHERE owner IS NULL;
CREATE SEQUENCE pgbank.house_account_id_seq INCREMENT BY -1 MINVALUE -9223372036854775808 MAXVALUE -1 START WITH -1;

-- A new currency gets its house account, however the row is inserted.
CREATE OR REPLACE FUNCTION pgbank.currencies_house() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	INSERT INTO pgbank.accounts (id, owner, balance, currency)
	VALUES (nextval('pgbank.house_account_id_seq'), NULL, 0, NEW.code);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgbank.currencies_house() IS
	'Trigger: a new currency gets its house account';
CREATE TRIGGER currencies_house AFTER INSERT ON pgbank.currencies
	FOR EACH ROW EXECUTE FUNCTION pgbank.currencies_house();

INSERT INTO pgbank.currencies (code, name) VALUES
	('USD', 'United States dollar'),
	('EUR', 'Euro'),
	('CAD', 'Canadian dollar');

-- An idempotency key belongs to the paying account: another user cannot
-- claim (or learn of) a key that an account's owner uses. reference is the
-- payer's (or the banker's) free text, stored and returned. An account's
-- transfers are found through its entries (entries_account_idx), so
-- transfers need no index by account; only keyed transfers are indexed by
-- (paying account, key), since most have no key and every index entry is
-- a cost each move pays. Both accounts are
-- referenced with the transfer's currency, so the schema too says that
-- they share it (and no transfer locks the shared row of its currency).
CREATE TABLE pgbank.transfers (
	id bigserial PRIMARY KEY,
	from_account_id bigint NOT NULL,
	to_account_id bigint NOT NULL,
	amount bigint NOT NULL CHECK (amount > 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	currency text NOT NULL,
	idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 255),
	reference text CONSTRAINT transfers_reference_check
		CHECK (length(reference) BETWEEN 1 AND 255 AND reference !~ '[[:cntrl:]]'),
	CHECK (from_account_id <> to_account_id),
	CONSTRAINT transfers_from_account_fkey FOREIGN KEY (from_account_id, currency)
		REFERENCES pgbank.accounts (id, currency),
	CONSTRAINT transfers_to_account_fkey FOREIGN KEY (to_account_id, currency)
		REFERENCES pgbank.accounts (id, currency)
);
CREATE UNIQUE INDEX transfers_idempotency_key_idx ON pgbank.transfers (from_account_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL;

-- Every transfer writes two entries; balance_after is the account's balance
-- right after that entry, which lets an idempotent retry answer exactly
-- what the first call answered and a statement show a running balance.
-- created_at is taken once the accounts are locked, so an account's
-- entries are in the same order by (created_at, id) as they were applied:
-- the order statements page by.
CREATE TABLE pgbank.entries (
	id bigserial PRIMARY KEY,
	account_id bigint NOT NULL REFERENCES pgbank.accounts (id),
	amount bigint NOT NULL CHECK (amount <> 0),
	created_at timestamptz NOT NULL DEFAULT now(),
	transfer_id bigint NOT NULL REFERENCES pgbank.transfers (id),
	balance_after bigint
);
CREATE INDEX entries_account_idx ON pgbank.entries (account_id, created_at, id);
CREATE INDEX entries_transfer_id_idx ON pgbank.entries (transfer_id);

-- A hold is a pending transfer: it reserves amount of the paying account
-- (accounts.held) until it is posted (a transfer of at most that amount,
-- transfer_id), voided, or expired by pgbank.expire_holds past expires_at.
CREATE TABLE pgbank.holds (
	id bigserial PRIMARY KEY,
	from_account_id bigint NOT NULL,
	to_account_id bigint NOT NULL,
	amount bigint NOT NULL CHECK (amount > 0),
	currency text NOT NULL,
	reference text CONSTRAINT holds_reference_check
		CHECK (length(reference) BETWEEN 1 AND 255 AND reference !~ '[[:cntrl:]]'),
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	status text NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
	resolved_at timestamptz,
	transfer_id bigint REFERENCES pgbank.transfers (id),
	CHECK (from_account_id <> to_account_id),
	CHECK ((status = 'posted') = (transfer_id IS NOT NULL)),
	CHECK ((status = 'pending') = (resolved_at IS NULL)),
	CONSTRAINT holds_from_account_fkey FOREIGN KEY (from_account_id, currency)
		REFERENCES pgbank.accounts (id, currency),
	CONSTRAINT holds_to_account_fkey FOREIGN KEY (to_account_id, currency)
		REFERENCES pgbank.accounts (id, currency)
);
CREATE INDEX holds_pending_expiry_idx ON pgbank.holds (expires_at) WHERE status = 'pending';
CREATE INDEX holds_from_account_id_idx ON pgbank.holds (from_account_id);

-- What pgbank.transfer returns: simple bank's TransferTxResult.
CREATE TYPE pgbank.transfer_result AS (
	transfer pgbank.transfers,
	from_account pgbank.accounts,
	to_account pgbank.accounts,
	from_entry pgbank.entries,
	to_entry pgbank.entries
);

-- An opening balance is a deposit from the house account (reference
-- 'opening balance'), so that every cent has an entry.
CREATE OR REPLACE FUNCTION pgbank.create_account(owner text, currency text, balance bigint DEFAULT 0)
	RETURNS pgbank.accounts
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a pgbank.accounts;
BEGIN
	IF currency IS NULL OR NOT EXISTS (SELECT 1 FROM pgbank.currencies c WHERE c.code = currency) THEN
		PERFORM pgbank.invalid_input('currency', format('unsupported currency %s', coalesce(currency, 'NULL')));
	END IF;
	IF balance IS NULL OR balance < 0 THEN
		PERFORM pgbank.invalid_input('balance', 'must be zero or more');
	END IF;
	IF owner IS NULL OR NOT EXISTS (SELECT 1 FROM pgbank.users u WHERE u.username = owner) THEN
		RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
			MESSAGE = format('user %s does not exist', coalesce(owner, 'NULL')),
			COLUMN = 'owner';
	END IF;
	BEGIN
		INSERT INTO pgbank.accounts (owner, currency, balance)
		VALUES (owner, currency, 0)
		RETURNING * INTO a;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION USING ERRCODE = 'unique_violation',
			MESSAGE = format('user %s already has a %s account', owner, currency),
			COLUMN = 'currency';
	END;
	IF balance > 0 THEN
		a := (pgbank.deposit(a.id, balance, 'opening balance')).to_account;
	END IF;
	RETURN a;
END
$$;
COMMENT ON FUNCTION pgbank.create_account(text, text, bigint) IS
	'Open an account for a user in a currency (one per user and currency); a balance is deposited from the house account';

CREATE OR REPLACE FUNCTION pgbank.get_account(id bigint) RETURNS pgbank.accounts
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a pgbank.accounts;
BEGIN
	SELECT * INTO a FROM pgbank.accounts acc WHERE acc.id = get_account.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('account %s not found', coalesce(id::text, 'NULL'));
	END IF;
	RETURN a;
END
$$;
COMMENT ON FUNCTION pgbank.get_account(bigint) IS 'One account by id';

CREATE OR REPLACE FUNCTION pgbank.house_account(currency text) RETURNS pgbank.accounts
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	a pgbank.accounts;
BEGIN
	SELECT * INTO a FROM pgbank.accounts acc
	 WHERE acc.currency = house_account.currency AND acc.owner IS NULL;
	IF NOT FOUND THEN
		PERFORM pgbank.invalid_input('currency', format('unsupported currency %s', coalesce(currency, 'NULL')));
	END IF;
	RETURN a;
END
$$;
COMMENT ON FUNCTION pgbank.house_account(text) IS
	'The house account of a currency: the bank''s side of deposits and withdrawals';

CREATE OR REPLACE FUNCTION pgbank.list_accounts(owner text, page_size bigint, page_id bigint)
	RETURNS SETOF pgbank.accounts
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgbank.check_page(page_id, page_size, 5, 10);
	RETURN QUERY
		SELECT * FROM pgbank.accounts a WHERE a.owner = list_accounts.owner
		ORDER BY a.id LIMIT page_size OFFSET (page_id - 1) * page_size;
END
$$;
COMMENT ON FUNCTION pgbank.list_accounts(text, bigint, bigint) IS
	'A page of a user''s accounts, by id (page_id from 1, page_size 5 to 10)';

-- ----- moving money (C: extension/ledger.c, batch.c, holds.c) -----

CREATE OR REPLACE FUNCTION pgbank.transfer(from_account_id bigint, to_account_id bigint, amount bigint,
	currency text DEFAULT NULL, idempotency_key text DEFAULT NULL, reference text DEFAULT NULL)
	RETURNS pgbank.transfer_result
	AS 'MODULE_PATHNAME', 'pgbank_transfer'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.transfer(bigint, bigint, bigint, text, text, text) IS
	'Move amount between two customer accounts of one currency: one transfer and two entries, atomically';

CREATE OR REPLACE FUNCTION pgbank.deposit(account_id bigint, amount bigint, reference text,
	idempotency_key text DEFAULT NULL)
	RETURNS pgbank.transfer_result
	AS 'MODULE_PATHNAME', 'pgbank_deposit'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.deposit(bigint, bigint, text, text) IS
	'Money in: a transfer from the currency''s house account to the account (reference required)';

CREATE OR REPLACE FUNCTION pgbank.withdraw(account_id bigint, amount bigint, reference text,
	idempotency_key text DEFAULT NULL)
	RETURNS pgbank.transfer_result
	AS 'MODULE_PATHNAME', 'pgbank_withdraw'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.withdraw(bigint, bigint, text, text) IS
	'Money out: a transfer from the account to the currency''s house account (reference required)';

CREATE OR REPLACE FUNCTION pgbank.transfer_batch(from_account_ids bigint[], to_account_ids bigint[],
	amounts bigint[], currencies text[] DEFAULT NULL, refs text[] DEFAULT NULL)
	RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'pgbank_transfer_batch'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.transfer_batch(bigint[], bigint[], bigint[], text[], text[]) IS
	'Up to 1000 transfers, all or none (an error names the failing item from 0); the transfer ids in item order';

CREATE OR REPLACE FUNCTION pgbank.transfer_each(from_account_ids bigint[], to_account_ids bigint[],
	amounts bigint[], currencies text[] DEFAULT NULL, idempotency_keys text[] DEFAULT NULL,
	refs text[] DEFAULT NULL)
	RETURNS TABLE (item integer, result pgbank.transfer_result, sqlstate text, message text, detail text)
	AS 'MODULE_PATHNAME', 'pgbank_transfer_each'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.transfer_each(bigint[], bigint[], bigint[], text[], text[], text[]) IS
	'Up to 1000 independent transfers in one transaction: each item (from 0) applied with its result, or refused with the error pgbank.transfer would raise';

CREATE OR REPLACE FUNCTION pgbank.hold(from_account_id bigint, to_account_id bigint, amount bigint,
	currency text DEFAULT NULL, timeout_seconds bigint DEFAULT 3600, reference text DEFAULT NULL)
	RETURNS pgbank.holds
	AS 'MODULE_PATHNAME', 'pgbank_hold'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.hold(bigint, bigint, bigint, text, bigint, text) IS
	'A pending transfer: reserve amount of the paying account for timeout_seconds (1 to 2592000), until posted or voided';

CREATE OR REPLACE FUNCTION pgbank.post_hold(hold_id bigint, amount bigint DEFAULT NULL)
	RETURNS pgbank.transfer_result
	AS 'MODULE_PATHNAME', 'pgbank_post_hold'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.post_hold(bigint, bigint) IS
	'Post a pending hold: transfer its amount (or less) and release the whole reservation';

CREATE OR REPLACE FUNCTION pgbank.get_hold(id bigint) RETURNS pgbank.holds
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	h pgbank.holds;
BEGIN
	SELECT * INTO h FROM pgbank.holds x WHERE x.id = get_hold.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('hold %s not found', coalesce(id::text, 'NULL'));
	END IF;
	RETURN h;
END
$$;
COMMENT ON FUNCTION pgbank.get_hold(bigint) IS 'One hold by id';

-- The rule for resolving a hold, for post (C) and void: it must be pending
-- and not past its timeout. The caller holds the hold's row lock.
CREATE OR REPLACE FUNCTION pgbank.check_hold_pending(h pgbank.holds) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF h.status <> 'pending' THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('hold_not_pending'),
			MESSAGE = format('hold %s is %s, not pending', h.id, h.status);
	END IF;
	IF h.expires_at <= now() THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('hold_expired'),
			MESSAGE = format('hold %s has expired', h.id),
			DETAIL = format('Its timeout passed at %s; the expiry job releases its amount.', h.expires_at);
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.check_hold_pending(pgbank.holds) IS
	'Raise hold_not_pending or hold_expired unless a hold may still be posted or voided';

-- Lock order, as everywhere: the hold row, then accounts by ascending id.
CREATE OR REPLACE FUNCTION pgbank.void_hold(hold_id bigint) RETURNS pgbank.holds
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	h pgbank.holds;
BEGIN
	SELECT * INTO h FROM pgbank.holds x WHERE x.id = hold_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('hold %s not found', coalesce(hold_id::text, 'NULL'));
	END IF;
	PERFORM pgbank.check_hold_pending(h);
	UPDATE pgbank.accounts a SET held = a.held - h.amount WHERE a.id = h.from_account_id;
	UPDATE pgbank.holds x SET status = 'voided', resolved_at = now() WHERE x.id = h.id
	RETURNING * INTO h;
	RETURN h;
END
$$;
COMMENT ON FUNCTION pgbank.void_hold(bigint) IS
	'Void a pending hold: release its reservation, move nothing';

-- The pg_cron job pgbank-expire-holds (a row of pgbank.schedule_jobs). Holds being posted or
-- voided right now are skipped (their session decides them); the accounts
-- are locked in ascending id order after the holds, as post and void do.
CREATE OR REPLACE FUNCTION pgbank.expire_holds() RETURNS bigint
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	ids bigint[];
	n bigint;
BEGIN
	SELECT array_agg(h.id ORDER BY h.id) INTO ids
	  FROM (SELECT x.id FROM pgbank.holds x
	         WHERE x.status = 'pending' AND x.expires_at <= now()
	         ORDER BY x.id FOR UPDATE SKIP LOCKED) h;
	IF ids IS NULL THEN
		RETURN 0;
	END IF;
	PERFORM 1 FROM pgbank.accounts a
	 WHERE a.id IN (SELECT x.from_account_id FROM pgbank.holds x WHERE x.id = ANY (ids))
	 ORDER BY a.id FOR NO KEY UPDATE;
	UPDATE pgbank.accounts a SET held = a.held - s.amount
	  FROM (SELECT x.from_account_id, sum(x.amount)::bigint AS amount
	          FROM pgbank.holds x WHERE x.id = ANY (ids) GROUP BY 1) s
	 WHERE a.id = s.from_account_id;
	UPDATE pgbank.holds x SET status = 'expired', resolved_at = now() WHERE x.id = ANY (ids);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION pgbank.expire_holds() IS
	'Expire every pending hold past its timeout, releasing its reservation; returns how many (the pg_cron job)';

-- ----- reading the ledger -----

CREATE OR REPLACE FUNCTION pgbank.get_transfer(id bigint) RETURNS pgbank.transfers
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t pgbank.transfers;
BEGIN
	SELECT * INTO t FROM pgbank.transfers x WHERE x.id = get_transfer.id;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('transfer %s not found', coalesce(id::text, 'NULL'));
	END IF;
	RETURN t;
END
$$;
COMMENT ON FUNCTION pgbank.get_transfer(bigint) IS 'One transfer by id';

CREATE OR REPLACE FUNCTION pgbank.transfer_by_key(from_account_id bigint, idempotency_key text)
	RETURNS pgbank.transfers
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t pgbank.transfers;
BEGIN
	SELECT * INTO t FROM pgbank.transfers x
	 WHERE x.from_account_id = transfer_by_key.from_account_id
	   AND x.idempotency_key = transfer_by_key.idempotency_key;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('no transfer from account %s with that idempotency key',
				coalesce(from_account_id::text, 'NULL'));
	END IF;
	RETURN t;
END
$$;
COMMENT ON FUNCTION pgbank.transfer_by_key(bigint, text) IS
	'The transfer a paying account made with an idempotency key';

-- A statement or transfer list pages newest first from a cursor: the entry
-- (of this account) that ended the previous page. New entries come after
-- every existing one in (created_at, id), so they never shift a page
-- already read. The cursor of a statement is an entry id, of a transfer
-- list a transfer id (both of the account's own entries).
CREATE OR REPLACE FUNCTION pgbank.entry_cursor(account_id bigint, entry_id bigint, transfer_id bigint)
	RETURNS TABLE (created_at timestamptz, id bigint)
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF entry_id IS NULL AND transfer_id IS NULL THEN
		RETURN QUERY SELECT 'infinity'::timestamptz, 9223372036854775807::bigint;
		RETURN;
	END IF;
	RETURN QUERY SELECT e.created_at, e.id FROM pgbank.entries e
	 WHERE e.account_id = entry_cursor.account_id
	   AND (e.id = entry_id OR e.transfer_id = entry_cursor.transfer_id);
	IF NOT FOUND THEN
		PERFORM pgbank.invalid_input(CASE WHEN entry_id IS NULL THEN 'before_transfer_id' ELSE 'before_entry_id' END,
			format('not an entry of account %s', account_id));
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.entry_cursor(bigint, bigint, bigint) IS
	'Where a page of an account''s entries starts: the position of the cursor entry (or transfer), or the end';

CREATE TYPE pgbank.statement_line AS (
	entry_id bigint,
	transfer_id bigint,
	counterparty_account_id bigint,
	amount bigint,
	balance_after bigint,
	reference text,
	created_at timestamptz
);

CREATE OR REPLACE FUNCTION pgbank.account_statement(account_id bigint, page_size bigint,
	before_entry_id bigint DEFAULT NULL)
	RETURNS SETOF pgbank.statement_line
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c record;
BEGIN
	PERFORM pgbank.check_page_size(page_size, 1, 100);
	PERFORM pgbank.get_account(account_id);
	SELECT * INTO c FROM pgbank.entry_cursor(account_id, before_entry_id, NULL);
	RETURN QUERY
		SELECT e.id, e.transfer_id,
		       CASE WHEN t.from_account_id = e.account_id THEN t.to_account_id ELSE t.from_account_id END,
		       e.amount, e.balance_after, t.reference, e.created_at
		  FROM pgbank.entries e JOIN pgbank.transfers t ON t.id = e.transfer_id
		 WHERE e.account_id = account_statement.account_id
		   AND (e.created_at, e.id) < (c.created_at, c.id)
		 ORDER BY e.created_at DESC, e.id DESC
		 LIMIT page_size;
END
$$;
COMMENT ON FUNCTION pgbank.account_statement(bigint, bigint, bigint) IS
	'A page of an account''s entries, newest first, after the cursor entry before_entry_id (page_size 1 to 100)';

CREATE OR REPLACE FUNCTION pgbank.account_transfers(account_id bigint, page_size bigint,
	before_transfer_id bigint DEFAULT NULL)
	RETURNS SETOF pgbank.transfers
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	c record;
BEGIN
	PERFORM pgbank.check_page_size(page_size, 1, 100);
	PERFORM pgbank.get_account(account_id);
	SELECT * INTO c FROM pgbank.entry_cursor(account_id, NULL, before_transfer_id);
	RETURN QUERY
		SELECT t.*
		  FROM pgbank.entries e JOIN pgbank.transfers t ON t.id = e.transfer_id
		 WHERE e.account_id = account_transfers.account_id
		   AND (e.created_at, e.id) < (c.created_at, c.id)
		 ORDER BY e.created_at DESC, e.id DESC
		 LIMIT page_size;
END
$$;
COMMENT ON FUNCTION pgbank.account_transfers(bigint, bigint, bigint) IS
	'A page of the transfers to or from an account, newest first, after the cursor transfer before_transfer_id (page_size 1 to 100)';

CREATE OR REPLACE FUNCTION pgbank.balance_at(account_id bigint, at timestamptz) RETURNS bigint
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgbank.get_account(account_id);
	PERFORM pgbank.required('at', at);
	RETURN coalesce((SELECT e.balance_after FROM pgbank.entries e
	                  WHERE e.account_id = balance_at.account_id AND e.created_at <= at
	                  ORDER BY e.created_at DESC, e.id DESC LIMIT 1), 0);
END
$$;
COMMENT ON FUNCTION pgbank.balance_at(bigint, timestamptz) IS
	'An account''s posted balance at a time: after its last entry made by then (0 before the first)';

-- The invariants of double entry, each a query; no row is a sound ledger.
-- Every concurrency test calls this at its end.
CREATE OR REPLACE FUNCTION pgbank.check_ledger()
	RETURNS TABLE (problem text, id bigint, detail text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT 'balance is not the sum of its entries', a.id,
	       format('balance %s, entries %s', a.balance, coalesce(s.total, 0))
	  FROM pgbank.accounts a
	  LEFT JOIN (SELECT e.account_id, sum(e.amount) AS total FROM pgbank.entries e GROUP BY 1) s
	    ON s.account_id = a.id
	 WHERE a.balance <> coalesce(s.total, 0)
	UNION ALL
	SELECT 'currency does not sum to zero', NULL, format('%s sums to %s', a.currency, sum(a.balance))
	  FROM pgbank.accounts a GROUP BY a.currency HAVING sum(a.balance) <> 0
	UNION ALL
	SELECT 'transfer without exactly its two entries', t.id,
	       format('%s entries', count(e.id))
	  FROM pgbank.transfers t
	  LEFT JOIN pgbank.entries e ON e.transfer_id = t.id
	   AND ((e.account_id = t.from_account_id AND e.amount = -t.amount)
	        OR (e.account_id = t.to_account_id AND e.amount = t.amount))
	 GROUP BY t.id HAVING count(e.id) <> 2
	UNION ALL
	SELECT 'entry of no transfer side', e.id, format('account %s, amount %s', e.account_id, e.amount)
	  FROM pgbank.entries e JOIN pgbank.transfers t ON t.id = e.transfer_id
	 WHERE NOT ((e.account_id = t.from_account_id AND e.amount = -t.amount)
	            OR (e.account_id = t.to_account_id AND e.amount = t.amount))
	UNION ALL
	SELECT 'held is not the sum of pending holds', a.id,
	       format('held %s, pending %s', a.held, coalesce(h.total, 0))
	  FROM pgbank.accounts a
	  LEFT JOIN (SELECT x.from_account_id, sum(x.amount) AS total FROM pgbank.holds x
	              WHERE x.status = 'pending' GROUP BY 1) h ON h.from_account_id = a.id
	 WHERE a.held <> coalesce(h.total, 0)
	UNION ALL
	SELECT 'customer account below zero available', a.id, format('balance %s, held %s', a.balance, a.held)
	  FROM pgbank.accounts a WHERE a.owner IS NOT NULL AND a.balance - a.held < 0
$$;
COMMENT ON FUNCTION pgbank.check_ledger() IS
	'The ledger''s invariants: each balance is the sum of its entries, each currency sums to zero, each transfer has exactly its two entries, held is the pending holds; one row per violation';

-- ----- answers (JSON) -----

CREATE OR REPLACE FUNCTION pgbank.account_json(a pgbank.accounts) RETURNS json
	LANGUAGE sql STABLE
	RETURN json_build_object('id', a.id, 'owner', a.owner, 'balance', a.balance,
		'currency', a.currency, 'created_at', a.created_at,
		'available', a.balance - a.held);
COMMENT ON FUNCTION pgbank.account_json(pgbank.accounts) IS
	'An account as the simple bank answers it, with its available balance (posted balance less pending holds)';

CREATE OR REPLACE FUNCTION pgbank.transfer_row_json(t pgbank.transfers) RETURNS json
	LANGUAGE sql STABLE
	RETURN json_build_object('id', t.id, 'from_account_id', t.from_account_id,
		'to_account_id', t.to_account_id, 'amount', t.amount, 'created_at', t.created_at,
		'currency', t.currency, 'reference', t.reference);
COMMENT ON FUNCTION pgbank.transfer_row_json(pgbank.transfers) IS
	'A transfer: of its accounts only their ids and the currency';

-- The receiving account is another user's (one account per user and
-- currency): of it the payer sees only what identifies it, its id and
-- currency, as GET /accounts/{id} would refuse the rest.
CREATE OR REPLACE FUNCTION pgbank.transfer_json(r pgbank.transfer_result) RETURNS json
	LANGUAGE sql STABLE
	RETURN json_build_object(
		'transfer', pgbank.transfer_row_json(r.transfer),
		'from_account', pgbank.account_json(r.from_account),
		'to_account', json_build_object('id', (r.to_account).id,
			'currency', (r.to_account).currency),
		'from_entry', json_build_object('id', (r.from_entry).id,
			'account_id', (r.from_entry).account_id,
			'amount', (r.from_entry).amount, 'created_at', (r.from_entry).created_at),
		'to_entry', json_build_object('id', (r.to_entry).id,
			'account_id', (r.to_entry).account_id,
			'amount', (r.to_entry).amount, 'created_at', (r.to_entry).created_at));
COMMENT ON FUNCTION pgbank.transfer_json(pgbank.transfer_result) IS
	'A transfer result as the simple bank''s TransferTxResult, as the payer may see it: of the receiving account only id and currency';

CREATE OR REPLACE FUNCTION pgbank.hold_json(h pgbank.holds) RETURNS json
	LANGUAGE sql STABLE
	RETURN json_build_object('id', h.id, 'from_account_id', h.from_account_id,
		'to_account_id', h.to_account_id, 'amount', h.amount, 'currency', h.currency,
		'reference', h.reference, 'status', h.status, 'created_at', h.created_at,
		'expires_at', h.expires_at, 'resolved_at', h.resolved_at, 'transfer_id', h.transfer_id);
COMMENT ON FUNCTION pgbank.hold_json(pgbank.holds) IS 'A hold (pending transfer) as the API answers it';
