/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Retention policies (storage limitation): how long the rows of a
 *	  registered table are kept, and erasing the rows that are due.
 *
 * A policy names a date or timestamp column, a period to keep and an
 * action.  A row is due when its column is before now() - keep (a NULL is
 * never due).  Applying a policy is one set-based statement as the caller,
 * exactly what the caller's own statement would do: 'anonymise' runs the
 * anonymisation statement of anonymise.c over the due rows not yet
 * anonymised (markers and 'anonymise' events follow, as for
 * gdpr.anonymise_many), 'delete' is a plain DELETE of the due rows, so the
 * delete trigger logs them and foreign-key actions and ON DELETE ANONYMISE
 * apply.  The procedure form walks the table in key slices
 * (gdpr_erase_in_batches) and commits after each.
 *
 * The policies are gdpr's own bookkeeping (gdpr.retention_policy), read and
 * written as the extension's owner through gdpr_owner_execute.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/retention.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_set_retention);
PG_FUNCTION_INFO_V1(gdpr_drop_retention);
PG_FUNCTION_INFO_V1(gdpr_retention_due);
PG_FUNCTION_INFO_V1(gdpr_apply_retention);
PG_FUNCTION_INFO_V1(gdpr_apply_retention_batched);

/* one row of gdpr.retention_policy */
typedef struct RetentionPolicy
{
	Oid			relid;
	char	   *column;
	Interval   *keep;
	bool		delete;			/* action 'delete', else 'anonymise' */
} RetentionPolicy;

/*
 * policy_table_present
 *		Whether gdpr.retention_policy exists: a database still at version
 *		1.0 of the extension, run by this library, has none.
 */
static bool
policy_table_present(void)
{
	Oid			nsp = get_namespace_oid(GDPR_SCHEMA_NAME, true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("retention_policy", nsp));
}

/*
 * load_policies
 *		The policies, of relid only or of every table (InvalidOid), in the
 *		order of their tables' qualified names, allocated in cxt.  Connects
 *		to SPI itself.
 */
static List *
load_policies(Oid relid, MemoryContext cxt)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char		nulls[1] = {OidIsValid(relid) ? ' ' : 'n'};
	List	   *result = NIL;

	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL,
							  "SELECT p.rel::pg_catalog.oid, p.column_name::pg_catalog.text, p.keep,"
							  "       p.action OPERATOR(pg_catalog.=) 'delete'"
							  "  FROM gdpr.retention_policy p"
							  "  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.rel"
							  "  JOIN pg_catalog.pg_namespace s ON s.oid OPERATOR(pg_catalog.=) c.relnamespace"
							  " WHERE $1 IS NULL OR p.rel OPERATOR(pg_catalog.=) $1"
							  " ORDER BY s.nspname, c.relname",
							  1, types, values, nulls, true, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old = MemoryContextSwitchTo(cxt);
		RetentionPolicy *p = palloc(sizeof(RetentionPolicy));
		bool		isnull;

		p->relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		p->column = SPI_getvalue(tup, desc, 2);
		p->keep = palloc(sizeof(Interval));
		memcpy(p->keep, DatumGetIntervalP(SPI_getbinval(tup, desc, 3, &isnull)),
			   sizeof(Interval));
		p->delete = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		result = lappend(result, p);
		MemoryContextSwitchTo(old);
	}
	gdpr_spi_finish();
	return result;
}

/*
 * policy_of
 *		The policy of relid, or the error saying it has none.
 */
static RetentionPolicy *
policy_of(Oid relid)
{
	List	   *policies = load_policies(relid, CurrentMemoryContext);

	if (policies == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("relation \"%s\" has no retention policy", get_rel_name(relid)),
				 errhint("Set one with gdpr.set_retention().")));
	return linitial(policies);
}

/*
 * cannot_anonymise_reason
 *		Why the rows of table cannot be anonymised by a policy, or NULL.
 */
static const char *
cannot_anonymise_reason(GdprTable *table)
{
	if (!table->can_anonymise)
		return "it is registered with can_anonymise = false";
	if (!gdpr_has_pii(table))
		return "it has no PII column";
	return NULL;
}

/*
 * gdpr_retention_set
 *		Set (or replace) the retention policy of relid: rows whose column is
 *		before now() - keep are anonymised, or deleted when action is
 *		"delete".  declared says whether a declaration made it.
 *
 * Everything is checked before anything is written: the caller owns the
 * table, it is registered, the column is a date, timestamp or timestamptz
 * (or a domain over one), keep is positive, the action is known, and an
 * 'anonymise' policy has rows to anonymise.
 */
