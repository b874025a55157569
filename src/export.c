/*-------------------------------------------------------------------------
 *
 * export.c
 *	  Export everything held about one person as JSON: gdpr.export() and
 *	  gdpr.export_search().
 *
 * The export starts from one row (or, for export_search, every search hit)
 * and grows along foreign keys between registered tables:
 *
 *	- every row of a registered table that references a row already reached
 *	  this way is reached too (children, grandchildren, ...; self-references
 *	  and mutual references included, each row once, so cycles end);
 *	- a foreign key marked with gdpr.export_follow() is also followed the
 *	  other way, from a reached row to the registered row it references.  A
 *	  row reached only like that is included but not expanded at all: the
 *	  rows that reference it (another person's data behind a shared address)
 *	  never enter, and its own followed foreign keys are not followed either
 *	  (a followed "manager" key would otherwise pull in the whole chain of
 *	  managers).  A followed row that is later reached as a child is
 *	  expanded after all.
 *
 * Foreign keys declared only on partitions (pagila's payment partitions
 * reference customer, the partitioned payment does not) are mapped to the
 * registered partitioned table and taken to hold for all of it: the rows
 * are looked up through the partitioned table and exported under its name.
 *
 * The work is set-based: for every foreign key and every batch of newly
 * reached rows one statement finds the rows on the other side, given arrays
 * of the batch's referenced values; never one statement per row.  Once no
 * batch is left, one statement per table builds its JSON array with
 * PostgreSQL's own to_jsonb (numbers stay numbers, NULL is null, json and
 * jsonb columns stay nested JSON), ordered by key value.
 *
 * Every statement is read-only and runs as the caller (the functions are
 * SECURITY INVOKER) on the caller's snapshot, so the whole export sees one
 * consistent state, row-level security applies, and exporting needs no
 * write privilege.  A registered table the caller may not SELECT (neither
 * the table nor its key columns) is left out of the export, and is not
 * used as a bridge to other tables either; columns the caller may not read
 * are left out of the rows, and foreign keys over such columns are not
 * followed.  Exporting from a table the caller may not read is an error.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/export.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/partition.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "gdpr.h"
#include "jsonb_build.h"
#include "search.h"

PG_FUNCTION_INFO_V1(gdpr_export);
PG_FUNCTION_INFO_V1(gdpr_export_search);

/* one row reached by the export */
typedef struct ExportRow
{
	char	   *keytext;		/* key text (gdpr_key_text_expr): hash key */
	bool		full;			/* reached as a child (or start): expanded;
								 * otherwise reached by following: a leaf */
	char	  **vals;			/* text of the table's needed columns */
} ExportRow;

/* a registered table taking part in the export */
typedef struct ExportTable
{
	Oid			relid;
	char	   *relname;		/* gdpr_relation_name() */
	GdprTable  *table;
	GdprKey    *key;
	/* needed columns: the key columns first, then foreign-key columns */
	int			nneed;
	char	  **neednames;
	Oid		   *needtypes;
	char	   *selectlist;		/* key text, then the needed columns as text */
	List	   *child_edges;	/* ExportEdge *, this table the referenced one */
	List	   *follow_edges;	/* ExportEdge *, this table the referencing one */
	List	   *follow_names;	/* char *, constraints with a 'follow' rule */
	bool		follow_loaded;	/* follow_names has been read */
	HTAB	   *rows;			/* keytext -> ExportRow * */
	List	   *rowlist;		/* ExportRow *, in the order reached */
	List	   *new_full;		/* rows reached as children, not yet expanded */
} ExportTable;

/* a foreign key between two registered tables (mapped to their roots) */
typedef struct ExportEdge
{
	ExportTable *child;			/* the referencing table */
	ExportTable *parent;		/* the referenced table */
	int			ncols;
	int			child_idx[INDEX_MAX_KEYS];	/* into child->neednames */
	int			parent_idx[INDEX_MAX_KEYS]; /* into parent->neednames */
	char	   *ident;			/* for de-duplication */
} ExportEdge;

/* hash entry: the key text pointer and its row */
typedef struct RowEntry
{
	char	   *keytext;
	ExportRow  *row;
} RowEntry;

