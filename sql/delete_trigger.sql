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
SELECT kind, table_name, key FROM gdpr.queue ORDER BY seq;

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
SELECT kind, table_name, key FROM gdpr.queue WHERE table_name = 'public.d_person' AND key IN ('4', '5', '6') ORDER BY seq;

-- nothing personal in an event: only kind, table and key
SELECT count(*) FROM gdpr.queue q, d_person p WHERE q::text LIKE '%' || p.name || '%';

-- TRUNCATE is logged, one delete event per row
SELECT count(*) FROM d_person;
TRUNCATE d_order, d_person;
SELECT table_name, count(*) FROM gdpr.queue WHERE kind = 'delete' GROUP BY 1 ORDER BY 1;

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
SELECT kind, table_name, key FROM gdpr.queue ORDER BY seq;

-- unregistering removes the capture
SELECT gdpr.unregister('d_pay');
DELETE FROM d_pay;
SELECT count(*) FROM gdpr.queue WHERE table_name = 'public.d_pay';

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
