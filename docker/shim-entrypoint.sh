#!/usr/bin/env bash
# Entrypoint of the shim image: the database password comes from a mounted
# secret file (compose secret or Kubernetes Secret volume) into libpq's own
# PGPASSWORD, so it is neither in PGBANK_DB nor in the image.
set -euo pipefail
secret=/run/secrets/web_password
if [ -z "${PGPASSWORD:-}" ] && [ -r "$secret" ]; then
	PGPASSWORD=$(cat "$secret")
	export PGPASSWORD
fi
exec /usr/local/bin/pgbank-http "$@"
