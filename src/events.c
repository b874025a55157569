/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The outbox: markers of anonymised rows and events queued for the log.
 *
 * Events are written to gdpr.queue in the transaction that made the change,
 * so a rollback leaves none and a commit makes them durable with the data;
 * the log worker ships them later.  The statements here are fixed and fully
 * qualified, kept per backend (made again after gdpr.marker or gdpr.queue
 * change), and run as the extension's owner: users have no privileges on
 * the queue or the markers.
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

#include "gdpr.h"

/* the fixed statements, by number: the cache's keys */
#define STMT_QUEUE_DELETES	0
#define STMT_MARK			1
#define STMT_MARK_FORCE		2

static const char *const statements[] = {
	/* STMT_QUEUE_DELETES: $1 rel, $2 table name, $3 keys, $4 queue */
	"WITH m AS ("
	" DELETE FROM gdpr.marker WHERE rel OPERATOR(pg_catalog.=) $1"
	" AND key OPERATOR(pg_catalog.=) ANY ($3))"
	"INSERT INTO gdpr.queue (kind, table_name, key) "
	"SELECT 'delete', $2, k FROM pg_catalog.unnest($3) AS k "
	"WHERE $4",
	/* STMT_MARK: $1 rel, $2 keys, $3 table name, $4 queue */
	"WITH m AS ("
	" INSERT INTO gdpr.marker AS m (rel, key)"
	" SELECT $1, k FROM pg_catalog.unnest($2) AS k"
	" ON CONFLICT (rel, key) DO NOTHING RETURNING m.key)"
	"INSERT INTO gdpr.queue (kind, table_name, key)"
	" SELECT 'anonymise', $3, m.key FROM m WHERE $4",
	/* STMT_MARK_FORCE: the same, every key queued */
	"WITH m AS ("
	" INSERT INTO gdpr.marker AS m (rel, key)"
	" SELECT $1, k FROM pg_catalog.unnest($2) AS k"
	" ON CONFLICT (rel, key) DO UPDATE"
	" SET anonymised_at = pg_catalog.now())"
	"INSERT INTO gdpr.queue (kind, table_name, key)"
	" SELECT 'anonymise', $3, k FROM pg_catalog.unnest($2) AS k"
	" WHERE $4",
};

/* Local state: the plans, kept per backend */
static GdprCache *plans = NULL;

/*
 * build_plan
 *		GdprCacheBuild of the kept statements.  An entry depends on the
 *		relations its plan reads (gdpr.marker and gdpr.queue): their
 *		statistics decide the plan, see gdpr_prepare_lookup_plan.
 */
static void
build_plan(void *entry, const void *key, void *arg)
{
	Oid			stmt = *(const Oid *) key;
	Oid			types[3][4] = {
		{REGCLASSOID, TEXTOID, TEXTARRAYOID, BOOLOID},
		{REGCLASSOID, TEXTARRAYOID, TEXTOID, BOOLOID},
		{REGCLASSOID, TEXTARRAYOID, TEXTOID, BOOLOID},
	};
	GdprPlanEntry *pe = entry;

	pe->plans[0] = gdpr_prepare_lookup_plan(statements[stmt], 4, types[stmt]);
	gdpr_cache_depend_plan(entry, pe->plans[0]);
}

/*
 * run_as_owner
 *		Execute fixed statement stmt as the extension's owner, through
 *		gdpr_owner_execute, the one way gdpr writes its own tables.  The
 *		caller is connected to SPI.
 */
static void
run_as_owner(Oid stmt, Datum *values)
{
	GdprPlanEntry *pe;

	if (plans == NULL)
		plans = gdpr_cache_create("gdpr event plans", sizeof(GdprPlanEntry), false,
								  gdpr_cache_release_plans);
	pe = gdpr_cache_lookup(plans, &stmt, build_plan, NULL);
	(void) gdpr_owner_execute(pe->plans[0], NULL, 0, NULL, values, NULL, false, 0);
	/* its commit wakes the log worker's launcher */
	gdpr_worker_note_queued();
}

/*
 * gdpr_events_queue
 *		Queue a 'delete' event for one deleted row of relid, and forget the
 *		row's marker (see gdpr_events_queue_many).
 */
void
gdpr_events_queue(Oid relid, const char *key)
{
	Datum		elem = CStringGetTextDatum(key);

	gdpr_events_queue_many(relid,
						   PointerGetDatum(construct_array(&elem, 1, TEXTOID, -1, false,
														   TYPALIGN_INT)));
}

/*
 * gdpr_events_queue_many
 *		Queue a 'delete' event for each deleted row of relid named by the
 *		text[] keys, and forget the rows' markers: a new row may reuse a key,
 *		and it is not anonymised.
 *
 * While gdpr.rerun() replays the log, or a scrub runs, no event is queued,
 * but the markers still go.  Must be called inside a transaction; connects to SPI itself.
 */
void
gdpr_events_queue_many(Oid relid, Datum keys)
{
	Datum		values[4];

	gdpr_spi_connect();
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(gdpr_relation_name(relid));
	values[2] = keys;
	values[3] = BoolGetDatum(!gdpr_replaying && !gdpr_scrubbing);
	run_as_owner(STMT_QUEUE_DELETES, values);
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

	gdpr_spi_connect();
	values[0] = ObjectIdGetDatum(relid);
	values[1] = keys;
	values[2] = CStringGetTextDatum(gdpr_relation_name(relid));
	values[3] = BoolGetDatum(queue_event && gdpr_log_anonymise && !gdpr_replaying &&
							 !gdpr_scrubbing);
	run_as_owner(force ? STMT_MARK_FORCE : STMT_MARK, values);
	gdpr_spi_finish();
}

/*
 * gdpr_events_forget_all
 *		Forget every marker of relid, whose rows a scrub truncates (nothing
 *		is queued).  Connects to SPI itself.
 */
void
gdpr_events_forget_all(Oid relid)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL, "DELETE FROM gdpr.marker WHERE rel = $1",
							  1, types, values, NULL, false, 0);
	gdpr_spi_finish();
}

/*
 * gdpr_events_forget_dropped
 *		In a sql_drop event trigger: forget the markers of the dropped
 *		tables.  Connects to SPI itself.
 */
void
gdpr_events_forget_dropped(void)
{
	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL,
							  "DELETE FROM gdpr.marker WHERE rel IN "
							  "(SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() "
							  " WHERE object_type = 'table' AND objsubid = 0)",
							  0, NULL, NULL, NULL, false, 0);
	gdpr_spi_finish();
}
