/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The registry: which tables and columns hold personal data, and how
 *	  each column is anonymised.
 *
 * The registry lives in the tables of the gdpr schema, read and written
 * through SPI with parameters as the extension's owner (users get no
 * privileges on them).  This file holds the register / unregister commands
 * and the reads of registered tables; trigger.c and ddl.c still
 * read or write registry tables themselves (issue 16, item 3).  A backend-local
 * cache of registered tables (cache.c), dropped by relcache invalidations
 * of the registered table, keeps the hot paths (delete triggers,
 * anonymisation) free of catalog queries; every registry change here sends
 * one.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_register);
PG_FUNCTION_INFO_V1(gdpr_unregister);
PG_FUNCTION_INFO_V1(gdpr_set_anonymiser);
PG_FUNCTION_INFO_V1(gdpr_export_follow);
PG_FUNCTION_INFO_V1(gdpr_drop_export_follow);

/* an entry of the registered-table cache */
typedef struct TableCacheEntry
{
	GdprTable  *table;			/* NULL: not registered */
} TableCacheEntry;

/* the one entry of the registered-list cache */
typedef struct RegisteredListEntry
{
	List	   *relids;			/* registered tables, ordered by name */
} RegisteredListEntry;

/* Local state */
static GdprCache *table_cache = NULL;
static GdprCache *registered_cache = NULL;

/*
 * catalog_spi
 *		Run one SQL statement on the registry as the extension's owner.
 *
 * The caller must be connected to SPI.  Returns SPI_processed; the result,
 * if any, is in SPI_tuptable.
 */
static uint64
catalog_spi(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
			bool read_only)
{
	(void) gdpr_owner_execute(NULL, sql, nargs, types, values, nulls, read_only, 0);
	return SPI_processed;
}

/*
 * text_list_from_datum
 *		List of C strings (in the given context) from a text[] Datum.
 */
static List *
text_list_from_datum(Datum d, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	List	   *result = gdpr_text_array_to_list(DatumGetArrayTypeP(d), "array");

	MemoryContextSwitchTo(old);
	return result;
}

/*
 * load_table
 *		Read a registered table's entry from the registry.
 *
 * Returns NULL when relid is not registered.  The result is allocated in
 * cxt.  Opens its own SPI connection.
 */
static GdprTable *
load_table(Oid relid, MemoryContext cxt)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	GdprTable  *table = NULL;
	bool		isnull;

	gdpr_spi_connect();
	if (catalog_spi("SELECT can_anonymise, export_fields, export_exclude "
					"FROM gdpr.registered_table WHERE rel = $1",
					1, types, values, NULL, false) == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		d;
		uint64		n;

		table = MemoryContextAllocZero(cxt, sizeof(GdprTable));
		table->relid = relid;
		table->can_anonymise = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
		d = SPI_getbinval(tup, desc, 2, &isnull);
		table->export_all = isnull;
		if (!isnull)
			table->export_fields = text_list_from_datum(d, cxt);
		d = SPI_getbinval(tup, desc, 3, &isnull);
		table->export_exclude = text_list_from_datum(d, cxt);

		n = catalog_spi("SELECT f.column_name::pg_catalog.text, f.pii, f.method, f.argument, f.search "
						"FROM gdpr.registered_field f "
						"JOIN pg_catalog.pg_attribute a ON a.attrelid = f.rel "
						"AND a.attname = f.column_name AND NOT a.attisdropped "
						"WHERE f.rel = $1 ORDER BY a.attnum",
						1, types, values, NULL, false);
		for (uint64 i = 0; i < n; i++)
		{
			GdprField  *field = MemoryContextAllocZero(cxt, sizeof(GdprField));
			MemoryContext old;

			tup = SPI_tuptable->vals[i];
			desc = SPI_tuptable->tupdesc;
			field->attname = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 1));
			field->pii = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
			if (field->pii)
				field->method = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 3));
			if (SPI_getvalue(tup, desc, 4) != NULL)
				field->argument = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 4));
			field->search = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
			old = MemoryContextSwitchTo(cxt);
			table->fields = lappend(table->fields, field);
			MemoryContextSwitchTo(old);
		}
	}
	gdpr_spi_finish();
	return table;
}

