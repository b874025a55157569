/*-------------------------------------------------------------------------
 *
 * scrub.c
 *	  What a scrub (gdpr.anonymise_db) does with each registered table, and
 *	  in which order.
 *
 * Each registered table has a scrub action: 'anonymise' (the default),
 * 'delete' (every row deleted by the caller, foreign-key actions apply),
 * 'truncate' (emptied with TRUNCATE, only together with every table that
 * references it) or 'keep' (untouched: reference data).  A scrub empties
 * the truncated tables first (nothing outside them references them), then
 * deletes from the 'delete' tables, referencing tables before the tables
 * they reference, then anonymises.
 *
 * A scrub writes no events to the log: while it runs, gdpr_scrubbing is
 * set, and the delete and TRUNCATE capture triggers and the markers queue
 * nothing (the markers of deleted rows still go).
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/scrub.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_set_scrub_action);

/*
 * referencing_tables
 *		The tables (other than relid) with a foreign key to relid, as an
 *		OID List in the caller's context.  A partition is named by the root
 *		of its partitioned table (a TRUNCATE of the root empties it; Pagila
 *		declares its foreign keys on the partitions); constraints cloned
 *		onto partitions are left out.
 *		Connects to SPI itself.
 */
static List *
referencing_tables(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	MemoryContext caller = CurrentMemoryContext;
	List	   *result = NIL;

	gdpr_spi_connect();
	if (SPI_execute_with_args("SELECT DISTINCT r.rel FROM pg_catalog.pg_constraint c,"
							  " LATERAL (SELECT COALESCE(pg_catalog.pg_partition_root(c.conrelid),"
							  "                          c.conrelid)::pg_catalog.oid AS rel) r"
							  " WHERE c.contype OPERATOR(pg_catalog.=) 'f'"
							  "   AND c.confrelid OPERATOR(pg_catalog.=) $1"
							  "   AND r.rel OPERATOR(pg_catalog.<>) $1"
							  "   AND c.conparentid OPERATOR(pg_catalog.=) 0"
							  " ORDER BY 1",
							  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			child = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext old = MemoryContextSwitchTo(caller);

		result = lappend_oid(result, child);
		MemoryContextSwitchTo(old);
	}
	gdpr_spi_finish();
	return result;
}

/*
 * check_truncatable
 *		Error out unless every table referencing relid is in truncated (an
 *		OID List), the set of tables a scrub truncates.
 */
static void
check_truncatable(Oid relid, List *truncated)
{
	ListCell   *lc;

	foreach(lc, referencing_tables(relid))
	{
		Oid			child = lfirst_oid(lc);

		if (!list_member_oid(truncated, child))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("table \"%s\" cannot be truncated by a scrub: table \"%s\" references it",
							get_rel_name(relid), get_rel_name(child)),
					 errdetail("TRUNCATE empties a table only together with the tables that reference it."),
					 errhint("Give \"%s\" the scrub action \"truncate\" first, or use \"delete\" for \"%s\".",
							 get_rel_name(child), get_rel_name(relid))));
	}
}

/*
 * tables_with_action
 *		The registered tables whose scrub action is action, in the order of
 *		tables (an OID List).
 */
static List *
tables_with_action(List *tables, const char *action)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, tables)
		if (strcmp(gdpr_catalog_scrub_action(lfirst_oid(lc)), action) == 0)
			result = lappend_oid(result, lfirst_oid(lc));
	return result;
}

/*
 * gdpr_scrub_set
 *		Set the scrub action of registered table relid.  The caller must own
 *		the table; 'truncate' is refused while a table outside the truncated
 *		set references it.
 */
void
gdpr_scrub_set(Oid relid, const char *action)
{
	gdpr_check_table(relid, false);
	(void) gdpr_registered_table(relid);
	if (strcmp(action, "anonymise") != 0 && strcmp(action, "delete") != 0 &&
		strcmp(action, "truncate") != 0 && strcmp(action, "keep") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown scrub action \"%s\"", action),
				 errhint("The actions are \"anonymise\", \"delete\", \"truncate\" and \"keep\".")));
	if (strcmp(action, "truncate") == 0)
		check_truncatable(relid,
						  lappend_oid(tables_with_action(gdpr_catalog_registered_tables(),
														 "truncate"),
									  relid));

	gdpr_catalog_set_scrub_action(relid, action);
}

