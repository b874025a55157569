/*-------------------------------------------------------------------------
 *
 * methods.c
 *	  Anonymisation methods: validation when a column is declared, and the
 *	  SQL expression each method sets a column to.
 *
 * Every check that can be made from the column's definition is made when
 * the column is declared, never first at anonymisation time: NOT NULL
 * against methods that yield NULL, UNIQUE against methods that yield one
 * value for every row, length limits, domain CHECKs and the types of
 * constants and functions.  The expressions built here are deterministic,
 * so a replay after a restore produces the same values.
 *
 * Each method is one row of the table methods[]: its name, whether it
 * takes an argument, its validator and its expression builder.  The list
 * of methods in messages is generated from that table.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/methods.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "nodes/params.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/varlena.h"

#include "gdpr.h"

/* what we know about a column while validating or building */
typedef struct ColumnInfo
{
	AttrNumber	attnum;
	const char *attname;
	const char *relname;
	Oid			typid;			/* the column's type (maybe a domain) */
	int32		typmod;
	Oid			basetypid;		/* after domains */
	int32		basetypmod;
	char		category;		/* of the base type */
	bool		notnull;
	bool		unique;			/* under a UNIQUE constraint or index */
	bool		nulls_not_distinct; /* ... that treats NULLs as equal */
	int			width;			/* character limit, -1 if none */
	char		generated;		/* attgenerated */
	char		identity;		/* attidentity */
} ColumnInfo;

/* what a method sets every row's column to, as far as the checks care */
typedef enum MethodYield
{
	YIELDS_PER_ROW,				/* a value per row (or the column's volatile default) */
	YIELDS_NULL,				/* NULL */
	YIELDS_CONSTANT				/* one value for every row */
} MethodYield;

/* what a method's expression builder gets */
typedef struct MethodExprArgs
{
	ColumnInfo *ci;
	GdprKey    *key;
	const char *argument;		/* as stored */
	const char *alias;			/* of the row */
	const char *col;			/* alias.column */
	const char *coltype;		/* the column's type, qualified, with typmod */
} MethodExprArgs;

/* one anonymisation method */
typedef struct MethodDef
{
	const char *name;
	bool		takes_argument;

	/*
	 * Check that the method can anonymise the column; may replace
	 * *argument by the form to store.  Returns what it yields.
	 */
	MethodYield (*validate) (Relation rel, ColumnInfo *ci, const char *method,
							   const char **argument);
	/* the SQL expression the column is set to (palloc'd), or ... */
	char	   *(*expr) (MethodExprArgs *a);
	/* ... a fixed one */
	const char *fixed_expr;
} MethodDef;

static char *get_typ_typname(Oid typid);

/*
 * is_citext
 *		Whether a type is the citext extension's type (looked up by name,
 *		as it has no fixed OID).
 */
static bool
is_citext(Oid typid)
{
	char	   *name = get_typ_typname(typid);
	bool		result = (name != NULL && strcmp(name, "citext") == 0);

	return result;
}

/*
 * get_typ_typname
 *		Name of a type, or NULL.  (lsyscache has no such helper.)
 */
static char *
get_typ_typname(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	char	   *result;

	if (!HeapTupleIsValid(tup))
		return NULL;
	result = pstrdup(NameStr(((Form_pg_type) GETSTRUCT(tup))->typname));
	ReleaseSysCache(tup);
	return result;
}

/*
 * column_uniqueness
 *		Find whether a column is covered by a unique index (as a key column),
 *		and whether such an index treats NULLs as not distinct.
 */
static void
column_uniqueness(Relation rel, AttrNumber attnum, bool *unique, bool *nnd)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	*unique = false;
	*nnd = false;
	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index index;

		if (!HeapTupleIsValid(tup))
			continue;
		index = (Form_pg_index) GETSTRUCT(tup);
		if (index->indisunique)
		{
			for (int i = 0; i < index->indnkeyatts; i++)
			{
				if (index->indkey.values[i] == attnum)
				{
					*unique = true;
					if (index->indnullsnotdistinct)
						*nnd = true;
				}
			}
		}
		ReleaseSysCache(tup);
	}
	list_free(indexes);
}

/*
 * describe_column
 *		Fill a ColumnInfo for attname of rel; error if there is no such
 *		(user) column.
 */
