/*-------------------------------------------------------------------------
 *
 * shipper.c
 *	  Ship the gdpr event log to the log database over libpq.
 *
 * Events wait in the outbox gdpr.queue, written in the same transaction as
 * the change they record.  A shipping round, inside one local transaction,
 * reads a batch of the queue in seq order, inserts it into the log table
 * gdpr_log.event of the log database (one remote statement, so one remote
 * transaction) and only then deletes the batch from the queue.  A crash
 * between the remote commit and the local one makes the next round send the
 * batch again; the unique event_uuid of each event makes the log database
 * drop the copies (ON CONFLICT DO NOTHING).  At-least-once delivery plus an
 * idempotent receipt is exactly once.
 *
 * The shipper also keeps gdpr.state.reflected_id, the high-water mark of log
 * ids this database reflects (see gdpr_shipper_ship_batch), which
 * gdpr.rerun() uses after a restore.
 *
 * Connections are opened and used with the interrupt-aware libpqsrv_*
 * helpers and a non-blocking send loop; nothing in this file may block
 * without watching the latch.  The connection string is never put in a
 * message, and every message that comes from libpq or the log server goes
 * through gdpr_conninfo_scrub (guc.c) before it reaches an error, the
 * server log or gdpr.state: libpq quotes parts of the connection string in
 * some messages, and a password has no business in any of them.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/shipper.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/connect.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "libpq-fe.h"
#include "libpq/libpq-be-fe-helpers.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "gdpr.h"
#include "shipper.h"

PG_FUNCTION_INFO_V1(gdpr_ship_log);

/*
 * Creation of the remote table.  Only names and the key text ever reach the
 * log database: nothing else of a row.  The index on (source, id) serves
 * gdpr.rerun() and the reflected-mark check.  incarnation is the lineage of
 * the database that logged the event (lineage.c); a log table made by
 * version 1.0 gets the column from add_lineage_column_sql.
 */
static const char *const create_log_table_sql =
"SELECT pg_catalog.pg_advisory_xact_lock(7454010542096465921);"
"CREATE SCHEMA IF NOT EXISTS gdpr_log;"
"CREATE TABLE IF NOT EXISTS gdpr_log.event ("
"    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
"    source      text        NOT NULL,"
"    kind        text        NOT NULL,"
"    table_name  text        NOT NULL,"
"    key         text        NOT NULL,"
"    occurred_at timestamptz NOT NULL,"
"    event_uuid  uuid        NOT NULL UNIQUE,"
"    shipped_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),"
"    incarnation uuid);"
"CREATE INDEX IF NOT EXISTS event_source_id_idx ON gdpr_log.event (source, id);"
"COMMENT ON TABLE gdpr_log.event IS 'erasures logged by the gdpr extension: no personal data but the key';";

static const char *const add_lineage_column_sql =
"SELECT pg_catalog.pg_advisory_xact_lock(7454010542096465921);"
"ALTER TABLE gdpr_log.event ADD COLUMN IF NOT EXISTS incarnation uuid;";

/*
 * gdpr_shipper_require_conninfo
 *		Raise an error when gdpr.log_conninfo is empty.
 *
 * Used by the SQL-callable entry points; the worker idles instead.
 */
void
gdpr_shipper_require_conninfo(void)
{
	if (gdpr_log_conninfo == NULL || gdpr_log_conninfo[0] == '\0')
		ereport(ERROR,
				errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				errmsg("no gdpr log database is configured"),
				errhint("Set \"gdpr.log_conninfo\" to the connection string of the log database and reload the configuration."));
}

/*
 * libpq_message
 *		libpq's last message on conn, scrubbed, without its final newline.
 */
static char *
libpq_message(PGconn *conn)
{
	if (conn == NULL)
		return pstrdup("out of memory");
	return gdpr_conninfo_scrub(pchomp(PQerrorMessage(conn)));
}

/*
 * ignore_notice
 *		libpq notice receiver that drops remote notices.
 *
 * The default receiver prints to stderr, that is into the server log, where
 * "schema already exists, skipping" and the like would only be noise.
 */
static void
ignore_notice(void *arg, const PGresult *res)
{
}

/*
 * gdpr_shipper_connect
 *		Open a connection to the log database named by gdpr.log_conninfo.
 *
 * Returns the connection, in non-blocking mode and with a secure
 * search_path, or NULL with *errmsg set to libpq's (palloc'd, scrubbed)
 * message when the database cannot be reached.  Interrupts are served
 * while connecting.
 * The caller must close the connection with gdpr_shipper_disconnect, also
 * on error paths (PG_FINALLY).
 */
