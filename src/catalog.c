/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The registry store: which tables and columns hold personal data, how
 *	  each column is anonymised, and the rules attached to foreign keys.
 *
 * This file is the only code that reads or writes the registry tables
 * (gdpr.registered_table, gdpr.registered_field, gdpr.constraint_rule).
 * They are read and written through SPI with parameters as the extension's
 * owner (users get no privileges on them).  It validates nothing and calls
 * no command: register.c and rules.c (the SQL commands), declare.c (labels
 * and comments), ddl.c, trigger.c, scrub.c and the erasure paths call it,
 * never the other way round.
 *
 * A backend-local cache of registered tables (cache.c), dropped by relcache
 * invalidations of the registered table, keeps the hot paths (delete
 * triggers, anonymisation) free of queries; every write here sends one, so
 * invalidation flows one way: from the store to the caches of every
 * backend.
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
#include "catalog/namespace.h"
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
 * gdpr_not_registered_error
 *		The one error for a table that is not registered with gdpr; hint
 *		replaces the default hint when not NULL.
 */
pg_noreturn void
gdpr_not_registered_error(Oid relid, const char *hint)
{
	char	   *relname = get_rel_name(relid);

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("relation \"%s\" is not registered with gdpr", relname),
			 errhint("%s", hint ? hint : "Register it with gdpr.register().")));
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
		gdpr_not_registered_error(relid, NULL);
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
	if (!table->export_all && !gdpr_string_in_list(table->export_fields, attname))
		return false;
	return !gdpr_string_in_list(table->export_exclude, attname);
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
 * gdpr_catalog_upsert_field
 *		Insert or update one registered_field row.
 */
void
gdpr_catalog_upsert_field(Oid relid, const char *attname, bool pii, const char *method,
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
	invalidate(relid);
}

/*
 * gdpr_catalog_write_options
 *		Store a registered table's can_anonymise and export columns (already
 *		validated); with declared, mark the row as made by a declaration.
 */
void
gdpr_catalog_write_options(Oid relid, bool can_anonymise, List *export_fields, bool export_all,
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

	return gdpr_string_in_list(rules, conname);
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
 * gdpr_catalog_present
 *		Whether the registry tables exist (they do not while the extension
 *		itself is being dropped).
 */
bool
gdpr_catalog_present(void)
{
	Oid			nsp = get_namespace_oid(GDPR_SCHEMA_NAME, true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("registered_table", nsp));
}

/*
 * write_for_table
 *		Run one registry statement whose only parameter is relid, and tell
 *		the caches.
 */
static void
write_for_table(const char *sql, Oid relid)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	gdpr_spi_connect();
	catalog_spi(sql, 1, types, values, NULL, false);
	gdpr_spi_finish();
	invalidate(relid);
}

/*
 * gdpr_catalog_insert_table
 *		Add relid to the registry with the default options.  The caller has
 *		validated everything.
 */
void
gdpr_catalog_insert_table(Oid relid)
{
	write_for_table("INSERT INTO gdpr.registered_table (rel) VALUES ($1)", relid);
}

/*
 * gdpr_catalog_mark_declared
 *		Mark relid's registry row as made by a declaration (a label or a
 *		comment), so that the declaration's removal unregisters it.
 */
void
gdpr_catalog_mark_declared(Oid relid)
{
	write_for_table("UPDATE gdpr.registered_table SET declared = true "
					"WHERE rel = $1 AND NOT declared", relid);
}

/*
 * gdpr_catalog_forget_table
 *		Remove relid from the registry with its columns and rules.
 */
void
gdpr_catalog_forget_table(Oid relid)
{
	write_for_table("DELETE FROM gdpr.constraint_rule WHERE rel = $1", relid);
	write_for_table("DELETE FROM gdpr.registered_field WHERE rel = $1", relid);
	write_for_table("DELETE FROM gdpr.registered_table WHERE rel = $1", relid);
}

/*
 * gdpr_catalog_oda_rules
 *		The ON DELETE ANONYMISE rules whose foreign key references one of
 *		the tables in targets (an OID List) with ON DELETE SET NULL or SET
 *		DEFAULT, as a List of two-element Oid arrays (referencing table,
 *		constraint), ordered by table and constraint name, in the caller's
 *		memory context.
 */
