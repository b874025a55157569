
# Copyright (c) 2026, gdpr developers

# A bounded, deterministic fuzz run over (a) the declaration parser:
# SECURITY LABEL FOR gdpr and COMMENT ... IS '... gdpr: {...}' on every kind
# of object, with mutated JSON (random keys, values and types, truncations,
# deep nesting, huge numbers, unicode, escapes, duplicate keys), and (b) the
# arguments of the SQL functions: random relations (tables, views,
# sequences, indexes, gdpr's and the system's own tables, OIDs of no
# relation at all), random columns, methods and arguments, malformed keys,
# NULLs, empty and odd arrays.
#
# Every case is a short list of statements run in a subtransaction that is
# always rolled back, so each case starts from the same fixture and can be
# replayed on its own.  The run fails on a server crash (the postmaster's
# start time changes or the session dies) and on any error with SQLSTATE
# XX000 (internal_error: elog(ERROR), "cache lookup failed", ...); every
# other SQLSTATE is an acceptable answer to bad input.  It also fails when
# a message names an object "(null)" (a NULL string printed with %s).
# Failing cases are printed, shrunk to the statements still needed to
# reproduce them (and, for the many-columns cases, to the fewest columns).
#
# Every outcome is kept in fuzz.outcome (case, failing step, SQLSTATE,
# message); GDPR_FUZZ_STATS=1 prints the commonest outcomes and the slowest
# cases, to see how deep the generated cases get.
#
#   GDPR_FUZZ_SEED   the seed (default below; printed at the start)
#   GDPR_FUZZ_CASES  how many cases (default 4000)
#   GDPR_FUZZ_BATCH  cases per psql call (default 250)
#
# Case i depends only on the seed and i, so a failing case is reproduced by
# the same seed and any GDPR_FUZZ_CASES > i.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use Encode qw(encode_utf8);

my $seed = $ENV{GDPR_FUZZ_SEED} // 20260917;
my $ncases = $ENV{GDPR_FUZZ_CASES} // 4000;
my $batch_size = $ENV{GDPR_FUZZ_BATCH} // 250;
die "GDPR_FUZZ_SEED must be a non-negative integer\n" unless $seed =~ /^\d+$/;
die "GDPR_FUZZ_CASES must be a positive integer\n" unless $ncases =~ /^\d+$/ && $ncases > 0;
die "GDPR_FUZZ_BATCH must be a positive integer\n"
  unless $batch_size =~ /^\d+$/ && $batch_size > 0;
diag("gdpr fuzz: seed $seed, $ncases cases "
	  . "(reproduce with GDPR_FUZZ_SEED=$seed GDPR_FUZZ_CASES=$ncases)");

############################################################################
# A PRNG of our own: Perl's rand() is shared with PostgreSQL::Test::Cluster
# (port selection), and its sequence is not ours to rely on.  Park-Miller
# "minimal standard" generator; every product fits exactly in 53 bits.
############################################################################

my $rng_state;

sub rng_seed
{
	my ($s, $i) = @_;
	my $x = (($s % 2147483646) * 7919 + $i * 104729 + 12345) % 2147483646;
	$rng_state = $x + 1;
	rnd_u() for 1 .. 3;    # mix
	return;
}

sub rnd_u
{
	$rng_state = ($rng_state * 48271) % 2147483647;
	return $rng_state;
}

# an integer in [0, n)
sub rnd
{
	my ($n) = @_;
	return 0 if $n <= 1;
	return rnd_u() % $n;
}

sub chance { my ($p) = @_; return rnd(1_000_000) < $p * 1_000_000; }
sub pick { my @a = @_; return $a[ rnd(scalar @a) ]; }

# pick by weight: pairs (weight, value)
sub wpick
{
	my @pairs = @_;
	my $total = 0;
	for (my $i = 0; $i < @pairs; $i += 2) { $total += $pairs[$i]; }
	my $r = rnd($total);
	for (my $i = 0; $i < @pairs; $i += 2)
	{
		return $pairs[ $i + 1 ] if $r < $pairs[$i];
		$r -= $pairs[$i];
	}
	return $pairs[-1];
}

sub lit
{
	my ($s) = @_;
	return 'NULL' unless defined $s;
	$s =~ s/'/''/g;
	return "'$s'";
}

############################################################################
# The fixture
############################################################################

my $nwide = 130;
my %columns = (
	'fz.person' => [
		qw(id name email phone nickname born score active data tags uid code
		  bits addr mood zip doubled seq updated)
	],
	'fz.comment' => [qw(id author_id body)],
	'fz.visit' => [qw(person_id day note)],
	'fz.account' => [qw(login person_id secret)],
	'fz.nopk' => [qw(a b)],
	'fz.ulog' => [qw(id t)],
	'fz.parted' => [qw(id part v)],
	'fz.parted_1' => [qw(id part v)],
	'fz.wide' => [ 'id', 'person_id', map { "c$_" } 1 .. $nwide ],
	'fz.v' => [qw(id name email)],
	'fz.mv' => [qw(id name)],);
my @tables = sort keys %columns;
my @registered = qw(fz.person fz.comment fz.visit fz.account fz.wide fz.parted);
my %constraints = (
	'fz.person' => [qw(person_pkey person_email_key person_zip_check)],
	'fz.comment' => [qw(comment_pkey comment_author_fkey comment_body_check)],
	'fz.visit' => [qw(visit_pkey visit_person_fkey)],
	'fz.account' => [qw(account_pkey account_person_fkey)],
	'fz.wide' => [qw(wide_pkey wide_person_fkey)],
	'fz.parted' => [qw(parted_pkey)],
	'fz.nopk' => [],
	'fz.ulog' => [qw(ulog_pkey)],);

