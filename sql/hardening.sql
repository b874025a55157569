-- Hardening (issue 9, item 10): export of char(n) and bit(n) keys, registered
-- tables that lost their primary key, name resolution in declarations, and
-- what hostile declaration text can do.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS gdpr;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE SCHEMA hard;
CREATE ROLE regress_hard_reader;
CREATE ROLE regress_hard_other;
GRANT USAGE ON SCHEMA gdpr, hard TO regress_hard_reader, regress_hard_other;
GRANT EXECUTE ON FUNCTION gdpr.search(text), gdpr.export_search(text),
      gdpr.anonymise_search(text), gdpr.export(regclass, text)
   TO regress_hard_reader, regress_hard_other;

------------------------------------------------------------------------------
-- 1. Export follows keys and foreign keys of type char(n) and bit(n).  The
--    values were cast to "character" and "bit" without a length, which mean
--    char(1) and bit(1): every value was cut, nothing matched, and the
--    export was {}.
------------------------------------------------------------------------------
CREATE TABLE hard.cperson (id char(4) PRIMARY KEY, name text);
CREATE TABLE hard.cagent (id char(6) PRIMARY KEY, agent_name text);
-- the foreign key column is longer than the key it references
CREATE TABLE hard.corder (
    id        int PRIMARY KEY,
    person_id char(6) REFERENCES hard.cperson,
    agent_id  char(6) REFERENCES hard.cagent,
    note      text
);
-- a foreign key column of a domain over char(2), shorter than the key: the
-- key "abcd" must not be cut to "ab" (another person)
CREATE DOMAIN hard.char2 AS char(2);
CREATE TABLE hard.cshort (
    id        int PRIMARY KEY,
    person_id hard.char2 REFERENCES hard.cperson,
    note      text
);
-- a two-column key of bit(3) and char(2), referenced by a two-column key
CREATE TABLE hard.bperson (
    code   bit(3),
    region char(2),
    name   text,
    PRIMARY KEY (code, region)
);
CREATE TABLE hard.bvisit (
    id     int PRIMARY KEY,
    code   bit(3),
    region char(2),
    note   text,
    FOREIGN KEY (code, region) REFERENCES hard.bperson
);
INSERT INTO hard.cperson VALUES ('ab', 'Ann'), ('abcd', 'Abe'), ('a', 'Al');
INSERT INTO hard.cagent VALUES ('ag1', 'Agent one'), ('ag1234', 'Agent two');
INSERT INTO hard.corder VALUES
    (1, 'ab', 'ag1', 'first of ab'),
    (2, 'abcd', 'ag1234', 'first of abcd'),
    (3, 'ab', NULL, 'second of ab'),
    (4, 'a', 'ag1', 'first of a');
INSERT INTO hard.cshort VALUES (1, 'ab', 'short of ab'), (2, 'a', 'short of a');
INSERT INTO hard.bperson VALUES (B'101', 'uk', 'Bea'), (B'100', 'uk', 'Ben'), (B'101', 'fr', 'Bo');
INSERT INTO hard.bvisit VALUES
    (1, B'101', 'uk', 'Bea visits'),
    (2, B'100', 'uk', 'Ben visits'),
    (3, B'101', 'fr', 'Bo visits');
-- (text keys draw a WARNING about personal data in keys: not the point here)
SET client_min_messages = error;
SELECT gdpr.register('hard.cperson', ARRAY['name'], search_fields => ARRAY['name']);
SELECT gdpr.register('hard.cagent', ARRAY['agent_name']);
SELECT gdpr.register('hard.corder', ARRAY['note']);
SELECT gdpr.register('hard.cshort', ARRAY['note']);
SELECT gdpr.register('hard.bperson', ARRAY['name'], search_fields => ARRAY['name']);
SELECT gdpr.register('hard.bvisit', ARRAY['note']);
RESET client_min_messages;

-- a char(4) key: the person, their orders (char(6) foreign key) and short
-- notes (char(2) domain); "ab" must not also reach "a" or "abcd", nor "abcd"
-- reach "ab"
SELECT gdpr.export('hard.cperson', 'ab');
SELECT gdpr.export('hard.cperson', 'abcd');
SELECT gdpr.export('hard.cperson', 'a');
-- a char(6) foreign key followed to the agent, and back to the person
SELECT gdpr.export_follow('hard.corder', 'corder_agent_id_fkey');
SELECT gdpr.export_follow('hard.corder', 'corder_person_id_fkey');
SELECT gdpr.export('hard.corder', 2);
-- a (bit(3), char(2)) key and a two-column foreign key over it
SELECT gdpr.export('hard.bperson', '(101,uk)');
SELECT gdpr.export('hard.bperson', '(100,uk)');
-- a bit(3) key reached by following a two-column foreign key
COMMENT ON CONSTRAINT bvisit_code_region_fkey ON hard.bvisit IS 'gdpr: {"export": "follow"}';
SELECT gdpr.export('hard.bvisit', 3);
-- export_search starts from the search hits, with the same rules
SELECT gdpr.export_search('Abe');
SELECT gdpr.export_search('Bea');

