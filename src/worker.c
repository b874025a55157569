/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  (being written)
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"

/* placeholder until the worker lands */
void
gdpr_worker_register(void)
{
}
