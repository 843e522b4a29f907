/*
 * password.c
 *		Argon2id password hashing with libsodium's crypto_pwhash_str.
 *
 * The cost is configuration: pgbank.argon2_opslimit and
 * pgbank.argon2_memlimit (superuser only). Hashes carry their own
 * parameters, so raising the cost later does not invalidate old hashes.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "pgbank.h"

PG_FUNCTION_INFO_V1(pgbank_hash_password);
PG_FUNCTION_INFO_V1(pgbank_password_matches);

static int	argon2_opslimit = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
static int	argon2_memlimit_kb = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE / 1024;

void
pgbank_password_init(void)
{
	DefineCustomIntVariable("pgbank.argon2_opslimit",
							"Argon2id time cost (passes) for new password hashes.",
							NULL,
							&argon2_opslimit,
							crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE,
							crypto_pwhash_argon2id_OPSLIMIT_MIN,
							32,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("pgbank.argon2_memlimit",
							"Argon2id memory cost for new password hashes.",
							NULL,
							&argon2_memlimit_kb,
							crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE / 1024,
							crypto_pwhash_argon2id_MEMLIMIT_MIN / 1024,
							1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
}

/*
 * Copy a text argument into a NUL-terminated buffer that the caller wipes.
 */
static char *
secret_cstring(text *t, size_t *len)
{
	char	   *s;

	*len = VARSIZE_ANY_EXHDR(t);
	s = palloc(*len + 1);
	memcpy(s, VARDATA_ANY(t), *len);
	s[*len] = '\0';
	return s;
}

/*
 * SQL function: pgbank.hash_password(password text) RETURNS text
 */
Datum
pgbank_hash_password(PG_FUNCTION_ARGS)
{
	text	   *password = PG_GETARG_TEXT_PP(0);
	char		hash[crypto_pwhash_STRBYTES];
	char	   *clear;
	size_t		len;
	int			rc;

	clear = secret_cstring(password, &len);
	rc = crypto_pwhash_str_alg(hash, clear, len,
							   (unsigned long long) argon2_opslimit,
							   (size_t) argon2_memlimit_kb * 1024,
							   crypto_pwhash_ALG_ARGON2ID13);
	sodium_memzero(clear, len);
	pfree(clear);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not hash password"),
				 errdetail("Argon2id needs %d kB of memory.", argon2_memlimit_kb)));

	PG_RETURN_TEXT_P(cstring_to_text(hash));
}

/*
 * SQL function: pgbank.password_matches(hashed_password text, password text)
 * RETURNS boolean
 *
 * A malformed hash never matches.
 */
Datum
pgbank_password_matches(PG_FUNCTION_ARGS)
{
	char	   *hash = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *clear;
	size_t		len;
	bool		matches;

	clear = secret_cstring(PG_GETARG_TEXT_PP(1), &len);
	matches = crypto_pwhash_str_verify(hash, clear, len) == 0;
	sodium_memzero(clear, len);
	pfree(clear);

	PG_RETURN_BOOL(matches);
}