static void
describe_column(Relation rel, const char *attname, ColumnInfo *ci)
{
	AttrNumber	attnum = InvalidAttrNumber;
	TupleDesc	tupdesc = RelationGetDescr(rel);
	Form_pg_attribute att = NULL;
	bool		typisvarlena;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(tupdesc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), attname) == 0)
		{
			attnum = a->attnum;
			att = a;
			break;
		}
	}
	if (att == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						attname, RelationGetRelationName(rel))));

	ci->attnum = attnum;
	ci->attname = NameStr(att->attname);
	ci->relname = RelationGetRelationName(rel);
	ci->typid = att->atttypid;
	ci->typmod = att->atttypmod;
	ci->basetypmod = att->atttypmod;
	ci->basetypid = getBaseTypeAndTypmod(att->atttypid, &ci->basetypmod);
	if (ci->typid != ci->basetypid && ci->typmod < 0)
		ci->typmod = -1;
	{
		char		typcategory;

		get_type_category_preferred(ci->basetypid, &typcategory, &typisvarlena);
		ci->category = typcategory;
	}
	ci->notnull = att->attnotnull;
	ci->generated = att->attgenerated;
	ci->identity = att->attidentity;
	column_uniqueness(rel, attnum, &ci->unique, &ci->nulls_not_distinct);
	ci->width = -1;
	if ((ci->basetypid == VARCHAROID || ci->basetypid == BPCHAROID) &&
		ci->basetypmod >= (int32) VARHDRSZ)
		ci->width = ci->basetypmod - VARHDRSZ;
}

/*
 * is_text_column
 *		Whether the column's base type is a string type (text, varchar,
 *		char, name, citext, ...).
 */
static bool
is_text_column(ColumnInfo *ci)
{
	return ci->category == TYPCATEGORY_STRING || is_citext(ci->basetypid);
}

/*
 * default_literal
 *		The fixed value of the "default" method for a NOT NULL column of a
 *		given base type, as a literal, or NULL when the type has none.
 */
static const char *
default_literal(ColumnInfo *ci)
{
	Oid			t = ci->basetypid;

	if (is_text_column(ci) || t == BYTEAOID)
		return "";
	if (t == INT2OID || t == INT4OID || t == INT8OID || t == NUMERICOID ||
		t == FLOAT4OID || t == FLOAT8OID || t == CASHOID || t == OIDOID)
		return "0";
	if (t == BOOLOID)
		return "false";
	if (t == DATEOID)
		return "1970-01-01";
	if (t == TIMESTAMPOID)
		return "1970-01-01 00:00";
	if (t == TIMESTAMPTZOID)
		return "1970-01-01 00:00+00";
	if (t == TIMEOID || t == TIMETZOID)
		return t == TIMEOID ? "00:00" : "00:00+00";
	if (t == INTERVALOID)
		return "0";
	if (t == INETOID || t == CIDROID)
		return "0.0.0.0/32";
	if (t == UUIDOID)
		return "00000000-0000-0000-0000-000000000000";
	if (t == JSONOID || t == JSONBOID)
		return "{}";
	if (type_is_array(t))
		return "{}";
	return NULL;
}

/*
 * default_has_keyed_form
 *		Whether "default" on a unique NOT NULL column of this type can derive
 *		a per-row value from the key (text types and uuid).
 */
static bool
default_has_keyed_form(ColumnInfo *ci)
{
	return is_text_column(ci) || ci->basetypid == UUIDOID;
}

/*
 * check_constant
 *		Check that a constant fits the column: its type's input function with
 *		the column's typmod (length limits), and the domain's CHECKs.
 */
static void
check_constant(ColumnInfo *ci, const char *value)
{
	Oid			typinput,
				typioparam;

	getTypeInputInfo(ci->typid, &typinput, &typioparam);
	(void) OidInputFunctionCall(typinput, (char *) value, typioparam, ci->typmod);
}

/*
 * refuse_unique
 *		Error for a method that gives every row the same value in a unique
 *		column.
 */
pg_noreturn static void
refuse_unique(ColumnInfo *ci, const char *method)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("anonymisation method \"%s\" would give every row the same value in unique column \"%s\" of relation \"%s\"",
					method, ci->attname, ci->relname),
			 errhint("Use \"null\", \"email\", \"hash\" or \"function\" for unique columns.")));
}

