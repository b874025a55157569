/*-------------------------------------------------------------------------
 *
 * anonymise.c
 *	  Anonymising rows: one by key, many by keys, and whole databases.
 *
 * Every anonymisation is one UPDATE of the PII columns only (the SET list
 * names no other column, so triggers "BEFORE UPDATE OF other_col" stay quiet
 * and HOT updates stay possible), which skips rows already marked unless
 * forced and returns the keys it changed; the markers and the queued events
 * for those keys follow in the same transaction (events.c).  The UPDATE runs
 * as the caller, exactly as the caller's own UPDATE would: privileges,
 * column privileges, row-level security, triggers and search_path all
 * apply.  Only ON DELETE ANONYMISE and gdpr.rerun() run it as the table's
 * owner (identity.c), as a foreign-key action would.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/anonymise.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "nodes/parsenodes.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "commands/dbcommands.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/tuplestore.h"
#include "utils/syscache.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_anonymise);
PG_FUNCTION_INFO_V1(gdpr_anonymise_many);
PG_FUNCTION_INFO_V1(gdpr_is_anonymised);
PG_FUNCTION_INFO_V1(gdpr_key_exists);
PG_FUNCTION_INFO_V1(gdpr_delete_key);
PG_FUNCTION_INFO_V1(gdpr_anonymise_db);
PG_FUNCTION_INFO_V1(gdpr_anonymise_db_1_1);
PG_FUNCTION_INFO_V1(gdpr_anonymise_db_batched);

/* the cached single-row statement of one table (forced or not) */
typedef struct OnePlanEntry
{
	GdprPlanEntry kept;			/* plans[0]; first, for the release */
	GdprParams	params;			/* key params are filled per call */
} OnePlanEntry;

/* what build_one_plan needs besides the relation */
typedef struct OnePlanArgs
{
	GdprTable  *table;
	GdprKey    *key;
	bool		force;
} OnePlanArgs;

/* Local state */
static GdprCache *one_plans[2] = {NULL, NULL};	/* [force] */

static char *build_statement(Oid relid, GdprTable *table, GdprKey *key,
							 const char *from, const char *where,
							 GdprSkipMarked skip_marked, const char *extra_set,
							 const char *returning);

/*
 * gdpr_anonymise_statement
 *		Build the statement that anonymises the rows of relid matching where.
 *
 * "UPDATE [ONLY] rel AS t SET <pii> = <method expr>, ... [, extra_set]
 * [FROM from] WHERE where [AND NOT EXISTS (marker)] RETURNING <key text>";
 * a table without PII columns (and no extra_set) gets the equivalent SELECT,
 * so its rows are still marked.  extra_set (may be NULL) adds assignments to
 * other columns: ON DELETE ANONYMISE clears the reference in the same
 * UPDATE.  The method constants are literals: the statement's parameters
 * are those where refers to.
 *
 * skip_marked says how rows already marked are left out: not at all
 * (GDPR_SKIP_NONE), by an anti-join the planner may hash (GDPR_SKIP_JOIN,
 * for statements that read most of a table), or by one index probe of
 * gdpr.marker per candidate row (GDPR_SKIP_PROBE, for statements that name
 * their rows by key: "OFFSET 0" keeps the planner from turning the probe
 * into a join, whose plan would depend on gdpr.marker's statistics and
 * could read all of a table's markers for every batch).  Returns palloc'd
 * SQL.
 */
char *
gdpr_anonymise_statement(Oid relid, GdprTable *table, GdprKey *key,
						 const char *from, const char *where,
						 GdprSkipMarked skip_marked, const char *extra_set)
{
	return build_statement(relid, table, key, from, where, skip_marked, extra_set,
						   gdpr_key_text_expr(key, "t"));
}

/*
 * build_statement
 *		gdpr_anonymise_statement, with what the UPDATE returns (returning,
 *		SQL about alias "t"; a SELECT returns the key text).
 */
static char *
build_statement(Oid relid, GdprTable *table, GdprKey *key,
				const char *from, const char *where,
				GdprSkipMarked skip_marked, const char *extra_set,
				const char *returning)
{
	StringInfoData buf;
	StringInfoData set;
	Relation	rel;
	ListCell   *lc;
	char	   *keyexpr = gdpr_key_text_expr(key, "t");

	rel = table_open(relid, AccessShareLock);
	initStringInfo(&set);
	foreach(lc, table->fields)
	{
		GdprField  *field = lfirst(lc);

		if (!field->pii)
			continue;
		appendStringInfo(&set, "%s%s = %s", set.len > 0 ? ", " : "",
						 quote_identifier(field->attname),
						 gdpr_method_expr(rel, key, field, "t"));
	}
	table_close(rel, AccessShareLock);
	if (extra_set != NULL && extra_set[0] != '\0')
		appendStringInfo(&set, "%s%s", set.len > 0 ? ", " : "", extra_set);

	initStringInfo(&buf);
	if (set.len > 0)
		appendStringInfo(&buf, "UPDATE %s AS t SET %s%s%s WHERE (%s)",
						 gdpr_relation_from(relid),
						 set.data, from ? " FROM " : "", from ? from : "", where);
	else
		appendStringInfo(&buf, "SELECT %s FROM %s AS t%s%s WHERE (%s)",
						 keyexpr, gdpr_relation_from(relid),
						 from ? ", " : "", from ? from : "", where);
	/* rows under a legal hold are left alone (nothing added without holds) */
	appendStringInfoString(&buf, gdpr_hold_exclusion(relid, key, "t"));
	if (skip_marked != GDPR_SKIP_NONE)
		appendStringInfoString(&buf, gdpr_events_unmarked(relid, key, "t",
														  skip_marked == GDPR_SKIP_PROBE));
	if (set.len > 0)
		appendStringInfo(&buf, " RETURNING %s", returning);
	return buf.data;
}

/* the DestReceiver that keeps the keys an anonymising statement returns */
typedef struct KeyReceiver
{
	DestReceiver pub;
	MemoryContext parentcxt;	/* where the receiver was made */
	MemoryContext keycxt;		/* the kept keys; reset after each batch */
	MemoryContext storecxt;		/* the overflow store and the descriptor */
	int			batch;			/* keys kept in memory, at most */
	int			n;				/* keys kept */
	int			size;			/* room in keys */
	Datum	   *keys;			/* the first batch's keys (text) */
	TupleDesc	desc;			/* the statement's result */
	Tuplestorestate *rest;		/* the keys beyond the first batch */
	uint64		rows;			/* keys received */
} KeyReceiver;

/*
 * key_keep
 *		Add key (text) to the keys r keeps in memory, in r's key context.
 */
