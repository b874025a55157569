/*-------------------------------------------------------------------------
 *
 * rerun.c
 *	  gdpr.rerun(): replay the logged erasures this database does not reflect.
 *
 * After a restore, the database is back at the state of its backup, while
 * the log database still holds every erasure since.  gdpr.state.reflected_id
 * (kept by the shipper, restored with the database) says up to which log id
 * this database reflects the log; rerun reads this source's events above it,
 * in log order, and applies each again: a delete deletes the row if it is
 * there, an anonymise anonymises it if it is there and not yet anonymised.
 * Nothing is queued while replaying (gdpr_replaying), so a replay writes no
 * new events.  The mark then moves to the last event considered, so a
 * second run lists nothing and rows created later are never touched.
 *
 * rerun takes the same advisory lock as shipping: two reruns, or a rerun and
 * the worker, never work on the same database at once.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/rerun.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/regproc.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "gdpr.h"
#include "shipper.h"

PG_FUNCTION_INFO_V1(gdpr_rerun);

/* events read from the log database per remote query */
#define RERUN_CHUNK		10000

/* the SQL-level functions rerun applies events with */
typedef struct RerunFunctions
{
	FmgrInfo	key_exists;		/* gdpr.key_exists(regclass, text) */
	FmgrInfo	delete_key;		/* gdpr.delete_key(regclass, text) */
	FmgrInfo	is_anonymised;	/* gdpr.is_anonymised(regclass, text) */
	FmgrInfo	anonymise;		/* gdpr.anonymise(regclass, text, boolean) */
	List	   *anonymisable;	/* OIDs of tables that may be anonymised */
	List	   *not_anonymisable;	/* OIDs of tables that may not */
} RerunFunctions;

/* one event read from the log */
typedef struct RerunEvent
{
	int64		id;
	char	   *kind;
	char	   *table_name;
	char	   *key;
} RerunEvent;

/*
 * lookup_function
 *		Prepare a call of gdpr.<name>(argtypes) through fmgr.
 *
 * The call goes through the function's own SET search_path (fmgr's
 * security-definer path); fn_expr is filled in so that the C function sees
 * its declared argument types, as it would when called from SQL.  The
 * caller's EXECUTE privilege on these internal functions is not required:
 * whoever may run gdpr.rerun() may replay the log.
 */
static void
lookup_function(FmgrInfo *finfo, const char *name, int nargs, Oid *argtypes)
{
	List	   *names = list_make2(makeString(GDPR_SCHEMA_NAME), makeString(pstrdup(name)));
	Oid			funcid = LookupFuncName(names, nargs, argtypes, false);
	List	   *args = NIL;

	for (int i = 0; i < nargs; i++)
		args = lappend(args, makeNullConst(argtypes[i], -1, InvalidOid));

	fmgr_info(funcid, finfo);
	finfo->fn_expr = (Node *) makeFuncExpr(funcid, BOOLOID, args, InvalidOid,
										   InvalidOid, COERCE_EXPLICIT_CALL);
}

/*
 * call_bool
 *		Call a prepared gdpr function with (rel, key[, false]); returns its
 *		boolean result.  A NULL result is an internal error.
 */
static bool
call_bool(FmgrInfo *finfo, Oid relid, text *key)
{
	if (finfo->fn_nargs == 3)
		return DatumGetBool(FunctionCall3(finfo, ObjectIdGetDatum(relid),
										  PointerGetDatum(key), BoolGetDatum(false)));
	return DatumGetBool(FunctionCall2(finfo, ObjectIdGetDatum(relid),
									  PointerGetDatum(key)));
}

/*
 * resolve_table
 *		The OID of the logged schema-qualified table name, InvalidOid when
 *		no such table exists (any more).
 *
 * The log writes names with quote_qualified_identifier, so search_path
 * plays no part; a name that does not even parse is treated as missing.
 */
static Oid
resolve_table(const char *table_name)
{
	List	   *names;

	if (!SplitIdentifierString(pstrdup(table_name), '.', &names) ||
		list_length(names) < 1 || list_length(names) > 3)
		return InvalidOid;
	names = gdpr_string_to_qualified_name_list(table_name);
	return RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true);
}

/*
 * can_anonymise
 *		Whether relid is registered with can_anonymise, cached for the call.
 *
 * The answer is remembered in fn, allocated in the function's call context.
 */
