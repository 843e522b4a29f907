/*
 * http.c
 *		libmicrohttpd plumbing: requests in, statements run, answers out.
 *
 * MHD runs a pool of worker threads, each with its own epoll set; a
 * worker runs every callback of the connections it accepted, and uses its
 * own PostgreSQL connection (pool.c), so a request blocks only its worker.
 *
 * A request goes through three calls of on_request: the first (headers
 * read) matches the route and rejects a declared Content-Length over the
 * limit with 413 at once; the next ones append body data, still bounded;
 * the last runs the route. on_completed counts, logs one JSON line and
 * frees the request.
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

#include "shim.h"

#define MAX_PATH_LOGGED 1024
#define BODY_ABORT_FACTOR 16	/* past limit * this, drop the connection */
#define RESPONSE_LIMIT (64 * 1024 * 1024)
#define CANCEL_GRACE 2.0		/* seconds to answer cancelled requests */

typedef struct Request
{
	struct MHD_Connection *conn;
	double		start;
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
	int			status;
	bool		dispatched;		/* handed to the pool, connection suspended */
	PoolJob		job;			/* what the pool runs for this request */
} Request;

static struct MHD_Daemon *daemon_handle;
static int	in_flight;
static int	suspended;
static volatile int shutting_down;

/* The OpenAPI document, built into the binary (openapi_doc.c). */
extern const char pgbank_openapi_start[];
extern const uint64_t pgbank_openapi_size;
static char *openapi_loaded;
static size_t openapi_loaded_len;

/* ----- answers ----- */

/*
 * Queue an answer; body's buffer is handed to MHD. Retry-After when
 * retry_after > 0; Connection: close once shutdown has begun.
 */
static void
respond(Request *req, int status, StrBuf *body, const char *content_type,
		int retry_after)
{
	struct MHD_Response *resp;
	char		value[16];

	if (body->overflow || body->data == NULL)
	{
		buf_free(body);
		body->limit = 256;
		error_body(body, "response too large", NULL);
		status = 500;
		content_type = "application/json";
	}
	resp = MHD_create_response_from_buffer(body->len, body->data,
										   MHD_RESPMEM_MUST_FREE);
	body->data = NULL;
	buf_free(body);
	if (resp == NULL)
		return;
	MHD_add_response_header(resp, "Content-Type", content_type);
	MHD_add_response_header(resp, "X-Request-Id", req->request_id);
	if (retry_after > 0)
	{
		snprintf(value, sizeof(value), "%d", retry_after);
		MHD_add_response_header(resp, "Retry-After", value);
	}
	if (status == 405)
		MHD_add_response_header(resp, "Allow", req->allow);
	if (shutting_down)
		MHD_add_response_header(resp, "Connection", "close");
	if (MHD_queue_response(req->conn, (unsigned int) status, resp) == MHD_YES)
	{
		req->status = status;
		req->responded = true;
	}
	MHD_destroy_response(resp);
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
	const char *h = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
												"Authorization");

	*bad = false;
	if (h == NULL)
		return NULL;
	if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0' || strchr(h + 7, ' '))
	{
		*bad = true;
		return NULL;
	}
	return h + 7;
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

/* The statement's parameters, from the request pieces the route names. */
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
	}
	if (bad_auth)
		respond_error(req, 401, "unsupported authorization type: expected \"Bearer <token>\"",
					  "28000", 0);
	return !bad_auth;
}

/* The answer of a statement: its one JSON value, or the mapped error. */
static void
respond_result(Request *req, PGresult *res)
{
	StrBuf		b;

	buf_init(&b, RESPONSE_LIMIT);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		PQnfields(res) == 1 && !PQgetisnull(res, 0, 0))
	{
		buf_append(&b, PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0));
		respond_json(req, 200, &b);
	}
	else if (PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		error_body(&b, "the function returned no result", NULL);
		respond_json(req, 500, &b);
	}
	else
	{
		const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		error_body_from_result(&b, res);
		respond_json(req, http_status_for_sqlstate(sqlstate), &b);
	}
}

static void
run_sql_route(Request *req, const Route *r)
{
	if (req->body.len > 0 && memchr(req->body.data, '\0', req->body.len))
	{
		respond_error(req, 400, "request body contains a NUL byte", "22P02", 0);
		return;
	}
	if (!route_params(req, r, req->job.values))
		return;
	dispatch(req, req->route_index);
}

/* On a pool worker, when the job is done: let MHD call on_request again. */
static void
job_done(PoolJob *job)
{
	Request    *req = (Request *) ((char *) job - offsetof(Request, job));

	MHD_resume_connection(req->conn);
}

/*
 * Suspend the connection and queue its statement (route_index, or -1 for
 * SELECT 1): the HTTP thread goes on with its other connections.
 */
static void
dispatch(Request *req, int route_index)
{
	req->job.route_index = route_index;
	req->job.done = job_done;
	req->dispatched = true;
	__atomic_add_fetch(&suspended, 1, __ATOMIC_RELAXED);
	MHD_suspend_connection(req->conn);
	pool_submit(&req->job);
}

