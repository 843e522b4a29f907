/*
 * http.c
 *		libmicrohttpd plumbing: requests in, statements queued, answers out.
 *
 * Threads. libmicrohttpd runs a pool of HTTP threads (one per CPU, each
 * polling its own connections) that only read requests and write answers.
 * poll(2), not epoll: in 0.9.75 MHD_quiesce_daemon races an epoll thread
 * for the listening socket's removal from its set, and the loser aborts
 * the process ("Failed to remove listen FD from epoll set"); the poll
 * loop only drops the socket from its next poll. The
 * statements run on the database workers of pool.c, each owning one
 * PostgreSQL connection. When a request is complete, its HTTP thread
 * suspends the connection and queues the request's job; the worker that
 * runs it calls job_done, which resumes the connection, and the HTTP
 * thread sends the answer. So a slow statement holds up only its own
 * request, and an HTTP thread never waits for PostgreSQL.
 *
 * A request's life. on_uri (the request line is in) allocates it, which
 * also makes libmicrohttpd call on_completed for it whatever happens next.
 * The first call of on_request (headers read) refuses bad body framing,
 * %00 in the URI and a declared Content-Length over the limit at once; the
 * next calls append body data, still bounded; the last checks the
 * parameters (UTF-8, JSON) and hands the request to the pool. After the
 * pool, on_request is called once more and answers, unless the client has
 * gone: then libmicrohttpd calls on_completed without it.
 *
 * Who owns what. While a job is queued or running (JOB_QUEUED) the pool
 * owns it and the connection is suspended, which libmicrohttpd never
 * completes, so the Request cannot be freed under the worker; the worker
 * touches neither after job_done. From then on (JOB_DONE) the result
 * belongs to the Request, and release_job frees it exactly once: in
 * answer_job, or in on_completed when the client hung up. The suspended
 * count (a /metrics gauge) is the number of requests not yet released;
 * shutdown may stop libmicrohttpd only when it is 0.
 *
 * Time. PGBANK_TIMEOUT bounds silence (libmicrohttpd's own timeout);
 * PGBANK_REQUEST_TIMEOUT bounds the whole wait for a request (deadline.c),
 * so that a client sending one byte a second is cut off too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "json_check.h"
#include "shim.h"

#define MAX_PATH_LOGGED 1024
#define BODY_ABORT_FACTOR 16	/* past limit * this, drop the connection */
#define RESPONSE_LIMIT (64 * 1024 * 1024)

/* Where a request's job is; see "Who owns what" above. */
typedef enum JobState
{
	JOB_NONE,					/* not with the pool, or released */
	JOB_QUEUED,					/* the pool's; the connection is suspended */
	JOB_DONE					/* the worker is done; the result is ours */
} JobState;

typedef struct Request
{
	struct MHD_Connection *conn;
	DeadlineTrack *track;		/* the connection's request clock */
	double		start;
	bool		started;		/* on_request has been called */
	bool		nul_in_uri;		/* the raw URI has %00 */
	int			route_index;	/* -1 when no route matched */
	RouteMatch	match;
	Capture		captures[ROUTE_MAX_CAPTURES];
	int			ncaptures;
	char		allow[64];
	char		method[16];
	char		path[MAX_PATH_LOGGED + 1];
	char		request_id[129];
	char		client_ip[INET6_ADDRSTRLEN];
	StrBuf		body;
	size_t		received;
	bool		too_large;
	bool		responded;
	bool		close_connection;	/* answer with Connection: close */
	bool		cookie_auth;	/* the token came from the session cookie */
	int			status;
	bool		dispatched;		/* handed to the pool */
	JobState	job_state;		/* written by the worker in job_done */
	PoolJob		job;			/* what the pool runs for this request */
} Request;

static struct MHD_Daemon *daemon_handle;
static MHD_socket listen_socket = MHD_INVALID_SOCKET;
static int	in_flight;
static int	suspended;
static volatile int shutting_down;
static int	closing;			/* shutdown is about to stop libmicrohttpd */

/* The OpenAPI document, built into the binary (openapi_doc.c). */
extern const char pgbank_openapi_start[];
extern const uint64_t pgbank_openapi_size;
static char *openapi_loaded;
static size_t openapi_loaded_len;