PGconn *
gdpr_shipper_connect(char **errmsg)
{
	const char *keywords[5];
	const char *values[5];
	PGconn	   *conn;
	PGresult   *res;

	/*
	 * Later keywords win: the conninfo (expanded from dbname) may set its own
	 * application_name and connect_timeout, never the encoding.  Without a
	 * timeout a log server that accepts but never answers would keep the
	 * caller waiting (interruptibly) for ever.
	 */
	keywords[0] = "fallback_application_name";
	values[0] = "gdpr";
	keywords[1] = "connect_timeout";
	values[1] = "10";
	keywords[2] = "dbname";
	values[2] = gdpr_log_conninfo;
	keywords[3] = "client_encoding";
	values[3] = GetDatabaseEncodingName();
	keywords[4] = NULL;
	values[4] = NULL;

	/*
	 * libpq's parse errors quote the string: give a fixed message instead.
	 * The check hook refuses such a string; this is the second line.
	 */
	{
		char	   *parse_error = NULL;
		PQconninfoOption *opts = PQconninfoParse(gdpr_log_conninfo, &parse_error);

		if (opts == NULL)
		{
			*errmsg = pstrdup(parse_error != NULL ? GDPR_CONNINFO_UNPARSABLE : "out of memory");
			if (parse_error != NULL)
				PQfreemem(parse_error);
			return NULL;
		}
		PQconninfoFree(opts);
	}

	conn = libpqsrv_connect_params(keywords, values, true, PG_WAIT_EXTENSION);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		*errmsg = libpq_message(conn);
		libpqsrv_disconnect(conn);
		return NULL;
	}

	PQsetNoticeReceiver(conn, ignore_notice, NULL);

	res = gdpr_libpqsrv_exec(conn, ALWAYS_SECURE_SEARCH_PATH_SQL, PG_WAIT_EXTENSION);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		*errmsg = libpq_message(conn);
		PQclear(res);
		libpqsrv_disconnect(conn);
		return NULL;
	}
	PQclear(res);

	/* large batches are sent with a flush loop that watches the latch */
	if (PQsetnonblocking(conn, 1) != 0)
	{
		*errmsg = libpq_message(conn);
		libpqsrv_disconnect(conn);
		return NULL;
	}

	*errmsg = NULL;
	return conn;
}

/*
 * gdpr_shipper_connect_or_error
 *		gdpr_shipper_connect for SQL functions (ship_log, rerun): an
 *		unreachable log database is an ERROR, with libpq's message in the
 *		detail and never the connection string.
 */
PGconn *
gdpr_shipper_connect_or_error(void)
{
	char	   *connerr = NULL;
	PGconn	   *conn = gdpr_shipper_connect(&connerr);

	if (conn == NULL)
		ereport(ERROR,
				errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
				errmsg("could not connect to the gdpr log database"),
				errdetail_internal("%s", connerr));
	return conn;
}

/*
 * gdpr_shipper_disconnect
 *		Close a connection opened by gdpr_shipper_connect; NULL is allowed.
 */
void
gdpr_shipper_disconnect(PGconn *conn)
{
	libpqsrv_disconnect(conn);
}

/*
 * report_remote_error
 *		Raise an ERROR for a failed remote command.
 *
 * The remote SQLSTATE is kept, as dblink does; without one (the connection
 * broke) the error is connection_failure with libpq's message.  Every text
 * is scrubbed of the connection string's secrets.  Frees res.  Never
 * returns.
 */
static void
report_remote_error(PGconn *conn, PGresult *res, const char *what)
{
	char	   *sqlstate = NULL;
	char	   *primary = NULL;
	char	   *detail = NULL;
	char	   *hint = NULL;
	int			code = ERRCODE_CONNECTION_FAILURE;

	if (res != NULL)
	{
		const char *s;

		if ((s = PQresultErrorField(res, PG_DIAG_SQLSTATE)) != NULL)
			sqlstate = pstrdup(s);
		if ((s = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) != NULL)
			primary = gdpr_conninfo_scrub(s);
		if ((s = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL)) != NULL)
			detail = gdpr_conninfo_scrub(s);
		if ((s = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT)) != NULL)
			hint = gdpr_conninfo_scrub(s);
		PQclear(res);
	}
	if (sqlstate != NULL && strlen(sqlstate) == 5)
		code = MAKE_SQLSTATE(sqlstate[0], sqlstate[1], sqlstate[2],
							 sqlstate[3], sqlstate[4]);

	if (primary == NULL)
		ereport(ERROR,
				errcode(code),
				errmsg("could not communicate with the gdpr log database"),
				errdetail_internal("%s", libpq_message(conn)),
				errcontext("while %s", what));

	ereport(ERROR,
			errcode(code),
			errmsg_internal("%s", primary),
			detail ? errdetail_internal("%s", detail) : 0,
			hint ? errhint("%s", hint) : 0,
			errcontext("while %s on the gdpr log database", what));
}

