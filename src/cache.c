/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  The one cache discipline of gdpr: backend-local caches of things built
 *	  from the catalogs (primary keys, registry entries, ON DELETE ANONYMISE
 *	  rules, prepared statements), each entry in its own small memory
 *	  context, dropped when a relation it depends on is invalidated.
 *
 * Modelled on pgoutput's RelationSyncCache and pg_cron's job cache, with one
 * difference that matters here: a pointer into an entry may still be in use
 * when an invalidation arrives (a trigger fired by gdpr's own UPDATE runs
 * DDL; an export keeps a table's key while it runs user-visible SQL).  So an
 * invalidated entry is never freed at once: it leaves the hash table and is
 * retired, and retired entries are freed at the end of the transaction, when
 * nothing can point into them any more.  Code that keeps entries across a
 * commit (the batched scrub) looks them up again after each commit.
 *
 * An entry depends on the relations its builder names (gdpr_cache_depend),
 * on every relation a prepared statement reads (gdpr_cache_depend_plan:
 * the query's and the generic plan's relation OIDs), or on every relation
 * (gdpr_cache_depend_all).  A relcache invalidation drops the entries that
 * depend on its relation; a cache reset drops them all.  An invalidation
 * that arrives while an entry is being built leaves it for the current use
 * only.
 *
 * Copyright (c) 2026, gdpr developers
 *
 * IDENTIFICATION
 *	  src/cache.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "nodes/plannodes.h"
#include "utils/catcache.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/plancache.h"

#include "gdpr.h"

/* one entry: its header, then the caller's entrysize bytes */
typedef struct CacheItem
{
	GdprCache  *cache;
	MemoryContext cxt;			/* holds the item and all it owns */
	bool		valid;
	bool		all_relations;	/* depends on every relation */
	List	   *deps;			/* relation OIDs it depends on */
	char	   *strkey;			/* the key of a string-keyed cache */
	struct CacheItem *next_retired;
} CacheItem;

#define ITEM_HEADER_SIZE	MAXALIGN(sizeof(CacheItem))
#define ITEM_PAYLOAD(item)	((void *) ((char *) (item) + ITEM_HEADER_SIZE))
#define PAYLOAD_ITEM(p)		((CacheItem *) ((char *) (p) - ITEM_HEADER_SIZE))

/* a hash slot: the key (first, as dynahash wants it), then the item */
typedef struct CacheSlot
{
	union
	{
		Oid			oid;
		char	   *str;
	}			key;
	CacheItem  *item;
} CacheSlot;

struct GdprCache
{
	const char *name;
	Size		entrysize;
	bool		string_keys;
	GdprCacheRelease release;
	HTAB	   *hash;			/* made at first use, in CacheMemoryContext */
	uint64		invalidations;	/* bumped by every invalidation seen */
};

/* Local state */
#define GDPR_MAX_CACHES 12
static GdprCache caches[GDPR_MAX_CACHES];
static int	ncaches = 0;
static CacheItem *retired = NULL;	/* freed at transaction end */

/*
 * retire_item
 *		Take an item out of use; it is freed at the end of the transaction.
 */
static void
retire_item(CacheItem *item)
{
	item->valid = false;
	item->next_retired = retired;
	retired = item;
}

/*
 * depends_on
 *		Whether an invalidation of relid drops item.
 */
static bool
depends_on(CacheItem *item, Oid relid)
{
	return relid == InvalidOid || item->all_relations ||
		list_member_oid(item->deps, relid);
}

/*
 * cache_relcache_callback
 *		Relcache callback of every cache: retire the entries that depend on
 *		relid (all of them for InvalidOid, a cache reset).
 */
static void
cache_relcache_callback(Datum arg, Oid relid)
{
	for (int c = 0; c < ncaches; c++)
	{
		GdprCache  *cache = &caches[c];
		HASH_SEQ_STATUS status;
		CacheSlot  *slot;

		cache->invalidations++;
		if (cache->hash == NULL)
			continue;
		hash_seq_init(&status, cache->hash);
		while ((slot = hash_seq_search(&status)) != NULL)
		{
			CacheItem  *item = slot->item;

			if (!depends_on(item, relid))
				continue;
			/* removing the element just returned is allowed */
			(void) hash_search(cache->hash, &slot->key, HASH_REMOVE, NULL);
			retire_item(item);
		}
	}
}

/*
 * free_retired
 *		XactCallback: free the retired entries, now that nothing of the
 *		transaction can point into them.
 */
static void
free_retired(XactEvent event, void *arg)
{
	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	while (retired != NULL)
	{
		CacheItem  *item = retired;

		retired = item->next_retired;
		if (item->cache->release != NULL)
			item->cache->release(ITEM_PAYLOAD(item));
		MemoryContextDelete(item->cxt);
	}
}

/*
 * gdpr_cache_init
 *		Register the callbacks of all caches; called once from _PG_init.
 */
void
gdpr_cache_init(void)
{
	CacheRegisterRelcacheCallback(cache_relcache_callback, (Datum) 0);
	RegisterXactCallback(free_retired, NULL);
}

/*
 * gdpr_string_key_hash
 *		dynahash hash function over a pointer to a NUL-terminated string.
 */
uint32
gdpr_string_key_hash(const void *key, Size keysize)
{
	const char *k = *(char *const *) key;

	return hash_bytes((const unsigned char *) k, strlen(k));
}

/*
 * gdpr_string_key_match
 *		dynahash match function over pointers to NUL-terminated strings; 0
 *		when equal.
 */
int
gdpr_string_key_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/*
 * gdpr_cache_create
 *		A new cache (at most GDPR_MAX_CACHES per backend, each made once by
 *		its owning file) of entries of entrysize bytes, keyed by an Oid or,
 *		with string_keys, by a C string.  release (may be NULL) frees what an
 *		entry holds outside its memory context, such as kept plans.
 */
GdprCache *
gdpr_cache_create(const char *name, Size entrysize, bool string_keys,
				  GdprCacheRelease release)
{
	GdprCache  *cache;

	if (ncaches >= GDPR_MAX_CACHES)
		elog(ERROR, "too many gdpr caches");
	cache = &caches[ncaches++];
	cache->name = name;
	cache->entrysize = entrysize;
	cache->string_keys = string_keys;
	cache->release = release;
	cache->hash = NULL;
	cache->invalidations = 0;
	return cache;
}

/*
 * cache_hash
 *		The cache's hash table, made at first use.
 */
static HTAB *
cache_hash(GdprCache *cache)
{
	HASHCTL		ctl;

	if (cache->hash != NULL)
		return cache->hash;
	if (CacheMemoryContext == NULL)
		CreateCacheMemoryContext();
	ctl.keysize = cache->string_keys ? sizeof(char *) : sizeof(Oid);
	ctl.entrysize = sizeof(CacheSlot);
	ctl.hcxt = CacheMemoryContext;
	if (cache->string_keys)
	{
		ctl.hash = gdpr_string_key_hash;
		ctl.match = gdpr_string_key_match;
		cache->hash = hash_create(cache->name, 64, &ctl,
								  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
	}
	else
		cache->hash = hash_create(cache->name, 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	return cache->hash;
}

/*
 * gdpr_cache_find
 *		The valid entry of key (an Oid *, or a char * for string keys), or
 *		NULL.  Never builds.
 */
void *
gdpr_cache_find(GdprCache *cache, const void *key)
{
	CacheSlot  *slot;
	const void *hkey = cache->string_keys ? (const void *) &key : key;

	slot = hash_search(cache_hash(cache), hkey, HASH_FIND, NULL);
	if (slot == NULL || !slot->item->valid)
		return NULL;
	return ITEM_PAYLOAD(slot->item);
}

/*
 * gdpr_cache_lookup
 *		The entry of key (an Oid *, or a char * for string keys), built by
 *		build when missing or invalidated.
 *
 * build gets the zeroed entry, the key and arg; it runs in the caller's
 * memory context (for its scratch work) and allocates what the entry keeps
 * in gdpr_cache_context(entry), naming the relations the entry depends on.
 * If it fails, the half-built entry goes with the transaction.  The entry
 * stays readable until the end of the current transaction, whatever
 * invalidations arrive meanwhile; do not modify it.
 */
void *
gdpr_cache_lookup(GdprCache *cache, const void *key, GdprCacheBuild build, void *arg)
{
	HTAB	   *hash = cache_hash(cache);
	const void *hkey = cache->string_keys ? (const void *) &key : key;
	CacheSlot  *slot;
	CacheItem  *item;
	MemoryContext cxt;
	uint64		seen;
	bool		found;

	slot = hash_search(hash, hkey, HASH_FIND, NULL);
	if (slot != NULL)
	{
		if (slot->item->valid)
			return ITEM_PAYLOAD(slot->item);
		/* built while an invalidation arrived: for that use only */
		item = slot->item;
		(void) hash_search(hash, &slot->key, HASH_REMOVE, NULL);
		retire_item(item);
	}

	/* built under the transaction, so that a failed build goes with it */
	cxt = AllocSetContextCreate(CurTransactionContext, "gdpr cache entry",
								ALLOCSET_SMALL_SIZES);
	MemoryContextSetIdentifier(cxt, cache->name);
	item = MemoryContextAllocZero(cxt, ITEM_HEADER_SIZE + cache->entrysize);
	item->cache = cache;
	item->cxt = cxt;
	if (cache->string_keys)
		item->strkey = MemoryContextStrdup(cxt, (const char *) key);
	seen = cache->invalidations;
	build(ITEM_PAYLOAD(item), key, arg);
	MemoryContextSetParent(cxt, CacheMemoryContext);
	item->valid = (cache->invalidations == seen);

	slot = hash_search(hash, hkey, HASH_ENTER, &found);
	if (found)
		retire_item(slot->item);	/* the builder made it too, recursively */
	if (cache->string_keys)
		slot->key.str = item->strkey;
	slot->item = item;
	return ITEM_PAYLOAD(item);
}

/*
 * gdpr_cache_context
 *		The memory context of an entry being built: what it keeps goes here.
 */
MemoryContext
gdpr_cache_context(void *entry)
{
	return PAYLOAD_ITEM(entry)->cxt;
}

/*
 * gdpr_cache_depend
 *		Record that entry depends on relation relid.
 */
void
gdpr_cache_depend(void *entry, Oid relid)
{
	CacheItem  *item = PAYLOAD_ITEM(entry);
	MemoryContext old = MemoryContextSwitchTo(item->cxt);

	item->deps = list_append_unique_oid(item->deps, relid);
	MemoryContextSwitchTo(old);
}

/*
 * gdpr_cache_depend_all
 *		Record that entry depends on every relation.
 */
void
gdpr_cache_depend_all(void *entry)
{
	PAYLOAD_ITEM(entry)->all_relations = true;
}

/*
 * gdpr_cache_depend_plan
 *		Record that entry depends on every relation a kept plan reads: those
 *		of its queries and of its generic plan (partitions included).  The
 *		plan cache would re-plan after an invalidation of any of them, with
 *		the settings of that moment; dropping the entry instead makes it
 *		again the way its builder makes it.
 */
void
gdpr_cache_depend_plan(void *entry, SPIPlanPtr plan)
{
	ListCell   *lc;

	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *source = (CachedPlanSource *) lfirst(lc);
		ListCell   *rc;

		foreach(rc, source->relationOids)
			gdpr_cache_depend(entry, lfirst_oid(rc));
		if (source->gplan == NULL)
			continue;
		foreach(rc, source->gplan->stmt_list)
		{
			PlannedStmt *stmt = lfirst_node(PlannedStmt, rc);
			ListCell   *oc;

			foreach(oc, stmt->relationOids)
				gdpr_cache_depend(entry, lfirst_oid(oc));
		}
	}
}

/*
 * gdpr_cache_invalidate
 *		Drop the entries that depend on relid (all for InvalidOid) in this
 *		backend now, without waiting for the invalidation message.
 */
void
gdpr_cache_invalidate(Oid relid)
{
	cache_relcache_callback((Datum) 0, relid);
}

/*
 * gdpr_cache_count
 *		How many entries a cache holds.
 */
long
gdpr_cache_count(GdprCache *cache)
{
	return hash_get_num_entries(cache_hash(cache));
}

/*
 * gdpr_cache_release_plans
 *		GdprCacheRelease for entries that start with a SPIPlanPtr array of
 *		nplans (GdprPlanEntry): free the kept plans.
 */
void
gdpr_cache_release_plans(void *entry)
{
	GdprPlanEntry *pe = (GdprPlanEntry *) entry;

	for (int i = 0; i < GDPR_PLAN_ENTRY_PLANS; i++)
		if (pe->plans[i] != NULL)
			SPI_freeplan(pe->plans[i]);
}
