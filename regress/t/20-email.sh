#!/usr/bin/env bash
# Email verification end to end, against the cluster scripts/setup.sh
# started and its real pg_cron job "pgbank-outbox": a real SMTP server on
# loopback (aiosmtpd with regress/smtp_sink.py) receives the messages.
# A run of the job waits for new messages until its minute is nearly over,
# woken when one is queued, so everything here takes seconds.
#  1. a new user's message arrives, sent by a run of the job; its link's
#     email_id and secret_code verify the user through pgbank.verify_email;
#  2. latency: p50 and p99 from the end of create_user to the message in the
#     sink, over PGBANK_EMAIL_LATENCY_USERS (50) users created one by one;
#  3. with the SMTP server down for a while, attempts fail and are recorded;
#     once the server is back every message is delivered, exactly once;
#  4. three runners at once (and the job) deliver 30 messages, each once.
# The job's first run may start up to a minute after the set-up: the suite
# waits for a waiting run once, before the first message.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"

SMTP_PORT=${PGBANK_SMTP_PORT:-2526}
SMTP_PYTHON=${PGBANK_SMTP_PYTHON:-/usr/bin/python3}
WAIT=${PGBANK_EMAIL_WAIT:-30}
LATENCY_USERS=${PGBANK_EMAIL_LATENCY_USERS:-50}
MAILDIR=$PGBANK_RUN/mail-e2e
RUN=$(date +%s)_$$
psql=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
smtp_pid=
suite_start=$SECONDS

say() { printf '20-email: %s\n' "$*"; }
fail() {
	say "FAIL: $*" >&2
	exit 1
}
sql() { "${psql[@]}" -c "$1"; }
# Users created in bulk hash their passwords cheaply (the cost is not what
# is measured here).
sql_cheap() { PGOPTIONS="-c pgbank.argon2_opslimit=1 -c pgbank.argon2_memlimit=8kB" "${psql[@]}" -c "$1"; }

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
mail_files() {
	grep -lx "X-Envelope-To: $1"$'\r' "$MAILDIR"/*.eml 2>/dev/null || true
}
mail_count() {
	mail_files "$1" | grep -c . || true
}

# Wait up to WAIT seconds (or $3) until a shell condition holds.
wait_until() {
	local what=$1 cond=$2 limit=${3:-$WAIT} start=$SECONDS
	while ! eval "$cond"; do
		[ $((SECONDS - start)) -ge "$limit" ] && fail "timed out after ${limit}s waiting for $what"
		sleep 0.05
	done
	say "$what after $((SECONDS - start))s"
}

# A run of the job waiting for messages (pg_cron's worker, wait event
# Extension: outbox.c's WaitLatch).
waiting_runs() {
	sql "SELECT count(*) FROM pg_stat_activity
		WHERE query = 'CALL pgbank.run_outbox()' AND wait_event_type = 'Extension'"
}

rm -rf "$MAILDIR"
mkdir -p "$MAILDIR" "$PGBANK_RUN/logs"
[ "$(sql "SELECT count(*) FROM cron.job WHERE jobname = 'pgbank-outbox' AND active")" = 1 ] ||
	fail "the pg_cron job pgbank-outbox is not scheduled (scripts/setup.sh schedules it)"
sql "ALTER SYSTEM SET pgbank.smtp_url = 'smtp://127.0.0.1:$SMTP_PORT'"
sql "ALTER SYSTEM SET pgbank.outbox_backoff = '1s'"
sql "SELECT pg_reload_conf()" >/dev/null
# A new session has the new settings once the postmaster has read the file,
# and it has signalled every backend by then: a waiting run applies the
# reload before it looks for messages again.
wait_until "the new settings in effect" \
	'[ "$(sql "SHOW pgbank.smtp_url")" = "smtp://127.0.0.1:$SMTP_PORT" ] && [ "$(sql "SHOW pgbank.outbox_backoff")" = 1s ]'
start_smtp
wait_until "a run of pgbank-outbox waiting for messages" '[ "$(waiting_runs)" -ge 1 ]' 90

# --- 1. delivered by the job, and the link verifies ---
user1=e2e_mail1_$RUN
email1=$user1@e2e.test
sql "SELECT pgbank.create_user('$user1', 'secret1', 'Mail One', '$email1')" >/dev/null
[ "$(sql "SELECT is_email_verified FROM pgbank.users WHERE username = '$user1'")" = f ] ||
	fail "a new user is already verified"
wait_until "message for $email1 arrived" '[ "$(mail_count "$email1")" -ge 1 ]'
file=$(mail_files "$email1")
link=$(grep -o 'http://[^ ]*/v1/verify_email?email_id=[0-9]*&secret_code=[A-Za-z0-9_-]*' "$file") ||
	fail "no verification link in $file"
email_id=$(sed -E 's/.*email_id=([0-9]+).*/\1/' <<<"$link")
secret_code=$(sed -E 's/.*secret_code=([A-Za-z0-9_-]+).*/\1/' <<<"$link")
say "link: ${link%%secret_code=*}secret_code=<${#secret_code} chars>"
grep -qx "Subject: Welcome to Simple Bank"$'\r' "$file" || fail "unexpected subject"
# delivered by a run of the pg_cron job, not by anyone else. A run commits
# after each message, so one that ends "failed" later (its time budget, a
# later message's error) has still sent this one: any status counts; the
# launcher stamps start_time before the run's first transaction begins.
# A run lasts until the next one starts (pg_cron never overlaps a job's
# runs): pg_cron 1.4's launcher follows a background worker's output until
# it ends and stamps end_time with the time it began to, so end_time can be
# early for a run that waited.
job_runs="(SELECT d.runid, d.status, d.start_time,
	       lead(d.start_time) OVER (ORDER BY d.start_time) AS next_start
	  FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	 WHERE j.jobname = 'pgbank-outbox')"
