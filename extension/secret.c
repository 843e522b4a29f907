/*
 * secret.c
 *		Secrets: the one constant-time comparison of a stored secret with a
 *		presented one (email verification codes, refresh tokens), and the
 *		wiping of copies of key arguments.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"

#include "secret.h"

PG_FUNCTION_INFO_V1(pgbank_secret_code_matches);
PG_FUNCTION_INFO_V1(pgbank_secret_equal);

/*
 * SQL function: pgbank.secret_code_matches(expected text, given text)
 * RETURNS boolean
 *
 * Both secrets are hashed (BLAKE2b) first, so the comparison takes the same
 * time whatever their lengths and wherever they differ: not even the length
 * of the stored secret shows.
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

/*
 * SQL function: pgbank.secret_equal(a text, b text) RETURNS boolean, of
 * 0.1.0 only (0.2.0 drops it for secret_code_matches). Its install script
 * names this symbol, so the library keeps it, with the one comparison.
 */
Datum
pgbank_secret_equal(PG_FUNCTION_ARGS)
{
	return pgbank_secret_code_matches(fcinfo);
}

/*
 * Wipe and free a detoasted copy of a key argument; the caller's datum itself
 * is left alone.
 */
void
pgbank_wipe_key_copy(bytea *key, Datum original)
{
	if ((Pointer) key != DatumGetPointer(original))
	{
		sodium_memzero(key, VARSIZE_ANY(key));
		pfree(key);
	}
}
