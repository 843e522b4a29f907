/*
 * rpcs.c
 *		The RPC table, beside the route table: one row per gRPC method.
 *
 * A gRPC method of pb.SimpleBank or pgbank.v1.Bank runs the prepared
 * statement of one HTTP route (routes.c), so it calls the same SQL function
 * with the same parameters and gets the same errors: the row names the
 * route, and the route's parameters say where each value comes from. A
 * path or query parameter is the request field of that name, the body is
 * the request as JSON (or one of its fields), the bearer token is the
 * `authorization` metadata, a header is the metadata of that name in lower
 * case, the client address is the peer's (as in the simple bank, where
 * the peer overrides x-forwarded-for). The answer's JSON is the
 * response message (or one of its fields). `pgbank-http --rpcs` prints the
 * table; rpcs_init checks at start-up that every route parameter has its
 * field and every request field reaches a parameter.
 *
 * Everything here runs without gRPC's API: grpc.c carries the bytes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"
#include "google/protobuf/any.pb-c.h"
#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "pgbank/v1/bank.pb-c.h"
#include "rpc_create_user.pb-c.h"
#include "rpc_login_user.pb-c.h"
#include "rpc_update_user.pb-c.h"
#include "rpc_verify_email.pb-c.h"

#define MAX_NESTING 64			/* messages within messages, in a request */
#define BAD_REQUEST_TYPE "type.googleapis.com/google.rpc.BadRequest"

