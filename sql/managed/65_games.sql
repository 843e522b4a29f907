-- The game functions of the managed build: PL/pgSQL over the registry
-- (the C build keeps each game's statements and plans per backend,
-- extension/games.c; here each call builds its statement from the registry
-- and plans it, as 0.1.0 did). The same rules, messages and answers.

-- The C build's trigger drops its backends' kept statements; nothing is
-- kept here.
CREATE OR REPLACE FUNCTION pgbank.games_changed() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RETURN NULL;
END
$$;


-- The registry row of a game, or P0002 'unknown game x'.
CREATE OR REPLACE FUNCTION pgbank.game_lookup(game text) RETURNS pgbank.games
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games;
BEGIN
	SELECT * INTO g FROM pgbank.games WHERE slug = game;
	IF NOT FOUND THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found',
			MESSAGE = format('unknown game %s', coalesce(left(game, 64), 'NULL')),
			DETAIL = 'Field: game.', COLUMN = 'game';
	END IF;
	RETURN g;
END
$$;
COMMENT ON FUNCTION pgbank.game_lookup(text) IS
	'The registry row of a game by slug; P0002 for an unknown game';

-- Check one field's JSON value against its registry spec; 22023 naming the
-- field when it is wrong.
CREATE OR REPLACE FUNCTION pgbank.game_check_field(f jsonb, v jsonb) RETURNS void
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	name text := f->>'name';
	maxlen int := coalesce((f->>'max_length')::int, 100);
	s text;
	d date;
	e jsonb;
	msg text;