void
gdpr_retention_set(Oid relid, const char *column, Interval *keep, const char *action,
				   bool declared)
{
	GdprTable  *table;
	AttrNumber	attnum;
	Oid			type;
	Interval	zero = {0};
	Oid			types[5] = {REGCLASSOID, NAMEOID, INTERVALOID, TEXTOID, BOOLOID};
	Datum		values[5];

	gdpr_check_table(relid, false);
	table = gdpr_registered_table(relid);

	attnum = get_attnum(relid, column);
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						column, get_rel_name(relid))));
	type = getBaseType(get_atttype(relid, attnum));
	if (attnum < 0 || (type != DATEOID && type != TIMESTAMPOID && type != TIMESTAMPTZOID))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" is not a date or timestamp",
						column, get_rel_name(relid)),
				 errdetail("A retention policy needs a column of type date, timestamp or timestamp with time zone.")));
	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(keep),
										  IntervalPGetDatum(&zero))) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the period to keep the rows of \"%s\" must be positive",
						get_rel_name(relid))));
	if (strcmp(action, "anonymise") != 0 && strcmp(action, "delete") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown retention action \"%s\"", action),
				 errhint("The actions are \"anonymise\" and \"delete\".")));
	if (strcmp(action, "anonymise") == 0 && cannot_anonymise_reason(table) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the rows of \"%s\" cannot be anonymised: %s",
						get_rel_name(relid), cannot_anonymise_reason(table)),
				 errhint("Use the action \"delete\", or register PII columns that may be anonymised.")));

	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(column));
	values[2] = IntervalPGetDatum(keep);
	values[3] = CStringGetTextDatum(action);
	values[4] = BoolGetDatum(declared);
	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL,
							  "INSERT INTO gdpr.retention_policy AS p"
							  " (rel, column_name, keep, action, declared)"
							  " VALUES ($1, $2, $3, $4, $5)"
							  " ON CONFLICT (rel) DO UPDATE"
							  " SET column_name = EXCLUDED.column_name, keep = EXCLUDED.keep,"
							  "     action = EXCLUDED.action, declared = EXCLUDED.declared",
							  5, types, values, NULL, false, 0);
	gdpr_spi_finish();
}

/*
 * gdpr_retention_drop
 *		Remove the retention policy of relid.  Without one, an error unless
 *		missing_ok.  The caller must own the table.
 */
void
gdpr_retention_drop(Oid relid, bool missing_ok)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	uint64		n;

	gdpr_check_table(relid, false);
	if (!policy_table_present())
		n = 0;
	else
	{
		gdpr_spi_connect();
		(void) gdpr_owner_execute(NULL, "DELETE FROM gdpr.retention_policy WHERE rel = $1",
								  1, types, values, NULL, false, 0);
		n = SPI_processed;
		gdpr_spi_finish();
	}
	if (n == 0 && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("relation \"%s\" has no retention policy", get_rel_name(relid))));
}

/*
 * cutoff_of
 *		now - keep: rows before it are due.
 */
static Datum
cutoff_of(RetentionPolicy *p, TimestampTz now)
{
	return DirectFunctionCall2(timestamptz_mi_interval, TimestampTzGetDatum(now),
							   IntervalPGetDatum(p->keep));
}

/*
 * due_clause
 *		"t.column < $1", and for an 'anonymise' policy "and not marked".
 */
static char *
due_clause(RetentionPolicy *p, GdprKey *key)
{
	char	   *clause = psprintf("t.%s OPERATOR(pg_catalog.<) $1", quote_identifier(p->column));

	if (p->delete)
		return clause;
	return psprintf("%s%s", clause, gdpr_events_unmarked(p->relid, key, "t", false));
}

/*
 * count_due
 *		How many rows of p's table are due before cutoff (read as the
 *		caller).  The caller is connected to SPI.
 */
