/*-------------------------------------------------------------------------
 *
 * rules.c
 *	  The rules gdpr attaches to foreign keys: ON DELETE ANONYMISE
 *	  (gdpr.on_delete_anonymise) and export_follow (gdpr.export_follow).
 *
 * A rule is validated here, stored by the registry store (catalog.c), and
 * carried out by trigger.c (ON DELETE ANONYMISE) or export.c (follow).
 * Declarations (declare.c) and unregister (register.c) add and drop rules
 * through the same functions.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/rules.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_constraint.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_export_follow);
PG_FUNCTION_INFO_V1(gdpr_drop_export_follow);
PG_FUNCTION_INFO_V1(gdpr_on_delete_anonymise);
PG_FUNCTION_INFO_V1(gdpr_drop_on_delete_anonymise);

/*
 * gdpr_rules_foreign_key
 *		The OID of foreign-key constraint conname of relid.
 *
 * Errors if relid has no constraint of that name, or it is not a foreign
 * key.
 */
Oid
gdpr_rules_foreign_key(Oid relid, const char *conname)
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


/*
 * referenced_table
 *		The table a foreign key references.
 */
static Oid
referenced_table(Oid conoid)
{
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	Oid			result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	result = ((Form_pg_constraint) GETSTRUCT(tup))->confrelid;
	ReleaseSysCache(tup);
	return result;
}

/*
 * gdpr_rules_add_oda
 *		Add an ON DELETE ANONYMISE rule for foreign key conname of relid (the
 *		referencing table) and make sure the referenced table has the
 *		trigger.
 *
 * Refused, with a hint: an unregistered table, a constraint that is not a
 * foreign key of relid, and a foreign key whose action would not keep the
 * anonymised rows (CASCADE deletes them, RESTRICT / NO ACTION refuse the
 * delete).
 */
void
gdpr_rules_add_oda(Oid relid, const char *conname, bool declared)
{
	Oid			conoid;
	HeapTuple	tup;
	char		action;
	Oid			parent;

	gdpr_check_table(relid, false);
	(void) gdpr_registered_table(relid);
	conoid = gdpr_rules_foreign_key(relid, conname);
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for constraint %u", conoid);
	action = ((Form_pg_constraint) GETSTRUCT(tup))->confdeltype;
	parent = ((Form_pg_constraint) GETSTRUCT(tup))->confrelid;
	ReleaseSysCache(tup);

	if (action != FKCONSTR_ACTION_SETNULL && action != FKCONSTR_ACTION_SETDEFAULT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("foreign key \"%s\" of relation \"%s\" has ON DELETE %s",
						conname, get_rel_name(relid),
						action == FKCONSTR_ACTION_CASCADE ? "CASCADE" :
						action == FKCONSTR_ACTION_RESTRICT ? "RESTRICT" : "NO ACTION"),
				 errdetail("ON DELETE ANONYMISE keeps the referencing rows, anonymised, and lets the constraint clear the reference."),
				 errhint("Declare the foreign key with ON DELETE SET NULL or ON DELETE SET DEFAULT.")));

	gdpr_catalog_add_rule(relid, conname, "anonymise", declared);
	gdpr_trigger_ensure_oda(parent);
}

/*
 * gdpr_rules_drop_oda
 *		Remove an ON DELETE ANONYMISE rule, and the referenced table's
 *		trigger when no rule needs it any more.
 */
void
gdpr_rules_drop_oda(Oid relid, const char *conname, bool missing_ok)
{
	Oid			conoid = get_relation_constraint_oid(relid, conname, true);

	gdpr_catalog_drop_rule(relid, conname, "anonymise", missing_ok);
	if (!OidIsValid(conoid))
		return;
	gdpr_trigger_remove_oda(referenced_table(conoid));
}

/*
 * gdpr_on_delete_anonymise
 *		gdpr.on_delete_anonymise(rel, constraint_name)
 */
Datum
gdpr_on_delete_anonymise(PG_FUNCTION_ARGS)
{
	gdpr_rules_add_oda(PG_GETARG_OID(0), NameStr(*PG_GETARG_NAME(1)), false);
	PG_RETURN_VOID();
}

/*
 * gdpr_drop_on_delete_anonymise
 *		gdpr.drop_on_delete_anonymise(rel, constraint_name)
 */
Datum
gdpr_drop_on_delete_anonymise(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);

	gdpr_check_table(relid, false);
	gdpr_rules_drop_oda(relid, NameStr(*PG_GETARG_NAME(1)), false);
	PG_RETURN_VOID();
}

/*
 * gdpr_rules_add_follow
 *		Make exports follow foreign key conname of relid (a registered
 *		table) from the referenced row to relid's rows.
 */
void
gdpr_rules_add_follow(Oid relid, const char *conname, bool declared)
{
	(void) gdpr_registered_table(relid);
	(void) gdpr_rules_foreign_key(relid, conname);
	gdpr_catalog_add_rule(relid, conname, "follow", declared);
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
	gdpr_rules_add_follow(relid, conname, false);
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
