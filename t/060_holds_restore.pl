
# Copyright (c) 2026, gdpr developers

# Legal holds across pg_dump / pg_restore, and a restore followed by
# gdpr.rerun().  Holds and the erasures deferred under them are
# configuration (pg_extension_config_dump): a restore brings them back, with
# their ids, and a held row stays protected.  After a restore, holds placed
# in the restored copy defer the logged erasures of their rows: rerun lists
# them with the outcome "held" and records the deferred erasure; the release
# then carries it out (a delete as a DELETE, ON DELETE ANONYMISE included)
# without logging it again.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;
use GdprTest qw(log_server gdpr_server);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tempdir = PostgreSQL::Test::Utils::tempdir;
my ($logdb, $log_conninfo) = log_server();
my $node = gdpr_server($log_conninfo, qq{
gdpr.databases = 'app'
gdpr.ship_interval = 100
gdpr.retry_max_interval = 1000
});

# wait_shipped: wait until the worker has shipped everything queued
sub wait_shipped
{
	$node->poll_query_until('app', 'SELECT queued = 0 FROM gdpr.log_status')
	  or die 'the events of app were not shipped';
	return;
}

# log_count: the events of app in the log
sub log_count
{
	return $logdb->safe_psql('gdprlog',
		"SELECT count(*) FROM gdpr_log.event WHERE source = 'app'");
}

my $holds_sql = q{
SELECT id, rel, key, reason, held_by, until, active, deferred, released_at IS NULL
  FROM gdpr.holds ORDER BY id;
SELECT rel, key, kind, from_log FROM gdpr.deferred_erasure ORDER BY 1::text, 2, 3;
};

$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->safe_psql('app', q{
CREATE EXTENSION gdpr;
CREATE TABLE person (id int PRIMARY KEY, name text, email text);
CREATE TABLE comment (id int PRIMARY KEY,
                      author_id int REFERENCES person ON DELETE SET NULL, body text);
INSERT INTO person SELECT i, 'Person ' || i, 'p' || i || '@example.com'
  FROM generate_series(1, 6) i;
INSERT INTO comment SELECT i, i, 'comment ' || i FROM generate_series(1, 6) i;
SELECT gdpr.register('person', ARRAY['name', 'email']);
SELECT gdpr.register('comment', ARRAY['body']);
SELECT gdpr.set_anonymiser('comment', 'body', 'value', '(removed)');
SELECT gdpr.on_delete_anonymise('comment', 'comment_author_id_fkey');
-- before the backup: a hold with an erasure deferred, a released hold, a
-- hold with an end
SELECT gdpr.hold('person', '1', 'litigation 2026-117');
SELECT gdpr.anonymise('person', '1');
SELECT gdpr.hold('person', '5', 'closed case');
SELECT gdpr.release(2);
SELECT gdpr.hold('person', '6', 'tax audit', until => '2999-01-01 00:00+00');
});
$node->reload;
wait_shipped();

my $holds_at_backup = $node->safe_psql('app', $holds_sql);
like($holds_at_backup, qr/^1\|person\|1\|litigation 2026-117\|\w+\|\|t\|t\|t$/m,
	'a hold with a deferred anonymisation before the backup');
my $dumpfile = "$tempdir/app.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', 'app' ], 'pg_dump');

# after the backup: erasures that the log keeps, and rerun replays
$node->safe_psql('app', q{
DELETE FROM person WHERE id = 2;
SELECT gdpr.anonymise('person', '3');
SELECT gdpr.anonymise('comment', '4');
});
wait_shipped();
my $logged = log_count();

$node->safe_psql('postgres', 'DROP DATABASE app WITH (FORCE)');
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'app', $dumpfile ], 'pg_restore');

is($node->safe_psql('app', $holds_sql), $holds_at_backup,
	'the restore brought the holds and the deferred erasures back');
my ($ret, $stdout, $stderr) = $node->psql('app', 'DELETE FROM person WHERE id = 1');
like($stderr, qr/ERROR:  cannot delete from relation "person": row with key "1" is under legal hold 1/,
	'a held row is still protected after the restore');
