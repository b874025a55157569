/*-------------------------------------------------------------------------
 *
 * search.h
 *	  The search conditions of gdpr.search(), shared with the export code.
 *
 * search.c turns a search term into one WHERE clause per registered table;
 * gdpr.search() runs them to list the hits, gdpr.export_search() uses them
 * as the start rows of one merged export.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/search.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef GDPR_SEARCH_H
#define GDPR_SEARCH_H

#include "gdpr.h"

/* the search of one registered table, for alias "t" */
typedef struct GdprSearchTable
{
	Oid			relid;
	char	   *relname;		/* gdpr_relation_name() */
	GdprTable  *table;			/* registry entry */
	GdprKey    *key;
	int			ncols;			/* searchable columns, in column order */
	char	  **colnames;
	char	  **conds;			/* one condition per column, on alias "t" */
	char	   *where;			/* the conditions OR-ed together */
	int			nparams;
	Oid		   *paramtypes;
	Datum	   *paramvalues;
} GdprSearchTable;

extern List *gdpr_search_prepare(const char *term, bool warn_keyless);
extern GdprKey *gdpr_search_skip_keyless(Oid relid, const char *what);
extern bool gdpr_search_column_readable(Oid relid, AttrNumber attnum);
extern int	gdpr_search_execute(const char *sql, int nargs, Oid *argtypes,
								Datum *values, bool generic, DestReceiver *dest);

#endif							/* GDPR_SEARCH_H */
