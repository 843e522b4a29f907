#!/usr/bin/env bash
# Email latency, on the local cluster that `make test` (scripts/setup.sh)
# prepared and its pg_cron job pgbank-outbox, with a real SMTP server on
# loopback (aiosmtpd with regress/smtp_sink.py, port PGBANK_SMTP_PORT).
# C clients each queue a message every 50 to 150 ms for S seconds, in
# three modes, one after the other:
#   - baseline: each client delivers its message itself, in the
#     transaction that queued it (pgbank.deliver_outbox(1) before COMMIT):
#     what delivery costs with no runner at all;
#   - job: the message is committed and the waiting run of the job, woken
#     by the commit (trigger outbox_wake), delivers it;
#   - poll only: the same with the trigger disabled, so the run finds a
#     message only at its next look (pgbank.outbox_poll_interval).
# Latency is from clock_timestamp() in the INSERT to the sink's receipt
# (its file name is time_ns()). Prints p50, p99 and max for each mode and
# the job's and poll's ratios to the baseline.
# Usage: bench/email.sh [S] [C]      (defaults 20 and 4)
set -euo pipefail
. "$(dirname "$0")/../scripts/env.sh"
cd "$PGBANK_ROOT"

S=${1:-20}
C=${2:-4}
case "$S$C" in *[!0-9]*) echo "usage: bench/email.sh [S] [C]" >&2; exit 2 ;; esac
SMTP_PORT=${PGBANK_SMTP_PORT:-2526}
MAILDIR=$PGBANK_RUN/mail-bench
TAG=b$(date +%s)
psql=("$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -tA)
sql() { "${psql[@]}" -c "$1"; }
smtp_pid=

cleanup() {
	if [ -n "$smtp_pid" ]; then
		kill "$smtp_pid" 2>/dev/null || true
		wait "$smtp_pid" 2>/dev/null || true
	fi
	sql "ALTER TABLE pgbank.outbox ENABLE TRIGGER outbox_wake" || true
	[ -n "${BENCH_KEEP:-}" ] || sql "DELETE FROM pgbank.outbox WHERE kind = 'bench'" || true
	sql "ALTER SYSTEM RESET pgbank.smtp_url" || true
	sql "SELECT pg_reload_conf()" >/dev/null || true
}
trap cleanup EXIT

wait_for() {
	local what=$1 cond=$2 limit=$3 start=$SECONDS
	while ! eval "$cond"; do
		[ $((SECONDS - start)) -ge "$limit" ] && { echo "bench/email.sh: no $what after ${limit}s" >&2; exit 1; }
		sleep 0.2
	done
}

rm -rf "$MAILDIR"
mkdir -p "$MAILDIR" "$PGBANK_RUN/logs"
PYTHONPATH=regress /usr/bin/python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" \
	-c smtp_sink.Sink "$MAILDIR" >"$PGBANK_RUN/logs/smtp-bench.log" 2>&1 &
smtp_pid=$!
wait_for "SMTP server on port $SMTP_PORT" '(echo >"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null' 10
sql "ALTER SYSTEM SET pgbank.smtp_url = 'smtp://127.0.0.1:$SMTP_PORT'"
sql "SELECT pg_reload_conf()" >/dev/null
wait_for "new setting" '[ "$(sql "SHOW pgbank.smtp_url")" = "smtp://127.0.0.1:$SMTP_PORT" ]' 10
wait_for "waiting run of pgbank-outbox" '[ "$(sql "SELECT count(*) FROM pg_stat_activity
	WHERE query = '\''CALL pgbank.run_outbox()'\'' AND wait_event_type = '\''Extension'\''")" -ge 1 ]' 90

# One client: a message every 50 to 150 ms for S seconds, each committed;
# deliver = true delivers it in its own transaction first.
client() {
	PGOPTIONS="-c bench.mode=$1 -c bench.client=$2 -c bench.seconds=$S -c bench.tag=$TAG -c bench.deliver=$3" \
		"${psql[@]}" <<-'SQL'
	DO $$
	DECLARE
		stop timestamptz := clock_timestamp()
			+ make_interval(secs => current_setting('bench.seconds')::int);
		deliver boolean := current_setting('bench.deliver')::boolean;
		i int := 0;
	BEGIN
		WHILE clock_timestamp() < stop LOOP
			i := i + 1;
			INSERT INTO pgbank.outbox (kind, recipient, subject, body, payload)
			VALUES ('bench', format('%s-%s-%s-%s@bench.test', current_setting('bench.tag'),
			                        current_setting('bench.mode'), current_setting('bench.client'), i),
			        'Bench', 'Bench',
			        jsonb_build_object('t0', extract(epoch FROM clock_timestamp()),
			                           'mode', current_setting('bench.mode')));
			IF deliver THEN
				PERFORM pgbank.deliver_outbox(1);
			END IF;
			COMMIT;
			PERFORM pg_sleep(0.05 + random() * 0.1);
		END LOOP;
	END
	$$;
	SQL
}

run_mode() {
	local mode=$1 deliver=$2 pids=() c
	for c in $(seq "$C"); do
		client "$mode" "$c" "$deliver" &
		pids+=($!)
	done
	for c in "${pids[@]}"; do wait "$c"; done
	wait_for "delivery of every $mode message" '[ "$(sql "SELECT count(*) FROM pgbank.outbox
		WHERE kind = '\''bench'\'' AND status <> '\''sent'\''")" = 0 ]' 60
}

run_mode baseline true
run_mode job false
sql "ALTER TABLE pgbank.outbox DISABLE TRIGGER outbox_wake"
run_mode poll false
sql "ALTER TABLE pgbank.outbox ENABLE TRIGGER outbox_wake"

# recipient,receipt time (s) of every message the sink received
for f in "$MAILDIR"/*.eml; do
	n=$(basename "$f")
	r=$(sed -n 's/^X-Envelope-To: \(.*\)\r$/\1/p' "$f" | head -n 1)
	echo "$r,${n%%-*}"
done >"$MAILDIR/received.csv"

"$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -v tag="$TAG" <<SQL
\pset footer off
CREATE TEMP TABLE received (recipient text, ns numeric);
\copy received FROM '$MAILDIR/received.csv' WITH (FORMAT csv)
CREATE TEMP TABLE lat AS
SELECT o.payload->>'mode' AS mode, r.ns / 1e9 - (o.payload->>'t0')::numeric AS s,
       count(*) OVER (PARTITION BY o.recipient) AS copies
  FROM pgbank.outbox o JOIN received r USING (recipient)
 WHERE o.kind = 'bench' AND o.recipient LIKE :'tag' || '-%';
SELECT bool_and(copies = 1) AS every_message_received_once FROM lat;
WITH p AS (
	SELECT mode, count(*) AS messages,
	       percentile_cont(0.5) WITHIN GROUP (ORDER BY s)::numeric AS p50,
	       percentile_cont(0.99) WITHIN GROUP (ORDER BY s)::numeric AS p99, max(s) AS max
	  FROM lat GROUP BY mode),
b AS (SELECT * FROM p WHERE mode = 'baseline')
SELECT p.mode, p.messages, round(p.p50 * 1000, 1) AS p50_ms, round(p.p99 * 1000, 1) AS p99_ms,
       round(p.max * 1000, 1) AS max_ms,
       round(p.p50 / b.p50, 2) AS p50_ratio, round(p.p99 / b.p99, 2) AS p99_ratio
  FROM p, b ORDER BY array_position(ARRAY['baseline', 'job', 'poll'], p.mode);
SQL