static bool
can_anonymise(RerunFunctions *fn, Oid relid, MemoryContext callcxt)
{
	GdprIdentity saved;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	bool		result = false;
	int			ret;
	MemoryContext old;

	if (list_member_oid(fn->anonymisable, relid))
		return true;
	if (list_member_oid(fn->not_anonymisable, relid))
		return false;

	args[0] = ObjectIdGetDatum(relid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	gdpr_become(gdpr_extension_owner(), &saved);
	ret = SPI_execute_with_args("SELECT can_anonymise FROM gdpr.registered_table"
								" WHERE rel = $1::regclass",
								1, argtypes, args, NULL, true, 1);
	gdpr_unbecome(&saved);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		result = !isnull && DatumGetBool(d);
	}
	SPI_finish();

	old = MemoryContextSwitchTo(callcxt);
	if (result)
		fn->anonymisable = lappend_oid(fn->anonymisable, relid);
	else
		fn->not_anonymisable = lappend_oid(fn->not_anonymisable, relid);
	MemoryContextSwitchTo(old);
	return result;
}

/*
 * apply_event
 *		Apply (or, in a dry run, judge) one logged event.
 *
 * Returns the outcome: "applied", "missing" (no such table or row),
 * "already" (already anonymised) or "skipped" (an anonymise event for a
 * table that is not registered or does not allow anonymisation).  Errors of
 * the functions applying it (a foreign key refusing the delete, say)
 * propagate.
 */
static const char *
apply_event(RerunFunctions *fn, RerunEvent *ev, bool dry_run, MemoryContext callcxt)
{
	Oid			relid = resolve_table(ev->table_name);
	text	   *key = cstring_to_text(ev->key);

	if (!OidIsValid(relid))
		return "missing";

	if (strcmp(ev->kind, "delete") == 0)
	{
		if (!call_bool(&fn->key_exists, relid, key))
			return "missing";
		if (dry_run)
			return "applied";
		return call_bool(&fn->delete_key, relid, key) ? "applied" : "missing";
	}
	else if (strcmp(ev->kind, "anonymise") == 0)
	{
		if (!can_anonymise(fn, relid, callcxt))
			return "skipped";
		if (!call_bool(&fn->key_exists, relid, key))
			return "missing";
		if (call_bool(&fn->is_anonymised, relid, key))
			return "already";
		if (dry_run)
			return "applied";
		return call_bool(&fn->anonymise, relid, key) ? "applied" : "already";
	}

	ereport(ERROR,
			errcode(ERRCODE_DATA_CORRUPTED),
			errmsg("unrecognized gdpr log event kind \"%s\"", ev->kind),
			errdetail("The event has id " INT64_FORMAT " in the log database.", ev->id));
	return NULL;				/* keep the compiler quiet */
}

/*
 * fetch_events
 *		Read the next chunk of this source's events above after_id, in log
 *		order, into palloc'd RerunEvents.
 *
 * Returns the number read (*events set); the PGresult is cleared on every
 * path.
 */
static int
fetch_events(PGconn *conn, const char *source, int64 after_id, RerunEvent **events)
{
	char		after[32];
	char		limit[32];
	const char *params[3];
	PGresult   *volatile res = NULL;
	volatile int n = 0;

	snprintf(after, sizeof(after), INT64_FORMAT, after_id);
	snprintf(limit, sizeof(limit), "%d", RERUN_CHUNK);
	params[0] = source;
	params[1] = after;
	params[2] = limit;

	PG_TRY();
	{
		res = gdpr_shipper_exec(conn,
								"SELECT id, kind, table_name, key FROM gdpr_log.event"
								" WHERE source = $1 AND id > $2::bigint"
								" ORDER BY id LIMIT $3::integer",
								3, params, PGRES_TUPLES_OK,
								"reading the log events to replay");
		n = PQntuples(res);
		*events = palloc(sizeof(RerunEvent) * Max(n, 1));
		for (int i = 0; i < n; i++)
		{
			(*events)[i].id = strtoi64(PQgetvalue(res, i, 0), NULL, 10);
			(*events)[i].kind = pstrdup(PQgetvalue(res, i, 1));
			(*events)[i].table_name = pstrdup(PQgetvalue(res, i, 2));
			(*events)[i].key = pstrdup(PQgetvalue(res, i, 3));
		}
	}
	PG_FINALLY();
	{
		PQclear(res);
	}
	PG_END_TRY();

	return n;
}

