#!/usr/bin/env bash
# Game results throughput: pgbench (prepared mode) calling the generic
# functions (pgbank.game_create, game_get, game_list, game_table) against the
# same work as plain SQL on pgbank.apex_results, in one run on one cluster.
# The ratio shows what the registry lookup, JSON validation and dynamic SQL
# (planned on every call) cost. Run after `make test` (or scripts/setup.sh):
#   bench/games.sh            # BENCH_SECONDS=10 BENCH_CLIENTS="1 8" by default
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
SECONDS_EACH=${BENCH_SECONDS:-10}
CLIENTS_LIST=${BENCH_CLIENTS:-"1 8"}
ROWS=${BENCH_ROWS:-200}
PSQL=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
dir=$(mktemp -d)
chmod 755 "$dir"
trap 'rm -rf "$dir"; "${PSQL[@]}" -c "DELETE FROM pgbank.users WHERE username = '"'"'bench_gamer'"'"'" >/dev/null' EXIT

# One user with ROWS apex results to read.
"${PSQL[@]}" <<SQL >/dev/null
DELETE FROM pgbank.users WHERE username = 'bench_gamer';
INSERT INTO pgbank.users (username, hashed_password, full_name, email)
VALUES ('bench_gamer', 'x', 'Bench', 'bench_gamer@example.com');
SELECT pgbank.game_create('bench_gamer', 'apex', json_build_object(
  'date', '2024-01-01'::date + (i % 300), 'legend', (ARRAY['Wraith', 'Bloodhound', 'Lifeline'])[1 + i % 3],
  'kills', i % 20, 'placement', 1 + i % 20, 'damage', i * 7 % 4000, 'time_seconds', 300 + i % 1200))
  FROM generate_series(1, $ROWS) i;
SQL
read -r lo hi < <("${PSQL[@]}" -F ' ' -c "SELECT min(id), max(id) FROM pgbank.apex_results WHERE owner = 'bench_gamer'")

# Creates are rolled back, so every test reads the same ROWS rows.
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
SELECT coalesce(json_agg(to_json(t) ORDER BY t.date DESC, t.id DESC), '[]') FROM (
  SELECT * FROM pgbank.apex_results t WHERE t.owner = 'bench_gamer'
     AND t.date BETWEEN '2024-01-01' AND '2024-12-31'
   ORDER BY t.date DESC, t.id DESC LIMIT 10 OFFSET 10) t;
S
cat >"$dir/fn_table.sql" <<'S'
SELECT pgbank.game_table('bench_gamer', 'apex');
S

# Rolled-back creates leave dead rows that later scans would wade through
# until autovacuum came: every measurement starts from a vacuumed table.
tps() {
	"${PSQL[@]}" -c "VACUUM ANALYZE pgbank.apex_results"
	"$(pg_bindir)/pgbench" -n -M prepared -c "$1" -j "$(($1 < 2 ? 1 : 2))" -T "$SECONDS_EACH" \
		-D lo="$lo" -D hi="$hi" -f "$2" 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

printf '%-8s %-8s %12s %12s %8s\n' op clients function/s plain_sql/s ratio
for c in $CLIENTS_LIST; do
	for op in get list create; do
		f=$(tps "$c" "$dir/fn_$op.sql")
		s=$(tps "$c" "$dir/sql_$op.sql")
		printf '%-8s %-8s %12.0f %12.0f %8.2f\n' "$op" "$c" "$f" "$s" "$(awk -v f="$f" -v s="$s" 'BEGIN { print (s > 0 ? f / s : 0) }')"
	done
	printf '%-8s %-8s %12.0f %12s %8s\n' "table" "$c" "$(tps "$c" "$dir/fn_table.sql")" - -
done