[ "$(sql "SELECT count(*) > 0 FROM $job_runs r JOIN pgbank.outbox o ON o.recipient = '$email1'
	WHERE o.sent_at >= r.start_time AND o.sent_at < coalesce(r.next_start, 'infinity')")" = t ] || {
	sql "SELECT 'outbox: ' || o.id || ' ' || o.status || ' created ' || o.created_at || ' sent ' || o.sent_at
	       FROM pgbank.outbox o WHERE o.recipient = '$email1'" | sed 's/^/20-email: /' >&2
	sql "SELECT 'run: ' || d.runid || ' ' || d.status || ' ' || d.start_time || ' .. ' || coalesce(d.end_time::text, '-')
	       || ' ' || left(coalesce(d.return_message, ''), 80)
	       FROM cron.job_run_details d ORDER BY d.runid DESC LIMIT 5" | sed 's/^/20-email: /' >&2
	fail "the message was not sent during a run of the pg_cron job"
}
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

# --- 2. latency: from the end of create_user (clock_timestamp() after it,
# before the commit) to the sink's receipt (its file name is time_ns()) ---
lat=()
for i in $(seq "$LATENCY_USERS"); do
	u=e2e_lat${i}_$RUN
	t0=$(sql_cheap "SELECT extract(epoch FROM clock_timestamp()) FROM pgbank.create_user('$u', 'secret1', 'Latency $i', '$u@e2e.test')")
	limit=$((SECONDS + WAIT))
	while [ -z "$(mail_files "$u@e2e.test")" ]; do
		[ $SECONDS -ge $limit ] && fail "message $i of the latency run did not arrive within ${WAIT}s"
		sleep 0.01
	done
	f=$(basename "$(mail_files "$u@e2e.test")")
	lat+=("$(awk -v ns="${f%%-*}" -v t0="$t0" 'BEGIN { printf "%.3f", ns / 1e9 - t0 }')")
