
# Copyright (c) 2026, gdpr developers

# The README's Django section, followed literally (issue 10, "README and API
# gaps").  The role, database, grants and test-template statements are taken
# from README.md itself and run as written; then the Django project in
# t/django/ is migrated and tested with manage.py, as the application's role,
# which owns its database and is not a superuser:
#
# - `manage.py migrate` registers the shop (0002_gdpr, migrations.RunSQL)
#   with exactly the README's grants, and fails without them;
# - the reverse migration unregisters it;
# - an ORM delete in the production database anonymises and unlinks the
#   person's comments, and the events reach the log database;
# - `manage.py test` (django.test.TestCase and TransactionTestCase, see
#   t/django/shop/tests.py) runs in a test database Django copies from the
#   README's template database, and drops it afterwards;
# - the test database's events (a TransactionTestCase's flush) stay in its
#   own queue and never reach the log.
#
# Needs the Debian packages python3-django and python3-psycopg2; skipped
# without them.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

if (system('python3', '-c', 'import django, psycopg2') != 0)
{
	plan skip_all =>
	  'python3 with Django and psycopg2 is needed (Debian: apt-get install python3-django python3-psycopg2)';
}

my $project = abs_path(dirname(__FILE__)) . '/django';
my $readme = abs_path(dirname(__FILE__) . '/../README.md');

# The README's Django section, and its SQL blocks by their first line
my $text = slurp_file($readme);
my ($section) = $text =~ /^### A Django migration\n(.*?)^## /ms;
ok(defined $section, 'the README has a section "A Django migration"');
my @blocks = $section =~ /^```sql\n(.*?)^```/msg;

sub readme_block
{
	my ($first_line) = @_;
	my @found = grep { index($_, $first_line) == 0 } @blocks;
	is(scalar @found, 1, "the README's Django section has one block starting '$first_line'");
	return $found[0] // '';
}
my $make_role = readme_block('-- as a superuser: the application\'s role');
my $grants = readme_block('-- as a superuser, in each database the role migrates');
my $make_template = readme_block('-- as a superuser: the template of Django\'s test databases');

# the server, and a log database on it
my $node = PostgreSQL::Test::Cluster->new('django');
$node->init;
my $log_conninfo = 'host=' . $node->host . ' port=' . $node->port . ' dbname=gdpr_log';
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'gdpr'
gdpr.pseudonym_key = 'tap-secret'
gdpr.log_conninfo = '$log_conninfo'
gdpr.databases = 'shop'
gdpr.ship_interval = 100
gdpr.retry_max_interval = 1000
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE gdpr_log');

# the README's statements, as written
$node->safe_psql('postgres', $make_role);
$node->safe_psql('shop', $grants);
$node->safe_psql('postgres', $make_template);
$node->safe_psql('shop_template', $grants);
is( $node->safe_psql('postgres',
		q{SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = 'shop_app'}),
	'f|t', 'the application role is not a superuser');
is($node->safe_psql('postgres', q{SELECT datistemplate FROM pg_database WHERE datname = 'shop_template'}),
	't', 'the test template is a template');

# django: run manage.py as shop_app in database $db; returns (ok, output)
sub django
{
	my ($db, @args) = @_;
	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{GDPR_DJANGO_DBNAME} = $db;
	local $ENV{GDPR_DJANGO_USER} = 'shop_app';
	local $ENV{GDPR_DJANGO_TEMPLATE} = 'shop_template';
	local $ENV{PYTHONDONTWRITEBYTECODE} = '1';
	local $ENV{PYTHONPATH} = $project;
	my $out;
	note "manage.py @args (database $db)";
	my $ok = IPC::Run::run([ 'python3', 'manage.py', @args ],
		'>&', \$out, init => sub { chdir $project or die "chdir $project: $!" });
	note $out;
	return ($ok, $out);
}

# --- the grants are needed: a database without them -----------------------
$node->safe_psql('postgres', 'CREATE DATABASE shop_nogrants OWNER shop_app');
$node->safe_psql('shop_nogrants', 'CREATE EXTENSION gdpr');
my ($ok, $out) = django('shop_nogrants', 'migrate', '--noinput');
ok(!$ok, 'without the README\'s grants the migration fails');
like($out, qr/permission denied for function register/, '... with permission denied for function register');

# --- migrate, as the owner, with the README's grants -----------------------
($ok, $out) = django('shop', 'migrate', '--noinput');
ok($ok, 'manage.py migrate succeeds as the non-superuser owner');
like($out, qr/Applying shop\.0002_gdpr\.\.\. OK/, '... and applies the gdpr migration');

