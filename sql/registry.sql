-- The registry: gdpr.register, gdpr.unregister, gdpr.set_anonymiser,
-- gdpr.export_follow and the gdpr.registered_columns view.  Every error is
-- followed by its SQLSTATE, and by a check that nothing changed.
\set SHOW_CONTEXT never
CREATE DOMAIN positive_int AS integer CHECK (VALUE > 0);
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE reg_person (
    id          integer PRIMARY KEY,
    name        text NOT NULL,
    nickname    varchar(5),
    email       citext UNIQUE,
    login       text NOT NULL UNIQUE,
    phone       text,
    score       positive_int NOT NULL DEFAULT 1,
    feeling     mood NOT NULL DEFAULT 'sad',
    location    point NOT NULL DEFAULT '(0,0)',
    code        text UNIQUE NULLS NOT DISTINCT,
    secret      text NOT NULL DEFAULT 'x',
    serial_no   bigint NOT NULL UNIQUE DEFAULT (random() * 1e12)::bigint,
    password    text
);
CREATE TABLE reg_nokey (a int, b text);
CREATE VIEW reg_view AS SELECT * FROM reg_person;

-- register needs a table with a primary key
SELECT gdpr.register('reg_nokey', ARRAY['b']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('reg_view', ARRAY['name']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('no_such_table', ARRAY['name']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register(NULL, ARRAY['name']);
\echo sqlstate :LAST_ERROR_SQLSTATE

-- columns are validated when declared
SELECT gdpr.register('reg_person', ARRAY['name', 'no_such_column']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('reg_person', ARRAY['id']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('reg_person', ARRAY['name', NULL]);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('reg_person', ARRAY['location']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('reg_person', ARRAY['score']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('reg_person', ARRAY['serial_no']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('reg_person', ARRAY['name'], search_fields => ARRAY['nope']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('reg_person', ARRAY['name'], export_exclude => ARRAY['nope']);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.register('reg_person', ARRAY['name'], can_anonymise => NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE
-- ... and none of those changed anything
SELECT count(*) FROM gdpr.registered_table;
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'reg_person'::regclass AND tgname ILIKE 'gdpr%';

-- a good registration; NULL search_fields and export_exclude mean '{}'
SELECT gdpr.register(
    rel            => 'reg_person',
    fields         => ARRAY['name', 'nickname', 'email', 'login', 'phone', 'feeling', 'name'],
    search_fields  => ARRAY['email', 'login'],
    export_fields  => NULL,
    export_exclude => ARRAY['password'],
    can_anonymise  => true);
SELECT * FROM gdpr.registered_columns ORDER BY rel::text, column_name;
SELECT tgname, tgtype FROM pg_trigger WHERE tgrelid = 'reg_person'::regclass ORDER BY 1;

-- registering twice names the table
SELECT gdpr.register('reg_person', '{}');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- set_anonymiser: each method's validation
SELECT gdpr.set_anonymiser('reg_person', 'nickname', 'mask');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'nickname', 'value');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'nickname', 'null', 'x');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'nickname', 'value', 'toolong');
\echo sqlstate :LAST_ERROR_SQLSTATE
-- the length limit counts characters, not bytes
SELECT gdpr.set_anonymiser('reg_person', 'nickname', 'value', 'ÅÄÖøß');
SELECT gdpr.set_anonymiser('reg_person', 'score', 'value', 'many');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'score', 'value', '0');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'score', 'value', '7');
SELECT gdpr.set_anonymiser('reg_person', 'name', 'null');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'login', 'value', 'anon');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'login', 'blank');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'secret', 'column_default');
SELECT gdpr.set_anonymiser('reg_person', 'email', 'column_default');
SELECT gdpr.set_anonymiser('reg_person', 'password', 'column_default');
SELECT gdpr.set_anonymiser('reg_person', 'serial_no', 'column_default');
SELECT gdpr.set_anonymiser('reg_person', 'name', 'column_default');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'code', 'null');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'score', 'blank');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'score', 'hash');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'feeling', 'email');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'login', 'email');
SELECT gdpr.set_anonymiser('reg_person', 'code', 'hash');
SELECT gdpr.set_anonymiser('reg_person', 'id', 'null');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'nope', 'null');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_nokey', 'b', 'null');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'name', NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE

-- the function method: by name or signature, with the column's type
CREATE FUNCTION public.mask_name(old text, key text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'person ' || key $$;
CREATE FUNCTION public.mask_name(old text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'someone' $$;
CREATE FUNCTION public.bad_mask(old integer) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'x' $$;
SELECT gdpr.set_anonymiser('reg_person', 'name', 'function', 'public.mask_name');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'name', 'function', 'public.no_such_function');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'name', 'function', 'public.bad_mask');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'name', 'function', 'mask_name(text,text)');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('reg_person', 'name', 'function', 'public.mask_name(text,text)');
-- naming a column that is not PII yet makes it PII; the default of an enum is its first label
SELECT gdpr.set_anonymiser('reg_person', 'feeling', 'default');
SELECT gdpr.set_anonymiser('reg_person', 'nickname', 'value', 'anon');
SELECT column_name, pii, method, argument, search, export
  FROM gdpr.registered_columns WHERE rel = 'reg_person'::regclass ORDER BY column_name;

-- set_anonymiser on an unregistered table
CREATE TABLE reg_other (id int PRIMARY KEY, x text);
SELECT gdpr.set_anonymiser('reg_other', 'x', 'null');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- fields may be empty: registered for search, export and delete logging only
SELECT gdpr.register('reg_other', '{}', export_fields => ARRAY['x']);
SELECT column_name, pii, method, search, export
  FROM gdpr.registered_columns WHERE rel = 'reg_other'::regclass ORDER BY column_name;

-- export_follow needs a foreign key of the table itself
CREATE TABLE reg_address (id int PRIMARY KEY, street text);
ALTER TABLE reg_other ADD COLUMN address_id int CONSTRAINT reg_other_address_fk REFERENCES reg_address;
SELECT gdpr.export_follow('reg_other', 'reg_other_address_fk');
SELECT gdpr.export_follow('reg_other', 'reg_other_address_fk');
SELECT gdpr.export_follow('reg_other', 'reg_other_pkey');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.export_follow('reg_other', 'no_such_fk');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.export_follow('reg_address', 'reg_other_address_fk');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT rel, constraint_name, rule FROM gdpr.constraint_rule ORDER BY 1, 2;
SELECT gdpr.drop_export_follow('reg_other', 'reg_other_address_fk');
SELECT gdpr.drop_export_follow('reg_other', 'reg_other_address_fk');
\echo sqlstate :LAST_ERROR_SQLSTATE

-- unregister removes the table, its columns, rules and triggers
SELECT gdpr.unregister('reg_address');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.unregister('reg_other');
SELECT count(*) FROM gdpr.registered_columns WHERE rel = 'reg_other'::regclass;
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'reg_other'::regclass AND tgname ILIKE 'gdpr%';
-- and it can be registered again
SELECT gdpr.register('reg_other', ARRAY['x']);
SELECT gdpr.unregister('reg_other');

-- only the owner of a table may register it
CREATE TABLE reg_owned (id int PRIMARY KEY, x text);
SET ROLE regress_gdpr_admin;
SELECT gdpr.register('reg_owned', ARRAY['x']);
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;
