#!/usr/bin/env bash
# The outbox worker (pgbank-http --outbox-worker=1, shim/outbox.c) in front
# of the managed build, which cannot send email itself: it drains the
# outbox over SMTP to an aiosmtpd sink on loopback (regress/smtp_sink.py)
# through pgbank.outbox_claim() and pgbank.outbox_result(), connected as
# the database owner (not a superuser). Checked: each queued message is
# received exactly once and its row is 'sent' after one attempt, with the
# C build's Message-ID; with the sink down an attempt fails, the row goes
# back to 'pending' with its error and a backoff, and once the sink is back
# it is sent, attempts 2; a claim whose lease expired (its runner gone) is
# taken again and sent; a row out of attempts becomes 'failed' and is not
# sent; the API role can call none of the worker's functions; SIGTERM
# ends the worker with status 0.
set -euo pipefail
. "$(dirname "$0")/../../scripts/env.sh"
cd "$PGBANK_ROOT"
. regress/managed/cluster.sh

SMTP_PORT=${PGBANK_SMTP_PORT:-2526}
MAILDIR=$PGBANK_RUN/managed-mail
fail() { echo "FAIL: $*"; exit 1; }
sink_pid= worker_pid=
cleanup() {
	if [ -n "$worker_pid" ]; then kill "$worker_pid" 2>/dev/null; wait "$worker_pid" 2>/dev/null || true; fi
	if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null || true; fi
	managed_stop
}
trap cleanup EXIT
sink_start() {
	PYTHONPATH=regress /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" \
		-c smtp_sink.Sink "$MAILDIR" >>"$PGBANK_RUN/logs/managed-smtp.log" 2>&1 &
	sink_pid=$!
	for _ in $(seq 50); do
		(echo >"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	fail "SMTP sink not listening on $SMTP_PORT"
}
sink_stop() { kill "$sink_pid"; wait "$sink_pid" 2>/dev/null || true; sink_pid=; }
received() { grep -l "^X-Envelope-To: $1" "$MAILDIR"/*.eml 2>/dev/null | wc -l; }
# wait_for SQL: until the query (as the owner) prints t, up to 20 s
wait_for() {
	for _ in $(seq 200); do
		[ "$(q "$1")" = t ] && return 0
		sleep 0.1
	done
	return 1
}

make -s shim/pgbank-http
managed_cluster "$PGBANK_RUN/managed-w"
as_pg "${mpsql[@]}" -q -d postgres -c "CREATE ROLE bank_owner LOGIN" -c "CREATE ROLE bank_api LOGIN" \
	-c "CREATE DATABASE bank OWNER bank_owner"
owner=("$mbin/psql" -X -v ON_ERROR_STOP=1 -h "$mt" -p "$PGBANK_PGPORT" -U bank_owner -d bank)
q() { as_pg "${owner[@]}" -tA -c "$1"; }
as_pg "${owner[@]}" -q -c "SET client_min_messages = warning" -c "CREATE EXTENSION pgbank CASCADE" \
	-c "INSERT INTO pgbank.settings VALUES ('pgbank.smtp_url', 'smtp://127.0.0.1:$SMTP_PORT'),
		('pgbank.smtp_tls', 'none'), ('pgbank.smtp_connect_timeout', '2s'),
		('pgbank.outbox_backoff', '1s'), ('pgbank.outbox_max_attempts', '3'),
		('pgbank.bcrypt_cost', '4'), ('pgbank.smtp_from', 'bank@pgbank.test')" \
	-c "SELECT pgbank.grant_api('bank_api')" >/dev/null

echo "== the API role cannot claim, read the SMTP settings or record results"
for f in "pgbank.outbox_claim()" "pgbank.outbox_smtp()" "pgbank.outbox_result(1, now(), NULL)"; do
	out=$(as_pg "$mbin/psql" -X -h "$mt" -p "$PGBANK_PGPORT" -U bank_api -d bank -c "SELECT * FROM $f" 2>&1 || true)
	echo "$out" | grep -q "permission denied for function" || fail "bank_api called $f: $out"
done

rm -rf "$MAILDIR"
mkdir -p "$MAILDIR" "$PGBANK_RUN/logs"
sink_start
q "SELECT count(*) FROM (SELECT pgbank.create_user(u, 'secret1', u, u || '@mail.test')
	FROM unnest(ARRAY['wk_ann', 'wk_bob', 'wk_cy']) u) x" >/dev/null
PGBANK_OUTBOX_WORKER=1 PGBANK_OUTBOX_POLL=1 \
	PGBANK_DB="host=$mt port=$PGBANK_PGPORT dbname=bank user=bank_owner" \
	shim/pgbank-http >"$PGBANK_RUN/logs/outbox-worker.log" 2>&1 &
worker_pid=$!

echo "== each queued message once, sent after one attempt, with the C build's Message-ID"
wait_for "SELECT count(*) = 3 FROM pgbank.outbox WHERE status = 'sent'" ||
	fail "not all sent: $(q "SELECT status, attempts, last_error FROM pgbank.outbox")"
for u in wk_ann wk_bob wk_cy; do
	[ "$(received "$u@mail.test")" = 1 ] || fail "$u received $(received "$u@mail.test") messages"
done
[ "$(q "SELECT bool_and(attempts = 1 AND sent_at IS NOT NULL AND claimed_by IS NULL) FROM pgbank.outbox")" = t ] ||
	fail "rows not as sent once: $(q "SELECT * FROM pgbank.outbox")"
id=$(q "SELECT id FROM pgbank.outbox WHERE recipient = 'wk_ann@mail.test'")
created=$(q "SELECT (extract(epoch FROM created_at - timestamptz '2000-01-01 00:00:00+00') * 1000000)::bigint
	FROM pgbank.outbox WHERE id = $id")
grep -q "^Message-ID: <outbox-$id-$created@pgbank>" $(grep -l '^X-Envelope-To: wk_ann@' "$MAILDIR"/*.eml) ||
	fail "no Message-ID <outbox-$id-$created@pgbank>"
grep -q '^From: <bank@pgbank.test>' $(grep -l '^X-Envelope-To: wk_ann@' "$MAILDIR"/*.eml) ||
	fail "not from pgbank.smtp_from"
code=$(q "SELECT secret_code FROM pgbank.verify_emails WHERE username = 'wk_ann'")
grep -q "$code" $(grep -l '^X-Envelope-To: wk_ann@' "$MAILDIR"/*.eml) || fail "the code is not in the message"

echo "== the sink down: the attempt fails, the row waits its backoff; back up: sent, attempts 2"
sink_stop
q "SELECT pgbank.create_user('wk_dee', 'secret1', 'Dee', 'wk_dee@mail.test')" >/dev/null
wait_for "SELECT status = 'pending' AND attempts = 1 AND last_error IS NOT NULL AND next_attempt_at > now()
	FROM pgbank.outbox WHERE recipient = 'wk_dee@mail.test'" ||
	fail "no failed attempt: $(q "SELECT status, attempts, last_error FROM pgbank.outbox WHERE recipient = 'wk_dee@mail.test'")"
echo "first attempt: $(q "SELECT last_error FROM pgbank.outbox WHERE recipient = 'wk_dee@mail.test'")"
sink_start
wait_for "SELECT status = 'sent' AND attempts = 2 FROM pgbank.outbox WHERE recipient = 'wk_dee@mail.test'" ||
	fail "not sent on retry: $(q "SELECT status, attempts, last_error FROM pgbank.outbox WHERE recipient = 'wk_dee@mail.test'")"
[ "$(received wk_dee@mail.test)" = 1 ] || fail "wk_dee received $(received wk_dee@mail.test) messages"

echo "== a claim whose lease expired (its runner is gone) is taken again; out of attempts: failed"
kill -STOP "$worker_pid"
q "SELECT pgbank.create_user(u, 'secret1', u, u || '@mail.test') FROM unnest(ARRAY['wk_eli', 'wk_fay']) u" >/dev/null
q "UPDATE pgbank.outbox SET status = 'sending', attempts = 1, claimed_by = 1,
	claimed_at = now() - interval '1 hour' WHERE recipient = 'wk_eli@mail.test'" >/dev/null
q "UPDATE pgbank.outbox SET attempts = 3, last_error = 'earlier failures' WHERE recipient = 'wk_fay@mail.test'" >/dev/null
kill -CONT "$worker_pid"
wait_for "SELECT status = 'sent' AND attempts = 2 FROM pgbank.outbox WHERE recipient = 'wk_eli@mail.test'" ||
	fail "the expired claim was not taken again: $(q "SELECT * FROM pgbank.outbox WHERE recipient = 'wk_eli@mail.test'")"
wait_for "SELECT status = 'failed' FROM pgbank.outbox WHERE recipient = 'wk_fay@mail.test'" ||
	fail "a row out of attempts is not failed: $(q "SELECT * FROM pgbank.outbox WHERE recipient = 'wk_fay@mail.test'")"
[ "$(received wk_eli@mail.test)" = 1 ] || fail "wk_eli received $(received wk_eli@mail.test) messages"
[ "$(received wk_fay@mail.test)" = 0 ] || fail "wk_fay, out of attempts, received a message"

echo "== SIGTERM: the worker stops, status 0"
kill -TERM "$worker_pid"
status=0
wait "$worker_pid" || status=$?
worker_pid=
[ "$status" = 0 ] || fail "the worker exited $status"
grep -q '"outbox worker: stopped"' "$PGBANK_RUN/logs/outbox-worker.log" || fail "no stop logged"
grep -c '"result":"sent"' "$PGBANK_RUN/logs/outbox-worker.log" | sed 's/^/messages the worker logged as sent: /'
echo "ok"
