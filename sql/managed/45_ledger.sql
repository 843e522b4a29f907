-- The ledger's engine in the managed build, for the twins in
-- 40_ledger.sql (extension/ledger.c, batch.c, holds.c): the same steps and
-- rules. A call locks every account it names with one statement in
-- ascending id order (after the advisory locks of its idempotency keys, in
-- ascending hash order), then checks each move against the locked rows
-- and writes it at once, so a later move of the call sees the earlier
-- ones; a refused move has written nothing.

-- A refusal: the error pgbank.transfer would raise, as a value.
CREATE TYPE pgbank.ledger_refusal AS (sqlstate text, message text, detail text, field text);

CREATE OR REPLACE FUNCTION pgbank.ledger_refuse_input(field text, message text) RETURNS pgbank.ledger_refusal
	LANGUAGE sql IMMUTABLE
	RETURN ROW('22023', format('invalid %s: %s', field, message), format('Field: %s.', field), field)::pgbank.ledger_refusal;

-- Raise a refusal; item >= 0 is the failing item of a batch, named first.
CREATE OR REPLACE FUNCTION pgbank.ledger_throw(r pgbank.ledger_refusal, item integer DEFAULT -1) RETURNS void
	LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	m text := CASE WHEN item >= 0 THEN format('item %s: %s', item, r.message) ELSE r.message END;
BEGIN
	IF r.field IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = r.sqlstate, MESSAGE = m, DETAIL = r.detail, COLUMN = r.field;
	ELSIF r.detail IS NOT NULL THEN
		RAISE EXCEPTION USING ERRCODE = r.sqlstate, MESSAGE = m, DETAIL = r.detail;
	END IF;
	RAISE EXCEPTION USING ERRCODE = r.sqlstate, MESSAGE = m;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.ledger_check_args(from_id bigint, to_id bigint, amount bigint,
		key text, reference text) RETURNS pgbank.ledger_refusal
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF amount <= 0 THEN
		RETURN ROW(pgbank.errcode('amount_not_positive'), 'transfer amount must be greater than zero',
			'Field: amount.', NULL)::pgbank.ledger_refusal;
	END IF;
	IF from_id = to_id THEN
		RETURN ROW(pgbank.errcode('same_account'), 'cannot transfer from an account to itself',
			'Field: to_account_id.', NULL)::pgbank.ledger_refusal;
	END IF;
	IF key IS NOT NULL AND octet_length(key) NOT BETWEEN 1 AND 255 THEN
		RETURN pgbank.ledger_refuse_input('idempotency_key', 'must be 1 to 255 characters');
	END IF;
	IF reference IS NOT NULL AND (reference = '' OR char_length(reference) > 255) THEN
		RETURN pgbank.ledger_refuse_input('reference', 'must be 1 to 255 characters');
	END IF;
	IF reference ~ '[\x01-\x1f\x7f\u0080-\u009f]' THEN
		RETURN pgbank.ledger_refuse_input('reference', 'must not contain control characters');
	END IF;
	RETURN NULL;
END
$$;

-- Lock the accounts of ids (any order, repeats allowed): one statement,
-- ascending id.
CREATE OR REPLACE FUNCTION pgbank.ledger_lock(ids bigint[]) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM a.id
	   FROM unnest(ARRAY(SELECT DISTINCT i FROM unnest(ids) i WHERE i IS NOT NULL ORDER BY i)) u (id),
			LATERAL (SELECT x.id FROM pgbank.accounts x WHERE x.id = u.id FOR NO KEY UPDATE) a;
END
$$;

-- Lock every (paying account, key) in ascending hash order.
CREATE OR REPLACE FUNCTION pgbank.ledger_lock_keys(froms bigint[], keys text[]) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pg_advisory_xact_lock(h)
	   FROM (SELECT DISTINCT hashtextextended(k, f) AS h
			   FROM unnest(froms, keys) u (f, k) WHERE k IS NOT NULL) s
	  ORDER BY h;
