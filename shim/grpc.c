/*
 * grpc.c
 *		The gRPC front on gRPC's C core: every gRPC core call is in this file.
 *
 * gRPC's core API (grpc/grpc.h) changes between releases, so nothing else
 * includes it: rpcs.c gets a call's message bytes and metadata and gives
 * back the bytes and status to send (rpc.h). Built on Debian 12's
 * libgrpc 1.51.
 *
 * Each method of the RPC table is registered; the server keeps a few
 * requests for each outstanding on one completion queue, and one thread
 * (cq_main) takes its events. A call's life:
 *
 *	TAG_NEW		the call arrived, with its message (unary methods); ask
 *				for the next one, watch for its end (RECV_CLOSE_ON_SERVER),
 *				then decode it and queue its statement on the database
 *				workers (pool.c), or answer at once (an error, an
 *				unknown method: UNIMPLEMENTED).
 *	job_done	on a database worker: the statement's result becomes the
 *				reply, sent by a batch started there (gRPC core calls may
 *				be made from any thread).
 *	TAG_CLOSE	the call is over; if it was cancelled (the client left, or
 *				its grpc-timeout deadline passed) while its statement is
 *				queued or running, the statement is cancelled (pool_cancel).
 *	TAG_SEND	the reply went out.
 *
 * A call is freed, counted and logged when its last batch and its job are
 * done (a reference each). Reflection is a bidirectional stream: TAG_RECV
 * and TAG_STREAM alternate until the client half-closes.
 *
 * Health's Watch is a server stream that the client ends: the call joins
 * the watchers' list (a reference), gets the server's status at once, and
 * a new message (TAG_WATCH) whenever the status changes. While anybody
 * watches, the watch thread asks the pool for SELECT 1 every
 * WATCH_INTERVAL_MS (one probe for all the watchers); a probe's answer is
 * sent to each watcher whose last message said otherwise, one message in
 * flight a call. The call leaves the list when it closes (the client
 * cancelled it, or its deadline passed), or at shutdown, which sends each
 * watcher NOT_SERVING and ends its stream UNAVAILABLE.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "rpc.h"

#define REQUESTS_PER_METHOD 4	/* calls asked for in advance, per method */
#define MAX_STREAMS 100			/* concurrent calls per connection */
#define DEADLINE_SLACK_MS 100
#define WATCH_INTERVAL_MS 1000	/* how often a watched server is probed */

typedef enum TagKind
{
	TAG_NEW,
	TAG_CLOSE,
	TAG_SEND,
	TAG_RECV,
	TAG_STREAM,
	TAG_WATCH,
	TAG_SHUTDOWN
} TagKind;

struct Call;

typedef struct Tag
{
	TagKind		kind;
	struct Call *call;
} Tag;

typedef struct Call
{
	int			rpc;			/* index in shim_rpcs; -1: not a method served */
	grpc_call  *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details;	/* unregistered calls: the method asked for */
	grpc_byte_buffer *message;	/* the message received */
	int			cancelled;		/* RECV_CLOSE_ON_SERVER's answer */
	int			refs;			/* batches and job not yet done */
	bool		job_pending;
	bool		sent_metadata;
	int			code;			/* the status sent */
	double		start;
	char	   *peer;
	char		peer_ip[INET6_ADDRSTRLEN];
	Tag			tag_new;
	Tag			tag_close;
	Tag			tag_send;
	Tag			tag_recv;
	Tag			tag_stream;
	Tag			tag_watch;
	/* a Watch call's, under watch_mutex */
	struct Call *watch_next;	/* in the watchers' list */
	bool		watching;		/* in the list (holding a reference) */
	bool		watch_known;	/* the service asked about is served */
	bool		watch_sending;	/* a message of it in flight */
	int			watch_sent;		/* the status last sent, 0: none yet */
	grpc_byte_buffer *out;		/* the message being sent */
	grpc_slice	status_message;
	grpc_metadata trailer;		/* grpc-status-details-bin */
	bool		has_status;
	RpcReply	reply;
	PoolJob		job;
	RpcArgs		args;
} Call;

static grpc_server *server;
static grpc_completion_queue *cq;
static void **methods;
static pthread_t cq_thread;
static bool started;
static int	in_flight;			/* calls accepted and not yet freed */
static int	jobs_pending;		/* of those, with a statement queued or running */
static volatile int shutting_down;
static int	shutdown_pending;	/* 1 from quiesce until the server has shut down */
static Tag	shutdown_tag = {TAG_SHUTDOWN, NULL};

