# Copyright (c) 2026, gdpr developers
#
# Every queued event reaches the log database exactly once: across a kill -9
# of the server in the middle of shipping 100,000 events, and across a log
# database that is down for a while (one WARNING, rows stay queued and show
# in gdpr.log_status, all arrive once it is back).  A rolled-back transaction
# leaves no event anywhere, and no personal value of the main database ever
# reaches the log database.  Prints the worker's shipping throughput.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $nrows = 100_000;

# the log database: a plain server, no gdpr
my $log = PostgreSQL::Test::Cluster->new('log');
$log->init;
# the remote statements carry whole batches: logging them all (the test
# default) would dominate the throughput figure
$log->append_conf('postgresql.conf', "log_statement = 'none'");
$log->start;
my $logdb = 'host=' . $log->host . ' port=' . $log->port . ' dbname=postgres';

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'gdpr'
gdpr.log_conninfo = '$logdb'
gdpr.ship_interval = 100
gdpr.ship_batch_size = 2000
gdpr.retry_max_interval = 500
});
$node->start;

# The PII of row $i: distinctive values, so that a scan of the log database
# can look for each of them.
sub pii_sql
{
	return "'Name ' || g || ' Smith', 'mail' || g || '\@example.com', '+44 7700 ' || lpad(g::text, 6, '0')";
}

sub pii_values
{
	my ($from, $to) = @_;
	my @v;
	for my $i ($from .. $to)
	{
		push @v, "Name $i Smith", "mail$i\@example.com",
		  sprintf('+44 7700 %06d', $i);
	}
	return @v;
}

$node->safe_psql(
	'postgres', qq{
CREATE EXTENSION gdpr;
CREATE TABLE person (id int PRIMARY KEY, name text, email text, phone text);
SELECT gdpr.register('person', ARRAY['name', 'email', 'phone']);
INSERT INTO person SELECT g, @{[pii_sql()]} FROM generate_series(1, $nrows) g;
});

# ---------------------------------------------------------------------------
# kill -9 while shipping 100,000 events
# ---------------------------------------------------------------------------
$node->safe_psql('postgres', 'DELETE FROM person');
# the commit wakes a shipper at once: some may be shipped already
my $queued = $node->safe_psql('postgres', 'SELECT queued FROM gdpr.log_status');
# (two queries: a statement naming gdpr_log.event fails before the shipper
# has made it, even in a CASE branch that would not run)
my $in_log = 0;
$in_log = $log->safe_psql('postgres', 'SELECT count(*) FROM gdpr_log.event')
  if $log->safe_psql('postgres', "SELECT to_regclass('gdpr_log.event') IS NOT NULL") eq 't';
cmp_ok($queued + $in_log, '>=', $nrows, "$nrows delete events are queued or shipped");

ok( $log->poll_query_until(
		'postgres',
		"SELECT to_regclass('gdpr_log.event') IS NOT NULL"
		  . " AND EXISTS (SELECT FROM gdpr_log.event)"),
	'shipping has begun');

my $pidfile = $node->data_dir . '/postmaster.pid';
my $pmpid = (split /\n/, slurp_file($pidfile))[0];
$node->kill9;
my $at_kill = $log->safe_psql('postgres', 'SELECT count(*) FROM gdpr_log.event');
note "log holds $at_kill events right after the kill";

# The killed postmaster stays a zombie for a while, and its children leave
# when they notice; start again once it is gone, as upstream's poll_start
# (src/test/recovery/t/017_shm.pl) does.
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
usleep(100_000) while kill(0, $pmpid) && time < $deadline;
my $started = 0;
while (!$started && time < $deadline)
{
	$started = $node->start(fail_ok => 1);
	usleep(100_000) unless $started;
}
ok($started, 'the server starts again after kill -9');
cmp_ok($at_kill, '<', $nrows, 'the server was killed while shipping');

ok( $node->poll_query_until('postgres', 'SELECT queued FROM gdpr.log_status', '0'),
	'after the restart the queue drains');
is( $log->safe_psql(
		'postgres',
		'SELECT count(*), count(DISTINCT event_uuid), count(DISTINCT key) FROM gdpr_log.event'
	),
	"$nrows|$nrows|$nrows",
	'every event is in the log exactly once');
is( $log->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
  SELECT key::int - lag(key::int) OVER (ORDER BY id) AS step
    FROM gdpr_log.event WHERE source = 'postgres') s
 WHERE step <> 1}),
	'0',
	'log ids follow the queue order');
is( $node->safe_psql('postgres', 'SELECT reflected_id FROM gdpr.state'),
	$log->safe_psql('postgres', 'SELECT max(id) FROM gdpr_log.event'),
	'the reflected mark is the last shipped id');

# ---------------------------------------------------------------------------
# throughput of the worker, default batch size
# ---------------------------------------------------------------------------
$node->append_conf('postgresql.conf', 'gdpr.ship_batch_size = 5000');
$node->reload;
$node->safe_psql('postgres',
	"INSERT INTO person SELECT g, @{[pii_sql()]} FROM generate_series($nrows + 1, 2 * $nrows) g"
);
my $t0 = time;
$node->safe_psql('postgres', 'DELETE FROM person');
my $t1 = time;
ok( $node->poll_query_until('postgres', 'SELECT queued FROM gdpr.log_status', '0'),
	'the second 100,000 events are shipped');
