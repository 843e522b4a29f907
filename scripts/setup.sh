#!/usr/bin/env bash
# Set up everything pgbank needs on a Debian 12 machine, as root: packages,
# build and install, a PostgreSQL cluster inside the checkout (.run/) that
# runs as the postgres user with pg_cron and pgbank preloaded, the database
# and the extension. Safe and fast to re-run.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$PGBANK_ROOT"

# What building needs (the images' build stage installs only these), then
# what running and testing needs.
BUILD_PACKAGES=(
	gcc make pkg-config ca-certificates python3
	postgresql-server-dev-15 libpq-dev
	libsodium-dev libmicrohttpd-dev libcurl4-openssl-dev
	libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev libjansson-dev
	protobuf-compiler grpc-proto
)
PACKAGES=(
	"${BUILD_PACKAGES[@]}" curl jq postgresql-15 postgresql-15-cron postgresql-15-pgextwlist
	python3-aiosmtpd wrk yamllint python3-yaml libipc-run-perl
	protobuf-compiler-grpc python3-grpcio python3-protobuf nghttp2-client libasan8
	chromium
)
# npm from Debian only where there is none: a machine may have Node.js from
# elsewhere (NodeSource's nodejs carries npm, and conflicts with Debian's).
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

log() { printf 'setup: %s\n' "$*"; }

install_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		log "missing packages (${missing[*]}); run as root to install them" >&2
		exit 1
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build_and_install() {
	make -s all
	if [ "$(id -u)" -eq 0 ]; then
		make -s install >/dev/null
	fi
}

# `setup.sh --packages PKG...`: install those that are missing, no more
# (the suites that need more than the tests' packages call this).
if [ "${1:-}" = --packages ]; then
	shift
	install_packages "$@"
	exit 0
fi

# `setup.sh --build-packages`: only what building needs. The images' build
# stage (docker/Dockerfile) runs this before copying the sources, so the
# layer is cached until the package list changes.
if [ "${1:-}" = --build-packages ]; then
	install_packages "${BUILD_PACKAGES[@]}"
	exit 0
fi

# PostgreSQL runs as an unprivileged user, which must reach the checkout.
prepare_rundir() {
	local d=$PGBANK_ROOT
	while [ "$d" != / ]; do
		if ! as_pg test -x "$d"; then
			log "granting $PGBANK_OSUSER search permission on $d"
			chmod o+x "$d"
		fi
		d=$(dirname "$d")
	done
	mkdir -p "$PGBANK_RUN"
	[ "$(id -u)" -eq 0 ] && chown "$PGBANK_OSUSER" "$PGBANK_RUN"
	return 0
}

init_cluster() {
	[ -f "$PGDATA_DIR/PG_VERSION" ] && return 0
	log "creating cluster in $PGDATA_DIR"
	as_pg "$(pg_bindir)/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust \
		--locale=C.UTF-8 --encoding=UTF8 >"$PGBANK_RUN/initdb.log"
	# Secret keys for tokens, readable only by the server's OS user.
	as_pg bash -c "umask 077 && cat > '$PGDATA_DIR/pgbank_keys.conf'" <<-KEYS
	pgbank.token_key = '$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')'
	KEYS
	# pgbank's settings come from the checkout's config/pgbank.conf (edit it,
	# then restart); only what is this cluster's own is written here.
	as_pg bash -c "cat >> '$PGDATA_DIR/postgresql.conf'" <<-CONF

	# --- pgbank local cluster ---
	include '$PGBANK_ROOT/config/pgbank.conf'
	port = $PGBANK_PGPORT
	listen_addresses = '127.0.0.1'
	unix_socket_directories = '$PGBANK_RUN'
	max_connections = 200
	cron.database_name = '$PGBANK_DBNAME'
	include_if_exists = 'pgbank_keys.conf'
	include_if_exists = 'pgbank_local.conf'
	CONF
}

# The server must run the pgbank.so that is installed now: it is preloaded.
start_cluster() {
	local so sum
	so="$("$PG_CONFIG" --pkglibdir)/pgbank.so"
	sum=$(sha256sum "$so" | cut -d' ' -f1)
	if as_pg "$(pg_bindir)/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
		[ "$(cat "$PGBANK_RUN/pgbank.so.sum" 2>/dev/null)" = "$sum" ] && return 0
		log "pgbank.so changed: restarting the cluster"
		as_pg "$(pg_bindir)/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null
	fi
	as_pg "$(pg_bindir)/pg_ctl" -D "$PGDATA_DIR" -l "$PGBANK_RUN/postgres.log" -w start >/dev/null
	echo "$sum" | as_pg tee "$PGBANK_RUN/pgbank.so.sum" >/dev/null
}

# The extension is recreated when its install script changed: this cluster
# is for development and tests, not for keeping data.
create_database() {
	local sum psql=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1)
	sum=$(sha256sum "build/pgbank--$PGBANK_VERSION.sql" | cut -d' ' -f1)
	as_pg "${psql[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PGBANK_DBNAME'" |
		grep -q 1 || as_pg "$(pg_bindir)/createdb" "$PGBANK_DBNAME"
	if [ "$(cat "$PGBANK_RUN/extension.sum" 2>/dev/null)" != "$sum" ]; then
		log "installing extension pgbank"
		as_pg "${psql[@]}" -c 'DROP EXTENSION IF EXISTS pgbank CASCADE' 2>/dev/null
		as_pg "${psql[@]}" -c 'CREATE EXTENSION pg_cron' 2>/dev/null || true
		as_pg "${psql[@]}" -c 'CREATE EXTENSION pgbank CASCADE'
		echo "$sum" | as_pg tee "$PGBANK_RUN/extension.sum" >/dev/null
	fi
	# The API role and every pg_cron job, as the image's first start does.
	as_pg "${psql[@]}" -f scripts/post-install.sql -v web_role="$PGBANK_WEB_ROLE"
}

# What the shim serves at /swagger/ (swagger-ui-dist, pinned in
# scripts/swagger-ui.sh) and what drives the browser in regress/t/32-web.sh
# (playwright-core, pinned in regress/web/package.json), from the npm
# registry, without their install scripts. Neither is committed.
web_packages() {
	scripts/swagger-ui.sh
	[ -f regress/web/node_modules/playwright-core/package.json ] ||
		npm install --prefix regress/web --ignore-scripts --no-audit --no-fund --no-package-lock --silent
}

install_packages "${PACKAGES[@]}"
web_packages
build_and_install
prepare_rundir
init_cluster
start_cluster
create_database
log "ready: psql -h $PGBANK_RUN -p $PGBANK_PGPORT -U postgres $PGBANK_DBNAME"
