-- Game results: the registry, the generic functions for Apex Legends,
-- Fortnite and Heroes of the Storm, every rule and error, owner checks, the
-- table and its summary, and a fourth game added by one registration.
\i regress/include/setup.sql

SELECT username FROM pgbank.create_user('games_ann', 'secret1', 'Ann Player', 'games_ann@example.com');
SELECT username FROM pgbank.create_user('games_ben', 'secret2', 'Ben Player', 'games_ben@example.com');

-- Rows are shown without what changes from run to run (id, timestamps).
CREATE FUNCTION pg_temp.shown(j json) RETURNS jsonb LANGUAGE sql AS
	$$ SELECT j::jsonb - '{id,created_at,updated_at}'::text[] $$;
-- Created results are remembered by label; tests use their ids by label.
CREATE TEMP TABLE made (label text PRIMARY KEY, game text NOT NULL, id bigint NOT NULL);
CREATE FUNCTION pg_temp.make(label text, who text, game text, body json) RETURNS jsonb
	LANGUAGE sql AS $$
	WITH c AS (SELECT pgbank.game_create(who, game, body) AS j),
	     i AS (INSERT INTO made SELECT label, game, (c.j->>'id')::bigint FROM c)
	SELECT pg_temp.shown(c.j) FROM c
$$;
CREATE FUNCTION pg_temp.id_of(label text) RETURNS bigint LANGUAGE sql AS
	$$ SELECT id FROM made m WHERE m.label = id_of.label $$;
-- The results of a list's page (or a table's rows), as labels.
CREATE FUNCTION pg_temp.labels(game text, j json) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(coalesce(m.label, '?'), ' ' ORDER BY r.n), '')
	  FROM json_array_elements(coalesce(j->'results', j->'rows')) WITH ORDINALITY AS r(e, n)
	  LEFT JOIN made m ON m.id = (r.e->>'id')::bigint AND m.game = labels.game
$$;

-- === the registry ===
SELECT slug, name, results_table, placement_field, breakdown_field,
       jsonb_path_query_array(fields, '$[*].name') AS fields
  FROM pgbank.games ORDER BY slug;

-- === apex: create and get ===
SELECT pg_temp.make('a1', 'games_ann', 'apex', '{"date": "2024-05-01", "legend": "Wraith",
  "kills": 3, "placement": 1, "damage": 1200, "time_seconds": 1300,
  "teammates": ["mirage_fan", "octane_fan"]}');
SELECT pg_temp.make('a2', 'games_ann', 'apex', '{"date": "2024-05-02", "legend": "Wraith",
  "kills": 5, "placement": 4, "damage": 1800, "time_seconds": 900}');
SELECT pg_temp.make('a3', 'games_ann', 'apex', '{"date": "2024-05-03", "legend": "Bloodhound",
  "kills": 0, "placement": 12, "damage": 150, "time_seconds": 400, "teammates": []}');
SELECT pg_temp.make('a4', 'games_ann', 'apex', '{"date": "2024-05-03", "legend": "Lifeline",
  "kills": 7, "placement": 1, "damage": 2100, "time_seconds": 1500, "teammates": ["x"]}');
SELECT pg_temp.make('b1', 'games_ben', 'apex', '{"date": "2024-05-02", "legend": "Wraith",
  "kills": 10, "placement": 1, "damage": 3000, "time_seconds": 1400}');
-- the created row is what get answers; a new row was never updated
SELECT pg_temp.shown(pgbank.game_get('games_ann', 'apex', pg_temp.id_of('a1'))) AS a1;
SELECT (j->>'id')::bigint = pg_temp.id_of('a2') AS same_id,
       j->>'created_at' = j->>'updated_at' AS never_updated
  FROM pgbank.game_get('games_ann', 'apex', pg_temp.id_of('a2')) j;
-- extreme values are accepted
SELECT pg_temp.make('a_max', 'games_ann', 'apex', ('{"date": "2019-02-04", "legend": "'
  || repeat('L', 50) || '", "kills": 60, "placement": 60, "damage": 50000, "time_seconds": 3600,
  "teammates": ["a", "b", "' || repeat('c', 50) || '"]}')::json);
SELECT pgbank.game_delete('games_ann', 'apex', pg_temp.id_of('a_max')) IS NOT NULL AS deleted;

-- === apex: every invalid body names its field ===
SELECT pgbank.game_create('games_ann', 'apex', NULL);
SELECT pgbank.game_create('games_ann', 'apex', '[]');
SELECT pgbank.game_create('games_ann', 'apex', '"text"');
SELECT pgbank.game_create('games_ann', 'apex', '1');
-- unknown and repeated fields
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2024-05-01", "mode": "solo"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2024-05-01", "owner": "games_ben"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2024-05-01", "id": 1}');
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2024-05-01", "created_at": "2024-05-01"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"kills": 1, "kills": 2}');
SELECT pgbank.game_create('games_ann', 'apex', '{"legend": "a\u0000b"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"legend": "a\\\u0000b"}');
-- an escaped backslash followed by u0000 is just text
SELECT pgbank.game_create('games_ann', 'apex', '{"legend": "a\\u0000b", "kills": -1}');
-- result is derived from placement in battle royales
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2024-05-01", "result": "win"}');
-- missing required fields, in field order
SELECT pgbank.game_create('games_ann', 'apex', '{}');
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2024-05-01", "legend": "Wraith",
  "kills": 1, "placement": 2, "damage": 3}');