/*
 * refuse_null
 *		Error for a method that yields NULL on a column that refuses it.
 */
pg_noreturn static void
refuse_null(ColumnInfo *ci, const char *method)
{
	ereport(ERROR,
			(errcode(ERRCODE_NOT_NULL_VIOLATION),
			 errmsg("anonymisation method \"%s\" would set NOT NULL column \"%s\" of relation \"%s\" to null",
					method, ci->attname, ci->relname),
			 errhint("Use \"value\" or \"function\", or \"blank\" for text columns.")));
}

/*
 * refuse_type
 *		Error for a method that does not apply to the column's type.
 */
pg_noreturn static void
refuse_type(ColumnInfo *ci, const char *method)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("anonymisation method \"%s\" cannot be applied to column \"%s\" of type %s",
					method, ci->attname, format_type_be(ci->typid))));
}

/*
 * resolve_function
 *		Resolve the argument of the "function" method and check its shape:
 *		(coltype) or (coltype, text), returning coltype, not a set.
 *
 * Returns the function's OID.  Names are resolved with the pinned
 * search_path of gdpr's functions, so functions outside pg_catalog must be
 * schema-qualified.
 */
static Oid
resolve_function(ColumnInfo *ci, const char *argument)
{
	Oid			funcid;
	HeapTuple	tup;
	Form_pg_proc proc;
	bool		ok;
	const char *paren = strchr(argument, '(');
	char	   *schemaname;
	char	   *objname;

	/*
	 * A schema that does not exist is 3F000 on every major: from 16 on,
	 * regprocin and regprocedurein report it as a missing function.
	 */
	DeconstructQualifiedName(textToQualifiedNameList(cstring_to_text_with_len(argument,
																			  paren ? paren - argument : strlen(argument))),
							 &schemaname, &objname);
	if (schemaname != NULL)
		(void) LookupExplicitNamespace(schemaname, false);

	if (paren != NULL)
		funcid = DatumGetObjectId(DirectFunctionCall1(regprocedurein,
													  CStringGetDatum(argument)));
	else
		funcid = DatumGetObjectId(DirectFunctionCall1(regprocin,
													  CStringGetDatum(argument)));

	tup = OidIsValid(funcid) ? SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid)) : NULL;
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function \"%s\" does not exist", argument),
				 errhint("Name the function by its schema-qualified name or signature.")));
	proc = (Form_pg_proc) GETSTRUCT(tup);

	ok = (proc->prokind == PROKIND_FUNCTION && !proc->proretset &&
		  (proc->pronargs == 1 || proc->pronargs == 2) &&
		  (proc->proargtypes.values[0] == ci->typid ||
		   proc->proargtypes.values[0] == ci->basetypid) &&
		  (proc->pronargs == 1 || proc->proargtypes.values[1] == TEXTOID) &&
		  (proc->prorettype == ci->typid || proc->prorettype == ci->basetypid));
	ReleaseSysCache(tup);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("function %s cannot anonymise column \"%s\" of type %s",
						format_procedure(funcid), ci->attname, format_type_be(ci->typid)),
				 errdetail("An anonymisation function takes (old_value %s) or (old_value %s, key text) and returns %s.",
						   format_type_be(ci->typid), format_type_be(ci->typid),
						   format_type_be(ci->typid))));
	return funcid;
}

/*
 * cut_to_width
 *		Wrap a text expression in left(expr, width) when the column has a
 *		character limit.
 */
static char *
cut_to_width(ColumnInfo *ci, const char *expr)
{
	if (ci->width < 0)
		return pstrdup(expr);
	return psprintf("pg_catalog.\"left\"(%s, %d)", expr, ci->width);
}

/*
 * gdpr_params_add
 *		Append a parameter; returns its number ($n) for the SQL text.
 */
int
gdpr_params_add(GdprParams *params, Oid type, Datum value, bool isnull)
{
	if (params->n >= FUNC_MAX_ARGS)
		elog(ERROR, "too many parameters");
	params->types[params->n] = type;
	params->values[params->n] = value;
	params->nulls[params->n] = isnull ? 'n' : ' ';
	return ++params->n;
}

