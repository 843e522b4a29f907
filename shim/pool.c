/*
 * pool.c
 *		Connections to PostgreSQL, each owned by one database worker thread.
 *
 * libpq wants a connection used by one thread at a time, so each of the
 * pool's worker threads owns one slot and no lock is taken around libpq.
 * The HTTP threads do not run statements: they suspend the connection,
 * hand the request to the pool as a job (pool_submit) and go on serving
 * their other connections; whichever worker is free runs the job and calls
 * the job's done() callback, which resumes the HTTP connection. So a slow
 * statement delays only its own request, and every PostgreSQL connection
 * serves every HTTP connection.
 *
 * A slot connects lazily, prepares each route's statement on its first use,
 * and, when PostgreSQL goes away, reconnects with exponential backoff;
 * meanwhile requests get 503 with Retry-After.
 *
 * Shared state: the job queue (queue_mutex, queue_cond), the cancel handles
 * and busy flags (pool_mutex, read by the shutdown path), counters for
 * /metrics.
 */
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

#define BACKOFF_FIRST	0.25	/* seconds */
#define BACKOFF_MAX		8.0

struct PoolSlot
{
	PGconn	   *conn;
	PGcancel   *cancel;			/* guarded by pool_mutex */
	bool		busy;			/* guarded by pool_mutex */
	unsigned char *prepared;	/* per route: statement prepared on conn */
	double		next_attempt;	/* monotonic seconds */
	double		backoff;
	uint64_t	seen_connects;	/* count_connects when this slot last failed */
};

static PoolSlot *slots;
static int	nslots;
static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Jobs waiting for a worker, first in first out. */
static pthread_mutex_t queue_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static PoolJob *queue_head;
static PoolJob *queue_tail;
static bool queue_refusing;		/* past the shutdown deadline: run no more */
static bool queue_stopping;		/* workers exit once the queue is empty */
static pthread_t *workers;

static int	count_connected;
static int	count_busy;
static int	count_queued;
static uint64_t count_connects;
static uint64_t count_failures;

static void *worker_main(void *arg);

void
pool_init(int size)
{
	int			i;

	nslots = size;
	slots = calloc((size_t) size, sizeof(PoolSlot));
	workers = calloc((size_t) size, sizeof(pthread_t));
	if (slots == NULL || workers == NULL)
	{
		log_line("fatal", "out of memory");
		exit(1);
	}
	for (i = 0; i < size; i++)
	{
		slots[i].prepared = calloc((size_t) shim_nroutes, 1);
		if (slots[i].prepared == NULL)
		{
			log_line("fatal", "out of memory");
			exit(1);
		}
	}
	for (i = 0; i < size; i++)
	{
		if (pthread_create(&workers[i], NULL, worker_main, &slots[i]) != 0)
		{
			log_line("fatal", "cannot start the database worker threads");
			exit(1);
		}
	}
}

static void
set_busy(PoolSlot *slot, bool busy)
{
	pthread_mutex_lock(&pool_mutex);
	slot->busy = busy;
	pthread_mutex_unlock(&pool_mutex);
	__atomic_add_fetch(&count_busy, busy ? 1 : -1, __ATOMIC_RELAXED);
}

static void
drop_connection(PoolSlot *slot)
{
	pthread_mutex_lock(&pool_mutex);
	if (slot->cancel)
		PQfreeCancel(slot->cancel);
	slot->cancel = NULL;
	pthread_mutex_unlock(&pool_mutex);
	PQfinish(slot->conn);
	slot->conn = NULL;
	__atomic_sub_fetch(&count_connected, 1, __ATOMIC_RELAXED);
}

/*
 * An idle connection has nothing to read unless the server said goodbye
 * (shutdown, terminated backend) or, rarely, reported a setting: either
 * way, reconnect before sending a request, so that a restarted server
 * costs no failed request.
 */
static void
check_idle_connection(PoolSlot *slot)
{
	struct pollfd pfd;

	pfd.fd = PQsocket(slot->conn);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (PQstatus(slot->conn) == CONNECTION_OK && pfd.fd >= 0 &&
		poll(&pfd, 1, 0) == 0)
		return;
	log_line("warn", "connection to postgresql closed by the server; reconnecting");
	drop_connection(slot);
	slot->next_attempt = 0;
}