/* ----- answers ----- */

/*
 * Queue a response with the headers every answer has: the request id, the
 * security headers (static.c) and CORS's (cors.c); Cache-Control: no-store
 * for the routes whose answers carry tokens; Retry-After when retry_after >
 * 0; Allow for a 405; Connection: close once shutdown has begun or when the
 * request's framing is refused. Receiving the request is over. The
 * response is destroyed here.
 */
static void
queue_response(Request *req, int status, struct MHD_Response *resp, int retry_after)
{
	char		value[16];

	deadline_received(req->track);
	MHD_add_response_header(resp, "X-Request-Id", req->request_id);
	static_security_headers(resp);
	cors_headers(req->conn, resp);
	if (req->route_index >= 0 && (shim_routes[req->route_index].flags & ROUTE_NO_STORE))
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (retry_after > 0)
	{
		snprintf(value, sizeof(value), "%d", retry_after);
		MHD_add_response_header(resp, "Retry-After", value);
	}
	if (status == 405 || (status == 204 && req->allow[0]))
		MHD_add_response_header(resp, "Allow", req->allow);
	if (shutting_down || req->close_connection)
		MHD_add_response_header(resp, "Connection", "close");
	if (MHD_queue_response(req->conn, (unsigned int) status, resp) == MHD_YES)
	{
		req->status = status;
		req->responded = true;
	}
	MHD_destroy_response(resp);
}

/*
 * Queue an answer whose body is a StrBuf, handed to MHD; cookies: a
 * ROUTE_SESSION result whose tokens become Set-Cookie headers.
 */
static void
respond_cookies(Request *req, int status, StrBuf *body, const char *content_type,
				int retry_after, const PGresult *cookies)
{
	struct MHD_Response *resp;

	if (body->overflow || body->data == NULL)
	{
		buf_free(body);
		body->limit = 256;
		error_body(body, "response too large", NULL);
		status = 500;
		content_type = "application/json";
		cookies = NULL;
	}
	resp = MHD_create_response_from_buffer(body->len, body->data,
										   MHD_RESPMEM_MUST_FREE);
	body->data = NULL;
	buf_free(body);
	if (resp == NULL)
	{
		deadline_received(req->track);
		return;
	}
	MHD_add_response_header(resp, "Content-Type", content_type);
	if (cookies)
		cookies_set(resp, cookies);
	queue_response(req, status, resp, retry_after);
}

static void
respond(Request *req, int status, StrBuf *body, const char *content_type,
		int retry_after)
{
	respond_cookies(req, status, body, content_type, retry_after, NULL);
}

static void
respond_json(Request *req, int status, StrBuf *body)
{
	respond(req, status, body, "application/json", 0);
}

static void
respond_error(Request *req, int status, const char *message, const char *code,
			  int retry_after)
{
	StrBuf		b;

	buf_init(&b, 4096);
	error_body(&b, message, code);
	respond(req, status, &b, "application/json", retry_after);
}

/* A 400 about one input field, worded as the extension words its own. */
static void
respond_field_error(Request *req, const char *field, const char *problem,
					const char *code)
{
	StrBuf		b;
	char		message[256];

	snprintf(message, sizeof(message), "invalid %s: %s", field, problem);
	buf_init(&b, 4096);
	error_body_field(&b, message, code, field);
	respond(req, 400, &b, "application/json", 0);
}

static void
respond_text(Request *req, const char *text, const char *content_type)
{
	StrBuf		b;

	buf_init(&b, RESPONSE_LIMIT);
	buf_puts(&b, text);
	respond(req, 200, &b, content_type, 0);
}

/* ----- built-in routes ----- */

void
handle_healthz(Request *req)
{
	respond_text(req, "{\"status\":\"ok\"}", "application/json");
}

static void dispatch(Request *req, int route_index);

/* SELECT 1 on a pool connection: answered by answer_job. */
void
handle_readyz(Request *req)
{
	dispatch(req, -1);
}

