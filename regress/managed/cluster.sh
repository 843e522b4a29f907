# Sourced by the managed build's suites (regress/t/07-managed.sh, 08-,
# 09-): managed_cluster DIR makes a second PostgreSQL installation tree in
# DIR/pg (a copy of the PG 15 lib and share directories, as
# /work/tools/worktree.sh makes, without pgbank.so or the C build's
# scripts), installs the managed build there (make managed-install),
# initialises DIR/pgdata and starts it on a socket in DIR (no TCP port) with
# pg_cron preloaded and no pgbank, Debian's pgextwlist allowing pgcrypto
# and pg_cron to a database owner (pg_cron's after-create script grants it
# schema cron, as RDS does for rds_superuser), and cron.database_name =
# CRON_DB (default bank); MANAGED_INSTALL=0 leaves pgbank out. Sets mbin (its bindir) and mpsql (psql as
# postgres, ON_ERROR_STOP); managed_stop stops it.
managed_cluster() {
	mt=$1
	managed_stop
	rm -rf "$mt"
	mkdir -p "$mt/pg/usr/lib/postgresql" "$mt/pg/usr/share/postgresql" "$mt/extwlist/pg_cron"
	cp -a /usr/lib/postgresql/15 "$mt/pg/usr/lib/postgresql/"
	cp -a /usr/share/postgresql/15 "$mt/pg/usr/share/postgresql/"
	mkdir -p "$mt/pg/usr/include" && ln -s /usr/include/postgresql "$mt/pg/usr/include/postgresql"
	rm -f "$mt"/pg/usr/lib/postgresql/15/lib/pgbank.so "$mt"/pg/usr/share/postgresql/15/extension/pgbank*
	mbin=$mt/pg/usr/lib/postgresql/15/bin
	[ "${MANAGED_INSTALL:-1}" = 1 ] && make -s managed-install PG_CONFIG="$mbin/pg_config" >/dev/null
	echo 'GRANT USAGE ON SCHEMA cron TO @database_owner@;' >"$mt/extwlist/pg_cron/after-create.sql"
	[ "$(id -u)" -eq 0 ] && chown -R "$PGBANK_OSUSER" "$mt"
	as_pg "$mbin/initdb" -D "$mt/pgdata" -U postgres --auth=trust --locale=C.UTF-8 \
		--encoding=UTF8 >"$mt/initdb.log"
	cat >>"$mt/pgdata/postgresql.conf" <<EOT
listen_addresses = ''
unix_socket_directories = '$mt'
port = $PGBANK_PGPORT
shared_preload_libraries = 'pg_cron'
cron.database_name = '${CRON_DB:-bank}'
session_preload_libraries = 'pgextwlist'
extwlist.extensions = 'pgcrypto,pg_cron'
extwlist.custom_path = '$mt/extwlist'
timezone = 'UTC'
pgbank.login_throttle_entries = 100
EOT
	as_pg "$mbin/pg_ctl" -D "$mt/pgdata" -l "$mt/postgres.log" -w start >/dev/null
	mpsql=("$mbin/psql" -X -v ON_ERROR_STOP=1 -h "$mt" -p "$PGBANK_PGPORT" -U postgres)
}
managed_stop() {
	if [ -n "${mt:-}" ] && [ -x "$mt/pg/usr/lib/postgresql/15/bin/pg_ctl" ]; then
		as_pg "$mt/pg/usr/lib/postgresql/15/bin/pg_ctl" -D "$mt/pgdata" -m fast -w stop >/dev/null 2>&1 || true
	fi
}

# managed_local_db: in the running managed cluster, the database
# $PGBANK_DBNAME as scripts/setup.sh makes the local one (pg_cron, CREATE
# EXTENSION pgbank CASCADE, scripts/post-install.sql: the API role and the
# jobs), plus the managed build's one step, the token key in
# pgbank.settings; and $mt/logs. Start the cluster with CRON_DB=$PGBANK_DBNAME.
managed_local_db() {
	mkdir -p "$mt/logs" && [ "$(id -u)" -eq 0 ] && chown "$PGBANK_OSUSER" "$mt/logs"
	as_pg "$mbin/createdb" -h "$mt" -p "$PGBANK_PGPORT" -U postgres "$PGBANK_DBNAME"
	as_pg "${mpsql[@]}" -q -d "$PGBANK_DBNAME" -c "CREATE EXTENSION pg_cron" \
		-c "SET client_min_messages = warning" -c "CREATE EXTENSION pgbank CASCADE" \
		-c "INSERT INTO pgbank.settings VALUES ('pgbank.token_key', encode(gen_random_bytes(32), 'hex'))"
	as_pg "${mpsql[@]}" -q -d "$PGBANK_DBNAME" -f scripts/post-install.sql -v web_role="$PGBANK_WEB_ROLE"
}
