/*-------------------------------------------------------------------------
 *
 * declare.c
 *	  The declarative form of the registry: SECURITY LABEL FOR gdpr and
 *	  COMMENT ... IS '... gdpr: {...}' on tables, columns and constraints.
 *
 * A declaration is a JSON object.  It is written either as the whole of a
 * security label of the provider "gdpr" (tables and columns), or in a
 * comment after the marker "gdpr:" (tables, columns and table
 * constraints).  The marker counts where it starts the comment or follows a
 * character that cannot be part of a word (so "nogdpr:" is no marker); the
 * JSON text is everything after the first marker up to the end of the
 * comment, so the marker must come last: 'Full name. gdpr: {"pii": true}'.
 *
 * What a user can expect:
 *
 * - A declaration is checked completely before anything is written: its
 *   syntax (PostgreSQL's JSON parser, which knows exactly where an error
 *   is; cJSON then builds the tree), then every key and value.  A malformed declaration fails the
 *   statement that declares it, with "at character N" in the DETAIL (N is
 *   1-based, in characters, counted from the first non-blank character of
 *   the JSON text; an error at the end of the input is its length plus
 *   one), and, since it is one statement, nothing at all is registered.
 *   Errors from the core's validation (a null method on a NOT NULL column,
 *   say) also fail the statement, with a CONTEXT line naming the
 *   declaration.
 *
 * - Applying a declaration makes the catalog match it; applying it again
 *   changes nothing further.  The rows it writes carry declared = true.
 *
 * - A column's declaration is the whole of that column's entry: "pii",
 *   "anonymise" (a method; implies "pii": true; without it a PII column
 *   gets the method 'default'), "value" / "function" (the argument, only
 *   with those methods; a "value" may also be a JSON number or boolean,
 *   taken as written) and "search".  So {} or {"pii": false} says the
 *   column holds no personal data (it stays a search field with
 *   "search": true), and {"search": true} alone makes a column a search
 *   field that is not PII.  A column declaration alone registers its table
 *   with the defaults.
 *
 * - "export" on a column is different: whether a column is exported lives in
 *   its table's export lists, which the table's declaration owns.  So a
 *   column declaration without "export" leaves the column's export as it is;
 *   when a key "export" disappears from a column's declaration (or the
 *   declaration is removed), the column is exported again.  After a table
 *   declaration is applied, the "export" keys of its columns' declarations
 *   are applied again on top of it.
 *
 * - A table's declaration is the whole of the table's options: keys left
 *   out take their defaults ("can_anonymise": true, every column exported,
 *   nothing excluded, no retention policy, "scrub": "anonymise").
 *   {"ignore": true} (alone) says the table holds no personal data: it is
 *   not registered but ignored (classify.c), at once, primary key or not.
 *
 * - A column declared not PII ({} or {"pii": false}) is classified not_pii;
 *   removing its declaration removes that classification too.
 *
 * - A constraint's declaration is the whole of that foreign key's rules:
 *   {"on_delete": "anonymise"} without "export" removes an export-follow
 *   rule, and the other way round.
 *
 * - Removing the declaration (SECURITY LABEL ... IS NULL, a comment without
 *   the marker, or COMMENT ... IS NULL) takes the object out: a column
 *   leaves the registry (its table stays registered), a table is
 *   unregistered, a constraint loses its rules.  When the object still has
 *   a declaration in the other place (a comment when its label is removed,
 *   or the other way round), that one applies instead.  A comment that never
 *   held the marker is none of gdpr's business, whatever changes.
 *
 * - Declarations and the SQL functions (gdpr.register, set_anonymiser, ...)
 *   write the same catalog: the latest statement wins.
 *
 * - In a database where the extension is not installed, comments are left
 *   alone, and a SECURITY LABEL FOR gdpr is an error.
 *
 * - SECURITY LABEL and COMMENT require ownership of the object, and that is
 *   all a declaration takes: the owner of a table declares on it without
 *   EXECUTE on gdpr's functions (a migration run by the application's role
 *   can declare its tables).  The core's functions check ownership again.
 *
 * - A declaration on a table without a primary key waits for one (a
 *   NOTICE says so): only tables with a primary key can be registered.  It
 *   is applied when ALTER TABLE adds the primary key, unless the table is
 *   registered by then.
 *
 * Dumps: pg_dump writes a table's labels and comments right after its
 * CREATE TABLE, restores the extension's registry tables with the data, and
 * adds primary keys after that.  So during a restore the declarations wait;
 * with a full dump the restored registry rows (declared ones included)
 * hold the exact state, later function calls included, and the waiting
 * declarations leave those tables alone; with a schema-only dump the
 * declarations rebuild the registry when the primary keys arrive.  A
 * foreign key's comment comes after the foreign key, and applies
 * idempotently (so a rule that a function dropped after the comment
 * declared it comes back: change the comment instead).  Where a table or
 * column has both a label and a comment declaration, a rebuild takes the
 * label.  Restoring a dump with SECURITY LABEL FOR gdpr needs the
 * gdpr library loaded in the restoring session (shared_preload_libraries,
 * or session_preload_libraries for the restoring role): without it the
 * label provider does not exist and the label is refused.  A comment
 * restored without the library is stored but not applied.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/declare.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include <cjson/cJSON.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "commands/comment.h"
#include "commands/extension.h"
#include "commands/seclabel.h"
#include "common/hashfn.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lock.h"
#include "storage/lockdefs.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "gdpr.h"

#define GDPR_LABEL_PROVIDER		"gdpr"
#define GDPR_COMMENT_MARKER		"gdpr:"

/* deepest nesting of arrays and objects a declaration may have */
#define GDPR_DECL_MAX_DEPTH		100

/* what a declaration is attached to */
typedef enum DeclKind
{
	DECL_TABLE,
	DECL_COLUMN,
	DECL_CONSTRAINT
} DeclKind;

/* the object a declaration is about */
typedef struct DeclTarget
{
	DeclKind	kind;
	Oid			relid;
	AttrNumber	attnum;			/* DECL_COLUMN */
	Oid			conoid;			/* DECL_CONSTRAINT */
	char	   *relname;		/* for messages */
	char	   *name;			/* column or constraint name */
} DeclTarget;

/* a column's declaration, checked */
typedef struct ColumnDecl
{
	bool		pii;
	char	   *method;			/* NULL: 'default' when pii */
	char	   *argument;
	bool		search;
	bool		has_export;
	bool		export;
} ColumnDecl;

/* a table's declaration, checked */
typedef struct TableDecl
{
	bool		can_anonymise;
	bool		export_all;
	List	   *export_fields;	/* char * */
	List	   *export_exclude; /* char * */
	char	   *retention_column;	/* NULL: no "retention" */
	Interval   *retention_keep;
	char	   *retention_action;
	char	   *scrub_action;	/* what a scrub does with the table */
	bool		ignore;			/* "ignore": true: holds no personal data */
} TableDecl;

/* a constraint's declaration, checked */
typedef struct ConstraintDecl
{
	bool		on_delete_anonymise;
	bool		export_follow;
} ConstraintDecl;

/* one member of the top-level object, with where it is in the text */
typedef struct DeclMember
{
	const char *key;
	cJSON	   *value;
	int			keyoff;			/* byte offset of the key's opening quote */
	int			valoff;			/* byte offset of the value's first byte */
	int			valend;			/* byte offset just past the value */
} DeclMember;