/*
 * gdpr_shipper_exec
 *		Run one command (text parameters, text results) on the log database.
 *
 * The query is sent in non-blocking mode and flushed in a loop that waits on
 * the latch and the socket, so neither a large batch nor a stalled server
 * can keep the process from serving interrupts.  Returns the result, which
 * the caller must PQclear (use PG_FINALLY when ereport can intervene); any
 * status other than expected raises an ERROR naming what was being done.
 */
PGresult *
gdpr_shipper_exec(PGconn *conn, const char *sql, int nparams,
				  const char *const *values, ExecStatusType expected,
				  const char *what)
{
	PGresult   *res;

	/* without parameters, the simple protocol: it allows several commands */
	if (!(nparams == 0 ? PQsendQuery(conn, sql) :
		  PQsendQueryParams(conn, sql, nparams, NULL, values, NULL, NULL, 0)))
		report_remote_error(conn, NULL, what);

	for (;;)
	{
		int			flushed = PQflush(conn);
		int			rc;

		if (flushed == 0)
			break;
		if (flushed < 0)
			report_remote_error(conn, NULL, what);

		rc = WaitLatchOrSocket(MyLatch,
							   WL_EXIT_ON_PM_DEATH | WL_LATCH_SET |
							   WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE,
							   PQsocket(conn), 0, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
			report_remote_error(conn, NULL, what);
	}

	res = gdpr_libpqsrv_get_result_last(conn, PG_WAIT_EXTENSION);
	if (res == NULL || PQresultStatus(res) != expected)
		report_remote_error(conn, res, what);
	return res;
}

/*
 * gdpr_shipper_log_table_exists
 *		Whether gdpr_log.event exists in the log database.
 */
bool
gdpr_shipper_log_table_exists(PGconn *conn)
{
	PGresult   *res;
	bool		exists;

	res = gdpr_shipper_exec(conn,
							"SELECT pg_catalog.to_regclass('gdpr_log.event') IS NOT NULL",
							0, NULL, PGRES_TUPLES_OK,
							"looking for the log table");
	exists = (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0);
	PQclear(res);
	return exists;
}

/*
 * gdpr_shipper_log_has_lineage
 *		Whether the log table has the incarnation column (a log table made
 *		by version 1.0 gets it from the first 1.1 shipper).
 */
bool
gdpr_shipper_log_has_lineage(PGconn *conn)
{
	PGresult   *res;
	bool		result;

	res = gdpr_shipper_exec(conn,
							"SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute"
							" WHERE attrelid = 'gdpr_log.event'::pg_catalog.regclass"
							"   AND attname = 'incarnation' AND NOT attisdropped)",
							0, NULL, PGRES_TUPLES_OK, "looking for the log's lineage column");
	result = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return result;
}

/*
 * gdpr_shipper_ensure_log_table
 *		Create gdpr_log.event in the log database unless it exists.
 *
 * Checked first, so that a log role without CREATE can ship into a table
 * its administrator created.  Concurrent creators (several databases
 * shipping to one log database) are serialised by a remote transaction
 * advisory lock; the statements run in one implicit remote transaction.
 */
void
gdpr_shipper_ensure_log_table(PGconn *conn)
{
	PGresult   *res;

	if (!gdpr_shipper_log_table_exists(conn))
	{
		res = gdpr_shipper_exec(conn, create_log_table_sql, 0, NULL,
								PGRES_COMMAND_OK, "creating the log table");
		PQclear(res);
		return;
	}
	if (!gdpr_shipper_log_has_lineage(conn))
	{
		res = gdpr_shipper_exec(conn, add_lineage_column_sql, 0, NULL,
								PGRES_COMMAND_OK, "adding the lineage column to the log table");
		PQclear(res);
	}
}

/*
 * run_local
 *		Run one statement on gdpr's own tables, as the extension's owner.
 *
 * gdpr.queue and gdpr.state are readable and writable by the extension's
 * owner only; running as the owner lets a role that was granted EXECUTE on
 * gdpr.ship_log() or gdpr.rerun() use them.  Requires SPI to be connected.
 * Returns SPI_processed; an unexpected SPI result is an internal error.
 */
static uint64
run_local(const char *sql, int nargs, Oid *argtypes, Datum *values,
		  int expected)
{
	int			ret;

	ret = gdpr_owner_execute(NULL, sql, nargs, argtypes, values, NULL, false, 0);
	if (ret != expected)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	return SPI_processed;
}

/*
 * gdpr_shipper_lock
 *		Take the transaction advisory lock that serialises shipping and
 *		replaying in this database.
 *
 * With wait, blocks (interruptibly) until the lock is free and returns
 * true; without, returns whether it was free.  Held until the end of the
 * current transaction.
 */
bool
gdpr_shipper_lock(bool wait)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(GDPR_SHIP_LOCK_KEY)};
	bool		got = true;
	bool		isnull;

	gdpr_spi_connect();
	run_local(wait ? "SELECT pg_catalog.pg_advisory_xact_lock($1)"
			  : "SELECT pg_catalog.pg_try_advisory_xact_lock($1)",
			  1, argtypes, values, SPI_OK_SELECT);
	if (!wait)
		got = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	gdpr_spi_finish();
	return got;
}

