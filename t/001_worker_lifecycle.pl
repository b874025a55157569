# Copyright (c) 2026, gdpr developers
#
# The log worker's life: the launcher runs, connected to no database; a
# shipper for a database listed in gdpr.databases exists only while that
# database has events to ship (it is started when a transaction that queued
# events commits, and exits once the queue has been empty for a moment);
# reloads that change gdpr.databases or gdpr.log_conninfo take effect; a
# terminated shipper or launcher comes back; smart and fast shutdowns both
# complete.

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

sub shipper_pid
{
	return $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'gdpr log shipper'");
}

# a conninfo of our own making: connstr() quotes the dbname, which would
# need escaping inside postgresql.conf
sub conninfo
{
	my ($db) = @_;
	return 'host=' . $node->host . ' port=' . $node->port . " dbname=$db";
}

sub set_conf
{
	my ($line) = @_;
	$node->append_conf('postgresql.conf', $line);
	$node->reload;
}

ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity"
		  . " WHERE backend_type = 'gdpr launcher' AND datname IS NULL",
		'1'),
	'the launcher runs, connected to no database');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'gdpr log shipper'"),
	'0', 'no shipper runs while there is nothing to ship');

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
set_conf("gdpr.databases = 'postgres, app'");

# without gdpr.log_conninfo the events stay queued, and no shipper waits
$node->safe_psql('app', 'DELETE FROM person WHERE id <= 10');
is($node->safe_psql('app', 'SELECT queued FROM gdpr.log_status'),
	'10', 'without a log database the events stay queued');
sleep(1);
is($node->safe_psql('postgres', shippers_for('app')), '0',
	'no shipper is started while there is nowhere to ship');

# a log database: the reload starts a shipper, which ships and goes away
set_conf("gdpr.log_conninfo = '" . conninfo('logdb') . "'");
ok( $node->poll_query_until(
		'logdb', "SELECT count(*) FROM gdpr_log.event WHERE source = 'app'", '10'),
	'after a reload the queued events reach the log database');
is( $node->safe_psql(
		'logdb', "SELECT string_agg(key, ',' ORDER BY id) FROM gdpr_log.event"),
	'1,2,3,4,5,6,7,8,9,10', 'the log holds the deleted keys in order');
ok($node->poll_query_until('postgres', shippers_for('app'), '0'),
	'the shipper exits once the queue is empty');

# a commit that queues events brings a shipper back at once
$node->safe_psql('app', 'DELETE FROM person WHERE id BETWEEN 11 AND 20');
ok( $node->poll_query_until(
		'logdb', "SELECT count(*) FROM gdpr_log.event WHERE source = 'app'", '20'),
	'new events are shipped by a shipper started for them');
ok($node->poll_query_until('postgres', shippers_for('app'), '0'),
	'and that shipper exits again');

# an unreachable log database: the shipper stays and retries; terminated,
# it comes back
set_conf("gdpr.log_conninfo = 'host=/nonexistent/gdpr port=1 dbname=nowhere'");
ok( $node->poll_query_until(
		'app', "SELECT current_setting('gdpr.log_conninfo') LIKE '%nonexistent%'"),
	'an unreachable log database is configured');
$node->safe_psql('app', 'DELETE FROM person WHERE id BETWEEN 21 AND 25');
ok( $node->poll_query_until('app', 'SELECT last_error IS NOT NULL FROM gdpr.log_status'),
	'the shipper records that it cannot connect');
ok($node->poll_query_until('postgres', shippers_for('app'), '1'),
	'the shipper stays while its events cannot be shipped');
my $pid = shipper_pid();
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'gdpr log shipper'"
		  . " AND datname = 'app' AND pid <> $pid",
		'1'),
	'a terminated shipper with events to ship is started again');

# terminate the launcher: it comes back, stops the shipper it can no longer
# supervise and starts its own, so that each database keeps one shipper
my $lpid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'gdpr launcher'");
$pid = shipper_pid();
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

# a database taken off the list loses its shipper
set_conf("gdpr.databases = 'postgres'");
ok($node->poll_query_until('postgres', shippers_for('app'), '0'),
	'after a reload the shipper of a database taken off the list stops');

# a database that does not exist: a WARNING, the others go on
my $offset = -s $node->logfile;
set_conf("gdpr.databases = 'app, no_such_db'");
ok( $node->wait_for_log(
		qr/WARNING:  database "no_such_db" listed in "gdpr.databases" does not exist/,
		$offset),
	'a listed database that does not exist is reported');

# reload with another log database: the waiting events go there
set_conf("gdpr.log_conninfo = '" . conninfo('logdb2') . "'");
ok( $node->poll_query_until(
		'logdb2', "SELECT count(*) FROM gdpr_log.event WHERE source = 'app'", '5'),
	'after a reload the waiting events go to the new log database');
is($node->safe_psql('logdb', 'SELECT count(*) FROM gdpr_log.event'),
	'20', 'the old log database got nothing more');
ok($node->poll_query_until('postgres', shippers_for('app'), '0'),
	'the shipper exits once they are shipped');
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gdpr'"
		  . " AND backend_type = 'client backend'",
		'0'),
	'no shipping session stays open when there is nothing to ship');

# smart shutdown completes
{
	local $ENV{PGCTLTIMEOUT} = 30;
	ok($node->stop('smart', fail_ok => 1), 'a smart shutdown completes');
}
$node->start;
$node->safe_psql('app', 'DELETE FROM person WHERE id BETWEEN 26 AND 30');
ok( $node->poll_query_until(
		'logdb2', "SELECT count(*) FROM gdpr_log.event WHERE source = 'app'", '10'),
	'events flow after a restart');

# fast shutdown completes while the log database is unreachable and the
# shipper is retrying
set_conf("gdpr.log_conninfo = 'host=/nonexistent/gdpr port=1 dbname=nowhere'");
ok( $node->poll_query_until(
		'app', "SELECT current_setting('gdpr.log_conninfo') LIKE '%nonexistent%'"),
	'an unreachable log database is configured again');
$node->safe_psql('app', 'DELETE FROM person WHERE id BETWEEN 31 AND 35');
ok($node->poll_query_until('postgres', shippers_for('app'), '1'),
	'a shipper retries');
{
	local $ENV{PGCTLTIMEOUT} = 30;
	ok($node->stop('fast', fail_ok => 1), 'a fast shutdown completes');
}

done_testing();
