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
 * The log database is input from outside: any role that can insert into
 * it can write events.  Each event is validated before it is acted on
 * (a known kind, a schema-qualified registered user table, a key that
 * parses), is applied in a subtransaction of its own so that one bad event
 * never stops the rest, and only events whose ids the log database itself
 * allocated are considered, so that a forged id cannot move the mark past
 * events not yet replayed.  Replayed changes run as the table's owner
 * (identity.c), after checking that the caller may make them.
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

#include "access/xact.h"
#include "catalog/catalog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "gdpr.h"
#include "shipper.h"

PG_FUNCTION_INFO_V1(gdpr_rerun);

/* events read from the log database per remote query */
#define RERUN_CHUNK		10000

/* one event read from the log */
typedef struct RerunEvent
{
	int64		id;
	char	   *kind;
	char	   *table_name;
	char	   *key;
} RerunEvent;

/* where the results go: the tuplestore outlives every subtransaction */
typedef struct RerunOutput
{
	ReturnSetInfo *rsinfo;
	ResourceOwner owner;		/* the call's resource owner */
} RerunOutput;

/*
 * resolve_table
 *		The OID of the logged schema-qualified table name, InvalidOid when
 *		no such table exists (any more).
 *
 * The log writes names with quote_qualified_identifier, so search_path
 * plays no part: a name that is not schema-qualified is malformed, as is
 * one that does not parse (errors of the parser propagate).
 */
static Oid
resolve_table(const char *table_name)
{
	List	   *names;

	if (!SplitIdentifierString(pstrdup(table_name), '.', &names) ||
		list_length(names) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid table name in the log: \"%s\"", table_name),
				 errdetail("gdpr logs schema-qualified table names.")));
	return RangeVarGetRelid(makeRangeVar(linitial(names), lsecond(names), -1),
							NoLock, true);
}

/*
 * replayable_table
 *		Whether relid is a table replay may change: a registered user table,
 *		never gdpr's own tables, a system catalog or a temporary table.
 */
static GdprTable *
replayable_table(Oid relid)
{
	Oid			nsp = get_rel_namespace(relid);
	char		relkind = get_rel_relkind(relid);

	if (IsCatalogNamespace(nsp) || IsToastNamespace(nsp) || isAnyTempNamespace(nsp) ||
		nsp == gdpr_schema_oid() ||
		(relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE))
		return NULL;
	return gdpr_catalog_get_table(relid);
}

/*
 * apply_event
 *		Apply one logged event; returns its outcome.
 *
 * "invalid" (malformed: an unknown kind, a table name or key that does not
 * parse), "skipped" (a table that is not registered, gdpr's or the
 * system's, or an anonymise event of a table that may not be anonymised),
 * "missing" (no such table or row), "already" (already anonymised),
 * "held" (the row is under a legal hold: the erasure is recorded as
 * deferred, and its release carries it out, hold.c), "applied".
 * *validated is set once the event has been found well-formed, so that an
 * error after it counts as "failed", not "invalid".
 *
 * The caller must be allowed to DELETE (UPDATE) the table, as for a plain
 * statement; the change itself then runs as the table's owner, under a
 * restricted operation with the owner's search_path (identity.c), so that
 * the owner's triggers run with the owner's rights, never the replaying
 * role's.
 */
static const char *
apply_event(RerunEvent *ev, volatile bool *validated)
{
	bool		is_delete;
	Oid			relid;
	GdprTable  *table;
	GdprKey    *key;
	Datum		values[INDEX_MAX_KEYS];
	char	   *keytext;
	AclResult	aclresult;
	GdprIdentity saved;
	const char *outcome;

	if (strcmp(ev->kind, "delete") == 0)
		is_delete = true;
	else if (strcmp(ev->kind, "anonymise") == 0)
		is_delete = false;
	else
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("unrecognized event kind \"%s\"", ev->kind)));

	relid = resolve_table(ev->table_name);
	if (!OidIsValid(relid))
	{
		ereport(WARNING,
				(errmsg("table %s of log event " INT64_FORMAT " does not exist",
						ev->table_name, ev->id),
				 errdetail("Its %s of key \"%s\" is not replayed.", ev->kind, ev->key),
				 errhint("If the table was renamed after the backup was taken, rename it "
						 "to its logged name and run gdpr.rerun() again before the "
						 "database takes writes.")));
		return "missing";
	}
	table = replayable_table(relid);
	if (table == NULL || (!is_delete && !table->can_anonymise))
		return "skipped";
	key = gdpr_key_lookup(relid, true);
	if (key == NULL)
		return "skipped";
	keytext = gdpr_key_parse(key, ev->key, values);
	*validated = true;

	aclresult = pg_class_aclcheck(relid, GetUserId(), is_delete ? ACL_DELETE : ACL_UPDATE);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_TABLE, get_rel_name(relid));

	gdpr_spi_connect();
	gdpr_become_table_owner(relid, &saved);
	if (!gdpr_row_exists(relid, key, values))
		outcome = "missing";
	else if (gdpr_hold_active(relid, keytext) != 0)
	{
		/* a held row: gdpr.release() carries the erasure out (hold.c) */
		gdpr_hold_defer(relid, keytext, is_delete ? "delete" : "anonymise", true);
		outcome = "held";
	}
	else if (is_delete)
	{
		outcome = gdpr_delete_row(relid, key, values) ? "applied" : "missing";
	}
	else
		outcome = gdpr_anonymise_row(relid, table, key, values, keytext, false, false) ?
			"applied" : "already";
	gdpr_unbecome(&saved);
	gdpr_spi_finish();
	return outcome;
}

