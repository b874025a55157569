/*-------------------------------------------------------------------------
 *
 * search.c
 *	  Find a person across every registered table: gdpr.search() and
 *	  gdpr.anonymise_search().
 *
 * A row matches when any of its search fields equals the term.  Built-in
 * string columns compare case-insensitively, lower(col) = lower(term), so an
 * expression index on lower(col) serves them; every other type (citext and
 * other extension types included) compares with the type's own default
 * equality operator against the term cast with the type's input function,
 * so a plain index on the column serves it.  A column whose type cannot
 * read the term (say "alice@example.com" for an integer column) is left out
 * of the search.  Each table is searched with one statement whose column
 * conditions are OR-ed, which lets the planner combine their indexes with a
 * BitmapOr.
 *
 * Everything runs as the caller (SECURITY INVOKER): tables the caller may
 * not SELECT are not searched, columns the caller may not read are not
 * searched, and row-level security policies apply to the statements.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/search.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#include "gdpr.h"
#include "search.h"

PG_FUNCTION_INFO_V1(gdpr_search);
PG_FUNCTION_INFO_V1(gdpr_anonymise_search);

/* the term read by one type's input function, cached per call */
typedef struct TermCast
{
	Oid			typid;
	bool		ok;				/* false: the type cannot read the term */
	Datum		value;
} TermCast;

/* what build_search_plan prepares */
typedef struct SearchPlanArgs
{
	const char *sql;
	int			nargs;
	Oid		   *argtypes;
	bool		generic;		/* always the generic plan */
} SearchPlanArgs;

/* Local state: kept statements, keyed by "typoid,typoid,...;SQL" */
static GdprCache *plan_cache = NULL;

/* at most this many statements are kept; beyond that they run one-shot */
#define GDPR_PLAN_CACHE_MAX		1024

/* the DestReceiver of one table's search: each hit into a tuplestore */
typedef struct HitReceiver
{
	DestReceiver pub;
	GdprSearchTable *st;
	bool		key_only;		/* rows (key), else (rel, key, matched name[]) */
	Tuplestorestate *store;		/* where the hits go */
	TupleDesc	desc;			/* its rows */
	Datum	   *colnames;		/* the search columns' names (name) */
	MemoryContext cxt;			/* one hit's memory, reset after it */
	int64		hits;
} HitReceiver;

/*
 * gdpr_search_column_readable
 *		Whether the current user may SELECT a column of a table, through a
 *		table-level or a column-level privilege.
 */
bool
gdpr_search_column_readable(Oid relid, AttrNumber attnum)
{
	Oid			userid = GetUserId();

	if (pg_class_aclcheck(relid, userid, ACL_SELECT) == ACLCHECK_OK)
		return true;
	return pg_attribute_aclcheck(relid, attnum, userid, ACL_SELECT) == ACLCHECK_OK;
}

/*
 * gdpr_search_skip_keyless
 *		The primary key of a registered table, or NULL after a WARNING when
 *		the table has lost it (ALTER TABLE ... DROP CONSTRAINT): such a
 *		table is skipped by search and export, instead of making them fail
 *		for everybody.
 *
 * what names the operation in the message ("search", "export"); NULL
 * skips the table silently (a caller that warns itself).  The WARNING is
 * given only to a caller who may read some column of the
 * table: one who may not would not have it searched or exported anyway.
 */
GdprKey *
gdpr_search_skip_keyless(Oid relid, const char *what)
{
	GdprKey    *key = gdpr_key_lookup(relid, true);
	Oid			userid = GetUserId();

	if (key != NULL || what == NULL)
		return key;
	if (pg_class_aclcheck(relid, userid, ACL_SELECT) == ACLCHECK_OK ||
		pg_attribute_aclcheck_all(relid, userid, ACL_SELECT, ACLMASK_ANY) == ACLCHECK_OK)
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("registered table \"%s\" has no primary key; it is left out of the %s",
						gdpr_relation_name(relid), what),
				 errdetail("gdpr identifies a row by its primary key."),
				 errhint("Add the primary key back, or unregister the table with gdpr.unregister().")));
	return NULL;
}

/*
 * build_search_plan
 *		GdprCacheBuild of the kept statements: prepare and keep one.  The
 *		entry depends on the relations the statement reads, so the entries
 *		of a dropped or changed table leave the cache (the plan cache would
 *		only re-plan them).
 */
