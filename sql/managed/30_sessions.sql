-- The login throttle in the managed build (twins of extension/throttle.c).
--
-- The C build keeps it in shared memory because a wrong password raises
-- 28P01 and so rolls back whatever login wrote: a table of failures would
-- never keep a row. What no rollback undoes in plain SQL is a sequence's
-- value (setval), so the throttle is a fixed table of slots, each two
-- sequences: its key and its state (kind, failures, window start). A
-- user's key is a 64-bit hash of the username (login_throttle() finds the
-- name in pgbank.users), an address's is the IPv4 address or the IPv6 /64
-- itself. The slots are made at CREATE EXTENSION, as many as
-- pgbank.login_throttle_entries says then (default 1000); a session-level
-- advisory lock, held only while the slots are read and written, stands
-- for the C build's LWLock. The rules are the C build's (throttle.c).

CREATE TABLE pgbank.login_throttle_slots (
	slot integer PRIMARY KEY,
	key_seq regclass NOT NULL,
	state_seq regclass NOT NULL
);
COMMENT ON TABLE pgbank.login_throttle_slots IS
	'The managed build''s login throttle: each slot''s two sequences (their values survive rollbacks)';

DO $$
DECLARE
	n integer := pgbank.setting('pgbank.login_throttle_entries')::integer;
BEGIN
	IF n NOT BETWEEN 100 AND 100000 THEN
		RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
			MESSAGE = format('%s is outside the valid range for parameter "pgbank.login_throttle_entries" (100 .. 100000)', n);
	END IF;
	FOR i IN 0 .. n - 1 LOOP
		EXECUTE format('CREATE SEQUENCE pgbank.login_throttle_k%s MINVALUE %s START 0', i, -9223372036854775808);
		EXECUTE format('CREATE SEQUENCE pgbank.login_throttle_s%s MINVALUE 0 START 0', i);
		INSERT INTO pgbank.login_throttle_slots
			VALUES (i, format('pgbank.login_throttle_k%s', i)::regclass,
					format('pgbank.login_throttle_s%s', i)::regclass);
	END LOOP;
END
$$;

-- State: 0 for a free slot, else ((ms of the window start since 2000) * 2^20 + failures) * 4 + kind.
-- Kinds: 1 a user, 2 an IPv4 address, 3 an IPv6 /64.
CREATE OR REPLACE FUNCTION pgbank.throttle_entries(
		OUT slot integer, OUT kind integer, OUT key bigint, OUT attempts integer,
		OUT window_start timestamptz)
	RETURNS SETOF record
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT s.slot, (v.state % 4)::integer, pg_sequence_last_value(s.key_seq),
		   ((v.state / 4) % 1048576)::integer,
		   timestamptz '2000-01-01 00:00:00+00' + make_interval(secs => (v.state / 4194304) / 1000.0)
	  FROM pgbank.login_throttle_slots s,
		   LATERAL (SELECT coalesce(pg_sequence_last_value(s.state_seq), 0) AS state) v
	 WHERE v.state <> 0
$$;

CREATE OR REPLACE FUNCTION pgbank.throttle_write(slot integer, kind integer, key bigint,
		attempts integer, window_start timestamptz) RETURNS void
	LANGUAGE sql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT setval(s.key_seq, key, true),
		   setval(s.state_seq, CASE WHEN kind = 0 THEN 0 ELSE
			   ((floor(extract(epoch FROM window_start - timestamptz '2000-01-01 00:00:00+00') * 1000)::bigint
				 * 1048576 + attempts) * 4 + kind) END, true)
	  FROM pgbank.login_throttle_slots s WHERE s.slot = throttle_write.slot
$$;

CREATE OR REPLACE FUNCTION pgbank.throttle_user_key(username text) RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE STRICT AS $$
BEGIN
	IF octet_length(username) >= 128 THEN
		PERFORM pgbank.invalid_input('username', 'too long');
	END IF;
	RETURN pg_catalog.hashtextextended(username, 0);
END
$$;

-- (kind, key) of a client address: IPv4 alone (IPv4-mapped IPv6 too), IPv6 by its /64.
CREATE OR REPLACE FUNCTION pgbank.throttle_address_key(ip inet, OUT kind integer, OUT key bigint)
	LANGUAGE plpgsql IMMUTABLE STRICT
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	t text;
	l text[];
	r text[];
	g text[];
