/*-------------------------------------------------------------------------
 *
 * pending.c
 *	  TEMPORARY weak stand-ins for SQL-callable functions whose real
 *	  implementations are being written in other files.  A strong definition
 *	  elsewhere overrides each at link time.  This file is removed before
 *	  release; nothing here is a feature.
 *
 * IDENTIFICATION
 *	  src/pending.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"

#include "gdpr.h"

#define GDPR_PENDING(fn) \
	extern PGDLLEXPORT const Pg_finfo_record *pg_finfo_##fn(void) __attribute__((weak)); \
	const Pg_finfo_record *pg_finfo_##fn(void) \
	{ static const Pg_finfo_record my_finfo = {1}; return &my_finfo; } \
	extern PGDLLEXPORT Datum fn(PG_FUNCTION_ARGS) __attribute__((weak)); \
	Datum fn(PG_FUNCTION_ARGS) \
	{ ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), \
					  errmsg("%s is not available in this build", #fn))); \
	  PG_RETURN_NULL(); }

GDPR_PENDING(gdpr_ship_log)
GDPR_PENDING(gdpr_rerun)
GDPR_PENDING(gdpr_search)
GDPR_PENDING(gdpr_export)
GDPR_PENDING(gdpr_export_search)
GDPR_PENDING(gdpr_anonymise_search)
