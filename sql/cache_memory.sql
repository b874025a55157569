-- gdpr's caches free what an invalidation replaces: thousands of
-- invalidations of tables with an ON DELETE ANONYMISE rule, each followed by
-- the statements that rebuild the cached keys, registry entries, rules and
-- plans, leave the backend's memory where it was.
CREATE TABLE cm_parent (id int PRIMARY KEY);
CREATE TABLE cm_child (
    id int PRIMARY KEY,
    parent_id int CONSTRAINT cm_child_fk REFERENCES cm_parent ON DELETE SET NULL,
    note text);
CREATE TABLE cm_other (id int PRIMARY KEY, note text);
SELECT gdpr.register('cm_child', ARRAY['note']);
SELECT gdpr.register('cm_other', ARRAY['note']);
SELECT gdpr.on_delete_anonymise('cm_child', 'cm_child_fk');
INSERT INTO cm_parent SELECT g FROM generate_series(1, 2001) g;
INSERT INTO cm_child SELECT g, g, 'note ' || g FROM generate_series(1, 2001) g;
INSERT INTO cm_other SELECT g, 'note ' || g FROM generate_series(1, 2001) g;

-- warm up every cache once, then measure
\o /dev/null
ALTER TABLE cm_child ALTER COLUMN note SET STATISTICS 1;
SELECT gdpr.anonymise('cm_other', 1);
DELETE FROM cm_parent WHERE id = 1;
\o
SELECT sum(total_bytes) AS mem_before FROM pg_backend_memory_contexts \gset

-- 2,000 rounds, each statement its own transaction: invalidate both
-- tables, anonymise a row by key, delete a referenced row
\o /dev/null
SELECT s FROM generate_series(2, 2001) g,
  LATERAL (VALUES (1, format('ALTER TABLE cm_child ALTER COLUMN note SET STATISTICS %s', g)),
                  (2, format('ALTER TABLE cm_other ALTER COLUMN note SET STATISTICS %s', g)),
                  (3, format('SELECT gdpr.anonymise(''cm_other'', %s)', g)),
                  (4, format('DELETE FROM cm_parent WHERE id = %s', g))) AS v(n, s)
 ORDER BY g, n \gexec
\o

-- the work was done: every row anonymised and marked
SELECT count(*) FILTER (WHERE note IS NULL) AS anonymised, count(*) AS rows
  FROM cm_child;
SELECT count(*) FILTER (WHERE note IS NULL) AS anonymised, count(*) AS rows
  FROM cm_other;
SELECT rel, count(*) FROM gdpr.marker WHERE rel IN ('cm_child'::regclass, 'cm_other'::regclass)
 GROUP BY rel ORDER BY rel;

-- and memory grew by less than 256 bytes per round (the caches used to
-- keep every replaced entry: several kilobytes per round)
SELECT sum(total_bytes) - :mem_before AS growth FROM pg_backend_memory_contexts \gset
SELECT :growth < 2000 * 256 AS memory_bounded;
\if :{?CACHE_MEMORY_DEBUG}
\echo growth :growth
\endif

SELECT gdpr.unregister('cm_child');
SELECT gdpr.unregister('cm_other');
DROP TABLE cm_child, cm_other, cm_parent;
