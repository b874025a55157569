-- Whose rights gdpr's work runs with (issue: nothing may give a role more
-- than a plain statement would), declarations that could never be applied,
-- and errors for nonsense arguments.
\set SHOW_CONTEXT never
SET client_min_messages = notice;
CREATE ROLE regress_priv_owner NOLOGIN;
CREATE ROLE regress_priv_caller NOLOGIN;
CREATE ROLE regress_priv_tenant NOLOGIN;
GRANT CREATE ON SCHEMA public TO regress_priv_owner;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA gdpr TO regress_priv_caller, regress_priv_tenant,
    regress_priv_owner;

-- 1. explicit anonymisation runs as the caller: the table's trigger sees the
-- caller as current_user, and names in it resolve through the caller's path
SET ROLE regress_priv_owner;
CREATE TABLE pv_person (id int PRIMARY KEY, name text, touched_by name);
INSERT INTO pv_person SELECT g, 'person ' || g, NULL FROM generate_series(1, 6) g;
CREATE FUNCTION pv_stamp() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN NEW.touched_by := current_user; RETURN NEW; END$$;
CREATE TRIGGER pv_stamp BEFORE UPDATE ON pv_person FOR EACH ROW EXECUTE FUNCTION pv_stamp();
SELECT gdpr.register('pv_person', ARRAY['name']);
GRANT SELECT, UPDATE ON pv_person TO regress_priv_caller;
RESET ROLE;
SET ROLE regress_priv_caller;
SELECT gdpr.anonymise('pv_person', 1);
SELECT gdpr.anonymise_many('pv_person', ARRAY[2, 3, 3, 99]);
SELECT id, name, touched_by FROM pv_person ORDER BY id;
-- without UPDATE on the table, nothing happens
RESET ROLE;
REVOKE UPDATE ON pv_person FROM regress_priv_caller;
SET ROLE regress_priv_caller;
SELECT gdpr.anonymise('pv_person', 4);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise_many('pv_person', ARRAY[4, 5]);
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS markers FROM gdpr.marker WHERE rel = 'pv_person'::regclass;

-- 2. row-level security: a hidden row is the same as a missing one, and is
-- never changed
SET ROLE regress_priv_owner;
CREATE TABLE pv_tenant (id int PRIMARY KEY, tenant name NOT NULL, email text);
INSERT INTO pv_tenant VALUES (1, 'regress_priv_tenant', 'a@example.com'),
                             (2, 'someone_else', 'b@example.com'),
                             (3, 'someone_else', 'c@example.com');
ALTER TABLE pv_tenant ENABLE ROW LEVEL SECURITY;
CREATE POLICY pv_own ON pv_tenant USING (tenant = current_user);
SELECT gdpr.register('pv_tenant', ARRAY['email']);
GRANT SELECT, UPDATE ON pv_tenant TO regress_priv_tenant;
RESET ROLE;
SET ROLE regress_priv_tenant;
SELECT gdpr.anonymise('pv_tenant', 2);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise('pv_tenant', 42);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise_many('pv_tenant', ARRAY[1, 2, 3]);
SELECT gdpr.is_anonymised('pv_tenant', 1);
RESET ROLE;
SELECT id, email FROM pv_tenant ORDER BY id;

-- 3. markers: a role sees those of tables it may read, nothing else
SET ROLE regress_priv_caller;
SELECT rel, count(*) FROM gdpr.marker GROUP BY rel ORDER BY rel::text;
RESET ROLE;
SET ROLE regress_priv_tenant;
SELECT rel, count(*) FROM gdpr.marker GROUP BY rel ORDER BY rel::text;
RESET ROLE;

