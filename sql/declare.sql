--
-- The declarative form: SECURITY LABEL FOR gdpr and COMMENT ... 'gdpr: {...}'
--
-- VERBOSITY stays default here so that the DETAIL lines ("at character N")
-- show; SQLSTATEs are checked with :LAST_ERROR_SQLSTATE.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS gdpr;
RESET client_min_messages;

CREATE SCHEMA decl;
SET search_path = decl, public;

CREATE TABLE person (
    id              int PRIMARY KEY,
    name            text NOT NULL,
    email           text,
    phone           text,
    nickname        varchar(10),
    password_hash   text
);
CREATE TABLE comment (
    id          int PRIMARY KEY,
    author_id   int CONSTRAINT comment_author_id_fkey
                REFERENCES person ON DELETE SET NULL,
    body        text
);
CREATE FUNCTION decl.mask(old text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT pg_catalog.repeat('*', pg_catalog.length(old)) $$;

-- what the registry says about the tables of this test
CREATE VIEW decl.cols AS
SELECT rel, column_name, pii, method, argument, search, export
  FROM gdpr.registered_columns
 WHERE rel::regclass::text NOT LIKE 'gdpr.%'
   AND (SELECT relnamespace FROM pg_class WHERE oid = rel) = 'decl'::regnamespace
 ORDER BY rel::text, column_name;
CREATE VIEW decl.tabs AS
SELECT rel, can_anonymise, export_fields, export_exclude, declared
  FROM gdpr.registered_table
 WHERE (SELECT relnamespace FROM pg_class WHERE oid = rel) = 'decl'::regnamespace
 ORDER BY rel::text;
CREATE VIEW decl.fields AS
SELECT f.rel, f.column_name, f.pii, f.method, f.argument, f.search, f.declared
  FROM gdpr.registered_field f
 WHERE (SELECT relnamespace FROM pg_class WHERE oid = f.rel) = 'decl'::regnamespace
 ORDER BY f.rel::text, f.column_name;

------------------------------------------------------------------------------
-- The examples of SPEC 2
------------------------------------------------------------------------------
SECURITY LABEL FOR gdpr ON TABLE person IS '{"export_exclude": ["password_hash"]}';
SELECT * FROM tabs;
SECURITY LABEL FOR gdpr ON COLUMN person.email IS '{"pii": true, "search": true, "anonymise": "email"}';
COMMENT ON COLUMN person.name IS 'Full name. gdpr: {"pii": true, "anonymise": "value", "value": "Anonymous user"}';
SELECT * FROM cols;
SELECT * FROM fields;
-- the comment is stored as written
SELECT col_description('person'::regclass, 2);
SELECT objname, provider, label FROM pg_seclabels
 WHERE objnamespace = 'decl'::regnamespace ORDER BY objname;

------------------------------------------------------------------------------
-- Idempotency: applying the same declarations again changes nothing
------------------------------------------------------------------------------
CREATE TEMP TABLE before_cols AS SELECT * FROM cols;
CREATE TEMP TABLE before_tabs AS SELECT * FROM tabs;
CREATE TEMP TABLE before_triggers AS
    SELECT tgname FROM pg_trigger WHERE tgrelid = 'person'::regclass;
SECURITY LABEL FOR gdpr ON TABLE person IS '{"export_exclude": ["password_hash"]}';
SECURITY LABEL FOR gdpr ON COLUMN person.email IS '{"pii": true, "search": true, "anonymise": "email"}';
COMMENT ON COLUMN person.name IS 'Full name. gdpr: {"pii": true, "anonymise": "value", "value": "Anonymous user"}';
SECURITY LABEL FOR gdpr ON COLUMN person.email IS '{"pii": true, "search": true, "anonymise": "email"}';
(SELECT * FROM cols EXCEPT SELECT * FROM before_cols)
UNION ALL
(SELECT * FROM before_cols EXCEPT SELECT * FROM cols);
(SELECT * FROM tabs EXCEPT SELECT * FROM before_tabs)
UNION ALL
(SELECT * FROM before_tabs EXCEPT SELECT * FROM tabs);
SELECT count(*) AS same_triggers
  FROM (SELECT tgname FROM pg_trigger WHERE tgrelid = 'person'::regclass
        EXCEPT SELECT tgname FROM before_triggers) t;

------------------------------------------------------------------------------
-- Each column key
------------------------------------------------------------------------------
-- "pii" alone: the method is 'default'
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{"pii": true}';
SELECT column_name, pii, method, argument, search FROM cols WHERE column_name = 'phone';
-- "anonymise" implies "pii"
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{"anonymise": "null"}';
SELECT column_name, pii, method, argument, search FROM cols WHERE column_name = 'phone';
-- "function"
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{"anonymise": "function", "function": "decl.mask"}';
SELECT column_name, pii, method, argument IS NOT NULL AS has_argument, search
  FROM cols WHERE column_name = 'phone';
-- "value" as a number or boolean is taken as written
SECURITY LABEL FOR gdpr ON COLUMN person.nickname IS '{"anonymise": "value", "value": 12.50}';
SELECT column_name, pii, method, argument FROM cols WHERE column_name = 'nickname';
-- "search" alone: a search field that is not PII
SECURITY LABEL FOR gdpr ON COLUMN person.nickname IS '{"search": true}';
SELECT column_name, pii, method, argument, search FROM cols WHERE column_name = 'nickname';
-- {"pii": false} with "search": still a search field
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{"pii": false, "search": true}';
SELECT column_name, pii, method, argument, search FROM cols WHERE column_name = 'phone';
-- {} and {"pii": false}: no personal data, no search field
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{}';
SECURITY LABEL FOR gdpr ON COLUMN person.nickname IS '{"pii": false}';
SELECT column_name, pii, method, search FROM cols WHERE column_name IN ('phone', 'nickname');
SELECT count(*) FROM fields WHERE column_name IN ('phone', 'nickname');
-- "export": false excludes the column, "export": true brings it back
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{"pii": true, "export": false}';
SELECT column_name, pii, export FROM cols WHERE column_name = 'phone';
SELECT export_exclude FROM tabs WHERE rel = 'person'::regclass;
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{"pii": true, "export": true}';
SELECT column_name, pii, export FROM cols WHERE column_name = 'phone';
-- a declaration without "export" leaves the column's export alone, so a
-- function (that knows nothing of exports) leaves it too ...
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{"pii": true, "export": false}';
SELECT gdpr.set_anonymiser('person', 'phone', 'null');
SELECT column_name, method, export FROM cols WHERE column_name = 'phone';
-- ... but a key "export" dropped from the declaration is undone
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{"pii": true}';
SELECT column_name, method, export FROM cols WHERE column_name = 'phone';

------------------------------------------------------------------------------
-- Each table key; a table declaration is the whole of the table's options
------------------------------------------------------------------------------
SECURITY LABEL FOR gdpr ON TABLE person IS '{"can_anonymise": false, "export_fields": ["id", "name", "email"]}';
SELECT * FROM tabs;
SELECT column_name, export FROM cols WHERE rel = 'person'::regclass;
-- keys left out take their defaults again
SECURITY LABEL FOR gdpr ON TABLE person IS '{"export_fields": null}';
SELECT * FROM tabs;
-- the columns' "export" keys still hold after the table's declaration
SECURITY LABEL FOR gdpr ON COLUMN person.password_hash IS '{"export": false}';
SECURITY LABEL FOR gdpr ON TABLE person IS '{"can_anonymise": true}';
SELECT * FROM tabs;
COMMENT ON TABLE person IS 'People. gdpr: {"export_exclude": ["password_hash", "phone"]}';
SELECT * FROM tabs;

------------------------------------------------------------------------------
-- Removing a declaration
------------------------------------------------------------------------------
-- removing a label takes the column out
SECURITY LABEL FOR gdpr ON COLUMN person.email IS NULL;
SELECT column_name, pii, method, search FROM cols WHERE column_name = 'email';
-- a comment that loses its marker takes the column out
COMMENT ON COLUMN person.name IS 'Full name.';
SELECT column_name, pii, method FROM cols WHERE column_name = 'name';
-- COMMENT ... IS NULL too
COMMENT ON COLUMN person.name IS 'gdpr: {"pii": true}';
SELECT column_name, pii, method FROM cols WHERE column_name = 'name';
COMMENT ON COLUMN person.name IS NULL;
SELECT column_name, pii, method FROM cols WHERE column_name = 'name';
-- a comment without marker on a column never declared does nothing
CREATE TEMP TABLE before_fields AS SELECT * FROM fields;
COMMENT ON COLUMN person.email IS 'Where we write to. See nogdpr: {this is not a declaration}';
COMMENT ON COLUMN person.email IS 'Changed, still no marker';
COMMENT ON COLUMN person.email IS NULL;
(SELECT * FROM fields EXCEPT SELECT * FROM before_fields)
UNION ALL
(SELECT * FROM before_fields EXCEPT SELECT * FROM fields);
-- neither does a comment without marker on a column declared by a function
SELECT gdpr.set_anonymiser('person', 'email', 'email');
COMMENT ON COLUMN person.email IS 'E-mail address';
SELECT column_name, pii, method FROM cols WHERE column_name = 'email';
-- when the label goes, a declaration in the comment applies instead
COMMENT ON COLUMN person.nickname IS 'gdpr: {"pii": true, "anonymise": "null"}';
SECURITY LABEL FOR gdpr ON COLUMN person.nickname IS '{"search": true}';
SELECT column_name, pii, method, search FROM cols WHERE column_name = 'nickname';
SECURITY LABEL FOR gdpr ON COLUMN person.nickname IS NULL;
SELECT column_name, pii, method, search FROM cols WHERE column_name = 'nickname';
-- and the other way round
SECURITY LABEL FOR gdpr ON COLUMN person.nickname IS '{"search": true}';
COMMENT ON COLUMN person.nickname IS 'no longer declared here';
SELECT column_name, pii, method, search FROM cols WHERE column_name = 'nickname';

------------------------------------------------------------------------------
-- The latest statement wins
------------------------------------------------------------------------------
SECURITY LABEL FOR gdpr ON COLUMN person.email IS '{"anonymise": "email", "search": true}';
SELECT gdpr.set_anonymiser('person', 'email', 'hash');
SELECT column_name, method, search FROM cols WHERE column_name = 'email';
SELECT column_name, method, declared FROM fields WHERE column_name = 'email';
SECURITY LABEL FOR gdpr ON COLUMN person.email IS '{"anonymise": "email", "search": true}';
SELECT column_name, method, search FROM cols WHERE column_name = 'email';
SELECT column_name, method, declared FROM fields WHERE column_name = 'email';
-- a table registered by gdpr.register() takes declarations on top
CREATE TABLE account (id int PRIMARY KEY, login text NOT NULL, secret text);
SELECT gdpr.register('account', ARRAY['secret'], can_anonymise => false);
SELECT * FROM tabs WHERE rel = 'account'::regclass;
SECURITY LABEL FOR gdpr ON COLUMN account.login IS '{"search": true}';
SELECT * FROM tabs WHERE rel = 'account'::regclass;
SELECT * FROM cols WHERE rel = 'account'::regclass;
-- a table declaration overrides what gdpr.register() said
SECURITY LABEL FOR gdpr ON TABLE account IS '{}';
SELECT * FROM tabs WHERE rel = 'account'::regclass;
-- and gdpr.unregister() wins over the declarations that were there
SELECT gdpr.unregister('account');
SELECT count(*) FROM tabs WHERE rel = 'account'::regclass;
-- removing a label of an unregistered table changes nothing, and is no error
SECURITY LABEL FOR gdpr ON COLUMN account.login IS NULL;
SELECT count(*) FROM tabs WHERE rel = 'account'::regclass;

------------------------------------------------------------------------------
-- A column declaration alone registers its table; removing the table's
-- declaration unregisters it
------------------------------------------------------------------------------
CREATE TABLE visit (id bigint PRIMARY KEY, ip inet, at timestamptz NOT NULL DEFAULT now());
COMMENT ON COLUMN visit.ip IS 'gdpr: {"pii": true}';
SELECT * FROM tabs WHERE rel = 'visit'::regclass;
SELECT * FROM cols WHERE rel = 'visit'::regclass;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'visit'::regclass AND tgname ILIKE 'gdpr%' ORDER BY 1;
SECURITY LABEL FOR gdpr ON TABLE visit IS '{"can_anonymise": false}';
SECURITY LABEL FOR gdpr ON TABLE visit IS NULL;
SELECT count(*) FROM tabs WHERE rel = 'visit'::regclass;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'visit'::regclass AND tgname ILIKE 'gdpr%' ORDER BY 1;

------------------------------------------------------------------------------
-- Malformed declarations: the statement fails, with the position, and
-- nothing is registered or stored
------------------------------------------------------------------------------
CREATE TABLE pristine (id int PRIMARY KEY, email text, name text NOT NULL);
-- empty
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '   ';
COMMENT ON COLUMN pristine.email IS 'gdpr:';
COMMENT ON COLUMN pristine.email IS 'Mail. gdpr:   ';
-- end of input: its length plus one
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii": true';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '  {"pii": true, ';
COMMENT ON COLUMN pristine.email IS 'gdpr: {"anonymise": "val';
-- counted from the first non-blank character of the JSON text
COMMENT ON COLUMN pristine.email IS 'Adresse électronique. gdpr:   {"pii": tru}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS E'\n\t {"pii": tru}';
-- in characters: multibyte text before the error
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "value", "value": "Ünïcødé ☃", "x" 1}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"ключ": 1, "pii": true}';
-- trailing garbage
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii": true} x';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii": true} {}';
COMMENT ON COLUMN pristine.email IS 'gdpr: {"pii": true}. More text.';
-- other syntax errors
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii": true,}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii" true}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{pii: true}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii": 01}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "value", "value": "a\qb"}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "value", "value": "a\u0000b"}';
-- not an object
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '[{"pii": true}]';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS 'true';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '  "pii"';
-- unknown keys (the key's position) and repeated keys
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii": true, "anonymiser": "null"}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"can_anonymise": false}';
SECURITY LABEL FOR gdpr ON TABLE pristine IS '{"pii": true}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii": true, "pii": false}';
-- wrong value types (the value's position)
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii": "yes"}';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"search": 1}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"export": null}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": ["null"]}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "function", "function": 42}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "value", "value": {"a": 1}}';
SECURITY LABEL FOR gdpr ON TABLE pristine IS '{"can_anonymise": "no"}';
SECURITY LABEL FOR gdpr ON TABLE pristine IS '{"export_exclude": "email"}';
SECURITY LABEL FOR gdpr ON TABLE pristine IS '{"export_fields": ["id", 2]}';
SECURITY LABEL FOR gdpr ON TABLE pristine IS '{"export_exclude": ["id", ""]}';
-- unknown method names
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "scramble"}';
COMMENT ON COLUMN pristine.email IS 'gdpr: {"anonymise": "Email"}';
-- arguments that do not go with the method
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "value"}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "function"}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii": true, "value": "x"}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "value", "function": "decl.mask"}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "value", "value": "x", "function": "decl.mask"}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"pii": false, "anonymise": "null"}';
-- constraint keys
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'gdpr: {"on_delete": "cascade"}';
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'gdpr: {"export": "always"}';
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'gdpr: {"on_delete": true}';
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'gdpr: {"pii": true}';
-- a failure in the core's checks rolls back everything: "null" on NOT NULL
SECURITY LABEL FOR gdpr ON COLUMN pristine.name IS '{"anonymise": "null"}';
COMMENT ON COLUMN pristine.name IS 'gdpr: {"anonymise": "null"}';
-- a column that does not exist in the table's export lists
SECURITY LABEL FOR gdpr ON TABLE pristine IS '{"export_exclude": ["nosuchcolumn"]}';
-- nothing of all this was registered or stored
SELECT count(*) FROM tabs WHERE rel = 'pristine'::regclass;
SELECT count(*) FROM pg_seclabels WHERE objoid = 'pristine'::regclass;
SELECT count(*) FROM pg_description WHERE objoid = 'pristine'::regclass;
-- an error in a later declaration of a registered column changes nothing
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "email"}';
CREATE TEMP TABLE before_pristine AS SELECT * FROM fields WHERE rel = 'pristine'::regclass;
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "email", "search": "yes"}';
SECURITY LABEL FOR gdpr ON COLUMN pristine.email IS '{"anonymise": "blank", "x": 1}';
(SELECT * FROM fields WHERE rel = 'pristine'::regclass EXCEPT SELECT * FROM before_pristine)
UNION ALL
(SELECT * FROM before_pristine EXCEPT SELECT * FROM fields WHERE rel = 'pristine'::regclass);
SELECT label FROM pg_seclabels WHERE objoid = 'pristine'::regclass;

