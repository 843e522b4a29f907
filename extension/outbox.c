/*
 * outbox.c
 *		Deliver pgbank.outbox messages over SMTP with libcurl.
 *
 * A runner takes one due message at a time: it claims the row (status
 * 'sending', attempts + 1, claimed_at and claimed_by set) with FOR UPDATE
 * SKIP LOCKED, so concurrent runners never take the same row; sends it;
 * then records the result, only if the claim is still its own: 'sent', or
 * back to 'pending' with next_attempt_at = now + base * 2^(attempts - 1),
 * or 'failed' once attempts reaches pgbank.outbox_max_attempts. The error
 * of the latest failure stays in last_error.
 *
 * pgbank.run_outbox (a procedure, what the pg_cron job CALLs) commits after
 * the claim and after the result, so no lock or transaction is held open
 * while the SMTP server is talked to, and a claim survives the runner.
 * If the runner dies between the two commits, the row stays 'sending'
 * until its lease (pgbank.outbox_lease) expires; then any runner takes it
 * again. pgbank.deliver_outbox (a function) cannot commit: it does the same
 * in the caller's transaction, holding its row locks until that ends.
 *
 * Delivery is therefore at least once, never exactly once: SMTP has no way
 * to make "the server accepted the message" and "the row says sent" one
 * atomic step. A message is sent twice only when the server accepted it
 * but the result was not recorded (the runner crashed, or the caller's
 * transaction of deliver_outbox rolled back), or when a send outlived the
 * lease. A message is never lost: it leaves the due set only as 'sent' or,
 * after the last attempt, as 'failed'. Every copy carries the same
 * Message-ID, so a receiver can drop duplicates.
 *
 * pg_cron (1.4) starts the job at most once a minute, so a run that ended
 * as soon as nothing was due would leave a new message waiting up to a
 * minute. Instead run_outbox, when it can commit, waits once nothing is due
 * until it has lasted pgbank.outbox_run_time (a little less than the job's
 * minute): on its latch, which a transaction that queued a message sets
 * when it commits (outbox_wake.c), with a timeout at the next retry or lease
 * expiry and at most pgbank.outbox_poll_interval. It waits with no lock and
 * no snapshot held (it commits first), and a cancel, a termination or a
 * shutdown ends the wait at once. It applies a configuration reload while
 * it waits (pg_cron's job workers ignore SIGHUP, so it takes the signal),
 * so a changed pgbank.smtp_url counts for the next message, not the next
 * run. Claims, sends and records are the same as before, so the guarantees
 * above do not change.
 */
#include "postgres.h"

#include <curl/curl.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgtime.h"
#include "postmaster/interrupt.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "errors.h"
#include "outbox_wake.h"
#include "pgbank.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(pgbank_run_outbox);
PG_FUNCTION_INFO_V1(pgbank_deliver_outbox);

/* One claimed message, copied out of SPI so it survives a commit. */
typedef struct OutboxMessage
{
	int64		id;
	char	   *recipient;
	char	   *subject;
	char	   *body;
	int			attempts;
	TimestampTz claimed_at;
	TimestampTz created_at;
} OutboxMessage;

/* What libcurl's read callback uploads: the whole message, in order. */
typedef struct UploadState
{
	char	   *data;
	size_t		len;
	size_t		pos;
} UploadState;

typedef enum SmtpTls
{
	SMTP_TLS_NONE,
	SMTP_TLS_TRY,
	SMTP_TLS_REQUIRED
} SmtpTls;

static const struct config_enum_entry smtp_tls_options[] = {
	{"none", SMTP_TLS_NONE, false},
	{"try", SMTP_TLS_TRY, false},
	{"required", SMTP_TLS_REQUIRED, false},
	{NULL, 0, false}
};

static char *smtp_url = NULL;
static char *smtp_from = NULL;
static char *smtp_username = NULL;
static char *smtp_password = NULL;
static int	smtp_tls = SMTP_TLS_TRY;
static int	smtp_timeout_ms = 30000;
static int	smtp_connect_timeout_ms = 10000;
static int	outbox_max_attempts = 8;
static int	outbox_backoff_ms = 30000;
static int	outbox_lease_s = 300;
static int	outbox_run_time_ms = 58000;
static int	outbox_poll_interval_ms = 10000;

