-- gdpr.export() and gdpr.export_search(): SPEC section 7
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS gdpr;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE SCHEMA exp;
CREATE TABLE exp.address (
    id      int PRIMARY KEY,
    street  text NOT NULL,
    city    text
);
CREATE TABLE exp.person (
    id            int PRIMARY KEY,
    name          text NOT NULL,
    email         text,
    password_hash text,
    prefs         jsonb,
    active        boolean NOT NULL DEFAULT true,
    score         numeric,
    address_id    int REFERENCES exp.address
);
CREATE TABLE exp.comment (
    id         int PRIMARY KEY,
    author_id  int REFERENCES exp.person,
    reply_to   int REFERENCES exp.comment,      -- self-reference
    body       text
);
-- two-column key, references two registered tables
CREATE TABLE exp.likes (
    person_id  int REFERENCES exp.person,
    comment_id int REFERENCES exp.comment,
    PRIMARY KEY (person_id, comment_id)
);
-- not registered: never exported, although it references person
CREATE TABLE exp.audit (id int PRIMARY KEY, person_id int REFERENCES exp.person, what text);

-- partitioned, two-column key; the foreign keys exist on the partitions only,
-- and one partition has none
CREATE TABLE exp.payment (
    paid_at   date NOT NULL,
    id        int NOT NULL,
    person_id int NOT NULL,
    amount    numeric(6,2),
    PRIMARY KEY (paid_at, id)
) PARTITION BY RANGE (paid_at);
CREATE TABLE exp.payment_2024 PARTITION OF exp.payment FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE exp.payment_2025 PARTITION OF exp.payment FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE exp.payment_2026 PARTITION OF exp.payment FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
ALTER TABLE exp.payment_2024 ADD CONSTRAINT payment_2024_person_fkey FOREIGN KEY (person_id) REFERENCES exp.person;
ALTER TABLE exp.payment_2025 ADD CONSTRAINT payment_2025_person_fkey FOREIGN KEY (person_id) REFERENCES exp.person;

INSERT INTO exp.address VALUES (1, 'High Street 1', 'Leeds'), (2, 'Low Road 2', NULL);
INSERT INTO exp.person VALUES
    (1, 'Alice', 'alice@example.com', 'x1', '{"lang": "en", "tags": [1, 2]}', true, 12.50, 1),
    (2, 'Bob', 'BOB@example.com', 'x2', NULL, false, NULL, 1),       -- shares Alice's address
    (3, 'Carol', 'carol@example.com', 'x3', '[]', true, 0, 2);
INSERT INTO exp.comment VALUES
    (10, 1, NULL, 'Alice writes'),
    (11, 2, 10, 'Bob replies to Alice'),      -- a child of Alice's comment
    (12, 2, NULL, 'Bob alone'),
    (13, 3, 11, 'Carol replies to Bob'),      -- a grandchild of Alice's comment
    (14, 1, 12, 'Alice replies to Bob');
INSERT INTO exp.likes VALUES (1, 12), (2, 10), (3, 12);
INSERT INTO exp.audit VALUES (1, 1, 'login');
INSERT INTO exp.payment VALUES
    ('2025-03-01', 2, 1, 20.00),
    ('2024-05-01', 7, 1, 10.50),
    ('2026-02-01', 1, 1, 5.00),               -- partition without a foreign key
    ('2024-05-01', 3, 1, 1.25),
    ('2025-03-01', 9, 2, 99.99);

-- errors before anything is registered
SELECT gdpr.export('exp.person', '1');
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.export_search('alice@example.com');

SELECT gdpr.register('exp.person', ARRAY['name', 'email', 'password_hash'],
                     search_fields => ARRAY['email'],
                     export_exclude => ARRAY['password_hash']);
SELECT gdpr.register('exp.address', ARRAY['street']);
SELECT gdpr.register('exp.comment', ARRAY['body'], export_fields => ARRAY['author_id', 'body']);
SELECT gdpr.register('exp.likes', ARRAY[]::text[]);
SELECT gdpr.register('exp.payment', ARRAY[]::text[]);

-- the person, their comments, the replies to them (recursively), the likes
-- of their comments and by them, their payments in every partition (each
-- once, ordered by key value); export columns only; typed JSON values.
-- No address: the foreign key to it is not followed yet.
SELECT jsonb_pretty(gdpr.export('exp.person', '1'));