static void
key_keep(KeyReceiver *r, Datum key)
{
	MemoryContext old = MemoryContextSwitchTo(r->keycxt);

	if (r->n == r->size)
	{
		r->size = Min(Max(r->size * 2, 64), r->batch);
		r->keys = r->keys ? repalloc(r->keys, sizeof(Datum) * r->size)
			: palloc(sizeof(Datum) * r->size);
	}
	r->keys[r->n++] = datumCopy(key, false, -1);
	MemoryContextSwitchTo(old);
}

/*
 * key_receive
 *		receiveSlot of the KeyReceiver: keep the returned key in memory while
 *		the first batch has room, else put it in the overflow store (bounded
 *		by work_mem, spilling to disk beyond it), made at the first key that
 *		does not fit, with a copy of the result's descriptor for reading it
 *		back.  A one-row anonymisation makes neither.
 */
static bool
key_receive(TupleTableSlot *slot, DestReceiver *self)
{
	KeyReceiver *r = (KeyReceiver *) self;
	bool		isnull;
	Datum		key = slot_getattr(slot, 1, &isnull);

	if (isnull)
		elog(ERROR, "gdpr: an anonymised row returned a null key");
	r->rows++;
	if (r->rest == NULL && r->n < r->batch)
		key_keep(r, key);
	else
	{
		MemoryContext old;

		if (r->rest == NULL)
		{
			r->storecxt = AllocSetContextCreate(r->parentcxt, "gdpr anonymised keys store",
												ALLOCSET_DEFAULT_SIZES);
			old = MemoryContextSwitchTo(r->storecxt);
			r->desc = CreateTupleDescCopy(slot->tts_tupleDescriptor);
			r->rest = tuplestore_begin_heap(false, false, work_mem);
		}
		else
			old = MemoryContextSwitchTo(r->storecxt);
		tuplestore_puttupleslot(r->rest, slot);
		MemoryContextSwitchTo(old);
	}
	return true;
}

/*
 * mark_kept
 *		Mark the keys r keeps (see gdpr_events_mark) and free them.
 */
static void
mark_kept(KeyReceiver *r, Oid relid, bool queue_event, bool force)
{
	MemoryContext old;

	if (r->n == 0)
		return;
	old = MemoryContextSwitchTo(r->keycxt);
	gdpr_events_mark(relid,
					 PointerGetDatum(construct_array(r->keys, r->n, TEXTOID, -1, false,
													 TYPALIGN_INT)),
					 queue_event, force);
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->keycxt);
	r->keys = NULL;
	r->n = r->size = 0;
}

/*
 * gdpr_anonymise_run
 *		Execute an anonymisation statement (gdpr_anonymise_statement) and
 *		mark the rows it changed.
 *
 * The statement runs as the caller, or as the table's owner when as_owner
 * (ON DELETE ANONYMISE and replay: see identity.c), with plan, else sql once
 * with params.  The keys it returns go to a receiver of ours as the
 * executor produces them: the first gdpr.anonymise_batch_size kept in
 * memory, the rest in a store bounded by work_mem.  They are then marked a
 * batch at a time, each batch's memory freed before the next, so memory
 * stays bounded however many rows the statement changes (the children of a
 * million deleted parents, say).  The changed rows' keys get 'anonymise'
 * events when queue_event (see gdpr_events_mark for force).  Returns how
 * many rows were changed.  The caller is connected to SPI.
 */
uint64
gdpr_anonymise_run(Oid relid, SPIPlanPtr plan, const char *sql, GdprParams *params,
				   bool queue_event, bool force, bool as_owner)
{
	KeyReceiver *r = palloc0(sizeof(KeyReceiver));
	SPIExecuteOptions options;
	SPIPlanPtr	once = NULL;
	GdprIdentity saved;
	int			level;
	int			rc;
	uint64		rows;

	gdpr_receiver_init(&r->pub, key_receive, NULL);
	r->parentcxt = CurrentMemoryContext;
	r->keycxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr anonymised keys",
									  ALLOCSET_SMALL_SIZES);
	r->batch = Max(gdpr_anonymise_batch_size, 1);

	memset(&options, 0, sizeof(options));
	options.read_only = false;
	options.dest = (DestReceiver *) r;
	options.params = gdpr_param_list(params->n, params->types, params->values,
									 params->nulls);
	if (as_owner)
		gdpr_become_table_owner(relid, &saved);
	level = gdpr_key_pin_format(gdpr_key_lookup(relid, false));
	/* the statement may carry held keys: blanked out of its text */
	if (plan == NULL)
		once = gdpr_prepare_blanked(sql, params->n, params->types);
	rc = SPI_execute_plan_extended(plan ? plan : once, &options);
	gdpr_key_unpin_format(level);
	if (as_owner)
		gdpr_unbecome(&saved);
	if (rc < 0)
		elog(ERROR, "anonymisation statement failed: %s", SPI_result_code_string(rc));
	if (once != NULL)
		SPI_freeplan(once);

	/* the kept keys, then the rest a batch at a time */
	mark_kept(r, relid, queue_event, force);
	if (r->rest != NULL)
	{
		TupleTableSlot *slot = MakeSingleTupleTableSlot(r->desc, &TTSOpsMinimalTuple);

		for (;;)
		{
			bool		more = tuplestore_gettupleslot(r->rest, true, false, slot);
			bool		isnull;

			if (more)
				key_keep(r, slot_getattr(slot, 1, &isnull));
			if (!more || r->n == r->batch)
				mark_kept(r, relid, queue_event, force);
			if (!more)
				break;
		}
		ExecDropSingleTupleTableSlot(slot);
		tuplestore_end(r->rest);	/* its temporary file too */
		MemoryContextDelete(r->storecxt);	/* and the descriptor */
	}
	rows = r->rows;
	MemoryContextDelete(r->keycxt);
	pfree(r);
	return rows;
}

/*
 * gdpr_row_exists
 *		Whether a row with the key in values exists in relid, read as the
 *		current user.  The caller is connected to SPI.
 */
bool
gdpr_row_exists(Oid relid, GdprKey *key, Datum *values)
{
	char	   *sql;
	int			rc;
	bool		result;

	sql = psprintf("SELECT 1 FROM %s AS t WHERE %s",
				   gdpr_relation_from(relid), gdpr_key_match_clause(key, "t", 1));
	rc = SPI_execute_with_args(sql, key->nkeys, key->typids, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	result = SPI_processed > 0;
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * gdpr_delete_row
 *		Delete the row with the key in values from relid as the current user
 *		(its privileges, row-level security and triggers apply); whether a
 *		row was deleted.  The caller is connected to SPI.
 */
bool
gdpr_delete_row(Oid relid, GdprKey *key, Datum *values)
{
	char	   *sql = psprintf("DELETE FROM %s AS t WHERE %s",
							   gdpr_relation_from(relid),
							   gdpr_key_match_clause(key, "t", 1));

	if (SPI_execute_with_args(sql, key->nkeys, key->typids, values, NULL,
							  false, 0) != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute_with_args failed");
	return SPI_processed > 0;
}

/*
 * no_row_error
 *		The error for a key that matches no row.
 */
pg_noreturn static void
no_row_error(Oid relid, const char *keytext)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("relation \"%s\" has no row with key \"%s\"",
					get_rel_name(relid), keytext)));
}

