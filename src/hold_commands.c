/*-------------------------------------------------------------------------
 *
 * hold_commands.c
 *	  gdpr.hold(), gdpr.release() and gdpr.release_expired(): placing a
 *	  legal hold, and ending it by carrying out, as the caller, the erasures
 *	  deferred while it was active.  Locking and the cost model are
 *	  described in hold.c.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/hold_commands.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_hold);
PG_FUNCTION_INFO_V1(gdpr_release);
PG_FUNCTION_INFO_V1(gdpr_release_expired);

/* one deferred erasure taken out of gdpr.deferred_erasure by a release */
typedef struct Deferred
{
	char	   *kind;
	bool		from_log;
} Deferred;

/*
 * gdpr_hold
 *		gdpr.hold(rel, key text | anyelement, reason, until): place a legal
 *		hold on one row of a registered table; returns its id.
 *
 * The row must exist and be visible to the caller (a row hidden by
 * row-level security is reported as missing, as by gdpr.anonymise); the
 * reason must not be empty; until, when given, must be in the future.
 */
Datum
gdpr_hold(PG_FUNCTION_ARGS)
{
	Oid			relid;
	GdprKey    *key;
	Datum		values[INDEX_MAX_KEYS];
	char	   *keytext;
	char	   *reason;
	AclResult	aclresult;
	Oid			types[5] = {REGCLASSOID, TEXTOID, TEXTOID, NAMEOID, TIMESTAMPTZOID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	int64		hold_id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation and key of a legal hold must not be null")));
	relid = PG_GETARG_OID(0);
	reason = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (reason == NULL || reason[strspn(reason, " \t\r\n")] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the reason of a legal hold must not be empty"),
				 errhint("Say why the data must be kept, e.g. the case or audit it is kept for.")));
	if (!PG_ARGISNULL(3) &&
		PG_GETARG_TIMESTAMPTZ(3) <= GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a legal hold must end in the future"),
				 errdetail("\"until\" is %s.", timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(3)))));

	(void) gdpr_registered_table(relid);
	key = gdpr_key_lookup(relid, false);
	keytext = gdpr_key_argument(fcinfo, 1, key, values);

	/* no lock on a table the caller may not read */
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, get_rel_name(relid));
	gdpr_hold_lock_for_change(relid);

	gdpr_spi_connect();
	if (!gdpr_row_exists(relid, key, values))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("relation \"%s\" has no row with key \"%s\"",
						get_rel_name(relid), keytext)));
	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(keytext);
	args[2] = CStringGetTextDatum(reason);
	args[3] = DirectFunctionCall1(namein,
								  CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	args[4] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	if (PG_ARGISNULL(3))
		nulls[4] = 'n';
	(void) gdpr_owner_execute(NULL, "INSERT INTO gdpr.legal_hold (rel, key, reason, held_by, until)"
							  " VALUES ($1, $2, $3, $4, $5) RETURNING id",
							  5, types, args, nulls, false, 0);
	hold_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										  &isnull));
	gdpr_spi_finish();
	CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_INT64(hold_id);
}

/*
 * carry_out
 *		Carry out one deferred erasure of the row of relid with key keytext,
 *		as the caller of release (as gdpr.anonymise or a DELETE of the
 *		caller's would: privileges, row-level security and triggers apply).
 *		Returns the outcome: applied, already (anonymised), missing (no such
 *		row visible) or skipped (the table may no longer be anonymised or is
 *		no longer registered).  The caller is connected to SPI.
 */
static const char *
carry_out(Oid relid, const char *keytext, Deferred *d)
{
	GdprTable  *table = gdpr_catalog_get_table(relid);
	GdprKey    *key;
	Datum		values[INDEX_MAX_KEYS];
	const char *volatile outcome;
	bool		saved = gdpr_replaying;

	if (table == NULL)
		return "skipped";
	key = gdpr_key_lookup(relid, false);
	(void) gdpr_key_parse(key, keytext, values);
	PG_TRY();
	{
		/* the replay of a logged event logs nothing again */
		gdpr_replaying = saved || d->from_log;
		if (strcmp(d->kind, "delete") == 0)
		{
			outcome = gdpr_delete_row(relid, key, values) ? "applied" : "missing";
		}
		else if (!table->can_anonymise)
			outcome = "skipped";
		else
		{
			gdpr_check_table(relid, true);
			if (!gdpr_row_exists(relid, key, values))
				outcome = "missing";
			else
				outcome = gdpr_anonymise_row(relid, table, key, values, keytext, false,
											 false) ? "applied" : "already";
		}
	}
	PG_FINALLY();
	{
		gdpr_replaying = saved;
	}
	PG_END_TRY();
	return outcome;
}

/*
 * put_row
 *		One row of release's result: (rel, key, outcome), with the hold's id
 *		first for release_expired.
 */