List *
gdpr_catalog_oda_rules(List *targets)
{
	Oid			types[1] = {OIDARRAYOID};
	Datum		values[1];
	Datum	   *elems;
	int			n = 0;
	ListCell   *lc;
	MemoryContext caller = CurrentMemoryContext;
	List	   *result = NIL;
	uint64		nrules;

	elems = palloc(sizeof(Datum) * Max(list_length(targets), 1));
	foreach(lc, targets)
		elems[n++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));

	gdpr_spi_connect();
	nrules = catalog_spi("SELECT r.rel::pg_catalog.oid, c.oid "
						 "FROM gdpr.constraint_rule r "
						 "JOIN pg_catalog.pg_constraint c ON c.conrelid = r.rel "
						 "AND c.conname = r.constraint_name AND c.contype = 'f' "
						 "WHERE r.rule = 'anonymise' AND c.confrelid = ANY ($1) "
						 "AND c.confdeltype IN ('n', 'd') "
						 "ORDER BY r.rel, r.constraint_name",
						 1, types, values, NULL, false);
	for (uint64 i = 0; i < nrules; i++)
	{
		bool		isnull;
		Oid		   *pair = MemoryContextAlloc(caller, sizeof(Oid) * 2);
		MemoryContext old;

		pair[0] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		pair[1] = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		old = MemoryContextSwitchTo(caller);
		result = lappend(result, pair);
		MemoryContextSwitchTo(old);
	}
	gdpr_spi_finish();
	return result;
}

/*
 * gdpr_catalog_has_oda_rules
 *		Whether any ON DELETE ANONYMISE rule's foreign key references
 *		parent.
 */
bool
gdpr_catalog_has_oda_rules(Oid parent)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(parent)};
	uint64		n;

	gdpr_spi_connect();
	n = catalog_spi("SELECT 1 FROM gdpr.constraint_rule r "
					"JOIN pg_catalog.pg_constraint c ON c.conrelid = r.rel "
					"AND c.conname = r.constraint_name AND c.contype = 'f' "
					"WHERE r.rule = 'anonymise' AND c.confrelid = $1 LIMIT 1",
					1, types, values, NULL, false);
	gdpr_spi_finish();
	return n > 0;
}

/*
 * scrub_action_present
 *		Whether gdpr.registered_table has its scrub_action column (a
 *		database still at version 1.0, run by this library, has none: every
 *		table is then anonymised).
 */
static bool
scrub_action_present(void)
{
	Oid			nsp = get_namespace_oid(GDPR_SCHEMA_NAME, false);
	Oid			rt = get_relname_relid("registered_table", nsp);

	return OidIsValid(rt) && get_attnum(rt, "scrub_action") != InvalidAttrNumber;
}

/*
 * gdpr_catalog_scrub_action
 *		The scrub action of registered table relid (palloc'd in the caller's
 *		context).
 */
char *
gdpr_catalog_scrub_action(Oid relid)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	MemoryContext caller = CurrentMemoryContext;
	char	   *result = "anonymise";

	if (!scrub_action_present())
		return pstrdup(result);
	gdpr_spi_connect();
	if (catalog_spi("SELECT scrub_action FROM gdpr.registered_table WHERE rel = $1",
					1, types, values, NULL, false) > 0)
		result = MemoryContextStrdup(caller, SPI_getvalue(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 1));
	else
		result = MemoryContextStrdup(caller, result);
	gdpr_spi_finish();
	return result;
}

/*
 * gdpr_catalog_set_scrub_action
 *		Store the scrub action of registered table relid (validated by the
 *		caller).
 */
void
gdpr_catalog_set_scrub_action(Oid relid, const char *action)
{
	Oid			types[2] = {REGCLASSOID, TEXTOID};
	Datum		values[2];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(action);
	gdpr_spi_connect();
	catalog_spi("UPDATE gdpr.registered_table SET scrub_action = $2 WHERE rel = $1",
				2, types, values, NULL, false);
	gdpr_spi_finish();
	invalidate(relid);
}