BEGIN
	IF family(ip) = 4 THEN
		kind := 2;
		key := set_masklen(ip, 32) - '0.0.0.0'::inet;
		RETURN;
	END IF;
	IF set_masklen(ip, 128) <<= '::ffff:0.0.0.0/96' THEN
		kind := 2;
		key := set_masklen(ip, 128) - '::ffff:0.0.0.0'::inet;
		RETURN;
	END IF;
	kind := 3;
	t := host(network(set_masklen(ip, 64)));
	IF position('::' IN t) > 0 THEN
		l := CASE WHEN split_part(t, '::', 1) = '' THEN '{}' ELSE string_to_array(split_part(t, '::', 1), ':') END;
		r := CASE WHEN split_part(t, '::', 2) = '' THEN '{}' ELSE string_to_array(split_part(t, '::', 2), ':') END;
		g := l || array_fill('0'::text, ARRAY[8 - coalesce(array_length(l, 1), 0) - coalesce(array_length(r, 1), 0)]) || r;
	ELSE
		g := string_to_array(t, ':');
	END IF;
	key := ('x' || lpad(g[1], 4, '0') || lpad(g[2], 4, '0') || lpad(g[3], 4, '0') || lpad(g[4], 4, '0'))::bit(64)::bigint;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.throttle_address(kind integer, key bigint) RETURNS inet
	LANGUAGE sql IMMUTABLE STRICT
	RETURN CASE WHEN kind = 2 THEN '0.0.0.0'::inet + key
		ELSE (SELECT (string_agg(substr(h, 4 * i + 1, 4), ':' ORDER BY i) || '::/64')::inet
				FROM (SELECT lpad(to_hex(key), 16, '0') AS h) x, generate_series(0, 3) i) END;

CREATE OR REPLACE FUNCTION pgbank.throttle_lock() RETURNS void
	LANGUAGE sql VOLATILE RETURN (SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtext('pgbank login throttle')) IS NULL);
CREATE OR REPLACE FUNCTION pgbank.throttle_unlock() RETURNS void
	LANGUAGE sql VOLATILE RETURN (SELECT pg_catalog.pg_advisory_unlock(pg_catalog.hashtext('pgbank login throttle')) IS NULL);

CREATE OR REPLACE FUNCTION pgbank.throttle_limit(kind integer) RETURNS integer
	LANGUAGE sql STABLE
	RETURN CASE WHEN kind = 1 THEN pgbank.setting('pgbank.login_max_failures')::integer
		ELSE pgbank.setting('pgbank.login_address_max_failures')::integer END;

-- Count an attempt for the keys (kinds[i], keys[i]), or refuse: returns
-- NULL when counted, else (refused kind, refused key, retry_at), kind 0
-- for a full table. Call with the lock held.
CREATE OR REPLACE FUNCTION pgbank.throttle_count(kinds integer[], keys bigint[], now timestamptz,
		OUT refused_kind integer, OUT refused_key bigint, OUT retry_at timestamptz)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	w interval := make_interval(secs => pgbank.setting_seconds('pgbank.login_failure_window'));
	n integer := (SELECT count(*) FROM pgbank.login_throttle_slots);
	e record;
	slots integer[] := '{}';
	missing integer := 0;
	used integer;
	victim record;