#define SQL(path, route, req, resp, body, answer) \
	{path, RPC_SQL, route, &req##__descriptor, &resp##__descriptor, body, answer}

const Rpc	shim_rpcs[] = {
	/* the simple bank's gRPC service: its gateway's /v1 routes */
	SQL("/pb.SimpleBank/CreateUser", "v1_create_user",
		pb__create_user_request, pb__create_user_response, NULL, NULL),
	SQL("/pb.SimpleBank/UpdateUser", "v1_update_user",
		pb__update_user_request, pb__update_user_response, NULL, NULL),
	SQL("/pb.SimpleBank/LoginUser", "v1_login_user",
		pb__login_user_request, pb__login_user_response, NULL, NULL),
	SQL("/pb.SimpleBank/VerifyEmail", "v1_verify_email",
		pb__verify_email_request, pb__verify_email_response, NULL, NULL),

	/* the rest of the HTTP API */
	SQL("/pgbank.v1.Bank/CreateAccount", "create_account",
		pgbank__v1__create_account_request, pgbank__v1__account, NULL, NULL),
	SQL("/pgbank.v1.Bank/GetAccount", "get_account",
		pgbank__v1__get_account_request, pgbank__v1__account, NULL, NULL),
	SQL("/pgbank.v1.Bank/ListAccounts", "list_accounts",
		pgbank__v1__list_accounts_request, pgbank__v1__list_accounts_response,
		NULL, "accounts"),
	SQL("/pgbank.v1.Bank/Transfer", "transfer",
		pgbank__v1__transfer_request, pgbank__v1__transfer_response, NULL, NULL),
	SQL("/pgbank.v1.Bank/Deposit", "deposit",
		pgbank__v1__house_move_request, pgbank__v1__house_move_response, NULL, NULL),
	SQL("/pgbank.v1.Bank/Withdraw", "withdraw",
		pgbank__v1__house_move_request, pgbank__v1__house_move_response, NULL, NULL),
	SQL("/pgbank.v1.Bank/TransferBatch", "transfer_batch",
		pgbank__v1__transfer_batch_request, pgbank__v1__transfer_batch_response,
		NULL, NULL),
	SQL("/pgbank.v1.Bank/GetTransfer", "get_transfer",
		pgbank__v1__get_transfer_request, pgbank__v1__transfer, NULL, NULL),
	SQL("/pgbank.v1.Bank/TransferByKey", "transfer_by_key",
		pgbank__v1__transfer_by_key_request, pgbank__v1__transfer, NULL, NULL),
	SQL("/pgbank.v1.Bank/ListAccountEntries", "account_entries",
		pgbank__v1__list_account_entries_request,
		pgbank__v1__list_account_entries_response, NULL, NULL),
	SQL("/pgbank.v1.Bank/ListAccountTransfers", "account_transfers",
		pgbank__v1__list_account_transfers_request,
		pgbank__v1__list_account_transfers_response, NULL, NULL),
	SQL("/pgbank.v1.Bank/GetBalanceAt", "balance_at",
		pgbank__v1__get_balance_at_request, pgbank__v1__account_balance, NULL, NULL),
	SQL("/pgbank.v1.Bank/CreateHold", "hold",
		pgbank__v1__create_hold_request, pgbank__v1__hold, NULL, NULL),
	SQL("/pgbank.v1.Bank/GetHold", "get_hold",
		pgbank__v1__hold_request, pgbank__v1__hold, NULL, NULL),
	SQL("/pgbank.v1.Bank/PostHold", "post_hold",
		pgbank__v1__post_hold_request, pgbank__v1__transfer_response, NULL, NULL),
	SQL("/pgbank.v1.Bank/VoidHold", "void_hold",
		pgbank__v1__hold_request, pgbank__v1__hold, NULL, NULL),
	SQL("/pgbank.v1.Bank/RenewAccessToken", "renew_access",
		pgbank__v1__renew_access_token_request,
		pgbank__v1__renew_access_token_response, NULL, NULL),
	SQL("/pgbank.v1.Bank/Logout", "v1_logout",
		pgbank__v1__logout_request, pgbank__v1__logout_response, NULL, NULL),
	SQL("/pgbank.v1.Bank/CreateGameResult", "game_create",
		pgbank__v1__create_game_result_request, pgbank__v1__game_result_response,
		"result", "result"),
	SQL("/pgbank.v1.Bank/GetGameResult", "game_get",
		pgbank__v1__game_result_request, pgbank__v1__game_result_response,
		NULL, "result"),
	SQL("/pgbank.v1.Bank/ListGameResults", "game_list",
		pgbank__v1__list_game_results_request,
		pgbank__v1__list_game_results_response, NULL, NULL),
	SQL("/pgbank.v1.Bank/UpdateGameResult", "game_update",
		pgbank__v1__update_game_result_request, pgbank__v1__game_result_response,
		"changes", "result"),
	SQL("/pgbank.v1.Bank/DeleteGameResult", "game_delete",
		pgbank__v1__game_result_request, pgbank__v1__game_result_response,
		NULL, "result"),
	SQL("/pgbank.v1.Bank/GetGameTable", "game_table",
		pgbank__v1__get_game_table_request, pgbank__v1__game_table, NULL, NULL),

	/* the server's own */
	{"/grpc.health.v1.Health/Check", RPC_HEALTH, NULL,
		&grpc__health__v1__health_check_request__descriptor,
	&grpc__health__v1__health_check_response__descriptor, NULL, NULL},
	{"/grpc.health.v1.Health/Watch", RPC_HEALTH_WATCH, NULL,
		&grpc__health__v1__health_check_request__descriptor,
	&grpc__health__v1__health_check_response__descriptor, NULL, NULL},
	{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", RPC_REFLECTION, NULL,
		&grpc__reflection__v1__server_reflection_request__descriptor,
	&grpc__reflection__v1__server_reflection_response__descriptor, NULL, NULL},
	/* v1alpha's messages are v1's, field for field */
	{"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", RPC_REFLECTION, NULL,
		&grpc__reflection__v1__server_reflection_request__descriptor,
	&grpc__reflection__v1__server_reflection_response__descriptor, NULL, NULL},
};

const int	shim_nrpcs = sizeof(shim_rpcs) / sizeof(shim_rpcs[0]);

/* The route index of each RPC_SQL row, found by rpcs_init. */
static int	rpc_route[sizeof(shim_rpcs) / sizeof(shim_rpcs[0])];

/* ----- start-up ----- */

static bool
has_field(const ProtobufCMessageDescriptor *d, const char *name)
{
	return name && protobuf_c_message_descriptor_get_field_by_name(d, name) != NULL;
}

static int
find_route(const char *stmt_name)
{
	int			i;

	for (i = 0; i < shim_nroutes; i++)
	{
		if (shim_routes[i].stmt_name && strcmp(shim_routes[i].stmt_name, stmt_name) == 0)
			return i;
	}
	return -1;
}

/*
 * Check one RPC_SQL row against its route: each path or query parameter
 * has its request field, and each request field reaches a parameter (a
 * field of a row without a body would be silently dropped otherwise).
 */
static bool
check_row(const Rpc *rpc, const Route *r)
{
	bool		has_body = false;
	unsigned	f;
	int			i;

	for (i = 0; i < r->nparams; i++)
	{
		const RouteParam *p = &r->params[i];

		if ((p->source == PARAM_PATH || p->source == PARAM_QUERY) &&
			!has_field(rpc->request, p->name))
			return false;
		has_body |= p->source == PARAM_BODY;
	}
	if ((rpc->body_field && (!has_body || !has_field(rpc->request, rpc->body_field))) ||
		(rpc->answer_field && !has_field(rpc->response, rpc->answer_field)))
		return false;
	if (has_body && rpc->body_field == NULL)
		return true;
	for (f = 0; f < rpc->request->n_fields; f++)
	{
		const char *name = rpc->request->fields[f].name;
		bool		used = rpc->body_field && strcmp(name, rpc->body_field) == 0;

		for (i = 0; i < r->nparams && !used; i++)
			used = (r->params[i].source == PARAM_PATH || r->params[i].source == PARAM_QUERY) &&
				strcmp(r->params[i].name, name) == 0;
		if (!used)
			return false;
	}
	return true;
}

/* Resolve and check the table; -1 (logged) if a row is wrong. */
int
rpcs_init(void)
{
	int			i;
	char		msg[256];

	for (i = 0; i < shim_nrpcs; i++)
	{
		rpc_route[i] = -1;
		if (shim_rpcs[i].kind != RPC_SQL)
			continue;
		rpc_route[i] = find_route(shim_rpcs[i].route);
		if (rpc_route[i] < 0 || !check_row(&shim_rpcs[i], &shim_routes[rpc_route[i]]))
		{
			snprintf(msg, sizeof(msg), "rpc table: %s does not fit route %s",
					 shim_rpcs[i].path, shim_rpcs[i].route);
			log_line("fatal", msg);
			return -1;
		}
	}
	return 0;
}

/* The method of an RPC ("/pb.SimpleBank/CreateUser"), for metrics.c. */
const char *
shim_rpc_path(int rpc_index)
{
	return rpc_index >= 0 && rpc_index < shim_nrpcs ? shim_rpcs[rpc_index].path : "unknown";
}

/* The table as `pgbank-http --rpcs` prints it: method, HTTP route, SQL. */
void
rpcs_print(void)
{
	int			i;

	if (rpcs_init() != 0)
		exit(1);
	for (i = 0; i < shim_nrpcs; i++)
	{
		const Rpc  *rpc = &shim_rpcs[i];

		if (rpc->kind == RPC_SQL)
		{
			const Route *r = &shim_routes[rpc_route[i]];

			printf("%s\t%s %s\t%s\n", rpc->path, r->method, r->pattern, r->sql);
		}
		else
			printf("%s\t-\t(built in)\n", rpc->path);
	}
}

/* ----- errors ----- */

void
rpc_reply_free(RpcReply *reply)
{
	free(reply->message);
	free(reply->payload);
	free(reply->details);
	memset(reply, 0, sizeof(*reply));
}

/*
 * A status with its message; for INVALID_ARGUMENT naming a field, a
 * google.rpc.Status whose detail is a google.rpc.BadRequest with that field
 * violation, for grpc-status-details-bin (as the simple bank answers).
 */
void
rpc_error(RpcReply *reply, int code, const char *message, const char *field)
{
	Google__Rpc__BadRequest__FieldViolation fv = GOOGLE__RPC__BAD_REQUEST__FIELD_VIOLATION__INIT;
	Google__Rpc__BadRequest__FieldViolation *fvs[1] = {&fv};
	Google__Rpc__BadRequest br = GOOGLE__RPC__BAD_REQUEST__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	Google__Protobuf__Any *anys[1] = {&any};
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	uint8_t    *packed_br;

	reply->code = code;
	reply->message = strdup(message);
	if (code != RPC_INVALID_ARGUMENT || field == NULL)
		return;
	fv.field = (char *) field;
	fv.description = (char *) message;
	br.n_field_violations = 1;
	br.field_violations = fvs;
	packed_br = malloc(protobuf_c_message_get_packed_size(&br.base));
	if (packed_br == NULL)
		return;
	any.type_url = BAD_REQUEST_TYPE;
	any.value.len = protobuf_c_message_pack(&br.base, packed_br);
	any.value.data = packed_br;
	st.code = code;
	st.message = (char *) message;
	st.n_details = 1;
	st.details = anys;
	reply->details_len = protobuf_c_message_get_packed_size(&st.base);
	reply->details = malloc(reply->details_len);
	if (reply->details)
		protobuf_c_message_pack(&st.base, reply->details);
	free(packed_br);
}

/* ----- requests ----- */

static bool
read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	int			shift;

	*v = 0;
	for (shift = 0; shift < 64 && *p < end; shift += 7)
	{
		uint8_t		b = *(*p)++;

		*v |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

typedef enum WireCheck
{
	WIRE_OK,
	WIRE_TOO_DEEP,
	WIRE_NUL					/* a string with a NUL byte */
} WireCheck;

/*
 * What protobuf-c would take silently: messages nested past MAX_NESTING
 * (it unpacks them by recursion with no bound, so a small message of nested
 * Structs could exhaust the stack), and strings with a NUL byte (it keeps
 * them as C strings, cut at the NUL). Walks the wire format with the
 * descriptors; *field names the outermost field at fault. A malformed
 * message is left for protobuf-c to refuse.
 */
static WireCheck
wire_check(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len, int depth,
		   const char **field)
{
	const uint8_t *end = p + len;
	uint64_t	key;
	uint64_t	n;

	if (depth > MAX_NESTING)
		return WIRE_TOO_DEEP;
	while (p < end)
	{
		const ProtobufCFieldDescriptor *f;
		WireCheck	w;

		if (!read_varint(&p, end, &key))
			return WIRE_OK;
		switch (key & 7)
		{
			case 0:
				if (!read_varint(&p, end, &n))
					return WIRE_OK;
				break;
			case 1:
				p += 8;
				break;
			case 5:
				p += 4;
				break;
			case 2:
				if (!read_varint(&p, end, &n) || n > (uint64_t) (end - p))
					return WIRE_OK;
				f = protobuf_c_message_descriptor_get_field(d, (unsigned) (key >> 3));
				w = WIRE_OK;
				if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, '\0', (size_t) n))
					w = WIRE_NUL;
				else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE)
					w = wire_check(f->descriptor, p, (size_t) n, depth + 1, field);
				if (w != WIRE_OK)
				{
					if (depth == 0)
						*field = f->name;
					return w;
				}
				p += n;
				break;
			default:
				return WIRE_OK;
		}
	}
	return WIRE_OK;
}