/* a parsed declaration */
typedef struct Decl
{
	const char *text;			/* the JSON text, from its first non-blank */
	const DeclTarget *target;
	cJSON	   *root;
	int			nmembers;
	DeclMember *members;
} Decl;

/* the anonymisation methods of SPEC 2; keep in line with methods.c */
static const char *const known_methods[] = {
	"default", "null", "blank", "value", "column_default", "function",
	"hash", "email", NULL
};

/* Saved hook values */
static ProcessUtility_hook_type prev_ProcessUtility = NULL;

/* Local state */
static bool cjson_hooks_installed = false;

static void gdpr_label_hook(const ObjectAddress *object, const char *seclabel);
static void gdpr_declare_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
										bool readOnlyTree,
										ProcessUtilityContext context,
										ParamListInfo params,
										QueryEnvironment *queryEnv,
										DestReceiver *dest, QueryCompletion *qc);


/*
 * cjson_palloc
 *		cJSON's allocator hook: memory in CurrentMemoryContext.
 *
 * With these, a tree that an ereport(ERROR) skips the cJSON_Delete of goes
 * away with its memory context instead of leaking.  palloc never returns
 * NULL: running out of memory is an ERROR.
 */
static void *
cjson_palloc(size_t size)
{
	return palloc(size);
}

/*
 * cjson_pfree
 *		See cjson_palloc.  Every other user of cJSON in the library must
 *		free what cJSON returns with cJSON_free (or pfree), never free().
 */
