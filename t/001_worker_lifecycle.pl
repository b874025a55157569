# Copyright (c) 2026, gdpr developers
#
# The log worker's life: the launcher and one shipper per database listed in
# gdpr.databases show up in pg_stat_activity; reloads that change
# gdpr.databases or gdpr.log_conninfo take effect; a terminated shipper comes
# back; events flow; smart and fast shutdowns both complete.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'gdpr'
gdpr.ship_interval = 100
gdpr.retry_max_interval = 500
});
$node->start;

# number of shippers serving database $db
sub shippers_for
{
	my ($db) = @_;
	return "SELECT count(*) FROM pg_stat_activity"
	  . " WHERE backend_type = 'gdpr log shipper' AND datname = '$db'";
}

# the launcher is connected to no database, the shipper to "postgres"
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity"
		  . " WHERE backend_type = 'gdpr launcher' AND datname IS NULL",
		'1'),
	'the launcher runs');
ok($node->poll_query_until('postgres', shippers_for('postgres'), '1'),
	'a shipper serves the default database "postgres"');

# a database to serve, and two log databases
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('postgres', 'CREATE DATABASE logdb');
$node->safe_psql('postgres', 'CREATE DATABASE logdb2');
$node->safe_psql(
	'app', q{
CREATE EXTENSION gdpr;
CREATE TABLE person (id int PRIMARY KEY, name text);
SELECT gdpr.register('person', ARRAY['name']);
INSERT INTO person SELECT g, 'person ' || g FROM generate_series(1, 100) g;
});

# reload: serve "app" as well, then "app" only
$node->append_conf('postgresql.conf', "gdpr.databases = 'postgres, app'");
$node->reload;
ok($node->poll_query_until('postgres', shippers_for('app'), '1'),
	'after a reload a shipper serves the newly listed database');
is($node->safe_psql('postgres', shippers_for('postgres')),
	'1', 'the shipper of "postgres" keeps running');

$node->append_conf('postgresql.conf', "gdpr.databases = 'app'");
$node->reload;
ok($node->poll_query_until('postgres', shippers_for('postgres'), '0'),
	'after a reload the shipper of a database taken off the list stops');
is($node->safe_psql('postgres', shippers_for('app')),
	'1', 'the shipper of "app" keeps running');

# a database that does not exist: a WARNING, no shipper, the others go on
my $offset = -s $node->logfile;
$node->append_conf('postgresql.conf', "gdpr.databases = 'app, no_such_db'");
$node->reload;
ok( $node->wait_for_log(
		qr/WARNING:  database "no_such_db" listed in "gdpr.databases" does not exist/,
		$offset),
	'a listed database that does not exist is reported');
is($node->safe_psql('postgres', shippers_for('app')),
	'1', 'the shipper of "app" still runs');

# without gdpr.log_conninfo the events stay queued
$node->safe_psql('app', 'DELETE FROM person WHERE id <= 10');
is($node->safe_psql('app', 'SELECT queued FROM gdpr.log_status'),
	'10', 'without a log database the events stay queued');

# reload with a log database: the events flow
# a conninfo of our own making: connstr() quotes the dbname, which would
# need escaping inside postgresql.conf
sub conninfo
{
	my ($db) = @_;
	return 'host=' . $node->host . ' port=' . $node->port . " dbname=$db";
}
my $connstr = conninfo('logdb');
$node->append_conf('postgresql.conf', "gdpr.log_conninfo = '$connstr'");
$node->reload;
ok( $node->poll_query_until(
		'logdb', "SELECT count(*) FROM gdpr_log.event WHERE source = 'app'",
		'10'),
	'after a reload the queued events reach the log database');
is($node->safe_psql('app', 'SELECT queued FROM gdpr.log_status'),
	'0', 'the queue is empty once shipped');
is( $node->safe_psql(
		'logdb',
		"SELECT string_agg(key, ',' ORDER BY id) FROM gdpr_log.event"),
	'1,2,3,4,5,6,7,8,9,10',
	'the log holds the deleted keys in order');

