/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The gdpr log worker: a launcher and one log shipper per database.
 *
 * The launcher ("gdpr launcher") is a static background worker, registered
 * when the library is preloaded.  It is connected to no database.  It starts
 * a dynamic worker ("gdpr log shipper") for a database listed in
 * gdpr.databases when that database has events to ship: a transaction that
 * queued events notes its database in shared memory when it commits and
 * wakes the launcher (only when the database was not noted already; a
 * wake-up for a database the launcher knows reads no catalog).  The launcher also looks at every listed database when
 * it starts, after a reload and every GDPR_SWEEP_INTERVAL (events committed
 * as part of a prepared transaction, say), and stops the shipper of a
 * database that leaves the list.  Shippers are never restarted by the
 * postmaster itself: only a launcher knows them, so a launcher that starts
 * again (after pg_terminate_backend, say) first stops the shippers of its
 * predecessor instead of leaving them running unsupervised.
 *
 * A shipper connects to its database and ships the queue every
 * gdpr.ship_interval (at once again after a full batch; a running shipper
 * is not woken for each commit, so that a busy database gets one round per
 * interval, not one per transaction), keeping its connection to the log
 * database while there is work.  Once the queue has stayed empty for
 * GDPR_SHIPPER_LINGER it exits, closing both connections: a database with
 * nothing to ship has no gdpr process connected to it, so DROP DATABASE and
 * CREATE DATABASE ... TEMPLATE work, and a smart shutdown is never held up.
 * A log database that cannot be reached is a WARNING the first time, then
 * the shipper retries with an exponential back-off capped at
 * gdpr.retry_max_interval (keeping its events, and its connection to the
 * database, meanwhile) and says so (LOG) once it works again.  An error
 * inside a round aborts that round's transaction only.
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
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
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

/* how often the launcher looks at every listed database anyway (ms) */
#define GDPR_SWEEP_INTERVAL		300000

/* the least time between two starts of a shipper for one database (ms) */
#define GDPR_START_INTERVAL		1000

/* how long a shipper stays once the queue is empty (ms) */
#define GDPR_SHIPPER_LINGER		1000

/* databases that can be waiting for a shipper at once before all are */
#define GDPR_MAX_PENDING		64

/*
 * Shared state: the databases whose committed transactions queued events,
 * for the launcher to start (or wake) their shippers.
 */
typedef struct GdprWorkerShared
{
	slock_t		mutex;
	Latch	   *launcher_latch; /* NULL while no launcher runs */
	bool		all_pending;	/* more databases than fit below */
	int			npending;
	Oid			pending[GDPR_MAX_PENDING];
	int			nserving;
	Oid			serving[GDPR_MAX_PENDING];	/* a shipper is at work here */
} GdprWorkerShared;

PGDLLEXPORT void gdpr_launcher_main(Datum main_arg);
PGDLLEXPORT void gdpr_worker_main(Datum main_arg);

/* one database the launcher serves */
typedef struct ShipperSlot
{
	char		dbname[NAMEDATALEN];
	Oid			dboid;
	BackgroundWorkerHandle *handle; /* NULL: not running */
	TimestampTz started_at;		/* last attempt to start it */
	bool		pending;		/* it has events to ship */
} ShipperSlot;

/* a database that accepts connections */
typedef struct DatabaseEntry
{
	char		name[NAMEDATALEN];
	Oid			oid;
} DatabaseEntry;

/* Local state (every process) */
static GdprWorkerShared *worker_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static bool queued_in_xact = false;

/* Local state (launcher) */
static List *shippers = NIL;	/* ShipperSlot *, in TopMemoryContext */
static List *seen_databases = NIL;	/* OIDs at the last look, in TopMemoryContext */
static bool launch_warned = false;
static long launcher_timeout = GDPR_LAUNCHER_NAPTIME;	/* next wait, ms */
static TimestampTz last_sweep = 0;

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
 * worker_shmem_request
 *		shmem_request_hook: room for GdprWorkerShared.
 */
static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(GdprWorkerShared)));
}

/*
 * worker_shmem_startup
 *		shmem_startup_hook: create or attach to GdprWorkerShared.
 */
