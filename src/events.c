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
 * the queue or the markers.  The events of one statement go in batches (see
 * BATCH_OF); the one event of a deleted row, or of a row anonymised alone,
 * and that row's marker, are written directly, without a statement
 * (queue_one, forget_marker, mark_one_direct).
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/events.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "gdpr.h"

/* the fixed statements, by number: the cache's keys */
#define STMT_QUEUE_DELETES	0
#define STMT_MARK			1
#define STMT_MARK_FORCE		2
#define STMT_SPLIT_RANGES	3
#define STMT_QUEUE_DELETE	4
#define STMT_MARK_ONE		5
#define STMT_MARK_FORCE_ONE	6
#define STMT_BATCHED		7	/* added to 0-2: their batched forms */
#define STMT_MARK_PLAIN		10	/* batched only */
#define STMT_MARKER_ONE		11	/* the marker of STMT_MARK_ONE only */
#define STMT_MARKER_FORCE_ONE 12	/* the marker of STMT_MARK_FORCE_ONE only */

/* the fewest keys marked by a plain INSERT first (see mark_plain) */
#define MARK_PLAIN_MIN		1000

/* the most events a row of gdpr.queue holds (and markers written at once) */
#define GDPR_EVENTS_PER_ROW	1000

/*
 * the event_uuids drawn from the strong random source at once (a 16 kB
 * pool: a call costs the same whatever its size)
 */
#define UUIDS_PER_DRAW		1024

/*
 * Events in batches (version 1.1): the events of one statement go to
 * gdpr.queue as rows of up to GDPR_EVENTS_PER_ROW keys each (column keys;
 * key is NULL), in the order of the keys, instead of a row per event.  The view
 * gdpr.queued_events shows them one row per event, each with its own
 * event_uuid, and the shipper sends them so (shipper.c).  A database still
 * at version 1.0 has no column keys: there the statements write a row per
 * event.
 */