static bool curl_ready = false;

static SPIPlanPtr plan_sweep = NULL;
static SPIPlanPtr plan_claim = NULL;
static SPIPlanPtr plan_sent = NULL;
static SPIPlanPtr plan_retry = NULL;
static SPIPlanPtr plan_next_due = NULL;

/*
 * Rows whose attempts are used up but that are still due (the lease of
 * their last attempt expired, or the maximum was lowered) become 'failed'.
 * $1 lease (seconds), $2 max attempts.
 */
static const char *sql_sweep =
"WITH dead AS ("
"  SELECT id FROM pgbank.outbox"
"   WHERE (status = 'pending'"
"          OR (status = 'sending' AND claimed_at <= now() - make_interval(secs => $1)))"
"     AND attempts >= $2"
"   FOR UPDATE SKIP LOCKED)"
"UPDATE pgbank.outbox o"
"   SET status = 'failed', claimed_at = NULL, claimed_by = NULL,"
"       last_error = CASE WHEN o.status = 'sending'"
"                         THEN 'runner stopped during the last attempt; last error: '"
"                              || coalesce(o.last_error, 'none')"
"                         ELSE o.last_error END"
"  FROM dead WHERE o.id = dead.id";

/*
 * The oldest due message: pending and due, or claimed by a runner whose
 * lease expired. $1 lease (seconds), $2 max attempts.
 */
static const char *sql_claim =
"WITH due AS ("
"  SELECT id FROM pgbank.outbox"
"   WHERE ((status = 'pending' AND next_attempt_at <= now())"
"          OR (status = 'sending' AND claimed_at <= now() - make_interval(secs => $1)))"
"     AND attempts < $2"
"   ORDER BY next_attempt_at, id"
"   LIMIT 1"
"   FOR UPDATE SKIP LOCKED)"
"UPDATE pgbank.outbox o"
"   SET status = 'sending', attempts = o.attempts + 1,"
"       claimed_at = clock_timestamp(), claimed_by = pg_backend_pid()"
"  FROM due WHERE o.id = due.id"
" RETURNING o.id, o.recipient, o.subject, o.body, o.attempts, o.claimed_at, o.created_at";

/* $1 id, $2 claimed_at: only this runner's own claim is settled. */
static const char *sql_sent =
"UPDATE pgbank.outbox"
"   SET status = 'sent', sent_at = clock_timestamp(), claimed_at = NULL, claimed_by = NULL"
" WHERE id = $1 AND status = 'sending' AND claimed_at = $2 AND claimed_by = pg_backend_pid()";

/* $1 id, $2 claimed_at, $3 error, $4 max attempts, $5 backoff base (ms) */
static const char *sql_retry =
"UPDATE pgbank.outbox"
"   SET status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END,"
"       last_error = $3,"
"       next_attempt_at = CASE WHEN attempts >= $4 THEN next_attempt_at"
"           ELSE clock_timestamp()"
"                + make_interval(secs => $5 / 1000.0 * 2 ^ least(attempts - 1, 20)) END,"
"       claimed_at = NULL, claimed_by = NULL"
" WHERE id = $1 AND status = 'sending' AND claimed_at = $2 AND claimed_by = pg_backend_pid()";

/*
 * When the next message falls due, after the claim's now(): the earliest
 * later next_attempt_at of a pending one or lease end of a claimed one;
 * NULL when there is none. One due already but not claimed is another
 * runner's, or was committed after the claim looked (and set the latch).
 * $1 lease (seconds).
 */
static const char *sql_next_due =
"SELECT least("
"  (SELECT min(next_attempt_at) FROM pgbank.outbox"
"    WHERE status = 'pending' AND next_attempt_at > now()),"
"  (SELECT min(claimed_at) FROM pgbank.outbox"
"    WHERE status = 'sending' AND claimed_at > now() - make_interval(secs => $1))"
"    + make_interval(secs => $1))";

/*
 * Credentials belong in pgbank.smtp_username and pgbank.smtp_password,
 * which nobody but a superuser can read; a URL is shown to everyone.
 */