/*
 * build_table_entry
 *		GdprCacheBuild of the registered-table cache.  An entry depends on
 *		its table only: every registry change invalidates the table it is
 *		about (invalidate()), and so does any DDL that renames or drops its
 *		columns.
 */
static void
build_table_entry(void *entry, const void *key, void *arg)
{
	Oid			relid = *(const Oid *) key;

	gdpr_cache_depend(entry, relid);
	((TableCacheEntry *) entry)->table = load_table(relid, gdpr_cache_context(entry));
}

/*
 * gdpr_catalog_get_table
 *		The registry entry of relid, or NULL when it is not registered.
 *
 * The result lives in the cache and stays readable until the end of the
 * transaction; it may be stale after a statement that changes the
 * registry, so look it up again then.  Do not modify it.
 */
GdprTable *
gdpr_catalog_get_table(Oid relid)
{
	TableCacheEntry *entry;

	if (table_cache == NULL)
		table_cache = gdpr_cache_create("gdpr registry cache", sizeof(TableCacheEntry),
										false, NULL);
	entry = gdpr_cache_lookup(table_cache, &relid, build_table_entry, NULL);
	return entry->table;
}

/*
 * not_registered_error
 *		The error for a table that is not registered with gdpr.
 */
pg_noreturn static void
not_registered_error(Oid relid)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("relation \"%s\" is not registered with gdpr", relname),
			 errhint("Register it with gdpr.register().")));
}

/*
 * gdpr_registered_table
 *		The registry entry of relid, or the one error for a table that is
 *		not registered.
 */
GdprTable *
gdpr_registered_table(Oid relid)
{
	GdprTable  *table = gdpr_catalog_get_table(relid);

	if (table == NULL)
		not_registered_error(relid);
	return table;
}

/*
 * build_registered_list
 *		GdprCacheBuild of the registered-list cache.  Any relation may join
 *		or leave the registry, so the list depends on every relation.
 */
static void
build_registered_list(void *entry, const void *key, void *arg)
{
	RegisteredListEntry *rl = entry;
	uint64		n;

	gdpr_cache_depend_all(entry);
	gdpr_spi_connect();
	n = catalog_spi("SELECT t.rel FROM gdpr.registered_table t "
					"JOIN pg_catalog.pg_class c ON c.oid = t.rel "
					"JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace "
					"ORDER BY s.nspname, c.relname",
					0, NULL, NULL, NULL, false);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		MemoryContext old = MemoryContextSwitchTo(gdpr_cache_context(entry));

		rl->relids = lappend_oid(rl->relids, relid);
		MemoryContextSwitchTo(old);
	}
	gdpr_spi_finish();
}

/*
 * gdpr_catalog_registered_tables
 *		OIDs of every registered table that still exists, ordered by name.
 *
 * Cached until the next relcache invalidation; the result is a copy in
 * the current transaction's memory (callers may be inside SPI).
 */
List *
gdpr_catalog_registered_tables(void)
{
	Oid			only = InvalidOid;
	RegisteredListEntry *rl;
	MemoryContext old;
	List	   *result;

	if (registered_cache == NULL)
		registered_cache = gdpr_cache_create("gdpr registered tables",
											 sizeof(RegisteredListEntry), false, NULL);
	rl = gdpr_cache_lookup(registered_cache, &only, build_registered_list, NULL);
	old = MemoryContextSwitchTo(CurTransactionContext);
	result = list_copy(rl->relids);
	MemoryContextSwitchTo(old);
	return result;
}

/*
 * string_in_list
 *		Whether s is one of the C strings of list.
 */
static bool
string_in_list(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp((char *) lfirst(lc), s) == 0)
			return true;
	return false;
}

/*
 * gdpr_catalog_column_exported
 *		Whether a column of a registered table is exported: key columns
 *		always, others by export_fields (NULL: all) less export_exclude.
 */
bool
gdpr_catalog_column_exported(GdprTable *table, GdprKey *key,
							 const char *attname, AttrNumber attnum)
{
	if (key != NULL && gdpr_key_is_key_column(key, attnum))
		return true;
	if (!table->export_all && !string_in_list(table->export_fields, attname))
		return false;
	return !string_in_list(table->export_exclude, attname);
}

