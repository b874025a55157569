/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The outbox: markers of anonymised rows and events queued for the log.
 *
 * Events are written to gdpr.queue in the transaction that made the change,
 * so a rollback leaves none and a commit makes them durable with the data;
 * the log worker ships them later.  The statements here are fixed and fully
 * qualified, prepared once per backend, and run as the extension's owner:
 * users have no privileges on the queue or the markers.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/events.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"

#include "gdpr.h"

/* Local state: plans prepared once per backend */
static SPIPlanPtr queue_many_plan = NULL;
static SPIPlanPtr mark_plan[2] = {NULL, NULL};	/* [force] */
static bool plans_stale = false;

/*
 * plans_invalidate
 *		Relcache callback: the plans are made again at their next use (see
 *		gdpr_prepare_lookup_plan for why any relation counts).
 */
static void
plans_invalidate(Datum arg, Oid relid)
{
	plans_stale = true;
}

/*
 * refresh_plans
 *		Retire the plans after an invalidation, so the next use makes them
 *		again.  Registers the relcache callback on first use.
 */
static void
refresh_plans(void)
{
	static bool callback_registered = false;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(plans_invalidate, (Datum) 0);
		callback_registered = true;
	}
	if (!plans_stale)
		return;
	gdpr_retire_plan(queue_many_plan);
	gdpr_retire_plan(mark_plan[0]);
	gdpr_retire_plan(mark_plan[1]);
	queue_many_plan = mark_plan[0] = mark_plan[1] = NULL;
	plans_stale = false;
}

/*
 * run_as_owner
 *		Execute a kept plan as the extension's owner.
 *
 * Through gdpr_owner_execute, the one way gdpr writes its own tables.
 */
static void
run_as_owner(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	(void) gdpr_owner_execute(plan, NULL, 0, NULL, values, nulls, false, 0);
}

/*
 * gdpr_events_queue
 *		Queue a 'delete' event for one deleted row of relid, and forget the
 *		row's marker (see gdpr_events_queue_many).
 */
void
gdpr_events_queue(const char *kind, Oid relid, const char *key)
{
	Datum		elem = CStringGetTextDatum(key);

	gdpr_events_queue_many(kind, relid,
						   PointerGetDatum(construct_array(&elem, 1, TEXTOID, -1, false,
														   TYPALIGN_INT)));
}

/*
 * gdpr_events_queue_many
 *		Queue a 'delete' event for each deleted row of relid named by the
 *		text[] keys, and forget the rows' markers: a new row may reuse a key,
 *		and it is not anonymised.
 *
 * While gdpr.rerun() replays the log no event is queued, but the markers
 * still go.  Must be called inside a transaction; connects to SPI itself.
 */
void
gdpr_events_queue_many(const char *kind, Oid relid, Datum keys)
{
	Datum		values[4];

	Assert(strcmp(kind, "delete") == 0);
	gdpr_spi_connect();
	refresh_plans();
	if (queue_many_plan == NULL)
	{
		Oid			types[4] = {REGCLASSOID, TEXTOID, TEXTARRAYOID, BOOLOID};

		queue_many_plan = gdpr_prepare_lookup_plan("WITH m AS ("
									   " DELETE FROM gdpr.marker WHERE rel OPERATOR(pg_catalog.=) $1"
									   " AND key OPERATOR(pg_catalog.=) ANY ($3))"
									   "INSERT INTO gdpr.queue (kind, table_name, key) "
									   "SELECT 'delete', $2, k FROM pg_catalog.unnest($3) AS k "
									   "WHERE $4", 4, types);
	}
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(gdpr_relation_name(relid));
	values[2] = keys;
	values[3] = BoolGetDatum(!gdpr_replaying);
	run_as_owner(queue_many_plan, values, NULL);
	gdpr_spi_finish();
}

/*
 * gdpr_events_mark
 *		Record the rows named by the text[] keys as anonymised, and queue an
 *		'anonymise' event for each when queue_event and gdpr.log_anonymise
 *		are on (and no replay is running).
 *
 * The marker is the arbiter between concurrent anonymisations of one row
 * (an explicit one racing an ON DELETE ANONYMISE rule, say): without force
 * only the keys whose marker this call inserted get an event, so a row is
 * logged as anonymised once.  With force every key gets one.
 */
void
gdpr_events_mark(Oid relid, Datum keys, bool queue_event, bool force)
{
	Datum		values[4];
	int			f = force ? 1 : 0;

	gdpr_spi_connect();
	refresh_plans();
	if (mark_plan[f] == NULL)
	{
		Oid			types[4] = {REGCLASSOID, TEXTARRAYOID, TEXTOID, BOOLOID};

		mark_plan[f] = gdpr_prepare_lookup_plan(force ?
									"WITH m AS ("
									" INSERT INTO gdpr.marker AS m (rel, key)"
									" SELECT $1, k FROM pg_catalog.unnest($2) AS k"
									" ON CONFLICT (rel, key) DO UPDATE"
									" SET anonymised_at = pg_catalog.now())"
									"INSERT INTO gdpr.queue (kind, table_name, key)"
									" SELECT 'anonymise', $3, k FROM pg_catalog.unnest($2) AS k"
									" WHERE $4" :
									"WITH m AS ("
									" INSERT INTO gdpr.marker AS m (rel, key)"
									" SELECT $1, k FROM pg_catalog.unnest($2) AS k"
									" ON CONFLICT (rel, key) DO NOTHING RETURNING m.key)"
									"INSERT INTO gdpr.queue (kind, table_name, key)"
									" SELECT 'anonymise', $3, m.key FROM m WHERE $4",
									4, types);
	}
	values[0] = ObjectIdGetDatum(relid);
	values[1] = keys;
	values[2] = CStringGetTextDatum(gdpr_relation_name(relid));
	values[3] = BoolGetDatum(queue_event && gdpr_log_anonymise && !gdpr_replaying);
	run_as_owner(mark_plan[f], values, NULL);
	gdpr_spi_finish();
}