static void
cjson_pfree(void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

/*
 * gdpr_declare_init
 *		Register the label provider "gdpr", chain the ProcessUtility hook
 *		that reads comments, and route cJSON's allocations through palloc.
 *
 * Called from _PG_init, in every process that loads the library.  The
 * cJSON hooks are process-global, so they are installed once, before any
 * cJSON call of any file.
 */
void
gdpr_declare_init(void)
{
	if (!cjson_hooks_installed)
	{
		cJSON_Hooks hooks;

		hooks.malloc_fn = cjson_palloc;
		hooks.free_fn = cjson_pfree;
		cJSON_InitHooks(&hooks);
		cjson_hooks_installed = true;
	}

	register_label_provider(GDPR_LABEL_PROVIDER, gdpr_label_hook);

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = gdpr_declare_ProcessUtility;
}

/* ------------------------------------------------------------------------
 * Finding the JSON text
 * ------------------------------------------------------------------------
 */

/*
 * is_json_blank
 *		Whether c is JSON whitespace.
 */
static inline bool
is_json_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * skip_blanks
 *		Return s advanced past JSON whitespace.
 */
static const char *
skip_blanks(const char *s)
{
	while (is_json_blank(*s))
		s++;
	return s;
}

/*
 * comment_declaration
 *		Return the JSON text of the gdpr declaration in a comment, or NULL.
 *
 * The text starts at the first non-blank character after the marker (it may
 * be empty); it points into comment.  A marker counts at the start of the
 * comment or after a character that is neither alphanumeric nor '_'
 * (bytes >= 0x80 count as word characters, so a multibyte letter before
 * "gdpr:" makes no marker either).
 */
static const char *
comment_declaration(const char *comment)
{
	const char *p = comment;

	if (comment == NULL)
		return NULL;

	while ((p = strstr(p, GDPR_COMMENT_MARKER)) != NULL)
	{
		if (p == comment)
			break;
		else
		{
			unsigned char prev = (unsigned char) p[-1];

			if (!(isalnum(prev) || prev == '_' || prev >= 0x80))
				break;
		}
		p += strlen(GDPR_COMMENT_MARKER);
	}
	if (p == NULL)
		return NULL;
	return skip_blanks(p + strlen(GDPR_COMMENT_MARKER));
}

/*
 * label_declaration
 *		Return the JSON text of a gdpr label (from its first non-blank), or
 *		NULL for no label.
 */
static const char *
label_declaration(const char *label)
{
	if (label == NULL)
		return NULL;
	return skip_blanks(label);
}

/* ------------------------------------------------------------------------
 * Parsing and errors
 * ------------------------------------------------------------------------
 */

/*
 * target_description
 *		'column "email" of relation "person"' and the like, for messages.
 *
 * The result is palloc'd.
 */
static char *
target_description(const DeclTarget *target)
{
	switch (target->kind)
	{
		case DECL_TABLE:
			return psprintf("relation \"%s\"", target->relname);
		case DECL_COLUMN:
			return psprintf("column \"%s\" of relation \"%s\"",
							target->name, target->relname);
		case DECL_CONSTRAINT:
			return psprintf("constraint \"%s\" of relation \"%s\"",
							target->name, target->relname);
	}
	return NULL;				/* keep compiler quiet */
}

/*
 * decl_error
 *		Raise the error for a malformed declaration.
 *
 * byteoff is the byte offset of the error in decl->text; the DETAIL gives
 * it as a 1-based character position.  reason is a sentence fragment
 * ("Unknown key \"x\""), hint may be NULL.  Does not return.
 */
pg_noreturn static void
decl_error(const char *text, const DeclTarget *target, int sqlstate,
		   int byteoff, const char *reason, const char *hint)
{
	int			charpos = pg_mbstrlen_with_len(text, byteoff) + 1;

	ereport(ERROR,
			errcode(sqlstate),
			errmsg("invalid gdpr declaration for %s", target_description(target)),
			errdetail("%s at character %d.", reason, charpos),
			hint ? errhint("%s", hint) : 0);
	pg_unreachable();
}

/*
 * skip_json_string
 *		Return the offset just past the JSON string starting at s[i] ('"').
 *
 * Only used on text the JSON parser has accepted.
 */
static int
skip_json_string(const char *s, int i)
{
	i++;
	while (s[i] != '\0' && s[i] != '"')
	{
		if (s[i] == '\\' && s[i + 1] != '\0')
			i++;
		i++;
	}
	return s[i] == '"' ? i + 1 : i;
}

/*
 * skip_json_value
 *		Return the offset just past the JSON value starting at s[i].
 *
 * Only used on text the JSON parser has accepted, so a plain bracket count
 * does.
 */
static int
skip_json_value(const char *s, int i)
{
	if (s[i] == '"')
		return skip_json_string(s, i);
	if (s[i] == '{' || s[i] == '[')
	{
		int			depth = 0;

		while (s[i] != '\0')
		{
			if (s[i] == '"')
			{
				i = skip_json_string(s, i);
				continue;
			}
			if (s[i] == '{' || s[i] == '[')
				depth++;
			else if (s[i] == '}' || s[i] == ']')
			{
				if (--depth == 0)
					return i + 1;
			}
			i++;
		}
		return i;
	}
	while (s[i] != '\0' && s[i] != ',' && s[i] != '}' && s[i] != ']' &&
		   !is_json_blank(s[i]))
		i++;
	return i;
}

/*
 * skip_json_blanks
 *		Return the offset of the first non-blank at or after s[i].
 */
static int
skip_json_blanks(const char *s, int i)
{
	while (is_json_blank(s[i]))
		i++;
	return i;
}

/*
 * array_element_offset
 *		Byte offset of element n (0-based) of the JSON array at s[i].
 */
static int
array_element_offset(const char *s, int i, int n)
{
	i = skip_json_blanks(s, i + 1);
	while (n-- > 0)
	{
		i = skip_json_value(s, i);
		i = skip_json_blanks(s, i);
		if (s[i] == ',')
			i = skip_json_blanks(s, i + 1);
	}
	return i;
}

/*
 * check_json_depth
 *		Raise the error for a malformed declaration if text nests arrays and
 *		objects deeper than GDPR_DECL_MAX_DEPTH; the position is that of the
 *		first bracket too deep.
 *
 * Runs before the JSON parsers: PostgreSQL's is recursive and would fail
 * a deep enough text with "stack depth limit exceeded" (which is no error
 * about the declaration, so a stored one could never be replaced), and
 * cJSON stops at CJSON_NESTING_LIMIT without saying why.  A declaration
 * never nests deeper than an array in an object.  Brackets inside strings
 * do not count; the text need not be valid JSON (the parser checks that
 * next, so a deep text with an earlier syntax error reports the depth).
 */
static void
check_json_depth(const char *text, const DeclTarget *target)
{
	int			depth = 0;
	bool		instring = false;

	for (int i = 0; text[i] != '\0'; i++)
	{
		char		c = text[i];

		if (instring)
		{
			if (c == '\\' && text[i + 1] != '\0')
				i++;
			else if (c == '"')
				instring = false;
		}
		else if (c == '"')
			instring = true;
		else if (c == '{' || c == '[')
		{
			if (++depth > GDPR_DECL_MAX_DEPTH)
				decl_error(text, target, ERRCODE_INVALID_TEXT_REPRESENTATION, i,
						   psprintf("The JSON text nests deeper than %d levels",
									GDPR_DECL_MAX_DEPTH),
						   NULL);
		}
		else if (c == '}' || c == ']')
			depth--;
	}
}

/*
 * check_json_syntax
 *		Raise the error for a malformed declaration if text is not valid
 *		JSON; the position is that of the token in error, or the end of the
 *		text when the text ends too early.
 */
static void
check_json_syntax(const char *text, const DeclTarget *target)
{
	int			len = strlen(text);
	JsonLexContext *lex;
	JsonParseErrorType err;
	int			byteoff;
	char	   *reason;

	if (len == 0)
		decl_error(text, target, ERRCODE_INVALID_TEXT_REPRESENTATION, 0,
				   "The JSON text is empty", NULL);
	check_json_depth(text, target);

	lex = gdpr_json_lex_cstring_len(unconstify(char *, text), len,
									GetDatabaseEncoding(), true);
	err = pg_parse_json(lex, &nullSemAction);
	if (err == JSON_SUCCESS)
		return;

	if (lex->token_start == NULL ||
		(err == JSON_INVALID_TOKEN && lex->token_start[0] == '"' &&
		 lex->token_terminator >= text + len))
	{
		/* ran out of text, possibly inside a string */
		byteoff = len;
		reason = "The JSON text ends unexpectedly";
	}
	else
	{
		byteoff = lex->token_start - text;
		/* point at the backslash of a bad escape, not the character after */
		if (err == JSON_ESCAPING_INVALID && byteoff > 0 && text[byteoff - 1] == '\\')
			byteoff--;
		/* may be a string constant: copy before cutting the period */
		reason = pstrdup(json_errdetail(err, lex));
		/* "... is invalid." becomes "... is invalid at character N." */
		if (reason[0] != '\0' && reason[strlen(reason) - 1] == '.')
			reason[strlen(reason) - 1] = '\0';
	}
	decl_error(text, target, ERRCODE_INVALID_TEXT_REPRESENTATION, byteoff,
			   reason, NULL);
}

/*
 * key_hash
 *		HTAB hash function over a pointer to a NUL-terminated string.
 */
static uint32
key_hash(const void *key, Size keysize)
{
	const char *k = *(char *const *) key;

	return hash_bytes((const unsigned char *) k, strlen(k));
}

/*
 * key_match
 *		HTAB match function over pointers to NUL-terminated strings.
 */
static int
key_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/*
 * parse_declaration
 *		Parse the JSON text of a declaration about target.
 *
 * text starts at the first non-blank character of the JSON text.  Returns
 * the parsed declaration; its top level is an object whose members are
 * listed with their positions, and no key appears twice.  A syntax error,
 * a top level that is not an object or a repeated key raises the error for
 * a malformed declaration.  Everything is palloc'd in the current context.
 */
static Decl *
parse_declaration(const char *text, const DeclTarget *target)
{
	Decl	   *decl = palloc0(sizeof(Decl));
	const char *end = NULL;
	cJSON	   *item;
	int			off;
	int			n;
	HASHCTL		ctl;
	HTAB	   *seen;
	bool		found;

	decl->text = text;
	decl->target = target;

	/*
	 * Check the syntax with PostgreSQL's own JSON parser first: it is strict
	 * (RFC 8259, as the json type), it knows the database encoding, it
	 * refuses \u0000 (which cJSON would cut a string at), and it tells
	 * exactly which token is wrong.  cJSON then builds the tree.
	 */
	check_json_syntax(text, target);

	decl->root = cJSON_ParseWithOpts(text, &end, true);
	if (decl->root == NULL)
	{
		/* only where cJSON is stricter, e.g. nesting deeper than 1000 */
		int			byteoff;

		if (end == NULL)
			end = cJSON_GetErrorPtr();
		byteoff = end ? (int) (end - text) : 0;
		if (byteoff < 0 || byteoff > (int) strlen(text))
			byteoff = strlen(text);
		decl_error(text, target, ERRCODE_INVALID_TEXT_REPRESENTATION, byteoff,
				   "The JSON text cannot be parsed", NULL);
	}
	if (!cJSON_IsObject(decl->root))
		decl_error(text, target, ERRCODE_INVALID_PARAMETER_VALUE, 0,
				   "The declaration must be a JSON object", NULL);

	n = cJSON_GetArraySize(decl->root);
	decl->members = palloc0(sizeof(DeclMember) * Max(n, 1));
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(char *);
	ctl.hash = key_hash;
	ctl.match = key_match;
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("gdpr declaration keys", Max(n, 1), &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);

	off = skip_json_blanks(text, 0);
	Assert(text[off] == '{');
	off = skip_json_blanks(text, off + 1);

	cJSON_ArrayForEach(item, decl->root)
	{
		DeclMember *m = &decl->members[decl->nmembers];

		m->key = item->string;
		m->value = item;
		m->keyoff = off;
		off = skip_json_string(text, off);
		off = skip_json_blanks(text, off);
		Assert(text[off] == ':');
		off = skip_json_blanks(text, off + 1);
		m->valoff = off;
		off = skip_json_value(text, off);
		m->valend = off;
		off = skip_json_blanks(text, off);
		if (text[off] == ',')
			off = skip_json_blanks(text, off + 1);

		/* a hash, not a scan of the earlier keys: any number of keys is linear */
		CHECK_FOR_INTERRUPTS();
		(void) hash_search(seen, &m->key, HASH_ENTER, &found);
		if (found)
			decl_error(text, target, ERRCODE_INVALID_PARAMETER_VALUE, m->keyoff,
					   psprintf("Key \"%s\" appears twice", m->key), NULL);
		decl->nmembers++;
	}
	hash_destroy(seen);
	return decl;
}

/*
 * member_error
 *		Raise the error for a member whose value is wrong.  Does not return.
 */
pg_noreturn static void
member_error(Decl *decl, DeclMember *m, const char *reason, const char *hint)
{
	decl_error(decl->text, decl->target, ERRCODE_INVALID_PARAMETER_VALUE,
			   m->valoff, reason, hint);
}

/*
 * unknown_key
 *		Raise the error for a key that this kind of object does not take.
 */
pg_noreturn static void
unknown_key(Decl *decl, DeclMember *m, const char *valid)
{
	decl_error(decl->text, decl->target, ERRCODE_INVALID_PARAMETER_VALUE,
			   m->keyoff, psprintf("Unknown key \"%s\"", m->key),
			   psprintf("Valid keys are %s.", valid));
}

/*
 * member_bool
 *		The boolean value of m, or the error naming its key.
 */
static bool
member_bool(Decl *decl, DeclMember *m)
{
	if (!cJSON_IsBool(m->value))
		member_error(decl, m, psprintf("Key \"%s\" takes true or false", m->key),
					 NULL);
	return cJSON_IsTrue(m->value);
}

/*
 * member_string
 *		The string value of m (palloc'd), or the error naming its key.
 */
static char *
member_string(Decl *decl, DeclMember *m)
{
	if (!cJSON_IsString(m->value) || m->value->valuestring == NULL)
		member_error(decl, m, psprintf("Key \"%s\" takes a string", m->key), NULL);
	return pstrdup(m->value->valuestring);
}

/*
 * member_name_list
 *		The column names in the array m, each once (in the order of their
 *		first appearance), or the error naming its key.
 *
 * JSON null gives *isnull = true (when allow_null), NIL otherwise.  A name
 * written many times is kept once, so what is stored stays bounded by the
 * table's columns (the core refuses names that are no column).
 */
static List *
member_name_list(Decl *decl, DeclMember *m, bool allow_null, bool *isnull)
{
	List	   *result = NIL;
	cJSON	   *elem;
	int			i = 0;
	HASHCTL		ctl;
	HTAB	   *seen;
	bool		found;

	*isnull = false;
	if (allow_null && cJSON_IsNull(m->value))
	{
		*isnull = true;
		return NIL;
	}
	if (!cJSON_IsArray(m->value))
		member_error(decl, m,
					 psprintf("Key \"%s\" takes an array of column names", m->key),
					 NULL);
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(char *);
	ctl.hash = key_hash;
	ctl.match = key_match;
	ctl.hcxt = CurrentMemoryContext;
	seen = hash_create("gdpr declaration names", 64, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	cJSON_ArrayForEach(elem, m->value)
	{
		if (!cJSON_IsString(elem) || elem->valuestring == NULL ||
			elem->valuestring[0] == '\0')
			decl_error(decl->text, decl->target, ERRCODE_INVALID_PARAMETER_VALUE,
					   array_element_offset(decl->text, m->valoff, i),
					   psprintf("Key \"%s\" takes an array of column names", m->key),
					   NULL);
		CHECK_FOR_INTERRUPTS();
		(void) hash_search(seen, &elem->valuestring, HASH_ENTER, &found);
		if (!found)
			result = lappend(result, pstrdup(elem->valuestring));
		i++;
	}
	hash_destroy(seen);
	return result;
}

/* ------------------------------------------------------------------------
 * Checking declarations
 * ------------------------------------------------------------------------
 */

/*
 * check_column_decl
 *		Check a column's declaration and return what it says.
 *
 * Every key and value is checked here, with its position; what depends on
 * the column (NOT NULL, UNIQUE, types, the function named) is checked by
 * the core when the declaration is applied.
 */
static ColumnDecl *
check_column_decl(Decl *decl)
{
	ColumnDecl *cd = palloc0(sizeof(ColumnDecl));
	DeclMember *pii = NULL,
			   *anonymise = NULL,
			   *value = NULL,
			   *function = NULL;

	for (int i = 0; i < decl->nmembers; i++)
	{
		DeclMember *m = &decl->members[i];

		if (strcmp(m->key, "pii") == 0)
		{
			cd->pii = member_bool(decl, m);
			pii = m;
		}
		else if (strcmp(m->key, "anonymise") == 0)
		{
			bool		known = false;

			cd->method = member_string(decl, m);
			for (const char *const *k = known_methods; *k; k++)
				if (strcmp(*k, cd->method) == 0)
					known = true;
			if (!known)
				member_error(decl, m,
							 psprintf("Unknown anonymisation method \"%s\" for key \"anonymise\"",
									  cd->method),
							 "Valid methods are \"default\", \"null\", \"blank\", \"value\", "
							 "\"column_default\", \"function\", \"hash\" and \"email\".");
			anonymise = m;
		}
		else if (strcmp(m->key, "value") == 0)
		{
			/* a constant: a string, or a number or boolean as written */
			if (cJSON_IsString(m->value))
				cd->argument = pstrdup(m->value->valuestring);
			else if (cJSON_IsNumber(m->value) || cJSON_IsBool(m->value))
				cd->argument = pnstrdup(decl->text + m->valoff, m->valend - m->valoff);
			else
				member_error(decl, m,
							 "Key \"value\" takes a string, a number or a boolean", NULL);
			value = m;
		}
		else if (strcmp(m->key, "function") == 0)
		{
			/* resolved when applied, by the rule of set_anonymiser */
			cd->argument = member_string(decl, m);
			function = m;
		}
		else if (strcmp(m->key, "search") == 0)
			cd->search = member_bool(decl, m);
		else if (strcmp(m->key, "export") == 0)
		{
			cd->export = member_bool(decl, m);
			cd->has_export = true;
		}
		else
			unknown_key(decl, m, "\"pii\", \"anonymise\", \"value\", \"function\", "
						"\"search\" and \"export\"");
	}

	if (anonymise != NULL)
	{
		if (pii != NULL && !cd->pii)
			member_error(decl, anonymise,
						 "Key \"anonymise\" contradicts \"pii\": false", NULL);
		cd->pii = true;
	}
	if (value != NULL && function != NULL)
		decl_error(decl->text, decl->target, ERRCODE_INVALID_PARAMETER_VALUE,
				   Max(value->keyoff, function->keyoff),
				   "Keys \"value\" and \"function\" exclude each other", NULL);
	if (value != NULL && (cd->method == NULL || strcmp(cd->method, "value") != 0))
		decl_error(decl->text, decl->target, ERRCODE_INVALID_PARAMETER_VALUE,
				   value->keyoff,
				   "Key \"value\" is only allowed with \"anonymise\": \"value\"", NULL);
	if (function != NULL && (cd->method == NULL || strcmp(cd->method, "function") != 0))
		decl_error(decl->text, decl->target, ERRCODE_INVALID_PARAMETER_VALUE,
				   function->keyoff,
				   "Key \"function\" is only allowed with \"anonymise\": \"function\"", NULL);
	if (cd->method != NULL && strcmp(cd->method, "value") == 0 && value == NULL)
		member_error(decl, anonymise,
					 "Method \"value\" needs the key \"value\"", NULL);
	if (cd->method != NULL && strcmp(cd->method, "function") == 0 && function == NULL)
		member_error(decl, anonymise,
					 "Method \"function\" needs the key \"function\"", NULL);
	return cd;
}

/*
 * member_retention
 *		Check the value of the table key "retention", {"column": ...,
 *		"keep": "90 days", "action": "delete"} ("action" may be left out:
 *		"anonymise"), into td.  What depends on the table (the column and
 *		its type, whether its rows can be anonymised) is checked when the
 *		declaration is applied, by gdpr_retention_set.
 */
static void
member_retention(Decl *decl, DeclMember *m, TableDecl *td)
{
	cJSON	   *item;
	const char *hint = "Write {\"column\": \"last_seen\", \"keep\": \"90 days\", \"action\": \"delete\"}.";

	if (!cJSON_IsObject(m->value))
		member_error(decl, m, "Key \"retention\" takes an object", hint);
	td->retention_action = "anonymise";
	cJSON_ArrayForEach(item, m->value)
	{
		if (strcmp(item->string, "column") != 0 && strcmp(item->string, "keep") != 0 &&
			strcmp(item->string, "action") != 0)
			member_error(decl, m, psprintf("Key \"retention\" has an unknown key \"%s\"",
										   item->string), hint);
		if (!cJSON_IsString(item) || item->valuestring == NULL)
			member_error(decl, m, psprintf("Key \"retention\": \"%s\" takes a string",
										   item->string), hint);
		if (strcmp(item->string, "column") == 0)
			td->retention_column = pstrdup(item->valuestring);
		else if (strcmp(item->string, "keep") == 0)
		{
			MemoryContext cxt = CurrentMemoryContext;

			/* the interval's own parser; its error becomes this key's */
			PG_TRY();
			{
				td->retention_keep =
					DatumGetIntervalP(DirectFunctionCall3(interval_in,
														  CStringGetDatum(item->valuestring),
														  ObjectIdGetDatum(InvalidOid),
														  Int32GetDatum(-1)));
			}
			PG_CATCH();
			{
				MemoryContextSwitchTo(cxt);
				FlushErrorState();
				member_error(decl, m,
							 psprintf("Key \"retention\": \"keep\" is not an interval: \"%s\"",
									  item->valuestring), hint);
			}
			PG_END_TRY();
		}
		else
		{
			if (strcmp(item->valuestring, "anonymise") != 0 &&
				strcmp(item->valuestring, "delete") != 0)
				member_error(decl, m,
							 psprintf("Key \"retention\": \"action\" takes \"anonymise\" or \"delete\", not \"%s\"",
									  item->valuestring), NULL);
			td->retention_action = pstrdup(item->valuestring);
		}
	}
	if (td->retention_column == NULL || td->retention_keep == NULL)
		member_error(decl, m, "Key \"retention\" needs \"column\" and \"keep\"", hint);
}

/*
 * check_table_decl
 *		Check a table's declaration and return what it says (keys left out
 *		take their defaults).
 */
static TableDecl *
check_table_decl(Decl *decl)
{
	TableDecl  *td = palloc0(sizeof(TableDecl));

	td->can_anonymise = true;
	td->export_all = true;
	td->scrub_action = "anonymise";
	for (int i = 0; i < decl->nmembers; i++)
	{
		DeclMember *m = &decl->members[i];
		bool		isnull;

		if (strcmp(m->key, "can_anonymise") == 0)
			td->can_anonymise = member_bool(decl, m);
		else if (strcmp(m->key, "export_fields") == 0)
		{
			td->export_fields = member_name_list(decl, m, true, &isnull);
			td->export_all = isnull;
		}
		else if (strcmp(m->key, "export_exclude") == 0)
			td->export_exclude = member_name_list(decl, m, true, &isnull);
		else if (strcmp(m->key, "retention") == 0)
			member_retention(decl, m, td);
		else if (strcmp(m->key, "scrub") == 0)
		{
			td->scrub_action = member_string(decl, m);
			if (strcmp(td->scrub_action, "anonymise") != 0 &&
				strcmp(td->scrub_action, "delete") != 0 &&
				strcmp(td->scrub_action, "truncate") != 0 &&
				strcmp(td->scrub_action, "keep") != 0)
				member_error(decl, m,
							 psprintf("Key \"scrub\" takes \"anonymise\", \"delete\", \"truncate\" or \"keep\", not \"%s\"",
									  td->scrub_action), NULL);
		}
		else if (strcmp(m->key, "ignore") == 0)
			td->ignore = member_bool(decl, m);
		else
			unknown_key(decl, m, "\"can_anonymise\", \"export_fields\", \"export_exclude\", "
						"\"retention\", \"scrub\" and \"ignore\"");
	}
	/* an ignored table is not registered: it has no other options */
	for (int i = 0; td->ignore && i < decl->nmembers; i++)
		if (strcmp(decl->members[i].key, "ignore") != 0)
			member_error(decl, &decl->members[i],
						 "Key \"ignore\": true excludes the other table keys", NULL);
	return td;
}

/*
 * check_constraint_decl
 *		Check a constraint's declaration and return what it says.
 */
static ConstraintDecl *
check_constraint_decl(Decl *decl)
{
	ConstraintDecl *kd = palloc0(sizeof(ConstraintDecl));

	for (int i = 0; i < decl->nmembers; i++)
	{
		DeclMember *m = &decl->members[i];
		char	   *s;

		if (strcmp(m->key, "on_delete") == 0)
		{
			s = member_string(decl, m);
			if (strcmp(s, "anonymise") != 0)
				member_error(decl, m,
							 psprintf("Key \"on_delete\" takes \"anonymise\", not \"%s\"", s),
							 NULL);
			kd->on_delete_anonymise = true;
		}
		else if (strcmp(m->key, "export") == 0)
		{
			s = member_string(decl, m);
			if (strcmp(s, "follow") != 0)
				member_error(decl, m,
							 psprintf("Key \"export\" takes \"follow\", not \"%s\"", s),
							 NULL);
			kd->export_follow = true;
		}
		else
			unknown_key(decl, m, "\"on_delete\" and \"export\"");
	}
	return kd;
}

/*
 * check_decl
 *		Parse and check the declaration text about target; returns the
 *		kind-specific struct (ColumnDecl, TableDecl or ConstraintDecl).
 *
 * Raises the error for a malformed declaration.
 */
static void *
check_decl(const char *text, const DeclTarget *target)
{
	Decl	   *decl = parse_declaration(text, target);
	void	   *result = NULL;

	switch (target->kind)
	{
		case DECL_COLUMN:
			result = check_column_decl(decl);
			break;
		case DECL_TABLE:
			result = check_table_decl(decl);
			break;
		case DECL_CONSTRAINT:
			result = check_constraint_decl(decl);
			break;
	}
	cJSON_Delete(decl->root);
	return result;
}

/*
 * try_check_decl
 *		check_decl, but NULL instead of the error for a malformed
 *		declaration.
 *
 * Used on declarations that were stored earlier (the previous one, or the
 * one in the other place), which may predate the extension.  Only the
 * errors that the parser and checker raise about the declaration itself
 * are caught (they touch no shared state, so no subtransaction is needed);
 * anything else (out of memory, a cancel) is thrown on.
 */
static void *
try_check_decl(const char *text, const DeclTarget *target)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	void	   *volatile result = NULL;

	if (text == NULL)
		return NULL;
	PG_TRY();
	{
		result = check_decl(text, target);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_INVALID_TEXT_REPRESENTATION &&
			edata->sqlerrcode != ERRCODE_INVALID_PARAMETER_VALUE)
			PG_RE_THROW();
		FreeErrorData(edata);
		FlushErrorState();
		result = NULL;
	}
	PG_END_TRY();
	return result;
}

