
# Copyright (c) 2026, gdpr developers

# gdpr.rerun(dry_run => true) reports what the real run will do, event by
# event, even when one key was erased twice or a row is deleted after it
# was anonymised: the dry run does the real work inside a subtransaction
# that it rolls back.  And a replay does not stop at an event that fails:
# the failing event is reported as "failed" with a WARNING, the others are
# applied.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use GdprTest qw(log_server gdpr_server);

my ($logdb, $log_conninfo) = log_server();

my $node = gdpr_server($log_conninfo, q{
gdpr.databases = 'app'
gdpr.ship_interval = 100
});
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
CREATE EXTENSION gdpr;
CREATE TABLE person (id int PRIMARY KEY, name text);
CREATE TABLE blocker (id int PRIMARY KEY, person_id int REFERENCES person ON DELETE RESTRICT);
SELECT gdpr.register('person', ARRAY['name']);
INSERT INTO person VALUES (1, 'one'), (2, 'two'), (3, 'three');
-- logged: delete 1, delete 1 (a new row reusing the key), anonymise 2 twice,
-- anonymise 3 then delete 3
DELETE FROM person WHERE id = 1;
INSERT INTO person VALUES (1, 'one again');
DELETE FROM person WHERE id = 1;
SELECT gdpr.anonymise('person', 2);
SELECT gdpr.anonymise('person', 2, force => true);
SELECT gdpr.anonymise('person', 3);
DELETE FROM person WHERE id = 3;
});
$node->poll_query_until('app', 'SELECT queued = 0 FROM gdpr.log_status')
  or die 'events were not shipped';

# "restore": the rows and markers as they were before the erasures, the
# mark back at zero
my $restore = q{
DELETE FROM gdpr.marker;
INSERT INTO person VALUES (1, 'one'), (2, 'two'), (3, 'three')
  ON CONFLICT (id) DO UPDATE SET name = excluded.name;
UPDATE gdpr.state SET reflected_id = 0;
};
$node->safe_psql('app', $restore);

my $outcomes = 'SELECT string_agg(kind || \':\' || key || \':\' || outcome, \' \' ORDER BY event_id) FROM gdpr.rerun(%s)';
my $dry = $node->safe_psql('app', sprintf($outcomes, 'dry_run => true'));
is($dry,
	'delete:1:applied delete:1:missing anonymise:2:applied anonymise:2:already anonymise:3:applied delete:3:applied',
	'a dry run reports what the real run will do, key by key');
is($node->safe_psql('app', 'SELECT count(*) FROM person'), '3', 'the dry run changed nothing');
is($node->safe_psql('app', 'SELECT count(*) FROM gdpr.marker'), '0', 'the dry run marked nothing');
my $real = $node->safe_psql('app', sprintf($outcomes, ''));
is($real, $dry, 'the real run gives the outcomes the dry run announced');
is($node->safe_psql('app', 'SELECT string_agg(id || \':\' || coalesce(name, \'-\'), \',\' ORDER BY id) FROM person'),
	'2:-', 'the real run applied them');
is($node->safe_psql('app', sprintf($outcomes, '')), '', 'a second run lists nothing');

# one failing event does not stop the rest
$node->safe_psql('app', $restore);
$node->safe_psql('app', 'INSERT INTO blocker VALUES (1, 1)');
my ($rc, $out, $err) = $node->psql('app', sprintf($outcomes, ''));
is($rc, 0, 'the replay itself succeeds');
is($out,
	'delete:1:failed delete:1:failed anonymise:2:applied anonymise:2:already anonymise:3:applied delete:3:applied',
	'the event a foreign key refuses fails, the others are applied');
like($err, qr/WARNING:  log event \d+ \(delete of public\.person, key "1"\) was not replayed: update or delete on table "person" violates (RESTRICT setting of )?foreign key constraint/,
	'the failure is reported as a WARNING');	# (18 names the RESTRICT)
is($node->safe_psql('app', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM person'),
	'1,2', 'only the refused row is left');

# a table renamed after the backup: its erasures cannot be applied, loudly
$node->safe_psql('app', 'DELETE FROM blocker');
$node->safe_psql('app', $restore);
$node->safe_psql('app', 'ALTER TABLE person RENAME TO people');
($rc, $out, $err) = $node->psql('app', sprintf($outcomes, ''));
is($out,
	'delete:1:missing delete:1:missing anonymise:2:missing anonymise:2:missing anonymise:3:missing delete:3:missing',
	'events of a table that no longer has the logged name are missing');
like($err, qr/WARNING:  table public\.person of log event \d+ does not exist.*HINT:  If the table was renamed after the backup was taken, rename it to its logged name/s,
	'a WARNING says what to do about a renamed table');

done_testing();
