/*
 * errors.c
 *		SQLSTATE -> HTTP status and gRPC status, and JSON error bodies.
 *
 * The table itself is sql/errcodes.txt, the one list of pgbank's error
 * codes, compiled into build/errcodes.c by scripts/errcodes.py: a full
 * five-character SQLSTATE matches first, then a two-character class;
 * anything else is a real server fault (500, INTERNAL), as PostgREST keeps
 * one mapping table. Bodies are {"error": message, "code": sqlstate,
 * "details": ..., "hint": ...}, taken from the server's error fields.
 */
#include <stdio.h>
#include <string.h>

#include "shim.h"

/* The row of a SQLSTATE: its own, else its class's; NULL for neither. */
static const ErrorCode *
error_code(const char *sqlstate)
{
	int			i;

	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return NULL;
	for (i = 0; i < shim_nerror_codes; i++)
	{
		if (strcmp(shim_error_codes[i].sqlstate, sqlstate) == 0)
			return &shim_error_codes[i];
	}
	for (i = 0; i < shim_nerror_codes; i++)
	{
		if (strlen(shim_error_codes[i].sqlstate) == 2 &&
			strncmp(shim_error_codes[i].sqlstate, sqlstate, 2) == 0)
			return &shim_error_codes[i];
	}
	return NULL;
}

int
http_status_for_sqlstate(const char *sqlstate)
{
	const ErrorCode *e = error_code(sqlstate);

	return e ? e->http_status : 500;
}

int
grpc_status_for_sqlstate(const char *sqlstate)
{
	const ErrorCode *e = error_code(sqlstate);

	return e ? e->grpc_status : RPC_INTERNAL;
}

/* The canonical name of a gRPC status code, as grpc's docs spell it. */
const char *
rpc_code_name(int code)
{
	static const char *const names[RPC_NCODES] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
		"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"
	};

	return code >= 0 && code < RPC_NCODES ? names[code] : "UNKNOWN";
}

/*
 * The request field a failed statement names, copied into buf: the error's
 * column field (pgbank's input checks set it), else its "Field: x."
 * detail. NULL when it names none.
 */
const char *
error_field(const PGresult *res, char *buf, size_t size)
{
	const char *column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *dot;

	if (column && column[0])
	{
		snprintf(buf, size, "%s", column);
		return buf;
	}
	if (detail && strncmp(detail, "Field: ", 7) == 0 &&
		(dot = strchr(detail + 7, '.')) != NULL && dot > detail + 7)
	{
		snprintf(buf, size, "%.*s", (int) (dot - detail - 7), detail + 7);
		return buf;
	}
	return NULL;
}

/* The table as `pgbank-http --errors` prints it (tests compare the docs). */
void
errors_print(void)
{
	int			i;

	for (i = 0; i < shim_nerror_codes; i++)
		printf("%s\t%d\t%d\n", shim_error_codes[i].sqlstate,
			   shim_error_codes[i].http_status, shim_error_codes[i].grpc_status);
	printf("*\t500\t%d\n", RPC_INTERNAL);
}

/*
 * The error body of a failed statement, from the server's fields. An
 * error that names its field only by its column (a duplicate username or
 * email, say) gets the details "Field: x." that the input checks give, so
 * a client (the web app) can show every field's error beside its field.
 */
void
error_body_from_result(StrBuf *b, const PGresult *res)
{
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	char		field[64];
	char		field_detail[96];

	if (detail == NULL && error_field(res, field, sizeof(field)) != NULL)
	{
		snprintf(field_detail, sizeof(field_detail), "Field: %s.", field);
		detail = field_detail;
	}
	buf_puts(b, "{\"error\":");
	buf_json_string(b, message ? message : "database error");
	buf_puts(b, ",\"code\":");
	buf_json_string(b, PQresultErrorField(res, PG_DIAG_SQLSTATE));
	buf_puts(b, ",\"details\":");
	buf_json_string(b, detail);
	buf_puts(b, ",\"hint\":");
	buf_json_string(b, PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
	buf_puts(b, "}");
}

/* An error the shim itself answers (unknown route, body too large...). */
void
error_body(StrBuf *b, const char *message, const char *code)
{
	error_body_field(b, message, code, NULL);
}

/*
 * The same, about one input field: details "Field: x." as the extension's
 * input errors have it.
 */
void
error_body_field(StrBuf *b, const char *message, const char *code,
				 const char *field)
{
	buf_puts(b, "{\"error\":");
	buf_json_string(b, message);
	buf_puts(b, ",\"code\":");
	buf_json_string(b, code);
	buf_puts(b, ",\"details\":");
	if (field)
	{
		char		details[128];

		snprintf(details, sizeof(details), "Field: %s.", field);
		buf_json_string(b, details);
	}
	else
		buf_puts(b, "null");
	buf_puts(b, ",\"hint\":null}");
}