# terminate the shipper: it comes back and ships again
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'gdpr log shipper'"
);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'gdpr log shipper'"
		  . " AND datname = 'app' AND pid <> $pid",
		'1'),
	'a terminated shipper is started again');
$node->safe_psql('app', 'DELETE FROM person WHERE id BETWEEN 11 AND 20');
ok( $node->poll_query_until(
		'logdb', "SELECT count(*) FROM gdpr_log.event WHERE source = 'app'",
		'20'),
	'the restarted shipper ships');

# terminate the launcher: it comes back, stops the shipper it can no longer
# supervise and starts its own, so that each database keeps one shipper
my $lpid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'gdpr launcher'");
$pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'gdpr log shipper'"
);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($lpid)");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'gdpr launcher'"
		  . " AND pid <> $lpid",
		'1'),
	'a terminated launcher is started again');
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 AND bool_and(pid <> $pid) FROM pg_stat_activity"
		  . " WHERE backend_type = 'gdpr log shipper' AND datname = 'app'"),
	'the new launcher replaces the old shipper: one shipper per database');
$node->safe_psql('app', 'DELETE FROM person WHERE id BETWEEN 36 AND 40');
ok( $node->poll_query_until(
		'logdb', "SELECT count(*) FROM gdpr_log.event WHERE source = 'app'",
		'25'),
	'the new shipper ships');

# reload with another log database: new events go there
$connstr = conninfo('logdb2');
$node->append_conf('postgresql.conf', "gdpr.log_conninfo = '$connstr'");
$node->reload;
# the shipper sees the new setting once it has processed the reload; the
# next delete is only made once the running session does too
ok( $node->poll_query_until(
		'app', "SELECT current_setting('gdpr.log_conninfo') LIKE '%logdb2%'"),
	'the new log database is configured');
$node->safe_psql('app', 'DELETE FROM person WHERE id BETWEEN 21 AND 25');
ok( $node->poll_query_until(
		'logdb2', "SELECT count(*) FROM gdpr_log.event WHERE source = 'app'",
		'5'),
	'after a reload the events go to the new log database');
is($node->safe_psql('logdb', 'SELECT count(*) FROM gdpr_log.event'),
	'25', 'the old log database got nothing more');

# the shipper holds no session on the log server once the queue is empty
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gdpr'"
		  . " AND backend_type = 'client backend'",
		'0'),
	'no shipping session stays open when there is nothing to ship');

# smart shutdown completes (a shipper holding a session would hang it)
{
	local $ENV{PGCTLTIMEOUT} = 30;
	ok($node->stop('smart', fail_ok => 1), 'a smart shutdown completes');
}
$node->start;
ok($node->poll_query_until('postgres', shippers_for('app'), '1'),
	'the shipper is back after a restart');
$node->safe_psql('app', 'DELETE FROM person WHERE id BETWEEN 26 AND 30');
ok( $node->poll_query_until(
		'logdb2', "SELECT count(*) FROM gdpr_log.event WHERE source = 'app'",
		'10'),
	'events flow after a restart');

# fast shutdown completes while the log database is unreachable and the
# shipper is retrying
$node->append_conf('postgresql.conf',
	"gdpr.log_conninfo = 'host=/nonexistent/gdpr port=1 dbname=nowhere'");
$node->reload;
ok( $node->poll_query_until(
		'app', "SELECT current_setting('gdpr.log_conninfo') LIKE '%nonexistent%'"),
	'an unreachable log database is configured');
$node->safe_psql('app', 'DELETE FROM person WHERE id BETWEEN 31 AND 35');
ok( $node->poll_query_until(
		'app', 'SELECT last_error IS NOT NULL FROM gdpr.log_status'),
	'the shipper records that it cannot connect');
{
	local $ENV{PGCTLTIMEOUT} = 30;
	ok($node->stop('fast', fail_ok => 1), 'a fast shutdown completes');
}

done_testing();
