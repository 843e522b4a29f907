/*
 * batch.c
 *		Many transfers in one call: pgbank.transfer_batch (all or none) and
 *		pgbank.transfer_each (each item on its own).
 *
 * Both lock every account their items name once (ledger_lock), in
 * ascending id order (ledger.h), so a batch never deadlocks with a single
 * transfer or another batch, whatever the order of its items; then check
 * and apply the items in order in memory, each seeing the ones before it,
 * and write them all (ledger_write). One call is one commit.
 *
 * transfer_batch raises the first refusal, naming the item (from 0), and so
 * rolls back the whole call. transfer_each instead answers every item as
 * pgbank.transfer would have answered it alone: its result, or the SQLSTATE,
 * message and detail of its error; the refused items change nothing, with
 * no savepoint, because they are refused before anything is written. It is
 * what a front end needs to coalesce concurrent transfer requests into one
 * transaction.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "ledger.h"

PG_FUNCTION_INFO_V1(pgbank_transfer_batch);
PG_FUNCTION_INFO_V1(pgbank_transfer_each);

/* The items of a call, read from its array arguments. */
typedef struct Items
{
	int			n;
	LedgerMove *moves;
	bool	   *null_args;		/* from, to or amount NULL */
} Items;

static void
batch_size_error(const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_PGBANK_BATCH_SIZE),
			 errmsg("a batch %s", what),
			 errdetail("A batch has 1 to %d items, one element of each array per item.",
					   LEDGER_MAX_ITEMS)));
}

/* Deconstruct argument argno (a one-dimensional array, or NULL). */
static int
array_arg(FunctionCallInfo fcinfo, int argno, Oid elemtype, Datum **values,
		  bool **nulls)
{
	ArrayType  *a;
	int16		typlen;
	bool		byval;
	char		align;
	int			n;

	if (PG_ARGISNULL(argno))
		return -1;
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(a) > 1)
		batch_size_error("takes one-dimensional arrays");
	get_typlenbyvalalign(elemtype, &typlen, &byval, &align);
	deconstruct_array(a, elemtype, typlen, byval, align, values, nulls, &n);
	return n;
}

/*
 * Items from arguments: from[], to[], amounts[], then the optional text
 * arrays at key_arg (or -1), currency_arg and ref_arg, each NULL or of the
 * items' length.
 */
