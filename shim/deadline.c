/*
 * deadline.c
 *		The time a client has to deliver a whole request.
 *
 * libmicrohttpd 0.9.75 bounds only silence (MHD_OPTION_CONNECTION_TIMEOUT):
 * a client sending one byte a second keeps its connection forever, and a
 * few such clients fill the connection limit (slowloris). So each open
 * connection is tracked here from its opening: its clock runs while the
 * shim waits for a request, stops when the request is in (answered or
 * handed to the pool) and starts again when the answer has gone out (the
 * next request on a keep-alive connection). A watchdog thread cuts off the
 * connections whose clock passes PGBANK_REQUEST_TIMEOUT with shutdown(2):
 * the socket stays open, so its descriptor cannot be reused under
 * libmicrohttpd, whose thread then reads end-of-file and closes it in the
 * ordinary way. libmicrohttpd reports a connection's end (untrack) before
 * it closes the socket, and both sides hold track_mutex, so the watchdog
 * never touches a closed or reused descriptor.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "shim.h"

#define WATCHDOG_TICK_MS 200

struct DeadlineTrack
{
	DeadlineTrack *prev;
	DeadlineTrack *next;
	int			fd;
	double		since;			/* waiting for a request since (monotonic) */
	bool		waiting;		/* the clock runs */
	bool		cut;			/* shut down by the watchdog */
};

static pthread_mutex_t track_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;
static DeadlineTrack *track_head;
static double limit_seconds;
static bool stopping;
static bool started;
static pthread_t watchdog;
static uint64_t count_cuts;

DeadlineTrack *
deadline_track(int fd)
{
	DeadlineTrack *t = calloc(1, sizeof(DeadlineTrack));

	if (t == NULL)
		return NULL;
	t->fd = fd;
	t->since = now_seconds();
	t->waiting = true;
	pthread_mutex_lock(&track_mutex);
	t->next = track_head;
	if (track_head)
		track_head->prev = t;
	track_head = t;
	pthread_mutex_unlock(&track_mutex);
	return t;
}

void
deadline_untrack(DeadlineTrack *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&track_mutex);
	if (t->prev)
		t->prev->next = t->next;
	else
		track_head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&track_mutex);
	free(t);
}

/* The request is in: its connection's clock stops. */
void
deadline_received(DeadlineTrack *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&track_mutex);
	t->waiting = false;
	pthread_mutex_unlock(&track_mutex);
}

/* The answer has gone out: the clock runs for the next request. */
void
deadline_restart(DeadlineTrack *t)
{
	if (t == NULL)
		return;
	pthread_mutex_lock(&track_mutex);
	t->since = now_seconds();
	t->waiting = true;
	pthread_mutex_unlock(&track_mutex);
}

static void
cut_late_connections(void)
{
	double		now = now_seconds();
	DeadlineTrack *t;

	for (t = track_head; t; t = t->next)
	{
		if (t->waiting && !t->cut && now - t->since > limit_seconds)
		{
			shutdown(t->fd, SHUT_RDWR);
			t->cut = true;
			__atomic_add_fetch(&count_cuts, 1, __ATOMIC_RELAXED);
		}
	}
}

static void *
watchdog_main(void *arg)
{
	struct timespec until;

	pthread_mutex_lock(&track_mutex);
	while (!stopping)
	{
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += WATCHDOG_TICK_MS * 1000L * 1000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&stop_cond, &track_mutex, &until);
		if (!stopping)
			cut_late_connections();
	}
	pthread_mutex_unlock(&track_mutex);
	return NULL;
}

int
deadline_start(int seconds)
{
	limit_seconds = seconds;
	stopping = false;
	if (pthread_create(&watchdog, NULL, watchdog_main, NULL) != 0)
		return -1;
	started = true;
	return 0;
}

void
deadline_stop(void)
{
	if (!started)
		return;
	pthread_mutex_lock(&track_mutex);
	stopping = true;
	pthread_cond_signal(&stop_cond);
	pthread_mutex_unlock(&track_mutex);
	pthread_join(watchdog, NULL);
	started = false;
}

uint64_t
deadline_cuts(void)
{
	return __atomic_load_n(&count_cuts, __ATOMIC_RELAXED);
}
