-- ON DELETE ANONYMISE: rows of a registered child table that reference a
-- deleted row are anonymised (marker + event) before the constraint's own
-- SET NULL / SET DEFAULT clears the reference.
\set SHOW_CONTEXT never
TRUNCATE gdpr.queue;
CREATE TABLE o_person (id int PRIMARY KEY, name text);
CREATE TABLE o_comment (
    id int PRIMARY KEY,
    author_id int CONSTRAINT o_comment_author_fk REFERENCES o_person ON DELETE SET NULL,
    body text NOT NULL,
    signature text);
CREATE TABLE o_account (
    id int PRIMARY KEY,
    person_id int UNIQUE CONSTRAINT o_account_person_fk REFERENCES o_person ON DELETE SET DEFAULT DEFAULT NULL,
    login text NOT NULL UNIQUE);
INSERT INTO o_person SELECT g, 'Person ' || g FROM generate_series(1, 6) g;
INSERT INTO o_comment SELECT g, (g % 3) + 1, 'body ' || g, 'sig ' || g FROM generate_series(1, 9) g;
INSERT INTO o_account SELECT g, g, 'login' || g FROM generate_series(1, 6) g;

-- refusals: an unregistered child, a constraint of another table, a missing
-- one, a CASCADE / RESTRICT / NO ACTION constraint
SELECT gdpr.on_delete_anonymise('o_comment', 'o_comment_author_fk');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('o_comment', ARRAY['body', 'signature']);
SELECT gdpr.set_anonymiser('o_comment', 'body', 'value', '[removed]');
SELECT gdpr.register('o_account', ARRAY['login']);
SELECT gdpr.set_anonymiser('o_account', 'login', 'email');
SELECT gdpr.on_delete_anonymise('o_comment', 'o_account_person_fk');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.on_delete_anonymise('o_comment', 'no_such_fk');
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE TABLE o_cascade (id int PRIMARY KEY, person_id int CONSTRAINT o_cascade_fk REFERENCES o_person ON DELETE CASCADE, x text);
CREATE TABLE o_restrict (id int PRIMARY KEY, person_id int CONSTRAINT o_restrict_fk REFERENCES o_person ON DELETE RESTRICT, x text);
CREATE TABLE o_noaction (id int PRIMARY KEY, person_id int CONSTRAINT o_noaction_fk REFERENCES o_person, x text);
SELECT gdpr.register('o_cascade', ARRAY['x']);
SELECT gdpr.register('o_restrict', ARRAY['x']);
SELECT gdpr.register('o_noaction', ARRAY['x']);
SELECT gdpr.on_delete_anonymise('o_cascade', 'o_cascade_fk');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.on_delete_anonymise('o_restrict', 'o_restrict_fk');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.on_delete_anonymise('o_noaction', 'o_noaction_fk');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) FROM gdpr.constraint_rule;

-- many-to-one and one-to-one; the parent need not be registered
SELECT gdpr.on_delete_anonymise('o_comment', 'o_comment_author_fk');
SELECT gdpr.on_delete_anonymise('o_account', 'o_account_person_fk');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'o_person'::regclass AND tgname ILIKE 'gdpr%';
DELETE FROM o_person WHERE id = 2;
SELECT * FROM o_comment ORDER BY id;
SELECT * FROM o_account ORDER BY id;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;

-- multi-row deletes; already anonymised children are not anonymised again
SELECT gdpr.anonymise('o_comment', 3);
UPDATE o_comment SET signature = 'edited after anonymisation' WHERE id = 3;
TRUNCATE gdpr.queue;
DELETE FROM o_person WHERE id IN (1, 3);
SELECT * FROM o_comment ORDER BY id;
SELECT kind, table_name, key FROM gdpr.queued_events ORDER BY seq, ord;

-- a rollback undoes the anonymisation with the delete
BEGIN;
DELETE FROM o_person WHERE id = 4;
SELECT login FROM o_account WHERE id = 4;
ROLLBACK;
SELECT login, person_id, gdpr.is_anonymised('o_account', 4) FROM o_account WHERE id = 4;

-- a child with can_anonymise = false keeps its data; the action still applies
CREATE TABLE o_note (id int PRIMARY KEY, person_id int CONSTRAINT o_note_fk REFERENCES o_person ON DELETE SET NULL, txt text);
INSERT INTO o_note VALUES (1, 5, 'kept');
SELECT gdpr.register('o_note', ARRAY['txt'], can_anonymise => false);
SELECT gdpr.on_delete_anonymise('o_note', 'o_note_fk');
DELETE FROM o_person WHERE id = 5;
SELECT * FROM o_note;