------------------------------------------------------------------------------
-- Objects that take no declaration
------------------------------------------------------------------------------
SECURITY LABEL FOR gdpr ON FUNCTION decl.mask(text) IS '{}';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON SCHEMA decl IS '{}';
CREATE VIEW person_view AS SELECT id, email FROM person;
SECURITY LABEL FOR gdpr ON COLUMN person_view.email IS '{"pii": true}';
\echo :LAST_ERROR_SQLSTATE
COMMENT ON COLUMN person_view.email IS 'gdpr: {"pii": true}';
-- without the marker, comments on views are none of gdpr's business
COMMENT ON COLUMN person_view.email IS 'the e-mail address';
COMMENT ON VIEW person_view IS 'a view';
COMMENT ON VIEW person_view IS 'gdpr: {"pii": true}';
-- system columns
SECURITY LABEL FOR gdpr ON COLUMN person.ctid IS '{}';

------------------------------------------------------------------------------
-- A table without a primary key: declarations wait for it (pg_dump adds the
-- key after the comments and labels)
------------------------------------------------------------------------------
CREATE TABLE later (id int NOT NULL, email text, note text);
SECURITY LABEL FOR gdpr ON TABLE later IS '{"export_exclude": ["note"]}';
COMMENT ON COLUMN later.email IS 'gdpr: {"anonymise": "email", "search": true}';
SELECT count(*) FROM tabs WHERE rel = 'later'::regclass;
ALTER TABLE later ADD COLUMN extra int;
SELECT count(*) FROM tabs WHERE rel = 'later'::regclass;
ALTER TABLE ONLY later ADD CONSTRAINT later_pkey PRIMARY KEY (id);
SELECT * FROM tabs WHERE rel = 'later'::regclass;
SELECT * FROM cols WHERE rel = 'later'::regclass;
-- a restore brings the registry rows back before the primary key: a table
-- registered by then keeps those rows (they hold the latest state)
CREATE TABLE restored (id int NOT NULL, email text);
COMMENT ON COLUMN restored.email IS 'gdpr: {"pii": true}';
INSERT INTO gdpr.registered_table (rel, declared) VALUES ('restored', true);
INSERT INTO gdpr.registered_field (rel, column_name, pii, method, declared)
    VALUES ('restored', 'email', true, 'email', false);
