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
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by event trigger manager",
						"gdpr_sql_drop")));
	if (!registry_present())
		PG_RETURN_NULL();

	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL,
							  "WITH d AS (SELECT object_type, objid, objsubid, address_names,"
							  "                  CASE WHEN object_type IN ('table constraint', 'table column')"
							  "                       THEN pg_catalog.to_regclass(pg_catalog.quote_ident(address_names[1])"
							  "                            OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||)"
							  "                            pg_catalog.quote_ident(address_names[2])) END AS owner_rel"
							  "           FROM pg_catalog.pg_event_trigger_dropped_objects()), "
							  "t AS (SELECT objid FROM d WHERE object_type = 'table' AND objsubid = 0), "
							  "r AS (DELETE FROM gdpr.constraint_rule WHERE rel IN (SELECT objid FROM t)), "
							  "m AS (DELETE FROM gdpr.marker WHERE rel IN (SELECT objid FROM t)), "
							  "f AS (DELETE FROM gdpr.registered_field WHERE rel IN (SELECT objid FROM t)), "
							  "rt AS (DELETE FROM gdpr.registered_table WHERE rel IN (SELECT objid FROM t)), "
							  "fc AS (DELETE FROM gdpr.registered_field g USING d"
							  "       WHERE d.object_type = 'table column' AND g.rel = d.owner_rel"
							  "         AND g.column_name OPERATOR(pg_catalog.=) d.address_names[3]) "
							  "DELETE FROM gdpr.constraint_rule g USING d"
							  " WHERE d.object_type = 'table constraint' AND g.rel = d.owner_rel"
							  "   AND g.constraint_name OPERATOR(pg_catalog.=) d.address_names[3]"
							  " RETURNING g.rel::pg_catalog.oid, g.constraint_name::pg_catalog.text, g.rule",
							  0, NULL, NULL, NULL, false, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			rel = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		char	   *conname = SPI_getvalue(tup, desc, 2);
		char	   *rule = SPI_getvalue(tup, desc, 3);
		bool		anonymise = strcmp(rule, "anonymise") == 0;

		ereport(WARNING,
				(errmsg("the %s rule of foreign key \"%s\" on table \"%s\" was dropped with the constraint",
						anonymise ? "ON DELETE ANONYMISE" : "export_follow",
						conname, get_rel_name(rel)),
				 errhint("If the foreign key is created again, declare the rule again with %s.",
						 anonymise ? "gdpr.on_delete_anonymise()" : "gdpr.export_follow()")));
	}
	gdpr_retention_sql_drop();
	gdpr_hold_sql_drop();
	gdpr_spi_finish();
	PG_RETURN_NULL();
}