static bool
check_smtp_url(char **newval, void **extra, GucSource source)
{
	const char *rest;

	if (*newval == NULL)
		return false;
	if (strncmp(*newval, "smtp://", 7) == 0)
		rest = *newval + 7;
	else if (strncmp(*newval, "smtps://", 8) == 0)
		rest = *newval + 8;
	else
	{
		GUC_check_errdetail("pgbank.smtp_url must start with smtp:// or smtps://.");
		return false;
	}
	if (strchr(rest, '@') != NULL)
	{
		GUC_check_errdetail("pgbank.smtp_url must not hold credentials.");
		GUC_check_errhint("Set pgbank.smtp_username and pgbank.smtp_password.");
		return false;
	}
	return true;
}

static bool
check_smtp_from(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || strchr(*newval, '@') == NULL ||
		strpbrk(*newval, "<>\r\n \t") != NULL)
	{
		GUC_check_errdetail("pgbank.smtp_from must be a bare address, like bank@example.com.");
		return false;
	}
	return true;
}

void
pgbank_outbox_init(void)
{
	DefineCustomStringVariable("pgbank.smtp_url",
							   "SMTP server the outbox delivers to (smtp:// or smtps://).",
							   NULL, &smtp_url, "smtp://127.0.0.1:2525",
							   PGC_SUSET, 0, check_smtp_url, NULL, NULL);
	DefineCustomStringVariable("pgbank.smtp_from",
							   "Sender address of outbox messages.",
							   NULL, &smtp_from, "no-reply@pgbank.localhost",
							   PGC_SUSET, 0, check_smtp_from, NULL, NULL);
	DefineCustomStringVariable("pgbank.smtp_username",
							   "User name for SMTP authentication (empty: none).",
							   NULL, &smtp_username, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("pgbank.smtp_password",
							   "Password for SMTP authentication.",
							   NULL, &smtp_password, "",
							   PGC_SUSET, GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);
	DefineCustomEnumVariable("pgbank.smtp_tls",
							 "STARTTLS on smtp:// URLs: none, try, or required.",
							 NULL, &smtp_tls, SMTP_TLS_TRY, smtp_tls_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.smtp_timeout",
							"Longest time one SMTP delivery may take.",
							NULL, &smtp_timeout_ms, 30000, 100, 600000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.smtp_connect_timeout",
							"Longest time connecting to the SMTP server may take.",
							NULL, &smtp_connect_timeout_ms, 10000, 100, 600000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.outbox_max_attempts",
							"Delivery attempts of an outbox message before it is marked failed.",
							NULL, &outbox_max_attempts, 8, 1, 100,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.outbox_backoff",
							"Delay before the first retry of an outbox message; it doubles with each attempt.",
							NULL, &outbox_backoff_ms, 30000, 0, 24 * 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.outbox_lease",
							"How long a claimed outbox message belongs to its runner before another may retry it.",
							"Must exceed pgbank.smtp_timeout.",
							&outbox_lease_s, 300, 10, 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.outbox_run_time",
							"How long one outbox run may go on claiming messages, and waiting for new ones.",
							"A run always tries one due message; CALL pgbank.run_outbox() outside a transaction block waits for new messages until then. Keep it a little below the job's interval.",
							&outbox_run_time_ms, 58000, 0, 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.outbox_poll_interval",
							"Longest wait of an outbox run between two looks for due messages.",
							"A waiting run is woken when a message is queued and when a retry or a lease is due; this bounds what no wake-up announces.",
							&outbox_poll_interval_ms, 10000, 10, 3600 * 1000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
}

static void
prepare_plans(void)
{
	Oid			lease_max[2] = {FLOAT8OID, INT4OID};
	Oid			sent[2] = {INT8OID, TIMESTAMPTZOID};
	Oid			retry[5] = {INT8OID, TIMESTAMPTZOID, TEXTOID, INT4OID, FLOAT8OID};
	Oid			lease[1] = {FLOAT8OID};

	if (plan_next_due != NULL)
		return;
	plan_sweep = pgbank_prepare_kept(sql_sweep, 2, lease_max);
	plan_claim = pgbank_prepare_kept(sql_claim, 2, lease_max);
	plan_sent = pgbank_prepare_kept(sql_sent, 2, sent);
	plan_retry = pgbank_prepare_kept(sql_retry, 5, retry);
	plan_next_due = pgbank_prepare_kept(sql_next_due, 1, lease);
}

/*
 * Claim the oldest due message; false when none is due. The copy is made
 * in the caller's memory context.
 */
static bool
claim_message(OutboxMessage *m, MemoryContext cxt)
{
	Datum		values[2] = {Float8GetDatum((double) outbox_lease_s),
	Int32GetDatum(outbox_max_attempts)};
	HeapTuple	tup;
	TupleDesc	desc;
	MemoryContext old;
	bool		isnull;

	pgbank_run_plan(plan_sweep, values, NULL, -1);
	pgbank_run_plan(plan_claim, values, NULL, -1);
	if (SPI_processed == 0)
		return false;

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	old = MemoryContextSwitchTo(cxt);
	m->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	m->recipient = SPI_getvalue(tup, desc, 2);
	m->subject = SPI_getvalue(tup, desc, 3);
	m->body = SPI_getvalue(tup, desc, 4);
	m->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
	m->claimed_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
	m->created_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull));
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/* Record the result of a claimed message; error NULL means sent. */
static void
record_result(const OutboxMessage *m, const char *error)
{
	Datum		values[5];

	values[0] = Int64GetDatum(m->id);
	values[1] = TimestampTzGetDatum(m->claimed_at);
	if (error == NULL)
		pgbank_run_plan(plan_sent, values, NULL, -1);
	else
	{
		values[2] = CStringGetTextDatum(error);
		values[3] = Int32GetDatum(outbox_max_attempts);
		values[4] = Float8GetDatum((double) outbox_backoff_ms);
		pgbank_run_plan(plan_retry, values, NULL, -1);
	}
	if (SPI_processed != 1)
		ereport(WARNING,
				(errmsg("outbox message %lld was claimed again before its result was recorded",
						(long long) m->id),
				 errdetail("Its lease (pgbank.outbox_lease) expired during the attempt, so it may be sent twice."),
				 errhint("Make pgbank.outbox_lease longer than pgbank.smtp_timeout.")));
}

/* Subject as an RFC 2047 encoded word when it is not plain ASCII. */
static void
append_subject(StringInfo out, const char *subject)
{
	const unsigned char *p;
	char	   *b64;
	size_t		len = strlen(subject);
	bool		ascii = true;
	int			n;

	for (p = (const unsigned char *) subject; *p; p++)
		if (*p >= 0x80 || *p < 0x20)
			ascii = false;
	if (ascii)
	{
		appendStringInfo(out, "Subject: %s\r\n", subject);
		return;
	}
	b64 = palloc(pg_b64_enc_len(len) + 1);
	n = pg_b64_encode(subject, len, b64, pg_b64_enc_len(len));
	b64[n] = '\0';
	appendStringInfo(out, "Subject: =?UTF-8?B?%s?=\r\n", b64);
}

/*
 * The message as it goes on the wire: headers, then the body with every
 * line ending made CRLF. libcurl does the SMTP dot-stuffing itself.
 */
static char *
format_message(const OutboxMessage *m)
{
	StringInfoData out;
	const char *p;
	pg_time_t	now = (pg_time_t) time(NULL);
	char		date[128];

	initStringInfo(&out);
	pg_strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000",
				pg_gmtime(&now));
	appendStringInfo(&out, "Date: %s\r\n", date);
	appendStringInfo(&out, "From: <%s>\r\n", smtp_from);
	appendStringInfo(&out, "To: <%s>\r\n", m->recipient);
	append_subject(&out, m->subject);
	appendStringInfo(&out, "Message-ID: <outbox-%lld-%lld@pgbank>\r\n",
					 (long long) m->id, (long long) m->created_at);
	appendStringInfoString(&out,
						   "MIME-Version: 1.0\r\n"
						   "Content-Type: text/plain; charset=UTF-8\r\n"
						   "Content-Transfer-Encoding: 8bit\r\n"
						   "\r\n");
	for (p = m->body; *p; p++)
	{
		if (*p == '\n' && (p == m->body || p[-1] != '\r'))
			appendStringInfoChar(&out, '\r');
		appendStringInfoChar(&out, *p);
	}
	if (out.len < 2 || out.data[out.len - 1] != '\n')
		appendStringInfoString(&out, "\r\n");
	return out.data;
}

