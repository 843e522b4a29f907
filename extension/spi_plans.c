/*
 * spi_plans.c
 *		SPI plans prepared once and kept for the life of the backend, and
 *		their execution: what ledger.c, outbox.c and games.c share.
 *
 * Every module prepares its plans on first use and only executes them after,
 * so no hot path plans a statement again. Failures here are bugs in a
 * statement of ours, not user errors, hence elog.
 */
#include "postgres.h"

#include "executor/spi.h"

#include "spi_plans.h"

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

SPIPlanPtr
pgbank_prepare_generic(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "pgbank: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "pgbank: SPI_keepplan failed");
	return plan;
}

/*
 * Execute a kept plan (read-write, no row limit). With expected >= 0, the
 * statement must have processed exactly that many rows.
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