done
read -r p50 p99 max < <(printf '%s\n' "${lat[@]}" | sort -g | awk '{ v[NR] = $1 }
	END { i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++
	      i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++
	      print v[i50], v[i99], v[NR] }')
say "latency over $LATENCY_USERS messages, create_user to the sink: p50 ${p50}s, p99 ${p99}s, max ${max}s"
# Woken when the message is queued: well under a second. Without the
# wake-up a run would find it at its next poll (pgbank.outbox_poll_interval,
# 10 s: p50 about 5 s), and without the waiting run at the next minute.
awk -v p="$p50" 'BEGIN { exit !(p < 2) }' || fail "p50 latency ${p50}s: the waiting run was not woken"
awk -v p="$p99" 'BEGIN { exit !(p < 10) }' || fail "p99 latency ${p99}s: messages waited for a poll or a minute"
say "2. latency: p50 ${p50}s, p99 ${p99}s"

# --- 3. SMTP server down for a while: attempts fail and are kept; once it
# is back, every message is delivered exactly once ---
stop_smtp
down=()
for i in $(seq 10); do
	u=e2e_down${i}_$RUN
	sql_cheap "SELECT 1 FROM pgbank.create_user('$u', 'secret2', 'Down $i', '$u@e2e.test')" >/dev/null
	down+=("$u@e2e.test")
done
email2=${down[0]}
down_like="e2e_down%_$RUN@e2e.test"
# With a 1 s backoff, doubling: the third attempt comes about 3 s after the first.
failed_attempts() {
	sql "SELECT count(*) FROM pgbank.outbox WHERE recipient LIKE '$down_like' AND status = 'pending'
		AND attempts >= $1 AND last_error IS NOT NULL AND next_attempt_at > created_at"
}
wait_until "a failed attempt recorded for each of the 10 messages" '[ "$(failed_attempts 1)" = 10 ]'
wait_until "three failed attempts of each while the server is down" '[ "$(failed_attempts 3)" = 10 ]'
sql "SELECT 'attempt ' || attempts || ' failed: ' || last_error FROM pgbank.outbox
	  WHERE recipient = '$email2'" | sed 's/^/20-email: /'
for r in "${down[@]}"; do
	[ "$(mail_count "$r")" = 0 ] || fail "a message arrived while the server was down"
done
start_smtp
sent_down() {
	sql "SELECT count(*) FROM pgbank.outbox WHERE recipient LIKE '$down_like' AND status = 'sent'"
}
wait_until "the 10 messages delivered once the server was back" '[ "$(sent_down)" = 10 ]'
[ "$(sql "SELECT count(*) FROM pgbank.outbox WHERE recipient LIKE '$down_like'
	 AND status = 'sent' AND attempts >= 4 AND last_error IS NOT NULL")" = 10 ] ||
	fail "the outbox rows do not show retried deliveries"
# delivered by the job's runs, not by anyone else
[ "$(sql "SELECT count(*) FROM pgbank.outbox o WHERE o.recipient LIKE '$down_like'
	 AND EXISTS (SELECT FROM $job_runs r
	             WHERE o.sent_at >= r.start_time AND o.sent_at < coalesce(r.next_start, 'infinity'))")" = 10 ] ||
	fail "the retried messages were not sent by runs of the pg_cron job"

# --- 4. concurrent runners (while the job keeps running): each message once ---
sql "INSERT INTO pgbank.outbox (kind, recipient, subject, body)
	 SELECT 'concurrency_test', format('conc%s_$RUN@e2e.test', i), 'Concurrency ' || i, 'Body ' || i
	   FROM generate_series(1, 30) i"
pids=()
for r in 1 2 3; do
	sql "SELECT pgbank.deliver_outbox(100)" >"$PGBANK_RUN/logs/e2e-runner-$r.out" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent runner failed"; done
say "concurrent runners sent: $(cat "$PGBANK_RUN"/logs/e2e-runner-*.out | tr '\n' ' ')(the job the rest)"
sent_conc() {
	sql "SELECT count(*) FROM pgbank.outbox WHERE kind = 'concurrency_test'
		AND position('_$RUN@' IN recipient) > 0 AND status = 'sent'"
}
wait_until "all 30 concurrent messages sent" '[ "$(sent_conc)" = 30 ]'
for i in $(seq 30); do
	n=$(mail_count "conc${i}_$RUN@e2e.test")
	[ "$n" = 1 ] || fail "concurrency message $i arrived $n times"
done
say "4. three concurrent runners and the job: 30 messages, each delivered once"

# Exactly once, counted after one more message went through the job, so a
# duplicate of any earlier one would have had its chance.
probe=e2e_probe_$RUN@e2e.test
sql "INSERT INTO pgbank.outbox (kind, recipient, subject, body) VALUES ('probe', '$probe', 'Probe', 'Probe')"
wait_until "a last message through the job" '[ "$(mail_count "$probe")" -ge 1 ]'
for r in "$email1" "${down[@]}"; do
	[ "$(mail_count "$r")" = 1 ] || fail "message for $r arrived $(mail_count "$r") times"
done
for i in $(seq "$LATENCY_USERS"); do
	n=$(mail_count "e2e_lat${i}_$RUN@e2e.test")
	[ "$n" = 1 ] || fail "latency message $i arrived $n times"
done
say "3. retried after the outage and delivered exactly once"
say "ok in $((SECONDS - suite_start))s"