/* ------------------------------------------------------------------------
 * Applying declarations
 * ------------------------------------------------------------------------
 */

/*
 * apply_context_callback
 *		Error context while applying a declaration: names its object.
 */
static void
apply_context_callback(void *arg)
{
	const DeclTarget *target = (const DeclTarget *) arg;

	errcontext("gdpr declaration for %s", target_description(target));
}

/*
 * pin_search_path
 *		Resolve names as gdpr's SQL functions do: search_path pinned to
 *		"pg_catalog, pg_temp", as their SET clause has it.
 *
 * A declaration names a "function" (and a "value" may be read by a type's
 * input function, regclass say): with the caller's search_path, a schema
 * early in it could supply a function of the same name, and the same text
 * would mean different things as a declaration and in
 * gdpr.set_anonymiser().  Pinned, both accept the same names: functions
 * outside pg_catalog must be schema-qualified (functions are never looked
 * up in pg_temp).  Returns the GUC nesting level for unpin_search_path; a
 * transaction abort undoes the pinning too.
 */
static int
pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * unpin_search_path
 *		Undo pin_search_path.
 */
static void
unpin_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * begin_steps
 *		Let each call into the core see what the previous one wrote.
 *
 * A declaration is applied by several calls into the core within one
 * statement (register the table, then set its options, ...).  The core
 * reads the registry through read-only SPI, which uses the active snapshot
 * as it is; so we push a private copy of it and, before each call, advance
 * the command counter and bring the copy up to it (what SPI itself does
 * for a writing statement).  end_steps pops the copy; after an error the
 * transaction abort cleans it up.
 */