-- deletes reached by a cascade, through a chain of three levels
CREATE TABLE o_org (id int PRIMARY KEY);
CREATE TABLE o_member (id int PRIMARY KEY, org_id int REFERENCES o_org ON DELETE CASCADE);
CREATE TABLE o_post (id int PRIMARY KEY, member_id int CONSTRAINT o_post_member_fk REFERENCES o_member ON DELETE SET NULL, txt text);
INSERT INTO o_org VALUES (1), (2);
INSERT INTO o_member VALUES (10, 1), (11, 1), (20, 2);
INSERT INTO o_post VALUES (100, 10, 'a'), (101, 11, 'b'), (102, 20, 'c');
SELECT gdpr.register('o_post', ARRAY['txt']);
SELECT gdpr.on_delete_anonymise('o_post', 'o_post_member_fk');
DELETE FROM o_org WHERE id = 1;
SELECT * FROM o_post ORDER BY id;

-- a composite foreign key
CREATE TABLE o_visit (site int, day date, PRIMARY KEY (site, day));
CREATE TABLE o_guest (id int PRIMARY KEY, site int, day date, name text,
    CONSTRAINT o_guest_visit_fk FOREIGN KEY (site, day) REFERENCES o_visit ON DELETE SET NULL);
INSERT INTO o_visit VALUES (1, '2024-01-01'), (1, '2024-01-02');
INSERT INTO o_guest VALUES (1, 1, '2024-01-01', 'Ann'), (2, 1, '2024-01-02', 'Bo');
SELECT gdpr.register('o_guest', ARRAY['name']);
SELECT gdpr.on_delete_anonymise('o_guest', 'o_guest_visit_fk');
DELETE FROM o_visit WHERE day = '2024-01-01';
SELECT * FROM o_guest ORDER BY id;

-- a partitioned child, and a partitioned parent
CREATE TABLE o_host (id int PRIMARY KEY, region int) ;
CREATE TABLE o_stay (day date, id int, host_id int CONSTRAINT o_stay_host_fk REFERENCES o_host ON DELETE SET NULL, guest text,
    PRIMARY KEY (day, id)) PARTITION BY RANGE (day);
CREATE TABLE o_stay_2024 PARTITION OF o_stay FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO o_host VALUES (1, 1), (2, 1);
INSERT INTO o_stay VALUES ('2024-03-01', 1, 1, 'Cy'), ('2024-03-02', 2, 2, 'Di');
SELECT gdpr.register('o_stay', ARRAY['guest']);
SELECT gdpr.on_delete_anonymise('o_stay', 'o_stay_host_fk');
DELETE FROM o_host WHERE id = 1;
SELECT * FROM o_stay ORDER BY id;

-- drop_on_delete_anonymise removes the rule, and the trigger with the last rule
SELECT gdpr.drop_on_delete_anonymise('o_comment', 'o_comment_author_fk');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'o_person'::regclass AND tgname ILIKE 'gdpr%';
SELECT gdpr.drop_on_delete_anonymise('o_account', 'o_account_person_fk');
SELECT gdpr.drop_on_delete_anonymise('o_note', 'o_note_fk');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'o_person'::regclass AND tgname ILIKE 'gdpr%';
SELECT gdpr.drop_on_delete_anonymise('o_account', 'o_account_person_fk');
\echo sqlstate :LAST_ERROR_SQLSTATE
DELETE FROM o_person WHERE id = 6;
SELECT login FROM o_account WHERE id = 6;

-- the reference is cleared in the anonymising UPDATE itself, as the
-- constraint would: only the columns a SET NULL (col) names, and a
-- reference column that is PII keeps its own method
CREATE TABLE o_tenant_user (tenant int, id int, PRIMARY KEY (tenant, id));
CREATE TABLE o_tenant_doc (id int PRIMARY KEY, tenant int NOT NULL, author int, title text,
    CONSTRAINT o_tenant_doc_author_fk FOREIGN KEY (tenant, author)
        REFERENCES o_tenant_user ON DELETE SET NULL (author));
CREATE TABLE o_tenant_note (id int PRIMARY KEY, tenant int, author int, txt text,
    CONSTRAINT o_tenant_note_author_fk FOREIGN KEY (tenant, author)
        REFERENCES o_tenant_user ON DELETE SET NULL);
INSERT INTO o_tenant_user VALUES (1, 10), (1, 11);
INSERT INTO o_tenant_doc VALUES (1, 1, 10, 'doc'), (2, 1, 11, 'other');
INSERT INTO o_tenant_note VALUES (1, 1, 10, 'note');
SELECT gdpr.register('o_tenant_doc', ARRAY['title']);
SELECT gdpr.register('o_tenant_note', ARRAY['txt', 'tenant']);
SELECT gdpr.set_anonymiser('o_tenant_note', 'tenant', 'value', '0');
SELECT gdpr.on_delete_anonymise('o_tenant_doc', 'o_tenant_doc_author_fk');
SELECT gdpr.on_delete_anonymise('o_tenant_note', 'o_tenant_note_author_fk');
DELETE FROM o_tenant_user WHERE id = 10;
SELECT * FROM o_tenant_doc ORDER BY id;
SELECT * FROM o_tenant_note ORDER BY id;

