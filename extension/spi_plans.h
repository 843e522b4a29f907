/*
 * spi_plans.h
 *		SPI plans prepared once and kept for the life of the backend.
 */
#ifndef PGBANK_SPI_PLANS_H
#define PGBANK_SPI_PLANS_H

#include "postgres.h"

#include "executor/spi.h"

/* SPI_prepare + SPI_keepplan, for plans kept for the life of the backend. */
extern SPIPlanPtr pgbank_prepare_kept(const char *sql, int nargs,
									  Oid *argtypes);

/*
 * The same, for a statement whose plan does not depend on its values: always
 * the generic plan, so no execution plans it again (a custom plan would).
 */
extern SPIPlanPtr pgbank_prepare_generic(const char *sql, int nargs,
										 Oid *argtypes);

/* SPI_execute_plan; expected >= 0 is the number of rows it must process. */
extern void pgbank_run_plan(SPIPlanPtr plan, Datum *values, const char *nulls,
							int expected);

#endif							/* PGBANK_SPI_PLANS_H */
