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
