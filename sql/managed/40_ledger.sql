-- The ledger's moves in the managed build: twins of extension/ledger.c,
-- batch.c and holds.c, on the engine of 45_ledger.sql.

CREATE OR REPLACE FUNCTION pgbank.transfer(from_account_id bigint, to_account_id bigint, amount bigint,
	currency text DEFAULT NULL, idempotency_key text DEFAULT NULL, reference text DEFAULT NULL)
	RETURNS pgbank.transfer_result
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF from_account_id IS NULL OR to_account_id IS NULL OR amount IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'from_account_id, to_account_id and amount must not be null';
	END IF;
	RETURN pgbank.ledger_move(from_account_id, to_account_id, amount, currency, idempotency_key,
		reference, 0);
END
$$;

CREATE OR REPLACE FUNCTION pgbank.deposit(account_id bigint, amount bigint, reference text,
	idempotency_key text DEFAULT NULL)
	RETURNS pgbank.transfer_result
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.ledger_house_move(account_id, amount, reference, idempotency_key, 1);
END
$$;

CREATE OR REPLACE FUNCTION pgbank.withdraw(account_id bigint, amount bigint, reference text,
	idempotency_key text DEFAULT NULL)
	RETURNS pgbank.transfer_result
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN pgbank.ledger_house_move(account_id, amount, reference, idempotency_key, 2);
END
$$;

CREATE OR REPLACE FUNCTION pgbank.transfer_batch(from_account_ids bigint[], to_account_ids bigint[],
	amounts bigint[], currencies text[] DEFAULT NULL, refs text[] DEFAULT NULL)
	RETURNS bigint[]
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n integer := pgbank.ledger_batch_items(from_account_ids, to_account_ids, amounts, currencies, NULL, refs);
	f bigint[] := ARRAY(SELECT unnest(from_account_ids));
	t bigint[] := ARRAY(SELECT unnest(to_account_ids));
	a bigint[] := ARRAY(SELECT unnest(amounts));
	c text[] := ARRAY(SELECT unnest(currencies));
	rf text[] := ARRAY(SELECT unnest(refs));
	r pgbank.ledger_refusal;
	ids bigint[] := '{}';
	at timestamptz;
BEGIN
	FOR i IN 1 .. n LOOP
		r := pgbank.ledger_check_item(f[i], t[i], a[i], NULL, rf[i]);
		IF r.sqlstate IS NOT NULL THEN
			PERFORM pgbank.ledger_throw(r, i - 1);
		END IF;
	END LOOP;
	PERFORM pgbank.ledger_lock(f || t);
	at := clock_timestamp();
	FOR i IN 1 .. n LOOP
		r := pgbank.ledger_check_move(f[i], t[i], a[i], c[i], 0);
		IF r.sqlstate IS NOT NULL THEN
			PERFORM pgbank.ledger_throw(r, i - 1);
		END IF;
		ids := ids || ((pgbank.ledger_write(f[i], t[i], a[i], NULL, rf[i], 0, at)).transfer).id;
	END LOOP;
	RETURN ids;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.transfer_each(from_account_ids bigint[], to_account_ids bigint[],
	amounts bigint[], currencies text[] DEFAULT NULL, idempotency_keys text[] DEFAULT NULL,
	refs text[] DEFAULT NULL)
	RETURNS TABLE (item integer, result pgbank.transfer_result, sqlstate text, message text, detail text)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	n integer := pgbank.ledger_batch_items(from_account_ids, to_account_ids, amounts, currencies,
		idempotency_keys, refs);
	f bigint[] := ARRAY(SELECT unnest(from_account_ids));
	t bigint[] := ARRAY(SELECT unnest(to_account_ids));
	a bigint[] := ARRAY(SELECT unnest(amounts));
	c text[] := ARRAY(SELECT unnest(currencies));
	k text[] := ARRAY(SELECT unnest(idempotency_keys));
	rf text[] := ARRAY(SELECT unnest(refs));
	-- per item: 'open', 'refused', 'replayed', 'applied', 'repeat'
	state text[] := array_fill('open'::text, ARRAY[n]);
	refusal pgbank.ledger_refusal[] := array_fill(NULL::pgbank.ledger_refusal, ARRAY[n]);
	res pgbank.transfer_result[] := array_fill(NULL::pgbank.transfer_result, ARRAY[n]);
	cur text[] := array_fill(NULL::text, ARRAY[n]);
	r pgbank.ledger_refusal;
	stored pgbank.transfer_result;
	j integer;
	at timestamptz;
