/*-------------------------------------------------------------------------
 *
 * hold.c
 *	  Legal holds as the erasure paths see them: whether a row is held, the
 *	  clause that leaves held rows out, the deferrals, the checks that
 *	  refuse a DELETE, TRUNCATE or DROP of a held row.  The commands that
 *	  place and release holds are in hold_commands.c.
 *
 * A hold (gdpr.legal_hold) names one row of a registered table by its
 * canonical key text.  While it is active (not released, and its "until"
 * not passed) the row's data is preserved: a DELETE that would remove it,
 * directly or by a foreign key's CASCADE, fails in the delete-capture
 * trigger (trigger.c) and so does a TRUNCATE of its table; gdpr's own
 * erasure paths leave it out instead, and record what they would have done
 * in gdpr.deferred_erasure, which gdpr.release() carries out, as its caller,
 * once no other hold covers the row.
 *
 * Cost without holds.  Whether a table has any unreleased hold is a flag
 * kept per table in a cache (cache.c), dropped by the relcache invalidation
 * that hold and release send for the table.  Only when the flag is set do
 * the delete trigger probe gdpr.legal_hold for the deleted row and the
 * anonymising statements get a NOT EXISTS over the table's held keys
 * (gdpr_hold_exclusion), a constant of the held keys built as the
 * extension's owner: the caller needs no access to gdpr's tables, and the
 * statement needs no probe of a table per row.  A hold that expires stays
 * in it with its "until", checked against now() per row, so a statement cached before
 * the hold expired stops protecting the row when it expires.
 *
 * Locking.  The flag is only as fresh as the last invalidation the backend
 * processed, and a backend processes invalidations when it acquires a new
 * relation lock, never while it waits on a row lock.  So hold and release
 * take SHARE ROW EXCLUSIVE on the table (and on every partition of a
 * partitioned table, since a DELETE of a partition does not lock its
 * parent) before they change gdpr.legal_hold, and keep it to the end of the
 * transaction.  That lock conflicts with the ROW EXCLUSIVE lock of every
 * writer: a writer that already holds its table lock cannot meet a hold
 * placed or released after it took that lock, and a writer that waits for
 * the lock processes the invalidation when it gets it.  Every erasure path
 * takes ROW EXCLUSIVE on the registered table before it reads the flag
 * (gdpr_hold_lock), and reads gdpr.legal_hold with a snapshot taken after
 * that (GetLatestSnapshot), so that under REPEATABLE READ too it sees every
 * hold committed before it got the lock.  The same lock protects the
 * deferrals: a deferral is recorded under ROW EXCLUSIVE, release reads them
 * under SHARE ROW EXCLUSIVE, so a release never misses a deferral made by a
 * transaction that committed after the release started, and a deferral
 * made after a release committed sees the row unheld and erases it.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/hold.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "gdpr.h"

/* the cached flag of one table: whether it has unreleased holds */
typedef struct HoldFlagEntry
{
	bool		any;
} HoldFlagEntry;

/* Local state */
static GdprCache *flag_cache = NULL;

/* an active hold: released_at IS NULL and until not passed */
#define ACTIVE_HOLD \
	"released_at IS NULL AND (until IS NULL OR until > pg_catalog.now())"

/*
 * holds_present
 *		Whether gdpr.legal_hold exists: a database still at version 1.0 of
 *		the extension runs the 1.1 library without it.
 */
static bool
holds_present(void)
{
	return OidIsValid(get_relname_relid("legal_hold", gdpr_schema_oid()));
}

/*
 * gdpr_hold_query
 *		Run one of gdpr's own statements on its hold tables as the
 *		extension's owner.  A read (read_only) sees every commit up to now
 *		(GetLatestSnapshot, see the file header), whatever the isolation
 *		level.  Returns SPI_processed.  The caller is connected to SPI.
 */
uint64
gdpr_hold_query(const char *sql, int nargs, Oid *types, Datum *values, bool read_only)
{
	if (read_only)
		PushActiveSnapshot(GetLatestSnapshot());
	(void) gdpr_owner_execute(NULL, sql, nargs, types, values, NULL, read_only, 0);
	if (read_only)
		PopActiveSnapshot();
	return SPI_processed;
}

