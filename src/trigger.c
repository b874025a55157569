/*-------------------------------------------------------------------------
 *
 * trigger.c
 *	  Triggers gdpr puts on user tables: delete capture, TRUNCATE capture
 *	  and ON DELETE ANONYMISE.
 *
 * Delete capture is an AFTER DELETE row trigger on every registered table
 * (on a partitioned table it is cloned to every partition, including those
 * created later), so every deleted row queues a 'delete' event whatever
 * issued the DELETE: SQL, a function, a foreign-key cascade.  TRUNCATE is
 * logged, not refused: a BEFORE TRUNCATE trigger on the table (on every
 * leaf partition of a partitioned one) queues a 'delete' event per row.
 *
 * ON DELETE ANONYMISE anonymises the rows of a registered child table that
 * reference a deleted row, before the foreign key's own SET NULL / SET
 * DEFAULT action clears the reference, and clears it in the same UPDATE.
 * On an ordinary table this is set-based: an AFTER DELETE row trigger with
 * the statement's transition table, named to fire before the constraint's
 * "RI_ConstraintTrigger_a_..." action triggers, whose first firing handles
 * every row the statement deleted.  Partitioned tables, partitions and
 * inheritance children cannot have transition tables on row triggers; there
 * it is a BEFORE DELETE row trigger, one UPDATE per deleted row.  Either
 * statement is built once per (referenced relation, constraint) and kept in
 * a cache (cache.c) until one of the tables it depends on changes, planned
 * at each use, and run as the child table's owner, as the foreign key's
 * action is.
 *
 * The rules themselves are declared by rules.c and stored by catalog.c;
 * this file only adds and removes the triggers they need and carries them
 * out.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/trigger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/tuplestore.h"

#include "gdpr.h"

PG_FUNCTION_INFO_V1(gdpr_log_delete);
PG_FUNCTION_INFO_V1(gdpr_log_truncate);
PG_FUNCTION_INFO_V1(gdpr_on_delete_anonymise_trigger);
PG_FUNCTION_INFO_V1(gdpr_on_delete_anonymise_rows);

/* one ON DELETE ANONYMISE rule as seen from a referenced relation */
typedef struct OdaRule
{
	Oid			child;			/* the registered referencing table */
	int			nkeys;
	bool		active;			/* false: the child keeps its data */
	/* per-row form: one row's key values as $1..$n */
	AttrNumber	parent_attnums[INDEX_MAX_KEYS]; /* in the trigger's relation */
	/* the statement: per row, or over the transition table (set-based) */
	char	   *sql;
	char	   *from;			/* what it joins (set-based), or NULL */
	char	   *where;			/* its WHERE, about alias "t" (held rows' deferral) */
	GdprParams	params;			/* per-row form: the key params, filled per row */
} OdaRule;

/* a statement whose deleted rows were all handled by its first firing */
typedef struct OdaHandled
{
	Tuplestorestate *deleted;	/* its transition table */
	int64		left;			/* firings still to come (and skip) */
} OdaHandled;

/* the rules of one referenced relation, and its registered ancestor */
typedef struct RelCacheEntry
{
	Oid			registered;		/* relid or its registered ancestor, or InvalidOid */
	List	   *rules;			/* OdaRule *, in the entry's context */
} RelCacheEntry;

/* Local state */
static GdprCache *rel_cache = NULL;
static List *oda_handled = NIL;	/* OdaHandled *, in TopMemoryContext */

static Oid	registered_ancestor(Oid relid);
static void oda_xact_callback(XactEvent event, void *arg);
static void oda_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								 SubTransactionId parentSubid, void *arg);

/*
 * gdpr_trigger_init
 *		Register the transaction callbacks; called once from _PG_init.
 */
void
gdpr_trigger_init(void)
{
	RegisterXactCallback(oda_xact_callback, NULL);
	RegisterSubXactCallback(oda_subxact_callback, NULL);
}

/*
 * run_ddl
 *		Run a DDL statement as the extension's owner (who may create
 *		triggers that call gdpr's functions on any table).
 */
