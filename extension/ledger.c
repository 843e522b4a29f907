/*
 * ledger.c
 *		The ledger's engine (ledger.h) and the single moves of money:
 *		pgbank.transfer, pgbank.deposit and pgbank.withdraw.
 *
 * Double entry: money enters and leaves only through a currency's house
 * account (deposit, withdraw), the one account allowed below zero, so the
 * balances of each currency sum to zero at every commit.
 *
 * A call locks every account it names (ledger_lock), in ascending id
 * order, so any two calls that share accounts take their locks in the same
 * order and cannot deadlock (a house account's id is negative: it is always
 * locked first). Then the moves are checked and applied in memory, and
 * ledger_write (ledger_rows.c) updates the balances and writes the
 * transfers and their entries. All SPI plans are prepared on first use and
 * kept for the life of the backend.
 *
 * An idempotency key belongs to the paying account (the transfers table is
 * unique on from_account_id, idempotency_key), so another user can neither
 * claim a key first nor learn that it is used. Transaction-scoped advisory
 * locks on the account and key, taken before any account lock and in
 * ascending hash order, serialise callers that use the same key; the first
 * one moves the money, later ones get the stored result back (or an error
 * if their arguments differ).
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "ledger.h"

PG_FUNCTION_INFO_V1(pgbank_transfer);
PG_FUNCTION_INFO_V1(pgbank_deposit);
PG_FUNCTION_INFO_V1(pgbank_withdraw);

static SPIPlanPtr plan_key_lock = NULL;
static SPIPlanPtr plan_key_find = NULL;
static SPIPlanPtr plan_house = NULL;

/* $1 paying accounts, $2 keys: the account seeds the hash of its key. */
static const char *sql_key_lock =
"SELECT pg_catalog.pg_advisory_xact_lock(h)"
"  FROM (SELECT DISTINCT pg_catalog.hashtextextended(k, f) AS h"
"          FROM ROWS FROM (pg_catalog.unnest($1::int8[]), pg_catalog.unnest($2::text[])) u (f, k) WHERE k IS NOT NULL) s"
" ORDER BY h";

/*
 * The stored result of each transfer made with one of the keys, with each
 * account as it was right after it (held as it is now).
 */
static const char *sql_key_find =
"SELECT t.from_account_id, t.idempotency_key, t.to_account_id, t.amount, t.currency,"
"       t,"
"       ROW(fa.id, fa.owner, fe.balance_after, fa.currency, fa.created_at, fa.held)::pgbank.accounts,"
"       ROW(ta.id, ta.owner, te.balance_after, ta.currency, ta.created_at, ta.held)::pgbank.accounts,"
"       fe, te"
"  FROM ROWS FROM (pg_catalog.unnest($1::int8[]), pg_catalog.unnest($2::text[])) u (f, k)"
"  JOIN pgbank.transfers t ON t.from_account_id = u.f AND t.idempotency_key = u.k"
"  JOIN pgbank.entries fe ON fe.transfer_id = t.id AND fe.account_id = t.from_account_id"
"  JOIN pgbank.entries te ON te.transfer_id = t.id AND te.account_id = t.to_account_id"
"  JOIN pgbank.accounts fa ON fa.id = t.from_account_id"
"  JOIN pgbank.accounts ta ON ta.id = t.to_account_id";

/* The account and its currency's house account (not locked: see callers). */
static const char *sql_house =
"SELECT h.id FROM pgbank.accounts a"
"  JOIN pgbank.accounts h ON h.currency = a.currency AND h.owner IS NULL"
" WHERE a.id = $1";

/*
 * Prepare and keep a plan that is always generic: these statements' costs do
 * not depend on their values, so planning them again at each call (what a
 * custom plan costs) buys nothing.
 */
static SPIPlanPtr
prepare_generic(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "pgbank: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "pgbank: SPI_keepplan failed");
	return plan;
}

void
pgbank_ledger_init(void)
{
	/* nothing to configure yet */
}

void
ledger_prepare(void)
{
	Oid			keys[2] = {INT8ARRAYOID, TEXTARRAYOID};
	Oid			house[1] = {INT8OID};

	if (plan_house != NULL)
		return;
	plan_key_lock = prepare_generic(sql_key_lock, 2, keys);
	plan_key_find = prepare_generic(sql_key_find, 2, keys);
	plan_house = prepare_generic(sql_house, 1, house);
}

