/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every difference between the PostgreSQL majors gdpr supports (15, 16,
 *	  17 and 18), in one place.
 *
 * The rest of the code calls the gdpr_* names below and never tests
 * PG_VERSION_NUM itself.  The wrappers are macros, so this header needs none
 * of the headers declaring what they expand to: each call site includes
 * those it needs, as it did before.  When a major is dropped, its branches
 * go, and so, eventually, does the wrapper.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_COMPAT_H
#define GDPR_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000 || PG_VERSION_NUM >= 190000
#error "gdpr supports PostgreSQL 15, 16, 17 and 18"
#endif

/*
 * Ownership of a relation (utils/acl.h, catalog/pg_class.h).
 * 16 replaced pg_class_ownercheck() by object_ownercheck().
 */
#if PG_VERSION_NUM >= 160000
#define gdpr_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#else
#define gdpr_class_ownercheck(relid, roleid) \
	pg_class_ownercheck((relid), (roleid))
#endif

/*
 * The n-th (1-based) entry of the local copy of the backend status array
 * (utils/backend_status.h).  16 renamed it.
 */
#if PG_VERSION_NUM >= 160000
#define gdpr_local_beentry_by_index(idx) \
	pgstat_get_local_beentry_by_index(idx)
#else
#define gdpr_local_beentry_by_index(idx) \
	pgstat_fetch_stat_local_beentry(idx)
#endif

/*
 * A JSON lexer over a C string (common/jsonapi.h).  17 added a leading
 * argument: the context to fill in, NULL to have one palloc'd as before.
 */
#if PG_VERSION_NUM >= 170000
#define gdpr_json_lex_cstring_len(json, len, encoding, need_escapes) \
	makeJsonLexContextCstringLen(NULL, (json), (len), (encoding), (need_escapes))
#else
#define gdpr_json_lex_cstring_len(json, len, encoding, need_escapes) \
	makeJsonLexContextCstringLen((json), (len), (encoding), (need_escapes))
#endif

/*
 * The primary key index of a relation (utils/relcache.h).  18 can also
 * return a deferrable primary key; false keeps the earlier answer
 * (InvalidOid for a deferrable one).
 */
#if PG_VERSION_NUM >= 180000
#define gdpr_relation_primary_key_index(rel) \
	RelationGetPrimaryKeyIndex((rel), false)
#else
#define gdpr_relation_primary_key_index(rel) \
	RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * An index scan (access/genam.h).  18 added the instrumentation argument;
 * NULL asks for none.
 */
#if PG_VERSION_NUM >= 180000
#define gdpr_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define gdpr_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/*
 * Whether this backend holds a lock of exactly this mode (storage/lock.h).
 * 17 added "or stronger"; false keeps the earlier answer.
 */
#if PG_VERSION_NUM >= 170000
#define gdpr_lock_held_by_me(locktag, lockmode) \
	LockHeldByMe((locktag), (lockmode), false)
#else
#define gdpr_lock_held_by_me(locktag, lockmode) \
	LockHeldByMe((locktag), (lockmode))
#endif

/*
 * Whether a role may use a schema (utils/acl.h).  16 replaced
 * pg_namespace_aclcheck() by object_aclcheck().
 */
#if PG_VERSION_NUM >= 160000
#define gdpr_schema_usable(nspid, roleid) \
	(object_aclcheck(NamespaceRelationId, (nspid), (roleid), ACL_USAGE) == ACLCHECK_OK)
#else
#define gdpr_schema_usable(nspid, roleid) \
	(pg_namespace_aclcheck((nspid), (roleid), ACL_USAGE) == ACLCHECK_OK)
#endif

/*
 * Whether an ALTER TABLE subcommand adds a column (nodes/parsenodes.h).
 * 15 turns AT_AddColumn into AT_AddColumnRecurse when it recurses to
 * inheritors; 16 removed that subtype.
 */
#if PG_VERSION_NUM >= 160000
#define gdpr_at_adds_column(subtype) ((subtype) == AT_AddColumn)
#else
#define gdpr_at_adds_column(subtype) \
	((subtype) == AT_AddColumn || (subtype) == AT_AddColumnRecurse)
#endif

/*
 * A function that does not return: 18 replaced pg_attribute_noreturn() by
 * pg_noreturn, which (being C11's _Noreturn there) must open the
 * declaration: "pg_noreturn static void name(...)".
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * Interrupt-aware libpq (for files that include libpq-fe.h first).
 *
 * libpq/libpq-be-fe-helpers.h has libpqsrv_exec() and
 * libpqsrv_get_result_last() only from some minor releases on (16.2, for
 * one, lacks them), and a static inline function cannot be tested for with
 * the preprocessor.  So gdpr always uses these two, written after those
 * helpers (PostgreSQL's libpq-be-fe-helpers.h): every major and minor runs
 * the same code.  Connecting and disconnecting still use the header's
 * libpqsrv_connect_params() and libpqsrv_disconnect().
 */
#ifdef LIBPQ_FE_H

#include "miscadmin.h"
#include "storage/latch.h"

/*
 * gdpr_libpqsrv_get_result
 *		The next result of the command in progress, NULL when there is no
 *		more; waits on the latch and the socket, serving interrupts.
 */
static inline PGresult *
gdpr_libpqsrv_get_result(PGconn *conn, uint32 wait_event_info)
{
	while (PQisBusy(conn))
	{
		int			rc;

		rc = WaitLatchOrSocket(MyLatch,
							   WL_EXIT_ON_PM_DEATH | WL_LATCH_SET |
							   WL_SOCKET_READABLE,
							   PQsocket(conn), 0, wait_event_info);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		/* on trouble PQgetResult() reports it */
		if (PQconsumeInput(conn) == 0)
			break;
	}
	return PQgetResult(conn);
}

/*
 * gdpr_libpqsrv_get_result_last
 *		The last result of the command in progress, as PQexec() returns it,
 *		NULL if there was none.  No PGresult leaks when an interrupt raises
 *		an ERROR.
 */
static inline PGresult *
gdpr_libpqsrv_get_result_last(PGconn *conn, uint32 wait_event_info)
{
	PGresult   *volatile last = NULL;

	PG_TRY();
	{
		for (;;)
		{
			PGresult   *res = gdpr_libpqsrv_get_result(conn, wait_event_info);
			ExecStatusType status;

			if (res == NULL)
				break;
			PQclear(last);
			last = res;
			status = PQresultStatus(res);
			if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT ||
				status == PGRES_COPY_BOTH || PQstatus(conn) == CONNECTION_BAD)
				break;
		}
	}
	PG_CATCH();
	{
		PQclear(last);
		PG_RE_THROW();
	}
	PG_END_TRY();

	return last;
}

/*
 * gdpr_libpqsrv_exec
 *		PQexec() that serves interrupts while it waits.
 */
static inline PGresult *
gdpr_libpqsrv_exec(PGconn *conn, const char *query, uint32 wait_event_info)
{
	if (!PQsendQuery(conn, query))
		return NULL;
	return gdpr_libpqsrv_get_result_last(conn, wait_event_info);
}

#endif							/* LIBPQ_FE_H */

#endif							/* GDPR_COMPAT_H */
