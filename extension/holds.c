/*
 * holds.c
 *		Two-phase transfers: pgbank.hold reserves funds, pgbank.post_hold
 *		moves them. (Voiding and expiry move nothing and are SQL:
 *		sql/src/40_ledger.sql.)
 *
 * A hold adds its amount to the paying account's held; available funds are
 * balance - held, and every move checks them (ledger_check_move), so a hold
 * and a transfer, or two holds, on one account cannot both spend the same
 * money: each takes the account's row lock, and the second sees what the
 * first reserved. Posting is a transfer of at most the held amount that
 * releases the whole reservation. Lock order: the hold's row, then the
 * accounts in ascending id order (ledger.h), as void and expiry do.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "ledger.h"

PG_FUNCTION_INFO_V1(pgbank_hold);
PG_FUNCTION_INFO_V1(pgbank_post_hold);

/* The longest a hold may wait to be posted: 30 days. */
#define HOLD_MAX_SECONDS (30 * 86400)

static SPIPlanPtr plan_reserve = NULL;
static SPIPlanPtr plan_hold_lock = NULL;
static SPIPlanPtr plan_hold_check = NULL;
static SPIPlanPtr plan_hold_posted = NULL;

/* $1 account, $2 its held after, $3 to, $4 amount, $5 currency, $6 reference, $7 seconds */
static const char *sql_reserve =
"WITH a AS (UPDATE pgbank.accounts SET held = $2 WHERE id = $1),"
"     h AS (INSERT INTO pgbank.holds (from_account_id, to_account_id, amount, currency, reference, expires_at)"
"           VALUES ($1, $3, $4, $5, $6, pg_catalog.now() + pg_catalog.make_interval(secs => $7)) RETURNING *)"
"SELECT h FROM h";

static const char *sql_hold_lock =
"SELECT x.id, x.from_account_id, x.to_account_id, x.amount, x.reference"
"  FROM pgbank.holds x WHERE x.id = $1 FOR UPDATE";

/* The hold's row is locked by this transaction: read again, it is the same. */
static const char *sql_hold_check =
"SELECT pgbank.check_hold_pending(x) FROM pgbank.holds x WHERE x.id = $1";

static const char *sql_hold_posted =
"UPDATE pgbank.holds SET status = 'posted', transfer_id = $2, resolved_at = pg_catalog.now()"
" WHERE id = $1";

static void
prepare_plans(void)
{
	Oid			reserve[7] = {INT8OID, INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, FLOAT8OID};
	Oid			int81[1] = {INT8OID};
	Oid			int82[2] = {INT8OID, INT8OID};

	ledger_prepare();
	if (plan_hold_posted != NULL)
		return;
	plan_reserve = pgbank_prepare_kept(sql_reserve, 7, reserve);
	plan_hold_lock = pgbank_prepare_kept(sql_hold_lock, 1, int81);
	plan_hold_check = pgbank_prepare_kept(sql_hold_check, 1, int81);
	plan_hold_posted = pgbank_prepare_kept(sql_hold_posted, 2, int82);
}