/*
 * build_one_plan
 *		GdprCacheBuild of the single-row statements: relid's statement,
 *		forced or not, planned for index lookups.  The entry depends on the
 *		table (its registry entry and key) and on every relation the plan
 *		reads, gdpr.marker included, whose statistics decide the plan (see
 *		gdpr_prepare_lookup_plan).
 */
static void
build_one_plan(void *entry, const void *cachekey, void *arg)
{
	Oid			relid = *(const Oid *) cachekey;
	OnePlanEntry *pe = entry;
	OnePlanArgs *args = arg;
	GdprKey    *key = args->key;
	char	   *sql;
	char	   *where;

	gdpr_cache_depend(entry, relid);
	for (int i = 0; i < key->nkeys; i++)
		gdpr_params_add(&pe->params, key->typids[i], (Datum) 0, false);
	/* $nkeys+1: the key's text, so the marker is probed by its key */
	gdpr_params_add(&pe->params, TEXTOID, (Datum) 0, false);
	where = gdpr_key_match_clause(key, "t", 1);
	if (!args->force)
		where = psprintf("%s AND NOT EXISTS (SELECT 1 FROM gdpr.marker AS m"
						 " WHERE m.key OPERATOR(pg_catalog.=) $%d"
						 " AND m.rel OPERATOR(pg_catalog.=) CAST(%u AS pg_catalog.regclass))%s",
						 where, key->nkeys + 1, relid,
						 gdpr_events_range_exclusion(relid, key, "$1"));
	/* method constants are literals: no parameter points into memory */
	sql = gdpr_anonymise_statement(relid, args->table, key, NULL, where, GDPR_SKIP_NONE,
								   NULL);
	pe->kept.plans[0] = gdpr_prepare_lookup_plan(sql, pe->params.n, pe->params.types);
	gdpr_cache_depend_plan(entry, pe->kept.plans[0]);
}

/*
 * one_plan
 *		The cached single-row statement of relid (force or not), made when
 *		first needed and again after an invalidation of what it depends on.
 */
static OnePlanEntry *
one_plan(Oid relid, GdprTable *table, GdprKey *key, bool force)
{
	OnePlanArgs args = {table, key, force};
	int			f = force ? 1 : 0;

	if (one_plans[f] == NULL)
		one_plans[f] = gdpr_cache_create(force ? "gdpr anonymise plans (force)" :
										 "gdpr anonymise plans",
										 sizeof(OnePlanEntry), false,
										 gdpr_cache_release_plans);
	return gdpr_cache_lookup(one_plans[f], &relid, build_one_plan, &args);
}

/*
 * gdpr_anonymise_row
 *		Anonymise the one row of relid whose parsed key is values (canonical
 *		text keytext), unless it is marked already and not forced; as the
 *		caller, or as the table's owner when as_owner (replay).
 *
 * Returns whether the row was changed now.  A key matching no row (or no
 * row the caller can see) changes nothing.  The caller is connected to SPI.
 */
bool
gdpr_anonymise_row(Oid relid, GdprTable *table, GdprKey *key, Datum *values,
				   const char *keytext, bool force, bool as_owner)
{
	OnePlanEntry *entry = one_plan(relid, table, key, force);
	GdprParams	params = entry->params;

	for (int i = 0; i < key->nkeys; i++)
		params.values[i] = values[i];
	params.values[key->nkeys] = CStringGetTextDatum(keytext);
	return gdpr_anonymise_run(relid, entry->kept.plans[0], NULL, &params, true,
							  force, as_owner) > 0;
}

/*
 * gdpr_anonymise
 *		gdpr.anonymise(rel, key text | anyelement, force): anonymise one row.
 *
 * Returns true when the row was anonymised now; false when it was already
 * anonymised (and not forced) or its table has can_anonymise = false.  A
 * key that matches no row the caller can see is an error, the same whether
 * the row does not exist or row-level security hides it.
 */
Datum
gdpr_anonymise(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	bool		force = PG_GETARG_BOOL(2);
	GdprTable  *table;
	GdprKey    *key;
	Datum		values[INDEX_MAX_KEYS];
	char	   *keytext;
	bool		result = false;
	int64		hold_id;

	gdpr_check_table(relid, true);
	table = gdpr_registered_table(relid);
	key = gdpr_key_lookup(relid, false);
	keytext = gdpr_key_argument(fcinfo, 1, key, values);

	gdpr_spi_connect();
	hold_id = table->can_anonymise ? gdpr_hold_active(relid, keytext) : 0;
	if (hold_id != 0)
	{
		/* a held row: the anonymisation waits for gdpr.release() */
		if (!gdpr_row_exists(relid, key, values))
			no_row_error(relid, keytext);
		gdpr_hold_defer(relid, keytext, "anonymise", false);
		ereport(NOTICE,
				(errmsg("row with key \"%s\" of relation \"%s\" is under legal hold " INT64_FORMAT,
						keytext, get_rel_name(relid), hold_id),
				 errdetail("Its anonymisation is deferred until the hold is released.")));
		gdpr_spi_finish();
		PG_RETURN_BOOL(false);
	}
	if (table->can_anonymise)
		result = gdpr_anonymise_row(relid, table, key, values, keytext, force, false);
	if (!result && !gdpr_row_exists(relid, key, values))
		no_row_error(relid, keytext);
	gdpr_spi_finish();
	PG_RETURN_BOOL(result);
}

/* where the keys of an anonymisation by keys come from */
typedef struct KeySource
{
	ArrayIterator iterator;		/* the elements of an array, or */
	Oid			elemtype;
	Oid			typoutput;
	Tuplestorestate *store;		/* the first (text) column of a store */
	TupleTableSlot *slot;		/* for reading the store */
} KeySource;

/*
 * next_key
 *		The next key text of src (in the current memory context), or NULL
 *		at the end.  NULL array elements are an error.
 */
static char *
next_key(KeySource *src)
{
	Datum		value;
	bool		isnull;

	if (src->store != NULL)
	{
		char	   *result;

		if (!tuplestore_gettupleslot(src->store, true, false, src->slot))
			return NULL;
		result = TextDatumGetCString(slot_getattr(src->slot, 1, &isnull));
		/* a key read back from disk is in the current context: let it go */
		ExecClearTuple(src->slot);
		return result;
	}
	if (!array_iterate(src->iterator, &value, &isnull))
		return NULL;
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("keys must not contain null values")));
	if (src->elemtype == TEXTOID)
		return TextDatumGetCString(value);
	return OidOutputFunctionCall(src->typoutput, value);
}

