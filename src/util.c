/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Small helpers shared by every part of gdpr: names, privilege checks,
 *	  arrays, SPI and kept plans.  Identity switches are in identity.c.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/util.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_inherits.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "gdpr.h"

/* Local state */
bool		gdpr_replaying = false;
bool		gdpr_scrubbing = false;

/*
 * gdpr_schema_oid
 *		Return the OID of the gdpr schema; error if it does not exist.
 */
Oid
gdpr_schema_oid(void)
{
	return get_namespace_oid(GDPR_SCHEMA_NAME, false);
}

/*
 * gdpr_relation_name
 *		Schema-qualified, quoted name of a relation, as used in the log, in
 *		exports and in generated SQL.
 *
 * The result is palloc'd.  Errors out if the relation does not exist.
 */
char *
gdpr_relation_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  relname);
}

/*
 * gdpr_relation_from
 *		"[ONLY ]schema.table": how gdpr's statements name a registered table.
 *
 * A partitioned table is named whole (its partitions hold its rows); an
 * ordinary one with ONLY, so that rows of inheritance children, which have
 * keys of their own, are never taken for its rows.  Returns palloc'd SQL.
 */
char *
gdpr_relation_from(Oid relid)
{
	return psprintf("%s%s", get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
					gdpr_relation_name(relid));
}

/*
 * gdpr_check_table
 *		Check that relid is a table gdpr can work on and that the current
 *		user may change it (for_write) or at least is its owner.
 *
 * Ordinary and partitioned tables only.  For for_write = false the caller
 * must own the table (registration puts triggers on it).  Returns relid.
 */
Oid
gdpr_check_table(Oid relid, bool for_write)
{
	char		relkind = get_rel_relkind(relid);

	if (relkind == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table", get_rel_name(relid)),
				 errdetail("Only ordinary and partitioned tables can hold registered personal data.")));
	if (get_rel_persistence(relid) == RELPERSISTENCE_TEMP)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a temporary table", get_rel_name(relid)),
				 errdetail("Temporary tables cannot be registered: their rows would outlive them in the registry and the log.")));

	if (for_write)
	{
		AclResult	aclresult;

		aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_UPDATE);
		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult, OBJECT_TABLE, get_rel_name(relid));
	}
	else if (!gdpr_class_ownercheck(relid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, get_rel_name(relid));

	return relid;
}

/*
 * gdpr_text_array_to_list
 *		Turn a one-dimensional text[] into a List of C strings.
 *
 * NULL array means NIL.  NULL elements are refused with an error naming
 * what (e.g. "fields").  Strings are palloc'd in the current context.
 */
List *
gdpr_text_array_to_list(ArrayType *arr, const char *what)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (arr == NULL)
		return NIL;
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("\"%s\" must be a one-dimensional array", what)));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("\"%s\" must not contain null values", what)));
		result = lappend(result, TextDatumGetCString(elems[i]));
	}
	return result;
}

/*
 * gdpr_list_to_text_array
 *		Build a text[] Datum from a List of C strings (NIL gives '{}').
 */
Datum
gdpr_list_to_text_array(List *strings)
{
	int			n = list_length(strings);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, strings)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * receiver_nothing
 *		rShutdown and rDestroy of gdpr's DestReceivers: nothing to do (their
 *		owner reads what they kept, then frees them).
 */
static void
receiver_nothing(DestReceiver *self)
{
}

/*
 * receiver_startup_nothing
 *		rStartup of a gdpr DestReceiver that needs none.
 */
static void
receiver_startup_nothing(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

/*
 * gdpr_receiver_init
 *		Make self a DestReceiver that passes each row to receive (and the
 *		result's descriptor to startup, when not NULL), for
 *		SPI_execute_extended and SPI_execute_plan_extended.
 */
void
gdpr_receiver_init(DestReceiver *self,
				   bool (*receive) (TupleTableSlot *slot, DestReceiver *self),
				   void (*startup) (DestReceiver *self, int operation, TupleDesc typeinfo))
{
	self->receiveSlot = receive;
	self->rStartup = startup ? startup : receiver_startup_nothing;
	self->rShutdown = receiver_nothing;
	self->rDestroy = receiver_nothing;
	self->mydest = DestNone;
}

/*
 * gdpr_spi_connect
 *		SPI_connect that errors out instead of returning a code.
 */
void
gdpr_spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/*
 * gdpr_spi_finish
 *		SPI_finish that errors out instead of returning a code.
 */
void
gdpr_spi_finish(void)
{
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "SPI_finish failed");
}

/*
 * gdpr_plan_for_lookups
 *		Make the planner use index lookups for the statement about to run.
 *
 * The per-row statements (one row anonymised, the rows referencing one
 * deleted row) keep a generic plan for the whole session.  That plan is
 * often first built while gdpr.marker is empty, and would then read the
 * markers with a sequential scan and a hash anti-join for ever after, which
 * makes a bulk DELETE quadratic as the markers grow.  Those statements only
 * ever touch a few rows by key, so plan them with sequential scans, hash
 * and merge joins discouraged.  Returns the GUC nesting level for
 * gdpr_plan_done.
 */
