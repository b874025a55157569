--
-- readme.sql: runs the SQL examples of README.md, on the README's own tables,
-- and checks that they do what the README says they do.  When this file
-- fails, either the code or the README is wrong: fix the one that is.
--
-- It works in a database of its own, so that the tables are public.address,
-- public.person and public.comment exactly as in the README, whatever the
-- other tests left behind.
--
SELECT current_database() AS regress_db \gset
CREATE DATABASE regression_readme;
\c regression_readme
SET client_min_messages = warning;
CREATE EXTENSION gdpr;
RESET client_min_messages;

------------------------------------------------------------------------------
-- Quick start
------------------------------------------------------------------------------
-- the README's tables, made here and again, fresh, for the SQL reference
CREATE PROCEDURE readme_make_tables() LANGUAGE plpgsql AS $$
BEGIN
    CREATE TABLE address (
        id       integer PRIMARY KEY,
        street   text    NOT NULL,
        city     text    NOT NULL
    );
    CREATE TABLE person (
        id            integer PRIMARY KEY,
        name          text    NOT NULL,
        email         text    NOT NULL UNIQUE,
        phone         text,
        password_hash text,
        address_id    integer REFERENCES address (id)
    );
    CREATE TABLE comment (
        id        integer PRIMARY KEY,
        author_id integer REFERENCES person (id) ON DELETE SET NULL,
        body      text    NOT NULL
    );
    INSERT INTO address VALUES (1, '12 Acacia Avenue', 'Bristol');
    INSERT INTO person VALUES
        (42, 'Alice', 'alice@example.com', '+44 7700 900123', 'x', 1),
        (43, 'Bob', 'bob@example.com', NULL, 'y', 1);
    INSERT INTO comment VALUES (7, 42, 'Hi'), (8, 43, 'Hello'), (9, 42, 'Bye');
END $$;
CALL readme_make_tables();

SELECT gdpr.register(
    rel            => 'public.person',
    fields         => ARRAY['name', 'email', 'phone'],  -- PII columns, anonymised
    search_fields  => ARRAY['email'],                    -- how a person is found
    export_exclude => ARRAY['password_hash']);
SELECT gdpr.set_anonymiser('public.person', 'name', 'value', 'Anonymous user');
SELECT gdpr.set_anonymiser('public.person', 'email', 'email');
SELECT gdpr.register('public.comment', fields => ARRAY['body']);
SELECT gdpr.set_anonymiser('public.comment', 'body', 'value', '[removed]');
SELECT gdpr.on_delete_anonymise('public.comment', 'comment_author_id_fkey');
SELECT gdpr.register('public.address', fields => ARRAY['street', 'city']);
SELECT gdpr.export_follow('public.person', 'person_address_id_fkey');

-- search ignores case; the README shows one hit in person, matched on email
SELECT * FROM gdpr.search('Alice@Example.com');

-- the export shown in the README: Alice, her address (followed), her two
-- comments; not Bob, although he lives at the same address
SELECT gdpr.export('public.person', 42) = '{
    "public.person":  [{"id": 42, "name": "Alice", "email": "alice@example.com",
                        "phone": "+44 7700 900123", "address_id": 1}],
    "public.address": [{"id": 1, "street": "12 Acacia Avenue", "city": "Bristol"}],
    "public.comment": [{"id": 7, "author_id": 42, "body": "Hi"},
                       {"id": 9, "author_id": 42, "body": "Bye"}]}'::jsonb AS export_as_in_readme;

-- erasing with plain SQL: the comments are anonymised, then unlinked
DELETE FROM person WHERE id = 42;
SELECT * FROM comment ORDER BY id;
-- 3 events: two anonymisations and a delete, PII-free
SELECT queued FROM gdpr.log_status;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;

------------------------------------------------------------------------------
-- SQL reference, in the README's order, on fresh tables
------------------------------------------------------------------------------
-- dropping the tables takes them out of the registry, markers and rules
-- included (the event trigger gdpr_sql_drop)
DROP TABLE comment, person, address;
SELECT count(*) AS registered_tables FROM gdpr.registered_table;
SELECT count(*) AS markers FROM gdpr.marker;
SELECT count(*) AS rules FROM gdpr.constraint_rule;
TRUNCATE gdpr.queue;
CALL readme_make_tables();

