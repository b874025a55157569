-- Legal holds (SPEC section 12): a held row is preserved on every path; its
-- erasures are deferred and carried out by gdpr.release().
\set SHOW_CONTEXT never
TRUNCATE gdpr.queue;
CREATE TABLE h_person (id int PRIMARY KEY, name text, email text, seen date);
CREATE TABLE h_comment (id int PRIMARY KEY,
                        author_id int CONSTRAINT h_comment_author_fk REFERENCES h_person ON DELETE SET NULL,
                        body text);
CREATE TABLE h_order (id int PRIMARY KEY,
                      person_id int REFERENCES h_person ON DELETE CASCADE,
                      note text, placed date);
CREATE TABLE h_unreg (id int PRIMARY KEY);
INSERT INTO h_person SELECT g, 'Person ' || g, 'p' || g || '@example.com', current_date - 100
  FROM generate_series(1, 6) g;
INSERT INTO h_comment SELECT g, g, 'comment ' || g FROM generate_series(1, 6) g;
INSERT INTO h_order SELECT g, g, 'order ' || g, current_date - 100 FROM generate_series(1, 6) g;
INSERT INTO h_unreg VALUES (1);
SELECT gdpr.register('h_person', ARRAY['name', 'email'], search_fields => ARRAY['email']);
SELECT gdpr.register('h_comment', ARRAY['body']);
SELECT gdpr.on_delete_anonymise('h_comment', 'h_comment_author_fk');
SELECT gdpr.register('h_order', ARRAY['note']);

