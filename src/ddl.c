/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Keeping the registry in step with DDL: event triggers.
 *
 * - A partition created in, or attached to, a registered partitioned table
 *   gets the TRUNCATE-capture trigger (the DELETE-capture row trigger is
 *   cloned to new partitions by PostgreSQL itself).
 * - A registered table that is dropped leaves the registry, with its rules,
 *   markers and retention policy, so that no dangling OID stays behind; a
 *   retention policy goes with its column too.
 * - Classification (classify.c): a column added to a registered table is
 *   checked at commit (the gate), a renamed column keeps its
 *   classification, a dropped column or table leaves it.
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

/* a column renamed by ALTER TABLE ... RENAME COLUMN */
typedef struct RenamedColumn
{
	Oid			relid;
	char	   *oldname;
	char	   *newname;
} RenamedColumn;

/*
 * gdpr_ddl_command_end
 *		ddl_command_end event trigger for CREATE TABLE and ALTER TABLE:
 *		give partitions created in, or attached to, registered tables the
 *		TRUNCATE-capture trigger; note columns added to registered tables
 *		for the commit-time gate, and keep renamed columns classified.
 */
Datum
gdpr_ddl_command_end(PG_FUNCTION_ARGS)
{
	List	   *tables = NIL;
	List	   *added = NIL;	/* ObjectAddress *: columns added */
	List	   *renamed = NIL;	/* RenamedColumn * */
	ListCell   *lc;
	MemoryContext caller = CurrentMemoryContext;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by event trigger manager",
						"gdpr_ddl_command_end")));
	if (!gdpr_catalog_present())
		PG_RETURN_NULL();

	gdpr_spi_connect();
	if (SPI_execute("SELECT command_tag, objid, command "
					"FROM pg_catalog.pg_event_trigger_ddl_commands() "
					"WHERE object_type OPERATOR(pg_catalog.=) ANY ('{table,table column}')",
					true, 0) != SPI_OK_SELECT)
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
		 * Triggers for new partitions only: CREATE TABLE ... PARTITION OF
		 * reports the partition, ALTER TABLE ... ATTACH PARTITION the parent
		 * (the partition is in the subcommand).  Other ALTER TABLEs get no
		 * triggers: a restore adds primary keys with ALTER TABLE and then
		 * creates the dumped triggers itself.  Added and renamed columns go
		 * to classify.c.
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

				/* the classification gate: a column added (classify.c) */
				if (IsA(atc, AlterTableCmd) && gdpr_at_adds_column(atc->subtype) &&
					OidIsValid(sub->address.objectId) && sub->address.objectSubId > 0)
				{
					ObjectAddress *address = palloc(sizeof(ObjectAddress));

					*address = sub->address;
					added = lappend(added, address);
				}
				if (IsA(atc, AlterTableCmd) && atc->subtype == AT_AttachPartition)
				{
					PartitionCmd *pc = (PartitionCmd *) atc->def;
					Oid			part = RangeVarGetRelid(pc->name, NoLock, true);

					if (OidIsValid(part))
						tables = lappend_oid(tables, part);
				}
			}
		}
		else if (strcmp(tag, "ALTER TABLE") == 0 && !isnull && cmd->type == SCT_Simple &&
				 IsA(cmd->parsetree, RenameStmt) &&
				 ((RenameStmt *) cmd->parsetree)->renameType == OBJECT_COLUMN)
		{
			/* a renamed column keeps its classification (classify.c) */
			RenameStmt *rs = (RenameStmt *) cmd->parsetree;
			RenamedColumn *rc = palloc(sizeof(RenamedColumn));

			rc->relid = relid;
			rc->oldname = pstrdup(rs->subname);
			rc->newname = pstrdup(rs->newname);
			renamed = lappend(renamed, rc);
		}
		MemoryContextSwitchTo(old);
	}
	gdpr_spi_finish();

	foreach(lc, tables)
		gdpr_trigger_attach_partition(lfirst_oid(lc));
	foreach(lc, added)
	{
		ObjectAddress *address = lfirst(lc);

		gdpr_classify_column_added(address->objectId, address->objectSubId);
	}
	foreach(lc, renamed)
	{
		RenamedColumn *rc = lfirst(lc);

		gdpr_catalog_rename_column(rc->relid, rc->oldname, rc->newname);
		gdpr_retention_rename_column(rc->relid, rc->oldname, rc->newname);
		gdpr_classify_column_renamed(rc->relid, rc->oldname, rc->newname);
	}
	PG_RETURN_NULL();
}

/*
 * gdpr_sql_drop
 *		sql_drop event trigger: take dropped tables, and the dropped
 *		columns and foreign keys of registered tables, out of the registry.
 *
 * A rule (ON DELETE ANONYMISE, export_follow) belongs to its foreign key:
 * it goes with it, with a WARNING naming it, so that a migration that drops
 * and re-creates a foreign key (Django's AlterField does) never has the old
 * rule applied to the new constraint, and its authors see that the rule is
 * gone.  A dropped PII column leaves the registry silently.
 */
Datum
gdpr_sql_drop(PG_FUNCTION_ARGS)
{
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by event trigger manager",
						"gdpr_sql_drop")));
	if (!gdpr_catalog_present())
		PG_RETURN_NULL();

	foreach(lc, gdpr_catalog_forget_dropped())
	{
		GdprDroppedRule *dropped = lfirst(lc);

		ereport(WARNING,
				(errmsg("the %s rule of foreign key \"%s\" on table \"%s\" was dropped with the constraint",
						dropped->anonymise ? "ON DELETE ANONYMISE" : "export_follow",
						dropped->conname, get_rel_name(dropped->relid)),
				 errhint("If the foreign key is created again, declare the rule again with %s.",
						 dropped->anonymise ? "gdpr.on_delete_anonymise()" : "gdpr.export_follow()")));
	}
	gdpr_events_forget_dropped();
	gdpr_spi_connect();
	gdpr_retention_sql_drop();
	gdpr_classify_sql_drop();
	gdpr_hold_sql_drop();
	gdpr_spi_finish();
	PG_RETURN_NULL();
}
