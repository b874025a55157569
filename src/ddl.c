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
 *		give new leaf partitions of registered tables the TRUNCATE-capture
 *		trigger.
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
	if (SPI_execute("SELECT DISTINCT objid FROM pg_catalog.pg_event_trigger_ddl_commands() "
					"WHERE object_type = 'table'", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));

		MemoryContext old = MemoryContextSwitchTo(caller);

		tables = lappend_oid(tables, relid);
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
	GdprIdentity saved;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by event trigger manager",
						"gdpr_sql_drop")));
	if (!registry_present())
		PG_RETURN_NULL();

	gdpr_spi_connect();
	gdpr_become(gdpr_extension_owner(), &saved);
	if (SPI_execute("WITH d AS (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() "
					"          WHERE object_type = 'table' AND objsubid = 0), "
					"r AS (DELETE FROM gdpr.constraint_rule WHERE rel IN (SELECT objid FROM d)), "
					"m AS (DELETE FROM gdpr.marker WHERE rel IN (SELECT objid FROM d)) "
					"DELETE FROM gdpr.registered_table WHERE rel IN (SELECT objid FROM d)",
					false, 0) < 0)
		elog(ERROR, "SPI_execute failed");
	gdpr_unbecome(&saved);
	gdpr_spi_finish();
	PG_RETURN_NULL();
}