#define BATCH_OF(tab, key, ord) \
	" SELECT 'anonymise', $3, pg_catalog.array_agg(" key " ORDER BY " ord ")" \
	" FROM " tab " WHERE $4" \
	" GROUP BY (" ord " OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) " \
	CppAsString2(GDPR_EVENTS_PER_ROW)

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
	/*
	 * STMT_SPLIT_RANGES: $1 rel, $2 deleted keys ($3, $4 unused): each
	 * marker range holding a deleted key is replaced by the pieces around
	 * the deleted keys
	 */
	"WITH d AS (SELECT DISTINCT k::pg_catalog.int8 AS k"
	"           FROM pg_catalog.unnest($2) AS k),"
	" hit AS (DELETE FROM gdpr.marker_range AS g USING"
	"   (SELECT DISTINCT r.lo FROM d CROSS JOIN LATERAL"
	"      (SELECT r.lo, r.hi FROM gdpr.marker_range AS r"
	"        WHERE r.rel OPERATOR(pg_catalog.=) $1"
	"          AND r.lo OPERATOR(pg_catalog.<=) d.k"
	"        ORDER BY r.lo DESC LIMIT 1) AS r"
	"     WHERE r.hi OPERATOR(pg_catalog.>=) d.k) AS x"
	"   WHERE g.rel OPERATOR(pg_catalog.=) $1 AND g.lo OPERATOR(pg_catalog.=) x.lo"
	"   RETURNING g.lo, g.hi, g.anonymised_at),"
	" cut AS (SELECT h.lo, h.hi, h.anonymised_at, d.k,"
	"                pg_catalog.lag(d.k) OVER"
	"                  (PARTITION BY h.lo ORDER BY d.k) AS prev"
	"           FROM hit AS h JOIN d ON d.k OPERATOR(pg_catalog.>=) h.lo"
	"                                AND d.k OPERATOR(pg_catalog.<=) h.hi),"
	" piece AS (SELECT COALESCE(prev OPERATOR(pg_catalog.+) 1, lo) AS lo,"
	"                  k OPERATOR(pg_catalog.-) 1 AS hi, anonymised_at"
	"             FROM cut"
	"           UNION ALL"
	"           SELECT pg_catalog.max(k) OPERATOR(pg_catalog.+) 1, hi, anonymised_at"
	"             FROM cut GROUP BY lo, hi, anonymised_at)"
	"INSERT INTO gdpr.marker_range (rel, lo, hi, anonymised_at)"
	" SELECT $1, lo, hi, anonymised_at FROM piece WHERE lo OPERATOR(pg_catalog.<=) hi",
	/* STMT_QUEUE_DELETE: $1 rel, $2 table name, $3 one key, $4 queue */
	"WITH m AS ("
	" DELETE FROM gdpr.marker WHERE key OPERATOR(pg_catalog.=) $3"
	" AND rel OPERATOR(pg_catalog.=) $1)"
	"INSERT INTO gdpr.queue (kind, table_name, key) SELECT 'delete', $2, $3 WHERE $4",
	/* STMT_MARK_ONE: $1 rel, $2 one key, $3 table name, $4 queue */
	"WITH m AS ("
	" INSERT INTO gdpr.marker AS m (rel, key) VALUES ($1, $2)"
	" ON CONFLICT (rel, key) DO NOTHING RETURNING m.key)"
	"INSERT INTO gdpr.queue (kind, table_name, key)"
	" SELECT 'anonymise', $3, m.key FROM m WHERE $4",
	/* STMT_MARK_FORCE_ONE */
	"WITH m AS ("
	" INSERT INTO gdpr.marker AS m (rel, key) VALUES ($1, $2)"
	" ON CONFLICT (rel, key) DO UPDATE SET anonymised_at = pg_catalog.now())"
	"INSERT INTO gdpr.queue (kind, table_name, key)"
	" SELECT 'anonymise', $3, $2 WHERE $4",
	/* STMT_BATCHED + STMT_QUEUE_DELETES */
	"WITH m AS ("
	" DELETE FROM gdpr.marker WHERE rel OPERATOR(pg_catalog.=) $1"
	" AND key OPERATOR(pg_catalog.=) ANY ($3))"
	"INSERT INTO gdpr.queue (kind, table_name, keys)"
	" SELECT 'delete', $2, pg_catalog.array_agg(u.k ORDER BY u.i)"
	" FROM pg_catalog.unnest($3) WITH ORDINALITY AS u(k, i) WHERE $4"
	" GROUP BY (u.i OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) " CppAsString2(GDPR_EVENTS_PER_ROW),
	/* STMT_BATCHED + STMT_MARK */
	"WITH m AS ("
	" INSERT INTO gdpr.marker AS m (rel, key)"
	" SELECT $1, k FROM pg_catalog.unnest($2) AS k"
	" ON CONFLICT (rel, key) DO NOTHING RETURNING m.key),"
	" n AS (SELECT m.key, pg_catalog.row_number() OVER () AS i FROM m)"
	"INSERT INTO gdpr.queue (kind, table_name, keys)"
	BATCH_OF("n", "n.key", "n.i"),
	/* STMT_BATCHED + STMT_MARK_FORCE */
	"WITH m AS ("
	" INSERT INTO gdpr.marker AS m (rel, key)"
	" SELECT $1, k FROM pg_catalog.unnest($2) AS k"
	" ON CONFLICT (rel, key) DO UPDATE"
	" SET anonymised_at = pg_catalog.now())"
	"INSERT INTO gdpr.queue (kind, table_name, keys)"
	BATCH_OF("pg_catalog.unnest($2) WITH ORDINALITY AS u(k, i)", "u.k", "u.i"),
	/* STMT_MARK_PLAIN: STMT_MARK for keys none of which is marked */
	"WITH m AS ("
	" INSERT INTO gdpr.marker (rel, key)"
	" SELECT $1, k FROM pg_catalog.unnest($2) AS k)"
	"INSERT INTO gdpr.queue (kind, table_name, keys)"
	BATCH_OF("pg_catalog.unnest($2) WITH ORDINALITY AS u(k, i)", "u.k", "u.i"),
	/* STMT_MARKER_ONE: $1 rel, $2 one key ($3, $4 unused) */
	"INSERT INTO gdpr.marker AS m (rel, key) VALUES ($1, $2)"
	" ON CONFLICT (rel, key) DO NOTHING RETURNING m.key",
	/* STMT_MARKER_FORCE_ONE */
	"INSERT INTO gdpr.marker AS m (rel, key) VALUES ($1, $2)"
	" ON CONFLICT (rel, key) DO UPDATE SET anonymised_at = pg_catalog.now()",
};

/* Local state: the plans, kept per backend */
static GdprCache *plans = NULL;

static void split_ranges(Oid relid, Datum keys);

/* gdpr's own tables as this backend found them: relations and columns */
typedef struct OwnTables
{
	Oid			marker;			/* gdpr.marker */
	Oid			queue;			/* gdpr.queue */
	Oid			queue_seq;		/* its sequence */
	bool		batched;		/* the queue has keys (version 1.1) */
	bool		direct;			/* all below found: direct writes possible */
	AttrNumber	m_rel,
				m_key,
				m_at;			/* gdpr.marker's columns */
	AttrNumber	q_seq,
				q_uuid,
				q_kind,
				q_table,
				q_key,
				q_keys,
				q_at;			/* gdpr.queue's columns */
} OwnTables;

static GdprCache *own_cache = NULL;

/*
 * build_own
 *		GdprCacheBuild of own_cache: look gdpr's tables and their columns
 *		up by name, once.  The entry depends on the tables it found, so a
 *		change of them (ALTER EXTENSION UPDATE, DROP EXTENSION) is seen; a
 *		table not found makes it depend on every relation, so that its
 *		creation is seen.
 */
