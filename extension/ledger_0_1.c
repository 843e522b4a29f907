/*
 * ledger_0_1.c
 *		pgbank.transfer as release 0.1.0 declared it (five arguments), on
 *		0.1.0's schema.
 *
 * The library of a newer release serves an older release's SQL until
 * ALTER EXTENSION pgbank UPDATE runs: sql/pgbank--0.1.0.sql names
 * pgbank_transfer with five arguments, and its tables have no held column,
 * house accounts or references. pgbank_transfer (ledger.c) hands such a
 * call here, where 0.1.0's statements run unchanged. Nothing else calls it;
 * it goes when 0.1.0 is no longer upgradable from.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "ledger.h"


/* Columns of pgbank.transfer_result, in the order of the plans below. */
#define RESULT_NATTS 5

/* One locked account row. */
typedef struct LockedAccount
{
	bool		found;
	int64		balance;
	char	   *currency;
} LockedAccount;

static SPIPlanPtr plan_key_lock = NULL;
static SPIPlanPtr plan_key_find = NULL;
static SPIPlanPtr plan_lock_account = NULL;
static SPIPlanPtr plan_move = NULL;

/* $1 from account, $2 key: the account seeds the hash of the key */
static const char *sql_key_lock =
"SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended($2, $1))";

/* The stored result of a transfer, with each account as it was right after. */
static const char *sql_key_find =
"SELECT t.from_account_id, t.to_account_id, t.amount, t.currency,"
"       t,"
"       ROW(fa.id, fa.owner, fe.balance_after, fa.currency, fa.created_at)::pgbank.accounts,"
"       ROW(ta.id, ta.owner, te.balance_after, ta.currency, ta.created_at)::pgbank.accounts,"
"       fe, te"
"  FROM pgbank.transfers t"
"  JOIN pgbank.entries fe ON fe.transfer_id = t.id AND fe.account_id = t.from_account_id"
"  JOIN pgbank.entries te ON te.transfer_id = t.id AND te.account_id = t.to_account_id"
"  JOIN pgbank.accounts fa ON fa.id = t.from_account_id"
"  JOIN pgbank.accounts ta ON ta.id = t.to_account_id"
" WHERE t.from_account_id = $1 AND t.idempotency_key = $2";

static const char *sql_lock_account =
"SELECT balance, currency FROM pgbank.accounts WHERE id = $1 FOR NO KEY UPDATE";

/* $1 from, $2 to, $3 amount, $4 currency, $5 idempotency key */
static const char *sql_move =
"WITH f AS (UPDATE pgbank.accounts SET balance = balance - $3 WHERE id = $1 RETURNING *),"
"     t AS (UPDATE pgbank.accounts SET balance = balance + $3 WHERE id = $2 RETURNING *),"
"     x AS (INSERT INTO pgbank.transfers (from_account_id, to_account_id, amount, currency, idempotency_key)"
"           VALUES ($1, $2, $3, $4, $5) RETURNING *),"
"     fe AS (INSERT INTO pgbank.entries (account_id, amount, transfer_id, balance_after)"
"            SELECT $1, -$3, x.id, f.balance FROM x, f RETURNING *),"
"     te AS (INSERT INTO pgbank.entries (account_id, amount, transfer_id, balance_after)"
"            SELECT $2, $3, x.id, t.balance FROM x, t RETURNING *)"
"SELECT x, f, t, fe, te FROM x, f, t, fe, te";

static void
prepare_plans(void)
{
	Oid			int8_text[2] = {INT8OID, TEXTOID};
	Oid			int81[1] = {INT8OID};
	Oid			move[5] = {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID};

	if (plan_move != NULL)
		return;
	plan_key_lock = pgbank_prepare_kept(sql_key_lock, 2, int8_text);
	plan_key_find = pgbank_prepare_kept(sql_key_find, 2, int8_text);
	plan_lock_account = pgbank_prepare_kept(sql_lock_account, 1, int81);
	plan_move = pgbank_prepare_kept(sql_move, 5, move);
}

static Datum
spi_value(int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

/*
 * Build the transfer_result tuple from columns first..first+4 of the single
 * row SPI returned, in the caller's memory context so it survives SPI_finish.
 */
static Datum
result_from_spi(TupleDesc resdesc, int first, MemoryContext callercxt)
{
	Datum		values[RESULT_NATTS];
	bool		nulls[RESULT_NATTS];
	MemoryContext spicxt;
	HeapTuple	tuple;

	for (int i = 0; i < RESULT_NATTS; i++)
		values[i] = spi_value(first + i, &nulls[i]);
	spicxt = MemoryContextSwitchTo(callercxt);
	tuple = heap_form_tuple(resdesc, values, nulls);
	MemoryContextSwitchTo(spicxt);
	return HeapTupleGetDatum(tuple);
}

static LockedAccount
lock_account(int64 id)
{
	Datum		arg = Int64GetDatum(id);
	LockedAccount acc = {false, 0, NULL};
	bool		isnull;

	pgbank_run_plan(plan_lock_account, &arg, NULL, -1);
	if (SPI_processed == 1)
	{
		acc.found = true;
		acc.balance = DatumGetInt64(spi_value(1, &isnull));
		acc.currency = TextDatumGetCString(spi_value(2, &isnull));
	}
	return acc;
}

static void
check_account(const LockedAccount *acc, int64 id, const char *field)
{
	if (!acc->found)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("account %lld not found", (long long) id),
				 errdetail("Field: %s.", field)));
}