/*
 * build_flag
 *		GdprCacheBuild of the flag cache: whether relid has an unreleased
 *		hold.  The entry depends on relid, which hold and release invalidate;
 *		without the hold table (version 1.0) it is false and depends on
 *		every relation, so that ALTER EXTENSION UPDATE is seen.
 */
static void
build_flag(void *entry, const void *key, void *arg)
{
	Oid			relid = *(const Oid *) key;
	HoldFlagEntry *fe = entry;
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	if (!holds_present())
	{
		gdpr_cache_depend_all(entry);
		fe->any = false;
		return;
	}
	gdpr_cache_depend(entry, relid);
	gdpr_spi_connect();
	fe->any = gdpr_hold_query("SELECT 1 FROM gdpr.legal_hold"
						 " WHERE rel = $1 AND released_at IS NULL LIMIT 1",
						 1, types, values, true) > 0;
	gdpr_spi_finish();
}

/*
 * gdpr_hold_any
 *		Whether the registered table relid has any unreleased hold (an
 *		expired one included): a cached flag, so that tables without holds
 *		pay one hash lookup.  The caller holds a lock on relid that
 *		conflicts with SHARE ROW EXCLUSIVE (see the file header).
 */
bool
gdpr_hold_any(Oid relid)
{
	if (flag_cache == NULL)
		flag_cache = gdpr_cache_create("gdpr hold flags", sizeof(HoldFlagEntry), false, NULL);
	return ((HoldFlagEntry *) gdpr_cache_lookup(flag_cache, &relid, build_flag, NULL))->any;
}

/*
 * gdpr_hold_lock
 *		Take ROW EXCLUSIVE on relid, as an erasure path must before it asks
 *		about holds (a no-op when the transaction holds it already), and say
 *		whether the table has unreleased holds.
 */
bool
gdpr_hold_lock(Oid relid)
{
	LockRelationOid(relid, RowExclusiveLock);
	return gdpr_hold_any(relid);
}

/*
 * gdpr_hold_lock_for_change
 *		Take SHARE ROW EXCLUSIVE on relid and, for a partitioned table, on
 *		every partition: hold and release change what writers must see.
 */
void
gdpr_hold_lock_for_change(Oid relid)
{
	LockRelationOid(relid, ShareRowExclusiveLock);
	if (get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
		(void) find_all_inheritors(relid, ShareRowExclusiveLock, NULL);
}

/*
 * gdpr_hold_active_except
 *		The id of the oldest active hold of (relid, keytext), 0 when none;
 *		except_id is not counted.  The caller is connected to SPI.
 */
int64
gdpr_hold_active_except(Oid relid, const char *keytext, int64 except_id)
{
	Oid			types[3] = {REGCLASSOID, TEXTOID, INT8OID};
	Datum		values[3];
	bool		isnull;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(keytext);
	values[2] = Int64GetDatum(except_id);
	if (gdpr_hold_query("SELECT id FROM gdpr.legal_hold"
				   " WHERE rel = $1 AND key = $2 AND id <> $3 AND " ACTIVE_HOLD
				   " ORDER BY id LIMIT 1", 3, types, values, true) == 0)
		return 0;
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									   &isnull));
}

/*
 * gdpr_hold_active
 *		The id of an active hold on the row of relid with key keytext, 0
 *		when there is none.  Takes ROW EXCLUSIVE on relid first (an erasure
 *		path asks).  The caller is connected to SPI.
 */
int64
gdpr_hold_active(Oid relid, const char *keytext)
{
	if (!gdpr_hold_lock(relid))
		return 0;
	return gdpr_hold_active_except(relid, keytext, 0);
}

/*
 * held_values
 *		A jsonb constant, as SQL text, whose keys are the keys of the rows of
 *		relid under a hold not released and not expired now, each with the
 *		end of its latest hold ("infinity" for a hold without end); NULL when
 *		there are none.
 *
 * One constant, so that a statement costs the planner the same whatever the
 * number of holds (a VALUES list of one row per hold cost about 2.8 kB of
 * planning memory per hold), and a row's lookup in it is a binary search,
 * whatever plan the statement gets (a join with the held keys is a nested
 * loop under gdpr_plan_for_lookups: rows times holds).  The ends are
 * written in ISO 8601 UTC, which reads back the same under every DateStyle
 * and TimeZone.  The caller is connected to SPI.
 */
