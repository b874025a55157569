/*-------------------------------------------------------------------------
 *
 * gdpr.c
 *	  Module entry point: PG_MODULE_MAGIC and _PG_init.
 *
 * _PG_init only delegates: settings (guc.c), the label provider and the
 * COMMENT hook (declare.c), relcache callbacks (trigger.c) and, when loaded
 * through shared_preload_libraries, the log worker (worker.c).
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/gdpr.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "gdpr.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init
 *		Load-time initialisation of the gdpr library.
 *
 * Settings and hooks are installed in every process that loads the library;
 * the background worker can only be registered while the postmaster loads
 * shared_preload_libraries.
 */
void
_PG_init(void)
{
	gdpr_define_gucs();
	gdpr_declare_init();
	gdpr_util_init();
	gdpr_identity_init();
	gdpr_trigger_init();

	if (process_shared_preload_libraries_in_progress)
		gdpr_worker_register();
}
