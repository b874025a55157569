/*-------------------------------------------------------------------------
 *
 * shipper.h
 *	  The log database side of gdpr, shared by the worker, ship_log and rerun.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/shipper.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_SHIPPER_H
#define GDPR_SHIPPER_H

#include "libpq-fe.h"

/*
 * Key of the transaction-level advisory lock that serialises shipping and
 * replaying within one database ("gdpr" in ASCII, then 1).  Advisory locks
 * are per database, so each database has its own.
 */
#define GDPR_SHIP_LOCK_KEY		INT64CONST(0x6764707200000001)

/* the remote table, schema-qualified */
#define GDPR_LOG_TABLE			"gdpr_log.event"

/* outcome of one shipped batch */
typedef struct GdprShipBatch
{
	int64		shipped;		/* queue events delivered (resends included) */
	bool		unreplayed;		/* the log holds events not reflected here */
} GdprShipBatch;

extern void gdpr_shipper_require_conninfo(void);
extern PGconn *gdpr_shipper_connect(char **errmsg);
extern PGconn *gdpr_shipper_connect_or_error(void);
extern void gdpr_shipper_disconnect(PGconn *conn);
extern PGresult *gdpr_shipper_exec(PGconn *conn, const char *sql, int nparams,
								   const char *const *values,
								   ExecStatusType expected, const char *what);
extern bool gdpr_shipper_log_table_exists(PGconn *conn);
extern bool gdpr_shipper_log_has_lineage(PGconn *conn);
extern void gdpr_shipper_ensure_log_table(PGconn *conn);
extern bool gdpr_shipper_lock(bool wait);
extern int64 gdpr_shipper_read_mark(bool for_update);
extern bool gdpr_shipper_queue_is_empty(void);
extern GdprShipBatch gdpr_shipper_ship_batch(PGconn *conn, int64 *mark);
extern void gdpr_shipper_record_error(const char *message);
extern void gdpr_shipper_warn_unreplayed(void);

#endif							/* GDPR_SHIPPER_H */