/* Health's watchers and their probe. */
static pthread_mutex_t watch_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_cond;	/* CLOCK_MONOTONIC */
static Call *watchers;
static int	watch_health;		/* the last probe's RpcServing, 0: none since watched */
static bool watch_probing;		/* the probe is queued or running */
static bool watch_stopping;
static PoolJob watch_probe;
static pthread_t watch_thread;

/* ----- calls ----- */

static void
request_call(int rpc)
{
	Call	   *c = calloc(1, sizeof(Call));
	grpc_call_error err;

	if (c == NULL)
	{
		log_line("error", "grpc: out of memory asking for a call");
		return;
	}
	c->rpc = rpc;
	c->code = RPC_UNKNOWN;
	c->tag_new = (Tag) {TAG_NEW, c};
	c->tag_close = (Tag) {TAG_CLOSE, c};
	c->tag_send = (Tag) {TAG_SEND, c};
	c->tag_recv = (Tag) {TAG_RECV, c};
	c->tag_stream = (Tag) {TAG_STREAM, c};
	c->tag_watch = (Tag) {TAG_WATCH, c};
	grpc_metadata_array_init(&c->md);
	if (rpc >= 0)
		err = grpc_server_request_registered_call(server, methods[rpc], &c->call,
												  &c->deadline, &c->md,
												  shim_rpcs[rpc].kind == RPC_REFLECTION ?
												  NULL : &c->message, cq, cq, &c->tag_new);
	else
	{
		grpc_call_details_init(&c->details);
		err = grpc_server_request_call(server, &c->call, &c->details, &c->md, cq, cq,
									   &c->tag_new);
	}
	if (err != GRPC_CALL_OK)
	{
		grpc_metadata_array_destroy(&c->md);
		if (rpc < 0)
			grpc_call_details_destroy(&c->details);
		free(c);
	}
}

static const char *
call_method(Call *c, char *buf, size_t size)
{
	if (c->rpc >= 0)
		return shim_rpcs[c->rpc].path;
	snprintf(buf, size, "%.*s", (int) GRPC_SLICE_LENGTH(c->details.method),
			 (const char *) GRPC_SLICE_START_PTR(c->details.method));
	return buf;
}

/*
 * Whether the call's deadline has passed. The client's own timer cancels
 * the call (RST_STREAM) at its deadline, which may reach us a little before
 * ours: DEADLINE_SLACK_MS of it count as the deadline.
 */
static bool
deadline_passed(Call *c)
{
	gpr_timespec now = gpr_now(c->deadline.clock_type);

	return gpr_time_cmp(gpr_time_add(now, gpr_time_from_millis(DEADLINE_SLACK_MS, GPR_TIMESPAN)),
						c->deadline) >= 0;
}

/* One JSON line per call, like the simple bank's GrpcLogger. */
static void
log_call(Call *c, int code, double seconds)
{
	StrBuf		b;
	char		method[256];
	const char *level = code == RPC_OK ? "info" :
		code == RPC_INTERNAL || code == RPC_UNKNOWN || code == RPC_DATA_LOSS ||
		code == RPC_UNAVAILABLE ? "error" : "warn";

	buf_init(&b, 8192);
	log_begin(&b, level);
	buf_puts(&b, ",\"protocol\":\"grpc\",\"method\":");
	buf_json_string(&b, call_method(c, method, sizeof(method)));
	buf_printf(&b, ",\"status_code\":%d,\"status_text\":\"%s\",\"duration_ms\":%.3f,\"peer\":",
			   code, rpc_code_name(code), seconds * 1000.0);
	buf_json_string(&b, c->peer_ip[0] ? c->peer_ip : NULL);
	buf_puts(&b, ",\"message\":\"received a gRPC request\"");
	log_end(&b);
}

