/*
 * errors.c
 *		The error helpers every module shares, so that the same mistake gets
 *		the same SQLSTATE and message whichever module meets it.
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "errors.h"

/*
 * Reject an argument: 22023, "invalid <field>: <message>", a detail and the
 * column naming the field. SQL raises it through pgbank.invalid_input
 * (request.c), so an error reads the same whichever side raised it.
 */
void
pgbank_invalid_input(const char *field, const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s: %s", field, message),
			 errdetail("Field: %s.", field),
			 err_generic_string(PG_DIAG_COLUMN_NAME, field)));
}

void
pgbank_check_not_null(bool isnull, const char *field)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", field),
				 errdetail("Field: %s.", field)));
}

/*
 * A token that does not check is always 28000 (HTTP 401), whatever is wrong
 * with it; the message says what.
 */
void
pgbank_token_invalid(const char *message)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("%s", message)));
}

/* Decoded payloads and footers become text: they must be valid UTF-8. */
void
pgbank_check_utf8(const char *s, size_t len, const char *what)
{
	if (memchr(s, '\0', len) != NULL ||
		!pg_verifymbstr(s, (int) len, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("token %s is not valid text", what),
				 errdetail("It contains a NUL byte or is not valid in the database encoding.")));
}
