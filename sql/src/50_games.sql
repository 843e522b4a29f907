-- Game results: one typed table per game, a registry that describes them,
-- and generic functions that read the registry. Adding a game is one new
-- table and one registry row; the functions do not change (docs/games.md).

-- A list of short names (teammates): at most max_items, each non-blank and
-- at most max_length characters. Used by CHECK constraints.
CREATE FUNCTION pgbank.bounded_texts(a text[], max_items int, max_length int)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT a IS NOT NULL
	   AND cardinality(a) <= max_items
	   AND (cardinality(a) = 0 OR array_ndims(a) = 1)
	   AND NOT EXISTS (SELECT 1 FROM unnest(a) e
	                    WHERE e IS NULL OR btrim(e) = '' OR length(e) > max_length)
$$;
COMMENT ON FUNCTION pgbank.bounded_texts(text[], int, int) IS
	'Whether a text array has at most max_items non-blank elements of at most max_length characters';

-- The registry. fields is the ordered list of the fields a client may send,
-- one object per field:
--   {"name": column, "type": "integer"|"text"|"date"|"text[]",
--    "required": bool, "min": n|"YYYY-MM-DD", "max": n,
--    "max_length": n, "values": [allowed strings], "max_items": n,
--    "derived_from": field}
-- A field with derived_from is computed by the table (a generated column) and
-- may not be sent. Every results table has the columns id bigserial, owner,
-- date date, result text ('win' or 'loss'), created_at and updated_at;
-- the registry trigger below checks this, and that every field is a column.
CREATE TABLE pgbank.games (
	slug text PRIMARY KEY CHECK (slug ~ '^[a-z][a-z0-9_]{0,31}$'),
	name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
	results_table regclass NOT NULL UNIQUE,
	fields jsonb NOT NULL CHECK (jsonb_typeof(fields) = 'array'),
	-- the field whose best (lowest) value is the summary's best_placement
	placement_field text,
	-- the field the table's summary is broken down by (legend, hero, mode)
	breakdown_field text
);
COMMENT ON TABLE pgbank.games IS
	'Registry of games: the results table of each and the fields a client may send';

-- Reject a registry row the generic functions could not use.
CREATE FUNCTION pgbank.games_check() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f jsonb;
	col text;
	names text[] := '{}';
BEGIN
	FOREACH col IN ARRAY ARRAY['id', 'owner', 'date', 'result', 'created_at', 'updated_at'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_attribute a
		                WHERE a.attrelid = NEW.results_table AND a.attname = col
		                  AND a.attnum > 0 AND NOT a.attisdropped) THEN
			PERFORM pgbank.invalid_input('results_table',
				format('%s has no column %s', NEW.results_table, col));
		END IF;
	END LOOP;
	FOR f IN SELECT * FROM jsonb_array_elements(NEW.fields) LOOP
		IF jsonb_typeof(f) <> 'object' OR NOT f ? 'name' OR NOT f ? 'type'
		   OR f->>'type' NOT IN ('integer', 'text', 'date', 'text[]') THEN
			PERFORM pgbank.invalid_input('fields',
				format('%s needs a name and a type among integer, text, date, text[]', f));
		END IF;
		IF f->>'name' = ANY (names) THEN
			PERFORM pgbank.invalid_input('fields', format('%s is listed twice', f->>'name'));
		END IF;
		IF f->>'name' IN ('id', 'owner', 'created_at', 'updated_at')
		   OR NOT EXISTS (SELECT 1 FROM pg_attribute a
		                   WHERE a.attrelid = NEW.results_table AND a.attname = f->>'name'
		                     AND a.attnum > 0 AND NOT a.attisdropped) THEN
			PERFORM pgbank.invalid_input('fields',
				format('%s is not a column of %s a client may set', f->>'name', NEW.results_table));
		END IF;
		IF (f->>'type' = 'integer' AND NOT (f ? 'min' AND f ? 'max'))
		   OR (f->>'type' = 'date' AND NOT f ? 'min')
		   OR (f->>'type' = 'text[]' AND NOT f ? 'max_items') THEN
			PERFORM pgbank.invalid_input('fields',
				format('%s needs min and max (integer), min (date) or max_items (text[])', f->>'name'));
		END IF;
		names := names || (f->>'name');
	END LOOP;
	IF NEW.placement_field IS NOT NULL AND NOT NEW.placement_field = ANY (names) THEN
		PERFORM pgbank.invalid_input('placement_field', 'must be one of the fields');
	END IF;
	IF NEW.breakdown_field IS NOT NULL AND NOT NEW.breakdown_field = ANY (names) THEN
		PERFORM pgbank.invalid_input('breakdown_field', 'must be one of the fields');
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER games_check BEFORE INSERT OR UPDATE ON pgbank.games
	FOR EACH ROW EXECUTE FUNCTION pgbank.games_check();