static Datum
spi_col(int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

/*
 * SQL function: pgbank.hold(from_account_id bigint, to_account_id bigint,
 *		amount bigint, currency text DEFAULT NULL, timeout_seconds bigint DEFAULT 3600,
 *		reference text DEFAULT NULL) RETURNS pgbank.holds
 */
Datum
pgbank_hold(PG_FUNCTION_ARGS)
{
	LedgerMove	m = {0};
	LedgerError err;
	LedgerSet	set;
	LedgerAccount *src;
	int64		ids[2];
	int64		seconds;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	Datum		result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("from_account_id, to_account_id and amount must not be null")));
	m.from = PG_GETARG_INT64(0);
	m.to = PG_GETARG_INT64(1);
	m.amount = PG_GETARG_INT64(2);
	m.currency = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	m.reference = PG_ARGISNULL(5) ? NULL : PG_GETARG_TEXT_PP(5);
	if (PG_ARGISNULL(4))
		pgbank_invalid_input("timeout_seconds", "is required");
	seconds = PG_GETARG_INT64(4);
	if (!ledger_check_args(&m, &err))
		ledger_throw(&err, -1);
	if (seconds < 1 || seconds > HOLD_MAX_SECONDS)
		pgbank_invalid_input("timeout_seconds", "must be between 1 and 2592000");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgbank: SPI_connect failed");
	prepare_plans();
	ids[0] = m.from;
	ids[1] = m.to;
	ledger_lock(&set, ids, 2);
	if (!ledger_check_move(&set, &m, LEDGER_HOUSE_NONE, &err))
		ledger_throw(&err, -1);
	/* available >= amount, so held + amount <= balance: no overflow */
	src = ledger_find(&set, m.from);

	values[0] = Int64GetDatum(m.from);
	values[1] = Int64GetDatum(src->held + m.amount);
	values[2] = Int64GetDatum(m.to);
	values[3] = Int64GetDatum(m.amount);
	values[4] = CStringGetTextDatum(src->currency);
	values[5] = PointerGetDatum(m.reference);
	nulls[5] = m.reference ? ' ' : 'n';
	values[6] = Float8GetDatum((double) seconds);
	pgbank_run_plan(plan_reserve, values, nulls, 1);
	result = SPI_datumTransfer(spi_col(1, &isnull), false, -1);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * SQL function: pgbank.post_hold(hold_id bigint, amount bigint DEFAULT NULL)
 *		RETURNS pgbank.transfer_result
 */
Datum
pgbank_post_hold(PG_FUNCTION_ARGS)
{
	LedgerMove	m = {0};
	LedgerError err;
	LedgerSet	set;
	TupleDesc	resdesc;
	MemoryContext cxt = CurrentMemoryContext;
	Datum		hold_id;
	Datum		reference;
	int64		ids[2];
	int64		held_amount;
	Datum		args[2];
	bool		isnull;
	Datum		result;
	LedgerWritten *written;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("hold_id must not be null")));
	hold_id = PG_GETARG_DATUM(0);
	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pgbank: post_hold must return a composite type");
	resdesc = BlessTupleDesc(resdesc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgbank: SPI_connect failed");
	prepare_plans();
	pgbank_run_plan(plan_hold_lock, &hold_id, NULL, -1);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("hold %lld not found", (long long) DatumGetInt64(hold_id))));
	m.from = DatumGetInt64(spi_col(2, &isnull));
	m.to = DatumGetInt64(spi_col(3, &isnull));
	held_amount = DatumGetInt64(spi_col(4, &isnull));
	reference = spi_col(5, &isnull);
	m.reference = isnull ? NULL : DatumGetTextPP(reference);

	/* pending and not expired: the one rule, in SQL */
	pgbank_run_plan(plan_hold_check, &hold_id, NULL, 1);

	m.amount = PG_ARGISNULL(1) ? held_amount : PG_GETARG_INT64(1);
	m.release = held_amount;
	if (m.amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_AMOUNT_NOT_POSITIVE),
				 errmsg("transfer amount must be greater than zero"),
				 errdetail("Field: amount.")));
	if (m.amount > held_amount)
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_POST_EXCEEDS_HOLD),
				 errmsg("cannot post %lld: hold %lld reserved %lld",
						(long long) m.amount, (long long) DatumGetInt64(hold_id),
						(long long) held_amount),
				 errdetail("Field: amount.")));

	ids[0] = m.from;
	ids[1] = m.to;
	ledger_lock(&set, ids, 2);
	if (!ledger_apply(&set, &m, LEDGER_HOUSE_NONE, &err))
		ledger_throw(&err, -1);
	written = ledger_write(&set, &m, 1, true);
	result = ledger_result_written(resdesc, written, cxt);
	args[0] = hold_id;
	args[1] = Int64GetDatum(written->transfer_id);
	pgbank_run_plan(plan_hold_posted, args, NULL, 1);
	SPI_finish();
	PG_RETURN_DATUM(result);
}
