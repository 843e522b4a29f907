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
 * What the route table's flags mean here:
 * - ROUTE_READ_ONLY: the statement runs in a read-only transaction, in one
 *   statement: the route's SELECT is prepared with a one-time filter,
 *   WHERE (SELECT set_config('transaction_read_only', 'on', true)) = 'on',
 *   which the executor checks before it computes the select list, so every
 *   statement the API function runs meets a read-only transaction: any
 *   write fails with 25006, and the implicit transaction ends with the
 *   statement (no ROLLBACK round trip).
 * - ROUTE_HASHING: Argon2id costs tens of milliseconds of CPU and much
 *   memory, so at most PGBANK_HASH_WORKERS such jobs run at once; they wait
 *   in their own queue, and the other workers keep serving cheap routes
 *   during a flood of sign-ups or logins.
 * - route_coalesce_sql (POST /transfers): at most PGBANK_COALESCE_WORKERS such
 *   jobs run at once, so that while they run the route's other requests
 *   wait in their own queue; a worker that takes one takes every waiting
 *   request of the route too (up to COALESCE_MAX) and runs them as one
 *   statement, one transaction, one commit (pgbank.api_transfer_each):
 *   on a hot account the commits that each transfer waited for in turn
 *   are shared. Each request still gets its own answer, none before the
 *   commit. An item the statement refused, or every item when the
 *   statement itself failed, is run again on its own, after that commit:
 *   its answer is then the route's single statement's, error fields and
 *   all, and it is never applied twice, because a refused item wrote
 *   nothing. A lone waiting request runs as the single statement.
 * Jobs leave the queues in the order they came, as far as the bounds allow.
 *
 * Overload. The queues hold PGBANK_QUEUE_LIMIT jobs at most together:
 * a job past it is answered POOL_OVERLOADED at once, on the submitter's
 * thread, without being queued. A job may wait PGBANK_QUEUE_WAIT ms for a
 * worker: the expiry thread answers POOL_OVERLOADED to the queues' heads
 * whose wait is over, even when every worker is stuck (on a lock, on a
 * server that does not answer), and a worker taking a job checks it too.
 * So under overload a client hears 503 and Retry-After within the wait
 * bound instead of piling up behind the others.
 *
 * The read pool. With PGBANK_DB_READ set (a standby, or several), the
 * routes that only read (ROUTE_READ_ONLY) but need not see the caller's
 * own latest writes (not ROUTE_PRIMARY) go to workers of their own
 * (PGBANK_READ_POOL_SIZE), connected there, through a queue of their own
 * (QUEUE_READ, read_cond); they run read-only there as on the primary.
 * The queue bound and the wait bound count them with the others.
 *
 * Shared state: the job queues (queue_mutex, queue_cond, read_cond,
 * expiry_cond), the cancel
 * handles and busy flags (pool_mutex, read by the shutdown path), counters
 * for /metrics.
 */
#define _GNU_SOURCE				/* strcasestr */
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shim.h"

#define BACKOFF_FIRST	0.25	/* seconds */
#define BACKOFF_MAX		2.0		/* a failover or restart is seen within 2 s */
#define COALESCE_MAX	64		/* requests in one coalesced statement */

/* slot->prepared[route]: which of the route's statements are prepared */
#define PREPARED_SINGLE		0x01
#define PREPARED_COALESCE	0x02

/*
 * Appended to a ROUTE_READ_ONLY route's statement, a SELECT of one value
 * with no FROM or WHERE (build_read_only_sql checks): a one-time filter,
 * evaluated before the select list.
 */
#define READ_ONLY_FILTER " WHERE (SELECT pg_catalog.set_config('transaction_read_only', 'on', true)) = 'on'"

struct PoolSlot
{
	PGconn	   *conn;
	PGcancel   *cancel;			/* guarded by pool_mutex */
	bool		busy;			/* guarded by pool_mutex */
	PoolJob    *job;			/* the job running, for pool_cancel (pool_mutex) */
	unsigned char *prepared;	/* per route: PREPARED_* on conn */
	const char *conninfo;		/* PGBANK_DB, or PGBANK_DB_READ for a reader */
	bool		reader;			/* serves QUEUE_READ only */
	struct PoolCounters *counts;	/* its pool's */
	double		next_attempt;	/* monotonic seconds */
	double		backoff;
	uint64_t	seen_connects;	/* counts->connects when this slot last failed */
};