static void
read_items(FunctionCallInfo fcinfo, Items *items, int currency_arg, int key_arg,
		   int ref_arg)
{
	Datum	   *v[6] = {0};
	bool	   *nl[6] = {0};
	int			len[6];
	int			argnos[6] = {0, 1, 2, currency_arg, key_arg, ref_arg};
	Oid			types[6] = {INT8OID, INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID};
	int			n;

	for (int c = 0; c < 6; c++)
		len[c] = argnos[c] < 0 ? -1 : array_arg(fcinfo, argnos[c], types[c], &v[c], &nl[c]);
	if (len[0] < 0 || len[1] < 0 || len[2] < 0)
		batch_size_error("needs from_account_ids, to_account_ids and amounts");
	n = len[0];
	for (int c = 0; c < 6; c++)
		if (len[c] >= 0 && len[c] != n)
			batch_size_error("takes arrays of one length");
	if (n < 1 || n > LEDGER_MAX_ITEMS)
		batch_size_error(psprintf("of %d items is out of range", n));

	items->n = n;
	items->moves = palloc0(sizeof(LedgerMove) * n);
	items->null_args = palloc0(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
	{
		LedgerMove *m = &items->moves[i];

		items->null_args[i] = nl[0][i] || nl[1][i] || nl[2][i];
		if (!items->null_args[i])
		{
			m->from = DatumGetInt64(v[0][i]);
			m->to = DatumGetInt64(v[1][i]);
			m->amount = DatumGetInt64(v[2][i]);
		}
		if (len[3] >= 0 && !nl[3][i])
			m->currency = TextDatumGetCString(v[3][i]);
		if (len[4] >= 0 && !nl[4][i])
			m->key = DatumGetTextPP(v[4][i]);
		if (len[5] >= 0 && !nl[5][i])
			m->reference = DatumGetTextPP(v[5][i]);
	}
}

/* The static checks of item i, NULLs first (as pgbank.transfer). */
static bool
check_item(const Items *items, int i, LedgerError *err)
{
	if (items->null_args[i])
	{
		err->sqlerrcode = ERRCODE_NULL_VALUE_NOT_ALLOWED;
		err->message = "from_account_id, to_account_id and amount must not be null";
		err->detail = NULL;
		err->field = NULL;
		return false;
	}
	return ledger_check_args(&items->moves[i], err);
}

static void
lock_items(LedgerSet *set, const Items *items, const bool *skip)
{
	int64	   *ids = palloc(sizeof(int64) * items->n * 2);
	int			n = 0;

	for (int i = 0; i < items->n; i++)
	{
		if (skip[i])
			continue;
		ids[n++] = items->moves[i].from;
		ids[n++] = items->moves[i].to;
	}
	ledger_lock(set, ids, n);
}

/*
 * SQL function: pgbank.transfer_batch(from_account_ids bigint[],
 *		to_account_ids bigint[], amounts bigint[], currencies text[] DEFAULT NULL,
 *		refs text[] DEFAULT NULL) RETURNS bigint[]
 */
Datum
pgbank_transfer_batch(PG_FUNCTION_ARGS)
{
	Items		items;
	LedgerError err;
	LedgerSet	set;
	bool	   *none;
	LedgerWritten *written;
	Datum	   *ids;
	MemoryContext cxt = CurrentMemoryContext;
	ArrayType  *result;

	read_items(fcinfo, &items, 3, -1, 4);
	for (int i = 0; i < items.n; i++)
		if (!check_item(&items, i, &err))
			ledger_throw(&err, i);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgbank: SPI_connect failed");
	ledger_prepare();
	none = palloc0(sizeof(bool) * items.n);
	lock_items(&set, &items, none);
	for (int i = 0; i < items.n; i++)
		if (!ledger_apply(&set, &items.moves[i], LEDGER_HOUSE_NONE, &err))
			ledger_throw(&err, i);
	written = ledger_write(&set, items.moves, items.n, false);

	ids = MemoryContextAlloc(cxt, sizeof(Datum) * items.n);
	for (int i = 0; i < items.n; i++)
		ids[i] = Int64GetDatum(written[i].transfer_id);
	SPI_finish();
	result = construct_array(ids, items.n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
							 TYPALIGN_DOUBLE);
	PG_RETURN_ARRAYTYPE_P(result);
}

/* ----- transfer_each ----- */

typedef enum ItemState
{
	ITEM_OPEN,					/* passed the checks so far */
	ITEM_REFUSED,
	ITEM_REPLAYED,				/* a key seen in an earlier call */
	ITEM_APPLIED,
	ITEM_REPEAT					/* a key of an earlier item of this call */
} ItemState;

typedef struct EachState
{
	ItemState  *state;
	LedgerError *err;
	Datum	   *result;			/* in the caller's context */
	int		   *first;			/* ITEM_REPEAT: the earlier item */
} EachState;

/* The earlier item of this call that used item i's paying account and key. */
static int
earlier_with_key(const Items *items, const EachState *st, int i)
{
	const LedgerMove *m = &items->moves[i];

	for (int j = 0; j < i; j++)
	{
		const LedgerMove *o = &items->moves[j];

		if ((st->state[j] == ITEM_APPLIED || st->state[j] == ITEM_REPLAYED ||
			 st->state[j] == ITEM_REPEAT) && o->key != NULL && o->from == m->from &&
			VARSIZE_ANY_EXHDR(o->key) == VARSIZE_ANY_EXHDR(m->key) &&
			memcmp(VARDATA_ANY(o->key), VARDATA_ANY(m->key), VARSIZE_ANY_EXHDR(m->key)) == 0)
			return st->state[j] == ITEM_REPEAT ? st->first[j] : j;
	}
	return -1;
}

/*
 * Item i repeats the key of earlier item j: the same arguments get j's
 * answer, others the conflict pgbank.transfer would raise.
 */
static void
repeat_item(const Items *items, EachState *st, int i, int j)
{
	const LedgerMove *m = &items->moves[i];
	const LedgerMove *o = &items->moves[j];
	const char *cur = o->account_currency ? o->account_currency : o->currency;

	if (m->to != o->to || m->amount != o->amount ||
		(m->currency != NULL && cur != NULL && strcmp(m->currency, cur) != 0))
	{
		st->state[i] = ITEM_REFUSED;
		st->err[i].sqlerrcode = ERRCODE_PGBANK_IDEMPOTENCY_CONFLICT;
		st->err[i].message = "idempotency key already used for a different transfer";
		st->err[i].detail = "A key may be reused only with the same accounts, amount and currency.";
		st->err[i].field = NULL;
		return;
	}
	st->state[i] = ITEM_REPEAT;
	st->first[i] = j;
}

/* Replay the items whose keys earlier calls used (keys locked first). */
static void
replay_keys(const Items *items, EachState *st, TupleDesc resdesc, MemoryContext cxt)
{
	LedgerMove *keyed = palloc(sizeof(LedgerMove) * items->n);
	int		   *which = palloc(sizeof(int) * items->n);
	int		   *row_of = palloc(sizeof(int) * items->n);
	int			nkeyed = 0;

	for (int i = 0; i < items->n; i++)
		if (st->state[i] == ITEM_OPEN && items->moves[i].key != NULL)
		{
			keyed[nkeyed] = items->moves[i];
			which[nkeyed++] = i;
		}
	if (nkeyed == 0)
		return;
	ledger_lock_keys(keyed, nkeyed);
	if (ledger_find_keys(keyed, nkeyed, row_of) == 0)
		return;
	for (int k = 0; k < nkeyed; k++)
	{
		int			i = which[k];

		if (row_of[k] < 0)
			continue;
		if (!ledger_key_matches(&keyed[k], row_of[k], &st->err[i]))
			st->state[i] = ITEM_REFUSED;
		else
		{
			st->state[i] = ITEM_REPLAYED;
			st->result[i] = ledger_result(resdesc, row_of[k], 6, cxt);
		}
	}
}

/* Apply the open items in order and write the applied ones. */
static void
apply_items(Items *items, EachState *st, TupleDesc resdesc, MemoryContext cxt)
{
	LedgerSet	set;
	bool	   *skip = palloc(sizeof(bool) * items->n);
	LedgerMove *applied = palloc(sizeof(LedgerMove) * items->n);
	int		   *which = palloc(sizeof(int) * items->n);
	int			napplied = 0;
	LedgerWritten *written;

	for (int i = 0; i < items->n; i++)
		skip[i] = st->state[i] != ITEM_OPEN;
	lock_items(&set, items, skip);
	for (int i = 0; i < items->n; i++)
	{
		int			j;

		if (st->state[i] != ITEM_OPEN)
			continue;
		if (items->moves[i].key != NULL && (j = earlier_with_key(items, st, i)) >= 0)
		{
			repeat_item(items, st, i, j);
			continue;
		}
		if (!ledger_apply(&set, &items->moves[i], LEDGER_HOUSE_NONE, &st->err[i]))
		{
			st->state[i] = ITEM_REFUSED;
			continue;
		}
		st->state[i] = ITEM_APPLIED;
		applied[napplied] = items->moves[i];
		which[napplied++] = i;
	}
	if (napplied == 0)
		return;
	written = ledger_write(&set, applied, napplied, true);
	for (int k = 0; k < napplied; k++)
		st->result[which[k]] = ledger_result_written(resdesc, &written[k], cxt);
}

/* A row of the answer: the item, its result or its error. */
static void
emit_item(ReturnSetInfo *rsinfo, const EachState *st, int i)
{
	Datum		values[5] = {Int32GetDatum(i), 0, 0, 0, 0};
	bool		nulls[5] = {false, true, true, true, true};
	ItemState	s = st->state[i];
	int			from = s == ITEM_REPEAT ? st->first[i] : i;

	if (s == ITEM_REFUSED)
	{
		const LedgerError *e = &st->err[i];

		values[2] = CStringGetTextDatum(unpack_sql_state(e->sqlerrcode));
		values[3] = CStringGetTextDatum(e->message);
		nulls[2] = nulls[3] = false;
		if (e->detail != NULL)
		{
			values[4] = CStringGetTextDatum(e->detail);
			nulls[4] = false;
		}
	}
	else
	{
		values[1] = st->result[from];
		nulls[1] = false;
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * SQL function: pgbank.transfer_each(from_account_ids bigint[],
 *		to_account_ids bigint[], amounts bigint[], currencies text[] DEFAULT NULL,
 *		idempotency_keys text[] DEFAULT NULL, refs text[] DEFAULT NULL)
 *		RETURNS TABLE (item integer, result pgbank.transfer_result,
 *		sqlstate text, message text, detail text)
 */
Datum
pgbank_transfer_each(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Items		items;
	EachState	st;
	TupleDesc	resdesc;
	MemoryContext cxt = CurrentMemoryContext;

	read_items(fcinfo, &items, 3, 4, 5);
	InitMaterializedSRF(fcinfo, 0);
	resdesc = lookup_rowtype_tupdesc_copy(TupleDescAttr(rsinfo->setDesc, 1)->atttypid, -1);
	resdesc = BlessTupleDesc(resdesc);

	st.state = palloc0(sizeof(ItemState) * items.n);
	st.err = palloc0(sizeof(LedgerError) * items.n);
	st.result = palloc0(sizeof(Datum) * items.n);
	st.first = palloc0(sizeof(int) * items.n);
	for (int i = 0; i < items.n; i++)
		if (!check_item(&items, i, &st.err[i]))
			st.state[i] = ITEM_REFUSED;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgbank: SPI_connect failed");
	ledger_prepare();
	replay_keys(&items, &st, resdesc, cxt);
	apply_items(&items, &st, resdesc, cxt);
	/* before SPI_finish: the refusals' texts live in SPI's memory */
	for (int i = 0; i < items.n; i++)
		emit_item(rsinfo, &st, i);
	SPI_finish();
	return (Datum) 0;
}
