-- Hostile identifiers and key values reach SQL only quoted or as parameters.
\set SHOW_CONTEXT never
CREATE SCHEMA "we;ird ""schema""";
CREATE TABLE "we;ird ""schema"""."Robert'); DROP TABLE students;--" (
    "ıd" integer,
    "Part" text,
    "a""b" text NOT NULL,
    "MixedCase" text UNIQUE,
    PRIMARY KEY ("ıd", "Part")
);
CREATE TABLE "we;ird ""schema""".child (
    id int PRIMARY KEY, pid int, part text, "x;y" text,
    CONSTRAINT "fk'); DROP TABLE x;--" FOREIGN KEY (pid, part)
        REFERENCES "we;ird ""schema"""."Robert'); DROP TABLE students;--" ON DELETE SET NULL);
INSERT INTO "we;ird ""schema"""."Robert'); DROP TABLE students;--"
    VALUES (1, 'o''clock', 'x', 'M1'), (2, '(a,b)"', 'y', 'M2'), (3, 'plain', 'z', 'M3');
INSERT INTO "we;ird ""schema""".child VALUES (1, 1, 'o''clock', 'c1');
CREATE FUNCTION "we;ird ""schema"""."mask'); DROP TABLE y;--"(old text, key text) RETURNS text
    LANGUAGE sql AS $$ SELECT 'masked ' || key $$;

SELECT gdpr.register('"we;ird ""schema"""."Robert''); DROP TABLE students;--"',
                     ARRAY['a"b', 'MixedCase'], search_fields => ARRAY['MixedCase']);
SELECT gdpr.set_anonymiser('"we;ird ""schema"""."Robert''); DROP TABLE students;--"', 'a"b',
                           'function', '"we;ird ""schema"""."mask''); DROP TABLE y;--"');
SELECT gdpr.set_anonymiser('"we;ird ""schema"""."Robert''); DROP TABLE students;--"', 'MixedCase', 'email');
SELECT gdpr.set_anonymiser('"we;ird ""schema"""."Robert''); DROP TABLE students;--"', 'a"b',
                           'value', $$'); DROP TABLE z;--$$);
SELECT gdpr.set_anonymiser('"we;ird ""schema"""."Robert''); DROP TABLE students;--"', 'a"b',
                           'function', '"we;ird ""schema"""."mask''); DROP TABLE y;--"');
SELECT gdpr.set_anonymiser('"we;ird ""schema"""."Robert''); DROP TABLE students;--"', 'nope"; DROP TABLE w;--', 'null');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT column_name, pii, method, argument FROM gdpr.registered_columns
 WHERE rel = '"we;ird ""schema"""."Robert''); DROP TABLE students;--"'::regclass ORDER BY 1;

-- keys with quotes, commas and parentheses
SELECT gdpr.anonymise('"we;ird ""schema"""."Robert''); DROP TABLE students;--"', '(1,o''clock)');
SELECT gdpr.anonymise('"we;ird ""schema"""."Robert''); DROP TABLE students;--"', '(2,"(a,b)""")');
SELECT gdpr.anonymise('"we;ird ""schema"""."Robert''); DROP TABLE students;--"', '(1,o''clock); DROP TABLE v;--)');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM "we;ird ""schema"""."Robert'); DROP TABLE students;--" ORDER BY 1;
SELECT key FROM gdpr.marker
 WHERE rel = '"we;ird ""schema"""."Robert''); DROP TABLE students;--"'::regclass ORDER BY 1;

-- a hostile constraint name in ON DELETE ANONYMISE; the log names the table quoted
SELECT gdpr.register('"we;ird ""schema""".child', ARRAY['x;y']);
SELECT gdpr.on_delete_anonymise('"we;ird ""schema""".child', 'fk''); DROP TABLE x;--');
TRUNCATE gdpr.queue;
DELETE FROM "we;ird ""schema"""."Robert'); DROP TABLE students;--" WHERE "ıd" = 1;
SELECT * FROM "we;ird ""schema""".child;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
-- the logged name resolves back to the table
SELECT to_regclass(table_name) IS NOT NULL AS resolves FROM gdpr.queued_events ORDER BY seq, ord;
