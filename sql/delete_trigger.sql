-- Delete capture: every row deleted from a registered table, by any means,
-- queues a 'delete' event in the same transaction; TRUNCATE is logged too.
\set SHOW_CONTEXT never
TRUNCATE gdpr.queue;
CREATE TABLE d_person (id int PRIMARY KEY, name text);
CREATE TABLE d_order (id int PRIMARY KEY, person_id int REFERENCES d_person ON DELETE CASCADE, item text);
INSERT INTO d_person SELECT g, 'P' || g FROM generate_series(1, 10) g;
INSERT INTO d_order SELECT g, (g % 3) + 1, 'item ' || g FROM generate_series(1, 6) g;
SELECT gdpr.register('d_person', ARRAY['name']);
SELECT gdpr.register('d_order', ARRAY['item']);

-- a plain DELETE and a bulk one
DELETE FROM d_person WHERE id = 10;
DELETE FROM d_person WHERE id IN (8, 9);
-- a DELETE reached by a foreign-key cascade logs the children too
DELETE FROM d_person WHERE id = 1;
-- from a function, as another role
CREATE FUNCTION d_remove(int) RETURNS void LANGUAGE sql AS 'DELETE FROM d_person WHERE id = $1';
GRANT SELECT, DELETE ON d_person, d_order TO regress_gdpr_nobody;
GRANT EXECUTE ON FUNCTION d_remove(int) TO regress_gdpr_nobody;
SET ROLE regress_gdpr_nobody;
SELECT d_remove(7);
RESET ROLE;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;

-- a rollback leaves no event; a savepoint rolled back takes its events along
BEGIN;
DELETE FROM d_person WHERE id = 6;
ROLLBACK;
BEGIN;
DELETE FROM d_person WHERE id = 5;
SAVEPOINT s;
DELETE FROM d_person WHERE id = 4;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT kind, table_name, key FROM gdpr.queued_events WHERE table_name = 'public.d_person' AND key IN ('4', '5', '6') ORDER BY seq, ord;

-- nothing personal in an event: only kind, table and key
SELECT count(*) FROM gdpr.queued_events q, d_person p WHERE q::text LIKE '%' || p.name || '%';

-- TRUNCATE is logged, one delete event per row
SELECT count(*) FROM d_person;
TRUNCATE d_order, d_person;
SELECT table_name, count(*) FROM gdpr.queued_events WHERE kind = 'delete' GROUP BY 1 ORDER BY 1;

-- partitioned tables: rows deleted through the parent or a partition, and
-- partitions attached later, are logged under the registered table's name
CREATE TABLE d_pay (day date, id int, payer text, PRIMARY KEY (day, id)) PARTITION BY RANGE (day);
CREATE TABLE d_pay_jan PARTITION OF d_pay FOR VALUES FROM ('2024-01-01') TO ('2024-02-01');
SELECT gdpr.register('d_pay', ARRAY['payer']);
CREATE TABLE d_pay_feb PARTITION OF d_pay FOR VALUES FROM ('2024-02-01') TO ('2024-03-01');
INSERT INTO d_pay VALUES ('2024-01-05', 1, 'a'), ('2024-01-06', 2, 'b'), ('2024-02-05', 3, 'c'), ('2024-02-06', 4, 'd');
TRUNCATE gdpr.queue;
DELETE FROM d_pay WHERE id = 1;
DELETE FROM d_pay_feb WHERE id = 3;
TRUNCATE d_pay_jan;
-- a partition attached later gets the TRUNCATE trigger too (event trigger)
CREATE TABLE d_pay_mar (day date, id int, payer text, PRIMARY KEY (day, id));
INSERT INTO d_pay_mar VALUES ('2024-03-05', 5, 'e');
ALTER TABLE d_pay ATTACH PARTITION d_pay_mar FOR VALUES FROM ('2024-03-01') TO ('2024-04-01');
TRUNCATE d_pay_mar;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname ILIKE 'gdpr%' AND tgrelid::regclass::text LIKE 'd_pay%' ORDER BY 1, 2;

-- unregistering removes the capture
SELECT gdpr.unregister('d_pay');
DELETE FROM d_pay;
SELECT count(*) FROM gdpr.queued_events WHERE table_name = 'public.d_pay';

-- the trigger functions refuse to be called other than as gdpr attaches them
SELECT gdpr.log_delete();
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE TABLE d_misuse (id int PRIMARY KEY);
CREATE TRIGGER d_bad BEFORE INSERT ON d_misuse FOR EACH ROW EXECUTE FUNCTION gdpr.log_delete();
INSERT INTO d_misuse VALUES (1);
\echo sqlstate :LAST_ERROR_SQLSTATE
DROP TRIGGER d_bad ON d_misuse;
CREATE TRIGGER d_bad2 AFTER INSERT ON d_misuse FOR EACH ROW EXECUTE FUNCTION gdpr.on_delete_anonymise_trigger();
INSERT INTO d_misuse VALUES (1);
\echo sqlstate :LAST_ERROR_SQLSTATE
DROP TABLE d_misuse;

