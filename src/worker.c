/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The gdpr log worker: a launcher and one log shipper per database.
 *
 * The launcher ("gdpr launcher") is a static background worker, registered
 * when the library is preloaded.  It is connected to no database; it reads
 * gdpr.databases, starts one dynamic worker ("gdpr log shipper") for every
 * listed database that exists, starts again any that stopped (at most once
 * every GDPR_RESTART_TIME seconds), and stops those whose database left the
 * list when the configuration is reloaded.  Shippers are never restarted by
 * the postmaster itself: only a launcher knows them, so a launcher that
 * starts again (after pg_terminate_backend, say) first stops the shippers of
 * its predecessor instead of leaving them running unsupervised.
 *
 * A shipper connects to its database.  While gdpr.log_conninfo is empty or
 * the extension is not installed there, it only waits.  Otherwise it ships
 * the queue every gdpr.ship_interval (at once again after a full batch).  A
 * log database that cannot be reached is a WARNING the first time, then the
 * worker retries with an exponential back-off capped at
 * gdpr.retry_max_interval and says so (LOG) once it works again.  An error
 * inside a round aborts that round's transaction only: the worker lives on.
 * The libpq connection is closed whenever the queue is empty, so that a
 * smart shutdown (which waits for client sessions, the shipper's own on the
 * log server included) is never held up.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include <signal.h>
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
#include "utils/wait_event.h"

#include "gdpr.h"
#include "shipper.h"

/* bgw_type of the two kinds of worker, as pg_stat_activity shows them */
#define GDPR_LAUNCHER_TYPE		"gdpr launcher"
#define GDPR_SHIPPER_TYPE		"gdpr log shipper"

/* seconds before the postmaster restarts a worker that died */
#define GDPR_RESTART_TIME		5

/* how often the launcher looks at its workers without being woken (ms) */
#define GDPR_LAUNCHER_NAPTIME	10000

/* how long an idle shipper sleeps when there is nothing it can do (ms) */
#define GDPR_IDLE_NAPTIME		60000

PGDLLEXPORT void gdpr_launcher_main(Datum main_arg);
PGDLLEXPORT void gdpr_worker_main(Datum main_arg);

/* one shipper started by the launcher */
typedef struct ShipperSlot
{
	char		dbname[NAMEDATALEN];
	BackgroundWorkerHandle *handle; /* NULL: not running */
	TimestampTz started_at;		/* last attempt to start it */
} ShipperSlot;

/* Local state (launcher) */
static List *shippers = NIL;	/* ShipperSlot *, in TopMemoryContext */
static bool launch_warned = false;
static long launcher_timeout = GDPR_LAUNCHER_NAPTIME;	/* next wait, ms */

/* Local state (shipper) */
static PGconn *log_conn = NULL;
static bool unreplayed_warned = false;
static bool failing = false;
static int	retry_delay = 0;
static char shipper_dbname[NAMEDATALEN];

/*
 * init_worker
 *		Fill the parts of a BackgroundWorker that the launcher and the
 *		shippers share: a database-connected worker of this library, started
 *		once recovery is over, with its entry point, type and restart time.
 */
static void
init_worker(BackgroundWorker *worker, const char *function, const char *type,
			int restart_time)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = restart_time;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "gdpr");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
	worker->bgw_main_arg = (Datum) 0;
}

/*
 * gdpr_worker_register
 *		Register the static launcher.  Called from _PG_init while the
 *		postmaster loads shared_preload_libraries.
 */