my $wide_cols = join(",\n", map { "    c$_ text" } 1 .. $nwide);
my $fixture = qq{
CREATE EXTENSION gdpr;
CREATE SCHEMA fz;
CREATE TYPE fz.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN fz.zipcode AS text CHECK (VALUE ~ '^[0-9]{5}\$');
CREATE TYPE fz.comp AS (a int, b text);
CREATE TABLE fz.person (
    id       int PRIMARY KEY,
    name     text NOT NULL,
    email    text CONSTRAINT person_email_key UNIQUE,
    phone    text,
    nickname varchar(10),
    born     date,
    score    numeric(6,2),
    active   boolean NOT NULL DEFAULT true,
    data     jsonb,
    tags     text[],
    uid      uuid UNIQUE,
    code     char(4),
    bits     bit(3),
    addr     inet,
    mood     fz.mood NOT NULL DEFAULT 'ok',
    zip      fz.zipcode CONSTRAINT person_zip_check CHECK (zip <> '00000'),
    doubled  int GENERATED ALWAYS AS (id * 2) STORED,
    seq      int GENERATED BY DEFAULT AS IDENTITY,
    updated  timestamptz DEFAULT now());
CREATE INDEX person_name_idx ON fz.person (lower(name));
CREATE TABLE fz.comment (
    id        int PRIMARY KEY,
    author_id int CONSTRAINT comment_author_fkey REFERENCES fz.person ON DELETE SET NULL,
    body      text CONSTRAINT comment_body_check CHECK (length(body) < 1000));
CREATE TABLE fz.visit (
    person_id int CONSTRAINT visit_person_fkey REFERENCES fz.person ON DELETE CASCADE,
    day       date,
    note      text,
    PRIMARY KEY (person_id, day));
CREATE TABLE fz.account (
    login     text PRIMARY KEY,
    person_id int CONSTRAINT account_person_fkey REFERENCES fz.person ON DELETE SET NULL,
    secret    text NOT NULL);
CREATE TABLE fz.nopk (a int, b text);
CREATE UNLOGGED TABLE fz.ulog (id int PRIMARY KEY, t text);
CREATE TABLE fz.parted (id int, part int, v text, PRIMARY KEY (id, part))
    PARTITION BY LIST (part);
CREATE TABLE fz.parted_1 PARTITION OF fz.parted FOR VALUES IN (1);
CREATE TABLE fz.parted_2 PARTITION OF fz.parted FOR VALUES IN (2);
CREATE TABLE fz.wide (
    id int PRIMARY KEY,
    person_id int CONSTRAINT wide_person_fkey REFERENCES fz.person ON DELETE SET NULL,
$wide_cols);
CREATE VIEW fz.v AS SELECT id, name, email FROM fz.person;
CREATE MATERIALIZED VIEW fz.mv AS SELECT id, name FROM fz.person;
CREATE SEQUENCE fz.s;

CREATE FUNCTION fz.mask(old text) RETURNS text LANGUAGE sql IMMUTABLE
    AS \$\$ SELECT repeat('*', length(old)) \$\$;
CREATE FUNCTION fz.mask2(old text, key text) RETURNS text LANGUAGE sql IMMUTABLE
    AS \$\$ SELECT 'x' || key \$\$;
CREATE FUNCTION fz.mask_int(old int) RETURNS int LANGUAGE sql IMMUTABLE AS \$\$ SELECT 0 \$\$;
CREATE FUNCTION fz.ov(old text) RETURNS text LANGUAGE sql AS \$\$ SELECT 'a' \$\$;
CREATE FUNCTION fz.ov(old int) RETURNS int LANGUAGE sql AS \$\$ SELECT 1 \$\$;
CREATE FUNCTION fz.wrongtype(old text) RETURNS int LANGUAGE sql AS \$\$ SELECT 1 \$\$;
CREATE FUNCTION fz.boom(old text) RETURNS text LANGUAGE plpgsql
    AS \$\$ BEGIN RAISE EXCEPTION 'boom'; END \$\$;
CREATE FUNCTION fz.nothing(old text) RETURNS text LANGUAGE sql AS \$\$ SELECT NULL::text \$\$;
CREATE FUNCTION fz.many(old text) RETURNS SETOF text LANGUAGE sql AS \$\$ VALUES ('a'), ('b') \$\$;
CREATE FUNCTION fz.noargs() RETURNS text LANGUAGE sql AS \$\$ SELECT 'n' \$\$;
CREATE FUNCTION fz.three(a text, b text, c text) RETURNS text LANGUAGE sql AS \$\$ SELECT a \$\$;
CREATE FUNCTION fz.vd(old text) RETURNS void LANGUAGE sql AS \$\$ SELECT \$\$;
CREATE FUNCTION fz.trg() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RETURN NEW; END \$\$;
CREATE PROCEDURE fz.proc(old text) LANGUAGE sql AS \$\$ SELECT 1 \$\$;
CREATE AGGREGATE fz.agg(text) (sfunc = textcat, stype = text);

INSERT INTO fz.person (id, name, email, phone, nickname, born, score, data, tags,
                       uid, code, bits, addr, zip)
SELECT i, 'Person ' || i, 'person' || i || '\@example.com', '0113 ' || i, 'nick' || i,
       date '1980-01-01' + i, i * 1.5, jsonb_build_object('i', i), ARRAY['t' || i],
       md5(i::text)::uuid, 'c' || i, B'101', ('10.0.0.' || i)::inet, lpad(i::text, 5, '1')
  FROM generate_series(1, 20) i;
INSERT INTO fz.comment SELECT i, 1 + i % 20, 'comment ' || i FROM generate_series(1, 40) i;
INSERT INTO fz.visit SELECT 1 + i % 20, date '2024-01-01' + i, 'visit ' || i
  FROM generate_series(1, 40) i;
INSERT INTO fz.account SELECT 'user' || i, i, 'secret' || i FROM generate_series(1, 20) i;
INSERT INTO fz.nopk SELECT i, 'b' || i FROM generate_series(1, 5) i;
INSERT INTO fz.ulog SELECT i, 't' || i FROM generate_series(1, 5) i;
INSERT INTO fz.parted SELECT i, 1 + i % 2, 'v' || i FROM generate_series(1, 10) i;
INSERT INTO fz.wide (id, person_id) SELECT i, i FROM generate_series(1, 5) i;
UPDATE fz.wide SET c1 = 'x', c2 = 'y', c$nwide = 'z';

SELECT gdpr.register('fz.person', ARRAY['name', 'email', 'phone', 'nickname'],
                     search_fields => ARRAY['email', 'nickname'],
                     export_exclude => ARRAY['data']);
SELECT gdpr.register('fz.comment', ARRAY['body']);
SELECT gdpr.register('fz.visit', ARRAY['note']);
SELECT gdpr.register('fz.account', ARRAY['secret'], search_fields => ARRAY['login']);
SELECT gdpr.register('fz.wide', ARRAY['c1']);
SELECT gdpr.register('fz.parted', ARRAY['v']);
SELECT gdpr.on_delete_anonymise('fz.comment', 'comment_author_fkey');
SELECT gdpr.export_follow('fz.account', 'account_person_fkey');
SECURITY LABEL FOR gdpr ON COLUMN fz.person.born IS '{"pii": true, "anonymise": "value", "value": "1970-01-01"}';
COMMENT ON COLUMN fz.visit.day IS 'The day. gdpr: {"search": true}';
SELECT gdpr.anonymise('fz.person', '20');

CREATE ROLE fz_user LOGIN;
GRANT USAGE ON SCHEMA fz, gdpr TO fz_user;
GRANT SELECT, UPDATE ON fz.person, fz.comment TO fz_user;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA gdpr TO fz_user;

-- the harness: cases, their outcomes, and a procedure that runs a range of
-- cases, each in a subtransaction that is always rolled back, committing
-- each outcome so that a crash leaves the cases before it on record
CREATE SCHEMA fuzz;
CREATE TABLE fuzz.fcase (id int PRIMARY KEY, stmts text[] NOT NULL);
CREATE TABLE fuzz.outcome (
    id int PRIMARY KEY, step int, sqlstate text, message text, detail text, context text,
    ms float8);
CREATE PROCEDURE fuzz.run(lo int, hi int)
LANGUAGE plpgsql AS \$run\$
DECLARE
    c record;
    i int;
    st text;
    msg text;
    det text;
    ctx text;
    t0 timestamptz;
BEGIN
    FOR c IN SELECT * FROM fuzz.fcase WHERE id BETWEEN lo AND hi ORDER BY id LOOP
        i := 0;
        t0 := clock_timestamp();
        BEGIN
            FOR j IN 1 .. coalesce(array_length(c.stmts, 1), 0) LOOP
                i := j;
                EXECUTE c.stmts[j];
            END LOOP;
            i := 0;
            RAISE EXCEPTION 'fuzz case done' USING ERRCODE = 'FZ000';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                    det = PG_EXCEPTION_DETAIL, ctx = PG_EXCEPTION_CONTEXT;
        END;
        INSERT INTO fuzz.outcome
            VALUES (c.id, i, st, msg, det, ctx,
                    1000 * extract(epoch FROM clock_timestamp() - t0));
        COMMIT;
    END LOOP;
END
\$run\$;
};

############################################################################
# Generators: values
############################################################################

# characters, not bytes: the cases are character strings, encoded as UTF-8
# only when sent, so that mutations never split a character
my @utf8 = (
	"\x{e9}", "\x{20ac}", "\x{1f600}", "\x{65e5}\x{672c}", "\x{5d0}", "\x{202e}",
	"\x{feff}", "\x{a0}", "\x{fffd}", "\x{10ffff}");

sub rand_word
{
	my $n = 1 + rnd(12);
	my $s = '';
	for (1 .. $n)
	{
		$s .= wpick(
			20 => chr(97 + rnd(26)),
			4 => chr(48 + rnd(10)),
			2 => pick(' ', '_', '.', '-', ',', '(', ')', '"', "'", '\\', '/', '%', '$', '{', '}', '[', ']', ':', ';'),
			2 => pick(@utf8),
			1 => chr(65 + rnd(26)));
	}
	return $s;
}

sub rand_text
{
	return wpick(
		10 => rand_word(),
		2 => '',
		1 => ' ',
		1 => 'x' x (50 + rnd(300)),
		1 => 'y' x (5000 + rnd(20000)),
		1 => pick(@utf8) x (1 + rnd(100)),
		1 => "a\tb\nc\rd",
		1 => "'; DROP TABLE fz.person; --",
		1 => '%s%n%x',
		1 => '$1',
		1 => 'person1@example.com',
		1 => 'NULL');
}

