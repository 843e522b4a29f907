-- Run after the extension exists, by the local set-up (scripts/setup.sh) and
-- the database image's first start (docker/postgres-entrypoint.sh): the role
-- the HTTP shim connects as, which may call the API functions and nothing
-- else, and every pg_cron job of pgbank (pgbank.schedule_jobs: by name, so
-- running this again changes nothing).
\o /dev/null
SELECT format('CREATE ROLE %I LOGIN', :'web_role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'web_role') \gexec
SELECT pgbank.grant_api(:'web_role');
SELECT pgbank.schedule_jobs();
