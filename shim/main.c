/*
 * main.c
 *		pgbank-http: configuration, signals and start-up of the HTTP shim.
 *
 * Every setting is an environment variable with a matching flag (the flag
 * wins). SIGTERM and SIGINT are blocked in every thread and taken by the
 * main thread with sigwait(): it then stops accepting on both fronts (HTTP
 * and gRPC), waits for the requests and calls in flight (up to
 * PGBANK_SHUTDOWN_TIMEOUT), closes everything and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

ShimConfig	shim_config = {
	.db = "",
	.db_read = "",
	.read_pool_size = 0,
	.listen = "127.0.0.1:8080",
	.pool_size = 8,
	.max_connections = 10000,
	.body_limit = 65536,
	.timeout = 30,
	.request_timeout = 30,
	.hash_workers = 0,
	.coalesce_workers = 2,
	.queue_limit = 1024,
	.queue_wait = 10000,
	.statement_timeout = 10000,
	.connect_timeout = 2,
	.shutdown_timeout = 10,
	.openapi_path = NULL,
	.application_name = "pgbank-http",
	.grpc_listen = "127.0.0.1:9090",
	.web_root = WEB_ROOT,
	.swagger_root = SWAGGER_ROOT,
	.allowed_origins = "",
	.cookie_secure = 0,
	.outbox_worker = 0,
	.outbox_poll = 5,
};

/* One setting: its flag, its environment variable, its range. */
typedef struct Setting
{
	const char *flag;
	const char *env;
	const char *help;
	const char **str;			/* string settings */
	int		   *num;			/* integer settings */
	long	   *lnum;			/* long integer settings */
	long		min;
	long		max;
} Setting;

