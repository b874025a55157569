/*-------------------------------------------------------------------------
 *
 * gdpr.h
 *	  Shared constants, GUC variables and cross-file prototypes of gdpr.
 *
 * Each C file owns one responsibility; this header is the contract between
 * them.  Functions named gdpr_<area>_<verb> are shared between files.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/gdpr.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_H
#define GDPR_H

#include "postgres.h"

#include "access/attnum.h"
#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "compat.h"

#define GDPR_SCHEMA_NAME		"gdpr"
#define GDPR_EXTENSION_NAME		"gdpr"
#define GDPR_ANONYMISED_DOMAIN	"anonymised.invalid"

/* names of the triggers gdpr puts on user tables */
#define GDPR_DELETE_TRIGGER		"gdpr_log_delete"
#define GDPR_TRUNCATE_TRIGGER	"gdpr_log_truncate"
#define GDPR_ODA_TRIGGER		"gdpr_on_delete_anonymise"
/* capitalised so that it sorts, and fires, before "RI_ConstraintTrigger_a_..." */
#define GDPR_ODA_SET_TRIGGER	"GDPR_on_delete_anonymise"
#define GDPR_ODA_DELETED		"gdpr_deleted"	/* its transition table */

/* ------------------------------------------------------------------------
 * guc.c
 * ------------------------------------------------------------------------
 */
extern char *gdpr_log_conninfo;
extern char *gdpr_databases;
extern char *gdpr_source_name;
extern bool gdpr_log_anonymise;
extern char *gdpr_pseudonym_key;
extern char *gdpr_pseudonym_key_file;
extern bool gdpr_allow_anonymise_db;
extern int	gdpr_ship_interval;		/* ms between shipping rounds */
extern int	gdpr_ship_batch_size;	/* events per remote transaction */
extern int	gdpr_retry_max_interval;	/* ms, ceiling of the back-off */
extern int	gdpr_anonymise_batch_size;	/* rows per batch of anonymise_db */

/* gdpr.unclassified: what a commit leaving an added column unclassified does */
typedef enum GdprUnclassified
{
	GDPR_UNCLASSIFIED_OFF,
	GDPR_UNCLASSIFIED_WARNING,
	GDPR_UNCLASSIFIED_ERROR
} GdprUnclassified;
extern int	gdpr_unclassified;

/* said instead of libpq's message when gdpr.log_conninfo does not parse */
#define GDPR_CONNINFO_UNPARSABLE \
	"gdpr.log_conninfo is not a valid connection string (libpq's message is not shown, since it may quote part of a password)"

extern void gdpr_define_gucs(void);
extern const char *gdpr_pseudonym_key_value(void);
extern bool gdpr_conninfo_is_secret(const char *keyword);
extern char *gdpr_conninfo_scrub(const char *message);
extern char *gdpr_source(void);

/* ------------------------------------------------------------------------
 * util.c
 * ------------------------------------------------------------------------
 */

/* true while gdpr.rerun() applies logged events: nothing is queued then */
extern bool gdpr_replaying;
/* true while a scrub (gdpr.anonymise_db) runs: nothing is queued then */
extern bool gdpr_scrubbing;

extern Oid	gdpr_schema_oid(void);
extern char *gdpr_relation_name(Oid relid);
extern char *gdpr_relation_from(Oid relid);
extern Oid	gdpr_check_table(Oid relid, bool for_write);
extern List *gdpr_text_array_to_list(ArrayType *arr, const char *what);
extern bool gdpr_string_in_list(List *list, const char *s);
extern Datum gdpr_inheritors_array(Oid relid);
extern Datum gdpr_list_to_text_array(List *strings);
extern void gdpr_util_init(void);
extern SPIPlanPtr gdpr_prepare_lookup_plan(const char *sql, int nargs, Oid *types);
extern void gdpr_plan_blank(SPIPlanPtr plan);
extern SPIPlanPtr gdpr_prepare_blanked(const char *sql, int nargs, Oid *types);

/*
 * What precedes a constant of a statement that must not show in messages
 * (gdpr_plan_blank): the keys of held rows (hold.c).
 */
