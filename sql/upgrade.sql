-- The upgrade path.  Every release adds its step script (gdpr--1.0--1.1.sql
-- and so on) and a block here: CREATE EXTENSION gdpr VERSION '1.0', then
-- ALTER EXTENSION gdpr UPDATE TO each later version, checking that the old
-- signatures still work and that the registry survives.
SET client_min_messages = warning;
DROP EXTENSION gdpr CASCADE;
RESET client_min_messages;
CREATE EXTENSION gdpr VERSION '1.0';
SELECT extversion FROM pg_extension WHERE extname = 'gdpr';

-- the update paths this build knows
SELECT source, target, path FROM pg_extension_update_paths('gdpr')
 WHERE path IS NOT NULL ORDER BY source, target;

-- registry state made with 1.0 must survive every update step
CREATE TABLE up_person (id int PRIMARY KEY, name text);
INSERT INTO up_person VALUES (1, 'A');
SELECT gdpr.register('up_person', ARRAY['name']);
SELECT gdpr.anonymise('up_person', 1);
-- 1.1 classifies every column: the update classifies those of tables
-- registered under 1.0 as 1.0 implies (PII as registered_field says, the
-- rest, search-only fields included, not_pii); other tables stay unclassified
CREATE TABLE up_class (id int PRIMARY KEY, name text, email text, note text);
SELECT gdpr.register('up_class', ARRAY['name'], search_fields => ARRAY['email']);
SELECT gdpr.set_anonymiser('up_class', 'name', 'value', 'X');
CREATE TABLE up_unreg (id int PRIMARY KEY, x text);
ALTER EXTENSION gdpr UPDATE;
SELECT rel, column_name, status, method FROM gdpr.coverage
 WHERE rel::text LIKE 'up_%' ORDER BY rel::text, column_name;
DROP TABLE up_class, up_unreg;
SELECT extversion FROM pg_extension WHERE extname = 'gdpr';
SELECT column_name, pii, method FROM gdpr.registered_columns ORDER BY 1;
SELECT gdpr.is_anonymised('up_person', 1);
DROP TABLE up_person;
