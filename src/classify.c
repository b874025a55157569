/*-------------------------------------------------------------------------
 *
 * classify.c
 *	  Classification of every column, and the coverage gate.
 *
 * Every column of every user table has a status (the view gdpr.coverage):
 *
 * - "pii": gdpr.registered_field says so (catalog.c owns that table);
 * - "not_pii": it has a row in gdpr.not_pii_column;
 * - "ignored": its table has a row in gdpr.ignored_table;
 * - "unclassified": none of these.
 *
 * register classifies every column that exists then (its fields are PII,
 * the others not_pii); gdpr.set_not_pii, a declaration {"pii": false}, and
 * gdpr.ignore / the table key "ignore" classify the rest.  Columns are
 * stored by name and tables as regclass, so classifications survive
 * pg_dump; a renamed column keeps its classification, a dropped one (or
 * table) leaves it (ddl.c calls in here).
 *
 * The gate: when a transaction adds a column to a registered table, ddl.c
 * calls gdpr_classify_column_added, which (unless gdpr.unclassified is
 * off) notes the column (table and number) in backend memory for the
 * transaction.  When the transaction commits (XACT_EVENT_PRE_COMMIT, after
 * the deferred triggers, or PREPARE TRANSACTION), a noted column still
 * there and still unclassified raises a WARNING or, under
 * gdpr.unclassified = error, an ERROR that makes the commit fail.  DML
 * never comes here; a commit without DDL on registered tables only tests
 * an empty list.
 *
 * (Not a row in a table with a deferred constraint trigger: gdpr writes
 * its tables as the extension's owner inside a security-restricted
 * operation, where PostgreSQL refuses to queue deferred triggers.)
 *
 * gdpr's tables are written as the extension's owner (identity.c); the
 * SQL-callable functions require what register requires: owning the table.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/classify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_attribute.h"
#include "catalog/namespace.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_ignore);
PG_FUNCTION_INFO_V1(gdpr_unignore);

/* a column added to a registered table by the current transaction */
typedef struct AddedColumn
{
	Oid			relid;
	AttrNumber	attnum;			/* by number: a rename is followed */
} AddedColumn;

/* Local state: the columns to check at commit, in TopTransactionContext */
static List *added_columns = NIL;
static bool callback_registered = false;

static void classify_xact_callback(XactEvent event, void *arg);

/*
 * classify_spi
 *		Run one statement on gdpr's classification tables as the extension's
 *		owner, in its own SPI connection.  Returns SPI_processed.
 */
static uint64
classify_spi(const char *sql, int nargs, Oid *types, Datum *values, bool read_only)
{
	uint64		n;

	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL, sql, nargs, types, values, NULL, read_only, 0);
	n = SPI_processed;
	gdpr_spi_finish();
	return n;
}

/*
 * classification_present
 *		Whether the classification tables exist: not while the extension
 *		is at version 1.0 (the library is 1.1's) or being dropped.  Without
 *		them, register and declarations classify nothing and the gate is
 *		off.
 */
static bool
classification_present(void)
{
	Oid			nsp = get_namespace_oid(GDPR_SCHEMA_NAME, true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("not_pii_column", nsp));
}

/*
 * require_classification
 *		The error for ignoring a table while the extension is at 1.0.
 */
static void
require_classification(void)
{
	if (!classification_present())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("classification needs version 1.1 of the gdpr extension"),
				 errhint("Run ALTER EXTENSION gdpr UPDATE.")));
}

/*
 * check_column
 *		Error unless attname is a live user column of relid.
 */
static void
check_column(Oid relid, const char *attname)
{
	if (get_attnum(relid, attname) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						attname, get_rel_name(relid))));
}

/*
 * gdpr_classify_on_register
 *		register (or a declaration registering a table) classifies every
 *		column of relid that exists now: the PII fields (char *) are PII in
 *		gdpr.registered_field, every other column is not_pii.  A registered
 *		table holds personal data, so it is no longer ignored.
 */
