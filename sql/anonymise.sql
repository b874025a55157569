-- gdpr.anonymise, gdpr.anonymise_many and gdpr.is_anonymised.
\set SHOW_CONTEXT never
CREATE TABLE a_person (
    id      integer PRIMARY KEY,
    name    text NOT NULL,
    email   text UNIQUE,
    notes   text,
    touched integer NOT NULL DEFAULT 0
);
INSERT INTO a_person SELECT g, 'Person ' || g, 'p' || g || '@example.com', 'notes ' || g
  FROM generate_series(1, 6) g;
SELECT gdpr.register('a_person', ARRAY['name', 'email', 'notes']);
SELECT gdpr.set_anonymiser('a_person', 'name', 'value', 'Anonymous');
SELECT gdpr.set_anonymiser('a_person', 'email', 'email');

-- a trigger on UPDATE OF a non-PII column must not fire: the SET list names
-- only PII columns; a trigger on UPDATE OF a PII column does
CREATE FUNCTION a_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.touched := NEW.touched + 1; RETURN NEW; END $$;
CREATE TRIGGER a_person_touched BEFORE UPDATE OF touched ON a_person
    FOR EACH ROW EXECUTE FUNCTION a_bump();
CREATE TABLE a_audit (id integer, what text);
CREATE FUNCTION a_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO a_audit VALUES (NEW.id, TG_ARGV[0]); RETURN NEW; END $$;
CREATE TRIGGER a_person_audit BEFORE UPDATE OF email ON a_person
    FOR EACH ROW EXECUTE FUNCTION a_audit('email changed');

-- the key as text; as text with another spelling of the same value; in its own type
SELECT gdpr.anonymise('a_person', '1');
SELECT gdpr.anonymise('a_person', '001');
SELECT gdpr.anonymise('a_person', 2);
SELECT gdpr.anonymise('a_person', 2::bigint);
SELECT * FROM a_person ORDER BY id;
SELECT * FROM a_audit ORDER BY id;
SELECT rel, key FROM gdpr.marker WHERE rel = 'a_person'::regclass ORDER BY key;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
SELECT gdpr.is_anonymised('a_person', '1'), gdpr.is_anonymised('a_person', 01),
       gdpr.is_anonymised('a_person', '3');

-- force anonymises again and queues another event
UPDATE a_person SET name = 'Back again' WHERE id = 1;
SELECT gdpr.anonymise('a_person', 1, force => true);
SELECT name FROM a_person WHERE id = 1;
SELECT count(*) FROM gdpr.queued_events WHERE key = '1';

-- a key that matches no row is an error (with or without force), malformed
-- keys too; nothing changes
SELECT gdpr.anonymise('a_person', '99');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise('a_person', '99', force => true);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise('a_person', 'one');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise('a_person', '');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise('a_person', NULL::text) IS NULL AS strict;
SELECT gdpr.is_anonymised('a_person', 'x');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) FROM gdpr.queued_events;

-- an unregistered table
CREATE TABLE a_unregistered (id int PRIMARY KEY, x text);
INSERT INTO a_unregistered VALUES (1, 'x');
SELECT gdpr.anonymise('a_unregistered', 1);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.is_anonymised('a_unregistered', 1);
\echo sqlstate :LAST_ERROR_SQLSTATE

-- an error rolls back the values, the marker and the event together
BEGIN;
SELECT gdpr.anonymise('a_person', 3);
SELECT gdpr.is_anonymised('a_person', 3), (SELECT count(*) FROM gdpr.queued_events WHERE key = '3');
ROLLBACK;
SELECT name, gdpr.is_anonymised('a_person', 3), (SELECT count(*) FROM gdpr.queued_events WHERE key = '3')
  FROM a_person WHERE id = 3;