ALTER TABLE restored ADD PRIMARY KEY (id);
SELECT * FROM cols WHERE rel = 'restored'::regclass;
-- (a real restore also brings back the triggers; this one has none)
DELETE FROM gdpr.registered_table WHERE rel = 'restored'::regclass;
-- declarations registered the table: gdpr.register() says it is registered
SELECT gdpr.register('later', ARRAY['note']);

------------------------------------------------------------------------------
-- Constraints
------------------------------------------------------------------------------
-- the child must be registered
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'gdpr: {"export": "follow"}';
SECURITY LABEL FOR gdpr ON COLUMN comment.body IS '{"anonymise": "value", "value": "[removed]"}';
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'Author. gdpr: {"export": "follow"}';
SELECT rel, constraint_name, rule, declared FROM gdpr.constraint_rule
 WHERE rel = 'comment'::regclass ORDER BY rule;
-- idempotent
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'Author. gdpr: {"export": "follow"}';
SELECT rel, constraint_name, rule, declared FROM gdpr.constraint_rule
 WHERE rel = 'comment'::regclass ORDER BY rule;
-- the declaration is the whole of the constraint's rules
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'gdpr: {"on_delete": "anonymise"}';
SELECT rel, constraint_name, rule, declared FROM gdpr.constraint_rule
 WHERE rel = 'comment'::regclass ORDER BY rule;
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'gdpr: {"on_delete": "anonymise", "export": "follow"}';
SELECT rel, constraint_name, rule, declared FROM gdpr.constraint_rule
 WHERE rel = 'comment'::regclass ORDER BY rule;
