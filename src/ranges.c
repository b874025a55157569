/*-------------------------------------------------------------------------
 *
 * ranges.c
 *	  The marker ranges of a whole-table anonymisation, found as the UPDATE
 *	  runs.
 *
 * A scrub of a table with an integer key marks its rows by ranges of
 * consecutive keys (events.c).  The UPDATE's RETURNING list is the key; a
 * DestReceiver of ours takes each returned key as the executor produces it
 * (no tuplestore of the returned rows, no sort of the keys) and extends the
 * current run while keys follow each other, up or down.  A table scanned in
 * key order makes one run.  The runs that end go to a tuplesort (bounded by
 * work_mem, spilling to disk beyond it), ordered by their first key; once
 * the UPDATE is done they are read in order, adjacent runs merged, and
 * recorded as marker ranges in batches.  Memory stays bounded whatever the
 * number of rows or runs.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/ranges.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/tupdesc.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/tuplesort.h"

#include "gdpr.h"

/* ranges recorded per INSERT into gdpr.marker_range */
#define RANGES_PER_INSERT 1000

/* the DestReceiver that makes runs of the keys an UPDATE returns */
typedef struct RunReceiver
{
	DestReceiver pub;
	MemoryContext cxt;			/* where the sort of the ended runs lives */
	TupleDesc	desc;			/* a run: (lo int8, hi int8) */
	TupleTableSlot *slot;		/* a run to sort */
	Tuplesortstate *sort;		/* the ended runs; NULL until a run ends */
	bool		open;			/* a run is under way */
	int64		lo;				/* its least key */
	int64		hi;				/* its greatest key */
	int64		rows;			/* keys received */
} RunReceiver;

/* the runs read back in order, waiting to be recorded */
typedef struct RangeBatch
{
	Oid			relid;
	int			n;
	Datum		lo[RANGES_PER_INSERT];
	Datum		hi[RANGES_PER_INSERT];
} RangeBatch;

/*
 * end_run
 *		Put the current run of r into the sort of ended runs, creating the
 *		sort at the first.
 */
static void
end_run(RunReceiver *r)
{
	MemoryContext old = MemoryContextSwitchTo(r->cxt);

	if (r->sort == NULL)
	{
		AttrNumber	col = 1;
		Oid			op = Int8LessOperator;
		Oid			coll = InvalidOid;
		bool		nullsfirst = false;

		r->sort = tuplesort_begin_heap(r->desc, 1, &col, &op, &coll, &nullsfirst,
									   work_mem, NULL, TUPLESORT_NONE);
	}
	ExecClearTuple(r->slot);
	r->slot->tts_values[0] = Int64GetDatum(r->lo);
	r->slot->tts_values[1] = Int64GetDatum(r->hi);
	r->slot->tts_isnull[0] = false;
	r->slot->tts_isnull[1] = false;
	ExecStoreVirtualTuple(r->slot);
	tuplesort_puttupleslot(r->sort, r->slot);
	MemoryContextSwitchTo(old);
}

/*
 * run_receive
 *		receiveSlot of the RunReceiver: extend the current run by the
 *		returned key when it follows the run's last key up or its first
 *		down, else end the run and start another.  Keys are unique (the
 *		primary key), so runs never overlap.
 */
static bool
run_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RunReceiver *r = (RunReceiver *) self;
	bool		isnull;
	int64		k = DatumGetInt64(slot_getattr(slot, 1, &isnull));

	if (isnull)
		elog(ERROR, "gdpr: an anonymised row returned a null key");
	r->rows++;
	if (r->open && r->hi != PG_INT64_MAX && k == r->hi + 1)
		r->hi = k;
	else if (r->open && r->lo != PG_INT64_MIN && k == r->lo - 1)
		r->lo = k;
	else
	{
		if (r->open)
			end_run(r);
		r->lo = r->hi = k;
		r->open = true;
	}
	return true;
}

/*
 * flush_batch
 *		Record the ranges of b as marker ranges and empty it.
 */
