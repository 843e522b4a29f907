-- Game results: one typed table per game, a registry that describes them,
-- and generic functions that read the registry. Adding a game is one call,
-- pgbank.register_game, which makes the table from the registry entry; the
-- functions do not change (docs/games.md).

-- A list of short names (teammates): at most max_items, each non-blank and
-- at most max_length characters. Used by CHECK constraints.
CREATE OR REPLACE FUNCTION pgbank.bounded_texts(a text[], max_items int, max_length int)
	RETURNS boolean
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN a IS NOT NULL
	   AND cardinality(a) <= max_items
	   AND (cardinality(a) = 0 OR array_ndims(a) = 1)
	   AND NOT EXISTS (SELECT 1 FROM unnest(a) e
	                    WHERE e IS NULL OR btrim(e) = '' OR length(e) > max_length);
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
-- register_game makes the table, and each field's CHECK constraint, from
-- the fields.
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

-- The rules of a registry entry, in one place: what the trigger below checks
-- of every row and register_game of a new game before it makes the table.
-- columns are the results table's columns, or NULL when the table is yet to
-- be made from the fields (then every field a client may set is a column).
-- Every results table has id, owner, date (a required date field), result
-- (a text field: 'win' or 'loss', or derived from the placement),
-- created_at and updated_at.
CREATE OR REPLACE FUNCTION pgbank.game_check_fields(results_table text, columns text[],
	fields jsonb, placement_field text, breakdown_field text) RETURNS void
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	f jsonb;
	col text;
	names text[] := '{}';
BEGIN
	IF columns IS NOT NULL THEN
		FOREACH col IN ARRAY ARRAY['id', 'owner', 'date', 'result', 'created_at', 'updated_at'] LOOP
			IF NOT col = ANY (columns) THEN
				PERFORM pgbank.invalid_input('results_table',
					format('%s has no column %s', results_table, col));
			END IF;
		END LOOP;
	END IF;
	IF jsonb_typeof(fields) IS DISTINCT FROM 'array' THEN
		PERFORM pgbank.invalid_input('fields', 'must be a JSON array');
	END IF;
	FOR f IN SELECT * FROM jsonb_array_elements(fields) LOOP
		IF jsonb_typeof(f) <> 'object' OR jsonb_typeof(f->'name') IS DISTINCT FROM 'string'
		   OR f->>'name' !~ '^[a-z][a-z0-9_]{0,62}$' OR NOT f ? 'type'
		   OR f->>'type' NOT IN ('integer', 'text', 'date', 'text[]') THEN
			PERFORM pgbank.invalid_input('fields',
				format('%s needs a name and a type among integer, text, date, text[]', f));
		END IF;
		IF f->>'name' = ANY (names) THEN
			PERFORM pgbank.invalid_input('fields', format('%s is listed twice', f->>'name'));
		END IF;
		IF f ? 'derived_from' AND f->>'name' <> 'result' THEN
			PERFORM pgbank.invalid_input('fields', format('%s cannot be derived: only result can', f->>'name'));
		END IF;
		IF f->>'name' IN ('id', 'owner', 'created_at', 'updated_at')
		   OR NOT f->>'name' = ANY (coalesce(columns, ARRAY[f->>'name'])) THEN
			PERFORM pgbank.invalid_input('fields',
				format('%s is not a column of %s a client may set', f->>'name', results_table));
		END IF;
		IF (f->>'type' = 'integer' AND (jsonb_typeof(f->'min') IS DISTINCT FROM 'number'
		                                OR jsonb_typeof(f->'max') IS DISTINCT FROM 'number'))
		   OR (f->>'type' = 'date' AND jsonb_typeof(f->'min') IS DISTINCT FROM 'string')
		   OR (f->>'type' = 'text[]' AND jsonb_typeof(f->'max_items') IS DISTINCT FROM 'number') THEN
			PERFORM pgbank.invalid_input('fields',
				format('%s needs min and max (integer), min (date) or max_items (text[])', f->>'name'));
		END IF;
		names := names || (f->>'name');
	END LOOP;
	IF placement_field IS NOT NULL AND NOT placement_field = ANY (names) THEN
		PERFORM pgbank.invalid_input('placement_field', 'must be one of the fields');
	END IF;
	IF breakdown_field IS NOT NULL AND NOT breakdown_field = ANY (names) THEN
		PERFORM pgbank.invalid_input('breakdown_field', 'must be one of the fields');
	END IF;
	IF NOT fields @> '[{"name": "date", "type": "date", "required": true}]' THEN
		PERFORM pgbank.invalid_input('fields', 'date must be a required field of type date');
	END IF;
	SELECT x INTO f FROM jsonb_array_elements(fields) x WHERE x->>'name' = 'result';
	IF NOT coalesce(f->>'type' = 'text' AND CASE
	       WHEN f ? 'derived_from' THEN f->>'derived_from' = placement_field
	            AND fields @> jsonb_build_array(jsonb_build_object('name', placement_field, 'type', 'integer'))
	       ELSE f->'required' = 'true' AND f->'values' @> '["win", "loss"]' AND f->'values' <@ '["win", "loss"]'
	       END, false) THEN
		PERFORM pgbank.invalid_input('fields',
			'result must be a required text field of values win and loss, or derived from the placement');
	END IF;
