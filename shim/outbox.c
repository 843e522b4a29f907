/*
 * outbox.c
 *		The outbox worker (pgbank-http --outbox-worker): delivers the outbox
 *		over SMTP with libcurl for a database that cannot (the managed build,
 *		docs/managed.md), through the SQL functions that hold the rules.
 *
 * One connection, autocommit: SELECT pgbank.outbox_claim() claims the next
 * due message for this backend and commits (so no transaction stays open
 * while SMTP is talked to, and the claim survives the worker); then the
 * message is sent; then SELECT pgbank.outbox_result(id, claimed_at, error)
 * records it, only if the claim is still this connection's (else the
 * database warns that it may be sent twice). The claim, lease, retry and
 * failure rules are those of extension/outbox.c, in SQL; this file only
 * carries messages. The message is formatted as the C build formats it,
 * with the same Message-ID, so a receiver can drop duplicates.
 *
 * SIGTERM or SIGINT: the message in flight is finished and recorded, then
 * the worker exits 0. When no message is due it waits --outbox-poll
 * seconds; when the database is gone it reconnects after as long.
 */
#include <curl/curl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim.h"

/* The SMTP settings of pgbank.outbox_smtp(), read at each round. */
typedef struct Smtp
{
	char	   *url;
	char	   *from;
	char	   *username;
	char	   *password;
	char	   *tls;
	long		timeout_ms;
	long		connect_timeout_ms;
} Smtp;

/* One claimed message. */
typedef struct Message
{
	const char *id;
	const char *recipient;
	const char *subject;
	const char *body;
	const char *attempts;
	const char *claimed_at;
	const char *message_id;
} Message;

typedef struct Upload
{
	const char *data;
	size_t		len;
	size_t		pos;
} Upload;

static const char b64chars[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
buf_base64(StrBuf *b, const unsigned char *s, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i += 3)
	{
		unsigned int v = (unsigned int) s[i] << 16 |
			(i + 1 < n ? (unsigned int) s[i + 1] << 8 : 0) |
			(i + 2 < n ? (unsigned int) s[i + 2] : 0);
		char		q[4];

		q[0] = b64chars[(v >> 18) & 63];
		q[1] = b64chars[(v >> 12) & 63];
		q[2] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? b64chars[v & 63] : '=';
		buf_append(b, q, 4);
	}
}

/* The message as extension/outbox.c's format_message writes it. */
static void
format_message(StrBuf *out, const Smtp *smtp, const Message *m)
{
	time_t		now = time(NULL);
	struct tm	tm;
	char		date[64];
	const unsigned char *p;
	bool		ascii = true;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_printf(out, "Date: %s\r\nFrom: <%s>\r\nTo: <%s>\r\n", date, smtp->from, m->recipient);
	for (p = (const unsigned char *) m->subject; *p; p++)
		if (*p >= 0x80 || *p < 0x20)
			ascii = false;
	if (ascii)
		buf_printf(out, "Subject: %s\r\n", m->subject);
	else
	{
		buf_puts(out, "Subject: =?UTF-8?B?");
		buf_base64(out, (const unsigned char *) m->subject, strlen(m->subject));
		buf_puts(out, "?=\r\n");
	}
	buf_printf(out, "Message-ID: %s\r\n", m->message_id);
	buf_puts(out, "MIME-Version: 1.0\r\n"
			 "Content-Type: text/plain; charset=UTF-8\r\n"
			 "Content-Transfer-Encoding: 8bit\r\n"
			 "\r\n");
	for (p = (const unsigned char *) m->body; *p; p++)
	{
		if (*p == '\n' && (p == (const unsigned char *) m->body || p[-1] != '\r'))
			buf_append(out, "\r", 1);
		buf_append(out, (const char *) p, 1);
	}
	if (out->len < 2 || out->data[out->len - 1] != '\n')
		buf_puts(out, "\r\n");
}