/*
 * gdpr_scrub_order
 *		The registered tables (an OID List, in name order) in the order a
 *		scrub treats them: the truncated ones, then the 'delete' ones,
 *		each before the tables it references (in name order where foreign
 *		keys allow any order, or form a cycle), then the others.  Errors
 *		out, before anything is changed, when a truncated table is
 *		referenced by a table outside the truncated set.
 */
List *
gdpr_scrub_order(List *tables)
{
	List	   *truncated = tables_with_action(tables, "truncate");
	List	   *deleted = tables_with_action(tables, "delete");
	List	   *result = list_copy(truncated);
	ListCell   *lc;

	foreach(lc, truncated)
		check_truncatable(lfirst_oid(lc), truncated);

	/* repeatedly take the first table no remaining table references */
	while (deleted != NIL)
	{
		Oid			next = InvalidOid;

		foreach(lc, deleted)
		{
			ListCell   *rc;
			bool		referenced = false;

			foreach(rc, referencing_tables(lfirst_oid(lc)))
				if (list_member_oid(deleted, lfirst_oid(rc)))
					referenced = true;
			if (!referenced)
			{
				next = lfirst_oid(lc);
				break;
			}
		}
		if (!OidIsValid(next))
			next = linitial_oid(deleted);	/* a cycle: the foreign keys decide */
		result = lappend_oid(result, next);
		deleted = list_delete_oid(deleted, next);
	}

	foreach(lc, tables)
		if (!list_member_oid(result, lfirst_oid(lc)))
			result = lappend_oid(result, lfirst_oid(lc));
	return result;
}

/*
 * gdpr_set_scrub_action
 *		gdpr.set_scrub_action(rel, action)
 */
Datum
gdpr_set_scrub_action(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and action must not be null")));
	gdpr_scrub_set(PG_GETARG_OID(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}

/*
 * The registered table whose rows gdpr_scrub_delete_all is deleting.  While
 * it is set, the delete-capture trigger returns at once for that table's
 * rows (trigger.c): the scrub queues no event for them, and their markers
 * are dropped afterwards in one statement instead of row by row.
 */
Oid			gdpr_scrub_deleting = InvalidOid;

/*
 * gdpr_scrub_delete_all
 *		The 'delete' action of a scrub: delete every row of relid (a
 *		registered table) in one statement as the caller, the foreign keys'
 *		actions applying, then drop every marker of the table in one
 *		statement.  Returns the rows deleted.  Call it while gdpr_scrubbing
 *		is set and connected to SPI.
 *
 * Only relid's own rows skip the per-row trigger work: rows of other
 * registered tables that the delete cascades to lose their markers row by
 * row as usual.  Dropping all of relid's markers rather than those of the
 * deleted rows only errs on the safe side: a row the DELETE did not see (a
 * concurrent insert, a row hidden by row-level security) just loses its
 * "anonymised" mark and would be anonymised again, whereas a marker left
 * behind for a deleted key would make a new row reusing that key look
 * anonymised.  The rows a user trigger of relid deletes in a nested
 * statement are covered the same way.
 */
int64
gdpr_scrub_delete_all(Oid relid)
{
	Oid			saved = gdpr_scrub_deleting;
	int64		n = 0;

	Assert(gdpr_scrubbing);
	PG_TRY();
	{
		gdpr_scrub_deleting = relid;
		if (SPI_execute(psprintf("DELETE FROM %s", gdpr_relation_from(relid)), false, 0) !=
			SPI_OK_DELETE)
			elog(ERROR, "SPI_execute failed");
		n = (int64) SPI_processed;
	}
	PG_FINALLY();
	{
		gdpr_scrub_deleting = saved;
	}
	PG_END_TRY();
	gdpr_events_forget_all(relid);
	return n;
}
