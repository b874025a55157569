/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Keeping the registry in step with DDL: event triggers.
 *
 * - A partition created in, or attached to, a registered partitioned table
 *   gets the TRUNCATE-capture trigger (the DELETE-capture row trigger is
 *   cloned to new partitions by PostgreSQL itself).
 * - A registered table that is dropped leaves the registry, with its rules
 *   and markers, so that no dangling OID stays behind.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/ddl.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/parsenodes.h"
#include "tcop/deparse_utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_ddl_command_end);
PG_FUNCTION_INFO_V1(gdpr_sql_drop);

/*
 * registry_present
 *		Whether the registry tables exist (they do not while the extension
 *		itself is being dropped).
 */
static bool
registry_present(void)
{
	Oid			nsp = get_namespace_oid(GDPR_SCHEMA_NAME, true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("registered_table", nsp));
}

/*
 * gdpr_ddl_command_end
 *		ddl_command_end event trigger for CREATE TABLE and ALTER TABLE:
 *		give partitions created in, or attached to, registered tables the
 *		TRUNCATE-capture trigger.
 */
Datum
gdpr_ddl_command_end(PG_FUNCTION_ARGS)
{
	List	   *tables = NIL;
	ListCell   *lc;
	MemoryContext caller = CurrentMemoryContext;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by event trigger manager",
						"gdpr_ddl_command_end")));
	if (!registry_present())
		PG_RETURN_NULL();

	gdpr_spi_connect();
	if (SPI_execute("SELECT command_tag, objid, command "
					"FROM pg_catalog.pg_event_trigger_ddl_commands() "
					"WHERE object_type OPERATOR(pg_catalog.=) 'table'", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *tag = SPI_getvalue(tup, desc, 1);
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		CollectedCommand *cmd = (CollectedCommand *) DatumGetPointer(SPI_getbinval(tup, desc, 3,
																					&isnull));
		MemoryContext old = MemoryContextSwitchTo(caller);

		/*
		 * Only new partitions: CREATE TABLE ... PARTITION OF reports the
		 * partition, ALTER TABLE ... ATTACH PARTITION the parent (the
		 * partition is in the subcommand).  Other ALTER TABLEs are left
		 * alone: a restore adds primary keys with ALTER TABLE and then
		 * creates the dumped triggers itself.
		 */
		if (strcmp(tag, "CREATE TABLE") == 0 && get_rel_relispartition(relid))
			tables = lappend_oid(tables, relid);
		else if (strcmp(tag, "ALTER TABLE") == 0 && !isnull && cmd->type == SCT_AlterTable)
		{
			ListCell   *sc;

			foreach(sc, cmd->d.alterTable.subcmds)
			{
				CollectedATSubcmd *sub = lfirst(sc);
				AlterTableCmd *atc = (AlterTableCmd *) sub->parsetree;

				if (IsA(atc, AlterTableCmd) && atc->subtype == AT_AttachPartition)
				{
					PartitionCmd *pc = (PartitionCmd *) atc->def;
					Oid			part = RangeVarGetRelid(pc->name, NoLock, true);

					if (OidIsValid(part))
						tables = lappend_oid(tables, part);
				}
			}
		}
		MemoryContextSwitchTo(old);
	}
	gdpr_spi_finish();

	foreach(lc, tables)
		gdpr_trigger_attach_partition(lfirst_oid(lc));
	PG_RETURN_NULL();
}

/*
 * gdpr_sql_drop
 *		sql_drop event trigger: take dropped tables out of the registry.
 */
Datum
gdpr_sql_drop(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by event trigger manager",
						"gdpr_sql_drop")));
	if (!registry_present())
		PG_RETURN_NULL();

	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL, "WITH d AS (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() "
					"          WHERE object_type = 'table' AND objsubid = 0), "
					"r AS (DELETE FROM gdpr.constraint_rule WHERE rel IN (SELECT objid FROM d)), "
					"m AS (DELETE FROM gdpr.marker WHERE rel IN (SELECT objid FROM d)), "
					"f AS (DELETE FROM gdpr.registered_field WHERE rel IN (SELECT objid FROM d)) "
					"DELETE FROM gdpr.registered_table WHERE rel IN (SELECT objid FROM d)",
							 0, NULL, NULL, NULL, false, 0);
	gdpr_spi_finish();
	PG_RETURN_NULL();
}