static void
run_ddl(const char *sql)
{
	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL, sql, 0, NULL, NULL, NULL, false, 0);
	gdpr_spi_finish();
}

static bool has_own_trigger(Oid relid, const char *name, bool refuse_foreign);

/*
 * drop_trigger
 *		Drop trigger name of relid if it exists (quietly: a partition
 *		created after registration has no truncate trigger).
 */
static void
drop_trigger(Oid relid, const char *name)
{
	if (has_own_trigger(relid, name, false))
		run_ddl(psprintf("DROP TRIGGER %s ON %s", quote_identifier(name),
						 gdpr_relation_name(relid)));
}

/*
 * trigger_function
 *		The OID of the gdpr function a trigger of that name must call.
 */
static Oid
trigger_function(const char *name)
{
	const char *fname;

	if (strcmp(name, GDPR_DELETE_TRIGGER) == 0)
		fname = "log_delete";
	else if (strcmp(name, GDPR_TRUNCATE_TRIGGER) == 0)
		fname = "log_truncate";
	else if (strcmp(name, GDPR_ODA_TRIGGER) == 0)
		fname = "on_delete_anonymise_trigger";
	else
		fname = "on_delete_anonymise_rows";
	return LookupFuncName(list_make2(makeString(GDPR_SCHEMA_NAME), makeString((char *) fname)),
						  0, NULL, false);
}

/*
 * has_own_trigger
 *		Whether relid has gdpr's trigger of that name: recognised by the
 *		function it calls, never by its name alone.
 *
 * A user trigger that happens to bear the name is left alone; with
 * refuse_foreign it is an error (gdpr could not put its own trigger there,
 * and a table that silently lacked it would lose its delete log or its ON
 * DELETE ANONYMISE rule).
 */
static bool
has_own_trigger(Oid relid, const char *name, bool refuse_foreign)
{
	Oid			trigoid = get_trigger_oid(relid, name, true);
	Relation	tgrel;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		own = false;

	if (!OidIsValid(trigoid))
		return false;
	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&skey, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(trigoid));
	scan = systable_beginscan(tgrel, TriggerOidIndexId, true, NULL, 1, &skey);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		own = ((Form_pg_trigger) GETSTRUCT(tup))->tgfoid == trigger_function(name);
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	if (!own && refuse_foreign)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("trigger \"%s\" on table \"%s\" is not gdpr's",
						name, get_rel_name(relid)),
				 errdetail("gdpr needs a trigger of that name calling gdpr's own function."),
				 errhint("Rename or drop that trigger, then try again.")));
	return own;
}

/*
 * leaf_tables
 *		relid itself for an ordinary table; every leaf partition of a
 *		partitioned one.
 */
static List *
leaf_tables(Oid relid)
{
	List	   *result = NIL;
	ListCell   *lc;

	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return list_make1_oid(relid);
	foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
		if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_RELATION)
			result = lappend_oid(result, lfirst_oid(lc));
	return result;
}

/*
 * attach_truncate_triggers
 *		Give every leaf table of relid that lacks it the TRUNCATE-capture
 *		trigger (statement triggers are not cloned to partitions).
 */
static void
attach_truncate_triggers(Oid relid)
{
	ListCell   *lc;

	foreach(lc, leaf_tables(relid))
		if (!has_own_trigger(lfirst_oid(lc), GDPR_TRUNCATE_TRIGGER, true))
			run_ddl(psprintf("CREATE TRIGGER %s BEFORE TRUNCATE ON %s "
							 "FOR EACH STATEMENT EXECUTE FUNCTION gdpr.log_truncate()",
							 GDPR_TRUNCATE_TRIGGER, gdpr_relation_name(lfirst_oid(lc))));
}

/*
 * gdpr_trigger_attach
 *		Put the delete- and truncate-capture triggers on a newly registered
 *		table, unless it has them already (left by a restore, or cloned from
 *		a registered parent).
 */