#define GDPR_BLANK_MARK "/* gdpr: held keys */ "
extern int	gdpr_plan_for_lookups(void);
extern void gdpr_plan_done(int nestlevel);
extern void gdpr_spi_connect(void);
extern void gdpr_receiver_init(DestReceiver *self,
							   bool (*receive) (TupleTableSlot *slot, DestReceiver *self),
							   void (*startup) (DestReceiver *self, int operation,
												TupleDesc typeinfo));
extern void gdpr_spi_finish(void);
extern ErrorData *gdpr_subxact_run(void (*fn) (void *arg), void *arg);

/* ------------------------------------------------------------------------
 * cache.c: the backend-local caches (keys, registry, rules, plans)
 * ------------------------------------------------------------------------
 */
typedef struct GdprCache GdprCache;
typedef void (*GdprCacheBuild) (void *entry, const void *key, void *arg);
typedef void (*GdprCacheRelease) (void *entry);

/* entries of plan caches start with this; gdpr_cache_release_plans frees them */
#define GDPR_PLAN_ENTRY_PLANS 2
typedef struct GdprPlanEntry
{
	SPIPlanPtr	plans[GDPR_PLAN_ENTRY_PLANS];
} GdprPlanEntry;

extern void gdpr_cache_init(void);
extern GdprCache *gdpr_cache_create(const char *name, Size entrysize, bool string_keys,
									GdprCacheRelease release);
extern void *gdpr_cache_lookup(GdprCache *cache, const void *key, GdprCacheBuild build,
							   void *arg);
extern void *gdpr_cache_find(GdprCache *cache, const void *key);
extern long gdpr_cache_count(GdprCache *cache);
extern MemoryContext gdpr_cache_context(void *entry);
extern void gdpr_cache_depend(void *entry, Oid relid);
extern void gdpr_cache_depend_all(void *entry);
extern void gdpr_cache_depend_plan(void *entry, SPIPlanPtr plan);
extern void gdpr_cache_invalidate(Oid relid);
extern void gdpr_cache_release_plans(void *entry);
extern uint32 gdpr_string_key_hash(const void *key, Size keysize);
extern int	gdpr_string_key_match(const void *key1, const void *key2, Size keysize);

/* ------------------------------------------------------------------------
 * identity.c: every identity switch
 * ------------------------------------------------------------------------
 */

/* saved identity while running SQL as another role */
typedef struct GdprIdentity
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} GdprIdentity;

extern void gdpr_identity_init(void);
extern Oid	gdpr_extension_owner(void);
extern Oid	gdpr_table_owner(Oid relid);
extern void gdpr_become_extension_owner(GdprIdentity *saved);
extern void gdpr_become_table_owner(Oid relid, GdprIdentity *saved);
extern void gdpr_unbecome(GdprIdentity *saved);
extern int	gdpr_owner_execute(SPIPlanPtr plan, const char *sql, int nargs, Oid *types,
							   Datum *values, const char *nulls, bool read_only,
							   long tcount);

/* ------------------------------------------------------------------------
 * keys.c: primary keys and their canonical text
 * ------------------------------------------------------------------------
 */
typedef struct GdprKey
{
	Oid			relid;
	int			nkeys;
	AttrNumber	attnums[INDEX_MAX_KEYS];	/* attnums in the table */
	char	   *attnames[INDEX_MAX_KEYS];
	Oid			typids[INDEX_MAX_KEYS];
	int32		typmods[INDEX_MAX_KEYS];
	Oid			typoutput[INDEX_MAX_KEYS];
	Oid			typinput[INDEX_MAX_KEYS];
	Oid			typioparam[INDEX_MAX_KEYS];
	TupleDesc	tupdesc;		/* blessed row type of the key columns */
	bool		pin_format;		/* key text depends on DateStyle & co */
	bool		pin_timezone;	/* ... and on TimeZone */
} GdprKey;

extern GdprKey *gdpr_key_lookup(Oid relid, bool missing_ok);
extern char *gdpr_key_parse(GdprKey *key, const char *text, Datum *values);
extern char *gdpr_key_argument(FunctionCallInfo fcinfo, int argno, GdprKey *key,
							   Datum *values);