static void
build_own(void *entry, const void *key, void *arg)
{
	OwnTables  *t = entry;
	Oid			schema = gdpr_schema_oid();

	t->marker = get_relname_relid("marker", schema);
	t->queue = get_relname_relid("queue", schema);
	t->queue_seq = get_relname_relid("queue_seq_seq", schema);
	if (!OidIsValid(t->marker) || !OidIsValid(t->queue) || !OidIsValid(t->queue_seq))
	{
		gdpr_cache_depend_all(entry);
		t->batched = t->direct = false;
		return;
	}
	gdpr_cache_depend(entry, t->marker);
	gdpr_cache_depend(entry, t->queue);
	gdpr_cache_depend(entry, t->queue_seq);
	t->m_rel = get_attnum(t->marker, "rel");
	t->m_key = get_attnum(t->marker, "key");
	t->m_at = get_attnum(t->marker, "anonymised_at");
	t->q_seq = get_attnum(t->queue, "seq");
	t->q_uuid = get_attnum(t->queue, "event_uuid");
	t->q_kind = get_attnum(t->queue, "kind");
	t->q_table = get_attnum(t->queue, "table_name");
	t->q_key = get_attnum(t->queue, "key");
	t->q_keys = get_attnum(t->queue, "keys");
	t->q_at = get_attnum(t->queue, "occurred_at");
	t->batched = t->q_keys != InvalidAttrNumber;
	t->direct = t->batched &&
		t->m_rel != InvalidAttrNumber && t->m_key != InvalidAttrNumber &&
		t->m_at != InvalidAttrNumber && t->q_seq != InvalidAttrNumber &&
		t->q_uuid != InvalidAttrNumber && t->q_kind != InvalidAttrNumber &&
		t->q_table != InvalidAttrNumber && t->q_key != InvalidAttrNumber &&
		t->q_at != InvalidAttrNumber;
}

/*
 * own_tables
 *		gdpr's own tables and columns, looked up once per backend (and again
 *		after they change).
 */
static OwnTables *
own_tables(void)
{
	Oid			key = InvalidOid;

	if (own_cache == NULL)
		own_cache = gdpr_cache_create("gdpr own tables", sizeof(OwnTables), false, NULL);
	return gdpr_cache_lookup(own_cache, &key, build_own, NULL);
}

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
	/* the parameters of the three shapes of statement */
#define BY_KEYS	{REGCLASSOID, TEXTOID, TEXTARRAYOID, BOOLOID}	/* $3 keys */
#define MARKING	{REGCLASSOID, TEXTARRAYOID, TEXTOID, BOOLOID}	/* $2 keys */
#define ONE_KEY	{REGCLASSOID, TEXTOID, TEXTOID, BOOLOID}
	static const Oid types[][4] = {
		BY_KEYS, MARKING, MARKING, MARKING, ONE_KEY, ONE_KEY, ONE_KEY,	/* 0-6 */
		BY_KEYS, MARKING, MARKING,	/* the batched forms of 0-2 */
		MARKING, ONE_KEY, ONE_KEY	/* 10-12 */
	};
	GdprPlanEntry *pe = entry;
	Oid			form = stmt;

	StaticAssertStmt(lengthof(types) == lengthof(statements),
					 "every statement needs its parameter types");

	/* the batched form where gdpr.queue has batches (the plan depends on it) */
	if (stmt <= STMT_MARK_FORCE && own_tables()->batched)
		form += STMT_BATCHED;
	pe->plans[0] = gdpr_prepare_lookup_plan(statements[form], 4, (Oid *) types[form]);
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
 * open_own
 *		Open gdpr's table relid and its indexes for direct writes, or return
 *		NULL when direct writes are not possible: a table not as this
 *		version made it (given triggers, rules or indexes on expressions
 *		since), or a database still at version 1.0.  Then the caller runs
 *		its statement instead.
 */
static ResultRelInfo *
open_own(Oid relid)
{
	Relation	rel;
	ResultRelInfo *rri;

	if (!own_tables()->direct)
		return NULL;
	rel = table_open(relid, RowExclusiveLock);
	if (rel->trigdesc != NULL || rel->rd_rules != NULL)
	{
		table_close(rel, RowExclusiveLock);
		return NULL;
	}
	rri = makeNode(ResultRelInfo);
	rri->ri_RelationDesc = rel;
	ExecOpenIndices(rri, false);
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];

		if (ii->ii_Expressions != NIL || ii->ii_Predicate != NIL)
		{
			ExecCloseIndices(rri);
			table_close(rel, RowExclusiveLock);
			return NULL;
		}
	}
	return rri;
}

/*
 * open_direct
 *		open_own of gdpr.queue.
 */
static ResultRelInfo *
open_direct(void)
{
	return open_own(own_tables()->queue);
}

