-- Retention policies (storage limitation): rows older than a period are
-- anonymised or deleted by gdpr.apply_retention().
\set SHOW_CONTEXT never
TRUNCATE gdpr.queue;
CREATE TABLE r_person (id int PRIMARY KEY, name text, email text UNIQUE,
                       seen date, created timestamp, plain int);
CREATE TABLE r_comment (id int PRIMARY KEY,
                        author_id int CONSTRAINT r_comment_author_fk REFERENCES r_person ON DELETE SET NULL,
                        body text);
CREATE TABLE r_session (id int PRIMARY KEY, person_id int REFERENCES r_person ON DELETE CASCADE,
                        token text, last_seen timestamptz);
CREATE TABLE r_ref (id int PRIMARY KEY, label text, at timestamptz);
CREATE TABLE r_unreg (id int PRIMARY KEY, at timestamptz);
INSERT INTO r_person SELECT g, 'Person ' || g, 'p' || g || '@example.com',
       CASE WHEN g <= 6 THEN current_date - 400 + g ELSE current_date - g END,
       now()::timestamp - (g || ' days')::interval, g
  FROM generate_series(1, 10) g;
UPDATE r_person SET seen = NULL WHERE id = 5;
INSERT INTO r_comment SELECT g, g, 'comment ' || g FROM generate_series(1, 10) g;
INSERT INTO r_session SELECT g, g, 'token ' || g,
       now() - CASE WHEN g % 2 = 0 THEN interval '100 days' ELSE interval '10 days' END
  FROM generate_series(1, 10) g;
INSERT INTO r_ref VALUES (1, 'one', now() - interval '1 year');
SELECT gdpr.register('r_person', ARRAY['name', 'email']);
SELECT gdpr.set_anonymiser('r_person', 'email', 'email');
SELECT gdpr.register('r_comment', ARRAY['body']);
SELECT gdpr.on_delete_anonymise('r_comment', 'r_comment_author_fk');
SELECT gdpr.register('r_session', ARRAY['token']);
SELECT gdpr.register('r_ref', ARRAY['label'], can_anonymise => false);
SELECT gdpr.register('r_unreg', ARRAY[]::text[]);
SELECT gdpr.unregister('r_unreg');

-- refusals, each with its SQLSTATE, and none of them stores a policy
SELECT gdpr.set_retention('r_unreg', 'at', interval '1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_person', 'no_such_column', interval '1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_person', 'plain', interval '1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_person', 'name', interval '1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_person', 'xmin', interval '1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_person', 'seen', interval '0');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_person', 'seen', interval '-3 days');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_person', 'seen', interval '1 mon -31 days');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_person', 'seen', interval '1 year', 'truncate');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_ref', 'at', interval '1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('r_unreg', ARRAY[]::text[]);
SELECT gdpr.set_retention('r_unreg', 'at', interval '1 day', 'anonymise');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_person', 'seen', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention('r_person', 'seen', interval '1 day', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_retention(NULL, 'seen', interval '1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
SET ROLE regress_gdpr_admin;   -- EXECUTE, but does not own the table
SELECT gdpr.set_retention('r_person', 'seen', interval '1 year');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SET ROLE regress_gdpr_nobody;  -- no EXECUTE at all
SELECT gdpr.set_retention('r_person', 'seen', interval '1 year');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.apply_retention();
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT gdpr.drop_retention('r_person');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.apply_retention('r_person');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) AS policies FROM gdpr.retention_policy;

-- policies: one per table, set again to replace; 'delete' is allowed on a
-- table without PII columns or with can_anonymise = false
SELECT gdpr.set_retention('r_person', 'created', interval '1 day', 'delete');
SELECT gdpr.set_retention('r_person', 'seen', interval '1 year');
SELECT gdpr.set_retention('r_session', column_name => 'last_seen', keep => interval '90 days',
                          action => 'delete');
SELECT gdpr.set_retention('r_ref', 'at', interval '6 months', 'delete');
SELECT gdpr.set_retention('r_unreg', 'at', interval '6 months', 'delete');
SELECT rel, column_name, keep, action, due, last_applied_at, last_done
  FROM gdpr.retention ORDER BY rel::text;

