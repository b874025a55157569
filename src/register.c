/*-------------------------------------------------------------------------
 *
 * register.c
 *	  The registry's commands: gdpr.register, gdpr.unregister,
 *	  gdpr.set_anonymiser, and the changes declarations make.
 *
 * A command validates (ownership, primary key, columns, methods), writes
 * through the registry store (catalog.c) and attaches or removes gdpr's
 * triggers (trigger.c); unregister also drops the table's foreign-key rules
 * (rules.c) and retention policy (retention.c).  Nothing here reads or
 * writes a registry table itself.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/register.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_register);
PG_FUNCTION_INFO_V1(gdpr_unregister);
PG_FUNCTION_INFO_V1(gdpr_set_anonymiser);
PG_FUNCTION_INFO_V1(gdpr_set_not_pii);

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
 * register_table
 *		Register relid: its PII columns (method "default"), search fields,
 *		export columns and whether it may be anonymised, and attach the
 *		delete-logging triggers.
 *
 * The caller must own the table.  Errors if it is already registered, has
 * no primary key, or a column fails validation; nothing is written then.
 */
static void
register_table(Oid relid, List *fields, List *search_fields,
			   List *export_fields, bool export_all,
			   List *export_exclude, bool can_anonymise)
{
	Relation	rel;
	ListCell   *lc;
	List	   *validated = NIL;

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

		if (gdpr_string_in_list(validated, col))
			continue;
		(void) gdpr_method_validate(rel, col, "default", NULL);
		validated = lappend(validated, col);
	}
	check_columns_exist(rel, search_fields);
	check_columns_exist(rel, export_fields);
	check_columns_exist(rel, export_exclude);
	table_close(rel, AccessShareLock);

	gdpr_catalog_insert_table(relid);
	gdpr_catalog_write_options(relid, can_anonymise, export_fields, export_all, export_exclude, false);

	foreach(lc, validated)
		gdpr_catalog_upsert_field(relid, lfirst(lc), true, "default", NULL,
								  gdpr_string_in_list(search_fields, lfirst(lc)), false);
	foreach(lc, search_fields)
		if (!gdpr_string_in_list(validated, lfirst(lc)))
			gdpr_catalog_upsert_field(relid, lfirst(lc), false, NULL, NULL, true, false);

	gdpr_trigger_attach(relid);
	gdpr_classify_on_register(relid, validated);
}

/*
 * gdpr_register_ensure
 *		Register relid with the defaults unless it is registered already;
 *		with declared, mark the table's row as made by a declaration.
 */
void
gdpr_register_ensure(Oid relid, bool declared)
{
	if (gdpr_catalog_get_table(relid) == NULL)
		register_table(relid, NIL, NIL, NIL, true, NIL, true);
	if (declared)
		gdpr_catalog_mark_declared(relid);
}

/*
 * gdpr_register_drop
 *		Take relid out of the registry with its columns and rules, and
 *		remove gdpr's triggers from it (and ON DELETE ANONYMISE triggers that
 *		only served its rules).  Markers stay: the rows were anonymised.
 */
void
gdpr_register_drop(Oid relid)
{
	List	   *rules;
	ListCell   *lc;

	gdpr_check_table(relid, false);
	(void) gdpr_registered_table(relid);
	gdpr_hold_unregister(relid);

	rules = gdpr_catalog_constraint_rules(relid, "anonymise");
	foreach(lc, rules)
		gdpr_rules_drop_oda(relid, lfirst(lc), true);
	gdpr_catalog_forget_table(relid);
	gdpr_retention_forget(relid);
	gdpr_classify_on_unregister(relid);
	gdpr_trigger_detach(relid);
}

/*
 * gdpr_register_set_options
 *		Set a registered table's can_anonymise and export columns.
 */
void
gdpr_register_set_options(Oid relid, bool can_anonymise,
							   List *export_fields, bool export_all,
							   List *export_exclude, bool declared)
{
	Relation	rel;

	(void) gdpr_registered_table(relid);
	rel = table_open(relid, AccessShareLock);
	check_columns_exist(rel, export_fields);
	check_columns_exist(rel, export_exclude);
	table_close(rel, AccessShareLock);
	gdpr_catalog_write_options(relid, can_anonymise, export_fields, export_all, export_exclude,
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
 * gdpr_register_set_field
 *		Declare a column of a registered table: PII with a method (validated;
 *		NULL method means "default"), and/or a search field.
 *
 * A column that ends up neither PII nor searched is removed.
 */
void
gdpr_register_set_field(Oid relid, const char *attname, bool pii,
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
		gdpr_catalog_upsert_field(relid, attname, pii, method, stored_argument, search, declared);
}

/*
 * gdpr_register_set_export
 *		Include (export) or exclude a column from exports of a registered
 *		table, by editing export_exclude (and export_fields when it is a
 *		list).
 */
void
gdpr_register_set_export(Oid relid, const char *attname, bool export)
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
	gdpr_register_set_options(relid, table->can_anonymise, fields,
								   table->export_all, exclude, false);
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

	register_table(PG_GETARG_OID(0),
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
	gdpr_register_drop(PG_GETARG_OID(0));
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
	gdpr_register_set_field(relid, attname, true,
						   text_to_cstring(PG_GETARG_TEXT_PP(2)),
						   PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)),
						   field != NULL && field->search, false);
	PG_RETURN_VOID();
}

/*
 * gdpr_set_not_pii
 *		gdpr.set_not_pii(rel, columns): classify columns as holding no
 *		personal data.  Allowed on unregistered tables too (coverage covers
 *		every table).  A column registered as PII stops being PII (the latest
 *		statement wins); it stays a search field if it was one.
 */
Datum
gdpr_set_not_pii(PG_FUNCTION_ARGS)
{
	Oid			relid;
	List	   *columns;
	ListCell   *lc;
	GdprTable  *table;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and columns must not be null")));
	relid = PG_GETARG_OID(0);
	gdpr_check_table(relid, false);
	columns = gdpr_text_array_to_list(PG_GETARG_ARRAYTYPE_P(1), "columns");

	/* every name first, so that nothing is written when one is wrong */
	{
		Relation	rel = table_open(relid, AccessShareLock);

		check_columns_exist(rel, columns);
		table_close(rel, AccessShareLock);
	}

	table = gdpr_catalog_get_table(relid);
	foreach(lc, columns)
	{
		char	   *attname = lfirst(lc);
		ListCell   *fc;

		if (table != NULL)
		{
			foreach(fc, table->fields)
			{
				GdprField  *field = lfirst(fc);

				if (field->pii && strcmp(field->attname, attname) == 0)
				{
					gdpr_register_set_field(relid, attname, false, NULL, NULL,
										   field->search, false);
					break;
				}
			}
			/* set_field invalidates the entry: look it up again */
			table = gdpr_catalog_get_table(relid);
		}
		gdpr_classify_set_not_pii(relid, attname, false);
	}
	PG_RETURN_VOID();
}
