# Shared settings for the set-up, run and test scripts (sourced, not run).
# Everything can be overridden from the environment.
PGBANK_ROOT=${PGBANK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PGBANK_RUN=${PGBANK_RUN:-$PGBANK_ROOT/.run}
PGBANK_PGPORT=${PGBANK_PGPORT:-5433}
PGBANK_DBNAME=${PGBANK_DBNAME:-pgbank}
PGBANK_OSUSER=${PGBANK_OSUSER:-postgres}
PGBANK_WEB_ROLE=${PGBANK_WEB_ROLE:-pgbank_web}
PG_CONFIG=${PG_CONFIG:-pg_config}
PGDATA_DIR=$PGBANK_RUN/pgdata
# The version being built: pgbank.control's default_version.
PGBANK_VERSION=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" "$PGBANK_ROOT/pgbank.control")

export PGHOST=$PGBANK_RUN PGPORT=$PGBANK_PGPORT PGDATABASE=$PGBANK_DBNAME PGUSER=postgres

# Run a command as the unprivileged OS user PostgreSQL runs as.
as_pg() {
	if [ "$(id -un)" = "$PGBANK_OSUSER" ]; then
		"$@"
	else
		runuser -u "$PGBANK_OSUSER" -- env PATH="$PATH" PGHOST="$PGHOST" PGPORT="$PGPORT" \
			PGDATABASE="$PGDATABASE" PGUSER="$PGUSER" PG_CONFIG="$PG_CONFIG" "$@"
	fi
}

pg_bindir() { "$PG_CONFIG" --bindir; }
