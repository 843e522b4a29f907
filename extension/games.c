/*
 * games.c
 *		The game results functions: pgbank.game_create, game_get, game_list,
 *		game_update, game_delete and game_table (sql/src/60_games.sql).
 *
 * Everything about a game comes from its registry row (pgbank.games). The
 * first call for a game in a backend reads the row and the game's
 * statements (pgbank.game_statements, built in SQL from the row) into a
 * cache; each statement is prepared on first use and its plan kept. A
 * change of the registry (the trigger games_changed) or of a cached game's
 * table sends a relcache invalidation, and the next call starts from an
 * empty cache. So no call plans a statement, and adding a game is still only
 * a registration. A get reads its row without running its statement, where
 * the table lets it be read exactly as the statement would
 * (game_get_direct).
 *
 * A body is checked against the game's fields as docs/games.md says, the
 * first problem reported: no \u0000, a JSON object, no unknown field, no
 * field twice, each value of its type and range (in registry order), then
 * (on create) each required field present.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heaptoast.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_opfamily_d.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/jsonapi.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/plancache.h"
#include "utils/resowner.h"
#include "utils/jsonfuncs.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "errors.h"
#include "pgbank.h"
#include "spi_plans.h"

PG_FUNCTION_INFO_V1(pgbank_game_create);
PG_FUNCTION_INFO_V1(pgbank_game_get);
PG_FUNCTION_INFO_V1(pgbank_game_list);
PG_FUNCTION_INFO_V1(pgbank_game_update);
PG_FUNCTION_INFO_V1(pgbank_game_delete);
PG_FUNCTION_INFO_V1(pgbank_game_table);
PG_FUNCTION_INFO_V1(pgbank_games_changed);

/* A game's statements, in pgbank.game_statements' column order. */
typedef enum GameOp
{
	GAME_CREATE,
	GAME_GET,
	GAME_LIST,
	GAME_UPDATE,
	GAME_DELETE,
	GAME_TABLE,
	GAME_NOPS
} GameOp;

typedef enum GameFieldType
{
	FIELD_INTEGER,
	FIELD_TEXT,
	FIELD_DATE,
	FIELD_TEXTS					/* text[] */
} GameFieldType;

/* One registry field, as game_check_field in docs/games.md reads it. */
typedef struct GameField
{
	char	   *name;
	GameFieldType type;
	bool		required;
	char	   *derived_from;	/* NULL unless a client may not send it */
	char	   *min_text;		/* integer, date: as the registry has it */
	char	   *max_text;
	int64		min;			/* integer */
	int64		max;
	DateADT		min_date;		/* date */
	int			max_length;		/* text, text[] */
	int			nvalues;		/* text: the allowed strings, if any */
	char	  **values;
	char	   *values_text;	/* "a, b, c" */
	int			max_items;		/* text[] */
	int			param;			/* its place among the settable fields, or -1 */
} GameField;

typedef struct GameEntry
{
	char		slug[NAMEDATALEN];	/* hash key */
	Oid			table;
	int			nfields;
	GameField  *fields;
	int			nsettable;
	char	   *sql[GAME_NOPS];
	SPIPlanPtr	plans[GAME_NOPS];
} GameEntry;

/* A value of the body: one top-level field. */
typedef enum BodyKind
{
	BODY_STRING,
	BODY_NUMBER,
	BODY_SCALAR,				/* true, false, null */
	BODY_OBJECT,
	BODY_ARRAY
} BodyKind;

typedef struct BodyValue
{
	char	   *key;
	BodyKind	kind;
	char	   *scalar;			/* STRING, NUMBER */
	List	   *strings;		/* ARRAY: its string elements */
	int			nitems;			/* ARRAY: all its elements */
} BodyValue;

typedef struct BodyState
{
	int			depth;
	bool		object;			/* the top is an object */
	List	   *values;			/* BodyValue *, in body order */
	BodyValue  *current;
} BodyState;

static MemoryContext games_context = NULL;
static HTAB *games_cache = NULL;
static bool games_stale = false;
static Oid	games_relid = InvalidOid;

/* ----- the cache ----- */

static void
games_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	GameEntry  *g;

	if (games_cache == NULL || games_stale)
		return;
	if (relid == InvalidOid || relid == games_relid)
	{
		games_stale = true;
		return;
	}
	hash_seq_init(&seq, games_cache);
	while ((g = hash_seq_search(&seq)) != NULL)
	{
		if (g->table == relid)
		{
			games_stale = true;
			hash_seq_term(&seq);
			break;
		}
	}
}

