-- gdpr.anonymise_db and its procedure form: scrub every registered table.
\set SHOW_CONTEXT never
-- start from a database whose only registered tables are these
SELECT count(*) > 0 AS unregistered FROM (SELECT gdpr.unregister(rel) FROM gdpr.registered_table) s;
TRUNCATE gdpr.queue;
CREATE TABLE s_person (id int PRIMARY KEY, name text NOT NULL, email text UNIQUE, login varchar(12) NOT NULL UNIQUE, note text);
INSERT INTO s_person SELECT g, 'Person ' || g, 'p' || g || '@example.com', 'user' || g, 'note ' || g
  FROM generate_series(1, 20) g;
CREATE TABLE s_kept (id int PRIMARY KEY, name text);
INSERT INTO s_kept SELECT g, 'kept ' || g FROM generate_series(1, 3) g;
CREATE TABLE s_pair (a int, b text, secret text, PRIMARY KEY (a, b));
INSERT INTO s_pair SELECT g % 4, 'k' || g, 'secret ' || g FROM generate_series(1, 10) g;
SELECT gdpr.register('s_person', ARRAY['name', 'email', 'login', 'note']);
SELECT gdpr.set_anonymiser('s_person', 'name', 'value', 'Anonymous');
SELECT gdpr.set_anonymiser('s_person', 'email', 'email');
SELECT gdpr.set_anonymiser('s_person', 'note', 'hash');
SELECT gdpr.register('s_kept', ARRAY['name'], can_anonymise => false);
SELECT gdpr.register('s_pair', ARRAY['secret']);
SELECT gdpr.anonymise('s_person', 1);

-- guarded by the superuser-only setting and by naming the database
SELECT * FROM gdpr.anonymise_db(current_database());
\echo sqlstate :LAST_ERROR_SQLSTATE
SET gdpr.allow_anonymise_db = on;
SELECT * FROM gdpr.anonymise_db('not_this_one');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.anonymise_db(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) FROM gdpr.marker WHERE rel = 's_person'::regclass;

-- the scrub: every table reported, rows already anonymised and rows of
-- can_anonymise = false tables skipped, unique columns stay unique
SELECT * FROM gdpr.anonymise_db(confirm => current_database()) ORDER BY rel::text;
SELECT count(*) AS rows, count(DISTINCT email) AS emails, count(DISTINCT login) AS logins,
       count(*) FILTER (WHERE name = 'Anonymous') AS anonymous,
       count(*) FILTER (WHERE note LIKE 'note%') AS notes_left
  FROM s_person;
SELECT * FROM s_kept ORDER BY id;
SELECT count(*) FILTER (WHERE secret IS NULL) FROM s_pair;
-- marked rows: markers and the keys of marker ranges
SELECT rel, count(*) FROM (SELECT rel, key FROM gdpr.marker UNION SELECT r.rel, g::text FROM gdpr.marker_range AS r, generate_series(r.lo, r.hi) AS g) AS m WHERE rel::text LIKE 's\_%' GROUP BY 1 ORDER BY 1;
-- it writes no events to the log (only the single anonymise above did)
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
-- a second run finds nothing left to do
SELECT * FROM gdpr.anonymise_db(current_database()) ORDER BY rel::text;

-- the procedure form commits per batch; it cannot run inside a transaction block
INSERT INTO s_person SELECT g, 'Person ' || g, 'p' || g || '@example.com', 'user' || g, 'note ' || g
  FROM generate_series(21, 45) g;
INSERT INTO s_pair SELECT g % 4, 'k' || g, 'secret ' || g FROM generate_series(11, 30) g;
SET gdpr.anonymise_batch_size = 7;
BEGIN;
CALL gdpr.anonymise_db_batched(current_database());
\echo sqlstate :LAST_ERROR_SQLSTATE
ROLLBACK;
CALL gdpr.anonymise_db_batched('wrong');
\echo sqlstate :LAST_ERROR_SQLSTATE
CALL gdpr.anonymise_db_batched(current_database());
RESET gdpr.anonymise_batch_size;
SELECT count(*) FILTER (WHERE name = 'Anonymous') AS anonymous, count(*) FROM s_person;
SELECT count(*) FILTER (WHERE secret IS NULL) AS anonymised, count(*) FROM s_pair;
-- marked rows: markers and the keys of marker ranges
SELECT rel, count(*) FROM (SELECT rel, key FROM gdpr.marker UNION SELECT r.rel, g::text FROM gdpr.marker_range AS r, generate_series(r.lo, r.hi) AS g) AS m WHERE rel::text LIKE 's\_%' GROUP BY 1 ORDER BY 1;
RESET gdpr.allow_anonymise_db;

-- non-superusers cannot turn the guard on
SET ROLE regress_gdpr_admin;
SET gdpr.allow_anonymise_db = on;
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
