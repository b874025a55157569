-- What a scrub does with each table: anonymise (the default), delete,
-- truncate or keep, in an order the foreign keys allow, logging nothing.
\set SHOW_CONTEXT never
SELECT count(*) >= 0 AS unregistered FROM (SELECT gdpr.unregister(rel) FROM gdpr.registered_table) s;
TRUNCATE gdpr.queue;
CREATE TABLE sc_country (code text PRIMARY KEY, name text);
CREATE TABLE sc_customer (id int PRIMARY KEY, name text, email text,
                          country text REFERENCES sc_country);
CREATE TABLE sc_order (id int PRIMARY KEY, customer_id int REFERENCES sc_customer, address text);
CREATE TABLE sc_order_line (id int PRIMARY KEY, order_id int REFERENCES sc_order, note text);
CREATE TABLE sc_audit (id int PRIMARY KEY,
                       order_id int CONSTRAINT sc_audit_order_fk REFERENCES sc_order ON DELETE SET NULL,
                       who text);
CREATE TABLE sc_session (id int PRIMARY KEY, customer_id int REFERENCES sc_customer, token text);
CREATE TABLE sc_token (id int PRIMARY KEY, session_id int REFERENCES sc_session, secret text);
CREATE TABLE sc_unreg (id int PRIMARY KEY);
INSERT INTO sc_country VALUES ('FR', 'France'), ('DE', 'Germany');
INSERT INTO sc_customer SELECT g, 'Customer ' || g, 'c' || g || '@example.com',
       CASE WHEN g % 2 = 0 THEN 'FR' ELSE 'DE' END FROM generate_series(1, 6) g;
INSERT INTO sc_order SELECT g, 1 + g % 6, 'Street ' || g FROM generate_series(1, 8) g;
INSERT INTO sc_order_line SELECT g, 1 + g % 8, 'note ' || g FROM generate_series(1, 12) g;
INSERT INTO sc_audit SELECT g, g, 'clerk ' || g FROM generate_series(1, 4) g;
INSERT INTO sc_session SELECT g, g, 'session ' || g FROM generate_series(1, 5) g;
INSERT INTO sc_token SELECT g, 1 + g % 5, 'secret ' || g FROM generate_series(1, 7) g;
SELECT gdpr.register('sc_country', ARRAY['name']);
SELECT gdpr.register('sc_customer', ARRAY['name', 'email']);
SELECT gdpr.register('sc_order', ARRAY['address']);
SELECT gdpr.register('sc_order_line', ARRAY['note']);
SELECT gdpr.register('sc_audit', ARRAY['who']);
SELECT gdpr.on_delete_anonymise('sc_audit', 'sc_audit_order_fk');
SELECT gdpr.register('sc_session', ARRAY['token']);
SELECT gdpr.register('sc_token', ARRAY['secret']);
SELECT gdpr.anonymise('sc_session', 1);
SELECT gdpr.anonymise('sc_order', 1);
TRUNCATE gdpr.queue;

-- refusals, each with its SQLSTATE, changing nothing
SELECT gdpr.set_scrub_action('sc_unreg', 'delete');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_scrub_action('sc_order', 'drop');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_scrub_action('sc_order', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_scrub_action('sc_session', 'truncate');   -- sc_token references it
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_scrub_action('sc_customer', 'truncate');  -- so do sc_order and sc_session
\echo sqlstate :LAST_ERROR_SQLSTATE
SET ROLE regress_gdpr_admin;
SELECT gdpr.set_scrub_action('sc_order', 'delete');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_gdpr_nobody;
SELECT gdpr.set_scrub_action('sc_order', 'delete');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT rel, scrub_action FROM gdpr.registered_tables WHERE scrub_action <> 'anonymise';

-- the actions: referencing tables first, so the truncated set is built
-- from its children up; a declaration can say it too
SELECT gdpr.set_scrub_action('sc_order', 'delete');
SELECT gdpr.set_scrub_action('sc_order_line', 'delete');
SELECT gdpr.set_scrub_action('sc_token', 'truncate');
SELECT gdpr.set_scrub_action('sc_session', 'truncate');
COMMENT ON TABLE sc_country IS 'Reference data. gdpr: {"scrub": "keep"}';
COMMENT ON TABLE sc_unreg IS 'gdpr: {"scrub": "remove"}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT rel, can_anonymise, scrub_action, declared FROM gdpr.registered_tables ORDER BY rel::text;
-- registered_columns is unchanged
SELECT rel, column_name, pii FROM gdpr.registered_columns WHERE rel = 'sc_country'::regclass ORDER BY 2;

-- a scrub-time check too: a truncated table referenced from outside the set
SET gdpr.allow_anonymise_db = on;
UPDATE gdpr.registered_table SET scrub_action = 'anonymise' WHERE rel = 'sc_token'::regclass;
SELECT * FROM gdpr.anonymise_db(current_database());
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) FROM sc_session;
UPDATE gdpr.registered_table SET scrub_action = 'truncate' WHERE rel = 'sc_token'::regclass;