-- wrong types
SELECT pgbank.game_create('games_ann', 'apex', '{"kills": "3"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"kills": 3.5}');
SELECT pgbank.game_create('games_ann', 'apex', '{"kills": true}');
SELECT pgbank.game_create('games_ann', 'apex', '{"kills": null}');
SELECT pgbank.game_create('games_ann', 'apex', '{"kills": [3]}');
SELECT pgbank.game_create('games_ann', 'apex', '{"legend": 5}');
SELECT pgbank.game_create('games_ann', 'apex', '{"legend": null}');
SELECT pgbank.game_create('games_ann', 'apex', '{"date": 20240501}');
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2024-5-1"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2024-05-01T10:00:00Z"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2024-02-30"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"teammates": "mirage_fan"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"teammates": [1]}');
SELECT pgbank.game_create('games_ann', 'apex', '{"teammates": [null]}');
SELECT pgbank.game_create('games_ann', 'apex', '{"teammates": [["a"]]}');
-- out of range
SELECT pgbank.game_create('games_ann', 'apex', '{"kills": -1}');
SELECT pgbank.game_create('games_ann', 'apex', '{"kills": 61}');
SELECT pgbank.game_create('games_ann', 'apex', '{"kills": 1e30}');
SELECT pgbank.game_create('games_ann', 'apex', '{"placement": 0}');
SELECT pgbank.game_create('games_ann', 'apex', '{"placement": 61}');
SELECT pgbank.game_create('games_ann', 'apex', '{"damage": -5}');
SELECT pgbank.game_create('games_ann', 'apex', '{"damage": 50001}');
SELECT pgbank.game_create('games_ann', 'apex', '{"time_seconds": 3601}');
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2019-02-03"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"date": "2999-01-01"}');
SELECT pgbank.game_create('games_ann', 'apex', '{"legend": ""}');
SELECT pgbank.game_create('games_ann', 'apex', '{"legend": "   "}');
SELECT pgbank.game_create('games_ann', 'apex', json_build_object('legend', repeat('L', 51)));
SELECT pgbank.game_create('games_ann', 'apex', '{"teammates": ["a", "b", "c", "d"]}');
SELECT pgbank.game_create('games_ann', 'apex', '{"teammates": [" "]}');
SELECT pgbank.game_create('games_ann', 'apex', json_build_object('teammates', json_build_array(repeat('t', 51))));
-- a user that does not exist
SELECT pgbank.game_create('games_nobody', 'apex', '{"date": "2024-05-01", "legend": "Wraith",
  "kills": 1, "placement": 2, "damage": 3, "time_seconds": 4}');
-- nothing was stored by the failures
SELECT count(*) AS ann_apex_results FROM pgbank.apex_results WHERE owner = 'games_ann';

-- === apex: list, paged, newest first (date, then id), date filters ===
SELECT pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex')) AS all_default;
SELECT j->'page_id' AS page_id, j->'page_size' AS page_size
  FROM pgbank.game_list('games_ann', 'apex') j;
SELECT pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', 1, 2)) AS page1,
       pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', 2, 2)) AS page2,
       pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', 3, 2)) AS page3;
SELECT pgbank.game_list('games_ann', 'apex', 3, 2)->'results' AS empty_page;
SELECT pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', 1, 3)) AS page1_of_3,
       pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', 2, 3)) AS page2_of_3;
SELECT pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', NULL, NULL, '2024-05-02', '2024-05-02')) AS on_may_2,
       pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', NULL, NULL, '2024-05-03', NULL)) AS from_may_3,
       pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', NULL, NULL, NULL, '2024-05-01')) AS to_may_1,
       pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', NULL, NULL, '2024-05-02', '2024-05-03')) AS may_2_to_3,
       pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', 2, 1, '2024-05-02', '2024-05-03')) AS page2_of_1;
SELECT pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex', 1, 10, '2023-01-01', '2023-12-31')) AS in_2023;
-- the whole row is listed
SELECT pg_temp.shown(pgbank.game_list('games_ann', 'apex', 1, 1)->'results'->0) AS newest;
-- ben sees only his own
SELECT pg_temp.labels('apex', pgbank.game_list('games_ben', 'apex')) AS bens;
-- invalid paging and dates
SELECT pgbank.game_list('games_ann', 'apex', 0, 10);
SELECT pgbank.game_list('games_ann', 'apex', 1, 0);
SELECT pgbank.game_list('games_ann', 'apex', 1, 101);
SELECT pgbank.game_list('games_ann', 'apex', 1, 10, '2024-05-03', '2024-05-02');

-- === owner checks: another user's result is "not found", like a missing one ===
SELECT pgbank.game_get('games_ben', 'apex', pg_temp.id_of('a1'));
SELECT pgbank.game_update('games_ben', 'apex', pg_temp.id_of('a1'), '{"kills": 0}');
SELECT pgbank.game_delete('games_ben', 'apex', pg_temp.id_of('a1'));
SELECT pgbank.game_get('games_ann', 'apex', pg_temp.id_of('b1'));
SELECT pgbank.game_get('games_ann', 'apex', 0);
SELECT pgbank.game_get('games_ann', 'apex', -1);
SELECT pgbank.game_get('games_ann', 'apex', 9223372036854775807);
SELECT pgbank.game_update('games_ann', 'apex', 9223372036854775807, '{"kills": 0}');
SELECT pgbank.game_delete('games_ann', 'apex', 9223372036854775807);
SELECT pgbank.game_get('games_ann', 'apex', NULL);
SELECT pgbank.game_get(NULL, 'apex', pg_temp.id_of('a1'));
\set VERBOSITY sqlstate
SELECT pgbank.game_get('games_ben', 'apex', pg_temp.id_of('a1'));
\set VERBOSITY default
-- ann's result is untouched
SELECT pg_temp.shown(pgbank.game_get('games_ann', 'apex', pg_temp.id_of('a1'))) AS a1;