extern char *gdpr_key_from_tuple(GdprKey *key, TupleDesc tupdesc, HeapTuple tuple);
extern char *gdpr_key_text_expr(GdprKey *key, const char *alias);
extern char *gdpr_key_match_clause(GdprKey *key, const char *alias, int firstparam);
extern char *gdpr_key_order_by(GdprKey *key, const char *alias);
extern bool gdpr_key_is_key_column(GdprKey *key, AttrNumber attnum);
extern char *gdpr_key_eq_operator(Oid typid, bool missing_ok);
extern int	gdpr_key_pin_format(GdprKey *key);
extern void gdpr_key_unpin_format(int nestlevel);

/* ------------------------------------------------------------------------
 * catalog.c: the registry store
 * ------------------------------------------------------------------------
 */
typedef struct GdprField
{
	char	   *attname;
	bool		pii;
	char	   *method;			/* NULL when not PII */
	char	   *argument;
	bool		search;
} GdprField;

typedef struct GdprTable
{
	Oid			relid;
	bool		can_anonymise;
	List	   *fields;			/* GdprField *, in column order */
	List	   *export_fields;	/* char *, NIL with export_all */
	bool		export_all;		/* export_fields IS NULL */
	List	   *export_exclude; /* char * */
} GdprTable;

/* a foreign-key rule that went with its dropped constraint */
typedef struct GdprDroppedRule
{
	Oid			relid;
	char	   *conname;
	bool		anonymise;		/* ON DELETE ANONYMISE; else export_follow */
} GdprDroppedRule;

extern GdprTable *gdpr_catalog_get_table(Oid relid);
extern GdprTable *gdpr_registered_table(Oid relid);
pg_noreturn extern void gdpr_not_registered_error(Oid relid, const char *hint);
extern List *gdpr_catalog_registered_tables(void);
extern bool gdpr_catalog_present(void);
extern bool gdpr_catalog_column_exported(GdprTable *table, GdprKey *key,
										 const char *attname, AttrNumber attnum);
extern void gdpr_catalog_insert_table(Oid relid);
extern void gdpr_catalog_mark_declared(Oid relid);
extern void gdpr_catalog_write_options(Oid relid, bool can_anonymise, List *export_fields,
									   bool export_all, List *export_exclude, bool declared);
extern void gdpr_catalog_upsert_field(Oid relid, const char *attname, bool pii,
									  const char *method, const char *argument,
									  bool search, bool declared);
extern void gdpr_catalog_remove_field(Oid relid, const char *attname);
extern void gdpr_catalog_forget_table(Oid relid);
extern List *gdpr_catalog_forget_dropped(void);
extern void gdpr_catalog_rename_column(Oid relid, const char *oldname, const char *newname);
extern List *gdpr_catalog_constraint_rules(Oid relid, const char *rule);
extern bool gdpr_catalog_has_rule(Oid relid, const char *conname, const char *rule);
extern void gdpr_catalog_add_rule(Oid relid, const char *conname, const char *rule,
								  bool declared);
extern void gdpr_catalog_drop_rule(Oid relid, const char *conname, const char *rule,
								   bool missing_ok);
extern List *gdpr_catalog_oda_rules(List *targets);
extern bool gdpr_catalog_has_oda_rules(Oid parent);
extern char *gdpr_catalog_scrub_action(Oid relid);
extern void gdpr_catalog_set_scrub_action(Oid relid, const char *action);

/* ------------------------------------------------------------------------
 * register.c: the registry's commands
 * ------------------------------------------------------------------------
 */

extern void gdpr_register_ensure(Oid relid, bool declared);
extern void gdpr_register_drop(Oid relid);
extern void gdpr_register_set_options(Oid relid, bool can_anonymise,
									  List *export_fields, bool export_all,
									  List *export_exclude, bool declared);
extern void gdpr_register_set_field(Oid relid, const char *attname, bool pii,
									const char *method, const char *argument,
									bool search, bool declared);
extern void gdpr_register_set_export(Oid relid, const char *attname, bool export);

/* ------------------------------------------------------------------------
 * rules.c: rules on foreign keys
 * ------------------------------------------------------------------------
 */

extern Oid	gdpr_rules_foreign_key(Oid relid, const char *conname);
extern void gdpr_rules_add_oda(Oid relid, const char *conname, bool declared);
extern void gdpr_rules_drop_oda(Oid relid, const char *conname, bool missing_ok);
extern void gdpr_rules_add_follow(Oid relid, const char *conname, bool declared);