-- the scrub: truncated tables first, then the deletes (lines before
-- orders), then the anonymisations; ON DELETE ANONYMISE applies
SELECT * FROM gdpr.anonymise_db(current_database());
SELECT (SELECT count(*) FROM sc_session) AS sessions, (SELECT count(*) FROM sc_token) AS tokens,
       (SELECT count(*) FROM sc_order) AS orders, (SELECT count(*) FROM sc_order_line) AS lines;
SELECT * FROM sc_country ORDER BY code;
SELECT id, name, email FROM sc_customer ORDER BY id;
SELECT id, order_id, who FROM sc_audit ORDER BY id;
-- no events at all, the deletes' and truncates' included
SELECT count(*) AS events FROM gdpr.queued_events;
-- markers: of the deleted and truncated rows none is left
SELECT rel, count(*) FROM (SELECT rel, key FROM gdpr.marker UNION SELECT r.rel, g::text FROM gdpr.marker_range AS r, generate_series(r.lo, r.hi) AS g) AS m WHERE rel::text LIKE 'sc\_%' GROUP BY 1 ORDER BY rel::text;
-- the capture is back after the scrub
INSERT INTO sc_session VALUES (9, 1, 'late');
DELETE FROM sc_session WHERE id = 9;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
TRUNCATE gdpr.queue;

-- the procedure form, committing per batch, the same actions
INSERT INTO sc_session SELECT g, g, 'session ' || g FROM generate_series(1, 5) g;
INSERT INTO sc_token SELECT g, 1 + g % 5, 'secret ' || g FROM generate_series(1, 7) g;
INSERT INTO sc_order SELECT g, 1 + g % 6, 'Street ' || g FROM generate_series(1, 8) g;
INSERT INTO sc_order_line SELECT g, 1 + g % 8, 'note ' || g FROM generate_series(1, 12) g;
INSERT INTO sc_customer VALUES (7, 'Customer 7', 'c7@example.com', 'FR');
SET gdpr.anonymise_batch_size = 5;
CALL gdpr.anonymise_db_batched(current_database());
RESET gdpr.anonymise_batch_size;
SELECT (SELECT count(*) FROM sc_session) AS sessions, (SELECT count(*) FROM sc_token) AS tokens,
       (SELECT count(*) FROM sc_order) AS orders, (SELECT count(*) FROM sc_order_line) AS lines,
       (SELECT count(*) FROM sc_customer WHERE name IS NOT NULL) AS named;
SELECT count(*) AS events FROM gdpr.queued_events;
RESET gdpr.allow_anonymise_db;

-- a table declaration without "scrub" is back to anonymise
COMMENT ON TABLE sc_country IS 'gdpr: {}';
SELECT scrub_action FROM gdpr.registered_tables WHERE rel = 'sc_country'::regclass;

DROP TABLE sc_token, sc_session, sc_audit, sc_order_line, sc_order, sc_customer, sc_country, sc_unreg;
TRUNCATE gdpr.queue;

-- a 'delete' table drops its markers in one statement; rows of another
-- registered table that the delete cascades to lose theirs as ever, and
-- the rows that stay keep theirs
CREATE TABLE sc_p (id int PRIMARY KEY, name text);
CREATE TABLE sc_c (id int PRIMARY KEY, p int REFERENCES sc_p ON DELETE CASCADE, note text);
INSERT INTO sc_p SELECT g, 'P ' || g FROM generate_series(1, 3) g;
INSERT INTO sc_c VALUES (1, 1, 'a'), (2, 2, 'b'), (3, NULL, 'c');
SELECT gdpr.register('sc_p', ARRAY['name']);
SELECT gdpr.register('sc_c', ARRAY['note']);
SELECT gdpr.set_scrub_action('sc_p', 'delete');
SELECT gdpr.set_scrub_action('sc_c', 'keep');
SELECT gdpr.anonymise('sc_p', 1), gdpr.anonymise('sc_c', 1), gdpr.anonymise('sc_c', 3);
TRUNCATE gdpr.queue;
SET gdpr.allow_anonymise_db = on;
SET client_min_messages = warning;
-- the kept table's count is of the rows left after the cascade
SELECT rel, action, deleted, anonymised, skipped FROM gdpr.anonymise_db(current_database());
RESET client_min_messages;
RESET gdpr.allow_anonymise_db;
SELECT rel, key FROM gdpr.marker WHERE rel::text LIKE 'sc\_%' ORDER BY rel::text, key;
SELECT id, p, note FROM sc_c ORDER BY id;
SELECT count(*) AS events FROM gdpr.queued_events;
-- the capture is back after the scrub
DELETE FROM sc_c;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
SELECT count(*) AS markers FROM gdpr.marker WHERE rel::text LIKE 'sc\_%';
SELECT gdpr.unregister('sc_c'), gdpr.unregister('sc_p');
DROP TABLE sc_c, sc_p;
TRUNCATE gdpr.queue;
