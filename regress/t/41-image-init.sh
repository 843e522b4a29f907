#!/usr/bin/env bash
# The database image's entrypoint (docker/postgres-entrypoint.sh), run outside
# a container against the installed PostgreSQL and pgbank: its refusals
# (missing or malformed secrets), a first start (database, extensions, the
# API role with its password, the secret settings outside the data
# directory), and a restart (no second initialization, data kept, a rotated
# key picked up). The server listens on a private socket only, no TCP port.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

bin=$(pg_bindir)
t=$PGBANK_RUN/image-init
entry=$PGBANK_ROOT/docker/postgres-entrypoint.sh
pid=

# The entrypoint execs postgres; runuser in between does not pass SIGINT on,
# so the postmaster is signalled by the pid it records.
postmaster_stop() {
	local pm
	pm=$(head -n 1 "$t/pgdata/postmaster.pid" 2>/dev/null) || return 0
	kill -INT "$pm" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
}

cleanup() {
	[ -n "$pid" ] && postmaster_stop
	return 0
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; exit 1; }

# The entrypoint as the image runs it, with its paths moved under $t.
entrypoint() {
	as_pg env PATH="$bin:$PATH" PGDATA="$t/pgdata" SECRETS_DIR="$t/secrets" \
		SOCKET_DIR="$t/sock" SHARE_DIR="$t/share" \
		"$entry" -c listen_addresses= -c unix_socket_directories="$t/sock" "$@"
}

