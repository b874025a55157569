/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  Primary keys of registered tables and the canonical text of a key.
 *
 * A row is named by its key as text: the key column's output-function text,
 * or for a multi-column key the row literal of the key columns, e.g.
 * '(7,2024-01-01)'.  Input is matched by value: text given by a user is
 * parsed with the key types' input functions and printed again, so '042'
 * and '42' name the same integer row and the stored/logged text is always
 * the canonical one.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/keys.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "gdpr.h"

/* an entry of the key cache */
typedef struct KeyCacheEntry
{
	GdprKey    *key;			/* NULL: no primary key */
} KeyCacheEntry;

/* Local state */
static GdprCache *key_cache = NULL;

/*
 * note_format_dependence
 *		Record in key whether the text form of a key column of type typid
 *		depends on session settings: DateStyle and IntervalStyle for date and
 *		time types, TimeZone for the zoned ones, extra_float_digits for
 *		floats (also inside arrays, domains and ranges of them).
 */
static void
note_format_dependence(GdprKey *key, Oid typid)
{
	Oid			base = getBaseType(typid);
	Oid			elem = get_element_type(base);
	char		category;
	bool		preferred;

	if (OidIsValid(elem))
		base = getBaseType(elem);
	if (type_is_range(base))
		base = get_range_subtype(base);
	get_type_category_preferred(base, &category, &preferred);
	if (category == TYPCATEGORY_DATETIME || category == TYPCATEGORY_TIMESPAN ||
		base == FLOAT4OID || base == FLOAT8OID)
		key->pin_format = true;
	if (base == TIMESTAMPTZOID || base == TIMETZOID)
		key->pin_timezone = true;
}

/*
 * gdpr_key_pin_format
 *		Pin the settings the key's text form depends on (DateStyle ISO,
 *		IntervalStyle postgres, extra_float_digits 1, and TimeZone UTC for
 *		zoned types), so that a key prints the same in every session: the
 *		markers and the log match keys by their text.
 *
 * Returns the GUC nesting level to give gdpr_key_unpin_format, or -1 when
 * nothing needed pinning.  A transaction abort undoes the pinning too.
 */