static void
worker_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	worker_shared = ShmemInitStruct("gdpr worker", sizeof(GdprWorkerShared), &found);
	if (!found)
	{
		memset(worker_shared, 0, sizeof(GdprWorkerShared));
		SpinLockInit(&worker_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * note_pending
 *		Note in shared memory that database dboid has events to ship, and
 *		wake the launcher.
 */
static void
note_pending(Oid dboid)
{
	Latch	   *latch;
	bool		known = false;

	if (worker_shared == NULL)
		return;
	/* nowhere to ship: the reload that sets it looks at every database */
	if (gdpr_log_conninfo == NULL || gdpr_log_conninfo[0] == '\0')
		return;
	SpinLockAcquire(&worker_shared->mutex);
	/* a shipper at work here ships it without being told (see set_serving) */
	for (int i = 0; i < worker_shared->nserving; i++)
		if (worker_shared->serving[i] == dboid)
		{
			SpinLockRelease(&worker_shared->mutex);
			return;
		}
	for (int i = 0; i < worker_shared->npending; i++)
		if (worker_shared->pending[i] == dboid)
			known = true;
	if (!known)
	{
		if (worker_shared->npending < GDPR_MAX_PENDING)
			worker_shared->pending[worker_shared->npending++] = dboid;
		else
			worker_shared->all_pending = true;
	}
	latch = worker_shared->launcher_latch;
	SpinLockRelease(&worker_shared->mutex);
	/* already pending: the launcher has been woken for it and will see it */
	if (latch != NULL && !known)
		SetLatch(latch);
}

/*
 * set_serving
 *		Say in shared memory whether this shipper is at work in its
 *		database; whether it was.  While it is, committing backends of the database do not
 *		wake the launcher: the shipper looks at the queue every
 *		gdpr.ship_interval.  A shipper that leaves first stops serving, then
 *		looks at the queue once more (gdpr_worker_main): an event committed
 *		before that look is seen by it, one committed after wakes the
 *		launcher.  A database beyond the array's room is simply not
 *		recorded (its commits wake the launcher, as before).
 */
static bool
set_serving(bool on)
{
	bool		was = false;

	if (worker_shared == NULL)
		return false;
	SpinLockAcquire(&worker_shared->mutex);
	for (int i = 0; i < worker_shared->nserving; i++)
		if (worker_shared->serving[i] == MyDatabaseId)
		{
			was = true;
			if (!on)
				worker_shared->serving[i] =
					worker_shared->serving[--worker_shared->nserving];
			break;
		}
	if (on && !was && worker_shared->nserving < GDPR_MAX_PENDING)
		worker_shared->serving[worker_shared->nserving++] = MyDatabaseId;
	SpinLockRelease(&worker_shared->mutex);
	return was;
}

/*
 * stop_serving
 *		before_shmem_exit callback of a shipper.  A shipper that leaves on
 *		purpose stopped serving already; one that was terminated or failed
 *		stops here and notes its database as pending, as the commits it
 *		kept from waking the launcher would have: the launcher starts a new
 *		shipper for the events that may be waiting.
 */
static void
stop_serving(int code, Datum arg)
{
	if (set_serving(false))
		note_pending(MyDatabaseId);
}

/*
 * wake_launcher_at_commit
 *		XactCallback: when a transaction that queued events commits (or is
 *		prepared), its database has events to ship.
 */
static void
wake_launcher_at_commit(XactEvent event, void *arg)
{
	if (!queued_in_xact)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			note_pending(MyDatabaseId);
			queued_in_xact = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			queued_in_xact = false;
			break;
		default:
			break;
	}
}

/*
 * gdpr_worker_note_queued
 *		Called whenever the current transaction writes the queue: its
 *		commit will wake the launcher.
 */
void
gdpr_worker_note_queued(void)
{
	queued_in_xact = true;
}

/*
 * gdpr_worker_register
 *		Register the static launcher, the shared memory it watches, and the
 *		commit callback that fills it.  Called from _PG_init while the
 *		postmaster loads shared_preload_libraries (backends inherit the
 *		callback).
 */
void
gdpr_worker_register(void)
{
	BackgroundWorker worker;

	init_worker(&worker, "gdpr_launcher_main", GDPR_LAUNCHER_TYPE, GDPR_RESTART_TIME);
	snprintf(worker.bgw_name, BGW_MAXLEN, GDPR_LAUNCHER_TYPE);
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;
	RegisterXactCallback(wake_launcher_at_commit, NULL);
}

/*
 * existing_databases
 *		Every database that accepts connections, as a List of
 *		DatabaseEntry * in the caller's memory context.
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
		DatabaseEntry *entry;

		if (!db->datallowconn)
			continue;
		entry = MemoryContextAlloc(outer, sizeof(DatabaseEntry));
		strlcpy(entry->name, NameStr(db->datname), NAMEDATALEN);
		entry->oid = db->oid;
		result = lappend(result, entry);
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
wanted_databases(bool warn_missing, List *existing)
{
	char	   *raw = pstrdup(gdpr_databases ? gdpr_databases : "");
	List	   *names = NIL;
	List	   *result = NIL;
	ListCell   *lc;

	if (!SplitIdentifierString(raw, ',', &names))
	{
		ereport(WARNING,
				errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				errmsg("invalid list syntax in parameter \"%s\"", "gdpr.databases"));
		return NIL;
	}

	foreach(lc, names)
	{
		char	   *name = (char *) lfirst(lc);
		DatabaseEntry *found = NULL;
		ListCell   *lc2;

		foreach(lc2, existing)
		{
			if (strcmp(((DatabaseEntry *) lfirst(lc2))->name, name) == 0)
				found = lfirst(lc2);
		}
		if (found != NULL)
			result = lappend(result, found);
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
 * take_pending
 *		Take the shared list of databases that committed events since the
 *		last look into pending[] (at most GDPR_MAX_PENDING), emptying it;
 *		*all when it overflowed.  Returns how many there are.
 */
static int
take_pending(Oid *pending, bool *all)
{
	int			n;

	SpinLockAcquire(&worker_shared->mutex);
	n = worker_shared->npending;
	memcpy(pending, worker_shared->pending, sizeof(Oid) * n);
	*all = worker_shared->all_pending;
	worker_shared->npending = 0;
	worker_shared->all_pending = false;
	SpinLockRelease(&worker_shared->mutex);
	return n;
}

/*
 * serve_slot
 *		Start the shipper of a database with events to ship, or wake it when
 *		it runs.
 *
 * A slot stays pending while its shipper runs: a shipper about to exit may
 * have looked at the queue before the events arrived, so a pending database
 * whose shipper stops gets a new one (which exits soon if there is nothing
 * left).  Starts are at least GDPR_START_INTERVAL apart.
 */
static void
serve_slot(ShipperSlot *slot)
{
	pid_t		pid = 0;

	if (slot->handle != NULL &&
		GetBackgroundWorkerPid(slot->handle, &pid) == BGWH_STOPPED)
	{
		pfree(slot->handle);
		slot->handle = NULL;
	}
	if (!slot->pending)
		return;
	/*
	 * A running shipper looks at the queue every gdpr.ship_interval anyway:
	 * waking it for every commit would make a shipping round of every
	 * commit under load.
	 */
	if (slot->handle != NULL)
		return;
	if (gdpr_log_conninfo == NULL || gdpr_log_conninfo[0] == '\0')
		return;					/* nowhere to ship: the events wait */
	{
		TimestampTz due = TimestampTzPlusMilliseconds(slot->started_at, GDPR_START_INTERVAL);
		TimestampTz now = GetCurrentTimestamp();

		if (now < due)
		{
			long		wait = TimestampDifferenceMilliseconds(now, due);

			launcher_timeout = Min(launcher_timeout, Max(wait, 1));
			return;
		}
		slot->started_at = now;
		slot->handle = start_shipper(slot->dbname);
		if (slot->handle != NULL)
			slot->pending = false;
		else
			launcher_timeout = Min(launcher_timeout, GDPR_START_INTERVAL);
	}
}

/*
 * update_slots
 *		Bring the slots in line with gdpr.databases: slots of databases no
 *		longer listed (or dropped) go, their shippers stopped; listed
 *		databases without a slot get one, pending (it may have events
 *		already).  Remembers every database it saw (seen_databases).
 */
static void
update_slots(bool warn_missing)
{
	List	   *existing = existing_databases();
	List	   *wanted = wanted_databases(warn_missing, existing);
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
			DatabaseEntry *db = lfirst(lc2);

			if (strcmp(db->name, slot->dbname) == 0 && db->oid == slot->dboid)
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
		old = MemoryContextSwitchTo(TopMemoryContext);
		keep = lappend(keep, slot);
		MemoryContextSwitchTo(old);
	}

	foreach(lc, wanted)
	{
		DatabaseEntry *db = lfirst(lc);
		bool		known = false;
		ListCell   *lc2;

		foreach(lc2, keep)
		{
			if (((ShipperSlot *) lfirst(lc2))->dboid == db->oid)
				known = true;
		}
		if (!known)
		{
			ShipperSlot *slot = MemoryContextAllocZero(TopMemoryContext, sizeof(ShipperSlot));

			strlcpy(slot->dbname, db->name, NAMEDATALEN);
			slot->dboid = db->oid;
			slot->pending = true;	/* it may have events already */
			old = MemoryContextSwitchTo(TopMemoryContext);
			keep = lappend(keep, slot);
			MemoryContextSwitchTo(old);
		}
	}

	list_free(shippers);
	shippers = keep;

	list_free(seen_databases);
	seen_databases = NIL;
	old = MemoryContextSwitchTo(TopMemoryContext);
	foreach(lc, existing)
		seen_databases = lappend_oid(seen_databases, ((DatabaseEntry *) lfirst(lc))->oid);
	MemoryContextSwitchTo(old);
}