-- the key in its own type, and as text in a non-canonical form
SELECT gdpr.export('exp.person', 1) = gdpr.export('exp.person', '1') AS same_int,
       gdpr.export('exp.person', ' 001') = gdpr.export('exp.person', '1') AS same_text;
-- a two-column key, as a row literal and as a row value
SELECT jsonb_pretty(gdpr.export('exp.payment', '(2024-05-01,7)'));
SELECT gdpr.export('exp.payment', ROW('2024-05-01'::date, 7)) =
       gdpr.export('exp.payment', '(2024-05-01,7)') AS same_row;

-- following the person's address: the address enters, but not what else
-- references it (Bob lives there too)
SELECT gdpr.export_follow('exp.person', 'person_address_id_fkey');
SELECT jsonb_pretty(gdpr.export('exp.person', '3'));
SELECT gdpr.export('exp.person', '1') -> 'exp.address' AS alice_address,
       gdpr.export('exp.person', '1') -> 'exp.person' @> '[{"id": 2}]' AS bob_in_alice_export;
-- starting from the address itself, its children (the people living
-- there) are exported, and their addresses are followed back to it
SELECT jsonb_object_keys(gdpr.export('exp.address', 2)) ORDER BY 1;
SELECT gdpr.drop_export_follow('exp.person', 'person_address_id_fkey');
SELECT gdpr.export('exp.person', '3') ? 'exp.address' AS address_after_drop;
-- the same rule declared on the constraint, then taken away again
COMMENT ON CONSTRAINT person_address_id_fkey ON exp.person IS 'gdpr: {"export": "follow"}';
SELECT gdpr.export('exp.person', '3') -> 'exp.address' AS declared_follow;
COMMENT ON CONSTRAINT person_address_id_fkey ON exp.person IS NULL;
SELECT gdpr.export('exp.person', '3') ? 'exp.address' AS after_comment_removed;

-- cycles end: a self-referencing cycle and two tables referencing each other
CREATE TABLE exp.node (id int PRIMARY KEY, parent_id int REFERENCES exp.node, other_id int);
INSERT INTO exp.node VALUES (1, NULL, NULL), (2, 1, NULL), (3, 2, NULL), (4, NULL, NULL);
UPDATE exp.node SET parent_id = 3 WHERE id = 1;
CREATE TABLE exp.ping (id int PRIMARY KEY, pong_id int);
CREATE TABLE exp.pong (id int PRIMARY KEY, ping_id int REFERENCES exp.ping);
ALTER TABLE exp.ping ADD CONSTRAINT ping_pong_fkey FOREIGN KEY (pong_id) REFERENCES exp.pong;
INSERT INTO exp.ping VALUES (1, NULL), (2, NULL);
INSERT INTO exp.pong VALUES (1, 1), (2, 2);
UPDATE exp.ping SET pong_id = id;
SELECT gdpr.register('exp.node', ARRAY[]::text[]);
SELECT gdpr.register('exp.ping', ARRAY[]::text[]);
SELECT gdpr.register('exp.pong', ARRAY[]::text[]);
SELECT gdpr.export('exp.node', 2);
SELECT gdpr.export('exp.ping', 1);
-- a followed parent is a leaf: 5's parent 4 enters, but not 4's other
-- child 6, nor 4's own parent 7
INSERT INTO exp.node VALUES (7, NULL, NULL), (5, 4, NULL), (6, 4, NULL);
UPDATE exp.node SET parent_id = 7 WHERE id = 4;
SELECT gdpr.export('exp.node', 5);
SELECT gdpr.export_follow('exp.node', 'node_parent_id_fkey');
SELECT gdpr.export('exp.node', 5);
-- a row reached by following and also as a child is expanded: from 3,
-- its parent 2 is followed first, then reached as the child of 1 (a child
-- of 3), so 2's other child 8 enters too
INSERT INTO exp.node VALUES (8, 2, NULL);
SELECT gdpr.export('exp.node', 3);

-- set-based: one statement per foreign key and batch, not one per row.
-- 200 comments of one person, each with 3 likes: the likes are fetched
-- with a few sequential scans, not 200.
INSERT INTO exp.person (id, name) VALUES (100, 'Busy');
INSERT INTO exp.comment SELECT 1000 + g, 100, NULL, 'c' || g FROM generate_series(1, 200) g;
INSERT INTO exp.likes SELECT p, 1000 + g FROM generate_series(1, 200) g, generate_series(1, 3) p;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT pg_stat_force_next_flush();
SELECT seq_scan AS likes_scans_before FROM pg_stat_user_tables WHERE relid = 'exp.likes'::regclass \gset
SELECT jsonb_array_length(e -> 'exp.comment') AS comments,
       jsonb_array_length(e -> 'exp.likes') AS likes
  FROM gdpr.export('exp.person', 100) e;
