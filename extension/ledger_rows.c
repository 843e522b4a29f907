/*
 * ledger_rows.c
 *		The rows of the ledger engine's first and last steps (ledger.h),
 *		without statements: lock the accounts of a call (ledger_lock), and
 *		write its applied moves (ledger_write), that is the new balances of
 *		the changed accounts and one transfer and two entries a move, row by
 *		row with the executor's own routines (those logical replication
 *		applies rows with).
 *
 * Locking is what SELECT ... FOR NO KEY UPDATE does, account by account in
 * ascending id order: a primary-key probe with the statement's snapshot,
 * then the row lock, waiting for a transaction that holds it; in READ
 * COMMITTED the latest version is locked (and must still be the account),
 * in REPEATABLE READ and SERIALIZABLE a version newer than the snapshot is
 * a serialization failure. The privileges checked are the same (UPDATE and
 * SELECT on accounts), and a read-only transaction is refused the same way.
 *
 * A statement would cost each step its executor start-up (for the write,
 * a plan of three data-modifying CTEs and their joins, about a sixth of the
 * time of a whole pgbank.transfer), for rows the engine already has in
 * hand. What any INSERT or UPDATE ... RETURNING does is still done here:
 * the privileges of the current user on the three tables, NOT NULL and
 * CHECK constraints, unique indexes (every index is maintained; an
 * account's new version is a HOT update when it can be), the sequences'
 * nextval, and every trigger.
 *
 * One thing is left out, when it is all a table has: the foreign-key checks
 * of the new transfers and entries (six a move). Each of those references
 * is already satisfied and held by this call: both accounts of a move were
 * locked FOR NO KEY UPDATE by ledger_lock in this transaction, so neither
 * can be deleted or change its id or currency before it commits (that takes
 * FOR UPDATE), and the currency written is the one read under that lock;
 * and the transfer an entry names is inserted just before it, by this
 * transaction. If a table has any trigger other than the foreign-key ones
 * (one a DBA added), every trigger runs, the checks included.
 *
 * A BEFORE ROW trigger on these tables is refused: it could change or drop
 * a row the ledger computed (a balance without its entries).
 *
 * The columns written are named below: all of a new row's (a table with
 * another is an error; the row types' SQL functions keep a DBA from adding
 * one), an updated account's balance and held (it keeps the others).
 * Statement-level triggers fire too, once a call; transition tables are not
 * captured (as when logical replication applies rows), so a trigger that
 * reads them fails.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_relation.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "ledger.h"

/* The columns of a transfer and of an entry, all written. */
enum
{
	T_ID, T_FROM, T_TO, T_AMOUNT, T_CREATED, T_CURRENCY, T_KEY, T_REF, T_NCOLS
};
static const char *const transfer_cols[T_NCOLS] = {
	"id", "from_account_id", "to_account_id", "amount", "created_at",
	"currency", "idempotency_key", "reference"
};

enum
{
	E_ID, E_ACCOUNT, E_AMOUNT, E_CREATED, E_TRANSFER, E_BALANCE, E_NCOLS
};
static const char *const entry_cols[E_NCOLS] = {
	"id", "account_id", "amount", "created_at", "transfer_id", "balance_after"
};

/* An account's columns read when it is locked; balance and held written. */
enum
{
	A_ID, A_BALANCE, A_HELD, A_CURRENCY, A_OWNER, A_NCOLS
};
static const char *const account_cols[A_NCOLS] = {"id", "balance", "held", "currency", "owner"};

/* One table written: opened, its result relation and a slot of its rows. */
typedef struct Table
{
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	int		   *att;			/* column k's index in the row */
} Table;

enum
{
	TAB_ACCOUNTS, TAB_TRANSFERS, TAB_ENTRIES, TAB_N
};

typedef struct Writer
{
	EState	   *estate;
	EPQState	epq;
	Table		tab[TAB_N];
	TupleTableSlot *old_account;	/* the locked version, for the update */
	Oid			transfer_seq;
	Oid			entry_seq;
	bool		rows;			/* the caller wants the written rows back */
	/* the changed accounts' rows, as the set's (NULL: not changed) */
	Datum	  **acc_values;
	bool	  **acc_nulls;
} Writer;