void
pgbank_games_init(void)
{
	CacheRegisterRelcacheCallback(games_relcache_callback, (Datum) 0);
}

/* Drop every game (and its plans) when the registry or a table changed. */
static void
games_reset(void)
{
	HASH_SEQ_STATUS seq;
	GameEntry  *g;
	int			op;

	if (games_cache != NULL)
	{
		hash_seq_init(&seq, games_cache);
		while ((g = hash_seq_search(&seq)) != NULL)
			for (op = 0; op < GAME_NOPS; op++)
				if (g->plans[op] != NULL)
					SPI_freeplan(g->plans[op]);
	}
	if (games_context == NULL)
		games_context = AllocSetContextCreate(TopMemoryContext, "pgbank games",
											  ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(games_context);
	games_cache = NULL;
	games_relid = InvalidOid;
	games_stale = false;
}

static void
unknown_game(const char *game)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("unknown game %s", game),
			 errdetail("Field: game."),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "game")));
}

static void
result_not_found(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("result not found"),
			 errdetail("Field: id."),
			 err_generic_string(PG_DIAG_COLUMN_NAME, "id")));
}

/*
 * Run a one-off query of the registry with the newest snapshot, so that a
 * cache built after an invalidation sees the change that sent it.
 */
static void
registry_query(const char *sql, const char *slug)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	SPIPlanPtr	plan = SPI_prepare(sql, 1, argtypes);
	int			rc;

	if (plan == NULL)
		elog(ERROR, "pgbank: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	values[0] = CStringGetTextDatum(slug);
	rc = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(), InvalidSnapshot,
							  true, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "pgbank: SPI_execute_snapshot failed: %s", SPI_result_code_string(rc));
	SPI_freeplan(plan);
}

/* Column i (from 1) of row 0 of the last query, as a copy in games_context. */
static char *
cached_text(int row, int col)
{
	char	   *s = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	return s == NULL ? NULL : MemoryContextStrdup(games_context, s);
}

static int
cached_int(int row, int col, int otherwise)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? otherwise : DatumGetInt32(d);
}

static const char *sql_game =
"SELECT g.results_table::pg_catalog.oid, s.create_sql, s.get_sql, s.list_sql,"
"       s.update_sql, s.delete_sql, s.table_sql, 'pgbank.games'::pg_catalog.regclass::pg_catalog.oid"
"  FROM pgbank.games g, pgbank.game_statements(g) s WHERE g.slug = $1";

static const char *sql_fields =
"SELECT f->>'name', f->>'type', coalesce((f->>'required')::pg_catalog.bool, false),"
"       f->>'derived_from', f->>'min', f->>'max',"
"       coalesce((f->>'max_length')::pg_catalog.int4, 100), (f->>'max_items')::pg_catalog.int4,"
"       (SELECT pg_catalog.string_agg(v, ', ') FROM pg_catalog.jsonb_array_elements_text(f->'values') v),"
"       ARRAY(SELECT pg_catalog.jsonb_array_elements_text(f->'values'))"
"  FROM pgbank.games g, pg_catalog.jsonb_array_elements(g.fields) WITH ORDINALITY AS s (f, n)"
" WHERE g.slug = $1 ORDER BY s.n";

/* Read one field of the registry (row of sql_fields) into f. */
static void
read_field(int row, GameField *f, int *nsettable)
{
	char	   *type = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2);
	bool		isnull;
	Datum		values;

	f->name = cached_text(row, 1);
	f->type = strcmp(type, "integer") == 0 ? FIELD_INTEGER :
		strcmp(type, "date") == 0 ? FIELD_DATE :
		strcmp(type, "text[]") == 0 ? FIELD_TEXTS : FIELD_TEXT;
	f->required = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 3, &isnull));
	f->derived_from = cached_text(row, 4);
	f->min_text = cached_text(row, 5);
	f->max_text = cached_text(row, 6);
	if (f->type == FIELD_INTEGER)
	{
		f->min = pg_strtoint64(f->min_text);
		f->max = pg_strtoint64(f->max_text);
	}
	else if (f->type == FIELD_DATE)
		f->min_date = DatumGetDateADT(DirectFunctionCall1(date_in, CStringGetDatum(f->min_text)));
	f->max_length = cached_int(row, 7, 100);
	f->max_items = cached_int(row, 8, 0);
	f->values_text = cached_text(row, 9);
	values = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 10, &isnull);
	if (f->values_text != NULL)
	{
		Datum	   *elems;
		int			i;
		MemoryContext old = MemoryContextSwitchTo(games_context);

		deconstruct_array(DatumGetArrayTypeP(values), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, NULL, &f->nvalues);
		f->values = palloc(sizeof(char *) * f->nvalues);
		for (i = 0; i < f->nvalues; i++)
			f->values[i] = TextDatumGetCString(elems[i]);
		MemoryContextSwitchTo(old);
	}
	f->param = f->derived_from != NULL ? -1 : (*nsettable)++;
}

