/*
 * metrics.c
 *		Request counters, a latency histogram and pool use, as Prometheus
 *		text for GET /metrics.
 *
 * Counters are plain integers updated with atomic adds: the worker threads
 * never wait for each other to count. A request that matched no route is
 * counted under route="unmatched".
 */
#include <stdio.h>
#include <string.h>

#include "shim.h"

#define MAX_ROUTES		64
#define NSTATUS			(sizeof(tracked_status) / sizeof(tracked_status[0]))
#define NBUCKETS		(sizeof(buckets) / sizeof(buckets[0]))

/* Statuses the shim answers; anything else is counted as "other". */
static const int tracked_status[] = {
	200, 400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 503, 0
};

/* Latency buckets, seconds (the Prometheus client's defaults). */
static const double buckets[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

static uint64_t requests[MAX_ROUTES + 1][NSTATUS];
static uint64_t latency_bucket[MAX_ROUTES + 1][NBUCKETS];
static uint64_t latency_count[MAX_ROUTES + 1];
static uint64_t latency_sum_us[MAX_ROUTES + 1];

static int
route_slot(int route_index)
{
	if (route_index < 0 || route_index >= shim_nroutes || route_index >= MAX_ROUTES)
		return MAX_ROUTES;
	return route_index;
}

void
metrics_observe(int route_index, int status, double seconds)
{
	int			r = route_slot(route_index);
	size_t		s;
	size_t		b;

	for (s = 0; s < NSTATUS - 1 && tracked_status[s] != status; s++)
		;
	__atomic_add_fetch(&requests[r][s], 1, __ATOMIC_RELAXED);
	for (b = 0; b < NBUCKETS; b++)
	{
		if (seconds <= buckets[b])
			__atomic_add_fetch(&latency_bucket[r][b], 1, __ATOMIC_RELAXED);
	}
	__atomic_add_fetch(&latency_count[r], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&latency_sum_us[r], (uint64_t) (seconds * 1e6), __ATOMIC_RELAXED);
}

/* The label set of a route: method and path pattern. */
static void
route_labels(StrBuf *b, int r)
{
	if (r == MAX_ROUTES)
		buf_puts(b, "method=\"\",route=\"unmatched\"");
	else
		buf_printf(b, "method=\"%s\",route=\"%s\"",
				   shim_routes[r].method, shim_routes[r].pattern);
}

static void
render_requests(StrBuf *b)
{
	int			r;
	size_t		s;

	buf_puts(b, "# HELP pgbank_http_requests_total HTTP requests by route and status.\n"
			 "# TYPE pgbank_http_requests_total counter\n");
	for (r = 0; r <= MAX_ROUTES; r++)
	{
		if (r < MAX_ROUTES && r >= shim_nroutes)
			continue;
		for (s = 0; s < NSTATUS; s++)
		{
			uint64_t	n = __atomic_load_n(&requests[r][s], __ATOMIC_RELAXED);

			if (n == 0)
				continue;
			buf_puts(b, "pgbank_http_requests_total{");
			route_labels(b, r);
			if (tracked_status[s])
				buf_printf(b, ",status=\"%d\"} %llu\n", tracked_status[s],
						   (unsigned long long) n);
			else
				buf_printf(b, ",status=\"other\"} %llu\n", (unsigned long long) n);
		}
	}
}

static void
render_latency(StrBuf *b)
{
	int			r;
	size_t		i;

	buf_puts(b, "# HELP pgbank_http_request_duration_seconds Time from request to response.\n"
			 "# TYPE pgbank_http_request_duration_seconds histogram\n");
	for (r = 0; r <= MAX_ROUTES; r++)
	{
		uint64_t	count = __atomic_load_n(&latency_count[r], __ATOMIC_RELAXED);

		if (count == 0)
			continue;
		for (i = 0; i < NBUCKETS; i++)
		{
			buf_puts(b, "pgbank_http_request_duration_seconds_bucket{");
			route_labels(b, r);
			buf_printf(b, ",le=\"%g\"} %llu\n", buckets[i],
					   (unsigned long long) __atomic_load_n(&latency_bucket[r][i], __ATOMIC_RELAXED));
		}
		buf_puts(b, "pgbank_http_request_duration_seconds_bucket{");
		route_labels(b, r);
		buf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long) count);
		buf_puts(b, "pgbank_http_request_duration_seconds_sum{");
		route_labels(b, r);
		buf_printf(b, "} %.6f\n",
				   (double) __atomic_load_n(&latency_sum_us[r], __ATOMIC_RELAXED) / 1e6);
		buf_puts(b, "pgbank_http_request_duration_seconds_count{");
		route_labels(b, r);
		buf_printf(b, "} %llu\n", (unsigned long long) count);
	}
}

static void
render_pool(StrBuf *b)
{
	int			size;
	int			connected;
	int			busy;
	int			queued;
	uint64_t	connects;
	uint64_t	failures;

	pool_counts(&size, &connected, &busy, &queued, &connects, &failures);
	buf_printf(b, "# HELP pgbank_pool_size PostgreSQL connections the pool may hold.\n"
			   "# TYPE pgbank_pool_size gauge\npgbank_pool_size %d\n", size);
	buf_printf(b, "# HELP pgbank_pool_connected PostgreSQL connections open now.\n"
			   "# TYPE pgbank_pool_connected gauge\npgbank_pool_connected %d\n", connected);
	buf_printf(b, "# HELP pgbank_pool_busy PostgreSQL connections running a statement now.\n"
			   "# TYPE pgbank_pool_busy gauge\npgbank_pool_busy %d\n", busy);
	buf_printf(b, "# HELP pgbank_pool_queued Requests waiting for a PostgreSQL connection now.\n"
			   "# TYPE pgbank_pool_queued gauge\npgbank_pool_queued %d\n", queued);
	buf_printf(b, "# HELP pgbank_pool_connects_total Successful connections to PostgreSQL.\n"
			   "# TYPE pgbank_pool_connects_total counter\npgbank_pool_connects_total %llu\n",
			   (unsigned long long) connects);
	buf_printf(b, "# HELP pgbank_pool_connect_failures_total Failed connection attempts.\n"
			   "# TYPE pgbank_pool_connect_failures_total counter\n"
			   "pgbank_pool_connect_failures_total %llu\n",
			   (unsigned long long) failures);
}

void
metrics_render(StrBuf *b)
{
	render_requests(b);
	render_latency(b);
	render_pool(b);
}
