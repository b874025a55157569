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

/* one hit of a search, while collecting */
typedef struct SearchHit
{
	char	   *keytext;
	Datum		matched;		/* name[] */
} SearchHit;

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
 * gdpr_search_execute
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
 * result code; the rows are in SPI_tuptable.  Must be connected to SPI.
 */
static int
search_execute(const char *sql, int nargs, Oid *argtypes, Datum *values,
			   long tcount, bool generic)
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
		return SPI_execute_with_args(sql, nargs, argtypes, values, NULL, true, tcount);
	if (entry == NULL)
		entry = gdpr_cache_lookup(plan_cache, key.data, build_search_plan, &args);
	return SPI_execute_plan(entry->plans[0], values, NULL, true, tcount);
}

int
gdpr_search_execute(const char *sql, int nargs, Oid *argtypes, Datum *values,
					long tcount)
{
	return search_execute(sql, nargs, argtypes, values, tcount, false);
}

/*
 * gdpr_search_execute_generic
 *		gdpr_search_execute, always with the statement's generic plan.
 *
 * For the statements of an export, which look rows up by key or foreign
 * key (= ANY of an array parameter, served by an index whatever the
 * values): planning them again for every call's values (a custom plan)
 * costs more than the lookups of a small export.
 */
int
gdpr_search_execute_generic(const char *sql, int nargs, Oid *argtypes, Datum *values,
							long tcount)
{
	return search_execute(sql, nargs, argtypes, values, tcount, true);
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
 * run_search
 *		Run the search of one table; return its hits (SearchHit *) in key
 *		order.
 *
 * Must be connected to SPI.  The statement is read-only and runs as the
 * caller, with the caller's snapshot.  The hits are allocated in the
 * current memory context (the SPI procedure context).
 */
static List *
run_search(GdprSearchTable *st)
{
	StringInfoData sql;
	List	   *hits = NIL;
	int			ret;
	int			level;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s", gdpr_key_text_expr(st->key, "t"));
	for (int i = 0; i < st->ncols; i++)
		appendStringInfo(&sql, ", COALESCE(%s, false)", st->conds[i]);
	appendStringInfo(&sql, " FROM %s WHERE %s ORDER BY %s",
					 psprintf("%s t", gdpr_relation_from(st->relid)), st->where,
					 gdpr_key_order_by(st->key, "t"));

	/* keys print the same in every session (see gdpr_key_pin_format) */
	level = gdpr_key_pin_format(st->key);
	ret = gdpr_search_execute(sql.data, st->nparams, st->paramtypes,
							  st->paramvalues, 0);
	gdpr_key_unpin_format(level);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "search of %s failed: %s", st->relname, SPI_result_code_string(ret));

	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		SearchHit  *hit = palloc(sizeof(SearchHit));
		Datum	   *names = palloc(sizeof(Datum) * st->ncols);
		int			nmatched = 0;

		hit->keytext = SPI_getvalue(tuple, tupdesc, 1);
		for (int i = 0; i < st->ncols; i++)
		{
			bool		isnull;

			if (DatumGetBool(SPI_getbinval(tuple, tupdesc, i + 2, &isnull)))
				names[nmatched++] = DirectFunctionCall1(namein,
														CStringGetDatum(st->colnames[i]));
		}
		hit->matched = PointerGetDatum(construct_array(names, nmatched, NAMEOID,
													   NAMEDATALEN, false,
													   TYPALIGN_CHAR));
		hits = lappend(hits, hit);
	}
	SPI_freetuptable(SPI_tuptable);
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
	{
		GdprSearchTable *st = (GdprSearchTable *) lfirst(lc);
		ListCell   *hc;

		foreach(hc, run_search(st))
		{
			SearchHit  *hit = (SearchHit *) lfirst(hc);
			Datum		values[3];
			bool		nulls[3] = {false, false, false};

			values[0] = ObjectIdGetDatum(st->relid);
			values[1] = CStringGetTextDatum(hit->keytext);
			values[2] = hit->matched;
			/* the tuplestore copies the values into its own memory */
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
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

	searches = start_search(fcinfo);
	if (searches == NIL)
		PG_RETURN_VOID();

	gdpr_spi_connect();
	foreach(lc, searches)
	{
		GdprSearchTable *st = (GdprSearchTable *) lfirst(lc);
		List	   *keys = NIL;
		ListCell   *hc;
		int64		anonymised;
		int64		skipped = 0;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		foreach(hc, run_search(st))
			keys = lappend(keys, ((SearchHit *) lfirst(hc))->keytext);
		if (keys == NIL)
			continue;

		if (st->table->can_anonymise)
			anonymised = gdpr_anonymise_keys(st->relid, keys, false, &skipped);
		else
		{
			anonymised = 0;
			skipped = list_length(keys);
		}

		values[0] = ObjectIdGetDatum(st->relid);
		values[1] = Int64GetDatum(anonymised);
		values[2] = Int64GetDatum(skipped);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	gdpr_spi_finish();
	PG_RETURN_VOID();
}