/*
 * A key seen before: return its stored result when the arguments are the
 * same (currency, when given, must be the transfer's), else fail. Returns
 * false when the key is new.
 */
static bool
replay_transfer(text *key, int64 from, int64 to, int64 amount,
				const char *currency, TupleDesc resdesc,
				MemoryContext callercxt, Datum *result)
{
	Datum		args[2] = {Int64GetDatum(from), PointerGetDatum(key)};
	bool		isnull;
	char	   *stored_currency;

	pgbank_run_plan(plan_key_lock, args, NULL, 1);
	pgbank_run_plan(plan_key_find, args, NULL, -1);
	if (SPI_processed == 0)
		return false;

	stored_currency = TextDatumGetCString(spi_value(4, &isnull));
	if (DatumGetInt64(spi_value(1, &isnull)) != from ||
		DatumGetInt64(spi_value(2, &isnull)) != to ||
		DatumGetInt64(spi_value(3, &isnull)) != amount ||
		(currency != NULL && strcmp(currency, stored_currency) != 0))
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_IDEMPOTENCY_CONFLICT),
				 errmsg("idempotency key already used for a different transfer"),
				 errdetail("A key may be reused only with the same accounts, amount and currency.")));

	*result = result_from_spi(resdesc, 5, callercxt);
	return true;
}

/*
 * pgbank.transfer(from_account_id bigint, to_account_id bigint,
 *		amount bigint, currency text DEFAULT NULL, idempotency_key text DEFAULT NULL)
 *		RETURNS pgbank.transfer_result, of release 0.1.0
 */
Datum
ledger_transfer_0_1(PG_FUNCTION_ARGS)
{
	int64		from;
	int64		to;
	int64		amount;
	char	   *currency = NULL;
	text	   *key = NULL;
	TupleDesc	resdesc;
	MemoryContext callercxt = CurrentMemoryContext;
	LockedAccount lo;
	LockedAccount hi;
	const LockedAccount *src;
	const LockedAccount *dst;
	Datum		result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("from_account_id, to_account_id and amount must not be null")));
	from = PG_GETARG_INT64(0);
	to = PG_GETARG_INT64(1);
	amount = PG_GETARG_INT64(2);
	if (!PG_ARGISNULL(3))
		currency = text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (!PG_ARGISNULL(4))
		key = PG_GETARG_TEXT_PP(4);

	if (amount <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_AMOUNT_NOT_POSITIVE),
				 errmsg("transfer amount must be greater than zero"),
				 errdetail("Field: amount.")));
	if (from == to)
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_SAME_ACCOUNT),
				 errmsg("cannot transfer from an account to itself"),
				 errdetail("Field: to_account_id.")));
	if (key != NULL && (VARSIZE_ANY_EXHDR(key) == 0 || VARSIZE_ANY_EXHDR(key) > 255))
		pgbank_invalid_input("idempotency_key", "must be 1 to 255 characters");

	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pgbank: transfer must return a composite type");
	resdesc = BlessTupleDesc(resdesc);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgbank: SPI_connect failed");
	prepare_plans();

	if (key != NULL &&
		replay_transfer(key, from, to, amount, currency, resdesc, callercxt, &result))
	{
		SPI_finish();
		PG_RETURN_DATUM(result);
	}

	/* The fixed lock order: lower id first. */
	lo = lock_account(Min(from, to));
	hi = lock_account(Max(from, to));
	src = from < to ? &lo : &hi;
	dst = from < to ? &hi : &lo;
	check_account(src, from, "from_account_id");
	check_account(dst, to, "to_account_id");

	if (strcmp(src->currency, dst->currency) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_CURRENCY_MISMATCH),
				 errmsg("accounts have different currencies: %s and %s",
						src->currency, dst->currency)));
	if (currency != NULL && strcmp(currency, src->currency) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_CURRENCY_MISMATCH),
				 errmsg("currency mismatch: accounts are in %s, transfer asks for %s",
						src->currency, currency),
				 errdetail("Field: currency.")));
	if (src->balance < amount)
		ereport(ERROR,
				(errcode(ERRCODE_PGBANK_INSUFFICIENT_FUNDS),
				 errmsg("insufficient funds in account %lld", (long long) from),
				 errdetail("Balance %lld, transfer amount %lld.",
						   (long long) src->balance, (long long) amount)));

	{
		Datum		values[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', key ? ' ' : 'n'};

		values[0] = Int64GetDatum(from);
		values[1] = Int64GetDatum(to);
		values[2] = Int64GetDatum(amount);
		values[3] = CStringGetTextDatum(src->currency);
		values[4] = PointerGetDatum(key);
		pgbank_run_plan(plan_move, values, nulls, 1);
	}
	result = result_from_spi(resdesc, 1, callercxt);

	SPI_finish();
	PG_RETURN_DATUM(result);
}