/*
 * must_propagate
 *		Errors that end the whole replay rather than one event: a cancel,
 *		and the transaction rollback class (deadlock, serialization
 *		failure), which the caller should retry whole.
 */
static bool
must_propagate(ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_TRANSACTION_ROLLBACK ||
		edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN;
}

/* apply_event's arguments and results, for gdpr_subxact_run */
typedef struct ApplyRun
{
	RerunEvent *ev;
	bool		validated;
	const char *outcome;
} ApplyRun;

/*
 * apply_run
 *		apply_event, run in apply_in_subtransaction's subtransaction.
 */
static void
apply_run(void *arg)
{
	ApplyRun   *run = arg;

	run->outcome = apply_event(run->ev, &run->validated);
}

/*
 * apply_in_subtransaction
 *		Apply one event in a subtransaction of its own, so that one bad
 *		event never stops the rest: an error rolls back that event only,
 *		gives it the outcome "invalid" (before it was found well-formed)
 *		or "failed", and is reported as a WARNING.
 */
static const char *
apply_in_subtransaction(RerunEvent *ev)
{
	ApplyRun	run = {ev, false, NULL};
	ErrorData  *edata = gdpr_subxact_run(apply_run, &run);

	if (edata == NULL)
		return run.outcome;
	if (must_propagate(edata))
		ReThrowError(edata);
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("log event " INT64_FORMAT " (%s of %s, key \"%s\") was not replayed: %s",
					ev->id, ev->kind, ev->table_name, ev->key, edata->message),
			 edata->detail ? errdetail_internal("%s", edata->detail) : 0));
	FreeErrorData(edata);
	return run.validated ? "failed" : "invalid";
}

/*
 * fetch_events
 *		Read the next chunk of this source's events above after_id and up
 *		to limit_id, in log order, into palloc'd RerunEvents.
 *
 * Returns the number read (*events set); the PGresult is cleared on every
 * path.
 */
static int
fetch_events(PGconn *conn, const char *source, const char *lineages, int64 after_id,
			 int64 limit_id, RerunEvent **events)
{
	char		after[32];
	char		upto[32];
	char		limit[32];
	const char *params[5];
	PGresult   *volatile res = NULL;
	volatile int n = 0;

	snprintf(after, sizeof(after), INT64_FORMAT, after_id);
	snprintf(upto, sizeof(upto), INT64_FORMAT, limit_id);
	snprintf(limit, sizeof(limit), "%d", RERUN_CHUNK);
	params[0] = source;
	params[1] = after;
	params[2] = limit;
	params[3] = upto;
	params[4] = lineages;

	PG_TRY();
	{
		res = gdpr_shipper_exec(conn,
								lineages != NULL ?
								"SELECT id, kind, table_name, key FROM gdpr_log.event"
								" WHERE source = $1 AND id > $2::bigint AND id <= $4::bigint"
								"   AND (incarnation IS NULL OR incarnation = ANY ($5::uuid[]))"
								" ORDER BY id LIMIT $3::integer" :
								"SELECT id, kind, table_name, key FROM gdpr_log.event"
								" WHERE source = $1 AND id > $2::bigint AND id <= $4::bigint"
								" ORDER BY id LIMIT $3::integer",
								lineages != NULL ? 5 : 4, params, PGRES_TUPLES_OK,
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
 * allocated_limit
 *		The highest id the log database has allocated: the last value of
 *		the identity sequence of gdpr_log.event.id.
 *
 * An event above it was written with an explicit id (OVERRIDING SYSTEM
 * VALUE), not by a shipper: replaying it would move the mark past every
 * event logged after it.  Such events are ignored, with a WARNING.
 */
static int64
allocated_limit(PGconn *conn, const char *source)
{
	PGresult   *res;
	int64		limit;
	int64		forged;
	const char *params[1];

	params[0] = source;
	/* nothing between the query and PQclear can throw */
	res = gdpr_shipper_exec(conn,
							"WITH l AS (SELECT COALESCE(pg_catalog.pg_sequence_last_value("
							"  pg_catalog.pg_get_serial_sequence('gdpr_log.event', 'id')::pg_catalog.regclass),"
							"  0) AS last)"
							" SELECT l.last, (SELECT pg_catalog.count(*) FROM gdpr_log.event e"
							"                 WHERE e.source = $1 AND e.id > l.last) FROM l",
							1, params, PGRES_TUPLES_OK,
							"reading the log's id sequence");
	limit = strtoi64(PQgetvalue(res, 0, 0), NULL, 10);
	forged = strtoi64(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);

	if (forged > 0)
		ereport(WARNING,
				(errmsg("the log database holds " INT64_FORMAT " events of source \"%s\" with ids it never allocated",
						forged, source),
				 errdetail("Events above id " INT64_FORMAT " were written with explicit ids and are not replayed.",
						   limit),
				 errhint("Find out who wrote them: every role that can insert into gdpr_log.event can forge events.")));
	return limit;
}

/*
 * store_mark
 *		Set gdpr.state.reflected_id, as the extension's owner.
 */
static void
store_mark(int64 mark)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1];

	args[0] = Int64GetDatum(mark);
	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL, "UPDATE gdpr.state SET reflected_id = $1 WHERE singleton",
							  1, argtypes, args, NULL, false, 0);
	gdpr_spi_finish();
}

