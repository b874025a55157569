-- Each anonymisation method, and the fixed values of "default" by type.
\set SHOW_CONTEXT never
CREATE DOMAIN short_text AS varchar(8) CHECK (VALUE <> 'banned');
CREATE TYPE colour AS ENUM ('red', 'green');

-- "default": NULL on nullable columns, a fixed value by type on NOT NULL ones
CREATE TABLE m_types (
    id      integer PRIMARY KEY,
    t       text NOT NULL,
    vc      varchar(3) NOT NULL,
    ch      char(4) NOT NULL,
    ci      citext NOT NULL,
    i2      smallint NOT NULL,
    i8      bigint NOT NULL,
    num     numeric(10,2) NOT NULL,
    fl      double precision NOT NULL,
    mon     money NOT NULL,
    b       boolean NOT NULL,
    d       date NOT NULL,
    ts      timestamp NOT NULL,
    tstz    timestamptz NOT NULL,
    tm      time NOT NULL,
    iv      interval NOT NULL,
    ip      inet NOT NULL,
    net     cidr NOT NULL,
    u       uuid NOT NULL,
    by      bytea NOT NULL,
    j       json NOT NULL,
    jb      jsonb NOT NULL,
    arr     integer[] NOT NULL,
    en      colour NOT NULL,
    dom     short_text NOT NULL,
    nullable_text text,
    nullable_point point
);
INSERT INTO m_types VALUES (1, 'secret', 'abc', 'abcd', 'CI', 5, 8, 9.5, 1.5, 12, true,
    '2001-02-03', '2001-02-03 04:05', '2001-02-03 04:05+02', '04:05', '1 day',
    '10.1.2.3', '10.1.0.0/16', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\xdeadbeef',
    '{"a": 1}', '{"a": 1}', '{1,2}', 'green', 'short', 'text', '(1,2)');
SELECT gdpr.register('m_types', ARRAY['t', 'vc', 'ch', 'ci', 'i2', 'i8', 'num', 'fl', 'mon',
    'b', 'd', 'ts', 'tstz', 'tm', 'iv', 'ip', 'net', 'u', 'by', 'j', 'jb', 'arr', 'en', 'dom',
    'nullable_text', 'nullable_point']);
SET timezone = 'UTC';
SELECT gdpr.anonymise('m_types', 1);
SELECT * FROM m_types;