-- === apex: partial update ===
SELECT pg_temp.shown(pgbank.game_update('games_ann', 'apex', pg_temp.id_of('a3'), '{"kills": 1}')) AS a3;
SELECT (j->>'updated_at')::timestamptz > (j->>'created_at')::timestamptz AS updated_at_moved
  FROM pgbank.game_get('games_ann', 'apex', pg_temp.id_of('a3')) j;
SELECT (pgbank.game_get('games_ann', 'apex', pg_temp.id_of('a1'))->>'updated_at')
     = (pgbank.game_get('games_ann', 'apex', pg_temp.id_of('a1'))->>'created_at') AS others_untouched;
-- placement 1 makes it a win; several fields at once
SELECT pg_temp.shown(pgbank.game_update('games_ann', 'apex', pg_temp.id_of('a3'),
  '{"placement": 1, "damage": 650, "teammates": ["solo_q"]}')) AS a3;
SELECT pg_temp.shown(pgbank.game_update('games_ann', 'apex', pg_temp.id_of('a3'),
  '{"placement": 2, "date": "2024-05-04", "legend": "Bloodhound"}')) AS a3;
-- an empty change answers the row as it is
SELECT pg_temp.shown(pgbank.game_update('games_ann', 'apex', pg_temp.id_of('a3'), '{}')) AS a3;
-- invalid changes name the field and change nothing
SELECT pgbank.game_update('games_ann', 'apex', pg_temp.id_of('a3'), '{"kills": -2}');
SELECT pgbank.game_update('games_ann', 'apex', pg_temp.id_of('a3'), '{"placement": 2, "legend": null}');
SELECT pgbank.game_update('games_ann', 'apex', pg_temp.id_of('a3'), '{"result": "win"}');
SELECT pgbank.game_update('games_ann', 'apex', pg_temp.id_of('a3'), '{"kills": 2, "colour": "red"}');
SELECT pgbank.game_update('games_ann', 'apex', pg_temp.id_of('a3'), '[{"kills": 2}]');
SELECT pgbank.game_update('games_ann', 'apex', pg_temp.id_of('a3'), NULL);
SELECT pg_temp.shown(pgbank.game_get('games_ann', 'apex', pg_temp.id_of('a3'))) AS a3_unchanged;
-- the newest first order follows the changed date
SELECT pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex')) AS after_update;

-- === apex: delete ===
SELECT pg_temp.make('a5', 'games_ann', 'apex', '{"date": "2024-05-05", "legend": "Pathfinder",
  "kills": 2, "placement": 9, "damage": 500, "time_seconds": 700}');
SELECT pg_temp.shown(pgbank.game_delete('games_ann', 'apex', pg_temp.id_of('a5'))) AS deleted;
SELECT pgbank.game_get('games_ann', 'apex', pg_temp.id_of('a5'));
SELECT pgbank.game_delete('games_ann', 'apex', pg_temp.id_of('a5'));
SELECT pg_temp.labels('apex', pgbank.game_list('games_ann', 'apex')) AS after_delete;

-- === apex: the table ===
-- ann: a1 (05-01 Wraith k3 p1 d1200 t1300), a2 (05-02 Wraith k5 p4 d1800 t900),
--      a3 (05-04 Bloodhound k1 p2 d650 t400), a4 (05-03 Lifeline k7 p1 d2100 t1500)
SELECT j->>'game' AS game, j->>'name' AS name,
       pg_temp.labels('apex', j) AS rows,
       pg_temp.shown(j->'rows'->0) AS first_row
  FROM pgbank.game_table('games_ann', 'apex') j;
SELECT jsonb_pretty((j->'summary')::jsonb) AS summary FROM pgbank.game_table('games_ann', 'apex') j;
SELECT (j->'summary')::jsonb = '{
  "matches": 4, "wins": 2, "losses": 2, "best_placement": 1,
  "totals": {"kills": 16, "damage": 5750, "time_seconds": 4100},
  "averages": {"kills": 4.00, "placement": 2.00, "damage": 1437.50, "time_seconds": 1025.00},
  "breakdown_by": "legend",
  "breakdown": [
    {"legend": "Wraith", "matches": 2, "wins": 1, "losses": 1, "best_placement": 1,
     "totals": {"kills": 8, "damage": 3000, "time_seconds": 2200},
     "averages": {"kills": 4.00, "placement": 2.50, "damage": 1500.00, "time_seconds": 1100.00}},
    {"legend": "Bloodhound", "matches": 1, "wins": 0, "losses": 1, "best_placement": 2,
     "totals": {"kills": 1, "damage": 650, "time_seconds": 400},
     "averages": {"kills": 1.00, "placement": 2.00, "damage": 650.00, "time_seconds": 400.00}},
    {"legend": "Lifeline", "matches": 1, "wins": 1, "losses": 0, "best_placement": 1,
     "totals": {"kills": 7, "damage": 2100, "time_seconds": 1500},
     "averages": {"kills": 7.00, "placement": 1.00, "damage": 2100.00, "time_seconds": 1500.00}}
  ]}'::jsonb AS apex_summary_as_computed_by_hand
  FROM pgbank.game_table('games_ann', 'apex') j;