/*
 * put_result
 *		Add one row to the result, under the call's resource owner: the
 *		tuplestore may spill to a temporary file, which must outlive the
 *		subtransactions of the replay.
 */
static void
put_result(RerunOutput *out, RerunEvent *ev, const char *outcome)
{
	Datum		values[5];
	bool		nulls[5] = {0};
	ResourceOwner save = CurrentResourceOwner;

	values[0] = Int64GetDatum(ev->id);
	values[1] = CStringGetTextDatum(ev->kind);
	values[2] = CStringGetTextDatum(ev->table_name);
	values[3] = CStringGetTextDatum(ev->key);
	values[4] = CStringGetTextDatum(outcome);
	CurrentResourceOwner = out->owner;
	tuplestore_putvalues(out->rsinfo->setResult, out->rsinfo->setDesc, values, nulls);
	CurrentResourceOwner = save;
}

/*
 * replay
 *		Fetch and apply (or judge) every event above mark; returns the id of
 *		the last one considered.
 */
static int64
replay(PGconn *conn, const char *source, int64 mark, RerunOutput *out)
{
	int64		last = mark;
	int64		limit = allocated_limit(conn, source);
	char	   *lineages = gdpr_shipper_log_has_lineage(conn) ? gdpr_lineage_ids() : NULL;
	MemoryContext chunkcxt;
	MemoryContext old;
	int			n;

	chunkcxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr rerun chunk",
									 ALLOCSET_DEFAULT_SIZES);
	do
	{
		RerunEvent *events;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(chunkcxt);
		old = MemoryContextSwitchTo(chunkcxt);
		n = fetch_events(conn, source, lineages, last, limit, &events);
		for (int i = 0; i < n; i++)
		{
			put_result(out, &events[i], apply_in_subtransaction(&events[i]));
			last = events[i].id;
		}
		MemoryContextSwitchTo(old);
	} while (n == RERUN_CHUNK);
	MemoryContextDelete(chunkcxt);
	return last;
}

/*
 * gdpr_rerun
 *		SQL: gdpr.rerun(dry_run boolean DEFAULT false)
 *			 RETURNS TABLE(event_id bigint, kind text, table_name text,
 *						   key text, outcome text)
 *
 * Lists, and unless dry_run applies, every event of this source and of this
 * database's lineage (lineage.c) in the log database above
 * gdpr.state.reflected_id, in log order; then moves the mark to the last
 * one.  Each event is applied in a subtransaction of its own
 * (apply_in_subtransaction).  A dry run does the same work inside one more
 * subtransaction that it rolls back at the end, so its outcomes are those
 * the real run would give, an event seeing the effects of those before it.
 *
 * Serialised with the worker and other reruns by the shipping advisory
 * lock (waits for it); the state row is locked too, so that under
 * REPEATABLE READ a concurrent rerun is a serialization failure, never a
 * second application.  An empty gdpr.log_conninfo or an unreachable log
 * database is an ERROR.
 */
Datum
gdpr_rerun(PG_FUNCTION_ARGS)
{
	bool		dry_run = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	PGconn	   *volatile conn = NULL;
	char	   *source;
	int64		mark;
	volatile int64 last = 0;
	bool		saved_replaying = gdpr_replaying;
	RerunOutput out;
	MemoryContext cxt = CurrentMemoryContext;

	gdpr_shipper_require_conninfo();
	/*
	 * A restored database's queue came back by COPY, which woke nobody:
	 * this transaction's commit wakes the log worker for it.
	 */
	gdpr_worker_note_queued();
	InitMaterializedSRF(fcinfo, 0);
	out.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	out.owner = CurrentResourceOwner;

	source = gdpr_source();
	gdpr_shipper_lock(true);
	mark = gdpr_shipper_read_mark(!dry_run);
	last = mark;

	conn = gdpr_shipper_connect_or_error();

	PG_TRY();
	{
		if (gdpr_shipper_log_table_exists(conn))
		{
			gdpr_replaying = true;
			if (dry_run)
			{
				BeginInternalSubTransaction(NULL);
				MemoryContextSwitchTo(cxt);
				last = replay(conn, source, mark, &out);
				RollbackAndReleaseCurrentSubTransaction();
				MemoryContextSwitchTo(cxt);
				CurrentResourceOwner = out.owner;
			}
			else
				last = replay(conn, source, mark, &out);
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