static void
call_free(Call *c)
{
	double		seconds = now_seconds() - c->start;
	int			code = c->code;

	/* a cancelled call's client got no status of ours */
	if (c->cancelled)
		code = deadline_passed(c) ? RPC_DEADLINE_EXCEEDED : RPC_CANCELLED;
	metrics_observe_rpc(c->rpc, code, seconds);
	log_call(c, code, seconds);
	if (c->call)
		grpc_call_unref(c->call);
	grpc_metadata_array_destroy(&c->md);
	if (c->rpc < 0)
		grpc_call_details_destroy(&c->details);
	if (c->message)
		grpc_byte_buffer_destroy(c->message);
	if (c->out)
		grpc_byte_buffer_destroy(c->out);
	if (c->has_status)
	{
		grpc_slice_unref(c->status_message);
		if (c->reply.details)
			grpc_slice_unref(c->trailer.value);
	}
	if (c->peer)
		gpr_free(c->peer);
	rpc_reply_free(&c->reply);
	rpc_args_free(&c->args);
	free(c);
	__atomic_sub_fetch(&in_flight, 1, __ATOMIC_RELAXED);
}

static void
call_unref(Call *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		call_free(c);
}

/* Start a batch that holds a reference on the call until it completes. */
static bool
start_batch(Call *c, const grpc_op *ops, size_t n, Tag *tag)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
	if (grpc_call_start_batch(c->call, ops, n, tag, NULL) == GRPC_CALL_OK)
		return true;
	call_unref(c);
	return false;
}

/* The call's whole message, as one copy (NULL when it has none). */
static uint8_t *
message_bytes(grpc_byte_buffer *bb, size_t *len)
{
	grpc_byte_buffer_reader reader;
	grpc_slice	s;
	uint8_t    *data;

	*len = 0;
	if (bb == NULL || !grpc_byte_buffer_reader_init(&reader, bb))
		return NULL;
	s = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	*len = GRPC_SLICE_LENGTH(s);
	data = malloc(*len ? *len : 1);
	if (data)
		memcpy(data, GRPC_SLICE_START_PTR(s), *len);
	grpc_slice_unref(s);
	return data;
}

static grpc_byte_buffer *
byte_buffer_of(const uint8_t *data, size_t len)
{
	grpc_slice	s = grpc_slice_from_copied_buffer((const char *) data, len);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);

	grpc_slice_unref(s);
	return bb;
}

/*
 * Send the call's reply: initial metadata (once), the message if any, and
 * the status, with grpc-status-details-bin when the reply has details.
 */
static void
send_reply(Call *c)
{
	grpc_op		ops[3];
	size_t		n = 0;
	RpcReply   *r = &c->reply;

	memset(ops, 0, sizeof(ops));
	if (!c->sent_metadata)
	{
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->sent_metadata = true;
	}
	if (r->code == RPC_OK && r->payload)
	{
		c->out = byte_buffer_of(r->payload, r->payload_len);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->out;
	}
	c->status_message = grpc_slice_from_copied_string(r->code == RPC_OK || r->message == NULL ?
													  "" : r->message);
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code) r->code;
	ops[n].data.send_status_from_server.status_details = &c->status_message;
	if (r->details)
	{
		c->trailer.key = grpc_slice_from_static_string("grpc-status-details-bin");
		c->trailer.value = grpc_slice_from_copied_buffer((const char *) r->details,
														 r->details_len);
		ops[n].data.send_status_from_server.trailing_metadata_count = 1;
		ops[n].data.send_status_from_server.trailing_metadata = &c->trailer;
	}
	n++;
	c->has_status = true;
	c->code = r->code;
	start_batch(c, ops, n, &c->tag_send);
}

static void
reply_error(Call *c, int code, const char *message)
{
	rpc_reply_free(&c->reply);
	rpc_error(&c->reply, code, message, NULL);
	send_reply(c);
}

/* ----- metadata ----- */

/* RpcMeta's lookup: a metadata value by key, without NUL bytes. */
static char *
metadata_value(void *ctx, const char *key)
{
	Call	   *c = ctx;
	size_t		i;

	for (i = 0; i < c->md.count; i++)
	{
		const grpc_metadata *m = &c->md.metadata[i];
		size_t		len = GRPC_SLICE_LENGTH(m->value);
		const char *v = (const char *) GRPC_SLICE_START_PTR(m->value);

		if (grpc_slice_str_cmp(m->key, key) == 0 && memchr(v, '\0', len) == NULL)
			return strndup(v, len);
	}
	return NULL;
}

/* The address of "ipv4:127.0.0.1:5000" or "ipv6:[::1]:5000". */
static void
peer_address(Call *c)
{
	const char *p;
	const char *end;

	c->peer = grpc_call_get_peer(c->call);
	if (c->peer == NULL)
		return;
	if (strncmp(c->peer, "ipv4:", 5) == 0)
	{
		p = c->peer + 5;
		end = strrchr(p, ':');
	}
	else if (strncmp(c->peer, "ipv6:[", 6) == 0)
	{
		p = c->peer + 6;
		end = strchr(p, ']');
	}
	else
		return;
	if (end && (size_t) (end - p) < sizeof(c->peer_ip))
		snprintf(c->peer_ip, sizeof(c->peer_ip), "%.*s", (int) (end - p), p);
}