-- gdpr.register, gdpr.unregister
SELECT gdpr.register('public.person', ARRAY['name', 'email', 'phone'],
                     search_fields => ARRAY['email'],
                     export_exclude => ARRAY['password_hash']);
SELECT gdpr.unregister('public.person');
SELECT count(*) AS person_columns_after_unregister
  FROM gdpr.registered_columns WHERE rel = 'public.person'::regclass;
-- registered again, for the examples that follow
SELECT gdpr.register('public.person', ARRAY['name', 'email', 'phone'],
                     search_fields => ARRAY['email'],
                     export_exclude => ARRAY['password_hash']);
-- registering twice is an error naming the table
SELECT gdpr.register('public.person', ARRAY['name']);

-- gdpr.set_anonymiser
SELECT gdpr.set_anonymiser('public.person', 'name', 'value', 'Anonymous user');
SELECT gdpr.set_anonymiser('public.person', 'email', 'email');
SELECT gdpr.set_anonymiser('public.person', 'phone', 'null');

-- gdpr.export_follow (the address table is registered first)
SELECT gdpr.register('public.address', ARRAY['street', 'city']);
SELECT gdpr.export_follow('public.person', 'person_address_id_fkey');

-- gdpr.registered_columns: the table shown in the README
SELECT * FROM gdpr.registered_columns WHERE rel = 'public.person'::regclass ORDER BY column_name;

-- gdpr.anonymise: true, false (already done), true (forced)
SELECT gdpr.anonymise('public.person', '42');
SELECT gdpr.anonymise('public.person', 42);
SELECT gdpr.anonymise('public.person', 42, force => true);
SELECT id, name, email, phone FROM person ORDER BY id;
-- a key that matches no row is an error
SELECT gdpr.anonymise('public.person', 1000);

-- gdpr.anonymise_many: 2 rows changed, then 0 (done already, 1000 missing)
SELECT gdpr.register('public.comment', fields => ARRAY['body']);
SELECT gdpr.set_anonymiser('public.comment', 'body', 'value', '[removed]');
SELECT gdpr.anonymise_many('public.comment', ARRAY['7', '8']);
SELECT gdpr.anonymise_many('public.comment', ARRAY[7, 8, 1000]);

-- gdpr.is_anonymised
SELECT gdpr.is_anonymised('public.person', 42);
SELECT gdpr.is_anonymised('public.person', '43');

-- gdpr.on_delete_anonymise: comment 9 is anonymised before it is unlinked
SELECT gdpr.on_delete_anonymise('public.comment', 'comment_author_id_fkey');
DELETE FROM person WHERE id = 42;
SELECT * FROM comment ORDER BY id;
-- the refusals named in the README: a CASCADE constraint, an unregistered child
CREATE TABLE note (id integer PRIMARY KEY,
                   person_id integer REFERENCES person (id) ON DELETE CASCADE,
                   body text);
SELECT gdpr.on_delete_anonymise('public.note', 'note_person_id_fkey');
SELECT gdpr.register('public.note', ARRAY['body']);
SELECT gdpr.on_delete_anonymise('public.note', 'note_person_id_fkey');
SELECT gdpr.unregister('public.note');
DROP TABLE note;
SELECT gdpr.drop_on_delete_anonymise('public.comment', 'comment_author_id_fkey');

-- gdpr.search, gdpr.export, gdpr.export_search, gdpr.anonymise_search
INSERT INTO person VALUES (44, 'Carol', 'carol@example.com', '+44 7700 900999', 'z', 1);
INSERT INTO comment VALUES (10, 44, 'Hey');
SELECT * FROM gdpr.search('Carol@Example.com');
SELECT * FROM gdpr.search('');
SELECT * FROM gdpr.search(NULL);
SELECT jsonb_pretty(gdpr.export('public.person', 44));
SELECT gdpr.export_search('carol@example.com') = gdpr.export('public.person', 44)
    AS export_search_is_the_export;
SELECT gdpr.export_search('nobody@example.com');
SELECT * FROM gdpr.anonymise_search('bob@example.com');
SELECT id, name, email FROM person WHERE id = 43;

-- gdpr.log_status: every event so far is queued (no log database here)
SELECT queued, last_error FROM gdpr.log_status;
SELECT kind, table_name, key, count(*) FROM gdpr.queued_events
 GROUP BY kind, table_name, key ORDER BY table_name, key, kind;