/*
 * Each of the columns named must exist: their indexes in the row. With
 * all, they must be all the table has.
 */
static int *
map_columns(Relation rel, const char *const *names, int n, bool all)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int		   *att = palloc(sizeof(int) * n);
	int			live = 0;

	for (int k = 0; k < n; k++)
	{
		int			attnum = attnameAttNum(rel, names[k], false);

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table pgbank.%s has no column %s",
							RelationGetRelationName(rel), names[k])));
		att[k] = attnum - 1;
	}
	for (int i = 0; i < desc->natts; i++)
		live += !TupleDescAttr(desc, i)->attisdropped;
	if (all && live != n)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table pgbank.%s has columns the ledger does not write",
						RelationGetRelationName(rel))));
	return att;
}

/* A BEFORE ROW trigger of the operation: refused (see the file's comment). */
static void
refuse_before_row(ResultRelInfo *rri, bool update)
{
	TriggerDesc *td = rri->ri_TrigDesc;

	if (td != NULL && (update ? td->trig_update_before_row : td->trig_insert_before_row))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the ledger does not write through BEFORE ROW triggers on table pgbank.%s",
						RelationGetRelationName(rri->ri_RelationDesc)),
				 errhint("A BEFORE ROW trigger could change or skip a row of a transfer; use an AFTER trigger.")));
}

/*
 * Foreign-key checks are skipped on a table whose only triggers are
 * foreign-key ones (the file's comment says why that is safe).
 */
static void
skip_foreign_key_checks(ResultRelInfo *rri)
{
	TriggerDesc *td = rri->ri_TrigDesc;

	if (td == NULL)
		return;
	for (int i = 0; i < td->numtriggers; i++)
		if (RI_FKey_trigger_type(td->triggers[i].tgfoid) == RI_TRIGGER_NONE)
			return;
	rri->ri_TrigDesc = NULL;
}

/*
 * The range table entry of a table written (what error details and
 * column triggers read): its columns, inserted or updated.
 */
static RangeTblEntry *
table_rte(Relation rel, AclMode mode, const int *att, int n, List **perminfos)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	Bitmapset  *cols = NULL;
#if PG_VERSION_NUM >= 160000
	RTEPermissionInfo *perm;
#endif

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	for (int k = 0; k < n; k++)
		cols = bms_add_member(cols, att[k] + 1 - FirstLowInvalidHeapAttributeNumber);
#if PG_VERSION_NUM >= 160000
	perm = addRTEPermissionInfo(perminfos, rte);
	perm->requiredPerms = mode;
	if (mode == ACL_UPDATE)
		perm->updatedCols = cols;
	else
		perm->insertedCols = cols;
#else
	rte->requiredPerms = mode;
	rte->checkAsUser = InvalidOid;
	if (mode == ACL_UPDATE)
		rte->updatedCols = cols;
	else
		rte->insertedCols = cols;
#endif
	return rte;
}

/*
 * The CHECK constraints of the tables written, parsed and planned once a
 * backend: ExecConstraints would parse each stored expression again in
 * every call (a twentieth of a transfer's time). A table's entry is
 * dropped when its relcache entry is invalidated (ALTER TABLE), which
 * happens at the latest when writer_open locks it; only the expressions'
 * states, cheap to build, are made again each call.
 */
typedef struct CheckExprs
{
	Oid			relid;			/* InvalidOid: none kept */
	int			n;
	Expr	  **exprs;
	MemoryContext cxt;
} CheckExprs;

static CheckExprs check_exprs[TAB_N];

/* A relcache invalidation: only flagged, the memory freed at the rebuild. */
static void
forget_check_exprs(Datum arg, Oid relid)
{
	for (int t = 0; t < TAB_N; t++)
		if (!OidIsValid(relid) || relid == check_exprs[t].relid)
			check_exprs[t].relid = InvalidOid;
}