static char *
held_values(Oid relid)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char	   *holds;

	(void) gdpr_hold_query("SELECT pg_catalog.jsonb_object_agg(key,"
					  "   CASE WHEN NOT pg_catalog.isfinite(until) THEN 'infinity'"
					  "   ELSE pg_catalog.to_char(until AT TIME ZONE 'UTC',"
					  "                           'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END)::pg_catalog.text"
					  " FROM (SELECT key, pg_catalog.max(COALESCE(until, 'infinity')) AS until"
					  "       FROM gdpr.legal_hold WHERE rel = $1 AND " ACTIVE_HOLD
					  "       GROUP BY key) AS h",
					  1, types, values, true);
	holds = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	return holds ? quote_literal_cstr(holds) : NULL;
}

/*
 * held_condition
 *		The condition that the row of alias is under one of the holds of
 *		vals (held_values), checked against now() per row, so that a cached
 *		statement stops protecting a row once its hold ends.
 */
static char *
held_condition(const char *vals, GdprKey *key, const char *alias)
{
	return psprintf("COALESCE((" GDPR_BLANK_MARK "%s::pg_catalog.jsonb OPERATOR(pg_catalog.->>) %s)::pg_catalog.timestamptz,"
					" '-infinity'::pg_catalog.timestamptz) OPERATOR(pg_catalog.>) pg_catalog.now()",
					vals, gdpr_key_text_expr(key, alias));
}

/*
 * hold_execute
 *		Execute sql, which may carry held keys, once with params (NULL for
 *		none), as the current user (gdpr_prepare_blanked); returns the SPI
 *		result code.
 */
static int
hold_execute(const char *sql, GdprParams *params)
{
	SPIPlanPtr	plan = gdpr_prepare_blanked(sql, params ? params->n : 0,
											params ? params->types : NULL);
	int			rc = SPI_execute_plan(plan, params ? params->values : NULL,
									  params ? params->nulls : NULL, false, 0);

	SPI_freeplan(plan);
	return rc;
}

/*
 * gdpr_hold_delete
 *		DELETE the rows of relid (alias "t") that match where (with params,
 *		which may be NULL), leaving the rows under a legal hold alone; as
 *		the caller.  Returns how many rows were deleted.  Takes ROW
 *		EXCLUSIVE on relid first.  The caller is connected to SPI.
 */
int64
gdpr_hold_delete(Oid relid, const char *where, GdprParams *params)
{
	GdprKey    *key = gdpr_key_lookup(relid, false);
	char	   *held = gdpr_hold_exclusion(relid, key, "t");
	int			level = held[0] != '\0' ? gdpr_key_pin_format(key) : -1;
	int			rc;

	/* held keys are matched by key text, in its canonical format */
	rc = hold_execute(psprintf("DELETE FROM %s AS t WHERE (%s)%s",
							   gdpr_relation_from(relid), where, held), params);
	gdpr_key_unpin_format(level);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "DELETE failed: %s", SPI_result_code_string(rc));
	return (int64) SPI_processed;
}

/*
 * gdpr_hold_exclusion
 *		What an erasing statement over the rows of relid (alias) appends to
 *		its WHERE to leave held rows alone: "" when the table has no holds,
 *		else " AND NOT (...)" over its held keys.  Takes ROW EXCLUSIVE
 *		on relid first.  The caller is connected to SPI.
 */
char *
gdpr_hold_exclusion(Oid relid, GdprKey *key, const char *alias)
{
	char	   *vals;

	if (!gdpr_hold_lock(relid))
		return "";
	vals = held_values(relid);
	if (vals == NULL)
		return "";
	return psprintf(" AND NOT (%s)", held_condition(vals, key, alias));
}

/*
 * gdpr_hold_defer
 *		Record that an erasure (kind 'anonymise' or 'delete') of the row of
 *		relid with key keytext waits for the end of its holds; from_log: it
 *		is the replay of a logged event, whose release logs nothing again.
 *		The caller holds ROW EXCLUSIVE on relid and is connected to SPI.
 */