static void
begin_steps(void)
{
	if (ActiveSnapshotSet())
		PushCopiedSnapshot(GetActiveSnapshot());
	else
		PushActiveSnapshot(GetTransactionSnapshot());
}

/*
 * step
 *		Before a call into the core: make what was written so far visible.
 */
static void
step(void)
{
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();
}

/*
 * end_steps
 *		Pop the snapshot that begin_steps pushed.
 */
static void
end_steps(void)
{
	PopActiveSnapshot();
}

/*
 * has_primary_key
 *		Whether relid has a primary key.
 */
static bool
has_primary_key(Oid relid)
{
	Oid			conoid;

	return get_primary_key_attnos(relid, true, &conoid) != NULL;
}

/*
 * stored_declaration
 *		The JSON text of the declaration stored for a table (attnum 0) or
 *		column: its gdpr label, or else the gdpr part of its comment; NULL
 *		when there is none.
 *
 * Where both exist, the label is taken (the order in which they were
 * written is not recorded).
 */
static const char *
stored_declaration(Oid relid, AttrNumber attnum)
{
	ObjectAddress addr;
	const char *text;

	ObjectAddressSubSet(addr, RelationRelationId, relid, attnum);
	text = label_declaration(GetSecurityLabel(&addr, GDPR_LABEL_PROVIDER));
	if (text == NULL)
		text = comment_declaration(GetComment(relid, RelationRelationId, attnum));
	return text;
}