/* ----- SQL and health calls ----- */

/* On a database worker: the job's answer goes out from here. */
static void
job_done(PoolJob *job)
{
	Call	   *c = (Call *) ((char *) job - offsetof(Call, job));

	if (shim_rpcs[c->rpc].kind == RPC_HEALTH)
		rpc_health_answer(job, &c->reply);
	else
		rpc_answer(c->rpc, job, &c->reply);
	PQclear(job->result);
	job->result = NULL;
	rpc_args_free(&c->args);
	if (c->reply.code != RPC_OK && deadline_passed(c))
	{
		/* the statement was cancelled at the deadline: say so */
		rpc_reply_free(&c->reply);
		rpc_error(&c->reply, RPC_DEADLINE_EXCEEDED, "deadline exceeded", NULL);
	}
	else if (c->reply.code == RPC_INTERNAL && shutting_down)
	{
		/* cancelled past the shutdown deadline: another server may answer */
		rpc_reply_free(&c->reply);
		rpc_error(&c->reply, RPC_UNAVAILABLE, "server shutting down", NULL);
	}
	send_reply(c);
	__atomic_store_n(&c->job_pending, false, __ATOMIC_RELEASE);
	__atomic_sub_fetch(&jobs_pending, 1, __ATOMIC_RELAXED);
	call_unref(c);
}

/* The call's request message (to free), or NULL, INVALID_ARGUMENT answered. */
static uint8_t *
request_message(Call *c, size_t *len)
{
	uint8_t    *data = message_bytes(c->message, len);

	if (data == NULL)
		reply_error(c, RPC_INVALID_ARGUMENT, "the call has no request message");
	return data;
}

static void
start_unary(Call *c)
{
	const Rpc  *rpc = &shim_rpcs[c->rpc];
	RpcMeta		meta = {metadata_value, c, c->peer_ip[0] ? c->peer_ip : NULL};
	size_t		len;
	uint8_t    *data = request_message(c, &len);
	bool		queued;

	if (data == NULL)
		return;
	if (rpc->kind == RPC_HEALTH)
		queued = rpc_health_prepare(data, len, &c->job, &c->reply);
	else
		queued = rpc_prepare(c->rpc, data, len, &meta, &c->job, &c->args, &c->reply);
	free(data);
	if (!queued)
	{
		send_reply(c);
		return;
	}
	c->job.done = job_done;
	c->job_pending = true;
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
	__atomic_add_fetch(&jobs_pending, 1, __ATOMIC_RELAXED);
	pool_submit(&c->job);
}

/* ----- streams ----- */

/*
 * Send one message of a stream (the initial metadata first, once), the
 * call's out buffer holding it until the batch completes: false when the
 * batch could not start.
 */
static bool
send_stream_message(Call *c, const uint8_t *data, size_t len, Tag *tag)
{
	grpc_op		ops[2];
	size_t		n = 0;

	memset(ops, 0, sizeof(ops));
	if (!c->sent_metadata)
	{
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->sent_metadata = true;
	}
	if (c->out)
		grpc_byte_buffer_destroy(c->out);
	c->out = byte_buffer_of(data, len);
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = c->out;
	return start_batch(c, ops, n, tag);
}

/* Reflection's bidirectional streams. */

static void
stream_recv(Call *c)
{
	grpc_op		op;

	if (c->message)
	{
		grpc_byte_buffer_destroy(c->message);
		c->message = NULL;
	}
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->message;
	start_batch(c, &op, 1, &c->tag_recv);
}

/* A request of the stream arrived (or the client half-closed it). */
static void
stream_message(Call *c, bool success)
{
	size_t		len;
	uint8_t    *data;
	uint8_t    *out = NULL;
	size_t		out_len = 0;

	if (!success)
		return;
	if (c->message == NULL)
	{
		c->reply.code = RPC_OK;
		send_reply(c);
		return;
	}
	data = message_bytes(c->message, &len);
	if (data == NULL || !reflection_answer(data, len, &out, &out_len))
	{
		free(data);
		reply_error(c, RPC_INVALID_ARGUMENT, "malformed message: not a valid ServerReflectionRequest");
		return;
	}
	free(data);
	send_stream_message(c, out, out_len, &c->tag_stream);
	free(out);
}