SELECT pg_stat_force_next_flush();
SELECT seq_scan - :likes_scans_before BETWEEN 1 AND 4 AS few_statements
  FROM pg_stat_user_tables WHERE relid = 'exp.likes'::regclass;
RESET enable_indexscan;
RESET enable_bitmapscan;
DELETE FROM exp.likes WHERE comment_id > 1000;
DELETE FROM exp.comment WHERE author_id = 100;

-- export_search: every hit's export merged, each row once
SELECT jsonb_pretty(gdpr.export_search('ALICE@example.com'));
UPDATE exp.person SET email = 'alice@example.com' WHERE id = 2;
SELECT e -> 'exp.person' AS people,
       jsonb_array_length(e -> 'exp.comment') AS comments,
       jsonb_array_length(e -> 'exp.likes') AS likes,
       jsonb_array_length(e -> 'exp.payment') AS payments,
       (SELECT count(DISTINCT x) = count(*) FROM jsonb_array_elements(e -> 'exp.comment') x) AS each_once
  FROM gdpr.export_search('alice@EXAMPLE.com') e;
SELECT gdpr.export_search('nobody@example.com'), gdpr.export_search(''),
       gdpr.export_search(NULL);

-- privileges: the caller's own, no write privilege needed
CREATE ROLE regress_export_reader;
GRANT USAGE ON SCHEMA exp TO regress_export_reader;
GRANT EXECUTE ON FUNCTION gdpr.export(regclass, text), gdpr.export(regclass, anyelement),
                          gdpr.export_search(text) TO regress_export_reader;
GRANT SELECT (id, name, address_id) ON exp.person TO regress_export_reader;  -- no email
GRANT SELECT ON exp.comment, exp.payment TO regress_export_reader;            -- no likes
ALTER TABLE exp.comment ENABLE ROW LEVEL SECURITY;
CREATE POLICY not_bob ON exp.comment USING (author_id <> 2);
SET ROLE regress_export_reader;
-- no email (column privilege), no likes (no SELECT), no comments by Bob (RLS)
-- and so no reply to them either
SELECT jsonb_pretty(gdpr.export('exp.person', 1));
-- searching by e-mail needs the e-mail column
SELECT gdpr.export_search('alice@example.com');
-- a table the caller cannot read cannot be exported from
SELECT gdpr.export('exp.likes', '(1,12)');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- RLS hides the start row: as if there were no such row
SET ROLE regress_export_reader;
SELECT gdpr.export('exp.comment', 11);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- without EXECUTE
CREATE ROLE regress_export_nobody;
GRANT USAGE ON SCHEMA exp TO regress_export_nobody;
SET ROLE regress_export_nobody;
SELECT gdpr.export('exp.person', 1);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- errors
SELECT gdpr.export(0::regclass, 1);              -- no such table
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.export('exp.audit', 1);              -- not registered
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.export('exp.person', 42);            -- no such row
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.export('exp.person', 'forty-two');   -- malformed key
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.export('exp.payment', '(2024-05-01)'); -- malformed two-column key
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.export('exp.payment', '(2024-05-02,7)'); -- no such row
\echo :LAST_ERROR_SQLSTATE
SELECT gdpr.export('exp.person', NULL::text);    -- STRICT: NULL


-- a two-column foreign key into the partitioned table, declared on a
-- plain table (PostgreSQL adds a clone of it for each partition), and a
-- foreign key declared on a partitioned table (cloned onto its partitions):
-- every row once; a json column stays nested JSON
CREATE TABLE exp.refund (
    id         int PRIMARY KEY,
    paid_at    date,
    payment_id int,
    note       json,
    FOREIGN KEY (paid_at, payment_id) REFERENCES exp.payment
);
CREATE TABLE exp.visit (
    at        date NOT NULL,
    person_id int REFERENCES exp.person,
    s         text,                             -- named like the aliases
    t         int,                              -- of the generated SQL
    PRIMARY KEY (at, person_id)
) PARTITION BY RANGE (at);
CREATE TABLE exp.visit_a PARTITION OF exp.visit FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE exp.visit_b PARTITION OF exp.visit FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO exp.refund VALUES (1, '2024-05-01', 7, '{"why": ["late", 2]}'), (2, '2025-03-01', 9, NULL),
    (3, NULL, NULL, '"x"');