void
handle_metrics(Request *req)
{
	StrBuf		b;

	buf_init(&b, 4 * 1024 * 1024);
	metrics_render(&b);
	buf_printf(&b, "# HELP pgbank_http_in_flight Requests being served now.\n"
			   "# TYPE pgbank_http_in_flight gauge\npgbank_http_in_flight %d\n",
			   __atomic_load_n(&in_flight, __ATOMIC_RELAXED));
	buf_printf(&b, "# HELP pgbank_http_suspended Requests handed to the database workers "
			   "whose answer is not taken yet.\n"
			   "# TYPE pgbank_http_suspended gauge\npgbank_http_suspended %d\n",
			   __atomic_load_n(&suspended, __ATOMIC_RELAXED));
	buf_printf(&b, "# HELP pgbank_http_request_timeouts_total Connections cut off for not "
			   "sending a whole request within PGBANK_REQUEST_TIMEOUT.\n"
			   "# TYPE pgbank_http_request_timeouts_total counter\n"
			   "pgbank_http_request_timeouts_total %llu\n",
			   (unsigned long long) deadline_cuts());
	respond(req, 200, &b, "text/plain; version=0.0.4; charset=utf-8", 0);
}

const char *
openapi_document(size_t *len)
{
	if (openapi_loaded)
	{
		*len = openapi_loaded_len;
		return openapi_loaded;
	}
	*len = (size_t) pgbank_openapi_size;
	return pgbank_openapi_start;
}

void
handle_openapi(Request *req)
{
	StrBuf		b;
	size_t		len;
	const char *doc = openapi_document(&len);

	buf_init(&b, RESPONSE_LIMIT);
	buf_append(&b, doc, len);
	respond(req, 200, &b, "application/json", 0);
}

/* Read the document from a file instead of the built-in copy. */
int
openapi_load(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	StrBuf		b;
	char		chunk[8192];
	size_t		n;

	if (f == NULL)
		return -1;
	buf_init(&b, 4 * 1024 * 1024);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	if (b.overflow || b.data == NULL)
	{
		buf_free(&b);
		return -1;
	}
	openapi_loaded = b.data;
	openapi_loaded_len = b.len;
	return 0;
}

/* ----- routes backed by SQL ----- */

/*
 * The bearer token of an Authorization header: NULL when there is no
 * header (the SQL function answers 401 for a missing token), and *bad when
 * the header is not "Bearer <token>".
 */
static const char *
bearer_token(Request *req, bool *bad)
{
	return bearer_token_of(MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
													   "Authorization"), bad);
}

static const char *
capture_value(Request *req, const char *name)
{
	int			i;

	for (i = 0; i < req->ncaptures; i++)
	{
		if (strlen(name) == req->captures[i].name_len &&
			strncmp(req->captures[i].name, name, req->captures[i].name_len) == 0)
			return req->captures[i].value;
	}
	return NULL;
}

static const char *
client_ip(Request *req)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;

	info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info == NULL || info->client_addr == NULL)
		return NULL;
	sa = info->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr,
				  req->client_ip, sizeof(req->client_ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr,
				  req->client_ip, sizeof(req->client_ip));
	else
		return NULL;
	return req->client_ip;
}

/*
 * A parameter's value as the client sent it must be text PostgreSQL can
 * hold (UTF-8, no NUL), and a body JSON it accepts: else 400 here, where
 * the client's mistake can be named, not 22021 or 54001 from the server.
 */
static bool
param_ok(Request *req, const RouteParam *p, const char *value)
{
	const char *field;
	JsonCheckResult res;
	size_t		offset = 0;
	char		problem[96];

	if (value == NULL)
		return true;
	if (p->source == PARAM_BODY)
	{
		res = json_check(value, req->body.len, &offset);
		if (res == JSON_CHECK_OK)
			return true;
		snprintf(problem, sizeof(problem), "%s (at byte %zu)",
				 json_check_message(res), offset);
		respond_field_error(req, "body", problem, json_check_sqlstate(res));
		return false;
	}
	if (utf8_valid(value, strlen(value), NULL))
		return true;
	field = p->source == PARAM_TOKEN ? "Authorization" : p->name;
	respond_field_error(req, field ? field : "parameter",
						json_check_message(JSON_CHECK_BAD_UTF8),
						json_check_sqlstate(JSON_CHECK_BAD_UTF8));
	return false;
}