static size_t
upload_read(char *buffer, size_t size, size_t nitems, void *arg)
{
	UploadState *u = (UploadState *) arg;
	size_t		n = Min(size * nitems, u->len - u->pos);

	memcpy(buffer, u->data + u->pos, n);
	u->pos += n;
	return n;
}

/* A cancel or shutdown request aborts the transfer; the caller then errors. */
static int
upload_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
				curl_off_t ultotal, curl_off_t ulnow)
{
	return (QueryCancelPending || ProcDiePending) ? 1 : 0;
}

/*
 * Send one message. Returns NULL when the server accepted it, else the
 * reason (palloc'd). The reason names the server's host and port at most:
 * credentials are never in the URL (check_smtp_url) nor in libcurl's errors.
 */
static char *
smtp_send(const OutboxMessage *m)
{
	CURL	   *curl;
	CURLcode	rc;
	struct curl_slist *rcpt = NULL;
	char		errbuf[CURL_ERROR_SIZE];
	char		mail_from[512];
	char		rcpt_to[512];
	UploadState upload;
	long		response = 0;
	char	   *error = NULL;

	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			elog(ERROR, "pgbank: curl_global_init failed");
		curl_ready = true;
	}
	curl = curl_easy_init();
	if (curl == NULL)
		return pstrdup("could not initialise libcurl");

	upload.data = format_message(m);
	upload.len = strlen(upload.data);
	upload.pos = 0;
	snprintf(mail_from, sizeof(mail_from), "<%s>", smtp_from);
	snprintf(rcpt_to, sizeof(rcpt_to), "<%s>", m->recipient);
	rcpt = curl_slist_append(rcpt, rcpt_to);
	errbuf[0] = '\0';

	curl_easy_setopt(curl, CURLOPT_URL, smtp_url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, upload_progress);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) smtp_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) smtp_connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_USE_SSL,
					 smtp_tls == SMTP_TLS_REQUIRED ? (long) CURLUSESSL_ALL :
					 smtp_tls == SMTP_TLS_TRY ? (long) CURLUSESSL_TRY :
					 (long) CURLUSESSL_NONE);
	if (smtp_username[0] != '\0')
	{
		curl_easy_setopt(curl, CURLOPT_USERNAME, smtp_username);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, smtp_password);
	}

	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(curl);
	pfree(upload.data);
	CHECK_FOR_INTERRUPTS();

	if (rc != CURLE_OK)
	{
		StringInfoData msg;

		initStringInfo(&msg);
		appendStringInfo(&msg, "%s", curl_easy_strerror(rc));
		if (errbuf[0] != '\0')
			appendStringInfo(&msg, ": %s", errbuf);
		if (response != 0)
			appendStringInfo(&msg, " (SMTP %ld)", response);
		error = msg.data;
	}
	return error;
}