BEGIN
	FOR i IN 1 .. n LOOP
		r := pgbank.ledger_check_item(f[i], t[i], a[i], k[i], rf[i]);
		IF r.sqlstate IS NOT NULL THEN
			state[i] := 'refused';
			refusal[i] := r;
		END IF;
	END LOOP;
	-- replay the keys earlier calls used (keys locked first)
	IF EXISTS (SELECT 1 FROM generate_series(1, n) i WHERE state[i] = 'open' AND k[i] IS NOT NULL) THEN
		PERFORM pgbank.ledger_lock_keys(
			ARRAY(SELECT f[i] FROM generate_series(1, n) i WHERE state[i] = 'open' AND k[i] IS NOT NULL),
			ARRAY(SELECT k[i] FROM generate_series(1, n) i WHERE state[i] = 'open' AND k[i] IS NOT NULL));
		FOR i IN 1 .. n LOOP
			CONTINUE WHEN state[i] <> 'open' OR k[i] IS NULL;
			stored := pgbank.ledger_find_key(f[i], k[i]);
			CONTINUE WHEN (stored.transfer).id IS NULL;
			r := pgbank.ledger_key_matches(stored, t[i], a[i], c[i]);
			IF r.sqlstate IS NOT NULL THEN
				state[i] := 'refused';
				refusal[i] := r;
			ELSE
				state[i] := 'replayed';
				res[i] := stored;
			END IF;
		END LOOP;
	END IF;
	PERFORM pgbank.ledger_lock(ARRAY(SELECT x FROM generate_series(1, n) i,
		LATERAL (VALUES (f[i]), (t[i])) v (x) WHERE state[i] = 'open'));
	at := clock_timestamp();
	FOR i IN 1 .. n LOOP
		CONTINUE WHEN state[i] <> 'open';
		IF k[i] IS NOT NULL THEN
			-- an earlier item of this call with the paying account and key
			j := (SELECT min(x) FROM generate_series(1, i - 1) x
				   WHERE state[x] IN ('applied', 'replayed', 'repeat') AND k[x] = k[i] AND f[x] = f[i]);
			IF j IS NOT NULL THEN
				IF t[i] <> t[j] OR a[i] <> a[j] OR (c[i] IS NOT NULL AND coalesce(cur[j], c[j]) IS NOT NULL
						AND c[i] <> coalesce(cur[j], c[j])) THEN
					state[i] := 'refused';
					refusal[i] := ROW(pgbank.errcode('idempotency_conflict'),
						'idempotency key already used for a different transfer',
						'A key may be reused only with the same accounts, amount and currency.', NULL)::pgbank.ledger_refusal;
				ELSE
					state[i] := 'repeat';
					res[i] := res[j];
				END IF;
				CONTINUE;
			END IF;
		END IF;
		r := pgbank.ledger_check_move(f[i], t[i], a[i], c[i], 0);
		IF r.sqlstate IS NOT NULL THEN
			state[i] := 'refused';
			refusal[i] := r;
			CONTINUE;
		END IF;
		res[i] := pgbank.ledger_write(f[i], t[i], a[i], k[i], rf[i], 0, at);
		cur[i] := (res[i].transfer).currency;
		state[i] := 'applied';
	END LOOP;
	FOR i IN 1 .. n LOOP
		item := i - 1;
		IF state[i] = 'refused' THEN
			result := NULL;
			sqlstate := (refusal[i]).sqlstate;
			message := (refusal[i]).message;
			detail := (refusal[i]).detail;
		ELSE
			result := res[i];
			sqlstate := NULL;
			message := NULL;
			detail := NULL;
		END IF;
		RETURN NEXT;
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.hold(from_account_id bigint, to_account_id bigint, amount bigint,
	currency text DEFAULT NULL, timeout_seconds bigint DEFAULT 3600, reference text DEFAULT NULL)
	RETURNS pgbank.holds
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	r pgbank.ledger_refusal;
	h pgbank.holds;
	cur text;