/*
 * check_columns_exist
 *		Error unless every name in columns is a live user column of rel.
 */
static void
check_columns_exist(Relation rel, List *columns)
{
	ListCell   *lc;

	foreach(lc, columns)
	{
		char	   *col = lfirst(lc);
		AttrNumber	attnum = get_attnum(RelationGetRelid(rel), col);

		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							col, RelationGetRelationName(rel))));
	}
}

/*
 * invalidate
 *		Tell every backend that relid's registry entry changed (delivered at
 *		commit), and forget it here now.
 */
static void
invalidate(Oid relid)
{
	CacheInvalidateRelcacheByRelid(relid);
	gdpr_cache_invalidate(relid);
}

/*
 * upsert_field
 *		Insert or update one registered_field row.
 */
static void
upsert_field(Oid relid, const char *attname, bool pii, const char *method,
			 const char *argument, bool search, bool declared)
{
	Oid			types[7] = {REGCLASSOID, NAMEOID, BOOLOID, TEXTOID, TEXTOID, BOOLOID, BOOLOID};
	Datum		values[7];
	char		nulls[] = "       ";	/* 7 columns */

	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(attname));
	values[2] = BoolGetDatum(pii);
	values[3] = method ? CStringGetTextDatum(method) : (Datum) 0;
	nulls[3] = method ? ' ' : 'n';
	values[4] = argument ? CStringGetTextDatum(argument) : (Datum) 0;
	nulls[4] = argument ? ' ' : 'n';
	values[5] = BoolGetDatum(search);
	values[6] = BoolGetDatum(declared);

	gdpr_spi_connect();
	catalog_spi("INSERT INTO gdpr.registered_field AS f "
				"(rel, column_name, pii, method, argument, search, declared) "
				"VALUES ($1, $2, $3, $4, $5, $6, $7) "
				"ON CONFLICT (rel, column_name) DO UPDATE SET pii = EXCLUDED.pii, "
				"method = EXCLUDED.method, argument = EXCLUDED.argument, "
				"search = EXCLUDED.search, declared = EXCLUDED.declared",
				7, types, values, nulls, false);
	gdpr_spi_finish();
}

/*
 * write_table_options
 *		Store a registered table's can_anonymise and export columns (already
 *		validated); with declared, mark the row as made by a declaration.
 */
static void
write_table_options(Oid relid, bool can_anonymise, List *export_fields, bool export_all,
					List *export_exclude, bool declared)
{
	Oid			types[5] = {REGCLASSOID, BOOLOID, TEXTARRAYOID, TEXTARRAYOID, BOOLOID};
	Datum		values[5];
	char		nulls[] = "     ";	/* 5 columns */

	values[0] = ObjectIdGetDatum(relid);
	values[1] = BoolGetDatum(can_anonymise);
	values[2] = export_all ? (Datum) 0 : gdpr_list_to_text_array(export_fields);
	nulls[2] = export_all ? 'n' : ' ';
	values[3] = gdpr_list_to_text_array(export_exclude);
	values[4] = BoolGetDatum(declared);
	gdpr_spi_connect();
	catalog_spi("UPDATE gdpr.registered_table SET can_anonymise = $2, export_fields = $3, "
				"export_exclude = $4, declared = declared OR $5 WHERE rel = $1",
				5, types, values, nulls, false);
	gdpr_spi_finish();
	invalidate(relid);
}

/*
 * warn_personal_key
 *		Warn when a table's primary key looks like personal data (a text
 *		column, or a column named like an e-mail address, phone number,
 *		name or national identifier): its values are kept in gdpr.marker,
 *		sent to the log database verbatim and copied into the unique
 *		columns that the "default" and "email" methods derive from the key.
 */