($ret, $stdout, $stderr) = $node->psql('app', 'TRUNCATE comment, person');
like($stderr, qr/ERROR:  cannot truncate relation "person"/, 'and so is its table');
is($node->safe_psql('app', "SELECT gdpr.hold('person', '4', 'new case') > 3"), 't',
	'a new hold after the restore gets a new id');

# holds placed in the restored copy on rows the log erased after the backup
is( $node->safe_psql('app', q{
		SELECT gdpr.hold('person', '2', 'placed after the restore');
		SELECT gdpr.hold('person', '3', 'placed after the restore');
		SELECT gdpr.hold('comment', '4', 'placed after the restore');
		SELECT count(*) FROM gdpr.holds WHERE active}),
	"5\n6\n7\n6", 'holds on the rows erased after the backup');

# the ON DELETE ANONYMISE of comment 2 was logged as an event of its own:
# comment 2 is not held, so that one is applied
my $rerun = $node->safe_psql('app', q{
	SELECT kind, table_name, key, outcome FROM gdpr.rerun() ORDER BY table_name, key, kind});
is( $rerun,
	join("\n",
		'anonymise|public.comment|2|applied', 'anonymise|public.comment|4|held',
		'delete|public.person|2|held', 'anonymise|public.person|3|held'),
	'gdpr.rerun() defers the erasures of held rows: outcome "held"');
is( $node->safe_psql('app', q{
		SELECT string_agg(format('%s %s', id, name), ', ' ORDER BY id) FROM person WHERE id IN (2, 3);
		SELECT body FROM comment WHERE id = 4;
		SELECT rel, key, kind, from_log FROM gdpr.deferred_erasure ORDER BY 1::text, 2, 3}),
	"2 Person 2, 3 Person 3\ncomment 4\n"
	  . "person|1|anonymise|f\nperson|2|delete|t\nperson|3|anonymise|t\ncomment|4|anonymise|t",
	'the held rows are untouched and their erasures recorded as deferred');
is($node->safe_psql('app', 'SELECT count(*) FROM gdpr.rerun()'), '0',
	'a second rerun lists nothing');

# the releases carry the deferred erasures out, and log nothing again
is( $node->safe_psql('app', q{
		BEGIN;
		SELECT * FROM gdpr.release(5);
		SELECT * FROM gdpr.release(6);
		SELECT * FROM gdpr.release(7);
		SELECT * FROM gdpr.release(1);
		SELECT string_agg(kind || ' ' || key, ',') FROM gdpr.queued_events;
		COMMIT;}),
	"person|2|applied\nperson|3|applied\ncomment|4|applied\nperson|1|applied\nanonymise 1",
	'the releases carry out the deferred delete and anonymisations; only the new one is queued');
is( $node->safe_psql('app', q{
		SELECT count(*) FROM person WHERE id = 2;
		SELECT format('%s %s', coalesce(author_id, -1), body) FROM comment WHERE id = 2;
		SELECT format('%s %s', coalesce(name, '-'), coalesce(email, '-')) FROM person WHERE id = 3;
		SELECT body FROM comment WHERE id = 4;
		SELECT gdpr.is_anonymised('person', 3) AND gdpr.is_anonymised('comment', 4);
		SELECT count(*) FROM gdpr.deferred_erasure}),
	"0\n-1 (removed)\n- -\n(removed)\nt\n0",
	'the deferred delete ran as a DELETE (ON DELETE ANONYMISE applied), the anonymisations are marked');
wait_shipped();
is(log_count(), $logged + 1, 'the log got only the anonymisation deferred before the backup');
is( $logdb->safe_psql('gdprlog', q{
		SELECT kind || ' ' || table_name || ' ' || key FROM gdpr_log.event
		 WHERE source = 'app' ORDER BY id DESC LIMIT 1}),
	'anonymise public.person 1', 'which is the last event of the log');
is($node->safe_psql('app', 'SELECT count(*) FROM gdpr.rerun()'), '0',
	'and a rerun after the releases lists nothing');

$node->stop;
$logdb->stop;
done_testing();
