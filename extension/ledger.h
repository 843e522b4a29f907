/*
 * ledger.h
 *		The ledger's engine, shared by the single transfer and deposits
 *		(ledger.c), batches (batch.c) and holds (holds.c).
 *
 * Every way of moving money goes through the same three steps: lock the
 * accounts it names, all at once and in ascending id order (ledger_lock);
 * check and apply each move to the locked rows in memory (ledger_apply),
 * which refuses a move with the error pgbank.transfer raises for it; then
 * write the applied moves (ledger_write). The first and last work on rows
 * without SQL statements (ledger_rows.c). Any two callers therefore take their account locks
 * in one global order and cannot deadlock, and a call runs no SQL statement
 * for its accounts and rows, whatever its size.
 */
#ifndef PGBANK_LEDGER_H
#define PGBANK_LEDGER_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "storage/itemptr.h"
#include "utils/timestamp.h"

#include "errors.h"
#include "pgbank.h"
#include "spi_plans.h"

/* The most items of one batch call. */
#define LEDGER_MAX_ITEMS 1000

/* One locked account row, as the moves of this call leave it. */
typedef struct LedgerAccount
{
	int64		id;
	int64		balance;
	int64		held;
	bool		house;
	bool		dirty;			/* changed by an applied move */
	char		currency[4];
	ItemPointerData tid;		/* the version locked */
} LedgerAccount;

/* The locked accounts of a call, sorted by id. */
typedef struct LedgerSet
{
	int			n;
	LedgerAccount *acc;
} LedgerSet;

/* One move of money: what it asks for, and what applying it left. */
typedef struct LedgerMove
{
	int64		from;
	int64		to;
	int64		amount;
	const char *currency;		/* the currency asked for, or NULL */
	text	   *key;			/* idempotency key, or NULL */
	text	   *reference;		/* or NULL */
	int64		release;		/* held amount the move releases (a hold) */
	/* set by ledger_apply */
	const char *account_currency;
	int64		from_balance;
	int64		from_held;
	int64		to_balance;
	int64		to_held;
} LedgerMove;

/* Which side of a move may be a house account. */
#define LEDGER_HOUSE_NONE	0
#define LEDGER_HOUSE_FROM	1	/* a deposit */
#define LEDGER_HOUSE_TO		2	/* a withdrawal */

/*
 * The columns of a written move's transfer_result (when ledger_write was
 * asked for rows), and its transfer's id.
 */
#define LEDGER_RESULT_NATTS 5
typedef struct LedgerWritten
{
	Datum		cols[LEDGER_RESULT_NATTS];	/* transfer, from and to account
											 * after it, from and to entry */
	int64		transfer_id;
} LedgerWritten;

/* Why a move was refused: what ereport would have said. */
typedef struct LedgerError
{
	int			sqlerrcode;
	char	   *message;
	char	   *detail;
	const char *field;			/* for 22023, the field named */
} LedgerError;

extern void ledger_prepare(void);
extern bool ledger_check_args(const LedgerMove *m, LedgerError *err);
extern bool ledger_check_reference(text *reference, LedgerError *err);
extern bool ledger_refuse(LedgerError *err, int sqlerrcode, const char *field,
						  char *message, char *detail);
extern bool ledger_refuse_input(LedgerError *err, const char *field,
								const char *message);
extern void ledger_lock(LedgerSet *set, const int64 *ids, int n);
extern LedgerAccount *ledger_find(LedgerSet *set, int64 id);
extern bool ledger_check_move(LedgerSet *set, const LedgerMove *m, int house,
							  LedgerError *err);
extern bool ledger_apply(LedgerSet *set, LedgerMove *m, int house,
						 LedgerError *err);
extern LedgerWritten *ledger_write(LedgerSet *set, LedgerMove *moves, int n,
								   bool rows);
extern void ledger_throw(const LedgerError *err, int item) pg_attribute_noreturn();

/* Key replay, per item (index into moves; -1 = none). */
extern void ledger_lock_keys(const LedgerMove *moves, int n);
extern int	ledger_find_keys(const LedgerMove *moves, int n, int *row_of);
extern bool ledger_key_matches(const LedgerMove *m, int row, LedgerError *err);

/*
 * A transfer_result in cxt: of a written move, or of SPI row `row`'s
 * columns first..first+4 (a stored transfer found by its key).
 */
extern Datum ledger_result_written(TupleDesc resdesc, const LedgerWritten *w,
								   MemoryContext cxt);
extern Datum ledger_result(TupleDesc resdesc, int row, int first,
						   MemoryContext cxt);

/* pgbank.transfer as 0.1.0 declared it (ledger_0_1.c). */
extern Datum ledger_transfer_0_1(PG_FUNCTION_ARGS);

#endif							/* PGBANK_LEDGER_H */
