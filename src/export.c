/*-------------------------------------------------------------------------
 *
 * export.c
 *	  (being written)
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/export.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"
