-- gdpr.search() and gdpr.anonymise_search(): SPEC section 7
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS gdpr;
CREATE EXTENSION IF NOT EXISTS citext;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE SCHEMA srch;
CREATE DOMAIN srch.positive AS int CHECK (VALUE > 0);
CREATE TABLE srch.customer (
    id        int PRIMARY KEY,
    email     text,
    alt_email varchar(100),
    handle    citext,
    ext_id    srch.positive,
    token     uuid,
    notes     text,
    "Odd ""Col"" ; x" text
);
CREATE INDEX customer_lower_email ON srch.customer (lower(email));
CREATE INDEX customer_lower_alt_email ON srch.customer (lower(alt_email));
CREATE INDEX customer_handle ON srch.customer (handle);
CREATE INDEX customer_ext_id ON srch.customer (ext_id);
CREATE INDEX customer_token ON srch.customer (token);
CREATE INDEX customer_odd ON srch.customer (lower("Odd ""Col"" ; x"));
-- a second table, with a two-column key, and a table name needing quotes
CREATE TABLE srch."Staff Member" (
    site   int,
    no     int,
    email  text,
    PRIMARY KEY (site, no)
);
CREATE TABLE srch.unregistered (id int PRIMARY KEY, email text);

INSERT INTO srch.customer VALUES
    (1, 'Alice@Example.com', NULL, 'alice', 42, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x', NULL),
    (2, 'bob@example.com', 'ALICE@example.COM', 'Bobby', 7, NULL, 'alice@example.com', NULL),
    (3, 'carol@example.com', NULL, 'alice@example.com', NULL, NULL, NULL, '42'),
    (4, NULL, NULL, NULL, 1, NULL, NULL, NULL);
-- more rows, so that the planner has a reason to use the indexes
INSERT INTO srch.customer (id, email, alt_email, handle, ext_id)
SELECT g, 'user' || g || '@example.com', 'alt' || g || '@example.com', 'h' || g, g
  FROM generate_series(100, 2099) g;
INSERT INTO srch."Staff Member" VALUES (1, 2, 'alice@example.com'), (1, 1, 'ALICE@EXAMPLE.COM'),
    (2, 1, 'someone@example.com');
INSERT INTO srch.unregistered VALUES (1, 'alice@example.com');
ANALYZE srch.customer;

-- nothing registered yet
SELECT * FROM gdpr.search('alice@example.com');

SELECT gdpr.register('srch.customer', ARRAY['email', 'alt_email'],
    search_fields => ARRAY['email', 'alt_email', 'handle', 'ext_id', 'token', 'Odd "Col" ; x']);
SELECT gdpr.register('srch."Staff Member"', ARRAY['email'], search_fields => ARRAY['email']);
SELECT gdpr.register('srch.unregistered', ARRAY[]::text[]);   -- no search field
SELECT gdpr.unregister('srch.unregistered');

-- text columns case-insensitively, citext with its own equality; notes is
-- no search field; ordered by table name, then key value; matched columns
-- in column order
SELECT * FROM gdpr.search('ALICE@example.com');
-- the term as an integer (ext_id, through the domain) and as text
SELECT * FROM gdpr.search('42');
SELECT * FROM gdpr.search('0042');
-- a term the domain's CHECK refuses leaves ext_id out, no error
SELECT * FROM gdpr.search('-5');
-- citext compares case-insensitively; uuid by value
SELECT * FROM gdpr.search('BOBBY');
SELECT * FROM gdpr.search('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11');
-- a partitioned table is searched through its parent
CREATE TABLE srch.ticket (id int, email text, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE srch.ticket_1 PARTITION OF srch.ticket FOR VALUES FROM (0) TO (100);
CREATE TABLE srch.ticket_2 PARTITION OF srch.ticket FOR VALUES FROM (100) TO (200);
INSERT INTO srch.ticket VALUES (5, 'bobby'), (150, 'BOBBY'), (160, 'other');
SELECT gdpr.register('srch.ticket', ARRAY[]::text[], search_fields => ARRAY['email']);
SELECT * FROM gdpr.search('Bobby');
SELECT gdpr.unregister('srch.ticket');
-- keys print the same whatever the session's DateStyle and TimeZone
CREATE TABLE srch.event (day date, at timestamptz, email text, PRIMARY KEY (day, at));
INSERT INTO srch.event VALUES ('2024-05-01', '2024-05-01 10:00+02', 'bobby');
SELECT gdpr.register('srch.event', ARRAY[]::text[], search_fields => ARRAY['email']);
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/New_York';
SELECT * FROM gdpr.search('bobby') WHERE rel = 'srch.event'::regclass;
RESET DateStyle;
RESET TimeZone;
SELECT gdpr.unregister('srch.event');
-- nothing: no match, empty term, NULL term, whitespace is not trimmed
SELECT * FROM gdpr.search('nobody@example.com');
SELECT * FROM gdpr.search('');
SELECT * FROM gdpr.search(NULL);
SELECT * FROM gdpr.search(' alice@example.com');

-- indexes: one statement per table, its conditions OR-ed, so each
-- condition's index is scanned (a BitmapOr).  Counted in the statistics:
-- every index of a searched column is used, but not customer_token (neither
-- term is a uuid, so token is not searched) nor the primary key.
SELECT pg_stat_force_next_flush();
CREATE TEMP TABLE idx_before AS
SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE schemaname = 'srch';
SELECT rel, key, matched FROM gdpr.search('h150');
SELECT rel, key, matched FROM gdpr.search('150');
SELECT pg_stat_force_next_flush();
SELECT i.indexrelname, i.idx_scan > b.idx_scan AS scanned
  FROM pg_stat_user_indexes i JOIN idx_before b USING (indexrelname)
 WHERE i.schemaname = 'srch' AND i.relname = 'customer'
 ORDER BY 1;

-- privileges: the caller's own
CREATE ROLE regress_search_reader;
GRANT USAGE ON SCHEMA srch TO regress_search_reader;
GRANT EXECUTE ON FUNCTION gdpr.search(text) TO regress_search_reader;
GRANT SELECT (id, email, handle) ON srch.customer TO regress_search_reader;  -- no alt_email
ALTER TABLE srch.customer ENABLE ROW LEVEL SECURITY;
CREATE POLICY hide_bob ON srch.customer USING (id <> 2);
SET ROLE regress_search_reader;
-- no "Staff Member" (no SELECT), no alt_email (column privilege), no Bob (RLS)
SELECT * FROM gdpr.search('alice@example.com');
RESET ROLE;
-- without the key columns, the table is not searched at all
REVOKE SELECT (id) ON srch.customer FROM regress_search_reader;
SET ROLE regress_search_reader;
SELECT * FROM gdpr.search('alice@example.com');
RESET ROLE;
DROP POLICY hide_bob ON srch.customer;
ALTER TABLE srch.customer DISABLE ROW LEVEL SECURITY;

-- anonymise_search: per table with hits, rows changed and rows skipped
SELECT * FROM gdpr.anonymise_search('alice@example.com');
SELECT id, email IS NULL AS email_null, alt_email IS NULL AS alt_email_null,
       gdpr.is_anonymised('srch.customer', id)
  FROM srch.customer WHERE id IN (1, 2, 3, 4) ORDER BY id;
SELECT site, no, email IS NULL AS email_null FROM srch."Staff Member" ORDER BY site, no;
-- already anonymised rows are skipped
UPDATE srch.customer SET handle = 'alice2' WHERE id = 3;
SELECT * FROM gdpr.anonymise_search('alice2');
-- a table with can_anonymise = false: found, never changed, skipped
CREATE TABLE srch.keep (id int PRIMARY KEY, email text);
INSERT INTO srch.keep VALUES (1, 'keep@example.com'), (2, 'KEEP@example.com');
SELECT gdpr.register('srch.keep', ARRAY['email'], search_fields => ARRAY['email'],
                     can_anonymise => false);
SELECT * FROM gdpr.anonymise_search('keep@example.com');
SELECT * FROM srch.keep ORDER BY id;
-- nothing found, empty and NULL terms: no rows
SELECT * FROM gdpr.anonymise_search('nobody@example.com');
SELECT * FROM gdpr.anonymise_search('');
SELECT * FROM gdpr.anonymise_search(NULL);

-- many hits: searched as they are found; their keys kept in a store that
-- spills to disk (work_mem 64kB) and anonymised 100 at a time
CREATE TABLE srch.many (id int PRIMARY KEY, email text);
INSERT INTO srch.many SELECT g, 'many@example.com' FROM generate_series(1, 3000) g;
SELECT gdpr.register('srch.many', ARRAY['email'], search_fields => ARRAY['email']);
SET work_mem = '64kB';
SET gdpr.anonymise_batch_size = 100;
SELECT count(*), min(key::int), max(key::int), count(DISTINCT key) FROM gdpr.search('many@example.com');
SELECT * FROM gdpr.anonymise_search('many@example.com');
SELECT * FROM gdpr.anonymise_search('many@example.com');
RESET work_mem;
RESET gdpr.anonymise_batch_size;
SELECT count(*) FILTER (WHERE email IS DISTINCT FROM 'many@example.com') AS anonymised,
       (SELECT count(*) FROM gdpr.marker WHERE rel = 'srch.many'::regclass) AS marked
  FROM srch.many;

-- clean up
SELECT count(gdpr.unregister(rel)) FROM gdpr.registered_table
 WHERE rel::text LIKE 'srch.%';
SET client_min_messages = warning;
DROP SCHEMA srch CASCADE;
RESET client_min_messages;
REVOKE ALL ON FUNCTION gdpr.search(text) FROM regress_search_reader;
DROP ROLE regress_search_reader;