int
gdpr_plan_for_lookups(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_hashjoin", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("enable_mergejoin", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * gdpr_plan_done
 *		Undo gdpr_plan_for_lookups.
 */
void
gdpr_plan_done(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * gdpr_util_init
 *		Register the callbacks of gdpr's caches (cache.c); called once from
 *		_PG_init.
 */
void
gdpr_util_init(void)
{
	gdpr_cache_init();
}

/*
 * gdpr_plan_blank
 *		Blank out the constants marked GDPR_BLANK_MARK in the text that
 *		plan's statements keep for messages: each becomes a run of '*' of
 *		the same length.  Legal holds mark the held keys so (hold.c).
 *
 * The keys of held rows are for gdpr.holds' readers only.  An error or a
 * NOTICE raised while an erasing statement runs (a trigger's, a
 * constraint's) has the statement's text in its context ("SQL statement
 * ..."), which reaches the caller, a PL/pgSQL handler of the caller's
 * (GET STACKED DIAGNOSTICS), the server log and pg_stat_statements.  That
 * text is the plan's copy of the statement, which is not parsed again (a
 * plan is revalidated from its raw parse tree), so it can be blanked in
 * place once the plan is prepared; the same length keeps every error
 * position within it right.  The constant is quote_literal's output:
 * '...' with quotes doubled, or E'...' with backslashes doubled too.
 */
void
gdpr_plan_blank(SPIPlanPtr plan)
{
	ListCell   *lc;

	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *ps = (CachedPlanSource *) lfirst(lc);
		char	   *p = (char *) ps->query_string;

		while (p != NULL && (p = strstr(p, GDPR_BLANK_MARK)) != NULL)
		{
			bool		escapes;

			p += strlen(GDPR_BLANK_MARK);
			escapes = (*p == 'E');
			if (escapes)
				p++;
			if (*p != '\'')
				continue;
			for (p++; *p != '\0'; p++)
			{
				if ((escapes && *p == '\\' && p[1] != '\0') ||
					(*p == '\'' && p[1] == '\''))
					*p++ = '*';
				else if (*p == '\'')
					break;
				*p = '*';
			}
		}
	}
}

/*
 * gdpr_prepare_blanked
 *		SPI_prepare a statement, with its marked constants blanked out of
 *		its text (gdpr_plan_blank).
 */
SPIPlanPtr
gdpr_prepare_blanked(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	gdpr_plan_blank(plan);
	return plan;
}

/*
 * gdpr_prepare_lookup_plan
 *		Prepare, plan and keep a statement that finds a few rows by key.
 *
 * The plan is generic and is made at once, with sequential scans, hash and
 * merge joins discouraged (gdpr_plan_for_lookups): made later, while
 * gdpr.marker is still empty, it would read the markers with a sequential
 * scan for as long as it is kept, and a bulk DELETE would turn quadratic as
 * they grow.  The caches that keep such plans drop them when any relation
 * they read is invalidated (gdpr_cache_depend_plan), gdpr.marker's new
 * statistics included, so they are made again, the same way, after a
 * change, instead of being re-planned by the plan cache without these
 * settings.
 */
SPIPlanPtr
gdpr_prepare_lookup_plan(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, types, CURSOR_OPT_GENERIC_PLAN);
	CachedPlan *cplan;
	int			level;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare_cursor failed: %s", SPI_result_code_string(SPI_result));
	gdpr_plan_blank(plan);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	level = gdpr_plan_for_lookups();
	cplan = SPI_plan_get_cached_plan(plan);
	if (cplan != NULL)
		ReleaseCachedPlan(cplan, CurrentResourceOwner);
	gdpr_plan_done(level);
	return plan;
}

/*
 * gdpr_string_in_list
 *		Whether s is one of the C strings of list.
 */
bool
gdpr_string_in_list(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp((char *) lfirst(lc), s) == 0)
			return true;
	return false;
}

/*
 * gdpr_inheritors_array
 *		relid and all its inheritors (partitions included) as an oid[]
 *		Datum.
 */
Datum
gdpr_inheritors_array(Oid relid)
{
	List	   *rels = find_all_inheritors(relid, NoLock, NULL);
	Datum	   *oids = palloc(sizeof(Datum) * list_length(rels));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, rels)
		oids[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	return PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
}

/*
 * gdpr_subxact_run
 *		Run fn(arg) in a subtransaction.  Returns NULL when it succeeded;
 *		otherwise the subtransaction is rolled back and the error, copied
 *		into the caller's memory context, is returned for the caller to
 *		handle, or to raise again with ReThrowError.
 */
ErrorData *
gdpr_subxact_run(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
	return edata;
}