/*
 * Give rri the states of its table's CHECK constraints, as ExecRelCheck
 * would build them (one for each of the relcache's in order), from the
 * kept expressions. (PostgreSQL 18 skips constraints NOT ENFORCED there:
 * it is left to build them itself.)
 */
static void
use_check_exprs(CheckExprs *c, ResultRelInfo *rri, EState *estate)
{
#if PG_VERSION_NUM < 180000
	static bool registered = false;
	Relation	rel = rri->ri_RelationDesc;
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	int			n = constr == NULL ? 0 : constr->num_check;
	MemoryContext old;

	if (n == 0 || n != rel->rd_rel->relchecks)
		return;					/* none, or ExecRelCheck's own error */
	if (!registered)
	{
		CacheRegisterRelcacheCallback(forget_check_exprs, (Datum) 0);
		registered = true;
	}
	if (c->relid != RelationGetRelid(rel) || c->n != n)
	{
		/*
		 * Built in a context of its own, kept only once complete: planning
		 * may read the catalogs, and so process invalidations, meanwhile.
		 */
		MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
												  "pgbank ledger checks",
												  ALLOCSET_SMALL_SIZES);
		Expr	  **exprs;

		c->relid = InvalidOid;
		old = MemoryContextSwitchTo(cxt);
		exprs = palloc(sizeof(Expr *) * n);
		for (int i = 0; i < n; i++)
			exprs[i] = expression_planner((Expr *) stringToNode(constr->check[i].ccbin));
		MemoryContextSwitchTo(old);
		if (c->cxt != NULL)
			MemoryContextDelete(c->cxt);
		MemoryContextSetParent(cxt, TopMemoryContext);
		c->cxt = cxt;
		c->exprs = exprs;
		c->n = n;
		c->relid = RelationGetRelid(rel);
	}
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	rri->ri_ConstraintExprs = palloc(sizeof(ExprState *) * n);
	for (int i = 0; i < n; i++)
		rri->ri_ConstraintExprs[i] = ExecInitExpr(c->exprs[i], NULL);
	MemoryContextSwitchTo(old);
#endif
}

static Oid
ledger_relid(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "pgbank: relation pgbank.%s does not exist", name);
	return relid;
}

/*
 * The current user's privileges on a ledger table: every one of modes (a
 * statement would need them: its rows are returned to the caller).
 */
static void
require_privileges(Oid relid, const char *name, AclMode modes)
{
	for (AclMode m = 1; m != 0 && m <= modes; m <<= 1)
		if ((modes & m) != 0 && pg_class_aclcheck(relid, GetUserId(), m) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, name);
}

/* ----- locking ----- */

static int
cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : x > y;
}

/* Row-level security would filter rows for a statement: not for these. */
static void
refuse_row_security(Relation rel)
{
	if (check_enable_rls(RelationGetRelid(rel), InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the ledger does not move money under row-level security on table pgbank.%s",
						RelationGetRelationName(rel))));
}

/*
 * Lock the version of the account in slot (found with the active snapshot)
 * as FOR NO KEY UPDATE does; false if it is gone (or is no longer account
 * id, the recheck a statement would make). The slot then holds the version
 * locked.
 */
static bool
lock_account(Relation rel, TupleTableSlot *slot, int64 id, int id_att)
{
	TM_FailureData tmfd;
	bool		xact_snapshot = IsolationUsesXactSnapshot();
	TM_Result	r;
	bool		isnull;

	r = table_tuple_lock(rel, &slot->tts_tid, GetActiveSnapshot(), slot,
						 GetCurrentCommandId(false), LockTupleNoKeyExclusive,
						 LockWaitBlock, xact_snapshot ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
						 &tmfd);
	switch (r)
	{
		case TM_Ok:
			return !tmfd.traversed ||
				(DatumGetInt64(slot_getattr(slot, id_att + 1, &isnull)) == id && !isnull);
		case TM_Updated:
		case TM_Deleted:
			if (xact_snapshot)
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			return false;
		case TM_SelfModified:
			/* changed by a later command of this transaction: as a statement, skip */
			return false;
		default:
			elog(ERROR, "pgbank: unexpected table_tuple_lock status %d", (int) r);
	}
	pg_unreachable();
}