static void
build_search_plan(void *entry, const void *key, void *arg)
{
	SearchPlanArgs *args = arg;
	GdprPlanEntry *pe = entry;
	SPIPlanPtr	plan = SPI_prepare_cursor(args->sql, args->nargs, args->argtypes,
										  args->generic ? CURSOR_OPT_GENERIC_PLAN : 0);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	pe->plans[0] = plan;
	gdpr_cache_depend_plan(entry, plan);
}

/*
 * execute_into
 *		Run plan read-only with the values of its nargs parameters, its rows
 *		going to dest as the executor produces them.  Returns the SPI result
 *		code.
 */
static int
execute_into(SPIPlanPtr plan, int nargs, Oid *argtypes, Datum *values, DestReceiver *dest)
{
	SPIExecuteOptions options;

	memset(&options, 0, sizeof(options));
	options.params = gdpr_param_list(nargs, argtypes, values, NULL);
	options.read_only = true;
	options.dest = dest;
	return SPI_execute_plan_extended(plan, &options);
}

/*
 * search_execute
 *		Run a read-only statement of search or export with parameters,
 *		reusing its prepared plan when the same text with the same
 *		parameter types ran before in this session.
 *
 * The statements are generated from the registry, so a session sees few
 * distinct texts; keeping their plans saves the parse and analysis of
 * every statement on every call (the plan cache still re-plans custom
 * plans per value where that pays, and re-checks privileges, row-level
 * security and invalidations as for any prepared statement).  Runs on the
 * caller's snapshot (read_only), as the current user.  Returns the SPI
 * result code; the rows are in SPI_tuptable, or went to dest when not
 * NULL.  Must be connected to SPI.
 */