-- anonymise_many: ignores keys that match no row, counts only changed rows
SELECT gdpr.anonymise_many('a_person', ARRAY['1', '3', '4', '99', '3']);
SELECT gdpr.anonymise_many('a_person', ARRAY[3, 4, 5]);
SELECT gdpr.anonymise_many('a_person', ARRAY[3, 4, 5], force => true);
SELECT gdpr.anonymise_many('a_person', '{}'::text[]);
SELECT gdpr.anonymise_many('a_person', ARRAY['3', NULL]);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise_many('a_person', ARRAY['x']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT id, name, email FROM a_person ORDER BY id;

-- in small batches the result is the same
CREATE TABLE a_batch (id bigint PRIMARY KEY, v text);
INSERT INTO a_batch SELECT g, 'v' || g FROM generate_series(1, 25) g;
SELECT gdpr.register('a_batch', ARRAY['v']);
SET gdpr.anonymise_batch_size = 4;
SELECT gdpr.anonymise_many('a_batch', ARRAY(SELECT g FROM generate_series(0, 30) g));
RESET gdpr.anonymise_batch_size;
SELECT count(*) FILTER (WHERE v IS NULL) AS anonymised, count(*) FROM a_batch;

-- more changed rows than a batch, the rest kept in a store that spills to a
-- temporary file (work_mem 64kB): every row marked and logged once, and no
-- temporary file left behind (a WARNING at commit)
CREATE TABLE a_spill_parent (id int PRIMARY KEY);
INSERT INTO a_spill_parent VALUES (1);
CREATE TABLE a_spill (id int PRIMARY KEY,
                      parent_id int CONSTRAINT a_spill_parent_fk REFERENCES a_spill_parent ON DELETE SET NULL,
                      v text);
INSERT INTO a_spill SELECT g, 1, 'v' || g FROM generate_series(100001, 120000) g;
SELECT gdpr.register('a_spill', ARRAY['v']);
SELECT gdpr.on_delete_anonymise('a_spill', 'a_spill_parent_fk');
SET work_mem = '64kB';
SET gdpr.anonymise_batch_size = 100;
DELETE FROM a_spill_parent;
RESET work_mem;
RESET gdpr.anonymise_batch_size;
SELECT count(*) FILTER (WHERE v IS NULL AND parent_id IS NULL) AS anonymised,
       (SELECT count(*) FROM gdpr.marker WHERE rel = 'a_spill'::regclass) AS marked,
       (SELECT count(DISTINCT key) FROM gdpr.queued_events
         WHERE kind = 'anonymise' AND table_name = 'public.a_spill') AS logged
  FROM a_spill;
SELECT gdpr.drop_on_delete_anonymise('a_spill', 'a_spill_parent_fk');

-- gdpr.log_anonymise = off: markers, but no events
SET gdpr.log_anonymise = off;
SELECT gdpr.anonymise('a_person', 6);
RESET gdpr.log_anonymise;
SELECT gdpr.is_anonymised('a_person', 6), (SELECT count(*) FROM gdpr.queued_events WHERE key = '6');

-- can_anonymise = false: found, never anonymised, silently
CREATE TABLE a_kept (id int PRIMARY KEY, name text);
INSERT INTO a_kept VALUES (1, 'Kept');
SELECT gdpr.register('a_kept', ARRAY['name'], can_anonymise => false);
SELECT gdpr.anonymise('a_kept', 1);
SELECT gdpr.anonymise('a_kept', 2);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise_many('a_kept', ARRAY[1]);
SELECT name, gdpr.is_anonymised('a_kept', 1) FROM a_kept;

-- a table registered without PII columns: rows are still marked
CREATE TABLE a_nopii (id int PRIMARY KEY, x text);
INSERT INTO a_nopii VALUES (1, 'x');
SELECT gdpr.register('a_nopii', '{}');
SELECT gdpr.anonymise('a_nopii', 1);
SELECT gdpr.anonymise('a_nopii', 1);
SELECT gdpr.is_anonymised('a_nopii', 1);

-- anonymising does not cascade to other tables
CREATE TABLE a_child (id int PRIMARY KEY, person_id int REFERENCES a_person, note text);
INSERT INTO a_child VALUES (1, 5, 'child of 5');
SELECT gdpr.register('a_child', ARRAY['note']);
SELECT gdpr.anonymise('a_person', 5, force => true);
SELECT note, gdpr.is_anonymised('a_child', 1) FROM a_child;

-- other key types: numeric, uuid, text, and a two-column key
CREATE TABLE a_num (id numeric PRIMARY KEY, v text);
INSERT INTO a_num VALUES (1.50, 'a');
SELECT gdpr.register('a_num', ARRAY['v']);
SELECT gdpr.anonymise('a_num', '1.50');
SELECT gdpr.is_anonymised('a_num', 1.5);
CREATE TABLE a_uuid (id uuid PRIMARY KEY, v text);
INSERT INTO a_uuid VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a');
SELECT gdpr.register('a_uuid', ARRAY['v']);
SELECT gdpr.anonymise('a_uuid', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11');
SELECT key FROM gdpr.marker WHERE rel = 'a_uuid'::regclass;
CREATE TABLE a_text (id text PRIMARY KEY, v text);
INSERT INTO a_text VALUES ('it''s "quoted", (odd)', 'a');
SELECT gdpr.register('a_text', ARRAY['v']);
SELECT gdpr.anonymise('a_text', 'it''s "quoted", (odd)');
SELECT key FROM gdpr.marker WHERE rel = 'a_text'::regclass;
CREATE TABLE a_two (pid int, day date, v text, PRIMARY KEY (pid, day));
INSERT INTO a_two VALUES (7, '2024-01-01', 'a'), (7, '2024-01-02', 'b'), (8, '2024-01-01', 'c');
SELECT gdpr.register('a_two', ARRAY['v']);
SELECT gdpr.anonymise('a_two', '(7,2024-01-01)');
SELECT gdpr.anonymise('a_two', ROW(7, '2024-01-02'::date));
SELECT gdpr.anonymise_many('a_two', ARRAY['(7,2024-01-01)', '( 8 , 2024-01-01 )', '(9,2024-01-01)']);
SELECT gdpr.anonymise('a_two', '(7)');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.anonymise('a_two', '(7,)');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM a_two ORDER BY 1, 2;
SELECT key FROM gdpr.marker WHERE rel = 'a_two'::regclass ORDER BY key;

-- key text does not depend on the session's DateStyle, IntervalStyle,
-- TimeZone or extra_float_digits: markers and the log match keys by text
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/New_York';
CREATE TABLE a_when (at timestamptz, day date, v text, PRIMARY KEY (at, day));
INSERT INTO a_when VALUES ('2024-05-06 07:08:09+00', '2024-05-06', 'x'), ('2024-05-07 00:00:00+00', '2024-05-07', 'y');
SELECT gdpr.register('a_when', ARRAY['v']);
SELECT gdpr.anonymise('a_when', ROW('2024-05-06 07:08:09+00'::timestamptz, '2024-05-06'::date));
DELETE FROM a_when WHERE v = 'y';
SELECT key FROM gdpr.marker WHERE rel = 'a_when'::regclass;
SELECT kind, key FROM gdpr.queued_events WHERE table_name = 'public.a_when' ORDER BY seq, ord;
RESET DateStyle;
SET TimeZone = 'Asia/Tokyo';
SELECT gdpr.is_anonymised('a_when', '(2024-05-06 07:08:09+00,2024-05-06)');
SELECT gdpr.anonymise('a_when', '(2024-05-06 16:08:09+09,2024-05-06)');
RESET TimeZone;

-- privileges: the caller needs UPDATE on the table; EXECUTE for the function
CREATE TABLE a_priv (id int PRIMARY KEY, v text);
INSERT INTO a_priv VALUES (1, 'x'), (2, 'y');
SELECT gdpr.register('a_priv', ARRAY['v']);
SET ROLE regress_gdpr_nobody;
SELECT gdpr.anonymise('a_priv', 1);
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_gdpr_admin;
SELECT gdpr.anonymise('a_priv', 1);
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT SELECT, UPDATE ON a_priv TO regress_gdpr_admin;
SET ROLE regress_gdpr_admin;
SELECT gdpr.anonymise('a_priv', 1);
SELECT gdpr.anonymise_many('a_priv', ARRAY[2]);
SELECT gdpr.is_anonymised('a_priv', 1);
RESET ROLE;
SELECT * FROM a_priv ORDER BY id;

-- gdpr.key_exists and gdpr.delete_key (what gdpr.rerun() applies with):
-- keys matched by value, a delete logged like any other, malformed keys and
-- missing privileges refused
SELECT gdpr.key_exists('a_two', '(8,2024-01-01)'), gdpr.key_exists('a_two', '(9,2024-01-01)');
SELECT gdpr.key_exists('a_person', '0005');
SELECT gdpr.key_exists('a_person', 'five');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.delete_key('a_two', '(8,2024-01-01)');
SELECT gdpr.delete_key('a_two', '(8,2024-01-01)');
SELECT kind, key FROM gdpr.queued_events WHERE table_name = 'public.a_two' AND kind = 'delete';
SELECT gdpr.delete_key('a_two', '(8)');
\echo sqlstate :LAST_ERROR_SQLSTATE
SET ROLE regress_gdpr_nobody;
SELECT gdpr.delete_key('a_priv', '1');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_gdpr_admin;
SELECT gdpr.delete_key('a_priv', '1');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) FROM a_priv;