/*
 * Lock the accounts of ids (any order, repeats allowed), in ascending id
 * order; the set holds those that exist, sorted by id, each with its
 * version locked.
 */
void
ledger_lock(LedgerSet *set, const int64 *ids, int n)
{
	int64	   *sorted = palloc(sizeof(int64) * Max(n, 1));
	int			distinct = 0;
	Oid			relid = ledger_relid(get_namespace_oid("pgbank", false), "accounts");
	Relation	rel;
	Relation	idx;
	int		   *att;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	ScanKeyData key;

	require_privileges(relid, "accounts", ACL_SELECT | ACL_UPDATE);
	PreventCommandIfReadOnly("SELECT FOR NO KEY UPDATE");
	PreventCommandIfParallelMode("SELECT FOR NO KEY UPDATE");

	memcpy(sorted, ids, sizeof(int64) * n);
	qsort(sorted, n, sizeof(int64), cmp_int64);
	for (int i = 0; i < n; i++)
		if (distinct == 0 || sorted[distinct - 1] != sorted[i])
			sorted[distinct++] = sorted[i];

	/* a statement's snapshot, seeing this transaction's earlier writes */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(relid, RowShareLock);
	refuse_row_security(rel);
	att = map_columns(rel, account_cols, A_NCOLS, false);
	idx = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, GetActiveSnapshot(), 1, 0);

	set->n = 0;
	set->acc = palloc0(sizeof(LedgerAccount) * Max(distinct, 1));
	for (int i = 0; i < distinct; i++)
	{
		LedgerAccount *a = &set->acc[set->n];
		bool		isnull;

		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(sorted[i]));
		index_rescan(scan, &key, 1, NULL, 0);
		if (!index_getnext_slot(scan, ForwardScanDirection, slot) ||
			!lock_account(rel, slot, sorted[i], att[A_ID]))
			continue;
		a->id = sorted[i];
		a->balance = DatumGetInt64(slot_getattr(slot, att[A_BALANCE] + 1, &isnull));
		a->held = DatumGetInt64(slot_getattr(slot, att[A_HELD] + 1, &isnull));
		text_to_cstring_buffer(DatumGetTextPP(slot_getattr(slot, att[A_CURRENCY] + 1, &isnull)),
							   a->currency, sizeof(a->currency));
		slot_getattr(slot, att[A_OWNER] + 1, &a->house);
		ItemPointerCopy(&slot->tts_tid, &a->tid);
		set->n++;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	PopActiveSnapshot();
}

/* The locked row of an account, or NULL (id is LedgerAccount's first field). */
LedgerAccount *
ledger_find(LedgerSet *set, int64 id)
{
	LedgerAccount key = {.id = id};

	return bsearch(&key, set->acc, set->n, sizeof(LedgerAccount), cmp_int64);
}

/* ----- writing ----- */