/* ----- errors ----- */

bool
ledger_refuse(LedgerError *err, int sqlerrcode, const char *field, char *message,
	   char *detail)
{
	err->sqlerrcode = sqlerrcode;
	err->field = field;
	err->message = message;
	err->detail = detail;
	return false;
}

/* The 22023 of pgbank_invalid_input, as a refusal. */
bool
ledger_refuse_input(LedgerError *err, const char *field, const char *message)
{
	return ledger_refuse(err, ERRCODE_INVALID_PARAMETER_VALUE, field,
				  psprintf("invalid %s: %s", field, message),
				  psprintf("Field: %s.", field));
}

/*
 * Raise a refusal; item >= 0 is the index of the failing item of a batch,
 * named first in the message.
 */
void
ledger_throw(const LedgerError *err, int item)
{
	ereport(ERROR,
			(errcode(err->sqlerrcode),
			 item >= 0 ? errmsg("item %d: %s", item, err->message) :
			 errmsg("%s", err->message),
			 err->detail ? errdetail("%s", err->detail) : 0,
			 err->field ? err_generic_string(PG_DIAG_COLUMN_NAME, err->field) : 0));
	pg_unreachable();
}

/* ----- checks ----- */

/*
 * A reference is 1 to 255 characters and no control character (the
 * transfers table's CHECK says the same).
 */
bool
ledger_check_reference(text *reference, LedgerError *err)
{
	const unsigned char *p;
	int			len;

	if (reference == NULL)
		return true;
	p = (const unsigned char *) VARDATA_ANY(reference);
	len = VARSIZE_ANY_EXHDR(reference);
	if (len == 0 || pg_mbstrlen_with_len((const char *) p, len) > 255)
		return ledger_refuse_input(err, "reference", "must be 1 to 255 characters");
	for (int i = 0; i < len; i++)
	{
		/* C0 and DEL; C1 (U+0080..U+009F) is 0xC2 0x80..0x9F in UTF-8 */
		if (p[i] < 0x20 || p[i] == 0x7f ||
			(p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f))
			return ledger_refuse_input(err, "reference", "must not contain control characters");
	}
	return true;
}

/* What can be checked before any lock, in the order the rules are listed. */
bool
ledger_check_args(const LedgerMove *m, LedgerError *err)
{
	if (m->amount <= 0)
		return ledger_refuse(err, ERRCODE_PGBANK_AMOUNT_NOT_POSITIVE, NULL,
					  "transfer amount must be greater than zero", "Field: amount.");
	if (m->from == m->to)
		return ledger_refuse(err, ERRCODE_PGBANK_SAME_ACCOUNT, NULL,
					  "cannot transfer from an account to itself", "Field: to_account_id.");
	if (m->key != NULL &&
		(VARSIZE_ANY_EXHDR(m->key) == 0 || VARSIZE_ANY_EXHDR(m->key) > 255))
		return ledger_refuse_input(err, "idempotency_key", "must be 1 to 255 characters");
	return ledger_check_reference(m->reference, err);
}

/* ----- arrays, for the key statements ----- */

static Datum
int8_array(const int64 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum(values[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* A text[] of the moves' keys, references or currencies (NULLs kept). */
static Datum
text_array(text **values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		nulls[i] = values[i] == NULL;
		d[i] = PointerGetDatum(values[i]);
	}
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID,
											  -1, false, TYPALIGN_INT));
}

/* ----- applying ----- */

static bool
check_house(const LedgerAccount *a, bool allowed, LedgerError *err)
{
	if (a->house && !allowed)
		return ledger_refuse(err, ERRCODE_PGBANK_HOUSE_ACCOUNT, NULL,
					  psprintf("account %lld is a house account", (long long) a->id),
					  "Money enters and leaves a house account only by deposit and withdrawal.");
	return true;
}

/*
 * Check one move against the locked rows, in the order pgbank.transfer
 * documents its rules: both accounts exist, neither is a house account
 * unless house allows it, one currency (the one asked for, if any), enough
 * available funds (counting the hold the move releases), and no balance
 * past the bigint range.
 */
