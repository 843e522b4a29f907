#!/usr/bin/env bash
# CREATE EXTENSION pgbank on a server that does not preload pgbank: a clear
# ERROR (55000) that says what to configure, and the session goes on; no
# FATAL, no half-created extension. Then, configured as the hint says, the
# same server creates the extension. A throwaway cluster in .run/no-preload,
# listening on a socket there only, no TCP port.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

bin=$(pg_bindir)
t=$PGBANK_RUN/no-preload
psql=("$bin/psql" -X -h "$t" -p "$PGBANK_PGPORT" -U postgres -d postgres)
fail() { echo "FAIL: $*"; exit 1; }
stop() { as_pg "$bin/pg_ctl" -D "$t/data" -m immediate -w stop >/dev/null 2>&1 || true; }
trap stop EXIT

rm -rf "$t"
mkdir -p "$t"
[ "$(id -u)" -eq 0 ] && chown "$PGBANK_OSUSER" "$t"
as_pg "$bin/initdb" -D "$t/data" -U postgres --auth=trust --locale=C.UTF-8 \
	--encoding=UTF8 >"$t/initdb.log"
start() {
	as_pg "$bin/pg_ctl" -D "$t/data" -l "$t/postgres.log" -w \
		-o "-c listen_addresses= -c unix_socket_directories=$t -p $PGBANK_PGPORT $*" start >/dev/null
}

echo "== without pgbank in shared_preload_libraries"
start "-c shared_preload_libraries="
out=$(as_pg "${psql[@]}" -v VERBOSITY=verbose -c 'CREATE EXTENSION pgbank' \
	-c "SELECT 'session still open' AS after" -c 'LOAD $$pgbank$$' 2>&1 || true)
echo "$out"
echo "$out" | grep -q 'FATAL' && fail "the session ended with FATAL"
echo "$out" | grep -q '^ERROR:  55000: pgbank must be loaded via shared_preload_libraries' ||
	fail "CREATE EXTENSION did not fail with 55000 and the message"
echo "$out" | grep -q '^HINT:  Add pgbank to shared_preload_libraries' || fail "no hint on what to configure"
echo "$out" | grep -q 'session still open' || fail "the session did not go on after the error"
[ "$(echo "$out" | grep -c 'pgbank must be loaded via shared_preload_libraries')" -eq 2 ] ||
	fail "LOAD after the failed CREATE EXTENSION did not fail the same way"
n=$(as_pg "${psql[@]}" -tA -c "SELECT count(*) FROM pg_extension WHERE extname = 'pgbank'")
[ "$n" -eq 0 ] || fail "the extension exists after the failed CREATE EXTENSION"
grep -q 'FATAL' "$t/postgres.log" && fail "the server log has a FATAL: $(grep FATAL "$t/postgres.log")"
as_pg "$bin/pg_ctl" -D "$t/data" -m fast -w stop >/dev/null

echo "== with pgbank preloaded, as the hint says"
start "-c shared_preload_libraries=pgbank"
as_pg "${psql[@]}" -v ON_ERROR_STOP=1 -q -c 'CREATE EXTENSION pgbank'
v=$(as_pg "${psql[@]}" -tA -c "SELECT extversion FROM pg_extension WHERE extname = 'pgbank'")
echo "created pgbank $v"
[ "$v" = "$PGBANK_VERSION" ] || fail "pgbank $PGBANK_VERSION was not created with the preload"
echo "ok"