-- gdpr.ship_log without gdpr.log_conninfo is an error
SELECT gdpr.ship_log();

-- gdpr.anonymise_db refuses without the setting, and with the wrong name
SELECT * FROM gdpr.anonymise_db(confirm => current_database());
SET gdpr.allow_anonymise_db = on;
SELECT * FROM gdpr.anonymise_db(confirm => 'production');
SELECT * FROM gdpr.anonymise_db(confirm => current_database()) ORDER BY rel::text;
RESET gdpr.allow_anonymise_db;
SELECT id, name, email, phone FROM person ORDER BY id;
SELECT street, city FROM address;

------------------------------------------------------------------------------
-- Declarations: the README's labels and comments, on unregistered tables
------------------------------------------------------------------------------
SELECT gdpr.unregister('public.comment');
SELECT gdpr.unregister('public.person');
SELECT gdpr.unregister('public.address');
SECURITY LABEL FOR gdpr ON TABLE person IS '{"export_exclude": ["password_hash"]}';
SECURITY LABEL FOR gdpr ON COLUMN person.email IS '{"pii": true, "search": true, "anonymise": "email"}';
COMMENT ON COLUMN person.name IS 'Full name. gdpr: {"pii": true, "anonymise": "value", "value": "Anonymous user"}';
SECURITY LABEL FOR gdpr ON COLUMN comment.body IS '{"pii": true, "anonymise": "value", "value": "[removed]"}';
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'gdpr: {"on_delete": "anonymise"}';
SECURITY LABEL FOR gdpr ON COLUMN address.city IS '{"pii": true}';
COMMENT ON CONSTRAINT person_address_id_fkey ON person IS 'gdpr: {"export": "follow"}';
SELECT * FROM gdpr.registered_columns ORDER BY rel::text, column_name;
SELECT rel, constraint_name, rule FROM gdpr.constraint_rule ORDER BY rel::text, 2, 3;
-- applying a declaration again changes nothing
COMMENT ON COLUMN person.name IS 'Full name. gdpr: {"pii": true, "anonymise": "value", "value": "Anonymous user"}';
SELECT column_name, pii, method, argument FROM gdpr.registered_columns
 WHERE rel = 'public.person'::regclass AND pii ORDER BY column_name;
-- removing a comment's marker takes the column out of the registry
COMMENT ON COLUMN person.name IS 'Full name.';
SELECT column_name, pii FROM gdpr.registered_columns
 WHERE rel = 'public.person'::regclass AND column_name = 'name';
-- a malformed declaration: rejected with the position, nothing registered
\set VERBOSITY default
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{"pii" true}';
SELECT column_name, pii FROM gdpr.registered_columns
 WHERE rel = 'public.person'::regclass AND column_name = 'phone';