/* A client's message, decoded; NULL (reply set) when it is malformed. */
static ProtobufCMessage *
decode(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t len,
	   RpcReply *reply)
{
	ProtobufCMessage *msg = NULL;
	char		text[256];
	const char *field = NULL;
	WireCheck	w = wire_check(d, data, len, 0, &field);

	if (w == WIRE_NUL)
	{
		snprintf(text, sizeof(text), "invalid %s: text must be UTF-8 without NUL bytes", field);
		rpc_error(reply, RPC_INVALID_ARGUMENT, text, field);
		return NULL;
	}
	if (w == WIRE_OK)
		msg = protobuf_c_message_unpack(d, NULL, len, data);
	if (msg == NULL)
	{
		snprintf(text, sizeof(text), "malformed message: not a valid %s%s", d->name,
				 w == WIRE_TOO_DEEP ? " (nested too deep)" : "");
		rpc_error(reply, RPC_INVALID_ARGUMENT, text, NULL);
	}
	return msg;
}

/* A path or query parameter from its JSON value: NULL when not sent. */
static char *
param_text(json_t *v)
{
	char		text[64];

	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (json_is_integer(v))
	{
		snprintf(text, sizeof(text), "%lld", (long long) json_integer_value(v));
		return strdup(text);
	}
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static char *
lower_copy(const char *s)
{
	char	   *c = strdup(s);
	char	   *p;

	for (p = c; p && *p; p++)
		*p = (char) tolower((unsigned char) *p);
	return c;
}

/*
 * The client address, as the simple bank reads it: the x-forwarded-for
 * metadata, overridden by the peer's address whenever there is one (so,
 * over TCP, always). A client cannot choose it, which matters: the login
 * throttle counts failures per address.
 */
static char *
client_address(const RpcMeta *meta)
{
	char	   *xff;
	unsigned char addr[sizeof(struct in6_addr)];

	if (meta->peer_ip)
		return strdup(meta->peer_ip);
	xff = meta->header(meta->ctx, "x-forwarded-for");
	if (xff)
	{
		xff[strcspn(xff, ", ")] = '\0';
		if (inet_pton(AF_INET, xff, addr) == 1 || inet_pton(AF_INET6, xff, addr) == 1)
			return xff;
		free(xff);
	}
	return NULL;
}

void
rpc_args_free(RpcArgs *args)
{
	int			i;

	for (i = 0; i < ROUTE_MAX_PARAMS; i++)
	{
		free(args->owned[i]);
		args->owned[i] = NULL;
	}
}

/* The value of one route parameter, malloc'd (NULL: SQL NULL). */
static bool
param_value(const Rpc *rpc, const RouteParam *p, json_t *j, const RpcMeta *meta,
			char **out, RpcReply *reply)
{
	bool		bad = false;
	char	   *name;
	json_t	   *body;

	*out = NULL;
	switch (p->source)
	{
		case PARAM_BODY:
			body = rpc->body_field ? json_object_get(j, rpc->body_field) : j;
			*out = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("{}");
			break;
		case PARAM_TOKEN:
			name = meta->header(meta->ctx, "authorization");
			if (name)
			{
				const char *token = bearer_token_of(name, &bad);

				*out = token ? strdup(token) : NULL;
				free(name);
			}
			if (bad)
			{
				rpc_error(reply, RPC_UNAUTHENTICATED,
						  "unsupported authorization type: expected \"Bearer <token>\"", NULL);
				return false;
			}
			return true;
		case PARAM_PATH:
		case PARAM_QUERY:
			*out = param_text(json_object_get(j, p->name));
			return true;
		case PARAM_HEADER:
			name = lower_copy(p->name);
			*out = name ? meta->header(meta->ctx, name) : NULL;
			free(name);
			return true;
		case PARAM_CLIENT_IP:
			*out = client_address(meta);
			return true;
		case PARAM_COOKIE:
			/* browsers' cookies are HTTP's only: no RPC maps a cookie route */
			return true;
	}
	if (*out == NULL)
	{
		rpc_error(reply, RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
		return false;
	}
	return true;
}

/*
 * Decode a call's message and fill the job with its route's statement and
 * parameters. False (reply set) when the call is answered without SQL.
 */
bool
rpc_prepare(int rpc_index, const uint8_t *data, size_t len, const RpcMeta *meta,
			PoolJob *job, RpcArgs *args, RpcReply *reply)
{
	const Rpc  *rpc = &shim_rpcs[rpc_index];
	const Route *r = &shim_routes[rpc_route[rpc_index]];
	ProtobufCMessage *msg;
	json_t	   *j;
	char		field[128];
	char		text[256];
	bool		ok = true;
	int			i;

	if ((msg = decode(rpc->request, data, len, reply)) == NULL)
		return false;
	j = pbjson_from_message(msg, field, sizeof(field));
	pbjson_free(msg);
	if (j == NULL)
	{
		snprintf(text, sizeof(text), "invalid %s: text must be UTF-8 without NUL bytes",
				 field[0] ? field : "message");
		rpc_error(reply, RPC_INVALID_ARGUMENT, text, field[0] ? field : NULL);
		return false;
	}
	for (i = 0; i < r->nparams && ok; i++)
		ok = param_value(rpc, &r->params[i], j, meta, &args->owned[i], reply);
	json_decref(j);
	if (!ok)
	{
		rpc_args_free(args);
		return false;
	}
	job->route_index = rpc_route[rpc_index];
	for (i = 0; i < r->nparams; i++)
		job->values[i] = args->owned[i];
	return true;
}

/* ----- answers ----- */

static void
pack_reply(RpcReply *reply, const ProtobufCMessage *msg)
{
	reply->code = RPC_OK;
	reply->payload_len = protobuf_c_message_get_packed_size(msg);
	reply->payload = malloc(reply->payload_len ? reply->payload_len : 1);
	if (reply->payload == NULL)
	{
		rpc_error(reply, RPC_RESOURCE_EXHAUSTED, "out of memory", NULL);
		return;
	}
	protobuf_c_message_pack(msg, reply->payload);
}

/*
 * The field an error names, as a path in the request: a field of the body
 * of a row with a body_field is "result.kills" (the body the statement got
 * has it, or it is no path or query parameter: a required field missing).
 */
static const char *
violation_field(int rpc_index, const PoolJob *job, const char *field, char *buf,
				size_t size)
{
	const Rpc  *rpc = &shim_rpcs[rpc_index];
	const Route *r = &shim_routes[rpc_route[rpc_index]];
	bool		in_body = true;
	int			i;

	if (field == NULL || rpc->body_field == NULL)
		return field;
	for (i = 0; i < r->nparams; i++)
	{
		const RouteParam *p = &r->params[i];

		if (p->source == PARAM_BODY && job->values[i])
		{
			json_t	   *body = json_loads(job->values[i], 0, NULL);

			if (body && json_object_get(body, field))
			{
				json_decref(body);
				break;
			}
			json_decref(body);
		}
		if ((p->source == PARAM_PATH || p->source == PARAM_QUERY) &&
			strcmp(p->name, field) == 0)
			in_body = false;
	}
	if (i == r->nparams && !in_body)
		return field;
	snprintf(buf, size, "%s.%s", rpc->body_field, field);
	return buf;
}

static void
answer_error(int rpc_index, const PoolJob *job, PGresult *res, RpcReply *reply)
{
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	char		field[128];
	char		path[256];
	const char *f = error_field(res, field, sizeof(field));

	rpc_error(reply, grpc_status_for_sqlstate(PQresultErrorField(res, PG_DIAG_SQLSTATE)),
			  message ? message : "database error",
			  violation_field(rpc_index, job, f, path, sizeof(path)));
}

/* The statement's JSON answer as the response message. */
static void
answer_json(const Rpc *rpc, const char *text, size_t len, RpcReply *reply)
{
	json_error_t jerr;
	json_t	   *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
	ProtobufCMessage *msg = NULL;
	char		err[256] = "";
	char		line[512];

	if (j && rpc->answer_field)
	{
		json_t	   *wrap = json_object();

		json_object_set_new(wrap, rpc->answer_field, j);
		j = wrap;
	}
	if (j)
		msg = pbjson_to_message(rpc->response, j, err, sizeof(err));
	json_decref(j);
	if (msg == NULL)
	{
		snprintf(line, sizeof(line), "%s: the answer does not fit %s: %s", rpc->path,
				 rpc->response->name, err[0] ? err : jerr.text);
		log_line("error", line);
		rpc_error(reply, RPC_INTERNAL, "the answer does not fit the response message", NULL);
		return;
	}
	pack_reply(reply, msg);
	pbjson_free(msg);
}

static void
pool_status_error(PoolJob *job, RpcReply *reply)
{
	if (job->cancelled)
		rpc_error(reply, RPC_CANCELLED, "call cancelled", NULL);
	else if (job->status == POOL_REFUSED)
		rpc_error(reply, RPC_UNAVAILABLE, "server shutting down", NULL);
	else if (job->status == POOL_OVERLOADED)
		rpc_error(reply, RPC_UNAVAILABLE, "server overloaded", NULL);
	else
		rpc_error(reply, RPC_UNAVAILABLE, "database unavailable", NULL);
}

/* On the database worker: the finished job's answer. */
void
rpc_answer(int rpc_index, PoolJob *job, RpcReply *reply)
{
	const Rpc  *rpc = &shim_rpcs[rpc_index];
	PGresult   *res = job->result;

	if (job->status != POOL_OK)
		pool_status_error(job, reply);
	else if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
			 PQnfields(res) == 1 && !PQgetisnull(res, 0, 0))
		answer_json(rpc, PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0), reply);
	else if (PQresultStatus(res) == PGRES_TUPLES_OK)
		rpc_error(reply, RPC_INTERNAL, "the function returned no result", NULL);
	else
		answer_error(rpc_index, job, res, reply);
}