static void
writer_open(Writer *w, int naccounts)
{
	static const char *const names[TAB_N] = {"accounts", "transfers", "entries"};
	static const AclMode modes[TAB_N] = {ACL_UPDATE, ACL_INSERT, ACL_INSERT};
	static const AclMode needed[TAB_N] = {ACL_SELECT | ACL_UPDATE, ACL_SELECT | ACL_INSERT,
	ACL_SELECT | ACL_INSERT};
	Oid			nsp = get_namespace_oid("pgbank", false);
	List	   *rtable = NIL;
	List	   *perminfos = NIL;
	Bitmapset  *rtis = NULL;
	MemoryContext old;

	w->estate = CreateExecutorState();
	w->estate->es_output_cid = GetCurrentCommandId(true);
	w->estate->es_snapshot = GetActiveSnapshot();
	old = MemoryContextSwitchTo(w->estate->es_query_cxt);
	for (int t = 0; t < TAB_N; t++)
	{
		Table	   *tab = &w->tab[t];
		Oid			relid = ledger_relid(nsp, names[t]);

		require_privileges(relid, names[t], needed[t]);
		tab->rel = table_open(relid, RowExclusiveLock);
		if (tab->rel->rd_rel->relkind != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pgbank.%s is not a plain table", names[t])));
		if (t == TAB_ACCOUNTS)
			tab->att = map_columns(tab->rel, account_cols, A_NCOLS, false);
		else if (t == TAB_TRANSFERS)
			tab->att = map_columns(tab->rel, transfer_cols, T_NCOLS, true);
		else
			tab->att = map_columns(tab->rel, entry_cols, E_NCOLS, true);
		rtable = lappend(rtable, t == TAB_ACCOUNTS ?
						 table_rte(tab->rel, modes[t], tab->att + A_BALANCE, 2, &perminfos) :
						 table_rte(tab->rel, modes[t], tab->att,
								   t == TAB_TRANSFERS ? T_NCOLS : E_NCOLS, &perminfos));
		rtis = bms_add_member(rtis, t + 1);
	}
#if PG_VERSION_NUM >= 180000
	ExecInitRangeTable(w->estate, rtable, perminfos, rtis);
#elif PG_VERSION_NUM >= 160000
	ExecInitRangeTable(w->estate, rtable, perminfos);
#else
	ExecInitRangeTable(w->estate, rtable);
#endif
	for (int t = 0; t < TAB_N; t++)
	{
		Table	   *tab = &w->tab[t];

		tab->rri = makeNode(ResultRelInfo);
		InitResultRelInfo(tab->rri, tab->rel, t + 1, NULL, 0);
		refuse_before_row(tab->rri, t == TAB_ACCOUNTS);
		refuse_row_security(tab->rel);
		ExecOpenIndices(tab->rri, false);
		/* where the triggers fired at the end look for it */
		w->estate->es_opened_result_relations =
			lappend(w->estate->es_opened_result_relations, tab->rri);
		if (t != TAB_ACCOUNTS)
			skip_foreign_key_checks(tab->rri);
		use_check_exprs(&check_exprs[t], tab->rri, w->estate);
		tab->slot = ExecInitExtraTupleSlot(w->estate, RelationGetDescr(tab->rel),
										   &TTSOpsVirtual);
	}
	w->old_account = ExecInitExtraTupleSlot(w->estate, RelationGetDescr(w->tab[TAB_ACCOUNTS].rel),
											table_slot_callbacks(w->tab[TAB_ACCOUNTS].rel));
#if PG_VERSION_NUM >= 160000
	EvalPlanQualInit(&w->epq, w->estate, NULL, NIL, -1, NIL);
#else
	EvalPlanQualInit(&w->epq, w->estate, NULL, NIL, -1);
#endif
	MemoryContextSwitchTo(old);

	w->transfer_seq = ledger_relid(nsp, "transfers_id_seq");
	w->entry_seq = ledger_relid(nsp, "entries_id_seq");
	w->acc_values = palloc0(sizeof(Datum *) * Max(naccounts, 1));
	w->acc_nulls = palloc0(sizeof(bool *) * Max(naccounts, 1));
}

static void
writer_close(Writer *w)
{
	EvalPlanQualEnd(&w->epq);
	/* their indexes, and any relation a trigger opened */
	ExecCloseResultRelations(w->estate);
	for (int t = 0; t < TAB_N; t++)
		table_close(w->tab[t].rel, NoLock);
	ExecResetTupleTable(w->estate->es_tupleTable, false);
	FreeExecutorState(w->estate);
}

/*
 * Update each changed account of the set to its final balance and held.
 * The version updated is the one ledger_lock locked (its tid): the lock is
 * held, so no other transaction can have made a newer one.
 */
static void
update_accounts(Writer *w, const LedgerSet *set)
{
	Table	   *tab = &w->tab[TAB_ACCOUNTS];
	TupleDesc	desc = RelationGetDescr(tab->rel);

	for (int i = 0; i < set->n; i++)
	{
		const LedgerAccount *a = &set->acc[i];
		TupleTableSlot *slot = tab->slot;
		Datum	   *values;
		bool	   *nulls;

		if (!a->dirty)
			continue;
		if (!table_tuple_fetch_row_version(tab->rel, (ItemPointer) &a->tid, SnapshotAny,
										   w->old_account))
			elog(ERROR, "pgbank: locked account %lld not found", (long long) a->id);
		slot_getallattrs(w->old_account);
		if (w->old_account->tts_isnull[tab->att[A_ID]] ||
			DatumGetInt64(w->old_account->tts_values[tab->att[A_ID]]) != a->id)
			elog(ERROR, "pgbank: locked row of account %lld moved", (long long) a->id);

		values = w->old_account->tts_values;
		nulls = w->old_account->tts_isnull;
		if (w->rows)
		{
			/* kept, by-reference values copied, for the rows of the moves */
			values = palloc(sizeof(Datum) * desc->natts);
			nulls = palloc(sizeof(bool) * desc->natts);
			for (int c = 0; c < desc->natts; c++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, c);

				nulls[c] = w->old_account->tts_isnull[c];
				values[c] = nulls[c] ? (Datum) 0 :
					datumCopy(w->old_account->tts_values[c], att->attbyval, att->attlen);
			}
			w->acc_values[i] = values;
			w->acc_nulls[i] = nulls;
		}

		ExecClearTuple(slot);
		memcpy(slot->tts_values, values, sizeof(Datum) * desc->natts);
		memcpy(slot->tts_isnull, nulls, sizeof(bool) * desc->natts);
		slot->tts_values[tab->att[A_BALANCE]] = Int64GetDatum(a->balance);
		slot->tts_values[tab->att[A_HELD]] = Int64GetDatum(a->held);
		ExecStoreVirtualTuple(slot);
		ExecSimpleRelationUpdate(tab->rri, w->estate, &w->epq, w->old_account, slot);
		ResetPerTupleExprContext(w->estate);
	}
}