my $t2 = time;
diag(
	sprintf(
		'delete of %d rows: %.2f s; shipping after commit: %.2f s = %.0f events/s',
		$nrows, $t1 - $t0, $t2 - $t1, $nrows / ($t2 - $t1)));
is($log->safe_psql('postgres', 'SELECT count(DISTINCT event_uuid) FROM gdpr_log.event'),
	2 * $nrows, 'all of them arrived, once');

# ---------------------------------------------------------------------------
# the log database is down for a while
# ---------------------------------------------------------------------------
$node->safe_psql('postgres',
	"INSERT INTO person SELECT g, @{[pii_sql()]} FROM generate_series(300001, 300020) g");
$log->stop;
my $offset = -s $node->logfile;
$node->safe_psql('postgres', 'DELETE FROM person WHERE id BETWEEN 300001 AND 300010');

ok( $node->poll_query_until(
		'postgres',
		"SELECT last_error LIKE 'could not connect to the gdpr log database%'"
		  . ' FROM gdpr.log_status'),
	'gdpr.log_status shows the error');
my $first_error_at =
  $node->safe_psql('postgres', 'SELECT last_error_at FROM gdpr.state');
# let the worker retry a few times (back-off capped at 500 ms)
ok( $node->poll_query_until(
		'postgres',
		"SELECT last_error_at > '$first_error_at'::timestamptz + interval '2 s' FROM gdpr.state"
	),
	'the worker keeps retrying');
is( $node->safe_psql('postgres', 'SELECT queued FROM gdpr.log_status'),
	'10', 'the events stay queued while the log database is down');
my $down_log = slurp_file($node->logfile, $offset);
my $warnings = () =
  $down_log =~ /WARNING:  could not (?:connect to|communicate with) the gdpr log database/g;
# (a shipper that was connected when the log database went down first
# fails to communicate, then to connect)
is($warnings, 1, 'the failure is a WARNING once, not on every retry');

$log->start;
ok( $node->poll_query_until('postgres', 'SELECT queued FROM gdpr.log_status', '0'),
	'once the log database is back the queue drains');
is( $log->safe_psql(
		'postgres',
		"SELECT count(*), count(DISTINCT event_uuid) FROM gdpr_log.event"
		  . " WHERE key::int BETWEEN 300001 AND 300010"),
	'10|10',
	'the events of the downtime arrived once');
is($node->safe_psql('postgres', 'SELECT last_error IS NULL FROM gdpr.log_status'),
	't', 'the error is cleared');
ok( $node->wait_for_log(
		qr/LOG:  gdpr log shipper for database "postgres" reached the gdpr log database again/,
		$offset),
	'the recovery is logged');

# ---------------------------------------------------------------------------
# a rolled-back transaction leaves no event anywhere; anonymise events
# ---------------------------------------------------------------------------
$node->safe_psql(
	'postgres', q{
BEGIN;
DELETE FROM person WHERE id = 300011;
SELECT gdpr.anonymise('person', '300012');
ROLLBACK;
});
is($node->safe_psql('postgres', 'SELECT queued FROM gdpr.log_status'),
	'0', 'a rolled-back transaction queues nothing');
$node->safe_psql('postgres',
	"SELECT gdpr.anonymise('person', '300013'); DELETE FROM person WHERE id = 300014");
ok( $log->poll_query_until(
		'postgres',
		"SELECT count(*) FROM gdpr_log.event WHERE key IN ('300013', '300014')",
		'2'),
	'the events committed after it arrive');
is( $log->safe_psql(
		'postgres',
		"SELECT string_agg(kind || ' ' || table_name || ' ' || key, ', ' ORDER BY id)"
		  . " FROM gdpr_log.event WHERE key::int BETWEEN 300011 AND 300020"),
	'anonymise public.person 300013, delete public.person 300014',
	'the rolled-back delete and anonymisation are nowhere in the log');

# ---------------------------------------------------------------------------
# no personal value reaches the log database
# ---------------------------------------------------------------------------
my ($dump, $stderr) = run_command([ 'pg_dump', '--data-only', '-d', $logdb ]);
ok(length($dump) > 0 && $dump =~ /public\.person/,
	'the dump of the log database holds the events');
# grep -F looks for every value at once (Aho-Corasick), one per line
my $dumpfile = $PostgreSQL::Test::Utils::tmp_check . '/log_dump.sql';
my $piifile = $PostgreSQL::Test::Utils::tmp_check . '/pii_values.txt';
append_to_file($dumpfile, $dump);
append_to_file($piifile,
	join("\n", pii_values(1, 2 * $nrows), pii_values(300001, 300020)) . "\n");
my ($hits) = run_command([ 'grep', '-c', '-F', '-f', $piifile, $dumpfile ]);
chomp $hits;
is($hits, '0', 'no PII value of the main database is in the log database');
# the same scan does find what is there (it can fail): the key of a logged
# event, while the name of that person is not
my $probefile = $PostgreSQL::Test::Utils::tmp_check . '/probe.txt';
append_to_file($probefile, "\t300014\t\nName 300014 Smith\n");
my ($probe) = run_command([ 'grep', '-o', '-F', '-f', $probefile, $dumpfile ]);
is($probe, "\t300014\t", 'the scan finds the logged key, and only the key');

$node->stop;
$log->stop;

done_testing();
