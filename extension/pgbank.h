/*
 * pgbank.h
 *		Declarations shared by the modules of the pgbank extension.
 */
#ifndef PGBANK_H
#define PGBANK_H

#include "postgres.h"
#include "executor/spi.h"
#include "utils/elog.h"

/*
 * SQLSTATEs of pgbank's own rules, class PB. Standard codes are used where
 * one means what happened (22023 bad input, 23505 duplicate, P0002 not
 * found, 28P01 wrong password, 42501 not allowed). docs/errors.md lists
 * every code and the HTTP status the shim gives it.
 */
#define ERRCODE_PGBANK_AMOUNT_NOT_POSITIVE	MAKE_SQLSTATE('P','B','0','0','1')
#define ERRCODE_PGBANK_SAME_ACCOUNT			MAKE_SQLSTATE('P','B','0','0','2')
#define ERRCODE_PGBANK_CURRENCY_MISMATCH	MAKE_SQLSTATE('P','B','0','0','3')
#define ERRCODE_PGBANK_INSUFFICIENT_FUNDS	MAKE_SQLSTATE('P','B','0','0','4')
#define ERRCODE_PGBANK_IDEMPOTENCY_CONFLICT	MAKE_SQLSTATE('P','B','0','0','5')
#define ERRCODE_PGBANK_LOGIN_THROTTLED		MAKE_SQLSTATE('P','B','0','1','5')

/*
 * 22023 "invalid <field>: <message>" naming the field: the C twin of the SQL
 * function pgbank.invalid_input(field, message).
 */
extern void pgbank_invalid_input(const char *field,
								 const char *message) pg_attribute_noreturn();

/* Module initialisation, called from _PG_init in pgbank.c. */
extern void pgbank_password_init(void);
extern void pgbank_ledger_init(void);
extern void pgbank_token_init(void);
extern void pgbank_session_init(void);
extern void pgbank_email_init(void);
extern void pgbank_outbox_init(void);

/* SPI_prepare + SPI_keepplan, for plans kept for the life of the backend. */
extern SPIPlanPtr pgbank_prepare_kept(const char *sql, int nargs,
									  Oid *argtypes);
/* SPI_execute_plan; expected >= 0 is the number of rows it must process. */
extern void pgbank_run_plan(SPIPlanPtr plan, Datum *values, const char *nulls,
							int expected);

#endif							/* PGBANK_H */
