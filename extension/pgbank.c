/*
 * pgbank.c
 *		Module magic and start-up of the pgbank extension.
 *
 * Each module defines its own settings in its init function; the prefix
 * "pgbank" is then reserved so a misspelt setting is reported.
 *
 * pgbank must be in shared_preload_libraries: its secret settings have to
 * be defined (and hidden) before any session can read them as placeholders,
 * pgbank.login_throttle_entries can only be defined at server start, and
 * the login throttle and the waiting outbox runs live in shared memory. Loaded any other way (CREATE
 * EXTENSION or LOAD in a server that did not preload it), the library
 * refuses with an ERROR that says what to configure, as pg_cron does,
 * before it defines anything: defining a PGC_POSTMASTER setting after
 * start-up would end the session with a FATAL error instead.
 */
#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "pgbank.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pgbank must be loaded via shared_preload_libraries"),
				 errdetail("pgbank defines settings that exist only from server start and keeps the login throttle in shared memory."),
				 errhint("Add pgbank to shared_preload_libraries in postgresql.conf (for example shared_preload_libraries = 'pg_cron,pgbank') and restart the server.")));

	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not initialize libsodium")));

	pgbank_password_init();
	pgbank_ledger_init();
	pgbank_token_init();
	pgbank_throttle_init();
	pgbank_email_init();
	pgbank_outbox_init();
	pgbank_outbox_wake_init();
	pgbank_games_init();

	MarkGUCPrefixReserved("pgbank");
}