my $registry = q{
SELECT string_agg(DISTINCT rel::text, ',') FROM gdpr.registered_columns
 WHERE rel::text LIKE 'shop\_%';
};
is($node->safe_psql('shop', $registry),
	'shop_comment,shop_employee,shop_order,shop_person,shop_profile',
	'the migration registered the shop');
is( $node->safe_psql('shop', q{
		SELECT confdeltype FROM pg_constraint
		 WHERE conrelid = 'shop_comment'::regclass AND contype = 'f'}),
	'n', 'the comment\'s foreign key is ON DELETE SET NULL');
is( $node->safe_psql('shop', q{
		SELECT string_agg(column_name || ':' || method, ',' ORDER BY column_name)
		  FROM gdpr.registered_columns WHERE rel = 'shop_employee'::regclass AND pii}),
	'work_phone:default', 'the inheritance child is registered with its own fields');

# the reverse migration, and forward again
($ok, $out) = django('shop', 'migrate', '--noinput', 'shop', '0001');
ok($ok, 'the reverse migration succeeds');
is($node->safe_psql('shop', $registry), '', '... and unregisters the shop');
($ok, $out) = django('shop', 'migrate', '--noinput');
ok($ok, 'migrating forward again succeeds');
is($node->safe_psql('shop', $registry),
	'shop_comment,shop_employee,shop_order,shop_person,shop_profile',
	'... and registers the shop again');

# --- production: an ORM delete, logged -------------------------------------
($ok, $out) = django('shop', 'shell', '-c', q{
from shop.models import Comment, Order, Person
p = Person.objects.create(name="Alice", email="alice@example.com", password="x")
Comment.objects.create(author=p, body="Hi")
Order.objects.create(person=p, shipping_address="12 Acacia Avenue", customer_email="alice@example.com", total=1)
p.delete()
print("comments:", list(Comment.objects.values_list("author_id", "body")))
});
ok($ok, 'an ORM delete in the production database succeeds');
like($out, qr/comments: \[\(None, '\[removed\]'\)\]/, '... and anonymises and unlinks the comment');

my $logged = q{
SELECT string_agg(kind || ' ' || table_name || ' ' || key, ', ' ORDER BY id)
  FROM gdpr_log.event WHERE source = 'shop'};
ok( $node->poll_query_until('gdpr_log', "SELECT count(*) = 3 FROM gdpr_log.event WHERE source = 'shop'"),
	'the production erasure reached the log');
is($node->safe_psql('gdpr_log', $logged),
	'delete public.shop_order 1, anonymise public.shop_comment 1, delete public.shop_person 1',
	'... as the order\'s delete (by the ORM), the comment\'s anonymisation and the person\'s delete');

# --- manage.py test: a test database made from the template ---------------
my $start = time;
($ok, $out) = django('shop', 'test', '--noinput', '-v', '2');
ok($ok, 'manage.py test passes');
like($out, qr/Creating test database for alias 'default' \('test_shop'\)/,
	'... in the test database test_shop');
like($out, qr/^Ran 14 tests in /m, '... running the 14 tests of shop/tests.py');
like($out, qr/^OK$/m, '... all of them OK');
like($out, qr/Destroying test database/, '... and Django drops its test database');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_database WHERE datname = 'test_shop'}),
	'0', '... which is gone');
note sprintf('manage.py test took %d s', time - $start);

# --- the test database's events stay out of the log ------------------------
# Keep the test database this time, running only the TransactionTestCase,
# whose flush TRUNCATEs the tables.
($ok, $out) = django('shop', 'test', '--noinput', '--keepdb', 'shop.tests.FlushQueuesDeletes');
ok($ok, 'the TransactionTestCase passes');
is( $node->safe_psql('test_shop', q{
		SELECT string_agg(kind || ' ' || table_name, ', ' ORDER BY kind, table_name) FROM gdpr.queued_events}),
	'anonymise public.shop_comment, delete public.shop_comment, '
	  . 'delete public.shop_person, delete public.shop_person',
	'the test database queued its delete, and one delete per row its flush emptied');

# a production erasure after the test run reaches the log; the test
# database's events never do
$node->safe_psql('shop', q{
	INSERT INTO shop_person (name, email, phone, password) VALUES ('Bob', 'bob@example.com', '', 'y');
	DELETE FROM shop_person WHERE email = 'bob@example.com'});
ok( $node->poll_query_until('gdpr_log',
		"SELECT count(*) = 4 FROM gdpr_log.event WHERE source = 'shop'"),
	'a later production erasure reaches the log');
is($node->safe_psql('gdpr_log', q{SELECT count(*) FROM gdpr_log.event WHERE source <> 'shop'}),
	'0', 'no event of the test database reached the log');
is($node->safe_psql('test_shop', 'SELECT count(*) FROM gdpr.queued_events'),
	'4', 'the test database\'s events are still in its own queue');

done_testing();