static PoolSlot *slots;
static int	nslots;
static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;

/*
 * Jobs waiting for a worker, first in first out, in four queues: ROUTE_HASHING
 * jobs, coalesced routes' jobs and the read pool's apart; each queue has its
 * bound on the jobs of it running at once (0: none).
 */
typedef struct JobQueue
{
	PoolJob    *head;
	PoolJob    *tail;
	int			length;
	int			limit;
	int			running;
} JobQueue;

enum
{
	QUEUE_PLAIN,
	QUEUE_HASHING,
	QUEUE_COALESCE,
	QUEUE_READ,					/* the read pool's workers take only these */
	NQUEUES
};

static pthread_mutex_t queue_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t read_cond = PTHREAD_COND_INITIALIZER;
static JobQueue queues[NQUEUES];
static int	nreaders;
static uint64_t next_seq;		/* arrival numbers, under queue_mutex */
static bool queue_refusing;		/* past the shutdown deadline: run no more */
static bool queue_stopping;		/* workers exit once the queue is empty */
static pthread_t *workers;
static pthread_cond_t expiry_cond;	/* CLOCK_MONOTONIC; under queue_mutex */
static pthread_t expiry_thread;
static bool expiry_started;

/* Gauges and counters of one pool (the primary's, the read pool), atomics. */
typedef struct PoolCounters
{
	int			size;
	int			connected;
	int			busy;
	int			queued;
	uint64_t	connects;
	uint64_t	failures;
} PoolCounters;

static PoolCounters write_counts;
static PoolCounters read_counts;
static uint64_t count_rejected_full;
static uint64_t count_rejected_wait;
static uint64_t count_coalesced_statements;
static uint64_t count_coalesced_requests;
static uint64_t count_coalesce_rerun;

/* Per route: the text prepared for a ROUTE_READ_ONLY route, else NULL. */
static char **read_only_sql;

static void *worker_main(void *arg);
static void *expiry_main(void *arg);

/*
 * The read-only form of each ROUTE_READ_ONLY route's statement. The filter
 * is appended, so the statement must be one SELECT with neither FROM nor
 * WHERE: a route table that breaks this is refused at start.
 */
static void
build_read_only_sql(void)
{
	int			i;

	read_only_sql = calloc((size_t) shim_nroutes, sizeof(char *));
	if (read_only_sql == NULL)
		goto oom;
	for (i = 0; i < shim_nroutes; i++)
	{
		const char *sql = shim_routes[i].sql;
		size_t		len;

		if (!(shim_routes[i].flags & ROUTE_READ_ONLY) || sql == NULL)
			continue;
		if (strncmp(sql, "SELECT ", 7) != 0 || strcasestr(sql, " FROM ") != NULL ||
			strcasestr(sql, " WHERE ") != NULL || strchr(sql, ';') != NULL)
		{
			log_line("fatal", "a read-only route's statement is not one SELECT without FROM or WHERE");
			exit(1);
		}
		len = strlen(sql) + sizeof(READ_ONLY_FILTER);
		read_only_sql[i] = malloc(len);
		if (read_only_sql[i] == NULL)
			goto oom;
		snprintf(read_only_sql[i], len, "%s%s", sql, READ_ONLY_FILTER);
	}
	return;
oom:
	log_line("fatal", "out of memory");
	exit(1);
}