/* Back on the HTTP thread after job_done: the answer of the job. */
static void
answer_job(Request *req)
{
	PoolJob    *job = &req->job;

	__atomic_sub_fetch(&suspended, 1, __ATOMIC_RELAXED);
	if (job->status == POOL_REFUSED)
		respond_error(req, 503, "server shutting down", "57P01", job->retry_after);
	else if (job->status != POOL_OK)
		respond_error(req, 503, "database unavailable", "08006", job->retry_after);
	else if (job->route_index < 0)
		respond_text(req, "{\"status\":\"ready\"}", "application/json");
	else
		respond_result(req, job->result);
	PQclear(job->result);
	job->result = NULL;
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

static Request *
request_new(struct MHD_Connection *conn, const char *url, const char *method)
{
	Request    *req = calloc(1, sizeof(Request));

	if (req == NULL)
		return NULL;
	req->conn = conn;
	req->start = now_seconds();
	req->route_index = -1;
	snprintf(req->method, sizeof(req->method), "%s", method);
	snprintf(req->path, sizeof(req->path), "%s", url);
	buf_init(&req->body, (size_t) shim_config.body_limit);
	set_request_id(req);
	req->match = route_match(method, url, &req->route_index, req->captures,
							 &req->ncaptures, req->allow, sizeof(req->allow));
	if (req->match != ROUTE_FOUND)
		req->route_index = -1;
	return req;
}

/* First call: a declared body over the limit is refused before reading it. */
static void
request_begin(Request *req)
{
	const char *cl = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
												 "Content-Length");
	char	   *end;
	unsigned long long n;

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

static void
request_finish(Request *req)
{
	const Route *r;

	if (req->too_large)
	{
		respond_error(req, 413, "request body too large", NULL, 0);
		return;
	}
	if (req->match == ROUTE_NOT_FOUND)
	{
		respond_error(req, 404, "no such route", NULL, 0);
		return;
	}
	if (req->match == ROUTE_BAD_METHOD)
	{
		respond_error(req, 405, "method not allowed", NULL, 0);
		return;
	}
	r = &shim_routes[req->route_index];
	if (r->handler)
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
		req = request_new(conn, url, method);
		if (req == NULL)
			return MHD_NO;
		*con_cls = req;
		__atomic_add_fetch(&in_flight, 1, __ATOMIC_RELAXED);
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
		if (!req->responded)
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

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	Request    *req = *con_cls;
	double		seconds;

	if (req == NULL)
		return;
	seconds = now_seconds() - req->start;
	if (req->responded)
		metrics_observe(req->route_index, req->status, seconds);
	log_request(req, seconds);
	buf_free(&req->body);
	free(req);
	*con_cls = NULL;
	__atomic_sub_fetch(&in_flight, 1, __ATOMIC_RELAXED);
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
	unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
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
	daemon_handle = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
									 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
									 MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
									 MHD_OPTION_THREAD_POOL_SIZE, threads,
									 MHD_OPTION_CONNECTION_LIMIT, (unsigned int) shim_config.max_connections,
									 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) shim_config.timeout,
									 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (16 * 1024),
									 MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 1024,
									 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
									 MHD_OPTION_END);
	return daemon_handle ? 0 : -1;
}

/*
 * Stop accepting, let in-flight requests finish until the deadline (then
 * cancel their statements, answer the queued ones 503, and give the
 * answers CANCEL_GRACE seconds to go out), close every connection.
 * Returns false if a statement is still running after all that (PostgreSQL
 * did not answer the cancel): MHD cannot be stopped with a connection
 * suspended, nor the pool with a worker stuck, so the caller just exits.
 */
bool
http_shutdown(int deadline_seconds)
{
	MHD_socket	s;
	double		deadline = now_seconds() + deadline_seconds;
	struct timespec tick = {0, 20 * 1000 * 1000};

	shutting_down = 1;
	s = MHD_quiesce_daemon(daemon_handle);
	if (s != MHD_INVALID_SOCKET)
		close(s);
	while (__atomic_load_n(&in_flight, __ATOMIC_RELAXED) > 0 && now_seconds() < deadline)
		nanosleep(&tick, NULL);
	if (__atomic_load_n(&in_flight, __ATOMIC_RELAXED) > 0)
	{
		/* cancelled statements still get their error answered, briefly */
		log_line("warn", "shutdown deadline passed: cancelling running statements");
		pool_cancel_all();
		deadline = now_seconds() + CANCEL_GRACE;
		while (__atomic_load_n(&in_flight, __ATOMIC_RELAXED) > 0 && now_seconds() < deadline)
			nanosleep(&tick, NULL);
	}
	if (__atomic_load_n(&suspended, __ATOMIC_RELAXED) > 0)
	{
		log_line("error", "statements still running after their cancel: exiting without them");
		return false;
	}
	MHD_stop_daemon(daemon_handle);
	daemon_handle = NULL;
	return true;
}