/*
 * gdpr_catalog_forget_dropped
 *		In a sql_drop event trigger: take the dropped tables, and the
 *		dropped columns and foreign keys of registered tables, out of the
 *		registry.  Returns the rules that went with their foreign key, as a
 *		List of GdprDroppedRule in the caller's context.
 */
List *
gdpr_catalog_forget_dropped(void)
{
	MemoryContext caller = CurrentMemoryContext;
	List	   *result = NIL;
	uint64		n;

	gdpr_spi_connect();
	n = catalog_spi("WITH d AS (SELECT object_type, objid, objsubid, address_names,"
					"                  CASE WHEN object_type IN ('table constraint', 'table column')"
					"                       THEN pg_catalog.to_regclass(pg_catalog.quote_ident(address_names[1])"
					"                            OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||)"
					"                            pg_catalog.quote_ident(address_names[2])) END AS owner_rel"
					"           FROM pg_catalog.pg_event_trigger_dropped_objects()), "
					"t AS (SELECT objid FROM d WHERE object_type = 'table' AND objsubid = 0), "
					"r AS (DELETE FROM gdpr.constraint_rule WHERE rel IN (SELECT objid FROM t)), "
					"f AS (DELETE FROM gdpr.registered_field WHERE rel IN (SELECT objid FROM t)), "
					"rt AS (DELETE FROM gdpr.registered_table WHERE rel IN (SELECT objid FROM t)), "
					"fc AS (DELETE FROM gdpr.registered_field g USING d"
					"       WHERE d.object_type = 'table column' AND g.rel = d.owner_rel"
					"         AND g.column_name OPERATOR(pg_catalog.=) d.address_names[3]) "
					"DELETE FROM gdpr.constraint_rule g USING d"
					" WHERE d.object_type = 'table constraint' AND g.rel = d.owner_rel"
					"   AND g.constraint_name OPERATOR(pg_catalog.=) d.address_names[3]"
					" RETURNING g.rel::pg_catalog.oid, g.constraint_name::pg_catalog.text, g.rule",
					0, NULL, NULL, NULL, false);
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		GdprDroppedRule *dropped = MemoryContextAlloc(caller, sizeof(GdprDroppedRule));
		MemoryContext old;

		dropped->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		dropped->conname = MemoryContextStrdup(caller, SPI_getvalue(tup, desc, 2));
		dropped->anonymise = strcmp(SPI_getvalue(tup, desc, 3), "anonymise") == 0;
		old = MemoryContextSwitchTo(caller);
		result = lappend(result, dropped);
		MemoryContextSwitchTo(old);
	}
	gdpr_spi_finish();
	return result;
}

/*
 * gdpr_catalog_rename_column
 *		In the ddl_command_end event trigger: column oldname of relid (and
 *		of its inheritors, renamed with it) is now newname; its
 *		registration and its place in the export lists follow it.
 */
void
gdpr_catalog_rename_column(Oid relid, const char *oldname, const char *newname)
{
	Oid			types[3] = {OIDARRAYOID, NAMEOID, NAMEOID};
	Datum		values[3];
	ArrayType  *rels = DatumGetArrayTypeP(gdpr_inheritors_array(relid));
	Datum	   *oids;
	int			n;

	deconstruct_array(rels, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &oids, NULL, &n);
	values[0] = PointerGetDatum(rels);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(oldname));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(newname));
	gdpr_spi_connect();
	catalog_spi("UPDATE gdpr.registered_field SET column_name = $3 "
				"WHERE rel::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) "
				"AND column_name OPERATOR(pg_catalog.=) $2",
				3, types, values, NULL, false);
	catalog_spi("UPDATE gdpr.registered_table SET "
				"export_fields = pg_catalog.array_replace(export_fields, $2::pg_catalog.text, $3::pg_catalog.text), "
				"export_exclude = pg_catalog.array_replace(export_exclude, $2::pg_catalog.text, $3::pg_catalog.text) "
				"WHERE rel::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1) "
				"AND ($2::pg_catalog.text OPERATOR(pg_catalog.=) ANY (export_fields) "
				"     OR $2::pg_catalog.text OPERATOR(pg_catalog.=) ANY (export_exclude))",
				3, types, values, NULL, false);
	gdpr_spi_finish();
	for (int i = 0; i < n; i++)
		invalidate(DatumGetObjectId(oids[i]));
}