/* Read a game's registry row and statements; false when there is none. */
static bool
game_build(const char *slug, GameEntry *g)
{
	bool		isnull;
	int			op;
	uint64		i;

	registry_query(sql_game, slug);
	if (SPI_processed == 0)
		return false;
	g->table = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	for (op = 0; op < GAME_NOPS; op++)
	{
		g->sql[op] = cached_text(0, op + 2);
		g->plans[op] = NULL;
	}
	games_relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8, &isnull));

	registry_query(sql_fields, slug);
	g->nfields = (int) SPI_processed;
	g->fields = MemoryContextAllocZero(games_context, sizeof(GameField) * Max(g->nfields, 1));
	g->nsettable = 0;
	for (i = 0; i < SPI_processed; i++)
		read_field((int) i, &g->fields[i], &g->nsettable);
	return true;
}

/*
 * The cached game of a slug, or P0002 "unknown game x" (the slug cut to 64
 * characters). An unknown slug is not cached: it is looked up each time.
 */
static GameEntry *
game_find(text *game)
{
	char	   *slug = game == NULL ? NULL : text_to_cstring(game);
	GameEntry  *g = NULL;
	GameEntry	built;
	bool		found;

	if (slug == NULL)
		unknown_game("NULL");
	if (games_stale || games_context == NULL)
		games_reset();
	if (strlen(slug) < NAMEDATALEN && games_cache != NULL)
		g = hash_search(games_cache, slug, HASH_FIND, NULL);
	if (g != NULL)
		return g;

	memset(&built, 0, sizeof(built));
	found = false;
	if (strlen(slug) < NAMEDATALEN)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "pgbank: SPI_connect failed");
		found = game_build(slug, &built);
		SPI_finish();
	}
	if (!found)
		unknown_game(pnstrdup(slug, pg_mbcharcliplen(slug, strlen(slug), 64)));
	if (games_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = NAMEDATALEN;
		ctl.entrysize = sizeof(GameEntry);
		ctl.hcxt = games_context;
		games_cache = hash_create("pgbank games", 8, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	strlcpy(built.slug, slug, NAMEDATALEN);
	g = hash_search(games_cache, slug, HASH_ENTER, &found);
	*g = built;
	return g;
}

/* The parameter types of a statement: its fixed ones, then the fields'. */
static int
game_argtypes(GameEntry *g, GameOp op, Oid *types)
{
	int			n = 0;
	int			i;

	switch (op)
	{
		case GAME_CREATE:
			types[n++] = TEXTOID;
			break;
		case GAME_GET:
		case GAME_DELETE:
		case GAME_UPDATE:
			types[n++] = INT8OID;
			types[n++] = TEXTOID;
			break;
		case GAME_LIST:
			types[n++] = TEXTOID;
			types[n++] = DATEOID;
			types[n++] = DATEOID;
			types[n++] = INT8OID;
			types[n++] = INT8OID;
			types[n++] = INT8OID;
			break;
		case GAME_TABLE:
			types[n++] = TEXTOID;
			break;
		case GAME_NOPS:
			break;
	}
	if (op == GAME_CREATE || op == GAME_UPDATE)
		for (i = 0; i < g->nfields; i++)
		{
			GameField  *f = &g->fields[i];

			if (f->param >= 0)
				types[n + f->param] = f->type == FIELD_INTEGER ? INT8OID :
					f->type == FIELD_DATE ? DATEOID :
					f->type == FIELD_TEXTS ? TEXTARRAYOID : TEXTOID;
		}
	return n + ((op == GAME_CREATE || op == GAME_UPDATE) ? g->nsettable : 0);
}

/*
 * A list pages through the (owner, date DESC, id DESC) index. A generic plan
 * cannot know how many results the owner has, guesses very few, and then
 * prefers to read all of them and sort; so the list's plan is made once, now,
 * with sorts and bitmap scans disfavoured: what is left is the index scan
 * that stops after the page, right for an owner with any number of results.
 */
static void
plan_in_index_order(SPIPlanPtr plan)
{
	int			nest = NewGUCNestLevel();
	CachedPlan *cplan;

	(void) set_config_option("enable_sort", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	cplan = SPI_plan_get_cached_plan(plan);
	if (cplan == NULL)
		elog(ERROR, "pgbank: SPI_plan_get_cached_plan failed");
	ReleaseCachedPlan(cplan, CurrentResourceOwner);
	AtEOXact_GUC(true, nest);
}

/*
 * The attribute number of a table's column of that name, if it is of that
 * type; InvalidAttrNumber otherwise.
 */
#if PG_VERSION_NUM < 160000
static AttrNumber
table_column(TupleDesc desc, const char *name, Oid type)
{
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return a->atttypid == type ? a->attnum : InvalidAttrNumber;
	}
	return InvalidAttrNumber;
}

/*
 * The executor's privilege check of the get statement: SELECT on the whole
 * row (hence on every column), and on id and owner.
 */
static void
check_select(Relation rel, AttrNumber id, AttrNumber owner)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = AccessShareLock;
	rte->requiredPerms = ACL_SELECT;
	rte->selectedCols = bms_make_singleton(InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber);
	rte->selectedCols = bms_add_member(rte->selectedCols, id - FirstLowInvalidHeapAttributeNumber);
	rte->selectedCols = bms_add_member(rte->selectedCols, owner - FirstLowInvalidHeapAttributeNumber);
	(void) ExecCheckRTPerms(list_make1(rte), true);
}
#endif