void
pool_init(int size)
{
	int			i;
	int			hashing_limit;

	build_read_only_sql();
	nreaders = 0;
	if (shim_config.db_read[0] != '\0')
		nreaders = shim_config.read_pool_size > 0 ? shim_config.read_pool_size : size;
	nslots = size + nreaders;
	write_counts.size = size;
	read_counts.size = nreaders;
	hashing_limit = shim_config.hash_workers > 0 ? shim_config.hash_workers : size / 4;
	if (hashing_limit < 1)
		hashing_limit = 1;
	queues[QUEUE_HASHING].limit = hashing_limit < size ? hashing_limit : size;
	queues[QUEUE_COALESCE].limit = shim_config.coalesce_workers < size ?
		shim_config.coalesce_workers : size;
	slots = calloc((size_t) nslots, sizeof(PoolSlot));
	workers = calloc((size_t) nslots, sizeof(pthread_t));
	if (slots == NULL || workers == NULL)
	{
		log_line("fatal", "out of memory");
		exit(1);
	}
	for (i = 0; i < nslots; i++)
	{
		slots[i].reader = i >= size;
		slots[i].conninfo = slots[i].reader ? shim_config.db_read : shim_config.db;
		slots[i].counts = slots[i].reader ? &read_counts : &write_counts;
		slots[i].prepared = calloc((size_t) shim_nroutes, 1);
		if (slots[i].prepared == NULL)
		{
			log_line("fatal", "out of memory");
			exit(1);
		}
	}
	for (i = 0; i < nslots; i++)
	{
		if (pthread_create(&workers[i], NULL, worker_main, &slots[i]) != 0)
		{
			log_line("fatal", "cannot start the database worker threads");
			exit(1);
		}
	}
	if (shim_config.queue_wait > 0)
	{
		monotonic_cond_init(&expiry_cond);
		if (pthread_create(&expiry_thread, NULL, expiry_main, NULL) != 0)
		{
			log_line("fatal", "cannot start the queue expiry thread");
			exit(1);
		}
		expiry_started = true;
	}
}