static bool
safe_method(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
		strcmp(method, "OPTIONS") == 0;
}

/*
 * The statement's parameters, from the request pieces the route names.
 * The token is the Authorization header's, or else the session cookie's,
 * and then a write must pass the cross-site check (cookies.c), as must any
 * write of the session routes.
 */
static bool
route_params(Request *req, const Route *r, const char **values)
{
	int			i;
	bool		bad_auth = false;

	for (i = 0; i < r->nparams; i++)
	{
		const RouteParam *p = &r->params[i];

		switch (p->source)
		{
			case PARAM_BODY:
				values[i] = req->body.len > 0 ? req->body.data : NULL;
				break;
			case PARAM_TOKEN:
				values[i] = bearer_token(req, &bad_auth);
				if (values[i] == NULL && !bad_auth &&
					(values[i] = cookie_token(req->conn)) != NULL)
					req->cookie_auth = true;
				break;
			case PARAM_COOKIE:
				values[i] = MHD_lookup_connection_value(req->conn,
														MHD_COOKIE_KIND, p->name);
				break;
			case PARAM_PATH:
				values[i] = capture_value(req, p->name);
				break;
			case PARAM_QUERY:
				values[i] = MHD_lookup_connection_value(req->conn,
														MHD_GET_ARGUMENT_KIND, p->name);
				break;
			case PARAM_HEADER:
				values[i] = MHD_lookup_connection_value(req->conn,
														MHD_HEADER_KIND, p->name);
				break;
			case PARAM_CLIENT_IP:
				values[i] = client_ip(req);
				break;
		}
		if (bad_auth)
		{
			respond_error(req, 401, "unsupported authorization type: expected \"Bearer <token>\"",
						  "28000", 0);
			return false;
		}
		if (!param_ok(req, p, values[i]))
			return false;
	}
	if ((req->cookie_auth || (r->flags & ROUTE_SESSION)) && !safe_method(req->method) &&
		!cookie_origin_ok(req->conn))
	{
		respond_error(req, 403, "cross-site request refused: a write authenticated by the "
					  "session cookie must come from this server's pages or an allowed origin",
					  "42501", 0);
		return false;
	}
	return true;
}

/*
 * The answer of a statement: its one JSON value (for a ROUTE_SESSION
 * route, the first of its five columns, the others its cookies), or the
 * mapped error.
 */
static void
respond_result(Request *req, PGresult *res)
{
	StrBuf		b;
	bool		session = (shim_routes[req->route_index].flags & ROUTE_SESSION) != 0;

	buf_init(&b, RESPONSE_LIMIT);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		PQnfields(res) == (session ? 5 : 1) && !PQgetisnull(res, 0, 0))
	{
		buf_append(&b, PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
		respond_cookies(req, 200, &b, "application/json", 0, session ? res : NULL);
	}
	else if (PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		error_body(&b, "the function returned no result", NULL);
		respond_json(req, 500, &b);
	}
	else
	{
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		int			status = http_status_for_sqlstate(sqlstate);

		/* 503: the server is going away or starting; a retry may succeed */
		error_body_from_result(&b, res);
		respond(req, status, &b, "application/json", status == 503 ? 1 : 0);
	}
}

static void
run_sql_route(Request *req, const Route *r)
{
	if (!route_params(req, r, req->job.values))
		return;
	dispatch(req, req->route_index);
}

/* ----- the pool ----- */

/*
 * On a pool worker, when the job is done: the result is the request's now.
 * After MHD_resume_connection the worker must not touch req: the HTTP
 * thread may answer and free it at once.
 */
static void
job_done(PoolJob *job)
{
	Request    *req = (Request *) ((char *) job - offsetof(Request, job));
	struct MHD_Connection *conn = req->conn;

	__atomic_store_n(&req->job_state, JOB_DONE, __ATOMIC_RELEASE);
	MHD_resume_connection(conn);
}

/*
 * Suspend the connection and queue its statement (route_index, or -1 for
 * SELECT 1): the HTTP thread goes on with its other connections.
 */