/*
 * The get statement, SELECT to_json(t) FROM <table> t WHERE t.id = $1 AND
 * t.owner = $2, without an executor of its own: a primary-key lookup is so
 * cheap that the second executor cycle (the function's statement inside the
 * caller's) is a visible part of its cost (docs/benchmarks.md, "Game
 * results"). The same locks, privilege check, snapshot (the caller's, as a
 * read-only SPI call has), index and heap access, owner comparison (texteq
 * in the column's collation) and row (made as a whole-row reference makes
 * it, turned to JSON by row_to_json, as to_json does a row) as the
 * statement's.
 *
 * Returns false, and the caller runs the statement, when the table is not
 * one this reads exactly as the statement would: not a plain table, with
 * inheritance children or row level security, no owner text column or no
 * btree primary key on an id bigint; and always on PostgreSQL 16 and later,
 * whose executor checks privileges from RTEPermissionInfo
 * (ExecCheckPermissions) instead.
 */
static bool
game_get_direct(GameEntry *g, Datum *values, char *nulls, Datum *result, bool *found)
{
#if PG_VERSION_NUM >= 160000
	return false;
#else
	Relation	rel;
	Relation	index;
	TupleDesc	desc;
	AttrNumber	id;
	AttrNumber	owner;
	Oid			pk;
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;

	*found = false;
	if (!ActiveSnapshotSet())
		return false;
	rel = try_table_open(g->table, AccessShareLock);
	if (rel == NULL)
		return false;
	desc = RelationGetDescr(rel);
	id = table_column(desc, "id", INT8OID);
	owner = table_column(desc, "owner", TEXTOID);
	pk = RelationGetPrimaryKeyIndex(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relhassubclass
		|| rel->rd_rel->relrowsecurity || id == InvalidAttrNumber
		|| owner == InvalidAttrNumber || !OidIsValid(pk))
	{
		table_close(rel, NoLock);
		return false;
	}
	check_select(rel, id, owner);
	index = index_open(pk, AccessShareLock);
	if (index->rd_rel->relam != BTREE_AM_OID || index->rd_index->indnkeyatts != 1
		|| !index->rd_index->indisvalid || index->rd_index->indkey.values[0] != id
		|| index->rd_opfamily[0] != INTEGER_BTREE_FAM_OID || index->rd_opcintype[0] != INT8OID)
	{
		index_close(index, NoLock);
		table_close(rel, NoLock);
		return false;
	}

	/* t.id = NULL or t.owner = NULL is never true */
	if (nulls[0] != 'n' && nulls[1] != 'n')
	{
		Oid			collation = TupleDescAttr(desc, owner - 1)->attcollation;

		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, values[0]);
		slot = table_slot_create(rel, NULL);
		scan = index_beginscan(rel, index, GetActiveSnapshot(), 1, 0);
		index_rescan(scan, &key, 1, NULL, 0);
		while (!*found && index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			bool		isnull;
			Datum		o = slot_getattr(slot, owner, &isnull);
			HeapTuple	row;

			CHECK_FOR_INTERRUPTS();
			if (isnull || !DatumGetBool(DirectFunctionCall2Coll(texteq, collation, o, values[1])))
				continue;
			/* a composite of the table's rowtype, its values detoasted */
			slot_getallattrs(slot);
			row = toast_build_flattened_tuple(desc, slot->tts_values, slot->tts_isnull);
			*result = DirectFunctionCall1(row_to_json, PointerGetDatum(row->t_data));
			*found = true;
		}
		index_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
	}
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return true;
#endif
}

