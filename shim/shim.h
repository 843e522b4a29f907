/*
 * shim.h
 *		Declarations shared by the files of pgbank-http, the HTTP shim.
 *
 * The shim carries requests to the extension's SQL functions and their
 * answers back; it holds no business rule. One concern per file: main.c
 * (configuration, signals, start-up), http.c (libmicrohttpd), routes.c (the
 * route table), pool.c (libpq), errors.c (SQLSTATE to HTTP and gRPC
 * status), metrics.c (Prometheus text), buf.c (bounded strings and JSON
 * escaping), deadline.c (the time a client has to send a request),
 * json_check.c (UTF-8 and JSON checks of client text; its own header,
 * json_check.h); the gRPC front: grpc.c (every gRPC core call), rpcs.c (the
 * RPC table and the answers), pbjson.c (protobuf <-> JSON over
 * descriptors), reflection.c (server reflection from the built-in
 * descriptors); the browser's: static.c (the web app's and Swagger UI's
 * files), cors.c (cross-origin requests), cookies.c (the session cookies
 * and the cross-site check of what they authenticate).
 */
#ifndef PGBANK_SHIM_H
#define PGBANK_SHIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

/* Configuration, from environment variables and flags (main.c). */
typedef struct ShimConfig
{
	const char *db;				/* libpq connection string */
	const char *db_read;		/* the read pool's, "" for none */
	int			read_pool_size; /* its connections; 0: pool_size */
	const char *listen;			/* host:port */
	int			pool_size;		/* PostgreSQL connections = database worker threads */
	int			max_connections;	/* open HTTP connections at most */
	long		body_limit;		/* bytes */
	int			timeout;		/* idle connection timeout, seconds */
	int			request_timeout;	/* seconds to receive a whole request */
	int			hash_workers;	/* workers hashing passwords at once; 0: auto */
	int			coalesce_workers;	/* workers running coalesced routes; 0: off */
	int			queue_limit;	/* requests waiting for a worker at most */
	int			queue_wait;		/* ms a request may wait for a worker; 0: no bound */
	int			statement_timeout;	/* milliseconds */
	int			connect_timeout;	/* seconds, for each connection attempt */
	int			shutdown_timeout;	/* seconds to wait for in-flight requests */
	const char *openapi_path;	/* NULL: the document built into the binary */
	const char *application_name;
	const char *grpc_listen;	/* host:port of the gRPC front, "" for none */
	const char *web_root;		/* the web app's files, "" for none */
	const char *swagger_root;	/* swagger-ui-dist's files, "" for none */
	const char *allowed_origins;	/* comma-separated origins for CORS */
	int			cookie_secure;	/* 1: the session cookies are Secure */
	int			outbox_worker;	/* 1: run as the outbox worker, no server */
	int			outbox_poll;	/* seconds between polls of the outbox */
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
	PARAM_CLIENT_IP,			/* the peer's address */
	PARAM_COOKIE				/* a cookie of the request */
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
	unsigned int flags;			/* ROUTE_* below */
	RouteHandler handler;		/* built-in route (health, metrics...) */
} Route;

#define ROUTE_AUTH		0x01	/* needs a bearer token */
#define ROUTE_READ_ONLY	0x02	/* runs in a read-only transaction */
#define ROUTE_NO_STORE	0x04	/* answers carry Cache-Control: no-store */
#define ROUTE_HASHING	0x08	/* may hash a password (Argon2id): runs on at
								 * most PGBANK_HASH_WORKERS workers at once */
#define ROUTE_SESSION	0x10	/* answers (answer, access token, its max age,
								 * refresh token, its max age): the shim sets
								 * the session cookies from them (cookies.c) */
#define ROUTE_PAGE		0x20	/* a browser's navigation to it gets the web
								 * app's page of the same path + ".html" */

/*
 * The session cookies (cookies.c): the access token, sent with every
 * request, and the refresh token, sent only to the session routes.
 */
#define ACCESS_COOKIE	"pgbank_access"
#define REFRESH_COOKIE	"pgbank_refresh"
#define REFRESH_COOKIE_PATH "/v1/session"
#define ROUTE_PRIMARY	0x40	/* read-only, but reads what the caller just
								 * wrote: never on the read pool */

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
extern const char *route_coalesce_sql(const Route *r);
extern const int shim_nroutes;

extern RouteMatch route_match(const char *method, const char *path,
							  int *route_index, Capture *captures,
							  int *ncaptures, char *allow, size_t allow_size);
extern void routes_print(void);
extern const char *bearer_token_of(const char *header, bool *bad);
extern void route_cors_headers(const char *path, char *out, size_t size);

/*
 * Connections to PostgreSQL, each owned by one database worker thread,
 * which run the jobs the HTTP threads queue (pool.c).
 */
typedef struct PoolSlot PoolSlot;

typedef enum PoolStatus
{
	POOL_OK,					/* the statement ran; see the result */
	POOL_UNAVAILABLE,			/* PostgreSQL unreachable: answer 503 */
	POOL_REFUSED,				/* not run: shutting down, answer 503 */
	POOL_OVERLOADED				/* not run: the queue was full or the wait
								 * too long, answer 503 */
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
	bool		cancelled;		/* pool_cancel: not to run (pool_mutex) */
	int			retry_after;	/* otherwise: seconds for Retry-After */
	/* the pool's own */
	struct PoolJob *next;		/* the queue's link */
	uint64_t	seq;			/* arrival order */
	double		queued_at;		/* monotonic seconds */
} PoolJob;