/* Session settings after each connect: statement_timeout (a parameter). */
static bool
configure_connection(PoolSlot *slot)
{
	char		value[32];
	const char *values[1];
	PGresult   *res;
	bool		ok;

	snprintf(value, sizeof(value), "%d", shim_config.statement_timeout);
	values[0] = value;
	res = PQexecParams(slot->conn,
					   "SELECT pg_catalog.set_config('statement_timeout', $1, false)",
					   1, NULL, values, NULL, NULL, 0);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	return ok;
}

static void
connect_failed(PoolSlot *slot, const char *why)
{
	char		msg[512];
	const char *nl;
	int			n;

	/* libpq messages end with a newline and may have several lines */
	nl = strchr(why, '\n');
	n = nl ? (int) (nl - why) : (int) strlen(why);
	slot->backoff = slot->backoff > 0 ? fmin(slot->backoff * 2, BACKOFF_MAX) : BACKOFF_FIRST;
	slot->next_attempt = now_seconds() + slot->backoff;
	slot->seen_connects = __atomic_load_n(&count_connects, __ATOMIC_RELAXED);
	__atomic_add_fetch(&count_failures, 1, __ATOMIC_RELAXED);
	snprintf(msg, sizeof(msg), "cannot connect to postgresql (retry in %.2fs): %.*s",
			 slot->backoff, n, why);
	log_line("warn", msg);
}

static bool
try_connect(PoolSlot *slot)
{
	const char *keys[] = {"fallback_application_name", "connect_timeout", "dbname", NULL};
	const char *values[4];
	char		timeout[16];

	snprintf(timeout, sizeof(timeout), "%d", shim_config.connect_timeout);
	values[0] = shim_config.application_name;
	values[1] = timeout;
	values[2] = shim_config.db;
	values[3] = NULL;
	slot->conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(slot->conn) != CONNECTION_OK || !configure_connection(slot))
	{
		connect_failed(slot, PQerrorMessage(slot->conn));
		PQfinish(slot->conn);
		slot->conn = NULL;
		return false;
	}
	memset(slot->prepared, 0, (size_t) shim_nroutes);
	pthread_mutex_lock(&pool_mutex);
	slot->cancel = PQgetCancel(slot->conn);
	pthread_mutex_unlock(&pool_mutex);
	slot->backoff = 0;
	__atomic_add_fetch(&count_connected, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&count_connects, 1, __ATOMIC_RELAXED);
	return true;
}

/*
 * Make sure the slot has a working connection, or say when to retry. The
 * backoff is cut short when another worker has connected since this one
 * failed: the server is back, so no worker lags behind the others.
 */
static bool
ensure_connected(PoolSlot *slot, int *retry_after)
{
	double		now;
	bool		others_connected;

	if (slot->conn != NULL)
		check_idle_connection(slot);
	if (slot->conn != NULL)
		return true;
	now = now_seconds();
	others_connected = __atomic_load_n(&count_connects, __ATOMIC_RELAXED) != slot->seen_connects;
	if ((now >= slot->next_attempt || others_connected) && try_connect(slot))
		return true;
	*retry_after = (int) ceil(slot->next_attempt - now_seconds());
	if (*retry_after < 1)
		*retry_after = 1;
	return false;
}

/*
 * After a failed statement: if the connection itself broke, drop it so the
 * next request reconnects, and tell the caller to answer 503.
 */
static bool
connection_broke(PoolSlot *slot, int *retry_after)
{
	if (PQstatus(slot->conn) != CONNECTION_BAD)
		return false;
	log_line("warn", "connection to postgresql broke during a request");
	drop_connection(slot);
	slot->next_attempt = 0;
	*retry_after = 1;
	return true;
}

static PGresult *
prepare_route(PoolSlot *slot, const Route *r)
{
	PGresult   *res;

	res = PQprepare(slot->conn, r->stmt_name, r->sql, r->nparams, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return res;
	PQclear(res);
	return NULL;
}

static PoolStatus
pool_exec(PoolSlot *slot, int route_index, const char *const *values,
		  PGresult **result, int *retry_after)
{
	const Route *r = &shim_routes[route_index];
	PGresult   *res;

	*result = NULL;
	if (!ensure_connected(slot, retry_after))
		return POOL_UNAVAILABLE;
	set_busy(slot, true);
	if (!slot->prepared[route_index])
	{
		res = prepare_route(slot, r);
		if (res != NULL)
		{
			set_busy(slot, false);
			if (connection_broke(slot, retry_after))
			{
				PQclear(res);
				return POOL_UNAVAILABLE;
			}
			*result = res;
			return POOL_OK;
		}
		slot->prepared[route_index] = 1;
	}
	res = PQexecPrepared(slot->conn, r->stmt_name, r->nparams, values,
						 NULL, NULL, 0);
	set_busy(slot, false);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && connection_broke(slot, retry_after))
	{
		PQclear(res);
		return POOL_UNAVAILABLE;
	}
	*result = res;
	return POOL_OK;
}