INSERT INTO exp.visit VALUES ('2024-02-02', 1, 'x', 1), ('2025-02-02', 1, NULL, NULL), ('2025-02-02', 2, 'y', 2);
SELECT gdpr.register('exp.refund', ARRAY[]::text[]);
SELECT gdpr.register('exp.visit', ARRAY[]::text[]);
SELECT e -> 'exp.refund' AS refunds, e -> 'exp.visit' AS visits
  FROM gdpr.export('exp.person', 1) e;
SELECT gdpr.export('exp.payment', '(2025-03-01,9)');

-- the document is written in jsonb's binary format (src/jsonb_build.c):
-- a table of 100 rows (past jsonb's stride of 32 children, where lengths
-- turn into offsets), rows with nested values, NULLs and strings that need
-- escaping, and 42 tables whose names sort by length, then bytes.  It
-- equals, as jsonb and as text, what PostgreSQL's own functions build.
CREATE TABLE exp.big (id int PRIMARY KEY, note text, j jsonb, n numeric);
INSERT INTO exp.big SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'row "' || g || E'"\\\n' END,
  jsonb_build_object('g', g, 'a', jsonb_build_array(g, 'x', NULL)), g / 3.0
  FROM generate_series(1, 100) g;
SELECT gdpr.register('exp.big', ARRAY['note']);
SELECT gdpr.export('exp.big', 1) =
       jsonb_build_object('exp.big', (SELECT jsonb_agg(to_jsonb(b)) FROM exp.big b WHERE id = 1))
  AS one_row;
CREATE TEMP VIEW big_names AS
  SELECT 't' || repeat('x', g % 5) || g AS name FROM generate_series(1, 40) g;
DO $$
DECLARE
	name text;
BEGIN
	FOR name IN SELECT n.name FROM big_names n LOOP
		EXECUTE format('CREATE TABLE exp.%s (id int PRIMARY KEY,'
		               ' big_id int REFERENCES exp.big, v text)', name);
		EXECUTE format('INSERT INTO exp.%s VALUES (1, 1, %L)', name, 'value of ' || name);
		PERFORM gdpr.register(('exp.' || name)::regclass, ARRAY['v']);
	END LOOP;
END $$;
CREATE TABLE exp.bigkid (id int PRIMARY KEY, big_id int REFERENCES exp.big, v text, note text);
INSERT INTO exp.bigkid SELECT g, 1, 'kid ' || g, n.note FROM generate_series(1, 100) g
  JOIN exp.big n ON n.id = g;
SELECT gdpr.register('exp.bigkid', ARRAY['v']);
CREATE TEMP VIEW big_expected AS
  SELECT jsonb_object_agg(t, rows) AS doc FROM (
    SELECT 'exp.' || name AS t,
           jsonb_build_array(jsonb_build_object('id', 1, 'big_id', 1, 'v', 'value of ' || name)) AS rows
      FROM big_names
    UNION ALL SELECT 'exp.bigkid', (SELECT jsonb_agg(to_jsonb(k) ORDER BY id) FROM exp.bigkid k)
    UNION ALL SELECT 'exp.big', (SELECT jsonb_agg(to_jsonb(b)) FROM exp.big b WHERE id = 1)) x;
SELECT e.doc = x.doc AS equal, e.doc::text = x.doc::text AS same_text,
       (SELECT count(*) FROM jsonb_object_keys(e.doc)) AS tables,
       jsonb_array_length(e.doc -> 'exp.bigkid') AS kids,
       e.doc -> 'exp.bigkid' -> 70 AS kid_71,
       e.doc -> 'exp.bigkid' -> 99 AS kid_100,
       e.doc -> 'exp.txxxx4' AS txxxx4
  FROM (SELECT gdpr.export('exp.big', 1) AS doc) e, big_expected x;
DROP VIEW big_expected, big_names;

-- clean up
SELECT count(gdpr.unregister(rel)) FROM gdpr.registered_table
 WHERE rel::text LIKE 'exp.%';
SET client_min_messages = warning;
DROP SCHEMA exp CASCADE;
RESET client_min_messages;
REVOKE ALL ON FUNCTION gdpr.export(regclass, text), gdpr.export(regclass, anyelement),
                       gdpr.export_search(text) FROM regress_export_reader;
DROP ROLE regress_export_reader;
DROP ROLE regress_export_nobody;