-- ben's table holds only his one result
SELECT json_array_length(j->'rows') AS rows, j->'summary'->'matches' AS matches,
       j->'summary'->'wins' AS wins, j->'summary'->'totals' AS totals
  FROM pgbank.game_table('games_ben', 'apex') j;

-- === fortnite ===
SELECT pg_temp.make('f1', 'games_ann', 'fortnite', '{"date": "2024-06-01", "kills": 2,
  "placement": 10, "mode": "solo"}');
SELECT pg_temp.make('f2', 'games_ann', 'fortnite', '{"date": "2024-06-02", "kills": 6,
  "placement": 1, "mode": "duos", "teammates": ["pal"]}');
SELECT pg_temp.make('f3', 'games_ann', 'fortnite', '{"date": "2024-06-03", "kills": 0,
  "placement": 55, "mode": "duos"}');
SELECT pg_temp.make('f_max', 'games_ann', 'fortnite', '{"date": "2017-07-21", "kills": 99,
  "placement": 100, "mode": "squads", "teammates": ["a", "b", "c"]}');
SELECT pg_temp.shown(pgbank.game_delete('games_ann', 'fortnite', pg_temp.id_of('f_max'))) AS deleted;
SELECT pg_temp.shown(pgbank.game_get('games_ann', 'fortnite', pg_temp.id_of('f2'))) AS f2;
SELECT pgbank.game_create('games_ann', 'fortnite', '{"date": "2024-06-01", "kills": 2, "placement": 10}');
SELECT pgbank.game_create('games_ann', 'fortnite', '{"mode": "SOLO"}');
SELECT pgbank.game_create('games_ann', 'fortnite', '{"mode": "battle"}');
SELECT pgbank.game_create('games_ann', 'fortnite', '{"mode": 1}');
SELECT pgbank.game_create('games_ann', 'fortnite', '{"placement": 101}');
SELECT pgbank.game_create('games_ann', 'fortnite', '{"kills": 100}');
SELECT pgbank.game_create('games_ann', 'fortnite', '{"date": "2017-07-20"}');
SELECT pgbank.game_create('games_ann', 'fortnite', '{"result": "loss"}');
SELECT pgbank.game_create('games_ann', 'fortnite', '{"legend": "Wraith"}');
SELECT pgbank.game_create('games_ann', 'fortnite', '{"teammates": ["a", "b", "c", "d"]}');
-- partial update: one field
SELECT pg_temp.shown(pgbank.game_update('games_ann', 'fortnite', pg_temp.id_of('f1'), '{"mode": "trios"}')) AS f1;
SELECT pg_temp.shown(pgbank.game_update('games_ann', 'fortnite', pg_temp.id_of('f1'), '{"mode": "solo"}')) AS f1;
SELECT pgbank.game_get('games_ben', 'fortnite', pg_temp.id_of('f1'));
SELECT pgbank.game_delete('games_ben', 'fortnite', pg_temp.id_of('f1'));
SELECT pg_temp.labels('fortnite', pgbank.game_list('games_ann', 'fortnite', 1, 2)) AS page1,
       pg_temp.labels('fortnite', pgbank.game_list('games_ann', 'fortnite', 2, 2)) AS page2,
       pg_temp.labels('fortnite', pgbank.game_list('games_ben', 'fortnite')) AS bens;
-- f1 (solo k2 p10), f2 (duos k6 p1), f3 (duos k0 p55)
SELECT (j->'summary')::jsonb = '{
  "matches": 3, "wins": 1, "losses": 2, "best_placement": 1,
  "totals": {"kills": 8},
  "averages": {"kills": 2.67, "placement": 22.00},
  "breakdown_by": "mode",
  "breakdown": [
    {"mode": "duos", "matches": 2, "wins": 1, "losses": 1, "best_placement": 1,
     "totals": {"kills": 6}, "averages": {"kills": 3.00, "placement": 28.00}},
    {"mode": "solo", "matches": 1, "wins": 0, "losses": 1, "best_placement": 10,
     "totals": {"kills": 2}, "averages": {"kills": 2.00, "placement": 10.00}}
  ]}'::jsonb AS fortnite_summary_as_computed_by_hand,
  pg_temp.labels('fortnite', j) AS rows
  FROM pgbank.game_table('games_ann', 'fortnite') j;
-- no results: zero matches, zero totals, no averages
SELECT (j->'summary')::jsonb AS empty_summary, j->'rows' AS rows
  FROM pgbank.game_table('games_ben', 'fortnite') j;

-- === heroes of the storm ===
SELECT pg_temp.make('h1', 'games_ann', 'hots', '{"date": "2024-07-01", "result": "win",
  "hero": "Jaina", "kills": 5, "deaths": 2, "assists": 10, "time_seconds": 1200, "map": "Cursed Hollow"}');
SELECT pg_temp.make('h2', 'games_ann', 'hots', '{"date": "2024-07-02", "result": "loss",
  "hero": "Jaina", "kills": 1, "deaths": 6, "assists": 4, "time_seconds": 1500, "map": "Braxis Holdout"}');
SELECT pg_temp.make('h3', 'games_ann', 'hots', '{"date": "2024-07-02", "result": "loss",
  "hero": "Muradin", "kills": 2, "deaths": 1, "assists": 15, "time_seconds": 1000, "map": "Cursed Hollow"}');
