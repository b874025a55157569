-- A rule belongs to its foreign key, a registered column to its column:
-- dropping either takes it out of the registry.  A migration that drops a
-- foreign key with an ON DELETE ANONYMISE rule and re-creates it (Django's
-- AlterField) is warned, and the old rule never applies to the new
-- constraint.
\set SHOW_CONTEXT never
CREATE TABLE rl_person (id int PRIMARY KEY);
CREATE TABLE rl_comment (id int PRIMARY KEY, author_id int, body text,
    CONSTRAINT rl_comment_author_fk FOREIGN KEY (author_id) REFERENCES rl_person ON DELETE SET NULL);
INSERT INTO rl_person VALUES (1), (2), (3);
INSERT INTO rl_comment VALUES (10, 1, 'one'), (20, 2, 'two'), (30, 3, 'three');
SELECT gdpr.register('rl_comment', ARRAY['body']);
SELECT gdpr.on_delete_anonymise('rl_comment', 'rl_comment_author_fk');
SELECT gdpr.export_follow('rl_comment', 'rl_comment_author_fk');
SELECT constraint_name, rule FROM gdpr.constraint_rule WHERE rel = 'rl_comment'::regclass ORDER BY rule;

-- re-created ON DELETE CASCADE: the children are deleted, not kept anonymised
BEGIN;
ALTER TABLE rl_comment DROP CONSTRAINT rl_comment_author_fk;
ALTER TABLE rl_comment ADD CONSTRAINT rl_comment_author_fk
    FOREIGN KEY (author_id) REFERENCES rl_person ON DELETE CASCADE;
COMMIT;
SELECT count(*) AS rules_left FROM gdpr.constraint_rule WHERE rel = 'rl_comment'::regclass;
DELETE FROM rl_person WHERE id = 1;
SELECT id, author_id, body FROM rl_comment ORDER BY id;

-- re-created NO ACTION: the new constraint's own behaviour applies, the
-- delete of a referenced parent is refused
ALTER TABLE rl_comment DROP CONSTRAINT rl_comment_author_fk;
ALTER TABLE rl_comment ADD CONSTRAINT rl_comment_author_fk
    FOREIGN KEY (author_id) REFERENCES rl_person;
DELETE FROM rl_person WHERE id = 2;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT id, author_id, body FROM rl_comment ORDER BY id;

-- a rule declared again on the new constraint works again
ALTER TABLE rl_comment DROP CONSTRAINT rl_comment_author_fk;
ALTER TABLE rl_comment ADD CONSTRAINT rl_comment_author_fk
    FOREIGN KEY (author_id) REFERENCES rl_person ON DELETE SET NULL;
SELECT gdpr.on_delete_anonymise('rl_comment', 'rl_comment_author_fk');
DELETE FROM rl_person WHERE id = 2;
SELECT id, author_id, body, gdpr.is_anonymised('rl_comment', id) FROM rl_comment ORDER BY id;

-- a dropped PII column leaves the registry; the table stays registered
ALTER TABLE rl_comment ADD COLUMN email text;
SELECT gdpr.set_anonymiser('rl_comment', 'email', 'null');
SELECT column_name, pii FROM gdpr.registered_columns WHERE rel = 'rl_comment'::regclass ORDER BY 1;
ALTER TABLE rl_comment DROP COLUMN email;
SELECT column_name FROM gdpr.registered_field WHERE rel = 'rl_comment'::regclass ORDER BY 1;
SELECT gdpr.anonymise('rl_comment', 30);

CREATE TABLE rl_renamed (id int PRIMARY KEY, nick text, seen_at timestamptz);
-- a renamed PII column stays registered under its new name, with its
-- method, its export exclusion and its retention policy
ALTER TABLE rl_comment ADD COLUMN email text, ADD COLUMN posted_at timestamptz;
SELECT gdpr.set_anonymiser('rl_comment', 'email', 'email');
SELECT gdpr.set_not_pii('rl_comment', ARRAY['posted_at']);
SELECT gdpr.register('rl_renamed', ARRAY['nick'], export_exclude => ARRAY['nick']);
SELECT gdpr.set_retention('rl_renamed', 'seen_at', interval '1 day');
ALTER TABLE rl_comment RENAME COLUMN email TO e_mail;
ALTER TABLE rl_renamed RENAME COLUMN nick TO nickname;
ALTER TABLE rl_renamed RENAME COLUMN seen_at TO last_seen;
SELECT rel, column_name, method FROM gdpr.registered_columns
 WHERE rel IN ('rl_comment'::regclass, 'rl_renamed'::regclass) AND pii ORDER BY 1, 2;
SELECT export_exclude FROM gdpr.registered_table WHERE rel = 'rl_renamed'::regclass;
SELECT column_name FROM gdpr.retention_policy WHERE rel = 'rl_renamed'::regclass;
SELECT rel, column_name, status FROM gdpr.coverage
 WHERE rel IN ('rl_comment'::regclass, 'rl_renamed'::regclass) ORDER BY 1, 2;
INSERT INTO rl_renamed VALUES (1, 'zed', now() - interval '2 days');
SELECT * FROM gdpr.apply_retention('rl_renamed');
SELECT id, nickname FROM rl_renamed;
INSERT INTO rl_comment (id, author_id, body, e_mail) VALUES (40, NULL, 'hello', 'zed@example.org');
SELECT gdpr.anonymise('rl_comment', 40);
SELECT id, body, e_mail FROM rl_comment WHERE id = 40;
ALTER TABLE rl_comment DROP COLUMN e_mail, DROP COLUMN posted_at;
DROP TABLE rl_renamed;

DROP TABLE rl_comment, rl_person;
SELECT count(*) AS registry_left FROM gdpr.constraint_rule WHERE constraint_name = 'rl_comment_author_fk';