void
gdpr_worker_register(void)
{
	BackgroundWorker worker;

	init_worker(&worker, "gdpr_launcher_main", GDPR_LAUNCHER_TYPE, GDPR_RESTART_TIME);
	snprintf(worker.bgw_name, BGW_MAXLEN, GDPR_LAUNCHER_TYPE);
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/*
 * existing_databases
 *		The names of every database that accepts connections, as a List of
 *		char * in the caller's memory context.
 *
 * Scans pg_database in a transaction of its own, the way the logical
 * replication launcher reads pg_subscription: a process connected to no
 * database can read shared catalogs only by a heap scan.
 */
static List *
existing_databases(void)
{
	MemoryContext outer = CurrentMemoryContext;
	List	   *result = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		MemoryContext old;

		if (!db->datallowconn)
			continue;
		old = MemoryContextSwitchTo(outer);
		result = lappend(result, pstrdup(NameStr(db->datname)));
		MemoryContextSwitchTo(old);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	CommitTransactionCommand();
	MemoryContextSwitchTo(outer);
	return result;
}

/*
 * wanted_databases
 *		The names in gdpr.databases that exist, as a List of char *.
 *
 * With warn_missing, a listed name that does not exist (or does not accept
 * connections) is reported with a WARNING; the launcher asks for that after
 * a reload only, not on every look.  Allocates in the caller's context.
 */
static List *
wanted_databases(bool warn_missing)
{
	char	   *raw = pstrdup(gdpr_databases ? gdpr_databases : "");
	List	   *names = NIL;
	List	   *existing;
	List	   *result = NIL;
	ListCell   *lc;

	if (!SplitIdentifierString(raw, ',', &names))
	{
		ereport(WARNING,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("invalid list syntax in parameter \"%s\"", "gdpr.databases"));
		return NIL;
	}

	existing = existing_databases();
	foreach(lc, names)
	{
		char	   *name = (char *) lfirst(lc);
		bool		found = false;
		ListCell   *lc2;

		foreach(lc2, existing)
		{
			if (strcmp((char *) lfirst(lc2), name) == 0)
				found = true;
		}
		if (found)
			result = lappend(result, name);
		else if (warn_missing)
			ereport(WARNING,
					errcode(ERRCODE_UNDEFINED_DATABASE),
					errmsg("database \"%s\" listed in \"gdpr.databases\" does not exist", name));
	}
	return result;
}

/*
 * start_shipper
 *		Start the dynamic shipper of one database.
 *
 * Returns the handle (in TopMemoryContext), or NULL when no worker slot is
 * free (a WARNING once, max_worker_processes being too low; the launcher
 * tries again later).
 */
static BackgroundWorkerHandle *
start_shipper(const char *dbname)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext old;

	/* the launcher restarts it: see the file header */
	init_worker(&worker, "gdpr_worker_main", GDPR_SHIPPER_TYPE, BGW_NEVER_RESTART);
	snprintf(worker.bgw_name, BGW_MAXLEN, GDPR_SHIPPER_TYPE " for database %s", dbname);
	strlcpy(worker.bgw_extra, dbname, BGW_EXTRALEN);
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		handle = NULL;
	MemoryContextSwitchTo(old);

	if (handle == NULL && !launch_warned)
	{
		ereport(WARNING,
				errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				errmsg("could not start the gdpr log shipper for database \"%s\"", dbname),
				errhint("You might need to increase \"max_worker_processes\"."));
		launch_warned = true;
	}
	else if (handle != NULL)
		launch_warned = false;
	return handle;
}

/*
 * sync_shippers
 *		Make the running shippers match gdpr.databases.
 *
 * Stops the shippers of databases no longer listed (or gone), starts the
 * missing ones, and starts again those that stopped for good (the
 * postmaster restarts a crashed one by itself after bgw_restart_time).
 */
static void
sync_shippers(bool warn_missing)
{
	List	   *wanted = wanted_databases(warn_missing);
	List	   *keep = NIL;
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, shippers)
	{
		ShipperSlot *slot = (ShipperSlot *) lfirst(lc);
		bool		listed = false;
		ListCell   *lc2;

		foreach(lc2, wanted)
		{
			if (strcmp((char *) lfirst(lc2), slot->dbname) == 0)
				listed = true;
		}
		if (!listed)
		{
			if (slot->handle != NULL)
			{
				TerminateBackgroundWorker(slot->handle);
				pfree(slot->handle);
			}
			pfree(slot);
			continue;
		}
		if (slot->handle != NULL)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(slot->handle, &pid) == BGWH_STOPPED)
			{
				pfree(slot->handle);
				slot->handle = NULL;
			}
		}
		if (slot->handle == NULL)
		{
			TimestampTz due = TimestampTzPlusMilliseconds(slot->started_at,
														  GDPR_RESTART_TIME * 1000);
			TimestampTz now = GetCurrentTimestamp();

			if (now >= due)
			{
				slot->started_at = now;
				slot->handle = start_shipper(slot->dbname);
			}
			else
			{
				/* a shipper that keeps failing is restarted at this pace */
				long		wait = TimestampDifferenceMilliseconds(now, due);

				launcher_timeout = Min(launcher_timeout, Max(wait, 1));
			}
		}
		old = MemoryContextSwitchTo(TopMemoryContext);
		keep = lappend(keep, slot);
		MemoryContextSwitchTo(old);
	}

	foreach(lc, wanted)
	{
		char	   *name = (char *) lfirst(lc);
		bool		running = false;
		ListCell   *lc2;

		foreach(lc2, keep)
		{
			if (strcmp(((ShipperSlot *) lfirst(lc2))->dbname, name) == 0)
				running = true;
		}
		if (!running)
		{
			ShipperSlot *slot = MemoryContextAllocZero(TopMemoryContext, sizeof(ShipperSlot));

			strlcpy(slot->dbname, name, NAMEDATALEN);
			slot->started_at = GetCurrentTimestamp();
			slot->handle = start_shipper(name);
			old = MemoryContextSwitchTo(TopMemoryContext);
			keep = lappend(keep, slot);
			MemoryContextSwitchTo(old);
		}
	}

	list_free(shippers);
	shippers = keep;
}

