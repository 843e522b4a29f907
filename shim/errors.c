/*
 * errors.c
 *		The one SQLSTATE -> HTTP status table, and JSON error bodies.
 *
 * This is docs/errors.md as code, as PostgREST keeps one mapping table:
 * a full five-character SQLSTATE matches first, then a two-character
 * class; anything else is a real server fault (500). Bodies are
 * {"error": message, "code": sqlstate, "details": ..., "hint": ...}, taken
 * from the server's error fields.
 */
#include <stdio.h>
#include <string.h>

#include "shim.h"

typedef struct SqlstateStatus
{
	const char *sqlstate;		/* five characters, or a two-character class */
	int			status;
} SqlstateStatus;

static const SqlstateStatus sqlstate_table[] = {
	/* bad input: the message and "Field: x." detail name the field */
	{"22023", 400},				/* invalid_parameter_value */
	{"22004", 400},				/* null_value_not_allowed */
	{"22P02", 400},				/* invalid_text_representation (JSON, numbers) */
	{"22007", 400},				/* invalid_datetime_format */
	{"22008", 400},				/* datetime_field_overflow */
	{"22003", 400},				/* numeric_value_out_of_range */
	{"23514", 400},				/* check_violation */
	/* duplicates and missing owners */
	{"23505", 403},				/* unique_violation */
	{"23503", 403},				/* foreign_key_violation */
	{"P0002", 404},				/* no_data_found */
	/* authentication and authorization */
	{"28000", 401},				/* invalid_authorization_specification */
	{"28P01", 401},				/* invalid_password */
	{"42501", 403},				/* insufficient_privilege */
	/* the ledger's rules */
	{"PB001", 400},				/* amount not greater than zero */
	{"PB002", 400},				/* same account */
	{"PB003", 400},				/* currency mismatch */
	{"PB004", 422},				/* insufficient funds */
	{"PB005", 409},				/* idempotency key reused differently */
	/* identity */
	{"PB010", 401},				/* account does not belong to the caller */
	{"PB011", 401},				/* session blocked */
	{"PB012", 401},				/* session of another user */
	{"PB013", 401},				/* refresh token does not match */
	{"PB014", 401},				/* session expired */
	{"PB015", 429},				/* login throttled */
	/* email verification */
	{"PB040", 400},				/* wrong code */
	{"PB041", 400},				/* code already used */
	{"PB042", 400},				/* code expired */
	{"PB043", 400},				/* code for an address the user no longer has */
	/* the database is going away or unreachable */
	{"57P01", 503},				/* admin_shutdown */
	{"57P03", 503},				/* cannot_connect_now */
	{"08", 503},				/* connection exception (class) */
};

int
http_status_for_sqlstate(const char *sqlstate)
{
	size_t		i;
	size_t		n = sizeof(sqlstate_table) / sizeof(sqlstate_table[0]);

	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return 500;
	for (i = 0; i < n; i++)
	{
		if (strlen(sqlstate_table[i].sqlstate) == 5 &&
			strcmp(sqlstate_table[i].sqlstate, sqlstate) == 0)
			return sqlstate_table[i].status;
	}
	for (i = 0; i < n; i++)
	{
		if (strlen(sqlstate_table[i].sqlstate) == 2 &&
			strncmp(sqlstate_table[i].sqlstate, sqlstate, 2) == 0)
			return sqlstate_table[i].status;
	}
	return 500;
}

/* The table as `pgbank-http --errors` prints it (tests compare the docs). */
void
errors_print(void)
{
	size_t		i;
	size_t		n = sizeof(sqlstate_table) / sizeof(sqlstate_table[0]);

	for (i = 0; i < n; i++)
		printf("%s\t%d\n", sqlstate_table[i].sqlstate, sqlstate_table[i].status);
	printf("*\t500\n");
}

/* The error body of a failed statement, from the server's fields. */
void
error_body_from_result(StrBuf *b, const PGresult *res)
{
	const char *message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	buf_puts(b, "{\"error\":");
	buf_json_string(b, message ? message : "database error");
	buf_puts(b, ",\"code\":");
	buf_json_string(b, PQresultErrorField(res, PG_DIAG_SQLSTATE));
	buf_puts(b, ",\"details\":");
	buf_json_string(b, PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
	buf_puts(b, ",\"hint\":");
	buf_json_string(b, PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
	buf_puts(b, "}");
}

/* An error the shim itself answers (unknown route, body too large...). */
void
error_body(StrBuf *b, const char *message, const char *code)
{
	buf_puts(b, "{\"error\":");
	buf_json_string(b, message);
	buf_puts(b, ",\"code\":");
	buf_json_string(b, code);
	buf_puts(b, ",\"details\":null,\"hint\":null}");
}
