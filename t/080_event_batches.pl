
# Copyright (c) 2026, gdpr developers

# Events in batches.  A statement that anonymises or deletes many rows
# queues its events as rows of gdpr.queue holding up to 1,000 keys each;
# gdpr.queued_events and gdpr.log_status count events, not rows, and the
# log gets one event per key, each with its own event_uuid, in the order of
# the queue.  Checked here:
#
# - anonymise_many, ON DELETE ANONYMISE, TRUNCATE and retention write
#   batches; one DELETE or one anonymise writes a single event;
# - a shipping round stops at gdpr.ship_batch_size events (plus the rest of
#   the last row, 999 at most), rounds deliver every event once, in order;
# - shipping the same batch again (a dump restored after it was shipped)
#   delivers nothing twice;
# - a database at version 1.0 queues a row per event with the same library,
#   and ALTER EXTENSION UPDATE switches a session's kept statements to
#   batches at once; the rows of both versions then ship together.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GdprTest qw(log_server gdpr_server);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($logdb, $log_conninfo) = log_server();
# no worker for these databases: each test ships with gdpr.ship_log()
my $node = gdpr_server($log_conninfo, qq{
gdpr.databases = ''
gdpr.ship_batch_size = 700
});

# log_rows: the events of source $db in the log, in log order
sub log_rows
{
	my ($db) = @_;
	return $logdb->safe_psql('gdprlog',
		"SELECT kind || ' ' || table_name || ' ' || key FROM gdpr_log.event"
		  . " WHERE source = '$db' ORDER BY id");
}

# log_scalar: one value from the log database
sub log_scalar
{
	my ($sql) = @_;
	return $logdb->safe_psql('gdprlog', $sql);
}

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
CREATE EXTENSION gdpr;
CREATE TABLE person (id int PRIMARY KEY, name text, email text);
INSERT INTO person SELECT i, 'Person ' || i, 'p' || i || '@example.com'
  FROM generate_series(1, 3000) i;
SELECT gdpr.register('person', '{name,email}');
CREATE TABLE account (id int PRIMARY KEY);
INSERT INTO account SELECT i FROM generate_series(1, 600) i;
CREATE TABLE post (id int PRIMARY KEY, account_id int REFERENCES account ON DELETE SET NULL,
                   body text);
INSERT INTO post SELECT i, (i - 1) / 2 + 1, 'post ' || i FROM generate_series(1, 1200) i;
SELECT gdpr.register('post', '{body}');
SELECT gdpr.on_delete_anonymise('post', 'post_account_id_fkey');
});

# --- anonymise_many of 2,500 keys: 3 rows of 1,000, 1,000 and 500 keys
$node->safe_psql('app',
	q{SELECT gdpr.anonymise_many('person', ARRAY(SELECT (i * 7 % 2500 + 1)::text FROM generate_series(0, 2499) i))});
is( $node->safe_psql('app',
		'SELECT count(*), sum(cardinality(keys)), count(key) FROM gdpr.queue'),
	'3|2500|0',
	'anonymise_many of 2,500 keys queues 3 rows of batched keys');
is($node->safe_psql('app', 'SELECT queued FROM gdpr.log_status'),
	'2500', 'gdpr.log_status counts events, not rows');
is( $node->safe_psql('app',
		'SELECT count(*), count(DISTINCT event_uuid), count(DISTINCT key) FROM gdpr.queued_events'),
	'2500|2500|2500',
	'gdpr.queued_events: one row per event, each with its own event_uuid');
my $queued_order = $node->safe_psql('app',
	"SELECT string_agg(key, ',' ORDER BY seq, ord) FROM gdpr.queued_events");
is($node->safe_psql('app', 'SELECT count(*) FROM gdpr.marker'),
	'2500', 'every anonymised row is marked');

# --- one anonymise and one DELETE: a single event each, in column key
$node->safe_psql('app', q{
SELECT gdpr.anonymise('person', '2700');
DELETE FROM person WHERE id = 2800;
});
is( $node->safe_psql('app',
		"SELECT string_agg(kind || ':' || coalesce(key, '-') || ':' || coalesce(cardinality(keys), 0), ',' ORDER BY seq)"
		  . ' FROM gdpr.queue WHERE seq > (SELECT min(seq) + 2 FROM gdpr.queue)'),
	'anonymise:2700:0,delete:2800:0',
	'one anonymise and one DELETE queue a row with its key each');

# --- ship in rounds of at most 700 events plus the rest of a row
my $shipped = $node->safe_psql('app', 'SELECT gdpr.ship_log()');
is($shipped, '2502', 'ship_log() ships every event');
is($node->safe_psql('app', 'SELECT queued FROM gdpr.log_status'), '0', 'the queue is empty');
is( log_scalar("SELECT count(*), count(DISTINCT event_uuid) FROM gdpr_log.event WHERE source = 'app'"),
	'2502|2502', 'the log has each event once');
is( log_scalar(
		"SELECT string_agg(key, ',' ORDER BY id) FROM gdpr_log.event"
		  . " WHERE source = 'app' AND kind = 'anonymise' AND key <> '2700'"),
	$queued_order,
	'the log has the events in queue order');
