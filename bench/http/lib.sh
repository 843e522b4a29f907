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

# CPU accounting, in clock ticks (getconf CLK_TCK a second), for the
# microseconds a request costs each process (bench/http.sh):
# pg_ticks: PostgreSQL so far, the postmaster with the backends it has
# reaped and each backend still running; proc_ticks PID: one process, all
# its threads.
pg_ticks() {
	local pm
	pm=$(head -n 1 "$PGDATA_DIR/postmaster.pid")
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$pm" '
		$1 == pm { t += $14 + $15 + $16 + $17 }
		$1 != pm && $4 == pm { t += $14 + $15 }
		END { print t + 0 }'
}
proc_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
# proc_switches PID: the context switches of all its threads so far
# (voluntary and not): how often the process slept or was put aside.
proc_switches() {
	cat "/proc/$1/task/"*/status 2>/dev/null |
		awk '/^(non)?voluntary_ctxt_switches:/ { n += $2 } END { print n + 0 }'
}

# cpu_measure FILE SHIM_PID CMD...: runs CMD (its output on stdout) and
# writes to FILE the ticks it took, "load-generator shim postgres", and
# the shim's context switches (the shim's are 0 when SHIM_PID is empty).
cpu_measure() {
	local file=$1 pid=$2 pg0 sh0=0 sh1=0 cs0=0 cs1=0 TIMEFORMAT='%U %S' gen
	shift 2
	pg0=$(pg_ticks)
	[ -n "$pid" ] && sh0=$(proc_ticks "$pid") && cs0=$(proc_switches "$pid")
	{ time "$@" 2>&1; } 2>"$file.time"
	[ -n "$pid" ] && cs1=$(proc_switches "$pid")
	sleep 0.3	# the postmaster reaps the backends of a client that ended
	[ -n "$pid" ] && sh1=$(proc_ticks "$pid")
	gen=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%d", ($1 + $2) * hz }' "$file.time")
	echo "$gen $((sh1 - sh0)) $(($(pg_ticks) - pg0)) $((cs1 - cs0))" >"$file"
	rm -f "$file.time"
}

# cpu_report NAME SHIM_FILE SHIM_REQUESTS DIRECT_FILE DIRECT_REQUESTS: the
# CPU microseconds of one request in each process, both ways, and the
# ratio shim/direct that a shim costing no CPU at all would reach when
# both runs are CPU-bound (rate = CPUs / CPU time per request).
cpu_report() {
	local name=$1 hz
	hz=$(getconf CLK_TCK)
	read -r sg ss sp cs <"$2"
	read -r dg _ dp _ <"$4"
	awk -v name="$name" -v hz="$hz" -v n="$3" -v m="$5" -v sg="$sg" -v ss="$ss" -v sp="$sp" \
		-v cs="$cs" -v dg="$dg" -v dp="$dp" 'BEGIN {
		u = 1e6 / hz
		printf "%-24s CPU us/request: shim %.0f + postgres %.0f + wrk %.0f = %.0f;" \
			" direct: postgres %.0f + pgbench %.0f = %.0f; with a shim free of CPU <= %.2f;" \
			" shim context switches/request %.2f\n",
			name, ss * u / n, sp * u / n, sg * u / n, (ss + sp + sg) * u / n,
			dp * u / m, dg * u / m, (dp + dg) * u / m,
			((dp + dg) / m) / ((sp + sg) / n), cs / n }'
}
