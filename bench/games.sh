#!/usr/bin/env bash
# Game results throughput: pgbench (prepared mode) calling the generic
# functions (pgbank.game_create, game_get, game_list, game_update,
# game_delete, game_table) against the same work written by hand in plain
# SQL on pgbank.apex_results, in one run on one cluster. Before measuring,
# each hand-written read is checked to answer what its function answers.
# The ratio shows what the registry lookup, the body's validation and the
# function call cost. Run after `make test` (or scripts/setup.sh):
#   bench/games.sh   # BENCH_SECONDS=10 BENCH_ROUNDS=10 BENCH_CLIENTS="1 8"
#                    # BENCH_ROWS=200 BENCH_OTHERS=20 by default
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
SECONDS_EACH=${BENCH_SECONDS:-10}
CLIENTS_LIST=${BENCH_CLIENTS:-"1 8"}
ROWS=${BENCH_ROWS:-200}
PSQL=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
dir=$(mktemp -d)
chmod 755 "$dir"
OTHERS=${BENCH_OTHERS:-20}
trap 'rm -rf "$dir"; "${PSQL[@]}" -c "DELETE FROM pgbank.users WHERE username ~ '"'"'^bench_(gamer|other[0-9]+)$'"'"'" >/dev/null' EXIT

# One user with ROWS apex results to read, among OTHERS users with ROWS/2
# each (so the table is not the bench user's alone, as in a real server).
"${PSQL[@]}" <<SQL >/dev/null
DELETE FROM pgbank.users WHERE username ~ '^bench_(gamer|other[0-9]+)$';
INSERT INTO pgbank.users (username, hashed_password, full_name, email)
SELECT u, 'x', 'Bench', u || '@example.com'
  FROM (SELECT 'bench_gamer' UNION ALL SELECT 'bench_other' || n FROM generate_series(1, $OTHERS) n) s (u);
-- the bench user's first, so that their ids are one range
SELECT pgbank.game_create(u, 'apex', json_build_object(
  'date', '2024-01-01'::date + (i % 300), 'legend', (ARRAY['Wraith', 'Bloodhound', 'Lifeline'])[1 + i % 3],
  'kills', i % 20, 'placement', 1 + i % 20, 'damage', i * 7 % 4000, 'time_seconds', 300 + i % 1200))
  FROM (SELECT 'bench_gamer' UNION ALL SELECT 'bench_other' || n FROM generate_series(1, $OTHERS) n) s (u),
       generate_series(1, $ROWS) i
 WHERE u = 'bench_gamer' OR i % 2 = 0
 ORDER BY u <> 'bench_gamer', u, i;
SQL
read -r lo hi < <("${PSQL[@]}" -F ' ' -c "SELECT min(id), max(id) FROM pgbank.apex_results WHERE owner = 'bench_gamer'")
[ "$((hi - lo + 1))" -eq "$ROWS" ] || { echo "bench: the bench user's ids are not one range" >&2; exit 1; }

# Writes are rolled back, so every test reads the same ROWS rows.
cat >"$dir/fn_create.sql" <<'S'
BEGIN;
SELECT pgbank.game_create('bench_gamer', 'apex', '{"date": "2024-05-01", "legend": "Wraith", "kills": 3, "placement": 2, "damage": 1200, "time_seconds": 1300, "teammates": ["a", "b"]}');
ROLLBACK;
S
cat >"$dir/sql_create.sql" <<'S'
BEGIN;
INSERT INTO pgbank.apex_results AS t (owner, date, legend, kills, placement, damage, time_seconds, teammates)
VALUES ('bench_gamer', '2024-05-01', 'Wraith', 3, 2, 1200, 1300, '{a,b}') RETURNING to_json(t);
ROLLBACK;
S
cat >"$dir/fn_get.sql" <<'S'
\set id random(:lo, :hi)
SELECT pgbank.game_get('bench_gamer', 'apex', :id);
S
cat >"$dir/sql_get.sql" <<'S'
\set id random(:lo, :hi)
SELECT to_json(t) FROM pgbank.apex_results t WHERE t.id = :id AND t.owner = 'bench_gamer';
S
cat >"$dir/fn_list.sql" <<'S'
SELECT pgbank.game_list('bench_gamer', 'apex', 2, 10, '2024-01-01', '2024-12-31');
S
cat >"$dir/sql_list.sql" <<'S'
SELECT json_build_object('results', (SELECT coalesce(json_agg(to_json(t) ORDER BY t.date DESC, t.id DESC), '[]') FROM (
  SELECT * FROM pgbank.apex_results t WHERE t.owner = 'bench_gamer'
     AND t.date BETWEEN '2024-01-01' AND '2024-12-31'
   ORDER BY t.date DESC, t.id DESC LIMIT 10 OFFSET 10) t), 'page_id', 2, 'page_size', 10);