/*
 * batch_where
 *		The FROM and WHERE of one batch of keys held in per-column arrays
 *		($1 .. $nkeys): "= ANY ($1)" for a one-column key, a join with the
 *		distinct unnested keys otherwise.
 */
static void
batch_where(GdprKey *key, StringInfo from, StringInfo where)
{
	if (key->nkeys == 1)
	{
		appendStringInfo(where, "t.%s %s ANY ($1)", quote_identifier(key->attnames[0]),
						 gdpr_key_eq_operator(key->typids[0], false));
		return;
	}
	appendStringInfoString(from, "(SELECT DISTINCT * FROM ROWS FROM (");
	for (int c = 0; c < key->nkeys; c++)
		appendStringInfo(from, "%spg_catalog.unnest($%d)", c > 0 ? ", " : "", c + 1);
	appendStringInfoString(from, ")) AS k(");
	for (int c = 0; c < key->nkeys; c++)
		appendStringInfo(from, "%sc%d", c > 0 ? ", " : "", c + 1);
	appendStringInfoString(from, ")");
	for (int c = 0; c < key->nkeys; c++)
		appendStringInfo(where, "%st.%s %s k.c%d", c > 0 ? " AND " : "",
						 quote_identifier(key->attnames[c]),
						 gdpr_key_eq_operator(key->typids[c], false), c + 1);
}

/*
 * count_matching
 *		How many rows of relid (that the caller can see) one batch of keys
 *		names.  The caller is connected to SPI.
 */