/* When the next message falls due (DT_NOEND: none is pending or claimed). */
static TimestampTz
next_due(void)
{
	Datum		values[1] = {Float8GetDatum((double) outbox_lease_s)};
	Datum		due;
	bool		isnull;

	pgbank_run_plan(plan_next_due, values, NULL, 1);
	due = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	SPI_freetuptable(SPI_tuptable);
	return isnull ? DT_NOEND : DatumGetTimestampTz(due);
}

/*
 * Before a waiting run looks for due messages: reset the latch first, so
 * that a message committed after the look sets it again, and apply a
 * configuration reload.
 */
static void
prepare_look(void)
{
	ResetLatch(MyLatch);
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/*
 * Wait until a message is queued (the latch), the next one falls due, the
 * poll interval has passed or the run's time is up, whichever comes first.
 */
static void
wait_for_message(TimestampTz due, TimestampTz end)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz until = TimestampTzPlusMilliseconds(now, outbox_poll_interval_ms);
	long		timeout;

	if (due < until)
		until = due;
	if (end < until)
		until = end;
	timeout = TimestampDifferenceMilliseconds(now, until);
	if (timeout > 0)
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
	CHECK_FOR_INTERRUPTS();
}

/*
 * The loop of deliver: claim, send and record one message at a time; once
 * none is due, end, or with waits, wait for one until the run has lasted
 * pgbank.outbox_run_time (read again after a reload). max_messages bounds
 * what is claimed in one go: a waiting run counts again after each wait,
 * so that a steady stream of messages does not use up a minute's run.
 */