END
$$;

-- The stored result of the transfer made with a key, each account as it
-- was right after it (held as it is now); NULL when none.
CREATE OR REPLACE FUNCTION pgbank.ledger_find_key(from_id bigint, key text) RETURNS pgbank.transfer_result
	LANGUAGE sql STABLE
	RETURN (SELECT ROW(t,
			ROW(fa.id, fa.owner, fe.balance_after, fa.currency, fa.created_at, fa.held)::pgbank.accounts,
			ROW(ta.id, ta.owner, te.balance_after, ta.currency, ta.created_at, ta.held)::pgbank.accounts,
			fe, te)::pgbank.transfer_result
		FROM pgbank.transfers t
		JOIN pgbank.entries fe ON fe.transfer_id = t.id AND fe.account_id = t.from_account_id
		JOIN pgbank.entries te ON te.transfer_id = t.id AND te.account_id = t.to_account_id
		JOIN pgbank.accounts fa ON fa.id = t.from_account_id
		JOIN pgbank.accounts ta ON ta.id = t.to_account_id
	   WHERE t.from_account_id = from_id AND t.idempotency_key = key);

-- A key seen before answers only for the same arguments.
CREATE OR REPLACE FUNCTION pgbank.ledger_key_matches(r pgbank.transfer_result, to_id bigint,
		amount bigint, currency text) RETURNS pgbank.ledger_refusal
	LANGUAGE sql IMMUTABLE
	RETURN CASE WHEN (r.transfer).to_account_id <> to_id OR (r.transfer).amount <> amount
			OR (currency IS NOT NULL AND currency <> (r.transfer).currency)
		THEN ROW(pgbank.errcode('idempotency_conflict'),
			'idempotency key already used for a different transfer',
			'A key may be reused only with the same accounts, amount and currency.', NULL)::pgbank.ledger_refusal
		END;

-- Check one move against the locked rows, in the order pgbank.transfer
-- lists its rules; house: 0 none, 1 the paying side may be a house account
-- (a deposit), 2 the receiving side (a withdrawal); release is the held
-- amount the move releases (posting a hold).
CREATE OR REPLACE FUNCTION pgbank.ledger_check_move(from_id bigint, to_id bigint, amount bigint,
		currency text, house integer, release bigint DEFAULT 0) RETURNS pgbank.ledger_refusal
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	s pgbank.accounts;
	d pgbank.accounts;
	available bigint;
