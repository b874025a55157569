# Copyright (c) 2026, gdpr developers
#
# gdpr serves a database without holding a connection to it: with the
# worker running and events flowing, CREATE DATABASE ... TEMPLATE of the
# served database and DROP DATABASE of it (without FORCE) succeed when
# nothing else is connected, and an erasure still reaches the log within a
# second of its commit.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use GdprTest qw(log_server gdpr_server);
use Time::HiRes qw(time usleep);

my ($logdb, $log_conninfo) = log_server();

my $node = gdpr_server($log_conninfo, q{
gdpr.databases = 'shop, shop_copy'
});
$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
CREATE EXTENSION gdpr;
CREATE TABLE person (id int PRIMARY KEY, name text);
SELECT gdpr.register('person', ARRAY['name']);
INSERT INTO person SELECT g, 'person ' || g FROM generate_series(1, 1000) g;
});

# a first erasure makes the log table
$node->safe_psql('shop', 'DELETE FROM person WHERE id = 1000');
$logdb->poll_query_until('gdprlog', "SELECT count(*) FROM gdpr_log.event WHERE source = 'shop'", '1')
  or die 'the first event was not shipped';

# latency from commit to log, with the default gdpr.ship_interval (1 s)
my @latencies;
for my $id (1 .. 5)
{
	sleep(2);			# every shipper gone: the worst case, a cold start
	my $t0 = time();
	$node->safe_psql('shop', "DELETE FROM person WHERE id = $id");
	while ($logdb->safe_psql('gdprlog',
			"SELECT count(*) FROM gdpr_log.event WHERE source = 'shop' AND key = '$id'") eq '0')
	{
		usleep(20_000);
		die 'event not shipped within 30 s' if time() - $t0 > 30;
	}
	push @latencies, time() - $t0;
}
my ($worst) = sort { $b <=> $a } @latencies;
note(sprintf('commit to log: %s s', join(', ', map { sprintf('%.3f', $_) } @latencies)));
cmp_ok($worst, '<', 1.0, 'an erasure reaches the log within a second of its commit');

# events flowing: deletes every 50 ms for a few seconds, then the copy and
# the drop, without FORCE
my $bg = $node->background_psql('shop');
for my $id (100 .. 160)
{
	$bg->query_safe("DELETE FROM person WHERE id = $id");
	usleep(50_000);
}
$bg->quit;
$node->poll_query_until('shop', 'SELECT queued = 0 FROM gdpr.log_status')
  or die 'not shipped';

my ($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE shop_copy TEMPLATE shop');
is($ret, 0, 'CREATE DATABASE ... TEMPLATE of a served database succeeds')
  or diag($err);
is($node->safe_psql('shop_copy', 'SELECT count(*) FROM person'), '933',
	'the copy holds the rows');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE shop');
is($ret, 0, 'DROP DATABASE of a served database succeeds without FORCE')
  or diag($err);

# the copy is served too
$node->safe_psql('shop_copy', 'DELETE FROM person WHERE id = 500');
ok( $logdb->poll_query_until('gdprlog',
		"SELECT count(*) FROM gdpr_log.event WHERE source = 'shop_copy' AND key = '500'", '1'),
	'the copy ships its own erasures');

done_testing();