SELECT pg_temp.make('h4', 'games_ben', 'hots', '{"date": "2015-06-02", "result": "win",
  "hero": "Raynor", "kills": 100, "deaths": 100, "assists": 200, "time_seconds": 7200, "map": "Sky Temple"}');
-- in hots the result is a field of its own
SELECT pg_temp.shown(pgbank.game_update('games_ann', 'hots', pg_temp.id_of('h3'), '{"result": "win"}')) AS h3;
SELECT pgbank.game_create('games_ann', 'hots', '{"date": "2024-07-01", "hero": "Jaina", "kills": 5,
  "deaths": 2, "assists": 10, "time_seconds": 1200, "map": "Cursed Hollow"}');
SELECT pgbank.game_create('games_ann', 'hots', '{"result": "draw"}');
SELECT pgbank.game_create('games_ann', 'hots', '{"result": true}');
SELECT pgbank.game_create('games_ann', 'hots', '{"deaths": -1}');
SELECT pgbank.game_create('games_ann', 'hots', '{"deaths": 101}');
SELECT pgbank.game_create('games_ann', 'hots', '{"assists": 201}');
SELECT pgbank.game_create('games_ann', 'hots', '{"kills": 101}');
SELECT pgbank.game_create('games_ann', 'hots', '{"time_seconds": 7201}');
SELECT pgbank.game_create('games_ann', 'hots', '{"map": ""}');
SELECT pgbank.game_create('games_ann', 'hots', json_build_object('hero', repeat('h', 51)));
SELECT pgbank.game_create('games_ann', 'hots', '{"date": "2015-06-01"}');
SELECT pgbank.game_create('games_ann', 'hots', '{"placement": 1}');
SELECT pgbank.game_update('games_ann', 'hots', pg_temp.id_of('h3'), '{"result": "tie"}');
SELECT pgbank.game_update('games_ben', 'hots', pg_temp.id_of('h3'), '{"result": "loss"}');
SELECT pgbank.game_get('games_ann', 'hots', pg_temp.id_of('h4'));
SELECT pg_temp.labels('hots', pgbank.game_list('games_ann', 'hots')) AS anns,
       pg_temp.labels('hots', pgbank.game_list('games_ann', 'hots', 1, 10, '2024-07-02', '2024-07-02')) AS on_jul_2,
       pg_temp.labels('hots', pgbank.game_list('games_ben', 'hots')) AS bens;
-- h1 (win Jaina k5 d2 a10 t1200), h2 (loss Jaina k1 d6 a4 t1500), h3 (win Muradin k2 d1 a15 t1000)
SELECT (j->'summary')::jsonb = '{
  "matches": 3, "wins": 2, "losses": 1,
  "totals": {"kills": 8, "deaths": 9, "assists": 29, "time_seconds": 3700},
  "averages": {"kills": 2.67, "deaths": 3.00, "assists": 9.67, "time_seconds": 1233.33},
  "breakdown_by": "hero",
  "breakdown": [
    {"hero": "Jaina", "matches": 2, "wins": 1, "losses": 1,
     "totals": {"kills": 6, "deaths": 8, "assists": 14, "time_seconds": 2700},
     "averages": {"kills": 3.00, "deaths": 4.00, "assists": 7.00, "time_seconds": 1350.00}},
    {"hero": "Muradin", "matches": 1, "wins": 1, "losses": 0,
     "totals": {"kills": 2, "deaths": 1, "assists": 15, "time_seconds": 1000},
     "averages": {"kills": 2.00, "deaths": 1.00, "assists": 15.00, "time_seconds": 1000.00}}
  ]}'::jsonb AS hots_summary_as_computed_by_hand,
  (j->'summary')::jsonb ? 'best_placement' AS has_best_placement
  FROM pgbank.game_table('games_ann', 'hots') j;
SELECT pg_temp.shown(pgbank.game_delete('games_ben', 'hots', pg_temp.id_of('h4'))) AS deleted;

-- === unknown games, in every function ===
SELECT pgbank.game_create('games_ann', 'chess', '{}');
SELECT pgbank.game_get('games_ann', 'chess', 1);
SELECT pgbank.game_list('games_ann', 'chess');
SELECT pgbank.game_update('games_ann', 'chess', 1, '{}');
SELECT pgbank.game_delete('games_ann', 'chess', 1);
SELECT pgbank.game_table('games_ann', 'chess');
SELECT pgbank.game_get('games_ann', NULL, 1);
SELECT pgbank.game_get('games_ann', 'APEX', 1);
SELECT pgbank.game_get('games_ann', 'apex_results', 1);
\set VERBOSITY sqlstate
SELECT pgbank.game_table('games_ann', 'chess');
\set VERBOSITY default