static void
warn_personal_key(GdprKey *key)
{
	static const char *const words[] = {
		"mail", "phone", "name", "ssn", "passport", "iban", "tax", "national", NULL
	};

	for (int i = 0; i < key->nkeys; i++)
	{
		bool		suspect = TypeCategory(getBaseType(key->typids[i])) == TYPCATEGORY_STRING;

		for (int w = 0; words[w] != NULL && !suspect; w++)
			if (strstr(key->attnames[i], words[w]) != NULL)
				suspect = true;
		if (suspect)
		{
			ereport(WARNING,
					(errmsg("the primary key of \"%s\" may hold personal data: column \"%s\"",
							get_rel_name(key->relid), key->attnames[i]),
					 errdetail("gdpr keeps key values in gdpr.marker, sends them verbatim to the log database, and the \"default\" and \"email\" methods copy them into unique columns."),
					 errhint("Prefer a surrogate key (an integer or a uuid) for tables that hold personal data.")));
			return;
		}
	}
}

/*
 * gdpr_catalog_register_table
 *		Register relid: its PII columns (method "default"), search fields,
 *		export columns and whether it may be anonymised, and attach the
 *		delete-logging triggers.
 *
 * The caller must own the table.  Errors if it is already registered, has
 * no primary key, or a column fails validation; nothing is written then.
 */
static void
gdpr_catalog_register_table(Oid relid, List *fields, List *search_fields,
							List *export_fields, bool export_all,
							List *export_exclude, bool can_anonymise)
{
	Relation	rel;
	ListCell   *lc;
	List	   *validated = NIL;
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1];

	gdpr_check_table(relid, false);
	warn_personal_key(gdpr_key_lookup(relid, false));
	if (gdpr_catalog_get_table(relid) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("relation \"%s\" is already registered with gdpr", get_rel_name(relid)),
				 errhint("Use gdpr.set_anonymiser() to change its columns, or gdpr.unregister() it first.")));

	rel = table_open(relid, AccessShareLock);
	foreach(lc, fields)
	{
		char	   *col = lfirst(lc);

		if (string_in_list(validated, col))
			continue;
		(void) gdpr_method_validate(rel, col, "default", NULL);
		validated = lappend(validated, col);
	}
	check_columns_exist(rel, search_fields);
	check_columns_exist(rel, export_fields);
	check_columns_exist(rel, export_exclude);
	table_close(rel, AccessShareLock);

	values[0] = ObjectIdGetDatum(relid);
	gdpr_spi_connect();
	catalog_spi("INSERT INTO gdpr.registered_table (rel) VALUES ($1)",
				1, types, values, NULL, false);
	gdpr_spi_finish();
	write_table_options(relid, can_anonymise, export_fields, export_all, export_exclude, false);

	foreach(lc, validated)
		upsert_field(relid, lfirst(lc), true, "default", NULL,
					 string_in_list(search_fields, lfirst(lc)), false);
	foreach(lc, search_fields)
		if (!string_in_list(validated, lfirst(lc)))
			upsert_field(relid, lfirst(lc), false, NULL, NULL, true, false);

	gdpr_trigger_attach(relid);
	gdpr_classify_on_register(relid, validated);
	invalidate(relid);
}

/*
 * gdpr_catalog_ensure_table
 *		Register relid with the defaults unless it is registered already;
 *		with declared, mark the table's row as made by a declaration.
 */
void
gdpr_catalog_ensure_table(Oid relid, bool declared)
{
	if (gdpr_catalog_get_table(relid) == NULL)
		gdpr_catalog_register_table(relid, NIL, NIL, NIL, true, NIL, true);
	if (declared)
	{
		Oid			types[1] = {REGCLASSOID};
		Datum		values[1] = {ObjectIdGetDatum(relid)};

		gdpr_spi_connect();
		catalog_spi("UPDATE gdpr.registered_table SET declared = true "
					"WHERE rel = $1 AND NOT declared",
					1, types, values, NULL, false);
		gdpr_spi_finish();
		invalidate(relid);
	}
}

/*
 * gdpr_catalog_unregister_table
 *		Take relid out of the registry with its columns and rules, and
 *		remove gdpr's triggers from it (and ON DELETE ANONYMISE triggers that
 *		only served its rules).  Markers stay: the rows were anonymised.
 */