static int
deliver_loop(int max_messages, bool nonatomic, bool waits,
			 MemoryContext msgcxt, MemoryContext spicxt)
{
	TimestampTz start = GetCurrentTimestamp();
	bool		registered = false;
	int			claimed = 0;
	int			batch = 0;
	int			sent = 0;

	while (batch < max_messages)
	{
		OutboxMessage m;
		TimestampTz due;
		char	   *error;

		CHECK_FOR_INTERRUPTS();
		if (claimed > 0 && TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
													   outbox_run_time_ms))
			break;
		if (waits)
			prepare_look();
		MemoryContextReset(msgcxt);
		if (claim_message(&m, msgcxt))
		{
			claimed++;
			batch++;
			if (nonatomic)
				SPI_commit();

			MemoryContextSwitchTo(msgcxt);
			error = smtp_send(&m);
			record_result(&m, error);
			MemoryContextSwitchTo(spicxt);
			if (nonatomic)
				SPI_commit();
			if (error == NULL)
				sent++;
			else
				ereport(LOG,
						(errmsg("outbox message %lld: attempt %d failed: %s",
								(long long) m.id, m.attempts, error)));
			continue;
		}
		if (!waits)
			break;

		/* Nothing due: wait with no lock held, then look in a new transaction. */
		due = next_due();
		SPI_commit();
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), outbox_run_time_ms))
			break;
		if (!registered)
		{
			/* Look once more after registering, so no wake-up is missed. */
			registered = true;
			if (!pgbank_outbox_waiter_register())
				elog(DEBUG1, "pgbank.run_outbox: every wake-up slot is taken, polling every %d ms",
					 outbox_poll_interval_ms);
			continue;
		}
		wait_for_message(due, TimestampTzPlusMilliseconds(start, outbox_run_time_ms));
		/* now() of the next look, and its snapshot, are after the wait */
		SPI_commit();
		batch = 0;
	}
	return sent;
}

/*
 * Deliver up to max_messages due messages, claiming no new one once the run
 * has lasted pgbank.outbox_run_time; with nonatomic, commit after each claim
 * and each result, and wait for new messages while the run's time lasts
 * (up to max_messages after each wait). Returns how many were sent.
 */
static int
deliver(int max_messages, bool nonatomic)
{
	MemoryContext msgcxt;
	MemoryContext spicxt;
	volatile int sent = 0;

	if (max_messages < 1 || max_messages > 1000)
		pgbank_invalid_input("max_messages", "must be between 1 and 1000");

	if (SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
		elog(ERROR, "pgbank: SPI_connect failed");
	prepare_plans();
	/* The SPI procedure context lives until SPI_finish, across commits. */
	spicxt = CurrentMemoryContext;
	msgcxt = AllocSetContextCreate(spicxt, "pgbank outbox message",
								   ALLOCSET_DEFAULT_SIZES);
	/* pg_cron's job workers ignore SIGHUP; a waiting run takes it. */
	if (nonatomic)
		pqsignal(SIGHUP, SignalHandlerForConfigReload);

	PG_TRY();
	{
		sent = deliver_loop(max_messages, nonatomic, nonatomic, msgcxt, spicxt);
	}
	PG_FINALLY();
	{
		pgbank_outbox_waiter_unregister();
	}
	PG_END_TRY();

	MemoryContextDelete(msgcxt);
	SPI_finish();
	return sent;
}

/*
 * SQL procedure: pgbank.run_outbox(max_messages integer DEFAULT 1000)
 *
 * Called by CALL outside a transaction block (as pg_cron does), it commits
 * between steps; anywhere else it behaves like pgbank.deliver_outbox.
 */
Datum
pgbank_run_outbox(PG_FUNCTION_ARGS)
{
	bool		nonatomic;

	nonatomic = fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	elog(DEBUG1, "pgbank.run_outbox: %s", nonatomic ?
		 "committing after each claim and result" :
		 "atomic context, running in the caller's transaction");
	if (PG_ARGISNULL(0))
		pgbank_invalid_input("max_messages", "must be between 1 and 1000");
	deliver(PG_GETARG_INT32(0), nonatomic);
	PG_RETURN_VOID();
}

/*
 * SQL function: pgbank.deliver_outbox(max_messages integer DEFAULT 10)
 * RETURNS integer
 */
Datum
pgbank_deliver_outbox(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(deliver(PG_GETARG_INT32(0), false));
}
