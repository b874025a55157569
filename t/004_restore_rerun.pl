
# Copyright (c) 2026, gdpr developers

# Replaying the log after a restore.  A database ships its erasures to a log
# database on another server; it is backed up, erases more, and is restored
# from the backup.  gdpr.rerun() then re-applies exactly the erasures logged
# after the backup, ON DELETE ANONYMISE rules included, and writes no new
# events; a second run lists nothing; a dry run lists and changes nothing;
# erasures after the restore are logged once each.  Done once with
# pg_dump/pg_restore into a database of the same name, once with
# pg_basebackup and a new server started from the base backup.  An
# unreachable log database makes gdpr.rerun() an ERROR that changes nothing.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tempdir = PostgreSQL::Test::Utils::tempdir;

# the log database, on a server of its own
my $logdb = PostgreSQL::Test::Cluster->new('logdb');
$logdb->init;
$logdb->start;
$logdb->safe_psql('postgres', 'CREATE DATABASE gdprlog');
my $log_conninfo = 'host=' . $logdb->host . ' port=' . $logdb->port . ' dbname=gdprlog';

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'gdpr'
gdpr.pseudonym_key = 'tap-secret'
gdpr.log_conninfo = '$log_conninfo'
gdpr.databases = 'app, app2, shop'
gdpr.ship_interval = 100
gdpr.retry_max_interval = 1000
});
$node->start;

# The schema of both scenarios: people, and comments that are anonymised
# when their author is deleted.
my $schema_sql = q{
CREATE EXTENSION gdpr;
CREATE TABLE person (
    id int PRIMARY KEY,
    name text NOT NULL,
    email text UNIQUE,
    phone text);
CREATE TABLE comment (
    id int PRIMARY KEY,
    author_id int REFERENCES person ON DELETE SET NULL,
    body text);
INSERT INTO person
SELECT i, 'Person ' || i, 'person' || i || '@example.com', '0113 ' || i
  FROM generate_series(1, 10) i;
-- person n wrote comments n-1, n+9, n+19 (person 1: 10, 20, 30)
INSERT INTO comment SELECT i, 1 + i % 10, 'comment ' || i FROM generate_series(1, 30) i;
SELECT gdpr.register('person', ARRAY['name', 'email', 'phone'], search_fields => ARRAY['email']);
SELECT gdpr.set_anonymiser('person', 'name', 'value', 'Anonymous user');
SELECT gdpr.set_anonymiser('person', 'email', 'email');
SELECT gdpr.set_anonymiser('person', 'phone', 'hash');
SELECT gdpr.register('comment', ARRAY['body']);
SELECT gdpr.set_anonymiser('comment', 'body', 'value', '(removed)');
SELECT gdpr.on_delete_anonymise('comment', 'comment_author_id_fkey');
-- erasures before the backup: part of the backup, never replayed
DELETE FROM person WHERE id = 10;
SELECT gdpr.anonymise('person', 9);
SELECT gdpr.anonymise('comment', 8);
};

# The erasures done after the backup: 21 events.
my $erase_sql = q{
INSERT INTO person VALUES (20, 'Late Person', 'late@example.com', '0113 20');
INSERT INTO comment VALUES (60, 20, 'a late comment');
DELETE FROM person WHERE id = 1;
SELECT gdpr.anonymise('person', 3);
SELECT gdpr.anonymise('comment', 5);
DELETE FROM person WHERE id IN (2, 4);
SELECT gdpr.anonymise('comment', 8, force => true);
SELECT gdpr.anonymise('person', 6);
DELETE FROM person WHERE id = 6;
DELETE FROM comment WHERE id = 60;
DELETE FROM person WHERE id = 20;
};

# what a replay of each of them must find; every other one is applied
my %special_outcome = (
	'anonymise public.comment 8' => 'already',   # anonymised before the backup
	'delete public.comment 60' => 'missing',     # created after the backup
	'delete public.person 20' => 'missing',);

# Erasures still queued when a backup is taken (the log database is down):
# shipped later by the original, shipped again by the restored copy, and
# kept once by the log.
my $queued_sql = q{
SELECT gdpr.anonymise('person', 7);
DELETE FROM comment WHERE id = 7;
};

# the data as text, markers included (without their time)
my $data_sql = q{
SELECT 'person', * FROM person ORDER BY id;
SELECT 'comment', * FROM comment ORDER BY id;
SELECT 'marker', rel::text, key FROM gdpr.marker ORDER BY 2, 3;
};