static const Setting settings[] = {
	{"db", "PGBANK_DB", "libpq connection string (default: libpq's PG* variables)",
	&shim_config.db, NULL, NULL, 0, 0},
	{"db-read", "PGBANK_DB_READ",
		"libpq connection string of the read pool (a standby): the read-only routes "
		"that need not read the caller's own writes run there; empty: none (default)",
	&shim_config.db_read, NULL, NULL, 0, 0},
	{"read-pool-size", "PGBANK_READ_POOL_SIZE",
		"connections of the read pool; 0: as many as PGBANK_POOL_SIZE (default 0)",
	NULL, &shim_config.read_pool_size, NULL, 0, 256},
	{"listen", "PGBANK_LISTEN", "host:port to listen on (default 127.0.0.1:8080)",
	&shim_config.listen, NULL, NULL, 0, 0},
	{"pool-size", "PGBANK_POOL_SIZE",
		"PostgreSQL connections, shared by all HTTP connections (default 8)",
	NULL, &shim_config.pool_size, NULL, 1, 256},
	{"max-connections", "PGBANK_MAX_CONNECTIONS",
		"open HTTP connections at most; lowered to fit the open-files limit (default 10000)",
	NULL, &shim_config.max_connections, NULL, 1, 100000},
	{"body-limit", "PGBANK_BODY_LIMIT",
		"request body limit in bytes; larger bodies get 413 (default 65536)",
	NULL, NULL, &shim_config.body_limit, 0, 64L * 1024 * 1024},
	{"timeout", "PGBANK_TIMEOUT",
		"seconds an HTTP connection may stay idle or stall (default 30)",
	NULL, &shim_config.timeout, NULL, 1, 3600},
	{"request-timeout", "PGBANK_REQUEST_TIMEOUT",
		"seconds a client has to send a whole request (headers and body), from the "
		"connection's opening or its previous answer; then it is closed (default 30)",
	NULL, &shim_config.request_timeout, NULL, 1, 3600},
	{"hash-workers", "PGBANK_HASH_WORKERS",
		"database workers that may run a password-hashing route (sign-up, login, "
		"password change) at once; 0: a quarter of the pool, at least 1 (default 0)",
	NULL, &shim_config.hash_workers, NULL, 0, 256},
	{"coalesce-workers", "PGBANK_COALESCE_WORKERS",
		"database workers that may run POST /transfers at once, each taking every "
		"transfer request waiting (up to 64) into one transaction; 0: no coalescing, "
		"each request its own transaction on any worker (default 2)",
	NULL, &shim_config.coalesce_workers, NULL, 0, 256},
	{"queue-limit", "PGBANK_QUEUE_LIMIT",
		"requests that may wait for a database worker; past it a request is answered "
		"503 with Retry-After at once (default 1024)",
	NULL, &shim_config.queue_limit, NULL, 1, 1000000},
	{"queue-wait", "PGBANK_QUEUE_WAIT",
		"milliseconds a request may wait for a database worker; then it is answered "
		"503 with Retry-After, not run; 0: no bound (default 10000)",
	NULL, &shim_config.queue_wait, NULL, 0, INT_MAX},
	{"statement-timeout", "PGBANK_STATEMENT_TIMEOUT",
		"PostgreSQL statement_timeout in milliseconds (default 10000)",
	NULL, &shim_config.statement_timeout, NULL, 0, INT_MAX},
	{"connect-timeout", "PGBANK_CONNECT_TIMEOUT",
		"seconds for each connection attempt to PostgreSQL (default 2)",
	NULL, &shim_config.connect_timeout, NULL, 1, 600},
	{"shutdown-timeout", "PGBANK_SHUTDOWN_TIMEOUT",
		"seconds to wait for in-flight requests on SIGTERM (default 10)",
	NULL, &shim_config.shutdown_timeout, NULL, 0, 3600},
	{"openapi", "PGBANK_OPENAPI",
		"serve /openapi.json from this file (default: the copy built in)",
	&shim_config.openapi_path, NULL, NULL, 0, 0},
	{"application-name", "PGBANK_APPLICATION_NAME",
		"application_name of the PostgreSQL connections (default pgbank-http)",
	&shim_config.application_name, NULL, NULL, 0, 0},
	{"grpc-listen", "PGBANK_GRPC_LISTEN",
		"host:port of the gRPC server, empty for none (default 127.0.0.1:9090)",
	&shim_config.grpc_listen, NULL, NULL, 0, 0},
	{"web-root", "PGBANK_WEB_ROOT",
		"directory of the web app's files served at / (default: the build's web/), empty for none",
	&shim_config.web_root, NULL, NULL, 0, 0},
	{"swagger-root", "PGBANK_SWAGGER_ROOT",
		"directory of swagger-ui-dist's files served at /swagger/ (default: the build's "
		"build/swagger-ui/), empty for none",
	&shim_config.swagger_root, NULL, NULL, 0, 0},
	{"allowed-origins", "PGBANK_ALLOWED_ORIGINS",
		"comma-separated origins (scheme://host[:port]) whose pages may call the API "
		"across origins, with credentials (CORS; default none)",
	&shim_config.allowed_origins, NULL, NULL, 0, 0},
	{"cookie-secure", "PGBANK_COOKIE_SECURE",
		"1: the session cookies are Secure, for a server behind TLS (default 0)",
	NULL, &shim_config.cookie_secure, NULL, 0, 1},
	{"outbox-worker", "PGBANK_OUTBOX_WORKER",
		"1: run as the outbox worker instead of the servers: deliver the outbox over "
		"SMTP for a database that cannot (the managed build, docs/managed.md); "
		"connect as the owner of pgbank (default 0)",
	NULL, &shim_config.outbox_worker, NULL, 0, 1},
	{"outbox-poll", "PGBANK_OUTBOX_POLL",
		"outbox worker: seconds to wait when no message is due (default 5)",
	NULL, &shim_config.outbox_poll, NULL, 1, 3600},
};

#define NSETTINGS ((int) (sizeof(settings) / sizeof(settings[0])))

/* ----- logging ----- */