------------------------------------------------------------------------------
-- 2. A registered table that lost its primary key is skipped, with a
--    WARNING naming it, by search, export_search, anonymise_search and
--    export; it made them fail for everybody.  Only a role that may read
--    the table is warned.
------------------------------------------------------------------------------
CREATE TABLE hard.kperson (id int PRIMARY KEY, email text, name text);
CREATE TABLE hard.kgone (id int PRIMARY KEY, email text, name text);
INSERT INTO hard.kperson VALUES (1, 'kim@hard.test', 'Kim'), (2, 'kai@hard.test', 'Kai');
INSERT INTO hard.kgone VALUES (1, 'kim@hard.test', 'Kim');
SELECT gdpr.register('hard.kperson', ARRAY['name'], search_fields => ARRAY['email']);
SELECT gdpr.register('hard.kgone', ARRAY['name'], search_fields => ARRAY['email']);
GRANT SELECT, UPDATE ON hard.kperson, hard.kgone TO regress_hard_reader;
GRANT SELECT, UPDATE ON hard.kperson TO regress_hard_other;
ALTER TABLE hard.kgone DROP CONSTRAINT kgone_pkey;

SET ROLE regress_hard_reader;
SELECT * FROM gdpr.search('kim@hard.test') ORDER BY 1::text, 2;
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.export_search('kim@hard.test');
SELECT gdpr.export('hard.kperson', '2');
SELECT * FROM gdpr.anonymise_search('kim@hard.test') ORDER BY 1::text;
RESET ROLE;
SELECT * FROM hard.kperson ORDER BY id;
SELECT * FROM hard.kgone ORDER BY id;

-- a role that may not read the table is not told about it
SET ROLE regress_hard_other;
SELECT * FROM gdpr.search('kai@hard.test') ORDER BY 1::text, 2;
SELECT gdpr.export_search('kai@hard.test');
SELECT * FROM gdpr.anonymise_search('kai@hard.test') ORDER BY 1::text;
RESET ROLE;

-- exporting from the table itself is still an error of its own
SELECT gdpr.export('hard.kgone', '1');
\echo :LAST_ERROR_SQLSTATE
-- with its key back, the table is searched again
ALTER TABLE hard.kgone ADD PRIMARY KEY (id);
SET ROLE regress_hard_reader;
SELECT * FROM gdpr.search('kim@hard.test') ORDER BY 1::text, 2;
RESET ROLE;

------------------------------------------------------------------------------
-- 3. Declarations resolve function names as gdpr.set_anonymiser() does:
--    with search_path pinned to pg_catalog, pg_temp, whatever the caller's
--    search_path.  A schema early in it cannot supply the function.
------------------------------------------------------------------------------
CREATE SCHEMA hard_hostile;
CREATE FUNCTION hard_hostile.initcap(text) RETURNS text
    LANGUAGE sql AS $$ SELECT 'HOSTILE' $$;
CREATE FUNCTION hard_hostile.hard_scrub(text) RETURNS text
    LANGUAGE sql AS $$ SELECT 'HOSTILE' $$;
CREATE FUNCTION hard.hard_scrub(text) RETURNS text
    LANGUAGE sql AS $$ SELECT 'scrubbed' $$;
CREATE TABLE hard.dperson (id int PRIMARY KEY, name text, nick text);
INSERT INTO hard.dperson VALUES (1, 'dora dee', 'dd');
CREATE VIEW hard.dfields AS
    SELECT column_name, method, argument FROM gdpr.registered_columns
     WHERE rel = 'hard.dperson'::regclass AND pii ORDER BY 1;

SET search_path = hard_hostile, pg_catalog, hard, public;
-- the same text means the same function as a label, a comment and a call
SECURITY LABEL FOR gdpr ON COLUMN hard.dperson.name
    IS '{"anonymise": "function", "function": "initcap"}';
COMMENT ON COLUMN hard.dperson.nick IS 'gdpr: {"anonymise": "function", "function": "initcap(text)"}';
SELECT * FROM hard.dfields;
SELECT gdpr.set_anonymiser('hard.dperson', 'nick', 'function', 'initcap');
SELECT * FROM hard.dfields;
-- a name found only outside pg_catalog is refused by both
COMMENT ON COLUMN hard.dperson.nick IS 'gdpr: {"anonymise": "function", "function": "hard_scrub"}';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN hard.dperson.nick
    IS '{"anonymise": "function", "function": "hard_scrub(text)"}';
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('hard.dperson', 'nick', 'function', 'hard_scrub');
\echo :LAST_ERROR_SQLSTATE
-- and accepted, by both, schema-qualified
COMMENT ON COLUMN hard.dperson.nick IS 'gdpr: {"anonymise": "function", "function": "hard.hard_scrub"}';
SELECT * FROM hard.dfields;
-- the caller's search_path is back after the declaration
SHOW search_path;
RESET search_path;
-- the functions that run are the ones stored
SELECT gdpr.anonymise('hard.dperson', 1);
SELECT * FROM hard.dperson;