# wait_shipped: wait until the worker has shipped everything queued
sub wait_shipped
{
	my ($n, $db) = @_;
	$n->poll_query_until($db, 'SELECT queued = 0 FROM gdpr.log_status')
	  or die "the events of $db were not shipped";
	return;
}

# log_events: this source's events in the log above an id, as
# "id|kind|table|key" lines in log order
sub log_events
{
	my ($source, $after) = @_;
	return $logdb->safe_psql('gdprlog', qq{
		SELECT id, kind, table_name, key FROM gdpr_log.event
		 WHERE source = '$source' AND id > $after ORDER BY id});
}

# log_max: the highest log id of a source
sub log_max
{
	my ($source) = @_;
	return $logdb->safe_psql('gdprlog',
		"SELECT coalesce(max(id), 0) FROM gdpr_log.event WHERE source = '$source'");
}

# mark: gdpr.state.reflected_id
sub mark
{
	my ($n, $db) = @_;
	return $n->safe_psql($db, 'SELECT reflected_id FROM gdpr.state');
}

# expected_rerun: the rerun result expected for log lines
sub expected_rerun
{
	my ($events, $outcomes) = @_;
	my @rows;
	foreach my $line (split /\n/, $events)
	{
		my ($id, $kind, $table, $key) = split /\|/, $line;
		my $outcome = $outcomes->{"$kind $table $key"} // 'applied';
		push @rows, "$id|$kind|$table|$key|$outcome";
	}
	return join("\n", @rows);
}