sub rand_number
{
	return wpick(
		5 => rnd(100),
		2 => -rnd(100),
		1 => '0',
		1 => '-0',
		1 => '99999999',
		1 => '2147483647',
		1 => '2147483648',
		1 => '-2147483649',
		1 => '4294967295',
		1 => '9223372036854775807',
		1 => '9223372036854775808',
		1 => '99999999999999999999999999999999999999',
		1 => '1' . ('0' x (100 + rnd(400))),
		1 => '1e308',
		1 => '1e309',
		1 => '-1e400',
		1 => '2.5e-400',
		1 => '0.000000000000000000000000001',
		1 => '3.14159',
		1 => '12.50',
		1 => '1E+2',
		1 => '-1.5e-3');
}

# a relation, as an SQL expression of type regclass (or text/oid/NULL)
sub rel_expr
{
	return wpick(
		40 => lit(pick(@registered)),
		8 => lit(pick('fz.nopk', 'fz.ulog', 'fz.parted_1', 'fz.parted_2')),
		10 => lit(pick('fz.v', 'fz.mv', 'fz.s', 'fz.person_name_idx', 'fz.comp', 'fz.person_pkey')),
		2 => "(SELECT reltoastrelid FROM pg_class WHERE oid = 'fz.person'::regclass)::regclass",
		2 => "(SELECT typrelid FROM pg_type WHERE oid = 'fz.comp'::regtype)::regclass",
		5 => lit(pick('gdpr.registered_table', 'gdpr.queue', 'gdpr.marker', 'gdpr.registered_columns')),
		3 => lit(pick('pg_class', 'pg_catalog.pg_proc', 'pg_catalog.pg_seclabel', 'information_schema.tables')),
		4 => "'fz.mask'::regproc::oid::regclass",
		4 => "'fz.mood'::regtype::oid::regclass",
		15 => "'" . pick(0, 1, 16, 1259, 99999999, 4294967295, 4294967294, 3000000000, 16383, 16384 + rnd(100000), rnd(4294967296)) . "'::regclass",
		3 => "'" . pick(0, 99999999, 4294967295, 70000 + rnd(100000)) . "'::oid::regclass",
		4 => 'NULL',
		1 => 'NULL::regclass',
		1 => lit(pick('fz.nosuch', '"fz.person"', 'fz.', '', '-', '1e5')),);
}

sub table_for_columns
{
	return wpick(6 => pick(@registered), 1 => pick(@tables));
}

sub column_name
{
	my ($table) = @_;
	$table //= table_for_columns();
	my $cols = $columns{$table} // $columns{'fz.person'};
	return wpick(
		30 => pick(@$cols),
		2 => 'id',
		2 => pick('doubled', 'seq', 'mood', 'zip', 'code', 'bits', 'tags', 'data', 'uid', 'addr', 'active', 'updated'),
		2 => pick('ctid', 'xmin', 'xmax', 'cmin', 'tableoid', 'oid'),
		2 => pick('nope', 'Name', 'NAME', 'name ', ' name', '"name"', 'c0', 'c' . (1 + $nwide)),
		1 => '',
		1 => 'x' x (60 + rnd(100)),
		1 => pick(@utf8),
		1 => rand_word(),
		2 => undef);
}

sub name_array
{
	my ($table) = @_;
	return wpick(
		2 => 'NULL',
		1 => 'NULL::text[]',
		2 => "'{}'::text[]",
		1 => 'ARRAY[NULL]::text[]',
		1 => "'{{name,email},{phone,nickname}}'::text[]",
		1 => "'[3:4]={name,email}'::text[]",
		12 => 'ARRAY['
		  . join(', ', map { lit(column_name($table)) } 1 .. (1 + rnd(5)))
		  . ']::text[]',);
}

my @methods = qw(default null blank value column_default function hash email);

sub method_name
{
	return wpick(
		40 => pick(@methods),
		3 => undef,
		2 => '',
		2 => pick('DEFAULT', 'Null', 'VALUE', 'function ', ' hash', 'e-mail', 'anonymise', 'follow', 'delete'),
		2 => rand_word(),
		1 => 'x' x 500,);
}

sub function_argument
{
	return wpick(
		12 => pick('-', '0', '99999999'),
		8 => pick('fz.mask', 'fz.mask(text)', 'fz.mask2', 'fz.mask2(text,text)', 'fz.mask2(text, text)',
			'fz.mask_int', 'fz.mask_int(int)', 'fz.mask_int(integer)', 'fz.ov', 'fz.ov(text)', 'fz.ov(int)'),
		8 => pick('fz.wrongtype', 'fz.boom', 'fz.nothing', 'fz.many', 'fz.noargs', 'fz.noargs()',
			'fz.three', 'fz.three(text,text,text)', 'fz.vd', 'fz.trg', 'fz.proc', 'fz.proc(text)', 'fz.agg',
			'fz.agg(text)', 'fz.nosuch', 'fz.mask(nosuchtype)', 'fz.mask(int)', 'fz.mask(text,text,text)'),
		8 => pick('fz.mask(', 'fz.mask)', 'fz.mask(text', 'fz.mask((text))', '(', ')', '()', '(text)',
			'fz.', '.mask', 'fz..mask', 'a.b.c.d', 'a.b.c(text)', '"fz"."mask"', '"fz.mask"', 'fz."mask"(text)',
			'fz.mask(text[])', 'fz.mask(text) ', ' fz.mask', 'fz.mask(text);', 'fz.mask(pg_catalog.text)',
			'fz.mask(varchar)', 'fz.mask("text")', 'fz.mask(text, )', 'fz.mask(,)', 'fz.mask(-)', 'fz.mask(0)',
			'fz.mask(99999999)', '1.2', '-1', '+1', '0x10', '1e5', '-0', '4294967295', '00', ' 0', '99999999 '),
		6 => pick('mask', 'upper', 'upper(text)', 'pg_catalog.upper', 'lower', 'md5', 'now', 'random',
			'count', 'sum(int)', 'pg_sleep', 'pg_catalog.pg_terminate_backend', 'gdpr.pseudonym',
			'gdpr.pseudonym(text)', 'gdpr.anonymise', 'textcat', 'int4in', 'array_agg', 'unnest'),
		4 => 'NULL',
		3 => rand_word(),
		1 => 'x' x 300,);
}

sub method_argument
{
	my ($method) = @_;
	$method //= '';
	return function_argument() if $method eq 'function' && chance(0.8);
	return wpick(
		8 => rand_text(),
		6 => rand_number(),
		3 => pick('-', '0', '99999999'),
		2 => pick('true', 'false', '1970-01-01', '2024-02-30', '00000', '12345', 'sad', 'angry',
			'{}', '{a,b}', '[]', 'B101', '101', '10.0.0.1', 'not-an-ip', 'now()', 'now', 'infinity',
			'00000000-0000-0000-0000-000000000000', 'NaN', '-Infinity'),
		2 => function_argument(),
		5 => undef,);
}

sub key_text
{
	return wpick(
		20 => 1 + rnd(25),
		3 => pick('042', ' 7', '7 ', '+3', '-1', '0', '1.0', '1e1', '0x10'),
		3 => rand_number(),
		4 => pick('(1,2024-01-02)', '(1,"2024-01-02")', '(2,2024-01-03)', '("1","2")', '(1,)', '(,)',
			'()', '(', ')', '(1,2024-01-02', '1,2024-01-02', '(1,2024-01-02,3)', '((1,2))',
			'(1,"2024-01-02\\")', '(1,2024-13-45)', '(abc,def)', '(1,2)', '(1,2)x', ' (1,2024-01-02) ',
			'(1;2)', '("",)', '(1,"")'),
		4 => pick('user1', 'user2', 'USER1', 'user1 ', 'nobody', ''),
		3 => rand_text(),
		4 => undef,);
}

sub key_any
{
	return wpick(
		6 => 1 + rnd(25),
		1 => '42::bigint',
		1 => '1::smallint',
		1 => '2147483648',
		1 => '1.5',
		1 => '1.0::numeric',
		1 => 'true',
		1 => "'user1'::varchar",
		1 => "'user1'::name",
		1 => "'user1'::char(10)",
		1 => "'2024-01-02'::date",
		1 => "ROW(1, '2024-01-02'::date)",
		1 => "ROW(1, 2)",
		1 => "ARRAY[1]",
		1 => "'00000000-0000-0000-0000-000000000000'::uuid",
		1 => "'{}'::jsonb",
		1 => "B'101'",
		1 => "'10.0.0.1'::inet",
		1 => "'sad'::fz.mood",
		1 => "'(1,x)'::fz.comp",
		1 => 'NULL::int',
		1 => "'1'::regclass",
		1 => "'fz.person'::regclass",);
}