void
gdpr_hold_defer(Oid relid, const char *keytext, const char *kind, bool from_log)
{
	Oid			types[4] = {REGCLASSOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[4];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(keytext);
	values[2] = CStringGetTextDatum(kind);
	values[3] = BoolGetDatum(from_log);
	(void) gdpr_hold_query("INSERT INTO gdpr.deferred_erasure (rel, key, kind, from_log)"
					  " VALUES ($1, $2, $3, $4) ON CONFLICT (rel, key, kind) DO NOTHING",
					  4, types, values, false);
}

/*
 * gdpr_hold_defer_matching
 *		For an erasing statement over the rows of relid matching from and
 *		where (about alias "t", with params): count its rows that are held,
 *		and record a deferred erasure of kind for each when kind is not
 *		NULL.  Rows are read as the caller, or as the table's owner when
 *		as_owner (ON DELETE ANONYMISE), so that nobody learns of rows they
 *		cannot see; rows already anonymised are not counted for an
 *		anonymisation unless force.  Takes ROW EXCLUSIVE on relid first.
 *		The caller is connected to SPI.
 */
int64
gdpr_hold_defer_matching(Oid relid, GdprKey *key, const char *from, const char *where,
						 GdprParams *params, const char *kind, bool force, bool as_owner)
{
	char	   *vals;
	char	   *keyexpr;
	char	   *sql;
	int			rc;
	int			level;
	uint64		n;
	char	  **keys;
	GdprIdentity saved;

	if (!gdpr_hold_lock(relid))
		return 0;
	vals = held_values(relid);
	if (vals == NULL)
		return 0;
	keyexpr = gdpr_key_text_expr(key, "t");
	sql = psprintf("SELECT %s FROM %s AS t%s%s WHERE (%s) AND (%s)",
				   keyexpr, gdpr_relation_from(relid),
				   from ? ", " : "", from ? from : "", where,
				   held_condition(vals, key, "t"));
	if (kind != NULL && strcmp(kind, "anonymise") == 0 && !force)
		sql = psprintf("%s%s", sql, gdpr_events_unmarked(relid, key, "t", false));

	if (as_owner)
		gdpr_become_table_owner(relid, &saved);
	level = gdpr_key_pin_format(key);
	rc = hold_execute(sql, params);
	gdpr_key_unpin_format(level);
	if (as_owner)
		gdpr_unbecome(&saved);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	n = SPI_processed;
	keys = palloc(sizeof(char *) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
		keys[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	if (kind != NULL)
		for (uint64 i = 0; i < n; i++)
			gdpr_hold_defer(relid, keys[i], kind, false);
	return (int64) n;
}

/*
 * held_error
 *		The error of a DELETE or TRUNCATE that would remove a held row.
 */
pg_noreturn static void
held_error(const char *what, Oid relid, const char *keytext, int64 hold_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_RESTRICT_VIOLATION),
			 errmsg("cannot %s relation \"%s\": row with key \"%s\" is under legal hold " INT64_FORMAT,
					what, get_rel_name(relid), keytext, hold_id),
			 errdetail("A row under an active legal hold may not be deleted."),
			 errhint("Release the hold with gdpr.release(" INT64_FORMAT ") once it no longer applies.",
					 hold_id)));
}

/*
 * gdpr_hold_check_delete
 *		In the delete-capture trigger: refuse the deletion of the row of the
 *		registered table relid with key keytext while it is held.  The
 *		trigger's DELETE holds the lock that makes the flag current.
 */
void
gdpr_hold_check_delete(Oid relid, const char *keytext)
{
	int64		hold_id;

	if (!gdpr_hold_any(relid))
		return;
	gdpr_spi_connect();
	hold_id = gdpr_hold_active_except(relid, keytext, 0);
	gdpr_spi_finish();
	if (hold_id != 0)
		held_error("delete from", relid, keytext, hold_id);
}

/*
 * gdpr_hold_check_truncate
 *		In the TRUNCATE-capture trigger of leaf (the registered table, or a
 *		leaf partition of the registered table relid): refuse the TRUNCATE
 *		when one of the active holds of relid names a row of leaf.  The
 *		caller is connected to SPI.
 */
