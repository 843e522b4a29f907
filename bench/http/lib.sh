# What bench/http.sh and bench/soak.sh share (sourced): needs PSQL, SHIM,
# SHIM_LOG and CLIENTS set, and scripts/env.sh sourced.

# make_clients SCHEMA PREFIX USERS FILE: USERS throwaway users (cheap
# Argon2), each with a USD account holding plenty and an access token (15
# minutes), in SCHEMA.clients; their "token<TAB>account_id" lines in FILE
# for wrk's clients.lua.
make_clients() {
	local schema=$1 prefix=$2 users=$3 file=$4
	"${PSQL[@]}" -v schema="$schema" -v prefix="$prefix$(date +%s)" -v users="$users" <<'SQL'
SET pgbank.argon2_opslimit = 1;
SET pgbank.argon2_memlimit = '8kB';
DROP SCHEMA IF EXISTS :"schema" CASCADE;
CREATE SCHEMA :"schema";
CREATE TABLE :"schema".clients (i int PRIMARY KEY, token text NOT NULL, account_id bigint NOT NULL);
INSERT INTO :"schema".clients
SELECT i, (pgbank.login(name, 'benchpass')).access_token, a.id
  FROM generate_series(1, :users) i,
       LATERAL (SELECT (pgbank.create_user(format('%s_%s', :'prefix', i), 'benchpass', 'Bench',
                        format('%s_%s@bench.example', :'prefix', i))).username AS name) u,
       LATERAL pgbank.create_account(u.name, 'USD', 1000000000000) a;
SQL
	"${PSQL[@]}" -F $'\t' -c "SELECT token, account_id FROM \"$schema\".clients ORDER BY i" >"$file"
}

# start_shim PORT [VAR=value...]: a shim in the background with a pool of
# CLIENTS, answering /readyz; its pid in $started.
start_shim() {
	local port=$1
	shift
	env PGBANK_DB="host=$PGBANK_RUN port=$PGBANK_PGPORT dbname=$PGBANK_DBNAME user=$PGBANK_WEB_ROLE" \
		PGBANK_LISTEN=127.0.0.1:$port PGBANK_POOL_SIZE=$CLIENTS PGBANK_GRPC_LISTEN= "$@" \
		"$SHIM" 2>>"$SHIM_LOG" &
	started=$!
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0
		sleep 0.1
	done
}