/* ----- grpc.health.v1.Health: Check and Watch ----- */

/*
 * The server ("") and each service it serves are SERVING while a database
 * connection answers SELECT 1 (a job of route -1), else NOT_SERVING;
 * another name is unknown (Check: NOT_FOUND; Watch: SERVICE_UNKNOWN, the
 * stream staying open, as the health protocol says).
 */
bool
rpc_health_request(const uint8_t *data, size_t len, bool *known, RpcReply *reply)
{
	Grpc__Health__V1__HealthCheckRequest *req;

	req = (Grpc__Health__V1__HealthCheckRequest *)
		decode(&grpc__health__v1__health_check_request__descriptor, data, len, reply);
	if (req == NULL)
		return false;
	*known = req->service == NULL || req->service[0] == '\0' ||
		reflection_has_service(req->service);
	pbjson_free(&req->base);
	return true;
}

bool
rpc_health_prepare(const uint8_t *data, size_t len, PoolJob *job, RpcReply *reply)
{
	bool		known;

	if (!rpc_health_request(data, len, &known, reply))
		return false;
	if (!known)
	{
		rpc_error(reply, RPC_NOT_FOUND, "unknown service", NULL);
		return false;
	}
	job->route_index = -1;
	return true;
}

/* What the SELECT 1 job says of the server. */
RpcServing
rpc_health_serving(const PoolJob *job)
{
	return job->status == POOL_OK ? RPC_SERVING : RPC_NOT_SERVING;
}

/* The reply: a HealthCheckResponse of that status (RpcServing is its enum). */
_Static_assert((int) RPC_SERVING == (int) GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING &&
			   (int) RPC_NOT_SERVING == (int) GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING &&
			   (int) RPC_SERVICE_UNKNOWN ==
			   (int) GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN,
			   "RpcServing follows grpc.health.v1's ServingStatus");

void
rpc_health_pack(RpcServing serving, RpcReply *reply)
{
	Grpc__Health__V1__HealthCheckResponse rsp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

	rsp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus) serving;
	pack_reply(reply, &rsp.base);
}

void
rpc_health_answer(PoolJob *job, RpcReply *reply)
{
	if (job->cancelled)
	{
		rpc_error(reply, RPC_CANCELLED, "call cancelled", NULL);
		return;
	}
	rpc_health_pack(rpc_health_serving(job), reply);
}