/*
 * gdpr_shipper_read_mark
 *		Return gdpr.state.reflected_id, 0 when there is no state row yet.
 *
 * With for_update the state row is created if missing and locked, so that
 * in REPEATABLE READ a concurrent change of the mark becomes a
 * serialization failure instead of being overlooked.  Call it after
 * gdpr_shipper_lock: in READ COMMITTED it then sees the mark left by the
 * previous holder of the lock.
 */
int64
gdpr_shipper_read_mark(bool for_update)
{
	int64		mark = 0;

	gdpr_spi_connect();
	if (for_update)
		run_local("INSERT INTO gdpr.state (singleton) VALUES (true) "
				  "ON CONFLICT (singleton) DO NOTHING",
				  0, NULL, NULL, SPI_OK_INSERT);
	if (run_local(for_update ?
				  "SELECT reflected_id FROM gdpr.state WHERE singleton FOR UPDATE" :
				  "SELECT reflected_id FROM gdpr.state WHERE singleton",
				  0, NULL, NULL, SPI_OK_SELECT) == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			mark = DatumGetInt64(d);
	}
	gdpr_spi_finish();
	return mark;
}

/*
 * gdpr_shipper_queue_is_empty
 *		Whether gdpr.queue holds no committed event.  Needs a transaction.
 */
bool
gdpr_shipper_queue_is_empty(void)
{
	uint64		n;

	gdpr_spi_connect();
	n = run_local("SELECT 1 FROM gdpr.queue LIMIT 1", 0, NULL, NULL, SPI_OK_SELECT);
	gdpr_spi_finish();
	return n == 0;
}

/*
 * spi_text
 *		Column n of the first SPI result row as a C string in the upper
 *		memory context (survives SPI_finish); NULL for SQL NULL.
 */
static char *
spi_text(int n)
{
	char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n);
	char	   *copy;

	if (value == NULL)
		return NULL;
	copy = SPI_palloc(strlen(value) + 1);
	strcpy(copy, value);
	return copy;
}

/*
 * batch_end
 *		The seq of the queue row with which the rows before it and itself
 *		hold gdpr.ship_batch_size events or more (the last row, when all of
 *		them hold fewer), and in *start the seq of the first row; 0 for an
 *		empty queue.  The rows are read in seq order by index, a few at a
 *		time, so a long queue costs no more than the batch; not read-only,
 *		so that it sees what earlier rounds of this transaction deleted.  A
 *		row holds at most GDPR_EVENTS_PER_ROW events (events.c), which bounds
 *		a shipping round.
 */