static size_t
upload_read(char *buffer, size_t size, size_t nitems, void *arg)
{
	Upload	   *u = arg;
	size_t		n = size * nitems;

	if (n > u->len - u->pos)
		n = u->len - u->pos;
	memcpy(buffer, u->data + u->pos, n);
	u->pos += n;
	return n;
}

/* Send one message; NULL on success, else the error (malloc'd). */
static char *
smtp_send(const Smtp *smtp, const Message *m)
{
	CURL	   *curl = curl_easy_init();
	struct curl_slist *rcpt = NULL;
	char		errbuf[CURL_ERROR_SIZE] = "";
	StrBuf		msg;
	StrBuf		addr;
	StrBuf		err;
	Upload		upload;
	CURLcode	rc;
	long		response = 0;
	char	   *error = NULL;

	if (curl == NULL)
		return strdup("could not initialise libcurl");
	buf_init(&msg, 16 * 1024 * 1024);
	format_message(&msg, smtp, m);
	buf_init(&addr, 1024);
	buf_printf(&addr, "<%s>", m->recipient);
	rcpt = curl_slist_append(rcpt, addr.data);
	buf_free(&addr);
	buf_init(&addr, 1024);
	buf_printf(&addr, "<%s>", smtp->from);
	upload.data = msg.data;
	upload.len = msg.overflow ? 0 : msg.len;
	upload.pos = 0;

	curl_easy_setopt(curl, CURLOPT_URL, smtp->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, addr.data);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, smtp->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, smtp->connect_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_USE_SSL,
					 strcmp(smtp->tls, "required") == 0 ? (long) CURLUSESSL_ALL :
					 strcmp(smtp->tls, "try") == 0 ? (long) CURLUSESSL_TRY :
					 (long) CURLUSESSL_NONE);
	if (smtp->username[0] != '\0')
	{
		curl_easy_setopt(curl, CURLOPT_USERNAME, smtp->username);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, smtp->password);
	}
	rc = msg.overflow ? CURLE_FILESIZE_EXCEEDED : curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(curl);
	buf_free(&addr);
	buf_free(&msg);
	if (rc != CURLE_OK)
	{
		buf_init(&err, 4096);
		buf_puts(&err, curl_easy_strerror(rc));
		if (errbuf[0] != '\0')
			buf_printf(&err, ": %s", errbuf);
		if (response != 0)
			buf_printf(&err, " (SMTP %ld)", response);
		error = strdup(err.data ? err.data : "SMTP error");
		buf_free(&err);
	}
	return error;
}

static void
smtp_free(Smtp *s)
{
	free(s->url);
	free(s->from);
	free(s->username);
	if (s->password)
	{
		memset(s->password, 0, strlen(s->password));
		free(s->password);
	}
	free(s->tls);
	memset(s, 0, sizeof(*s));
}

/* Read pgbank.outbox_smtp(); false on a database error (logged). */
static bool
smtp_read(PGconn *conn, Smtp *s)
{
	PGresult   *r = PQexec(conn, "SELECT url, mail_from, username, password, tls, timeout_ms, "
						   "connect_timeout_ms FROM pgbank.outbox_smtp()");
	bool		ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;

	if (ok)
	{
		s->url = strdup(PQgetvalue(r, 0, 0));
		s->from = strdup(PQgetvalue(r, 0, 1));
		s->username = strdup(PQgetvalue(r, 0, 2));
		s->password = strdup(PQgetvalue(r, 0, 3));
		s->tls = strdup(PQgetvalue(r, 0, 4));
		s->timeout_ms = atol(PQgetvalue(r, 0, 5));
		s->connect_timeout_ms = atol(PQgetvalue(r, 0, 6));
	}
	else
		log_line("error", PQerrorMessage(conn));
	PQclear(r);
	return ok;
}

static void
log_message(const Message *m, const char *result, const char *error, bool recorded)
{
	StrBuf		b;

	buf_init(&b, 8192);
	log_begin(&b, error ? "warning" : "info");
	buf_printf(&b, ",\"outbox\":%s,\"attempt\":%s,\"result\":", m->id, m->attempts);
	buf_json_string(&b, result);
	if (error)
	{
		buf_puts(&b, ",\"error\":");
		buf_json_string(&b, error);
	}
	buf_printf(&b, ",\"recorded\":%s", recorded ? "true" : "false");
	log_end(&b);
}