-- declarations that waited for a primary key resolve names the same way
-- when ALTER TABLE adds it
CREATE TABLE hard.dlater (id int NOT NULL, name text);
COMMENT ON COLUMN hard.dlater.name IS 'gdpr: {"anonymise": "function", "function": "initcap"}';
SET search_path = hard_hostile, pg_catalog, hard, public;
ALTER TABLE hard.dlater ADD PRIMARY KEY (id);
RESET search_path;
SELECT column_name, method, argument FROM gdpr.registered_columns
 WHERE rel = 'hard.dlater'::regclass AND pii;

-- ALTER TABLE ADD PRIMARY KEY applies the declarations of the table it
-- altered, even when the statement's own code creates a temporary table of
-- the same name (the name was looked up again after the statement, and the
-- declarations waited on)
CREATE TABLE hard.dshadow (id int NOT NULL, email text);
COMMENT ON COLUMN hard.dshadow.email IS 'gdpr: {"pii": true, "search": true}';
INSERT INTO hard.dshadow VALUES (1, 'x@hard.test');
CREATE FUNCTION hard.make_shadow() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS dshadow (id int PRIMARY KEY, email text);
    RETURN 1;
END $$;
SET search_path = hard, public;
ALTER TABLE dshadow ADD COLUMN added int DEFAULT hard.make_shadow(), ADD PRIMARY KEY (id);
RESET search_path;
SELECT count(*) AS temp_shadow_exists FROM pg_class
 WHERE relname = 'dshadow' AND relpersistence = 't';
SELECT column_name, pii, search FROM gdpr.registered_columns
 WHERE rel = 'hard.dshadow'::regclass ORDER BY 1;
SELECT count(*) AS registered_temp_tables FROM gdpr.registered_table t
  JOIN pg_class c ON c.oid = t.rel WHERE c.relpersistence = 't';
DISCARD TEMP;

------------------------------------------------------------------------------
-- 4. Hostile declaration text: every error is about the declaration, with
--    its SQLSTATE and position, never an internal error (XX000), and its
--    cost grows with its length only.
------------------------------------------------------------------------------
CREATE TABLE hard.fperson (id int PRIMARY KEY, name text, nick text);
-- Long generated statements run through hard.try(), which reports the
-- outcome (SQLSTATE, the start of the message, the DETAIL) without echoing
-- the statement.
CREATE FUNCTION hard.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    msg text;
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || left(msg, 70) || ' / ' || coalesce(detail, '');
END $$;
-- "function" given as an OID (regproc reads "-" and digits as one): these
-- were "cache lookup failed for function" (XX000); now refused as by
-- gdpr.set_anonymiser()
COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"anonymise": "function", "function": "-"}';
\echo :LAST_ERROR_SQLSTATE
COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"anonymise": "function", "function": "0"}';
\echo :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON COLUMN hard.fperson.name
    IS '{"anonymise": "function", "function": "99999999"}';
\echo :LAST_ERROR_SQLSTATE
-- an existing function's OID names that function, for both alike (it is
-- stored by its signature)
CREATE TABLE hard.oidcheck (id int PRIMARY KEY, a text, b text);
SELECT hard.try(format($f$SECURITY LABEL FOR gdpr ON COLUMN hard.oidcheck.a IS '{"anonymise": "function", "function": "%s"}'$f$,
                       'pg_catalog.initcap(text)'::regprocedure::oid)) AS initcap_oid;
SELECT gdpr.set_anonymiser('hard.oidcheck', 'b', 'function',
                           'pg_catalog.initcap(text)'::regprocedure::oid::text);
SELECT column_name, method, argument FROM gdpr.registered_columns
 WHERE rel = 'hard.oidcheck'::regclass AND pii ORDER BY 1;
-- names that are not OIDs keep their own errors
COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"anonymise": "function", "function": ""}';
\echo :LAST_ERROR_SQLSTATE
COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"anonymise": "function", "function": "0(text)"}';
\echo :LAST_ERROR_SQLSTATE
COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"anonymise": "function", "function": "initcap("}';
\echo :LAST_ERROR_SQLSTATE
COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"anonymise": "function", "function": "no_schema.f"}';
\echo :LAST_ERROR_SQLSTATE
COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"anonymise": "function", "function": "a.b.c.d"}';
\echo :LAST_ERROR_SQLSTATE
-- deep nesting: at most 100 levels; 100000 levels overflowed the parser's
-- stack (54001, which also made a stored declaration impossible to replace)
SELECT hard.try(format($f$COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"pii": %s1%s}'$f$,
                       repeat('[', 99), repeat(']', 99))) AS depth_100;
