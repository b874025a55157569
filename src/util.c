/*-------------------------------------------------------------------------
 *
 * util.c
 *	  (being written)
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/util.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"
