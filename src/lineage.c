/*-------------------------------------------------------------------------
 *
 * lineage.c
 *	  Which database a logged event belongs to, across restores.
 *
 * Events are logged by source name, and a database dropped and created
 * again under the same name has the same source name, but it must not
 * replay its predecessor's erasures onto new rows that reuse their keys.  A
 * restore of the same database, on the other hand, must replay what was
 * logged after its backup.  The two are told apart by gdpr.incarnation:
 * CREATE EXTENSION adds a row with a random id, and the table is
 * configuration (pg_extension_config_dump), so pg_dump carries its rows and
 * a base backup copies them.  A restored database therefore holds its
 * backup's ids as well as the one its own CREATE EXTENSION made; a
 * recreated one holds only a new id.
 *
 * The lineage of a database is its oldest id: every event it logs carries
 * it, and replay applies the events that carry any of the ids the database
 * holds (and the events of version 1.0, which carry none).
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/lineage.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "gdpr.h"

/*
 * first_value
 *		The text of the first column of the first row of a query run as the
 *		extension's owner, or NULL when it returns no row or NULL.
 */
static char *
first_value(const char *sql, bool read_only)
{
	char	   *result = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	gdpr_spi_connect();
	(void) gdpr_owner_execute(NULL, sql, 0, NULL, NULL, NULL, read_only, 1);
	if (SPI_processed > 0)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			result = MemoryContextStrdup(cxt, value);
	}
	gdpr_spi_finish();
	return result;
}

/*
 * gdpr_lineage
 *		The id every event this database logs carries: the oldest of
 *		gdpr.incarnation (one is made if someone emptied the table).
 */
char *
gdpr_lineage(void)
{
	char	   *id = first_value("SELECT id FROM gdpr.incarnation ORDER BY created_at, id LIMIT 1",
								 true);

	if (id == NULL)
		id = first_value("INSERT INTO gdpr.incarnation DEFAULT VALUES RETURNING id", false);
	return id;
}

/*
 * gdpr_lineage_ids
 *		Every id this database holds, as the text of a uuid[]: the events
 *		that carry one of them are this database's to replay.
 */
char *
gdpr_lineage_ids(void)
{
	char	   *ids = first_value("SELECT pg_catalog.array_agg(id)::pg_catalog.text FROM gdpr.incarnation",
								  true);

	return ids != NULL ? ids : pstrdup("{}");
}