-- unique NOT NULL text and uuid columns get values derived from the key
CREATE TABLE m_unique (
    id      integer PRIMARY KEY,
    login   varchar(3) NOT NULL UNIQUE,
    ref     uuid NOT NULL UNIQUE
);
INSERT INTO m_unique VALUES (7, 'bob', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
                            (1234, 'eve', 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
                            (1235, 'ann', 'c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
SELECT gdpr.register('m_unique', ARRAY['login', 'ref']);
SELECT gdpr.anonymise_many('m_unique', ARRAY[7, 1234]);
SELECT * FROM m_unique ORDER BY id;
-- a key-derived value that collides after being cut to the column width
-- fails with the unique violation and changes nothing
SELECT gdpr.anonymise('m_unique', 1235);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT * FROM m_unique WHERE id = 1235;
SELECT gdpr.is_anonymised('m_unique', 1235);
SELECT count(*) FROM gdpr.queued_events WHERE table_name = 'public.m_unique' AND key = '1235';

-- every other method on one table
CREATE FUNCTION public.initials(old text, key text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$ SELECT left(old, 1) || '. (' || key || ')' $$;
CREATE FUNCTION public.tens(old integer) RETURNS integer
    LANGUAGE sql IMMUTABLE AS $$ SELECT old / 10 * 10 $$;
CREATE TABLE m_methods (
    id          integer PRIMARY KEY,
    a_null      text,
    a_blank     varchar(10) NOT NULL,
    a_blank_arr text[] NOT NULL,
    a_blank_j   jsonb NOT NULL,
    a_value     varchar(20) NOT NULL,
    a_valdom    short_text NOT NULL,
    a_coldef    text NOT NULL DEFAULT 'was defaulted',
    a_func2     text NOT NULL,
    a_func1     integer NOT NULL,
    a_hash      text,
    a_hash_cut  char(10),
    a_email     text UNIQUE,
    a_email_cut varchar(12),
    untouched   text
);
INSERT INTO m_methods VALUES (42, 'x', 'blank me', '{a,b}', '{"k": "v"}', 'value', 'dom', 'set',
    'Alice Smith', 37, 'alice@example.com', 'alice', 'alice@example.com',
    'al@ex.com', 'keep me');
INSERT INTO m_methods VALUES (43, 'x', 'blank me', '{a,b}', '{"k": "v"}', 'value', 'dom', 'set',
    'Bob Jones', 99, 'alice@example.com', NULL, 'bob@example.com', NULL, 'keep me too');
SELECT gdpr.register('m_methods', ARRAY['a_null']);
SELECT gdpr.set_anonymiser('m_methods', 'a_null', 'null');
SELECT gdpr.set_anonymiser('m_methods', 'a_blank', 'blank');
SELECT gdpr.set_anonymiser('m_methods', 'a_blank_arr', 'blank');
SELECT gdpr.set_anonymiser('m_methods', 'a_blank_j', 'blank');
SELECT gdpr.set_anonymiser('m_methods', 'a_value', 'value', 'Anonymous user');
SELECT gdpr.set_anonymiser('m_methods', 'a_valdom', 'value', 'anon');
SELECT gdpr.set_anonymiser('m_methods', 'a_valdom', 'value', 'banned');
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.set_anonymiser('m_methods', 'a_coldef', 'column_default');
SELECT gdpr.set_anonymiser('m_methods', 'a_func2', 'function', 'public.initials');
SELECT gdpr.set_anonymiser('m_methods', 'a_func1', 'function', 'public.tens(integer)');
SELECT gdpr.set_anonymiser('m_methods', 'a_hash', 'hash');
SELECT gdpr.set_anonymiser('m_methods', 'a_hash_cut', 'hash');
SELECT gdpr.set_anonymiser('m_methods', 'a_email', 'email');
SELECT gdpr.set_anonymiser('m_methods', 'a_email_cut', 'email');
SELECT gdpr.anonymise_many('m_methods', ARRAY['42', '43']);
SELECT * FROM m_methods ORDER BY id;
-- hash: the same input gives the same output, in every table; it is HMAC-SHA256
SELECT a_hash = gdpr.pseudonym('alice@example.com') AS same_as_pseudonym,
       a_hash = encode(sha256('alice@example.com'::bytea), 'hex') AS plain_sha256
  FROM m_methods ORDER BY id;
SELECT count(DISTINCT a_hash) FROM m_methods;
-- an empty key is an error at anonymisation time, and changes nothing
SET gdpr.pseudonym_key = '';
SELECT gdpr.anonymise('m_methods', 42, force => true);
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET gdpr.pseudonym_key;
-- a different key gives different pseudonyms
SET gdpr.pseudonym_key = 'another key';
SELECT gdpr.pseudonym('alice@example.com') <> (SELECT a_hash FROM m_methods WHERE id = 42) AS differs;
RESET gdpr.pseudonym_key;
SELECT gdpr.pseudonym(NULL) IS NULL AS strict;
-- it is HMAC-SHA256 exactly: compare with pgcrypto's hmac() for values of
-- every length around the block size (multibyte ones too), under keys
-- shorter than, as long as, and longer than a block
CREATE EXTENSION pgcrypto;
CREATE TABLE m_hmac_values AS
SELECT repeat(c, n) AS v FROM generate_series(0, 140) n, (VALUES ('a'), ('é'), ('€')) x(c);
SET gdpr.pseudonym_key = 'k';
SELECT count(*) FILTER (WHERE gdpr.pseudonym(v) = encode(hmac(v, 'k', 'sha256'), 'hex')) AS equal, count(*)
  FROM m_hmac_values;
SELECT set_config('gdpr.pseudonym_key', repeat('K', 64), false) IS NOT NULL AS key_set;
SELECT count(*) FILTER (WHERE gdpr.pseudonym(v) = encode(hmac(v, repeat('K', 64), 'sha256'), 'hex')) AS equal, count(*)
  FROM m_hmac_values;
SELECT set_config('gdpr.pseudonym_key', repeat('λ', 50), false) IS NOT NULL AS key_set;
SELECT count(*) FILTER (WHERE gdpr.pseudonym(v) = encode(hmac(v, repeat('λ', 50), 'sha256'), 'hex')) AS equal, count(*)
  FROM m_hmac_values;
RESET gdpr.pseudonym_key;
DROP TABLE m_hmac_values;
DROP EXTENSION pgcrypto;

-- multibyte text is cut by characters
CREATE TABLE m_multibyte (id text PRIMARY KEY, name varchar(6) NOT NULL UNIQUE);
INSERT INTO m_multibyte VALUES ('ÅsaÖstlundÆøå', 'Åsa');
SELECT gdpr.register('m_multibyte', ARRAY['name']);
SELECT gdpr.set_anonymiser('m_multibyte', 'name', 'email');
SELECT gdpr.anonymise('m_multibyte', 'ÅsaÖstlundÆøå');
SELECT name, length(name) FROM m_multibyte;