/*
 * gdpr_param_list
 *		n parameters of the types and values (nulls as for SPI: 'n' for a
 *		NULL, or NULL for none) as the ParamListInfo of
 *		SPI_execute_plan_extended, their values constants of the statement.
 */
ParamListInfo
gdpr_param_list(int n, const Oid *types, const Datum *values, const char *nulls)
{
	ParamListInfo list = makeParamList(n);

	for (int i = 0; i < n; i++)
	{
		ParamExternData *prm = &list->params[i];

		prm->value = values[i];
		prm->isnull = nulls != NULL && nulls[i] == 'n';
		prm->pflags = PARAM_FLAG_CONST;
		prm->ptype = types[i];
	}
	return list;
}

/*
 * stored_function
 *		The function named by a stored "function" argument (a
 *		schema-qualified signature, so search_path plays no part), or an
 *		error when it is gone.
 */
static Oid
stored_function(const char *signature)
{
	/* an error naming the signature (42883) when the function is gone */
	return DatumGetObjectId(DirectFunctionCall1(regprocedurein,
												CStringGetDatum(signature)));
}

/* ------------------------------------------------------------------------
 * The methods: one validator and one expression builder each
 * ------------------------------------------------------------------------
 */

/*
 * validate_default
 *		"default": NULL for a nullable column; for a NOT NULL one a value
 *		derived from the key in a unique text or uuid column, else a fixed
 *		value of the type (the first label of an enum).
 */
static MethodYield
validate_default(Relation rel, ColumnInfo *ci, const char *method,
				const char **argument)
{
	const char *lit;

	if (!ci->notnull)
		return YIELDS_NULL;
	lit = default_literal(ci);
	if (lit == NULL && !type_is_enum(ci->basetypid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("anonymisation method \"default\" has no value for NOT NULL column \"%s\" of type %s",
						ci->attname, format_type_be(ci->typid)),
				 errhint("Declare the method \"value\" or \"function\" for this column.")));
	if (ci->unique && !default_has_keyed_form(ci))
		return YIELDS_CONSTANT;
	if (!ci->unique && lit != NULL)
		check_constant(ci, lit);
	return ci->unique ? YIELDS_PER_ROW : YIELDS_CONSTANT;
}

/*
 * expr_default
 *		The expression of "default" (see validate_default).
 */
static char *
expr_default(MethodExprArgs *a)
{
	ColumnInfo *ci = a->ci;
	const char *lit;

	if (!ci->notnull)
		return pstrdup("NULL");
	if (ci->unique && is_text_column(ci))
		return psprintf("CAST(%s AS %s)", cut_to_width(ci, gdpr_key_text_expr(a->key, a->alias)),
						a->coltype);
	if (ci->unique && ci->basetypid == UUIDOID)
		return psprintf("CAST(CAST(pg_catalog.md5(%s) AS pg_catalog.uuid) AS %s)",
						gdpr_key_text_expr(a->key, a->alias), a->coltype);
	if (type_is_enum(ci->basetypid))
		return psprintf("CAST(pg_catalog.enum_first(CAST(NULL AS %s)) AS %s)",
						format_type_extended(ci->basetypid, -1, FORMAT_TYPE_FORCE_QUALIFY),
						a->coltype);
	lit = default_literal(ci);
	if (lit == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("anonymisation method \"default\" has no value for NOT NULL column \"%s\" of type %s",
						ci->attname, format_type_be(ci->typid))));
	return psprintf("CAST('%s' AS %s)", lit, a->coltype);
}

/*
 * validate_null
 *		"null": always NULL.
 */
static MethodYield
validate_null(Relation rel, ColumnInfo *ci, const char *method,
				const char **argument)
{
	return YIELDS_NULL;
}

/*
 * validate_blank
 *		"blank": the empty string of a text column, '{}' of an array or JSON
 *		column.
 */
static MethodYield
validate_blank(Relation rel, ColumnInfo *ci, const char *method,
				const char **argument)
{
	if (is_text_column(ci))
		check_constant(ci, "");
	else if (type_is_array(ci->basetypid) || ci->basetypid == JSONOID ||
			 ci->basetypid == JSONBOID)
		check_constant(ci, "{}");
	else
		refuse_type(ci, method);
	return YIELDS_CONSTANT;
}