static int
search_execute(const char *sql, int nargs, Oid *argtypes, Datum *values,
			   bool generic, DestReceiver *dest)
{
	StringInfoData key;
	GdprPlanEntry *entry;
	SearchPlanArgs args = {sql, nargs, argtypes, generic};

	if (plan_cache == NULL)
		plan_cache = gdpr_cache_create("gdpr search plans", sizeof(GdprPlanEntry), true,
									   gdpr_cache_release_plans);

	initStringInfo(&key);
	if (generic)
		appendStringInfoString(&key, "g:");
	for (int i = 0; i < nargs; i++)
		appendStringInfo(&key, "%u,", argtypes[i]);
	appendStringInfo(&key, ";%s", sql);

	entry = gdpr_cache_find(plan_cache, key.data);
	if (entry == NULL && gdpr_cache_count(plan_cache) >= GDPR_PLAN_CACHE_MAX)
	{
		SPIPlanPtr	once;
		int			rc;

		if (dest == NULL)
			return SPI_execute_with_args(sql, nargs, argtypes, values, NULL, true, 0);
		if ((once = SPI_prepare(sql, nargs, argtypes)) == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		rc = execute_into(once, nargs, argtypes, values, dest);
		SPI_freeplan(once);
		return rc;
	}
	if (entry == NULL)
		entry = gdpr_cache_lookup(plan_cache, key.data, build_search_plan, &args);
	if (dest != NULL)
		return execute_into(entry->plans[0], nargs, argtypes, values, dest);
	return SPI_execute_plan(entry->plans[0], values, NULL, true, 0);
}

/*
 * gdpr_search_execute
 *		search_execute for export.c: with the statement's generic plan when
 *		generic; the rows in SPI_tuptable, or sent to dest (when not NULL)
 *		as the executor produces them.
 */
int
gdpr_search_execute(const char *sql, int nargs, Oid *argtypes, Datum *values,
					bool generic, DestReceiver *dest)
{
	return search_execute(sql, nargs, argtypes, values, generic, dest);
}

/*
 * is_builtin_string_type
 *		Whether a type (or the base type of a domain) is one of the core
 *		string types, compared case-insensitively with lower().
 *
 * citext also has the string category, but it is an extension type with a
 * case-insensitive equality of its own and indexes built on it; it is
 * compared with that operator instead.
 */
static bool
is_builtin_string_type(Oid typid)
{
	Oid			base = getBaseType(typid);

	return base == TEXTOID || base == VARCHAROID || base == BPCHAROID ||
		base == NAMEOID;
}

/* cast_term's arguments, for gdpr_subxact_run */
typedef struct CastRun
{
	TermCast   *cast;
	const char *term;
} CastRun;

/*
 * cast_run
 *		The input function call of cast_term, run in its subtransaction.
 */
static void
cast_run(void *arg)
{
	CastRun    *run = arg;
	Oid			typinput;
	Oid			typioparam;

	getTypeInputInfo(run->cast->typid, &typinput, &typioparam);
	run->cast->value = OidInputFunctionCall(typinput, (char *) run->term, typioparam, -1);
	run->cast->ok = true;
}

/*
 * cast_term
 *		Read the term with the input function of a type, in a subtransaction
 *		so that a term the type cannot read only leaves the column out.
 *
 * Fills cast->ok and cast->value (allocated in the caller's memory
 * context).  Data exceptions (class 22) and failed domain checks (class 23)
 * are swallowed; any other error (a cancel, out of memory) is re-thrown.
 * Must not be called while connected to SPI.
 */
static void
cast_term(TermCast *cast, const char *term)
{
	CastRun		run = {cast, term};
	ErrorData  *edata;
	int			class;

	edata = gdpr_subxact_run(cast_run, &run);
	if (edata == NULL)
		return;
	class = ERRCODE_TO_CATEGORY(edata->sqlerrcode);
	if (class != ERRCODE_DATA_EXCEPTION &&
		class != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
		ReThrowError(edata);
	FreeErrorData(edata);
	cast->ok = false;
	cast->value = (Datum) 0;
}

/*
 * term_for_type
 *		The term read as a value of typid, cached in *casts for the call.
 *
 * Returns the cache entry; entry->ok tells whether the type read the term.
 */
static TermCast *
term_for_type(List **casts, Oid typid, const char *term)
{
	ListCell   *lc;
	TermCast   *cast;

	foreach(lc, *casts)
	{
		cast = (TermCast *) lfirst(lc);
		if (cast->typid == typid)
			return cast;
	}
	cast = palloc0(sizeof(TermCast));
	cast->typid = typid;
	cast_term(cast, term);
	*casts = lappend(*casts, cast);
	return cast;
}

/*
 * relname_cmp
 *		list_sort comparator: GdprSearchTables by schema-qualified name.
 */
static int
relname_cmp(const ListCell *a, const ListCell *b)
{
	GdprSearchTable *ta = (GdprSearchTable *) lfirst(a);
	GdprSearchTable *tb = (GdprSearchTable *) lfirst(b);

	return strcmp(ta->relname, tb->relname);
}

/*
 * prepare_table
 *		Build the search of one registered table for the term.
 *
 * Returns NULL when nothing of the table can be searched: no search field,
 * no SELECT on its key, or no search field both readable by the caller and
 * able to read the term.  Parameter $1 is always the term as text.
 */
static GdprSearchTable *
prepare_table(Oid relid, const char *term, List **casts, bool warn_keyless)
{
	GdprTable  *table = gdpr_catalog_get_table(relid);
	GdprSearchTable *st;
	GdprKey    *key;
	ListCell   *lc;
	StringInfoData where;
	int			nfields;

	if (table == NULL)
		return NULL;
	nfields = 0;
	foreach(lc, table->fields)
		if (((GdprField *) lfirst(lc))->search)
			nfields++;
	if (nfields == 0)
		return NULL;

	/* a table that lost its primary key is skipped, with a WARNING */
	key = gdpr_search_skip_keyless(relid, warn_keyless ? "search" : NULL);
	if (key == NULL)
		return NULL;
	/* a table whose key the caller cannot read is not searched at all */
	for (int i = 0; i < key->nkeys; i++)
		if (!gdpr_search_column_readable(relid, key->attnums[i]))
			return NULL;

	st = palloc0(sizeof(GdprSearchTable));
	st->relid = relid;
	st->relname = gdpr_relation_name(relid);
	st->table = table;
	st->key = key;
	st->colnames = palloc(sizeof(char *) * nfields);
	st->conds = palloc(sizeof(char *) * nfields);
	st->paramtypes = palloc(sizeof(Oid) * (nfields + 1));
	st->paramvalues = palloc(sizeof(Datum) * (nfields + 1));
	st->paramtypes[0] = TEXTOID;
	st->paramvalues[0] = CStringGetTextDatum(term);
	st->nparams = 1;
	initStringInfo(&where);

	foreach(lc, table->fields)
	{
		GdprField  *field = (GdprField *) lfirst(lc);
		AttrNumber	attnum;
		Oid			typid;
		char	   *col;
		char	   *cond;

		if (!field->search)
			continue;
		attnum = get_attnum(relid, field->attname);
		if (attnum == InvalidAttrNumber ||
			!gdpr_search_column_readable(relid, attnum))
			continue;
		typid = get_atttype(relid, attnum);
		col = psprintf("t.%s", quote_identifier(field->attname));

		if (is_builtin_string_type(typid))
			cond = psprintf("pg_catalog.lower(%s) OPERATOR(pg_catalog.=) pg_catalog.lower($1)",
							col);
		else
		{
			char	   *eq = gdpr_key_eq_operator(typid, true);
			TermCast   *cast;

			if (eq == NULL)
				continue;		/* json, point, ...: nothing to compare with */
			cast = term_for_type(casts, typid, term);
			if (!cast->ok)
				continue;		/* the term is no value of this type */
			st->paramtypes[st->nparams] = typid;
			st->paramvalues[st->nparams] = cast->value;
			st->nparams++;
			cond = psprintf("%s %s $%d", col, eq, st->nparams);
		}
		st->colnames[st->ncols] = field->attname;
		st->conds[st->ncols] = cond;
		appendStringInfo(&where, "%s(%s)", st->ncols > 0 ? " OR " : "", cond);
		st->ncols++;
	}
	if (st->ncols == 0)
		return NULL;
	st->where = where.data;
	return st;
}

/*
 * gdpr_search_prepare
 *		The searches for a term, one per registered table that can be
 *		searched for it, sorted by schema-qualified table name.
 *
 * An empty term finds nothing and yields NIL.  A registered table that
 * lost its primary key is skipped, with a WARNING when warn_keyless (the
 * export warns about it itself).  Reads the registry; term casts run in
 * subtransactions, so this must be called before SPI_connect.  The result
 * is palloc'd in the current memory context.
 */
List *
gdpr_search_prepare(const char *term, bool warn_keyless)
{
	List	   *result = NIL;
	List	   *casts = NIL;
	ListCell   *lc;

	if (term == NULL || term[0] == '\0')
		return NIL;

	foreach(lc, gdpr_catalog_registered_tables())
	{
		GdprSearchTable *st = prepare_table(lfirst_oid(lc), term, &casts,
											warn_keyless);

		if (st != NULL)
			result = lappend(result, st);
	}
	list_sort(result, relname_cmp);
	return result;
}

/*
 * hit_receive
 *		receiveSlot of the HitReceiver: put the hit (key text, then one bool
 *		per search column) into the store, as (key) or (rel, key, matched).
 */
static bool
hit_receive(TupleTableSlot *slot, DestReceiver *self)
{
	HitReceiver *r = (HitReceiver *) self;
	GdprSearchTable *st = r->st;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	bool		isnull;
	Datum		key = slot_getattr(slot, 1, &isnull);

	if (r->key_only)
		values[0] = key;
	else
	{
		Datum	   *names = palloc(sizeof(Datum) * Max(st->ncols, 1));
		int			nmatched = 0;

		for (int i = 0; i < st->ncols; i++)
			if (DatumGetBool(slot_getattr(slot, i + 2, &isnull)))
				names[nmatched++] = r->colnames[i];
		values[0] = ObjectIdGetDatum(st->relid);
		values[1] = key;
		values[2] = PointerGetDatum(construct_array(names, nmatched, NAMEOID, NAMEDATALEN,
													false, TYPALIGN_CHAR));
	}
	/* the tuplestore copies the values into its own memory */
	tuplestore_putvalues(r->store, r->desc, values, nulls);
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->cxt);
	r->hits++;
	return true;
}

/*
 * run_search
 *		Run the search of one table, its hits going into store (rows of
 *		desc) in key order as they are found: (key text) when key_only,
 *		else (rel, key, matched).  Returns the number of hits.
 *
 * Must be connected to SPI.  The statement is read-only and runs as the
 * caller, with the caller's snapshot.  No hit is kept anywhere else, so
 * memory stays bounded (the store by work_mem) whatever their number.
 */
static int64
run_search(GdprSearchTable *st, Tuplestorestate *store, TupleDesc desc, bool key_only)
{
	StringInfoData sql;
	HitReceiver *r = palloc0(sizeof(HitReceiver));
	int			ret;
	int			level;
	int64		hits;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s", gdpr_key_text_expr(st->key, "t"));
	for (int i = 0; i < st->ncols; i++)
		appendStringInfo(&sql, ", COALESCE(%s, false)", st->conds[i]);
	appendStringInfo(&sql, " FROM %s WHERE %s ORDER BY %s",
					 psprintf("%s t", gdpr_relation_from(st->relid)), st->where,
					 gdpr_key_order_by(st->key, "t"));

	gdpr_receiver_init(&r->pub, hit_receive, NULL);
	r->st = st;
	r->key_only = key_only;
	r->store = store;
	r->desc = desc;
	r->colnames = palloc(sizeof(Datum) * Max(st->ncols, 1));
	for (int i = 0; i < st->ncols; i++)
		r->colnames[i] = DirectFunctionCall1(namein, CStringGetDatum(st->colnames[i]));
	r->cxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr search hit",
								   ALLOCSET_SMALL_SIZES);

	/* keys print the same in every session (see gdpr_key_pin_format) */
	level = gdpr_key_pin_format(st->key);
	ret = search_execute(sql.data, st->nparams, st->paramtypes, st->paramvalues, false,
						 (DestReceiver *) r);
	gdpr_key_unpin_format(level);
	/* a SELECT into a receiver of ours reports SPI_OK_UTILITY */
	if (ret < 0)
		elog(ERROR, "search of %s failed: %s", st->relname, SPI_result_code_string(ret));
	hits = r->hits;
	MemoryContextDelete(r->cxt);
	pfree(r->colnames);
	pfree(r);
	return hits;
}