void
gdpr_catalog_unregister_table(Oid relid)
{
	List	   *rules;
	ListCell   *lc;
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	gdpr_check_table(relid, false);
	(void) gdpr_registered_table(relid);

	rules = gdpr_catalog_constraint_rules(relid, "anonymise");
	foreach(lc, rules)
		gdpr_trigger_drop_oda(relid, lfirst(lc), true);

	gdpr_spi_connect();
	catalog_spi("DELETE FROM gdpr.constraint_rule WHERE rel = $1", 1, types, values, NULL, false);
	catalog_spi("DELETE FROM gdpr.registered_field WHERE rel = $1", 1, types, values, NULL, false);
	catalog_spi("DELETE FROM gdpr.registered_table WHERE rel = $1", 1, types, values, NULL, false);
	gdpr_spi_finish();
	gdpr_retention_forget(relid);
	gdpr_classify_on_unregister(relid);

	gdpr_trigger_detach(relid);
	invalidate(relid);
}

/*
 * gdpr_catalog_set_table_options
 *		Set a registered table's can_anonymise and export columns.
 */
void
gdpr_catalog_set_table_options(Oid relid, bool can_anonymise,
							   List *export_fields, bool export_all,
							   List *export_exclude, bool declared)
{
	Relation	rel;

	(void) gdpr_registered_table(relid);
	rel = table_open(relid, AccessShareLock);
	check_columns_exist(rel, export_fields);
	check_columns_exist(rel, export_exclude);
	table_close(rel, AccessShareLock);
	write_table_options(relid, can_anonymise, export_fields, export_all, export_exclude,
						declared);
}

/*
 * find_field
 *		The registered field attname of table, or NULL.
 */
static GdprField *
find_field(GdprTable *table, const char *attname)
{
	ListCell   *lc;

	foreach(lc, table->fields)
		if (strcmp(((GdprField *) lfirst(lc))->attname, attname) == 0)
			return lfirst(lc);
	return NULL;
}

/*
 * gdpr_catalog_set_field
 *		Declare a column of a registered table: PII with a method (validated;
 *		NULL method means "default"), and/or a search field.
 *
 * A column that ends up neither PII nor searched is removed.
 */
void
gdpr_catalog_set_field(Oid relid, const char *attname, bool pii,
					   const char *method, const char *argument,
					   bool search, bool declared)
{
	char	   *stored_argument = NULL;

	(void) gdpr_registered_table(relid);
	if (pii)
	{
		Relation	rel = table_open(relid, AccessShareLock);

		if (method == NULL)
			method = "default";
		stored_argument = gdpr_method_validate(rel, attname, method, argument);
		table_close(rel, AccessShareLock);
	}
	else
	{
		Relation	rel = table_open(relid, AccessShareLock);

		check_columns_exist(rel, list_make1((char *) attname));
		table_close(rel, AccessShareLock);
		method = NULL;
	}

	if (!pii && !search)
		gdpr_catalog_remove_field(relid, attname);
	else
		upsert_field(relid, attname, pii, method, stored_argument, search, declared);
	invalidate(relid);
}

/*
 * gdpr_catalog_remove_field
 *		Forget a column of a registered table (no error if not declared).
 */
void
gdpr_catalog_remove_field(Oid relid, const char *attname)
{
	Oid			types[2] = {REGCLASSOID, NAMEOID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(attname));
	gdpr_spi_connect();
	catalog_spi("DELETE FROM gdpr.registered_field WHERE rel = $1 AND column_name = $2",
				2, types, values, NULL, false);
	gdpr_spi_finish();
	invalidate(relid);
}

/*
 * gdpr_catalog_set_export
 *		Include (export) or exclude a column from exports of a registered
 *		table, by editing export_exclude (and export_fields when it is a
 *		list).
 */
void
gdpr_catalog_set_export(Oid relid, const char *attname, bool export)
{
	GdprTable  *table = gdpr_registered_table(relid);
	List	   *fields = NIL;
	List	   *exclude = NIL;
	ListCell   *lc;

	foreach(lc, table->export_exclude)
		if (strcmp(lfirst(lc), attname) != 0)
			exclude = lappend(exclude, pstrdup(lfirst(lc)));
	foreach(lc, table->export_fields)
		if (strcmp(lfirst(lc), attname) != 0)
			fields = lappend(fields, pstrdup(lfirst(lc)));
	if (export)
	{
		if (!table->export_all)
			fields = lappend(fields, pstrdup(attname));
	}
	else
		exclude = lappend(exclude, pstrdup(attname));
	gdpr_catalog_set_table_options(relid, table->can_anonymise, fields,
								   table->export_all, exclude, false);
}