BEGIN
	IF f ? 'derived_from' THEN
		PERFORM pgbank.invalid_input(name,
			format('cannot be set: it is derived from %s', f->>'derived_from'));
	END IF;
	CASE f->>'type'
	WHEN 'integer' THEN
		msg := format('must be an integer between %s and %s', f->>'min', f->>'max');
		IF jsonb_typeof(v) <> 'number' OR (v #>> '{}') !~ '^-?[0-9]+$'
		   OR (v #>> '{}')::numeric NOT BETWEEN (f->>'min')::numeric AND (f->>'max')::numeric THEN
			PERFORM pgbank.invalid_input(name, msg);
		END IF;
	WHEN 'text' THEN
		s := v #>> '{}';
		IF f ? 'values' THEN
			IF jsonb_typeof(v) <> 'string' OR NOT (f->'values') ? s THEN
				PERFORM pgbank.invalid_input(name, format('must be one of %s',
					(SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(f->'values') x)));
			END IF;
		ELSIF jsonb_typeof(v) <> 'string' OR btrim(s) = '' OR length(s) > maxlen THEN
			PERFORM pgbank.invalid_input(name,
				format('must be a non-blank string of at most %s characters', maxlen));
		END IF;
	WHEN 'date' THEN
		msg := format('must be a date (YYYY-MM-DD) from %s to today', f->>'min');
		IF jsonb_typeof(v) <> 'string' OR (v #>> '{}') !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
			PERFORM pgbank.invalid_input(name, msg);
		END IF;
		BEGIN
			d := (v #>> '{}')::date;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			PERFORM pgbank.invalid_input(name, msg);
		END;
		IF d < (f->>'min')::date OR d > current_date THEN
			PERFORM pgbank.invalid_input(name, msg);
		END IF;
	WHEN 'text[]' THEN
		msg := format('must be an array of at most %s non-blank strings of at most %s characters',
			f->>'max_items', maxlen);
		IF jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) > (f->>'max_items')::int THEN
			PERFORM pgbank.invalid_input(name, msg);
		END IF;
		FOR e IN SELECT * FROM jsonb_array_elements(v) LOOP
			IF jsonb_typeof(e) <> 'string' OR btrim(e #>> '{}') = ''
			   OR length(e #>> '{}') > maxlen THEN
				PERFORM pgbank.invalid_input(name, msg);
			END IF;
		END LOOP;
	END CASE;
END
$$;
COMMENT ON FUNCTION pgbank.game_check_field(jsonb, jsonb) IS
	'Check one JSON value against a registry field spec; 22023 naming the field';

-- Validate a request body against a game's fields: a JSON object, no unknown
-- or repeated field, every value of the right type and range, and (unless
-- partial) every required field present. Returns the body as jsonb.
CREATE OR REPLACE FUNCTION pgbank.game_validate(g pgbank.games, body json, partial boolean)
	RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb;
	k text;
	f jsonb;
BEGIN
	-- text cannot hold \u0000 (an odd number of backslashes before u0000),
	-- so this comes before the body is read as jsonb
	IF body::text ~ '(^|[^\\])(\\\\)*\\u0000' THEN
		PERFORM pgbank.invalid_input('body', 'must not contain \u0000');
	END IF;
	b := pgbank.body_object(body);
	FOR k IN SELECT json_object_keys(body) LOOP
		IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(g.fields) s WHERE s->>'name' = k) THEN
			PERFORM pgbank.invalid_input(left(k, 64), format('unknown field for %s', g.slug));
		END IF;
	END LOOP;
	SELECT k2 INTO k FROM json_object_keys(body) k2 GROUP BY k2 HAVING count(*) > 1 LIMIT 1;
	IF FOUND THEN
		PERFORM pgbank.invalid_input(k, 'is given more than once');
	END IF;
	-- the values given first, so that a wrong value is reported as such
	FOR f IN SELECT * FROM jsonb_array_elements(g.fields) LOOP
		IF b ? (f->>'name') THEN
			PERFORM pgbank.game_check_field(f, b->(f->>'name'));
		END IF;
	END LOOP;
	FOR f IN SELECT * FROM jsonb_array_elements(g.fields) LOOP
		IF NOT partial AND NOT b ? (f->>'name') AND coalesce((f->>'required')::boolean, false) THEN
			PERFORM pgbank.invalid_input(f->>'name', 'is required');
		END IF;
	END LOOP;
	RETURN b;
END
$$;
COMMENT ON FUNCTION pgbank.game_validate(pgbank.games, json, boolean) IS
	'Validate a results body against a game''s registry fields; 22023 naming the field';

-- The column list of the fields present in a validated body, quoted, taken
-- from the registry (never from the body).
CREATE OR REPLACE FUNCTION pgbank.game_columns(g pgbank.games, b jsonb, prefix text DEFAULT '')
	RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT string_agg(prefix || format('%I', f->>'name'), ', ' ORDER BY n)
	  FROM jsonb_array_elements(g.fields) WITH ORDINALITY AS s(f, n)
	 WHERE b ? (f->>'name')
$$;
COMMENT ON FUNCTION pgbank.game_columns(pgbank.games, jsonb, text) IS
	'Quoted registry columns of the fields a validated body holds';

-- The core functions take the caller's username: only the SECURITY DEFINER
-- API functions (70_api.sql, which take it from a verified token) call them.

CREATE OR REPLACE FUNCTION pgbank.game_create(username text, game text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	b jsonb := pgbank.game_validate(g, body, false);
	cols text := pgbank.game_columns(g, b);
	r json;
BEGIN
	EXECUTE format('INSERT INTO %s AS t (owner, %s) SELECT $1, %s'
	               ' FROM jsonb_populate_record(NULL::%s, $2) r RETURNING to_json(t)',
	               g.results_table, cols, pgbank.game_columns(g, b, 'r.'), g.results_table)
		INTO r USING username, b;
	RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.game_get(username text, game text, id bigint) RETURNS json
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	r json;
BEGIN
	EXECUTE format('SELECT to_json(t) FROM %s t WHERE t.id = $1 AND t.owner = $2', g.results_table)
		INTO r USING id, username;
	IF r IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = 'result not found',
			DETAIL = 'Field: id.', COLUMN = 'id';
	END IF;
	RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.game_list(username text, game text, page_id bigint DEFAULT 1,
	page_size bigint DEFAULT 10, from_date date DEFAULT NULL, to_date date DEFAULT NULL)
	RETURNS json
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	r json;
BEGIN
	page_id := coalesce(page_id, 1);
	page_size := coalesce(page_size, 10);
	PERFORM pgbank.check_page(page_id, page_size, 1, 100);
	IF from_date > to_date THEN
		PERFORM pgbank.invalid_input('to', 'must not be before from');
	END IF;
	EXECUTE format('SELECT coalesce(json_agg(to_json(t) ORDER BY t.date DESC, t.id DESC), ''[]'')'
	               '  FROM (SELECT * FROM %s t WHERE t.owner = $1'
	               '          AND ($2::date IS NULL OR t.date >= $2)'
	               '          AND ($3::date IS NULL OR t.date <= $3)'
	               '        ORDER BY t.date DESC, t.id DESC LIMIT $4 OFFSET $5) t',
	               g.results_table)
		INTO r USING username, from_date, to_date, page_size, (page_id - 1) * page_size;
	RETURN json_build_object('results', r, 'page_id', page_id, 'page_size', page_size);
END
$$;

CREATE OR REPLACE FUNCTION pgbank.game_update(username text, game text, id bigint, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	b jsonb := pgbank.game_validate(g, body, true);
	sets text;
	r json;
BEGIN
	SELECT string_agg(format('%1$I = r.%1$I', f->>'name'), ', ')
	  INTO sets
	  FROM jsonb_array_elements(g.fields) f WHERE b ? (f->>'name');
	IF sets IS NULL THEN
		-- nothing to change: answer the row as it is
		RETURN pgbank.game_get(username, game, id);
	END IF;
	EXECUTE format('UPDATE %s AS t SET %s, updated_at = now()'
	               '  FROM jsonb_populate_record(NULL::%s, $3) r'
	               ' WHERE t.id = $1 AND t.owner = $2 RETURNING to_json(t)',
	               g.results_table, sets, g.results_table)
		INTO r USING id, username, b;
	IF r IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = 'result not found',
			DETAIL = 'Field: id.', COLUMN = 'id';
	END IF;
	RETURN r;
END
$$;

CREATE OR REPLACE FUNCTION pgbank.game_delete(username text, game text, id bigint) RETURNS json
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	r json;
BEGIN
	EXECUTE format('DELETE FROM %s t WHERE t.id = $1 AND t.owner = $2 RETURNING to_json(t)',
	               g.results_table)
		INTO r USING id, username;
	IF r IS NULL THEN
		RAISE EXCEPTION USING ERRCODE = 'no_data_found', MESSAGE = 'result not found',
			DETAIL = 'Field: id.', COLUMN = 'id';
	END IF;
	RETURN r;
END
$$;


CREATE OR REPLACE FUNCTION pgbank.game_table(username text, game text) RETURNS json
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	stats text := pgbank.game_stats_sql(g);
	rows json;
	summary jsonb;
	breakdown jsonb;
BEGIN
	EXECUTE format('SELECT coalesce(json_agg(to_json(t) ORDER BY t.date DESC, t.id DESC), ''[]'')'
	               '  FROM %s t WHERE t.owner = $1', g.results_table)
		INTO rows USING username;
	EXECUTE format('SELECT %s FROM %s t WHERE t.owner = $1', stats, g.results_table)
		INTO summary USING username;
	IF g.breakdown_field IS NOT NULL THEN
		EXECUTE format('SELECT coalesce(jsonb_agg(s.b ORDER BY s.matches DESC, s.k), ''[]'')'
		               '  FROM (SELECT t.%1$I AS k, count(*) AS matches,'
		               '               jsonb_build_object(%2$L, t.%1$I) || %3$s AS b'
		               '          FROM %4$s t WHERE t.owner = $1 GROUP BY t.%1$I) s',
		               g.breakdown_field, g.breakdown_field, stats, g.results_table)
			INTO breakdown USING username;
		summary := summary || jsonb_build_object('breakdown_by', g.breakdown_field,
		                                         'breakdown', breakdown);
	END IF;
	RETURN json_build_object('game', g.slug, 'name', g.name, 'rows', rows, 'summary', summary);
END
$$;
