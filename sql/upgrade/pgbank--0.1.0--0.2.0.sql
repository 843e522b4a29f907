-- pgbank 0.1.0 -> 0.2.0: what a fresh install of 0.2.0 has that 0.1.0's
-- schema lacks. scripts/sqlbuild.py puts every function of sql/src at the
-- "--@functions" line below; statements after it run once those exist.
-- regress/t/05-upgrade.sh checks that the result equals a fresh install.

-- One parser per kind of request value (00_common.sql) replaces the API's
-- and the games' own; one caller check (pgbank.caller) replaces api_caller.
DROP FUNCTION pgbank.api_body(json);
DROP FUNCTION pgbank.api_text(jsonb, text);
DROP FUNCTION pgbank.api_bigint(jsonb, text);
DROP FUNCTION pgbank.api_id(text, text, bigint);
DROP FUNCTION pgbank.api_required(text, anyelement);
DROP FUNCTION pgbank.api_caller(text);
DROP FUNCTION pgbank.api_not_yours();
DROP FUNCTION pgbank.game_param_int(text, text, bigint, bigint);
DROP FUNCTION pgbank.game_param_date(text, text);
DROP FUNCTION pgbank.game_param_id(text);
-- Paging is bigint, checked once by pgbank.check_page.
DROP FUNCTION pgbank.list_accounts(text, int, int);
DROP FUNCTION pgbank.game_list(text, text, int, int, date, date);

-- An idempotency key belongs to the paying account; only keyed transfers
-- are indexed by it.
ALTER TABLE pgbank.transfers DROP CONSTRAINT transfers_idempotency_key_key;
CREATE UNIQUE INDEX transfers_idempotency_key_idx ON pgbank.transfers (from_account_id, idempotency_key)
	WHERE idempotency_key IS NOT NULL;

-- Replaced: one constant-time comparison (secret_code_matches) serves both
-- secrets, and the throttle counts client addresses too.
DROP FUNCTION pgbank.secret_equal(text, text);
DROP FUNCTION pgbank.login_throttle_attempt(text);

-- ===== ledger: double entry, references, holds, statements (issue 14) =====
-- House accounts (no owner, negative ids) may go negative; a customer's
-- available balance (balance - held) may not.
ALTER TABLE pgbank.accounts
	ALTER COLUMN owner DROP NOT NULL,
	DROP CONSTRAINT accounts_balance_check,
	ADD COLUMN held bigint NOT NULL DEFAULT 0 CONSTRAINT accounts_held_check CHECK (held >= 0),
	ADD CONSTRAINT accounts_id_currency_key UNIQUE (id, currency),
	ADD CONSTRAINT accounts_house_check CHECK ((owner IS NULL) = (id < 0)),
	ADD CONSTRAINT accounts_balance_check CHECK (owner IS NULL OR balance - held >= 0);
ALTER TABLE pgbank.accounts SET (fillfactor = 70);
CREATE UNIQUE INDEX accounts_house_key ON pgbank.accounts (currency) WHERE owner IS NULL;
CREATE SEQUENCE pgbank.house_account_id_seq INCREMENT BY -1 MINVALUE -9223372036854775808 MAXVALUE -1 START WITH -1;
-- A reference on every transfer; an account's transfers are found through
-- its entries, so the transfers' own account indexes go.
-- Both accounts are referenced with the transfer's currency.
ALTER TABLE pgbank.transfers
	ADD COLUMN reference text CONSTRAINT transfers_reference_check
		CHECK (length(reference) BETWEEN 1 AND 255 AND reference !~ '[[:cntrl:]]'),
	DROP CONSTRAINT transfers_from_account_id_fkey,
	DROP CONSTRAINT transfers_to_account_id_fkey,
	DROP CONSTRAINT transfers_currency_fkey,
	ADD CONSTRAINT transfers_from_account_fkey FOREIGN KEY (from_account_id, currency)
		REFERENCES pgbank.accounts (id, currency),
	ADD CONSTRAINT transfers_to_account_fkey FOREIGN KEY (to_account_id, currency)
		REFERENCES pgbank.accounts (id, currency);
DROP INDEX pgbank.transfers_from_account_id_idx;
DROP INDEX pgbank.transfers_to_account_id_idx;
-- A house account's balance_after is negative; statements page by
-- (created_at, id).
ALTER TABLE pgbank.entries
	DROP CONSTRAINT entries_balance_after_check,
	ALTER COLUMN transfer_id SET NOT NULL;
