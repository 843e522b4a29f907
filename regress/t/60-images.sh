#!/usr/bin/env bash
# The images and the compose stack, built and run for real:
#  - the engine: installs docker.io, docker-compose and mmdebstrap when
#    missing, and starts dockerd in the background when none answers (it
#    is left running: a later run, or another checkout's, uses it);
#  - the base image docker/Dockerfile names: when the engine lacks it, made
#    from Debian 12 with `mmdebstrap --variant=minbase` and `docker import`
#    (no registry is reachable); the root file system is kept in
#    .run/images/, and the engine keeps the build's layers between runs;
#  - the three images (http, postgres, smtp-sink), built with the host's
#    network (their apt-get reaches Debian's mirror, as the host's does),
#    tagged with pgbank.control's default_version; their sizes are printed,
#    and no run-time image holds a compiler, headers, Perl, LLVM or JIT;
#  - the stack of docker/compose.yaml (with regress/compose-test.yaml), as
#    its own project, the shim published on a free loopback port.
# Then, through that port and `docker exec`: health checks turn healthy,
# every process runs as a non-root user, the secrets are in no `docker
# inspect` and no process's environment, the HTTP e2e's bank and game cases
# pass, the verification email reaches the sink and its link verifies, data
# survives `docker compose restart` of the database and a re-created
# container on the same volume, a rotated token key is in force after a
# restart (old tokens refused, new ones work), and `docker compose down -v`
# leaves no container, network or volume of the project.
# Runs of this suite on one machine take turns (a lock): they share tags.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

work=$PGBANK_RUN/images
logs=$PGBANK_RUN/logs
project=pgbank-test-$$
suite_start=$SECONDS
export DOCKER_BUILDKIT=0        # the classic builder: Debian 12's client has no buildx
mkdir -p "$work" "$logs"

say() { printf '60-images: %s\n' "$*"; }
fail() {
	say "FAIL: $*" >&2
	exit 1
}
ok() { say "ok   $*"; }
phase() { say "-- $1 ($((SECONDS - suite_start))s)"; }

