/*-------------------------------------------------------------------------
 *
 * declare.c
 *	  (being written)
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/declare.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"

/* placeholder until the label provider lands */
void
gdpr_declare_init(void)
{
}
