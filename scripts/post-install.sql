-- Run by scripts/setup.sh after the extension exists: the role the HTTP shim
-- connects as, which may call the API functions and nothing else.
\o /dev/null
SELECT format('CREATE ROLE %I LOGIN', :'web_role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'web_role') \gexec
SELECT pgbank.grant_api(:'web_role');
-- Identity upkeep: expired access-token rows and long-expired sessions
-- (docs/identity.md). cron.schedule with a job name replaces the old job.
SELECT cron.schedule('pgbank-purge-sessions', '17 * * * *',
	'SELECT pgbank.purge_expired_sessions()');