BEGIN
	FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
		SELECT * INTO e FROM pgbank.throttle_entries() x WHERE x.kind = kinds[i] AND x.key = keys[i];
		IF NOT FOUND THEN
			missing := missing + 1;
			slots := slots || NULL::integer;
		ELSIF now - e.window_start >= w THEN
			PERFORM pgbank.throttle_write(e.slot, e.kind, e.key, 0, now);
			slots := slots || e.slot;
		ELSIF pgbank.throttle_limit(e.kind) > 0 AND e.attempts >= pgbank.throttle_limit(e.kind) THEN
			refused_kind := e.kind;
			refused_key := e.key;
			retry_at := e.window_start + w;
			RETURN;
		ELSE
			slots := slots || e.slot;
		END IF;
	END LOOP;
	IF missing > 0 THEN
		used := (SELECT count(*) FROM pgbank.throttle_entries());
		IF n - used < missing THEN
			-- drop the entries whose window is over, except the keys'
			PERFORM pgbank.throttle_write(x.slot, 0, 0, 0, NULL)
			   FROM pgbank.throttle_entries() x
			  WHERE now - x.window_start >= w
				AND NOT EXISTS (SELECT 1 FROM unnest(kinds, keys) k (kind, key)
								 WHERE k.kind = x.kind AND k.key = x.key);
			used := (SELECT count(*) FROM pgbank.throttle_entries());
		END IF;
		WHILE n - used < missing LOOP
			SELECT x.slot INTO victim FROM pgbank.throttle_entries() x
			 WHERE NOT (pgbank.throttle_limit(x.kind) > 0 AND x.attempts >= pgbank.throttle_limit(x.kind))
			   AND NOT EXISTS (SELECT 1 FROM unnest(kinds, keys) k (kind, key)
								WHERE k.kind = x.kind AND k.key = x.key)
			 ORDER BY x.window_start LIMIT 1;
			IF NOT FOUND THEN
				refused_kind := 0;
				retry_at := least(now + w, (SELECT min(x.window_start) + w FROM pgbank.throttle_entries() x
					WHERE NOT EXISTS (SELECT 1 FROM unnest(kinds, keys) k (kind, key)
									   WHERE k.kind = x.kind AND k.key = x.key)));
				RETURN;
			END IF;
			PERFORM pgbank.throttle_write(victim.slot, 0, 0, 0, NULL);
			used := used - 1;
		END LOOP;
	END IF;
	FOR i IN 1 .. coalesce(array_length(keys, 1), 0) LOOP
		IF slots[i] IS NULL THEN
			slots[i] := (SELECT s.slot FROM pgbank.login_throttle_slots s
						  WHERE coalesce(pg_sequence_last_value(s.state_seq), 0) = 0
						  ORDER BY s.slot LIMIT 1);
			PERFORM pgbank.throttle_write(slots[i], kinds[i], keys[i], 1, now);
		ELSE
			SELECT * INTO e FROM pgbank.throttle_entries() x WHERE x.slot = slots[i];
			PERFORM pgbank.throttle_write(e.slot, e.kind, e.key, e.attempts + 1, e.window_start);
		END IF;
	END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.retry_after_seconds(now timestamptz, t timestamptz) RETURNS bigint
	LANGUAGE sql IMMUTABLE
	RETURN ceil(extract(epoch FROM t - now))::bigint;

CREATE OR REPLACE FUNCTION pgbank.login_throttle_attempt(username text, client_ip inet) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	kinds integer[] := '{}';
	keys bigint[] := '{}';
	a record;
	now timestamptz := clock_timestamp();
	r record;