void
gdpr_trigger_attach(Oid relid)
{
	/* a partition of a registered table has a clone of the row trigger */
	if (!has_own_trigger(relid, GDPR_DELETE_TRIGGER, true))
		run_ddl(psprintf("CREATE TRIGGER %s AFTER DELETE ON %s "
						 "FOR EACH ROW EXECUTE FUNCTION gdpr.log_delete()",
						 GDPR_DELETE_TRIGGER, gdpr_relation_name(relid)));
	attach_truncate_triggers(relid);
}

/*
 * gdpr_trigger_attach_partition
 *		Give a new partition of a registered table (every leaf of it) the
 *		TRUNCATE-capture trigger if it lacks it.  Does nothing for other
 *		tables.
 */
void
gdpr_trigger_attach_partition(Oid relid)
{
	char		relkind = get_rel_relkind(relid);

	if ((relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE) ||
		!get_rel_relispartition(relid) || !OidIsValid(registered_ancestor(relid)))
		return;
	attach_truncate_triggers(relid);
}

/*
 * gdpr_trigger_detach
 *		Remove the capture triggers of an unregistered table.
 */
void
gdpr_trigger_detach(Oid relid)
{
	ListCell   *lc;

	/* a partition whose parent stays registered keeps the parent's capture */
	if (get_rel_relispartition(relid))
		foreach(lc, get_partition_ancestors(relid))
			if (gdpr_catalog_get_table(lfirst_oid(lc)) != NULL)
				return;

	drop_trigger(relid, GDPR_DELETE_TRIGGER);
	foreach(lc, leaf_tables(relid))
		drop_trigger(lfirst_oid(lc), GDPR_TRUNCATE_TRIGGER);
}

/*
 * registered_ancestor
 *		relid if it is registered, else its nearest registered partition
 *		ancestor, else InvalidOid.
 */
static Oid
registered_ancestor(Oid relid)
{
	ListCell   *lc;

	if (gdpr_catalog_get_table(relid) != NULL)
		return relid;
	if (!get_rel_relispartition(relid))
		return InvalidOid;
	foreach(lc, get_partition_ancestors(relid))
		if (gdpr_catalog_get_table(lfirst_oid(lc)) != NULL)
			return lfirst_oid(lc);
	return InvalidOid;
}

/*
 * operator_sql
 *		"OPERATOR(schema.name)" for an operator OID.
 */
static char *
operator_sql(Oid oprid)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(oprid));
	Form_pg_operator opr;
	char	   *result;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", oprid);
	opr = (Form_pg_operator) GETSTRUCT(tup);
	result = psprintf("OPERATOR(%s.%s)",
					  quote_identifier(get_namespace_name(opr->oprnamespace)),
					  NameStr(opr->oprname));
	ReleaseSysCache(tup);
	return result;
}

/*
 * oda_per_row
 *		Whether ON DELETE ANONYMISE on the referenced table relid works row by
 *		row (a BEFORE DELETE trigger) instead of set-based (an AFTER DELETE
 *		trigger reading the statement's transition table).  PostgreSQL has
 *		no row triggers with transition tables on partitioned tables,
 *		partitions and inheritance children.
 */
static bool
oda_per_row(Oid relid)
{
	return get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ||
		get_rel_relispartition(relid) || has_superclass(relid);
}

/*
 * build_rule
 *		Prepare the anonymising statement of one rule (constraint conoid of
 *		child) as seen from the referenced relation relid, in the context of
 *		the cache entry, recording that it depends on the child.  Returns
 *		NULL when the constraint is no longer usable.
 */