-- ON DELETE ANONYMISE works: deleting the person anonymises their comments
INSERT INTO person VALUES (1, 'Alice', 'alice@example.com', '555', 'al', 'x');
INSERT INTO person VALUES (2, 'Bob', 'bob@example.com', '556', 'bo', 'y');
INSERT INTO comment VALUES (10, 1, 'Hello from Alice'), (11, 2, 'Hi from Bob'), (12, 1, 'Bye');
DELETE FROM person WHERE id = 1;
SELECT id, author_id, body FROM comment ORDER BY id;
SELECT rel, key FROM gdpr.marker WHERE rel = 'comment'::regclass ORDER BY key;
-- only constraints that are foreign keys
ALTER TABLE comment ADD CONSTRAINT body_not_empty CHECK (body <> '');
COMMENT ON CONSTRAINT body_not_empty ON comment IS 'gdpr: {"export": "follow"}';
COMMENT ON CONSTRAINT body_not_empty ON comment IS 'must not be empty';
SELECT tgname FROM pg_trigger WHERE tgrelid = 'person'::regclass AND tgname ILIKE 'gdpr%' ORDER BY 1;
-- the core's refusals reach the statement, and nothing is kept
CREATE TABLE tag (id int PRIMARY KEY,
                  person_id int REFERENCES person ON DELETE CASCADE, label text);