-- a dropped registered table leaves the registry, with its markers and rules
CREATE TABLE d_gone (id int PRIMARY KEY, x text);
INSERT INTO d_gone VALUES (1, 'x');
SELECT gdpr.register('d_gone', ARRAY['x']);
SELECT gdpr.anonymise('d_gone', 1);
DROP TABLE d_gone;
SELECT count(*) FROM gdpr.registered_table t WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = t.rel);
SELECT count(*) FROM gdpr.marker m WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = m.rel);

-- a partition of a registered table can be registered on its own too, and
-- unregistered again without taking the parent's capture away
CREATE TABLE d_part (day date, id int, x text, PRIMARY KEY (day, id)) PARTITION BY RANGE (day);
CREATE TABLE d_part_2024 PARTITION OF d_part FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
SELECT gdpr.register('d_part', ARRAY['x']);
SELECT gdpr.register('d_part_2024', ARRAY['x']);
SELECT gdpr.unregister('d_part_2024');
SELECT tgrelid::regclass, tgname FROM pg_trigger
 WHERE tgname ILIKE 'gdpr%' AND tgrelid IN ('d_part'::regclass, 'd_part_2024'::regclass) ORDER BY 1, 2;

-- a deleted row's marker goes with it: a new row that reuses the key is not
-- anonymised
CREATE TABLE d_reuse (id int PRIMARY KEY, name text);
INSERT INTO d_reuse VALUES (1, 'first owner of key 1');
SELECT gdpr.register('d_reuse', ARRAY['name']);
SELECT gdpr.anonymise('d_reuse', 1);
DELETE FROM d_reuse WHERE id = 1;
INSERT INTO d_reuse VALUES (1, 'second owner of key 1');
SELECT gdpr.is_anonymised('d_reuse', 1);
SELECT gdpr.anonymise('d_reuse', 1);
SELECT * FROM d_reuse;
-- and TRUNCATE takes the markers of the rows it removes
TRUNCATE d_reuse;
SELECT count(*) FROM gdpr.marker WHERE rel = 'd_reuse'::regclass;

-- a DELETE writes its event and drops the marker directly (no statement);
-- the event has what the column defaults give
TRUNCATE gdpr.queue;
INSERT INTO d_reuse VALUES (2, 'two'), (3, 'three');
SELECT gdpr.anonymise('d_reuse', 2);
DELETE FROM d_reuse WHERE id IN (2, 3);
SELECT kind, table_name, key, keys, event_uuid IS NOT NULL AS has_uuid,
       occurred_at <= statement_timestamp() AS not_later,
       seq = (SELECT max(seq) FROM gdpr.queue) AS last
  FROM gdpr.queue ORDER BY seq;
SELECT count(DISTINCT event_uuid) FROM gdpr.queue WHERE kind = 'delete';
SELECT substr(event_uuid::text, 15, 1) AS version FROM gdpr.queue WHERE kind = 'delete' LIMIT 1;
-- each event its own version-4 uuid, across several draws of random bytes
CREATE TABLE d_uuid (id int PRIMARY KEY, name text);
SELECT gdpr.register('d_uuid', '{name}');
INSERT INTO d_uuid SELECT g, 'U' || g FROM generate_series(1, 200) g;
DELETE FROM d_uuid;
SELECT count(*) AS events, count(DISTINCT event_uuid) AS distinct_uuids,
       bool_and(substr(event_uuid::text, 15, 1) = '4'
                AND substr(event_uuid::text, 20, 1) IN ('8', '9', 'a', 'b')) AS version_4
  FROM gdpr.queue WHERE table_name = 'public.d_uuid';
SELECT count(*) FROM gdpr.marker WHERE rel = 'd_reuse'::regclass;
-- ... unless the queue got a trigger since: then by the statement, and the
-- trigger fires (as the extension's owner, with search_path pinned)
CREATE TABLE d_queue_seen (key text);
CREATE FUNCTION d_queue_seen() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.d_queue_seen VALUES (NEW.key); RETURN NEW; END$$;
CREATE TRIGGER d_queue_seen AFTER INSERT ON gdpr.queue FOR EACH ROW EXECUTE FUNCTION d_queue_seen();
INSERT INTO d_reuse VALUES (4, 'four');
SELECT gdpr.anonymise('d_reuse', 4);
DELETE FROM d_reuse WHERE id = 4;
SELECT * FROM d_queue_seen;
SELECT count(*) FROM gdpr.marker WHERE rel = 'd_reuse'::regclass;
DROP TRIGGER d_queue_seen ON gdpr.queue;
-- likewise one row's marker, when gdpr.marker got a trigger: by the
-- statement, the trigger fires, and the marker and its event are there
CREATE TRIGGER d_marker_seen AFTER INSERT ON gdpr.marker FOR EACH ROW EXECUTE FUNCTION d_queue_seen();
INSERT INTO d_reuse VALUES (5, 'five');
SELECT gdpr.anonymise('d_reuse', 5);
SELECT * FROM d_queue_seen ORDER BY key;
SELECT count(*) AS markers FROM gdpr.marker WHERE rel = 'd_reuse'::regclass AND key = '5';
SELECT count(*) AS events FROM gdpr.queued_events WHERE table_name = 'public.d_reuse' AND key = '5';
DROP TRIGGER d_marker_seen ON gdpr.marker;
DROP FUNCTION d_queue_seen();
DROP TABLE d_queue_seen;
