
# Copyright (c) 2026, gdpr developers

# A database dropped and created again under the same name (a development
# reset, every Django test database) is not a restore: gdpr.rerun() must not
# apply the old database's logged erasures to new rows that reuse their keys,
# and the worker must not tell anyone to run it.  A restore (pg_dump and
# pg_restore) of the same database is: rerun() replays what was logged after
# the backup.  gdpr tells them apart by the database's lineage, an identity
# made by CREATE EXTENSION and carried by pg_dump and base backups
# (gdpr.incarnation), which every logged event carries.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use GdprTest qw(log_server gdpr_server);

my $tempdir = PostgreSQL::Test::Utils::tempdir;

my ($logdb, $log_conninfo) = log_server();

my $node = gdpr_server($log_conninfo, q{
gdpr.databases = 'shop'
gdpr.ship_interval = 100
gdpr.retry_max_interval = 1000
});

my $schema = q{
CREATE EXTENSION gdpr;
CREATE TABLE person (id int PRIMARY KEY, name text);
SELECT gdpr.register('person', ARRAY['name']);
INSERT INTO person SELECT g, 'person ' || g FROM generate_series(1, 5) g;
};

sub shipped
{
	$node->poll_query_until('shop', 'SELECT queued = 0 FROM gdpr.log_status')
	  or die 'the queue was not shipped';
}

# the first database: erases 1 and 2, anonymises 3
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', $schema);
$node->safe_psql('shop', q{
DELETE FROM person WHERE id IN (1, 2);
SELECT gdpr.anonymise('person', 3);
});
shipped();
my $first = $node->safe_psql('shop', 'SELECT id FROM gdpr.incarnation');
is($logdb->safe_psql('gdprlog',
		"SELECT count(*) FROM gdpr_log.event WHERE source = 'shop' AND incarnation = '$first'"),
	'3', 'every event carries the lineage of the database that logged it');

# dropped and created again: a new lineage, nothing replayed
$node->safe_psql('postgres', 'DROP DATABASE shop WITH (FORCE)');
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', $schema);
my $second = $node->safe_psql('shop', 'SELECT id FROM gdpr.incarnation');
isnt($second, $first, 'CREATE EXTENSION starts a new lineage');
is($node->safe_psql('shop', 'SELECT count(*) FROM gdpr.rerun(dry_run => true)'), '0',
	'a dry run in the recreated database lists none of the old erasures');
is($node->safe_psql('shop', 'SELECT count(*) FROM gdpr.rerun()'), '0',
	'rerun() in the recreated database applies none of them');
is($node->safe_psql('shop',
		'SELECT string_agg(id || \':\' || name, \',\' ORDER BY id) FROM person'),
	'1:person 1,2:person 2,3:person 3,4:person 4,5:person 5',
	'the new rows that reuse the erased keys are untouched');

# its own erasures ship, move the mark, and raise no "run gdpr.rerun()"
my $logpos = -s $node->logfile;
$node->safe_psql('shop', 'DELETE FROM person WHERE id = 4');
shipped();
ok($node->safe_psql('shop', 'SELECT reflected_id > 3 FROM gdpr.state'),
	'the mark moves past the old database\'s events');
ok(!$node->log_contains('has not replayed', $logpos),
	'the worker does not ask for gdpr.rerun() in a recreated database');

# a restore of this database keeps its lineage: what was logged after the
# backup is replayed
my $dumpfile = "$tempdir/shop.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', 'shop' ], 'pg_dump: backup');
$node->safe_psql('shop', 'DELETE FROM person WHERE id = 5');
shipped();
$node->safe_psql('postgres', 'DROP DATABASE shop WITH (FORCE)');
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'shop', $dumpfile ],
	'pg_restore into a new database "shop"');
ok($node->safe_psql('shop', "SELECT bool_or(id = '$second') FROM gdpr.incarnation"),
	'the restored database carries the lineage of its backup');
is($node->safe_psql('shop',
		'SELECT string_agg(kind || \':\' || key || \':\' || outcome, \' \' ORDER BY event_id) FROM gdpr.rerun()'),
	'delete:5:applied', 'rerun() replays exactly the erasure logged after the backup');
is($node->safe_psql('shop', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM person'),
	'1,2,3', 'the restored database lost row 5 again, and kept the rows of the new lineage');

# a later erasure of the restored database is logged with the backup's lineage
$node->safe_psql('shop', 'DELETE FROM person WHERE id = 3');
shipped();
is($logdb->safe_psql('gdprlog',
		"SELECT incarnation FROM gdpr_log.event WHERE source = 'shop' ORDER BY id DESC LIMIT 1"),
	$second, 'the restored database logs under its backup\'s lineage');

done_testing();