sub key_array
{
	return wpick(
		10 => 'ARRAY[' . join(', ', map { lit(key_text()) } 1 .. (1 + rnd(6))) . ']::text[]',
		2 => "'{}'::text[]",
		1 => 'NULL::text[]',
		1 => 'ARRAY[NULL]::text[]',
		1 => 'ARRAY[NULL, NULL, ' . lit(key_text()) . ']::text[]',
		2 => 'ARRAY[' . join(', ', map { 1 + rnd(25) } 1 .. (1 + rnd(6))) . ']',
		1 => "'{}'::int[]",
		1 => 'ARRAY[NULL]::int[]',
		1 => "ARRAY[ARRAY['1', '2'], ARRAY['3', '4']]",
		1 => "'[5:7]={1,2,3}'::text[]",
		1 => "'[5:7]={1,2,3}'::int[]",
		1 => "ARRAY[ROW(1, '2024-01-02'::date)]",
		1 => "ARRAY['(1,2024-01-02)', '(2,2024-01-03)', '(1,2024-01-02)']",
		1 => "ARRAY[1.5, 2]",
		1 => "ARRAY['2024-01-02'::date]",
		1 => "ARRAY['user1', 'user2']::varchar[]",
		1 => "ARRAY[true]",
		1 => '(SELECT array_agg(g::text) FROM generate_series(1, ' . pick(30, 1000, 5000) . ') g)',
		1 => '(SELECT array_agg(g % 3) FROM generate_series(1, 2000) g)',
		1 => "ARRAY['1', '1', '01', ' 1']",);
}

