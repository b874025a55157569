
# Copyright (c) 2026, gdpr developers

# Classification (SPEC 13), with real sessions, dumps and data:
#
# - the gdpr.unclassified gate at commit time: under "error" (set in
#   postgresql.conf by the administrator) a migration run by the table's
#   owner that adds a column to a registered table and commits without
#   classifying it fails, one that classifies it in the same transaction
#   passes, a column dropped before commit is no error, PREPARE TRANSACTION
#   is checked too, and the owner cannot turn the gate off; under "warning"
#   (a database setting) the commit succeeds with a WARNING;
# - classifications (set_not_pii, ignore, register, {"pii": false}, a
#   declared "ignore") survive pg_dump and pg_restore, custom and plain;
# - gdpr.discover() on Pagila finds the personal data of the customer, staff
#   and address tables (skipped when the Pagila data is not there).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GdprTest qw(gdpr_server);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = gdpr_server('', qq{
gdpr.unclassified = error
max_prepared_transactions = 2
});

$node->safe_psql('postgres', q{
CREATE ROLE app LOGIN;
CREATE EXTENSION gdpr;
GRANT USAGE ON SCHEMA gdpr TO app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA gdpr TO app;
GRANT SELECT ON gdpr.coverage TO app;
GRANT CREATE ON SCHEMA public TO app;
CREATE DATABASE soft;
});
$node->safe_psql('postgres', q{
SET ROLE app;
CREATE TABLE person (id int PRIMARY KEY, name text, email text);
SELECT gdpr.register('person', ARRAY['name', 'email']);
});

# psql as app: (exit code, stdout, stderr)
sub as_app
{
	my ($db, $sql) = @_;
	my ($stdout, $stderr);
	my $ret = $node->psql($db, $sql,
		stdout => \$stdout, stderr => \$stderr,
		extra_params => [ '-U', 'app', '-v', 'ON_ERROR_STOP=1' ]);
	return ($ret, $stdout, $stderr);
}

sub columns_of
{
	my ($db, $rel) = @_;
	return $node->safe_psql($db,
		"SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute "
		  . "WHERE attrelid = '$rel'::regclass AND attnum > 0 AND NOT attisdropped");
}

# --- the gate, "error" -----------------------------------------------------

my ($ret, $out, $err) = as_app('postgres', q{
BEGIN;
ALTER TABLE person ADD COLUMN twitter text;
COMMIT;
});
isnt($ret, 0, 'error: a migration adding an unclassified column fails');
like($err, qr/ERROR:  column "twitter" of registered table "person" is not classified/,
	'error: the error names the column');
is(columns_of('postgres', 'person'), 'id,name,email', 'error: the column was not added');

($ret, $out, $err) = as_app('postgres', q{
BEGIN;
ALTER TABLE person ADD COLUMN twitter text;
ALTER TABLE person ADD COLUMN shoe_size int;
SELECT gdpr.set_anonymiser('person', 'twitter', 'null');
SELECT gdpr.set_not_pii('person', ARRAY['shoe_size']);
COMMIT;
});
is($ret, 0, 'error: a migration that adds and classifies in one transaction passes')
  or diag $err;
is($err, '', 'error: and says nothing');
is(columns_of('postgres', 'person'), 'id,name,email,twitter,shoe_size',
	'error: both columns are there');

# a second session sees the classification as soon as it is committed
is( $node->safe_psql('postgres', q{
	SELECT string_agg(column_name || '=' || status, ',' ORDER BY column_name)
	  FROM gdpr.coverage WHERE rel = 'person'::regclass}),
	'email=pii,id=not_pii,name=pii,shoe_size=not_pii,twitter=pii',
	'another session sees the new columns classified');

($ret, $out, $err) = as_app('postgres', q{
BEGIN;
ALTER TABLE person ADD COLUMN scratch text;
ALTER TABLE person DROP COLUMN scratch;
COMMIT;
});
is($ret, 0, 'error: a column dropped before commit is no error') or diag $err;

($ret, $out, $err) = as_app('postgres', q{
BEGIN;
ALTER TABLE person ADD COLUMN fax text;
COMMENT ON COLUMN person.fax IS 'gdpr: {"pii": true, "anonymise": "null"}';
COMMIT;
});
is($ret, 0, 'error: a column classified by a comment passes') or diag $err;