/*
 * Run one of a game's statements (prepared on first use, its plan kept) and
 * return its one json value, copied to the caller's context; *found is
 * false when it found no row. A get reads its row itself where it can.
 */
static Datum
game_run(GameEntry *g, GameOp op, Datum *values, char *nulls, bool read_only, bool *found)
{
	Datum		result = (Datum) 0;
	bool		isnull = true;
	int			rc;

	if (op == GAME_GET && game_get_direct(g, values, nulls, &result, found))
		return result;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "pgbank: SPI_connect failed");
	if (g->plans[op] == NULL)
	{
		Oid		   *types = palloc(sizeof(Oid) * (g->nsettable + 6));
		int			n = game_argtypes(g, op, types);

		g->plans[op] = pgbank_prepare_generic(g->sql[op], n, types);
		if (op == GAME_LIST)
			plan_in_index_order(g->plans[op]);
	}
	rc = SPI_execute_plan(g->plans[op], values, nulls, read_only, 0);
	if (rc < 0)
		elog(ERROR, "pgbank: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*found = SPI_processed > 0 && !isnull;
	if (*found)
		result = SPI_datumTransfer(result, false, -1);
	SPI_finish();
	return result;
}

/* ----- the body ----- */

static void
body_object_start(void *state)
{
	BodyState  *s = (BodyState *) state;

	if (s->depth == 0)
		s->object = true;
	else if (s->depth == 1 && s->current != NULL)
		s->current->kind = BODY_OBJECT;
	else if (s->depth == 2 && s->current != NULL && s->current->kind == BODY_ARRAY)
		s->current->nitems++;
	s->depth++;
}

static void
body_array_start(void *state)
{
	BodyState  *s = (BodyState *) state;

	if (s->depth == 1 && s->current != NULL)
		s->current->kind = BODY_ARRAY;
	else if (s->depth == 2 && s->current != NULL && s->current->kind == BODY_ARRAY)
		s->current->nitems++;
	s->depth++;
}

static void
body_nest_end(void *state)
{
	((BodyState *) state)->depth--;
}

static void
body_field_start(void *state, char *fname, bool isnull)
{
	BodyState  *s = (BodyState *) state;

	if (s->depth != 1)
		return;
	s->current = palloc0(sizeof(BodyValue));
	s->current->key = fname;
	s->values = lappend(s->values, s->current);
}

static void
body_scalar(void *state, char *token, JsonTokenType type)
{
	BodyState  *s = (BodyState *) state;
	BodyValue  *v = s->current;

	if (v == NULL)
		return;
	if (s->depth == 1)
	{
		v->kind = type == JSON_TOKEN_STRING ? BODY_STRING :
			type == JSON_TOKEN_NUMBER ? BODY_NUMBER : BODY_SCALAR;
		v->scalar = token;
	}
	else if (s->depth == 2 && v->kind == BODY_ARRAY)
	{
		v->nitems++;
		if (type == JSON_TOKEN_STRING)
			v->strings = lappend(v->strings, token);
	}
}

/* text cannot hold \u0000: an odd run of backslashes before u0000. */
static void
body_check_nul(const char *s, int len)
{
	int			i = 0;

	while (i < len)
	{
		int			j = i;

		if (s[i] != '\\')
		{
			i++;
			continue;
		}
		while (j < len && s[j] == '\\')
			j++;
		if (((j - i) & 1) && len - j >= 5 && memcmp(s + j, "u0000", 5) == 0)
			pgbank_invalid_input("body", "must not contain \\u0000");
		i = j;
	}
}