/* An account's row as a move left it: a pgbank.accounts value. */
static Datum
account_after(Writer *w, LedgerSet *set, int64 id, int64 balance, int64 held)
{
	Table	   *tab = &w->tab[TAB_ACCOUNTS];
	TupleDesc	desc = RelationGetDescr(tab->rel);
	int			i = ledger_find(set, id) - set->acc;
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);

	memcpy(values, w->acc_values[i], sizeof(Datum) * desc->natts);
	values[tab->att[A_BALANCE]] = Int64GetDatum(balance);
	values[tab->att[A_HELD]] = Int64GetDatum(held);
	return HeapTupleGetDatum(heap_form_tuple(desc, values, w->acc_nulls[i]));
}

/*
 * Insert the row in tab's slot; return it as a value of the row type, or 0
 * when the caller wants no rows.
 */
static Datum
insert_row(Writer *w, Table *tab)
{
	TupleTableSlot *slot = tab->slot;
	Datum		row = (Datum) 0;

	ExecStoreVirtualTuple(slot);
	ExecSimpleRelationInsert(tab->rri, w->estate, slot);
	if (w->rows)
		row = HeapTupleGetDatum(heap_form_tuple(slot->tts_tupleDescriptor,
												slot->tts_values, slot->tts_isnull));
	ResetPerTupleExprContext(w->estate);
	return row;
}

/* A slot of tab cleared to all NULLs, for its values to be set. */
static TupleTableSlot *
empty_row(Table *tab)
{
	TupleTableSlot *slot = tab->slot;

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	return slot;
}

#define SET(slot, tab, k, v) \
	((slot)->tts_values[(tab)->att[k]] = (v), (slot)->tts_isnull[(tab)->att[k]] = false)