/*
 * expr_blank
 *		The expression of "blank".
 */
static char *
expr_blank(MethodExprArgs *a)
{
	return psprintf("CAST('%s' AS %s)", is_text_column(a->ci) ? "" : "{}", a->coltype);
}

/*
 * validate_value
 *		"value": the constant given as argument, which must fit the column.
 */
static MethodYield
validate_value(Relation rel, ColumnInfo *ci, const char *method,
				const char **argument)
{
	check_constant(ci, *argument);
	return YIELDS_CONSTANT;
}

/*
 * expr_value
 *		The expression of "value": a quoted literal, so a statement needs no
 *		parameter for it however many columns it sets.
 */
static char *
expr_value(MethodExprArgs *a)
{
	return psprintf("CAST(CAST(%s AS pg_catalog.text) AS %s)",
					quote_literal_cstr(a->argument), a->coltype);
}

/*
 * validate_column_default
 *		"column_default": the column's DEFAULT (NULL without one).
 */
static MethodYield
validate_column_default(Relation rel, ColumnInfo *ci, const char *method,
				const char **argument)
{
	Node	   *expr = build_column_default(rel, ci->attnum);

	if (expr == NULL)
		return YIELDS_NULL;
	return contain_volatile_functions(expr) ? YIELDS_PER_ROW : YIELDS_CONSTANT;
}

/*
 * validate_function
 *		"function": a function of the column's type (resolve_function); the
 *		argument stored is its schema-qualified signature.
 */
static MethodYield
validate_function(Relation rel, ColumnInfo *ci, const char *method,
				const char **argument)
{
	*argument = format_procedure_qualified(resolve_function(ci, *argument));
	return YIELDS_PER_ROW;
}

/*
 * expr_function
 *		The expression of "function": a call with the arguments cast to the
 *		function's declared types, so that it resolves to this function, an
 *		exact match, and never to an overload created later (for a
 *		domain-typed column, say).
 */
static char *
expr_function(MethodExprArgs *a)
{
	Oid			funcid = stored_function(a->argument);
	char	   *fname = quote_qualified_identifier(get_namespace_name(get_func_namespace(funcid)),
												   get_func_name(funcid));
	Oid		   *argtypes;
	int			nargs;
	char	   *arg0;

	(void) get_func_signature(funcid, &argtypes, &nargs);
	arg0 = psprintf("CAST(%s AS %s)", a->col,
					format_type_extended(argtypes[0], -1, FORMAT_TYPE_FORCE_QUALIFY));
	if (nargs == 2)
		return psprintf("CAST(%s(%s, CAST(%s AS pg_catalog.text)) AS %s)", fname, arg0,
						gdpr_key_text_expr(a->key, a->alias), a->coltype);
	return psprintf("CAST(%s(%s) AS %s)", fname, arg0, a->coltype);
}

/*
 * validate_text_only
 *		"hash" and "email": text columns only.
 */
static MethodYield
validate_text_only(Relation rel, ColumnInfo *ci, const char *method,
				const char **argument)
{
	if (!is_text_column(ci))
		refuse_type(ci, method);
	return YIELDS_PER_ROW;
}

/*
 * expr_hash
 *		The expression of "hash": the keyed pseudonym of the old value.
 */
static char *
expr_hash(MethodExprArgs *a)
{
	return psprintf("CAST(%s AS %s)",
					cut_to_width(a->ci, psprintf("gdpr.pseudonym(CAST(%s AS pg_catalog.text))",
												 a->col)),
					a->coltype);
}

/*
 * expr_email
 *		The expression of "email": the key at the anonymised domain.
 */
static char *
expr_email(MethodExprArgs *a)
{
	return psprintf("CAST(%s AS %s)",
					cut_to_width(a->ci, psprintf("(%s OPERATOR(pg_catalog.||) '@%s')",
												 gdpr_key_text_expr(a->key, a->alias),
												 GDPR_ANONYMISED_DOMAIN)),
					a->coltype);
}