int
gdpr_key_pin_format(GdprKey *key)
{
	int			nestlevel;

	if (key == NULL || !key->pin_format)
		return -1;
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("datestyle", "ISO, YMD", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "1", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (key->pin_timezone)
		(void) set_config_option("timezone", "UTC", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * gdpr_key_unpin_format
 *		Undo gdpr_key_pin_format (no-op for -1).
 */
void
gdpr_key_unpin_format(int nestlevel)
{
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
}

/*
 * build_key
 *		Read the primary key of relid from the relcache into a GdprKey
 *		allocated in cxt; NULL when there is none.
 */
static GdprKey *
build_key(Oid relid, MemoryContext cxt)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Oid			pkoid = gdpr_relation_primary_key_index(rel);
	GdprKey    *key;
	Relation	idx;
	MemoryContext old;

	if (!OidIsValid(pkoid))
	{
		table_close(rel, AccessShareLock);
		return NULL;
	}

	old = MemoryContextSwitchTo(cxt);
	key = palloc0(sizeof(GdprKey));
	key->relid = relid;
	idx = index_open(pkoid, AccessShareLock);
	key->nkeys = idx->rd_index->indnkeyatts;
	for (int i = 0; i < key->nkeys; i++)
	{
		AttrNumber	attnum = idx->rd_index->indkey.values[i];
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
		bool		isvarlena;

		key->attnums[i] = attnum;
		key->attnames[i] = pstrdup(NameStr(att->attname));
		key->typids[i] = att->atttypid;
		key->typmods[i] = att->atttypmod;
		getTypeOutputInfo(att->atttypid, &key->typoutput[i], &isvarlena);
		getTypeInputInfo(att->atttypid, &key->typinput[i], &key->typioparam[i]);
		note_format_dependence(key, att->atttypid);
	}
	index_close(idx, AccessShareLock);
	table_close(rel, AccessShareLock);

	if (key->nkeys > 1)
	{
		TupleDesc	tupdesc = CreateTemplateTupleDesc(key->nkeys);

		for (int i = 0; i < key->nkeys; i++)
			TupleDescInitEntry(tupdesc, (AttrNumber) (i + 1), key->attnames[i],
							   key->typids[i], key->typmods[i], 0);
		key->tupdesc = BlessTupleDesc(tupdesc);
	}
	MemoryContextSwitchTo(old);
	return key;
}

/*
 * build_key_entry
 *		GdprCacheBuild of the key cache: the key depends on its table only
 *		(adding or dropping the primary key, or changing a key column's type,
 *		invalidates the table).
 */
static void
build_key_entry(void *entry, const void *key, void *arg)
{
	Oid			relid = *(const Oid *) key;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	gdpr_cache_depend(entry, relid);
	((KeyCacheEntry *) entry)->key = build_key(relid, gdpr_cache_context(entry));
}

/*
 * gdpr_key_lookup
 *		Describe the primary key of a table.
 *
 * Returns a cached GdprKey (do not modify or free it; it stays valid until
 * the end of the transaction), or NULL when the table has no primary key and
 * missing_ok is true; otherwise a missing key is an error.  For keys of
 * more than one column a blessed row type of the key columns is built, so
 * that row literals can be parsed and printed.
 */
GdprKey *
gdpr_key_lookup(Oid relid, bool missing_ok)
{
	KeyCacheEntry *entry;

	if (key_cache == NULL)
		key_cache = gdpr_cache_create("gdpr key cache", sizeof(KeyCacheEntry), false, NULL);
	entry = gdpr_cache_lookup(key_cache, &relid, build_key_entry, NULL);
	if (entry->key == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no primary key", get_rel_name(relid)),
				 errdetail("gdpr identifies a row by its primary key."),
				 errhint("Add a primary key to the table first.")));
	return entry->key;
}

/*
 * gdpr_key_parse
 *		Parse a key given as text into the key columns' values.
 *
 * Fills values[0 .. nkeys-1] and returns the canonical text of the key
 * (palloc'd).  Malformed input fails with the input function's own error
 * (e.g. invalid_text_representation); a NULL part of a row literal fails
 * with null_value_not_allowed.
 */
char *
gdpr_key_parse(GdprKey *key, const char *text, Datum *values)
{
	if (key->nkeys == 1)
	{
		char	   *result;
		int			level;

		/* read in the session's own style, print in the pinned one */
		values[0] = OidInputFunctionCall(key->typinput[0], (char *) text,
										 key->typioparam[0], key->typmods[0]);
		level = gdpr_key_pin_format(key);
		result = OidOutputFunctionCall(key->typoutput[0], values[0]);
		gdpr_key_unpin_format(level);
		return result;
	}
	else
	{
		Datum		rec;
		HeapTupleHeader td;
		HeapTupleData tmptup;
		bool		nulls[INDEX_MAX_KEYS];

		/* record_in/out cache in fn_extra: they need a real FmgrInfo */
		rec = OidInputFunctionCall(F_RECORD_IN, (char *) text, RECORDOID,
								   key->tupdesc->tdtypmod);
		td = DatumGetHeapTupleHeader(rec);
		tmptup.t_len = HeapTupleHeaderGetDatumLength(td);
		ItemPointerSetInvalid(&(tmptup.t_self));
		tmptup.t_tableOid = InvalidOid;
		tmptup.t_data = td;
		heap_deform_tuple(&tmptup, key->tupdesc, values, nulls);
		for (int i = 0; i < key->nkeys; i++)
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("key \"%s\" has a null value in column \"%s\"",
								text, key->attnames[i])));
		{
			int			level = gdpr_key_pin_format(key);
			char	   *result = OidOutputFunctionCall(F_RECORD_OUT, rec);

			gdpr_key_unpin_format(level);
			return result;
		}
	}
}

/*
 * gdpr_key_from_datum
 *		Canonical key text of a key given as a value of type typid (the
 *		anyelement overloads).
 *
 * The value is printed with its type's output function and parsed as key
 * text, so an integer given for a bigint key, or a row for a multi-column
 * key, is accepted.  Returns palloc'd text.
 */
static char *
gdpr_key_from_datum(GdprKey *key, Datum value, Oid typid)
{
	Oid			typoutput;
	bool		isvarlena;
	Datum		values[INDEX_MAX_KEYS];

	if (key->nkeys == 1 && typid == key->typids[0] && !key->pin_format)
		return OidOutputFunctionCall(key->typoutput[0], value);

	getTypeOutputInfo(typid, &typoutput, &isvarlena);
	return gdpr_key_parse(key, OidOutputFunctionCall(typoutput, value), values);
}

/*
 * gdpr_key_argument
 *		The canonical key text of argument argno of an SQL function that
 *		takes a key as text or as anyelement, filling values with the key's
 *		Datums.
 *
 * A text argument (or one of a call made without an expression, which
 * only the text forms get) is parsed; an unknown-type argument is a C
 * string; any other type is printed by its own output function first
 * (gdpr_key_from_datum), so an integer given for a bigint key, or a row
 * for a multi-column key, is accepted.
 */
char *
gdpr_key_argument(FunctionCallInfo fcinfo, int argno, GdprKey *key, Datum *values)
{
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, argno);

	if (argtype == TEXTOID || !OidIsValid(argtype))
		return gdpr_key_parse(key, text_to_cstring(PG_GETARG_TEXT_PP(argno)), values);
	if (argtype == UNKNOWNOID)
		return gdpr_key_parse(key, DatumGetCString(PG_GETARG_DATUM(argno)), values);
	return gdpr_key_parse(key, gdpr_key_from_datum(key, PG_GETARG_DATUM(argno), argtype),
						  values);
}