-- 4. the function method calls the registered function and only it, even
-- when an exact-match overload for a domain-typed column appears later
CREATE DOMAIN pv_label AS text;
CREATE TABLE pv_labelled (id int PRIMARY KEY, label pv_label);
INSERT INTO pv_labelled VALUES (1, 'secret');
CREATE FUNCTION public.pv_scrub(v text) RETURNS text LANGUAGE sql AS $$SELECT 'scrubbed'$$;
SELECT gdpr.register('pv_labelled', ARRAY['label']);
SELECT gdpr.set_anonymiser('pv_labelled', 'label', 'function', 'public.pv_scrub(text)');
CREATE FUNCTION public.pv_scrub(v pv_label) RETURNS pv_label LANGUAGE sql AS $$SELECT 'hijacked'::pv_label$$;
SELECT gdpr.anonymise('pv_labelled', 1);
SELECT label FROM pv_labelled;
-- a registered function that was dropped is a clear error
DROP FUNCTION public.pv_scrub(pv_label);
DROP FUNCTION public.pv_scrub(text);
SELECT gdpr.anonymise('pv_labelled', 1, force => true);
\echo sqlstate :LAST_ERROR_SQLSTATE

-- 5. nonsense function arguments are refused with a proper SQLSTATE
SELECT gdpr.set_anonymiser('pv_person', 'name', 'function', '-');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('pv_person', 'name', 'function', '0');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('pv_person', 'name', 'function', '99999999');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.key_exists(99999999::oid::regclass, '1');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.delete_key(99999999::oid::regclass, '1');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise(99999999::oid::regclass, '1');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT method FROM gdpr.registered_columns WHERE rel = 'pv_person'::regclass AND column_name = 'name';

-- 6. generated and identity columns are refused when declared
CREATE TABLE pv_gen (id int PRIMARY KEY, first text,
                     shout text GENERATED ALWAYS AS (upper(first)) STORED,
                     num int GENERATED ALWAYS AS IDENTITY);
