/*
 * email.c
 *		Email verification codes: random and URL-safe.
 *
 * pgbank.verify_email (sql/src/50_email.sql) holds the rules; this file
 * gives it what SQL cannot do well: unpredictable codes from libsodium's
 * CSPRNG (they are compared with pgbank.secret_code_matches, secret.c). It
 * also defines the settings the SQL side reads.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "base64url.h"
#include "pgbank.h"

PG_FUNCTION_INFO_V1(pgbank_new_secret_code);

/* 32 random bytes: 256 bits, 43 characters of unpadded base64url. */
#define SECRET_CODE_BYTES 32

static int	verify_email_ttl_s = 15 * 60;
static char *public_url = NULL;

static bool
check_public_url(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL ||
		(strncmp(*newval, "http://", 7) != 0 && strncmp(*newval, "https://", 8) != 0))
	{
		GUC_check_errdetail("pgbank.public_url must start with http:// or https://.");
		return false;
	}
	return true;
}

void
pgbank_email_init(void)
{
	DefineCustomIntVariable("pgbank.verify_email_ttl",
							"How long an email verification code stays valid.",
							NULL,
							&verify_email_ttl_s,
							15 * 60,
							1,
							30 * 24 * 3600,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomStringVariable("pgbank.public_url",
							   "Base URL of the HTTP API, used in the links sent by email.",
							   NULL,
							   &public_url,
							   "http://127.0.0.1:8080",
							   PGC_SUSET,
							   0,
							   check_public_url, NULL, NULL);
}

/*
 * SQL function: pgbank.new_secret_code() RETURNS text
 */
Datum
pgbank_new_secret_code(PG_FUNCTION_ARGS)
{
	unsigned char raw[SECRET_CODE_BYTES];
	char	   *code;
	text	   *result;

	randombytes_buf(raw, sizeof(raw));
	code = pgbank_b64url_encode(raw, sizeof(raw));
	result = cstring_to_text(code);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(code, strlen(code));
	pfree(code);

	PG_RETURN_TEXT_P(result);
}