END
$$;
COMMENT ON FUNCTION pgbank.game_check_fields(text, text[], jsonb, text, text) IS
	'Check a game''s registry entry (fields, placement and breakdown field) against a results table''s columns; 22023 naming what is wrong';

-- Reject a registry row the generic functions could not use.
CREATE OR REPLACE FUNCTION pgbank.games_check() RETURNS trigger
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pgbank.game_check_fields(NEW.results_table::text,
		ARRAY(SELECT a.attname::text FROM pg_attribute a
		       WHERE a.attrelid = NEW.results_table AND a.attnum > 0 AND NOT a.attisdropped),
		NEW.fields, NEW.placement_field, NEW.breakdown_field);
	RETURN NEW;
END
$$;
CREATE TRIGGER games_check BEFORE INSERT OR UPDATE ON pgbank.games
	FOR EACH ROW EXECUTE FUNCTION pgbank.games_check();

-- The column definition of one registry field, with the CHECK constraint of
-- its rule (named by PostgreSQL <table>_<column>_check). A field not
-- required may be NULL, except a list, which is empty when not given; a
-- derived result is 'win' when its placement is the best (the minimum).
CREATE OR REPLACE FUNCTION pgbank.game_column_sql(f jsonb, fields jsonb) RETURNS text
	LANGUAGE sql IMMUTABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT format('%I ', f->>'name') || CASE
		WHEN f ? 'derived_from' THEN
			format('text GENERATED ALWAYS AS (CASE WHEN %I = %s THEN ''win'' ELSE ''loss'' END) STORED',
				f->>'derived_from',
				(SELECT (p->>'min')::int FROM jsonb_array_elements(fields) p
				  WHERE p->>'name' = f->>'derived_from'))
		ELSE CASE f->>'type' WHEN 'text[]' THEN 'text[] NOT NULL DEFAULT ''{}'''
		                     WHEN 'integer' THEN 'integer' ELSE f->>'type' END
			|| CASE WHEN coalesce((f->>'required')::boolean, false) AND f->>'type' <> 'text[]'
			        THEN ' NOT NULL' ELSE '' END
			|| ' CHECK (' || CASE f->>'type'
				WHEN 'integer' THEN format('%I BETWEEN %s AND %s',
					f->>'name', (f->>'min')::int, (f->>'max')::int)
				WHEN 'date' THEN format('%I >= %L', f->>'name', (f->>'min')::date)
				WHEN 'text[]' THEN format('pgbank.bounded_texts(%I, %s, %s)', f->>'name',
					(f->>'max_items')::int, coalesce((f->>'max_length')::int, 100))
				ELSE CASE WHEN f ? 'values'
					THEN format('%I IN (%s)', f->>'name',
						(SELECT string_agg(format('%L', v), ', ') FROM jsonb_array_elements_text(f->'values') v))
					ELSE format('btrim(%1$I) <> '''' AND length(%1$I) <= %2$s',
						f->>'name', coalesce((f->>'max_length')::int, 100))
					END
				END || ')'
		END
$$;
COMMENT ON FUNCTION pgbank.game_column_sql(jsonb, jsonb) IS
	'The column definition, with its CHECK constraint, of a registry field (fields: all of the game''s)';

-- Add a game: the one place a game is written. Checks the entry, makes its
-- results table pgbank.<slug>_results (the standard columns, a typed column
-- per field with the CHECK constraint of its rule, the index lists page
-- by) and registers it. Called by the extension script for its own games
-- (whose results pg_dump then keeps); anyone else's table and registry row
-- are ordinary data for pg_dump.
CREATE OR REPLACE FUNCTION pgbank.register_game(slug text, name text, fields jsonb,
	placement_field text DEFAULT NULL, breakdown_field text DEFAULT NULL) RETURNS regclass
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	tbl text := format('pgbank.%I', pgbank.required('slug', slug) || '_results');
	t regclass;
BEGIN
	PERFORM pgbank.game_check_fields(tbl, NULL, fields, placement_field, breakdown_field);
	-- date and result are standard columns, so they come first
	EXECUTE format('CREATE TABLE %s (id bigserial PRIMARY KEY,'
	               ' owner text NOT NULL REFERENCES pgbank.users (username) ON UPDATE CASCADE ON DELETE CASCADE,'
	               ' %s, created_at timestamptz NOT NULL DEFAULT now(),'
	               ' updated_at timestamptz NOT NULL DEFAULT now())', tbl,
	               (SELECT string_agg(pgbank.game_column_sql(f, fields), ', '
	                                  ORDER BY f->>'name' NOT IN ('date', 'result'), f->>'name' <> 'date', n)
	                  FROM jsonb_array_elements(fields) WITH ORDINALITY AS s(f, n)));
	t := tbl::regclass;
	EXECUTE format('CREATE INDEX %I ON %s (owner, date DESC, id DESC)', slug || '_results_owner_date_idx', t);
	INSERT INTO pgbank.games AS g (slug, name, results_table, fields, placement_field, breakdown_field)
	VALUES (slug, name, t, fields, placement_field, breakdown_field);
	-- made by the extension script: a member, whose data pg_dump would leave out
	IF EXISTS (SELECT 1 FROM pg_depend d
	            WHERE d.classid = 'pg_class'::regclass AND d.objid = t AND d.deptype = 'e') THEN
		PERFORM pg_extension_config_dump(t, '');
		PERFORM pg_extension_config_dump(pg_get_serial_sequence(tbl, 'id')::regclass, '');
	END IF;
	RETURN t;
END
$$;
COMMENT ON FUNCTION pgbank.register_game(text, text, jsonb, text, text) IS
	'Add a game: make its results table from the fields (typed columns, CHECK constraints) and register it';

-- Games registered later (and their results) are kept by pg_dump.
SELECT pg_catalog.pg_extension_config_dump('pgbank.games',
	$$WHERE slug NOT IN ('apex', 'fortnite', 'hots')$$);

-- Apex Legends. Placement 1..60 covers trios (20 squads), duos (30) and the
-- solo mode (60 players); a win is placement 1, so result is derived.
SELECT pgbank.register_game('apex', 'Apex Legends', $json$[
	{"name": "date", "type": "date", "required": true, "min": "2019-02-04"},
	{"name": "result", "type": "text", "derived_from": "placement"},
	{"name": "legend", "type": "text", "required": true, "max_length": 50},
	{"name": "kills", "type": "integer", "required": true, "min": 0, "max": 60},
	{"name": "placement", "type": "integer", "required": true, "min": 1, "max": 60},
	{"name": "damage", "type": "integer", "required": true, "min": 0, "max": 50000},
	{"name": "time_seconds", "type": "integer", "required": true, "min": 0, "max": 3600},
	{"name": "teammates", "type": "text[]", "max_items": 3, "max_length": 50}
]$json$, placement_field => 'placement', breakdown_field => 'legend');

-- Fortnite: battle royale of 100 players; a win is placement 1.
SELECT pgbank.register_game('fortnite', 'Fortnite', $json$[
	{"name": "date", "type": "date", "required": true, "min": "2017-07-21"},
	{"name": "result", "type": "text", "derived_from": "placement"},
	{"name": "kills", "type": "integer", "required": true, "min": 0, "max": 99},
	{"name": "placement", "type": "integer", "required": true, "min": 1, "max": 100},
	{"name": "mode", "type": "text", "required": true, "values": ["solo", "duos", "trios", "squads", "ltm"]},
	{"name": "teammates", "type": "text[]", "max_items": 3, "max_length": 50}
]$json$, placement_field => 'placement', breakdown_field => 'mode');

-- Heroes of the Storm: two teams of five, so a result is a win or a loss.
SELECT pgbank.register_game('hots', 'Heroes of the Storm', $json$[
	{"name": "date", "type": "date", "required": true, "min": "2015-06-02"},
	{"name": "result", "type": "text", "required": true, "values": ["win", "loss"]},
	{"name": "hero", "type": "text", "required": true, "max_length": 50},
	{"name": "kills", "type": "integer", "required": true, "min": 0, "max": 100},
	{"name": "deaths", "type": "integer", "required": true, "min": 0, "max": 100},
	{"name": "assists", "type": "integer", "required": true, "min": 0, "max": 200},
	{"name": "time_seconds", "type": "integer", "required": true, "min": 0, "max": 7200},
	{"name": "map", "type": "text", "required": true, "max_length": 50}
]$json$, breakdown_field => 'hero');

-- The functions' statements for one game, built from its registry row. The
-- C functions (extension/games.c) build them once per backend and game,
-- keep their plans, and build them again when the registry changes (the
-- trigger games_changed below). Every identifier comes from the registry
-- (quoted), every value is a parameter:
--   create: $1 owner, then one per field a client may set, in registry order
--   get, delete: $1 id, $2 owner; update: the same, then as create's
--   list: $1 owner, $2 from, $3 to, $4 page_size, $5 offset, $6 page_id
--   table: $1 owner
-- A field a create leaves out takes its column's default.
CREATE OR REPLACE FUNCTION pgbank.game_statements(g pgbank.games,
	OUT create_sql text, OUT get_sql text, OUT list_sql text,
	OUT update_sql text, OUT delete_sql text, OUT table_sql text)
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
	WITH f AS (
		SELECT f->>'name' AS name, row_number() OVER (ORDER BY n) AS k,
		       coalesce((f->>'required')::boolean, false) AS required,
		       (SELECT pg_get_expr(d.adbin, d.adrelid)
		          FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		         WHERE a.attrelid = g.results_table AND a.attname = f->>'name') AS dflt
		  FROM jsonb_array_elements(g.fields) WITH ORDINALITY AS s(f, n)
		 WHERE NOT f ? 'derived_from'),
	rows AS (
		SELECT format('coalesce(pg_catalog.json_agg(pg_catalog.to_json(t) ORDER BY t.date DESC, t.id DESC), ''[]'')')
		       AS agg)
	SELECT format('INSERT INTO %s AS t (owner, %s) VALUES ($1, %s) RETURNING pg_catalog.to_json(t)',
	              g.results_table,
	              string_agg(format('%I', f.name), ', ' ORDER BY f.k),
	              string_agg(CASE WHEN f.required OR f.dflt IS NULL THEN format('$%s', f.k + 1)
	                              ELSE format('coalesce($%s, %s)', f.k + 1, f.dflt) END, ', ' ORDER BY f.k)),
	       format('SELECT pg_catalog.to_json(t) FROM %s t WHERE t.id = $1 AND t.owner = $2', g.results_table),
	       format('SELECT pg_catalog.json_build_object(''results'', (SELECT %s FROM'
	              ' (SELECT * FROM %s t WHERE t.owner = $1'
	              '     AND t.date >= coalesce($2, ''-infinity'') AND t.date <= coalesce($3, ''infinity'')'
	              '   ORDER BY t.date DESC, t.id DESC LIMIT $4 OFFSET $5) t),'
	              ' ''page_id'', $6, ''page_size'', $4)', r.agg, g.results_table),
	       format('UPDATE %s AS t SET %s, updated_at = pg_catalog.now()'
	              ' WHERE t.id = $1 AND t.owner = $2 RETURNING pg_catalog.to_json(t)',
	              g.results_table,
	              string_agg(format('%1$I = coalesce($%2$s, t.%1$I)', f.name, f.k + 2), ', ' ORDER BY f.k)),
	       format('DELETE FROM %s t WHERE t.id = $1 AND t.owner = $2 RETURNING pg_catalog.to_json(t)',
	              g.results_table),
	       format('SELECT pg_catalog.json_build_object(''game'', %L::text, ''name'', %L::text,'
	              ' ''rows'', (SELECT %s FROM %s t WHERE t.owner = $1),'
	              ' ''summary'', (SELECT %s FROM %s t WHERE t.owner = $1)%s)',
	              g.slug, g.name, r.agg, g.results_table, pgbank.game_stats_sql(g), g.results_table,
	              CASE WHEN g.breakdown_field IS NOT NULL THEN format(
	                  ' OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(''breakdown_by'', %1$L::text, ''breakdown'','
	                  ' (SELECT coalesce(pg_catalog.jsonb_agg(s.b ORDER BY s.matches DESC, s.k), ''[]'')'
	                  '    FROM (SELECT t.%2$I AS k, pg_catalog.count(*) AS matches,'
	                  '                 pg_catalog.jsonb_build_object(%1$L, t.%2$I) OPERATOR(pg_catalog.||) %3$s AS b'
	                  '            FROM %4$s t WHERE t.owner = $1 GROUP BY t.%2$I) s))',
	                  g.breakdown_field, g.breakdown_field, pgbank.game_stats_sql(g), g.results_table)
	              ELSE '' END)
	  FROM f, rows r
	 GROUP BY r.agg
$$;
COMMENT ON FUNCTION pgbank.game_statements(pgbank.games) IS
	'The statements of a game''s functions (create, get, list, update, delete, table), built from its registry row';

-- The statistics of a set of results as one jsonb expression, built from the
-- registry: matches, wins, losses, best_placement (when the game has a
-- placement), totals and averages of each integer field (the placement gets
-- an average only: a total of placements means nothing).
CREATE OR REPLACE FUNCTION pgbank.game_stats_sql(g pgbank.games) RETURNS text
	LANGUAGE sql STABLE
	SET search_path = pg_catalog, pg_temp AS $$
	SELECT format('pg_catalog.jsonb_build_object(''matches'', pg_catalog.count(*),'
	              ' ''wins'', pg_catalog.count(*) FILTER (WHERE t.result = ''win''),'
	              ' ''losses'', pg_catalog.count(*) FILTER (WHERE t.result = ''loss'')%s,'
	              ' ''totals'', pg_catalog.jsonb_build_object(%s), ''averages'', pg_catalog.jsonb_build_object(%s))',
	              CASE WHEN g.placement_field IS NOT NULL
	                   THEN format(', ''best_placement'', pg_catalog.min(t.%I)', g.placement_field) ELSE '' END,
	              coalesce(string_agg(format('%L, coalesce(pg_catalog.sum(t.%I), 0)', f->>'name', f->>'name'), ', '
	                                  ORDER BY n) FILTER (WHERE f->>'name' IS DISTINCT FROM g.placement_field), ''),
	              coalesce(string_agg(format('%L, pg_catalog.round(pg_catalog.avg(t.%I), 2)', f->>'name', f->>'name'), ', '
	                                  ORDER BY n), ''))
	  FROM jsonb_array_elements(g.fields) WITH ORDINALITY AS s(f, n)
	 WHERE f->>'type' = 'integer'
$$;
COMMENT ON FUNCTION pgbank.game_stats_sql(pgbank.games) IS
	'The SQL expression of a game''s summary statistics, built from its registry row';

-- A change of the registry makes every backend build its games' statements
-- again (extension/games.c keeps them, with their plans, until then).
CREATE OR REPLACE FUNCTION pgbank.games_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'pgbank_games_changed'
	LANGUAGE C;
COMMENT ON FUNCTION pgbank.games_changed() IS
	'Trigger: the registry changed, so the game functions'' kept statements are built again';
CREATE TRIGGER games_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgbank.games
	FOR EACH STATEMENT EXECUTE FUNCTION pgbank.games_changed();

-- The core functions take the caller's username: only the SECURITY DEFINER
-- API functions (70_api.sql, which take it from a verified token) call them.
-- They are C (extension/games.c): each looks the game up in the backend's
-- cache of the registry, validates a body against the game's fields (the
-- rules of docs/games.md, the first problem reported, 22023 naming the
-- field) and runs the game's kept statement. An unknown game is P0002
-- "unknown game x", a missing result (or another user's) P0002 "result not
-- found".

CREATE OR REPLACE FUNCTION pgbank.game_create(username text, game text, body json) RETURNS json
	AS 'MODULE_PATHNAME', 'pgbank_game_create'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.game_create(text, text, json) IS
	'Store a result of a game for a user; returns the created row as JSON';

CREATE OR REPLACE FUNCTION pgbank.game_get(username text, game text, id bigint) RETURNS json
	AS 'MODULE_PATHNAME', 'pgbank_game_get'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION pgbank.game_get(text, text, bigint) IS
	'One of a user''s results of a game; P0002 when missing or another user''s';

CREATE OR REPLACE FUNCTION pgbank.game_list(username text, game text, page_id bigint DEFAULT 1,
	page_size bigint DEFAULT 10, from_date date DEFAULT NULL, to_date date DEFAULT NULL)
	RETURNS json
	AS 'MODULE_PATHNAME', 'pgbank_game_list'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION pgbank.game_list(text, text, bigint, bigint, date, date) IS
	'A page of a user''s results of a game, newest first (date, then id), optionally within a date range';

CREATE OR REPLACE FUNCTION pgbank.game_update(username text, game text, id bigint, body json) RETURNS json
	AS 'MODULE_PATHNAME', 'pgbank_game_update'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.game_update(text, text, bigint, json) IS
	'Change the given fields of one of a user''s results of a game; returns the row as JSON';

CREATE OR REPLACE FUNCTION pgbank.game_delete(username text, game text, id bigint) RETURNS json
	AS 'MODULE_PATHNAME', 'pgbank_game_delete'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbank.game_delete(text, text, bigint) IS
	'Delete one of a user''s results of a game; returns the deleted row as JSON';

CREATE OR REPLACE FUNCTION pgbank.game_table(username text, game text) RETURNS json
	AS 'MODULE_PATHNAME', 'pgbank_game_table'
	LANGUAGE C STABLE;
COMMENT ON FUNCTION pgbank.game_table(text, text) IS
	'A user''s results of a game ready to render (newest first) and their summary, with a breakdown';
