/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The gdpr.* settings.
 *
 * Everything that touches security (the log database's connection string,
 * the pseudonym key and its file, the guard of gdpr.anonymise_db(), whether
 * anonymise events are logged) is superuser-only.
 *
 * The two secrets, the pseudonym key and a password in the connection
 * string, are seen by superusers only:
 *
 *	- GUC_SUPERUSER_ONLY keeps ordinary roles from reading them, but members
 *	  of pg_read_all_settings (pg_monitor among them) may, so show hooks mask
 *	  them for every role that is not a superuser: SHOW, current_setting()
 *	  and pg_settings.setting all go through the show hook;
 *	- pg_settings.reset_val bypasses show hooks, so both settings are also
 *	  GUC_NO_SHOW_ALL (absent from pg_settings and SHOW ALL);
 *	- ALTER DATABASE / ROLE / FUNCTION ... SET would store the key in
 *	  pg_db_role_setting or pg_proc, which every role can read: the key's
 *	  check hook refuses those sources (PGC_S_TEST when the command validates
 *	  the value, the per-database and per-role sources at login);
 *	- the key can come from a file (gdpr.pseudonym_key_file), so that the
 *	  configuration, and the "parameter ... changed to ..." line PostgreSQL
 *	  logs at every reload, hold only its path.  gdpr_pseudonym_key_value()
 *	  is the one place the key is read.
 *
 * Check hooks refuse an unparsable gdpr.log_conninfo (without quoting it:
 * libpq's parse errors quote the text, passwords included) and a malformed
 * gdpr.databases when they are set, instead of the worker finding out.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "lib/stringinfo.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "gdpr.h"

/* GUC variables */
char	   *gdpr_log_conninfo = NULL;
char	   *gdpr_databases = NULL;
char	   *gdpr_source_name = NULL;
bool		gdpr_log_anonymise = true;
char	   *gdpr_pseudonym_key = NULL;
char	   *gdpr_pseudonym_key_file = NULL;
bool		gdpr_allow_anonymise_db = false;
int			gdpr_ship_interval = 1000;
int			gdpr_ship_batch_size = 5000;
int			gdpr_retry_max_interval = 60000;
int			gdpr_anonymise_batch_size = 100000;
int			gdpr_unclassified = GDPR_UNCLASSIFIED_WARNING;

/* the values of gdpr.unclassified */
static const struct config_enum_entry unclassified_options[] = {
	{"off", GDPR_UNCLASSIFIED_OFF, false},
	{"warning", GDPR_UNCLASSIFIED_WARNING, false},
	{"error", GDPR_UNCLASSIFIED_ERROR, false},
	{NULL, 0, false}
};

/* what non-superusers see instead of a secret */
#define GDPR_MASK				"********"

/* longest key file accepted, in bytes */
#define GDPR_KEY_FILE_MAX		8192

/*
 * Local state: the key read from gdpr.pseudonym_key_file.  The file is
 * looked at (stat) at most once per transaction and read again only when it
 * or the setting changed, so that a bulk anonymisation uses one key
 * throughout and costs no system call per value.
 */
static char *file_key = NULL;	/* in TopMemoryContext; NULL: not loaded */
static char *file_key_path = NULL;	/* the path it was read from */
static struct stat file_key_stat;	/* the file as it was when read */
static bool file_key_checked = false;	/* looked at in this transaction */
static bool file_key_callback = false;	/* xact callback registered */

static bool check_log_conninfo(char **newval, void **extra, GucSource source);
static const char *show_log_conninfo(void);
static bool check_databases(char **newval, void **extra, GucSource source);
static bool check_pseudonym_key(char **newval, void **extra, GucSource source);
static const char *show_pseudonym_key(void);
static void assign_pseudonym_key_file(const char *newval, void *extra);

/*
 * gdpr_define_gucs
 *		Define every gdpr.* setting and reserve the prefix.
 *
 * Called from _PG_init in every process that loads the library.
 */
void
gdpr_define_gucs(void)
{
	DefineCustomStringVariable("gdpr.log_conninfo",
							   "Connection string of the gdpr log database.",
							   "Empty means that events stay queued in gdpr.queue.",
							   &gdpr_log_conninfo,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_log_conninfo, NULL, show_log_conninfo);

	DefineCustomStringVariable("gdpr.databases",
							   "Comma-separated list of the databases whose events the log worker ships.",
							   NULL,
							   &gdpr_databases,
							   "postgres",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   check_databases, NULL, NULL);

	DefineCustomStringVariable("gdpr.source_name",
							   "Name under which this database's events are logged.",
							   "Empty means the database's name.",
							   &gdpr_source_name,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("gdpr.log_anonymise",
							 "Whether anonymisations are written to the gdpr log.",
							 NULL,
							 &gdpr_log_anonymise,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("gdpr.pseudonym_key",
							   "Secret key of the \"hash\" anonymisation method.",
							   NULL,
							   &gdpr_pseudonym_key,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_pseudonym_key, NULL, show_pseudonym_key);

	DefineCustomStringVariable("gdpr.pseudonym_key_file",
							   "File holding the secret key of the \"hash\" anonymisation method.",
							   "The key is the file's first line.  Empty means the key is gdpr.pseudonym_key.",
							   &gdpr_pseudonym_key_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, assign_pseudonym_key_file, NULL);

	DefineCustomBoolVariable("gdpr.allow_anonymise_db",
							 "Allows gdpr.anonymise_db() to scrub the whole database.",
							 NULL,
							 &gdpr_allow_anonymise_db,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("gdpr.unclassified",
							 "What a commit does that leaves a column added to a registered table unclassified.",
							 "off: nothing; warning: a WARNING naming it; error: the commit fails.",
							 &gdpr_unclassified,
							 GDPR_UNCLASSIFIED_WARNING,
							 unclassified_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("gdpr.ship_interval",
							"Time between two shipping rounds of the log worker.",
							NULL,
							&gdpr_ship_interval,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("gdpr.ship_batch_size",
							"Largest number of events shipped in one transaction.",
							NULL,
							&gdpr_ship_batch_size,
							5000, 1, 1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("gdpr.retry_max_interval",
							"Longest wait between two attempts to reach an unreachable log database.",
							NULL,
							&gdpr_retry_max_interval,
							60000, 100, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("gdpr.anonymise_batch_size",
							"Rows anonymised per statement by gdpr.anonymise_db().",
							NULL,
							&gdpr_anonymise_batch_size,
							100000, 1, INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("gdpr");
}

/*
 * gdpr_source
 *		The name under which this database's events are logged.
 *
 * gdpr.source_name when set, otherwise the current database's name.  The
 * result is palloc'd.  Must be called in a process connected to a database.
 */
char *
gdpr_source(void)
{
	if (gdpr_source_name != NULL && gdpr_source_name[0] != '\0')
		return pstrdup(gdpr_source_name);
	return get_database_name(MyDatabaseId);
}

/*
 * check_log_conninfo
 *		Check hook of gdpr.log_conninfo: it must parse as a libpq connection
 *		string.
 *
 * libpq's parse errors quote the text they stumbled on, which can be part of
 * a password, and the message goes to the server log at every reload: it is
 * replaced by one that quotes nothing.
 */
static bool
check_log_conninfo(char **newval, void **extra, GucSource source)
{
	PQconninfoOption *opts;
	char	   *err = NULL;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;

	opts = PQconninfoParse(*newval, &err);
	if (opts == NULL)
	{
		if (err == NULL)
		{
			GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
			GUC_check_errmsg("out of memory");
			return false;
		}
		PQfreemem(err);
		GUC_check_errmsg("invalid connection string in parameter \"%s\"",
						 "gdpr.log_conninfo");
		GUC_check_errdetail("libpq could not parse it; its message is not shown, since it may quote part of a password.");
		GUC_check_errhint("Write it as keyword = value pairs or as a postgresql:// URI; quote a value that holds spaces or quotes with single quotes.");
		return false;
	}
	PQconninfoFree(opts);
	return true;
}

/*
 * gdpr_conninfo_is_secret
 *		Whether a libpq connection option holds a secret (its value is
 *		masked for non-superusers and scrubbed from messages).
 */
bool
gdpr_conninfo_is_secret(const char *keyword)
{
	return strcmp(keyword, "password") == 0 ||
		strcmp(keyword, "sslpassword") == 0;
}

/*
 * replace_all
 *		Replace every occurrence of secret in message (palloc'd, replaced in
 *		place by a new palloc'd string).
 */
static char *
replace_all(char *message, const char *secret)
{
	size_t		slen = strlen(secret);
	StringInfoData buf;
	const char *p = message;
	const char *hit;

	if (slen == 0 || strstr(message, secret) == NULL)
		return message;

	initStringInfo(&buf);
	while ((hit = strstr(p, secret)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, GDPR_MASK);
		p = hit + slen;
	}
	appendStringInfoString(&buf, p);
	explicit_bzero(message, strlen(message));
	pfree(message);
	return buf.data;
}

/*
 * gdpr_conninfo_scrub
 *		Return a copy of message (palloc'd; NULL for NULL) without any secret
 *		of gdpr.log_conninfo: every occurrence of the value of password and
 *		sslpassword is replaced by ********.
 *
 * Every message from libpq or from the log server passes through here
 * before it reaches an ERROR or WARNING, the server log or
 * gdpr.state.last_error (on every path: the worker, gdpr.ship_log(),
 * gdpr.rerun()), and so does what non-superusers see of the setting.  When
 * the connection string does not parse, its secrets are unknown and the
 * message is replaced by a fixed one.  Longer secrets are replaced first,
 * so that one that contains the other goes entirely.
 */
char *
gdpr_conninfo_scrub(const char *message)
{
	PQconninfoOption *opts;
	char	   *secrets[2] = {NULL, NULL};
	int			nsecrets = 0;
	char	   *result;

	if (message == NULL)
		return NULL;
	if (gdpr_log_conninfo == NULL || gdpr_log_conninfo[0] == '\0')
		return pstrdup(message);

	opts = PQconninfoParse(gdpr_log_conninfo, NULL);
	if (opts == NULL)
		return pstrdup(GDPR_CONNINFO_UNPARSABLE);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val != NULL && o->val[0] != '\0' &&
			gdpr_conninfo_is_secret(o->keyword) && nsecrets < lengthof(secrets))
			secrets[nsecrets++] = pstrdup(o->val);
	}
	PQconninfoFree(opts);

	if (nsecrets == 2 && strlen(secrets[1]) > strlen(secrets[0]))
	{
		char	   *tmp = secrets[0];

		secrets[0] = secrets[1];
		secrets[1] = tmp;
	}

	result = pstrdup(message);
	for (int i = 0; i < nsecrets; i++)
	{
		result = replace_all(result, secrets[i]);
		explicit_bzero(secrets[i], strlen(secrets[i]));
		pfree(secrets[i]);
	}
	return result;
}

/*
 * show_log_conninfo
 *		Show hook of gdpr.log_conninfo: superusers see it as set; any other
 *		role allowed to read it (pg_read_all_settings) sees it with the
 *		values of password and sslpassword replaced by ********.
 *
 * A string that holds no secret is shown as set; one that does is rebuilt
 * from its parsed options (as keyword = 'value' pairs).
 */
static const char *
show_log_conninfo(void)
{
	PQconninfoOption *opts;
	StringInfoData buf;
	bool		secret = false;

	if (gdpr_log_conninfo == NULL || gdpr_log_conninfo[0] == '\0')
		return "";
	if (superuser())
		return gdpr_log_conninfo;

	opts = PQconninfoParse(gdpr_log_conninfo, NULL);
	if (opts == NULL)
		return GDPR_MASK;		/* cannot happen: the check hook parsed it */

	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		if (o->val != NULL && o->val[0] != '\0' && gdpr_conninfo_is_secret(o->keyword))
			secret = true;
	}
	if (!secret)
	{
		PQconninfoFree(opts);
		return gdpr_log_conninfo;
	}

	initStringInfo(&buf);
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
	{
		char	   *value;

		if (o->val == NULL)
			continue;
		if (buf.len > 0)
			appendStringInfoChar(&buf, ' ');
		appendStringInfo(&buf, "%s=", o->keyword);
		if (gdpr_conninfo_is_secret(o->keyword))
		{
			appendStringInfoString(&buf, GDPR_MASK);
			continue;
		}
		/* a secret that shows up in another value goes too */
		value = gdpr_conninfo_scrub(o->val);
		appendStringInfoChar(&buf, '\'');
		for (const char *c = value; *c; c++)
		{
			if (*c == '\'' || *c == '\\')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *c);
		}
		appendStringInfoChar(&buf, '\'');
		pfree(value);
	}
	PQconninfoFree(opts);
	return buf.data;
}

/*
 * check_databases
 *		Check hook of gdpr.databases: a comma-separated list of identifiers
 *		(the model is pgaudit's check_pgaudit_log).
 */
static bool
check_databases(char **newval, void **extra, GucSource source)
{
	char	   *raw;
	List	   *names = NIL;
	bool		ok;

	if (*newval == NULL)
		return true;

	raw = pstrdup(*newval);
	ok = SplitIdentifierString(raw, ',', &names);
	list_free(names);
	pfree(raw);
	if (!ok)
	{
		GUC_check_errdetail("List syntax is invalid.");
		GUC_check_errhint("Separate database names with commas; double-quote a name that holds a comma, a space or capitals.");
		return false;
	}
	return true;
}

/*
 * check_pseudonym_key
 *		Check hook of gdpr.pseudonym_key: refuse a key set per database, per
 *		role or per function.
 *
 * ALTER DATABASE / ROLE / FUNCTION ... SET store the value in
 * pg_db_role_setting or pg_proc.proconfig, which every role can read; they
 * validate it with source PGC_S_TEST, which is refused (an ERROR for the
 * command).  A value stored before this check existed, or while the library
 * was not loaded, reaches the hook at login with a per-database or per-role
 * source: it is refused too (a WARNING, and the value is ignored).  The
 * message never quotes the value.
 */
static bool
check_pseudonym_key(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;

	switch (source)
	{
		case PGC_S_TEST:
		case PGC_S_GLOBAL:
		case PGC_S_DATABASE:
		case PGC_S_USER:
		case PGC_S_DATABASE_USER:
			GUC_check_errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM);
			GUC_check_errmsg("parameter \"%s\" cannot be set per database, per role or per function",
							 "gdpr.pseudonym_key");
			GUC_check_errdetail("Such settings are stored in pg_db_role_setting or pg_proc, which every role can read.");
			if (source == PGC_S_TEST)
				GUC_check_errhint("Put the key in a file named by \"gdpr.pseudonym_key_file\".");
			else
				GUC_check_errhint("Remove it with ALTER DATABASE or ALTER ROLE ... RESET gdpr.pseudonym_key, and put the key in a file named by \"gdpr.pseudonym_key_file\".");
			return false;
		default:
			return true;
	}
}

/*
 * show_pseudonym_key
 *		Show hook of gdpr.pseudonym_key: ******** for anyone but superusers
 *		(empty when no key is set).
 */
static const char *
show_pseudonym_key(void)
{
	if (gdpr_pseudonym_key == NULL || gdpr_pseudonym_key[0] == '\0')
		return "";
	if (superuser())
		return gdpr_pseudonym_key;
	return GDPR_MASK;
}

/*
 * forget_file_key
 *		Drop the key read from the file, wiping its bytes.
 */
static void
forget_file_key(void)
{
	if (file_key != NULL)
	{
		explicit_bzero(file_key, strlen(file_key));
		pfree(file_key);
		file_key = NULL;
	}
	if (file_key_path != NULL)
	{
		pfree(file_key_path);
		file_key_path = NULL;
	}
	file_key_checked = false;
}

/*
 * assign_pseudonym_key_file
 *		Assign hook of gdpr.pseudonym_key_file: a new path makes the next use
 *		read the file.  Must not fail, so it only drops the cached key.
 */
static void
assign_pseudonym_key_file(const char *newval, void *extra)
{
	if (file_key_path == NULL || newval == NULL ||
		strcmp(file_key_path, newval) != 0)
		forget_file_key();
}

/*
 * key_file_xact_callback
 *		At the end of every transaction, look at the key file again at the
 *		next use (it may have been replaced meanwhile).
 */
static void
key_file_xact_callback(XactEvent event, void *arg)
{
	file_key_checked = false;
}

/*
 * read_key_file
 *		Read the key from the file at path, after checking the file.
 *
 * Like PostgreSQL's ssl_key_file, the file must be a regular file owned by
 * the server's user with no group or world access (0600), or owned by root
 * with no world access (0640); anything else is refused, since a key that
 * others can read is not secret.  The key is the first line, without its
 * line end (LF or CRLF); an empty key is refused.  Returns the key in
 * TopMemoryContext and fills *st.
 */
static char *
read_key_file(const char *path, struct stat *st)
{
	char	   *buf;
	char	   *key;
	size_t		len;
	size_t		keylen;
	FILE	   *file;

	if (stat(path, st) != 0)
		ereport(ERROR,
				errcode_for_file_access(),
				errmsg("could not access pseudonym key file \"%s\": %m", path));
	if (!S_ISREG(st->st_mode))
		ereport(ERROR,
				errcode(ERRCODE_CONFIG_FILE_ERROR),
				errmsg("pseudonym key file \"%s\" is not a regular file", path));
	if (st->st_uid != geteuid() && st->st_uid != 0)
		ereport(ERROR,
				errcode(ERRCODE_CONFIG_FILE_ERROR),
				errmsg("pseudonym key file \"%s\" must be owned by the database user or root",
					   path));
	if ((st->st_uid == geteuid() && (st->st_mode & (S_IRWXG | S_IRWXO)) != 0) ||
		(st->st_uid == 0 && (st->st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0))
		ereport(ERROR,
				errcode(ERRCODE_CONFIG_FILE_ERROR),
				errmsg("pseudonym key file \"%s\" has group or world access", path),
				errdetail("File must have permissions u=rw (0600) or less if owned by the database user, or permissions u=rw,g=r (0640) or less if owned by root."));

	file = AllocateFile(path, "r");
	if (file == NULL)
		ereport(ERROR,
				errcode_for_file_access(),
				errmsg("could not open pseudonym key file \"%s\": %m", path));
	buf = palloc(GDPR_KEY_FILE_MAX + 1);
	len = fread(buf, 1, GDPR_KEY_FILE_MAX + 1, file);
	if (ferror(file))
	{
		explicit_bzero(buf, GDPR_KEY_FILE_MAX + 1);
		FreeFile(file);
		ereport(ERROR,
				errcode_for_file_access(),
				errmsg("could not read pseudonym key file \"%s\": %m", path));
	}
	FreeFile(file);

	for (keylen = 0; keylen < len && buf[keylen] != '\n'; keylen++)
		;
	if (keylen > 0 && buf[keylen - 1] == '\r')
		keylen--;

	if (keylen == len && len > GDPR_KEY_FILE_MAX)
	{
		explicit_bzero(buf, GDPR_KEY_FILE_MAX + 1);
		ereport(ERROR,
				errcode(ERRCODE_CONFIG_FILE_ERROR),
				errmsg("pseudonym key file \"%s\" is too long", path),
				errdetail("The key, the file's first line, may have at most %d bytes.",
						  GDPR_KEY_FILE_MAX));
	}
	if (keylen == 0 || memchr(buf, '\0', keylen) != NULL)
	{
		explicit_bzero(buf, GDPR_KEY_FILE_MAX + 1);
		ereport(ERROR,
				errcode(ERRCODE_CONFIG_FILE_ERROR),
				errmsg("pseudonym key file \"%s\" holds no valid key", path),
				errdetail("The key is the file's first line; it must not be empty or contain a zero byte."));
	}

	key = MemoryContextAlloc(TopMemoryContext, keylen + 1);
	memcpy(key, buf, keylen);
	key[keylen] = '\0';
	explicit_bzero(buf, GDPR_KEY_FILE_MAX + 1);
	pfree(buf);
	return key;
}

/*
 * gdpr_pseudonym_key_value
 *		The key of the "hash" method: the first line of
 *		gdpr.pseudonym_key_file when that is set, otherwise
 *		gdpr.pseudonym_key.
 *
 * Every use of the key goes through here.  Neither set, or both set (which
 * one was meant is anybody's guess, and the two would give different
 * pseudonyms), is an error.  The file is looked at once per transaction:
 * read again when it was replaced or changed, or when the setting changed.
 * The result must not be freed; it stays valid until the next call.
 */
const char *
gdpr_pseudonym_key_value(void)
{
	bool		have_key = (gdpr_pseudonym_key != NULL && gdpr_pseudonym_key[0] != '\0');
	const char *path = gdpr_pseudonym_key_file;
	struct stat st;
	char	   *key;

	if (path == NULL || path[0] == '\0')
	{
		if (!have_key)
			ereport(ERROR,
					errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					errmsg("gdpr.pseudonym_key is not set"),
					errdetail("The anonymisation method \"hash\" needs a secret key."),
					errhint("A superuser must put the key in a file and name it in gdpr.pseudonym_key_file in postgresql.conf."));
		return gdpr_pseudonym_key;
	}

	if (have_key)
		ereport(ERROR,
				errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				errmsg("both gdpr.pseudonym_key and gdpr.pseudonym_key_file are set"),
				errdetail("The anonymisation method \"hash\" needs exactly one secret key."),
				errhint("Reset gdpr.pseudonym_key and keep the key in the file only."));

	if (file_key != NULL && file_key_checked)
		return file_key;

	if (!file_key_callback)
	{
		RegisterXactCallback(key_file_xact_callback, NULL);
		file_key_callback = true;
	}

	/* the same file, unchanged since it was read: nothing to do */
	if (file_key != NULL && stat(path, &st) == 0 &&
		st.st_dev == file_key_stat.st_dev && st.st_ino == file_key_stat.st_ino &&
		st.st_size == file_key_stat.st_size && st.st_mode == file_key_stat.st_mode &&
		st.st_uid == file_key_stat.st_uid &&
		st.st_mtime == file_key_stat.st_mtime && st.st_ctime == file_key_stat.st_ctime)
	{
		file_key_checked = true;
		return file_key;
	}

	key = read_key_file(path, &st);
	forget_file_key();
	file_key = key;
	file_key_path = MemoryContextStrdup(TopMemoryContext, path);
	file_key_stat = st;
	file_key_checked = true;
	return file_key;
}
