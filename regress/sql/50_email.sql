-- Email verification: codes and messages written with the user,
-- pgbank.verify_email and its errors, outbox delivery bookkeeping.
-- Users here end in @em.test; SMTP servers are unreachable on purpose
-- (regress/t/20-email.sh delivers to a real one).
\i regress/include/setup.sql

-- === codes ===
SELECT pgbank.new_secret_code() ~ '^[A-Za-z0-9_-]{43}$' AS base64url_43,
       pgbank.new_secret_code() <> pgbank.new_secret_code() AS random;
SELECT pgbank.secret_code_matches('abc', 'abc') AS same,
       pgbank.secret_code_matches('abc', 'abd') AS differ,
       pgbank.secret_code_matches('abc', 'abcd') AS longer,
       pgbank.secret_code_matches('', '') AS both_empty;

-- === a new user gets a code and a message, in the same transaction ===
SELECT username FROM pgbank.create_user('em_alice', 'secret1', 'Alice Mail', 'alice@em.test');
SELECT v.id AS alice_ve, v.secret_code AS alice_code
  FROM pgbank.verify_emails v WHERE v.username = 'em_alice' \gset
SELECT v.email, v.is_used, length(v.secret_code) AS code_length,
       v.expired_at - v.created_at AS ttl, v.created_at = u.created_at AS same_transaction
  FROM pgbank.verify_emails v JOIN pgbank.users u USING (username)
 WHERE v.id = :alice_ve;
SELECT o.kind, o.recipient, o.subject, o.status, o.attempts, o.last_error, o.sent_at,
       o.next_attempt_at = o.created_at AS due_at_once,
       o.payload = jsonb_build_object('verify_email_id', :alice_ve, 'username', 'em_alice') AS payload_ok,
       position(format('http://127.0.0.1:8080/v1/verify_email?email_id=%s&secret_code=%s',
                       :alice_ve, :'alice_code') IN o.body) > 0 AS has_link,
       o.body LIKE 'Hello Alice Mail,%' AS greets
  FROM pgbank.outbox o WHERE o.recipient = 'alice@em.test';
-- a user that is not created leaves neither a code nor a message
SELECT count(*) AS codes_before FROM pgbank.verify_emails \gset
SELECT pgbank.create_user('em_alice', 'secret1', 'Again', 'alice2@em.test');
SELECT pgbank.create_user('em_alice2', 'secret1', 'Again', 'alice@em.test');
SELECT count(*) - :codes_before AS new_codes FROM pgbank.verify_emails;
SELECT count(*) AS messages FROM pgbank.outbox WHERE recipient = 'alice2@em.test';

-- the link's base URL and the lifetime are settings
BEGIN;
SET LOCAL pgbank.public_url = 'https://bank.example/api/';
SET LOCAL pgbank.verify_email_ttl = '1h';
SELECT username FROM pgbank.create_user('em_bob', 'secret2', 'Bob Mail', 'bob@em.test');
SELECT v.expired_at - v.created_at AS ttl,
       o.body LIKE format('%%https://bank.example/api/v1/verify_email?email_id=%s&secret_code=%s%%',
                          v.id, v.secret_code) AS has_link
  FROM pgbank.verify_emails v JOIN pgbank.outbox o ON o.recipient = v.email
 WHERE v.username = 'em_bob';
ROLLBACK;
SET pgbank.public_url = 'ftp://bank.example';
SET pgbank.verify_email_ttl = 0;

-- === a new address gets a new code and is not verified ===
UPDATE pgbank.users SET is_email_verified = true WHERE username = 'em_alice';
UPDATE pgbank.users SET full_name = 'Alice M.' WHERE username = 'em_alice';
UPDATE pgbank.users SET email = 'alice@em.test' WHERE username = 'em_alice';
SELECT count(*) AS codes, bool_and(u.is_email_verified) AS still_verified
  FROM pgbank.verify_emails v JOIN pgbank.users u USING (username)
 WHERE v.username = 'em_alice';