-- === the schema backs every rule ===
\set VERBOSITY terse
INSERT INTO pgbank.apex_results (owner, date, legend, kills, placement, damage, time_seconds)
VALUES ('games_ann', '2024-05-01', 'Wraith', -1, 1, 0, 0);
INSERT INTO pgbank.apex_results (owner, date, legend, kills, placement, damage, time_seconds)
VALUES ('games_ann', '2024-05-01', 'Wraith', 0, 61, 0, 0);
INSERT INTO pgbank.apex_results (owner, date, legend, kills, placement, damage, time_seconds)
VALUES ('games_ann', '2024-05-01', 'Wraith', 0, 1, 50001, 0);
INSERT INTO pgbank.apex_results (owner, date, legend, kills, placement, damage, time_seconds)
VALUES ('games_ann', '2024-05-01', 'Wraith', 0, 1, 0, 3601);
INSERT INTO pgbank.apex_results (owner, date, legend, kills, placement, damage, time_seconds)
VALUES ('games_ann', '2019-02-03', 'Wraith', 0, 1, 0, 0);
INSERT INTO pgbank.apex_results (owner, date, legend, kills, placement, damage, time_seconds)
VALUES ('games_ann', '2024-05-01', ' ', 0, 1, 0, 0);
INSERT INTO pgbank.apex_results (owner, date, legend, kills, placement, damage, time_seconds, teammates)
VALUES ('games_ann', '2024-05-01', 'Wraith', 0, 1, 0, 0, '{a,b,c,d}');
INSERT INTO pgbank.apex_results (owner, date, legend, kills, placement, damage, time_seconds, teammates)
VALUES ('games_ann', '2024-05-01', 'Wraith', 0, 1, 0, 0, '{a,NULL}');
INSERT INTO pgbank.apex_results (owner, date, legend, kills, placement, damage, time_seconds, teammates)
VALUES ('games_ann', '2024-05-01', 'Wraith', 0, 1, 0, 0, NULL);
INSERT INTO pgbank.apex_results (owner, date, legend, kills, placement, damage, time_seconds, result)
VALUES ('games_ann', '2024-05-01', 'Wraith', 0, 2, 0, 0, 'win');
INSERT INTO pgbank.fortnite_results (owner, date, kills, placement, mode)
VALUES ('games_ann', '2024-06-01', 0, 101, 'solo');
INSERT INTO pgbank.fortnite_results (owner, date, kills, placement, mode)
VALUES ('games_ann', '2024-06-01', 100, 1, 'solo');
INSERT INTO pgbank.fortnite_results (owner, date, kills, placement, mode)
VALUES ('games_ann', '2024-06-01', 0, 1, 'battle');
INSERT INTO pgbank.hots_results (owner, date, result, hero, kills, deaths, assists, time_seconds, map)
VALUES ('games_ann', '2024-07-01', 'draw', 'Jaina', 0, 0, 0, 0, 'Sky Temple');
INSERT INTO pgbank.hots_results (owner, date, result, hero, kills, deaths, assists, time_seconds, map)
VALUES ('games_ann', '2024-07-01', 'win', 'Jaina', 0, -1, 0, 0, 'Sky Temple');
INSERT INTO pgbank.hots_results (owner, date, result, hero, kills, deaths, assists, time_seconds, map)
VALUES ('games_ann', '2024-07-01', 'win', 'Jaina', 0, 0, 201, 0, 'Sky Temple');
INSERT INTO pgbank.hots_results (owner, date, result, hero, kills, deaths, assists, time_seconds, map)
VALUES ('games_ann', '2024-07-01', 'win', 'Jaina', 0, 0, 0, 0, repeat('m', 51));
INSERT INTO pgbank.hots_results (owner, date, result, hero, kills, deaths, assists, time_seconds, map)
VALUES ('games_nobody', '2024-07-01', 'win', 'Jaina', 0, 0, 0, 0, 'Sky Temple');
\set VERBOSITY default
SELECT pgbank.bounded_texts('{a,b}', 2, 1) AS fits, pgbank.bounded_texts('{a,b}', 1, 1) AS too_many,
       pgbank.bounded_texts('{ab}', 2, 1) AS too_long, pgbank.bounded_texts('{}', 0, 1) AS empty,
       pgbank.bounded_texts('{{a},{b}}', 4, 1) AS two_dimensions;

-- === a fourth game: one registration, no code change ===
-- entries the generic functions could not use are refused, and make nothing
SELECT pgbank.register_game('chess', 'Chess', '[{"name": "owner", "type": "text"}]');
SELECT pgbank.register_game('chess', 'Chess', '[{"name": "moves", "type": "float"}]');
SELECT pgbank.register_game('chess', 'Chess', '[{"name": "moves", "type": "integer"}]');
SELECT pgbank.register_game('chess', 'Chess', '[{"name": "moves", "type": "integer", "min": 1, "max": 500},
  {"name": "moves", "type": "integer", "min": 1, "max": 500}]');
SELECT pgbank.register_game('chess', 'Chess', '[]', breakdown_field => 'colour');
SELECT pgbank.register_game('chess', 'Chess', '[]', placement_field => 'moves');
SELECT pgbank.register_game('chess', 'Chess', '{"name": "moves"}');
SELECT pgbank.register_game('chess', 'Chess', '[{"name": "Moves; DROP", "type": "integer", "min": 1, "max": 2}]');
SELECT pgbank.register_game('chess', 'Chess', '[{"name": "moves", "type": "integer", "min": 1, "max": 500, "derived_from": "date"}]');
-- every results table has a required date and a win/loss result
SELECT pgbank.register_game('chess', 'Chess', '[{"name": "result", "type": "text", "required": true, "values": ["win", "loss"]}]');
SELECT pgbank.register_game('chess', 'Chess', '[{"name": "date", "type": "date", "required": true, "min": "2000-01-01"},
  {"name": "result", "type": "text", "required": true, "values": ["win", "draw", "loss"]}]');
SELECT pgbank.register_game('chess', 'Chess', '[{"name": "date", "type": "date", "required": true, "min": "2000-01-01"},
  {"name": "result", "type": "text", "derived_from": "moves"}]');