bool
ledger_check_move(LedgerSet *set, const LedgerMove *m, int house, LedgerError *err)
{
	LedgerAccount *src = ledger_find(set, m->from);
	LedgerAccount *dst = ledger_find(set, m->to);
	int64		available;
	int64		after;

	if (src == NULL)
		return ledger_refuse(err, ERRCODE_NO_DATA_FOUND, NULL,
					  psprintf("account %lld not found", (long long) m->from),
					  "Field: from_account_id.");
	if (dst == NULL)
		return ledger_refuse(err, ERRCODE_NO_DATA_FOUND, NULL,
					  psprintf("account %lld not found", (long long) m->to),
					  "Field: to_account_id.");
	if (!check_house(src, house == LEDGER_HOUSE_FROM, err) ||
		!check_house(dst, house == LEDGER_HOUSE_TO, err))
		return false;
	if (strcmp(src->currency, dst->currency) != 0)
		return ledger_refuse(err, ERRCODE_PGBANK_CURRENCY_MISMATCH, NULL,
					  psprintf("accounts have different currencies: %s and %s",
							   src->currency, dst->currency), NULL);
	if (m->currency != NULL && strcmp(m->currency, src->currency) != 0)
		return ledger_refuse(err, ERRCODE_PGBANK_CURRENCY_MISMATCH, NULL,
					  psprintf("currency mismatch: accounts are in %s, transfer asks for %s",
							   src->currency, m->currency), "Field: currency.");

	/* Only a house account may go below zero; holds reserve the rest. */
	available = src->balance - (src->held - m->release);
	if (!src->house && available < m->amount)
		return ledger_refuse(err, ERRCODE_PGBANK_INSUFFICIENT_FUNDS, NULL,
					  psprintf("insufficient funds in account %lld", (long long) m->from),
					  src->held - m->release == 0 ?
					  psprintf("Balance %lld, transfer amount %lld.",
							   (long long) src->balance, (long long) m->amount) :
					  psprintf("Available %lld (balance %lld, held %lld), transfer amount %lld.",
							   (long long) available, (long long) src->balance,
							   (long long) (src->held - m->release), (long long) m->amount));
	if (pg_sub_s64_overflow(src->balance, m->amount, &after))
		return ledger_refuse(err, ERRCODE_PGBANK_BALANCE_OVERFLOW, NULL,
					  psprintf("the transfer would take the balance of account %lld below the bigint range",
							   (long long) m->from), NULL);
	if (pg_add_s64_overflow(dst->balance, m->amount, &after))
		return ledger_refuse(err, ERRCODE_PGBANK_BALANCE_OVERFLOW, NULL,
					  psprintf("the transfer would take the balance of account %lld past the bigint range",
							   (long long) m->to),
					  psprintf("Balance %lld, transfer amount %lld, the most a balance holds %lld.",
							   (long long) dst->balance, (long long) m->amount,
							   (long long) PG_INT64_MAX));
	return true;
}

/*
 * Check one move and, when it passes, apply it to the locked rows; on
 * refusal the set is unchanged.
 */
bool
ledger_apply(LedgerSet *set, LedgerMove *m, int house, LedgerError *err)
{
	LedgerAccount *src;
	LedgerAccount *dst;

	if (!ledger_check_move(set, m, house, err))
		return false;
	src = ledger_find(set, m->from);
	dst = ledger_find(set, m->to);
	src->balance -= m->amount;
	src->held -= m->release;
	dst->balance += m->amount;
	src->dirty = dst->dirty = true;
	m->account_currency = src->currency;
	m->from_balance = src->balance;
	m->from_held = src->held;
	m->to_balance = dst->balance;
	m->to_held = dst->held;
	return true;
}

/* ----- results ----- */

static Datum
result_tuple(TupleDesc resdesc, Datum *values, bool *nulls, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	HeapTuple	tuple = heap_form_tuple(resdesc, values, nulls);

	MemoryContextSwitchTo(old);
	return HeapTupleGetDatum(tuple);
}