static void
flush_batch(RangeBatch *b)
{
	ArrayType  *los;
	ArrayType  *his;

	if (b->n == 0)
		return;
	los = construct_array(b->lo, b->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	his = construct_array(b->hi, b->n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	gdpr_events_mark_ranges(b->relid, PointerGetDatum(los), PointerGetDatum(his));
	pfree(los);
	pfree(his);
	b->n = 0;
}

/*
 * add_range
 *		Add the range [lo, hi] to b, recording the batch when it is full.
 */
static void
add_range(RangeBatch *b, int64 lo, int64 hi)
{
	if (b->n == RANGES_PER_INSERT)
		flush_batch(b);
	b->lo[b->n] = Int64GetDatum(lo);
	b->hi[b->n] = Int64GetDatum(hi);
	b->n++;
}

/*
 * record_runs
 *		Record the runs of r as marker ranges of relid: the ended runs in
 *		the order of their first key with the current one among them,
 *		adjacent runs merged.
 */
static void
record_runs(RunReceiver *r, Oid relid)
{
	RangeBatch *b = palloc(sizeof(RangeBatch));
	TupleTableSlot *out;
	bool		have = false;
	int64		lo = 0;
	int64		hi = 0;

	b->relid = relid;
	b->n = 0;
	if (r->sort == NULL)
	{
		if (r->open)
			add_range(b, r->lo, r->hi);
		flush_batch(b);
		pfree(b);
		return;
	}
	end_run(r);
	tuplesort_performsort(r->sort);
	out = MakeSingleTupleTableSlot(r->desc, &TTSOpsMinimalTuple);
	while (tuplesort_gettupleslot(r->sort, true, false, out, NULL))
	{
		bool		isnull;
		int64		nlo = DatumGetInt64(slot_getattr(out, 1, &isnull));
		int64		nhi = DatumGetInt64(slot_getattr(out, 2, &isnull));

		CHECK_FOR_INTERRUPTS();
		if (have && hi != PG_INT64_MAX && nlo <= hi + 1)
		{
			hi = Max(hi, nhi);
			continue;
		}
		if (have)
			add_range(b, lo, hi);
		lo = nlo;
		hi = nhi;
		have = true;
	}
	if (have)
		add_range(b, lo, hi);
	flush_batch(b);
	ExecDropSingleTupleTableSlot(out);
	tuplesort_end(r->sort);
	r->sort = NULL;
	pfree(b);
}

/*
 * gdpr_ranges_update
 *		Run update, an UPDATE of relid whose RETURNING list is its integer
 *		key as int8, as the current user, and record the keys it changed as
 *		marker ranges of relid.  Returns the rows changed.  The caller is
 *		connected to SPI.
 */
int64
gdpr_ranges_update(Oid relid, const char *update)
{
	RunReceiver *r = palloc0(sizeof(RunReceiver));
	SPIExecuteOptions options;
	SPIPlanPtr	plan;
	int			rc;
	int64		rows;

	gdpr_receiver_init(&r->pub, run_receive, NULL);
	r->cxt = CurrentMemoryContext;
	r->desc = CreateTemplateTupleDesc(2);
	TupleDescInitEntry(r->desc, 1, "lo", INT8OID, -1, 0);
	TupleDescInitEntry(r->desc, 2, "hi", INT8OID, -1, 0);
	r->slot = MakeSingleTupleTableSlot(r->desc, &TTSOpsVirtual);

	memset(&options, 0, sizeof(options));
	options.read_only = false;
	options.dest = (DestReceiver *) r;
	/* the statement may carry held keys: blanked out of its text */
	plan = gdpr_prepare_blanked(update, 0, NULL);
	rc = SPI_execute_plan_extended(plan, &options);
	SPI_freeplan(plan);
	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "SPI_execute_plan_extended failed: %s", SPI_result_code_string(rc));
	record_runs(r, relid);
	rows = r->rows;
	ExecDropSingleTupleTableSlot(r->slot);
	FreeTupleDesc(r->desc);
	pfree(r);
	return rows;
}