\set VERBOSITY terse
SELECT pgbank.register_game('Chess!', 'Chess', '[{"name": "date", "type": "date", "required": true, "min": "2000-01-01"},
  {"name": "result", "type": "text", "required": true, "values": ["win", "loss"]}]');
\set VERBOSITY default
SELECT count(*) AS chess_tables FROM pg_class WHERE relname ILIKE 'chess%';
-- a registry row written by hand is checked against its table too
INSERT INTO pgbank.games (slug, name, results_table, fields)
VALUES ('chess', 'Chess', 'pgbank.users', '[]');
SELECT pgbank.register_game('chess', 'Chess', '[
  {"name": "date", "type": "date", "required": true, "min": "2000-01-01"},
  {"name": "result", "type": "text", "required": true, "values": ["win", "loss"]},
  {"name": "colour", "type": "text", "required": true, "values": ["white", "black"]},
  {"name": "moves", "type": "integer", "required": true, "min": 1, "max": 500},
  {"name": "rating_change", "type": "integer", "required": true, "min": -50, "max": 50},
  {"name": "opening", "type": "text", "max_length": 80}
]', breakdown_field => 'colour');
UPDATE pgbank.games SET fields = fields || '[{"name": "elo", "type": "integer", "min": 0, "max": 1}]'
 WHERE slug = 'chess';
-- the table, its columns and constraints, as the registry entry says
SELECT a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default_value
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = 'pgbank.chess_results'::regclass AND a.attnum > 0 ORDER BY a.attnum;
SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint
 WHERE conrelid = 'pgbank.chess_results'::regclass ORDER BY conname;
SELECT indexrelid::regclass AS index, pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid = 'pgbank.chess_results'::regclass ORDER BY 1;
\set VERBOSITY terse
INSERT INTO pgbank.chess_results (owner, date, result, colour, moves, rating_change)
VALUES ('games_ann', '2024-08-01', 'draw', 'white', 40, 0);
INSERT INTO pgbank.chess_results (owner, date, result, colour, moves, rating_change)
VALUES ('games_ann', '2024-08-01', 'win', 'white', 501, 0);
INSERT INTO pgbank.chess_results (owner, date, result, colour, moves, rating_change, opening)
VALUES ('games_ann', '2024-08-01', 'win', 'white', 40, 0, ' ');
INSERT INTO pgbank.chess_results (owner, date, result, colour, moves, rating_change)
VALUES ('games_ann', '1999-12-31', 'win', 'white', 40, 0);
\set VERBOSITY default
SELECT pg_temp.make('c1', 'games_ann', 'chess', '{"date": "2024-08-01", "result": "win",
  "colour": "white", "moves": 40, "rating_change": 8, "opening": "Ruy Lopez"}');
SELECT pg_temp.make('c2', 'games_ann', 'chess', '{"date": "2024-08-02", "result": "loss",
  "colour": "black", "moves": 61, "rating_change": -9}');
SELECT pg_temp.make('c3', 'games_ann', 'chess', '{"date": "2024-08-03", "result": "win",
  "colour": "black", "moves": 25, "rating_change": 10}');
SELECT pgbank.game_create('games_ann', 'chess', '{"date": "2024-08-01", "result": "win",
  "colour": "white", "moves": 40, "rating_change": -51}');
SELECT pgbank.game_create('games_ann', 'chess', '{"date": "2024-08-01", "result": "win",
  "colour": "red", "moves": 40, "rating_change": 1}');
SELECT pgbank.game_create('games_ann', 'chess', '{"date": "2024-08-01", "result": "win",
  "colour": "white", "rating_change": 1}');
SELECT pgbank.game_create('games_ann', 'chess', '{"kills": 1}');
SELECT pg_temp.shown(pgbank.game_update('games_ann', 'chess', pg_temp.id_of('c2'), '{"opening": "Sicilian"}')) AS c2;
SELECT pgbank.game_get('games_ben', 'chess', pg_temp.id_of('c2'));
SELECT pg_temp.labels('chess', pgbank.game_list('games_ann', 'chess', 1, 2)) AS page1,
       pg_temp.labels('chess', pgbank.game_list('games_ann', 'chess', 1, 10, '2024-08-02', NULL)) AS from_aug_2;
-- c1 (white win 40 +8), c2 (black loss 61 -9), c3 (black win 25 +10)
SELECT (j->'summary')::jsonb = '{
  "matches": 3, "wins": 2, "losses": 1,
  "totals": {"moves": 126, "rating_change": 9},
  "averages": {"moves": 42.00, "rating_change": 3.00},
  "breakdown_by": "colour",
  "breakdown": [
    {"colour": "black", "matches": 2, "wins": 1, "losses": 1,
     "totals": {"moves": 86, "rating_change": 1}, "averages": {"moves": 43.00, "rating_change": 0.50}},
    {"colour": "white", "matches": 1, "wins": 1, "losses": 0,
     "totals": {"moves": 40, "rating_change": 8}, "averages": {"moves": 40.00, "rating_change": 8.00}}
  ]}'::jsonb AS chess_summary_as_computed_by_hand
  FROM pgbank.game_table('games_ann', 'chess') j;