static void
dispatch(Request *req, int route_index)
{
	deadline_received(req->track);
	/*
	 * Counted before closing is read, as http_shutdown sets closing before
	 * it reads the count: either it sees this request, or this request
	 * sees closing and is answered without suspending its connection.
	 */
	__atomic_add_fetch(&suspended, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&closing, __ATOMIC_SEQ_CST))
	{
		__atomic_sub_fetch(&suspended, 1, __ATOMIC_SEQ_CST);
		respond_error(req, 503, "server shutting down", "57P01", 1);
		return;
	}
	req->job.route_index = route_index;
	req->job.done = job_done;
	req->dispatched = true;
	req->job_state = JOB_QUEUED;
	MHD_suspend_connection(req->conn);
	pool_submit(&req->job);
}

/* Free the job's result, once, however the request ends. */
static void
release_job(Request *req)
{
	if (__atomic_load_n(&req->job_state, __ATOMIC_ACQUIRE) != JOB_DONE)
		return;
	PQclear(req->job.result);
	req->job.result = NULL;
	req->job_state = JOB_NONE;
	__atomic_sub_fetch(&suspended, 1, __ATOMIC_SEQ_CST);
}

/* Back on the HTTP thread after job_done: the answer of the job. */
static void
answer_job(Request *req)
{
	PoolJob    *job = &req->job;

	if (job->status == POOL_REFUSED)
		respond_error(req, 503, "server shutting down", "57P01", job->retry_after);
	else if (job->status == POOL_OVERLOADED)
		respond_error(req, 503, "server overloaded: too many requests waiting for the database",
					  "53000", job->retry_after);
	else if (job->status != POOL_OK)
		respond_error(req, 503, "database unavailable", "08006", job->retry_after);
	else if (job->route_index < 0)
		respond_text(req, "{\"status\":\"ready\"}", "application/json");
	else
		respond_result(req, job->result);
	release_job(req);
}

/* ----- the MHD callbacks ----- */

/* X-Request-Id from the client if it is sane, else 16 random bytes. */
static void
set_request_id(Request *req)
{
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
												"X-Request-Id");
	unsigned char raw[16];
	size_t		i;

	if (h && h[0] && strlen(h) < sizeof(req->request_id) &&
		strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			   "0123456789-_.:") == strlen(h))
	{
		strcpy(req->request_id, h);
		return;
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw))
		memset(raw, 0, sizeof(raw));
	for (i = 0; i < sizeof(raw); i++)
		snprintf(req->request_id + 2 * i, 3, "%02x", raw[i]);
}

/*
 * The request line is in: the Request starts here, before libmicrohttpd
 * decodes the URI, so that %00 (which decoding would turn into the end of
 * the path or of a query value) is still visible.
 */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	Request    *req = calloc(1, sizeof(Request));

	if (req == NULL)
		return NULL;
	req->conn = conn;
	req->start = now_seconds();
	req->route_index = -1;
	req->nul_in_uri = strstr(uri, "%00") != NULL;
	buf_init(&req->body, (size_t) shim_config.body_limit);
	return req;
}

static DeadlineTrack *
connection_track(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info;

	info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info ? (DeadlineTrack *) info->socket_context : NULL;
}

/* The headers are in: the route and the request id. */
static void
request_start(Request *req, const char *url, const char *method)
{
	req->started = true;
	req->track = connection_track(req->conn);
	snprintf(req->method, sizeof(req->method), "%s", method);
	snprintf(req->path, sizeof(req->path), "%s", url);
	set_request_id(req);
	req->match = route_match(method, url, &req->route_index, req->captures,
							 &req->ncaptures, req->allow, sizeof(req->allow));
	if (req->match != ROUTE_FOUND)
		req->route_index = -1;
	__atomic_add_fetch(&in_flight, 1, __ATOMIC_RELAXED);
}

typedef struct Framing
{
	int			content_lengths;
	int			transfer_encodings;
	const char *transfer_encoding;
} Framing;

static enum MHD_Result
count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	Framing    *f = cls;

	if (strcasecmp(key, "Content-Length") == 0)
		f->content_lengths++;
	else if (strcasecmp(key, "Transfer-Encoding") == 0)
	{
		f->transfer_encodings++;
		f->transfer_encoding = value;
	}
	return MHD_YES;
}