void
gdpr_classify_on_register(Oid relid, List *fields)
{
	Oid			types[2] = {REGCLASSOID, TEXTARRAYOID};
	Datum		values[2];

	if (!classification_present())
		return;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = gdpr_list_to_text_array(fields);
	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL,
							  "INSERT INTO gdpr.not_pii_column (rel, column_name) "
							  "SELECT $1, a.attname FROM pg_catalog.pg_attribute a "
							  "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped "
							  "AND a.attname::pg_catalog.text <> ALL ($2) "
							  "ON CONFLICT (rel, column_name) DO NOTHING",
							  2, types, values, NULL, false, 0);
	(void) gdpr_owner_execute(NULL,
							  "DELETE FROM gdpr.not_pii_column "
							  "WHERE rel = $1 AND column_name::pg_catalog.text = ANY ($2)",
							  2, types, values, NULL, false, 0);
	(void) gdpr_owner_execute(NULL, "DELETE FROM gdpr.ignored_table WHERE rel = $1",
							  1, types, values, NULL, false, 0);
	gdpr_spi_finish();
}

/*
 * forget_table
 *		Run one DELETE of gdpr's classification tables whose only parameter
 *		is relid (nothing on a database still at version 1.0).
 */
static void
forget_table(const char *sql, Oid relid)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	if (!classification_present())
		return;
	(void) classify_spi(sql, 1, types, values, false);
}

/*
 * gdpr_classify_on_unregister
 *		A table leaving the registry leaves its classification: its columns
 *		are unclassified again (coverage shows them until someone decides).
 */
void
gdpr_classify_on_unregister(Oid relid)
{
	forget_table("DELETE FROM gdpr.not_pii_column WHERE rel = $1", relid);
}

/*
 * gdpr_classify_set_not_pii
 *		Classify a column as holding no personal data; with declared, the row
 *		is a declaration's.  Does not touch gdpr.registered_field: a PII row
 *		there wins (the SQL function takes the column out of PII first).
 */
void
gdpr_classify_set_not_pii(Oid relid, const char *attname, bool declared)
{
	Oid			types[3] = {REGCLASSOID, NAMEOID, BOOLOID};
	Datum		values[3];

	check_column(relid, attname);
	if (!classification_present())
		return;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(attname));
	values[2] = BoolGetDatum(declared);
	(void) classify_spi("INSERT INTO gdpr.not_pii_column (rel, column_name, declared) "
						"VALUES ($1, $2, $3) ON CONFLICT (rel, column_name) "
						"DO UPDATE SET declared = EXCLUDED.declared",
						3, types, values, false);
}

/*
 * gdpr_classify_forget_declared
 *		A column's declaration was removed: a not_pii classification it made
 *		goes with it (one made by register or set_not_pii stays).
 */
void
gdpr_classify_forget_declared(Oid relid, const char *attname)
{
	Oid			types[2] = {REGCLASSOID, NAMEOID};
	Datum		values[2];

	if (!classification_present())
		return;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(attname));
	(void) classify_spi("DELETE FROM gdpr.not_pii_column "
						"WHERE rel = $1 AND column_name = $2 AND declared",
						2, types, values, false);
}

/*
 * gdpr_classify_ignore
 *		Mark a whole table as holding no personal data.  A registered table
 *		cannot be ignored.  Idempotent; a declaration's row (declared) is
 *		not dumped, since the declaration makes it again on restore.
 */
void
gdpr_classify_ignore(Oid relid, bool declared)
{
	Oid			types[2] = {REGCLASSOID, BOOLOID};
	Datum		values[2];

	require_classification();
	if (gdpr_catalog_get_table(relid) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s\" is registered with gdpr", get_rel_name(relid)),
				 errdetail("A registered table holds personal data; only a table that holds none can be ignored."),
				 errhint("Unregister it first with gdpr.unregister(), or classify its columns with gdpr.set_not_pii().")));
	values[0] = ObjectIdGetDatum(relid);
	values[1] = BoolGetDatum(declared);
	(void) classify_spi(declared
						? "INSERT INTO gdpr.ignored_table (rel, declared) VALUES ($1, $2) "
						"ON CONFLICT (rel) DO UPDATE SET declared = true"
						: "INSERT INTO gdpr.ignored_table (rel, declared) VALUES ($1, $2) "
						"ON CONFLICT (rel) DO NOTHING",
						2, types, values, false);
}