static int64
batch_end(int64 *start)
{
	Portal		portal;
	int64		events = 0;
	int64		end = 0;
	int			level = gdpr_plan_for_lookups();
	GdprIdentity saved;

	gdpr_become_extension_owner(&saved);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT seq, COALESCE(pg_catalog.cardinality(keys), 1)"
									   " FROM gdpr.queue ORDER BY seq",
									   0, NULL, NULL, NULL, false, 0);
	gdpr_unbecome(&saved);
	gdpr_plan_done(level);
	while (events < gdpr_ship_batch_size)
	{
		SPI_cursor_fetch(portal, true, 256);
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed && events < gdpr_ship_batch_size; i++)
		{
			bool		isnull;

			end = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 1, &isnull));
			if (events == 0)
				*start = end;
			events += DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
												  SPI_tuptable->tupdesc, 2, &isnull));
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	return end;
}

/*
 * The lineage of this database and every id it holds (lineage.c), read once
 * per transaction: the worker ships one batch per transaction, and
 * gdpr.ship_log() all of its batches in the caller's.  The strings live in
 * TopTransactionContext; its reset callback forgets them at the end of the
 * transaction, so a restore or a re-creation of the extension is seen by the
 * next shipping round.
 */
static char *xact_lineage = NULL;
static char *xact_lineage_ids = NULL;
static MemoryContextCallback lineage_reset_cb;

static void
forget_lineage(void *arg)
{
	xact_lineage = NULL;
	xact_lineage_ids = NULL;
}

/*
 * read_lineage
 *		The lineage and the lineage ids of this database for the current
 *		transaction (see above).  Connects to SPI itself.
 */
static void
read_lineage(char **lineage, char **lineages)
{
	if (xact_lineage == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
		char	   *id = gdpr_lineage();
		char	   *ids = gdpr_lineage_ids();

		xact_lineage = MemoryContextStrdup(TopTransactionContext, id);
		xact_lineage_ids = MemoryContextStrdup(TopTransactionContext, ids);
		lineage_reset_cb.func = forget_lineage;
		lineage_reset_cb.arg = NULL;
		MemoryContextRegisterResetCallback(TopTransactionContext, &lineage_reset_cb);
		MemoryContextSwitchTo(old);
	}
	*lineage = xact_lineage;
	*lineages = xact_lineage_ids;
}

/*
 * gdpr_shipper_ship_batch
 *		Ship up to gdpr.ship_batch_size queued events, in seq order.
 *
 * Must run in a transaction holding the shipping lock (gdpr_shipper_lock),
 * with conn open on a log database that has the log table.  The batch is
 * inserted remotely in one statement, ids allocated in queue order and
 * copies of earlier deliveries dropped by event_uuid; then it is deleted
 * from the queue and gdpr.state updated, in the caller's transaction, which
 * the caller commits.
 *
 * *mark is the reflected high-water mark: every log event of this source
 * and lineage with an id up to it is reflected in this database.  It moves
 * to the batch's highest id only when the log holds no other event of this
 * source and lineage between the old mark and that id; otherwise the log
 * holds events this database has not replayed (it was restored), the mark
 * stays and the result says unreplayed, for the caller to warn.  Events of
 * another lineage (a database dropped and created again under the same
 * name) are not this database's and do not count.
 *
 * Returns how many queue events were delivered (0 when the queue is empty).
 * Remote and local failures are ERRORs; nothing is deleted from the queue
 * unless the remote insert succeeded.
 */