# ---- engine ------------------------------------------------------------------
phase "engine"
need=()
command -v dockerd >/dev/null || need+=(docker.io)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || need+=(docker-compose)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
[ ${#need[@]} -eq 0 ] || scripts/setup.sh --packages "${need[@]}"
if ! docker info >/dev/null 2>&1; then
	say "no Docker engine answers: starting dockerd (log: $logs/dockerd.log)"
	setsid dockerd >>"$logs/dockerd.log" 2>&1 </dev/null &
	for _ in $(seq 120); do
		docker info >/dev/null 2>&1 && break
		sleep 0.5
	done
	docker info >/dev/null 2>&1 || fail "dockerd did not start (see $logs/dockerd.log)"
fi
if docker compose version >/dev/null 2>&1; then
	compose_cmd=(docker compose)
else
	compose_cmd=(docker-compose)
fi
exec 9>"${TMPDIR:-/tmp}/pgbank-images.lock"
flock -w 1800 9 || fail "another run of this suite held the lock for 30 minutes"

# ---- base image ------------------------------------------------------------
phase "base image"
mapfile -t bases < <(sed -n 's/^FROM \([^ ]*\).*/\1/p' docker/Dockerfile | grep -v '^build$' | sort -u)
[ "${bases[*]}" = debian:bookworm-slim ] || fail "docker/Dockerfile names ${bases[*]}: this suite makes debian:bookworm-slim only"
base=${bases[0]}
if docker image inspect "$base" >/dev/null 2>&1; then
	say "$base: in the engine"
else
	rootfs=$work/bookworm-slim.tar
	if [ ! -s "$rootfs" ]; then
		say "$base: making it with mmdebstrap (log: $logs/mmdebstrap.log)"
		# minbase, merged /usr without the usrmerge package (and so without
		# perl), and no documentation or locales: what debian:bookworm-slim is.
		mmdebstrap --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
			--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
			--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
			--dpkgopt='path-exclude=/usr/share/locale/*' \
			bookworm "$work/partial.tar" >"$logs/mmdebstrap.log" 2>&1 ||
			fail "mmdebstrap failed (see $logs/mmdebstrap.log)"
		mv "$work/partial.tar" "$rootfs"
	else
		say "$base: importing the cached $rootfs"
	fi
	docker import --change 'CMD ["bash"]' "$rootfs" "$base" >/dev/null
fi

# ---- images --------------------------------------------------------------------
phase "images"
# Swagger UI comes into the http image from build/swagger-ui (the set-up
# fetched it already; this is a no-op then).
scripts/swagger-ui.sh >/dev/null
# Stage name, image name; the tag is the extension's version. The stages
# that only feed others are tagged too, so that the engine keeps them as
# the next run's cache while the leftovers of earlier runs (labelled) are
# pruned.
label=org.pgbank.built-by=regress/t/60-images.sh
stages=(build:pgbank/build postgres-files:pgbank/postgres-files)
images=(http:pgbank/http postgres:pgbank/postgres smtp-sink:pgbank/smtp-sink)
for entry in "${stages[@]}" "${images[@]}"; do
	target=${entry%%:*} name=${entry#*:}
	start=$SECONDS
	docker build --network=host -f docker/Dockerfile --target "$target" --label "$label" \
		-t "$name:$PGBANK_VERSION" . >"$logs/image-$target.log" 2>&1 ||
		{ tail -n 30 "$logs/image-$target.log"; fail "building $name (see $logs/image-$target.log)"; }
	size=$(docker image inspect -f '{{.Size}}' "$name:$PGBANK_VERSION")
	say "built $name:$PGBANK_VERSION in $((SECONDS - start))s: $((size / 1000000)) MB"
done
docker image prune -f --filter "label=$label" >/dev/null
# Run-time images hold what runs: no compiler, headers, Perl, LLVM or JIT.
for entry in "${images[@]}"; do
	name=${entry#*:}:$PGBANK_VERSION
	extra=$(docker run --rm --entrypoint sh "$name" -c \
		'dpkg-query -W -f="\${Package}\n"; ls /usr/lib/postgresql/15/lib/llvmjit.so 2>/dev/null || true' |
		grep -E -- '-dev$|^(gcc|gcc-[0-9]+|cpp|make|binutils|perl|libllvm[0-9]+|postgresql-common)$|llvmjit' || true)
	[ -z "$extra" ] || fail "$name holds what does not run: $(tr '\n' ' ' <<<"$extra")"
done
ok "the run-time images hold no compiler, headers, Perl, LLVM or JIT"

# ---- the stack ---------------------------------------------------------------
phase "stack"
secrets=$work/secrets-$$
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
grpc_port=$(free_port)
export PGBANK_HTTP_PORT=$port PGBANK_GRPC_PORT=$grpc_port PGBANK_SECRETS=$secrets
compose() { "${compose_cmd[@]}" -p "$project" -f docker/compose.yaml -f regress/compose-test.yaml "$@"; }
cleanup() {
	compose down -v --remove-orphans >>"$logs/compose.log" 2>&1 || true
	rm -rf "$secrets"
}
trap cleanup EXIT
scripts/gen-secrets.sh "$secrets" >/dev/null
base_url=http://127.0.0.1:$port
cid() { compose ps -q "$1"; }

# Wait until every container of the stack reports healthy.
wait_healthy() {
	local start=$SECONDS c status all
	while :; do
		all=true
		for c in $(compose ps -q); do
			status=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c")
			[ "$status" = healthy ] || all=false
			[ "$status" != none ] || fail "container $c has no health check"
		done
		$all && [ -n "$(compose ps -q)" ] && break
		[ $((SECONDS - start)) -lt 180 ] || { compose ps; fail "not healthy after 180s ($1)"; }
		sleep 1
	done
	say "healthy after $((SECONDS - start))s ($1)"
}

# curl through the published port: prints the status, body in $work/body.
http() {
	local method=$1 path=$2 body=${3:-} token=${4:-}
	local args=(-s -o "$work/body" -w '%{http_code}' -X "$method" --max-time 30)
	[ -n "$body" ] && args+=(-H 'Content-Type: application/json' -d "$body")
	[ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
	curl "${args[@]}" "$base_url$path" || true
}
json() { /usr/bin/python3 -c "import json, sys; print(json.load(open(sys.argv[1]))$1)" "$work/body"; }
wait_ready() {
	for _ in $(seq 60); do
		[ "$(http GET /readyz)" = 200 ] && return 0
		sleep 1
	done
	fail "/readyz is not 200 after 60s"
}

compose up -d --no-build >"$logs/compose.log" 2>&1 || { cat "$logs/compose.log"; fail "compose up"; }
wait_healthy "first start"
wait_ready
ok "the stack is up, shim on $base_url"

run=$(date +%s)_$$
login() { http POST /users/login "{\"username\": \"$1\", \"password\": \"$2\"}"; }

# The verification email's clock starts now; it is checked after the e2e.
mail_user=mail_$run
[ "$(http POST /users "{\"username\": \"$mail_user\", \"password\": \"secret1\", \"full_name\": \"Mail\", \"email\": \"$mail_user@example.com\"}")" = 200 ] ||
	fail "POST /users: $(cat "$work/body")"
mail_sent=$SECONDS

# Data to keep: a user, a logged-in token, an account.
keep=keep_$run
[ "$(http POST /users "{\"username\": \"$keep\", \"password\": \"keep-secret\", \"full_name\": \"Keep\", \"email\": \"$keep@example.com\"}")" = 200 ] ||
	fail "POST /users: $(cat "$work/body")"
[ "$(login "$keep" keep-secret)" = 200 ] || fail "login: $(cat "$work/body")"
token=$(json '["access_token"]')
[ "$(http POST /accounts '{"currency": "EUR"}' "$token")" = 200 ] || fail "POST /accounts: $(cat "$work/body")"
account=$(json '["id"]')

# ---- users, secrets, networks ---------------------------------------------
phase "users and secrets"
for svc in postgres shim smtp-sink; do
	c=$(cid "$svc")
	user=$(docker inspect -f '{{.Config.User}}' "$c")
	case ${user%%:*} in '' | root | 0) fail "$svc runs as '${user:-root}'" ;; esac
	# Every process of the container, by its real and effective uid.
	uids=$(docker exec "$c" sh -c 'cat /proc/[0-9]*/status' | awk '/^Uid:/ { print $2; print $3 }' | sort -u | tr '\n' ' ')
	[ -n "$uids" ] && ! grep -qw 0 <<<"$uids" || fail "$svc has processes of uid 0 (uids: $uids)"
	ok "$svc runs as $user (process uids: $uids)"
done
for name in token_key web_password; do
	value=$(cat "$secrets/$name")
	for svc in postgres shim smtp-sink; do
		c=$(cid "$svc")
		# Read whole before grep -q (with pipefail, a writer that grep -q
		# leaves behind fails the pipeline, and a match would go unseen).
		out=$(docker inspect "$c")
		! grep -qF "$value" <<<"$out" || fail "$name is in docker inspect of $svc"
		out=$(docker exec "$c" sh -c 'cat /proc/[0-9]*/environ 2>/dev/null; true' | tr '\0' '\n')
		! grep -qF "$value" <<<"$out" || fail "$name is in the environment of a process of $svc"
		out=$(docker exec "$c" env)
		! grep -qF "$value" <<<"$out" || fail "$name is in the environment of $svc"
	done
done
ok "the token key and the password are in no docker inspect and no process environment"
internal=$(docker network ls -q --filter "label=com.docker.compose.project=$project" |
	xargs docker network inspect -f '{{.Internal}} {{range $k, $v := .Containers}}{{$v.Name}} {{end}}' | grep '^true' || true)
grep -q postgres <<<"$internal" && grep -q smtp-sink <<<"$internal" ||
	fail "the database and the sink are not on an internal network: $internal"
ok "the database and the sink are on an internal network only"

# ---- the HTTP e2e's bank and game cases, through the published port ------
phase "e2e"
pg=$(cid postgres)
export PGBANK_ROOT PGBANK_RUN PGBANK_PGPORT PGBANK_DBNAME PGBANK_WEB_ROLE PGBANK_OSUSER PG_CONFIG
: >"$logs/images-e2e.log"
for t in users accounts email games; do
	if ! PGBANK_E2E_URL=$base_url PGBANK_E2E_PSQL="docker exec -i $pg psql -U postgres -d $PGBANK_DBNAME" \
		python3 "regress/http/test_$t.py" >>"$logs/images-e2e.log" 2>&1; then
		grep '^FAIL' "$logs/images-e2e.log" | head -n 20
		fail "the e2e's $t cases (see $logs/images-e2e.log)"
	fi
done
ok "e2e: $(grep -c '^ok' "$logs/images-e2e.log") bank and game cases through $base_url"

# ---- the gRPC front, through its published port ------------------------------
phase "grpc"
/usr/bin/python3 regress/grpc/probe.py "127.0.0.1:$grpc_port" >"$logs/images-grpc.log" 2>&1 ||
	{ cat "$logs/images-grpc.log"; fail "the gRPC front through 127.0.0.1:$grpc_port"; }
ok "gRPC: $(cat "$logs/images-grpc.log")"

# ---- the verification email --------------------------------------------------
phase "email"
sink=$(cid smtp-sink)
mail_file() { docker exec "$sink" grep -lx "X-Envelope-To: $mail_user@example.com"$'\r' -r /var/mail/pgbank 2>/dev/null | head -n 1; }
while [ -z "$(mail_file)" ]; do
	[ $((SECONDS - mail_sent)) -lt 150 ] || fail "no email for $mail_user in the sink after 150s"
	sleep 2
done
say "the email reached the sink $((SECONDS - mail_sent))s after the user was created"
link=$(docker exec "$sink" cat "$(mail_file)" | grep -o "$base_url/v1/verify_email?email_id=[0-9]*&secret_code=[A-Za-z0-9_-]*") ||
	fail "no link to $base_url in the email"
[ "$(http GET "${link#"$base_url"}")" = 200 ] && [ "$(json '["is_verified"]')" = True ] ||
	fail "the email's link did not verify: $(cat "$work/body")"
# The sink announces a message once its file is in place: give it a moment.
# (The log is read whole first: `docker logs | grep -q` fails under pipefail
# when grep stops reading a long log before docker logs has written it.)
sink_logs() { docker logs "$sink" 2>&1; }
for _ in $(seq 10); do
	grep -q "for $mail_user@example.com" <<<"$(sink_logs)" && break
	sleep 1
done
grep -q "for $mail_user@example.com" <<<"$(sink_logs)" || fail "the sink does not log the message"
ok "the verification email reached the sink, and its link verifies through the published port"

# ---- data across a restart and a re-created container ----------------------
still_there() {
	[ "$(login "$keep" keep-secret)" = 200 ] || fail "login after $1: $(cat "$work/body")"
	[ "$(http GET "/accounts/$account" '' "$(json '["access_token"]')")" = 200 ] ||
		fail "account $account after $1: $(cat "$work/body")"
}
phase "restart"
compose restart postgres >>"$logs/compose.log" 2>&1
wait_healthy "database restarted"
wait_ready
still_there "docker compose restart"
[ "$(http GET "/accounts/$account" '' "$token")" = 200 ] || fail "the token from before the restart: $(cat "$work/body")"
ok "after docker compose restart: the user logs in, the account and the old token are there"

phase "re-create"
compose rm -s -f postgres >>"$logs/compose.log" 2>&1
compose up -d --no-build postgres >>"$logs/compose.log" 2>&1
new_pg=$(cid postgres)
[ -n "$new_pg" ] && [ "$new_pg" != "$pg" ] || fail "the database container was not re-created"
wait_healthy "database re-created"
wait_ready
! grep -q 'pgbank-postgres: initialized' <<<"$(docker logs "$new_pg" 2>&1)" ||
	fail "the re-created container initialized the volume again"
still_there "a re-created container"
ok "a re-created container on the same volume keeps the data, without a second initialization"

# ---- a rotated token key ---------------------------------------------------
phase "key rotation"
old_key=$(cat "$secrets/token_key")
rm "$secrets/token_key"
scripts/gen-secrets.sh "$secrets" >/dev/null
[ "$(cat "$secrets/token_key")" != "$old_key" ] || fail "gen-secrets wrote the same key"
compose restart postgres >>"$logs/compose.log" 2>&1
wait_healthy "database restarted with a new key"
wait_ready
[ "$(docker exec "$new_pg" psql -X -U postgres -d "$PGBANK_DBNAME" -Atc 'SHOW pgbank.token_key')" = "$(cat "$secrets/token_key")" ] ||
	fail "the new key is not in force"
[ "$(http GET "/accounts/$account" '' "$token")" = 401 ] || fail "a token of the old key is still accepted"
still_there "the key rotation"
ok "after the key rotation: old tokens 401, a new login's token works"

# ---- down -v -------------------------------------------------------------------
phase "down"
compose down -v >>"$logs/compose.log" 2>&1
trap - EXIT
rm -rf "$secrets"
left=$(for kind in container network volume; do
	case $kind in container) docker ps -aq --filter "label=com.docker.compose.project=$project" ;;
	*) docker "$kind" ls -q --filter "label=com.docker.compose.project=$project" ;; esac
done)
[ -z "$left" ] || fail "docker compose down -v left: $left"
ok "docker compose down -v left no container, network or volume"
say "done in $((SECONDS - suite_start))s"