/*
 * stop_orphaned_shippers
 *		Terminate the shippers a previous launcher left behind.
 *
 * A launcher that was terminated and started again has lost the handles of
 * the shippers it started; they would run on unsupervised (and twice, next
 * to the new ones).  They are never restarted by the postmaster, so a
 * SIGTERM ends them for good.
 */
static void
stop_orphaned_shippers(void)
{
	int			n;

	StartTransactionCommand();
	n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n; i++)
	{
		LocalPgBackendStatus *local = gdpr_local_beentry_by_index(i);
		const char *type;

		if (local == NULL || local->backendStatus.st_backendType != B_BG_WORKER)
			continue;
		type = GetBackgroundWorkerTypeByPid(local->backendStatus.st_procpid);
		if (type != NULL && strcmp(type, GDPR_SHIPPER_TYPE) == 0)
		{
			ereport(LOG,
					errmsg("stopping the gdpr log shipper with PID %d started by a previous launcher",
						   (int) local->backendStatus.st_procpid));
			(void) kill(local->backendStatus.st_procpid, SIGTERM);
		}
	}
	CommitTransactionCommand();
}

/*
 * gdpr_launcher_main
 *		Entry point of the static "gdpr launcher" background worker.
 *
 * Never returns; leaves through proc_exit when told to stop (die).  The
 * shippers it started stop by themselves at shutdown like any worker.
 */
void
gdpr_launcher_main(Datum main_arg)
{
	MemoryContext loopcxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* connected to no database, yet visible in pg_stat_activity */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname(GDPR_LAUNCHER_TYPE);

	loopcxt = AllocSetContextCreate(TopMemoryContext, "gdpr launcher loop",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(loopcxt);

	stop_orphaned_shippers();
	sync_shippers(true);

	for (;;)
	{
		bool		reloaded = false;
		long		timeout = launcher_timeout;

		/* woken early by SIGHUP, and when a shipper starts or stops */
		launcher_timeout = GDPR_LAUNCHER_NAPTIME;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			reloaded = true;
		}

		MemoryContextReset(loopcxt);
		sync_shippers(reloaded);
	}
}

/*
 * close_log_connection
 *		Close the shipper's libpq connection, if open.  Also registered to
 *		run at process exit.
 */
static void
close_log_connection(int code, Datum arg)
{
	if (log_conn != NULL)
	{
		PGconn	   *conn = log_conn;

		log_conn = NULL;
		gdpr_shipper_disconnect(conn);
	}
}

/*
 * extension_installed
 *		Whether the gdpr extension exists in this database.  Runs in its own
 *		transaction.
 */
static bool
extension_installed(void)
{
	bool		installed;

	StartTransactionCommand();
	installed = OidIsValid(get_extension_oid(GDPR_EXTENSION_NAME, true));
	CommitTransactionCommand();
	return installed;
}

/*
 * record_error
 *		Write a failure into gdpr.state in a small transaction of its own.
 *
 * Failing to record it (the extension was just dropped, say) only logs.
 */
static void
record_error(const char *message)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		gdpr_shipper_record_error(message);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				errmsg("could not record the gdpr shipping error: %s", edata->message));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
}

/*
 * note_failure
 *		Handle a failed attempt to connect or to ship.
 *
 * The first failure after a success is a WARNING (with the SQLSTATE of the
 * failure), later ones are DEBUG1, so that a log database that is down
 * for hours does not flood the server log.  Doubles the back-off delay up to
 * gdpr.retry_max_interval and records the error in gdpr.state.
 */