/* ----- health's watchers ----- */

/*
 * Under watch_mutex: send the watcher its status if it changed since its
 * last message and none is in flight (SERVICE_UNKNOWN for a service not
 * served; nothing before the first probe has answered).
 */
static void
watch_push(Call *c)
{
	int			status = c->watch_known ? watch_health : RPC_SERVICE_UNKNOWN;
	RpcReply	msg = {0};

	if (!c->watching || c->watch_sending || status == 0 || status == c->watch_sent)
		return;
	rpc_health_pack((RpcServing) status, &msg);
	if (msg.code == RPC_OK)
	{
		c->watch_sending = send_stream_message(c, msg.payload, msg.payload_len, &c->tag_watch);
		if (c->watch_sending)
			c->watch_sent = status;
	}
	rpc_reply_free(&msg);
}

/* Under watch_mutex: take the watcher out of the list (its reference is the caller's to drop). */
static void
watch_remove(Call *c)
{
	Call	  **p;

	for (p = &watchers; *p; p = &(*p)->watch_next)
	{
		if (*p == c)
		{
			*p = c->watch_next;
			break;
		}
	}
	c->watching = false;
	if (watchers == NULL)
		watch_health = 0;		/* the next watcher waits for a fresh probe */
}

/* A Watch call arrived: it joins the watchers, or is answered an error. */
static void
watch_start(Call *c)
{
	size_t		len;
	uint8_t    *data = request_message(c, &len);
	bool		known = false;
	bool		ok;

	if (data == NULL)
		return;
	ok = rpc_health_request(data, len, &known, &c->reply);
	free(data);
	if (!ok)
	{
		send_reply(c);
		return;
	}
	pthread_mutex_lock(&watch_mutex);
	if (watch_stopping)
	{
		pthread_mutex_unlock(&watch_mutex);
		reply_error(c, RPC_UNAVAILABLE, "server shutting down");
		return;
	}
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);	/* the list's */
	c->watch_known = known;
	c->watching = true;
	c->watch_next = watchers;
	watchers = c;
	watch_push(c);
	pthread_cond_signal(&watch_cond);	/* probe now if none has answered */
	pthread_mutex_unlock(&watch_mutex);
}

/* TAG_WATCH: a watcher's message went out (or the call is over). */
static void
watch_sent(Call *c, bool success)
{
	pthread_mutex_lock(&watch_mutex);
	c->watch_sending = false;
	if (success)
		watch_push(c);			/* the status may have changed meanwhile */
	pthread_mutex_unlock(&watch_mutex);
	call_unref(c);
}

/* The call closed: a watcher leaves the list. */
static void
watch_closed(Call *c)
{
	bool		was;

	pthread_mutex_lock(&watch_mutex);
	was = c->watching;
	if (was)
		watch_remove(c);
	pthread_mutex_unlock(&watch_mutex);
	if (was)
		call_unref(c);
}

/* On a database worker (or at once): the probe's answer, to every watcher. */
static void
watch_probe_done(PoolJob *job)
{
	Call	   *c;

	PQclear(job->result);
	job->result = NULL;
	pthread_mutex_lock(&watch_mutex);
	watch_probing = false;
	if (watchers != NULL)
	{
		watch_health = rpc_health_serving(job);
		for (c = watchers; c; c = c->watch_next)
			watch_push(c);
	}
	pthread_cond_signal(&watch_cond);	/* the thread waits for the next probe's time */
	pthread_mutex_unlock(&watch_mutex);
	__atomic_sub_fetch(&jobs_pending, 1, __ATOMIC_RELAXED);
}

/* The watch thread: a probe every WATCH_INTERVAL_MS while anybody watches. */
static void *
watch_main(void *arg)
{
	double		next = 0;

	pthread_mutex_lock(&watch_mutex);
	while (!watch_stopping)
	{
		double		now = now_seconds();

		if (watchers != NULL && !watch_probing && (watch_health == 0 || now >= next))
		{
			watch_probing = true;
			memset(&watch_probe, 0, sizeof(watch_probe));
			watch_probe.route_index = -1;
			watch_probe.done = watch_probe_done;
			__atomic_add_fetch(&jobs_pending, 1, __ATOMIC_RELAXED);
			pthread_mutex_unlock(&watch_mutex);
			pool_submit(&watch_probe);	/* may answer at once (overload) */
			pthread_mutex_lock(&watch_mutex);
			next = now + WATCH_INTERVAL_MS / 1000.0;
			continue;
		}
		if (watchers == NULL || watch_probing)
			pthread_cond_wait(&watch_cond, &watch_mutex);
		else
			cond_wait_until(&watch_cond, &watch_mutex, next);
	}
	pthread_mutex_unlock(&watch_mutex);
	return arg;
}