void
log_begin(StrBuf *b, const char *level)
{
	struct timespec ts;
	struct tm	tm;
	char		when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(b, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\"", when,
			   ts.tv_nsec / 1000000, level);
}

/* Close the object and write the line with one write(2), so lines from
 * several threads never interleave. */
void
log_end(StrBuf *b)
{
	ssize_t		n;

	buf_puts(b, "}\n");
	if (b->data && !b->overflow)
		n = write(STDERR_FILENO, b->data, b->len);
	(void) n;
	buf_free(b);
}

void
log_line(const char *level, const char *message)
{
	StrBuf		b;

	buf_init(&b, 4096);
	log_begin(&b, level);
	buf_puts(&b, ",\"message\":");
	buf_json_string(&b, message);
	log_end(&b);
}

/* ----- time ----- */

/* Seconds on the monotonic clock: for durations and deadlines only. */
double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* A condition variable whose timed waits are on the monotonic clock. */
void
monotonic_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

/* Wait on such a condition until woken or now_seconds() reaches until. */
void
cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex, double until)
{
	struct timespec ts;

	ts.tv_sec = (time_t) until;
	ts.tv_nsec = (long) ((until - (double) ts.tv_sec) * 1e9);
	pthread_cond_timedwait(cond, mutex, &ts);
}

void
wait_for_zero(int *counter, double deadline)
{
	struct timespec tick = {0, 20 * 1000 * 1000};

	while (__atomic_load_n(counter, __ATOMIC_SEQ_CST) > 0 && now_seconds() < deadline)
		nanosleep(&tick, NULL);
}

/* ----- configuration ----- */

static void
usage(FILE *out)
{
	int			i;

	fprintf(out,
			"pgbank-http: the HTTP API of pgbank (the simple bank's routes) over libpq\n\n"
			"Usage: pgbank-http [OPTION]...\n\n"
			"Each option can also be set by its environment variable; the option wins.\n\n");
	for (i = 0; i < NSETTINGS; i++)
		fprintf(out, "  --%s=VALUE\n      %s: %s\n", settings[i].flag,
				settings[i].env, settings[i].help);
	fprintf(out,
			"  --routes\n      print the route table (method, path, auth, flags, SQL) and exit\n"
			"  --errors\n      print the SQLSTATE -> HTTP and gRPC status table and exit\n"
			"  --rpcs\n      print the gRPC method table (method, HTTP route, SQL) and exit\n"
			"  --help\n      print this help and exit\n\n"
			"Endpoints besides the API: GET /healthz, GET /readyz, GET /metrics,\n"
			"GET /openapi.json, the web app at / and Swagger UI at /swagger/. gRPC: pb.SimpleBank, pgbank.v1.Bank, grpc.health.v1.Health,\n"
			"server reflection (docs/grpc.md). SIGTERM or SIGINT: stop accepting, finish\n"
			"requests and calls in flight (up to the shutdown timeout), exit 0.\n");
}

static bool
set_setting(const Setting *s, const char *value)
{
	char	   *end;
	long		n;

	if (s->str)
	{
		*s->str = value;
		return true;
	}
	errno = 0;
	n = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || n < s->min || n > s->max)
	{
		fprintf(stderr, "pgbank-http: invalid %s (--%s): \"%s\" (expected %ld to %ld)\n",
				s->env, s->flag, value, s->min, s->max);
		return false;
	}
	if (s->num)
		*s->num = (int) n;
	else
		*s->lnum = n;
	return true;
}