($ret, $out, $err) = as_app('postgres', q{
BEGIN;
ALTER TABLE person ADD COLUMN pager text;
PREPARE TRANSACTION 'p1';
});
isnt($ret, 0, 'error: PREPARE TRANSACTION with an unclassified column fails');
like($err, qr/column "pager" of registered table "person" is not classified/,
	'error: naming it');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0',
	'error: nothing was prepared');

($ret, $out, $err) = as_app('postgres', q{SET gdpr.unclassified = off;});
isnt($ret, 0, 'the table owner cannot turn the gate off');
like($err, qr/permission denied to set parameter "gdpr.unclassified"/, 'superuser-only');

# autocommit: the statement is its own transaction
($ret, $out, $err) = as_app('postgres', q{ALTER TABLE person ADD COLUMN pager text;});
isnt($ret, 0, 'error: an ALTER TABLE on its own fails too');

# --- the gate, "warning" (a database setting) ---------------------------------

$node->safe_psql('postgres', q{ALTER DATABASE soft SET gdpr.unclassified = warning});
$node->safe_psql('soft', q{
CREATE EXTENSION gdpr;
GRANT USAGE ON SCHEMA gdpr TO app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA gdpr TO app;
GRANT SELECT ON gdpr.coverage TO app;
GRANT CREATE ON SCHEMA public TO app;
});
as_app('soft', q{
CREATE TABLE person (id int PRIMARY KEY, name text);
SELECT gdpr.register('person', ARRAY['name']);
});
($ret, $out, $err) = as_app('soft', q{
BEGIN;
ALTER TABLE person ADD COLUMN twitter text;
COMMIT;
});
is($ret, 0, 'warning: the commit succeeds');
like($err, qr/WARNING:  column "twitter" of registered table "person" is not classified/,
	'warning: with a WARNING naming the column');
is( $node->safe_psql('soft',
		q{SELECT status FROM gdpr.coverage WHERE rel = 'person'::regclass AND column_name = 'twitter'}),
	'unclassified', 'warning: coverage shows it unclassified');

# --- classifications survive pg_dump and pg_restore ---------------------------

$node->safe_psql('postgres', q{
CREATE DATABASE app;
});
$node->safe_psql('app', q{
CREATE EXTENSION gdpr;
CREATE TABLE customer (id int PRIMARY KEY, name text, email text, plan text);
SELECT gdpr.register('customer', ARRAY['name', 'email']);
BEGIN;
ALTER TABLE customer ADD COLUMN nickname text;
COMMENT ON COLUMN customer.nickname IS 'gdpr: {"pii": false}';
COMMIT;
CREATE TABLE invoice (id int PRIMARY KEY, total numeric, note text);
SELECT gdpr.set_not_pii('invoice', ARRAY['id', 'total']);
CREATE TABLE country (code text PRIMARY KEY, label text);
SELECT gdpr.ignore('country');
CREATE TABLE currency (code text, label text);        -- no primary key
SECURITY LABEL FOR gdpr ON TABLE currency IS '{"ignore": true}';
CREATE TABLE hobby (id int PRIMARY KEY, label text);
COMMENT ON TABLE hobby IS 'gdpr: {"ignore": true}';
CREATE TABLE later (id int PRIMARY KEY, x text);
});
my $coverage_sql = q{SELECT rel, column_name, status, method FROM gdpr.coverage ORDER BY rel::text, column_name};
my $before = $node->safe_psql('app', $coverage_sql);

my $dumpfile = "$PostgreSQL::Test::Utils::tmp_check/census.dump";
my $plainfile = "$PostgreSQL::Test::Utils::tmp_check/census.sql";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', $node->connstr('app') ],
	'pg_dump -Fc');
$node->command_ok([ 'pg_dump', '-Fp', '-f', $plainfile, '-d', $node->connstr('app') ],
	'pg_dump -Fp');
$node->safe_psql('postgres', 'CREATE DATABASE app_custom; CREATE DATABASE app_plain');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node->connstr('app_custom'), $dumpfile ],
	'pg_restore');