/*
 * Shutdown: no more watchers; each one's stream gets NOT_SERVING (unless
 * it said so last, or a message is in flight) and ends UNAVAILABLE.
 */
static void
watch_stop_all(void)
{
	Call	   *c;

	pthread_mutex_lock(&watch_mutex);
	watch_stopping = true;
	watch_health = RPC_NOT_SERVING;
	while ((c = watchers) != NULL)
	{
		watch_push(c);
		watch_remove(c);
		rpc_reply_free(&c->reply);
		rpc_error(&c->reply, RPC_UNAVAILABLE, "server shutting down", NULL);
		send_reply(c);
		call_unref(c);			/* the list's */
	}
	pthread_cond_broadcast(&watch_cond);
	pthread_mutex_unlock(&watch_mutex);
}

/* ----- the completion queue ----- */

static void
call_arrived(Call *c, bool success)
{
	grpc_op		op;

	if (!success)
	{
		/* the server is shutting down: this request got no call */
		grpc_metadata_array_destroy(&c->md);
		if (c->rpc < 0)
			grpc_call_details_destroy(&c->details);
		free(c);
		return;
	}
	if (!shutting_down)
		request_call(c->rpc);
	__atomic_add_fetch(&in_flight, 1, __ATOMIC_RELAXED);
	c->start = now_seconds();
	c->refs = 1;				/* dropped once the call is set going */
	peer_address(c);
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->cancelled;
	start_batch(c, &op, 1, &c->tag_close);
	if (c->rpc < 0)
		reply_error(c, RPC_UNIMPLEMENTED, "unknown method");
	else if (shim_rpcs[c->rpc].kind == RPC_REFLECTION)
		stream_recv(c);
	else if (shim_rpcs[c->rpc].kind == RPC_HEALTH_WATCH)
		watch_start(c);
	else
		start_unary(c);
	call_unref(c);
}

static void
call_closed(Call *c)
{
	if (c->cancelled && __atomic_load_n(&c->job_pending, __ATOMIC_ACQUIRE))
		pool_cancel(&c->job);
	if (c->rpc >= 0 && shim_rpcs[c->rpc].kind == RPC_HEALTH_WATCH)
		watch_closed(c);
	call_unref(c);
}

static void *
cq_main(void *arg)
{
	for (;;)
	{
		grpc_event	ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
													NULL);
		Tag		   *t = ev.tag;

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return NULL;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		switch (t->kind)
		{
			case TAG_NEW:
				call_arrived(t->call, ev.success);
				break;
			case TAG_CLOSE:
				call_closed(t->call);
				break;
			case TAG_SEND:
				call_unref(t->call);
				break;
			case TAG_RECV:
				stream_message(t->call, ev.success);
				call_unref(t->call);
				break;
			case TAG_STREAM:
				if (ev.success)
					stream_recv(t->call);
				call_unref(t->call);
				break;
			case TAG_WATCH:
				watch_sent(t->call, ev.success);
				break;
			case TAG_SHUTDOWN:
				__atomic_store_n(&shutdown_pending, 0, __ATOMIC_RELEASE);
				break;
		}
	}
}

/* ----- start and stop ----- */

static grpc_arg
int_arg(const char *key, int value)
{
	grpc_arg	a;

	a.type = GRPC_ARG_INTEGER;
	a.key = (char *) key;
	a.value.integer = value;
	return a;
}

/*
 * Start the gRPC server on PGBANK_GRPC_LISTEN ("" starts none). Messages
 * are bounded like HTTP bodies (PGBANK_BODY_LIMIT: a larger one is
 * RESOURCE_EXHAUSTED, by gRPC core), idle connections like HTTP's
 * (PGBANK_TIMEOUT).
 */