-- refusals, each with its SQLSTATE; none of them places a hold
SELECT gdpr.hold('h_unreg', '1', 'litigation');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.hold('h_person', '99', 'litigation');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.hold('h_person', 'abc', 'litigation');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.hold('h_person', '1', '');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.hold('h_person', '1', '   ');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.hold('h_person', '1', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.hold('h_person', NULL::text, 'litigation');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.hold('h_person', '1', 'litigation', until => '2000-01-01 00:00+00');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.release(12345);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.release(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) AS holds FROM gdpr.holds;

-- place holds: by key text, by the key's own type, with an end
SELECT gdpr.hold('h_person', '1', reason => 'litigation 2026-117') AS h1 \gset
SELECT gdpr.hold('h_person', 2, 'tax audit', until => '2999-01-01 00:00+00') AS h2 \gset
SELECT gdpr.hold('h_comment', '3', 'litigation 2026-117') AS h3 \gset
SELECT gdpr.hold('h_order', '004', 'tax audit') AS h4 \gset
SELECT id, rel, key, reason, held_by = current_user AS by_me, until, active, deferred
  FROM gdpr.holds ORDER BY id;

-- a DELETE that would remove a held row fails, naming table, key and hold,
-- and changes nothing: directly, among other rows, through a CASCADE
DELETE FROM h_person WHERE id = 1;
\echo sqlstate :LAST_ERROR_SQLSTATE
DELETE FROM h_person WHERE id IN (1, 5);
\echo sqlstate :LAST_ERROR_SQLSTATE
DELETE FROM h_person WHERE id = 4;
\echo sqlstate :LAST_ERROR_SQLSTATE
DELETE FROM h_order;
\echo sqlstate :LAST_ERROR_SQLSTATE
-- and so does TRUNCATE of a table with a held row
TRUNCATE h_order;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT (SELECT count(*) FROM h_person) AS persons, (SELECT count(*) FROM h_order) AS orders,
       (SELECT count(*) FROM gdpr.queued_events) AS events;
-- rows without a hold still go
DELETE FROM h_order WHERE id = 6;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
TRUNCATE gdpr.queue;

-- gdpr.anonymise of a held row: NOTICE naming the hold, false, deferred
SELECT gdpr.anonymise('h_person', '1');
SELECT gdpr.anonymise('h_person', 1, force => true);
SELECT gdpr.anonymise('h_person', '99');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT name, email, gdpr.is_anonymised('h_person', '1') FROM h_person WHERE id = 1;
SELECT rel, key, kind, from_log FROM gdpr.deferred_erasure ORDER BY 1::text, 2, 3;

-- anonymise_many and anonymise_search skip held rows (counted as skipped)
SELECT gdpr.anonymise_many('h_person', ARRAY['1', '2', '3']);
SELECT id, name FROM h_person WHERE id <= 3 ORDER BY id;
SELECT * FROM gdpr.anonymise_search('p2@example.com');
SELECT rel, key, kind FROM gdpr.deferred_erasure ORDER BY 1::text, 2, 3;
SELECT id, deferred FROM gdpr.holds ORDER BY id;

-- ON DELETE ANONYMISE leaves a held child alone (deferred); its SET NULL applies
DELETE FROM h_person WHERE id = 3;
SELECT id, author_id, body, gdpr.is_anonymised('h_comment', id) FROM h_comment
 WHERE id IN (3) ORDER BY id;
SELECT rel, key, kind FROM gdpr.deferred_erasure ORDER BY 1::text, 2, 3;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
TRUNCATE gdpr.queue;

-- retention: held rows are left alone and counted in "held"
SELECT gdpr.set_retention('h_person', 'seen', interval '30 days');
SELECT gdpr.set_retention('h_order', 'placed', interval '30 days', 'delete');
SELECT * FROM gdpr.apply_retention(dry_run => true) ORDER BY 1::text;
SELECT * FROM gdpr.apply_retention() ORDER BY 1::text;
SELECT id, name FROM h_person ORDER BY id;
SELECT id FROM h_order ORDER BY id;
SELECT gdpr.drop_retention('h_person');
SELECT gdpr.drop_retention('h_order');
TRUNCATE gdpr.queue;

-- anonymise_db skips held rows
SET gdpr.allow_anonymise_db = on;
BEGIN;
UPDATE h_person SET name = 'Again ' || id WHERE id > 3;
SELECT * FROM gdpr.anonymise_db(confirm => current_database()) ORDER BY 1::text;
SELECT id, name FROM h_person ORDER BY id;
ROLLBACK;
RESET gdpr.allow_anonymise_db;

-- release carries out what was deferred, in the same transaction
SELECT * FROM gdpr.release(:h1);
SELECT id, name, gdpr.is_anonymised('h_person', id) FROM h_person WHERE id = 1;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
SELECT * FROM gdpr.release(:h1);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT id, active, released_by = current_user AS by_me FROM gdpr.holds WHERE id = :h1;
-- the row is no longer protected
DELETE FROM h_person WHERE id = 1;
SELECT count(*) FROM h_person WHERE id = 1;

-- a release leaves the erasure deferred while another hold covers the row
SELECT gdpr.hold('h_person', '2', 'second case') AS h5 \gset
SELECT * FROM gdpr.release(:h2);
SELECT id, name FROM h_person WHERE id = 2;
SELECT * FROM gdpr.release(:h5);
SELECT id, name FROM h_person WHERE id = 2;

-- a deferred delete (as gdpr.rerun() records one) is carried out as a DELETE
INSERT INTO gdpr.deferred_erasure (rel, key, kind) VALUES ('h_order', '4', 'delete');
TRUNCATE gdpr.queue;
SELECT * FROM gdpr.release(:h4);
SELECT count(*) FROM h_order WHERE id = 4;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;

-- an expired hold stops protecting its row; gdpr.release_expired() carries
-- out what was deferred
UPDATE gdpr.legal_hold SET until = now() - interval '1 hour' WHERE id = :h3;
SELECT id, active, deferred FROM gdpr.holds WHERE id = :h3;
SELECT gdpr.anonymise_many('h_comment', ARRAY['4']);
SELECT * FROM gdpr.release_expired();
SELECT id, body, gdpr.is_anonymised('h_comment', id) FROM h_comment WHERE id = 3;
SELECT * FROM gdpr.release_expired();
SELECT count(*) AS deferred FROM gdpr.deferred_erasure;

-- a partitioned table: the hold protects its row in whichever partition,
-- and only the partition holding it refuses TRUNCATE
CREATE TABLE h_part (id int PRIMARY KEY, name text) PARTITION BY RANGE (id);
CREATE TABLE h_part_1 PARTITION OF h_part FOR VALUES FROM (1) TO (10);
CREATE TABLE h_part_2 PARTITION OF h_part FOR VALUES FROM (10) TO (20);
INSERT INTO h_part VALUES (1, 'one'), (11, 'eleven'), (12, 'twelve');
SELECT gdpr.register('h_part', ARRAY['name']);
SELECT gdpr.hold('h_part', '11', 'litigation') AS hp \gset
DELETE FROM h_part WHERE id = 11;
\echo sqlstate :LAST_ERROR_SQLSTATE
DELETE FROM h_part_2 WHERE id = 11;
\echo sqlstate :LAST_ERROR_SQLSTATE
TRUNCATE h_part_2;
\echo sqlstate :LAST_ERROR_SQLSTATE
TRUNCATE h_part_1;
SELECT gdpr.anonymise_many('h_part', ARRAY['11', '12']);
SELECT * FROM h_part ORDER BY id;
SELECT * FROM gdpr.release(:hp);
SELECT * FROM h_part ORDER BY id;
DROP TABLE h_part;
TRUNCATE gdpr.queue;

-- a key whose text depends on DateStyle is matched by its canonical text
-- whatever the session's DateStyle
CREATE TABLE h_day (day date PRIMARY KEY, note text, at timestamptz);
INSERT INTO h_day VALUES ('2020-01-31', 'a', now() - interval '1 year'),
                         ('2020-02-29', 'b', now() - interval '1 year');
SELECT gdpr.register('h_day', ARRAY['note']);
SET DateStyle = 'SQL, DMY';
SELECT gdpr.hold('h_day', '2020-02-29'::date, 'audit') AS hd \gset
SELECT key FROM gdpr.holds WHERE id = :hd;
SELECT gdpr.set_retention('h_day', 'at', interval '1 day', 'delete');
SELECT * FROM gdpr.apply_retention('h_day');
SELECT day, note FROM h_day;
SET gdpr.allow_anonymise_db = on;
SELECT gdpr.set_scrub_action('h_day', 'delete');
BEGIN;
SELECT rel, deleted FROM gdpr.anonymise_db(confirm => current_database()) WHERE rel = 'h_day'::regclass;
SELECT day, note FROM h_day;
ROLLBACK;
-- the procedures, committing per batch, keep it too
INSERT INTO h_day VALUES ('2020-03-01', 'c', now() - interval '1 year');
CALL gdpr.apply_retention_batched();
SELECT day, note FROM h_day ORDER BY day;
INSERT INTO h_day VALUES ('2020-03-02', 'd', now());
CALL gdpr.anonymise_db_batched(current_database());
SELECT day, note FROM h_day ORDER BY day;
RESET gdpr.allow_anonymise_db;
RESET DateStyle;
SELECT * FROM gdpr.release(:hd);
DROP TABLE h_day;
TRUNCATE gdpr.queue;

-- privileges: EXECUTE is revoked from PUBLIC; a role needs SELECT on the
-- table, and a row it cannot see is a missing row
CREATE ROLE regress_hold_clerk;
CREATE ROLE regress_hold_officer;
GRANT USAGE ON SCHEMA gdpr TO regress_hold_officer;
GRANT EXECUTE ON FUNCTION gdpr.hold(regclass, text, text, timestamptz),
                          gdpr.release(bigint) TO regress_hold_officer;
GRANT SELECT ON gdpr.holds TO regress_hold_officer;
SET ROLE regress_hold_clerk;
SELECT gdpr.hold('h_person', '5', 'litigation');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.holds;
\echo sqlstate :LAST_ERROR_SQLSTATE
SET ROLE regress_hold_officer;
SELECT gdpr.hold('h_person', '5', 'litigation');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT ON h_person TO regress_hold_officer;
ALTER TABLE h_person ENABLE ROW LEVEL SECURITY;
CREATE POLICY h_not_five ON h_person USING (id <> 5);
SET ROLE regress_hold_officer;
SELECT gdpr.hold('h_person', '5', 'litigation');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.hold('h_person', '99', 'litigation');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.hold('h_person', '6', 'litigation') AS h6 \gset
SELECT key, active FROM gdpr.holds WHERE id = :h6;
RESET ROLE;
DROP POLICY h_not_five ON h_person;
ALTER TABLE h_person DISABLE ROW LEVEL SECURITY;

-- keys that need quoting, and a row under two holds: the held keys reach the
-- erasing statements as one constant; the row stays held while its latest
-- hold lasts
CREATE TABLE h_text (k text PRIMARY KEY, name text);
INSERT INTO h_text VALUES ('a"b', 'n1'), (E'c\\d', 'n2'), ('e''f', 'n3'), ('{g,h}', 'n4'),
  ('plain', 'n5'), ('twice', 'n6');
SELECT gdpr.register('h_text', ARRAY['name']);
SELECT count(gdpr.hold('h_text', k, 'litigation')) AS held FROM h_text WHERE k <> 'plain';
SELECT gdpr.hold('h_text', 'twice', 'audit', until => now() + interval '1 day') AS ht \gset
SELECT gdpr.anonymise_many('h_text', ARRAY['a"b', E'c\\d', 'e''f', '{g,h}', 'plain', 'twice']);
SELECT k, name FROM h_text ORDER BY k;
-- the open-ended hold on 'twice' goes; the timed one still protects it
SELECT outcome FROM gdpr.release((SELECT id FROM gdpr.legal_hold
  WHERE rel = 'h_text'::regclass AND key = 'twice' AND until IS NULL));
SELECT gdpr.anonymise_many('h_text', ARRAY['twice']);
-- once the timed hold has ended too, the row is anonymised
UPDATE gdpr.legal_hold SET until = now() - interval '1 second' WHERE id = :ht;
SELECT gdpr.anonymise_many('h_text', ARRAY['twice']);
SELECT k, name FROM h_text ORDER BY k;
SELECT count(*) AS released FROM gdpr.release_expired();
SELECT count(*) AS released FROM (SELECT gdpr.release(id) FROM gdpr.legal_hold
  WHERE rel = 'h_text'::regclass AND released_at IS NULL) r;
DROP TABLE h_text;

-- a table with a held row cannot be dropped; after the release it can, and
-- its holds go with it
DROP TABLE h_order, h_comment, h_person;
\echo sqlstate :LAST_ERROR_SQLSTATE
-- nor unregistered (nor un-declared): the registry keeps it while held
SELECT gdpr.unregister('h_person');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) AS still_registered FROM gdpr.registered_table WHERE rel = 'h_person'::regclass;
SELECT * FROM gdpr.release(:h6);
DROP TABLE h_order, h_comment, h_person, h_unreg;
SELECT count(*) AS holds, (SELECT count(*) FROM gdpr.deferred_erasure) AS deferred
  FROM gdpr.legal_hold;
REVOKE ALL ON SCHEMA gdpr FROM regress_hold_officer;
REVOKE ALL ON FUNCTION gdpr.hold(regclass, text, text, timestamptz),
                       gdpr.release(bigint) FROM regress_hold_officer;
REVOKE ALL ON gdpr.holds FROM regress_hold_officer;
DROP ROLE regress_hold_clerk;
DROP ROLE regress_hold_officer;
TRUNCATE gdpr.queue;
