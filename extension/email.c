/*
 * email.c
 *		Email verification codes: random, URL-safe, compared in constant time.
 *
 * pgbank.verify_email (sql/src/40_email.sql) holds the rules; this file
 * gives it the two things SQL cannot do well: unpredictable codes from
 * libsodium's CSPRNG, and a comparison whose time does not depend on where
 * the codes differ. It also defines the settings the SQL side reads.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "pgbank.h"

PG_FUNCTION_INFO_V1(pgbank_new_secret_code);
PG_FUNCTION_INFO_V1(pgbank_secret_code_matches);

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
	char		code[sodium_base64_ENCODED_LEN(SECRET_CODE_BYTES,
										  sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	text	   *result;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(code, sizeof(code), raw, sizeof(raw),
					  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	result = cstring_to_text(code);
	sodium_memzero(raw, sizeof(raw));
	sodium_memzero(code, sizeof(code));

	PG_RETURN_TEXT_P(result);
}

/*
 * SQL function: pgbank.secret_code_matches(expected text, given text)
 * RETURNS boolean
 *
 * Both codes are hashed (BLAKE2b) first, so the comparison takes the same
 * time whatever their lengths and wherever they differ.
 */
Datum
pgbank_secret_code_matches(PG_FUNCTION_ARGS)
{
	text	   *expected = PG_GETARG_TEXT_PP(0);
	text	   *given = PG_GETARG_TEXT_PP(1);
	unsigned char he[crypto_generichash_BYTES];
	unsigned char hg[crypto_generichash_BYTES];
	bool		matches;

	crypto_generichash(he, sizeof(he), (unsigned char *) VARDATA_ANY(expected),
					   VARSIZE_ANY_EXHDR(expected), NULL, 0);
	crypto_generichash(hg, sizeof(hg), (unsigned char *) VARDATA_ANY(given),
					   VARSIZE_ANY_EXHDR(given), NULL, 0);
	matches = sodium_memcmp(he, hg, sizeof(he)) == 0;
	sodium_memzero(he, sizeof(he));
	sodium_memzero(hg, sizeof(hg));

	PG_RETURN_BOOL(matches);
}
