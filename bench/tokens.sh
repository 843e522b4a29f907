#!/usr/bin/env bash
# Token verification throughput, in SQL, on the local cluster that
# `make test` (scripts/setup.sh) prepared: N tokens are made first into
# temporary tables, then each verifier checks all N in one statement,
# timed inside the server (clock_timestamp), best of R runs:
#   - pgbank.token_verify with pgbank.token_format = paseto (v4.local)
#   - pgbank.token_verify with pgbank.token_format = jwt (HS256)
#   - pgbank.jwt_hs256_verify (the raw JWT check, no payload parsing)
#   - a baseline: HS256 JWT verification in plain SQL with pgcrypto's
#     hmac() (base64url by translate, alg and exp checked, signature
#     compared with =)
# Prints rows per second for each and each one's ratio to the baseline.
# Usage: bench/tokens.sh [N] [R]      (defaults 20000 and 3)
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$PGBANK_ROOT"

N=${1:-20000}
R=${2:-3}
case "$N$R" in *[!0-9]*) echo "usage: bench/tokens.sh [N] [R]" >&2; exit 2 ;; esac

as_pg "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -v n="$N" -v r="$R" <<'SQL'
\pset footer off
SET client_min_messages = warning;
-- pgcrypto is only for the baseline; keep it if it was there already
SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto') AS drop_pgcrypto \gset
CREATE EXTENSION IF NOT EXISTS pgcrypto;

SET pgbank.token_format = paseto;
CREATE TEMP TABLE bench_paseto AS
	SELECT t.token FROM generate_series(1, :n) g,
	       LATERAL pgbank.token_issue('bench_user_' || g % 100, ARRAY['depositor'], interval '1 hour') t;
SET pgbank.token_format = jwt;
CREATE TEMP TABLE bench_jwt AS
	SELECT t.token FROM generate_series(1, :n) g,
	       LATERAL pgbank.token_issue('bench_user_' || g % 100, ARRAY['depositor'], interval '1 hour') t;
ANALYZE bench_paseto;
ANALYZE bench_jwt;

-- Rows per second of a statement returning the number of tokens it
-- accepted, best of :r runs; every run must accept all :n tokens.
CREATE FUNCTION pg_temp.rate(format text, q text, runs int, expected bigint)
	RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz;
	secs float8;
	best float8 := 0;
	accepted bigint;
BEGIN
	PERFORM set_config('pgbank.token_format', format, true);
	FOR i IN 1..runs LOOP
		t0 := clock_timestamp();
		EXECUTE q INTO accepted;
		secs := extract(epoch FROM clock_timestamp() - t0);
		IF accepted <> expected THEN
			RAISE EXCEPTION 'verifier accepted % of % tokens: %', accepted, expected, q;
		END IF;
		best := greatest(best, expected / secs);
	END LOOP;
	RETURN round(best::numeric);
END
$$;

-- The key is read in the statements (as a superuser), never put in their text.
CREATE TEMP TABLE bench_key AS SELECT decode(current_setting('pgbank.token_key'), 'hex') AS k;
CREATE TEMP TABLE bench_result (verifier text, rows_per_second numeric);
BEGIN;
INSERT INTO bench_result SELECT 'paseto v4.local: token_verify',
	pg_temp.rate('paseto', 'SELECT count(c.username) FROM bench_paseto b, LATERAL pgbank.token_verify(b.token) c', :r, :n);
INSERT INTO bench_result SELECT 'jwt hs256: token_verify',
	pg_temp.rate('jwt', 'SELECT count(c.username) FROM bench_jwt b, LATERAL pgbank.token_verify(b.token) c', :r, :n);
INSERT INTO bench_result SELECT 'jwt hs256: jwt_hs256_verify',
	pg_temp.rate('jwt', 'SELECT count(pgbank.jwt_hs256_verify(b.token, k.k)) FROM bench_jwt b, bench_key k', :r, :n);
INSERT INTO bench_result SELECT 'jwt hs256: plain SQL + pgcrypto',
	pg_temp.rate('jwt', $q$
	SELECT count(*)
	  FROM bench_jwt b, bench_key k,
	       LATERAL (SELECT split_part(b.token, '.', 1) AS h, split_part(b.token, '.', 2) AS p,
	                       split_part(b.token, '.', 3) AS s) x,
	       LATERAL (SELECT convert_from(decode(translate(x.h, '-_', '+/')
	                         || repeat('=', (4 - length(x.h) % 4) % 4), 'base64'), 'UTF8')::json AS header,
	                       convert_from(decode(translate(x.p, '-_', '+/')
	                         || repeat('=', (4 - length(x.p) % 4) % 4), 'base64'), 'UTF8')::json AS claims) d
	 WHERE b.token ~ '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$'
	   AND hmac(convert_to(x.h || '.' || x.p, 'UTF8'), k.k, 'sha256')
	       = decode(translate(x.s, '-_', '+/') || repeat('=', (4 - length(x.s) % 4) % 4), 'base64')
	   AND d.header->>'alg' = 'HS256'
	   AND (d.claims->>'exp')::numeric > extract(epoch FROM statement_timestamp())
	$q$, :r, :n);
COMMIT;

\echo
\echo Token verification: :n tokens per statement, best of :r runs
SELECT verifier, rows_per_second,
       round(rows_per_second / (SELECT rows_per_second FROM bench_result
                                 WHERE verifier LIKE '%pgcrypto'), 2) AS ratio_to_pgcrypto
  FROM bench_result;

\if :drop_pgcrypto
DROP EXTENSION pgcrypto;
\endif
SQL