BEGIN
	SELECT * INTO s FROM pgbank.accounts a WHERE a.id = from_id;
	IF NOT FOUND THEN
		RETURN ROW('P0002', format('account %s not found', from_id), 'Field: from_account_id.', NULL)::pgbank.ledger_refusal;
	END IF;
	SELECT * INTO d FROM pgbank.accounts a WHERE a.id = to_id;
	IF NOT FOUND THEN
		RETURN ROW('P0002', format('account %s not found', to_id), 'Field: to_account_id.', NULL)::pgbank.ledger_refusal;
	END IF;
	IF s.owner IS NULL AND house <> 1 THEN
		RETURN ROW(pgbank.errcode('house_account'), format('account %s is a house account', s.id),
			'Money enters and leaves a house account only by deposit and withdrawal.', NULL)::pgbank.ledger_refusal;
	END IF;
	IF d.owner IS NULL AND house <> 2 THEN
		RETURN ROW(pgbank.errcode('house_account'), format('account %s is a house account', d.id),
			'Money enters and leaves a house account only by deposit and withdrawal.', NULL)::pgbank.ledger_refusal;
	END IF;
	IF s.currency <> d.currency THEN
		RETURN ROW(pgbank.errcode('currency_mismatch'),
			format('accounts have different currencies: %s and %s', s.currency, d.currency), NULL, NULL)::pgbank.ledger_refusal;
	END IF;
	IF currency IS NOT NULL AND currency <> s.currency THEN
		RETURN ROW(pgbank.errcode('currency_mismatch'),
			format('currency mismatch: accounts are in %s, transfer asks for %s', s.currency, currency),
			'Field: currency.', NULL)::pgbank.ledger_refusal;
	END IF;
	available := s.balance - (s.held - release);
	IF s.owner IS NOT NULL AND available < amount THEN
		RETURN ROW(pgbank.errcode('insufficient_funds'), format('insufficient funds in account %s', s.id),
			CASE WHEN s.held - release = 0 THEN format('Balance %s, transfer amount %s.', s.balance, amount)
			ELSE format('Available %s (balance %s, held %s), transfer amount %s.',
				available, s.balance, s.held - release, amount) END, NULL)::pgbank.ledger_refusal;
	END IF;
	IF s.balance::numeric - amount < -9223372036854775808 THEN
		RETURN ROW(pgbank.errcode('balance_overflow'),
			format('the transfer would take the balance of account %s below the bigint range', s.id), NULL, NULL)::pgbank.ledger_refusal;
	END IF;
	IF d.balance::numeric + amount > 9223372036854775807 THEN
		RETURN ROW(pgbank.errcode('balance_overflow'),
			format('the transfer would take the balance of account %s past the bigint range', d.id),
			format('Balance %s, transfer amount %s, the most a balance holds %s.',
				d.balance, amount, 9223372036854775807), NULL)::pgbank.ledger_refusal;
	END IF;
	RETURN NULL;
END
$$;

-- Write one checked move: balances, the transfer and its two entries.
CREATE OR REPLACE FUNCTION pgbank.ledger_write(from_id bigint, to_id bigint, amount bigint,
		key text, reference text, release bigint, at timestamptz) RETURNS pgbank.transfer_result
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	fa pgbank.accounts;
	ta pgbank.accounts;
	t pgbank.transfers;
	fe pgbank.entries;
	te pgbank.entries;
BEGIN
	UPDATE pgbank.accounts a SET balance = a.balance - amount, held = a.held - release
	 WHERE a.id = from_id RETURNING * INTO fa;
	UPDATE pgbank.accounts a SET balance = a.balance + amount WHERE a.id = to_id RETURNING * INTO ta;
	INSERT INTO pgbank.transfers (from_account_id, to_account_id, amount, created_at, currency,
								  idempotency_key, reference)
		VALUES (from_id, to_id, amount, at, fa.currency, key, reference) RETURNING * INTO t;
	INSERT INTO pgbank.entries (account_id, amount, created_at, transfer_id, balance_after)
		VALUES (from_id, -amount, at, t.id, fa.balance) RETURNING * INTO fe;
	INSERT INTO pgbank.entries (account_id, amount, created_at, transfer_id, balance_after)
		VALUES (to_id, amount, at, t.id, ta.balance) RETURNING * INTO te;
	RETURN ROW(t, fa, ta, fe, te)::pgbank.transfer_result;
END
$$;

-- One move from its checks to its result (pgbank.transfer, deposit, withdraw).
CREATE OR REPLACE FUNCTION pgbank.ledger_move(from_id bigint, to_id bigint, amount bigint,
		currency text, key text, reference text, house integer) RETURNS pgbank.transfer_result
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r pgbank.ledger_refusal := pgbank.ledger_check_args(from_id, to_id, amount, key, reference);
	stored pgbank.transfer_result;
