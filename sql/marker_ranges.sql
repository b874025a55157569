-- Marker ranges: a whole-table scrub of a table with an integer key marks
-- its rows as runs of consecutive keys (gdpr.marker_range), and every
-- reader of markers sees them.
\set SHOW_CONTEXT never
SELECT count(*) > 0 AS unregistered FROM (SELECT gdpr.unregister(rel) FROM gdpr.registered_table) s;
TRUNCATE gdpr.queue;
CREATE TABLE mr_person (id int PRIMARY KEY, name text, seen date NOT NULL DEFAULT '2000-01-01');
INSERT INTO mr_person (id, name) SELECT g, 'Person ' || g FROM generate_series(1, 10) g;
INSERT INTO mr_person (id, name) SELECT g, 'Person ' || g FROM generate_series(20, 25) g;
CREATE TABLE mr_text (code text PRIMARY KEY, name text);
INSERT INTO mr_text VALUES ('a', 'Alice'), ('b', 'Bob');
SELECT gdpr.register('mr_person', ARRAY['name']);
SELECT gdpr.register('mr_text', ARRAY['name']);
-- one row anonymised before the scrub keeps its marker
SELECT gdpr.anonymise('mr_person', 3);
SET gdpr.allow_anonymise_db = on;
SELECT * FROM gdpr.anonymise_db(current_database()) ORDER BY rel::text;

-- two runs of keys, not a marker per row; the text key gets markers
SELECT lo, hi FROM gdpr.marker_range WHERE rel = 'mr_person'::regclass ORDER BY lo;
SELECT rel, key FROM gdpr.marker WHERE rel IN ('mr_person'::regclass, 'mr_text'::regclass) ORDER BY 1, 2;
SELECT count(*) FILTER (WHERE name IS NULL) AS anonymised, count(*) FROM mr_person;

-- is_anonymised: true in a range, false outside one and for a new row
SELECT gdpr.is_anonymised('mr_person', 1) AS one, gdpr.is_anonymised('mr_person', 10) AS ten,
       gdpr.is_anonymised('mr_person', 15) AS fifteen, gdpr.is_anonymised('mr_person', 25) AS last,
       gdpr.is_anonymised('mr_person', 26) AS after;
INSERT INTO mr_person (id, name) VALUES (15, 'New 15'), (30, 'New 30');
SELECT gdpr.is_anonymised('mr_person', 15) AS fifteen, gdpr.is_anonymised('mr_person', 30) AS thirty;

-- anonymise and anonymise_many skip rows in a range, and change new rows
SELECT gdpr.anonymise('mr_person', 5) AS five, gdpr.anonymise('mr_person', '6', force => false) AS six;
SELECT gdpr.anonymise_many('mr_person', ARRAY[1, 2, 15]);
SELECT id, name FROM mr_person WHERE id IN (1, 15, 30) ORDER BY id;
SELECT kind, key FROM gdpr.queued_events ORDER BY seq, ord;

-- retention leaves rows in a range out of what is due
SELECT gdpr.set_retention('mr_person', 'seen', interval '1 day');
SELECT gdpr.retention_due('mr_person');
SELECT * FROM gdpr.apply_retention('mr_person');
SELECT id, name FROM mr_person WHERE name IS NOT NULL ORDER BY id;
SELECT gdpr.drop_retention('mr_person');

-- a deleted row leaves its range, which is cut around it: a new row with
-- the same key is not anonymised
DELETE FROM mr_person WHERE id = 5;
SELECT lo, hi FROM gdpr.marker_range WHERE rel = 'mr_person'::regclass ORDER BY lo;
INSERT INTO mr_person (id, name) VALUES (5, 'Again 5');
SELECT gdpr.is_anonymised('mr_person', 5) AS five, gdpr.is_anonymised('mr_person', 4) AS four,
       gdpr.is_anonymised('mr_person', 6) AS six;
DELETE FROM mr_person WHERE id IN (1, 7, 9, 10, 20, 21, 22, 23, 24, 25);
SELECT lo, hi FROM gdpr.marker_range WHERE rel = 'mr_person'::regclass ORDER BY lo;
SELECT id, gdpr.is_anonymised('mr_person', id) FROM mr_person ORDER BY id;

-- a second scrub adds markers for what the ranges do not hold
SELECT * FROM gdpr.anonymise_db(current_database()) ORDER BY rel::text;
SELECT key FROM gdpr.marker WHERE rel = 'mr_person'::regclass ORDER BY key::int;
SELECT count(*) FILTER (WHERE name IS NOT NULL) AS left_with_names FROM mr_person;

-- row-level security: a scrub by a role that sees some rows marks those only
CREATE TABLE mr_rls (id bigint PRIMARY KEY, name text, owner name NOT NULL DEFAULT current_user);
INSERT INTO mr_rls (id, name, owner) SELECT g, 'R ' || g, CASE WHEN g % 3 = 0 THEN 'nobody' ELSE 'regress_mr_scrubber' END
  FROM generate_series(1, 12) g;