/*
 * gdpr_key_from_tuple
 *		Canonical key text of a stored row.
 *
 * tupdesc must be the descriptor of the relation the key was looked up for
 * (attnums of a partition may differ from its parent's).  Returns palloc'd
 * text.
 */
char *
gdpr_key_from_tuple(GdprKey *key, TupleDesc tupdesc, HeapTuple tuple)
{
	Datum		values[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];

	for (int i = 0; i < key->nkeys; i++)
	{
		values[i] = heap_getattr(tuple, key->attnums[i], tupdesc, &nulls[i]);
		if (nulls[i])
			elog(ERROR, "primary key column \"%s\" is null", key->attnames[i]);
	}
	{
		int			level = gdpr_key_pin_format(key);
		char	   *result;

		if (key->nkeys == 1)
			result = OidOutputFunctionCall(key->typoutput[0], values[0]);
		else
			result = OidOutputFunctionCall(F_RECORD_OUT,
										   HeapTupleGetDatum(heap_form_tuple(key->tupdesc,
																			 values, nulls)));
		gdpr_key_unpin_format(level);
		return result;
	}
}

/*
 * qualified_function_name
 *		Quoted, schema-qualified name of a function, for generated SQL.
 */
static char *
qualified_function_name(Oid funcid)
{
	return quote_qualified_identifier(get_namespace_name(get_func_namespace(funcid)),
									  get_func_name(funcid));
}

/*
 * gdpr_key_text_expr
 *		SQL expression that yields the canonical key text of the row named
 *		by alias, computed exactly as gdpr_key_parse/gdpr_key_from_tuple do.
 *
 * Returns palloc'd SQL text.
 */
char *
gdpr_key_text_expr(GdprKey *key, const char *alias)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (key->nkeys == 1)
	{
		Oid			typid = key->typids[0];

		/* for these the cast to text is the output function */
		if (typid == INT2OID || typid == INT4OID || typid == INT8OID ||
			typid == TEXTOID || typid == VARCHAROID || typid == UUIDOID ||
			typid == NUMERICOID)
			appendStringInfo(&buf, "%s.%s::pg_catalog.text", quote_identifier(alias),
							 quote_identifier(key->attnames[0]));
		else
			appendStringInfo(&buf, "pg_catalog.textin(%s(%s.%s))",
							 qualified_function_name(key->typoutput[0]),
							 quote_identifier(alias),
							 quote_identifier(key->attnames[0]));
	}
	else
	{
		appendStringInfoString(&buf, "pg_catalog.textin(pg_catalog.record_out(ROW(");
		for (int i = 0; i < key->nkeys; i++)
			appendStringInfo(&buf, "%s%s.%s", i > 0 ? ", " : "",
							 quote_identifier(alias),
							 quote_identifier(key->attnames[i]));
		appendStringInfoString(&buf, ")))");
	}
	return buf.data;
}

/*
 * gdpr_key_eq_operator
 *		"OPERATOR(schema.=)" for the default equality operator of a type, so
 *		that generated SQL never depends on search_path.  A type without one
 *		is an error, or NULL with missing_ok.
 */
char *
gdpr_key_eq_operator(Oid typid, bool missing_ok)
{
	TypeCacheEntry *tce = lookup_type_cache(typid, TYPECACHE_EQ_OPR);
	HeapTuple	tup;
	Oid			nspid;

	if (!OidIsValid(tce->eq_opr) && missing_ok)
		return NULL;
	if (!OidIsValid(tce->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify an equality operator for type %s",
						format_type_be(typid))));
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tce->eq_opr));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", tce->eq_opr);
	nspid = ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace;
	ReleaseSysCache(tup);
	return psprintf("OPERATOR(%s.=)", quote_identifier(get_namespace_name(nspid)));
}

/*
 * gdpr_key_match_clause
 *		SQL condition "alias.k1 = $n AND alias.k2 = $n+1 ..." matching one key,
 *		whose parameters are of the key columns' types.
 */
char *
gdpr_key_match_clause(GdprKey *key, const char *alias, int firstparam)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < key->nkeys; i++)
		appendStringInfo(&buf, "%s%s.%s %s $%d", i > 0 ? " AND " : "",
						 quote_identifier(alias), quote_identifier(key->attnames[i]),
						 gdpr_key_eq_operator(key->typids[i], false), firstparam + i);
	return buf.data;
}

/*
 * gdpr_key_order_by
 *		"alias.k1, alias.k2": the key columns, for ORDER BY.
 */
char *
gdpr_key_order_by(GdprKey *key, const char *alias)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < key->nkeys; i++)
		appendStringInfo(&buf, "%s%s.%s", i > 0 ? ", " : "",
						 quote_identifier(alias), quote_identifier(key->attnames[i]));
	return buf.data;
}

/*
 * gdpr_key_is_key_column
 *		Whether attnum is one of the key's columns.
 */
bool
gdpr_key_is_key_column(GdprKey *key, AttrNumber attnum)
{
	for (int i = 0; i < key->nkeys; i++)
		if (key->attnums[i] == attnum)
			return true;
	return false;
}