static OdaRule *
build_rule(void *entry, Oid relid, Oid child, Oid conoid)
{
	MemoryContext cxt = gdpr_cache_context(entry);
	HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	Form_pg_constraint con;
	AttrNumber	conkey[INDEX_MAX_KEYS];
	AttrNumber	confkey[INDEX_MAX_KEYS];
	Oid			pfeqop[INDEX_MAX_KEYS];
	int			nkeys;
	GdprTable  *table;
	GdprKey    *key;
	OdaRule    *rule;
	StringInfoData where;
	StringInfoData clear;
	char	   *sql;
	char	   *from = NULL;
	int			ndelset = 0;
	AttrNumber	delset[INDEX_MAX_KEYS];

	if (!HeapTupleIsValid(tup))
		return NULL;
	con = (Form_pg_constraint) GETSTRUCT(tup);
	DeconstructFkConstraintRow(tup, &nkeys, conkey, confkey, pfeqop, NULL, NULL,
							   &ndelset, delset);

	/* its key, registry entry and columns; the constraint invalidates it too */
	gdpr_cache_depend(entry, child);
	rule = MemoryContextAllocZero(cxt, sizeof(OdaRule));
	rule->child = child;
	rule->nkeys = nkeys;
	table = gdpr_catalog_get_table(child);
	if (table == NULL || !table->can_anonymise)
	{
		/* the child keeps its data; the constraint's action still applies */
		ReleaseSysCache(tup);
		return rule;
	}
	key = gdpr_key_lookup(child, false);
	rule->active = true;

	initStringInfo(&where);
	if (oda_per_row(relid))
	{
		for (int i = 0; i < nkeys; i++)
		{
			/* confkey numbers the columns of the constraint's referenced table */
			char	   *colname = get_attname(con->confrelid, confkey[i], false);
			AttrNumber	attnum = get_attnum(relid, colname);

			rule->parent_attnums[i] = attnum;
			gdpr_params_add(&rule->params, get_atttype(relid, attnum), (Datum) 0, false);
			appendStringInfo(&where, "%s$%d %s t.%s", i > 0 ? " AND " : "", i + 1,
							 operator_sql(pfeqop[i]),
							 quote_identifier(get_attname(child, conkey[i], false)));
		}
	}
	else
	{
		/*
		 * A join with the deleted rows' keys in key order, not a semi-join:
		 * the planner's unique-ification of a semi-join's inner side hashes
		 * them, and the children would then be read, updated and indexed in
		 * random order, costing a third more than in order.  (Keys of the
		 * deleted rows are unique, so each child matches one of them.)
		 */
		StringInfoData cols;
		bool		sortable = true;

		initStringInfo(&cols);
		for (int i = 0; i < nkeys; i++)
		{
			Oid			typid = get_atttype(con->confrelid, confkey[i]);

			if (!OidIsValid(lookup_type_cache(typid, TYPECACHE_LT_OPR)->lt_opr))
				sortable = false;
			appendStringInfo(&cols, "%so.%s", i > 0 ? ", " : "",
							 quote_identifier(get_attname(con->confrelid, confkey[i], false)));
			appendStringInfo(&where, "%so.%s %s t.%s", i > 0 ? " AND " : "",
							 quote_identifier(get_attname(con->confrelid, confkey[i], false)),
							 operator_sql(pfeqop[i]),
							 quote_identifier(get_attname(child, conkey[i], false)));
		}
		from = psprintf("(SELECT %s FROM %s AS o%s%s) AS o", cols.data, GDPR_ODA_DELETED,
						sortable ? " ORDER BY " : "", sortable ? cols.data : "");
	}

	/*
	 * Clear the reference in the same UPDATE, as the constraint's own action
	 * would (the columns it names, NULL or their default): each child row is
	 * then written once, and the action finds nothing left to do for the rows
	 * anonymised here.  A reference column that is PII keeps its method.
	 */
	initStringInfo(&clear);
	for (int i = 0; i < (ndelset > 0 ? ndelset : nkeys); i++)
	{
		char	   *colname = get_attname(child, ndelset > 0 ? delset[i] : conkey[i], false);
		bool		pii = false;
		ListCell   *lc;

		foreach(lc, table->fields)
			if (((GdprField *) lfirst(lc))->pii &&
				strcmp(((GdprField *) lfirst(lc))->attname, colname) == 0)
				pii = true;
		if (!pii)
			appendStringInfo(&clear, "%s%s = %s", clear.len > 0 ? ", " : "",
							 quote_identifier(colname),
							 con->confdeltype == FKCONSTR_ACTION_SETDEFAULT ? "DEFAULT" : "NULL");
	}
	ReleaseSysCache(tup);

	/*
	 * Both forms are planned at each use, with the sizes of the moment: a
	 * kept plan for the per-row form, made while gdpr.marker looked empty,
	 * could read every marker of the child for each deleted row.
	 */
	sql = gdpr_anonymise_statement(child, table, key, from, where.data, GDPR_SKIP_JOIN,
								   clear.data);
	rule->sql = MemoryContextStrdup(cxt, sql);
	rule->from = from ? MemoryContextStrdup(cxt, from) : NULL;
	rule->where = MemoryContextStrdup(cxt, where.data);
	return rule;
}