/*
 * apply_column_exports
 *		Apply the "export" key of the declaration of every column of relid
 *		that has one (after the table's declaration reset the export lists).
 *
 * A column's declaration is looked for in its label first, then in its
 * comment; one that does not parse is skipped.
 */
static void
apply_column_exports(Oid relid, const char *relname)
{
	Relation	rel = table_open(relid, AccessShareLock);

	/* a copy: the core's invalidations may rebuild the relcache entry */
	TupleDesc	tupdesc = CreateTupleDescCopy(RelationGetDescr(rel));

	table_close(rel, NoLock);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		DeclTarget	target;
		ColumnDecl *cd;

		if (att->attisdropped)
			continue;
		target.kind = DECL_COLUMN;
		target.relid = relid;
		target.attnum = att->attnum;
		target.conoid = InvalidOid;
		target.relname = (char *) relname;
		target.name = NameStr(att->attname);

		cd = try_check_decl(stored_declaration(relid, att->attnum), &target);
		if (cd != NULL && cd->has_export)
		{
			step();
			gdpr_register_set_export(relid, NameStr(att->attname), cd->export);
		}
	}
}

/*
 * apply_declaration
 *		Make the catalog match the declaration (already checked) about
 *		target; prev is the previous declaration in the same place, checked
 *		leniently (NULL for none).
 *
 * Runs inside the declaring statement: an error from the core rolls back
 * everything, with a CONTEXT line naming the declaration.  Names (the
 * "function" of a column) resolve with the pinned search_path of gdpr's
 * functions, not the caller's (see pin_search_path).
 */
static void
apply_declaration(const DeclTarget *target, void *checked, void *prev)
{
	ErrorContextCallback errcallback;
	int			nestlevel;

	/* an ignored table needs no primary key: it is never registered */
	if (target->kind == DECL_TABLE && ((TableDecl *) checked)->ignore)
	{
		gdpr_classify_ignore(target->relid, true);
		return;
	}

	/*
	 * pg_dump creates a table, its comments and labels first and adds the
	 * primary key only after the data: a declaration on a table without a
	 * primary key waits for it (see apply_pending_declarations).
	 */
	if (target->kind != DECL_CONSTRAINT && !has_primary_key(target->relid))
	{
		ereport(NOTICE,
				errmsg("gdpr declaration for %s takes effect when the table has a primary key",
					   target_description(target)),
				errdetail("Only tables with a primary key can be registered."));
		return;
	}

	errcallback.callback = apply_context_callback;
	errcallback.arg = (void *) target;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	nestlevel = pin_search_path();
	begin_steps();

	switch (target->kind)
	{
		case DECL_COLUMN:
			{
				ColumnDecl *cd = (ColumnDecl *) checked;
				ColumnDecl *pd = (ColumnDecl *) prev;

				step();
				gdpr_register_ensure(target->relid, true);
				step();
				gdpr_register_set_field(target->relid, target->name, cd->pii,
									   cd->pii ? cd->method : NULL,
									   cd->pii ? cd->argument : NULL,
									   cd->search, true);
				if (!cd->pii)
					gdpr_classify_set_not_pii(target->relid, target->name, true);
				step();
				if (cd->has_export)
					gdpr_register_set_export(target->relid, target->name, cd->export);
				else if (pd != NULL && pd->has_export)
					gdpr_register_set_export(target->relid, target->name, true);
				break;
			}
		case DECL_TABLE:
			{
				TableDecl  *td = (TableDecl *) checked;

				step();
				gdpr_register_ensure(target->relid, true);
				step();
				gdpr_register_set_options(target->relid, td->can_anonymise,
											   td->export_fields, td->export_all,
											   td->export_exclude, true);
				apply_column_exports(target->relid, target->relname);
				/* like the other table options, no key means none */
				step();
				if (td->retention_column != NULL)
					gdpr_retention_set(target->relid, td->retention_column,
									   td->retention_keep, td->retention_action, true);
				else
					gdpr_retention_drop(target->relid, true);
				step();
				gdpr_scrub_set(target->relid, td->scrub_action);
				break;
			}
		case DECL_CONSTRAINT:
			{
				ConstraintDecl *kd = (ConstraintDecl *) checked;
				bool		had;

				/* refuses anything but a foreign key of this table */
				step();
				(void) gdpr_rules_foreign_key(target->relid, target->name);
				if (gdpr_catalog_get_table(target->relid) == NULL)
					gdpr_not_registered_error(target->relid,
											  "Register it with gdpr.register(), or declare one of its columns.");

				step();
				had = gdpr_catalog_has_rule(target->relid, target->name, "anonymise");
				if (kd->on_delete_anonymise && !had)
					gdpr_rules_add_oda(target->relid, target->name, true);
				else if (!kd->on_delete_anonymise && had)
					gdpr_rules_drop_oda(target->relid, target->name, true);

				step();
				had = gdpr_catalog_has_rule(target->relid, target->name, "follow");
				if (kd->export_follow && !had)
					gdpr_catalog_add_rule(target->relid, target->name, "follow", true);
				else if (!kd->export_follow && had)
					gdpr_catalog_drop_rule(target->relid, target->name, "follow", true);
				break;
			}
	}

	end_steps();
	unpin_search_path(nestlevel);
	error_context_stack = errcallback.previous;
}