UPDATE pgbank.users SET email = 'alice.new@em.test' WHERE username = 'em_alice';
SELECT u.is_email_verified, count(v.*) AS codes,
       (SELECT count(*) FROM pgbank.outbox o WHERE o.recipient = 'alice.new@em.test') AS messages
  FROM pgbank.users u JOIN pgbank.verify_emails v USING (username)
 WHERE u.username = 'em_alice' GROUP BY u.is_email_verified;
SELECT v.id AS alice_new_ve, v.secret_code AS alice_new_code
  FROM pgbank.verify_emails v
 WHERE v.username = 'em_alice' AND v.email = 'alice.new@em.test' \gset

-- === a changed password or address is announced to the old address ===
SELECT username FROM pgbank.create_user('em_pat', 'secret1', 'Pat', 'pat@em.test');
-- however the change is made (here: directly)
UPDATE pgbank.users SET hashed_password = pgbank.hash_password('secret2') WHERE username = 'em_pat';
UPDATE pgbank.users SET full_name = 'Pat P' WHERE username = 'em_pat';
UPDATE pgbank.users SET email = 'pat@em2.test' WHERE username = 'em_pat';
UPDATE pgbank.users SET email = 'pat@em3.test', hashed_password = pgbank.hash_password('secret3')
 WHERE username = 'em_pat';
SELECT recipient, subject, body, payload - 'username' AS changed
  FROM pgbank.outbox WHERE payload ->> 'username' = 'em_pat' AND kind = 'account_changed' ORDER BY id;
-- each new address got its own verification, as before
SELECT recipient FROM pgbank.outbox
 WHERE payload ->> 'username' = 'em_pat' AND kind = 'verify_email' ORDER BY id;

-- === verify_email ===
SELECT p.prosecdef AS security_definer, p.proconfig AS settings
  FROM pg_proc p WHERE p.oid = 'pgbank.verify_email(bigint, text)'::regprocedure;
