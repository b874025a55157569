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
ALTER EXTENSION gdpr UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'gdpr';
SELECT column_name, pii, method FROM gdpr.registered_columns ORDER BY 1;
SELECT gdpr.is_anonymised('up_person', 1);
DROP TABLE up_person;