/* The top-level fields of a body, in order; 22023 unless it is an object. */
static List *
body_values(text *body)
{
	BodyState	state;
	JsonSemAction sem;

	if (body != NULL)
		body_check_nul(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body));
	memset(&state, 0, sizeof(state));
	if (body != NULL)
	{
		memset(&sem, 0, sizeof(sem));
		sem.semstate = &state;
		sem.object_start = body_object_start;
		sem.object_end = body_nest_end;
		sem.array_start = body_array_start;
		sem.array_end = body_nest_end;
		sem.object_field_start = body_field_start;
		sem.scalar = body_scalar;
		pg_parse_json_or_ereport(makeJsonLexContext(body, true), &sem);
	}
	if (!state.object)
		pgbank_invalid_input("body", "must be a JSON object");
	return state.values;
}

static GameField *
game_field(GameEntry *g, const char *name)
{
	int			i;

	for (i = 0; i < g->nfields; i++)
		if (strcmp(g->fields[i].name, name) == 0)
			return &g->fields[i];
	return NULL;
}

/* Whether a string is non-blank (not only spaces) and fits max_length. */
static bool
short_text(const char *s, int max_length)
{
	return strspn(s, " ") < strlen(s) && pg_mbstrlen(s) <= max_length;
}

/*
 * An integer as jsonb would show it: numeric's text matching -?[0-9]+ (so
 * 1e2 is 100, 3.0 is not an integer), within [min, max].
 */
static bool
integer_value(const char *token, GameField *f, int64 *out)
{
	const char *digits = token;
	char	   *end;

	if (strspn(token, "-0123456789") != strlen(token) || strlen(token) > 18)
		digits = DatumGetCString(DirectFunctionCall1(numeric_out,
													 DirectFunctionCall3(numeric_in, CStringGetDatum(token),
																		 ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1))));
	if (strspn(digits + (digits[0] == '-'), "0123456789") != strlen(digits + (digits[0] == '-'))
		|| strlen(digits) > 18)
		return false;
	errno = 0;
	*out = strtoll(digits, &end, 10);
	return errno == 0 && *end == '\0' && *out >= f->min && *out <= f->max;
}

/* A date "YYYY-MM-DD" from the field's min to today. */
static bool
date_value(const char *s, GameField *f, DateADT *out)
{
	int			y,
				m,
				d;

	if (strlen(s) != 10 || strspn(s, "0123456789") != 4 || s[4] != '-'
		|| strspn(s + 5, "0123456789") != 2 || s[7] != '-' || strspn(s + 8, "0123456789") != 2)
		return false;
	y = atoi(s);
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (y < 1 || m < 1 || m > MONTHS_PER_YEAR || d < 1 || d > day_tab[isleap(y)][m - 1])
		return false;
	*out = date2j(y, m, d) - POSTGRES_EPOCH_JDATE;
	return *out >= f->min_date && *out <= GetSQLCurrentDate();
}