static int64
count_due(RetentionPolicy *p, Datum cutoff)
{
	GdprKey    *key = gdpr_key_lookup(p->relid, false);
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {cutoff};
	char	   *sql;
	bool		isnull;
	int64		result;
	int			level;

	sql = psprintf("SELECT pg_catalog.count(*) FROM %s AS t WHERE %s",
				   gdpr_relation_from(p->relid), due_clause(p, key));
	level = gdpr_key_pin_format(key);
	if (SPI_execute_with_args(sql, 1, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed");
	gdpr_key_unpin_format(level);
	result = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * count_held
 *		How many of the rows of p's table due before cutoff are under a
 *		legal hold (left alone, hold.c).  The caller is connected to SPI.
 */
static int64
count_held(RetentionPolicy *p, Datum cutoff)
{
	GdprKey    *key = gdpr_key_lookup(p->relid, false);
	GdprParams	params;

	memset(&params, 0, sizeof(params));
	gdpr_params_add(&params, TIMESTAMPTZOID, cutoff, false);
	return gdpr_hold_defer_matching(p->relid, key, NULL, due_clause(p, key), &params,
									NULL, false, false);
}

/*
 * usable_table
 *		The registry entry of p's table when the policy can be applied now;
 *		NULL, with a WARNING saying why, when the table has since stopped
 *		being one whose rows may be anonymised.
 */
static GdprTable *
usable_table(RetentionPolicy *p)
{
	GdprTable  *table = gdpr_registered_table(p->relid);

	if (!p->delete && cannot_anonymise_reason(table) != NULL)
	{
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("retention policy of \"%s\" not applied: %s",
						get_rel_name(p->relid), cannot_anonymise_reason(table))));
		return NULL;
	}
	return table;
}

/*
 * apply_policy
 *		Erase the rows of p's table due before cutoff, in one statement as
 *		the caller.  Returns the rows erased.  The caller is connected to SPI.
 */
static int64
apply_policy(RetentionPolicy *p, GdprTable *table, Datum cutoff)
{
	GdprParams	params;

	memset(&params, 0, sizeof(params));
	gdpr_params_add(&params, TIMESTAMPTZOID, cutoff, false);
	if (!p->delete)
	{
		gdpr_check_table(p->relid, true);
		return gdpr_anonymise_where(p->relid, table,
									psprintf("t.%s OPERATOR(pg_catalog.<) $1",
											 quote_identifier(p->column)),
									&params, true);
	}
	else
	{
		/* rows under a legal hold are kept (hold.c) */
		return gdpr_hold_delete(p->relid, psprintf("t.%s OPERATOR(pg_catalog.<) $1",
												   quote_identifier(p->column)),
								&params);
	}
}

/*
 * record_applied
 *		Note in the policy when it was applied and how many rows it erased.
 *		Connects to SPI itself.
 */
static void
record_applied(Oid relid, int64 done)
{
	Oid			types[2] = {REGCLASSOID, INT8OID};
	Datum		values[2] = {ObjectIdGetDatum(relid), Int64GetDatum(done)};

	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL,
							  "UPDATE gdpr.retention_policy"
							  " SET last_applied_at = pg_catalog.now(), last_done = $2"
							  " WHERE rel = $1",
							  2, types, values, NULL, false, 0);
	gdpr_spi_finish();
}

/*
 * gdpr_set_retention
 *		gdpr.set_retention(rel, column_name, keep, action)
 */
Datum
gdpr_set_retention(PG_FUNCTION_ARGS)
{
	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("relation, column, period and action must not be null")));
	gdpr_retention_set(PG_GETARG_OID(0), NameStr(*PG_GETARG_NAME(1)),
					   PG_GETARG_INTERVAL_P(2), text_to_cstring(PG_GETARG_TEXT_PP(3)),
					   false);
	PG_RETURN_VOID();
}

/*
 * gdpr_drop_retention
 *		gdpr.drop_retention(rel)
 */
Datum
gdpr_drop_retention(PG_FUNCTION_ARGS)
{
	gdpr_retention_drop(PG_GETARG_OID(0), false);
	PG_RETURN_VOID();
}

/*
 * gdpr_retention_due
 *		gdpr.retention_due(rel): the rows of rel its policy makes due now.
 */
Datum
gdpr_retention_due(PG_FUNCTION_ARGS)
{
	RetentionPolicy *p = policy_of(PG_GETARG_OID(0));
	int64		result;

	gdpr_spi_connect();
	result = count_due(p, cutoff_of(p, GetCurrentTransactionStartTimestamp()));
	gdpr_spi_finish();
	PG_RETURN_INT64(result);
}

/*
 * gdpr_apply_retention
 *		gdpr.apply_retention(rel, dry_run): apply the policy of rel (of
 *		every table when NULL), one row per policy: (rel, action, due, done,
 *		held).  A dry run counts and changes nothing.
 */