static void
note_failure(int sqlerrcode, const char *message, const char *detail)
{
	char	   *stored;

	ereport(failing ? DEBUG1 : WARNING,
			errcode(sqlerrcode),
			errmsg("%s", message),
			detail ? errdetail_internal("%s", detail) : 0,
			errcontext("gdpr log shipper for database \"%s\"", shipper_dbname));
	failing = true;

	if (retry_delay <= 0)
		retry_delay = Min(1000, gdpr_retry_max_interval);
	else
		retry_delay = Min(retry_delay * 2, gdpr_retry_max_interval);

	stored = detail ? psprintf("%s: %s", message, detail) : pstrdup(message);
	record_error(stored);
}

/*
 * note_success
 *		Reset the back-off after a successful round; LOG the recovery once.
 */
static void
note_success(void)
{
	if (failing)
		ereport(LOG,
				errmsg("gdpr log shipper for database \"%s\" reached the gdpr log database again",
					   shipper_dbname));
	failing = false;
	retry_delay = 0;
}

/*
 * ship_round
 *		One shipping round: if events are queued, connect if needed, ship one
 *		batch, commit.
 *
 * Returns the number of events shipped (0 when the queue is empty or when
 * gdpr.ship_log() or gdpr.rerun() holds the shipping lock), or -1 when the
 * round failed (reported through note_failure).  Errors inside the round
 * are caught: the transaction is aborted and the connection closed, since
 * its state is unknown.
 */
static int64
ship_round(MemoryContext cxt)
{
	char	   *volatile connect_error = NULL;
	volatile bool attempted = false;
	int64		shipped = 0;

	PG_TRY();
	{
		GdprShipBatch batch = {0, false};

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, "shipping gdpr log events");

		if (gdpr_shipper_lock(false) && !gdpr_shipper_queue_is_empty())
		{
			if (log_conn == NULL)
			{
				char	   *connerr = NULL;

				log_conn = gdpr_shipper_connect(&connerr);
				if (log_conn == NULL)
					connect_error = MemoryContextStrdup(cxt, connerr);
			}
			if (log_conn != NULL)
			{
				int64		mark = gdpr_shipper_read_mark(false);

				gdpr_shipper_ensure_log_table(log_conn);
				batch = gdpr_shipper_ship_batch(log_conn, &mark);
				attempted = true;
			}
		}

		/* inside the transaction: the warning looks up the source name */
		if (batch.unreplayed && !unreplayed_warned)
		{
			gdpr_shipper_warn_unreplayed();
			unreplayed_warned = true;
		}

		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);

		shipped = batch.shipped;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		close_log_connection(0, 0);
		note_failure(edata->sqlerrcode, edata->message, edata->detail);
		FreeErrorData(edata);
		return -1;
	}
	PG_END_TRY();

	if (connect_error != NULL)
	{
		note_failure(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION,
					 "could not connect to the gdpr log database", connect_error);
		return -1;
	}
	if (attempted)
		note_success();
	return shipped;
}

/*
 * gdpr_worker_main
 *		Entry point of a dynamic "gdpr log shipper" background worker.
 *
 * bgw_extra holds the name of the database to serve.  Never returns.
 */
void
gdpr_worker_main(Datum main_arg)
{
	char		dbname[NAMEDATALEN];
	MemoryContext loopcxt;

	strlcpy(dbname, MyBgworkerEntry->bgw_extra, NAMEDATALEN);
	strlcpy(shipper_dbname, dbname, NAMEDATALEN);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(dbname, NULL, 0);
	pgstat_report_appname(GDPR_SHIPPER_TYPE);
	before_shmem_exit(close_log_connection, (Datum) 0);

	/* every name this process resolves is schema-qualified or in pg_catalog */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	loopcxt = AllocSetContextCreate(TopMemoryContext, "gdpr worker loop",
									ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		timeout = gdpr_ship_interval;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* a new conninfo is used from the next connection on */
			close_log_connection(0, 0);
			retry_delay = 0;
		}

		MemoryContextSwitchTo(loopcxt);
		MemoryContextReset(loopcxt);

		if (gdpr_log_conninfo == NULL || gdpr_log_conninfo[0] == '\0')
		{
			close_log_connection(0, 0);
			timeout = GDPR_IDLE_NAPTIME;
		}
		else if (!extension_installed())
			close_log_connection(0, 0);
		else
		{
			int64		shipped = ship_round(loopcxt);

			if (shipped >= gdpr_ship_batch_size)
				continue;		/* more is waiting: at once */
			if (shipped < 0)
				timeout = retry_delay;
			else
				close_log_connection(0, 0); /* drained: never hold a session */
		}

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