/* Check one value against its field; its parameter Datum when it is right. */
static Datum
field_value(GameField *f, BodyValue *v)
{
	char		msg[256];
	Datum		result = (Datum) 0;

	if (f->derived_from != NULL)
	{
		snprintf(msg, sizeof(msg), "cannot be set: it is derived from %s", f->derived_from);
		pgbank_invalid_input(f->name, msg);
	}
	switch (f->type)
	{
		case FIELD_INTEGER:
			{
				int64		n;

				if (v->kind != BODY_NUMBER || !integer_value(v->scalar, f, &n))
				{
					snprintf(msg, sizeof(msg), "must be an integer between %s and %s",
							 f->min_text, f->max_text);
					pgbank_invalid_input(f->name, msg);
				}
				result = Int64GetDatum(n);
				break;
			}
		case FIELD_TEXT:
			if (f->values_text != NULL)
			{
				int			i;
				bool		ok = false;

				for (i = 0; v->kind == BODY_STRING && i < f->nvalues && !ok; i++)
					ok = strcmp(v->scalar, f->values[i]) == 0;
				if (!ok)
					pgbank_invalid_input(f->name, psprintf("must be one of %s", f->values_text));
			}
			else if (v->kind != BODY_STRING || !short_text(v->scalar, f->max_length))
			{
				snprintf(msg, sizeof(msg), "must be a non-blank string of at most %d characters",
						 f->max_length);
				pgbank_invalid_input(f->name, msg);
			}
			result = CStringGetTextDatum(v->scalar);
			break;
		case FIELD_DATE:
			{
				DateADT		d;

				if (v->kind != BODY_STRING || !date_value(v->scalar, f, &d))
				{
					snprintf(msg, sizeof(msg), "must be a date (YYYY-MM-DD) from %s to today",
							 f->min_text);
					pgbank_invalid_input(f->name, msg);
				}
				result = DateADTGetDatum(d);
				break;
			}
		case FIELD_TEXTS:
			{
				bool		ok = v->kind == BODY_ARRAY && v->nitems <= f->max_items
					&& list_length(v->strings) == v->nitems;
				Datum	   *elems = palloc(sizeof(Datum) * Max(v->nitems, 1));
				ListCell   *lc;
				int			i = 0;

				if (ok)
					foreach(lc, v->strings)
					{
						ok = ok && short_text(lfirst(lc), f->max_length);
						elems[i++] = CStringGetTextDatum(lfirst(lc));
					}
				if (!ok)
				{
					snprintf(msg, sizeof(msg),
							 "must be an array of at most %d non-blank strings of at most %d characters",
							 f->max_items, f->max_length);
					pgbank_invalid_input(f->name, msg);
				}
				result = PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));
				break;
			}
	}
	return result;
}

/*
 * Validate a body against a game's fields and fill in the parameters of its
 * settable fields (from values[0]; nulls 'n' for a field not given).
 * Returns how many fields the body gives.
 */
static int
game_validate(GameEntry *g, text *body, bool partial, Datum *values, char *nulls)
{
	List	   *given = body_values(body);
	ListCell   *lc;
	ListCell   *lc2;
	int			i;
	int			n = 0;

	foreach(lc, given)
	{
		BodyValue  *v = lfirst(lc);

		if (game_field(g, v->key) == NULL)
		{
			char	   *k = pnstrdup(v->key, pg_mbcharcliplen(v->key, strlen(v->key), 64));

			pgbank_invalid_input(k, psprintf("unknown field for %s", g->slug));
		}
	}
	foreach(lc, given)
		for_each_cell(lc2, given, lnext(given, lc))
			if (strcmp(((BodyValue *) lfirst(lc))->key, ((BodyValue *) lfirst(lc2))->key) == 0)
				pgbank_invalid_input(((BodyValue *) lfirst(lc))->key, "is given more than once");
	for (i = 0; i < g->nsettable; i++)
		nulls[i] = 'n';
	/* the values given first, so that a wrong value is reported as such */
	for (i = 0; i < g->nfields; i++)
	{
		GameField  *f = &g->fields[i];

		foreach(lc, given)
		{
			BodyValue  *v = lfirst(lc);

			if (strcmp(v->key, f->name) != 0)
				continue;
			values[Max(f->param, 0)] = field_value(f, v);
			nulls[Max(f->param, 0)] = ' ';
			n++;
		}
	}
	for (i = 0; i < g->nfields && !partial; i++)
		if (g->fields[i].required && g->fields[i].param >= 0 && nulls[g->fields[i].param] == 'n')
			pgbank_invalid_input(g->fields[i].name, "is required");
	return n;
}

/* ----- the SQL functions ----- */

#define ARG_TEXT(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))

/* The result of a statement that must find its row. */
static Datum
game_row(GameEntry *g, GameOp op, Datum *values, char *nulls, bool read_only)
{
	bool		found;
	Datum		result = game_run(g, op, values, nulls, read_only, &found);

	if (!found)
		result_not_found();
	return result;
}