------------------------------------------------------------------------------
-- Concepts: the triggers the README names, TRUNCATE, partitions, markers
------------------------------------------------------------------------------
-- the registered tables carry gdpr_log_delete (AFTER DELETE, row) and
-- gdpr_log_truncate (BEFORE TRUNCATE, statement); the parent of an ON DELETE
-- ANONYMISE rule carries GDPR_on_delete_anonymise (AFTER DELETE, row, with a
-- transition table: sorts before the foreign keys' RI_ConstraintTrigger_a_...)
SELECT tgrelid::regclass AS rel, tgname,
       CASE WHEN tgtype & 2 <> 0 THEN 'BEFORE' ELSE 'AFTER' END AS timing,
       CASE WHEN tgtype & 1 <> 0 THEN 'ROW' ELSE 'STATEMENT' END AS level,
       CASE WHEN tgtype & 8 <> 0 THEN 'DELETE' WHEN tgtype & 32 <> 0 THEN 'TRUNCATE' END AS event
  FROM pg_trigger
 WHERE tgrelid IN ('person'::regclass, 'comment'::regclass, 'address'::regclass)
   AND NOT tgisinternal
 ORDER BY tgrelid::regclass::text, tgname;

-- a bulk DELETE: the set-based trigger anonymises the children of every
-- deleted row before any foreign key's SET NULL
INSERT INTO person VALUES (50, 'P50', 'p50@example.com', NULL, NULL, NULL),
                          (51, 'P51', 'p51@example.com', NULL, NULL, NULL);
INSERT INTO comment VALUES (50, 50, 'c50'), (51, 51, 'c51'), (52, 51, 'c52');
DELETE FROM person WHERE id IN (50, 51);
SELECT * FROM comment WHERE id >= 50 ORDER BY id;

-- a partitioned parent gets the row-by-row form, a BEFORE DELETE trigger
CREATE TABLE member (id integer PRIMARY KEY, name text) PARTITION BY RANGE (id);
CREATE TABLE member_1 PARTITION OF member FOR VALUES FROM (1) TO (1000);
CREATE TABLE post (id integer PRIMARY KEY,
                   member_id integer REFERENCES member (id) ON DELETE SET NULL,
                   signature text);
SELECT gdpr.register('post', ARRAY['signature']);
SELECT gdpr.on_delete_anonymise('post', 'post_member_id_fkey');
SELECT tgrelid::regclass AS rel, tgname,
       CASE WHEN tgtype & 2 <> 0 THEN 'BEFORE' ELSE 'AFTER' END AS timing
  FROM pg_trigger
 WHERE tgrelid IN ('member'::regclass, 'member_1'::regclass) AND tgname ILIKE 'gdpr%'
 ORDER BY tgrelid::regclass::text, tgname;
INSERT INTO member VALUES (1, 'Gwen');
INSERT INTO post VALUES (1, 1, '-- Gwen, Cardiff');
DELETE FROM member WHERE id = 1;
SELECT *, gdpr.is_anonymised('post', id) FROM post;
DROP TABLE post, member;

-- TRUNCATE of a registered table is logged: one delete event per row
TRUNCATE gdpr.queue;
SELECT count(*) AS comment_markers FROM (SELECT rel, key FROM gdpr.marker UNION SELECT r.rel, g::text FROM gdpr.marker_range AS r, generate_series(r.lo, r.hi) AS g) AS m WHERE rel = 'comment'::regclass;
TRUNCATE comment;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY key::integer;
-- and the markers of the truncated rows go with them
SELECT count(*) AS comment_markers FROM (SELECT rel, key FROM gdpr.marker UNION SELECT r.rel, g::text FROM gdpr.marker_range AS r, generate_series(r.lo, r.hi) AS g) AS m WHERE rel = 'comment'::regclass;

-- a partition created after registration gets the TRUNCATE trigger too
CREATE TABLE visit (id integer, day date, ip inet, PRIMARY KEY (id, day))
    PARTITION BY RANGE (day);
CREATE TABLE visit_2025 PARTITION OF visit
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
SELECT gdpr.register('visit', ARRAY['ip']);
CREATE TABLE visit_2026 PARTITION OF visit
    FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE visit_2027 (LIKE visit);
ALTER TABLE visit ATTACH PARTITION visit_2027
    FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
SELECT tgrelid::regclass AS rel, tgname FROM pg_trigger
 WHERE tgrelid IN ('visit_2025'::regclass, 'visit_2026'::regclass, 'visit_2027'::regclass)
   AND tgname LIKE 'gdpr%'
 ORDER BY tgrelid::regclass::text, tgname;
INSERT INTO visit VALUES (1, '2026-03-01', '192.0.2.1'), (2, '2027-03-01', '192.0.2.2');
TRUNCATE gdpr.queue;
TRUNCATE visit_2026;
DELETE FROM visit WHERE id = 2;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
DROP TABLE visit;

-- a deleted row's marker goes with it: a new row that takes the key of an
-- anonymised, deleted row is not anonymised
INSERT INTO person VALUES (45, 'Erin', 'erin@example.com', NULL, NULL, NULL);
SELECT gdpr.anonymise('person', 45);
DELETE FROM person WHERE id = 45;
INSERT INTO person VALUES (45, 'Frank', 'frank@example.com', NULL, NULL, NULL);
SELECT gdpr.is_anonymised('person', 45);
SELECT name, email FROM person WHERE id = 45;
SELECT gdpr.anonymise('person', 45);
SELECT name, email FROM person WHERE id = 45;

------------------------------------------------------------------------------
-- Security model: the grants of the README give an administrator role what
-- it needs, and nothing is executable by PUBLIC
------------------------------------------------------------------------------
CREATE ROLE regress_readme_admin NOLOGIN;
GRANT EXECUTE ON FUNCTION
    gdpr.register(regclass, text[], text[], text[], text[], boolean),
    gdpr.unregister(regclass),
    gdpr.set_anonymiser(regclass, name, text, text),
    gdpr.export_follow(regclass, name),
    gdpr.drop_export_follow(regclass, name),
    gdpr.on_delete_anonymise(regclass, name),
    gdpr.drop_on_delete_anonymise(regclass, name),
    gdpr.anonymise(regclass, text, boolean),
    gdpr.anonymise(regclass, anyelement, boolean),
    gdpr.anonymise_many(regclass, text[], boolean),
    gdpr.anonymise_many(regclass, anyarray, boolean),
    gdpr.is_anonymised(regclass, text),
    gdpr.is_anonymised(regclass, anyelement),
    gdpr.search(text),
    gdpr.export(regclass, text),
    gdpr.export(regclass, anyelement),
    gdpr.export_search(text),
    gdpr.anonymise_search(text),
    gdpr.ship_log(),
    gdpr.rerun(boolean),
    gdpr.pseudonym(text)     -- for tables with hash columns: anonymising runs as the caller
  TO regress_readme_admin;
GRANT SELECT ON gdpr.registered_columns, gdpr.log_status TO regress_readme_admin;
GRANT SELECT, UPDATE, DELETE ON person, comment, address TO regress_readme_admin;
CREATE ROLE regress_readme_nobody NOLOGIN;

SET ROLE regress_readme_admin;
SELECT * FROM gdpr.search('carol@example.com');
SELECT gdpr.anonymise('public.person', 44, force => true);
SELECT count(*) > 0 AS admin_reads_registry FROM gdpr.registered_columns;
SELECT queued > 0 AS admin_reads_status FROM gdpr.log_status;
RESET ROLE;

SET ROLE regress_readme_nobody;
SELECT * FROM gdpr.search('carol@example.com');
SELECT * FROM gdpr.log_status;
-- a role sees the markers of the tables it may read: none here
SELECT count(*) > 0 AS markers_readable FROM gdpr.marker;
RESET ROLE;

-- no function of the extension is executable by PUBLIC
SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'gdpr' AND has_function_privilege('regress_readme_nobody', p.oid, 'EXECUTE')
 ORDER BY 1;
-- the settings that hold secrets are hidden from non-superusers
SET ROLE regress_readme_nobody;
\set VERBOSITY sqlstate
SHOW gdpr.log_conninfo;
SHOW gdpr.pseudonym_key;
\set VERBOSITY default
RESET ROLE;

------------------------------------------------------------------------------
-- Coming from django-gdpr-assist: the README's migration, on tables shaped the
-- way Django creates them (bigint identity keys, a NO ACTION foreign key,
-- DEFERRABLE INITIALLY DEFERRED, with a generated name)
------------------------------------------------------------------------------
-- run by the role that owns the tables, not a superuser, with the README's
-- grants for the Django role
CREATE ROLE regress_readme_shop;
GRANT CREATE ON SCHEMA public TO regress_readme_shop;
GRANT EXECUTE ON FUNCTION
    gdpr.register(regclass, text[], text[], text[], text[], boolean),
    gdpr.unregister(regclass),
    gdpr.set_anonymiser(regclass, name, text, text),
    gdpr.on_delete_anonymise(regclass, name),
    gdpr.drop_on_delete_anonymise(regclass, name),
    gdpr.export_follow(regclass, name),
    gdpr.drop_export_follow(regclass, name),
    gdpr.anonymise(regclass, text, boolean),
    gdpr.anonymise(regclass, anyelement, boolean),
    gdpr.anonymise_many(regclass, text[], boolean),
    gdpr.anonymise_many(regclass, anyarray, boolean),
    gdpr.is_anonymised(regclass, text),
    gdpr.is_anonymised(regclass, anyelement),
    gdpr.search(text),
    gdpr.export(regclass, text),
    gdpr.export(regclass, anyelement),
    gdpr.export_search(text),
    gdpr.anonymise_search(text),
    gdpr.pseudonym(text)     -- for hash columns: anonymising runs as the caller
  TO regress_readme_shop;
GRANT SELECT ON gdpr.registered_columns TO regress_readme_shop;
SET ROLE regress_readme_shop;
CREATE TABLE shop_person (
    id       bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name     varchar(100) NOT NULL,
    email    varchar(254) NOT NULL UNIQUE,
    phone    varchar(30)  NOT NULL,
    password varchar(128) NOT NULL
);
CREATE TABLE shop_comment (
    id        bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    body      text   NOT NULL,
    author_id bigint NULL
);
ALTER TABLE shop_comment ADD CONSTRAINT shop_comment_author_id_1d4d5cb8_fk_shop_person_id
    FOREIGN KEY (author_id) REFERENCES shop_person (id) DEFERRABLE INITIALLY DEFERRED;
INSERT INTO shop_person (name, email, phone, password)
    VALUES ('Dana', 'dana@example.com', '+44 7700 900555', 'pbkdf2_sha256$x');
INSERT INTO shop_comment (body, author_id) VALUES ('First!', 1);

-- migrations.RunSQL(REGISTER, ...): the SQL of the README's migration
SELECT gdpr.register('public.shop_person',
                     fields => ARRAY['name', 'email', 'phone'],
                     search_fields => ARRAY['email'],
                     export_exclude => ARRAY['password']);
SELECT gdpr.set_anonymiser('public.shop_person', 'name', 'value', 'Anonymous user');
SELECT gdpr.set_anonymiser('public.shop_person', 'email', 'email');
SELECT gdpr.register('public.shop_comment', fields => ARRAY['body']);
SELECT gdpr.set_anonymiser('public.shop_comment', 'body', 'value', '[removed]');
DO $$
DECLARE
    fk name;
BEGIN
    SELECT c.conname INTO STRICT fk
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
     WHERE c.conrelid = 'public.shop_comment'::regclass AND c.contype = 'f'
       AND a.attname = 'author_id';
    -- Django creates NO ACTION foreign keys; make this one SET NULL
    EXECUTE format('ALTER TABLE public.shop_comment DROP CONSTRAINT %I', fk);
    EXECUTE format('ALTER TABLE public.shop_comment ADD CONSTRAINT %I FOREIGN KEY (author_id)
                    REFERENCES public.shop_person (id) ON DELETE SET NULL
                    DEFERRABLE INITIALLY DEFERRED', fk);
    PERFORM gdpr.on_delete_anonymise('public.shop_comment', fk);
END
$$;
RESET ROLE;
SELECT rel, constraint_name, rule FROM gdpr.constraint_rule
 WHERE rel = 'shop_comment'::regclass;
SELECT rel, column_name, method FROM gdpr.registered_columns
 WHERE rel IN ('shop_person'::regclass, 'shop_comment'::regclass) AND pii
 ORDER BY rel::text, column_name;
-- what Django's Person.delete() then sends, with on_delete=DO_NOTHING
SET ROLE regress_readme_shop;
BEGIN;
DELETE FROM shop_person WHERE id = 1;
COMMIT;
SELECT * FROM shop_comment;
RESET ROLE;
SELECT kind, table_name, key FROM gdpr.queued_events
 WHERE table_name LIKE 'public.shop%' ORDER BY seq;
-- migrations.RunSQL(..., UNREGISTER): the reverse migration
SET ROLE regress_readme_shop;
SELECT gdpr.unregister('public.shop_comment');
SELECT gdpr.unregister('public.shop_person');
RESET ROLE;
SELECT count(*) AS shop_tables_registered FROM gdpr.registered_table
 WHERE rel IN ('shop_person'::regclass, 'shop_comment'::regclass);
SELECT tgname FROM pg_trigger
 WHERE tgrelid IN ('shop_person'::regclass, 'shop_comment'::regclass) AND NOT tgisinternal;

------------------------------------------------------------------------------
-- Settings: the README's table of types, contexts and defaults
------------------------------------------------------------------------------
SELECT name, vartype, context, boot_val, unit
  FROM pg_settings WHERE name LIKE 'gdpr.%' ORDER BY name;

------------------------------------------------------------------------------
-- clean up
------------------------------------------------------------------------------
\c :regress_db
DROP DATABASE regression_readme;
DROP ROLE regress_readme_admin;
DROP ROLE regress_readme_nobody;
DROP ROLE regress_readme_shop;