GdprShipBatch
gdpr_shipper_ship_batch(PGconn *conn, int64 *mark)
{
	GdprShipBatch result = {0, false};
	Oid			argtypes[2];
	Datum		args[2];
	char	   *source;
	Datum		seqs_array;
	char	   *kinds,
			   *tables,
			   *keys,
			   *times,
			   *uuids;
	int64		count;
	bool		isnull;
	const char *params[7];
	char		markbuf[32];
	char	   *lineage;
	char	   *lineages;
	PGresult   *volatile res = NULL;
	volatile int64 candidate = 0;
	volatile int64 unknown = 0;
	int64		start = 0;
	int			level;

	source = gdpr_source();

	gdpr_spi_connect();

	/*
	 * Read the batch as text arrays, ready to be passed as remote parameters:
	 * the queue's rows (each may hold a batch of events) up to the one that
	 * reaches gdpr.ship_batch_size events, one array element per event, both
	 * aggregates reading the same snapshot.  The time goes as UTC text with
	 * an explicit offset, so that neither side's DateStyle nor TimeZone can
	 * change it.  The rows are read by the index on seq, whatever the
	 * statistics say.
	 */
	argtypes[0] = INT8OID;
	argtypes[1] = INT8OID;
	args[1] = Int64GetDatum(batch_end(&start));
	args[0] = Int64GetDatum(start);
	level = gdpr_plan_for_lookups();
	run_local("SELECT pg_catalog.count(*),"
			  " (SELECT pg_catalog.array_agg(r.seq ORDER BY r.seq) FROM gdpr.queue r"
			  "   WHERE r.seq OPERATOR(pg_catalog.>=) $1 AND r.seq OPERATOR(pg_catalog.<=) $2),"
			  " pg_catalog.array_agg(q.kind ORDER BY q.seq, q.ord)::text,"
			  " pg_catalog.array_agg(q.table_name ORDER BY q.seq, q.ord)::text,"
			  " pg_catalog.array_agg(q.key ORDER BY q.seq, q.ord)::text,"
			  " pg_catalog.array_agg(pg_catalog.to_char(pg_catalog.timezone('UTC', q.occurred_at),"
			  "                      'YYYY-MM-DD HH24:MI:SS.US\"+00\"') ORDER BY q.seq, q.ord)::text,"
			  " pg_catalog.array_agg(q.event_uuid ORDER BY q.seq, q.ord)::text"
			  " FROM gdpr.queued_events q"
			  " WHERE q.seq OPERATOR(pg_catalog.>=) $1 AND q.seq OPERATOR(pg_catalog.<=) $2",
			  2, argtypes, args, SPI_OK_SELECT);
	gdpr_plan_done(level);
	count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull));
	if (count == 0)
	{
		gdpr_spi_finish();
		return result;
	}
	/* the queue's seqs as a real bigint[]: its size is known to the planner */
	seqs_array = SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
												 2, &isnull), false, -1);
	kinds = spi_text(3);
	tables = spi_text(4);
	keys = spi_text(5);
	times = spi_text(6);
	uuids = spi_text(7);
	read_lineage(&lineage, &lineages);

	PG_TRY();
	{
		params[0] = source;
		params[1] = kinds;
		params[2] = tables;
		params[3] = keys;
		params[4] = times;
		params[5] = uuids;
		params[6] = lineage;
		res = gdpr_shipper_exec(conn,
								"INSERT INTO gdpr_log.event"
								" (source, kind, table_name, key, occurred_at, event_uuid, incarnation)"
								" SELECT $1, u.kind, u.table_name, u.key,"
								"        u.occurred_at::timestamptz, u.event_uuid::uuid, $7::uuid"
								"   FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])"
								"        WITH ORDINALITY AS u(kind, table_name, key, occurred_at, event_uuid, ord)"
								"  ORDER BY u.ord"
								" ON CONFLICT (event_uuid) DO NOTHING",
								7, params, PGRES_COMMAND_OK,
								psprintf("shipping %lld log events", (long long) count));
		PQclear(res);
		res = NULL;

		/*
		 * The insert is committed: from here on the batch is in the log.
		 * Compare the events of this source between the mark and the
		 * batch's highest id with the batch itself.
		 */
		snprintf(markbuf, sizeof(markbuf), INT64_FORMAT, *mark);
		params[0] = uuids;
		params[1] = source;
		params[2] = markbuf;
		params[3] = lineages;
		res = gdpr_shipper_exec(conn,
								"WITH b AS (SELECT id FROM gdpr_log.event"
								"            WHERE event_uuid = ANY ($1::uuid[]) AND source = $2)"
								" SELECT m.candidate,"
								"        (SELECT count(*) FROM gdpr_log.event e"
								"          WHERE e.source = $2 AND e.id > $3::bigint"
								"            AND e.id <= m.candidate"
								"            AND (e.incarnation IS NULL OR e.incarnation = ANY ($4::uuid[])))"
								"        - (SELECT count(*) FROM b WHERE b.id > $3::bigint)"
								"   FROM (SELECT max(id) AS candidate FROM b) m",
								4, params, PGRES_TUPLES_OK,
								"checking the log for events not reflected here");
		if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		{
			candidate = strtoi64(PQgetvalue(res, 0, 0), NULL, 10);
			unknown = PQgetisnull(res, 0, 1) ? 0 : strtoi64(PQgetvalue(res, 0, 1), NULL, 10);
		}
	}
	PG_FINALLY();
	{
		PQclear(res);
	}
	PG_END_TRY();

	if (unknown > 0)
		result.unreplayed = true;
	else if (candidate > *mark)
		*mark = candidate;

	/*
	 * Delete exactly the shipped rows, by index whatever the statistics say
	 * (a queue that grew fast may still be "empty" to the planner).
	 */
	argtypes[0] = INT8ARRAYOID;
	args[0] = seqs_array;
	level = gdpr_plan_for_lookups();
	run_local("DELETE FROM gdpr.queue WHERE seq OPERATOR(pg_catalog.=) ANY ($1)",
			  1, argtypes, args, SPI_OK_DELETE);
	gdpr_plan_done(level);

	argtypes[0] = INT8OID;
	args[0] = Int64GetDatum(*mark);
	run_local("INSERT INTO gdpr.state AS s"
			  " (singleton, reflected_id, last_shipped_at, last_error, last_error_at)"
			  " VALUES (true, $1, pg_catalog.clock_timestamp(), NULL, NULL)"
			  " ON CONFLICT (singleton) DO UPDATE"
			  " SET reflected_id = GREATEST(s.reflected_id, excluded.reflected_id),"
			  "     last_shipped_at = excluded.last_shipped_at,"
			  "     last_error = NULL, last_error_at = NULL",
			  1, argtypes, args, SPI_OK_INSERT);

	gdpr_spi_finish();

	result.shipped = count;
	return result;
}