/*
 * sync_shippers
 *		One round of the launcher: take the databases that committed events,
 *		and start or keep the shippers they need.
 *
 * The list of databases (a scan of pg_database) is read again only when
 * it may have changed for gdpr: after a reload, at a sweep, when the
 * shared list overflowed, or when a database the launcher has not seen
 * committed events.  A wake-up for a known database costs no catalog
 * access.  With sweep, every listed database is looked at, as if it had
 * events (a new launcher, a reload, and every GDPR_SWEEP_INTERVAL).
 */
static void
sync_shippers(bool warn_missing, bool sweep)
{
	Oid			pending[GDPR_MAX_PENDING];
	bool		all;
	int			n = take_pending(pending, &all);
	bool		refresh = warn_missing || sweep || all || seen_databases == NIL;
	ListCell   *lc;

	for (int i = 0; i < n && !refresh; i++)
		if (!list_member_oid(seen_databases, pending[i]))
			refresh = true;
	if (refresh)
		update_slots(warn_missing);

	foreach(lc, shippers)
	{
		ShipperSlot *slot = (ShipperSlot *) lfirst(lc);

		for (int i = 0; i < n && !slot->pending; i++)
			if (pending[i] == slot->dboid)
				slot->pending = true;
		if (all || sweep)
			slot->pending = true;
		serve_slot(slot);
	}
}