/*
 * load_rules
 *		The ON DELETE ANONYMISE rules whose foreign key references relid or
 *		one of its partition ancestors, in the context of the cache entry,
 *		which depends on all of these.  The caller is connected to SPI.
 */
static List *
load_rules(void *entry, Oid relid)
{
	List	   *targets = list_make1_oid(relid);
	List	   *result = NIL;
	ListCell   *lc;
	List	   *found;

	if (get_rel_relispartition(relid))
		targets = list_concat(targets, get_partition_ancestors(relid));
	foreach(lc, targets)
		gdpr_cache_depend(entry, lfirst_oid(lc));
	found = gdpr_catalog_oda_rules(targets);
	foreach(lc, found)
	{
		Oid		   *pair = lfirst(lc);
		OdaRule    *rule = build_rule(entry, relid, pair[0], pair[1]);

		if (rule != NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(gdpr_cache_context(entry));

			result = lappend(result, rule);
			MemoryContextSwitchTo(old);
		}
	}
	return result;
}

/*
 * build_rel_entry
 *		GdprCacheBuild of the rule cache.  An entry depends on its relation,
 *		the relation's partition ancestors (their registration, their foreign
 *		keys) and each rule's child table (its registry entry, key and
 *		columns).  A foreign key that comes or goes invalidates both of its
 *		tables, and gdpr's rule changes invalidate the child and the
 *		referenced table.  The caller is connected to SPI.
 */
static void
build_rel_entry(void *entry, const void *key, void *arg)
{
	Oid			relid = *(const Oid *) key;
	RelCacheEntry *re = entry;

	gdpr_cache_depend(entry, relid);
	re->registered = registered_ancestor(relid);
	re->rules = load_rules(entry, relid);
}

/*
 * rel_entry
 *		The cached rules and registered ancestor of relid, (re)built when
 *		invalid.  The caller is connected to SPI.
 */
static RelCacheEntry *
rel_entry(Oid relid)
{
	if (rel_cache == NULL)
		rel_cache = gdpr_cache_create("gdpr trigger cache", sizeof(RelCacheEntry), false, NULL);
	return gdpr_cache_lookup(rel_cache, &relid, build_rel_entry, NULL);
}

/*
 * oda_entry
 *		rel_entry for ON DELETE ANONYMISE: first takes ROW EXCLUSIVE on every
 *		rule's child table, as an erasure path must before it asks about
 *		legal holds (hold.c), then looks the entry up again, since taking a
 *		lock may have brought the invalidation of a hold placed or released
 *		meanwhile, which the rules' statements leave out.  The caller is
 *		connected to SPI.
 */
static RelCacheEntry *
oda_entry(Oid relid)
{
	RelCacheEntry *entry = rel_entry(relid);
	ListCell   *lc;

	foreach(lc, entry->rules)
		if (((OdaRule *) lfirst(lc))->active)
			(void) gdpr_hold_lock(((OdaRule *) lfirst(lc))->child);
	return rel_entry(relid);
}

/*
 * check_trigger_call
 *		The trigger-protocol checks every gdpr trigger function makes, with
 *		core's messages.
 */
static TriggerData *
check_trigger_call(FunctionCallInfo fcinfo, const char *funcname)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" was not called by trigger manager", funcname)));
	return (TriggerData *) fcinfo->context;
}