/*
 * Claim, send and record one message. 1: one was handled; 0: none is due;
 * -1: a database error (logged).
 */
static int
deliver_one(PGconn *conn, const Smtp *smtp)
{
	PGresult   *r = PQexec(conn, "SELECT id, recipient, subject, body, attempts, claimed_at, "
						   "message_id FROM pgbank.outbox_claim()");
	PGresult   *res;
	Message		m;
	char	   *error;
	const char *params[3];
	bool		recorded;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
	{
		log_line("error", PQerrorMessage(conn));
		PQclear(r);
		return -1;
	}
	if (PQntuples(r) == 0)
	{
		PQclear(r);
		return 0;
	}
	m.id = PQgetvalue(r, 0, 0);
	m.recipient = PQgetvalue(r, 0, 1);
	m.subject = PQgetvalue(r, 0, 2);
	m.body = PQgetvalue(r, 0, 3);
	m.attempts = PQgetvalue(r, 0, 4);
	m.claimed_at = PQgetvalue(r, 0, 5);
	m.message_id = PQgetvalue(r, 0, 6);
	error = smtp_send(smtp, &m);
	params[0] = m.id;
	params[1] = m.claimed_at;
	params[2] = error;
	res = PQexecParams(conn, "SELECT pgbank.outbox_result($1::bigint, $2::timestamptz, $3::text)",
					   3, NULL, params, NULL, NULL, 0);
	recorded = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		log_line("error", PQerrorMessage(conn));
	log_message(&m, error ? "retry" : "sent", error, recorded);
	PQclear(res);
	PQclear(r);
	free(error);
	return PQstatus(conn) == CONNECTION_OK ? 1 : -1;
}

static PGconn *
worker_connect(void)
{
	const char *keys[] = {"fallback_application_name", "connect_timeout", "dbname", NULL};
	const char *values[4];
	char		timeout[16];
	PGconn	   *conn;

	snprintf(timeout, sizeof(timeout), "%d", shim_config.connect_timeout);
	values[0] = "pgbank-outbox-worker";
	values[1] = timeout;
	values[2] = shim_config.db;
	values[3] = NULL;
	conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		log_line("error", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* Wait up to seconds for SIGTERM or SIGINT (blocked); true if one came. */
static bool
stop_requested(const sigset_t *stop, int seconds)
{
	struct timespec ts = {.tv_sec = seconds, .tv_nsec = 0};

	return sigtimedwait(stop, NULL, &ts) > 0;
}

int
outbox_worker_run(void)
{
	sigset_t	stop;
	PGconn	   *conn = NULL;
	bool		stopping = false;
	char		msg[128];

	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		log_line("fatal", "curl_global_init failed");
		return 1;
	}
	snprintf(msg, sizeof(msg), "outbox worker: polling every %d s", shim_config.outbox_poll);
	log_line("info", msg);
	while (!stopping)
	{
		Smtp		smtp = {0};
		int			n = 1;

		if (conn == NULL && (conn = worker_connect()) == NULL)
		{
			stopping = stop_requested(&stop, shim_config.outbox_poll);
			continue;
		}
		if (smtp_read(conn, &smtp))
		{
			/* drain what is due, checking for a stop between messages */
			while (!stopping && (n = deliver_one(conn, &smtp)) == 1)
				stopping = stop_requested(&stop, 0);
		}
		else
			n = -1;
		smtp_free(&smtp);
		if (n < 0 && PQstatus(conn) != CONNECTION_OK)
		{
			PQfinish(conn);
			conn = NULL;
		}
		if (!stopping)
			stopping = stop_requested(&stop, shim_config.outbox_poll);
	}
	log_line("info", "outbox worker: stopped");
	if (conn)
		PQfinish(conn);
	curl_global_cleanup();
	return 0;
}