/*
 * Body framing that another HTTP reader (a proxy in front) could read
 * differently is refused: libmicrohttpd reads the first Content-Length
 * only, and Transfer-Encoding before it, so what it left over would be
 * read as a second request (request smuggling). An unknown coding would
 * make it read until the client closes. Answering before the body is read
 * makes libmicrohttpd close the connection after the answer, discarding
 * whatever follows.
 */
static bool
framing_ok(Request *req)
{
	Framing		f = {0, 0, NULL};

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_framing, &f);
	if (f.content_lengths > 1 || (f.content_lengths > 0 && f.transfer_encodings > 0))
	{
		req->close_connection = true;
		respond_error(req, 400, "ambiguous body length: more than one Content-Length, "
					  "or Content-Length with Transfer-Encoding", NULL, 0);
		return false;
	}
	if (f.transfer_encodings > 1 ||
		(f.transfer_encodings == 1 && strcasecmp(f.transfer_encoding, "chunked") != 0))
	{
		req->close_connection = true;
		respond_error(req, 501, "unsupported Transfer-Encoding: only chunked is implemented",
					  NULL, 0);
		return false;
	}
	return true;
}

/*
 * First call: refuse what can be refused before reading the body (bad
 * framing, %00 in the URI, a declared body over the limit).
 */
static void
request_begin(Request *req)
{
	const char *cl;
	char	   *end;
	unsigned long long n;

	if (!framing_ok(req))
		return;
	if (req->nul_in_uri)
	{
		respond_error(req, 400, "invalid request URI: %00 (a NUL byte) is not allowed",
					  json_check_sqlstate(JSON_CHECK_BAD_UTF8), 0);
		return;
	}
	cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Length");
	if (cl == NULL)
		return;
	errno = 0;
	n = strtoull(cl, &end, 10);
	if (errno != 0 || end == cl || n > (unsigned long long) shim_config.body_limit)
	{
		req->too_large = true;
		respond_error(req, 413, "request body too large", NULL, 0);
	}
}

/* Body data: kept up to the limit; past it, discarded (and answered 413). */
static bool
request_body(Request *req, const char *data, size_t size)
{
	req->received += size;
	if (req->received > (size_t) shim_config.body_limit)
	{
		req->too_large = true;
		buf_free(&req->body);
		return req->received <= (size_t) shim_config.body_limit * BODY_ABORT_FACTOR;
	}
	return buf_append(&req->body, data, size);
}

/* A static file or the /swagger redirect (static.c), else 404. */
static void
serve_static(Request *req, const char *path)
{
	StaticAnswer a;

	if (!static_serve(req->conn, path, &a))
	{
		respond_error(req, 404, "no such route", NULL, 0);
		return;
	}
	queue_response(req, a.status, a.response, 0);
}

/*
 * OPTIONS of a served path: 204 with Allow, and for an allowed origin's
 * preflight the CORS headers (cors.c); another origin gets none of them.
 */
static void
answer_options(Request *req)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *) "",
																MHD_RESPMEM_PERSISTENT);

	if (resp == NULL)
	{
		deadline_received(req->track);
		return;
	}
	cors_preflight(req->conn, req->path, req->allow, resp);
	queue_response(req, 204, resp, 0);
}

/*
 * Whether the request is a browser navigating to a page (not a script's
 * fetch): Sec-Fetch-Dest: document, or without Fetch Metadata an Accept
 * that puts HTML first.
 */
static bool
is_navigation(Request *req)
{
	const char *dest = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Sec-Fetch-Dest");
	const char *accept = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Accept");

	if (dest)
		return strcmp(dest, "document") == 0;
	return accept && strncmp(accept, "text/html", 9) == 0;
}