/* ------------------------------------------------------------------------
 * methods.c: anonymisation methods
 * ------------------------------------------------------------------------
 */

/* parameters collected while building a statement */
typedef struct GdprParams
{
	int			n;
	Oid			types[FUNC_MAX_ARGS];
	Datum		values[FUNC_MAX_ARGS];
	char		nulls[FUNC_MAX_ARGS];
} GdprParams;

extern bool gdpr_method_known(const char *name);
extern char *gdpr_method_list(void);
extern char *gdpr_method_validate(Relation rel, const char *attname,
								  const char *method, const char *argument);
extern char *gdpr_method_expr(Relation rel, GdprKey *key, GdprField *field,
							  const char *alias);
extern int	gdpr_params_add(GdprParams *params, Oid type, Datum value, bool isnull);
extern ParamListInfo gdpr_param_list(int n, const Oid *types, const Datum *values,
									   const char *nulls);

/* ------------------------------------------------------------------------
 * anonymise.c
 * ------------------------------------------------------------------------
 */
/* how an anonymisation statement leaves out rows already marked */
typedef enum GdprSkipMarked
{
	GDPR_SKIP_NONE,				/* it does not: forced */
	GDPR_SKIP_JOIN,				/* an anti-join, for statements over many rows */
	GDPR_SKIP_PROBE				/* an index probe per row, for rows named by key */
} GdprSkipMarked;

extern char *gdpr_anonymise_statement(Oid relid, GdprTable *table, GdprKey *key,
									  const char *from, const char *where,
									  GdprSkipMarked skip_marked, const char *extra_set);
extern uint64 gdpr_anonymise_run(Oid relid, SPIPlanPtr plan, const char *sql,
								 GdprParams *params, bool queue_event, bool force,
								 bool as_owner);
extern bool gdpr_row_exists(Oid relid, GdprKey *key, Datum *values);
extern bool gdpr_delete_row(Oid relid, GdprKey *key, Datum *values);
extern bool gdpr_anonymise_row(Oid relid, GdprTable *table, GdprKey *key, Datum *values,
							   const char *keytext, bool force, bool as_owner);
extern int64 gdpr_anonymise_keys(Oid relid, Tuplestorestate *store, TupleDesc desc,
								 bool force, int64 *skipped);
extern bool gdpr_has_pii(GdprTable *table);
extern int64 gdpr_anonymise_where(Oid relid, GdprTable *table, const char *where,
								  GdprParams *params, bool queue_event);

/* what gdpr_erase_in_batches does with the rows of a table */
typedef struct GdprErase
{
	bool		delete;			/* delete the rows instead of anonymising them */
	const char *column;			/* only rows whose column is before cutoff; NULL: all */
	Datum		cutoff;			/* timestamptz */
	bool		queue_event;	/* queue 'anonymise' events for the rows anonymised */
} GdprErase;

extern int64 gdpr_erase_in_batches(Oid relid, int batch, const GdprErase *how);

/* ------------------------------------------------------------------------
 * retention.c: retention policies
 * ------------------------------------------------------------------------
 */
extern void gdpr_retention_set(Oid relid, const char *column, Interval *keep,
							   const char *action, bool declared);
extern void gdpr_retention_drop(Oid relid, bool missing_ok);
extern void gdpr_retention_forget(Oid relid);
extern void gdpr_retention_rename_column(Oid relid, const char *oldname,
										 const char *newname);
extern void gdpr_retention_sql_drop(void);

/* ------------------------------------------------------------------------
 * scrub.c: what a scrub does with each table
 * ------------------------------------------------------------------------
 */
extern void gdpr_scrub_set(Oid relid, const char *action);
extern List *gdpr_scrub_order(List *tables);
/* the registered table a scrub's 'delete' action is emptying, or InvalidOid */
extern Oid	gdpr_scrub_deleting;
extern int64 gdpr_scrub_delete_all(Oid relid);

/* ------------------------------------------------------------------------
 * classify.c: classification of every column, and the coverage gate
 * ------------------------------------------------------------------------
 */