/* Environment first, then flags. Exits on --help, --routes or an error. */
static void
configure(int argc, char **argv)
{
	struct option longopts[NSETTINGS + 5];
	int			i;
	int			opt;
	int			index;

	for (i = 0; i < NSETTINGS; i++)
	{
		const char *v = getenv(settings[i].env);

		if (v != NULL && !set_setting(&settings[i], v))
			exit(2);
		longopts[i].name = settings[i].flag;
		longopts[i].has_arg = required_argument;
		longopts[i].flag = NULL;
		longopts[i].val = 0;
	}
	longopts[NSETTINGS] = (struct option) {"routes", no_argument, NULL, 'r'};
	longopts[NSETTINGS + 1] = (struct option) {"help", no_argument, NULL, 'h'};
	longopts[NSETTINGS + 2] = (struct option) {"errors", no_argument, NULL, 'e'};
	longopts[NSETTINGS + 3] = (struct option) {"rpcs", no_argument, NULL, 'g'};
	longopts[NSETTINGS + 4] = (struct option) {NULL, 0, NULL, 0};
	while ((opt = getopt_long(argc, argv, "h", longopts, &index)) != -1)
	{
		if (opt == 0 && !set_setting(&settings[index], optarg))
			exit(2);
		else if (opt == 'r')
		{
			routes_print();
			exit(0);
		}
		else if (opt == 'e')
		{
			errors_print();
			exit(0);
		}
		else if (opt == 'g')
		{
			rpcs_print();
			exit(0);
		}
		else if (opt == 'h')
		{
			usage(stdout);
			exit(0);
		}
		else if (opt == '?')
		{
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
	{
		fprintf(stderr, "pgbank-http: unexpected argument \"%s\"\n", argv[optind]);
		exit(2);
	}
}

/* Descriptors besides the HTTP connections: pool, ITCs, gRPC, logs. */
#define FD_RESERVE 64

/*
 * Room for the connection limit, the pool and the listening socket: the
 * soft open-files limit is raised to the hard one, and if that is still
 * too few, the connection limit is lowered to fit (else accept(2) would
 * fail with EMFILE under load, and the pool could not reconnect).
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	long		room;
	char		msg[256];

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max)
	{
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	room = (long) rl.rlim_cur - shim_config.pool_size - FD_RESERVE;
	if (room < shim_config.max_connections)
	{
		snprintf(msg, sizeof(msg), "open-files limit %ld: PGBANK_MAX_CONNECTIONS lowered from %d to %ld",
				 (long) rl.rlim_cur, shim_config.max_connections, room < 1 ? 1 : room);
		log_line("warn", msg);
		shim_config.max_connections = room < 1 ? 1 : (int) room;
	}
}

int
main(int argc, char **argv)
{
	sigset_t	stop_signals;
	int			sig;
	char		msg[256];
	double		deadline;
	bool		stopped;

	configure(argc, argv);
	if (shim_config.outbox_worker)
		return outbox_worker_run();
	if (shim_config.openapi_path && openapi_load(shim_config.openapi_path) != 0)
	{
		fprintf(stderr, "pgbank-http: cannot read %s\n", shim_config.openapi_path);
		return 2;
	}
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);

	/* blocked here, so every MHD thread inherits the mask */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	pool_init(shim_config.pool_size);
	if (http_start() != 0)
	{
		log_line("fatal", "cannot start the HTTP server (address in use?)");
		return 1;
	}
	if (grpc_front_start() != 0)
	{
		log_line("fatal", "cannot start the gRPC server (address in use?)");
		return 1;
	}
	snprintf(msg, sizeof(msg), "listening on %s (HTTP) and %s (gRPC) with %d PostgreSQL connections",
			 shim_config.listen, shim_config.grpc_listen[0] ? shim_config.grpc_listen : "nothing",
			 shim_config.pool_size);
	log_line("info", msg);

	while (sigwait(&stop_signals, &sig) != 0)
		;
	snprintf(msg, sizeof(msg), "received %s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	log_line("info", msg);
	deadline = now_seconds() + shim_config.shutdown_timeout;
	grpc_front_quiesce();
	stopped = http_shutdown(shim_config.shutdown_timeout);
	stopped = grpc_front_stop(deadline) && stopped;
	if (stopped)
		pool_finish();
	log_line("info", "stopped");
	return 0;
}