static void
request_finish(Request *req)
{
	const Route *r;
	char		page[MAX_PATH_LOGGED + 8];

	if (req->too_large)
	{
		respond_error(req, 413, "request body too large", NULL, 0);
		return;
	}
	if (req->match == ROUTE_NOT_FOUND &&
		(strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0))
	{
		serve_static(req, req->path);
		return;
	}
	if (req->match == ROUTE_NOT_FOUND)
	{
		respond_error(req, 404, "no such route", NULL, 0);
		return;
	}
	if (req->match == ROUTE_BAD_METHOD && strcmp(req->method, "OPTIONS") == 0)
	{
		answer_options(req);
		return;
	}
	if (req->match == ROUTE_BAD_METHOD)
	{
		respond_error(req, 405, "method not allowed", NULL, 0);
		return;
	}
	r = &shim_routes[req->route_index];
	if ((r->flags & ROUTE_PAGE) && is_navigation(req))
	{
		snprintf(page, sizeof(page), "%s.html", req->path);
		serve_static(req, page);
	}
	else if (r->handler)
		r->handler(req);
	else
		run_sql_route(req, r);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
		   const char *method, const char *version, const char *upload_data,
		   size_t *upload_data_size, void **con_cls)
{
	Request    *req = *con_cls;

	if (req == NULL)
	{
		/* on_uri could not allocate it: one more try */
		req = on_uri(cls, url, conn);
		if (req == NULL)
			return MHD_NO;
		*con_cls = req;
	}
	if (!req->started)
	{
		request_start(req, url, method);
		request_begin(req);
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		bool		keep = req->responded ||
			request_body(req, upload_data, *upload_data_size);

		*upload_data_size = 0;
		return keep ? MHD_YES : MHD_NO;
	}
	if (req->dispatched)
	{
		if (__atomic_load_n(&req->job_state, __ATOMIC_ACQUIRE) == JOB_DONE)
			answer_job(req);
	}
	else if (!req->responded)
		request_finish(req);
	return MHD_YES;
}

/* One JSON line per request, like the simple bank's zerolog middleware. */
static void
log_request(Request *req, double seconds)
{
	StrBuf		b;
	const char *level = req->status >= 500 || req->status == 0 ? "error" :
		req->status >= 400 ? "warn" : "info";

	buf_init(&b, 8192);
	log_begin(&b, level);
	buf_puts(&b, ",\"protocol\":\"http\",\"method\":");
	buf_json_string(&b, req->method);
	buf_puts(&b, ",\"path\":");
	buf_json_string(&b, req->path);
	buf_printf(&b, ",\"status\":%d,\"duration_ms\":%.3f,\"request_id\":",
			   req->status, seconds * 1000.0);
	buf_json_string(&b, req->request_id);
	buf_puts(&b, ",\"message\":\"received a HTTP request\"");
	log_end(&b);
}

/*
 * The request is over: answered, or the client gone (then a job's result
 * may still be here, unanswered). Requests that never reached on_request
 * (libmicrohttpd refused their headers) are neither counted nor logged.
 */
static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	Request    *req = *con_cls;
	double		seconds;

	if (req == NULL)
		return;
	if (__atomic_load_n(&req->job_state, __ATOMIC_ACQUIRE) == JOB_QUEUED)
	{
		/* cannot happen: libmicrohttpd does not end suspended connections */
		log_line("error", "request ended while its job is queued: leaving it to the pool");
		*con_cls = NULL;
		return;
	}
	release_job(req);
	if (req->started)
	{
		seconds = now_seconds() - req->start;
		if (req->responded)
			metrics_observe(req->route_index, req->status, seconds);
		log_request(req, seconds);
		__atomic_sub_fetch(&in_flight, 1, __ATOMIC_RELAXED);
	}
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		deadline_restart(connection_track(conn));
	buf_free(&req->body);
	free(req);
	*con_cls = NULL;
}

/* A connection opens or closes (before its socket is closed). */
static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo *info;

	if (code == MHD_CONNECTION_NOTIFY_STARTED)
	{
		info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		*socket_context = info ? deadline_track(info->connect_fd) : NULL;
		if (*socket_context == NULL)
			log_line("warn", "cannot track a connection's request deadline (out of memory)");
	}
	else
	{
		deadline_untrack(*socket_context);
		*socket_context = NULL;
	}
}

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char		msg[512];
	size_t		n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_line("warn", msg);
}

/*
 * libmicrohttpd's fatal errors: one structured line, then abort() as its
 * own handler does (it would print a bare line to stderr).
 */
static void
on_mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
	char		msg[512];

	snprintf(msg, sizeof(msg), "libmicrohttpd panic at %s:%u: %s", file ? file : "?", line,
			 reason ? reason : "?");
	log_line("fatal", msg);
	abort();
}

