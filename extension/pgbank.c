/*
 * pgbank.c
 *		Module magic and start-up of the pgbank extension.
 *
 * Each module defines its own settings in its init function; the prefix
 * "pgbank" is then reserved so a misspelt setting is reported. pgbank is
 * meant to be in shared_preload_libraries so that its secret settings are
 * defined (and hidden) before any session can read them as placeholders.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "pgbank.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libsodium")));

	pgbank_password_init();
	pgbank_ledger_init();
	pgbank_token_init();

	MarkGUCPrefixReserved("pgbank");
}
