/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  Every identity switch gdpr makes, in one audited place.
 *
 * gdpr runs the work a user asks for as that user: gdpr.anonymise() and its
 * relatives are an UPDATE by the caller, with the caller's privileges,
 * column privileges, row-level security and search_path.  It changes
 * identity in two cases only, and only through the functions below:
 *
 *	- gdpr's own bookkeeping (the registry, markers, the queue, the state
 *	  row) is read and written as the extension's owner
 *	  (gdpr_become_extension_owner, gdpr_owner_execute), under
 *	  SECURITY_RESTRICTED_OPERATION with search_path pinned to
 *	  "pg_catalog, pg_temp".  The SQL run there is gdpr's own, fully
 *	  qualified, and touches only gdpr's tables.
 *
 *	- changes PostgreSQL itself would make as a table's owner: ON DELETE
 *	  ANONYMISE (a foreign-key action), the keys read by the TRUNCATE
 *	  trigger, and the changes gdpr.rerun() replays (gdpr_become_table_owner).
 *	  These run as the owner of the table concerned, under
 *	  SECURITY_RESTRICTED_OPERATION, with search_path set to the owner's own
 *	  setting (the owner's ALTER ROLE / ALTER DATABASE settings, else
 *	  "$user", public), never the session's: a caller cannot make the
 *	  owner's triggers resolve a name to the caller's objects, and the
 *	  owner's code runs as it does in the owner's own sessions.
 *
 * A transaction or subtransaction abort restores the identity and the
 * settings by itself, so an error between the switch and gdpr_unbecome is
 * safe.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/identity.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_db_role_setting.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "gdpr.h"

/* the built-in default of search_path, used when the owner sets none */
#define DEFAULT_SEARCH_PATH		"\"$user\", public"

/* Local state: the last role's search_path, valid for one transaction */
static Oid	cached_role = InvalidOid;
static char cached_path[1024];

/*
 * forget_search_path
 *		XactCallback: the cached search_path is valid for one transaction.
 */
static void
forget_search_path(XactEvent event, void *arg)
{
	cached_role = InvalidOid;
}

/*
 * gdpr_identity_init
 *		Register forget_search_path; called once from _PG_init.
 */
void
gdpr_identity_init(void)
{
	RegisterXactCallback(forget_search_path, NULL);
}

/*
 * gdpr_extension_owner
 *		Return the OID of the role that owns the gdpr extension.
 *
 * That is the owner of the extension's own tables (CREATE EXTENSION makes
 * its creator own them, REASSIGN OWNED moves both), which the syscache
 * answers without a catalog scan: this runs for every deleted row.
 * Errors out when the extension is not installed in this database.
 */
Oid
gdpr_extension_owner(void)
{
	Oid			relid = get_relname_relid("queue", gdpr_schema_oid());

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"%s\" is not installed in this database",
						GDPR_EXTENSION_NAME)));
	return gdpr_table_owner(relid);
}

/*
 * gdpr_table_owner
 *		The owner of a relation; error if it does not exist.
 */
Oid
gdpr_table_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * setting_search_path
 *		The search_path in one pg_db_role_setting entry (database, role),
 *		or NULL when that entry sets none.
 */
static char *
setting_search_path(Relation rel, Oid database, Oid role)
{
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *result = NULL;

	ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(database));
	ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole,
				BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(role));
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true, NULL, 2, keys);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_db_role_setting_setconfig,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			ArrayType  *arr = DatumGetArrayTypeP(d);
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
			for (int i = 0; i < n; i++)
			{
				char	   *item;
				char	   *eq;

				if (nulls[i])
					continue;
				item = TextDatumGetCString(elems[i]);
				eq = strchr(item, '=');
				if (eq == NULL)
					continue;
				*eq = '\0';
				if (pg_strcasecmp(item, "search_path") == 0)
					result = pstrdup(eq + 1);
			}
		}
	}
	systable_endscan(scan);
	return result;
}