void
gdpr_hold_check_truncate(Oid relid, Oid leaf)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	uint64		n;
	int64	   *ids;
	char	  **keys;
	GdprKey    *key;

	if (!gdpr_hold_any(relid))
		return;
	n = gdpr_hold_query("SELECT id, key FROM gdpr.legal_hold WHERE rel = $1 AND " ACTIVE_HOLD
				   " ORDER BY id", 1, types, values, true);
	ids = palloc(sizeof(int64) * Max(n, 1));
	keys = palloc(sizeof(char *) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											 1, &isnull));
		keys[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	if (n > 0 && leaf == relid)
		held_error("truncate", relid, keys[0], ids[0]);
	if (n == 0)
		return;

	/* a partition: only the holds on its own rows */
	key = gdpr_key_lookup(leaf, false);
	for (uint64 i = 0; i < n; i++)
	{
		GdprIdentity saved;
		Oid			ktypes[1] = {TEXTOID};
		Datum		kvalues[1];
		int			level = gdpr_key_pin_format(key);
		uint64		found;

		kvalues[0] = CStringGetTextDatum(keys[i]);
		PushActiveSnapshot(GetLatestSnapshot());
		gdpr_become_table_owner(leaf, &saved);
		if (SPI_execute_with_args(psprintf("SELECT 1 FROM ONLY %s AS t WHERE %s"
										   " OPERATOR(pg_catalog.=) $1",
										   gdpr_relation_name(leaf),
										   gdpr_key_text_expr(key, "t")),
								  1, ktypes, kvalues, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args failed");
		found = SPI_processed;
		gdpr_unbecome(&saved);
		PopActiveSnapshot();
		gdpr_key_unpin_format(level);
		if (found > 0)
			held_error("truncate", leaf, keys[i], ids[i]);
	}
}

/*
 * gdpr_hold_sql_drop
 *		In the sql_drop event trigger: a table with an active hold may not
 *		be dropped; the holds and deferred erasures of other dropped tables
 *		go.  The caller is connected to SPI.
 */
void
gdpr_hold_sql_drop(void)
{
	if (!holds_present())
		return;
	if (gdpr_hold_query("SELECT h.id, h.key, d.object_identity FROM gdpr.legal_hold h"
				   " JOIN pg_catalog.pg_event_trigger_dropped_objects() d"
				   "   ON d.object_type = 'table' AND d.objsubid = 0"
				   "  AND h.rel::pg_catalog.oid = d.objid"
				   " WHERE h." ACTIVE_HOLD " ORDER BY h.id LIMIT 1",
				   0, NULL, NULL, true) > 0)
	{
		bool		isnull;
		int64		hold_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 1, &isnull));

		ereport(ERROR,
				(errcode(ERRCODE_RESTRICT_VIOLATION),
				 errmsg("cannot drop table %s: row with key \"%s\" is under legal hold " INT64_FORMAT,
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3),
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2),
						hold_id),
				 errdetail("A row under an active legal hold may not be deleted."),
				 errhint("Release the hold with gdpr.release(" INT64_FORMAT ") first.", hold_id)));
	}
	(void) gdpr_hold_query("WITH d AS (SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects()"
					  "           WHERE object_type = 'table' AND objsubid = 0),"
					  " e AS (DELETE FROM gdpr.deferred_erasure"
					  "       WHERE rel::pg_catalog.oid IN (SELECT objid FROM d))"
					  " DELETE FROM gdpr.legal_hold WHERE rel::pg_catalog.oid IN (SELECT objid FROM d)",
					  0, NULL, NULL, false);
}

/*
 * gdpr_hold_unregister
 *		For gdpr.unregister(relid): refuse while the table has an active
 *		hold (its rows would lose the delete trigger that keeps them), else
 *		forget its holds and deferred erasures.
 */
void
gdpr_hold_unregister(Oid relid)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	if (!holds_present())
		return;
	gdpr_hold_lock_for_change(relid);
	gdpr_spi_connect();
	if (gdpr_hold_query("SELECT id FROM gdpr.legal_hold WHERE rel = $1 AND " ACTIVE_HOLD
				   " ORDER BY id LIMIT 1", 1, types, values, true) > 0)
	{
		bool		isnull;
		int64		hold_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 1, &isnull));

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("relation \"%s\" has rows under legal hold", get_rel_name(relid)),
				 errdetail("Legal hold " INT64_FORMAT " is active.", hold_id),
				 errhint("Release its holds with gdpr.release() first.")));
	}
	(void) gdpr_hold_query("WITH e AS (DELETE FROM gdpr.deferred_erasure WHERE rel = $1)"
					  " DELETE FROM gdpr.legal_hold WHERE rel = $1",
					  1, types, values, false);
	gdpr_spi_finish();
	CacheInvalidateRelcacheByRelid(relid);
}