BEGIN
	IF from_account_id IS NULL OR to_account_id IS NULL OR amount IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
			MESSAGE = 'from_account_id, to_account_id and amount must not be null';
	END IF;
	IF timeout_seconds IS NULL THEN
		PERFORM pgbank.invalid_input('timeout_seconds', 'is required');
	END IF;
	r := pgbank.ledger_check_args(from_account_id, to_account_id, amount, NULL, reference);
	IF r.sqlstate IS NOT NULL THEN
		PERFORM pgbank.ledger_throw(r);
	END IF;
	IF timeout_seconds NOT BETWEEN 1 AND 2592000 THEN
		PERFORM pgbank.invalid_input('timeout_seconds', 'must be between 1 and 2592000');
	END IF;
	PERFORM pgbank.ledger_lock(ARRAY[from_account_id, to_account_id]);
	r := pgbank.ledger_check_move(from_account_id, to_account_id, amount, currency, 0);
	IF r.sqlstate IS NOT NULL THEN
		PERFORM pgbank.ledger_throw(r);
	END IF;
	UPDATE pgbank.accounts a SET held = a.held + amount WHERE a.id = from_account_id
		RETURNING a.currency INTO cur;
	INSERT INTO pgbank.holds (from_account_id, to_account_id, amount, currency, reference, expires_at)
		VALUES (from_account_id, to_account_id, amount, cur, reference,
				now() + make_interval(secs => timeout_seconds))
		RETURNING * INTO h;
	RETURN h;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.post_hold(hold_id bigint, amount bigint DEFAULT NULL)
	RETURNS pgbank.transfer_result
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	h record;
	n bigint;
	r pgbank.ledger_refusal;
	res pgbank.transfer_result;
BEGIN
	IF hold_id IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'hold_id must not be null';
	END IF;
	SELECT x.id, x.from_account_id, x.to_account_id, x.amount, x.reference INTO h
	  FROM pgbank.holds x WHERE x.id = hold_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = format('hold %s not found', hold_id);
	END IF;
	PERFORM pgbank.check_hold_pending(x) FROM pgbank.holds x WHERE x.id = hold_id;
	n := coalesce(amount, h.amount);
	IF n <= 0 THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('amount_not_positive'),
			MESSAGE = 'transfer amount must be greater than zero', DETAIL = 'Field: amount.';
	END IF;
	IF n > h.amount THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('post_exceeds_hold'),
			MESSAGE = format('cannot post %s: hold %s reserved %s', n, hold_id, h.amount),
			DETAIL = 'Field: amount.';
	END IF;
	PERFORM pgbank.ledger_lock(ARRAY[h.from_account_id, h.to_account_id]);
	r := pgbank.ledger_check_move(h.from_account_id, h.to_account_id, n, NULL, 0, h.amount);
	IF r.sqlstate IS NOT NULL THEN
		PERFORM pgbank.ledger_throw(r);
	END IF;
	res := pgbank.ledger_write(h.from_account_id, h.to_account_id, n, NULL, h.reference, h.amount,
		clock_timestamp());
	UPDATE pgbank.holds x SET status = 'posted', transfer_id = (res.transfer).id, resolved_at = now()
	 WHERE x.id = hold_id;
	RETURN res;
END
$$;