-- a referenced key whose type has no default ordering (a unique index with
-- an operator class that is not the type's default): the deleted rows' keys
-- are joined unsorted
CREATE FUNCTION o_pt_cmp(point, point) RETURNS int IMMUTABLE LANGUAGE sql AS
  $$SELECT CASE WHEN $1[0] < $2[0] OR ($1[0] = $2[0] AND $1[1] < $2[1]) THEN -1
                WHEN $1[0] = $2[0] AND $1[1] = $2[1] THEN 0 ELSE 1 END$$;
CREATE FUNCTION o_pt_lt(point, point) RETURNS bool IMMUTABLE LANGUAGE sql AS $$SELECT o_pt_cmp($1, $2) < 0$$;
CREATE FUNCTION o_pt_le(point, point) RETURNS bool IMMUTABLE LANGUAGE sql AS $$SELECT o_pt_cmp($1, $2) <= 0$$;
CREATE FUNCTION o_pt_eq(point, point) RETURNS bool IMMUTABLE LANGUAGE sql AS $$SELECT o_pt_cmp($1, $2) = 0$$;
CREATE FUNCTION o_pt_ge(point, point) RETURNS bool IMMUTABLE LANGUAGE sql AS $$SELECT o_pt_cmp($1, $2) >= 0$$;
CREATE FUNCTION o_pt_gt(point, point) RETURNS bool IMMUTABLE LANGUAGE sql AS $$SELECT o_pt_cmp($1, $2) > 0$$;
CREATE OPERATOR |<| (LEFTARG = point, RIGHTARG = point, FUNCTION = o_pt_lt);
CREATE OPERATOR |<=| (LEFTARG = point, RIGHTARG = point, FUNCTION = o_pt_le);
CREATE OPERATOR |=| (LEFTARG = point, RIGHTARG = point, FUNCTION = o_pt_eq);
CREATE OPERATOR |>=| (LEFTARG = point, RIGHTARG = point, FUNCTION = o_pt_ge);
CREATE OPERATOR |>| (LEFTARG = point, RIGHTARG = point, FUNCTION = o_pt_gt);
CREATE OPERATOR CLASS o_pt_ops FOR TYPE point USING btree AS
  OPERATOR 1 |<|, OPERATOR 2 |<=|, OPERATOR 3 |=|, OPERATOR 4 |>=|, OPERATOR 5 |>|,
  FUNCTION 1 o_pt_cmp(point, point);
CREATE TABLE o_pt_place (at point NOT NULL, name text);
CREATE UNIQUE INDEX o_pt_place_at ON o_pt_place (at o_pt_ops);
CREATE TABLE o_pt_visit (id int PRIMARY KEY, at point, who text,
    CONSTRAINT o_pt_visit_at_fk FOREIGN KEY (at) REFERENCES o_pt_place (at) ON DELETE SET NULL);
INSERT INTO o_pt_place VALUES (point(1, 1), 'one'), (point(2, 2), 'two'), (point(3, 3), 'three');
INSERT INTO o_pt_visit VALUES (1, point(1, 1), 'Ann'), (2, point(2, 2), 'Bob'), (3, point(2, 2), 'Cy'),
                           (4, point(3, 3), 'Di');
SELECT gdpr.register('o_pt_visit', ARRAY['who']);
SELECT gdpr.on_delete_anonymise('o_pt_visit', 'o_pt_visit_at_fk');
DELETE FROM o_pt_place WHERE name IN ('one', 'two');
SELECT id, at, who, gdpr.is_anonymised('o_pt_visit', id) FROM o_pt_visit ORDER BY id;
SELECT gdpr.drop_on_delete_anonymise('o_pt_visit', 'o_pt_visit_at_fk');
SELECT gdpr.unregister('o_pt_visit');
DROP TABLE o_pt_visit, o_pt_place;
DROP OPERATOR CLASS o_pt_ops USING btree;
DROP OPERATOR |<| (point, point), |<=| (point, point), |=| (point, point), |>=| (point, point), |>| (point, point);
DROP FUNCTION o_pt_cmp(point, point), o_pt_lt(point, point), o_pt_le(point, point), o_pt_eq(point, point),
              o_pt_ge(point, point), o_pt_gt(point, point);
