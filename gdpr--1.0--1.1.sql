/* gdpr--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION gdpr UPDATE TO '1.1'" to load this file. \quit

-- A fresh CREATE EXTENSION gdpr runs gdpr--1.0.sql and then this script, so
-- a fresh 1.1 and an updated 1.0 are the same by construction.

-- gdpr.marker: every role used to read every marker (table names and keys).
-- A role now sees the markers of the tables it may read; the extension's
-- owner (who writes them) is not subject to the policy.  pg_dump does not
-- dump policies of extension members, so this does not clash on restore.
ALTER TABLE gdpr.marker ENABLE ROW LEVEL SECURITY;
CREATE POLICY marker_readable ON gdpr.marker FOR SELECT TO PUBLIC
    USING (pg_catalog.has_any_column_privilege(rel, 'SELECT'));

-- The sql_drop event trigger also fires for ALTER TABLE, so that a rule
-- goes with its foreign key and a dropped column with its registration.
DROP EVENT TRIGGER gdpr_sql_drop;
CREATE EVENT TRIGGER gdpr_sql_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED', 'ALTER TABLE')
    EXECUTE FUNCTION gdpr.sql_drop();

-- The lineage of this database (see src/lineage.c): CREATE EXTENSION makes
-- one id; pg_dump and base backups carry the ids a database holds, so a
-- restore holds its backup's, and a database created again under the same
-- name does not.  Every logged event carries the oldest.
CREATE TABLE gdpr.incarnation (
    id          uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
INSERT INTO gdpr.incarnation DEFAULT VALUES;
SELECT pg_catalog.pg_extension_config_dump('gdpr.incarnation', '');
REVOKE ALL ON gdpr.incarnation FROM PUBLIC;

------------------------------------------------------------------------------
-- Retention (storage limitation): how long the rows of a table are kept
------------------------------------------------------------------------------

-- one policy per registered table.  No foreign key to registered_table (see
-- registered_field in gdpr--1.0.sql): gdpr removes a table's policy itself.
CREATE TABLE gdpr.retention_policy (
    rel             regclass    PRIMARY KEY,
    column_name     name        NOT NULL,
    keep            interval    NOT NULL CHECK (keep OPERATOR(pg_catalog.>) interval '0'),
    action          text        NOT NULL DEFAULT 'anonymise'
                                CHECK (action IN ('anonymise', 'delete')),
    declared        boolean     NOT NULL DEFAULT false, -- by a label or comment
    last_applied_at timestamptz,
    last_done       bigint
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.retention_policy', '');
REVOKE ALL ON gdpr.retention_policy FROM PUBLIC;

CREATE FUNCTION gdpr.set_retention(
        rel regclass,
        column_name name,
        keep interval,
        action text DEFAULT 'anonymise')
    RETURNS void
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_set_retention';
COMMENT ON FUNCTION gdpr.set_retention(regclass, name, interval, text)
    IS 'keep the rows of a registered table for this long, then anonymise or delete them';
REVOKE ALL ON FUNCTION gdpr.set_retention(regclass, name, interval, text) FROM PUBLIC;

CREATE FUNCTION gdpr.drop_retention(rel regclass) RETURNS void
    LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_drop_retention';
COMMENT ON FUNCTION gdpr.drop_retention(regclass)
    IS 'remove the retention policy of a table';
REVOKE ALL ON FUNCTION gdpr.drop_retention(regclass) FROM PUBLIC;

-- rows of rel due under its policy now (rows already anonymised are not
-- due again under an 'anonymise' policy), read as the caller
CREATE FUNCTION gdpr.retention_due(rel regclass) RETURNS bigint
    LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_retention_due';
COMMENT ON FUNCTION gdpr.retention_due(regclass)
    IS 'how many rows of a table its retention policy makes due now';
REVOKE ALL ON FUNCTION gdpr.retention_due(regclass) FROM PUBLIC;

CREATE FUNCTION gdpr.apply_retention(rel regclass DEFAULT NULL, dry_run boolean DEFAULT false)
    RETURNS TABLE (rel regclass, action text, due bigint, done bigint, held bigint)
    LANGUAGE C VOLATILE
    -- no SET search_path: the UPDATE and DELETE fire the table's own
    -- triggers, which must see the caller's search_path; the SQL built in C
    -- is fully qualified
    AS 'MODULE_PATHNAME', 'gdpr_apply_retention';
COMMENT ON FUNCTION gdpr.apply_retention(regclass, boolean)
    IS 'anonymise or delete the rows that retention policies make due';
REVOKE ALL ON FUNCTION gdpr.apply_retention(regclass, boolean) FROM PUBLIC;

CREATE PROCEDURE gdpr.apply_retention_batched()
    LANGUAGE C
    -- no SET search_path: a procedure with SET cannot commit; the SQL built
    -- in C is fully qualified and the registry queries pin search_path
    AS 'MODULE_PATHNAME', 'gdpr_apply_retention_batched';
COMMENT ON PROCEDURE gdpr.apply_retention_batched()
    IS 'gdpr.apply_retention() committing after every batch, for large tables';
REVOKE ALL ON PROCEDURE gdpr.apply_retention_batched() FROM PUBLIC;

CREATE VIEW gdpr.retention AS
SELECT p.rel, p.column_name, p.keep, p.action,
       gdpr.retention_due(p.rel) AS due,
       p.last_applied_at, p.last_done
  FROM gdpr.retention_policy p;
COMMENT ON VIEW gdpr.retention
    IS 'the retention policies, the rows each makes due now, and when each was last applied';
REVOKE ALL ON gdpr.retention FROM PUBLIC;

------------------------------------------------------------------------------
-- What a scrub (gdpr.anonymise_db) does with each table
------------------------------------------------------------------------------

ALTER TABLE gdpr.registered_table
    ADD COLUMN scrub_action text NOT NULL DEFAULT 'anonymise'
        CHECK (scrub_action IN ('anonymise', 'delete', 'truncate', 'keep'));

CREATE FUNCTION gdpr.set_scrub_action(rel regclass, action text) RETURNS void
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_set_scrub_action';
COMMENT ON FUNCTION gdpr.set_scrub_action(regclass, text)
    IS 'what gdpr.anonymise_db() does with a table: anonymise, delete, truncate or keep';
REVOKE ALL ON FUNCTION gdpr.set_scrub_action(regclass, text) FROM PUBLIC;

CREATE VIEW gdpr.registered_tables AS
SELECT t.rel, t.can_anonymise, t.scrub_action, t.export_fields, t.export_exclude,
       t.declared, t.registered_at
  FROM gdpr.registered_table t;
COMMENT ON VIEW gdpr.registered_tables
    IS 'every registered table, with its options and what a scrub does with it';
REVOKE ALL ON gdpr.registered_tables FROM PUBLIC;

-- anonymise_db reports each table's action: a new result type (the 1.0
-- symbol, gdpr_anonymise_db, keeps its three columns)
DROP FUNCTION gdpr.anonymise_db(text);
CREATE FUNCTION gdpr.anonymise_db(confirm text)
    RETURNS TABLE (rel regclass, anonymised bigint, skipped bigint, action text, deleted bigint)
    LANGUAGE C VOLATILE
    -- no SET search_path: the UPDATE fires the table's own triggers, which
    -- must see the caller's search_path; the SQL built in C is fully qualified
    AS 'MODULE_PATHNAME', 'gdpr_anonymise_db_1_1';
COMMENT ON FUNCTION gdpr.anonymise_db(text)
    IS 'scrub every registered table: anonymise, delete, truncate or keep its rows';
REVOKE ALL ON FUNCTION gdpr.anonymise_db(text) FROM PUBLIC;

------------------------------------------------------------------------------
-- Classification, discovery and the coverage gate (see src/classify.c and
-- src/discover.c)
------------------------------------------------------------------------------

-- columns classified as holding no personal data.  A column is "pii" when
-- gdpr.registered_field says so, "not_pii" when it has a row here, and
-- "unclassified" otherwise; a PII row wins over a row here.  Rows made by a
-- declaration ({"pii": false}) are dumped too: the declaration waits for
-- the table's primary key, which a restore adds after the data, and then
-- applies idempotently on top.
CREATE TABLE gdpr.not_pii_column (
    rel             regclass    NOT NULL,
    column_name     name        NOT NULL,
    declared        boolean     NOT NULL DEFAULT false, -- by a label or comment
    PRIMARY KEY (rel, column_name)
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.not_pii_column', '');
REVOKE ALL ON gdpr.not_pii_column FROM PUBLIC;

-- tables declared to hold no personal data at all.  A declared row ("ignore":
-- true in a table's label or comment) is not dumped: a restore creates the
-- table's comment or label before it loads any data, and the declaration
-- applies at once (it needs no primary key).
CREATE TABLE gdpr.ignored_table (
    rel             regclass    PRIMARY KEY,
    declared        boolean     NOT NULL DEFAULT false  -- by a label or comment
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.ignored_table', 'WHERE NOT declared');
REVOKE ALL ON gdpr.ignored_table FROM PUBLIC;

-- The update from 1.0 classifies the columns of the tables registered then
-- as 1.0 implies: a registered_field row says whether a column is PII; the
-- other columns (and search-only fields) hold no personal data.
INSERT INTO gdpr.not_pii_column (rel, column_name)
SELECT t.rel, a.attname
  FROM gdpr.registered_table t
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) t.rel
   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
 WHERE NOT EXISTS (SELECT 1 FROM gdpr.registered_field f
                    WHERE f.rel OPERATOR(pg_catalog.=) t.rel
                      AND f.column_name OPERATOR(pg_catalog.=) a.attname
                      AND f.pii);

CREATE FUNCTION gdpr.set_not_pii(rel regclass, columns text[]) RETURNS void
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_set_not_pii';
COMMENT ON FUNCTION gdpr.set_not_pii(regclass, text[])
    IS 'classify columns of a table as holding no personal data';
REVOKE ALL ON FUNCTION gdpr.set_not_pii(regclass, text[]) FROM PUBLIC;

CREATE FUNCTION gdpr.ignore(rel regclass) RETURNS void
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_ignore';
COMMENT ON FUNCTION gdpr.ignore(regclass)
    IS 'classify a whole table as holding no personal data';
REVOKE ALL ON FUNCTION gdpr.ignore(regclass) FROM PUBLIC;

CREATE FUNCTION gdpr.unignore(rel regclass) RETURNS void
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_unignore';
COMMENT ON FUNCTION gdpr.unignore(regclass)
    IS 'undo gdpr.ignore(): the table''s columns are classified one by one again';
REVOKE ALL ON FUNCTION gdpr.unignore(regclass) FROM PUBLIC;

-- every column of every user table: ordinary and partitioned tables (not
-- partitions: their columns are their parent's), outside the system
-- schemas, temporary schemas, the gdpr schema and extensions' own tables
CREATE VIEW gdpr.coverage AS
SELECT c.oid::pg_catalog.regclass AS rel,
       a.attname AS column_name,
       CASE WHEN i.rel IS NOT NULL THEN 'ignored'
            WHEN f.pii THEN 'pii'
            WHEN n.rel IS NOT NULL THEN 'not_pii'
            ELSE 'unclassified' END AS status,
       CASE WHEN i.rel IS NULL AND f.pii THEN f.method END AS method
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace s ON s.oid OPERATOR(pg_catalog.=) c.relnamespace
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.oid
   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
  LEFT JOIN gdpr.ignored_table i ON i.rel OPERATOR(pg_catalog.=) c.oid
  LEFT JOIN gdpr.registered_field f
    ON f.rel OPERATOR(pg_catalog.=) c.oid AND f.column_name OPERATOR(pg_catalog.=) a.attname
  LEFT JOIN gdpr.not_pii_column n
    ON n.rel OPERATOR(pg_catalog.=) c.oid AND n.column_name OPERATOR(pg_catalog.=) a.attname
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
   AND s.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'gdpr')
   AND s.nspname OPERATOR(pg_catalog.!~) '^pg_(toast_)?temp_'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                      AND d.objid OPERATOR(pg_catalog.=) c.oid
                      AND d.deptype OPERATOR(pg_catalog.=) 'e');
COMMENT ON VIEW gdpr.coverage
    IS 'every column of every user table: pii, not_pii, ignored or unclassified';
REVOKE ALL ON gdpr.coverage FROM PUBLIC;

CREATE FUNCTION gdpr.discover(sample integer DEFAULT 1000)
    RETURNS TABLE (rel regclass, column_name name, status text, kind text,
                   evidence text, hits integer, sampled integer)
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_discover';
COMMENT ON FUNCTION gdpr.discover(integer)
    IS 'columns not classified as PII that look like personal data, by name and by a sample of values';
REVOKE ALL ON FUNCTION gdpr.discover(integer) FROM PUBLIC;
-- Legal holds: rows whose erasure must wait (src/hold.c)
------------------------------------------------------------------------------

-- one row per hold, kept after its release (released_at) as the record of
-- who held what and why.  No foreign key to registered_table: gdpr removes
-- a table's holds itself (sql_drop, unregister).
CREATE TABLE gdpr.legal_hold (
    id          bigserial   PRIMARY KEY,
    rel         regclass    NOT NULL,
    key         text        NOT NULL,
    reason      text        NOT NULL CHECK (pg_catalog.btrim(reason) OPERATOR(pg_catalog.<>) ''),
    held_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    held_by     name        NOT NULL,
    until       timestamptz,
    released_at timestamptz,
    released_by name
);
CREATE INDEX legal_hold_unreleased ON gdpr.legal_hold (rel, key) WHERE released_at IS NULL;
SELECT pg_catalog.pg_extension_config_dump('gdpr.legal_hold', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.legal_hold_id_seq', '');
REVOKE ALL ON gdpr.legal_hold FROM PUBLIC;
REVOKE ALL ON SEQUENCE gdpr.legal_hold_id_seq FROM PUBLIC;

-- the erasures gdpr left undone because their row was held, carried out by
-- gdpr.release() once no hold covers the row.  from_log: deferred by
-- gdpr.rerun(), whose event is in the log already.
CREATE TABLE gdpr.deferred_erasure (
    rel         regclass    NOT NULL,
    key         text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('anonymise', 'delete')),
    from_log    boolean     NOT NULL DEFAULT false,
    deferred_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (rel, key, kind)
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.deferred_erasure', '');
REVOKE ALL ON gdpr.deferred_erasure FROM PUBLIC;

CREATE FUNCTION gdpr.hold(rel regclass, key text, reason text, until timestamptz DEFAULT NULL)
    RETURNS bigint
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_hold';
COMMENT ON FUNCTION gdpr.hold(regclass, text, text, timestamptz)
    IS 'place a legal hold on one row: it is not erased until the hold is released or expires';
REVOKE ALL ON FUNCTION gdpr.hold(regclass, text, text, timestamptz) FROM PUBLIC;

CREATE FUNCTION gdpr.hold(rel regclass, key anyelement, reason text, until timestamptz DEFAULT NULL)
    RETURNS bigint
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_hold';
COMMENT ON FUNCTION gdpr.hold(regclass, anyelement, text, timestamptz)
    IS 'place a legal hold on one row, the key given in its own type';
REVOKE ALL ON FUNCTION gdpr.hold(regclass, anyelement, text, timestamptz) FROM PUBLIC;

CREATE FUNCTION gdpr.release(hold_id bigint)
    RETURNS TABLE (rel regclass, key text, outcome text)
    LANGUAGE C VOLATILE
    -- no SET search_path: the deferred UPDATE and DELETE fire the table's
    -- own triggers, which must see the caller's search_path; the SQL built
    -- in C is fully qualified
    AS 'MODULE_PATHNAME', 'gdpr_release';
COMMENT ON FUNCTION gdpr.release(bigint)
    IS 'end a legal hold and carry out the erasures deferred while it held its row';
REVOKE ALL ON FUNCTION gdpr.release(bigint) FROM PUBLIC;

CREATE FUNCTION gdpr.release_expired()
    RETURNS TABLE (hold_id bigint, rel regclass, key text, outcome text)
    LANGUAGE C VOLATILE
    -- no SET search_path: as gdpr.release()
    AS 'MODULE_PATHNAME', 'gdpr_release_expired';
COMMENT ON FUNCTION gdpr.release_expired()
    IS 'release every legal hold whose until has passed, carrying out what was deferred';
REVOKE ALL ON FUNCTION gdpr.release_expired() FROM PUBLIC;

CREATE VIEW gdpr.holds AS
SELECT h.id, h.rel, h.key, h.reason, h.held_at, h.held_by, h.until,
       (h.released_at IS NULL
        AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())) AS active,
       EXISTS (SELECT 1 FROM gdpr.deferred_erasure d
                WHERE d.rel OPERATOR(pg_catalog.=) h.rel
                  AND d.key OPERATOR(pg_catalog.=) h.key) AS deferred,
       h.released_at, h.released_by
  FROM gdpr.legal_hold h;
COMMENT ON VIEW gdpr.holds
    IS 'every legal hold, whether it is active, and whether an erasure of its row is deferred';
REVOKE ALL ON gdpr.holds FROM PUBLIC;

------------------------------------------------------------------------------
-- Marker ranges (see src/events.c)
------------------------------------------------------------------------------

-- A whole-table scrub marks the rows it anonymised as runs of consecutive
-- values of an integer primary key, one row per run instead of one marker
-- per row.  A row is anonymised when gdpr.marker has its key or a range
-- here holds it; a deleted row is cut out of its range.  Readable like
-- gdpr.marker.
CREATE TABLE gdpr.marker_range (
    rel             regclass    NOT NULL,
    lo              bigint      NOT NULL,
    hi              bigint      NOT NULL CHECK (hi OPERATOR(pg_catalog.>=) lo),
    anonymised_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (rel, lo)
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.marker_range', '');
ALTER TABLE gdpr.marker_range ENABLE ROW LEVEL SECURITY;
CREATE POLICY marker_range_readable ON gdpr.marker_range FOR SELECT TO PUBLIC
    USING (pg_catalog.has_any_column_privilege(rel, 'SELECT'));
GRANT SELECT ON gdpr.marker_range TO PUBLIC;

------------------------------------------------------------------------------
-- Events in batches (see src/events.c and src/shipper.c)
------------------------------------------------------------------------------

-- The events of one statement are queued as rows of up to 1,000 keys
-- (keys; key is NULL) instead of a row per event; a single event keeps
-- using key.  The kind check goes: only gdpr's own fixed statements write
-- here, and the log database checks every event it takes.
ALTER TABLE gdpr.queue
    ALTER COLUMN key DROP NOT NULL,
    ADD COLUMN keys text[],
    DROP CONSTRAINT queue_kind_check;

-- One row per queued event, in shipping order (seq, ord).  An event of a
-- batch has its own event_uuid, derived from the batch's and its place in
-- it, so that shipping a batch again delivers nothing twice.
CREATE VIEW gdpr.queued_events AS
SELECT q.seq,
       e.ord,
       CASE WHEN q.keys IS NULL THEN q.event_uuid
            ELSE pg_catalog.md5(q.event_uuid::pg_catalog.text OPERATOR(pg_catalog.||) '/'
                                OPERATOR(pg_catalog.||) e.ord::pg_catalog.text)::pg_catalog.uuid
       END AS event_uuid,
       q.kind,
       q.table_name,
       e.key,
       q.occurred_at
  FROM gdpr.queue q
 CROSS JOIN LATERAL pg_catalog.unnest(COALESCE(q.keys, ARRAY[q.key]))
       WITH ORDINALITY AS e(key, ord);
COMMENT ON VIEW gdpr.queued_events
    IS 'the events waiting to be shipped to the log database, one row per event';
REVOKE ALL ON gdpr.queued_events FROM PUBLIC;

CREATE OR REPLACE VIEW gdpr.log_status AS
SELECT (SELECT COALESCE(pg_catalog.sum(COALESCE(pg_catalog.cardinality(q.keys), 1)), 0)
          FROM gdpr.queue q) AS queued,
       (SELECT pg_catalog.min(q.occurred_at) FROM gdpr.queue q) AS oldest_queued_at,
       s.last_shipped_at,
       s.last_error
  FROM (SELECT true AS one) o
  LEFT JOIN gdpr.state s ON s.singleton;