extern void gdpr_classify_on_register(Oid relid, List *fields);
extern void gdpr_classify_on_unregister(Oid relid);
extern void gdpr_classify_set_not_pii(Oid relid, const char *attname, bool declared);
extern void gdpr_classify_forget_declared(Oid relid, const char *attname);
extern void gdpr_classify_ignore(Oid relid, bool declared);
extern void gdpr_classify_unignore(Oid relid);
extern void gdpr_classify_sql_drop(void);
extern void gdpr_classify_column_renamed(Oid relid, const char *oldname,
										 const char *newname);
extern void gdpr_classify_column_added(Oid relid, AttrNumber attnum);

/* ------------------------------------------------------------------------
 * hold.c: legal holds
 * ------------------------------------------------------------------------
 */
extern bool gdpr_hold_any(Oid relid);
extern uint64 gdpr_hold_query(const char *sql, int nargs, Oid *types, Datum *values,
							  bool read_only);
extern void gdpr_hold_lock_for_change(Oid relid);
extern int64 gdpr_hold_active_except(Oid relid, const char *keytext, int64 except_id);
extern bool gdpr_hold_lock(Oid relid);
extern int64 gdpr_hold_active(Oid relid, const char *keytext);
extern char *gdpr_hold_exclusion(Oid relid, GdprKey *key, const char *alias);
extern int64 gdpr_hold_delete(Oid relid, const char *where, GdprParams *params);
extern void gdpr_hold_defer(Oid relid, const char *keytext, const char *kind, bool from_log);
extern int64 gdpr_hold_defer_matching(Oid relid, GdprKey *key, const char *from,
									  const char *where, GdprParams *params,
									  const char *kind, bool force, bool as_owner);
extern void gdpr_hold_check_delete(Oid relid, const char *keytext);
extern void gdpr_hold_check_truncate(Oid relid, Oid leaf);
extern void gdpr_hold_sql_drop(void);
extern void gdpr_hold_unregister(Oid relid);

/* ------------------------------------------------------------------------
 * events.c: the outbox
 * ------------------------------------------------------------------------
 */
extern void gdpr_events_queue(Oid relid, const char *key);
extern void gdpr_events_queue_many(Oid relid, Datum keys);
extern void gdpr_events_mark(Oid relid, Datum keys, bool queue_event, bool force);
extern void gdpr_events_forget_all(Oid relid);
extern void gdpr_events_forget_dropped(void);
extern bool gdpr_events_range_key(GdprKey *key);
extern bool gdpr_events_has_ranges(Oid relid, GdprKey *key);
extern bool gdpr_events_has_markers(Oid relid);
extern char *gdpr_events_range_exclusion(Oid relid, GdprKey *key, const char *keyexpr);
extern void gdpr_events_mark_ranges(Oid relid, Datum lo, Datum hi);
extern char *gdpr_events_unmarked(Oid relid, GdprKey *key, const char *alias, bool probe);

/* ------------------------------------------------------------------------
 * ranges.c: the marker ranges of a whole-table anonymisation
 * ------------------------------------------------------------------------
 */
extern int64 gdpr_ranges_update(Oid relid, const char *update);

/* ------------------------------------------------------------------------
 * trigger.c
 * ------------------------------------------------------------------------
 */
extern void gdpr_trigger_attach(Oid relid);
extern void gdpr_trigger_attach_partition(Oid relid);
extern void gdpr_trigger_detach(Oid relid);
extern void gdpr_trigger_ensure_oda(Oid parent);
extern void gdpr_trigger_remove_oda(Oid parent);
extern void gdpr_trigger_init(void);

/* ------------------------------------------------------------------------
 * declare.c: SECURITY LABEL FOR gdpr and COMMENT ... 'gdpr: {...}'
 * ------------------------------------------------------------------------
 */
extern void gdpr_declare_init(void);

/* ------------------------------------------------------------------------
 * lineage.c: which events are this database's
 * ------------------------------------------------------------------------
 */
extern char *gdpr_lineage(void);
extern char *gdpr_lineage_ids(void);

/* ------------------------------------------------------------------------
 * worker.c / shipper.c / rerun.c: the log
 * ------------------------------------------------------------------------
 */
extern void gdpr_worker_register(void);
extern void gdpr_worker_note_queued(void);

#endif							/* GDPR_H */