SELECT pg_temp.shown(pgbank.game_delete('games_ann', 'chess', pg_temp.id_of('c3'))) AS deleted;
-- a change of the registry is seen at once: the functions' kept statements
-- are built again (the name is part of the table's statement)
UPDATE pgbank.games SET name = 'Chess (classical)' WHERE slug = 'chess';
SELECT j->>'name' AS renamed, pg_temp.labels('chess', j) AS rows FROM pgbank.game_table('games_ann', 'chess') j;
UPDATE pgbank.games SET fields = jsonb_set(fields, '{5,max_length}', '10') WHERE slug = 'chess';
SELECT pgbank.game_update('games_ann', 'chess', pg_temp.id_of('c2'), '{"opening": "Queen''s Gambit"}');
-- === get reads a row as its statement would ===
-- (extension/games.c reads it without running the statement, where the
-- table lets it: the same row, JSON, privileges and errors)
CREATE FUNCTION pg_temp.as_statement(who text, label text) RETURNS boolean LANGUAGE sql AS $$
	SELECT pgbank.game_get(who, 'chess', pg_temp.id_of(label))::text
	     = (SELECT pg_catalog.to_json(t)::text FROM pgbank.chess_results t
	         WHERE t.id = pg_temp.id_of(label) AND t.owner = who)
$$;
-- a column added with a default after the rows (so not in them), one
-- dropped, and a value stored out of line (TOAST)
ALTER TABLE pgbank.chess_results ADD COLUMN spare int, ADD COLUMN venue text NOT NULL DEFAULT 'online';
ALTER TABLE pgbank.chess_results DROP COLUMN spare;
UPDATE pgbank.chess_results SET venue = (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 400) i)
 WHERE id = pg_temp.id_of('c2');
SELECT pgbank.game_get('games_ann', 'chess', pg_temp.id_of('c1'))->>'venue' AS c1_venue,
       length(pgbank.game_get('games_ann', 'chess', pg_temp.id_of('c2'))->>'venue') AS c2_venue_length,
       pg_temp.as_statement('games_ann', 'c1') AS c1_same, pg_temp.as_statement('games_ann', 'c2') AS c2_same,
       (SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class
         WHERE oid = 'pgbank.chess_results'::regclass) AS c2_out_of_line;
ALTER TABLE pgbank.chess_results DROP COLUMN venue;
SELECT pg_temp.as_statement('games_ann', 'c1') AS c1_same, pg_temp.as_statement('games_ann', 'c2') AS c2_same;
-- a child table's rows are the table's rows
CREATE TABLE pgbank.chess_results_more () INHERITS (pgbank.chess_results);
INSERT INTO pgbank.chess_results_more (id, owner, date, result, colour, moves, rating_change)
VALUES (1000000, 'games_ann', '2024-08-04', 'loss', 'white', 33, -7);
SELECT pgbank.game_get('games_ann', 'chess', 1000000)->>'moves' AS in_child;
DROP TABLE pgbank.chess_results_more;
-- the caller needs SELECT on the whole row; row level security applies
CREATE ROLE pgbank_games_reader;
GRANT USAGE ON SCHEMA pgbank TO pgbank_games_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgbank TO pgbank_games_reader;
GRANT SELECT ON pgbank.games TO pgbank_games_reader;
SELECT pg_temp.id_of('c1') AS c1, pg_temp.id_of('c2') AS c2 \gset
SET ROLE pgbank_games_reader;
SELECT pgbank.game_get('games_ann', 'chess', :c1);
SELECT pgbank.game_get('games_ann', 'chess', NULL);
RESET ROLE;
GRANT SELECT (id, owner, moves) ON pgbank.chess_results TO pgbank_games_reader;
SET ROLE pgbank_games_reader;
SELECT pgbank.game_get('games_ann', 'chess', :c1);
RESET ROLE;
GRANT SELECT ON pgbank.chess_results TO pgbank_games_reader;
SET ROLE pgbank_games_reader;
SELECT pgbank.game_get('games_ann', 'chess', :c1)->>'moves' AS c1_moves;
RESET ROLE;
ALTER TABLE pgbank.chess_results ENABLE ROW LEVEL SECURITY;
CREATE POLICY long_games ON pgbank.chess_results USING (moves > 50);
SET ROLE pgbank_games_reader;
SELECT pgbank.game_get('games_ann', 'chess', :c1);
SELECT pgbank.game_get('games_ann', 'chess', :c2)->>'moves' AS c2_moves;
RESET ROLE;
SELECT pgbank.game_get('games_ann', 'chess', :c1)->>'moves' AS c1_moves_as_superuser;
DROP POLICY long_games ON pgbank.chess_results;
ALTER TABLE pgbank.chess_results DISABLE ROW LEVEL SECURITY;
DROP OWNED BY pgbank_games_reader;
DROP ROLE pgbank_games_reader;
-- and removing it again
DELETE FROM pgbank.games WHERE slug = 'chess';
DROP TABLE pgbank.chess_results;
SELECT pgbank.game_table('games_ann', 'chess');

-- === privileges: the API role cannot reach the core functions or tables ===
CREATE ROLE pgbank_games_web;
SELECT pgbank.grant_api('pgbank_games_web');
SET ROLE pgbank_games_web;
SELECT pgbank.game_create('games_ann', 'apex', '{}');
SELECT pgbank.game_table('games_ann', 'apex');
SELECT pgbank.game_get('games_ann', 'apex', 1);
SELECT * FROM pgbank.apex_results;
SELECT * FROM pgbank.games;
RESET ROLE;
SELECT p.oid::regprocedure AS callable_by_api_role
  FROM pg_proc p
 WHERE p.pronamespace = 'pgbank'::regnamespace AND p.proname LIKE '%game%'
   AND has_function_privilege('pgbank_games_web', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text;
DROP OWNED BY pgbank_games_web;
DROP ROLE pgbank_games_web;
