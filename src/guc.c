/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The gdpr.* settings.
 *
 * Everything that touches security (the log database's connection string,
 * the pseudonym key, the guard of gdpr.anonymise_db(), whether anonymise
 * events are logged) is superuser-only; the connection string and the key
 * are also hidden from non-superusers (GUC_SUPERUSER_ONLY).
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

#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "gdpr.h"

/* GUC variables */
char	   *gdpr_log_conninfo = NULL;
char	   *gdpr_databases = NULL;
char	   *gdpr_source_name = NULL;
bool		gdpr_log_anonymise = true;
char	   *gdpr_pseudonym_key = NULL;
bool		gdpr_allow_anonymise_db = false;
int			gdpr_ship_interval = 1000;
int			gdpr_ship_batch_size = 5000;
int			gdpr_retry_max_interval = 60000;
int			gdpr_anonymise_batch_size = 100000;

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
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("gdpr.databases",
							   "Comma-separated list of the databases whose events the log worker ships.",
							   NULL,
							   &gdpr_databases,
							   "postgres",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   NULL, NULL, NULL);

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
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("gdpr.allow_anonymise_db",
							 "Allows gdpr.anonymise_db() to scrub the whole database.",
							 NULL,
							 &gdpr_allow_anonymise_db,
							 false,
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