extern void pool_init(int size);
extern void pool_submit(PoolJob *job);
extern void pool_cancel_all(void);
extern void pool_cancel(PoolJob *job);
extern void pool_finish(void);
extern void pool_counts(bool read, int *size, int *connected, int *busy, int *queued,
						uint64_t *connects, uint64_t *failures);
extern void pool_hashing_counts(int *limit, int *busy, int *queued);
extern void pool_coalesce_counts(int *limit, int *busy, int *queued,
								 uint64_t *statements, uint64_t *requests, uint64_t *rerun);
extern void pool_rejection_counts(uint64_t *full, uint64_t *waited);

/*
 * gRPC status codes, as the gRPC protocol numbers them (doc/statuscodes.md
 * of grpc); kept here so that errors.c needs no gRPC header.
 */
typedef enum RpcCode
{
	RPC_OK = 0,
	RPC_CANCELLED = 1,
	RPC_UNKNOWN = 2,
	RPC_INVALID_ARGUMENT = 3,
	RPC_DEADLINE_EXCEEDED = 4,
	RPC_NOT_FOUND = 5,
	RPC_ALREADY_EXISTS = 6,
	RPC_PERMISSION_DENIED = 7,
	RPC_RESOURCE_EXHAUSTED = 8,
	RPC_FAILED_PRECONDITION = 9,
	RPC_ABORTED = 10,
	RPC_OUT_OF_RANGE = 11,
	RPC_UNIMPLEMENTED = 12,
	RPC_INTERNAL = 13,
	RPC_UNAVAILABLE = 14,
	RPC_DATA_LOSS = 15,
	RPC_UNAUTHENTICATED = 16
} RpcCode;

#define RPC_NCODES 17

extern const char *rpc_code_name(int code);

/*
 * SQLSTATE to HTTP status and gRPC status (errors.c), from the table
 * sql/errcodes.txt compiled into build/errcodes.c.
 */
typedef struct ErrorCode
{
	const char *sqlstate;		/* five characters, or a two-character class */
	const char *name;
	int			http_status;
	int			grpc_status;	/* google.rpc.Code */
} ErrorCode;

extern const ErrorCode shim_error_codes[];
extern const int shim_nerror_codes;

extern int	http_status_for_sqlstate(const char *sqlstate);
extern int	grpc_status_for_sqlstate(const char *sqlstate);
extern const char *error_field(const PGresult *res, char *buf, size_t size);
extern void errors_print(void);
extern void error_body_from_result(StrBuf *b, const PGresult *res);
extern void error_body(StrBuf *b, const char *message, const char *code);
extern void error_body_field(StrBuf *b, const char *message, const char *code,
							 const char *field);

/* Counters and the Prometheus page (metrics.c). */
extern void metrics_observe(int route_index, int status, double seconds);
extern void metrics_render(StrBuf *b);
extern void metrics_observe_rpc(int rpc_index, int code, double seconds);
extern const char *shim_rpc_path(int rpc_index);	/* rpcs.c */

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

/*
 * Request deadlines (deadline.c): http.c tracks each open connection by its
 * socket, and the watchdog shuts down those that do not deliver a whole
 * request within PGBANK_REQUEST_TIMEOUT.
 */
typedef struct DeadlineTrack DeadlineTrack;

extern DeadlineTrack *deadline_track(int fd);
extern void deadline_untrack(DeadlineTrack *t);
extern void deadline_received(DeadlineTrack *t);
extern void deadline_restart(DeadlineTrack *t);
extern int	deadline_start(int seconds);
extern void deadline_stop(void);
extern uint64_t deadline_cuts(void);

/* The gRPC server (grpc.c). */
extern int	grpc_front_start(void);
extern void grpc_front_quiesce(void);
extern bool grpc_front_stop(double deadline);
extern int	grpc_front_in_flight(void);
extern void rpcs_print(void);	/* rpcs.c */

/* The outbox worker (outbox.c): --outbox-worker. */
extern int	outbox_worker_run(void);

/* JSON log lines on stderr (main.c). */
extern void log_line(const char *level, const char *message);
extern void log_begin(StrBuf *b, const char *level);
extern void log_end(StrBuf *b);

/*
 * The browser's side (static.c, cors.c, cookies.c). They build headers and
 * answers; http.c queues them with its own common headers.
 */
struct MHD_Connection;
struct MHD_Response;

typedef struct StaticAnswer
{
	int			status;			/* 200, 304, 301, or 404 (no such file) */
	struct MHD_Response *response;	/* NULL for 404 */
} StaticAnswer;

extern bool static_serve(struct MHD_Connection *conn, const char *path,
						 StaticAnswer *out);
extern void static_security_headers(struct MHD_Response *resp);

extern bool cors_origin_allowed(const char *origin);
extern void cors_headers(struct MHD_Connection *conn, struct MHD_Response *resp);
extern bool cors_preflight(struct MHD_Connection *conn, const char *path,
						   const char *allow, struct MHD_Response *resp);

extern const char *cookie_token(struct MHD_Connection *conn);
extern bool cookie_origin_ok(struct MHD_Connection *conn);
extern void cookies_set(struct MHD_Response *resp, const PGresult *res);

/* Monotonic clock in seconds, for durations and deadlines (main.c). */
extern double now_seconds(void);

/* Condition variables timed on that clock (main.c). */
extern void monotonic_cond_init(pthread_cond_t *cond);
extern void cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex, double until);

/* Seconds that cancelled requests and calls get to have their answers sent. */
#define CANCEL_GRACE 2.0

/* Sleep in short ticks until *counter is 0 or the deadline (main.c). */
extern void wait_for_zero(int *counter, double deadline);

#endif							/* PGBANK_SHIM_H */