/*
 * gdpr_catalog_constraint_rules
 *		Names (char *) of the constraints of relid carrying rule
 *		('anonymise' or 'follow'), ordered by name.
 */
List *
gdpr_catalog_constraint_rules(Oid relid, const char *rule)
{
	Oid			types[2] = {REGCLASSOID, TEXTOID};
	Datum		values[2];
	List	   *result = NIL;
	uint64		n;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(rule);
	gdpr_spi_connect();
	n = catalog_spi("SELECT constraint_name::pg_catalog.text FROM gdpr.constraint_rule "
					"WHERE rel = $1 AND rule = $2 ORDER BY constraint_name",
					2, types, values, NULL, false);
	for (uint64 i = 0; i < n; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext old = MemoryContextSwitchTo(CurTransactionContext);

		result = lappend(result, pstrdup(name));
		MemoryContextSwitchTo(old);
	}
	gdpr_spi_finish();
	return result;
}

/*
 * gdpr_catalog_has_rule
 *		Whether constraint conname of relid carries rule.
 */
bool
gdpr_catalog_has_rule(Oid relid, const char *conname, const char *rule)
{
	List	   *rules = gdpr_catalog_constraint_rules(relid, rule);

	return string_in_list(rules, conname);
}

/*
 * gdpr_catalog_add_rule
 *		Attach rule to constraint conname of relid (idempotent).
 */
void
gdpr_catalog_add_rule(Oid relid, const char *conname, const char *rule, bool declared)
{
	Oid			types[4] = {REGCLASSOID, NAMEOID, TEXTOID, BOOLOID};
	Datum		values[4];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(conname));
	values[2] = CStringGetTextDatum(rule);
	values[3] = BoolGetDatum(declared);
	gdpr_spi_connect();
	catalog_spi("INSERT INTO gdpr.constraint_rule (rel, constraint_name, rule, declared) "
				"VALUES ($1, $2, $3, $4) ON CONFLICT (rel, constraint_name, rule) "
				"DO UPDATE SET declared = EXCLUDED.declared",
				4, types, values, NULL, false);
	gdpr_spi_finish();
	invalidate(relid);
}

/*
 * gdpr_catalog_drop_rule
 *		Remove rule from constraint conname of relid; unless missing_ok, an
 *		error if it was not there.
 */
void
gdpr_catalog_drop_rule(Oid relid, const char *conname, const char *rule, bool missing_ok)
{
	Oid			types[3] = {REGCLASSOID, NAMEOID, TEXTOID};
	Datum		values[3];
	uint64		n;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(conname));
	values[2] = CStringGetTextDatum(rule);
	gdpr_spi_connect();
	n = catalog_spi("DELETE FROM gdpr.constraint_rule "
					"WHERE rel = $1 AND constraint_name = $2 AND rule = $3",
					3, types, values, NULL, false);
	gdpr_spi_finish();
	if (n == 0 && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("constraint \"%s\" of relation \"%s\" has no gdpr rule \"%s\"",
						conname, get_rel_name(relid), rule)));
	invalidate(relid);
}

/*
 * gdpr_catalog_foreign_key
 *		The OID of foreign-key constraint conname of relid.
 *
 * Errors if relid has no constraint of that name, or it is not a foreign
 * key.
 */
Oid
gdpr_catalog_foreign_key(Oid relid, const char *conname)
{
	Oid			conoid = get_relation_constraint_oid(relid, conname, true);
	HeapTuple	tup;
	char		contype = '\0';

	if (!OidIsValid(conoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("constraint \"%s\" of relation \"%s\" does not exist",
						conname, get_rel_name(relid)),
				 errhint("Name a foreign key declared on the table itself.")));
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (HeapTupleIsValid(tup))
	{
		contype = ((Form_pg_constraint) GETSTRUCT(tup))->contype;
		ReleaseSysCache(tup);
	}
	if (contype != CONSTRAINT_FOREIGN)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("constraint \"%s\" of relation \"%s\" is not a foreign key",
						conname, get_rel_name(relid))));
	return conoid;
}