/*
 * start_search
 *		Common start of the set-returning search functions: set up the
 *		materialised result and prepare the search for the term in argument
 *		0.  NIL when there is nothing to search (a NULL or empty term, or no
 *		table with search fields).
 */
static List *
start_search(FunctionCallInfo fcinfo)
{
	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return NIL;
	return gdpr_search_prepare(text_to_cstring(PG_GETARG_TEXT_PP(0)), true);
}

/*
 * gdpr_search
 *		SQL: gdpr.search(term text) RETURNS TABLE(rel regclass, key text,
 *		matched name[])
 *
 * Every row of a registered table with a search field equal to the term,
 * ordered by table name, then key value.  A NULL or empty term finds
 * nothing.
 */
Datum
gdpr_search(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *searches;
	ListCell   *lc;

	searches = start_search(fcinfo);
	if (searches == NIL)
		PG_RETURN_VOID();

	gdpr_spi_connect();
	foreach(lc, searches)
		(void) run_search((GdprSearchTable *) lfirst(lc), rsinfo->setResult,
						  rsinfo->setDesc, false);
	gdpr_spi_finish();
	PG_RETURN_VOID();
}

/*
 * gdpr_anonymise_search
 *		SQL: gdpr.anonymise_search(term text) RETURNS TABLE(rel regclass,
 *		anonymised bigint, skipped bigint)
 *
 * Anonymises every row gdpr.search() finds, one set-based call per table,
 * and reports per table with hits how many rows were changed and how many
 * were skipped (already anonymised, or the table has can_anonymise =
 * false).  Rows are found with the caller's privileges; anonymising then
 * checks its own.  Ordered by table name.
 */
Datum
gdpr_anonymise_search(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *searches;
	ListCell   *lc;
	TupleDesc	keydesc;

	searches = start_search(fcinfo);
	if (searches == NIL)
		PG_RETURN_VOID();

	gdpr_spi_connect();
	keydesc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(keydesc, 1, "key", TEXTOID, -1, 0);
	foreach(lc, searches)
	{
		GdprSearchTable *st = (GdprSearchTable *) lfirst(lc);
		Tuplestorestate *found = tuplestore_begin_heap(false, false, work_mem);
		int64		skipped = 0;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		/* the hits' keys, then anonymised a batch at a time */
		if (run_search(st, found, keydesc, true) == 0)
		{
			tuplestore_end(found);
			continue;
		}
		values[0] = ObjectIdGetDatum(st->relid);
		if (st->table->can_anonymise)
			values[1] = Int64GetDatum(gdpr_anonymise_keys(st->relid, found, keydesc, false,
														  &skipped));
		else
		{
			values[1] = Int64GetDatum(0);
			skipped = tuplestore_tuple_count(found);
		}
		values[2] = Int64GetDatum(skipped);
		tuplestore_end(found);	/* its temporary file too */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	gdpr_spi_finish();
	PG_RETURN_VOID();
}