-- Apex Legends. Placement 1..60 covers trios (20 squads), duos (30) and the
-- solo mode (60 players); a win is placement 1, so result is derived.
CREATE TABLE pgbank.apex_results (
	id bigserial PRIMARY KEY,
	owner text NOT NULL REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,
	date date NOT NULL CHECK (date >= '2019-02-04'),
	result text GENERATED ALWAYS AS (CASE WHEN placement = 1 THEN 'win' ELSE 'loss' END) STORED,
	legend text NOT NULL CHECK (btrim(legend) <> '' AND length(legend) <= 50),
	kills integer NOT NULL CHECK (kills BETWEEN 0 AND 60),
	placement integer NOT NULL CHECK (placement BETWEEN 1 AND 60),
	damage integer NOT NULL CHECK (damage BETWEEN 0 AND 50000),
	time_seconds integer NOT NULL CHECK (time_seconds BETWEEN 0 AND 3600),
	teammates text[] NOT NULL DEFAULT '{}' CHECK (pgbank.bounded_texts(teammates, 3, 50)),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX apex_results_owner_date_idx ON pgbank.apex_results (owner, date DESC, id DESC);

-- Fortnite: battle royale of 100 players; a win is placement 1.
CREATE TABLE pgbank.fortnite_results (
	id bigserial PRIMARY KEY,
	owner text NOT NULL REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,
	date date NOT NULL CHECK (date >= '2017-07-21'),
	result text GENERATED ALWAYS AS (CASE WHEN placement = 1 THEN 'win' ELSE 'loss' END) STORED,
	kills integer NOT NULL CHECK (kills BETWEEN 0 AND 99),
	placement integer NOT NULL CHECK (placement BETWEEN 1 AND 100),
	mode text NOT NULL CHECK (mode IN ('solo', 'duos', 'trios', 'squads', 'ltm')),
	teammates text[] NOT NULL DEFAULT '{}' CHECK (pgbank.bounded_texts(teammates, 3, 50)),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fortnite_results_owner_date_idx ON pgbank.fortnite_results (owner, date DESC, id DESC);

-- Heroes of the Storm: two teams of five, so a result is a win or a loss.
CREATE TABLE pgbank.hots_results (
	id bigserial PRIMARY KEY,
	owner text NOT NULL REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,
	date date NOT NULL CHECK (date >= '2015-06-02'),
	result text NOT NULL CHECK (result IN ('win', 'loss')),
	hero text NOT NULL CHECK (btrim(hero) <> '' AND length(hero) <= 50),
	kills integer NOT NULL CHECK (kills BETWEEN 0 AND 100),
	deaths integer NOT NULL CHECK (deaths BETWEEN 0 AND 100),
	assists integer NOT NULL CHECK (assists BETWEEN 0 AND 200),
	time_seconds integer NOT NULL CHECK (time_seconds BETWEEN 0 AND 7200),
	map text NOT NULL CHECK (btrim(map) <> '' AND length(map) <= 50),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hots_results_owner_date_idx ON pgbank.hots_results (owner, date DESC, id DESC);

INSERT INTO pgbank.games (slug, name, results_table, placement_field, breakdown_field, fields) VALUES
('apex', 'Apex Legends', 'pgbank.apex_results', 'placement', 'legend', $json$[
	{"name": "date", "type": "date", "required": true, "min": "2019-02-04"},
	{"name": "result", "type": "text", "derived_from": "placement"},
	{"name": "legend", "type": "text", "required": true, "max_length": 50},
	{"name": "kills", "type": "integer", "required": true, "min": 0, "max": 60},
	{"name": "placement", "type": "integer", "required": true, "min": 1, "max": 60},
	{"name": "damage", "type": "integer", "required": true, "min": 0, "max": 50000},
	{"name": "time_seconds", "type": "integer", "required": true, "min": 0, "max": 3600},
	{"name": "teammates", "type": "text[]", "max_items": 3, "max_length": 50}
]$json$),
('fortnite', 'Fortnite', 'pgbank.fortnite_results', 'placement', 'mode', $json$[
	{"name": "date", "type": "date", "required": true, "min": "2017-07-21"},
	{"name": "result", "type": "text", "derived_from": "placement"},
	{"name": "kills", "type": "integer", "required": true, "min": 0, "max": 99},
	{"name": "placement", "type": "integer", "required": true, "min": 1, "max": 100},
	{"name": "mode", "type": "text", "required": true, "values": ["solo", "duos", "trios", "squads", "ltm"]},
	{"name": "teammates", "type": "text[]", "max_items": 3, "max_length": 50}
]$json$),
('hots', 'Heroes of the Storm', 'pgbank.hots_results', NULL, 'hero', $json$[
	{"name": "date", "type": "date", "required": true, "min": "2015-06-02"},
	{"name": "result", "type": "text", "required": true, "values": ["win", "loss"]},
	{"name": "hero", "type": "text", "required": true, "max_length": 50},
	{"name": "kills", "type": "integer", "required": true, "min": 0, "max": 100},
	{"name": "deaths", "type": "integer", "required": true, "min": 0, "max": 100},
	{"name": "assists", "type": "integer", "required": true, "min": 0, "max": 200},
	{"name": "time_seconds", "type": "integer", "required": true, "min": 0, "max": 7200},
	{"name": "map", "type": "text", "required": true, "max_length": 50}
]$json$);

-- Games registered later (and their results) are kept by pg_dump.
SELECT pg_catalog.pg_extension_config_dump('pgbank.games',
	$$WHERE slug NOT IN ('apex', 'fortnite', 'hots')$$);
SELECT pg_catalog.pg_extension_config_dump('pgbank.apex_results', '');
SELECT pg_catalog.pg_extension_config_dump('pgbank.apex_results_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgbank.fortnite_results', '');
SELECT pg_catalog.pg_extension_config_dump('pgbank.fortnite_results_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgbank.hots_results', '');
SELECT pg_catalog.pg_extension_config_dump('pgbank.hots_results_id_seq', '');

-- The registry row of a game, or P0002 'unknown game x'.
CREATE FUNCTION pgbank.game_lookup(game text) RETURNS pgbank.games
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
CREATE FUNCTION pgbank.game_check_field(f jsonb, v jsonb) RETURNS void
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
CREATE FUNCTION pgbank.game_validate(g pgbank.games, body json, partial boolean)
	RETURNS jsonb
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	b jsonb;
	k text;
	f jsonb;
BEGIN
	IF body IS NULL OR json_typeof(body) <> 'object' THEN
		PERFORM pgbank.invalid_input('body', 'must be a JSON object');
	END IF;
	-- text cannot hold \u0000 (an odd number of backslashes before u0000)
	IF body::text ~ '(^|[^\\])(\\\\)*\\u0000' THEN
		PERFORM pgbank.invalid_input('body', 'must not contain \u0000');
	END IF;
	b := body::jsonb;
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
CREATE FUNCTION pgbank.game_columns(g pgbank.games, b jsonb, prefix text DEFAULT '')
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
-- API functions below (which take it from a verified token) call them.

CREATE FUNCTION pgbank.game_create(username text, game text, body json) RETURNS json
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
COMMENT ON FUNCTION pgbank.game_create(text, text, json) IS
	'Store a result of a game for a user; returns the created row as JSON';

CREATE FUNCTION pgbank.game_get(username text, game text, id bigint) RETURNS json
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
COMMENT ON FUNCTION pgbank.game_get(text, text, bigint) IS
	'One of a user''s results of a game; P0002 when missing or another user''s';

CREATE FUNCTION pgbank.game_list(username text, game text, page_id int DEFAULT 1,
	page_size int DEFAULT 10, from_date date DEFAULT NULL, to_date date DEFAULT NULL)
	RETURNS json
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	g pgbank.games := pgbank.game_lookup(game);
	r json;
BEGIN
	page_id := coalesce(page_id, 1);
	page_size := coalesce(page_size, 10);
	IF page_id < 1 THEN
		PERFORM pgbank.invalid_input('page_id', 'must be 1 or more');
	END IF;
	IF page_size NOT BETWEEN 1 AND 100 THEN
		PERFORM pgbank.invalid_input('page_size', 'must be between 1 and 100');
	END IF;
	IF from_date > to_date THEN
		PERFORM pgbank.invalid_input('to', 'must not be before from');
	END IF;
	EXECUTE format('SELECT coalesce(json_agg(to_json(t) ORDER BY t.date DESC, t.id DESC), ''[]'')'
	               '  FROM (SELECT * FROM %s t WHERE t.owner = $1'
	               '          AND ($2::date IS NULL OR t.date >= $2)'
	               '          AND ($3::date IS NULL OR t.date <= $3)'
	               '        ORDER BY t.date DESC, t.id DESC LIMIT $4 OFFSET $5) t',
	               g.results_table)
		INTO r USING username, from_date, to_date, page_size, (page_id - 1)::bigint * page_size;
	RETURN json_build_object('results', r, 'page_id', page_id, 'page_size', page_size);
END
$$;
COMMENT ON FUNCTION pgbank.game_list(text, text, int, int, date, date) IS
	'A page of a user''s results of a game, newest first (date, then id), optionally within a date range';

CREATE FUNCTION pgbank.game_update(username text, game text, id bigint, body json) RETURNS json
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
COMMENT ON FUNCTION pgbank.game_update(text, text, bigint, json) IS
	'Change the given fields of one of a user''s results of a game; returns the row as JSON';

CREATE FUNCTION pgbank.game_delete(username text, game text, id bigint) RETURNS json
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
COMMENT ON FUNCTION pgbank.game_delete(text, text, bigint) IS
	'Delete one of a user''s results of a game; returns the deleted row as JSON';

-- The statistics of a set of results as one jsonb expression, built from the
-- registry: matches, wins, losses, best_placement (when the game has a
-- placement), totals and averages of each integer field (the placement gets
-- an average only: a total of placements means nothing).
CREATE FUNCTION pgbank.game_stats_sql(g pgbank.games) RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT format('jsonb_build_object(''matches'', count(*),'
	              ' ''wins'', count(*) FILTER (WHERE t.result = ''win''),'
	              ' ''losses'', count(*) FILTER (WHERE t.result = ''loss'')%s,'
	              ' ''totals'', jsonb_build_object(%s), ''averages'', jsonb_build_object(%s))',
	              CASE WHEN g.placement_field IS NOT NULL
	                   THEN format(', ''best_placement'', min(t.%I)', g.placement_field) ELSE '' END,
	              coalesce(string_agg(format('%L, coalesce(sum(t.%I), 0)', f->>'name', f->>'name'), ', '
	                                  ORDER BY n) FILTER (WHERE f->>'name' IS DISTINCT FROM g.placement_field), ''),
	              coalesce(string_agg(format('%L, round(avg(t.%I), 2)', f->>'name', f->>'name'), ', '
	                                  ORDER BY n), ''))
	  FROM jsonb_array_elements(g.fields) WITH ORDINALITY AS s(f, n)
	 WHERE f->>'type' = 'integer'
$$;
COMMENT ON FUNCTION pgbank.game_stats_sql(pgbank.games) IS
	'The SQL expression of a game''s summary statistics, built from its registry row';

CREATE FUNCTION pgbank.game_table(username text, game text) RETURNS json
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
COMMENT ON FUNCTION pgbank.game_table(text, text) IS
	'A user''s results of a game ready to render (newest first) and their summary, with a breakdown';

-- The API: each function takes the caller from an access token
-- (pgbank.verify_access_token, 28000 when it is missing, bad, expired or
-- revoked) and its path and query parameters as text, so that a bad one is
-- reported naming its field. An empty string means "not given".

-- A path or query parameter as a bigint within [lo, hi], NULL when absent.
CREATE FUNCTION pgbank.game_param_int(field text, v text, lo bigint, hi bigint) RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF v IS NULL OR v = '' THEN
		RETURN NULL;
	END IF;
	IF v !~ '^[0-9]{1,18}$' OR v::bigint NOT BETWEEN lo AND hi THEN
		PERFORM pgbank.invalid_input(field, format('must be an integer between %s and %s', lo, hi));
	END IF;
	RETURN v::bigint;
END
$$;
COMMENT ON FUNCTION pgbank.game_param_int(text, text, bigint, bigint) IS
	'Parse a text parameter as an integer in a range, naming the field when it is not';

-- A query parameter as a date (YYYY-MM-DD), NULL when absent.
CREATE FUNCTION pgbank.game_param_date(field text, v text) RETURNS date
	LANGUAGE plpgsql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF v IS NULL OR v = '' THEN
		RETURN NULL;
	END IF;
	IF v ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
		BEGIN
			RETURN v::date;
		EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
			NULL;
		END;
	END IF;
	PERFORM pgbank.invalid_input(field, 'must be a date (YYYY-MM-DD)');
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION pgbank.game_param_date(text, text) IS
	'Parse a text parameter as a YYYY-MM-DD date, naming the field when it is not';

-- A result id from the path: a missing or malformed id is bad input.
CREATE FUNCTION pgbank.game_param_id(v text) RETURNS bigint
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF v IS NULL OR v !~ '^[0-9]{1,18}$' OR v::bigint < 1 THEN
		PERFORM pgbank.invalid_input('id', 'must be a positive integer');
	END IF;
	RETURN v::bigint;
END
$$;
COMMENT ON FUNCTION pgbank.game_param_id(text) IS
	'Parse a result id from a path, naming the field when it is not a positive integer';

CREATE FUNCTION pgbank.api_game_create(token text, game text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_create(caller, game, body);
END
$$;
COMMENT ON FUNCTION pgbank.api_game_create(text, text, json) IS
	'POST /v1/games/{game}/results: store a result of the token''s user; returns the row';

CREATE FUNCTION pgbank.api_game_get(token text, game text, id text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_get(caller, game, pgbank.game_param_id(id));
END
$$;
COMMENT ON FUNCTION pgbank.api_game_get(text, text, text) IS
	'GET /v1/games/{game}/results/{id}: one result of the token''s user (404 for another user''s)';

CREATE FUNCTION pgbank.api_game_list(token text, game text, page_id text, page_size text,
	from_date text, to_date text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_list(caller, game,
		pgbank.game_param_int('page_id', page_id, 1, 2147483647)::int,
		pgbank.game_param_int('page_size', page_size, 1, 100)::int,
		pgbank.game_param_date('from', from_date),
		pgbank.game_param_date('to', to_date));
END
$$;
COMMENT ON FUNCTION pgbank.api_game_list(text, text, text, text, text, text) IS
	'GET /v1/games/{game}/results?page_id=&page_size=&from=&to=: a page of the token''s user''s results, newest first';

CREATE FUNCTION pgbank.api_game_update(token text, game text, id text, body json) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_update(caller, game, pgbank.game_param_id(id), body);
END
$$;
COMMENT ON FUNCTION pgbank.api_game_update(text, text, text, json) IS
	'PATCH /v1/games/{game}/results/{id}: change the given fields of a result of the token''s user';

CREATE FUNCTION pgbank.api_game_delete(token text, game text, id text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_delete(caller, game, pgbank.game_param_id(id));
END
$$;
COMMENT ON FUNCTION pgbank.api_game_delete(text, text, text) IS
	'DELETE /v1/games/{game}/results/{id}: delete a result of the token''s user; returns the deleted row';

CREATE FUNCTION pgbank.api_game_table(token text, game text) RETURNS json
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller text := (pgbank.verify_access_token(token)).username;
BEGIN
	RETURN pgbank.game_table(caller, game);
END
$$;
COMMENT ON FUNCTION pgbank.api_game_table(text, text) IS
	'GET /v1/games/{game}/table: the token''s user''s results of a game ready to render, with a summary';
