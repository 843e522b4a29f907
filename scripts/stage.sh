#!/usr/bin/env bash
# Make a private, relocated copy of the system's PostgreSQL 15 in DIR and
# print the path of its pg_config. With PG_CONFIG set to it, `make install`
# and `make test` use the copy, so several checkouts can build, install and
# test side by side without touching the system installation.
set -euo pipefail
dir=${1:?usage: scripts/stage.sh DIR}
if [ ! -x "$dir/usr/lib/postgresql/15/bin/pg_config" ]; then
	mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql" "$dir/usr/include"
	cp -a /usr/lib/postgresql/15 "$dir/usr/lib/postgresql/"
	cp -a /usr/share/postgresql/15 "$dir/usr/share/postgresql/"
	cp -a /usr/include/postgresql "$dir/usr/include/"
	chmod -R a+rX "$dir"
fi
echo "$dir/usr/lib/postgresql/15/bin/pg_config"