SELECT gdpr.register('pv_gen', ARRAY['first', 'shout']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('pv_gen', ARRAY['num']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) FROM gdpr.registered_columns WHERE rel = 'pv_gen'::regclass;
SELECT gdpr.register('pv_gen', ARRAY['first']);
SELECT gdpr.set_anonymiser('pv_gen', 'shout', 'null');
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN pv_gen.num IS '{"pii": true}';
\echo sqlstate :LAST_ERROR_SQLSTATE
INSERT INTO pv_gen (id, first) VALUES (1, 'ann');
SELECT gdpr.anonymise('pv_gen', 1);
SELECT first, shout FROM pv_gen;

-- 7. every declaration accepted works at anonymisation: 150 "value" columns
-- (more than the parameter limit of earlier versions)
SELECT format('CREATE TABLE pv_wide (id int PRIMARY KEY, %s)',
              string_agg(format('c%s text', g), ', ')) FROM generate_series(1, 150) g \gexec
INSERT INTO pv_wide (id, c1, c150) VALUES (1, 'x', 'y');
SELECT gdpr.register('pv_wide', ARRAY(SELECT 'c' || g FROM generate_series(1, 150) g));
SELECT count(gdpr.set_anonymiser('pv_wide', 'c' || g, 'value', 'v' || g))
  FROM generate_series(1, 150) g;
SELECT gdpr.anonymise('pv_wide', 1);
SELECT c1, c75, c150 FROM pv_wide;

-- 8. temporary tables cannot be registered
CREATE TEMP TABLE pv_temp (id int PRIMARY KEY, name text);
SELECT gdpr.register('pv_temp', ARRAY['name']);
\echo sqlstate :LAST_ERROR_SQLSTATE

-- 9. anonymise_many in small batches: duplicates and unknown keys across
-- batches, and rows already anonymised, are counted right
CREATE TABLE pv_batch (a int, b text, name text, PRIMARY KEY (a, b));
INSERT INTO pv_batch SELECT g, 'k' || g, 'n' || g FROM generate_series(1, 20) g;
SELECT gdpr.register('pv_batch', ARRAY['name']);
SET gdpr.anonymise_batch_size = 3;
SELECT gdpr.anonymise_many('pv_batch', ARRAY['(1,k1)', '(2,k2)', '(2,k2)', '(99,k9)', '(3,k3)', '(1,k1)', '(4,k4)']);
SELECT gdpr.anonymise_many('pv_batch', ARRAY(SELECT format('(%s,k%s)', g, g) FROM generate_series(1, 10) g));
SELECT count(*) FILTER (WHERE name IS NULL) AS anonymised, count(*) AS rows FROM pv_batch;
RESET gdpr.anonymise_batch_size;

-- 10. ON DELETE ANONYMISE runs as the child's owner, with the owner's own
-- search_path, whatever the deleting session's path holds
CREATE SCHEMA pv_evil;
CREATE FUNCTION pv_evil.pv_audit_name() RETURNS text LANGUAGE sql AS $$SELECT 'evil'$$;
CREATE FUNCTION public.pv_audit_name() RETURNS text LANGUAGE sql AS $$SELECT 'public'$$;
SET ROLE regress_priv_owner;
CREATE TABLE pv_parent (id int PRIMARY KEY);
CREATE TABLE pv_child (id int PRIMARY KEY, parent_id int REFERENCES pv_parent ON DELETE SET NULL,
                       note text, seen_as name, seen_path text);
CREATE FUNCTION pv_child_stamp() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN NEW.seen_as := current_user; NEW.seen_path := pv_audit_name(); RETURN NEW; END$$;
CREATE TRIGGER pv_child_stamp BEFORE UPDATE ON pv_child FOR EACH ROW EXECUTE FUNCTION pv_child_stamp();
INSERT INTO pv_parent VALUES (1), (2);
INSERT INTO pv_child VALUES (10, 1, 'n'), (20, 2, 'm');
SELECT gdpr.register('pv_child', ARRAY['note']);
SELECT gdpr.on_delete_anonymise('pv_child', 'pv_child_parent_id_fkey');
GRANT SELECT, DELETE ON pv_parent TO regress_priv_caller;
RESET ROLE;
SET ROLE regress_priv_caller;
SET search_path = pv_evil, public;
DELETE FROM pv_parent WHERE id = 1;
RESET search_path;
RESET ROLE;
SELECT id, parent_id, note, seen_as, seen_path FROM pv_child ORDER BY id;

-- 11. gdpr recognises its triggers by the function they call, not by name:
-- a user trigger with gdpr's name is refused, not taken for gdpr's
CREATE TABLE pv_named (id int PRIMARY KEY, name text);
CREATE FUNCTION pv_noop() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN OLD; END$$;
CREATE TRIGGER gdpr_log_delete AFTER DELETE ON pv_named FOR EACH ROW EXECUTE FUNCTION pv_noop();
SELECT gdpr.register('pv_named', ARRAY['name']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) FROM gdpr.registered_columns WHERE rel = 'pv_named'::regclass;
DROP TRIGGER gdpr_log_delete ON pv_named;
SELECT gdpr.register('pv_named', ARRAY['name']);
INSERT INTO pv_named VALUES (1, 'x');
DELETE FROM pv_named;
SELECT kind, key FROM gdpr.queued_events WHERE table_name = 'public.pv_named';
SELECT gdpr.unregister('pv_named');
-- the same for the TRUNCATE trigger's name; the failed registration leaves nothing behind
CREATE TRIGGER gdpr_log_truncate BEFORE TRUNCATE ON pv_named FOR EACH STATEMENT EXECUTE FUNCTION pv_noop();
SELECT gdpr.register('pv_named', ARRAY['name']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT tgname FROM pg_trigger WHERE tgrelid = 'pv_named'::regclass ORDER BY 1;
DROP TABLE pv_named;
DROP FUNCTION pv_noop();

-- 12. repeated names are stored once, however long the array
CREATE TABLE pv_dup (id int PRIMARY KEY, name text, note text);
SELECT gdpr.register('pv_dup', ARRAY['name', 'name'], export_exclude => array_fill('note'::text, ARRAY[100000]));
SELECT export_exclude FROM gdpr.registered_table WHERE rel = 'pv_dup'::regclass;
DROP TABLE pv_dup;

-- clean up
DROP TABLE pv_person, pv_tenant, pv_labelled, pv_gen, pv_wide, pv_batch, pv_child, pv_parent;
DROP FUNCTION pv_stamp(), pv_child_stamp(), public.pv_audit_name();
DROP SCHEMA pv_evil CASCADE;
DROP DOMAIN pv_label;
REVOKE ALL ON SCHEMA public FROM regress_priv_owner;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA gdpr FROM regress_priv_caller, regress_priv_tenant, regress_priv_owner;
DROP ROLE regress_priv_owner, regress_priv_caller, regress_priv_tenant;