S
cat >"$dir/fn_update.sql" <<'S'
\set id random(:lo, :hi)
BEGIN;
SELECT pgbank.game_update('bench_gamer', 'apex', :id, '{"kills": 4, "damage": 900}');
ROLLBACK;
S
cat >"$dir/sql_update.sql" <<'S'
\set id random(:lo, :hi)
BEGIN;
UPDATE pgbank.apex_results AS t SET kills = 4, damage = 900, updated_at = now()
 WHERE t.id = :id AND t.owner = 'bench_gamer' RETURNING to_json(t);
ROLLBACK;
S
cat >"$dir/fn_delete.sql" <<'S'
\set id random(:lo, :hi)
BEGIN;
SELECT pgbank.game_delete('bench_gamer', 'apex', :id);
ROLLBACK;
S
cat >"$dir/sql_delete.sql" <<'S'
\set id random(:lo, :hi)
BEGIN;
DELETE FROM pgbank.apex_results t WHERE t.id = :id AND t.owner = 'bench_gamer' RETURNING to_json(t);
ROLLBACK;
S
cat >"$dir/fn_table.sql" <<'S'
SELECT pgbank.game_table('bench_gamer', 'apex');
S
# The statistics of a set of apex results t, as game_table computes them.
stats="jsonb_build_object('matches', count(*),
  'wins', count(*) FILTER (WHERE t.result = 'win'), 'losses', count(*) FILTER (WHERE t.result = 'loss'),
  'best_placement', min(t.placement),
  'totals', jsonb_build_object('kills', coalesce(sum(t.kills), 0), 'damage', coalesce(sum(t.damage), 0),
                               'time_seconds', coalesce(sum(t.time_seconds), 0)),
  'averages', jsonb_build_object('kills', round(avg(t.kills), 2), 'placement', round(avg(t.placement), 2),
                                 'damage', round(avg(t.damage), 2), 'time_seconds', round(avg(t.time_seconds), 2)))"
cat >"$dir/sql_table.sql" <<S
SELECT json_build_object('game', 'apex', 'name', 'Apex Legends',
  'rows', (SELECT coalesce(json_agg(to_json(t) ORDER BY t.date DESC, t.id DESC), '[]')
             FROM pgbank.apex_results t WHERE t.owner = 'bench_gamer'),
  'summary', (SELECT $stats FROM pgbank.apex_results t WHERE t.owner = 'bench_gamer')
    || jsonb_build_object('breakdown_by', 'legend', 'breakdown',
         (SELECT coalesce(jsonb_agg(s.b ORDER BY s.matches DESC, s.k), '[]')
            FROM (SELECT t.legend AS k, count(*) AS matches, jsonb_build_object('legend', t.legend) || $stats AS b
                    FROM pgbank.apex_results t WHERE t.owner = 'bench_gamer' GROUP BY t.legend) s)));
S

# The hand-written reads answer exactly what the functions answer.
same() {
	local got
	got=$(echo "SELECT ($(sed '/^\\set/d; s/;$//' "$dir/fn_$1.sql"))::text
		= ($(sed '/^\\set/d; s/;$//' "$dir/sql_$1.sql"))::text;" | "${PSQL[@]}" -v id="$lo")
	[ "$got" = t ] || { echo "bench: the hand-written $1 does not answer what game_$1 does" >&2; exit 1; }
}
for op in get list table; do same "$op"; done

# Rolled-back writes leave dead rows that later scans would wade through
# until autovacuum came: every measurement starts from a vacuumed table.
# The function and its hand-written twin take turns, ROUNDS slices each of
# SECONDS/ROUNDS, so that a change of the machine's load in the run weighs
# on both alike; the ratio is of their transactions over all slices.
ROUNDS=${BENCH_ROUNDS:-10}
slice=$(awk -v s="$SECONDS_EACH" -v r="$ROUNDS" 'BEGIN { x = int(s / r); print (x < 1 ? 1 : x) }')
transactions() {
	"${PSQL[@]}" -c "VACUUM ANALYZE pgbank.apex_results"
	"$(pg_bindir)/pgbench" -n -M prepared -c "$1" -j "$(($1 < 2 ? 1 : 2))" -T "$slice" \
		-D lo="$lo" -D hi="$hi" -f "$2" 2>&1 |
		sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p'
}

printf '%-8s %-8s %12s %12s %8s\n' op clients function/s plain_sql/s ratio
for c in $CLIENTS_LIST; do
	for op in create get list update delete table; do
		f=0
		s=0
		for _ in $(seq "$ROUNDS"); do
			f=$((f + $(transactions "$c" "$dir/fn_$op.sql")))
			s=$((s + $(transactions "$c" "$dir/sql_$op.sql")))
		done
		printf '%-8s %-8s %12.0f %12.0f %8.2f\n' "$op" "$c" "$((f / (slice * ROUNDS)))" "$((s / (slice * ROUNDS)))" \
			"$(awk -v f="$f" -v s="$s" 'BEGIN { print (s > 0 ? f / s : 0) }')"
	done
done