psql_t() { as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$t/sock" -d pgbank -Atc "$1"; }

# start NAME MARKER [ARG...]: ready once pg_isready answers and, when not
# empty, MARKER is in the log (a first start runs a temporary server before
# the real one). ARGs go to postgres, as compose `command:` and k8s `args:` do.
start() {
	local name=$1 marker=${2:-}
	shift 2
	entrypoint "$@" >"$t/$name.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 60); do
		if [ -z "$marker" ] || grep -q "$marker" "$t/$name.log"; then
			as_pg "$bin/pg_isready" -q -h "$t/sock" -d pgbank && return 0
		fi
		kill -0 "$pid" 2>/dev/null || { cat "$t/$name.log"; fail "entrypoint exited during $name"; }
		sleep 0.5
	done
	cat "$t/$name.log"
	fail "server not ready after $name"
}

stop() { postmaster_stop; }

# An expected refusal: the entrypoint exits non-zero with this message.
refuses() {
	local want=$1 out
	if out=$(entrypoint 2>&1); then
		fail "entrypoint started although: $want"
	fi
	grep -q -- "$want" <<<"$out" || fail "wanted '$want', got: $out"
	[ ! -e "$t/pgdata/PG_VERSION" ] || fail "a refused start left a data directory"
	echo "ok   refuses: $want"
}

rm -rf "$t"
mkdir -p "$t/secrets" "$t/sock" "$t/share"
# What the image installs in /usr/share/pgbank (docker/Dockerfile).
cp scripts/post-install.sql config/pgbank.conf "$t/share/"
[ "$(id -u)" -eq 0 ] && chown -R "$PGBANK_OSUSER" "$t"

echo "== refusals"
refuses "missing secret file $t/secrets/token_key"
printf '%s' "0123456789abcdef" | as_pg tee "$t/secrets/token_key" >/dev/null
refuses "secret token_key must be 64 hex characters"
printf '%s' "$(printf 'g%.0s' $(seq 64))" | as_pg tee "$t/secrets/token_key" >/dev/null
refuses "secret token_key must be 64 hex characters"
as_pg rm "$t/secrets/token_key"
as_pg scripts/gen-secrets.sh "$t/secrets" >/dev/null
as_pg chmod 000 "$t/secrets/token_key"
refuses "secret file $t/secrets/token_key is not readable by uid"
as_pg chmod 644 "$t/secrets/token_key"
as_pg mv "$t/secrets/web_password" "$t/web_password"
refuses "missing secret file $t/secrets/web_password"
as_pg mv "$t/web_password" "$t/secrets/web_password"

# The server arguments the deploy files really pass (k8s for the first
# start, compose for the second): the extension's check hooks must accept them.
deploy_args() {
	/usr/bin/python3 - "$1" <<'PY'
import re, sys, yaml
which = sys.argv[1]
if which == "compose":
    doc = yaml.safe_load(open("docker/compose.yaml"))
    args = doc["services"]["postgres"]["command"]
else:
    sts = yaml.safe_load(open("k8s/base/postgres-statefulset.yaml"))
    args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
# Compose substitutes ${VAR:-default}; unset here, so the default.
args = [re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", a) for a in args]
sys.stdout.write("".join(a + "\0" for a in args))
PY
}
mapfile -d '' k8s_args < <(deploy_args k8s)
mapfile -d '' compose_args < <(deploy_args compose)
[ ${#k8s_args[@]} -gt 0 ] && [ ${#compose_args[@]} -gt 0 ] || fail "no server arguments read from the deploy files"

# Each pgbank.* -c setting of ARGs is in force.
settings_in_force() {
	local a name value got
	for a in "$@"; do
		case $a in pgbank.*=*) ;; *) continue ;; esac
		name=${a%%=*} value=${a#*=}
		got=$(psql_t "SELECT setting FROM pg_settings WHERE name = '$name'")
		[ "$got" = "$value" ] || fail "$name is '$got', the deploy files pass '$value'"
	done
}

echo "== first start (the Kubernetes StatefulSet's arguments)"
start first "initialized $t/pgdata" "${k8s_args[@]}"
settings_in_force "${k8s_args[@]}"
grep -q "initialized $t/pgdata" "$t/first.log" || fail "no initialization message"
[ "$(psql_t "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension")" = "pg_cron,pgbank,plpgsql" ] ||
	fail "extensions: $(psql_t "SELECT string_agg(extname, ',') FROM pg_extension")"
[ "$(psql_t "SHOW shared_preload_libraries")" = "pg_cron,pgbank" ] || fail "preload"
[ "$(psql_t "SHOW cron.database_name")" = pgbank ] || fail "cron.database_name"
# The settings are config/pgbank.conf's, included, not copied.
[ "$(psql_t "SELECT count(*) FROM pg_file_settings WHERE sourcefile = '$t/share/pgbank.conf' AND name = 'shared_preload_libraries' AND applied")" = 1 ] ||
	fail "shared_preload_libraries does not come from the installed config/pgbank.conf"
[ "$(psql_t "SELECT rolcanlogin AND rolpassword LIKE 'SCRAM-SHA-256\$%' FROM pg_authid WHERE rolname = '$PGBANK_WEB_ROLE'")" = t ] ||
	fail "role $PGBANK_WEB_ROLE has no SCRAM password"
# The stored SCRAM verifier is the one of the secret's password (RFC 5802:
# StoredKey = H(HMAC(Hi(password, salt, i), "Client Key")), ServerKey).
verifier=$(psql_t "SELECT rolpassword FROM pg_authid WHERE rolname = '$PGBANK_WEB_ROLE'")
/usr/bin/python3 - "$verifier" "$t/secrets/web_password" <<'PY' || fail "pgbank_web's password is not the secret's"
import base64, hashlib, hmac, sys
m, rest = sys.argv[1].split("$", 1)
iters_salt, keys = rest.split("$")
iters, salt = iters_salt.split(":")
stored, server = keys.split(":")
pw = open(sys.argv[2], "rb").read().strip()
salted = hashlib.pbkdf2_hmac("sha256", pw, base64.b64decode(salt), int(iters))
client_key = hmac.new(salted, b"Client Key", "sha256").digest()
ok = (m == "SCRAM-SHA-256"
      and base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored
      and base64.b64encode(hmac.new(salted, b"Server Key", "sha256").digest()).decode() == server)
sys.exit(0 if ok else 1)
PY
[ "$(psql_t "SELECT has_function_privilege('$PGBANK_WEB_ROLE', 'pgbank.create_account(text, text, bigint)', 'EXECUTE')")" = f ] ||
	fail "$PGBANK_WEB_ROLE may call a non-API function"
key=$(cat "$t/secrets/token_key")
conf=$t/sock/pgbank-secrets.conf
[ "$(stat -c %a "$conf")" = 600 ] || fail "$conf mode $(stat -c %a "$conf")"
case $conf in "$t/pgdata"/*) fail "secret settings inside the data directory" ;; esac
grep -rqs "$key" "$t/pgdata" && fail "the token key is in the data directory"
[ "$(psql_t "SELECT setting FROM pg_file_settings WHERE name = 'pgbank.token_key'")" = "$key" ] ||
	fail "pgbank.token_key not read from $conf"
[ "$(psql_t "SHOW pgbank.token_key")" = "$key" ] || fail "pgbank.token_key not in force"
# pg_cron jobs: the image schedules every job the local set-up schedules
# (scripts/setup.sh's cluster, running for the tests), with the same
# command, and they are all of pgbank.schedule_jobs (calling it again, as
# the local set-up does at each run, schedules no new job).
jobs="SELECT coalesce(string_agg(jobname || ' ' || schedule || ' ' || command, E'\n' ORDER BY jobname), '') FROM cron.job"
local_jobs=$(as_pg "$bin/psql" -X -q -v ON_ERROR_STOP=1 -Atc "$jobs") || fail "cannot read the local cluster's cron.job"
image_jobs=$(psql_t "$jobs")
missing=$(comm -23 <(sort <<<"$local_jobs") <(sort <<<"$image_jobs"))
[ -z "$missing" ] || fail "pg_cron jobs of the local set-up missing in the image: $missing"
[ "$(psql_t "SELECT count(*) FROM pgbank.schedule_jobs()")" = "$(grep -c . <<<"$image_jobs")" ] &&
	[ "$(psql_t "$jobs")" = "$image_jobs" ] || fail "the image's jobs are not pgbank.schedule_jobs()'s: $image_jobs"
echo "ok   pg_cron jobs: $(grep -c . <<<"$image_jobs") in the image, all $(grep -c . <<<"$local_jobs") of the local set-up's"
psql_t "CREATE TABLE public.marker AS SELECT 42 AS answer"
echo "ok   first start: database, extensions, role, secret settings"

echo "== restart with a rotated key (compose's arguments)"
stop
as_pg mv "$t/pgdata/pgbank-initialized" "$t/marker"
if out=$(entrypoint 2>&1); then fail "started a cluster whose initialization did not finish"; fi
grep -q "initialization did not finish" <<<"$out" || fail "wanted the unfinished-initialization refusal, got: $out"
as_pg mv "$t/marker" "$t/pgdata/pgbank-initialized"
echo "ok   refuses: a cluster whose first start did not finish"
as_pg rm "$t/secrets/token_key"
as_pg scripts/gen-secrets.sh "$t/secrets" >/dev/null
newkey=$(cat "$t/secrets/token_key")
[ "$newkey" != "$key" ] || fail "gen-secrets wrote the same key"
start second "" "${compose_args[@]}"
settings_in_force "${compose_args[@]}"
grep -q initialized "$t/second.log" && fail "initialized twice"
[ "$(psql_t "SELECT answer FROM public.marker")" = 42 ] || fail "data lost on restart"
[ "$(psql_t "SELECT setting FROM pg_file_settings WHERE name = 'pgbank.token_key'")" = "$newkey" ] ||
	fail "rotated key not picked up"
[ "$(psql_t "SHOW pgbank.token_key")" = "$newkey" ] || fail "rotated pgbank.token_key not in force"
stop
echo "ok   restart: no second initialization, data kept, rotated key read"
rm -rf "$t"
