/*
 * metrics.c
 *		Request counters, a latency histogram and pool use, as Prometheus
 *		text for GET /metrics.
 *
 * Counters are plain integers updated with atomic adds: the worker threads
 * never wait for each other to count. A request that matched no route is
 * counted under route="unmatched", a gRPC call of a method not served
 * under method="unknown".
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

/* gRPC calls by method (the RPC table's index; the last: unknown) and code. */
#define MAX_RPCS		64
static uint64_t rpc_calls[MAX_RPCS + 1][RPC_NCODES];
static uint64_t rpc_count[MAX_RPCS + 1];
static uint64_t rpc_sum_us[MAX_RPCS + 1];
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

void
metrics_observe_rpc(int rpc_index, int code, double seconds)
{
	int			r = rpc_index < 0 || rpc_index >= MAX_RPCS ? MAX_RPCS : rpc_index;

	if (code < 0 || code >= RPC_NCODES)
		code = RPC_UNKNOWN;
	__atomic_add_fetch(&rpc_calls[r][code], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&rpc_count[r], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&rpc_sum_us[r], (uint64_t) (seconds * 1e6), __ATOMIC_RELAXED);
}

/* gRPC calls by method and code, and their time (a summary). */
static void
render_rpcs(StrBuf *b)
{
	int			r;
	int			c;

	buf_puts(b, "# HELP pgbank_grpc_calls_total gRPC calls by method and status code.\n"
			 "# TYPE pgbank_grpc_calls_total counter\n");
	for (r = 0; r <= MAX_RPCS; r++)
	{
		for (c = 0; c < RPC_NCODES; c++)
		{
			uint64_t	n = __atomic_load_n(&rpc_calls[r][c], __ATOMIC_RELAXED);

			if (n == 0)
				continue;
			buf_printf(b, "pgbank_grpc_calls_total{method=\"%s\",code=\"%s\"} %llu\n",
					   r < MAX_RPCS ? shim_rpc_path(r) : "unknown", rpc_code_name(c),
					   (unsigned long long) n);
		}
	}
	buf_printf(b, "# HELP pgbank_grpc_in_flight gRPC calls being served now.\n"
			   "# TYPE pgbank_grpc_in_flight gauge\npgbank_grpc_in_flight %d\n",
			   grpc_front_in_flight());
	buf_puts(b, "# HELP pgbank_grpc_call_duration_seconds Time from call to status.\n"
			 "# TYPE pgbank_grpc_call_duration_seconds summary\n");
	for (r = 0; r <= MAX_RPCS; r++)
	{
		uint64_t	n = __atomic_load_n(&rpc_count[r], __ATOMIC_RELAXED);
		const char *m = r < MAX_RPCS ? shim_rpc_path(r) : "unknown";

		if (n == 0)
			continue;
		buf_printf(b, "pgbank_grpc_call_duration_seconds_sum{method=\"%s\"} %.6f\n", m,
				   (double) __atomic_load_n(&rpc_sum_us[r], __ATOMIC_RELAXED) / 1e6);
		buf_printf(b, "pgbank_grpc_call_duration_seconds_count{method=\"%s\"} %llu\n", m,
				   (unsigned long long) n);
	}
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
	int			hash_limit;
	int			hash_busy;
	int			hash_queued;
	int			co_limit,
				co_busy,
				co_queued;
	uint64_t	co_statements,
				co_requests,
				co_rerun;
	uint64_t	rejected_full;
	uint64_t	rejected_wait;

	pool_rejection_counts(&rejected_full, &rejected_wait);
	pool_counts(false, &size, &connected, &busy, &queued, &connects, &failures);
	pool_hashing_counts(&hash_limit, &hash_busy, &hash_queued);
	pool_coalesce_counts(&co_limit, &co_busy, &co_queued, &co_statements, &co_requests, &co_rerun);
	buf_printf(b, "# HELP pgbank_pool_size PostgreSQL connections the pool may hold.\n"
			   "# TYPE pgbank_pool_size gauge\npgbank_pool_size %d\n", size);
	buf_printf(b, "# HELP pgbank_pool_connected PostgreSQL connections open now.\n"
			   "# TYPE pgbank_pool_connected gauge\npgbank_pool_connected %d\n", connected);
	buf_printf(b, "# HELP pgbank_pool_busy PostgreSQL connections running a statement now.\n"
			   "# TYPE pgbank_pool_busy gauge\npgbank_pool_busy %d\n", busy);
	buf_printf(b, "# HELP pgbank_pool_queued Requests waiting for a PostgreSQL connection now.\n"
			   "# TYPE pgbank_pool_queued gauge\npgbank_pool_queued %d\n", queued);
	buf_printf(b, "# HELP pgbank_pool_hashing_limit Workers that may run a password-hashing "
			   "route at once.\n"
			   "# TYPE pgbank_pool_hashing_limit gauge\npgbank_pool_hashing_limit %d\n", hash_limit);
	buf_printf(b, "# HELP pgbank_pool_hashing_busy Workers running a password-hashing route now.\n"
			   "# TYPE pgbank_pool_hashing_busy gauge\npgbank_pool_hashing_busy %d\n", hash_busy);
	buf_printf(b, "# HELP pgbank_pool_hashing_queued Password-hashing requests waiting for "
			   "the bound now.\n"
			   "# TYPE pgbank_pool_hashing_queued gauge\npgbank_pool_hashing_queued %d\n",
			   hash_queued);
	buf_printf(b, "# HELP pgbank_pool_coalesce_limit Workers that may run coalesced "
			   "transfer requests at once (PGBANK_COALESCE_WORKERS).\n"
			   "# TYPE pgbank_pool_coalesce_limit gauge\npgbank_pool_coalesce_limit %d\n", co_limit);
	buf_printf(b, "# HELP pgbank_pool_coalesce_busy Workers running transfer requests now.\n"
			   "# TYPE pgbank_pool_coalesce_busy gauge\npgbank_pool_coalesce_busy %d\n", co_busy);
	buf_printf(b, "# HELP pgbank_pool_coalesce_queued Transfer requests waiting to be "
			   "coalesced now.\n"
			   "# TYPE pgbank_pool_coalesce_queued gauge\npgbank_pool_coalesce_queued %d\n",
			   co_queued);
	buf_printf(b, "# HELP pgbank_pool_coalesced_statements_total Statements that ran two or "
			   "more requests in one transaction.\n"
			   "# TYPE pgbank_pool_coalesced_statements_total counter\n"
			   "pgbank_pool_coalesced_statements_total %llu\n", (unsigned long long) co_statements);
	buf_printf(b, "# HELP pgbank_pool_coalesced_requests_total Requests run in those statements.\n"
			   "# TYPE pgbank_pool_coalesced_requests_total counter\n"
			   "pgbank_pool_coalesced_requests_total %llu\n", (unsigned long long) co_requests);
	buf_printf(b, "# HELP pgbank_pool_coalesce_rerun_total Coalesced requests run again on "
			   "their own (refused in the batch, or the batch failed).\n"
			   "# TYPE pgbank_pool_coalesce_rerun_total counter\n"
			   "pgbank_pool_coalesce_rerun_total %llu\n", (unsigned long long) co_rerun);
	buf_printf(b, "# HELP pgbank_pool_connects_total Successful connections to PostgreSQL.\n"
			   "# TYPE pgbank_pool_connects_total counter\npgbank_pool_connects_total %llu\n",
			   (unsigned long long) connects);
	buf_printf(b, "# HELP pgbank_pool_connect_failures_total Failed connection attempts.\n"
			   "# TYPE pgbank_pool_connect_failures_total counter\n"
			   "pgbank_pool_connect_failures_total %llu\n",
			   (unsigned long long) failures);
	buf_printf(b, "# HELP pgbank_pool_rejected_total Requests answered 503 without running: "
			   "the queue was full (PGBANK_QUEUE_LIMIT) or their wait too long "
			   "(PGBANK_QUEUE_WAIT).\n"
			   "# TYPE pgbank_pool_rejected_total counter\n"
			   "pgbank_pool_rejected_total{reason=\"queue_full\"} %llu\n"
			   "pgbank_pool_rejected_total{reason=\"queue_wait\"} %llu\n",
			   (unsigned long long) rejected_full, (unsigned long long) rejected_wait);
}

