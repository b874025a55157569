/*-------------------------------------------------------------------------
 *
 * trigger.c
 *	  (being written)
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/trigger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"

/* placeholder */
void
gdpr_trigger_init(void)
{
}