COMMENT ON CONSTRAINT tag_person_id_fkey ON tag IS 'gdpr: {"export": "follow"}';
SECURITY LABEL FOR gdpr ON COLUMN tag.label IS '{"pii": true}';
COMMENT ON CONSTRAINT tag_person_id_fkey ON tag IS 'gdpr: {"export": "follow", "on_delete": "anonymise"}';
SELECT rule FROM gdpr.constraint_rule WHERE rel = 'tag'::regclass;
SELECT col_description('tag'::regclass, 1), obj_description(oid, 'pg_constraint')
  FROM pg_constraint WHERE conname = 'tag_person_id_fkey';
-- removing the marker drops the rules, and the trigger that served them
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'Author.';
SELECT count(*) FROM gdpr.constraint_rule WHERE rel = 'comment'::regclass;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'person'::regclass AND tgname ILIKE 'gdpr%' ORDER BY 1;
DELETE FROM person WHERE id = 2;
SELECT id, author_id, body FROM comment ORDER BY id;
-- rules set by the functions stay when a comment without marker changes
SELECT gdpr.export_follow('comment', 'comment_author_id_fkey');
COMMENT ON CONSTRAINT comment_author_id_fkey ON comment IS 'The author.';
SELECT rule, declared FROM gdpr.constraint_rule WHERE rel = 'comment'::regclass;