/*
 * remove_declaration
 *		Take the object of a removed declaration out of the registry; prev is
 *		the removed declaration, checked leniently (NULL if it did not parse).
 *
 * A column leaves the registry (and is exported again if its declaration
 * said "export"), a table is unregistered, a constraint loses its rules.
 * Nothing happens where the table is no longer registered.
 */
static void
remove_declaration(const DeclTarget *target, void *prev)
{
	ErrorContextCallback errcallback;
	int			nestlevel;

	/* an ignored table was never registered */
	if (target->kind == DECL_TABLE && prev != NULL && ((TableDecl *) prev)->ignore)
	{
		gdpr_classify_unignore(target->relid);
		return;
	}

	nestlevel = pin_search_path();
	begin_steps();
	step();
	if (gdpr_catalog_get_table(target->relid) == NULL)
	{
		end_steps();
		unpin_search_path(nestlevel);
		return;
	}

	errcallback.callback = apply_context_callback;
	errcallback.arg = (void *) target;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	switch (target->kind)
	{
		case DECL_COLUMN:
			{
				ColumnDecl *pd = (ColumnDecl *) prev;

				gdpr_catalog_remove_field(target->relid, target->name);
				gdpr_classify_forget_declared(target->relid, target->name);
				step();
				if (pd != NULL && pd->has_export)
					gdpr_register_set_export(target->relid, target->name, true);
				break;
			}
		case DECL_TABLE:
			gdpr_register_drop(target->relid);
			break;
		case DECL_CONSTRAINT:
			/* only what is there: dropping a missing trigger says so */
			if (gdpr_catalog_has_rule(target->relid, target->name, "anonymise"))
				gdpr_rules_drop_oda(target->relid, target->name, true);
			step();
			gdpr_catalog_drop_rule(target->relid, target->name, "follow", true);
			break;
	}

	end_steps();
	unpin_search_path(nestlevel);
	error_context_stack = errcallback.previous;
}

/*
 * declaration_changed
 *		The common path of labels and comments: the declaration in one
 *		place (source) about target goes from prev_text to new_text (either
 *		NULL for none); other_text is the declaration in the other place.
 *
 * The new declaration is checked first (a malformed one raises the error
 * before anything is written), then applied.  Without a new one, an
 * existing declaration elsewhere applies (one that does not parse, which
 * can only have been stored while the extension was not installed, counts
 * as none), or else the object is taken out if it had one here.
 */
static void
declaration_changed(const DeclTarget *target, const char *prev_text,
					const char *new_text, const char *other_text)
{
	void	   *prev = try_check_decl(prev_text, target);
	void	   *other;

	if (new_text != NULL)
		apply_declaration(target, check_decl(new_text, target), prev);
	else if ((other = try_check_decl(other_text, target)) != NULL)
		apply_declaration(target, other, prev);
	else if (prev_text != NULL)
		remove_declaration(target, prev);
}

/*
 * extension_installed
 *		Whether declarations are read here: the gdpr extension exists in
 *		this database (and is not being created right now, when its catalog
 *		is still incomplete), and this is not pg_upgrade's schema restore.
 */
static bool
extension_installed(void)
{
	Oid			extoid;

	/*
	 * pg_upgrade restores the schema, labels and comments included, and then
	 * brings over the old cluster's data files, the registry's among them:
	 * applying declarations then would only create triggers that the schema
	 * restore creates too, and fail it.
	 */
	if (IsBinaryUpgrade)
		return false;

	extoid = get_extension_oid(GDPR_EXTENSION_NAME, true);

	if (!OidIsValid(extoid))
		return false;
	if (creating_extension && CurrentExtensionObject == extoid)
		return false;
	return true;
}

/*
 * relation_target
 *		Fill in a table or column target for relid/attnum (0: the table).
 *
 * Raises an error when relid is not a table (or partitioned table): only
 * tables are registered.
 */
static void
relation_target(DeclTarget *target, Oid relid, AttrNumber attnum)
{
	char		relkind = get_rel_relkind(relid);

	memset(target, 0, sizeof(DeclTarget));
	target->kind = attnum == 0 ? DECL_TABLE : DECL_COLUMN;
	target->relid = relid;
	target->attnum = attnum;
	target->relname = get_rel_name(relid);
	if (attnum != 0)
		target->name = get_attname(relid, attnum, false);

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				errcode(ERRCODE_WRONG_OBJECT_TYPE),
				errmsg("gdpr declarations are supported only on tables, their columns and their constraints"),
				errdetail("\"%s\" is not a table.", target->relname));
	if (attnum < 0)
		ereport(ERROR,
				errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				errmsg("gdpr declarations are not supported on system column \"%s\"",
					   target->name));
}

/*
 * apply_pending_declarations
 *		Apply the declarations stored on relid and its columns, when relid
 *		has just got a primary key and is not registered yet.
 *
 * This is what makes a restore from pg_dump work: the dump writes the
 * labels and comments right after CREATE TABLE, when there is no primary
 * key yet (apply_declaration then only says it waits), then the data, then
 * the key.  A full dump restores the extension's registry tables (declared
 * rows included) with the data: the table is then registered already, and
 * exactly as it was, later function calls included, so nothing is applied.
 * Without that data (a schema-only dump, say) the declarations rebuild the
 * registry: the table's declaration first, then the columns'.
 * Declarations that do not parse are skipped (they were checked when
 * written, unless the extension was missing then).
 */
static void
apply_pending_declarations(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	DeclTarget	target;
	void	   *checked;
	Relation	rel;
	TupleDesc	tupdesc;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
		return;
	if (!has_primary_key(relid))
		return;
	begin_steps();
	step();
	if (gdpr_catalog_get_table(relid) != NULL)
	{
		end_steps();
		return;
	}
	end_steps();

	relation_target(&target, relid, 0);
	checked = try_check_decl(stored_declaration(relid, 0), &target);
	if (checked != NULL)
		apply_declaration(&target, checked, NULL);

	rel = table_open(relid, AccessShareLock);
	tupdesc = CreateTupleDescCopy(RelationGetDescr(rel));
	table_close(rel, NoLock);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		AttrNumber	attnum = TupleDescAttr(tupdesc, i)->attnum;

		if (TupleDescAttr(tupdesc, i)->attisdropped)
			continue;
		relation_target(&target, relid, attnum);
		checked = try_check_decl(stored_declaration(relid, attnum), &target);
		if (checked != NULL)
			apply_declaration(&target, checked, NULL);
	}
}

/*
 * adds_primary_key
 *		Whether an ALTER TABLE statement adds a primary key.
 */