/* a foreign key as pg_constraint has it (cached, see export_cache) */
typedef struct ExportFk
{
	char	   *conname;
	Oid			conrelid;
	Oid			confrelid;
	int			ncols;
	int16		conkey[INDEX_MAX_KEYS];
	int16		confkey[INDEX_MAX_KEYS];
} ExportFk;

/*
 * An entry of export_cache.  Key InvalidOid: every foreign key of the
 * database (fks, nfks), which depends on every relation (adding, dropping
 * or renaming a foreign key invalidates the relations it joins).  Key a
 * registered table: the names of its constraints with a 'follow' rule
 * (follow_names), which depend on that table (every rule change
 * invalidates it, catalog.c).  Neither depends on the current user: what
 * the caller may read is checked on every export.
 */
typedef struct ExportCacheEntry
{
	List	   *follow_names;
	int			nfks;
	ExportFk   *fks;
} ExportCacheEntry;

static GdprCache *export_cache = NULL;

/* the state of one export */
typedef struct ExportState
{
	List	   *tables;			/* ExportTable *, readable registered tables */
} ExportState;

/*
 * find_table
 *		The export's entry for a relation, or NULL.
 */
static ExportTable *
find_table(ExportState *state, Oid relid)
{
	ListCell   *lc;

	foreach(lc, state->tables)
	{
		ExportTable *et = (ExportTable *) lfirst(lc);

		if (et->relid == relid)
			return et;
	}
	return NULL;
}

/*
 * need_column
 *		Index of a column among a table's needed columns, adding it if it is
 *		not there yet.
 *
 * Returns -1 when the column does not exist in the table or the caller
 * may not read it (a foreign key over it is then not followed).
 */
static int
need_column(ExportTable *et, const char *attname)
{
	AttrNumber	attnum;

	for (int i = 0; i < et->nneed; i++)
		if (strcmp(et->neednames[i], attname) == 0)
			return i;
	attnum = get_attnum(et->relid, attname);
	if (attnum == InvalidAttrNumber ||
		!gdpr_search_column_readable(et->relid, attnum))
		return -1;
	et->neednames = repalloc(et->neednames, sizeof(char *) * (et->nneed + 1));
	et->needtypes = repalloc(et->needtypes, sizeof(Oid) * (et->nneed + 1));
	et->neednames[et->nneed] = pstrdup(attname);
	et->needtypes[et->nneed] = get_atttype(et->relid, attnum);
	return et->nneed++;
}

/*
 * make_table
 *		The export's entry for a registered table, or NULL when the caller
 *		may not read the table's key (it is then left out of the export).
 */