-- a dry run counts and changes nothing (a NULL is never due)
SELECT * FROM gdpr.apply_retention(dry_run => true) ORDER BY rel::text;
SELECT * FROM gdpr.apply_retention('r_person', dry_run => true);
SELECT count(*) FROM gdpr.marker WHERE rel = 'r_person'::regclass;
SELECT count(*) FROM r_session;
SELECT count(*) FROM gdpr.queued_events;
SELECT count(*) FROM gdpr.retention WHERE last_applied_at IS NOT NULL;

-- 'anonymise' erases the due rows as anonymise_many does: markers and
-- events; a row anonymised before is neither due nor done again
SELECT gdpr.anonymise('r_person', 2);
TRUNCATE gdpr.queue;
SELECT * FROM gdpr.apply_retention('r_person');
SELECT id, name, email, seen IS NULL AS seen_null FROM r_person ORDER BY id;
SELECT key FROM gdpr.marker WHERE rel = 'r_person'::regclass ORDER BY key::int;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
SELECT rel, due, last_applied_at IS NOT NULL AS applied, last_done
  FROM gdpr.retention WHERE rel = 'r_person'::regclass;
-- idempotent: a second run finds nothing due
SELECT * FROM gdpr.apply_retention('r_person');
SELECT count(*) FROM gdpr.queued_events;
SELECT last_done FROM gdpr.retention WHERE rel = 'r_person'::regclass;

-- 'delete' is a plain DELETE by the caller: delete events, the foreign
-- keys' own actions and ON DELETE ANONYMISE apply
TRUNCATE gdpr.queue;
SELECT gdpr.set_retention('r_person', 'created', interval '8 days', 'delete');
SELECT * FROM gdpr.apply_retention('r_person');
SELECT id FROM r_person ORDER BY id;
SELECT id, author_id, body FROM r_comment WHERE id >= 8 ORDER BY id;
SELECT id FROM r_session WHERE id >= 8 ORDER BY id;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;
SELECT count(*) FROM gdpr.marker WHERE rel = 'r_person'::regclass AND key::int >= 9;

-- every policy at once, in the order of the tables' names
TRUNCATE gdpr.queue;
SELECT * FROM gdpr.apply_retention();
SELECT id FROM r_session ORDER BY id;
SELECT count(*) FROM r_ref;
SELECT kind, table_name, count(*) FROM gdpr.queued_events GROUP BY 1, 2 ORDER BY 1, 2;

-- the caller's own rights: a role that may not delete gets the error, and
-- nothing is erased
INSERT INTO r_ref VALUES (2, 'two', now() - interval '1 year');
GRANT SELECT ON r_ref TO regress_gdpr_admin;
SET ROLE regress_gdpr_admin;
SELECT * FROM gdpr.apply_retention('r_ref', dry_run => true);
SELECT * FROM gdpr.apply_retention('r_ref');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT count(*) FROM r_ref;
REVOKE SELECT ON r_ref FROM regress_gdpr_admin;

-- a policy whose table has since lost its PII columns is skipped with a
-- WARNING, and the others still apply
SELECT gdpr.set_retention('r_comment', 'id', interval '1 day');
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER TABLE r_comment ADD COLUMN posted date DEFAULT current_date - 30;
SELECT gdpr.set_retention('r_comment', 'posted', interval '7 days');
ALTER TABLE r_comment DROP COLUMN body;
SELECT * FROM gdpr.apply_retention() ORDER BY rel::text;
SELECT count(*) FROM r_comment WHERE author_id IS NOT NULL;
SELECT gdpr.drop_retention('r_comment');

-- the procedure form commits per batch, cannot run in a transaction block,
-- and continues after an interruption
CREATE TABLE r_big (id int PRIMARY KEY, name text, at timestamptz);
INSERT INTO r_big SELECT g, 'name ' || g,
       now() - CASE WHEN g % 3 = 0 THEN interval '1 day' ELSE interval '30 days' END
  FROM generate_series(1, 40) g;
SELECT gdpr.register('r_big', ARRAY['name']);
SELECT gdpr.set_retention('r_big', 'at', interval '1 week');
CREATE FUNCTION r_stop() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN IF NEW.id = 25 THEN RAISE EXCEPTION 'interrupted at %', NEW.id; END IF; RETURN NEW; END$$;
CREATE TRIGGER r_stop BEFORE UPDATE ON r_big FOR EACH ROW EXECUTE FUNCTION r_stop();
SET gdpr.anonymise_batch_size = 7;
BEGIN;
CALL gdpr.apply_retention_batched();
\echo sqlstate :LAST_ERROR_SQLSTATE
ROLLBACK;
TRUNCATE gdpr.queue;
CALL gdpr.apply_retention_batched();
\echo sqlstate :LAST_ERROR_SQLSTATE
-- the batches before the failing one stay committed
SELECT count(*) AS anonymised FROM r_big WHERE name IS NULL;
SELECT count(*) AS markers FROM gdpr.marker WHERE rel = 'r_big'::regclass;
DROP TRIGGER r_stop ON r_big;
CALL gdpr.apply_retention_batched();
SELECT count(*) FILTER (WHERE name IS NULL) AS anonymised,
       count(*) FILTER (WHERE name IS NULL AND at > now() - interval '1 week') AS too_early
  FROM r_big;