-- invalid input names the field
SELECT pgbank.verify_email(NULL, :'alice_new_code');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbank.verify_email(0, :'alice_new_code');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbank.verify_email(:alice_new_ve, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgbank.verify_email(:alice_new_ve, 'short');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbank.verify_email(:alice_new_ve, repeat('x', 129));
\echo :LAST_ERROR_SQLSTATE
-- unknown id
SELECT pgbank.verify_email(9223372036854775807, :'alice_new_code');
\echo :LAST_ERROR_SQLSTATE
-- wrong code: another valid code, and one character changed
SELECT pgbank.verify_email(:alice_new_ve, :'alice_code');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbank.verify_email(:alice_new_ve,
       left(:'alice_new_code', 42) || CASE right(:'alice_new_code', 1) WHEN 'A' THEN 'B' ELSE 'A' END);
\echo :LAST_ERROR_SQLSTATE
-- a code for the address the user had before
SELECT pgbank.verify_email(:alice_ve, :'alice_code');
\echo :LAST_ERROR_SQLSTATE
SELECT is_email_verified FROM pgbank.users WHERE username = 'em_alice';
-- the right code verifies, once
SELECT pgbank.verify_email(:alice_new_ve, :'alice_new_code');
SELECT u.is_email_verified, v.is_used
  FROM pgbank.users u JOIN pgbank.verify_emails v USING (username)
 WHERE v.id = :alice_new_ve;
SELECT pgbank.verify_email(:alice_new_ve, :'alice_new_code');
\echo :LAST_ERROR_SQLSTATE
-- a wrong code for a used row is still just wrong: state is shown only to the code's holder
SELECT pgbank.verify_email(:alice_new_ve, :'alice_code');
\echo :LAST_ERROR_SQLSTATE
-- expired
SELECT username FROM pgbank.create_user('em_carol', 'secret3', 'Carol Mail', 'carol@em.test');
SELECT v.id AS carol_ve, v.secret_code AS carol_code
  FROM pgbank.verify_emails v WHERE v.username = 'em_carol' \gset
UPDATE pgbank.verify_emails SET expired_at = now() - interval '1 second' WHERE id = :carol_ve;
SELECT pgbank.verify_email(:carol_ve, :'carol_code');
\echo :LAST_ERROR_SQLSTATE
SELECT is_email_verified FROM pgbank.users WHERE username = 'em_carol';

-- === delivery bookkeeping, against a port where no SMTP server listens ===
-- In one transaction, with every other message put out of reach, so the
-- runner sees only this file's rows; deliver_outbox claims, tries and
-- records in the caller's transaction.
SELECT username FROM pgbank.create_user('em_dave', 'secret4', 'Dave Mail', 'dave@em.test');
SELECT id AS dave_msg FROM pgbank.outbox WHERE recipient = 'dave@em.test' \gset
BEGIN;
UPDATE pgbank.outbox SET next_attempt_at = 'infinity'
 WHERE status IN ('pending', 'sending') AND id <> :dave_msg;
SET LOCAL pgbank.smtp_url = 'smtp://127.0.0.1:9';
SET LOCAL pgbank.smtp_connect_timeout = '2s';
SET LOCAL pgbank.outbox_backoff = '10s';
SET LOCAL pgbank.outbox_max_attempts = 3;
SELECT pgbank.deliver_outbox() AS sent;
-- attempt 1 failed: pending again, retried after the base delay
SELECT status, attempts, last_error LIKE 'Couldn''t connect to server%' AS error_kept,
       next_attempt_at - now() BETWEEN interval '10 s' AND interval '20 s' AS backoff_10s,
       claimed_at, claimed_by, sent_at
  FROM pgbank.outbox WHERE id = :dave_msg;
-- not due yet: nothing is tried
SELECT pgbank.deliver_outbox() AS sent;
SELECT attempts FROM pgbank.outbox WHERE id = :dave_msg;
-- due again: attempt 2, and the delay doubles
UPDATE pgbank.outbox SET next_attempt_at = now() - interval '1 s' WHERE id = :dave_msg;
SELECT pgbank.deliver_outbox() AS sent;
SELECT status, attempts,
       next_attempt_at - now() BETWEEN interval '20 s' AND interval '30 s' AS backoff_20s
  FROM pgbank.outbox WHERE id = :dave_msg;
-- attempt 3 is the last: failed, with its error, and never tried again
UPDATE pgbank.outbox SET next_attempt_at = now() - interval '1 s' WHERE id = :dave_msg;
SELECT pgbank.deliver_outbox() AS sent;
SELECT status, attempts, last_error LIKE 'Couldn''t connect to server%' AS error_kept,
       claimed_at, sent_at
  FROM pgbank.outbox WHERE id = :dave_msg;
UPDATE pgbank.outbox SET next_attempt_at = now() - interval '1 s' WHERE id = :dave_msg;
SELECT pgbank.deliver_outbox() AS sent;
SELECT attempts FROM pgbank.outbox WHERE id = :dave_msg;
-- a claim whose runner is alive (lease not expired) is left alone
UPDATE pgbank.outbox
   SET status = 'sending', attempts = 1, claimed_at = now(), claimed_by = 1
 WHERE id = :dave_msg;
SELECT pgbank.deliver_outbox() AS sent;
SELECT status, attempts, claimed_by FROM pgbank.outbox WHERE id = :dave_msg;
-- a claim whose runner died (lease expired) is taken again
UPDATE pgbank.outbox SET claimed_at = now() - interval '6 min' WHERE id = :dave_msg;
SELECT pgbank.deliver_outbox() AS sent;
SELECT status, attempts, claimed_by FROM pgbank.outbox WHERE id = :dave_msg;
-- a dead runner's claim on the last attempt: failed, saying so
UPDATE pgbank.outbox
   SET status = 'sending', attempts = 3, claimed_at = now() - interval '6 min', claimed_by = 1
 WHERE id = :dave_msg;
SELECT pgbank.deliver_outbox() AS sent;
SELECT status, attempts, claimed_at,
       last_error LIKE 'runner stopped during the last attempt; last error: Couldn''t connect%' AS says_so
  FROM pgbank.outbox WHERE id = :dave_msg;
-- the procedure, called inside a transaction block, cannot commit: it runs
-- in the caller's transaction like the function
UPDATE pgbank.outbox SET status = 'pending', attempts = 0, next_attempt_at = now() - interval '1 s'
 WHERE id = :dave_msg;
CALL pgbank.run_outbox(1);
SELECT status, attempts FROM pgbank.outbox WHERE id = :dave_msg;
ROLLBACK;
SELECT status, attempts FROM pgbank.outbox WHERE id = :dave_msg;
-- a run claims no new message once it has lasted pgbank.outbox_run_time,
-- but always tries one
SELECT count(*) AS users FROM generate_series(1, 3) i,
       pgbank.create_user(format('em_run%s', i), 'secret1', 'Run', format('run%s@em.test', i));
BEGIN;
UPDATE pgbank.outbox SET next_attempt_at = 'infinity'
 WHERE status IN ('pending', 'sending') AND recipient NOT LIKE 'run_@em.test';
SET LOCAL pgbank.smtp_url = 'smtp://127.0.0.1:9';
SET LOCAL pgbank.smtp_connect_timeout = '2s';
SET LOCAL pgbank.outbox_run_time = 0;
SELECT pgbank.deliver_outbox(10) AS sent;
SELECT count(*) FILTER (WHERE attempts = 1) AS tried, count(*) FILTER (WHERE attempts = 0) AS left
  FROM pgbank.outbox WHERE recipient LIKE 'run_@em.test';
SET LOCAL pgbank.outbox_run_time = '1min';
SELECT pgbank.deliver_outbox(10) AS sent;
SELECT count(*) FILTER (WHERE attempts = 1) AS tried, count(*) FILTER (WHERE attempts = 0) AS left
  FROM pgbank.outbox WHERE recipient LIKE 'run_@em.test';
ROLLBACK;
-- called outside a transaction block (as pg_cron calls it), a run that
-- finds nothing due waits for new messages until it has lasted
-- pgbank.outbox_run_time; inside one, and as the function, it does not
-- (regress/t/20-email.sh shows a queued message waking the waiting run)
CREATE TEMP TABLE em_out_of_reach AS
SELECT id, next_attempt_at FROM pgbank.outbox WHERE status IN ('pending', 'sending');
UPDATE pgbank.outbox SET next_attempt_at = 'infinity' WHERE id IN (SELECT id FROM em_out_of_reach);
SELECT count(*) AS sending FROM pgbank.outbox WHERE status = 'sending';
SET pgbank.smtp_url = 'smtp://127.0.0.1:9';
SET pgbank.outbox_run_time = '700ms';
SELECT clock_timestamp() AS em_before \gset
CALL pgbank.run_outbox();
SELECT clock_timestamp() - :'em_before' >= interval '700 ms' AS waited;
BEGIN;
SELECT clock_timestamp() AS em_before \gset
CALL pgbank.run_outbox();
SELECT pgbank.deliver_outbox() AS sent;
SELECT clock_timestamp() - :'em_before' < interval '700 ms' AS did_not_wait;
COMMIT;
-- a run with no time to wait ends at once
SET pgbank.outbox_run_time = 0;
SELECT clock_timestamp() AS em_before \gset
CALL pgbank.run_outbox();
SELECT clock_timestamp() - :'em_before' < interval '700 ms' AS did_not_wait;
UPDATE pgbank.outbox o SET next_attempt_at = r.next_attempt_at
  FROM em_out_of_reach r WHERE o.id = r.id;
DROP TABLE em_out_of_reach;
RESET pgbank.outbox_run_time;
RESET pgbank.smtp_url;
-- the trigger that wakes the waiting runs is only a trigger
SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'pgbank.outbox'::regclass;
SELECT pgbank.outbox_wake_trigger();
\echo :LAST_ERROR_SQLSTATE
-- invalid arguments
SELECT pgbank.deliver_outbox(0);
SELECT pgbank.deliver_outbox(1001);
CALL pgbank.run_outbox(NULL);

-- === settings ===
SET pgbank.smtp_url = 'http://127.0.0.1:2525';
SET pgbank.smtp_url = 'smtp://user:password@127.0.0.1:2525';
SET pgbank.smtp_from = 'Bank <bank@example.com>';
SET pgbank.smtp_tls = 'sometimes';
SET pgbank.outbox_max_attempts = 0;
SET pgbank.outbox_lease = '1s';
SET pgbank.outbox_poll_interval = '1ms';
SET pgbank.smtp_password = 'hunter2';
SELECT count(*) AS secrets_listed FROM pg_settings
 WHERE name IN ('pgbank.smtp_username', 'pgbank.smtp_password');
CREATE ROLE em_nobody;
GRANT USAGE ON SCHEMA pgbank TO em_nobody;
SET ROLE em_nobody;
SHOW pgbank.smtp_password;
SHOW pgbank.smtp_username;
SET pgbank.smtp_url = 'smtp://127.0.0.1:2526';
-- delivery and the mail internals are not for everyone
SELECT pgbank.deliver_outbox();
CALL pgbank.run_outbox();
SELECT pgbank.new_secret_code() IS NOT NULL;
RESET ROLE;
REVOKE USAGE ON SCHEMA pgbank FROM em_nobody;
DROP ROLE em_nobody;
RESET pgbank.smtp_password;

-- === scheduling with pg_cron ===
-- (without pg_cron here; put back at the end if an earlier file had it)
SELECT count(*) AS had_pg_cron FROM pg_extension WHERE extname = 'pg_cron' \gset
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_cron;
RESET client_min_messages;
SELECT pgbank.schedule_outbox();
\echo :LAST_ERROR_SQLSTATE
CREATE EXTENSION pg_cron;
SELECT pgbank.schedule_outbox('0 3 * * *') AS job \gset
SELECT jobname, schedule, command, database FROM cron.job WHERE jobid = :job;
-- again, with another schedule: the same job, rescheduled
SELECT pgbank.schedule_outbox('*/5 * * * *') = :job AS same_job;
SELECT jobname, schedule, command FROM cron.job WHERE jobname = 'pgbank-outbox';
SELECT pgbank.schedule_outbox(NULL) AS null_schedule;
SELECT pgbank.schedule_outbox('every now and then');
-- every job at once, by name: a second call reschedules the same jobs
SELECT jobname, schedule, command, jobid = :job AS outbox_job_kept
  FROM pgbank.schedule_jobs() ORDER BY jobname;
SELECT array_agg(jobid ORDER BY jobname) AS ids FROM pgbank.schedule_jobs() \gset
SELECT array_agg(jobid ORDER BY jobname) = :'ids' AS same_jobs_again FROM pgbank.schedule_jobs();
SELECT count(*) AS jobs FROM cron.job WHERE jobname LIKE 'pgbank-%';
SELECT jobname, schedule FROM pgbank.schedule_jobs('pgbank-purge-sessions', '5 4 * * *');
SELECT pgbank.schedule_jobs('pgbank-nothing');
\echo :LAST_ERROR_SQLSTATE
SELECT pgbank.schedule_jobs(NULL, '* * * * *');
\echo :LAST_ERROR_SQLSTATE
SELECT cron.unschedule('pgbank-purge-sessions');
SELECT cron.unschedule('pgbank-outbox');
DROP EXTENSION pg_cron;
\if :had_pg_cron
CREATE EXTENSION pg_cron;
\endif