static void
put_row(ReturnSetInfo *rsinfo, int64 hold_id, Oid relid, const char *keytext,
		const char *outcome)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	int			c = 0;

	if (hold_id != 0)
		values[c++] = Int64GetDatum(hold_id);
	values[c++] = ObjectIdGetDatum(relid);
	values[c++] = CStringGetTextDatum(keytext);
	values[c++] = CStringGetTextDatum(outcome);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * release_hold
 *		End hold hold_id and, where no other active hold covers its row,
 *		carry out the erasures deferred meanwhile, anonymisations first,
 *		putting one row per deferred erasure into rsinfo (with the hold's id
 *		when with_id; a hold with nothing deferred then gets one row,
 *		"released").
 */
static void
release_hold(int64 hold_id, ReturnSetInfo *rsinfo, bool with_id)
{
	Oid			types[2] = {INT8OID, NAMEOID};
	Datum		args[2];
	Oid			relid;
	char	   *keytext;
	bool		isnull;
	bool		released;
	int64		other;
	uint64		n;
	Deferred   *deferred;
	int			nrows = 0;

	/* what is built from here on goes with the SPI connection's memory */
	gdpr_spi_connect();
	args[0] = Int64GetDatum(hold_id);
	args[1] = DirectFunctionCall1(namein,
								  CStringGetDatum(GetUserNameFromId(GetUserId(), false)));
	if (gdpr_hold_query("SELECT rel, key, released_at IS NOT NULL FROM gdpr.legal_hold WHERE id = $1",
				   1, types, args, true) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("legal hold " INT64_FORMAT " does not exist", hold_id)));
	relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										   &isnull));
	keytext = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	released = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3,
										  &isnull));
	if (!released)
	{
		gdpr_hold_lock_for_change(relid);
		released = gdpr_hold_query("UPDATE gdpr.legal_hold"
							  " SET released_at = pg_catalog.now(), released_by = $2"
							  " WHERE id = $1 AND released_at IS NULL",
							  2, types, args, false) == 0;
	}
	if (released)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("legal hold " INT64_FORMAT " is already released", hold_id)));
	CacheInvalidateRelcacheByRelid(relid);
	CommandCounterIncrement();

	/* what was deferred on the row; it stays deferred while another hold covers it */
	other = gdpr_hold_active_except(relid, keytext, hold_id);
	{
		Oid			dtypes[2] = {REGCLASSOID, TEXTOID};
		Datum		dargs[2] = {ObjectIdGetDatum(relid), CStringGetTextDatum(keytext)};

		n = gdpr_hold_query(other != 0 ?
					   "SELECT kind, from_log FROM gdpr.deferred_erasure"
					   " WHERE rel = $1 AND key = $2 ORDER BY kind" :
					   "DELETE FROM gdpr.deferred_erasure"
					   " WHERE rel = $1 AND key = $2 RETURNING kind, from_log",
					   2, dtypes, dargs, other != 0);
	}
	deferred = palloc(sizeof(Deferred) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		deferred[i].kind = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		deferred[i].from_log = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 2, &isnull));
	}
	/* anonymisations first: a deferred delete then removes the row */
	for (int pass = 0; pass < 2; pass++)
		for (uint64 i = 0; i < n; i++)
		{
			const char *kind = pass == 0 ? "anonymise" : "delete";

			if (strcmp(deferred[i].kind, kind) != 0)
				continue;
			put_row(rsinfo, with_id ? hold_id : 0, relid, keytext,
					other != 0 ? "held" : carry_out(relid, keytext, &deferred[i]));
			nrows++;
		}
	if (with_id && nrows == 0)
		put_row(rsinfo, hold_id, relid, keytext, "released");
	gdpr_spi_finish();
}

/*
 * gdpr_release
 *		gdpr.release(hold_id): end a hold, carry out what was deferred on its
 *		row when no other hold covers it; returns (rel, key, outcome).
 */
Datum
gdpr_release(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the id of a legal hold must not be null")));
	InitMaterializedSRF(fcinfo, 0);
	release_hold(PG_GETARG_INT64(0), (ReturnSetInfo *) fcinfo->resultinfo, false);
	return (Datum) 0;
}

/*
 * gdpr_release_expired
 *		gdpr.release_expired(): release every hold whose "until" has passed,
 *		carrying out what was deferred (for pg_cron); returns (hold_id, rel,
 *		key, outcome), one row per deferred erasure, or "released" for a
 *		hold with nothing deferred.
 */
Datum
gdpr_release_expired(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo;
	uint64		n;
	int64	   *ids;

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	gdpr_spi_connect();
	n = gdpr_hold_query("SELECT id FROM gdpr.legal_hold"
				   " WHERE released_at IS NULL AND until <= pg_catalog.now() ORDER BY id",
				   0, NULL, NULL, true);
	/* in the caller's memory: the SPI connection's goes at gdpr_spi_finish */
	ids = SPI_palloc(sizeof(int64) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
											 1, &isnull));
	}
	gdpr_spi_finish();
	for (uint64 i = 0; i < n; i++)
		release_hold(ids[i], rsinfo, true);
	return (Datum) 0;
}
