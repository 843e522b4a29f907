#!/usr/bin/env bash
# Login must not tell by its time whether a user exists: on the cluster
# scripts/setup.sh prepared, with its real Argon2id cost, the median time
# of a login of a username that does not exist (P0002) and of a wrong
# password (28P01) are within a factor of 3 of each other. (Without the
# dummy hash the unknown user answered in about a thousandth of the time.)
# Attempts alternate in one session, after one warm-up of each, and the
# user's throttle is cleared after each wrong password.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

fail() { echo "FAIL: $*"; exit 1; }
u=timing_$$_$(date +%s)
out=$("$(pg_bindir)/psql" -X -q -tA -F ' ' -v ON_ERROR_STOP=1 <<-SQL
	SELECT 1 FROM pgbank.create_user('$u', 'right-password', 'T', '$u@example.com') \\g /dev/null
	-- milliseconds one failing login takes
	CREATE FUNCTION pg_temp.login_ms(username text) RETURNS float8 LANGUAGE plpgsql AS \$\$
	DECLARE
		start timestamptz := clock_timestamp();
	BEGIN
		BEGIN
			PERFORM pgbank.login(username, 'wrong-password');
			RAISE 'login of % did not fail', username;
		EXCEPTION WHEN no_data_found OR invalid_password THEN
			NULL;
		END;
		PERFORM pgbank.login_throttle_clear(username);
		RETURN extract(epoch FROM clock_timestamp() - start) * 1000;
	END
	\$\$;
	SELECT pg_temp.login_ms('nobody_$u') + pg_temp.login_ms('$u') \\g /dev/null
	WITH t AS MATERIALIZED (
		SELECT pg_temp.login_ms('nobody_$u') AS unknown, pg_temp.login_ms('$u') AS wrong
		  FROM generate_series(1, 9))
	SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY unknown)::numeric, 2),
	       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY wrong)::numeric, 2),
	       current_setting('pgbank.argon2_opslimit'), current_setting('pgbank.argon2_memlimit')
	  FROM t;
	DELETE FROM pgbank.users WHERE username = '$u';
	SQL
)
read -r unknown wrong ops mem <<<"$out"
echo "Argon2id cost: opslimit $ops, memlimit $mem"
echo "median login time: unknown user $unknown ms, wrong password $wrong ms"
awk -v a="$unknown" -v b="$wrong" 'BEGIN { r = a / b; exit !(r > 1 / 3 && r < 3) }' ||
	fail "unknown user $unknown ms and wrong password $wrong ms are more than a factor 3 apart"
echo "ok: ratio $(awk -v a="$unknown" -v b="$wrong" 'BEGIN { printf "%.2f", a / b }')"
