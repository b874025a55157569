/*-------------------------------------------------------------------------
 *
 * shipper.c
 *	  (being written)
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/shipper.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "gdpr.h"