/*
 * role_search_path
 *		The search_path the role's own sessions in this database start
 *		with: its ALTER ROLE ... IN DATABASE setting, else its ALTER ROLE
 *		setting, else the database's, else the built-in default.
 *
 * postgresql.conf is not consulted: this session's reset value may come
 * from the caller's own role settings, which must play no part.  The
 * answer is kept for the rest of the transaction.
 */
static const char *
role_search_path(Oid roleid)
{
	Relation	rel;
	char	   *path;

	if (roleid == cached_role)
		return cached_path;

	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	path = setting_search_path(rel, MyDatabaseId, roleid);
	if (path == NULL)
		path = setting_search_path(rel, InvalidOid, roleid);
	if (path == NULL)
		path = setting_search_path(rel, MyDatabaseId, InvalidOid);
	table_close(rel, AccessShareLock);
	if (path == NULL || strlen(path) >= sizeof(cached_path))
		path = DEFAULT_SEARCH_PATH;

	strlcpy(cached_path, path, sizeof(cached_path));
	cached_role = roleid;
	return cached_path;
}

/*
 * become
 *		Switch to userid under SECURITY_RESTRICTED_OPERATION (plus the extra
 *		flags), with search_path set to path at a new GUC nesting level.
 */
static void
become(Oid userid, int flags, const char *path, GdprIdentity *saved)
{
	GetUserIdAndSecContext(&saved->save_userid, &saved->save_sec_context);
	/* always a restricted operation; flags adds SECURITY_NOFORCE_RLS at most */
	SetUserIdAndSecContext(userid, SECURITY_RESTRICTED_OPERATION |
						   saved->save_sec_context | SECURITY_LOCAL_USERID_CHANGE | flags);
	saved->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", path,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * gdpr_become_extension_owner
 *		Run what follows as the extension's owner, to read or write gdpr's
 *		own tables: a restricted operation with search_path pinned to
 *		pg_catalog, pg_temp.  Undo with gdpr_unbecome.
 */
void
gdpr_become_extension_owner(GdprIdentity *saved)
{
	become(gdpr_extension_owner(), 0, "pg_catalog, pg_temp", saved);
}

/*
 * gdpr_become_table_owner
 *		Run what follows as the owner of relid, the way a foreign-key action
 *		on that table runs, for the changes PostgreSQL itself would make as
 *		the owner (see the file header).
 *
 * SECURITY_NOFORCE_RLS as in the foreign-key actions: FORCE ROW LEVEL
 * SECURITY cannot hide rows from them.  search_path is the owner's own
 * (role_search_path).  Undo with gdpr_unbecome.
 */
void
gdpr_become_table_owner(Oid relid, GdprIdentity *saved)
{
	Oid			owner = gdpr_table_owner(relid);

	become(owner, SECURITY_NOFORCE_RLS, role_search_path(owner), saved);
}

/*
 * gdpr_unbecome
 *		Undo a gdpr_become_*: restore the settings and the identity.
 */
void
gdpr_unbecome(GdprIdentity *saved)
{
	AtEOXact_GUC(false, saved->save_nestlevel);
	SetUserIdAndSecContext(saved->save_userid, saved->save_sec_context);
}

/*
 * gdpr_owner_execute
 *		Run one of gdpr's own statements (or kept plans, when plan is not
 *		NULL) on gdpr's tables as the extension's owner.
 *
 * The caller is connected to SPI.  A negative SPI result is an internal
 * error.  Returns the SPI result code; the rows are in SPI_tuptable.
 */
int
gdpr_owner_execute(SPIPlanPtr plan, const char *sql, int nargs, Oid *types,
				   Datum *values, const char *nulls, bool read_only, long tcount)
{
	GdprIdentity saved;
	int			rc;

	gdpr_become_extension_owner(&saved);
	if (plan != NULL)
		rc = SPI_execute_plan(plan, values, nulls, read_only, tcount);
	else
		rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, tcount);
	gdpr_unbecome(&saved);
	if (rc < 0)
		elog(ERROR, "SPI execution of gdpr's own statement failed: %s",
			 SPI_result_code_string(rc));
	return rc;
}
