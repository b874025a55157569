/*-------------------------------------------------------------------------
 *
 * rerun.c
 *	  (being written)
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/rerun.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"
