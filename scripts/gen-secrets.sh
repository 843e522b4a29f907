#!/usr/bin/env bash
# Write fresh random secrets into DIR (mode 0600), for docker/compose.yaml
# (DIR = docker/secrets) or the example Kubernetes overlay (DIR =
# k8s/overlays/example/secrets). Existing files are kept, so re-running
# never rotates a key by accident. Both directories are ignored by git.
#
# The directory is 0700 (only you reach the files); the files are 0644,
# because `docker compose` bind-mounts secret files with their host owner
# and mode, and the containers read them as their own non-root users.
set -euo pipefail
dir=${1:?usage: scripts/gen-secrets.sh DIR}
mkdir -p "$dir"
chmod 0700 "$dir"
umask 022
gen() {
	local file=$dir/$1
	if [ -s "$file" ]; then
		echo "gen-secrets: keeping $file"
	else
		head -c "$2" /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file"
		echo "gen-secrets: wrote $file"
	fi
}
gen token_key 32     # pgbank.token_key: 32 bytes as 64 hex characters
gen web_password 24  # password of the pgbank_web role