static bool
adds_primary_key(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		if (cmd->subtype == AT_AddConstraint && cmd->def != NULL &&
			IsA(cmd->def, Constraint) &&
			((Constraint *) cmd->def)->contype == CONSTR_PRIMARY)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * SECURITY LABEL FOR gdpr
 * ------------------------------------------------------------------------
 */

/*
 * gdpr_label_hook
 *		The label provider "gdpr": check and apply a declaration written as
 *		a security label (seclabel NULL: the label is removed).
 *
 * Called by ExecSecLabelStmt after it has looked up the object, locked it
 * and checked ownership, and before it stores the label, so the previous
 * label is still readable here.  Any error fails the statement.
 */
static void
gdpr_label_hook(const ObjectAddress *object, const char *seclabel)
{
	DeclTarget	target;
	const char *prev_text;
	const char *other_text = NULL;

	/* pg_upgrade: the labels were checked when written (extension_installed) */
	if (IsBinaryUpgrade)
		return;

	if (object->classId != RelationRelationId)
		ereport(ERROR,
				errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				errmsg("security label provider \"%s\" supports only tables and columns",
					   GDPR_LABEL_PROVIDER),
				errhint("Declare rules of a foreign key in its comment: COMMENT ON CONSTRAINT ... IS 'gdpr: {...}'."));
	if (!extension_installed())
		ereport(ERROR,
				errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				errmsg("extension \"%s\" is not installed in this database",
					   GDPR_EXTENSION_NAME),
				errhint("Run CREATE EXTENSION gdpr first."));

	relation_target(&target, object->objectId, (AttrNumber) object->objectSubId);

	prev_text = label_declaration(GetSecurityLabel(object, GDPR_LABEL_PROVIDER));
	if (seclabel == NULL)
		other_text = comment_declaration(GetComment(object->objectId,
													RelationRelationId,
													object->objectSubId));
	declaration_changed(&target, prev_text, label_declaration(seclabel), other_text);
}

/* ------------------------------------------------------------------------
 * COMMENT ... IS '... gdpr: {...}'
 * ------------------------------------------------------------------------
 */

/*
 * comment_target
 *		Find the object of a COMMENT statement that gdpr reads, fill in
 *		target and return its address; InvalidObjectAddress for objects
 *		gdpr does not read.
 *
 * Looks the object up exactly as CommentObject will (same lock), and checks
 * ownership first, so that a user who may not comment gets "must be owner"
 * rather than an opinion about the declaration.
 */
static ObjectAddress
comment_target(CommentStmt *stmt, DeclTarget *target, bool has_marker)
{
	ObjectAddress address;
	Relation	relation;

	if (stmt->objtype != OBJECT_TABLE && stmt->objtype != OBJECT_COLUMN &&
		stmt->objtype != OBJECT_TABCONSTRAINT)
		return InvalidObjectAddress;

	address = get_object_address(stmt->objtype, stmt->object, &relation,
								 ShareUpdateExclusiveLock, false);
	check_object_ownership(GetUserId(), stmt->objtype, address, stmt->object,
						   relation);
	if (relation != NULL)
		relation_close(relation, NoLock);

	if (stmt->objtype == OBJECT_TABCONSTRAINT)
	{
		HeapTuple	tup;
		Form_pg_constraint con;

		tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(address.objectId));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for constraint %u", address.objectId);
		con = (Form_pg_constraint) GETSTRUCT(tup);
		memset(target, 0, sizeof(DeclTarget));
		target->kind = DECL_CONSTRAINT;
		target->relid = con->conrelid;
		target->conoid = address.objectId;
		target->name = pstrdup(NameStr(con->conname));
		target->relname = get_rel_name(con->conrelid);
		ReleaseSysCache(tup);
		return address;
	}

	/* views, foreign tables and their columns: only with a marker, refused */
	if (!has_marker)
	{
		char		relkind = get_rel_relkind(address.objectId);

		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE)
			return InvalidObjectAddress;
	}
	relation_target(target, address.objectId, (AttrNumber) address.objectSubId);
	return address;
}

/*
 * gdpr_declare_ProcessUtility
 *		ProcessUtility hook: read gdpr declarations in COMMENT statements.
 *
 * For COMMENT ON TABLE / COLUMN / CONSTRAINT in a database with the
 * extension, the previous comment is read before the standard processing
 * stores the new one; a new declaration is checked before, and applied
 * after it.  Everything else passes straight through to the previous hook
 * or standard_ProcessUtility, except that an ALTER TABLE adding a primary
 * key applies the declarations that waited for it.
 */
static void
gdpr_declare_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
							bool readOnlyTree, ProcessUtilityContext context,
							ParamListInfo params, QueryEnvironment *queryEnv,
							DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	CommentStmt *stmt = NULL;
	DeclTarget	target;
	ObjectAddress address = InvalidObjectAddress;
	const char *prev_text = NULL;
	const char *new_text = NULL;
	AlterTableStmt *pkstmt = NULL;
	Oid			pkrelid = InvalidOid;

	/*
	 * The table is looked up before the statement runs, not after it: the
	 * name resolves through the caller's search_path, and code run by the
	 * statement (a volatile default, say) could create a temporary table of
	 * the same name, which a later lookup would find instead.  No lock is
	 * taken here (ALTER TABLE checks ownership before it locks); afterwards
	 * the AccessExclusiveLock that adding a primary key takes shows that
	 * the statement worked on this very table.
	 */
	if (IsA(parsetree, AlterTableStmt) &&
		adds_primary_key((AlterTableStmt *) parsetree) &&
		IsTransactionState() && extension_installed())
	{
		pkstmt = (AlterTableStmt *) parsetree;
		pkrelid = RangeVarGetRelid(pkstmt->relation, NoLock, true);
	}

	if (IsA(parsetree, CommentStmt) && IsTransactionState() && extension_installed())
	{
		stmt = (CommentStmt *) parsetree;
		new_text = comment_declaration(stmt->comment);
		if (new_text != NULL &&
			(stmt->objtype == OBJECT_VIEW || stmt->objtype == OBJECT_MATVIEW ||
			 stmt->objtype == OBJECT_FOREIGN_TABLE))
			ereport(ERROR,
					errcode(ERRCODE_WRONG_OBJECT_TYPE),
					errmsg("gdpr declarations are supported only on tables, their columns and their constraints"));
		address = comment_target(stmt, &target, new_text != NULL);
		if (OidIsValid(address.classId))
		{
			prev_text = comment_declaration(GetComment(address.objectId,
													   address.classId,
													   address.objectSubId));
			/* a malformed declaration fails before anything is stored */
			if (new_text != NULL)
				(void) check_decl(new_text, &target);
		}
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	if (stmt != NULL && OidIsValid(address.classId) &&
		(new_text != NULL || prev_text != NULL))
	{
		const char *other_text = NULL;

		/* constraints have no label; tables and columns may */
		if (new_text == NULL && target.kind != DECL_CONSTRAINT)
			other_text = label_declaration(GetSecurityLabel(&address,
															GDPR_LABEL_PROVIDER));
		declaration_changed(&target, prev_text, new_text, other_text);
	}

	if (pkstmt != NULL && OidIsValid(pkrelid) && IsTransactionState() &&
		extension_installed())
	{
		LOCKTAG		tag;

		SET_LOCKTAG_RELATION(tag, MyDatabaseId, pkrelid);
		if (gdpr_lock_held_by_me(&tag, AccessExclusiveLock))
			apply_pending_declarations(pkrelid);
	}
}
