-- Security: privileges of non-superusers, and search_path capture.
\set SHOW_CONTEXT never

-- a role without EXECUTE can call nothing
SET ROLE regress_gdpr_nobody;
SELECT gdpr.register('a_person', '{}');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.is_anonymised('a_person', 1);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.log_status;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.registered_columns;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) FROM gdpr.queue;
SELECT count(*) FROM gdpr.queued_events;
\echo sqlstate :LAST_ERROR_SQLSTATE
INSERT INTO gdpr.marker VALUES ('a_person', '99');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the administrator role of the README works on its own tables, and its
-- deletes are logged although it has no privilege on the queue
GRANT CREATE ON SCHEMA public TO regress_gdpr_admin;
SET ROLE regress_gdpr_admin;
CREATE TABLE sec_customer (id int PRIMARY KEY, email text);
INSERT INTO sec_customer VALUES (1, 'a@example.com'), (2, 'b@example.com');
SELECT gdpr.register('sec_customer', ARRAY['email']);
SELECT gdpr.anonymise('sec_customer', 1);
DELETE FROM sec_customer WHERE id = 2;
SELECT queued > 0 AS queued FROM gdpr.log_status;
SELECT count(*) FROM gdpr.queue;
SELECT count(*) FROM gdpr.queued_events;
\echo sqlstate :LAST_ERROR_SQLSTATE
-- it cannot register a table it does not own
SELECT gdpr.register('a_kept', '{}');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT kind, key FROM gdpr.queued_events WHERE table_name = 'public.sec_customer' ORDER BY seq, ord;

-- search_path capture: functions and operators in a schema earlier in the
-- path, shadowing what gdpr uses, are never called
CREATE SCHEMA evil;
CREATE TABLE evil.calls (what text);
CREATE FUNCTION evil.trap(text) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO evil.calls VALUES ($1); RETURN true; END $$;
CREATE FUNCTION evil.int4eq(integer, integer) RETURNS boolean LANGUAGE sql AS
$$ SELECT evil.trap('=') AND $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.int4eq);
CREATE FUNCTION evil.int4gt(integer, integer) RETURNS boolean LANGUAGE sql AS
$$ SELECT evil.trap('>') AND $1 OPERATOR(pg_catalog.>) $2 $$;
CREATE OPERATOR evil.> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.int4gt);
CREATE FUNCTION evil.textcat(text, text) RETURNS text LANGUAGE sql AS
$$ SELECT CASE WHEN evil.trap('||') THEN $1 OPERATOR(pg_catalog.||) $2 END $$;
CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.textcat);
CREATE FUNCTION evil."left"(text, integer) RETURNS text LANGUAGE sql AS
$$ SELECT CASE WHEN evil.trap('left') THEN pg_catalog.left($1, $2) END $$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS
$$ SELECT CASE WHEN evil.trap('unnest') THEN x END FROM pg_catalog.unnest($1) x $$;
CREATE FUNCTION evil.count(anyelement) RETURNS bigint LANGUAGE sql AS
$$ SELECT CASE WHEN evil.trap('count') THEN 0::bigint END $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS
$$ SELECT CASE WHEN evil.trap('now') THEN pg_catalog.now() END $$;
CREATE FUNCTION evil.md5(text) RETURNS text LANGUAGE sql AS
$$ SELECT CASE WHEN evil.trap('md5') THEN pg_catalog.md5($1) END $$;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT ALL ON evil.calls TO PUBLIC;

CREATE TABLE sec_person (id integer PRIMARY KEY, email varchar(30) UNIQUE, code uuid NOT NULL UNIQUE, note text);
CREATE TABLE sec_post (id integer PRIMARY KEY, author integer REFERENCES sec_person ON DELETE SET NULL, body text);
INSERT INTO sec_person SELECT g, 'p' || g || '@example.com', gen_random_uuid(), 'n' FROM generate_series(1, 6) g;
INSERT INTO sec_post SELECT g, g, 'post' FROM generate_series(1, 6) g;
SET search_path = evil, public;
SELECT gdpr.register('sec_person', ARRAY['email', 'code', 'note']);
SELECT gdpr.set_anonymiser('sec_person', 'email', 'email');
SELECT gdpr.set_anonymiser('sec_person', 'note', 'hash');
SELECT gdpr.register('sec_post', ARRAY['body']);
SELECT gdpr.on_delete_anonymise('sec_post', 'sec_post_author_fkey');
SELECT gdpr.anonymise('sec_person', 1);
SELECT gdpr.anonymise_many('sec_person', ARRAY[2, 3]);
SELECT gdpr.is_anonymised('sec_person', 3);
DELETE FROM sec_person WHERE id = 4;
TRUNCATE sec_post;
RESET search_path;
SELECT * FROM evil.calls;
SELECT email FROM sec_person ORDER BY id;