static ExportTable *
make_table(Oid relid)
{
	ExportTable *et;
	HASHCTL		ctl;
	GdprTable  *table = gdpr_catalog_get_table(relid);
	GdprKey    *key;

	if (table == NULL)
		return NULL;
	key = gdpr_search_skip_keyless(relid, "export");
	if (key == NULL)
		return NULL;
	for (int i = 0; i < key->nkeys; i++)
		if (!gdpr_search_column_readable(relid, key->attnums[i]))
			return NULL;

	et = palloc0(sizeof(ExportTable));
	et->relid = relid;
	et->relname = gdpr_relation_name(relid);
	et->table = table;
	et->key = key;
	et->neednames = palloc(sizeof(char *) * key->nkeys);
	et->needtypes = palloc(sizeof(Oid) * key->nkeys);
	for (int i = 0; i < key->nkeys; i++)
	{
		et->neednames[i] = key->attnames[i];
		et->needtypes[i] = key->typids[i];
	}
	et->nneed = key->nkeys;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(RowEntry);
	ctl.hash = gdpr_string_key_hash;
	ctl.match = gdpr_string_key_match;
	ctl.hcxt = CurrentMemoryContext;
	et->rows = hash_create("gdpr export rows", 64, &ctl,
						   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	return et;
}

/*
 * registered_root
 *		The table of the export that holds a relation's rows: the relation
 *		itself, or for a partition its nearest registered ancestor.  NULL
 *		when there is none.
 */
static ExportTable *
registered_root(ExportState *state, Oid relid)
{
	ExportTable *et = find_table(state, relid);
	ListCell   *lc;

	if (et != NULL || !get_rel_relispartition(relid))
		return et;
	foreach(lc, get_partition_ancestors(relid))
	{
		et = find_table(state, lfirst_oid(lc));
		if (et != NULL)
			return et;
	}
	return NULL;
}

/*
 * add_unique_edge
 *		Append an edge to a list unless an edge with the same ident is there.
 */
static void
add_unique_edge(List **list, ExportEdge *edge)
{
	ListCell   *lc;

	foreach(lc, *list)
		if (strcmp(((ExportEdge *) lfirst(lc))->ident, edge->ident) == 0)
			return;
	*list = lappend(*list, edge);
}

/*
 * add_edge
 *		Add a foreign key, from conrelid's columns conkey to confrelid's
 *		columns confkey, as a child edge and, when follow, as a follow edge.
 *
 * Both ends are mapped to the registered tables holding their rows; a key
 * with an end outside the export, or over a column the caller may not
 * read, is ignored.  Edges are de-duplicated by their tables and column
 * names, so the same key declared on many partitions is one edge.
 */
static void
add_edge(ExportState *state, Oid conrelid, Oid confrelid, int ncols,
		 int16 *conkey, int16 *confkey, bool follow)
{
	ExportTable *child = registered_root(state, conrelid);
	ExportTable *parent = registered_root(state, confrelid);
	ExportEdge *edge;
	StringInfoData ident;

	if (child == NULL || parent == NULL || ncols > INDEX_MAX_KEYS)
		return;

	edge = palloc0(sizeof(ExportEdge));
	edge->child = child;
	edge->parent = parent;
	edge->ncols = ncols;
	initStringInfo(&ident);
	appendStringInfo(&ident, "%u>%u", child->relid, parent->relid);
	for (int i = 0; i < ncols; i++)
	{
		char	   *ccol = get_attname(conrelid, conkey[i], false);
		char	   *pcol = get_attname(confrelid, confkey[i], false);

		edge->child_idx[i] = need_column(child, ccol);
		edge->parent_idx[i] = need_column(parent, pcol);
		if (edge->child_idx[i] < 0 || edge->parent_idx[i] < 0)
			return;
		appendStringInfo(&ident, ",%d=%d", edge->child_idx[i], edge->parent_idx[i]);
	}
	edge->ident = ident.data;

	/* every foreign key brings in the rows referencing reached rows */
	add_unique_edge(&parent->child_edges, edge);
	/* a followed one also brings in the row it references */
	if (follow)
		add_unique_edge(&child->follow_edges, edge);
}

/*
 * build_fk_list
 *		GdprCacheBuild of the foreign-key entry of export_cache: every
 *		foreign key of the database.  Reads pg_catalog.pg_constraint
 *		(readable by everyone).  Constraints that a partition inherited from
 *		its parent (conparentid set) are skipped: the parent's own constraint
 *		stands for them.  Connects to SPI itself.
 */
static void
build_fk_list(void *entry, const void *key, void *arg)
{
	ExportCacheEntry *ce = entry;
	MemoryContext cxt = gdpr_cache_context(entry);
	int			ret;
	int			n = 0;

	gdpr_cache_depend_all(entry);
	gdpr_spi_connect();
	ret = SPI_execute("SELECT c.conname, c.conrelid, c.confrelid, c.conkey, c.confkey"
					  "  FROM pg_catalog.pg_constraint c"
					  " WHERE c.contype OPERATOR(pg_catalog.=) 'f'"
					  "   AND c.conparentid OPERATOR(pg_catalog.=) 0"
					  " ORDER BY c.conrelid, c.conname", true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading foreign keys failed: %s", SPI_result_code_string(ret));
	ce->fks = MemoryContextAllocZero(cxt, sizeof(ExportFk) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		bool		isnull;
		ArrayType  *conkey = DatumGetArrayTypeP(SPI_getbinval(tuple, tupdesc, 4, &isnull));
		ArrayType  *confkey = DatumGetArrayTypeP(SPI_getbinval(tuple, tupdesc, 5, &isnull));
		int			ncols = ArrayGetNItems(ARR_NDIM(conkey), ARR_DIMS(conkey));
		ExportFk   *fk = &ce->fks[n];

		if (ncols > INDEX_MAX_KEYS ||
			ncols != ArrayGetNItems(ARR_NDIM(confkey), ARR_DIMS(confkey)))
			continue;
		fk->conname = MemoryContextStrdup(cxt, SPI_getvalue(tuple, tupdesc, 1));
		fk->conrelid = DatumGetObjectId(SPI_getbinval(tuple, tupdesc, 2, &isnull));
		fk->confrelid = DatumGetObjectId(SPI_getbinval(tuple, tupdesc, 3, &isnull));
		fk->ncols = ncols;
		memcpy(fk->conkey, ARR_DATA_PTR(conkey), sizeof(int16) * ncols);
		memcpy(fk->confkey, ARR_DATA_PTR(confkey), sizeof(int16) * ncols);
		n++;
	}
	ce->nfks = n;
	gdpr_spi_finish();
}

/*
 * build_follow_names
 *		GdprCacheBuild of a table's entry of export_cache: the constraints of
 *		the table with a 'follow' rule.
 */
static void
build_follow_names(void *entry, const void *key, void *arg)
{
	ExportCacheEntry *ce = entry;
	Oid			relid = *(const Oid *) key;
	List	   *names;
	ListCell   *lc;
	MemoryContext old;

	gdpr_cache_depend(entry, relid);
	names = gdpr_catalog_constraint_rules(relid, "follow");
	old = MemoryContextSwitchTo(gdpr_cache_context(entry));
	foreach(lc, names)
		ce->follow_names = lappend(ce->follow_names, pstrdup((char *) lfirst(lc)));
	MemoryContextSwitchTo(old);
}

/*
 * export_cache_entry
 *		The entry of export_cache for key (see ExportCacheEntry).  It stays
 *		readable until the end of the transaction.
 */
static ExportCacheEntry *
export_cache_entry(Oid key)
{
	if (export_cache == NULL)
		export_cache = gdpr_cache_create("gdpr export cache", sizeof(ExportCacheEntry),
										 false, NULL);
	return gdpr_cache_lookup(export_cache, &key,
							 OidIsValid(key) ? build_follow_names : build_fk_list, NULL);
}

/*
 * load_edges
 *		Find the foreign keys between the export's tables.
 *
 * A constraint is followed when the registered table holding its
 * referencing rows has a 'follow' rule of that name.  The foreign keys and
 * the rules come from export_cache, read from the catalogs once per
 * backend and read again after a change.
 */
static void
load_edges(ExportState *state)
{
	ExportCacheEntry *fkl = export_cache_entry(InvalidOid);

	for (int r = 0; r < fkl->nfks; r++)
	{
		ExportFk   *fk = &fkl->fks[r];
		ExportTable *child = registered_root(state, fk->conrelid);
		bool		follow = false;
		ListCell   *lc;

		if (child == NULL || registered_root(state, fk->confrelid) == NULL)
			continue;
		/* read lazily: most tables reference no other registered table */
		if (!child->follow_loaded)
		{
			child->follow_names = export_cache_entry(child->relid)->follow_names;
			child->follow_loaded = true;
		}
		foreach(lc, child->follow_names)
			if (strcmp((char *) lfirst(lc), fk->conname) == 0)
				follow = true;
		add_edge(state, fk->conrelid, fk->confrelid, fk->ncols,
				 fk->conkey, fk->confkey, follow);
	}
}

/*
 * build_select_lists
 *		The select list of every table: key text, then each needed column
 *		as text (its output function), for alias "t".
 */
static void
build_select_lists(ExportState *state)
{
	ListCell   *lc;

	foreach(lc, state->tables)
	{
		ExportTable *et = (ExportTable *) lfirst(lc);
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, gdpr_key_text_expr(et->key, "t"));
		for (int i = 0; i < et->nneed; i++)
			appendStringInfo(&buf, ", t.%s::pg_catalog.text", quote_identifier(et->neednames[i]));
		et->selectlist = buf.data;
	}
}

/*
 * export_init
 *		Set up an export: every registered table the caller may read, and
 *		the foreign keys between them.  Must be connected to SPI.
 */
static ExportState *
export_init(void)
{
	ExportState *state = palloc0(sizeof(ExportState));
	ListCell   *lc;

	foreach(lc, gdpr_catalog_registered_tables())
	{
		ExportTable *et = make_table(lfirst_oid(lc));

		if (et != NULL)
			state->tables = lappend(state->tables, et);
	}
	load_edges(state);
	build_select_lists(state);
	return state;
}

/*
 * The most values (keys, foreign-key values) a statement of an export may
 * look up and still run on its generic plan; see export_execute.
 */
#define EXPORT_GENERIC_MAX_VALUES 100

/*
 * export_execute
 *		Run a statement of an export on its kept plan (gdpr_search_execute),
 *		its rows into SPI_tuptable, or to dest when not NULL.
 *
 * A statement looking up few values (one person's rows: the start row, its
 * few children) runs on the generic plan, an index lookup per value
 * whatever the values, instead of being planned again for every call's
 * values, which would cost more than the lookups themselves.  A statement
 * with more values gets the plan cache's usual choice, so that a big batch
 * can still be planned as the scan that suits it.
 */
static int
export_execute(const char *sql, int nargs, Oid *argtypes, Datum *values, int nvalues,
			   DestReceiver *dest)
{
	return gdpr_search_execute(sql, nargs, argtypes, values,
							   nvalues <= EXPORT_GENERIC_MAX_VALUES, dest);
}

/*
 * fetch_rows
 *		Run "SELECT <select list> FROM table t WHERE <where>" and add the rows
 *		to the table's reached rows.
 *
 * full says whether the rows were reached as children (or are start rows)
 * and are to be expanded; a row already reached by following is promoted
 * to full.  nvalues is how many values the parameters look up (see
 * export_execute).  Returns how many rows the statement found.  Read-only, as the
 * caller, on the caller's snapshot; must be connected to SPI.
 */
static uint64
fetch_rows(ExportTable *et, const char *where, int nargs, Oid *argtypes,
		   Datum *values, bool full, int nvalues)
{
	char	   *sql;
	int			ret;
	uint64		nfound;

	CHECK_FOR_INTERRUPTS();
	sql = psprintf("SELECT %s FROM %s WHERE %s", et->selectlist,
				   psprintf("%s t", gdpr_relation_from(et->relid)), where);
	ret = export_execute(sql, nargs, argtypes, values, nvalues, NULL);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "export query on %s failed: %s", et->relname,
			 SPI_result_code_string(ret));

	nfound = SPI_processed;
	for (uint64 r = 0; r < nfound; r++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[r];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		char	   *keytext = SPI_getvalue(tuple, tupdesc, 1);
		RowEntry   *entry;
		bool		found;

		entry = hash_search(et->rows, &keytext, HASH_ENTER, &found);
		if (found)
		{
			if (full && !entry->row->full)
			{
				entry->row->full = true;
				et->new_full = lappend(et->new_full, entry->row);
			}
			continue;
		}
		entry->row = palloc(sizeof(ExportRow));
		entry->row->keytext = keytext;
		entry->keytext = keytext;
		entry->row->full = full;
		entry->row->vals = palloc(sizeof(char *) * et->nneed);
		for (int i = 0; i < et->nneed; i++)
			entry->row->vals[i] = SPI_getvalue(tuple, tupdesc, i + 2);
		et->rowlist = lappend(et->rowlist, entry->row);
		if (full)
			et->new_full = lappend(et->new_full, entry->row);
	}
	SPI_freetuptable(SPI_tuptable);
	return nfound;
}