# Runs one scenario: $backup->() takes the backup, $restore->() restores it
# and returns the node the database now lives on.  With $early_delete, a
# person is deleted after the restore before the replay (the worker ships
# it and warns that the log holds events not replayed).  With $queued,
# the backup holds queued events not yet shipped.
sub scenario
{
	my ($db, $how, $backup, $restore, %opts) = @_;

	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, $schema_sql);
	$node->reload;    # the launcher starts the database's shipper now
	wait_shipped($node, $db);

	my $mark0 = mark($node, $db);
	is($mark0, log_max($db),
		"$how: after shipping, the database reflects the whole log of its source");
	is( $logdb->safe_psql('gdprlog',
			"SELECT string_agg(kind || ' ' || key, ',' ORDER BY id) FROM gdpr_log.event WHERE source = '$db'"),
		'anonymise 9,anonymise 19,anonymise 29,delete 10,anonymise 9,anonymise 8',
		"$how: the erasures before the backup are in the log");

	if ($opts{queued})
	{
		$logdb->stop;
		$node->safe_psql($db, $queued_sql);
		is($node->safe_psql($db, 'SELECT queued FROM gdpr.log_status'), '2',
			"$how: two events wait in the queue while the log database is down");
	}

	my $data_at_backup = $node->safe_psql($db, $data_sql);
	$backup->();

	# $base: the log id after which the erasures of the backup's future come
	my $base = $mark0;
	if ($opts{queued})
	{
		$logdb->start;
		wait_shipped($node, $db);
		$base = log_max($db);
		is( log_events($db, $mark0) =~ s/^\d+\|//mgr,
			"anonymise|public.person|7\ndelete|public.comment|7",
			"$how: the events queued at the backup are shipped once the log database is back");
		is(mark($node, $db), $base, "$how: and reflected");
	}

	$node->safe_psql($db, $erase_sql);
	wait_shipped($node, $db);
	my $data_erased = $node->safe_psql($db, $data_sql);
	# with an erasure after the restore, the end result includes it
	my $data_expected =
	  $opts{early_delete}
	  ? $node->safe_psql($db, "BEGIN; DELETE FROM person WHERE id = 8; $data_sql ROLLBACK;")
	  : $data_erased;
	my $events = log_events($db, $base);
	is( $logdb->safe_psql('gdprlog', qq{
			SELECT count(*) || ' ' || string_agg(DISTINCT kind, ',')
			  FROM gdpr_log.event WHERE source = '$db' AND id > $base}),
		'21 anonymise,delete',
		"$how: the 21 erasures after the backup are in the log");
	is(mark($node, $db), log_max($db), "$how: and the database reflects them");

	# the log worker may look at the restored database while pg_restore
	# runs and ship the restored queue: keep the log database down until
	# the restored mark is checked
	$logdb->stop if $opts{queued};
	my $rn = $restore->();

	is($rn->safe_psql($db, $data_sql), $data_at_backup,
		"$how: the restore brought the data back to the backup");
	is(mark($rn, $db), $mark0, "$how: the mark is the backup's");
	if ($opts{queued})
	{
		$logdb->start;
		# the worker looks at every listed database at a reload
		$rn->reload;
	}

	# $mark: what the restored database reflects before the replay
	my $mark = $mark0;
	if ($opts{queued})
	{
		# the restored queue is shipped again; the log keeps one copy, and
		# the mark moves over these events, which the restored data reflects
		my $count = $logdb->safe_psql('gdprlog',
			"SELECT count(*) FROM gdpr_log.event WHERE source = '$db'");
		wait_shipped($rn, $db);
		is( $logdb->safe_psql('gdprlog',
				"SELECT count(*) FROM gdpr_log.event WHERE source = '$db'"),
			$count, "$how: events shipped again after the restore are logged once");
		is(mark($rn, $db), $base, "$how: and the mark moves over them");
		$mark = $base;
	}

	my %outcomes = %special_outcome;
	if ($opts{early_delete})
	{
		# an erasure after the restore, before the replay: shipped, and the
		# worker warns that the log holds events not replayed here
		my $offset = -s $rn->logfile;
		$rn->safe_psql($db, 'DELETE FROM person WHERE id = 8');
		wait_shipped($rn, $db);
		$rn->wait_for_log(
			qr/WARNING:  the gdpr log holds events of source "$db" that this database has not replayed/,
			$offset);
		is(mark($rn, $db), $mark,
			"$how: an erasure before the replay does not move the mark");
		$events = log_events($db, $mark);
		# comments 7, 17, 27 are marked now; person 8 is gone
		$outcomes{$_} = 'already' foreach map { "anonymise public.comment $_" } (7, 17, 27);
		$outcomes{'delete public.person 8'} = 'missing';
	}
	my $expected = expected_rerun($events, \%outcomes);
	my $log_count = $logdb->safe_psql('gdprlog',
		"SELECT count(*) FROM gdpr_log.event WHERE source = '$db'");

	if ($opts{unreachable})
	{
		# the log database is down: an ERROR, nothing changes
		$logdb->stop;
		my ($ret, $stdout, $stderr) = $rn->psql($db, 'SELECT * FROM gdpr.rerun()');
		isnt($ret, 0, "$how: gdpr.rerun() fails while the log database is down");
		like($stderr, qr/ERROR:  could not connect to the gdpr log database/,
			"$how: with an error saying the log database is unreachable");
		($ret, $stdout, $stderr) = $rn->psql($db, 'SELECT * FROM gdpr.rerun(dry_run => true)');
		like($stderr, qr/ERROR:  could not connect to the gdpr log database/,
			"$how: a dry run fails the same way");
		$logdb->start;
		is($rn->safe_psql($db, $data_sql), $data_at_backup,
			"$how: the failed rerun changed no data");
		is(mark($rn, $db), $mark, "$how: nor the mark");
	}

	# a dry run lists what a replay would do, and changes nothing
	my $data_before = $rn->safe_psql($db, $data_sql);
	is($rn->safe_psql($db, 'SELECT * FROM gdpr.rerun(dry_run => true)'), $expected,
		"$how: a dry run lists every event logged after the backup, with its outcome");
	is($rn->safe_psql($db, $data_sql), $data_before, "$how: the dry run changed no data");
	is(mark($rn, $db), $mark, "$how: nor the mark");

	# the replay
	my $rerun = $rn->safe_psql($db, q{
		BEGIN;
		SELECT * FROM gdpr.rerun();
		SELECT 'queued ' || count(*) FROM gdpr.queued_events;
		COMMIT;});
	is($rerun, "$expected\nqueued 0",
		"$how: gdpr.rerun() replays the events logged after the backup, in log order, and queues none");
	my $data_replayed = $rn->safe_psql($db, $data_sql);
	is($data_replayed, $data_expected,
		"$how: the data is as it was before the restore: deleted rows gone, children and rows anonymised");
	like($data_replayed, qr/^comment\|10\|\|\(removed\)$/m,
		"$how: the children of a replayed delete are anonymised and detached");
	is(mark($rn, $db), log_max($db), "$how: the mark moved to the end of the log");

	# nothing new reaches the log
	wait_shipped($rn, $db);
	is( $logdb->safe_psql('gdprlog', "SELECT count(*) FROM gdpr_log.event WHERE source = '$db'"),
		$log_count, "$how: the replay wrote no events to the log");

	is($rn->safe_psql($db, 'SELECT count(*) FROM gdpr.rerun()'), '0',
		"$how: a second run lists nothing");
	is($rn->safe_psql($db, 'SELECT count(*) FROM gdpr.rerun(true)'), '0',
		"$how: nor does a dry run then");
	is($rn->safe_psql($db, $data_sql), $data_replayed, "$how: the second run changed nothing");

	# erasures after the replay are logged once each, and reflected
	my $before_new = log_max($db);
	$rn->safe_psql($db, q{
		DELETE FROM person WHERE id = 5;
		DELETE FROM person WHERE id = 7;
		SELECT gdpr.anonymise('comment', 2);});
	wait_shipped($rn, $db);
	is( log_events($db, $before_new) =~ s/^\d+\|//mgr,
		join("\n",
			'anonymise|public.comment|4', 'anonymise|public.comment|14',
			'anonymise|public.comment|24',
			'delete|public.person|5',
			'anonymise|public.comment|6', 'anonymise|public.comment|16',
			'anonymise|public.comment|26',
			'delete|public.person|7',
			'anonymise|public.comment|2'),
		"$how: erasures after the replay are logged once each");
	is(mark($rn, $db), log_max($db), "$how: and reflected by the database");
	is($rn->safe_psql($db, 'SELECT count(*) FROM gdpr.rerun()'), '0',
		"$how: a later run lists nothing");

	# rows created later with an erased key are not touched by a replay
	# (6 was anonymised, then deleted; 1 and 60 deleted)
	$rn->safe_psql($db, q{
		INSERT INTO person VALUES (1, 'New 1', 'new1@example.com', 'n1'),
		                          (6, 'New 6', 'new6@example.com', 'n6');
		INSERT INTO comment VALUES (60, 1, 'new comment 60');});
	is($rn->safe_psql($db, 'SELECT count(*) FROM gdpr.rerun()'), '0',
		"$how: a run after erased keys are reused lists nothing");
	is( $rn->safe_psql($db, q{
		SELECT string_agg(format('%s %s %s', id, name, email), ', ' ORDER BY id)
		  FROM person WHERE id IN (1, 6)}),
		'1 New 1 new1@example.com, 6 New 6 new6@example.com',
		"$how: the new rows that reuse erased keys are untouched");
	is( $rn->safe_psql($db, q{
		SELECT gdpr.is_anonymised('person', 1) || ' ' || gdpr.is_anonymised('comment', 60)}),
		'false false',
		"$how: and not taken for anonymised");
	# the marker of the old row 6 must not make the new row 6 look anonymised:
	# anonymising the new person must work
	is($rn->safe_psql($db, "SELECT gdpr.is_anonymised('person', 6)"), 'f',
		"$how: a new row reusing the key of an anonymised, deleted row is not taken for anonymised");
	is( $rn->safe_psql($db, q{
		SELECT gdpr.anonymise('person', 6);
		SELECT name FROM person WHERE id = 6}),
		"t\nAnonymous user",
		"$how: and anonymising it changes it");
	wait_shipped($rn, $db);
	return $rn;
}