static Datum
insert_entry(Writer *w, int64 transfer_id, int64 account, int64 amount,
			 int64 balance_after, TimestampTz now)
{
	Table	   *tab = &w->tab[TAB_ENTRIES];
	TupleTableSlot *slot = empty_row(tab);

	SET(slot, tab, E_ID, Int64GetDatum(nextval_internal(w->entry_seq, true)));
	SET(slot, tab, E_ACCOUNT, Int64GetDatum(account));
	SET(slot, tab, E_AMOUNT, Int64GetDatum(amount));
	SET(slot, tab, E_CREATED, TimestampTzGetDatum(now));
	SET(slot, tab, E_TRANSFER, Int64GetDatum(transfer_id));
	SET(slot, tab, E_BALANCE, Int64GetDatum(balance_after));
	return insert_row(w, tab);
}

/* One move's transfer and its two entries (paying side first). */
static void
write_move(Writer *w, LedgerSet *set, const LedgerMove *m, TimestampTz now,
		   LedgerWritten *out)
{
	Table	   *tab = &w->tab[TAB_TRANSFERS];
	TupleTableSlot *slot = empty_row(tab);
	int64		id = nextval_internal(w->transfer_seq, true);

	SET(slot, tab, T_ID, Int64GetDatum(id));
	SET(slot, tab, T_FROM, Int64GetDatum(m->from));
	SET(slot, tab, T_TO, Int64GetDatum(m->to));
	SET(slot, tab, T_AMOUNT, Int64GetDatum(m->amount));
	SET(slot, tab, T_CREATED, TimestampTzGetDatum(now));
	SET(slot, tab, T_CURRENCY, CStringGetTextDatum(m->account_currency));
	if (m->key != NULL)
		SET(slot, tab, T_KEY, PointerGetDatum(m->key));
	if (m->reference != NULL)
		SET(slot, tab, T_REF, PointerGetDatum(m->reference));
	out->transfer_id = id;
	out->cols[0] = insert_row(w, tab);
	if (w->rows)
	{
		out->cols[1] = account_after(w, set, m->from, m->from_balance, m->from_held);
		out->cols[2] = account_after(w, set, m->to, m->to_balance, m->to_held);
	}
	out->cols[3] = insert_entry(w, id, m->from, -m->amount, m->from_balance, now);
	out->cols[4] = insert_entry(w, id, m->to, m->amount, m->to_balance, now);
}

/*
 * Write n applied moves and the changed accounts of the set: one
 * transfer_result's columns a move (with rows; else only the transfer ids,
 * the columns 0), in order, in the caller's memory.
 * Transfer ids are drawn in move order and entries inserted in move order,
 * so an account's entries are in the order they were applied.
 */
LedgerWritten *
ledger_write(LedgerSet *set, LedgerMove *moves, int n, bool rows)
{
	/*
	 * Taken with every account locked: later than any entry already
	 * committed on them, so an account's entries sort as applied.
	 */
	TimestampTz now = GetCurrentTimestamp();
	LedgerWritten *out = palloc0(sizeof(LedgerWritten) * n);
	Writer		w;

	/* what a writing statement checks first, and its new command */
	PreventCommandIfReadOnly("INSERT");
	PreventCommandIfParallelMode("INSERT");
	CommandCounterIncrement();
	writer_open(&w, set->n);
	w.rows = rows;
	AfterTriggerBeginQuery();
	ExecBSUpdateTriggers(w.estate, w.tab[TAB_ACCOUNTS].rri);
	ExecBSInsertTriggers(w.estate, w.tab[TAB_TRANSFERS].rri);
	ExecBSInsertTriggers(w.estate, w.tab[TAB_ENTRIES].rri);
	update_accounts(&w, set);
	for (int i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		write_move(&w, set, &moves[i], now, &out[i]);
	}
	ExecASUpdateTriggers(w.estate, w.tab[TAB_ACCOUNTS].rri, NULL);
	ExecASInsertTriggers(w.estate, w.tab[TAB_TRANSFERS].rri, NULL);
	ExecASInsertTriggers(w.estate, w.tab[TAB_ENTRIES].rri, NULL);
	AfterTriggerEndQuery(w.estate);
	writer_close(&w);
	return out;
}