my $rounds = log_scalar(
	"SELECT count(*), max(n) FROM (SELECT shipped_at, count(*) AS n FROM gdpr_log.event"
	  . " WHERE source = 'app' GROUP BY shipped_at) r");
my ($nrounds, $largest) = split /\|/, $rounds;
ok($nrounds >= 3, "shipping took several rounds ($nrounds)");
ok($largest <= 700 + 999,
	"no round ships more than gdpr.ship_batch_size events plus the rest of a row ($largest)");

# --- the same batch shipped again (a restored dump) delivers nothing twice
$node->safe_psql('app', q{
CREATE TABLE saved_queue AS SELECT * FROM gdpr.queue;
SELECT gdpr.anonymise_many('person', ARRAY(SELECT i::text FROM generate_series(2501, 2600) i));
INSERT INTO saved_queue SELECT * FROM gdpr.queue;
});
is($node->safe_psql('app', 'SELECT gdpr.ship_log()'), '100', 'a new batch ships');
$node->safe_psql('app', 'INSERT INTO gdpr.queue SELECT * FROM saved_queue');
is($node->safe_psql('app', 'SELECT gdpr.ship_log()'), '100', 'the same batch, queued again, is shipped again');
is( log_scalar("SELECT count(*), count(DISTINCT key) FROM gdpr_log.event WHERE source = 'app' AND key BETWEEN '2501' AND '2600' AND length(key) = 4"),
	'100|100', 'but the log has each of its events once');

# --- ON DELETE ANONYMISE: the children of 300 parents in one batch row
$node->safe_psql('app', 'DELETE FROM account WHERE id <= 300');
is( $node->safe_psql('app',
		"SELECT count(*), sum(cardinality(keys)) FROM gdpr.queue WHERE table_name = 'public.post'"),
	'1|600', 'ON DELETE ANONYMISE queues the children of a statement as one batch');
is( $node->safe_psql('app',
		"SELECT count(*) FROM post WHERE account_id IS NULL AND body IS NULL"),
	'600', 'and the children are anonymised');

# --- TRUNCATE: the deleted rows in batches
$node->safe_psql('app', 'TRUNCATE person');
is( $node->safe_psql('app',
		"SELECT count(*), sum(cardinality(keys)) FROM gdpr.queue WHERE table_name = 'public.person' AND kind = 'delete'"),
	'3|2999', 'TRUNCATE queues its 2,999 delete events in 3 rows');
is($node->safe_psql('app', 'SELECT count(*) FROM gdpr.marker WHERE rel = \'person\'::regclass'),
	'0', 'and forgets the markers');
is($node->safe_psql('app', 'SELECT gdpr.ship_log()'), '3599', 'all of it ships');
is( log_scalar("SELECT count(*) FROM gdpr_log.event WHERE source = 'app' AND kind = 'delete' AND table_name = 'public.person'"),
	'3000', 'the log has every delete event once');

# --- a database at version 1.0 queues a row per event; the update switches
$node->safe_psql('postgres', 'CREATE DATABASE old');
my $session = $node->background_psql('old', on_error_stop => 1);

# bg: a query in the background session; its output without the newline
# some versions of the test framework leave at the end
sub bg
{
	my ($sql) = @_;
	my $out = $session->query_safe($sql);
	chomp $out;
	return $out;
}
$session->query_safe(q{
CREATE EXTENSION gdpr VERSION '1.0';
CREATE TABLE person (id int PRIMARY KEY, name text);
INSERT INTO person SELECT i, 'Person ' || i FROM generate_series(1, 40) i;
SELECT gdpr.register('person', '{name}');
SELECT gdpr.anonymise_many('person', ARRAY['1', '2', '3']);
});
is(bg('SELECT count(*), count(key) FROM gdpr.queue'),
	'3|3', 'version 1.0: a row per event');
$node->safe_psql('old', 'ALTER EXTENSION gdpr UPDATE');
$session->query_safe(q{SELECT gdpr.anonymise_many('person', ARRAY['4', '5', '6'])});
is(bg('SELECT count(*), count(key), sum(cardinality(keys)) FROM gdpr.queue'),
	'4|3|3', 'after ALTER EXTENSION UPDATE, the same session queues a batch (after the 3 rows of 1.0)');
$session->query_safe('DELETE FROM person WHERE id IN (7, 8)');
is(bg('SELECT count(key) FROM gdpr.queue'),
	'5', 'and a row per deleted row');
$session->quit;
is($node->safe_psql('old', 'SELECT gdpr.ship_log()'), '8',
	'the updated database ships the events of both versions');
is( log_scalar("SELECT string_agg(kind || ' ' || key, ',' ORDER BY id) FROM gdpr_log.event WHERE source = 'old'"),
	'anonymise 1,anonymise 2,anonymise 3,anonymise 4,anonymise 5,anonymise 6,delete 7,delete 8',
	'the log has the events of both versions in order');

done_testing();