/*
 * gdpr_log_delete
 *		AFTER DELETE row trigger of registered tables: queue a 'delete'
 *		event for the deleted row, under the registered table's name.
 */
Datum
gdpr_log_delete(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger_call(fcinfo, "gdpr_log_delete");
	Relation	rel = trigdata->tg_relation;
	RelCacheEntry *entry;
	GdprKey    *key;
	char	   *keytext;

	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER ROW for DELETE", "gdpr_log_delete")));

	/* perf: a scrub's 'delete' of this very table: nothing to do per row (scrub.c) */
	if (gdpr_scrubbing && RelationGetRelid(rel) == gdpr_scrub_deleting)
		return PointerGetDatum(NULL);
	gdpr_spi_connect();
	entry = rel_entry(RelationGetRelid(rel));
	gdpr_spi_finish();
	/* perf: a scrub's 'delete' of this table drops its markers at once (scrub.c) */
	if (gdpr_scrubbing && OidIsValid(entry->registered) &&
		entry->registered == gdpr_scrub_deleting)
		return PointerGetDatum(NULL);
	/* a table unregistered in a concurrent transaction logs nothing more */
	if (OidIsValid(entry->registered))
	{
		key = gdpr_key_lookup(RelationGetRelid(rel), false);
		keytext = gdpr_key_from_tuple(key, RelationGetDescr(rel), trigdata->tg_trigtuple);
		/* a row under a legal hold may not go: the whole statement fails */
		gdpr_hold_check_delete(entry->registered, keytext);
		gdpr_events_queue(entry->registered, keytext);
	}
	return PointerGetDatum(NULL);
}

/*
 * gdpr_log_truncate
 *		BEFORE TRUNCATE statement trigger of registered tables (of each leaf
 *		partition of a registered partitioned table): queue a 'delete' event
 *		for every row about to be truncated, so TRUNCATE never loses the
 *		trail.  Keys are read in batches as the table's owner.  A scrub's
 *		TRUNCATE (gdpr_scrubbing) queues nothing and forgets the markers.
 */