int
grpc_front_start(void)
{
	grpc_arg	args[5];
	grpc_channel_args channel_args = {5, args};
	grpc_server_credentials *creds;
	int			i;
	int			k;

	if (shim_config.grpc_listen == NULL || shim_config.grpc_listen[0] == '\0')
		return 0;
	if (rpcs_init() != 0 || reflection_init() != 0)
		return -1;
	/* jansson seeds its hash function once; do it before threads use it */
	json_object_seed(0);
	grpc_init();
	args[0] = int_arg(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int) shim_config.body_limit);
	args[1] = int_arg(GRPC_ARG_ALLOW_REUSEPORT, 0);
	args[2] = int_arg(GRPC_ARG_MAX_CONCURRENT_STREAMS, MAX_STREAMS);
	args[3] = int_arg(GRPC_ARG_MAX_CONNECTION_IDLE_MS, shim_config.timeout * 1000);
	args[4] = int_arg(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
	server = grpc_server_create(&channel_args, NULL);
	cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(server, cq, NULL);
	methods = calloc((size_t) shim_nrpcs, sizeof(void *));
	for (i = 0; methods && i < shim_nrpcs; i++)
		methods[i] = grpc_server_register_method(server, shim_rpcs[i].path, NULL,
												 shim_rpcs[i].kind == RPC_REFLECTION ?
												 GRPC_SRM_PAYLOAD_NONE :
												 GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	creds = grpc_insecure_server_credentials_create();
	k = grpc_server_add_http2_port(server, shim_config.grpc_listen, creds);
	grpc_server_credentials_release(creds);
	if (methods == NULL || k == 0)
	{
		grpc_server_destroy(server);
		grpc_completion_queue_shutdown(cq);
		while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
										  NULL).type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(cq);
		server = NULL;
		return -1;
	}
	grpc_server_start(server);
	for (k = 0; k < REQUESTS_PER_METHOD; k++)
	{
		for (i = -1; i < shim_nrpcs; i++)
			request_call(i);
	}
	if (pthread_create(&cq_thread, NULL, cq_main, NULL) != 0)
		return -1;
	monotonic_cond_init(&watch_cond);
	if (pthread_create(&watch_thread, NULL, watch_main, NULL) != 0)
		return -1;
	started = true;
	return 0;
}

/* Calls being served now, for /metrics. */
int
grpc_front_in_flight(void)
{
	return __atomic_load_n(&in_flight, __ATOMIC_RELAXED);
}

/* SIGTERM: stop accepting calls; calls in flight go on. */
void
grpc_front_quiesce(void)
{
	if (!started)
		return;
	shutting_down = 1;
	__atomic_store_n(&shutdown_pending, 1, __ATOMIC_RELEASE);
	grpc_server_shutdown_and_notify(server, cq, &shutdown_tag);
	watch_stop_all();
}

/*
 * After quiesce: let the calls in flight finish until the deadline (then
 * cancel their statements, give the answers CANCEL_GRACE seconds, cancel
 * the calls), and stop. False when a statement is still running after its
 * cancel (the pool cannot be stopped then: the caller exits without it).
 */
bool
grpc_front_stop(double deadline)
{
	if (!started)
		return true;
	wait_for_zero(&in_flight, deadline);
	if (__atomic_load_n(&in_flight, __ATOMIC_ACQUIRE) > 0)
	{
		log_line("warn", "grpc: shutdown deadline passed: cancelling running statements");
		pool_cancel_all();
		wait_for_zero(&in_flight, now_seconds() + CANCEL_GRACE);
		grpc_server_cancel_all_calls(server);
	}
	/* the calls' statements, and a watchers' probe that no call waits for */
	wait_for_zero(&jobs_pending, now_seconds() + CANCEL_GRACE);
	if (__atomic_load_n(&jobs_pending, __ATOMIC_ACQUIRE) > 0)
	{
		log_line("error", "grpc: statements still running after their cancel: exiting without them");
		return false;
	}
	wait_for_zero(&shutdown_pending, now_seconds() + CANCEL_GRACE);
	if (__atomic_load_n(&shutdown_pending, __ATOMIC_ACQUIRE) > 0)
	{
		log_line("error", "grpc: the server did not finish shutting down: exiting");
		return false;
	}
	pthread_join(watch_thread, NULL);
	grpc_server_destroy(server);
	grpc_completion_queue_shutdown(cq);
	pthread_join(cq_thread, NULL);
	grpc_completion_queue_destroy(cq);
	free(methods);
	grpc_shutdown();
	started = false;
	return true;
}