/*
 * forget_launcher_latch
 *		before_shmem_exit callback of the launcher: backends stop waking it.
 */
static void
forget_launcher_latch(int code, Datum arg)
{
	if (worker_shared == NULL)
		return;
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->launcher_latch = NULL;
	SpinLockRelease(&worker_shared->mutex);
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

	/* backends wake this launcher when they commit events */
	if (worker_shared != NULL)
	{
		SpinLockAcquire(&worker_shared->mutex);
		worker_shared->launcher_latch = MyLatch;
		SpinLockRelease(&worker_shared->mutex);
		before_shmem_exit(forget_launcher_latch, (Datum) 0);
	}

	stop_orphaned_shippers();
	last_sweep = GetCurrentTimestamp();
	sync_shippers(true, true);

	for (;;)
	{
		bool		reloaded = false;
		bool		sweep;
		long		timeout = launcher_timeout;
		TimestampTz now;

		/* woken by SIGHUP, by committed events, and when a shipper stops */
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

		now = GetCurrentTimestamp();
		sweep = reloaded ||
			TimestampDifferenceExceeds(last_sweep, now, GDPR_SWEEP_INTERVAL);
		if (sweep)
			last_sweep = now;
		MemoryContextReset(loopcxt);
		sync_shippers(reloaded, sweep);
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
		/* let autovacuum see the queue's deletes */
		pgstat_report_stat(false);
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
 * gdpr.retry_max_interval and records the error in gdpr.state.  The texts
 * are scrubbed of the connection string's secrets (they usually come from
 * libpq or the log server).
 *
 * Everything is built in a context of its own, deleted on the way out: a
 * failure can happen at every retry for days, and the caller may well be
 * in TopMemoryContext after a commit.
 */
static void
note_failure(int sqlerrcode, const char *message, const char *detail)
{
	MemoryContext cxt;
	MemoryContext old;
	char	   *clean_message;
	char	   *clean_detail;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "gdpr shipping failure",
								ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);

	clean_message = gdpr_conninfo_scrub(message);
	clean_detail = gdpr_conninfo_scrub(detail);

	ereport(failing ? DEBUG1 : WARNING,
			errcode(sqlerrcode),
			errmsg("%s", clean_message),
			clean_detail ? errdetail_internal("%s", clean_detail) : 0,
			errcontext("gdpr log shipper for database \"%s\"", shipper_dbname));
	failing = true;

	if (retry_delay <= 0)
		retry_delay = Min(1000, gdpr_retry_max_interval);
	else
		retry_delay = Min(retry_delay * 2, gdpr_retry_max_interval);

	record_error(clean_detail ? psprintf("%s: %s", clean_message, clean_detail)
				 : clean_message);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
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
 * queue_is_empty
 *		Whether this database's queue holds no committed event, read in a
 *		transaction of its own.
 */
static bool
queue_is_empty(void)
{
	bool		empty;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	empty = gdpr_shipper_queue_is_empty();
	PopActiveSnapshot();
	CommitTransactionCommand();
	return empty;
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
		/* the commit left TopMemoryContext current: never allocate there */
		MemoryContextSwitchTo(cxt);
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
	TimestampTz idle_since = 0;

	strlcpy(dbname, MyBgworkerEntry->bgw_extra, NAMEDATALEN);
	strlcpy(shipper_dbname, dbname, NAMEDATALEN);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(dbname, NULL, 0);
	pgstat_report_appname(GDPR_SHIPPER_TYPE);
	before_shmem_exit(close_log_connection, (Datum) 0);
	before_shmem_exit(stop_serving, (Datum) 0);
	(void) set_serving(true);

	/* every name this process resolves is schema-qualified or in pg_catalog */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	loopcxt = AllocSetContextCreate(TopMemoryContext, "gdpr worker loop",
									ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		timeout = gdpr_ship_interval;
		int64		shipped;

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

		/* nothing this shipper can do: leave, the launcher knows when to come back */
		if (gdpr_log_conninfo == NULL || gdpr_log_conninfo[0] == '\0' ||
			!extension_installed())
		{
			(void) set_serving(false);
			proc_exit(0);
		}

		shipped = ship_round(loopcxt);
		if (shipped >= gdpr_ship_batch_size)
		{
			idle_since = 0;
			continue;			/* more is waiting: at once */
		}
		if (shipped < 0)
		{
			idle_since = 0;
			timeout = retry_delay;
		}
		else if (shipped > 0)
			idle_since = 0;
		else
		{
			TimestampTz now = GetCurrentTimestamp();

			if (idle_since == 0)
				idle_since = now;
			else if (TimestampDifferenceExceeds(idle_since, now, GDPR_SHIPPER_LINGER))
			{
				/* drained: hold no session, on either side */
				(void) set_serving(false);
				if (queue_is_empty())
					proc_exit(0);
				(void) set_serving(true);	/* committed while it was serving: stay */
				idle_since = 0;
				continue;
			}
			timeout = Min(timeout, GDPR_SHIPPER_LINGER);
		}

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