SELECT gdpr.register('mr_rls', ARRAY['name']);
CREATE ROLE regress_mr_scrubber;
GRANT USAGE ON SCHEMA gdpr TO regress_mr_scrubber;
GRANT EXECUTE ON FUNCTION gdpr.anonymise_db(text) TO regress_mr_scrubber;
GRANT SELECT, UPDATE, DELETE, TRUNCATE ON mr_person, mr_text, mr_rls TO regress_mr_scrubber;
ALTER TABLE mr_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY mr_mine ON mr_rls USING (owner = current_user);
DELETE FROM gdpr.marker_range WHERE rel = 'mr_person'::regclass;
SET ROLE regress_mr_scrubber;
SELECT rel, anonymised, skipped FROM gdpr.anonymise_db(current_database()) ORDER BY rel::text;
SELECT lo, hi FROM gdpr.marker_range WHERE rel = 'mr_rls'::regclass ORDER BY lo;
RESET ROLE;
SELECT id, name IS NULL AS anonymised, gdpr.is_anonymised('mr_rls', id) FROM mr_rls ORDER BY id;

-- TRUNCATE and DROP take the ranges with the rows
TRUNCATE mr_rls;
SELECT count(*) AS ranges_after_truncate FROM gdpr.marker_range WHERE rel = 'mr_rls'::regclass;
DROP TABLE mr_person;
SELECT count(*) AS ranges_left FROM gdpr.marker_range;

-- keys in any physical order: runs are found as the UPDATE returns keys,
-- up or down, and merged in key order; the ends of bigint are no edge
CREATE TABLE mr_order (id bigint PRIMARY KEY, name text);
INSERT INTO mr_order (id, name)
  SELECT k, 'O ' || k FROM unnest(ARRAY[8, 3, 4, 5, 1, 2, 12, 11, 10, 20, 7,
                                         9223372036854775807, 9223372036854775806,
                                         -9223372036854775808, -1, -2]::bigint[]) WITH ORDINALITY AS u(k, o)
  ORDER BY o;
SELECT gdpr.register('mr_order', ARRAY['name']);
-- many runs: the odd keys of 1..4001 in descending order, each its own run
-- (2001 ranges, more than one INSERT of them), and the even keys of 1..20000
-- after the odd ones, which merge into one range, sorted on disk
CREATE TABLE mr_many (id int PRIMARY KEY, name text);
INSERT INTO mr_many SELECT g, 'M' FROM generate_series(4001, 1, -2) g;
CREATE TABLE mr_merge (id int PRIMARY KEY, name text);
INSERT INTO mr_merge SELECT g, 'M' FROM generate_series(1, 20000, 2) g;
INSERT INTO mr_merge SELECT g, 'M' FROM generate_series(2, 20000, 2) g;
SELECT gdpr.register('mr_many', ARRAY['name']);
SELECT gdpr.register('mr_merge', ARRAY['name']);
-- a BEFORE UPDATE trigger that skips rows: what it skips is counted
CREATE TABLE mr_trig (id int PRIMARY KEY, name text);
INSERT INTO mr_trig SELECT g, 'T ' || g FROM generate_series(1, 6) g;
CREATE FUNCTION mr_skip_even() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN IF NEW.id % 2 = 0 THEN RETURN NULL; END IF; RETURN NEW; END$$;
CREATE TRIGGER mr_skip BEFORE UPDATE ON mr_trig FOR EACH ROW EXECUTE FUNCTION mr_skip_even();
SELECT gdpr.register('mr_trig', ARRAY['name']);
SET work_mem = '64kB';
SELECT rel, anonymised, skipped FROM gdpr.anonymise_db(current_database())
 WHERE rel::text LIKE 'mr\_%' ORDER BY rel::text;
RESET work_mem;
SELECT lo, hi FROM gdpr.marker_range WHERE rel = 'mr_order'::regclass ORDER BY lo;
SELECT count(*) AS ranges, sum(hi - lo + 1) AS keys, min(lo), max(hi),
       count(*) FILTER (WHERE lo <> hi OR lo % 2 = 0) AS wrong
  FROM gdpr.marker_range WHERE rel = 'mr_many'::regclass;
SELECT lo, hi FROM gdpr.marker_range WHERE rel = 'mr_merge'::regclass ORDER BY lo;
SELECT lo, hi FROM gdpr.marker_range WHERE rel = 'mr_trig'::regclass ORDER BY lo;
SELECT id, name, gdpr.is_anonymised('mr_trig', id) FROM mr_trig ORDER BY id;
SELECT count(*) FILTER (WHERE name IS NOT NULL) AS left_with_names FROM mr_order;
DROP TABLE mr_order, mr_many, mr_merge, mr_trig;
DROP FUNCTION mr_skip_even();
RESET gdpr.allow_anonymise_db;
DROP TABLE mr_text, mr_rls;
REVOKE ALL ON SCHEMA gdpr FROM regress_mr_scrubber;
REVOKE ALL ON FUNCTION gdpr.anonymise_db(text) FROM regress_mr_scrubber;
DROP ROLE regress_mr_scrubber;
TRUNCATE gdpr.queue;