/*
 * gdpr_classify_unignore
 *		Undo gdpr_classify_ignore (nothing if the table is not ignored).
 */
void
gdpr_classify_unignore(Oid relid)
{
	forget_table("DELETE FROM gdpr.ignored_table WHERE rel = $1", relid);
}

/*
 * gdpr_classify_sql_drop
 *		In the sql_drop event trigger: dropped tables and dropped columns
 *		leave the classification.  The caller is connected to SPI.
 */
void
gdpr_classify_sql_drop(void)
{
	if (!classification_present())
		return;
	(void) gdpr_owner_execute(NULL,
							  "WITH d AS (SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()), "
							  "i AS (DELETE FROM gdpr.ignored_table g USING d"
							  "      WHERE d.object_type = 'table' AND d.objsubid = 0"
							  "        AND g.rel::pg_catalog.oid = d.objid) "
							  "DELETE FROM gdpr.not_pii_column g USING d"
							  " WHERE g.rel::pg_catalog.oid = d.objid"
							  "   AND ((d.object_type = 'table' AND d.objsubid = 0)"
							  "        OR (d.object_type = 'table column'"
							  "            AND g.column_name OPERATOR(pg_catalog.=) d.address_names[3]))",
							  0, NULL, NULL, NULL, false, 0);
}

/*
 * gdpr_classify_column_renamed
 *		In the ddl_command_end event trigger: a column of relid (and of its
 *		inheritors, which PostgreSQL renames with it) was renamed from
 *		oldname to newname; its classification follows it.
 */
void
gdpr_classify_column_renamed(Oid relid, const char *oldname, const char *newname)
{
	Oid			types[3] = {OIDARRAYOID, NAMEOID, NAMEOID};
	Datum		values[3];

	if (!classification_present())
		return;
	values[0] = gdpr_inheritors_array(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(oldname));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(newname));
	(void) classify_spi("UPDATE gdpr.not_pii_column SET column_name = $3 "
						"WHERE rel::pg_catalog.oid = ANY ($1) AND column_name = $2",
						3, types, values, false);
}

/*
 * gdpr_classify_column_added
 *		In the ddl_command_end event trigger: ALTER TABLE added column attnum
 *		to relid.  If relid is registered and the gate is on, the column is
 *		checked when the transaction commits.
 */
void
gdpr_classify_column_added(Oid relid, AttrNumber attnum)
{
	AddedColumn *added;
	MemoryContext old;
	ListCell   *lc;

	if (gdpr_unclassified == GDPR_UNCLASSIFIED_OFF || IsBinaryUpgrade ||
		!classification_present())
		return;
	if (gdpr_catalog_get_table(relid) == NULL)
		return;
	if (!callback_registered)
	{
		RegisterXactCallback(classify_xact_callback, NULL);
		callback_registered = true;
	}
	/* once (a savepoint rolled back hands the same number out again) */
	foreach(lc, added_columns)
	{
		added = lfirst(lc);
		if (added->relid == relid && added->attnum == attnum)
			return;
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	added = palloc(sizeof(AddedColumn));
	added->relid = relid;
	added->attnum = attnum;
	added_columns = lappend(added_columns, added);
	MemoryContextSwitchTo(old);
}

/*
 * unclassified_error
 *		The gate's error: the transaction added a column to a registered
 *		table and did not classify it.
 */
pg_noreturn static void
unclassified_error(const char *relname, const char *attname)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
			 errmsg("column \"%s\" of registered table \"%s\" is not classified",
					attname, relname),
			 errdetail("gdpr.unclassified is \"error\": a column added to a registered table must be classified in the same transaction."),
			 errhint("Call gdpr.set_anonymiser() if it holds personal data, gdpr.set_not_pii() if not, or declare it in a label or comment.")));
}