/* The read pool (PGBANK_DB_READ), when there is one. */
static void
render_read_pool(StrBuf *b)
{
	int			size;
	int			connected;
	int			busy;
	int			queued;
	uint64_t	connects;
	uint64_t	failures;

	pool_counts(true, &size, &connected, &busy, &queued, &connects, &failures);
	if (size == 0)
		return;
	buf_printf(b, "# HELP pgbank_pool_read_size Connections the read pool may hold.\n"
			   "# TYPE pgbank_pool_read_size gauge\npgbank_pool_read_size %d\n", size);
	buf_printf(b, "# HELP pgbank_pool_read_connected Read pool connections open now.\n"
			   "# TYPE pgbank_pool_read_connected gauge\npgbank_pool_read_connected %d\n",
			   connected);
	buf_printf(b, "# HELP pgbank_pool_read_busy Read pool connections running a statement now.\n"
			   "# TYPE pgbank_pool_read_busy gauge\npgbank_pool_read_busy %d\n", busy);
	buf_printf(b, "# HELP pgbank_pool_read_queued Requests waiting for a read pool connection now.\n"
			   "# TYPE pgbank_pool_read_queued gauge\npgbank_pool_read_queued %d\n", queued);
	buf_printf(b, "# HELP pgbank_pool_read_connects_total Successful connections of the read pool.\n"
			   "# TYPE pgbank_pool_read_connects_total counter\n"
			   "pgbank_pool_read_connects_total %llu\n", (unsigned long long) connects);
	buf_printf(b, "# HELP pgbank_pool_read_connect_failures_total Failed connection attempts "
			   "of the read pool.\n"
			   "# TYPE pgbank_pool_read_connect_failures_total counter\n"
			   "pgbank_pool_read_connect_failures_total %llu\n", (unsigned long long) failures);
}

void
metrics_render(StrBuf *b)
{
	render_requests(b);
	render_latency(b);
	render_pool(b);
	render_read_pool(b);
	render_rpcs(b);
}
