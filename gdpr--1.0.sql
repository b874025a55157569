/* gdpr--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION gdpr" to load this file. \quit

REVOKE ALL ON SCHEMA gdpr FROM PUBLIC;

------------------------------------------------------------------------------
-- Tables
--
-- Relations are stored as regclass (pg_dump writes them by name), columns by
-- name; no OID or attnum is ever stored.
------------------------------------------------------------------------------

-- one row per registered table
CREATE TABLE gdpr.registered_table (
    rel             regclass    PRIMARY KEY,
    can_anonymise   boolean     NOT NULL DEFAULT true,
    export_fields   text[],                         -- NULL: every column
    export_exclude  text[]      NOT NULL DEFAULT '{}',
    declared        boolean     NOT NULL DEFAULT false, -- by a label or comment
    registered_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- Rows made by SECURITY LABEL / COMMENT declarations are dumped too: a dump
-- restores this data before it adds the tables' primary keys, and the
-- declarations (which wait for the primary key) then apply idempotently on
-- top.  Leaving them out broke restores where declared and function-made
-- rows mix (a registered_field row whose table row was not dumped).
SELECT pg_catalog.pg_extension_config_dump('gdpr.registered_table', '');

-- one row per declared column (PII and/or search field).  No foreign key to
-- registered_table: pg_restore -j loads configuration tables in parallel, in
-- any order; gdpr removes a table's fields itself.
CREATE TABLE gdpr.registered_field (
    rel             regclass    NOT NULL,
    column_name     name        NOT NULL,
    pii             boolean     NOT NULL DEFAULT true,
    method          text,                           -- NULL when not PII
    argument        text,
    search          boolean     NOT NULL DEFAULT false,
    declared        boolean     NOT NULL DEFAULT false, -- by a label or comment
    PRIMARY KEY (rel, column_name),
    CHECK ((pii AND method IS NOT NULL) OR (NOT pii AND method IS NULL AND argument IS NULL))
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.registered_field', '');

-- rules attached to foreign keys: ON DELETE ANONYMISE and export_follow
CREATE TABLE gdpr.constraint_rule (
    rel             regclass    NOT NULL,           -- the referencing (child) table
    constraint_name name        NOT NULL,
    rule            text        NOT NULL CHECK (rule IN ('anonymise', 'follow')),
    declared        boolean     NOT NULL DEFAULT false, -- by a comment
    PRIMARY KEY (rel, constraint_name, rule)
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.constraint_rule', '');

-- one row per anonymised row.  The key leads the primary key on purpose:
-- an index that could be searched by table alone tempts the planner, when
-- its statistics say a table has few markers, into scanning all markers of
-- the table for every row it anonymises.
CREATE TABLE gdpr.marker (
    rel             regclass    NOT NULL,
    key             text        NOT NULL,
    anonymised_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (key, rel)
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.marker', '');

-- the outbox: events waiting to be shipped to the log database
CREATE TABLE gdpr.queue (
    seq             bigserial   PRIMARY KEY,
    event_uuid      uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    kind            text        NOT NULL CHECK (kind IN ('delete', 'anonymise')),
    table_name      text        NOT NULL,
    key             text        NOT NULL,
    occurred_at     timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp()
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.queue', '');
SELECT pg_catalog.pg_extension_config_dump('gdpr.queue_seq_seq', '');

-- shipping and replay bookkeeping: at most one row
CREATE TABLE gdpr.state (
    singleton       boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    reflected_id    bigint      NOT NULL DEFAULT 0, -- log ids up to here are reflected here
    last_shipped_at timestamptz,
    last_error      text,
    last_error_at   timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('gdpr.state', '');

------------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------------

CREATE VIEW gdpr.registered_columns AS
SELECT t.rel,
       a.attname AS column_name,
       COALESCE(f.pii, false) AS pii,
       f.method,
       f.argument,
       COALESCE(f.search, false) AS search,
       (a.attnum OPERATOR(pg_catalog.=) ANY (pk.conkey)
        OR ((t.export_fields IS NULL
             OR a.attname::text OPERATOR(pg_catalog.=) ANY (t.export_fields))
            AND NOT a.attname::text OPERATOR(pg_catalog.=) ANY (t.export_exclude))) AS export
  FROM gdpr.registered_table t
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) t.rel
   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
  LEFT JOIN pg_catalog.pg_constraint pk
    ON pk.conrelid OPERATOR(pg_catalog.=) t.rel AND pk.contype OPERATOR(pg_catalog.=) 'p'
  LEFT JOIN gdpr.registered_field f
    ON f.rel OPERATOR(pg_catalog.=) t.rel AND f.column_name OPERATOR(pg_catalog.=) a.attname;
COMMENT ON VIEW gdpr.registered_columns
    IS 'every column of every registered table: the inventory of personal data held';

CREATE VIEW gdpr.log_status AS
SELECT (SELECT pg_catalog.count(*) FROM gdpr.queue) AS queued,
       (SELECT pg_catalog.min(q.occurred_at) FROM gdpr.queue q) AS oldest_queued_at,
       s.last_shipped_at,
       s.last_error
  FROM (SELECT true AS one) o
  LEFT JOIN gdpr.state s ON s.singleton;
COMMENT ON VIEW gdpr.log_status
    IS 'events waiting to be shipped to the log database, and the last shipping outcome';

------------------------------------------------------------------------------
-- Internal functions
------------------------------------------------------------------------------

-- trigger functions: attached by gdpr.register() and gdpr.on_delete_anonymise()
CREATE FUNCTION gdpr.log_delete() RETURNS trigger
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'gdpr_log_delete';
CREATE FUNCTION gdpr.log_truncate() RETURNS trigger
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'gdpr_log_truncate';
CREATE FUNCTION gdpr.on_delete_anonymise_trigger() RETURNS trigger
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'gdpr_on_delete_anonymise_trigger';
CREATE FUNCTION gdpr.on_delete_anonymise_rows() RETURNS trigger
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'gdpr_on_delete_anonymise_rows';

-- event triggers keeping the registry in step with DDL
CREATE FUNCTION gdpr.ddl_command_end() RETURNS event_trigger
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'gdpr_ddl_command_end';
CREATE FUNCTION gdpr.sql_drop() RETURNS event_trigger
    LANGUAGE C VOLATILE
    AS 'MODULE_PATHNAME', 'gdpr_sql_drop';
-- new partitions of registered tables get the TRUNCATE-capture trigger
CREATE EVENT TRIGGER gdpr_ddl_command_end ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION gdpr.ddl_command_end();
-- dropped tables leave the registry
CREATE EVENT TRIGGER gdpr_sql_drop ON sql_drop
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION gdpr.sql_drop();

-- HMAC-SHA256 of a value keyed by gdpr.pseudonym_key, as lower-case hex.
-- No SET search_path: a hot per-row function that does no name lookups.
CREATE FUNCTION gdpr.pseudonym(value text) RETURNS text
    LANGUAGE C STRICT STABLE PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'gdpr_pseudonym';
COMMENT ON FUNCTION gdpr.pseudonym(text)
    IS 'HMAC-SHA256 of a value keyed by gdpr.pseudonym_key, as lower-case hex';

-- used by gdpr.rerun(): does the row with this key exist, delete it by key
CREATE FUNCTION gdpr.key_exists(rel regclass, key text) RETURNS boolean
    LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_key_exists';
COMMENT ON FUNCTION gdpr.key_exists(regclass, text)
    IS 'whether a row with this key exists in a registered table';
CREATE FUNCTION gdpr.delete_key(rel regclass, key text) RETURNS boolean
    LANGUAGE C STRICT VOLATILE
    -- no SET search_path: the UPDATE fires the table's own triggers, which
    -- must see the caller's search_path; the SQL built in C is fully qualified
    AS 'MODULE_PATHNAME', 'gdpr_delete_key';
COMMENT ON FUNCTION gdpr.delete_key(regclass, text)
    IS 'delete the row with this key from a registered table; false if there is none';

------------------------------------------------------------------------------
-- Registry
------------------------------------------------------------------------------

CREATE FUNCTION gdpr.register(
        rel regclass,
        fields text[],
        search_fields text[] DEFAULT '{}',
        export_fields text[] DEFAULT NULL,
        export_exclude text[] DEFAULT '{}',
        can_anonymise boolean DEFAULT true)
    RETURNS void
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_register';
COMMENT ON FUNCTION gdpr.register(regclass, text[], text[], text[], text[], boolean)
    IS 'register a table and the columns of it that hold personal data';

CREATE FUNCTION gdpr.unregister(rel regclass) RETURNS void
    LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_unregister';
COMMENT ON FUNCTION gdpr.unregister(regclass)
    IS 'take a table out of the registry, with its rules and triggers';

CREATE FUNCTION gdpr.set_anonymiser(
        rel regclass,
        column_name name,
        method text,
        argument text DEFAULT NULL)
    RETURNS void
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_set_anonymiser';
COMMENT ON FUNCTION gdpr.set_anonymiser(regclass, name, text, text)
    IS 'set how a column of a registered table is anonymised (makes it PII)';

CREATE FUNCTION gdpr.export_follow(rel regclass, constraint_name name) RETURNS void
    LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_export_follow';
COMMENT ON FUNCTION gdpr.export_follow(regclass, name)
    IS 'make exports follow this foreign key from the table to the row it references';

CREATE FUNCTION gdpr.drop_export_follow(rel regclass, constraint_name name) RETURNS void
    LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_drop_export_follow';
COMMENT ON FUNCTION gdpr.drop_export_follow(regclass, name)
    IS 'stop exports from following this foreign key to the row it references';

------------------------------------------------------------------------------
-- Anonymising
------------------------------------------------------------------------------

CREATE FUNCTION gdpr.anonymise(rel regclass, key text, force boolean DEFAULT false)
    RETURNS boolean
    LANGUAGE C STRICT VOLATILE
    -- no SET search_path: the UPDATE fires the table's own triggers, which
    -- must see the caller's search_path; the SQL built in C is fully qualified
    AS 'MODULE_PATHNAME', 'gdpr_anonymise';
COMMENT ON FUNCTION gdpr.anonymise(regclass, text, boolean)
    IS 'anonymise the PII columns of one row; false if already anonymised or not allowed';

CREATE FUNCTION gdpr.anonymise(rel regclass, key anyelement, force boolean DEFAULT false)
    RETURNS boolean
    LANGUAGE C STRICT VOLATILE
    -- no SET search_path: the UPDATE fires the table's own triggers, which
    -- must see the caller's search_path; the SQL built in C is fully qualified
    AS 'MODULE_PATHNAME', 'gdpr_anonymise';
COMMENT ON FUNCTION gdpr.anonymise(regclass, anyelement, boolean)
    IS 'anonymise the PII columns of one row, the key given in its own type';

CREATE FUNCTION gdpr.anonymise_many(rel regclass, keys text[], force boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE C STRICT VOLATILE
    -- no SET search_path: the UPDATE fires the table's own triggers, which
    -- must see the caller's search_path; the SQL built in C is fully qualified
    AS 'MODULE_PATHNAME', 'gdpr_anonymise_many';
COMMENT ON FUNCTION gdpr.anonymise_many(regclass, text[], boolean)
    IS 'anonymise many rows set-based; returns how many rows were changed';

CREATE FUNCTION gdpr.anonymise_many(rel regclass, keys anyarray, force boolean DEFAULT false)
    RETURNS bigint
    LANGUAGE C STRICT VOLATILE
    -- no SET search_path: the UPDATE fires the table's own triggers, which
    -- must see the caller's search_path; the SQL built in C is fully qualified
    AS 'MODULE_PATHNAME', 'gdpr_anonymise_many';
COMMENT ON FUNCTION gdpr.anonymise_many(regclass, anyarray, boolean)
    IS 'anonymise many rows set-based, the keys given in their own type';

CREATE FUNCTION gdpr.is_anonymised(rel regclass, key text) RETURNS boolean
    LANGUAGE C STRICT STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_is_anonymised';
COMMENT ON FUNCTION gdpr.is_anonymised(regclass, text)
    IS 'whether the row with this key has been anonymised';

CREATE FUNCTION gdpr.is_anonymised(rel regclass, key anyelement) RETURNS boolean
    LANGUAGE C STRICT STABLE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_is_anonymised';
COMMENT ON FUNCTION gdpr.is_anonymised(regclass, anyelement)
    IS 'whether the row with this key (in its own type) has been anonymised';

------------------------------------------------------------------------------
-- ON DELETE ANONYMISE
------------------------------------------------------------------------------

CREATE FUNCTION gdpr.on_delete_anonymise(rel regclass, constraint_name name) RETURNS void
    LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_on_delete_anonymise';
COMMENT ON FUNCTION gdpr.on_delete_anonymise(regclass, name)
    IS 'anonymise the rows of a registered table whose referenced row is deleted';

CREATE FUNCTION gdpr.drop_on_delete_anonymise(rel regclass, constraint_name name) RETURNS void
    LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_drop_on_delete_anonymise';
COMMENT ON FUNCTION gdpr.drop_on_delete_anonymise(regclass, name)
    IS 'remove an ON DELETE ANONYMISE rule';

------------------------------------------------------------------------------
-- The log
------------------------------------------------------------------------------

CREATE FUNCTION gdpr.ship_log() RETURNS bigint
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_ship_log';
COMMENT ON FUNCTION gdpr.ship_log()
    IS 'ship the queued events to the log database now; returns how many were shipped';

CREATE FUNCTION gdpr.rerun(dry_run boolean DEFAULT false)
    RETURNS TABLE (event_id bigint, kind text, table_name text, key text, outcome text)
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_rerun';
COMMENT ON FUNCTION gdpr.rerun(boolean)
    IS 'replay the logged erasures this database does not reflect yet (after a restore)';

------------------------------------------------------------------------------
-- Finding and exporting a person
------------------------------------------------------------------------------

CREATE FUNCTION gdpr.search(term text)
    RETURNS TABLE (rel regclass, key text, matched name[])
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_search';
COMMENT ON FUNCTION gdpr.search(text)
    IS 'find the rows of every registered table whose search fields equal the term';

CREATE FUNCTION gdpr.export(rel regclass, key text) RETURNS jsonb
    LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_export';
COMMENT ON FUNCTION gdpr.export(regclass, text)
    IS 'everything held about the person of this row, as JSON';

CREATE FUNCTION gdpr.export(rel regclass, key anyelement) RETURNS jsonb
    LANGUAGE C STRICT VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_export';
COMMENT ON FUNCTION gdpr.export(regclass, anyelement)
    IS 'everything held about the person of this row (key in its own type), as JSON';

CREATE FUNCTION gdpr.export_search(term text) RETURNS jsonb
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS 'MODULE_PATHNAME', 'gdpr_export_search';
COMMENT ON FUNCTION gdpr.export_search(text)
    IS 'the merged exports of every row that gdpr.search() finds';

CREATE FUNCTION gdpr.anonymise_search(term text)
    RETURNS TABLE (rel regclass, anonymised bigint, skipped bigint)
    LANGUAGE C VOLATILE
    -- no SET search_path: the UPDATE fires the table's own triggers, which
    -- must see the caller's search_path; the SQL built in C is fully qualified
    AS 'MODULE_PATHNAME', 'gdpr_anonymise_search';
COMMENT ON FUNCTION gdpr.anonymise_search(text)
    IS 'anonymise every row that gdpr.search() finds';

------------------------------------------------------------------------------
-- Scrubbing a whole database
------------------------------------------------------------------------------

CREATE FUNCTION gdpr.anonymise_db(confirm text)
    RETURNS TABLE (rel regclass, anonymised bigint, skipped bigint)
    LANGUAGE C VOLATILE
    -- no SET search_path: the UPDATE fires the table's own triggers, which
    -- must see the caller's search_path; the SQL built in C is fully qualified
    AS 'MODULE_PATHNAME', 'gdpr_anonymise_db';
COMMENT ON FUNCTION gdpr.anonymise_db(text)
    IS 'anonymise every not yet anonymised row of every registered table';

CREATE PROCEDURE gdpr.anonymise_db_batched(confirm text)
    LANGUAGE C
    -- no SET search_path: a procedure with SET cannot commit; the SQL built
    -- in C is fully qualified and the registry queries pin search_path
    AS 'MODULE_PATHNAME', 'gdpr_anonymise_db_batched';
COMMENT ON PROCEDURE gdpr.anonymise_db_batched(text)
    IS 'gdpr.anonymise_db() committing after every batch, for large databases';

------------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; see the README for the grants to give
------------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA gdpr FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA gdpr FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA gdpr FROM PUBLIC;
REVOKE ALL ON ALL PROCEDURES IN SCHEMA gdpr FROM PUBLIC;

-- Anonymisation statements run as the owner of the table they change, the way
-- foreign-key actions do, so that no user trigger ever runs with the rights of
-- the extension's owner.  Those statements skip rows already anonymised, so
-- every role may read the markers: table names and key values, nothing else.
GRANT USAGE ON SCHEMA gdpr TO PUBLIC;
GRANT SELECT ON gdpr.marker TO PUBLIC;