SELECT count(*) AS markers FROM gdpr.marker WHERE rel = 'r_big'::regclass;
SELECT count(*) AS events, count(DISTINCT key) AS keys FROM gdpr.queued_events
 WHERE kind = 'anonymise' AND table_name = 'public.r_big';
SELECT last_done FROM gdpr.retention WHERE rel = 'r_big'::regclass;
-- the procedure's 'delete' too
SELECT gdpr.set_retention('r_big', 'at', interval '1 week', 'delete');
TRUNCATE gdpr.queue;
CALL gdpr.apply_retention_batched();
RESET gdpr.anonymise_batch_size;
SELECT count(*) AS left, min(at) > now() - interval '1 week' AS only_recent FROM r_big;
SELECT count(*) FROM gdpr.queued_events WHERE kind = 'delete' AND table_name = 'public.r_big';
SELECT count(*) FROM gdpr.marker WHERE rel = 'r_big'::regclass;

-- declarations: the table key "retention"; a table declaration without it
-- has no policy
CREATE TABLE r_decl (id int PRIMARY KEY, name text, last_seen timestamptz);
COMMENT ON COLUMN r_decl.name IS 'gdpr: {"pii": true}';
COMMENT ON TABLE r_decl IS 'gdpr: {"retention": {"column": "last_seen", "keep": "90 days", "action": "delete"}}';
SELECT rel, column_name, keep, action FROM gdpr.retention WHERE rel = 'r_decl'::regclass;
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"retention": {"column": "last_seen", "keep": "2 years"}}';
SELECT rel, column_name, keep, action FROM gdpr.retention WHERE rel = 'r_decl'::regclass;
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"retention": {"column": "last_seen", "keep": "2 years"}}';
SELECT rel, column_name, keep, action FROM gdpr.retention WHERE rel = 'r_decl'::regclass;
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"can_anonymise": true}';
SELECT count(*) FROM gdpr.retention WHERE rel = 'r_decl'::regclass;
-- malformed ones are refused with the position, and change nothing
COMMENT ON TABLE r_decl IS 'gdpr: {"retention": {"column": "last_seen", "keep": "90 days"}}';
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"retention": "90 days"}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"retention": {"column": "last_seen"}}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"retention": {"column": "last_seen", "keep": "ninety days"}}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"retention": {"column": "last_seen", "keep": "9 days", "action": "drop"}}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"retention": {"column": "last_seen", "keep": "9 days", "when": 1}}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"retention": {"column": "last_seen", "keep": 9}}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"retention": {"column": "name", "keep": "9 days"}}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SECURITY LABEL FOR gdpr ON TABLE r_decl IS '{"retention": {"column": "last_seen", "keep": "-9 days"}}';
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT rel, column_name, keep, action FROM gdpr.retention WHERE rel = 'r_decl'::regclass;

-- a policy goes with its table, its column, and the table's registration
SELECT gdpr.set_retention('r_unreg', 'at', interval '1 day', 'delete');
ALTER TABLE r_decl DROP COLUMN last_seen;
SELECT count(*) FROM gdpr.retention_policy WHERE rel = 'r_decl'::regclass;
SELECT gdpr.unregister('r_unreg');
SELECT count(*) FROM gdpr.retention_policy WHERE rel = 'r_unreg'::regclass;
SELECT gdpr.drop_retention('r_session');
SELECT gdpr.drop_retention('r_session');
\echo sqlstate :LAST_ERROR_SQLSTATE
DROP TABLE r_big;
SELECT rel FROM gdpr.retention_policy ORDER BY rel::text;

DROP TABLE r_comment, r_session, r_person, r_ref, r_unreg, r_decl;
DROP FUNCTION r_stop();
SELECT count(*) FROM gdpr.retention_policy;
TRUNCATE gdpr.queue;