/* The transfer_result of a move ledger_write wrote, in cxt. */
Datum
ledger_result_written(TupleDesc resdesc, const LedgerWritten *w, MemoryContext cxt)
{
	Datum		values[LEDGER_RESULT_NATTS];
	bool		nulls[LEDGER_RESULT_NATTS] = {0};

	memcpy(values, w->cols, sizeof(values));
	return result_tuple(resdesc, values, nulls, cxt);
}

/*
 * Build a transfer_result from columns first..first+4 of SPI row `row`, in
 * memory context cxt so that it survives SPI_finish.
 */
Datum
ledger_result(TupleDesc resdesc, int row, int first, MemoryContext cxt)
{
	Datum		values[LEDGER_RESULT_NATTS];
	bool		nulls[LEDGER_RESULT_NATTS];

	for (int i = 0; i < LEDGER_RESULT_NATTS; i++)
		values[i] = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  first + i, &nulls[i]);
	return result_tuple(resdesc, values, nulls, cxt);
}

/* ----- idempotency keys ----- */

static void
key_arrays(const LedgerMove *moves, int n, Datum *args)
{
	int64	   *from = palloc(sizeof(int64) * n);
	text	  **keys = palloc(sizeof(text *) * n);

	for (int i = 0; i < n; i++)
	{
		from[i] = moves[i].from;
		keys[i] = moves[i].key;
	}
	args[0] = int8_array(from, n);
	args[1] = text_array(keys, n);
}

/* Lock every (paying account, key) of the moves, in ascending hash order. */
void
ledger_lock_keys(const LedgerMove *moves, int n)
{
	Datum		args[2];

	key_arrays(moves, n, args);
	pgbank_run_plan(plan_key_lock, args, NULL, -1);
}

static bool
same_key(const LedgerMove *m, int row)
{
	bool		isnull;
	text	   *k;

	if (m->key == NULL ||
		DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
									1, &isnull)) != m->from)
		return false;
	k = DatumGetTextPP(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
									 2, &isnull));
	return VARSIZE_ANY_EXHDR(k) == VARSIZE_ANY_EXHDR(m->key) &&
		memcmp(VARDATA_ANY(k), VARDATA_ANY(m->key), VARSIZE_ANY_EXHDR(k)) == 0;
}

/*
 * Find the transfers already made with the moves' keys: row_of[i] is the
 * SPI row of move i's stored transfer, or -1. Returns how many were found.
 * Call with the keys locked.
 */
int
ledger_find_keys(const LedgerMove *moves, int n, int *row_of)
{
	Datum		args[2];
	int			found = 0;

	key_arrays(moves, n, args);
	pgbank_run_plan(plan_key_find, args, NULL, -1);
	for (int i = 0; i < n; i++)
	{
		row_of[i] = -1;
		for (uint64 r = 0; moves[i].key != NULL && r < SPI_processed; r++)
			if (same_key(&moves[i], (int) r))
			{
				row_of[i] = (int) r;
				found++;
				break;
			}
	}
	return found;
}

/*
 * A key seen before answers its stored result only for the same arguments
 * (currency, when given, must be the transfer's).
 */
bool
ledger_key_matches(const LedgerMove *m, int row, LedgerError *err)
{
	HeapTuple	tup = SPI_tuptable->vals[row];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	char	   *stored_currency = TextDatumGetCString(SPI_getbinval(tup, desc, 5, &isnull));

	if (DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull)) != m->to ||
		DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull)) != m->amount ||
		(m->currency != NULL && strcmp(m->currency, stored_currency) != 0))
		return ledger_refuse(err, ERRCODE_PGBANK_IDEMPOTENCY_CONFLICT, NULL,
					  "idempotency key already used for a different transfer",
					  "A key may be reused only with the same accounts, amount and currency.");
	return true;
}

/* ----- the single moves ----- */