Datum
gdpr_log_truncate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger_call(fcinfo, "gdpr_log_truncate");
	Oid			relid = RelationGetRelid(trigdata->tg_relation);
	RelCacheEntry *entry;
	GdprKey    *key;
	GdprIdentity saved;
	Portal		portal;
	MemoryContext batchcxt;

	if (!TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE for TRUNCATE", "gdpr_log_truncate")));

	gdpr_spi_connect();
	entry = rel_entry(relid);
	/* a table with rows under a legal hold may not be truncated */
	if (OidIsValid(entry->registered))
		gdpr_hold_check_truncate(entry->registered, relid);
	if (OidIsValid(entry->registered) && gdpr_scrubbing)
	{
		/* a scrub logs nothing: its rows' markers just go */
		gdpr_events_forget_all(entry->registered);
	}
	else if (OidIsValid(entry->registered))
	{
		key = gdpr_key_lookup(relid, false);

		/*
		 * Read the rows with a snapshot taken now, while TRUNCATE holds its
		 * ACCESS EXCLUSIVE lock, not with the statement's, which was taken
		 * before the lock was granted: rows committed by a transaction that
		 * TRUNCATE waited for are truncated too and must be logged, rows it
		 * deleted must not be logged twice.  TRUNCATE is not MVCC-safe in
		 * any isolation level, so this holds for REPEATABLE READ and
		 * SERIALIZABLE as well.
		 */
		PushActiveSnapshot(GetLatestSnapshot());
		gdpr_become_table_owner(relid, &saved);
		portal = SPI_cursor_open_with_args(NULL,
										   psprintf("SELECT %s FROM ONLY %s AS t",
													gdpr_key_text_expr(key, "t"),
													gdpr_relation_name(relid)),
										   0, NULL, NULL, NULL, true, 0);
		gdpr_unbecome(&saved);
		/* each batch's key array goes before the next: memory stays bounded */
		batchcxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr truncate batch",
										 ALLOCSET_DEFAULT_SIZES);
		for (;;)
		{
			Datum	   *elems;
			bool		isnull;
			int			level = gdpr_key_pin_format(key);
			MemoryContext old;

			SPI_cursor_fetch(portal, true, 10000);
			gdpr_key_unpin_format(level);
			if (SPI_processed == 0)
				break;
			old = MemoryContextSwitchTo(batchcxt);
			elems = palloc(sizeof(Datum) * SPI_processed);
			for (uint64 i = 0; i < SPI_processed; i++)
				elems[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
			gdpr_events_queue_many(entry->registered,
								   PointerGetDatum(construct_array(elems, (int) SPI_processed,
																   TEXTOID, -1, false,
																   TYPALIGN_INT)));
			MemoryContextSwitchTo(old);
			MemoryContextReset(batchcxt);
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
		MemoryContextDelete(batchcxt);
		PopActiveSnapshot();
	}
	gdpr_spi_finish();
	return PointerGetDatum(NULL);
}

/*
 * gdpr_on_delete_anonymise_trigger
 *		BEFORE DELETE row trigger of tables referenced by an ON DELETE
 *		ANONYMISE rule: anonymise the referencing rows of every rule's child
 *		table (those not yet anonymised) before the constraint's own action
 *		clears the reference.  Returns the old row, so the delete proceeds.
 */
Datum
gdpr_on_delete_anonymise_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger_call(fcinfo, "gdpr_on_delete_anonymise_trigger");
	Relation	rel = trigdata->tg_relation;
	HeapTuple	oldtuple = trigdata->tg_trigtuple;
	RelCacheEntry *entry;
	ListCell   *lc;

	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired BEFORE ROW for DELETE",
						"gdpr_on_delete_anonymise_trigger")));

	gdpr_spi_connect();
	entry = oda_entry(RelationGetRelid(rel));
	foreach(lc, entry->rules)
	{
		OdaRule    *rule = lfirst(lc);
		GdprParams	params;
		bool		anynull = false;

		if (!rule->active)
			continue;
		params = rule->params;
		for (int i = 0; i < rule->nkeys; i++)
		{
			bool		isnull;

			params.values[i] = heap_getattr(oldtuple, rule->parent_attnums[i],
											RelationGetDescr(rel), &isnull);
			if (isnull)
				anynull = true;
		}
		if (anynull)
			continue;			/* nothing can reference a NULL */

		(void) gdpr_anonymise_run(rule->child, NULL, rule->sql, &params, true, false, true);
		(void) gdpr_hold_defer_matching(rule->child, gdpr_key_lookup(rule->child, false),
										rule->from, rule->where, &params, "anonymise", false, true);
	}
	gdpr_spi_finish();
	return PointerGetDatum(oldtuple);
}

/*
 * oda_forget_handled
 *		Transaction callbacks: forget the statements recorded as handled.
 *
 * After an abort a recorded transition table may be gone and its address
 * reused; forgetting one that is still firing only makes a later firing do
 * the (idempotent) work again.
 */
static void
oda_forget_handled(void)
{
	ListCell   *lc;

	foreach(lc, oda_handled)
		pfree(lfirst(lc));
	list_free(oda_handled);
	oda_handled = NIL;
}

/*
 * oda_xact_callback
 *		XactCallback forwarding to oda_forget_handled.
 */
static void
oda_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PREPARE)
		oda_forget_handled();
}

/*
 * oda_subxact_callback
 *		SubXactCallback forwarding to oda_forget_handled on abort.
 */
static void
oda_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		oda_forget_handled();
}

/*
 * oda_already_handled
 *		Whether this firing belongs to a statement whose deleted rows an
 *		earlier firing handled already; records the statement otherwise.
 */
static bool
oda_already_handled(Tuplestorestate *deleted)
{
	ListCell   *lc;
	OdaHandled *h;
	MemoryContext old;

	foreach(lc, oda_handled)
	{
		h = lfirst(lc);
		if (h->deleted == deleted)
		{
			if (--h->left <= 0)
			{
				oda_handled = foreach_delete_current(oda_handled, lc);
				pfree(h);
			}
			return true;
		}
	}
	if (tuplestore_tuple_count(deleted) > 1)
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		h = palloc(sizeof(OdaHandled));
		h->deleted = deleted;
		h->left = tuplestore_tuple_count(deleted) - 1;
		oda_handled = lappend(oda_handled, h);
		MemoryContextSwitchTo(old);
	}
	return false;
}