/*
 * store_mark
 *		Set gdpr.state.reflected_id, as the extension's owner.
 */
static void
store_mark(int64 mark)
{
	GdprIdentity saved;
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];
	int			ret;

	args[0] = Int64GetDatum(mark);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	gdpr_become(gdpr_extension_owner(), &saved);
	ret = SPI_execute_with_args("UPDATE gdpr.state SET reflected_id = $1 WHERE singleton",
								1, argtypes, args, NULL, false, 0);
	gdpr_unbecome(&saved);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	SPI_finish();
}

/*
 * gdpr_rerun
 *		SQL: gdpr.rerun(dry_run boolean DEFAULT false)
 *			 RETURNS TABLE(event_id bigint, kind text, table_name text,
 *						   key text, outcome text)
 *
 * Lists, and unless dry_run applies, every event of this source in the log
 * database above gdpr.state.reflected_id, in log order; then moves the mark
 * to the last one.  Serialised with the worker and other reruns by the
 * shipping advisory lock (waits for it); the state row is locked too, so
 * that under REPEATABLE READ a concurrent rerun is a serialization failure,
 * never a second application.  An empty gdpr.log_conninfo, an unreachable
 * log database or a failure while applying is an ERROR, and the caller's
 * transaction then keeps nothing of the replay.
 */
Datum
gdpr_rerun(PG_FUNCTION_ARGS)
{
	bool		dry_run = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	ReturnSetInfo *rsinfo;
	PGconn	   *volatile conn = NULL;
	char	   *source;
	int64		mark;
	volatile int64 last = 0;
	RerunFunctions fn;
	bool		saved_replaying = gdpr_replaying;
	Oid			argtypes[3] = {REGCLASSOID, TEXTOID, BOOLOID};
	MemoryContext chunkcxt;
	MemoryContext callcxt = CurrentMemoryContext;

	gdpr_shipper_require_conninfo();
	fn.anonymisable = NIL;
	fn.not_anonymisable = NIL;

	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	lookup_function(&fn.key_exists, "key_exists", 2, argtypes);
	lookup_function(&fn.delete_key, "delete_key", 2, argtypes);
	lookup_function(&fn.is_anonymised, "is_anonymised", 2, argtypes);
	lookup_function(&fn.anonymise, "anonymise", 3, argtypes);

	source = gdpr_source();
	gdpr_shipper_lock(true);
	mark = gdpr_shipper_read_mark(!dry_run);
	last = mark;

	conn = gdpr_shipper_connect_or_error();

	chunkcxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr rerun chunk",
									 ALLOCSET_DEFAULT_SIZES);

	PG_TRY();
	{
		if (gdpr_shipper_log_table_exists(conn))
		{
			int			n;

			do
			{
				RerunEvent *events;
				MemoryContext old;

				CHECK_FOR_INTERRUPTS();
				MemoryContextReset(chunkcxt);
				old = MemoryContextSwitchTo(chunkcxt);
				n = fetch_events(conn, source, last, &events);

				gdpr_replaying = true;
				for (int i = 0; i < n; i++)
				{
					Datum		values[5];
					bool		nulls[5] = {false, false, false, false, false};
					const char *outcome;

					outcome = apply_event(&fn, &events[i], dry_run, callcxt);

					values[0] = Int64GetDatum(events[i].id);
					values[1] = CStringGetTextDatum(events[i].kind);
					values[2] = CStringGetTextDatum(events[i].table_name);
					values[3] = CStringGetTextDatum(events[i].key);
					values[4] = CStringGetTextDatum(outcome);
					tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
										 values, nulls);
					last = events[i].id;
				}
				gdpr_replaying = saved_replaying;
				MemoryContextSwitchTo(old);
			} while (n == RERUN_CHUNK);
		}
	}
	PG_FINALLY();
	{
		gdpr_replaying = saved_replaying;
		gdpr_shipper_disconnect(conn);
	}
	PG_END_TRY();

	if (!dry_run && last > mark)
		store_mark(last);

	return (Datum) 0;
}