static TupleDesc
result_desc(FunctionCallInfo fcinfo)
{
	TupleDesc	resdesc;

	if (get_call_result_type(fcinfo, NULL, &resdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "pgbank: a ledger function must return a composite type");
	return BlessTupleDesc(resdesc);
}

/*
 * One move, from its checks to its result: the stored one for a key seen
 * before, else lock, apply and write. SPI is connected by the caller.
 */
static Datum
move_one(LedgerMove *m, int house, TupleDesc resdesc, MemoryContext cxt)
{
	LedgerError err;
	LedgerSet	set;
	int64		ids[2] = {m->from, m->to};

	if (!ledger_check_args(m, &err))
		ledger_throw(&err, -1);
	ledger_prepare();
	if (m->key != NULL)
	{
		int			row;

		ledger_lock_keys(m, 1);
		if (ledger_find_keys(m, 1, &row) > 0)
		{
			if (!ledger_key_matches(m, row, &err))
				ledger_throw(&err, -1);
			return ledger_result(resdesc, row, 6, cxt);
		}
	}
	ledger_lock(&set, ids, 2);
	if (!ledger_apply(&set, m, house, &err))
		ledger_throw(&err, -1);
	return ledger_result_written(resdesc, ledger_write(&set, m, 1, true), cxt);
}

/*
 * SQL function: pgbank.transfer(from_account_id bigint, to_account_id bigint,
 *		amount bigint, currency text DEFAULT NULL, idempotency_key text DEFAULT NULL,
 *		reference text DEFAULT NULL) RETURNS pgbank.transfer_result
 */
Datum
pgbank_transfer(PG_FUNCTION_ARGS)
{
	LedgerMove	m = {0};
	TupleDesc	resdesc;
	MemoryContext cxt = CurrentMemoryContext;
	Datum		result;

	/* 0.1.0's declaration, on 0.1.0's schema (not yet updated) */
	if (PG_NARGS() == 5)
		return ledger_transfer_0_1(fcinfo);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("from_account_id, to_account_id and amount must not be null")));
	m.from = PG_GETARG_INT64(0);
	m.to = PG_GETARG_INT64(1);
	m.amount = PG_GETARG_INT64(2);
	m.currency = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	m.key = PG_ARGISNULL(4) ? NULL : PG_GETARG_TEXT_PP(4);
	m.reference = PG_ARGISNULL(5) ? NULL : PG_GETARG_TEXT_PP(5);
	resdesc = result_desc(fcinfo);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgbank: SPI_connect failed");
	result = move_one(&m, LEDGER_HOUSE_NONE, resdesc, cxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/* Deposit (house_side FROM) or withdrawal (TO) of arguments 0..3. */
static Datum
house_move(FunctionCallInfo fcinfo, int house_side)
{
	LedgerMove	m = {0};
	LedgerError err;
	TupleDesc	resdesc;
	MemoryContext cxt = CurrentMemoryContext;
	Datum		account;
	int64		house;
	bool		isnull;
	Datum		result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("account_id and amount must not be null")));
	if (PG_ARGISNULL(2))
		pgbank_invalid_input("reference", "is required");
	m.amount = PG_GETARG_INT64(1);
	m.reference = PG_GETARG_TEXT_PP(2);
	m.key = PG_ARGISNULL(3) ? NULL : PG_GETARG_TEXT_PP(3);
	resdesc = result_desc(fcinfo);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgbank: SPI_connect failed");
	ledger_prepare();
	account = PG_GETARG_DATUM(0);
	pgbank_run_plan(plan_house, &account, NULL, -1);
	if (SPI_processed != 1)
	{
		ledger_refuse(&err, ERRCODE_NO_DATA_FOUND, NULL,
			   psprintf("account %lld not found", (long long) DatumGetInt64(account)),
			   "Field: account_id.");
		ledger_throw(&err, -1);
	}
	house = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	m.from = house_side == LEDGER_HOUSE_FROM ? house : DatumGetInt64(account);
	m.to = house_side == LEDGER_HOUSE_FROM ? DatumGetInt64(account) : house;
	result = move_one(&m, house_side, resdesc, cxt);
	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * SQL function: pgbank.deposit(account_id bigint, amount bigint, reference text,
 *		idempotency_key text DEFAULT NULL) RETURNS pgbank.transfer_result
 */
Datum
pgbank_deposit(PG_FUNCTION_ARGS)
{
	return house_move(fcinfo, LEDGER_HOUSE_FROM);
}

/*
 * SQL function: pgbank.withdraw(account_id bigint, amount bigint, reference text,
 *		idempotency_key text DEFAULT NULL) RETURNS pgbank.transfer_result
 */
Datum
pgbank_withdraw(PG_FUNCTION_ARGS)
{
	return house_move(fcinfo, LEDGER_HOUSE_TO);
}