/* the methods, in the order the documentation and the messages list them */
static const MethodDef methods[] = {
	{"default", false, validate_default, expr_default, NULL},
	{"null", false, validate_null, NULL, "NULL"},
	{"blank", false, validate_blank, expr_blank, NULL},
	{"value", true, validate_value, expr_value, NULL},
	{"column_default", false, validate_column_default, NULL, "DEFAULT"},
	{"function", true, validate_function, expr_function, NULL},
	{"hash", false, validate_text_only, expr_hash, NULL},
	{"email", false, validate_text_only, expr_email, NULL},
};

/*
 * find_method
 *		The method called name, or NULL.
 */
static const MethodDef *
find_method(const char *name)
{
	for (int i = 0; i < lengthof(methods); i++)
		if (strcmp(name, methods[i].name) == 0)
			return &methods[i];
	return NULL;
}

/*
 * gdpr_method_known
 *		Whether name is an anonymisation method.
 */
bool
gdpr_method_known(const char *name)
{
	return find_method(name) != NULL;
}

/*
 * gdpr_method_list
 *		The methods for messages: "\"default\", \"null\", ... and \"email\"".
 */
char *
gdpr_method_list(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < lengthof(methods); i++)
		appendStringInfo(&buf, "%s\"%s\"",
						 i == 0 ? "" : (i == lengthof(methods) - 1 ? " and " : ", "),
						 methods[i].name);
	return buf.data;
}

/*
 * gdpr_method_validate
 *		Check that method (with argument) can anonymise column attname of
 *		rel.
 *
 * Returns the argument to store: NULL for methods without one, the
 * schema-qualified signature for "function", the constant for "value".
 * Errors out, with a hint where one helps, when the declaration cannot
 * work for every row.
 */
char *
gdpr_method_validate(Relation rel, const char *attname, const char *method,
					 const char *argument)
{
	const MethodDef *def = find_method(method);
	ColumnInfo	ci;
	GdprKey    *key = gdpr_key_lookup(RelationGetRelid(rel), false);
	MethodYield yield;

	if (def == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized anonymisation method: \"%s\"", method),
				 errdetail("Valid methods are %s.", gdpr_method_list())));

	describe_column(rel, attname, &ci);

	if (gdpr_key_is_key_column(key, ci.attnum))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" of relation \"%s\" is part of its primary key",
						attname, ci.relname),
				 errdetail("Key columns identify the row and cannot be anonymised.")));
	if (ci.generated != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_DEFINITION),
				 errmsg("column \"%s\" of relation \"%s\" is a generated column",
						attname, ci.relname),
				 errdetail("A generated column cannot be written; anonymise the columns it is computed from.")));
	if (ci.identity != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_COLUMN_DEFINITION),
				 errmsg("column \"%s\" of relation \"%s\" is an identity column",
						attname, ci.relname),
				 errdetail("Identity columns hold generated numbers, not personal data, and cannot be anonymised.")));

	if (def->takes_argument && argument == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("anonymisation method \"%s\" requires an argument", method)));
	if (!def->takes_argument && argument != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("anonymisation method \"%s\" takes no argument", method)));

	yield = def->validate(rel, &ci, method, &argument);
	if (yield == YIELDS_NULL && ci.notnull)
		refuse_null(&ci, method);
	if ((yield == YIELDS_NULL && ci.nulls_not_distinct) ||
		(yield == YIELDS_CONSTANT && ci.unique))
		refuse_unique(&ci, method);

	return argument ? pstrdup(argument) : NULL;
}

/*
 * gdpr_method_expr
 *		The SQL expression that the column of field is set to, for the row
 *		named by alias.
 *
 * Returns palloc'd SQL text; "DEFAULT" for column_default.
 */
char *
gdpr_method_expr(Relation rel, GdprKey *key, GdprField *field, const char *alias)
{
	const MethodDef *def = find_method(field->method);
	ColumnInfo	ci;
	MethodExprArgs a;

	if (def == NULL)
		elog(ERROR, "unrecognized anonymisation method \"%s\" in the registry", field->method);
	if (def->fixed_expr != NULL)
		return pstrdup(def->fixed_expr);
	describe_column(rel, field->attname, &ci);
	a.ci = &ci;
	a.key = key;
	a.argument = field->argument;
	a.alias = alias;
	a.coltype = format_type_extended(ci.typid, ci.typmod,
									 FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
	a.col = psprintf("%s.%s", quote_identifier(alias), quote_identifier(ci.attname));
	return def->expr(&a);
}