Datum
gdpr_apply_retention(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		dry_run = PG_ARGISNULL(1) ? false : PG_GETARG_BOOL(1);
	List	   *policies;
	ListCell   *lc;

	if (PG_ARGISNULL(0))
		policies = load_policies(InvalidOid, CurrentMemoryContext);
	else
		policies = list_make1(policy_of(PG_GETARG_OID(0)));
	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, policies)
	{
		RetentionPolicy *p = lfirst(lc);
		Datum		cutoff = cutoff_of(p, GetCurrentTransactionStartTimestamp());
		GdprTable  *table = usable_table(p);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		int64		due;
		int64		done = 0;
		int64		held;

		gdpr_spi_connect();
		due = count_due(p, cutoff);
		held = count_held(p, cutoff);
		if (!dry_run && table != NULL)
			done = apply_policy(p, table, cutoff);
		gdpr_spi_finish();
		if (!dry_run && table != NULL)
			record_applied(p->relid, done);

		values[0] = ObjectIdGetDatum(p->relid);
		values[1] = CStringGetTextDatum(p->delete ? "delete" : "anonymise");
		values[2] = Int64GetDatum(due);
		values[3] = Int64GetDatum(done);
		values[4] = Int64GetDatum(held);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * gdpr_apply_retention_batched
 *		CALL gdpr.apply_retention_batched(): every policy, committing after
 *		every gdpr.anonymise_batch_size rows examined, with a NOTICE per
 *		policy.  The rows due are those before now() - keep at the start of
 *		the call; running it again after an interruption erases the due
 *		rows that are left.  Must be CALLed outside a transaction block.
 */
Datum
gdpr_apply_retention_batched(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	List	   *policies;
	ListCell   *lc;

	if (!(fcinfo->context && IsA(fcinfo->context, CallContext) &&
		  !castNode(CallContext, fcinfo->context)->atomic))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("gdpr.apply_retention_batched() must be called outside a transaction block"),
				 errhint("Use CALL on its own, or gdpr.apply_retention() inside a transaction.")));

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect_ext failed");
	policies = load_policies(InvalidOid, cxt);
	foreach(lc, policies)
	{
		RetentionPolicy *p = lfirst(lc);
		GdprErase	how = {0};
		int64		done;

		if (usable_table(p) == NULL)
			continue;
		how.delete = p->delete;
		how.column = p->column;
		how.cutoff = cutoff_of(p, now);
		how.queue_event = true;
		done = gdpr_erase_in_batches(p->relid, Max(gdpr_anonymise_batch_size, 1), &how);
		record_applied(p->relid, done);
		SPI_commit();
		ereport(NOTICE,
				(errmsg("gdpr: retention of %s: %lld rows %s",
						gdpr_relation_name(p->relid), (long long) done,
						p->delete ? "deleted" : "anonymised")));
	}
	gdpr_spi_finish();
	PG_RETURN_VOID();
}

/*
 * gdpr_retention_forget
 *		Remove the policy of relid whatever the caller's rights (the table
 *		leaves the registry).  Connects to SPI itself.
 */
void
gdpr_retention_forget(Oid relid)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	if (!policy_table_present())
		return;
	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL, "DELETE FROM gdpr.retention_policy WHERE rel = $1",
							  1, types, values, NULL, false, 0);
	gdpr_spi_finish();
}

/*
 * gdpr_retention_sql_drop
 *		In the sql_drop event trigger: the policies of dropped tables, and
 *		those whose column was dropped, go.  The caller is connected to SPI.
 */
void
gdpr_retention_sql_drop(void)
{
	if (!policy_table_present())
		return;
	(void) gdpr_owner_execute(NULL,
							  "DELETE FROM gdpr.retention_policy g"
							  " USING pg_catalog.pg_event_trigger_dropped_objects() d"
							  " WHERE (d.object_type = 'table' AND d.objsubid = 0"
							  "        AND g.rel::pg_catalog.oid = d.objid)"
							  "    OR (d.object_type = 'table column'"
							  "        AND g.rel::pg_catalog.oid = d.objid"
							  "        AND g.column_name OPERATOR(pg_catalog.=) d.address_names[3])",
							  0, NULL, NULL, NULL, false, 0);
}

/*
 * gdpr_retention_rename_column
 *		In the ddl_command_end event trigger: a policy whose column was
 *		renamed follows it.
 */
void
gdpr_retention_rename_column(Oid relid, const char *oldname, const char *newname)
{
	Oid			types[3] = {REGCLASSOID, NAMEOID, NAMEOID};
	Datum		values[3];

	if (!policy_table_present())
		return;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(oldname));
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(newname));
	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL, "UPDATE gdpr.retention_policy SET column_name = $3 "
							  "WHERE rel = $1 AND column_name OPERATOR(pg_catalog.=) $2",
							  3, types, values, NULL, false, 0);
	gdpr_spi_finish();
}