SELECT hard.try(format($f$COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"pii": %s1%s}'$f$,
                       repeat('[', 100), repeat(']', 100))) AS depth_101;
SELECT hard.try(format($f$SECURITY LABEL FOR gdpr ON COLUMN hard.fperson.name IS '{"pii": %s}'$f$,
                       repeat('[', 100000))) AS depth_100001;
SELECT hard.try(format($f$COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"pii": %s1%s}'$f$,
                       repeat('{"a": ', 5000), repeat('}', 5000))) AS depth_5001;
-- brackets inside strings do not count
SELECT hard.try(format($f$COMMENT ON COLUMN hard.fperson.name IS 'gdpr: {"anonymise": "value", "value": "%s"}'$f$,
                       repeat('[', 500))) AS brackets_in_string;
SELECT column_name, method, length(argument) FROM gdpr.registered_columns
 WHERE rel = 'hard.fperson'::regclass AND pii;
-- many keys: checked in linear time (the repeated-key check compared every
-- key with every earlier one: 100000 keys took minutes, uninterruptibly)
SET statement_timeout = '20s';
SELECT hard.try(format($f$COMMENT ON COLUMN hard.fperson.nick IS 'gdpr: {%s, "pii": false}'$f$,
                       string_agg(format('"k%s": 1', i), ', ')))
  FROM generate_series(1, 100000) i;
SELECT hard.try(format($f$COMMENT ON COLUMN hard.fperson.nick IS 'gdpr: {"pii": true, %s, "pii": false}'$f$,
                       string_agg(format('"k%s": 1', i), ', ')))
  FROM generate_series(1, 100000) i;
RESET statement_timeout;
-- a column named many times in an export list is stored once
SELECT hard.try(format($f$COMMENT ON TABLE hard.fperson IS 'gdpr: {"export_exclude": [%s, "name"]}'$f$,
                       string_agg('"nick"', ', ')))
  FROM generate_series(1, 100000);
SELECT export_exclude FROM gdpr.registered_table WHERE rel = 'hard.fperson'::regclass;
-- NUL in a key
COMMENT ON COLUMN hard.fperson.nick IS 'gdpr: {"a\u0000b": 1}';
\echo :LAST_ERROR_SQLSTATE
-- a huge function name and a huge constant are an ordinary error and value
SELECT hard.try(format($f$COMMENT ON COLUMN hard.fperson.nick IS 'gdpr: {"anonymise": "function", "function": "%s"}'$f$,
                       repeat('f', 100000))) AS huge_function_name;
SELECT hard.try(format($f$COMMENT ON COLUMN hard.fperson.nick IS 'gdpr: {"anonymise": "value", "value": "%s"}'$f$,
                       repeat('v', 1000000))) AS huge_value;
SELECT column_name, method, length(argument) FROM gdpr.registered_columns
 WHERE rel = 'hard.fperson'::regclass AND pii ORDER BY 1;

-- a deep declaration stored while the extension was not installed (it is
-- not checked then) can be replaced: the previous declaration is read
-- leniently, and its depth is now an error about the declaration, not a
-- stack overflow that failed every later COMMENT on the column
SELECT current_database() AS regress_db \gset
CREATE DATABASE regression_hardening;
\c regression_hardening
CREATE TABLE deep (id int PRIMARY KEY, name text);
SELECT format($f$COMMENT ON COLUMN deep.name IS 'gdpr: {"pii": %s}'$f$, repeat('[', 100000)) AS deep_comment \gset
\set ECHO none
:deep_comment;
\set ECHO all
SELECT length(col_description('deep'::regclass, 2)) AS stored_length;
SET client_min_messages = warning;
CREATE EXTENSION gdpr;
RESET client_min_messages;
COMMENT ON COLUMN deep.name IS 'gdpr: {"pii": true, "anonymise": "null"}';
SELECT column_name, pii, method FROM gdpr.registered_columns WHERE pii;
\c :regress_db
DROP DATABASE regression_hardening;

-- clean up
SET client_min_messages = warning;
DROP SCHEMA hard CASCADE;
DROP SCHEMA hard_hostile CASCADE;
RESET client_min_messages;
SELECT count(*) AS left_registered FROM gdpr.registered_table
 WHERE rel::text LIKE 'hard.%';
DROP OWNED BY regress_hard_reader, regress_hard_other;
DROP ROLE regress_hard_reader;
DROP ROLE regress_hard_other;