static void
set_busy(PoolSlot *slot, bool busy)
{
	pthread_mutex_lock(&pool_mutex);
	slot->busy = busy;
	pthread_mutex_unlock(&pool_mutex);
	__atomic_add_fetch(&slot->counts->busy, busy ? 1 : -1, __ATOMIC_RELAXED);
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
	__atomic_sub_fetch(&slot->counts->connected, 1, __ATOMIC_RELAXED);
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

/* Session set-up after each connect: statement_timeout (a parameter). */
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
	slot->seen_connects = __atomic_load_n(&slot->counts->connects, __ATOMIC_RELAXED);
	__atomic_add_fetch(&slot->counts->failures, 1, __ATOMIC_RELAXED);
	snprintf(msg, sizeof(msg), "cannot connect to postgresql%s (retry in %.2fs): %.*s",
			 slot->reader ? " (read pool)" : "", slot->backoff, n, why);
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
	values[2] = slot->conninfo;
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
	__atomic_add_fetch(&slot->counts->connected, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&slot->counts->connects, 1, __ATOMIC_RELAXED);
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
	others_connected = __atomic_load_n(&slot->counts->connects, __ATOMIC_RELAXED) != slot->seen_connects;
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

/*
 * Prepare one of a route's statements (which: PREPARED_SINGLE or
 * PREPARED_COALESCE) on the slot's connection, the first time it is used
 * there: NULL when it is prepared, else the error, to PQclear.
 */
static PGresult *
prepare_once(PoolSlot *slot, int route_index, unsigned char which, const char *name,
			 const char *sql)
{
	PGresult   *res;

	if (slot->prepared[route_index] & which)
		return NULL;
	res = PQprepare(slot->conn, name, sql, shim_routes[route_index].nparams, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return res;
	PQclear(res);
	slot->prepared[route_index] |= which;
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
	res = prepare_once(slot, route_index, PREPARED_SINGLE, r->stmt_name,
					   read_only_sql[route_index] ? read_only_sql[route_index] : r->sql);
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

/*
 * Run one job on the slot. A job whose requester left (pool_cancel) before
 * a worker took it is not run: it is answered POOL_REFUSED.
 */
static void
run_job(PoolSlot *slot, PoolJob *job)
{
	bool		cancelled;

	job->result = NULL;
	job->retry_after = 1;
	pthread_mutex_lock(&pool_mutex);
	cancelled = job->cancelled;
	slot->job = cancelled ? NULL : job;
	pthread_mutex_unlock(&pool_mutex);
	if (cancelled)
		job->status = POOL_REFUSED;
	else if (job->route_index < 0)
		job->status = pool_ping(slot, &job->retry_after);
	else
		job->status = pool_exec(slot, job->route_index, job->values,
								&job->result, &job->retry_after);
	pthread_mutex_lock(&pool_mutex);
	slot->job = NULL;
	pthread_mutex_unlock(&pool_mutex);
}

/* The queue a job waits in. */
static JobQueue *
job_queue(const PoolJob *job)
{
	const Route *r;

	if (job->route_index < 0)
		return &queues[QUEUE_PLAIN];
	r = &shim_routes[job->route_index];
	if (nreaders > 0 && (r->flags & (ROUTE_READ_ONLY | ROUTE_PRIMARY)) == ROUTE_READ_ONLY)
		return &queues[QUEUE_READ];	/* the read pool's: not needing the caller's own writes */
	if (r->flags & ROUTE_HASHING)
		return &queues[QUEUE_HASHING];
	if (queues[QUEUE_COALESCE].limit > 0 && route_coalesce_sql(r) != NULL)
		return &queues[QUEUE_COALESCE];
	return &queues[QUEUE_PLAIN];
}

static void
queue_push(JobQueue *q, PoolJob *job)
{
	job->next = NULL;
	job->seq = next_seq++;
	job->queued_at = now_seconds();
	if (q->tail)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
	q->length++;
}

static PoolJob *
queue_pop(JobQueue *q)
{
	PoolJob    *job = q->head;

	q->head = job->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->length--;
	return job;
}

/*
 * Under queue_mutex: the oldest job this worker may run now (a reader only
 * the read pool's), or NULL; *from is its queue, whose running count now
 * includes it. A bounded queue's job
 * waits while its bound's worth of them run, unless the pool is refusing
 * (then every job is answered at once).
 */
static PoolJob *
next_job(const PoolSlot *slot, JobQueue **from)
{
	JobQueue   *best = NULL;
	int			i;

	for (i = 0; i < NQUEUES; i++)
	{
		JobQueue   *q = &queues[i];

		if ((i == QUEUE_READ) != slot->reader)
			continue;
		if (q->head == NULL ||
			(q->limit > 0 && q->running >= q->limit && !queue_refusing))
			continue;
		if (best == NULL || q->head->seq < best->head->seq)
			best = q;
	}
	if (best == NULL)
		return NULL;
	best->running++;
	*from = best;
	return queue_pop(best);
}

/*
 * Under queue_mutex, after taking first from the coalesce queue: the
 * route's other waiting jobs, oldest first, into batch[1..]; returns the
 * batch's size.
 */
static int
take_batch(PoolJob *first, JobQueue *q, PoolJob **batch)
{
	int			n = 1;

	batch[0] = first;
	while (n < COALESCE_MAX && q->head != NULL &&
		   q->head->route_index == first->route_index)
		batch[n++] = queue_pop(q);
	return n;
}

/* ----- coalesced statements ----- */

/* One text[] literal element: "value" with " and \ escaped, or NULL. */
static void
array_element(StrBuf *b, const char *value)
{
	const char *p;

	if (value == NULL)
	{
		buf_puts(b, "NULL");
		return;
	}
	buf_puts(b, "\"");
	for (p = value; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			buf_append(b, "\\", 1);
		buf_append(b, p, 1);
	}
	buf_puts(b, "\"");
}

/* The answer of a coalesced item, as its single statement answers: one json value. */
static PGresult *
item_result(const char *answer, int len)
{
	PGresAttDesc att = {"answer", 0, 0, 0, 114 /* json */ , -1, -1};
	PGresult   *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

	if (res == NULL || !PQsetResultAttrs(res, 1, &att) ||
		!PQsetvalue(res, 0, 0, (char *) answer, len))
	{
		PQclear(res);
		return NULL;
	}
	return res;
}

/*
 * Run batch[0..n-1] (live jobs of one coalesced route) as one statement.
 * Sets each job's status and result that the statement answered; returns
 * false, with the jobs untouched, when the statement failed as a whole
 * without breaking the connection (each job is then run on its own).
 */
static bool
exec_coalesced(PoolSlot *slot, PoolJob **batch, int n)
{
	const Route *r = &shim_routes[batch[0]->route_index];
	char		name[80];
	StrBuf		arrays[ROUTE_MAX_PARAMS];
	const char *values[ROUTE_MAX_PARAMS];
	PGresult   *res;
	int			retry_after = 1;
	int			p,
				i;
	bool		ok = true;

	snprintf(name, sizeof(name), "%s__coalesced", r->stmt_name);
	for (p = 0; p < r->nparams; p++)
	{
		buf_init(&arrays[p], (size_t) 1 << 30);
		buf_puts(&arrays[p], "{");
		for (i = 0; i < n; i++)
		{
			if (i > 0)
				buf_puts(&arrays[p], ",");
			array_element(&arrays[p], batch[i]->values[p]);
		}
		buf_puts(&arrays[p], "}");
		ok = ok && !arrays[p].overflow;
		values[p] = arrays[p].data;
	}
	res = NULL;
	if (ok && ensure_connected(slot, &retry_after))
	{
		set_busy(slot, true);
		res = prepare_once(slot, batch[0]->route_index, PREPARED_COALESCE, name,
						   route_coalesce_sql(r));
		if (res == NULL)
			res = PQexecPrepared(slot->conn, name, r->nparams, values, NULL, NULL, 0);
		set_busy(slot, false);
	}
	for (p = 0; p < r->nparams; p++)
		buf_free(&arrays[p]);
	if (!ok)
		return false;
	if (res == NULL || (PQresultStatus(res) != PGRES_TUPLES_OK &&
						(slot->conn == NULL || connection_broke(slot, &retry_after))))
	{
		/* unavailable, or broken with the commit's outcome unknown: as alone */
		PQclear(res);
		for (i = 0; i < n; i++)
		{
			batch[i]->status = POOL_UNAVAILABLE;
			batch[i]->retry_after = retry_after;
		}
		return true;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 2)
	{
		PQclear(res);
		return false;
	}
	for (i = 0; i < PQntuples(res); i++)
	{
		int			item = atoi(PQgetvalue(res, i, 0));

		if (item < 0 || item >= n || PQgetisnull(res, i, 1) || batch[item]->result != NULL)
			continue;
		batch[item]->result = item_result(PQgetvalue(res, i, 1), PQgetlength(res, i, 1));
		if (batch[item]->result != NULL)
			batch[item]->status = POOL_OK;
	}
	PQclear(res);
	return true;
}

/*
 * Run a batch taken from the coalesce queue: the live jobs as one
 * statement when there are two or more, then on its own each job the
 * statement did not answer. A cancelled job is refused, and a running
 * batch is never cancelled for one requester: its answer is dropped.
 */
static void
run_batch(PoolSlot *slot, PoolJob **batch, int n)
{
	PoolJob    *live[COALESCE_MAX];
	int			nlive = 0;
	int			i,
				rerun = 0;

	pthread_mutex_lock(&pool_mutex);
	for (i = 0; i < n; i++)
	{
		batch[i]->result = NULL;
		batch[i]->retry_after = 1;
		batch[i]->status = POOL_REFUSED;
		if (!batch[i]->cancelled)
			live[nlive++] = batch[i];
	}
	pthread_mutex_unlock(&pool_mutex);
	if (nlive >= 2 && exec_coalesced(slot, live, nlive))
	{
		__atomic_add_fetch(&count_coalesced_statements, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&count_coalesced_requests, (uint64_t) nlive, __ATOMIC_RELAXED);
	}
	for (i = 0; i < nlive; i++)
	{
		if (live[i]->status == POOL_OK || live[i]->status == POOL_UNAVAILABLE)
			continue;
		if (nlive >= 2)
			rerun++;
		run_job(slot, live[i]);
	}
	__atomic_add_fetch(&count_coalesce_rerun, (uint64_t) rerun, __ATOMIC_RELAXED);
}

static double
wait_limit(void)
{
	return shim_config.queue_wait / 1000.0;
}

static bool
waited_too_long(const PoolJob *job, double now)
{
	return shim_config.queue_wait > 0 && now - job->queued_at >= wait_limit();
}

/* A job not run for overload: 503 with Retry-After. */
static void
overloaded(PoolJob *job, uint64_t *counter)
{
	job->status = POOL_OVERLOADED;
	job->result = NULL;
	job->retry_after = 1;
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
}

/*
 * The expiry thread: sleeps until the oldest of the queues' heads has
 * waited PGBANK_QUEUE_WAIT, then takes every job whose wait is over out of
 * the queues (the oldest are at their heads) and answers them. With the
 * queues empty it sleeps PGBANK_QUEUE_WAIT: a job queued meanwhile was
 * queued after it fell asleep, so it wakes before that job's wait is over
 * and then sleeps until then. So pool_submit need not wake it, which would
 * cost every request a thread wake-up.
 */
static void *
expiry_main(void *arg)
{
	pthread_mutex_lock(&queue_mutex);
	while (!queue_stopping)
	{
		PoolJob    *expired = NULL;
		PoolJob    *job;
		double		now = now_seconds();
		double		first = 0;
		int			i;

		for (i = 0; i < NQUEUES; i++)
		{
			JobQueue   *q = &queues[i];

			while (q->head && waited_too_long(q->head, now))
			{
				job = queue_pop(q);
				__atomic_sub_fetch(i == QUEUE_READ ? &read_counts.queued : &write_counts.queued, 1,
								   __ATOMIC_RELAXED);
				job->next = expired;
				expired = job;
			}
			if (q->head && (first == 0 || q->head->queued_at < first))
				first = q->head->queued_at;
		}
		if (expired)
		{
			pthread_mutex_unlock(&queue_mutex);
			while (expired)
			{
				job = expired;
				expired = job->next;
				overloaded(job, &count_rejected_wait);
				job->done(job);
			}
			pthread_mutex_lock(&queue_mutex);
			continue;
		}
		cond_wait_until(&expiry_cond, &queue_mutex, (first == 0 ? now : first) + wait_limit());
	}
	pthread_mutex_unlock(&queue_mutex);
	return arg;
}

/* A worker: take the oldest job it may run, run it on this slot, report it done. */
static void *
worker_main(void *arg)
{
	PoolSlot   *slot = arg;
	PoolJob    *batch[COALESCE_MAX];

	for (;;)
	{
		PoolJob    *job;
		JobQueue   *q = NULL;
		bool		refuse;
		double		now;
		int			n = 1,
					live = 0,
					i;

		pthread_mutex_lock(&queue_mutex);
		while ((job = next_job(slot, &q)) == NULL && !queue_stopping)
			pthread_cond_wait(slot->reader ? &read_cond : &queue_cond, &queue_mutex);
		if (job == NULL)
		{
			pthread_mutex_unlock(&queue_mutex);
			return NULL;
		}
		if (q == &queues[QUEUE_COALESCE])
			n = take_batch(job, q, batch);
		else
			batch[0] = job;
		refuse = queue_refusing;
		pthread_mutex_unlock(&queue_mutex);
		__atomic_sub_fetch(&slot->counts->queued, n, __ATOMIC_RELAXED);

		/* the jobs to run first, those answered without running after */
		now = now_seconds();
		for (i = 0; i < n; i++)
		{
			PoolJob    *j = batch[i];

			if (refuse)
			{
				j->status = POOL_REFUSED;
				j->result = NULL;
				j->retry_after = 1;
			}
			else if (waited_too_long(j, now))
				overloaded(j, &count_rejected_wait);
			else
			{
				batch[i] = batch[live];
				batch[live++] = j;
			}
		}
		if (live > 0 && q == &queues[QUEUE_COALESCE])
			run_batch(slot, batch, live);
		else if (live > 0)
			run_job(slot, batch[0]);
		/* a job is not ours once done() has been called */
		for (i = 0; i < n; i++)
			batch[i]->done(batch[i]);
		pthread_mutex_lock(&queue_mutex);
		q->running--;
		/* a bounded queue's job may have waited for this one */
		if (q->head != NULL && q->limit > 0)
			pthread_cond_signal(&queue_cond);
		pthread_mutex_unlock(&queue_mutex);
	}
}

/*
 * Queue a job; a free worker runs it and calls job->done on its thread.
 * With PGBANK_QUEUE_LIMIT jobs waiting already, done is called here and
 * now, with POOL_OVERLOADED.
 */
void
pool_submit(PoolJob *job)
{
	JobQueue   *q = job_queue(job);
	bool		reads = q == &queues[QUEUE_READ];
	int			waiting = 0;
	int			i;

	pthread_mutex_lock(&queue_mutex);
	for (i = 0; i < NQUEUES; i++)
		waiting += queues[i].length;
	if (waiting >= shim_config.queue_limit)
	{
		pthread_mutex_unlock(&queue_mutex);
		overloaded(job, &count_rejected_full);
		job->done(job);
		return;
	}
	__atomic_add_fetch(reads ? &read_counts.queued : &write_counts.queued, 1, __ATOMIC_RELAXED);
	queue_push(q, job);
	pthread_cond_signal(reads ? &read_cond : &queue_cond);
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
	pthread_cond_broadcast(&queue_cond);
	pthread_cond_broadcast(&read_cond);
	pthread_mutex_unlock(&queue_mutex);
	pthread_mutex_lock(&pool_mutex);
	for (i = 0; i < nslots; i++)
	{
		if (slots[i].busy && slots[i].cancel)
			PQcancel(slots[i].cancel, err, sizeof(err));
	}
	pthread_mutex_unlock(&pool_mutex);
}

/*
 * The requester of a job has gone (a gRPC call cancelled or past its
 * deadline): a queued job will not run, a running one has its statement
 * cancelled (it then fails with 57014). done() is called either way. The
 * job must stay allocated until then; calling this after done() is
 * harmless. A cancel in the instant between a worker taking the job and
 * sending its statement is missed: the statement runs to its end (within
 * statement_timeout) and its answer is discarded by the requester.
 */
void
pool_cancel(PoolJob *job)
{
	char		err[256];
	int			i;

	pthread_mutex_lock(&pool_mutex);
	job->cancelled = true;
	for (i = 0; i < nslots; i++)
	{
		if (slots[i].job == job && slots[i].busy && slots[i].cancel)
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
	pthread_cond_broadcast(&read_cond);
	if (expiry_started)
		pthread_cond_signal(&expiry_cond);
	pthread_mutex_unlock(&queue_mutex);
	for (i = 0; i < nslots; i++)
		pthread_join(workers[i], NULL);
	if (expiry_started)
		pthread_join(expiry_thread, NULL);
	expiry_started = false;
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
pool_counts(bool read, int *size, int *connected, int *busy, int *queued,
			uint64_t *connects, uint64_t *failures)
{
	const PoolCounters *c = read ? &read_counts : &write_counts;

	*size = c->size;
	*queued = __atomic_load_n(&c->queued, __ATOMIC_RELAXED);
	*connected = __atomic_load_n(&c->connected, __ATOMIC_RELAXED);
	*busy = __atomic_load_n(&c->busy, __ATOMIC_RELAXED);
	*connects = __atomic_load_n(&c->connects, __ATOMIC_RELAXED);
	*failures = __atomic_load_n(&c->failures, __ATOMIC_RELAXED);
}

void
pool_hashing_counts(int *limit, int *busy, int *queued)
{
	pthread_mutex_lock(&queue_mutex);
	*limit = queues[QUEUE_HASHING].limit;
	*busy = queues[QUEUE_HASHING].running;
	*queued = queues[QUEUE_HASHING].length;
	pthread_mutex_unlock(&queue_mutex);
}

void
pool_coalesce_counts(int *limit, int *busy, int *queued,
					 uint64_t *statements, uint64_t *requests, uint64_t *rerun)
{
	pthread_mutex_lock(&queue_mutex);
	*limit = queues[QUEUE_COALESCE].limit;
	*busy = queues[QUEUE_COALESCE].running;
	*queued = queues[QUEUE_COALESCE].length;
	pthread_mutex_unlock(&queue_mutex);
	*statements = __atomic_load_n(&count_coalesced_statements, __ATOMIC_RELAXED);
	*requests = __atomic_load_n(&count_coalesced_requests, __ATOMIC_RELAXED);
	*rerun = __atomic_load_n(&count_coalesce_rerun, __ATOMIC_RELAXED);
}

void
pool_rejection_counts(uint64_t *full, uint64_t *waited)
{
	*full = __atomic_load_n(&count_rejected_full, __ATOMIC_RELAXED);
	*waited = __atomic_load_n(&count_rejected_wait, __ATOMIC_RELAXED);
}