is($node->safe_psql('app_custom', $coverage_sql), $before,
	'pg_restore: every classification is back');
# (not pg_restore -j: a column declaration on a registered table races
# with the data of gdpr.registered_table there, before and apart from
# classification; reported to the lead)
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('app_plain'), '-f', $plainfile ],
	'plain dump restored with psql');
is($node->safe_psql('app_plain', $coverage_sql), $before,
	'plain dump: every classification is back');
like($before, qr/^country\|code\|ignored\|$/m, 'sanity: an ignored table');
like($before, qr/^customer\|nickname\|not_pii\|$/m, 'sanity: a declared not_pii column');
like($before, qr/^currency\|code\|ignored\|$/m, 'sanity: a declared ignore without a key');
like($before, qr/^later\|x\|unclassified\|$/m, 'sanity: an unclassified column');

# --- discover on Pagila --------------------------------------------------------

my @candidates;
push @candidates, "$ENV{GDPR_SHARED_DIR}/data/pagila" if $ENV{GDPR_SHARED_DIR};
push @candidates, "$ENV{TESTDIR}/../shared/data/pagila" if $ENV{TESTDIR};
push @candidates, "$FindBin::RealBin/../../shared/data/pagila";
push @candidates, '/work/shared/data/pagila';
my ($pagila) = grep { -f "$_/pagila-schema.sql" && -f "$_/pagila-data.sql" } @candidates;

SKIP:
{
	skip 'pagila data not found at ' . join(', ', @candidates), 5 unless defined $pagila;
	diag "using pagila data from $pagila";
	$node->safe_psql('postgres', 'CREATE DATABASE pagila');
	$node->safe_psql('pagila', 'CREATE EXTENSION gdpr');
	foreach my $part ('schema', 'data')
	{
		my $src = "$pagila/pagila-$part.sql";
		my $dst = "$PostgreSQL::Test::Utils::tmp_check/pagila-$part.sql";
		open(my $in, '<', $src) or die "could not open $src: $!";
		open(my $outf, '>', $dst) or die "could not create $dst: $!";
		while (my $line = <$in>)
		{
			print $outf $line unless $line =~ /OWNER TO postgres;/;
		}
		close($in);
		close($outf);
		my ($stdout, $stderr);
		my $ok = IPC::Run::run(
			[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('pagila'), '-f', $dst ],
			'>', \$stdout, '2>', \$stderr);
		ok($ok, "pagila $part loaded") or diag($stderr);
	}
	my $found = $node->safe_psql('pagila', q{
		SELECT rel || '.' || column_name || ' ' || kind
		  FROM gdpr.discover(1000) ORDER BY rel::text, column_name});
	diag "discover(1000) on pagila:\n$found";
	my %found = map { (split / /)[0] => 1 } split /\n/, $found;
	my @must = qw(customer.first_name customer.last_name customer.email
	  staff.first_name staff.last_name staff.email
	  address.address address.address2 address.postal_code address.phone);
	my @missing = grep { !$found{$_} } @must;
	is("@missing", '', 'the personal data of customer, staff and address is found');
	# people's names elsewhere, staff logins and photos, an address's district
	# are personal data too; anything else is a false positive
	my %fine = map { $_ => 1 } (@must, qw(actor.first_name actor.last_name
	  staff.username staff.picture address.district));
	my @false = grep { !$fine{$_} } sort keys %found;
	cmp_ok(scalar(@false), '<=', 3, 'at most a handful of false positives')
	  or diag "false positives: @false";
	is( $node->safe_psql('pagila', q{
		SELECT count(*) FROM gdpr.discover(1000) WHERE kind IS NULL OR hits IS NULL}),
		'0', 'every column was examined');

	# registering what discover found leaves it out of discover
	$node->safe_psql('pagila', q{
		SELECT gdpr.register('customer', ARRAY['first_name', 'last_name', 'email'])});
	is( $node->safe_psql('pagila', q{
		SELECT count(*) FROM gdpr.discover(0) WHERE rel = 'customer'::regclass}),
		'0', 'registered PII is not reported again');
}

done_testing();