/*
 * gdpr_shipper_record_error
 *		Store the last shipping error in gdpr.state.
 *
 * Runs in the caller's transaction, which the worker keeps small and
 * separate from any failed round.  The message is scrubbed once more:
 * gdpr.log_status shows it to whoever may read that view.
 */
void
gdpr_shipper_record_error(const char *message)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];

	args[0] = CStringGetTextDatum(gdpr_conninfo_scrub(message));
	gdpr_spi_connect();
	run_local("INSERT INTO gdpr.state AS s (singleton, last_error, last_error_at)"
			  " VALUES (true, $1, pg_catalog.clock_timestamp())"
			  " ON CONFLICT (singleton) DO UPDATE"
			  " SET last_error = excluded.last_error, last_error_at = excluded.last_error_at",
			  1, argtypes, args, SPI_OK_INSERT);
	gdpr_spi_finish();
}

/*
 * gdpr_shipper_warn_unreplayed
 *		Warn that the log holds events of this source not reflected here.
 */
void
gdpr_shipper_warn_unreplayed(void)
{
	ereport(WARNING,
			errmsg("the gdpr log holds events of source \"%s\" that this database has not replayed",
				   gdpr_source()),
			errdetail("The database was restored from a backup, and erasures logged after that backup are not applied yet."),
			errhint("Run gdpr.rerun()."));
}

/*
 * gdpr_ship_log
 *		SQL: gdpr.ship_log() RETURNS bigint
 *
 * Ships everything queued when called, in batches of gdpr.ship_batch_size
 * (each remote insert commits on its own; the queue rows go with the
 * caller's transaction), and returns how many events were shipped.  Waits
 * for a round of the worker or a gdpr.rerun() in progress.  An empty
 * gdpr.log_conninfo or an unreachable log database is an ERROR.
 */
Datum
gdpr_ship_log(PG_FUNCTION_ARGS)
{
	PGconn	   *volatile conn = NULL;
	volatile int64 total = 0;
	int64		mark;
	volatile bool unreplayed = false;

	gdpr_shipper_require_conninfo();

	gdpr_shipper_lock(true);
	mark = gdpr_shipper_read_mark(false);

	conn = gdpr_shipper_connect_or_error();

	PG_TRY();
	{
		GdprShipBatch batch;
		MemoryContext batchcxt;
		MemoryContext old;

		/* the text arrays of a batch are big: free them batch by batch */
		batchcxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr ship batch",
										 ALLOCSET_DEFAULT_SIZES);
		old = MemoryContextSwitchTo(batchcxt);

		gdpr_shipper_ensure_log_table(conn);
		do
		{
			CHECK_FOR_INTERRUPTS();
			MemoryContextReset(batchcxt);
			batch = gdpr_shipper_ship_batch(conn, &mark);
			total += batch.shipped;
			unreplayed |= batch.unreplayed;
		} while (batch.shipped >= gdpr_ship_batch_size);

		MemoryContextSwitchTo(old);
		MemoryContextDelete(batchcxt);
	}
	PG_FINALLY();
	{
		gdpr_shipper_disconnect(conn);
	}
	PG_END_TRY();

	if (unreplayed)
		gdpr_shipper_warn_unreplayed();

	PG_RETURN_INT64(total);
}