/*
 * array_cast_type
 *		The schema-qualified name of a column type for the casts of
 *		match_clause, without a length: "pg_catalog.bpchar", not
 *		"character".
 *
 * The plain name of a type without its typmod means something else for
 * some types: "character" is char(1) and "bit" is bit(1), so casting a
 * char(4) or bit(3) value to it would cut it to one character or bit and
 * no row would match, or worse, "ab" would match another person's "a".
 * format_type with FORMAT_TYPE_TYPEMOD_GIVEN and typmod -1 names the
 * unconstrained type instead.  The column's own typmod is not used either:
 * a foreign key between char(2) and char(6) columns must not cut the longer
 * side's values.  For the same reason a domain is replaced by its base
 * type (a domain over char(2) would cut values to two characters); the
 * equality operator is the base type's anyway.
 */
static char *
array_cast_type(Oid typid)
{
	return format_type_extended(getBaseType(typid), -1,
								FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
}

/*
 * match_clause
 *		SQL condition matching a table's columns (indexes into its needed
 *		columns) against text[] parameters $firstparam..: one value array per
 *		column, element i of each forming one tuple.
 *
 * One column gives "t.c = ANY ($n::text[]::type[])", which an index on the
 * column serves; more give an EXISTS over ROWS FROM (unnest(), ...) of the
 * arrays, which the planner turns into a semi-join.  Equality is the column type's default
 * equality operator, named with its schema.
 */
static char *
match_clause(ExportTable *et, int ncols, const int *idx, int firstparam)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (ncols == 1)
	{
		Oid			typid = et->needtypes[idx[0]];

		appendStringInfo(&buf, "t.%s %s ANY ($%d::pg_catalog.text[]::%s[])",
						 quote_identifier(et->neednames[idx[0]]),
						 gdpr_key_eq_operator(typid, false), firstparam,
						 array_cast_type(typid));
		return buf.data;
	}

	appendStringInfoString(&buf, "EXISTS (SELECT FROM ROWS FROM (");
	for (int i = 0; i < ncols; i++)
		appendStringInfo(&buf, "%spg_catalog.unnest($%d::pg_catalog.text[]::%s[])",
						 i > 0 ? ", " : "", firstparam + i,
						 array_cast_type(et->needtypes[idx[i]]));
	appendStringInfoString(&buf, ") AS u(");
	for (int i = 0; i < ncols; i++)
		appendStringInfo(&buf, "%sv%d", i > 0 ? ", " : "", i + 1);
	appendStringInfoString(&buf, ") WHERE ");
	for (int i = 0; i < ncols; i++)
		appendStringInfo(&buf, "%st.%s %s u.v%d", i > 0 ? " AND " : "",
						 quote_identifier(et->neednames[idx[i]]),
						 gdpr_key_eq_operator(et->needtypes[idx[i]], false), i + 1);
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * value_arrays
 *		The distinct tuples of some needed columns over a batch of rows, as
 *		one text[] per column.  Tuples with a NULL are left out (they
 *		reference nothing).
 *
 * Returns the number of tuples; fills arrays[0..ncols-1].
 */
static int
value_arrays(List *rows, int ncols, const int *idx, Datum *arrays)
{
	HASHCTL		ctl;
	HTAB	   *seen;
	Datum	  **elems = palloc(sizeof(Datum *) * ncols);
	int			n = 0;
	ListCell   *lc;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(char *);
	ctl.hash = gdpr_string_key_hash;
	ctl.match = gdpr_string_key_match;
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("gdpr export values", list_length(rows) + 1, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	for (int c = 0; c < ncols; c++)
		elems[c] = palloc(sizeof(Datum) * (list_length(rows) + 1));

	foreach(lc, rows)
	{
		ExportRow  *row = (ExportRow *) lfirst(lc);
		StringInfoData tuple;
		bool		hasnull = false;
		bool		found;

		initStringInfo(&tuple);
		for (int c = 0; c < ncols; c++)
		{
			char	   *v = row->vals[idx[c]];

			if (v == NULL)
			{
				hasnull = true;
				break;
			}
			/* length-prefixed, so that no value can fake a separator */
			appendStringInfo(&tuple, "%zu:%s", strlen(v), v);
		}
		if (hasnull)
			continue;
		hash_search(seen, &tuple.data, HASH_ENTER, &found);
		if (found)
			continue;
		for (int c = 0; c < ncols; c++)
			elems[c][n] = CStringGetTextDatum(row->vals[idx[c]]);
		n++;
	}
	hash_destroy(seen);
	for (int c = 0; c < ncols; c++)
		arrays[c] = PointerGetDatum(construct_array(elems[c], n, TEXTOID, -1, false,
													TYPALIGN_INT));
	return n;
}

/*
 * follow_edge
 *		One step along a foreign key for a batch of rows: to_child finds the
 *		rows of edge->child referencing the batch (rows of edge->parent),
 *		otherwise the rows of edge->parent the batch (rows of edge->child)
 *		references.  One statement for the whole batch.
 */
static void
follow_edge(ExportEdge *edge, List *batch, bool to_child)
{
	ExportTable *to = to_child ? edge->child : edge->parent;
	const int  *from_idx = to_child ? edge->parent_idx : edge->child_idx;
	const int  *to_idx = to_child ? edge->child_idx : edge->parent_idx;
	Datum		arrays[INDEX_MAX_KEYS];
	Oid			types[INDEX_MAX_KEYS];
	int			nvalues = value_arrays(batch, edge->ncols, from_idx, arrays);

	if (nvalues == 0)
		return;
	for (int i = 0; i < edge->ncols; i++)
		types[i] = TEXTARRAYOID;
	fetch_rows(to, match_clause(to, edge->ncols, to_idx, 1), edge->ncols, types,
			   arrays, to_child, nvalues);
}

/*
 * expand
 *		Grow the export until no newly reached row is left: the new full rows
 *		of each table bring in the rows referencing them and the rows their
 *		followed foreign keys reference.  Rows reached by following are
 *		leaves.
 *
 * Every row is expanded at most once, so this ends, cycles included.  Must
 * be connected to SPI.
 */
static void
expand(ExportState *state)
{
	bool		progress;

	do
	{
		ListCell   *lc;

		progress = false;
		foreach(lc, state->tables)
		{
			ExportTable *et = (ExportTable *) lfirst(lc);
			List	   *full = et->new_full;
			ListCell   *ec;

			if (full == NIL)
				continue;
			progress = true;
			et->new_full = NIL;

			foreach(ec, et->child_edges)
				follow_edge((ExportEdge *) lfirst(ec), full, true);
			foreach(ec, et->follow_edges)
				follow_edge((ExportEdge *) lfirst(ec), full, false);
		}
	} while (progress);
}

/* the DestReceiver that adds each row's jsonb to a table's array */
typedef struct RowsReceiver
{
	DestReceiver pub;
	GdprJsonbBuild array;
} RowsReceiver;

/*
 * rows_receive
 *		receiveSlot of the RowsReceiver: append the row's object (column 1)
 *		to the array.
 */
static bool
rows_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RowsReceiver *r = (RowsReceiver *) self;
	bool		isnull;
	Datum		value = slot_getattr(slot, 1, &isnull);
	Jsonb	   *row;

	if (isnull)
		elog(ERROR, "gdpr: an exported row is null");
	row = DatumGetJsonbP(value);
	gdpr_jsonb_build_add(&r->array, row);
	if ((Pointer) row != DatumGetPointer(value))
		pfree(row);				/* a copy with a full header */
	return true;
}

/*
 * table_json
 *		The JSON array of a table's reached rows: one object per row with the
 *		export columns the caller may read, ordered by key value.
 *
 * Each row's object (to_jsonb) is appended to the array as the executor
 * produces it (jsonb_build.c), never unpacked into a tree, so memory is
 * about twice the array's size.  Returns NULL when the rows are no longer
 * visible.  The jsonb is allocated in the current (SPI) memory context.
 * Must be connected to SPI.
 */
static Jsonb *
table_json(ExportTable *et)
{
	StringInfoData sql;
	Relation	rel;
	TupleDesc	desc;
	Datum		arrays[INDEX_MAX_KEYS];
	Oid			types[INDEX_MAX_KEYS];
	int			idx[INDEX_MAX_KEYS];
	bool		first = true;
	RowsReceiver r;
	int			ret;
	int			nvalues;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT pg_catalog.to_jsonb(s.*) FROM (SELECT ");

	rel = table_open(et->relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		char	   *attname = NameStr(att->attname);

		if (att->attisdropped)
			continue;
		if (!gdpr_catalog_column_exported(et->table, et->key, attname, att->attnum))
			continue;
		if (!gdpr_search_column_readable(et->relid, att->attnum))
			continue;
		appendStringInfo(&sql, "%st.%s", first ? "" : ", ", quote_identifier(attname));
		first = false;
	}
	table_close(rel, AccessShareLock);

	for (int i = 0; i < et->key->nkeys; i++)
	{
		idx[i] = i;
		types[i] = TEXTARRAYOID;
	}
	nvalues = value_arrays(et->rowlist, et->key->nkeys, idx, arrays);
	appendStringInfo(&sql, " FROM %s WHERE %s) s ORDER BY %s",
					 psprintf("%s t", gdpr_relation_from(et->relid)),
					 match_clause(et, et->key->nkeys, idx, 1),
					 gdpr_key_order_by(et->key, "s"));

	gdpr_receiver_init(&r.pub, rows_receive, NULL);
	gdpr_jsonb_build_init(&r.array);
	ret = export_execute(sql.data, et->key->nkeys, types, arrays, nvalues, &r.pub);
	/* rows sent to a receiver: SPI_OK_UTILITY */
	if (ret < 0)
		elog(ERROR, "export of %s failed: %s", et->relname, SPI_result_code_string(ret));
	if (r.array.n == 0)
		return NULL;
	return gdpr_jsonb_build_finish(&r.array, JB_FARRAY, r.array.n);
}

/*
 * export_document
 *		The export as one jsonb object: table name -> array of rows, only
 *		tables with rows.
 *
 * Builds the per-table arrays over SPI and assembles the object in
 * result_cxt (the caller's context, which outlives SPI_finish), copying
 * the arrays in as they are (jsonb_build.c).
 */
static Jsonb *
export_document(ExportState *state, MemoryContext result_cxt)
{
	int			ntables = list_length(state->tables);
	char	  **names = palloc(sizeof(char *) * Max(ntables, 1));
	Jsonb	  **arrays = palloc(sizeof(Jsonb *) * Max(ntables, 1));
	int			n = 0;
	ListCell   *lc;
	MemoryContext oldcxt;
	Jsonb	   *doc;

	foreach(lc, state->tables)
	{
		ExportTable *et = (ExportTable *) lfirst(lc);
		Jsonb	   *arr;

		if (et->rowlist == NIL)
			continue;
		arr = table_json(et);
		if (arr == NULL)
			continue;
		names[n] = et->relname;
		arrays[n++] = arr;
	}

	oldcxt = MemoryContextSwitchTo(result_cxt);
	doc = gdpr_jsonb_object(n, names, arrays);
	MemoryContextSwitchTo(oldcxt);
	return doc;
}

/*
 * gdpr_export
 *		SQL: gdpr.export(rel regclass, key text) and gdpr.export(rel regclass,
 *		key anyelement) RETURNS jsonb
 *
 * Everything held about the person of one row.  The key is given as text
 * or in its own type (told apart by the argument's type).  Errors: the
 * table is not registered (object_not_in_prerequisite_state), the caller
 * may not read it (insufficient_privilege), the key is malformed (the key
 * type's input error, e.g. invalid_text_representation), no row has the key
 * (no_data_found).
 */
Datum
gdpr_export(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	MemoryContext callcxt = CurrentMemoryContext;
	GdprKey    *key;
	Datum		values[INDEX_MAX_KEYS];
	char	   *keytext;
	ExportState *state;
	ExportTable *start;
	Jsonb	   *doc;

	if (get_rel_relkind(relid) == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	(void) gdpr_registered_table(relid);
	key = gdpr_key_lookup(relid, false);
	keytext = gdpr_key_argument(fcinfo, 1, key, values);

	gdpr_spi_connect();
	state = export_init();
	start = find_table(state, relid);
	if (start == NULL)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_TABLE, get_rel_name(relid));

	if (fetch_rows(start, gdpr_key_match_clause(start->key, "t", 1), key->nkeys,
				   key->typids, values, true, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no row of table \"%s\" has key \"%s\"", start->relname, keytext)));
	expand(state);
	doc = export_document(state, callcxt);
	gdpr_spi_finish();
	PG_RETURN_JSONB_P(doc);
}

/*
 * gdpr_export_search
 *		SQL: gdpr.export_search(term text) RETURNS jsonb
 *
 * The exports of every row gdpr.search() finds, merged into one document
 * of the same shape, each row once; '{}' when nothing matches (or the term
 * is NULL or empty).  The hits are the start rows of one export, which
 * gives the same rows as merging their exports one by one.
 */
Datum
gdpr_export_search(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt = CurrentMemoryContext;
	List	   *searches = NIL;
	ListCell   *lc;
	ExportState *state;
	Jsonb	   *doc;

	if (!PG_ARGISNULL(0))
		searches = gdpr_search_prepare(text_to_cstring(PG_GETARG_TEXT_PP(0)),
									   false);

	gdpr_spi_connect();
	state = export_init();
	foreach(lc, searches)
	{
		GdprSearchTable *st = (GdprSearchTable *) lfirst(lc);
		ExportTable *et = find_table(state, st->relid);

		if (et != NULL)
			fetch_rows(et, st->where, st->nparams, st->paramtypes, st->paramvalues, true, 1);
	}
	expand(state);
	doc = export_document(state, callcxt);
	gdpr_spi_finish();
	PG_RETURN_JSONB_P(doc);
}