# 1. pg_dump, then DROP DATABASE and pg_restore into a database of the
#    same name
my $dumpfile = "$tempdir/app.dump";
scenario(
	'app', 'pg_dump',
	sub {
		$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile, '-d', 'app' ],
			'pg_dump: backup');
	},
	sub {
		$node->safe_psql('postgres', 'DROP DATABASE app WITH (FORCE)');
		$node->safe_psql('postgres', 'CREATE DATABASE app');
		$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'app', $dumpfile ],
			'pg_dump: pg_restore into a new database "app"');
		return $node;
	},
	unreachable => 1);

# 2. pg_dump taken while events wait in the queue
my $dumpfile2 = "$tempdir/app2.dump";
scenario(
	'app2', 'pg_dump with a queue',
	sub {
		$node->command_ok([ 'pg_dump', '-Fc', '-f', $dumpfile2, '-d', 'app2' ],
			'pg_dump with a queue: backup');
	},
	sub {
		$node->safe_psql('postgres', 'DROP DATABASE app2 WITH (FORCE)');
		$node->safe_psql('postgres', 'CREATE DATABASE app2');
		$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', 'app2', $dumpfile2 ],
			'pg_dump with a queue: pg_restore into a new database "app2"');
		return $node;
	},
	queued => 1);

# 3. pg_basebackup, and a new server started from it in place of the old
#    one, which is stopped: the database keeps its name, so its source
my $restored;
scenario(
	'shop', 'pg_basebackup',
	sub { $node->backup('base'); },
	sub {
		$node->stop;
		$restored = PostgreSQL::Test::Cluster->new('restored');
		$restored->init_from_backup($node, 'base');
		$restored->start;
		return $restored;
	},
	early_delete => 1);

$restored->stop;
$logdb->stop;
done_testing();
