#!/usr/bin/env bash
# Email verification end to end, against the cluster scripts/setup.sh
# started and its real pg_cron job "pgbank-outbox": a real SMTP server on
# loopback (aiosmtpd with regress/smtp_sink.py) receives the messages.
#  1. a new user's message arrives; its link's email_id and secret_code
#     verify the user through pgbank.verify_email;
#  2. with the SMTP server down, the attempt fails and is recorded; once the
#     server is back the message is delivered, exactly once;
#  3. three runners at once deliver 30 messages, each exactly once.
# pg_cron runs the job once a minute, so this takes one to four minutes.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

SMTP_PORT=${PGBANK_SMTP_PORT:-2526}
SMTP_PYTHON=${PGBANK_SMTP_PYTHON:-/usr/bin/python3}
WAIT=${PGBANK_EMAIL_WAIT:-150}
MAILDIR=$PGBANK_RUN/mail-e2e
RUN=$(date +%s)_$$
psql=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
smtp_pid=

say() { printf '20-email: %s\n' "$*"; }
fail() {
	say "FAIL: $*" >&2
	exit 1
}
sql() { "${psql[@]}" -c "$1"; }

start_smtp() {
	PYTHONPATH=regress "$SMTP_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" \
		-c smtp_sink.Sink "$MAILDIR" >>"$PGBANK_RUN/logs/smtp-e2e.log" 2>&1 &
	smtp_pid=$!
	for _ in $(seq 50); do
		(echo >"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null && return 0
		kill -0 "$smtp_pid" 2>/dev/null || fail "SMTP server did not start (see logs/smtp-e2e.log)"
		sleep 0.2
	done
	fail "SMTP server not listening on port $SMTP_PORT"
}

stop_smtp() {
	if [ -n "$smtp_pid" ]; then
		kill "$smtp_pid" 2>/dev/null || true
		wait "$smtp_pid" 2>/dev/null || true
		smtp_pid=
	fi
}

cleanup() {
	stop_smtp
	sql "ALTER SYSTEM RESET pgbank.smtp_url" || true
	sql "ALTER SYSTEM RESET pgbank.outbox_backoff" || true
	sql "SELECT pg_reload_conf()" >/dev/null || true
}
trap cleanup EXIT

# Messages received for a recipient (files written by smtp_sink.Sink).
mail_count() {
	grep -lx "X-Envelope-To: $1"$'\r' "$MAILDIR"/*.eml 2>/dev/null | wc -l
}

# Wait up to WAIT seconds until a shell condition holds.
wait_until() {
	local what=$1 cond=$2 start=$SECONDS
	while ! eval "$cond"; do
		[ $((SECONDS - start)) -ge "$WAIT" ] && fail "timed out after ${WAIT}s waiting for $what"
		sleep 1
	done
	say "$what after $((SECONDS - start))s"
}

rm -rf "$MAILDIR"
mkdir -p "$MAILDIR" "$PGBANK_RUN/logs"
[ "$(sql "SELECT count(*) FROM cron.job WHERE jobname = 'pgbank-outbox' AND active")" = 1 ] ||
	fail "the pg_cron job pgbank-outbox is not scheduled (scripts/setup.sh schedules it)"
sql "ALTER SYSTEM SET pgbank.smtp_url = 'smtp://127.0.0.1:$SMTP_PORT'"
sql "ALTER SYSTEM SET pgbank.outbox_backoff = '1s'"
sql "SELECT pg_reload_conf()" >/dev/null
start_smtp

# --- 1. delivered by the job, and the link verifies ---
user1=e2e_mail1_$RUN
email1=$user1@e2e.test
sql "SELECT pgbank.create_user('$user1', 'secret1', 'Mail One', '$email1')" >/dev/null
[ "$(sql "SELECT is_email_verified FROM pgbank.users WHERE username = '$user1'")" = f ] ||
	fail "a new user is already verified"
wait_until "message for $email1 arrived" '[ "$(mail_count "$email1")" -ge 1 ]'
file=$(grep -lx "X-Envelope-To: $email1"$'\r' "$MAILDIR"/*.eml)
link=$(grep -o 'http://[^ ]*/v1/verify_email?email_id=[0-9]*&secret_code=[A-Za-z0-9_-]*' "$file") ||
	fail "no verification link in $file"
email_id=$(sed -E 's/.*email_id=([0-9]+).*/\1/' <<<"$link")
secret_code=$(sed -E 's/.*secret_code=([A-Za-z0-9_-]+).*/\1/' <<<"$link")
say "link: ${link%%secret_code=*}secret_code=<${#secret_code} chars>"
grep -qx "Subject: Welcome to Simple Bank"$'\r' "$file" || fail "unexpected subject"
# delivered by a run of the pg_cron job, not by anyone else
[ "$(sql "SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	 JOIN pgbank.outbox o ON o.recipient = '$email1'
	WHERE j.jobname = 'pgbank-outbox' AND d.status IN ('running', 'succeeded')
	  AND o.sent_at BETWEEN d.start_time AND coalesce(d.end_time, now())")" = 1 ] ||
	fail "the message was not sent during a run of the pg_cron job"
sql "SELECT 'latency (sent_at - created_at): ' || round(extract(epoch FROM sent_at - created_at), 1) || 's'
	   FROM pgbank.outbox WHERE recipient = '$email1'" | sed 's/^/20-email: /'
# a wrong code does not verify; the link's code does, once
if sql "SELECT pgbank.verify_email($email_id, repeat('A', 43))" >/dev/null 2>&1; then
	fail "a wrong code verified the email"
fi
[ "$(sql "SELECT pgbank.verify_email($email_id, '$secret_code')")" = '{"is_verified" : true}' ] ||
	fail "verify_email did not answer is_verified"
[ "$(sql "SELECT is_email_verified FROM pgbank.users WHERE username = '$user1'")" = t ] ||
	fail "the user is not verified"
if sql "SELECT pgbank.verify_email($email_id, '$secret_code')" >/dev/null 2>&1; then
	fail "a used code verified again"
fi
say "1. delivered by pg_cron, verified through the link"

# --- 2. SMTP server down: the attempt fails and is kept; then delivered once ---
stop_smtp
user2=e2e_mail2_$RUN
email2=$user2@e2e.test
sql "SELECT pgbank.create_user('$user2', 'secret2', 'Mail Two', '$email2')" >/dev/null
failed_attempts() {
	sql "SELECT count(*) FROM pgbank.outbox WHERE recipient = '$1' AND status = 'pending'
		AND attempts >= 1 AND last_error IS NOT NULL AND next_attempt_at > created_at"
}
wait_until "a failed attempt recorded for $email2" '[ "$(failed_attempts "$email2")" = 1 ]'
sql "SELECT 'attempt ' || attempts || ' failed: ' || last_error FROM pgbank.outbox
	  WHERE recipient = '$email2'" | sed 's/^/20-email: /'
[ "$(mail_count "$email2")" = 0 ] || fail "a message arrived while the server was down"
start_smtp
wait_until "message for $email2 delivered once the server was back" '[ "$(mail_count "$email2")" -ge 1 ]'
[ "$(sql "SELECT status || ' ' || (attempts >= 2) || ' ' || (last_error IS NOT NULL)
	 FROM pgbank.outbox WHERE recipient = '$email2'")" = "sent true true" ] ||
	fail "the outbox row does not show a retried delivery"

# --- 3. concurrent runners (while the job keeps running): each message once ---
sql "INSERT INTO pgbank.outbox (kind, recipient, subject, body)
	 SELECT 'concurrency_test', format('conc%s_$RUN@e2e.test', i), 'Concurrency ' || i, 'Body ' || i
	   FROM generate_series(1, 30) i"
pids=()
for r in 1 2 3; do
	sql "SELECT pgbank.deliver_outbox(100)" >"$PGBANK_RUN/logs/e2e-runner-$r.out" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent runner failed"; done
say "concurrent runners sent: $(cat "$PGBANK_RUN"/logs/e2e-runner-*.out | tr '\n' ' ')"
sent_conc() {
	sql "SELECT count(*) FROM pgbank.outbox WHERE kind = 'concurrency_test'
		AND position('_$RUN@' IN recipient) > 0 AND status = 'sent'"
}
wait_until "all 30 concurrent messages sent" '[ "$(sent_conc)" = 30 ]'
for i in $(seq 30); do
	n=$(mail_count "conc${i}_$RUN@e2e.test")
	[ "$n" = 1 ] || fail "concurrency message $i arrived $n times"
done
say "3. three concurrent runners: 30 messages, each delivered once"

# Exactly once for test 2, counted after a later run of the job finished,
# so a duplicate would have had its chance.
runs_after_sent() {
	sql "SELECT count(*) FROM cron.job_run_details d JOIN cron.job j USING (jobid)
		WHERE j.jobname = 'pgbank-outbox' AND d.end_time IS NOT NULL
		  AND d.start_time > (SELECT sent_at FROM pgbank.outbox WHERE recipient = '$1')"
}
wait_until "a later job run finished" '[ "$(runs_after_sent "$email2")" -ge 1 ]'
[ "$(mail_count "$email2")" = 1 ] || fail "message for $email2 arrived $(mail_count "$email2") times"
[ "$(mail_count "$email1")" = 1 ] || fail "message for $email1 arrived $(mail_count "$email1") times"
say "2. retried after the outage and delivered exactly once"
say "ok"
