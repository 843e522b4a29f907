#!/usr/bin/env bash
# Entrypoint of the shim image: the database password comes from a mounted
# secret file (compose secret or Kubernetes Secret volume). It is copied into
# a libpq password file that only this user reads, and libpq is pointed at
# it (PGPASSFILE), so the password is neither in PGBANK_DB, nor in the image,
# nor in any process's environment. The file is under $TMPDIR (default
# /tmp): a read-only root file system needs a writable volume there.
set -euo pipefail
secret=/run/secrets/web_password
if [ -z "${PGPASSWORD:-}" ] && [ -z "${PGPASSFILE:-}" ] && [ -r "$secret" ]; then
	PGPASSFILE=${TMPDIR:-/tmp}/pgbank.pgpass
	# Any host, port, database and user; ':' and '\' in the password escaped.
	(umask 077 && printf '*:*:*:*:%s\n' "$(tr -d '\r\n' <"$secret" | sed 's/[\\:]/\\&/g')" >"$PGPASSFILE")
	export PGPASSFILE
fi
exec /usr/local/bin/pgbank-http "$@"