/* ------------------------------------------------------------------------
 * SQL-callable functions
 * ------------------------------------------------------------------------
 */

/*
 * arg_list
 *		Argument n as a List of C strings, each name once, in the order of
 *		their first appearance; NULL gives NIL.
 *
 * What is stored is then bounded by the table's columns, whatever the size
 * of the array.  A name too long to be a column's is kept, for validation
 * to refuse.
 */
static List *
arg_list(FunctionCallInfo fcinfo, int n, const char *what)
{
	List	   *all;
	List	   *result = NIL;
	HTAB	   *seen;
	HASHCTL		ctl;
	ListCell   *lc;

	if (PG_ARGISNULL(n))
		return NIL;
	all = gdpr_text_array_to_list(PG_GETARG_ARRAYTYPE_P(n), what);
	if (list_length(all) < 2)
		return all;
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = NAMEDATALEN;
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("gdpr argument names", 64, &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	foreach(lc, all)
	{
		char	   *name = lfirst(lc);
		bool		found = false;

		CHECK_FOR_INTERRUPTS();
		if (strlen(name) < NAMEDATALEN)
			(void) hash_search(seen, name, HASH_ENTER, &found);
		if (!found)
			result = lappend(result, name);
	}
	hash_destroy(seen);
	return result;
}

/*
 * gdpr_register
 *		gdpr.register(rel, fields, search_fields, export_fields,
 *		export_exclude, can_anonymise)
 */
Datum
gdpr_register(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation must not be null")));
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("can_anonymise must not be null")));

	gdpr_catalog_register_table(PG_GETARG_OID(0),
								arg_list(fcinfo, 1, "fields"),
								arg_list(fcinfo, 2, "search_fields"),
								arg_list(fcinfo, 3, "export_fields"),
								PG_ARGISNULL(3),
								arg_list(fcinfo, 4, "export_exclude"),
								PG_GETARG_BOOL(5));
	PG_RETURN_VOID();
}

/*
 * gdpr_unregister
 *		gdpr.unregister(rel)
 */
Datum
gdpr_unregister(PG_FUNCTION_ARGS)
{
	gdpr_catalog_unregister_table(PG_GETARG_OID(0));
	PG_RETURN_VOID();
}

/*
 * gdpr_set_anonymiser
 *		gdpr.set_anonymiser(rel, column_name, method, argument)
 */
Datum
gdpr_set_anonymiser(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *attname;
	GdprTable  *table;
	GdprField  *field;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation, column and method must not be null")));
	relid = PG_GETARG_OID(0);
	attname = NameStr(*PG_GETARG_NAME(1));
	gdpr_check_table(relid, false);
	table = gdpr_registered_table(relid);
	field = find_field(table, attname);
	gdpr_catalog_set_field(relid, attname, true,
						   text_to_cstring(PG_GETARG_TEXT_PP(2)),
						   PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)),
						   field != NULL && field->search, false);
	PG_RETURN_VOID();
}

/*
 * gdpr_export_follow
 *		gdpr.export_follow(rel, constraint_name)
 */
Datum
gdpr_export_follow(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *conname = NameStr(*PG_GETARG_NAME(1));

	gdpr_check_table(relid, false);
	(void) gdpr_registered_table(relid);
	(void) gdpr_catalog_foreign_key(relid, conname);
	gdpr_catalog_add_rule(relid, conname, "follow", false);
	PG_RETURN_VOID();
}

/*
 * gdpr_drop_export_follow
 *		gdpr.drop_export_follow(rel, constraint_name)
 */
Datum
gdpr_drop_export_follow(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	gdpr_check_table(relid, false);
	gdpr_catalog_drop_rule(relid, NameStr(*PG_GETARG_NAME(1)), "follow", false);
	PG_RETURN_VOID();
}