sub constraint_name
{
	my ($table) = @_;
	my $cons = $constraints{ $table // '' } // [];
	my @all = map { @$_ } values %constraints;
	return wpick(
		10 => (@$cons ? pick(@$cons) : pick(@all)),
		5 => pick(sort @all),
		2 => pick('nope', '', 'COMMENT_AUTHOR_FKEY', 'comment_author_fkey ', 'person_name_idx'),
		1 => rand_word(),
		1 => 'x' x 100,
		2 => undef,);
}

sub term
{
	return wpick(
		6 => 'person' . (1 + rnd(25)) . '@example.com',
		2 => 'PERSON' . (1 + rnd(25)) . '@EXAMPLE.COM',
		3 => 'nick' . (1 + rnd(25)),
		2 => 'user' . (1 + rnd(25)),
		2 => pick('2024-01-02', '2024-13-45', '1', '-1'),
		4 => rand_text(),
		2 => undef,);
}

sub opt_force
{
	return wpick(
		5 => '',
		2 => ', true',
		1 => ', false',
		1 => ', NULL',
		1 => ', force => true',
		1 => ', force => NULL');
}

############################################################################
# Generators: function calls
############################################################################

sub gen_call
{
	my $which = wpick(
		8 => 'register',
		2 => 'unregister',
		14 => 'set_anonymiser',
		4 => 'export_follow',
		2 => 'drop_export_follow',
		4 => 'on_delete_anonymise',
		2 => 'drop_on_delete_anonymise',
		8 => 'anonymise',
		4 => 'anonymise_any',
		5 => 'anonymise_many',
		4 => 'is_anonymised',
		5 => 'export',
		2 => 'export_any',
		8 => 'key_exists',
		6 => 'delete_key',
		3 => 'search',
		2 => 'export_search',
		2 => 'anonymise_search',
		1 => 'pseudonym',
		1 => 'anonymise_db',
		1 => 'ship_log',
		1 => 'rerun',
		3 => 'delete_row');

	if ($which eq 'register')
	{
		my $t = wpick(3 => pick(@tables), 1 => undef);
		my $rel = defined $t ? lit($t) : rel_expr();
		my @args = ($rel, name_array($t));
		if (chance(0.7))
		{
			push @args, "search_fields => " . name_array($t) if chance(0.5);
			push @args, "export_fields => " . name_array($t) if chance(0.3);
			push @args, "export_exclude => " . name_array($t) if chance(0.3);
			push @args, "can_anonymise => " . pick('true', 'false', 'NULL') if chance(0.3);
		}
		my $pre = chance(0.5) && defined $t ? "SELECT gdpr.unregister(" . lit($t) . ")" : undef;
		return (($pre // ()), "SELECT gdpr.register(" . join(', ', @args) . ")");
	}
	if ($which eq 'unregister')
	{
		return "SELECT gdpr.unregister(" . rel_expr() . ")";
	}
	if ($which eq 'set_anonymiser')
	{
		my $t = wpick(5 => pick(@registered), 1 => undef);
		my $rel = defined $t ? lit($t) : rel_expr();
		my $m = method_name();
		my $call = "SELECT gdpr.set_anonymiser($rel, " . lit(column_name($t)) . ', ' . lit($m);
		$call .= ', ' . lit(method_argument($m)) if chance(0.85);
		$call .= ')';
		my @s = ($call);
		push @s, follow_up($t) if defined $t && chance(0.5);
		return @s;
	}
	if ($which =~ /^(drop_)?(export_follow|on_delete_anonymise)$/)
	{
		my $t = wpick(5 => pick(@registered, 'fz.nopk'), 1 => undef);
		my $rel = defined $t ? lit($t) : rel_expr();
		my @s = ("SELECT gdpr.$which($rel, " . lit(constraint_name($t)) . ")");
		push @s, "DELETE FROM fz.person WHERE id = " . (1 + rnd(21)) if chance(0.3);
		push @s, "SELECT gdpr.export('fz.person', " . lit(key_text()) . ")" if chance(0.3);
		return @s;
	}
	if ($which eq 'anonymise')
	{
		return "SELECT gdpr.anonymise(" . rel_expr() . ', ' . lit(key_text()) . opt_force() . ")";
	}
	if ($which eq 'anonymise_any')
	{
		return "SELECT gdpr.anonymise(" . rel_expr() . ', ' . key_any() . opt_force() . ")";
	}
	if ($which eq 'anonymise_many')
	{
		return "SELECT gdpr.anonymise_many(" . rel_expr() . ', ' . key_array() . opt_force() . ")";
	}
	if ($which eq 'is_anonymised')
	{
		my $k = chance(0.7) ? lit(key_text()) : key_any();
		return "SELECT gdpr.is_anonymised(" . rel_expr() . ", $k)";
	}
	if ($which eq 'export')
	{
		return "SELECT gdpr.export(" . rel_expr() . ', ' . lit(key_text()) . ")";
	}
	if ($which eq 'export_any')
	{
		return "SELECT gdpr.export(" . rel_expr() . ', ' . key_any() . ")";
	}
	if ($which eq 'key_exists' || $which eq 'delete_key')
	{
		return "SELECT gdpr.$which(" . rel_expr() . ', ' . lit(key_text()) . ")";
	}
	if ($which =~ /^(search|anonymise_search)$/)
	{
		return "SELECT * FROM gdpr.$which(" . lit(term()) . ")";
	}
	if ($which eq 'export_search')
	{
		return "SELECT gdpr.export_search(" . lit(term()) . ")";
	}
	if ($which eq 'pseudonym')
	{
		my @s;
		push @s, "SET LOCAL gdpr.pseudonym_key = " . lit(rand_text()) if chance(0.5);
		push @s, "SELECT gdpr.pseudonym(" . lit(rand_text()) . ")";
		return @s;
	}
	if ($which eq 'anonymise_db')
	{
		my @s;
		push @s, "SET LOCAL gdpr.allow_anonymise_db = on" if chance(0.7);
		push @s, "SELECT * FROM gdpr.anonymise_db("
		  . wpick(3 => 'current_database()', 1 => lit(rand_text()), 1 => 'NULL') . ")";
		return @s;
	}
	if ($which eq 'ship_log')
	{
		return "SELECT gdpr.ship_log()";
	}
	if ($which eq 'rerun')
	{
		return "SELECT * FROM gdpr.rerun(" . pick('', 'true', 'false', 'NULL', 'dry_run => true') . ")";
	}
	# delete_row
	return pick(
		"DELETE FROM fz.person WHERE id = " . (1 + rnd(21)),
		"DELETE FROM fz.comment WHERE id = " . (1 + rnd(41)),
		"DELETE FROM fz.account WHERE login = " . lit('user' . (1 + rnd(21))),
		"DELETE FROM fz.wide WHERE id = " . (1 + rnd(6)),
		"DELETE FROM fz.person WHERE id > " . rnd(21),
		"UPDATE fz.person SET id = id + 100 WHERE id = " . (1 + rnd(21)),);
}

# what uses a table's registration afterwards
sub follow_up
{
	my ($t) = @_;
	$t //= pick(@registered);
	my $key = $t eq 'fz.account' ? lit('user' . (1 + rnd(21)))
	  : $t eq 'fz.visit' ? lit('(' . (1 + rnd(20)) . ',2024-01-' . sprintf('%02d', 2 + rnd(20)) . ')')
	  : $t eq 'fz.parted' ? lit('(' . (1 + rnd(10)) . ',' . (1 + rnd(2)) . ')')
	  : lit(1 + rnd(21));
	return split /\n(?=SELECT|DELETE)/, wpick(
		6 => "SELECT gdpr.anonymise(" . lit($t) . ", $key, force => true)",
		2 => "SELECT gdpr.anonymise_many(" . lit($t) . ", ARRAY[$key, $key]::text[], true)",
		2 => "SELECT gdpr.export(" . lit($t) . ", $key)",
		1 => "SELECT * FROM gdpr.search(" . lit(term()) . ")",
		1 => "SELECT * FROM gdpr.anonymise_search(" . lit(term()) . ")",
		1 => "SELECT gdpr.delete_key(" . lit($t) . ", $key)",
		1 => "DELETE FROM fz.person WHERE id = " . (1 + rnd(21)),
		1 => "SET LOCAL gdpr.allow_anonymise_db = on\nSELECT * FROM gdpr.anonymise_db(current_database())",
		1 => "SELECT * FROM gdpr.registered_columns",);
}

############################################################################
# Generators: declarations
############################################################################

sub json_string
{
	my ($s) = @_;
	$s //= rand_word();
	$s =~ s/\\/\\\\/g;
	$s =~ s/"/\\"/g;
	$s =~ s/\n/\\n/g;
	$s =~ s/\t/\\t/g;
	$s =~ s/\r/\\r/g;
	return "\"$s\"";
}

sub json_odd_string
{
	return wpick(
		6 => json_string(rand_text()),
		1 => '"\\u0000"',
		1 => '"a\\u0000b"',
		1 => '"\\ud83d\\ude00"',
		1 => '"\\ud800"',
		1 => '"\\udc00\\ud800"',
		1 => '"\\uZZZZ"',
		1 => '"\\u00e9\\u20ac"',
		1 => '"\\/\\b\\f\\n\\r\\t\\"\\\\"',
		1 => '"\\x41"',
		1 => '"\\',
		1 => "\"a\tb\"",
		1 => "\"a\nb\"",
		1 => "'single'",
		1 => '"' . pick(@utf8) . '"',
		1 => '""',);
}

sub json_value
{
	my ($depth) = @_;
	$depth //= 0;
	my $k = wpick(
		5 => 'string',
		3 => 'number',
		2 => 'bool',
		1 => 'null',
		($depth < 3 ? (2 => 'array', 2 => 'object') : ()),
		1 => 'odd');
	return json_odd_string() if $k eq 'string';
	return rand_number() if $k eq 'number';
	return pick('true', 'false', 'TRUE', 'True') if $k eq 'bool';
	return pick('null', 'NULL', 'nul') if $k eq 'null';
	if ($k eq 'array')
	{
		return '[' . join(', ', map { json_value($depth + 1) } 1 .. rnd(4)) . ']';
	}
	if ($k eq 'object')
	{
		return '{'
		  . join(', ', map { json_string(rand_word()) . ': ' . json_value($depth + 1) } 1 .. rnd(4))
		  . '}';
	}
	return pick('undefined', 'NaN', 'Infinity', '-Infinity', '0x1F', '01', '.5', '5.', '+1', '1e',
		'--1', "'x'", '[,]', '{,}', '[1,]', '{"a":1,}', '', 'tru', 'nulll');
}

sub json_array_of_names
{
	my ($t) = @_;
	return wpick(
		6 => '[' . join(', ', map { json_string(column_name($t) // 'x') } 1 .. rnd(5)) . ']',
		1 => '[]',
		1 => 'null',
		1 => '[null]',
		1 => '["name", "name"]',
		1 => '[1, 2]',
		1 => '[["name"]]',
		1 => '{"name": true}',
		1 => json_value(),);
}

# key => value pairs for a declaration on a column, table or constraint
sub decl_pairs
{
	my ($kind, $t) = @_;
	my @pairs;
	if ($kind eq 'column')
	{
		my $m = method_name();
		push @pairs, ['"pii"', wpick(4 => pick('true', 'false'), 1 => json_value())] if chance(0.5);
		push @pairs, ['"anonymise"', wpick(6 => json_string($m // 'null'), 1 => json_value())]
		  if chance(0.7);
		if (defined $m && $m eq 'value' && chance(0.8) || chance(0.1))
		{
			push @pairs, ['"value"', wpick(
				4 => json_string(method_argument('value') // ''),
				3 => rand_number(),
				1 => pick('true', 'false', 'null'),
				2 => json_value())];
		}
		if (defined $m && $m eq 'function' && chance(0.8) || chance(0.1))
		{
			push @pairs, ['"function"', wpick(6 => json_string(function_argument()), 1 => json_value())];
		}
		push @pairs, ['"search"', wpick(4 => pick('true', 'false'), 1 => json_value())] if chance(0.3);
		push @pairs, ['"export"', wpick(4 => pick('true', 'false'), 1 => json_value())] if chance(0.3);
	}
	elsif ($kind eq 'table')
	{
		push @pairs, ['"can_anonymise"', wpick(4 => pick('true', 'false'), 1 => json_value())]
		  if chance(0.5);
		push @pairs, ['"export_fields"', json_array_of_names($t)] if chance(0.4);
		push @pairs, ['"export_exclude"', json_array_of_names($t)] if chance(0.5);
	}
	else
	{
		push @pairs, ['"on_delete"', wpick(5 => '"anonymise"', 1 => json_string(rand_word()), 1 => json_value())]
		  if chance(0.6);
		push @pairs, ['"export"', wpick(5 => '"follow"', 1 => json_string(rand_word()), 1 => json_value())]
		  if chance(0.5);
	}
	# random keys, keys of another kind, odd spellings
	if (chance(0.2))
	{
		push @pairs, [
			json_string(pick(
				'pii', 'anonymise', 'value', 'function', 'search', 'export', 'can_anonymise',
				'export_fields', 'export_exclude', 'on_delete', 'PII', 'anonymi' . 'ze', ' pii', 'pii ',
				'', "p\\u0069i", rand_word())),
			json_value()];
	}
	# duplicate keys
	if (@pairs && chance(0.15))
	{
		my $p = $pairs[ rnd(scalar @pairs) ];
		push @pairs, [ $p->[0], chance(0.5) ? $p->[1] : json_value() ];
	}
	# shuffle
	for (my $i = @pairs - 1; $i > 0; $i--)
	{
		my $j = rnd($i + 1);
		@pairs[ $i, $j ] = @pairs[ $j, $i ];
	}
	return @pairs;
}

sub ws { return wpick(6 => '', 3 => ' ', 1 => "\n", 1 => "\t", 1 => "  \r\n "); }

sub decl_json
{
	my ($kind, $t) = @_;
	my @pairs = decl_pairs($kind, $t);
	my $json = ws() . '{' . ws()
	  . join(',' . ws(), map { $_->[0] . ws() . ':' . ws() . $_->[1] } @pairs)
	  . ws() . '}' . ws();

	# mutations
	my $mut = wpick(
		30 => 'none',
		4 => 'truncate',
		2 => 'drop_char',
		2 => 'insert_char',
		2 => 'deep',
		2 => 'not_object',
		1 => 'trailing',
		1 => 'empty',
		1 => 'huge',
		1 => 'bom',
		1 => 'comment',
		1 => 'nested_decl');
	if ($mut eq 'truncate' && length $json)
	{
		$json = substr($json, 0, rnd(length $json));
	}
	elsif ($mut eq 'drop_char' && length $json)
	{
		substr($json, rnd(length $json), 1) = '';
	}
	elsif ($mut eq 'insert_char')
	{
		substr($json, rnd(1 + length $json), 0) =
		  pick('{', '}', '[', ']', ',', ':', '"', '\\', "'", ' ', 'x', '0', "\x01", pick(@utf8));
	}
	elsif ($mut eq 'deep')
	{
		my $n = pick(10, 100, 999, 1000, 1001, 5000, 20000);
		my ($o, $c) = chance(0.5) ? ('[', ']') : ('{"a":', '}');
		my $inner = ($o x $n) . '1' . ($c x (chance(0.8) ? $n : rnd($n)));
		$json = chance(0.5) ? $inner : '{"pii": true, "x": ' . $inner . '}';
	}
	elsif ($mut eq 'not_object')
	{
		$json = pick('[]', '[{"pii": true}]', '"pii"', '1', 'true', 'null', '{}{}', '{"pii": true}}',
			'{"pii": true', '{{}}', 'pii: true', '{pii: true}', "{'pii': true}", ' ', '');
	}
	elsif ($mut eq 'trailing')
	{
		$json .= pick(' x', ',', '}', ' {}', ' gdpr: {}', "\n-- comment", ' null');
	}
	elsif ($mut eq 'empty')
	{
		$json = pick('', ' ', "\n\t ", '{}', '{ }');
	}
	elsif ($mut eq 'huge')
	{
		my $big = pick('1' . ('9' x 400), '1e999999', '-' . ('9' x 5000), '0.' . ('0' x 1000) . '1');
		$json = '{"pii": ' . pick($big, 'true') . ', "anonymise": "value", "value": ' . $big . '}';
	}
	elsif ($mut eq 'bom')
	{
		$json = "\x{feff}" . $json;
	}
	elsif ($mut eq 'comment')
	{
		$json = '/* c */ ' . $json;
	}
	elsif ($mut eq 'nested_decl')
	{
		$json = '{"pii": true, "value": "gdpr: {\\"pii\\": false}"}';
	}
	return $json;
}

sub gen_decl
{
	my $kind = wpick(6 => 'column', 3 => 'table', 3 => 'constraint', 2 => 'other');
	my $form = chance(0.5) ? 'label' : 'comment';
	my ($t, $object);
	if ($kind eq 'column')
	{
		$t = wpick(8 => pick(@registered), 3 => pick(@tables), 1 => 'fz.comp');
		my $c = column_name($t) // 'name';
		$object = 'COLUMN ' . $t . '.' . (chance(0.8) ? qq{"$c"} : $c);
	}
	elsif ($kind eq 'table')
	{
		$t = wpick(8 => pick(@registered), 3 => pick(@tables), 1 => 'gdpr.queue', 1 => 'pg_class');
		my $what = 'TABLE';
		$what = 'VIEW' if $t eq 'fz.v' && chance(0.7);
		$what = 'MATERIALIZED VIEW' if $t eq 'fz.mv' && chance(0.7);
		$object = "$what $t";
	}
	elsif ($kind eq 'constraint')
	{
		$t = wpick(6 => pick(@registered), 1 => pick(@tables));
		$form = 'comment';
		$object = 'CONSTRAINT ' . (constraint_name($t) // 'comment_author_fkey') . " ON $t";
		$object = 'CONSTRAINT comment_author_fkey ON fz.comment' if chance(0.3);
	}
	else
	{
		$object = pick(
			'SCHEMA fz', 'SEQUENCE fz.s', 'VIEW fz.v', 'MATERIALIZED VIEW fz.mv', 'FUNCTION fz.mask(text)',
			'TYPE fz.comp', 'TYPE fz.mood', 'DOMAIN fz.zipcode', 'COLUMN fz.v.name', 'COLUMN fz.mv.id',
			'COLUMN fz.comp.a', 'ROLE fz_user', 'AGGREGATE fz.agg(text)', 'PROCEDURE fz.proc(text)');
		$object = pick('INDEX fz.person_name_idx', 'INDEX fz.person_pkey', 'CONSTRAINT person_zip_check ON DOMAIN fz.zipcode')
		  if $form eq 'comment' && chance(0.3);
		$kind = pick('column', 'table');
	}

	my $json = decl_json($kind eq 'other' ? 'column' : $kind, $t);
	my $stmt;
	if ($form eq 'label')
	{
		my $provider = wpick(10 => 'FOR gdpr ', 1 => '', 1 => 'FOR "gdpr" ', 1 => 'FOR GDPR ');
		my $value = chance(0.05) ? 'NULL' : lit($json);
		$stmt = "SECURITY LABEL ${provider}ON $object IS $value";
	}
	else
	{
		my $prefix = wpick(
			6 => '',
			3 => 'Full name. ',
			1 => 'gdpr: {"pii": true} then ',
			1 => 'GDPR: ',
			1 => "multi\nline\n",
			1 => rand_text() . ' ');
		my $marker = wpick(12 => 'gdpr: ', 2 => 'gdpr:', 1 => 'gdpr :', 1 => 'GDPR: ', 1 => 'nogdpr: ', 1 => 'gdpr:  ');
		my $value = chance(0.05) ? 'NULL' : lit($prefix . $marker . $json);
		$value = lit(rand_text()) if chance(0.03);
		$stmt = "COMMENT ON $object IS $value";
	}
	my @s = ($stmt);
	# apply it twice (idempotency paths), remove it again, or use it
	push @s, $stmt if chance(0.1);
	push @s, follow_up(defined $t && grep({ $_ eq $t } @registered) ? $t : undef) if chance(0.4);
	push @s, "SECURITY LABEL FOR gdpr ON $object IS NULL" if $form eq 'label' && chance(0.1);
	return @s;
}

############################################################################
# Generators: structured scenarios
############################################################################

# many columns of one table with a constant or other methods, then use it
sub gen_wide
{
	my $n = wpick(3 => 1 + rnd($nwide), 4 => 90 + rnd(41), 1 => $nwide);
	my $method = wpick(6 => 'value', 1 => 'mixed', 1 => 'email', 1 => 'hash', 1 => 'function');
	my $via = wpick(4 => 'function', 1 => 'label', 1 => 'comment');
	my @s;
	push @s, "SET LOCAL gdpr.pseudonym_key = 'k'";
	my $mexpr = $method eq 'mixed'
	  ? "(ARRAY['value','email','hash','null','function','blank'])[1 + i % 6]"
	  : lit($method);
	my $aexpr = "CASE $mexpr WHEN 'value' THEN 'v' || i WHEN 'function' THEN 'fz.mask(text)' END";
	if ($via eq 'function')
	{
		push @s, "SELECT gdpr.set_anonymiser('fz.wide', 'c' || i, $mexpr, $aexpr) "
		  . "FROM generate_series(1, $n) i";
	}
	else
	{
		my $tmpl = $via eq 'label'
		  ? q{'SECURITY LABEL FOR gdpr ON COLUMN fz.wide.%I IS %L'}
		  : q{'COMMENT ON COLUMN fz.wide.%I IS %L'};
		my $pre = $via eq 'label' ? "''" : "'gdpr: '";
		push @s, "DO \$d\$ DECLARE m text; a text; BEGIN FOR i IN 1 .. $n LOOP m := $mexpr; a := $aexpr; "
		  . "EXECUTE format($tmpl, 'c' || i, $pre || json_strip_nulls(json_build_object('anonymise', m, "
		  . "CASE m WHEN 'value' THEN 'value' ELSE 'function' END, a))); END LOOP; END \$d\$";
	}
	push @s, split /\n(?=SELECT|DELETE)/, wpick(
		5 => "SELECT gdpr.anonymise('fz.wide', " . lit(1 + rnd(5)) . ", force => true)",
		2 => "SELECT gdpr.anonymise_many('fz.wide', ARRAY['1', '2', '3'], true)",
		1 => "SET LOCAL gdpr.allow_anonymise_db = on\nSELECT * FROM gdpr.anonymise_db(current_database())",
		1 => "SELECT * FROM gdpr.anonymise_search('x')",
		2 => "SELECT gdpr.on_delete_anonymise('fz.wide', 'wide_person_fkey')\nDELETE FROM fz.person WHERE id = "
		  . (1 + rnd(5)),);
	return @s;
}

# DDL after registration, temporary tables, another role
sub gen_misc
{
	my $what = wpick(3 => 'ddl', 2 => 'temp', 2 => 'role', 1 => 'reregister');
	if ($what eq 'ddl')
	{
		my $ddl = pick(
			'ALTER TABLE fz.person DROP CONSTRAINT person_pkey CASCADE',
			'ALTER TABLE fz.person DROP COLUMN phone',
			'ALTER TABLE fz.person RENAME COLUMN email TO mail',
			'ALTER TABLE fz.person RENAME TO people',
			'ALTER TABLE fz.person ALTER COLUMN nickname TYPE varchar(3) USING left(nickname, 3)',
			'ALTER TABLE fz.person ALTER COLUMN phone SET NOT NULL',
			'ALTER TABLE fz.comment DROP CONSTRAINT comment_author_fkey',
			'ALTER TABLE fz.comment ADD COLUMN extra text',
			'ALTER TABLE fz.person ADD CONSTRAINT person_phone_key UNIQUE (phone)',
			'ALTER TABLE fz.account ALTER COLUMN secret TYPE int USING length(secret)',
			'DROP TABLE fz.comment',
			'DROP TABLE fz.wide',
			'DROP FUNCTION fz.mask(text) CASCADE',
			'ALTER SCHEMA fz RENAME TO fz2',
			'TRUNCATE fz.comment',
			'CREATE TRIGGER gdpr_log_delete AFTER DELETE ON fz.nopk FOR EACH ROW EXECUTE FUNCTION fz.trg()',
			'ALTER TABLE fz.person ALTER COLUMN nickname TYPE int USING length(nickname)',
			'ALTER TABLE fz.person ALTER COLUMN email TYPE varchar(5) USING left(email, 5)',
			'ALTER TABLE fz.person ALTER COLUMN name DROP NOT NULL',
			'ALTER TABLE fz.person ALTER COLUMN phone SET DEFAULT fz.noargs()',
			'ALTER TABLE fz.person ADD COLUMN later text',
			'ALTER TABLE fz.person DROP COLUMN born',
			'ALTER TABLE fz.comment ALTER COLUMN author_id DROP DEFAULT',
			'ALTER TABLE fz.comment DROP CONSTRAINT comment_author_fkey, ADD CONSTRAINT comment_author_fkey '
			  . 'FOREIGN KEY (author_id) REFERENCES fz.person ON DELETE CASCADE',
			'ALTER TABLE fz.wide DROP COLUMN c1',
			'DROP TYPE fz.mood CASCADE',
			'DROP DOMAIN fz.zipcode CASCADE',
			'CREATE FUNCTION fz.mask(old text, key text) RETURNS text LANGUAGE sql AS $$ SELECT key $$');
		my @s;
		push @s, pick(
			"SELECT gdpr.set_anonymiser('fz.person', 'nickname', 'function', 'fz.mask')",
			"SELECT gdpr.set_anonymiser('fz.person', 'phone', 'column_default')",
			"SELECT gdpr.set_anonymiser('fz.person', 'email', 'email')",
			"SELECT gdpr.set_anonymiser('fz.person', 'nickname', 'value', '12')",
			"SELECT gdpr.set_anonymiser('fz.person', 'mood', 'default')",
			"SELECT gdpr.set_anonymiser('fz.person', 'zip', 'value', '54321')",
			"SECURITY LABEL FOR gdpr ON COLUMN fz.person.nickname IS '{\"anonymise\": \"function\", \"function\": \"fz.mask\"}'")
		  if chance(0.6);
		push @s, $ddl;
		push @s, follow_up(pick('fz.person', 'fz.comment', 'fz.wide', 'fz.account')) if chance(0.7);
		push @s, map { gen_call() } 1 .. rnd(2);
		return @s;
	}
	if ($what eq 'temp')
	{
		my @s = ('CREATE TEMP TABLE fz_tmp (id int PRIMARY KEY, n text, m text NOT NULL DEFAULT \'\')',
			"INSERT INTO fz_tmp VALUES (1, 'a', 'b'), (2, 'c', 'd')");
		push @s, wpick(
			2 => "SELECT gdpr.register('fz_tmp', ARRAY['n', 'm'])",
			1 => "SECURITY LABEL FOR gdpr ON COLUMN fz_tmp.n IS " . lit(decl_json('column', 'fz.person')),
			1 => "COMMENT ON TABLE fz_tmp IS " . lit('gdpr: ' . decl_json('table', 'fz.person')));
		push @s, pick("SELECT gdpr.anonymise('fz_tmp', '1')", "SELECT gdpr.export('fz_tmp', '2')",
			"DELETE FROM fz_tmp", "SELECT gdpr.key_exists('fz_tmp', '1')", "DROP TABLE fz_tmp");
		return @s;
	}
	if ($what eq 'role')
	{
		my @s = ('SET LOCAL ROLE fz_user');
		push @s, map { chance(0.3) ? gen_decl() : gen_call() } 1 .. (1 + rnd(3));
		return @s;
	}
	# unregister then declare, or declare then register
	my $t = pick(@registered);
	return ("SELECT gdpr.unregister(" . lit($t) . ")", gen_decl(), gen_call());
}

sub gen_case
{
	my ($i) = @_;
	rng_seed($seed, $i);
	my @s;
	my $kind = wpick(46 => 'decl', 46 => 'call', 2 => 'wide', 6 => 'misc');
	@s = $kind eq 'decl' ? gen_decl()
	  : $kind eq 'call' ? gen_call()
	  : $kind eq 'wide' ? gen_wide()
	  : gen_misc();
	# sometimes two things in one case
	push @s, ($kind eq 'call' ? gen_decl() : gen_call()) if chance(0.15);
	return \@s;
}

############################################################################
# Running
############################################################################

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'gdpr'
gdpr.pseudonym_key = 'fuzz-secret'
restart_after_crash = on
log_min_error_statement = panic
log_statement = none
max_stack_depth = '2MB'
});
$node->start;
$node->safe_psql('postgres',
	"CREATE DATABASE fuzz ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
$node->safe_psql('fuzz', $fixture);


sub array_lit
{
	my ($stmts) = @_;
	return 'ARRAY[' . join(', ', map { lit($_) } @$stmts) . ']::text[]';
}

# Run cases (id => [stmts]) in one psql session; returns (ok, stderr)
sub run_cases
{
	my ($cases, $lo, $hi) = @_;
	my $sql = "SET client_min_messages = warning;\n"
	  . "DELETE FROM fuzz.fcase WHERE id BETWEEN $lo AND $hi;\n"
	  . "DELETE FROM fuzz.outcome WHERE id BETWEEN $lo AND $hi;\n"
	  . "INSERT INTO fuzz.fcase VALUES\n"
	  . join(",\n", map { "($_, " . array_lit($cases->{$_}) . ')' } grep { exists $cases->{$_} } $lo .. $hi)
	  . ";\nCALL fuzz.run($lo, $hi);\n";
	my ($stdout, $stderr);
	my $rc = $node->psql('fuzz', encode_utf8($sql), stdout => \$stdout, stderr => \$stderr,
		on_error_stop => 1, timeout => $PostgreSQL::Test::Utils::timeout_default);
	return ($rc == 0, $stderr // '');
}

# Whether the server crashed since the last call: a crash restart keeps the
# postmaster (and pg_postmaster_start_time) but replaces every other
# process, so the checkpointer's pid tells, and the server log says why.
my $log_offset = -s $node->logfile;

sub server_identity
{
	my ($stdout, $stderr);
	for my $try (1 .. 120)
	{
		my $rc = $node->psql('postgres', q{
SELECT pg_postmaster_start_time() || ' ' || (SELECT pid FROM pg_stat_activity
                                              WHERE backend_type = 'checkpointer')},
			stdout => \$stdout, stderr => \$stderr);
		return $stdout if $rc == 0;
		sleep 1;
	}
	BAIL_OUT('the server did not come back');
}

my $server_id = server_identity();

sub server_restarted
{
	my $id = server_identity();
	open(my $fh, '<', $node->logfile) or die "could not open the server log: $!";
	seek($fh, $log_offset, 0);
	my @lines = grep {
		/terminated by signal|terminated by exception|server processes terminated; reinitializing|PANIC:|TRAP:/
	} <$fh>;
	$log_offset = tell($fh);
	close($fh);
	my $restarted = $id ne $server_id || @lines;
	diag("server log:\n" . join('', @lines)) if @lines;
	$server_id = $id;
	return $restarted;
}

sub show_case
{
	my ($stmts) = @_;
	return encode_utf8(join('', map { "    $_;\n" } @$stmts));
}

my %cases;
my @crashes;
my $t0 = time;
for (my $lo = 1; $lo <= $ncases && @crashes < 5; $lo += $batch_size)
{
	my $hi = $lo + $batch_size - 1;
	$hi = $ncases if $hi > $ncases;
	$cases{$_} = gen_case($_) for $lo .. $hi;
	my $from = $lo;
	while ($from <= $hi)
	{
		my %batch = map { $_ => $cases{$_} } $from .. $hi;
		my ($ok, $stderr) = run_cases(\%batch, $from, $hi);
		my $restarted = server_restarted();
		last if $ok && !$restarted;

		# the case that was running: the first without an outcome
		my $bad = 1 + $node->safe_psql('fuzz',
			"SELECT coalesce(max(id), $from - 1) FROM fuzz.outcome WHERE id BETWEEN $from AND $hi");
		if ($bad > $hi)
		{
			push @crashes, [ "$from..$hi", $stderr, $restarted ];
			diag("cases $from..$hi: the session failed after the last case\n$stderr");
			last;
		}
		push @crashes, [ $bad, $stderr, $restarted ];
		diag("case $bad: " . ($restarted ? 'the server restarted' : 'the session failed')
			  . " (seed $seed)\n$stderr\n" . show_case($cases{$bad}));
		$node->safe_psql('fuzz', "INSERT INTO fuzz.outcome (id, sqlstate) VALUES ($bad, 'CRASH')");
		last if @crashes >= 5;
		$from = $bad + 1;
	}
}
my $elapsed = time - $t0;
diag(sprintf('%d cases in %.1f s', $ncases, $elapsed));

is(scalar(@crashes), 0, 'no case crashed the server or the session');
is($node->safe_psql('fuzz', "SELECT count(*) FROM fuzz.outcome"),
	$ncases, 'every case has an outcome') unless @crashes;

# a view of what happened, by SQLSTATE (for the log)
note($node->safe_psql('fuzz',
	"SELECT string_agg(sqlstate || ' ' || n, ', ' ORDER BY n DESC) FROM "
	  . "(SELECT sqlstate, count(*) n FROM fuzz.outcome GROUP BY 1) s"));

# GDPR_FUZZ_STATS=1: the commonest outcomes, to see how deep the cases get
if ($ENV{GDPR_FUZZ_STATS})
{
	diag($node->safe_psql('fuzz', q{
SELECT n || '  ' || sqlstate || '  ' || left(m, 150)
  FROM (SELECT sqlstate, regexp_replace(coalesce(message, ''), '[0-9]+', 'N', 'g') m, count(*) n
          FROM fuzz.outcome GROUP BY 1, 2) s
 ORDER BY n DESC LIMIT 80}));
	diag("the slowest cases:\n" . $node->safe_psql('fuzz', q{
SELECT round(o.ms) || ' ms  ' || o.id || '  ' || left(array_to_string(c.stmts, '; '), 200)
  FROM fuzz.outcome o JOIN fuzz.fcase c USING (id) ORDER BY o.ms DESC LIMIT 15}));
	diag($node->safe_psql('fuzz', q{
SELECT 'all cases: ' || round(sum(ms)) || ' ms in the server' FROM fuzz.outcome}));
}

# internal errors: group them by message (numbers blanked), smallest case first
my $rows = $node->safe_psql('fuzz', q{
SELECT o.id, o.step, regexp_replace(o.message, '[0-9]+', 'N', 'g'),
       replace(o.message, E'\n', ' ')
  FROM fuzz.outcome o JOIN fuzz.fcase c USING (id)
 WHERE o.sqlstate = 'XX000'
 ORDER BY 3, length(array_to_string(c.stmts, ';')), o.id});
my %groups;
my @order;
for my $line (split /\n/, $rows)
{
	my ($id, $step, $sig, $msg) = split /\|/, $line, 4;
	push @order, $sig unless $groups{$sig};
	push @{ $groups{$sig} }, [ $id, $step, $msg ];
}

# shrink a case: drop statements after the failing one, then each earlier
# statement that is not needed to get the same message
my $probe_id = 1_000_000;

sub outcome_of
{
	my ($stmts) = @_;
	my $id = $probe_id++;
	my ($ok) = run_cases({ $id => $stmts }, $id, $id);
	server_restarted();
	return ('', '') unless $ok;
	my $r = $node->safe_psql('fuzz',
		"SELECT sqlstate, regexp_replace(message, '[0-9]+', 'N', 'g') FROM fuzz.outcome WHERE id = $id");
	return split /\|/, $r, 2;
}

sub shrink
{
	my ($stmts, $step, $sig) = @_;
	my @s = @{$stmts}[ 0 .. $step - 1 ];
	for (my $i = 0; $i < @s - 1;)
	{
		my @try = @s;
		splice(@try, $i, 1);
		my ($st, $m) = outcome_of(\@try);
		if ($st eq 'XX000' && $m eq $sig) { @s = @try; }
		else { $i++; }
	}
	# the smallest column count of a "many columns" case that still fails
	for my $j (0 .. $#s)
	{
		next unless $s[$j] =~ /(?:1 \.\. |generate_series\(1, )(\d+)/;
		my ($lo, $hi) = (1, $1);
		while ($lo < $hi)
		{
			my $mid = int(($lo + $hi) / 2);
			my @try = @s;
			$try[$j] =~ s/(1 \.\. |generate_series\(1, )\d+/$1$mid/;
			my ($st, $m) = outcome_of(\@try);
			if ($st eq 'XX000' && $m eq $sig) { $hi = $mid; }
			else { $lo = $mid + 1; }
		}
		$s[$j] =~ s/(1 \.\. |generate_series\(1, )\d+/$1$lo/;
	}
	return \@s;
}

for my $sig (@order)
{
	my $g = $groups{$sig};
	my ($id, $step, $msg) = @{ $g->[0] };
	my $min = shrink($cases{$id}, $step, $sig);
	my $fn = $min->[-1] =~ /gdpr\.(\w+)/ ? "gdpr.$1"
	  : $min->[-1] =~ /^(SECURITY LABEL|COMMENT|DELETE|UPDATE|DO)/ ? $1 : 'statement';
	fail("internal error (XX000) in $fn: $msg");
	diag(sprintf("%d case(s) with this message, e.g. case %d (seed %d); it fails with:\n%s",
			scalar(@$g), $id, $seed, show_case($min)));
	# the other statements that raised it, shortest first
	my %seen = ($min->[-1] => 1);
	my @others = grep { !$seen{ $_->[1] }++ }
	  sort { length($a->[1]) <=> length($b->[1]) || $a->[1] cmp $b->[1] }
	  map { [ $_->[0], $cases{ $_->[0] }[ $_->[1] - 1 ] ] } @$g;
	splice(@others, 8) if @others > 8;
	diag("  also raised by (the failing statement of the case):\n"
		  . encode_utf8(join('', map { "    case $_->[0]: $_->[1];\n" } @others)))
	  if @others;
}
is(scalar(@order), 0, 'no case raised an internal error (SQLSTATE XX000)');

# a message that names an object "(null)" printed a NULL pointer with %s,
# which glibc forgives and other C libraries need not
my $nulls = $node->safe_psql('fuzz', q{
SELECT o.id || '|' || o.step || '|' || o.sqlstate || '|' || replace(o.message, E'\n', ' ')
  FROM fuzz.outcome o JOIN fuzz.fcase c USING (id)
 WHERE o.message LIKE '%"(null)"%'
 ORDER BY length(array_to_string(c.stmts, ';')), o.id LIMIT 1});
if ($nulls ne '')
{
	my ($id, $step, $st, $msg) = split /\|/, $nulls, 4;
	fail("a message printed a NULL string: $st $msg");
	diag("e.g. case $id (seed $seed):\n" . show_case([ @{ $cases{$id} }[ 0 .. $step - 1 ] ]));
}
else
{
	pass('no message printed a NULL string');
}

# the server still answers, and never restarted
ok(!server_restarted() && !grep({ $_->[2] } @crashes), 'the server never restarted');

done_testing();