static int64
count_matching(Oid relid, GdprKey *key, StringInfo from, StringInfo where,
			   GdprParams *params)
{
	char	   *sql;
	bool		isnull;
	int64		result;

	sql = psprintf("SELECT pg_catalog.count(*) FROM %s AS t%s%s WHERE %s",
				   gdpr_relation_from(relid),
				   from->len ? ", " : "", from->len ? from->data : "", where->data);
	if (SPI_execute_with_args(sql, key->nkeys, params->types, params->values,
							  NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	result = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * anonymise_key_stream
 *		Anonymise the rows named by the keys of src, set-based, in batches
 *		of gdpr.anonymise_batch_size keys.
 *
 * Memory stays bounded whatever the number of keys: each batch is parsed
 * into its own memory context, reset before the next, and runs in its own
 * SPI connection, closed after it.  Rows already marked
 * are left out by an index probe per row (GDPR_SKIP_PROBE), so no batch's
 * plan depends on how many markers the table has.  A key given twice in one
 * batch changes its row once; with force, a key repeated in a later batch
 * anonymises its row again.  Returns the rows changed; *skipped (if not
 * NULL) gets the keys that matched a row but were not changed.  The caller
 * is connected to SPI.
 */
static int64
anonymise_key_stream(Oid relid, GdprTable *table, GdprKey *key, KeySource *src,
					 bool force, int64 *skipped)
{
	int64		total = 0;
	int64		existing = 0;
	int			batch = Max(gdpr_anonymise_batch_size, 1);
	Datum	  **keyvalues = palloc(sizeof(Datum *) * key->nkeys);
	MemoryContext batchcxt;
	MemoryContext old;
	bool		more = true;
	int			level;

	for (int c = 0; c < key->nkeys; c++)
		keyvalues[c] = palloc(sizeof(Datum) * batch);
	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr anonymise batch",
									 ALLOCSET_DEFAULT_SIZES);
	while (more)
	{
		int			count = 0;
		GdprParams	params;
		StringInfoData from;
		StringInfoData where;
		char	   *keytext;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(batchcxt);
		old = MemoryContextSwitchTo(batchcxt);
		/* SPI returns in its procedure context: one connection per batch */
		gdpr_spi_connect();
		while (count < batch && (keytext = next_key(src)) != NULL)
		{
			Datum		values[INDEX_MAX_KEYS];

			(void) gdpr_key_parse(key, keytext, values);
			for (int c = 0; c < key->nkeys; c++)
				keyvalues[c][count] = values[c];
			count++;
		}
		more = (count == batch);
		if (count == 0)
		{
			gdpr_spi_finish();
			MemoryContextSwitchTo(old);
			break;
		}

		memset(&params, 0, sizeof(params));
		for (int c = 0; c < key->nkeys; c++)
		{
			int16		typlen;
			bool		typbyval;
			char		typalign;
			Oid			arraytype = get_array_type(key->typids[c]);

			if (!OidIsValid(arraytype))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("key column \"%s\" has a type without array type",
								key->attnames[c])));
			get_typlenbyvalalign(key->typids[c], &typlen, &typbyval, &typalign);
			gdpr_params_add(&params, arraytype,
							PointerGetDatum(construct_array(keyvalues[c], count,
															key->typids[c], typlen,
															typbyval, typalign)),
							false);
		}
		initStringInfo(&from);
		initStringInfo(&where);
		batch_where(key, &from, &where);
		/* rows named by key: index lookups, whatever the statistics say */
		level = gdpr_plan_for_lookups();
		if (table->can_anonymise)
			total += gdpr_anonymise_run(relid, NULL,
										gdpr_anonymise_statement(relid, table, key,
																 from.len ? from.data : NULL,
																 where.data,
																 force ? GDPR_SKIP_NONE : GDPR_SKIP_PROBE,
																 NULL),
										&params, true, force, false);
		/* held rows were left alone: their anonymisation is deferred */
		if (table->can_anonymise)
			(void) gdpr_hold_defer_matching(relid, key, from.len ? from.data : NULL,
											where.data, &params, "anonymise", force, false);
		if (skipped != NULL || !table->can_anonymise)
			existing += count_matching(relid, key, &from, &where, &params);
		gdpr_plan_done(level);
		gdpr_spi_finish();
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(batchcxt);
	if (skipped != NULL)
		*skipped = existing - total;
	return total;
}

/*
 * gdpr_anonymise_keys
 *		Anonymise the rows of relid named by the key texts in the first
 *		column of store (of descriptor desc, read from its start), skipping
 *		rows already anonymised unless force.
 *
 * Returns how many rows were changed; *skipped gets how many matching rows
 * were left alone (already anonymised, or all of them when the table has
 * can_anonymise = false).  Keys that match no row are ignored.  The keys
 * are read a batch at a time (anonymise_key_stream), so memory stays
 * bounded however many the store holds.
 */
int64
gdpr_anonymise_keys(Oid relid, Tuplestorestate *store, TupleDesc desc, bool force,
					int64 *skipped)
{
	GdprTable  *table;
	GdprKey    *key;
	KeySource	src = {0};
	int64		result;

	gdpr_check_table(relid, true);
	table = gdpr_registered_table(relid);
	key = gdpr_key_lookup(relid, false);
	src.store = store;
	src.slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	gdpr_spi_connect();
	result = anonymise_key_stream(relid, table, key, &src, force, skipped);
	gdpr_spi_finish();
	ExecDropSingleTupleTableSlot(src.slot);
	return result;
}

/*
 * gdpr_anonymise_many
 *		gdpr.anonymise_many(rel, keys text[] | anyarray, force): anonymise
 *		many rows set-based; returns how many rows were changed.
 *
 * Keys that match no row are ignored; NULL elements are an error.  The
 * array is read element by element (anonymise_key_stream), so memory does
 * not grow with its size.
 */
Datum
gdpr_anonymise_many(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	bool		force = PG_GETARG_BOOL(2);
	GdprTable  *table;
	GdprKey    *key;
	KeySource	src = {0};
	bool		isvarlena;
	int64		result;

	gdpr_check_table(relid, true);
	table = gdpr_registered_table(relid);
	if (!table->can_anonymise)
		PG_RETURN_INT64(0);
	key = gdpr_key_lookup(relid, false);

	src.elemtype = ARR_ELEMTYPE(arr);
	getTypeOutputInfo(src.elemtype, &src.typoutput, &isvarlena);
	src.iterator = array_create_iterator(arr, 0, NULL);
	gdpr_spi_connect();
	result = anonymise_key_stream(relid, table, key, &src, force, NULL);
	gdpr_spi_finish();
	array_free_iterator(src.iterator);
	PG_RETURN_INT64(result);
}

/*
 * gdpr_is_anonymised
 *		gdpr.is_anonymised(rel, key text | anyelement)
 */
Datum
gdpr_is_anonymised(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	GdprKey    *key;
	Datum		values[INDEX_MAX_KEYS];
	char	   *keytext;
	Oid			types[2] = {REGCLASSOID, TEXTOID};
	Datum		args[2];
	bool		result;

	(void) gdpr_registered_table(relid);
	key = gdpr_key_lookup(relid, false);
	keytext = gdpr_key_argument(fcinfo, 1, key, values);
	args[0] = ObjectIdGetDatum(relid);
	args[1] = CStringGetTextDatum(keytext);
	gdpr_spi_connect();
	if (SPI_execute_with_args("SELECT 1 FROM gdpr.marker WHERE rel = $1 AND key = $2",
							  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	result = SPI_processed > 0;
	/* or in a range of a whole-table scrub (the key text is an integer) */
	if (!result && gdpr_events_has_ranges(relid, key))
	{
		if (SPI_execute_with_args("SELECT 1 FROM (SELECT r.hi FROM gdpr.marker_range AS r"
								  " WHERE r.rel OPERATOR(pg_catalog.=) $1"
								  " AND r.lo OPERATOR(pg_catalog.<=) $2::pg_catalog.int8"
								  " ORDER BY r.lo DESC LIMIT 1) AS r"
								  " WHERE r.hi OPERATOR(pg_catalog.>=) $2::pg_catalog.int8",
								  2, types, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args failed");
		result = SPI_processed > 0;
	}
	gdpr_spi_finish();
	PG_RETURN_BOOL(result);
}

/*
 * gdpr_key_exists
 *		gdpr.key_exists(rel, key): whether a row with this key exists (read
 *		as the caller).  Used by gdpr.rerun().
 */
Datum
gdpr_key_exists(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	GdprKey    *key = gdpr_key_lookup(relid, false);
	Datum		values[INDEX_MAX_KEYS];
	bool		result;

	(void) gdpr_key_parse(key, text_to_cstring(PG_GETARG_TEXT_PP(1)), values);
	gdpr_spi_connect();
	result = gdpr_row_exists(relid, key, values);
	gdpr_spi_finish();
	PG_RETURN_BOOL(result);
}

/*
 * gdpr_delete_key
 *		gdpr.delete_key(rel, key): delete the row with this key (as the
 *		caller, so privileges and triggers apply as for any DELETE).
 *		Returns false when there was no such row.  Used by gdpr.rerun().
 */
Datum
gdpr_delete_key(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	GdprKey    *key = gdpr_key_lookup(relid, false);
	Datum		values[INDEX_MAX_KEYS];
	char	   *sql;
	int			rc;
	bool		result;

	(void) gdpr_key_parse(key, text_to_cstring(PG_GETARG_TEXT_PP(1)), values);
	sql = psprintf("DELETE FROM %s AS t WHERE %s",
				   gdpr_relation_from(relid), gdpr_key_match_clause(key, "t", 1));
	gdpr_spi_connect();
	rc = SPI_execute_with_args(sql, key->nkeys, key->typids, values, NULL, false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
	result = SPI_processed > 0;
	gdpr_spi_finish();
	PG_RETURN_BOOL(result);
}

/*
 * gdpr_has_pii
 *		Whether a registered table has any PII column (a scrub or a
 *		retention policy has nothing to anonymise, and marks nothing, in a
 *		table that has none).
 */
bool
gdpr_has_pii(GdprTable *table)
{
	ListCell   *lc;

	foreach(lc, table->fields)
		if (((GdprField *) lfirst(lc))->pii)
			return true;
	return false;
}

/*
 * count_rows
 *		Number of rows of relid (as the current user).  The caller is
 *		connected to SPI.
 */
static int64
count_rows(Oid relid)
{
	bool		isnull;
	char	   *sql = psprintf("SELECT pg_catalog.count(*) FROM %s", gdpr_relation_from(relid));

	int64		result;

	/* not read-only: it must see what the scrub deleted before (cascades) */
	if (SPI_execute(sql, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed");
	result = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										 &isnull));
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * gdpr_anonymise_where
 *		Anonymise every not yet anonymised row of a registered table that
 *		matches where (about alias "t", with params), in one statement as
 *		the caller, marking them and queuing their 'anonymise' events when
 *		queue_event.  Its keys are read back in batches (gdpr_anonymise_run),
 *		so memory stays bounded whatever the number of rows.  Returns the
 *		rows changed.  The caller is connected to SPI.
 */
int64
gdpr_anonymise_where(Oid relid, GdprTable *table, const char *where,
					 GdprParams *params, bool queue_event)
{
	GdprKey    *key = gdpr_key_lookup(relid, false);

	return (int64) gdpr_anonymise_run(relid, NULL,
									  gdpr_anonymise_statement(relid, table, key, NULL, where,
															   GDPR_SKIP_JOIN, NULL),
									  params, queue_event, false, false);
}

/*
 * updates_every_row
 *		Whether an UPDATE of every row of relid by the current user changes
 *		every row a SELECT of it by that user counts: a plain table, no
 *		row-level security for the user, no BEFORE UPDATE row trigger (which
 *		may skip a row) and no rule.
 */
static bool
updates_every_row(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	bool		every;

	every = rel->rd_rel->relkind == RELKIND_RELATION &&
		rel->rd_rules == NULL &&
		!(rel->trigdesc != NULL && rel->trigdesc->trig_update_before_row) &&
		check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED;
	table_close(rel, AccessShareLock);
	return every;
}

/*
 * changes_every_row
 *		Whether anonymise_table will change every row of relid (primary key
 *		key, markers whether it has any) that a count by the caller sees,
 *		so that the rows it skips need no count: no marker, no marker range,
 *		no hold, and updates_every_row.  Takes ROW EXCLUSIVE on relid, as
 *		the UPDATE will.
 */
static bool
changes_every_row(Oid relid, GdprKey *key, bool markers)
{
	return !markers && !gdpr_hold_lock(relid) && !gdpr_events_has_ranges(relid, key) &&
		updates_every_row(relid);
}

/*
 * anonymise_table_ranges
 *		anonymise_table for a table with an integer key and no marker
 *		ranges yet: one UPDATE, as the caller, whose changed keys are made
 *		runs of consecutive values as it returns them and recorded as
 *		marker ranges (ranges.c): memory stays bounded, and a table whose
 *		keys have no gaps gets one range instead of a marker per row.  A
 *		table without markers (markers false) is updated without the join
 *		that skips marked rows.  Returns the rows changed.  The caller is
 *		connected to SPI.
 */
static int64
anonymise_table_ranges(Oid relid, GdprTable *table, GdprKey *key, bool markers)
{
	char	   *update;

	update = build_statement(relid, table, key, NULL, "true",
							 markers ? GDPR_SKIP_JOIN : GDPR_SKIP_NONE, NULL,
							 psprintf("t.%s::pg_catalog.int8",
									  quote_identifier(key->attnames[0])));
	return gdpr_ranges_update(relid, update);
}

/*
 * anonymise_table
 *		Anonymise every not yet anonymised row of a registered table in one
 *		pass, marking them without queuing events; markers: whether the
 *		table has any (gdpr_events_has_markers).  Returns the rows changed.
 */
static int64
anonymise_table(Oid relid, GdprTable *table, bool markers)
{
	GdprParams	params;
	GdprKey    *key = gdpr_key_lookup(relid, false);

	if (gdpr_events_range_key(key) && !gdpr_events_has_ranges(relid, key) &&
		OidIsValid(get_relname_relid("marker_range", gdpr_schema_oid())))
		return anonymise_table_ranges(relid, table, key, markers);
	memset(&params, 0, sizeof(params));
	return gdpr_anonymise_where(relid, table, "true", &params, false);
}

/*
 * check_scrub_allowed
 *		The two guards of a whole-database scrub: the superuser-only setting
 *		gdpr.allow_anonymise_db, and confirm (argument 0) naming the current
 *		database.  Errors out, saying why, when either is missing.
 */
static void
check_scrub_allowed(FunctionCallInfo fcinfo)
{
	char	   *dbname = get_database_name(MyDatabaseId);

	if (!gdpr_allow_anonymise_db)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("anonymising the whole database is not allowed"),
				 errdetail("gdpr.anonymise_db() overwrites the personal data of every registered table."),
				 errhint("A superuser must SET gdpr.allow_anonymise_db = on first.")));
	if (PG_ARGISNULL(0) || strcmp(text_to_cstring(PG_GETARG_TEXT_PP(0)), dbname) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("confirm must be the name of the current database, \"%s\"", dbname),
				 errdetail("This guards against scrubbing the wrong database.")));
}

/*
 * truncate_tables
 *		TRUNCATE the tables of truncated (an OID List) in one statement, as
 *		the caller, so that tables referencing each other go together.  The
 *		caller is connected to SPI.
 */
static void
truncate_tables(List *truncated)
{
	StringInfoData sql;
	ListCell   *lc;

	if (truncated == NIL)
		return;
	initStringInfo(&sql);
	appendStringInfoString(&sql, "TRUNCATE TABLE ");
	foreach(lc, truncated)
		appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 gdpr_relation_from(lfirst_oid(lc)));
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "SPI_execute failed");
}

/*
 * delete_all
 *		Delete every row of relid in one statement as the caller (the
 *		foreign keys' actions apply).  Returns the rows deleted.  The caller
 *		is connected to SPI.
 */
static int64
delete_all(Oid relid)
{
	/* perf: without holds the markers go in one statement, not row by row (scrub.c) */
	if (!gdpr_hold_lock(relid))
		return gdpr_scrub_delete_all(relid);
	/* rows under a legal hold are kept */
	return gdpr_hold_delete(relid, "true", NULL);
}

/*
 * report_table
 *		One row of anonymise_db's result (of its 1.0 shape, three columns,
 *		or of 1.1, five) and the NOTICE showing progress.
 */
static void
report_table(ReturnSetInfo *rsinfo, int done, int ntables, Oid relid, const char *action,
			 int64 anonymised, int64 skipped, int64 deleted)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	if (strcmp(action, "anonymise") == 0)
		ereport(NOTICE,
				(errmsg("gdpr: table %d of %d, %s: %lld rows anonymised, %lld skipped",
						done, ntables, gdpr_relation_name(relid),
						(long long) anonymised, (long long) skipped)));
	else
		ereport(NOTICE,
				(errmsg("gdpr: table %d of %d, %s: %lld rows %s",
						done, ntables, gdpr_relation_name(relid),
						(long long) (strcmp(action, "keep") == 0 ? skipped : deleted),
						strcmp(action, "keep") == 0 ? "kept" :
						strcmp(action, "delete") == 0 ? "deleted" : "truncated")));
	values[0] = ObjectIdGetDatum(relid);
	values[1] = Int64GetDatum(anonymised);
	values[2] = Int64GetDatum(skipped);
	values[3] = CStringGetTextDatum(action);
	values[4] = Int64GetDatum(deleted);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * scrub_db
 *		The body of gdpr.anonymise_db(confirm): every registered table
 *		treated by its scrub action, in the order of gdpr_scrub_order, one
 *		statement per table (the truncated tables in one), reporting every
 *		registered table.
 *
 * Guarded twice (check_scrub_allowed).  Writes no events to the log
 * (gdpr_scrubbing).  A NOTICE per table shows progress.
 */
static Datum
scrub_db(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *tables;
	List	   *truncated = NIL;
	int64	   *counts;
	ListCell   *lc;
	volatile int done = 0;
	bool		saved = gdpr_scrubbing;

	check_scrub_allowed(fcinfo);
	InitMaterializedSRF(fcinfo, 0);
	tables = gdpr_scrub_order(gdpr_catalog_registered_tables());
	PG_TRY();
	{
		gdpr_scrubbing = true;

		/* the truncated tables first, all in one statement */
		foreach(lc, tables)
		{
			Oid			relid = lfirst_oid(lc);

			if (strcmp(gdpr_catalog_scrub_action(relid), "truncate") != 0)
				break;
			truncated = lappend_oid(truncated, relid);
		}
		gdpr_spi_connect();
		counts = palloc(sizeof(int64) * Max(list_length(truncated), 1));
		foreach(lc, truncated)
			counts[foreach_current_index(lc)] = count_rows(lfirst_oid(lc));
		truncate_tables(truncated);

		foreach(lc, tables)
		{
			Oid			relid = lfirst_oid(lc);
			GdprTable  *table = gdpr_catalog_get_table(relid);
			char	   *action = gdpr_catalog_scrub_action(relid);
			int64		rows;
			int64		changed = 0;
			bool		anonymise;
			bool		markers;

			done++;
			if (table == NULL)
				continue;
			if (list_member_oid(truncated, relid))
			{
				/* the truncated tables lead the order */
				report_table(rsinfo, done, list_length(tables), relid, action, 0, 0,
							 counts[done - 1]);
				continue;
			}
			if (strcmp(action, "delete") == 0)
			{
				report_table(rsinfo, done, list_length(tables), relid, action, 0, 0,
							 delete_all(relid));
				continue;
			}
			anonymise = strcmp(action, "anonymise") == 0 && table->can_anonymise &&
				gdpr_has_pii(table);
			markers = false;
			if (anonymise)
			{
				gdpr_check_table(relid, true);
				markers = gdpr_events_has_markers(relid);
			}
			/* the rows the caller sees, counted unless all are to change */
			if (anonymise && changes_every_row(relid, gdpr_key_lookup(relid, false), markers))
				rows = -1;
			else
				rows = count_rows(relid);
			if (anonymise)
				changed = anonymise_table(relid, table, markers);
			if (rows < 0)
				rows = changed;
			report_table(rsinfo, done, list_length(tables), relid, action, changed,
						 rows - changed, 0);
		}
		gdpr_spi_finish();
	}
	PG_FINALLY();
	{
		gdpr_scrubbing = saved;
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * gdpr_anonymise_db
 *		gdpr.anonymise_db(confirm) of version 1.0: (rel, anonymised,
 *		skipped).  Kept for databases not yet updated.
 */
Datum
gdpr_anonymise_db(PG_FUNCTION_ARGS)
{
	return scrub_db(fcinfo);
}

/*
 * gdpr_anonymise_db_1_1
 *		gdpr.anonymise_db(confirm): (rel, anonymised, skipped, action,
 *		deleted).
 */
Datum
gdpr_anonymise_db_1_1(PG_FUNCTION_ARGS)
{
	return scrub_db(fcinfo);
}

/*
 * scrub_key
 *		The primary key of relid, looked up again for each batch of a scrub
 *		(cached entries do not outlive a commit), which must still have the
 *		columns' types of the first batch, keytypes[0 .. nkeys-1].
 */
static GdprKey *
scrub_key(Oid relid, int nkeys, const Oid *keytypes)
{
	GdprKey    *key = gdpr_key_lookup(relid, false);
	bool		same = (key->nkeys == nkeys);

	for (int c = 0; same && c < nkeys; c++)
		same = (key->typids[c] == keytypes[c]);
	if (!same)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the primary key of \"%s\" changed during the scrub", get_rel_name(relid)),
				 errhint("CALL gdpr.anonymise_db_batched() again: the rows anonymised so far stay marked and are skipped.")));
	return key;
}

/*
 * gdpr_erase_in_batches
 *		Anonymise the not yet anonymised rows of one table (or delete its
 *		rows, how->delete), all of them or those whose how->column is
 *		before how->cutoff, in batches of batch rows in key order,
 *		committing after each batch.  Returns the rows changed.
 *
 * Each batch first reads the next slice of keys (all rows, so that the
 * slices advance even over rows anonymised already or not due), then
 * updates the unmarked rows of that key range and marks them (queuing
 * their events when how->queue_event), or deletes the rows of that range,
 * as the caller: the delete trigger, foreign-key actions and ON DELETE
 * ANONYMISE apply.  Each slice is read by the key's index, so the work of
 * a whole run grows with the table, never with its square.  Must run in a
 * non-atomic SPI connection (a CALL outside a transaction block).
 *
 * Memory does not grow with the number of batches: everything a batch
 * allocates is in batchcxt, reset before the next, or in the batch's own
 * SPI connection; the key and registry entry are looked up again after
 * each commit (the cache frees replaced entries at transaction end); only
 * the last key of the previous slice is carried over, in the caller's
 * context.
 */
int64
gdpr_erase_in_batches(Oid relid, int batch, const GdprErase *how)
{
	GdprKey    *key = gdpr_key_lookup(relid, false);
	int			nkeys = key->nkeys;
	Oid			keytypes[INDEX_MAX_KEYS];
	int16		typlens[INDEX_MAX_KEYS];
	bool		typbyvals[INDEX_MAX_KEYS];
	char	   *relname = gdpr_relation_name(relid);
	Datum		last[INDEX_MAX_KEYS];
	bool		have_last = false;
	int64		total = 0;
	MemoryContext outer = CurrentMemoryContext;
	MemoryContext batchcxt = AllocSetContextCreate(outer, "gdpr scrub batch",
												   ALLOCSET_DEFAULT_SIZES);

	for (int c = 0; c < nkeys; c++)
	{
		keytypes[c] = key->typids[c];
		get_typlenbyval(keytypes[c], &typlens[c], &typbyvals[c]);
	}
	for (;;)
	{
		GdprTable  *table;
		GdprParams	params;
		StringInfoData lower;
		StringInfoData upper;
		char	   *order;
		char	   *slice_sql;
		char	   *sql;
		Datum		next[INDEX_MAX_KEYS];
		bool		final;

		CHECK_FOR_INTERRUPTS();

		/*
		 * Everything of one batch is freed before the next: what it
		 * allocates before its first SPI call is in batchcxt, what it
		 * allocates after one (SPI returns in its procedure context) is in
		 * the batch's own SPI connection, closed before the commit.
		 */
		MemoryContextReset(batchcxt);
		MemoryContextSwitchTo(batchcxt);
		table = gdpr_catalog_get_table(relid);
		if (table == NULL || (!how->delete && !table->can_anonymise))
			break;
		gdpr_spi_connect();
		key = scrub_key(relid, nkeys, keytypes);
		order = gdpr_key_order_by(key, "t");

		/*
		 * Parameters: $1..$n the lower bound (the last key of the previous
		 * slice), $n+1..$2n the upper bound (the last key of this one).
		 */
		memset(&params, 0, sizeof(params));
		for (int c = 0; c < nkeys; c++)
			gdpr_params_add(&params, keytypes[c], have_last ? last[c] : (Datum) 0, !have_last);
		initStringInfo(&lower);
		if (have_last)
		{
			appendStringInfo(&lower, "ROW(%s) OPERATOR(pg_catalog.>) ROW(", order);
			for (int c = 0; c < nkeys; c++)
				appendStringInfo(&lower, "%s$%d", c > 0 ? ", " : "", c + 1);
			appendStringInfoChar(&lower, ')');
		}
		else
			appendStringInfoString(&lower, "true");

		/* the last key of this slice; none when the rest is shorter */
		slice_sql = psprintf("SELECT %s FROM %s AS t WHERE %s ORDER BY %s LIMIT 1 OFFSET %d",
							 order, gdpr_relation_from(relid), lower.data,
							 order, batch - 1);
		if (SPI_execute_with_args(slice_sql, have_last ? nkeys : 0, params.types,
								  params.values, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_with_args failed");
		final = (SPI_processed == 0);
		for (int c = 0; c < nkeys && !final; c++)
		{
			bool		isnull;

			next[c] = datumCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											  c + 1, &isnull), typbyvals[c], typlens[c]);
		}
		SPI_freetuptable(SPI_tuptable);
		for (int c = 0; c < nkeys; c++)
			gdpr_params_add(&params, keytypes[c], final ? (Datum) 0 : next[c], final);
		initStringInfo(&upper);
		if (!final)
		{
			appendStringInfo(&upper, "ROW(%s) OPERATOR(pg_catalog.<=) ROW(", order);
			for (int c = 0; c < nkeys; c++)
				appendStringInfo(&upper, "%s$%d", c > 0 ? ", " : "", nkeys + c + 1);
			appendStringInfoChar(&upper, ')');
		}
		else
			appendStringInfoString(&upper, "true");

		if (how->column != NULL)
		{
			gdpr_params_add(&params, TIMESTAMPTZOID, how->cutoff, false);
			appendStringInfo(&upper, " AND t.%s OPERATOR(pg_catalog.<) $%d",
							 quote_identifier(how->column), params.n);
		}

		if (how->delete)
		{
			/* rows under a legal hold are kept */
			total += gdpr_hold_delete(relid, psprintf("(%s) AND (%s)", lower.data, upper.data),
									  &params);
		}
		else
		{
			/*
			 * One index probe of gdpr.marker per row of the slice: an
			 * anti-join would hash every marker of the table at each batch,
			 * so that time and memory per batch grew with the rows scrubbed
			 * so far.
			 */
			sql = gdpr_anonymise_statement(relid, table, key, NULL,
										   psprintf("(%s) AND (%s)", lower.data, upper.data),
										   GDPR_SKIP_PROBE, NULL);
			total += gdpr_anonymise_run(relid, NULL, sql, &params, how->queue_event,
										false, false);
		}
		gdpr_spi_finish();
		SPI_commit();
		/* from here on, no cache entry of the batch may be used */
		MemoryContextSwitchTo(outer);
		if (final)
			break;
		for (int c = 0; c < nkeys; c++)
		{
			if (have_last && !typbyvals[c])
				pfree(DatumGetPointer(last[c]));
			last[c] = datumCopy(next[c], typbyvals[c], typlens[c]);
		}
		have_last = true;
		ereport(NOTICE,
				(errmsg("gdpr: %s: %lld rows %s so far",
						relname, (long long) total,
						how->delete ? "deleted" : "anonymised")));
	}
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(batchcxt);
	return total;
}

/*
 * gdpr_anonymise_db_batched
 *		CALL gdpr.anonymise_db_batched(confirm): the procedure form of
 *		gdpr.anonymise_db() for large databases.  It commits after every
 *		batch of gdpr.anonymise_batch_size rows, so one failure does not roll
 *		back hours of work and WAL and locks stay bounded; running it again
 *		after an interruption continues where it stopped (rows already
 *		marked are skipped).  Must be CALLed outside a transaction block.
 */
Datum
gdpr_anonymise_db_batched(PG_FUNCTION_ARGS)
{
	bool		nonatomic;
	List	   *tables;
	List	   *actions = NIL;
	ListCell   *lc;
	volatile int done = 0;
	MemoryContext cxt = CurrentMemoryContext;
	bool		saved = gdpr_scrubbing;

	check_scrub_allowed(fcinfo);
	nonatomic = fcinfo->context && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
	if (!nonatomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("gdpr.anonymise_db_batched() must be called outside a transaction block"),
				 errhint("Use CALL on its own, or gdpr.anonymise_db() inside a transaction.")));

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed");
	tables = gdpr_scrub_order(gdpr_catalog_registered_tables());
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		tables = list_copy(tables);
		foreach(lc, tables)
			actions = lappend(actions, gdpr_catalog_scrub_action(lfirst_oid(lc)));
		MemoryContextSwitchTo(old);
	}
	PG_TRY();
	{
		List	   *truncated = NIL;

		gdpr_scrubbing = true;

		/* the truncated tables lead the order: one TRUNCATE, committed */
		foreach(lc, tables)
		{
			if (strcmp(list_nth(actions, foreach_current_index(lc)), "truncate") != 0)
				break;
			truncated = lappend_oid(truncated, lfirst_oid(lc));
		}
		gdpr_spi_connect();
		truncate_tables(truncated);
		gdpr_spi_finish();
		SPI_commit();

		foreach(lc, tables)
		{
			Oid			relid = lfirst_oid(lc);
			const char *action = list_nth(actions, foreach_current_index(lc));
			GdprTable  *table = gdpr_catalog_get_table(relid);
			GdprErase	how = {0};
			int64		changed = 0;

			done++;
			if (table == NULL)
				continue;
			if (strcmp(action, "anonymise") != 0)
			{
				if (strcmp(action, "delete") == 0)
				{
					how.delete = true;
					changed = gdpr_erase_in_batches(relid, Max(gdpr_anonymise_batch_size, 1),
													&how);
				}
				ereport(NOTICE,
						(errmsg("gdpr: table %d of %d, %s: %s",
								done, list_length(tables), gdpr_relation_name(relid),
								strcmp(action, "keep") == 0 ? "kept" :
								strcmp(action, "truncate") == 0 ? "truncated" :
								psprintf("%lld rows deleted", (long long) changed))));
				continue;
			}
			gdpr_check_table(relid, true);
			if (table->can_anonymise && gdpr_has_pii(table))
				changed = gdpr_erase_in_batches(relid, Max(gdpr_anonymise_batch_size, 1), &how);
			ereport(NOTICE,
					(errmsg("gdpr: table %d of %d, %s: %lld rows anonymised",
							done, list_length(tables), gdpr_relation_name(relid),
							(long long) changed)));
		}
	}
	PG_FINALLY();
	{
		gdpr_scrubbing = saved;
	}
	PG_END_TRY();
	gdpr_spi_finish();
	PG_RETURN_VOID();
}