BEGIN
	IF username IS NOT NULL THEN
		keys := keys || pgbank.throttle_user_key(username);
		kinds := kinds || 1;
		IF pgbank.throttle_limit(1) <= 0 THEN
			keys := '{}';
			kinds := '{}';
		END IF;
	END IF;
	IF client_ip IS NOT NULL THEN
		a := pgbank.throttle_address_key(client_ip);
		IF pgbank.throttle_limit(2) > 0 THEN
			keys := keys || a.key;
			kinds := kinds || a.kind;
		END IF;
	END IF;
	IF coalesce(array_length(keys, 1), 0) = 0 THEN
		RETURN;
	END IF;
	PERFORM pgbank.throttle_lock();
	BEGIN
		r := pgbank.throttle_count(kinds, keys, now);
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		-- (a cancel too: OTHERS does not catch it, and the lock is the session's)
		PERFORM pgbank.throttle_unlock();
		RAISE;
	END;
	PERFORM pgbank.throttle_unlock();
	IF r.refused_kind = 1 THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('login_throttled'),
			MESSAGE = format('too many failed logins for user %s', username),
			DETAIL = format('Try again in %s seconds.', pgbank.retry_after_seconds(now, r.retry_at));
	ELSIF r.refused_kind IN (2, 3) THEN
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('login_throttled'),
			MESSAGE = format('too many failed logins from address %s', pgbank.throttle_address(r.refused_kind, r.refused_key)),
			DETAIL = format('Try again in %s seconds.', pgbank.retry_after_seconds(now, r.retry_at));
	ELSIF r.refused_kind = 0 THEN
		RAISE LOG 'pgbank: all % entries of the login throttle are throttled; logins of other users and addresses are refused',
			(SELECT count(*) FROM pgbank.login_throttle_slots);
		RAISE EXCEPTION USING ERRCODE = pgbank.errcode('login_throttled'),
			MESSAGE = 'the login throttle is full',
			DETAIL = format('Every user and address it tracks is throttled, so this login cannot be counted. Try again in %s seconds.',
				pgbank.retry_after_seconds(now, r.retry_at));
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.login_throttle_passed(username text, client_ip inet) RETURNS void
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	uk bigint := pgbank.throttle_user_key(username);
	a record;
	w interval := make_interval(secs => pgbank.setting_seconds('pgbank.login_failure_window'));
	e record;
BEGIN
	SELECT * INTO a FROM pgbank.throttle_address_key(client_ip);
	PERFORM pgbank.throttle_lock();
	BEGIN
		PERFORM pgbank.throttle_write(x.slot, 0, 0, 0, NULL)
		   FROM pgbank.throttle_entries() x WHERE username IS NOT NULL AND x.kind = 1 AND x.key = uk;
		SELECT * INTO e FROM pgbank.throttle_entries() x
		 WHERE client_ip IS NOT NULL AND x.kind = a.kind AND x.key = a.key;
		IF FOUND AND clock_timestamp() - e.window_start < w THEN
			IF e.attempts <= 1 THEN
				PERFORM pgbank.throttle_write(e.slot, 0, 0, 0, NULL);
			ELSE
				PERFORM pgbank.throttle_write(e.slot, e.kind, e.key, e.attempts - 1, e.window_start);
			END IF;
		END IF;
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		-- (a cancel too: OTHERS does not catch it, and the lock is the session's)
		PERFORM pgbank.throttle_unlock();
		RAISE;
	END;
	PERFORM pgbank.throttle_unlock();
END
$$;

CREATE OR REPLACE FUNCTION pgbank.throttle_clear(kind integer, key bigint) RETURNS boolean
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	found_one boolean;
BEGIN
	PERFORM pgbank.throttle_lock();
	BEGIN
		PERFORM pgbank.throttle_write(x.slot, 0, 0, 0, NULL)
		   FROM pgbank.throttle_entries() x
		  WHERE x.kind = throttle_clear.kind AND x.key = throttle_clear.key;
		found_one := FOUND;
	EXCEPTION WHEN OTHERS OR query_canceled THEN
		-- (a cancel too: OTHERS does not catch it, and the lock is the session's)
		PERFORM pgbank.throttle_unlock();
		RAISE;
	END;
	PERFORM pgbank.throttle_unlock();
	RETURN found_one;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.login_throttle_clear(username text) RETURNS boolean
	LANGUAGE plpgsql VOLATILE STRICT AS $$
BEGIN
	RETURN pgbank.throttle_clear(1, pgbank.throttle_user_key(username));
END
$$;

CREATE OR REPLACE FUNCTION pgbank.login_throttle_clear_address(client_ip inet) RETURNS boolean
	LANGUAGE plpgsql VOLATILE STRICT AS $$
DECLARE
	a record := pgbank.throttle_address_key(client_ip);
BEGIN
	RETURN pgbank.throttle_clear(a.kind, a.key);
END
$$;

CREATE OR REPLACE FUNCTION pgbank.login_throttle()
	RETURNS TABLE (username text, failures int, window_started_at timestamptz, throttled boolean)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	w interval := make_interval(secs => pgbank.setting_seconds('pgbank.login_failure_window'));
	lim integer := pgbank.throttle_limit(1);
BEGIN
	RETURN QUERY
		SELECT u.username, x.attempts, x.window_start, lim > 0 AND x.attempts >= lim
		  FROM pgbank.throttle_entries() x
		  JOIN pgbank.users u ON pg_catalog.hashtextextended(u.username, 0) = x.key
		 WHERE x.kind = 1 AND clock_timestamp() - x.window_start < w;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.login_throttle_addresses()
	RETURNS TABLE (client_ip inet, failures int, window_started_at timestamptz, throttled boolean)
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	w interval := make_interval(secs => pgbank.setting_seconds('pgbank.login_failure_window'));
	lim integer := pgbank.throttle_limit(2);
BEGIN
	RETURN QUERY
		SELECT pgbank.throttle_address(x.kind, x.key), x.attempts, x.window_start, lim > 0 AND x.attempts >= lim
		  FROM pgbank.throttle_entries() x
		 WHERE x.kind IN (2, 3) AND clock_timestamp() - x.window_start < w;
END
$$;