/*
 * live_attname
 *		The name of column attnum of relid, or NULL if the table or the
 *		column is gone (dropped, or rolled back with a subtransaction).
 */
static char *
live_attname(Oid relid, AttrNumber attnum)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	char	   *result = NULL;

	if (HeapTupleIsValid(tup))
	{
		Form_pg_attribute att = (Form_pg_attribute) GETSTRUCT(tup);

		if (!att->attisdropped)
			result = pstrdup(NameStr(att->attname));
		ReleaseSysCache(tup);
	}
	return result;
}

/*
 * check_added_columns
 *		At commit: each column this transaction added to a registered table
 *		that still exists (by number: a rename in the meantime is followed),
 *		whose table is still registered and not ignored, and that is
 *		neither PII nor not_pii, raises the gate's WARNING or ERROR.
 */
static void
check_added_columns(void)
{
	List	   *todo = added_columns;
	ListCell   *lc;

	/* an error here aborts the transaction: do not come back */
	added_columns = NIL;
	if (gdpr_unclassified == GDPR_UNCLASSIFIED_OFF || !classification_present())
		return;

	PushActiveSnapshot(GetTransactionSnapshot());
	foreach(lc, todo)
	{
		AddedColumn *added = lfirst(lc);
		char	   *attname = live_attname(added->relid, added->attnum);
		Oid			types[2] = {REGCLASSOID, NAMEOID};
		Datum		values[2];
		bool		unclassified;
		GdprTable  *table;
		bool		field_pii;
		ListCell   *fc;

		if (attname == NULL)
			continue;
		values[0] = ObjectIdGetDatum(added->relid);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(attname));
		table = gdpr_catalog_get_table(added->relid);
		if (table == NULL)
			continue;
		field_pii = false;
		foreach(fc, table->fields)
			if (((GdprField *) lfirst(fc))->pii &&
				strcmp(((GdprField *) lfirst(fc))->attname, attname) == 0)
				field_pii = true;
		if (field_pii)
			continue;
		unclassified = classify_spi("SELECT 1 WHERE "
									"NOT EXISTS (SELECT 1 FROM gdpr.not_pii_column n "
									"  WHERE n.rel = $1 AND n.column_name = $2) "
									"AND NOT EXISTS (SELECT 1 FROM gdpr.ignored_table i "
									"  WHERE i.rel = $1)",
									2, types, values, true) > 0;
		if (!unclassified)
			continue;
		if (gdpr_unclassified == GDPR_UNCLASSIFIED_ERROR)
			unclassified_error(get_rel_name(added->relid), attname);
		ereport(WARNING,
				(errmsg("column \"%s\" of registered table \"%s\" is not classified",
						attname, get_rel_name(added->relid)),
				 errhint("Call gdpr.set_anonymiser() if it holds personal data, gdpr.set_not_pii() if not, or declare it in a label or comment.")));
	}
	PopActiveSnapshot();
}

/*
 * classify_xact_callback
 *		Run the gate when a transaction that added columns to registered
 *		tables commits (or prepares); forget them when it ends.
 */
static void
classify_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (added_columns != NIL)
				check_added_columns();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			added_columns = NIL;	/* freed with TopTransactionContext */
			break;
		default:
			break;
	}
}

/* ------------------------------------------------------------------------
 * SQL-callable functions
 * ------------------------------------------------------------------------
 */

/*
 * gdpr_ignore
 *		gdpr.ignore(rel)
 */
Datum
gdpr_ignore(PG_FUNCTION_ARGS)
{
	Oid			relid;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation must not be null")));
	relid = PG_GETARG_OID(0);
	gdpr_check_table(relid, false);
	gdpr_classify_ignore(relid, false);
	PG_RETURN_VOID();
}

/*
 * gdpr_unignore
 *		gdpr.unignore(rel)
 */
Datum
gdpr_unignore(PG_FUNCTION_ARGS)
{
	Oid			relid;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation must not be null")));
	relid = PG_GETARG_OID(0);
	gdpr_check_table(relid, false);
	gdpr_classify_unignore(relid);
	PG_RETURN_VOID();
}
