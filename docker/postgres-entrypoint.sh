#!/usr/bin/env bash
# Entrypoint of the database image (docker/Dockerfile, target postgres): runs as the
# postgres user (uid 999). Arguments are passed to `postgres`, so settings
# can be given as `-c name=value` (compose `command:`, Kubernetes `args:`).
#
# First start on an empty volume: initdb, pgbank's server settings (an
# include of config/pgbank.conf, installed in $SHARE_DIR), the database
# `pgbank`, the extensions, the API role `pgbank_web` and the pg_cron jobs
# through the same scripts/post-install.sql the local set-up runs, and the
# role's password from a secret. Every start: the secret settings are written from
# /run/secrets to a file outside the data directory (so base backups and
# volume snapshots do not carry the token key) that postgresql.conf includes.
#
# Secret files (compose secrets, or a Kubernetes Secret volume):
#   /run/secrets/token_key      64 hex characters: pgbank.token_key (required)
#   /run/secrets/web_password   password of pgbank_web (required on first start)
#   /run/secrets/smtp_username, smtp_password
#                               SMTP credentials (optional; pgbank.smtp_url
#                               must not hold them)
set -euo pipefail

: "${PGDATA:?PGDATA must be set}"
# The paths can be moved (regress/t/41-image-init.sh runs this script
# outside a container); the image uses the defaults.
secrets=${SECRETS_DIR:-/run/secrets}
sockets=${SOCKET_DIR:-/var/run/postgresql}
share=${SHARE_DIR:-/usr/share/pgbank}
dbname=pgbank
web_role=pgbank_web
runtime_conf=$sockets/pgbank-secrets.conf

die() { printf 'pgbank-postgres: %s\n' "$*" >&2; exit 1; }

read_secret() {
	[ -e "$secrets/$1" ] || die "missing secret file $secrets/$1 (see docs/operations.md)"
	[ -r "$secrets/$1" ] || die "secret file $secrets/$1 is not readable by uid $(id -u)"
	tr -d '\r\n' <"$secrets/$1"
}

token_key=$(read_secret token_key)
[[ $token_key =~ ^[0-9a-fA-F]{64}$ ]] || die "secret token_key must be 64 hex characters"

# The first start marks its end, so that a failed one is not taken for a
# finished one at the next start.
done_marker=$PGDATA/pgbank-initialized
first_start=false
if [ -s "$PGDATA/PG_VERSION" ] && [ ! -e "$done_marker" ]; then
	die "$PGDATA holds a cluster whose initialization did not finish; remove it and start again"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	first_start=true
	read_secret web_password >/dev/null
	initdb -D "$PGDATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
		--encoding=UTF8 --locale=C.UTF-8 >/dev/null
	echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
	# pgbank's settings are the image's config/pgbank.conf (so a new image
	# brings its own); only what is this server's own is written here.
	cat >>"$PGDATA/postgresql.conf" <<-CONF

	# --- pgbank (docker/postgres-entrypoint.sh) ---
	include '$share/pgbank.conf'
	listen_addresses = '*'
	include_if_exists = '$runtime_conf'
	CONF
fi

# Secret settings, readable by this user only, rewritten at every start so
# that rotating a secret is: change the secret, restart.
(
	umask 077
	{
		printf "pgbank.token_key = '%s'\n" "$token_key"
		if [ -e "$secrets/smtp_username" ]; then
			printf "pgbank.smtp_username = '%s'\n" "$(read_secret smtp_username | sed "s/'/''/g")"
		fi
		if [ -e "$secrets/smtp_password" ]; then
			printf "pgbank.smtp_password = '%s'\n" "$(read_secret smtp_password | sed "s/'/''/g")"
		fi
	} >"$runtime_conf"
)

if $first_start; then
	pg_ctl -D "$PGDATA" -w -l "$sockets/init.log" \
		-o "-c listen_addresses='' -c unix_socket_directories='$sockets'" start >/dev/null
	psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$sockets" -U postgres)
	"${psql[@]}" -d postgres -c "CREATE DATABASE $dbname"
	"${psql[@]}" -d "$dbname" -c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION pgbank CASCADE'
	# The API role and every pg_cron job, as the local set-up has them.
	"${psql[@]}" -d "$dbname" -v web_role="$web_role" -f "$share/post-install.sql"
	# The password is read by psql from the file, never put on a command line.
	"${psql[@]}" -d "$dbname" -v web_role="$web_role" <<-SQL
	\set web_password \`tr -d '\\r\\n' <$secrets/web_password\`
	ALTER ROLE :"web_role" LOGIN PASSWORD :'web_password';
	SQL
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	touch "$done_marker"
	echo "pgbank-postgres: initialized $PGDATA (database $dbname, role $web_role)"
fi

exec postgres -D "$PGDATA" "$@"