BEGIN
	IF r.sqlstate IS NOT NULL THEN
		PERFORM pgbank.ledger_throw(r);
	END IF;
	IF key IS NOT NULL THEN
		PERFORM pgbank.ledger_lock_keys(ARRAY[from_id], ARRAY[key]);
		stored := pgbank.ledger_find_key(from_id, key);
		IF (stored.transfer).id IS NOT NULL THEN
			r := pgbank.ledger_key_matches(stored, to_id, amount, currency);
			IF r.sqlstate IS NOT NULL THEN
				PERFORM pgbank.ledger_throw(r);
			END IF;
			RETURN stored;
		END IF;
	END IF;
	PERFORM pgbank.ledger_lock(ARRAY[from_id, to_id]);
	r := pgbank.ledger_check_move(from_id, to_id, amount, currency, house);
	IF r.sqlstate IS NOT NULL THEN
		PERFORM pgbank.ledger_throw(r);
	END IF;
	RETURN pgbank.ledger_write(from_id, to_id, amount, key, reference, 0, clock_timestamp());
END
$$;

-- Deposit (house 1) or withdrawal (2).
CREATE OR REPLACE FUNCTION pgbank.ledger_house_move(account_id bigint, amount bigint, reference text,
		key text, house integer) RETURNS pgbank.transfer_result
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	h bigint;
BEGIN
	IF account_id IS NULL OR amount IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'account_id and amount must not be null';
	END IF;
	IF reference IS NULL THEN
		PERFORM pgbank.invalid_input('reference', 'is required');
	END IF;
	SELECT x.id INTO h FROM pgbank.accounts a
	  JOIN pgbank.accounts x ON x.currency = a.currency AND x.owner IS NULL
	 WHERE a.id = account_id;
	IF NOT FOUND THEN
		PERFORM pgbank.ledger_throw(ROW('P0002', format('account %s not found', account_id),
			'Field: account_id.', NULL)::pgbank.ledger_refusal);
	END IF;
	IF house = 1 THEN
		RETURN pgbank.ledger_move(h, account_id, amount, NULL, key, reference, house);
	END IF;
	RETURN pgbank.ledger_move(account_id, h, amount, NULL, key, reference, house);
END
$$;

-- The items of a batch: arguments rebased to 1, checked as batch.c does.
CREATE OR REPLACE FUNCTION pgbank.ledger_batch_error(what text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = pgbank.errcode('batch_size'),
		MESSAGE = 'a batch ' || what,
		DETAIL = 'A batch has 1 to 1000 items, one element of each array per item.';
END
$$;

CREATE OR REPLACE FUNCTION pgbank.ledger_batch_items(from_ids bigint[], to_ids bigint[], amounts bigint[],
		currencies text[], keys text[], refs text[]) RETURNS integer
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n integer;
	lens integer[];
BEGIN
	IF array_ndims(from_ids) > 1 OR array_ndims(to_ids) > 1 OR array_ndims(amounts) > 1
		OR array_ndims(currencies) > 1 OR array_ndims(keys) > 1 OR array_ndims(refs) > 1 THEN
		PERFORM pgbank.ledger_batch_error('takes one-dimensional arrays');
	END IF;
	IF from_ids IS NULL OR to_ids IS NULL OR amounts IS NULL THEN
		PERFORM pgbank.ledger_batch_error('needs from_account_ids, to_account_ids and amounts');
	END IF;
	n := cardinality(from_ids);
	IF cardinality(to_ids) <> n OR cardinality(amounts) <> n OR cardinality(currencies) <> n
		OR cardinality(keys) <> n OR cardinality(refs) <> n THEN
		PERFORM pgbank.ledger_batch_error('takes arrays of one length');
	END IF;
	IF n NOT BETWEEN 1 AND 1000 THEN
		PERFORM pgbank.ledger_batch_error(format('of %s items is out of range', n));
	END IF;
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.ledger_check_item(from_id bigint, to_id bigint, amount bigint,
		key text, reference text) RETURNS pgbank.ledger_refusal
	LANGUAGE sql IMMUTABLE
	RETURN CASE WHEN from_id IS NULL OR to_id IS NULL OR amount IS NULL
		THEN ROW('22004', 'from_account_id, to_account_id and amount must not be null', NULL, NULL)::pgbank.ledger_refusal
		ELSE pgbank.ledger_check_args(from_id, to_id, amount, key, reference) END;
