/*
 * pgbank.c
 *		Module magic and start-up of the pgbank extension, and the SPI and
 *		error helpers its modules share.
 *
 * Each module defines its own settings in its init function; the prefix
 * "pgbank" is then reserved so a misspelt setting is reported. pgbank is
 * meant to be in shared_preload_libraries so that its secret settings are
 * defined (and hidden) before any session can read them as placeholders.
 */
#include "postgres.h"

#include <sodium.h>

#include "executor/spi.h"
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
	pgbank_session_init();
	pgbank_email_init();
	pgbank_outbox_init();

	MarkGUCPrefixReserved("pgbank");
}

/*
 * Reject an argument as pgbank.invalid_input(field, message) does in SQL:
 * 22023, "invalid <field>: <message>", a detail and the column naming the
 * field, so an error reads the same whichever side raised it.
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

/*
 * Prepare an SPI plan and keep it for the life of the backend: every module
 * prepares its plans once, on first use, and only executes them after.
 * Failure here is a bug in a statement of ours, not a user error.
 */
SPIPlanPtr
pgbank_prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "pgbank: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "pgbank: SPI_keepplan failed");
	return plan;
}

/*
 * Execute a kept plan (read-write, no row limit). With expected >= 0, the
 * statement must have processed exactly that many rows. Failures here are
 * bugs, not user errors.
 */
void
pgbank_run_plan(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	if (rc < 0)
		elog(ERROR, "pgbank: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (expected >= 0 && SPI_processed != (uint64) expected)
		elog(ERROR, "pgbank: expected %d rows, got " UINT64_FORMAT, expected, SPI_processed);
}