/*
 * gdpr_on_delete_anonymise_rows
 *		AFTER DELETE row trigger, with the transition table GDPR_ODA_DELETED,
 *		of tables referenced by an ON DELETE ANONYMISE rule: the set-based
 *		form of gdpr_on_delete_anonymise_trigger.
 *
 * Its name sorts before the foreign keys' own "RI_ConstraintTrigger_a_..."
 * action triggers, so for the first deleted row it fires before any
 * SET NULL / SET DEFAULT action of the statement; that first firing
 * anonymises the referencing rows of every row the statement deleted, in one
 * UPDATE per rule, and the statement's other firings do nothing.
 */
Datum
gdpr_on_delete_anonymise_rows(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = check_trigger_call(fcinfo, "gdpr_on_delete_anonymise_rows");
	RelCacheEntry *entry;
	ListCell   *lc;

	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ||
		trigdata->tg_oldtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("function \"%s\" must be fired AFTER ROW for DELETE with an old transition table",
						"gdpr_on_delete_anonymise_rows")));

	if (oda_already_handled(trigdata->tg_oldtable))
		return PointerGetDatum(NULL);

	gdpr_spi_connect();
	if (SPI_register_trigger_data(trigdata) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");
	entry = oda_entry(RelationGetRelid(trigdata->tg_relation));
	foreach(lc, entry->rules)
	{
		OdaRule    *rule = lfirst(lc);

		if (!rule->active)
			continue;
		(void) gdpr_anonymise_run(rule->child, NULL, rule->sql, &rule->params, true, false, true);
		(void) gdpr_hold_defer_matching(rule->child, gdpr_key_lookup(rule->child, false),
										rule->from, rule->where, &rule->params, "anonymise",
										false, true);
	}
	gdpr_spi_finish();
	return PointerGetDatum(NULL);
}


/*
 * gdpr_trigger_ensure_oda
 *		Give parent, a table referenced by an ON DELETE ANONYMISE rule's
 *		foreign key, the trigger that carries the rules out: per row, or
 *		per statement with a transition table (see oda_per_row()).
 */
void
gdpr_trigger_ensure_oda(Oid parent)
{
	if (oda_per_row(parent))
	{
		if (!has_own_trigger(parent, GDPR_ODA_TRIGGER, true))
			run_ddl(psprintf("CREATE TRIGGER %s BEFORE DELETE ON %s "
							 "FOR EACH ROW EXECUTE FUNCTION gdpr.on_delete_anonymise_trigger()",
							 GDPR_ODA_TRIGGER, gdpr_relation_name(parent)));
	}
	else if (!has_own_trigger(parent, GDPR_ODA_SET_TRIGGER, true))
		run_ddl(psprintf("CREATE TRIGGER %s AFTER DELETE ON %s "
						 "REFERENCING OLD TABLE AS %s "
						 "FOR EACH ROW EXECUTE FUNCTION gdpr.on_delete_anonymise_rows()",
						 quote_identifier(GDPR_ODA_SET_TRIGGER), gdpr_relation_name(parent),
						 GDPR_ODA_DELETED));
	CacheInvalidateRelcacheByRelid(parent);
}

/*
 * gdpr_trigger_remove_oda
 *		Remove the ON DELETE ANONYMISE triggers from parent once no rule
 *		needs them.
 */
void
gdpr_trigger_remove_oda(Oid parent)
{
	if (!gdpr_catalog_has_oda_rules(parent))
	{
		drop_trigger(parent, GDPR_ODA_TRIGGER);
		drop_trigger(parent, GDPR_ODA_SET_TRIGGER);
	}
	CacheInvalidateRelcacheByRelid(parent);
}
