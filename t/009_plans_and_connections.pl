# Copyright (c) 2026, gdpr developers
#
# Plans that must not depend on fresh statistics, checked by their shape in
# auto_explain's output (never by timing):
# - anonymise_many in many batches probes gdpr.marker by index for each row
#   and never scans or hashes all of a table's markers (which made a first
#   mass anonymisation quadratic);
# - the shipper deletes the shipped rows of gdpr.queue by index, whatever
#   the queue's statistics say.
# And the shipper under a steady stream of events: it reports its deletes
# to the statistics system (so autovacuum sees them) and keeps one
# connection to the log database instead of one per round.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use GdprTest qw(log_server gdpr_server);
use Time::HiRes qw(usleep);

my ($logdb, $log_conninfo) = log_server("log_connections = on\n");

my $node = gdpr_server($log_conninfo, q{
shared_preload_libraries = 'gdpr, auto_explain'
auto_explain.log_min_duration = 0
auto_explain.log_nested_statements = on
auto_explain.log_format = 'text'
autovacuum = off
gdpr.databases = 'app'
gdpr.ship_interval = 200
});
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
CREATE EXTENSION gdpr;
CREATE TABLE person (id int PRIMARY KEY, name text, email text);
INSERT INTO person SELECT g, 'p' || g, g || '@example.com' FROM generate_series(1, 20000) g;
SELECT gdpr.register('person', ARRAY['name', 'email']);
ANALYZE person;
ANALYZE gdpr.marker;   -- empty: the statistics that made the old plans go wrong
});

# anonymise_many in 20 batches: every batch probes the markers by index
my $offset = -s $node->logfile;
is($node->safe_psql('app', q{
SET gdpr.anonymise_batch_size = 1000;
SELECT gdpr.anonymise_many('person', (SELECT array_agg(g) FROM generate_series(1, 20000) g));
}), '20000', 'anonymise_many anonymised every row');
my $plans = slurp_file($node->logfile, $offset);
my $updates = () = $plans =~ /Update on person/g;
cmp_ok($updates, '>=', 20, 'each batch was planned and logged');
unlike($plans, qr/Seq Scan on marker/, 'no batch scans all of gdpr.marker');
unlike($plans, qr/Hash (?:Anti )?Join[^\n]*\n(?:[^\n]*\n){0,6}[^\n]*on marker/,
	'no batch hashes gdpr.marker');
like($plans, qr/Index Only Scan using marker_pkey on marker/,
	'the markers are probed by index');
unlike($plans, qr/Seq Scan on person/, 'the rows are found by key');

# a steady stream of events: shipped rows deleted by index, the deletes
# reported, one log connection
$node->poll_query_until('app', 'SELECT queued = 0 FROM gdpr.log_status')
  or die 'not shipped';
$node->poll_query_until('app',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'gdpr log shipper'")
  or die 'the shipper did not exit';
my $del_before = $node->safe_psql('app',
	"SELECT n_tup_del FROM pg_stat_all_tables WHERE relid = 'gdpr.queue'::regclass");
my $log_offset = -s $logdb->logfile;
$offset = -s $node->logfile;
for my $id (1 .. 60)
{
	$node->safe_psql('app', "DELETE FROM person WHERE id = $id");
	usleep(50_000);
}
$node->poll_query_until('app', 'SELECT queued = 0 FROM gdpr.log_status')
  or die 'not shipped';
$plans = slurp_file($node->logfile, $offset);
like($plans, qr/Delete on queue[^\n]*\n[^\n]*Index Scan using queue_pkey on queue/,
	'the shipper deletes the shipped rows by index');
unlike($plans, qr/Delete on queue[^\n]*\n[^\n]*Seq Scan on queue/,
	'the shipper never scans the whole queue to delete');
ok( $node->poll_query_until(
		'app',
		"SELECT n_tup_del >= $del_before + 60 FROM pg_stat_all_tables"
		  . " WHERE relid = 'gdpr.queue'::regclass"),
	'the shipper reports its deletes to the statistics system');
my $connections = () = slurp_file($logdb->logfile, $log_offset) =~
  /connection authorized: user=\S+ database=gdprlog/g;
ok($connections >= 1 && $connections <= 2,
	"one connection to the log database for a stream of 60 events ($connections made)");

done_testing();
