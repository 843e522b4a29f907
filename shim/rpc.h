/*
 * rpc.h
 *		Declarations of the gRPC front shared by grpc.c (the gRPC core
 *		plumbing), rpcs.c (the RPC table and the answers), pbjson.c
 *		(protobuf <-> JSON) and reflection.c.
 *
 * Only grpc.c includes gRPC's headers: the gRPC core API changes between
 * releases, so everything here is in protobuf-c and plain C terms.
 */
#ifndef PGBANK_RPC_H
#define PGBANK_RPC_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "shim.h"

typedef enum RpcKind
{
	RPC_SQL,					/* runs the statement of an HTTP route */
	RPC_HEALTH,					/* grpc.health.v1.Health/Check */
	RPC_HEALTH_WATCH,			/* grpc.health.v1.Health/Watch, a server stream */
	RPC_REFLECTION				/* server reflection, a bidirectional stream */
} RpcKind;

/*
 * One RPC. An RPC_SQL row runs the prepared statement of the HTTP route
 * named by route (its stmt_name), with that route's parameters taken from
 * the call: a path or query parameter from the request field of the same
 * name, the body from the request as JSON (or from its body_field), the
 * bearer token and headers from the metadata. The statement's JSON answer
 * is the response (or its answer_field).
 */
typedef struct Rpc
{
	const char *path;			/* "/package.Service/Method" */
	RpcKind		kind;
	const char *route;			/* RPC_SQL: the HTTP route's stmt_name */
	const ProtobufCMessageDescriptor *request;
	const ProtobufCMessageDescriptor *response;
	const char *body_field;		/* NULL: the whole request is the body */
	const char *answer_field;	/* NULL: the answer is the whole response */
} Rpc;

extern const Rpc shim_rpcs[];
extern const int shim_nrpcs;

/* What the call carries besides its message (grpc.c provides it). */
typedef struct RpcMeta
{
	/* a metadata value by lower-case key, malloc'd, or NULL */
	char	   *(*header) (void *ctx, const char *key);
	void	   *ctx;
	const char *peer_ip;		/* the peer's address, or NULL */
} RpcMeta;

/* An answer to send: a message (code OK) or a status with details. */
typedef struct RpcReply
{
	int			code;
	char	   *message;		/* status message, malloc'd, or NULL */
	uint8_t    *payload;		/* packed response message, malloc'd */
	size_t		payload_len;
	uint8_t    *details;		/* packed google.rpc.Status, or NULL */
	size_t		details_len;
} RpcReply;

/* The parameters of one call's statement, owned by the call. */
typedef struct RpcArgs
{
	char	   *owned[ROUTE_MAX_PARAMS];
} RpcArgs;

/* rpcs.c */
extern int	rpcs_init(void);
extern bool rpc_prepare(int rpc_index, const uint8_t *data, size_t len,
						const RpcMeta *meta, PoolJob *job, RpcArgs *args,
						RpcReply *reply);
extern void rpc_answer(int rpc_index, PoolJob *job, RpcReply *reply);
/* grpc.health.v1's ServingStatus, as its values */
typedef enum RpcServing
{
	RPC_SERVING = 1,
	RPC_NOT_SERVING = 2,
	RPC_SERVICE_UNKNOWN = 3
} RpcServing;

extern bool rpc_health_request(const uint8_t *data, size_t len, bool *known,
							   RpcReply *reply);
extern bool rpc_health_prepare(const uint8_t *data, size_t len, PoolJob *job,
							   RpcReply *reply);
extern RpcServing rpc_health_serving(const PoolJob *job);
extern void rpc_health_pack(RpcServing serving, RpcReply *reply);
extern void rpc_health_answer(PoolJob *job, RpcReply *reply);
extern void rpc_error(RpcReply *reply, int code, const char *message,
					  const char *field);
extern void rpc_reply_free(RpcReply *reply);
extern void rpc_args_free(RpcArgs *args);

/* pbjson.c */
extern json_t *pbjson_from_message(const ProtobufCMessage *msg, char *field,
								   size_t field_size);
extern ProtobufCMessage *pbjson_to_message(const ProtobufCMessageDescriptor *desc,
										   json_t *value, char *err, size_t err_size);
extern void pbjson_free(ProtobufCMessage *msg);

/* reflection.c */
extern int	reflection_init(void);
extern bool reflection_answer(const uint8_t *data, size_t len, uint8_t **out,
							  size_t *out_len);
extern bool reflection_has_service(const char *name);

#endif							/* PGBANK_RPC_H */
