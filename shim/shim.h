/*
 * shim.h
 *		Declarations shared by the files of pgbank-http, the HTTP shim.
 *
 * The shim carries requests to the extension's SQL functions and their
 * answers back; it holds no business rule. One concern per file: main.c
 * (configuration, signals, start-up), http.c (libmicrohttpd), routes.c (the
 * route table), pool.c (libpq), errors.c (SQLSTATE to HTTP status),
 * metrics.c (Prometheus text), buf.c (bounded strings and JSON escaping).
 */
#ifndef PGBANK_SHIM_H
#define PGBANK_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* Configuration, from environment variables and flags (main.c). */
typedef struct ShimConfig
{
	const char *db;				/* libpq connection string */
	const char *listen;			/* host:port */
	int			pool_size;		/* PostgreSQL connections = database worker threads */
	int			max_connections;	/* open HTTP connections at most */
	long		body_limit;		/* bytes */
	int			timeout;		/* idle connection timeout, seconds */
	int			statement_timeout;	/* milliseconds */
	int			connect_timeout;	/* seconds, for each connection attempt */
	int			shutdown_timeout;	/* seconds to wait for in-flight requests */
	const char *openapi_path;	/* NULL: the document built into the binary */
	const char *application_name;
} ShimConfig;

extern ShimConfig shim_config;

/* A growable string with a hard upper bound (buf.c). */
typedef struct StrBuf
{
	char	   *data;
	size_t		len;
	size_t		cap;
	size_t		limit;
	bool		overflow;		/* an append was refused by the limit */
} StrBuf;

extern void buf_init(StrBuf *b, size_t limit);
extern bool buf_append(StrBuf *b, const char *s, size_t n);
extern bool buf_puts(StrBuf *b, const char *s);
extern bool buf_printf(StrBuf *b, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern bool buf_json_string(StrBuf *b, const char *s);
extern void buf_free(StrBuf *b);

/* Where a statement parameter comes from (routes.c). */
typedef enum ParamSource
{
	PARAM_BODY,					/* the request body (JSON text), NULL if empty */
	PARAM_TOKEN,				/* Authorization: Bearer <token>, NULL if absent */
	PARAM_PATH,					/* a {name} segment of the path */
	PARAM_QUERY,				/* ?name= of the URL */
	PARAM_HEADER,				/* a request header */
	PARAM_CLIENT_IP				/* the peer's address */
} ParamSource;

typedef struct RouteParam
{
	ParamSource source;
	const char *name;
} RouteParam;

#define ROUTE_MAX_PARAMS 6
#define ROUTE_MAX_CAPTURES 4

struct Request;
typedef void (*RouteHandler) (struct Request *req);

typedef struct Route
{
	const char *method;
	const char *pattern;		/* /accounts/{id}: segments in braces capture */
	const char *stmt_name;		/* prepared statement name, NULL if built-in */
	const char *sql;			/* the statement: parameters only */
	int			nparams;
	RouteParam	params[ROUTE_MAX_PARAMS];
	bool		auth;			/* needs a bearer token */
	RouteHandler handler;		/* built-in route (health, metrics...) */
} Route;

typedef struct Capture
{
	const char *name;			/* points into the route's pattern */
	size_t		name_len;
	char		value[256];
} Capture;

typedef enum RouteMatch
{
	ROUTE_FOUND,
	ROUTE_NOT_FOUND,
	ROUTE_BAD_METHOD
} RouteMatch;

extern const Route shim_routes[];
extern const int shim_nroutes;

extern RouteMatch route_match(const char *method, const char *path,
							  int *route_index, Capture *captures,
							  int *ncaptures, char *allow, size_t allow_size);
extern void routes_print(void);

/*
 * Connections to PostgreSQL, each owned by one database worker thread,
 * which run the jobs the HTTP threads queue (pool.c).
 */
typedef struct PoolSlot PoolSlot;

typedef enum PoolStatus
{
	POOL_OK,					/* the statement ran; see the result */
	POOL_UNAVAILABLE,			/* PostgreSQL unreachable: answer 503 */
	POOL_REFUSED				/* not run: shutting down, answer 503 */
} PoolStatus;

typedef struct PoolJob
{
	/* set by the submitter */
	int			route_index;	/* the route's statement; -1: SELECT 1 */
	const char *values[ROUTE_MAX_PARAMS];
	void		(*done) (struct PoolJob *job);	/* called on the worker */
	/* set by the worker before done() */
	PoolStatus	status;
	PGresult   *result;			/* POOL_OK: the result, to PQclear */
	int			retry_after;	/* otherwise: seconds for Retry-After */
	struct PoolJob *next;		/* the queue's link */
} PoolJob;

extern void pool_init(int size);
extern void pool_submit(PoolJob *job);
extern void pool_cancel_all(void);
extern void pool_finish(void);
extern void pool_counts(int *size, int *connected, int *busy, int *queued,
						uint64_t *connects, uint64_t *failures);

/* SQLSTATE to HTTP status (errors.c). */
extern int	http_status_for_sqlstate(const char *sqlstate);
extern void errors_print(void);
extern void error_body_from_result(StrBuf *b, const PGresult *res);
extern void error_body(StrBuf *b, const char *message, const char *code);

/* Counters and the Prometheus page (metrics.c). */
extern void metrics_observe(int route_index, int status, double seconds);
extern void metrics_render(StrBuf *b);

/* The HTTP server (http.c). */
extern int	http_start(void);
extern bool http_shutdown(int deadline_seconds);
extern const char *openapi_document(size_t *len);
extern int	openapi_load(const char *path);

/* Built-in route handlers (http.c). */
extern void handle_healthz(struct Request *req);
extern void handle_readyz(struct Request *req);
extern void handle_metrics(struct Request *req);
extern void handle_openapi(struct Request *req);

/* JSON log lines on stderr (main.c). */
extern void log_line(const char *level, const char *message);
extern void log_begin(StrBuf *b, const char *level);
extern void log_end(StrBuf *b);

/* Monotonic clock in seconds, for durations and deadlines (main.c). */
extern double now_seconds(void);

#endif							/* PGBANK_SHIM_H */