DROP INDEX pgbank.entries_account_id_idx;
CREATE INDEX entries_account_idx ON pgbank.entries (account_id, created_at, id);
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
CREATE TYPE pgbank.statement_line AS (
	entry_id bigint,
	transfer_id bigint,
	counterparty_account_id bigint,
	amount bigint,
	balance_after bigint,
	reference text,
	created_at timestamptz
);
-- transfer takes a reference.
DROP FUNCTION pgbank.transfer(bigint, bigint, bigint, text, text);
-- ===== end of ledger =====

-- ===== games (issue 11) =====
-- A game is written once (pgbank.register_game); the functions are C with
-- kept plans, so the PL/pgSQL helpers they used go. The tables of apex,
-- fortnite and hots are what register_game makes, so they stay as they are.
DROP FUNCTION pgbank.game_lookup(text);
DROP FUNCTION pgbank.game_check_field(jsonb, jsonb);
DROP FUNCTION pgbank.game_validate(pgbank.games, json, boolean);
DROP FUNCTION pgbank.game_columns(pgbank.games, jsonb, text);
-- ===== end of games =====

--@functions

-- ===== games (issue 11) =====
CREATE TRIGGER games_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgbank.games
	FOR EACH STATEMENT EXECUTE FUNCTION pgbank.games_changed();
-- ===== end of games =====

-- A changed password or email is announced (50_email.sql).
CREATE TRIGGER users_changed_announce
	AFTER UPDATE OF hashed_password, email ON pgbank.users
	FOR EACH ROW WHEN (OLD.hashed_password IS DISTINCT FROM NEW.hashed_password
	                   OR OLD.email IS DISTINCT FROM NEW.email)
	EXECUTE FUNCTION pgbank.users_changed_trigger();

-- A queued message wakes the waiting outbox runs (50_email.sql).
CREATE TRIGGER outbox_wake
	AFTER INSERT ON pgbank.outbox
	FOR EACH STATEMENT EXECUTE FUNCTION pgbank.outbox_wake_trigger();

-- ===== ledger, data (issue 14) =====
CREATE TRIGGER currencies_house AFTER INSERT ON pgbank.currencies
	FOR EACH ROW EXECUTE FUNCTION pgbank.currencies_house();
INSERT INTO pgbank.accounts (id, owner, balance, currency)
SELECT nextval('pgbank.house_account_id_seq'), NULL, 0, c.code
  FROM pgbank.currencies c ORDER BY c.code;
-- Opening balances become deposits: what an account holds beyond the sum
-- of its entries came from its currency's house account when it was
-- opened (dated then, so its statement starts with it).
DO $$
DECLARE
	o record;
	t bigint;
BEGIN
	FOR o IN
		SELECT a.id, a.currency, a.created_at, h.id AS house,
		       a.balance - coalesce((SELECT sum(e.amount) FROM pgbank.entries e WHERE e.account_id = a.id), 0) AS opening
		  FROM pgbank.accounts a JOIN pgbank.accounts h ON h.currency = a.currency AND h.owner IS NULL
		 WHERE a.owner IS NOT NULL
		 ORDER BY a.id
	LOOP
		CONTINUE WHEN o.opening = 0;
		INSERT INTO pgbank.transfers (from_account_id, to_account_id, amount, created_at, currency, reference)
		VALUES (CASE WHEN o.opening > 0 THEN o.house ELSE o.id END,
		        CASE WHEN o.opening > 0 THEN o.id ELSE o.house END,
		        abs(o.opening), o.created_at, o.currency, 'opening balance')
		RETURNING id INTO t;
		INSERT INTO pgbank.entries (account_id, amount, created_at, transfer_id, balance_after)
		VALUES (o.house, -o.opening, o.created_at, t, NULL), (o.id, o.opening, o.created_at, t, o.opening);
		UPDATE pgbank.accounts SET balance = balance - o.opening WHERE id = o.house;
	END LOOP;
	-- the house accounts' running balances, in statement order
	UPDATE pgbank.entries e SET balance_after = r.running
	  FROM (SELECT x.id, sum(x.amount) OVER (PARTITION BY x.account_id ORDER BY x.created_at, x.id) AS running
	          FROM pgbank.entries x WHERE x.account_id < 0) r
	 WHERE e.id = r.id;
END
$$;
-- ===== end of ledger, data =====