/* SELECT 1 on the worker's connection, for /readyz. */
static PoolStatus
pool_ping(PoolSlot *slot, int *retry_after)
{
	PGresult   *res;
	bool		ok;

	if (!ensure_connected(slot, retry_after))
		return POOL_UNAVAILABLE;
	set_busy(slot, true);
	res = PQexec(slot->conn, "SELECT 1");
	set_busy(slot, false);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	if (!ok)
	{
		if (!connection_broke(slot, retry_after))
			*retry_after = 1;
		return POOL_UNAVAILABLE;
	}
	return POOL_OK;
}

/* ----- the workers and their queue ----- */

static void
run_job(PoolSlot *slot, PoolJob *job)
{
	job->result = NULL;
	job->retry_after = 1;
	if (job->route_index < 0)
		job->status = pool_ping(slot, &job->retry_after);
	else
		job->status = pool_exec(slot, job->route_index, job->values,
								&job->result, &job->retry_after);
}

/* A worker: take the oldest job, run it on this slot, report it done. */
static void *
worker_main(void *arg)
{
	PoolSlot   *slot = arg;

	for (;;)
	{
		PoolJob    *job;
		bool		refuse;

		pthread_mutex_lock(&queue_mutex);
		while (queue_head == NULL && !queue_stopping)
			pthread_cond_wait(&queue_cond, &queue_mutex);
		job = queue_head;
		if (job == NULL)
		{
			pthread_mutex_unlock(&queue_mutex);
			return NULL;
		}
		queue_head = job->next;
		if (queue_head == NULL)
			queue_tail = NULL;
		refuse = queue_refusing;
		pthread_mutex_unlock(&queue_mutex);
		__atomic_sub_fetch(&count_queued, 1, __ATOMIC_RELAXED);

		if (refuse)
		{
			job->status = POOL_REFUSED;
			job->result = NULL;
			job->retry_after = 1;
		}
		else
			run_job(slot, job);
		job->done(job);
	}
}

/* Queue a job; a free worker runs it and calls job->done on its thread. */
void
pool_submit(PoolJob *job)
{
	job->next = NULL;
	__atomic_add_fetch(&count_queued, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&queue_mutex);
	if (queue_tail)
		queue_tail->next = job;
	else
		queue_head = job;
	queue_tail = job;
	pthread_cond_signal(&queue_cond);
	pthread_mutex_unlock(&queue_mutex);
}

/*
 * Past the shutdown deadline: cancel the statements still running, and
 * answer the jobs still queued without running them.
 */
void
pool_cancel_all(void)
{
	char		err[256];
	int			i;

	pthread_mutex_lock(&queue_mutex);
	queue_refusing = true;
	pthread_mutex_unlock(&queue_mutex);
	pthread_mutex_lock(&pool_mutex);
	for (i = 0; i < nslots; i++)
	{
		if (slots[i].busy && slots[i].cancel)
			PQcancel(slots[i].cancel, err, sizeof(err));
	}
	pthread_mutex_unlock(&pool_mutex);
}

/* After the HTTP server has stopped: stop the workers, close every connection. */
void
pool_finish(void)
{
	int			i;

	pthread_mutex_lock(&queue_mutex);
	queue_stopping = true;
	pthread_cond_broadcast(&queue_cond);
	pthread_mutex_unlock(&queue_mutex);
	for (i = 0; i < nslots; i++)
		pthread_join(workers[i], NULL);
	for (i = 0; i < nslots; i++)
	{
		if (slots[i].conn)
			drop_connection(&slots[i]);
		free(slots[i].prepared);
	}
	free(slots);
	free(workers);
	slots = NULL;
	workers = NULL;
	nslots = 0;
}

void
pool_counts(int *size, int *connected, int *busy, int *queued,
			uint64_t *connects, uint64_t *failures)
{
	*size = nslots;
	*queued = __atomic_load_n(&count_queued, __ATOMIC_RELAXED);
	*connected = __atomic_load_n(&count_connected, __ATOMIC_RELAXED);
	*busy = __atomic_load_n(&count_busy, __ATOMIC_RELAXED);
	*connects = __atomic_load_n(&count_connects, __ATOMIC_RELAXED);
	*failures = __atomic_load_n(&count_failures, __ATOMIC_RELAXED);
}