/* SQL function: pgbank.game_create(username text, game text, body json) */
Datum
pgbank_game_create(PG_FUNCTION_ARGS)
{
	GameEntry  *g = game_find(ARG_TEXT(1));
	Datum	   *values = palloc(sizeof(Datum) * (g->nsettable + 1));
	char	   *nulls = palloc(g->nsettable + 1);

	game_validate(g, ARG_TEXT(2), false, values + 1, nulls + 1);
	values[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	PG_RETURN_DATUM(game_row(g, GAME_CREATE, values, nulls, false));
}

/* The id and owner parameters of get, update and delete. */
static void
id_owner(FunctionCallInfo fcinfo, Datum *values, char *nulls)
{
	values[0] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[0] = PG_ARGISNULL(2) ? 'n' : ' ';
	values[1] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[1] = PG_ARGISNULL(0) ? 'n' : ' ';
}

/* SQL function: pgbank.game_get(username text, game text, id bigint) */
Datum
pgbank_game_get(PG_FUNCTION_ARGS)
{
	GameEntry  *g = game_find(ARG_TEXT(1));
	Datum		values[2];
	char		nulls[2];

	id_owner(fcinfo, values, nulls);
	PG_RETURN_DATUM(game_row(g, GAME_GET, values, nulls, true));
}

/*
 * SQL function: pgbank.game_list(username text, game text, page_id bigint,
 * page_size bigint, from_date date, to_date date)
 */
Datum
pgbank_game_list(PG_FUNCTION_ARGS)
{
	GameEntry  *g = game_find(ARG_TEXT(1));
	int64		page_id = PG_ARGISNULL(2) ? 1 : PG_GETARG_INT64(2);
	int64		page_size = PG_ARGISNULL(3) ? 10 : PG_GETARG_INT64(3);
	Datum		values[6];
	char		nulls[6];

	/* the page rule is pgbank.check_page's: called only to name a mistake */
	if (page_id < 1 || page_id > PG_INT32_MAX || page_size < 1 || page_size > 100)
	{
		Oid			argtypes[4] = {INT8OID, INT8OID, INT4OID, INT4OID};
		Oid			check = LookupFuncName(list_make2(makeString(pstrdup("pgbank")), makeString(pstrdup("check_page"))),
										   4, argtypes, false);

		OidFunctionCall4(check, Int64GetDatum(page_id), Int64GetDatum(page_size),
						 Int32GetDatum(1), Int32GetDatum(100));
	}
	if (!PG_ARGISNULL(4) && !PG_ARGISNULL(5) && PG_GETARG_DATEADT(4) > PG_GETARG_DATEADT(5))
		pgbank_invalid_input("to", "must not be before from");
	memset(nulls, ' ', sizeof(nulls));
	values[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	values[1] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	nulls[1] = PG_ARGISNULL(4) ? 'n' : ' ';
	values[2] = PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5);
	nulls[2] = PG_ARGISNULL(5) ? 'n' : ' ';
	values[3] = Int64GetDatum(page_size);
	values[4] = Int64GetDatum((page_id - 1) * page_size);
	values[5] = Int64GetDatum(page_id);
	PG_RETURN_DATUM(game_row(g, GAME_LIST, values, nulls, true));
}

/* SQL function: pgbank.game_update(username text, game text, id bigint, body json) */
Datum
pgbank_game_update(PG_FUNCTION_ARGS)
{
	GameEntry  *g = game_find(ARG_TEXT(1));
	Datum	   *values = palloc(sizeof(Datum) * (g->nsettable + 2));
	char	   *nulls = palloc(g->nsettable + 2);
	int			given = game_validate(g, ARG_TEXT(3), true, values + 2, nulls + 2);

	id_owner(fcinfo, values, nulls);
	/* nothing to change: answer the row as it is */
	PG_RETURN_DATUM(game_row(g, given == 0 ? GAME_GET : GAME_UPDATE, values, nulls, given == 0));
}

/* SQL function: pgbank.game_delete(username text, game text, id bigint) */
Datum
pgbank_game_delete(PG_FUNCTION_ARGS)
{
	GameEntry  *g = game_find(ARG_TEXT(1));
	Datum		values[2];
	char		nulls[2];

	id_owner(fcinfo, values, nulls);
	PG_RETURN_DATUM(game_row(g, GAME_DELETE, values, nulls, false));
}

/* SQL function: pgbank.game_table(username text, game text) */
Datum
pgbank_game_table(PG_FUNCTION_ARGS)
{
	GameEntry  *g = game_find(ARG_TEXT(1));
	Datum		values[1];
	char		nulls[1];

	values[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	PG_RETURN_DATUM(game_row(g, GAME_TABLE, values, nulls, true));
}

/*
 * SQL function: pgbank.games_changed() RETURNS trigger, after any statement
 * that writes the registry: every backend's cache is rebuilt (this one's at
 * the next command, the others' once this transaction commits).
 */
Datum
pgbank_games_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "pgbank_games_changed: not called as a trigger");
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
