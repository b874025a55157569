-- Classification of every column (gdpr.coverage), set_not_pii, ignore,
-- declarations, and the gdpr.unclassified gate within one session (the
-- TAP test t/070_census.pl runs it with separate sessions and pg_dump).
\set SHOW_CONTEXT never
CREATE TABLE cv_person (id int PRIMARY KEY, name text, email text, phone text, born date);
CREATE TABLE cv_order (id int PRIMARY KEY, person_id int, total numeric, placed_at timestamptz);
CREATE TABLE cv_country (code text PRIMARY KEY, label text);
CREATE TABLE cv_nokey (a int, b text);
CREATE TABLE cv_part (id int, at date, note text) PARTITION BY RANGE (at);
CREATE TABLE cv_part_2024 PARTITION OF cv_part FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TEMP TABLE cv_temp (x int);
CREATE VIEW cv_view AS SELECT id FROM cv_person;
CREATE SCHEMA cv_other;
CREATE TABLE cv_other.t (id int PRIMARY KEY, secret text);

-- before anything: every column of every user table is unclassified;
-- partitions (their columns are their parent's), temporary tables, views
-- and gdpr's own tables are not listed
SELECT rel, column_name, status, method FROM gdpr.coverage
 WHERE rel::text LIKE 'cv%' ORDER BY rel::text, column_name;
SELECT count(*) AS gdpr_tables_listed FROM gdpr.coverage
 WHERE rel::text LIKE 'gdpr.%';

-- register classifies every column there is: the fields PII, the rest not_pii
SELECT gdpr.register('cv_person', ARRAY['name', 'email'], search_fields => ARRAY['phone']);
SELECT column_name, status, method FROM gdpr.coverage
 WHERE rel = 'cv_person'::regclass ORDER BY column_name;

-- set_not_pii: on an unregistered table too; a PII column stops being PII
-- (it stays a search field if it was one)
SELECT gdpr.set_not_pii('cv_order', ARRAY['id', 'person_id', 'total', 'placed_at']);
SELECT gdpr.set_anonymiser('cv_person', 'phone', 'null');
SELECT gdpr.set_not_pii('cv_person', ARRAY['phone']);
SELECT column_name, pii, method, search FROM gdpr.registered_columns
 WHERE rel = 'cv_person'::regclass AND column_name = 'phone';
SELECT gdpr.set_not_pii('cv_person', ARRAY['phone']);   -- again: nothing changes
SELECT rel, column_name, status FROM gdpr.coverage
 WHERE rel IN ('cv_person'::regclass, 'cv_order'::regclass) AND column_name IN ('phone', 'total')
 ORDER BY rel::text, column_name;

-- errors, each with its SQLSTATE; nothing is written by a failing call
SELECT gdpr.set_not_pii('cv_order', ARRAY['total', 'nope']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_not_pii('cv_order', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_not_pii('cv_order', ARRAY['total', NULL]);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_not_pii('cv_view', ARRAY['id']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_not_pii('cv_temp', ARRAY['x']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.ignore('cv_person');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.ignore(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SET ROLE regress_gdpr_admin;       -- may call the functions, owns no table
SELECT gdpr.set_not_pii('cv_nokey', ARRAY['a']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.ignore('cv_country');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_gdpr_nobody;      -- may not even call them
SELECT gdpr.set_not_pii('cv_nokey', ARRAY['a']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.coverage;
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) AS nokey_classified FROM gdpr.not_pii_column WHERE rel = 'cv_nokey'::regclass;

-- ignore and unignore (both idempotent); a table without a primary key too
SELECT gdpr.ignore('cv_country');
SELECT gdpr.ignore('cv_country');
SELECT gdpr.ignore('cv_nokey');
SELECT rel, column_name, status FROM gdpr.coverage
 WHERE rel IN ('cv_country'::regclass, 'cv_nokey'::regclass) ORDER BY rel::text, column_name;
SELECT gdpr.unignore('cv_nokey');
SELECT gdpr.unignore('cv_nokey');
SELECT DISTINCT status FROM gdpr.coverage WHERE rel = 'cv_nokey'::regclass;
-- registering an ignored table: it holds personal data after all
SELECT gdpr.ignore('cv_other.t');
SELECT gdpr.register('cv_other.t', ARRAY['secret']);
SELECT column_name, status FROM gdpr.coverage WHERE rel = 'cv_other.t'::regclass ORDER BY 1;
SELECT count(*) AS still_ignored FROM gdpr.ignored_table WHERE rel = 'cv_other.t'::regclass;

-- declarations: {"pii": false} classifies a column; "ignore": true a table
CREATE TABLE cv_decl (id int PRIMARY KEY, nick text, bio text);
COMMENT ON COLUMN cv_decl.nick IS 'gdpr: {"pii": true}';    -- registers the table
ALTER TABLE cv_decl ADD COLUMN shoe_size int;
COMMENT ON COLUMN cv_decl.shoe_size IS 'Size. gdpr: {"pii": false}';
SELECT column_name, status, method FROM gdpr.coverage WHERE rel = 'cv_decl'::regclass ORDER BY 1;
SELECT column_name, declared FROM gdpr.not_pii_column WHERE rel = 'cv_decl'::regclass ORDER BY 1;
COMMENT ON COLUMN cv_decl.shoe_size IS 'Size.';             -- the declaration goes: so does its classification
SELECT column_name, status FROM gdpr.coverage WHERE rel = 'cv_decl'::regclass AND column_name = 'shoe_size';
CREATE TABLE cv_lookup (code int, label text);              -- no primary key: ignore needs none
SECURITY LABEL FOR gdpr ON TABLE cv_lookup IS '{"ignore": true}';
SELECT rel, declared FROM gdpr.ignored_table WHERE rel = 'cv_lookup'::regclass;
SECURITY LABEL FOR gdpr ON TABLE cv_lookup IS '{"ignore": true, "can_anonymise": false}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE cv_lookup IS '{"ignore": "yes"}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE cv_decl IS '{"ignore": true}';   -- registered
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE cv_lookup IS NULL;
SELECT count(*) AS lookup_ignored FROM gdpr.ignored_table WHERE rel = 'cv_lookup'::regclass;

-- a renamed column keeps its classification; a dropped one leaves it
ALTER TABLE cv_order RENAME COLUMN total TO amount;
SELECT column_name, status FROM gdpr.coverage WHERE rel = 'cv_order'::regclass ORDER BY 1;
ALTER TABLE cv_order DROP COLUMN amount;
SELECT column_name FROM gdpr.not_pii_column WHERE rel = 'cv_order'::regclass ORDER BY 1;
DROP TABLE cv_country;
SELECT count(*) AS dangling FROM gdpr.ignored_table WHERE rel::text LIKE '%cv_country%';

-- unregister: the columns are unclassified again
SELECT gdpr.unregister('cv_other.t');
SELECT DISTINCT status FROM gdpr.coverage WHERE rel = 'cv_other.t'::regclass;

-- the gate, within this session (the default is warning)
SHOW gdpr.unclassified;
ALTER TABLE cv_person ADD COLUMN nickname text;               -- warns at commit
SET gdpr.unclassified = 'error';
ALTER TABLE cv_person ADD COLUMN twitter text;                -- fails at commit
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) AS twitter_added FROM pg_attribute
 WHERE attrelid = 'cv_person'::regclass AND attname = 'twitter';
BEGIN;                                                        -- a migration that classifies: passes
ALTER TABLE cv_person ADD COLUMN twitter text;
ALTER TABLE cv_person ADD COLUMN shoe_size int;
SELECT gdpr.set_anonymiser('cv_person', 'twitter', 'null');
SELECT gdpr.set_not_pii('cv_person', ARRAY['shoe_size']);
COMMIT;
BEGIN;                                                        -- by a declaration: passes
ALTER TABLE cv_person ADD COLUMN mastodon text;
COMMENT ON COLUMN cv_person.mastodon IS 'gdpr: {"pii": true, "anonymise": "null"}';
COMMIT;
BEGIN;                                                        -- dropped before commit: passes
ALTER TABLE cv_person ADD COLUMN scratch text;
ALTER TABLE cv_person DROP COLUMN scratch;
COMMIT;
BEGIN;                                                        -- rolled back to a savepoint: passes
SAVEPOINT s;
ALTER TABLE cv_person ADD COLUMN scratch text;
ROLLBACK TO s;
COMMIT;
BEGIN;                                                        -- renamed, still unclassified: fails, naming the new name
ALTER TABLE cv_person ADD COLUMN tmp text;
ALTER TABLE cv_person RENAME COLUMN tmp TO tmp2;
COMMIT;
\echo sqlstate :LAST_ERROR_SQLSTATE
BEGIN;                                                        -- unregistered tables are not gated
ALTER TABLE cv_order ADD COLUMN coupon text;
COMMIT;
SET gdpr.unclassified = 'off';
ALTER TABLE cv_person ADD COLUMN unchecked text;              -- nothing said
RESET gdpr.unclassified;
SET ROLE regress_gdpr_admin;
SET gdpr.unclassified = 'off';                                -- superuser-only
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the check a CI job runs: what is still unclassified
SELECT rel, column_name FROM gdpr.coverage
 WHERE status = 'unclassified' AND rel::text LIKE 'cv%' ORDER BY rel::text, column_name;

-- the classification tables are dumped with the extension (declared
-- ignores are not: their labels make them again)
SELECT c.relname, e.cond
  FROM pg_extension x, unnest(x.extconfig, x.extcondition) AS e(cfg, cond)
  JOIN pg_class c ON c.oid = e.cfg
 WHERE x.extname = 'gdpr' AND c.relname IN ('not_pii_column', 'ignored_table')
 ORDER BY 1;

DROP TABLE cv_person, cv_order, cv_nokey, cv_part, cv_decl, cv_lookup, cv_other.t CASCADE;
DROP SCHEMA cv_other;
SELECT count(*) AS left_behind FROM gdpr.not_pii_column WHERE rel::text LIKE '%cv%';