/*
 * close_direct
 *		Close what open_own opened.
 */
static void
close_direct(ResultRelInfo *rri)
{
	ExecCloseIndices(rri);
	table_close(rri->ri_RelationDesc, NoLock);
}

/*
 * index_slot
 *		Insert the index entries of the row in slot (just inserted into the
 *		heap, tts_tid set) into the indexes opened by open_own, each unique
 *		index checked as check says; returns false when a unique index found
 *		a possible duplicate (UNIQUE_CHECK_PARTIAL only).
 *
 * UNIQUE_CHECK_YES checks as an INSERT does: a duplicate is a
 * unique_violation, a row being inserted by another transaction is waited
 * for.  UNIQUE_CHECK_PARTIAL checks as ON CONFLICT does, without waiting:
 * a live row or one another transaction is writing is a possible duplicate.
 */
static bool
index_slot(ResultRelInfo *rri, TupleTableSlot *slot, IndexUniqueCheck check)
{
	bool		unique = true;

	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];
		Datum		ivalues[INDEX_MAX_KEYS];
		bool		inulls[INDEX_MAX_KEYS];

		FormIndexDatum(ii, slot, NULL, ivalues, inulls);
		if (!index_insert(rri->ri_IndexRelationDescs[i], ivalues, inulls, &slot->tts_tid,
						  rri->ri_RelationDesc, ii->ii_Unique ? check : UNIQUE_CHECK_NO,
						  false, ii) && ii->ii_Unique)
			unique = false;
	}
	return unique;
}

/*
 * set_column
 *		Set column attnum (1-based) of the virtual tuple being made in slot.
 */
static inline void
set_column(TupleTableSlot *slot, AttrNumber attnum, Datum value)
{
	slot->tts_values[attnum - 1] = value;
	slot->tts_isnull[attnum - 1] = false;
}

/*
 * marker_row
 *		Make in slot (of gdpr.marker) the virtual tuple of the marker of key
 *		of relid, anonymised at at.
 */
static void
marker_row(TupleTableSlot *slot, Oid relid, Datum key, Datum at)
{
	OwnTables  *t = own_tables();

	ExecClearTuple(slot);
	for (int a = 0; a < slot->tts_tupleDescriptor->natts; a++)
		slot->tts_isnull[a] = true;
	set_column(slot, t->m_rel, ObjectIdGetDatum(relid));
	set_column(slot, t->m_key, key);
	set_column(slot, t->m_at, at);
	ExecStoreVirtualTuple(slot);
}

/*
 * event_uuid
 *		A random (version 4) uuid for a new event's event_uuid, as core's
 *		gen_random_uuid() makes one, from random bytes drawn UUIDS_PER_DRAW
 *		uuids at a time.
 *
 * perf: one call of the strong random source costs as much as the rest of
 * an event's uuid many times over (OpenSSL checks for a fork by a system
 * call on every call), and a 1-row DELETE pays it in full.  An event_uuid
 * is an identifier, not a secret: drawing its bytes in advance changes
 * nothing of their randomness.  The pool belongs to the process that drew
 * it (a forked child draws its own).
 */