/* ----- start and stop ----- */

static int
resolve_listen(const char *listen, struct sockaddr_storage *addr, bool *ipv6)
{
	char		host[256];
	const char *colon = strrchr(listen, ':');
	const char *port;
	struct addrinfo hints;
	struct addrinfo *ai;
	size_t		hlen;

	if (colon == NULL || colon == listen || colon[1] == '\0')
		return -1;
	hlen = (size_t) (colon - listen);
	if (listen[0] == '[' && hlen >= 2 && listen[hlen - 1] == ']')
	{
		listen++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return -1;
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	port = colon + 1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	memcpy(addr, ai->ai_addr, ai->ai_addrlen);
	*ipv6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
}

int
http_start(void)
{
	static struct sockaddr_storage addr;
	bool		ipv6 = false;
	unsigned int flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG;
	long		cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int threads = cpus < 1 ? 1 : cpus > 64 ? 64 : (unsigned int) cpus;

	if (resolve_listen(shim_config.listen, &addr, &ipv6) != 0)
	{
		log_line("fatal", "cannot resolve the listen address (host:port)");
		return -1;
	}
	if (ipv6)
		flags |= MHD_USE_IPv6;
	if (deadline_start(shim_config.request_timeout) != 0)
	{
		log_line("fatal", "cannot start the request deadline thread");
		return -1;
	}
	MHD_set_panic_func(on_mhd_panic, NULL);
	daemon_handle = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
									 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
									 MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
									 MHD_OPTION_THREAD_POOL_SIZE, threads,
									 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) shim_config.max_connections,
									 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) shim_config.timeout,
									 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (16 * 1024),
									 MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 1024,
									 MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
									 MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
									 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
									 MHD_OPTION_END);
	if (daemon_handle == NULL)
	{
		deadline_stop();
		return -1;
	}
	return 0;
}

/*
 * Stop accepting, let in-flight requests finish until the deadline (then
 * cancel their statements, answer the queued ones 503, and give the
 * answers CANCEL_GRACE seconds to go out), close every connection.
 * Returns false if a request is still with the pool after all that
 * (PostgreSQL did not answer the cancel): MHD cannot be stopped with a
 * connection suspended, nor the pool with a worker stuck, so the caller
 * just exits.
 *
 * The listening socket that MHD_quiesce_daemon hands back must stay open
 * until MHD_stop_daemon has returned (microhttpd.h: in threaded modes an
 * MHD thread may still be using it, and a closed descriptor's number can
 * be reused by the next socket opened). shutdown(2) takes it out of the
 * listening state meanwhile, so new connections are refused at once.
 */
bool
http_shutdown(int deadline_seconds)
{
	shutting_down = 1;
	listen_socket = MHD_quiesce_daemon(daemon_handle);
	if (listen_socket != MHD_INVALID_SOCKET)
		shutdown(listen_socket, SHUT_RDWR);
	wait_for_zero(&in_flight, now_seconds() + deadline_seconds);
	if (__atomic_load_n(&in_flight, __ATOMIC_RELAXED) > 0)
	{
		/* cancelled statements still get their error answered, briefly */
		log_line("warn", "shutdown deadline passed: cancelling running statements");
		pool_cancel_all();
		wait_for_zero(&in_flight, now_seconds() + CANCEL_GRACE);
	}
	/*
	 * A keep-alive connection may still bring a request after the wait:
	 * from now on none is handed to the pool (dispatch), and those handed
	 * over before get their answer out, for libmicrohttpd aborts the
	 * process when it is stopped with a connection suspended.
	 */
	__atomic_store_n(&closing, 1, __ATOMIC_SEQ_CST);
	wait_for_zero(&suspended, now_seconds() + CANCEL_GRACE);
	if (__atomic_load_n(&suspended, __ATOMIC_SEQ_CST) > 0)
	{
		log_line("error", "statements still running after their cancel: exiting without them");
		return false;
	}
	MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
	if (listen_socket != MHD_INVALID_SOCKET)
		close(listen_socket);
	listen_socket = MHD_INVALID_SOCKET;
	deadline_stop();
	return true;
}
