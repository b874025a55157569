/*-------------------------------------------------------------------------
 *
 * jsonb_build.h
 *	  Assembling jsonb arrays and objects from built jsonb values
 *	  (jsonb_build.c), for the export.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/jsonb_build.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_JSONB_BUILD_H
#define GDPR_JSONB_BUILD_H

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

/* a jsonb container being built: its children's data and JEntries */
typedef struct GdprJsonbBuild
{
	StringInfoData data;		/* the children's data, in order */
	JEntry	   *entries;		/* each child's type and length */
	int			n;				/* children added */
	int			size;			/* room in entries */
} GdprJsonbBuild;

extern void gdpr_jsonb_build_init(GdprJsonbBuild *b);
extern void gdpr_jsonb_build_add(GdprJsonbBuild *b, Jsonb *value);
extern void gdpr_jsonb_build_add_string(GdprJsonbBuild *b, const char *s, int len);
extern Jsonb *gdpr_jsonb_build_finish(GdprJsonbBuild *b, uint32 flags, int count);
extern Jsonb *gdpr_jsonb_object(int n, char **keys, Jsonb **values);

#endif							/* GDPR_JSONB_BUILD_H */