static Datum
event_uuid(void)
{
	static uint8 pool[UUIDS_PER_DRAW * UUID_LEN];
	static int	left = 0;
	static pid_t drawn_by = 0;
	pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));

	if (left == 0 || drawn_by != MyProcPid)
	{
		if (!pg_strong_random(pool, sizeof(pool)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random values")));
		left = UUIDS_PER_DRAW;
		drawn_by = MyProcPid;
	}
	left--;
	memcpy(uuid->data, pool + left * UUID_LEN, UUID_LEN);
	uuid->data[6] = (uuid->data[6] & 0x0f) | 0x40;	/* version 4 */
	uuid->data[8] = (uuid->data[8] & 0x3f) | 0x80;	/* variant RFC 4122 */
	return UUIDPGetDatum(uuid);
}

/*
 * queue_row
 *		Insert one row into gdpr.queue (opened by open_direct) directly, as
 *		PostgreSQL writes its own catalogs: the heap tuple, then its index
 *		entries.  One event of key, or a batch of the text[] keys (key
 *		NULL).  The columns get what their defaults would give: the next
 *		seq, a random (version 4) event_uuid, the statement's time.
 */
static void
queue_row(ResultRelInfo *rri, const char *kind, const char *table_name, const char *key,
		  Datum keys)
{
	Relation	rel = rri->ri_RelationDesc;
	TupleDesc	desc = RelationGetDescr(rel);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	OwnTables  *t = own_tables();

	ExecClearTuple(slot);
	for (int i = 0; i < desc->natts; i++)
		slot->tts_isnull[i] = true;
	set_column(slot, t->q_seq,
			   Int64GetDatum(nextval_internal(t->queue_seq, false)));
	/* what the column's default, gen_random_uuid(), would give */
	set_column(slot, t->q_uuid, event_uuid());
	set_column(slot, t->q_kind, CStringGetTextDatum(kind));
	set_column(slot, t->q_table, CStringGetTextDatum(table_name));
	if (key != NULL)
		set_column(slot, t->q_key, CStringGetTextDatum(key));
	else
		set_column(slot, t->q_keys, keys);
	set_column(slot, t->q_at, TimestampTzGetDatum(GetCurrentStatementStartTimestamp()));
	ExecStoreVirtualTuple(slot);
	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	(void) index_slot(rri, slot, UNIQUE_CHECK_YES);
	ExecDropSingleTupleTableSlot(slot);
}

/*
 * queue_one
 *		Queue one event directly (queue_row), close the queue and note that
 *		the transaction queued events.
 *
 * No statement is planned or run and no identity is switched: a DELETE of
 * a registered table pays for one heap and one index insert.  gdpr.queue
 * is the extension's own table, written only by gdpr, so no privilege,
 * policy or trigger of a user applies to it (open_own checked there are
 * none).
 */
static void
queue_one(ResultRelInfo *rri, const char *kind, const char *table_name, const char *key)
{
	queue_row(rri, kind, table_name, key, (Datum) 0);
	close_direct(rri);
	gdpr_worker_note_queued();
}

/*
 * mark_direct
 *		STMT_MARK_PLAIN without a statement, for mark_plain: the markers of
 *		the text[] keys by multi-inserts into gdpr.marker (as COPY writes a
 *		table) and their primary key entries, where a key marked already is
 *		a unique_violation as for the plain INSERT; when queue, their events
 *		as batch rows of up to GDPR_EVENTS_PER_ROW keys, in the keys' order.
 *		Returns false, having done nothing, where either table is not as
 *		this version made it (open_own).
 */
static bool
mark_direct(Oid relid, Datum keys, const char *table_name, bool queue)
{
	OwnTables  *t = own_tables();
	ResultRelInfo *markers = open_own(t->marker);
	Datum		now = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	ResultRelInfo *events = NULL;
	Relation	rel;
	Datum	   *elems;
	int			n;
	TupleTableSlot *slots[GDPR_EVENTS_PER_ROW];
	CommandId	cid = GetCurrentCommandId(true);
	BulkInsertState bistate;

	if (markers == NULL)
		return false;
	if (queue && (events = open_direct()) == NULL)
	{
		close_direct(markers);
		return false;
	}
	rel = markers->ri_RelationDesc;
	deconstruct_array(DatumGetArrayTypeP(keys), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, NULL, &n);
	for (int i = 0; i < lengthof(slots); i++)
		slots[i] = table_slot_create(rel, NULL);
	bistate = GetBulkInsertState();
	for (int done = 0; done < n; done += lengthof(slots))
	{
		int			m = Min(n - done, (int) lengthof(slots));

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < m; i++)
			marker_row(slots[i], relid, elems[done + i], now);
		table_multi_insert(rel, slots, m, cid, 0, bistate);
		for (int i = 0; i < m; i++)
			(void) index_slot(markers, slots[i], UNIQUE_CHECK_YES);
		if (events != NULL)
			queue_row(events, "anonymise", table_name, NULL,
					  PointerGetDatum(construct_array(elems + done, m, TEXTOID, -1, false,
													  TYPALIGN_INT)));
	}
	FreeBulkInsertState(bistate);
	for (int i = 0; i < lengthof(slots); i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	close_direct(markers);
	if (events != NULL)
	{
		close_direct(events);
		gdpr_worker_note_queued();
	}
	return true;
}

/*
 * mark_one_direct
 *		The marker of one key of relid without a statement, written as
 *		INSERT ... ON CONFLICT writes it: a speculative heap insert into
 *		gdpr.marker, its index entries with the primary key checked without
 *		waiting, then the insert confirmed, or withdrawn where the key may
 *		have a marker (one committed, or one another transaction is
 *		writing).  Returns true when the marker is written; false, having
 *		left nothing behind, when it was withdrawn or gdpr.marker is not as
 *		this version made it (open_own).  The caller then runs its ON
 *		CONFLICT statement, which waits for the other writer and decides.
 *
 * A withdrawn marker is "super-deleted" at once (made invisible to all), so
 * no one waits for this transaction because of it; a transaction that saw
 * it while it was being written waited for its speculative token only.
 */
static bool
mark_one_direct(Oid relid, Datum key)
{
	OwnTables  *t = own_tables();
	ResultRelInfo *rri = open_own(t->marker);
	Relation	rel;
	TupleTableSlot *slot;
	uint32		token;
	bool		unique;

	if (rri == NULL)
		return false;
	rel = rri->ri_RelationDesc;
	slot = table_slot_create(rel, NULL);
	marker_row(slot, relid, key, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	token = SpeculativeInsertionLockAcquire(GetCurrentTransactionId());
	table_tuple_insert_speculative(rel, slot, GetCurrentCommandId(true), 0, NULL, token);
	unique = index_slot(rri, slot, UNIQUE_CHECK_PARTIAL);
	table_tuple_complete_speculative(rel, slot, token, unique);
	SpeculativeInsertionLockRelease(GetCurrentTransactionId());
	ExecDropSingleTupleTableSlot(slot);
	close_direct(rri);
	return unique;
}

/*
 * forget_marker
 *		Delete the marker of key of relid, if any, directly: one probe of
 *		gdpr.marker's primary key with the snapshot a statement would take
 *		now, and a heap delete.  A marker changed by a concurrent
 *		transaction (a forced anonymisation of a row without PII columns,
 *		which takes no row lock) is a serialization failure.
 */
static void
forget_marker(Oid relid, const char *key)
{
	Oid			marker = own_tables()->marker;
	Relation	rel;
	Relation	index;
	IndexScanDesc scan;
	ScanKeyData skey[2];
	TupleTableSlot *slot;
	Snapshot	snapshot;

	rel = table_open(marker, RowExclusiveLock);
	index = index_open(gdpr_relation_primary_key_index(rel), RowExclusiveLock);
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	/* the primary key is (key, rel) */
	ScanKeyEntryInitialize(&skey[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   index->rd_indcollation[0], F_TEXTEQ, CStringGetTextDatum(key));
	ScanKeyEntryInitialize(&skey[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
						   InvalidOid, F_OIDEQ, ObjectIdGetDatum(relid));
	slot = table_slot_create(rel, NULL);
	scan = gdpr_index_beginscan(rel, index, snapshot, 2, 0);
	index_rescan(scan, skey, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		TM_FailureData tmfd;
		TM_Result	result;

		result = table_tuple_delete(rel, &slot->tts_tid, GetCurrentCommandId(true), snapshot,
									InvalidSnapshot, true, &tmfd, false);
		if (result == TM_Updated)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to concurrent update")));
		if (result != TM_Ok && result != TM_Deleted && result != TM_SelfModified)
			elog(ERROR, "unexpected result %d deleting a marker", (int) result);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(index, NoLock);
	table_close(rel, NoLock);
}

/*
 * gdpr_events_queue
 *		Queue a 'delete' event for one deleted row of relid, and forget the
 *		row's marker (see gdpr_events_queue_many).  Every DELETE does this
 *		once per row: directly (queue_one, forget_marker), or where the
 *		queue is not as this version made it, by a statement of its own.
 */
void
gdpr_events_queue(Oid relid, const char *key)
{
	Datum		values[4];
	char	   *name = gdpr_relation_name(relid);
	bool		queue = !gdpr_replaying && !gdpr_scrubbing;
	bool		ranges = gdpr_events_has_ranges(relid, gdpr_key_lookup(relid, false));
	ResultRelInfo *rri = open_direct();

	if (rri != NULL)
	{
		forget_marker(relid, key);
		if (queue)
			queue_one(rri, "delete", name, key);
		else
			close_direct(rri);
		if (!ranges)
			return;				/* the common case: no statement at all */
	}
	gdpr_spi_connect();
	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(key);
	values[3] = BoolGetDatum(queue);
	if (rri == NULL)
		run_as_owner(STMT_QUEUE_DELETE, values);
	if (ranges)
		split_ranges(relid, PointerGetDatum(construct_array(&values[2], 1, TEXTOID, -1,
															false, TYPALIGN_INT)));
	gdpr_spi_finish();
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
	if (gdpr_events_has_ranges(relid, gdpr_key_lookup(relid, false)))
		split_ranges(relid, keys);
	gdpr_spi_finish();
}

/*
 * mark_plain_run
 *		mark_plain's work, run in its subtransaction: directly
 *		(mark_direct), else by its statement.
 */
static void
mark_plain_run(void *arg)
{
	Datum	   *values = arg;

	if (!mark_direct(DatumGetObjectId(values[0]), values[1],
					 TextDatumGetCString(values[2]), DatumGetBool(values[3])))
		run_as_owner(STMT_MARK_PLAIN, values);
}

/*
 * mark_plain
 *		STMT_MARK by a plain INSERT of the markers, in a subtransaction:
 *		whether it succeeded.  False (nothing done) when a key was marked
 *		already, which a concurrent transaction can do between the
 *		anonymising UPDATE's snapshot and now; the caller then marks with
 *		ON CONFLICT, which skips such keys.
 *
 * The UPDATE left out the rows it saw marked, so a conflict is rare, and a
 * plain INSERT costs well under half of ON CONFLICT's speculative
 * insertion.  Only for MARK_PLAIN_MIN keys or more: a subtransaction takes
 * a subtransaction id, and a transaction with many of them makes every
 * snapshot dearer.
 */
static bool
mark_plain(Datum *values)
{
	ErrorData  *edata = gdpr_subxact_run(mark_plain_run, values);

	if (edata == NULL)
		return true;
	if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
		ReThrowError(edata);
	FreeErrorData(edata);
	return false;
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
	int			nkeys;

	gdpr_spi_connect();
	values[0] = ObjectIdGetDatum(relid);
	values[1] = keys;
	values[2] = CStringGetTextDatum(gdpr_relation_name(relid));
	values[3] = BoolGetDatum(queue_event && gdpr_log_anonymise && !gdpr_replaying &&
							 !gdpr_scrubbing);
	nkeys = ArrayGetNItems(ARR_NDIM(DatumGetArrayTypeP(keys)),
						   ARR_DIMS(DatumGetArrayTypeP(keys)));
	if (nkeys == 1)
	{
		/* one row (gdpr.anonymise): no arrays, and if possible no statement */
		bool		isnull;
		bool		queue = DatumGetBool(values[3]);
		ResultRelInfo *rri = queue ? open_direct() : NULL;

		values[1] = array_get_element(keys, 1, (int[]) {1}, -1, -1, false,
									  TYPALIGN_INT, &isnull);
		if (queue && rri == NULL)
			run_as_owner(force ? STMT_MARK_FORCE_ONE : STMT_MARK_ONE, values);
		else
		{
			/* the marker directly, else by statement (ON CONFLICT) */
			bool		marked = mark_one_direct(relid, values[1]);

			if (!marked)
			{
				run_as_owner(force ? STMT_MARKER_FORCE_ONE : STMT_MARKER_ONE, values);
				marked = SPI_processed > 0;
			}
			/* the event directly */
			if (rri != NULL && (force || marked))
				queue_one(rri, "anonymise", TextDatumGetCString(values[2]),
						  TextDatumGetCString(values[1]));
			else if (rri != NULL)
				close_direct(rri);
		}
	}
	else if (force || nkeys < MARK_PLAIN_MIN || !own_tables()->batched ||
			 !mark_plain(values))
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
	if (gdpr_events_has_ranges(relid, gdpr_key_lookup(relid, false)))
		(void) gdpr_owner_execute(NULL, "DELETE FROM gdpr.marker_range WHERE rel = $1",
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
	if (OidIsValid(get_relname_relid("marker_range", gdpr_schema_oid())))
		(void) gdpr_owner_execute(NULL,
								  "DELETE FROM gdpr.marker_range WHERE rel IN "
								  "(SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() "
								  " WHERE object_type = 'table' AND objsubid = 0)",
								  0, NULL, NULL, NULL, false, 0);
	gdpr_spi_finish();
}

/* ------------------------------------------------------------------------
 * Marker ranges: a whole-table scrub marks the rows it anonymised as runs
 * of consecutive values of an integer key (gdpr.marker_range), not one
 * marker per row.  A row is marked when gdpr.marker has its key or a range
 * holds it.  Ranges are read only for tables that have some (a flag kept
 * per table, dropped by the relcache invalidation a scrub sends), so other
 * tables pay nothing for them.  A deleted row leaves its range, which is
 * split around it: a new row reusing the key is not anonymised.
 * ------------------------------------------------------------------------
 */

/*
 * owner_any_of
 *		Whether sql, a query of gdpr's tables about the table relid ($1,
 *		regclass), returns a row, read as the extension's owner.  Connects
 *		to SPI itself.
 */
static bool
owner_any_of(Oid relid, const char *sql)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		any;

	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL, sql, 1, types, values, NULL, false, 1);
	any = SPI_processed > 0;
	gdpr_spi_finish();
	return any;
}

/* the cached flag of one table: whether it has marker ranges */
typedef struct RangeFlagEntry
{
	bool		any;
} RangeFlagEntry;

static GdprCache *range_flags = NULL;

/*
 * build_range_flag
 *		GdprCacheBuild of the range flags.  Without gdpr.marker_range (a
 *		database still at version 1.0) the flag is false and depends on
 *		every relation, so that ALTER EXTENSION UPDATE is seen.
 */
static void
build_range_flag(void *entry, const void *key, void *arg)
{
	Oid			relid = *(const Oid *) key;

	if (!OidIsValid(get_relname_relid("marker_range", gdpr_schema_oid())))
	{
		gdpr_cache_depend_all(entry);
		((RangeFlagEntry *) entry)->any = false;
		return;
	}
	gdpr_cache_depend(entry, relid);
	((RangeFlagEntry *) entry)->any =
		owner_any_of(relid, "SELECT 1 FROM gdpr.marker_range WHERE rel = $1 LIMIT 1");
}

/*
 * gdpr_events_range_key
 *		Whether key can be marked by ranges: a single column of an integer
 *		type.
 */
bool
gdpr_events_range_key(GdprKey *key)
{
	return key->nkeys == 1 &&
		(key->typids[0] == INT2OID || key->typids[0] == INT4OID ||
		 key->typids[0] == INT8OID);
}

/*
 * gdpr_events_has_ranges
 *		Whether relid (whose primary key is key) has marker ranges; false
 *		at once for a key that cannot have any.
 */
bool
gdpr_events_has_ranges(Oid relid, GdprKey *key)
{
	if (!gdpr_events_range_key(key))
		return false;
	if (range_flags == NULL)
		range_flags = gdpr_cache_create("gdpr marker range flags", sizeof(RangeFlagEntry),
										false, NULL);
	return ((RangeFlagEntry *) gdpr_cache_lookup(range_flags, &relid, build_range_flag,
												 NULL))->any;
}

/*
 * gdpr_events_has_markers
 *		Whether relid has any row in gdpr.marker (read as the extension's
 *		owner, whatever the caller may see of them): a whole-table scrub of
 *		a table without markers needs no join that skips marked rows.  Not
 *		cached, unlike the range flag: markers come and go with every
 *		anonymisation and delete.  Connects to SPI itself.
 */
bool
gdpr_events_has_markers(Oid relid)
{
	return owner_any_of(relid, "SELECT 1 FROM gdpr.marker WHERE rel = $1 LIMIT 1");
}

/*
 * gdpr_events_range_exclusion
 *		" AND NOT <in a range>" for the key value keyexpr (SQL: a column or
 *		a parameter of the key's type) of a row of relid, or "" when relid
 *		has no ranges.  One index probe: the range with the greatest lower
 *		bound not above the value, whose upper bound must reach it.
 */
char *
gdpr_events_range_exclusion(Oid relid, GdprKey *key, const char *keyexpr)
{
	if (!gdpr_events_has_ranges(relid, key))
		return "";
	return psprintf(" AND NOT EXISTS (SELECT 1 FROM (SELECT r.hi FROM gdpr.marker_range AS r"
					" WHERE r.rel OPERATOR(pg_catalog.=) CAST(%u AS pg_catalog.regclass)"
					" AND r.lo OPERATOR(pg_catalog.<=) %s"
					" ORDER BY r.lo DESC LIMIT 1) AS r WHERE r.hi OPERATOR(pg_catalog.>=) %s)",
					relid, keyexpr, keyexpr);
}

/*
 * gdpr_events_mark_ranges
 *		Record the ranges [lo[i], hi[i]] (bigint[] Datums of n elements) of
 *		relid's key as anonymised, and tell every backend that relid has
 *		ranges.  Connects to SPI itself.
 */
void
gdpr_events_mark_ranges(Oid relid, Datum lo, Datum hi)
{
	Oid			types[3] = {REGCLASSOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[3];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = lo;
	values[2] = hi;
	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL, "INSERT INTO gdpr.marker_range (rel, lo, hi) "
							  "SELECT $1, l, h FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(l, h)",
							  3, types, values, NULL, false, 0);
	gdpr_spi_finish();
	CacheInvalidateRelcacheByRelid(relid);
}

/*
 * split_ranges
 *		Take the deleted keys (text[]) of relid out of its marker ranges
 *		(STMT_SPLIT_RANGES, a kept plan: the delete trigger runs it per
 *		row).  The caller is connected to SPI.
 */
static void
split_ranges(Oid relid, Datum keys)
{
	Datum		values[4];

	values[0] = ObjectIdGetDatum(relid);
	values[1] = keys;
	values[2] = CStringGetTextDatum("");
	values[3] = BoolGetDatum(false);
	run_as_owner(STMT_SPLIT_RANGES, values);
}

/*
 * gdpr_events_unmarked
 *		" AND NOT <marked>" for a row of relid (primary key key) under
 *		alias: not in gdpr.marker and not in a marker range.  With probe the
 *		marker is probed per row ("OFFSET 0" keeps the planner from making a
 *		join of it, whose plan would depend on gdpr.marker's statistics).
 */
char *
gdpr_events_unmarked(Oid relid, GdprKey *key, const char *alias, bool probe)
{
	char	   *marker = psprintf(" AND NOT EXISTS (SELECT 1 FROM gdpr.marker AS m"
								  " WHERE m.rel OPERATOR(pg_catalog.=) CAST(%u AS pg_catalog.regclass)"
								  " AND m.key OPERATOR(pg_catalog.=) %s%s)",
								  relid, gdpr_key_text_expr(key, alias),
								  probe ? " OFFSET 0" : "");

	if (!gdpr_events_has_ranges(relid, key))
		return marker;
	return psprintf("%s%s", marker,
					gdpr_events_range_exclusion(relid, key,
												psprintf("%s.%s", alias,
														 quote_identifier(key->attnames[0]))));
}