------------------------------------------------------------------------------
-- Privileges: only the owner may declare
------------------------------------------------------------------------------
CREATE ROLE regress_decl_other;
GRANT USAGE ON SCHEMA decl TO regress_decl_other;
SET ROLE regress_decl_other;
SECURITY LABEL FOR gdpr ON COLUMN person.phone IS '{"anonymise": "null"}';
COMMENT ON COLUMN person.phone IS 'gdpr: {"anonymise": "null"}';
COMMENT ON COLUMN person.phone IS 'gdpr: {"not": "even valid"';
RESET ROLE;
SELECT column_name, method FROM cols WHERE column_name = 'phone';
-- ownership is what it takes: an owner without grants on gdpr's functions
-- declares on their own table
GRANT CREATE ON SCHEMA decl TO regress_decl_other;
SET ROLE regress_decl_other;
CREATE TABLE decl.own (id int PRIMARY KEY, email text);
SECURITY LABEL FOR gdpr ON COLUMN own.email IS '{"anonymise": "email"}';
SELECT gdpr.set_anonymiser('own', 'email', 'hash');
RESET ROLE;
SELECT * FROM cols WHERE rel = 'own'::regclass;

------------------------------------------------------------------------------
-- A database without the extension: comments are left alone, labels refused
------------------------------------------------------------------------------
\set regress_db :DBNAME
CREATE DATABASE regress_decl_noext;
\c regress_decl_noext
CREATE TABLE t (id int PRIMARY KEY, email text);
COMMENT ON COLUMN t.email IS 'gdpr: {"not json';
SELECT col_description('t'::regclass, 2);
SECURITY LABEL FOR gdpr ON COLUMN t.email IS '{"pii": true}';
\echo :LAST_ERROR_SQLSTATE
\c :regress_db
DROP DATABASE regress_decl_noext;
SET search_path = decl, public;

------------------------------------------------------------------------------
-- Cleanup
------------------------------------------------------------------------------
SELECT gdpr.unregister(rel) FROM tabs;
DROP SCHEMA decl CASCADE;
DROP OWNED BY regress_decl_other;
DROP ROLE regress_decl_other;
