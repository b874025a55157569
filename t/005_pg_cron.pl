
# Copyright (c) 2026, gdpr developers

# gdpr.rerun() scheduled with pg_cron.  pg_cron 1.4 is minute-granular, so
# the jobs are '@reboot' jobs, which run as soon as the server starts: the
# restore is a new server started from a base backup taken after the jobs
# were scheduled, the usual way to have a restored server replay the log
# before it is opened to writes.  One job runs in cron.database_name
# (cron.schedule), one in another database (cron.schedule_in_database).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# the log database, on a server of its own
my $logdb = PostgreSQL::Test::Cluster->new('logdb');
$logdb->init;
$logdb->start;
$logdb->safe_psql('postgres', 'CREATE DATABASE gdprlog');
my $log_conninfo = 'host=' . $logdb->host . ' port=' . $logdb->port . ' dbname=gdprlog';

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'gdpr,pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
gdpr.log_conninfo = '$log_conninfo'
gdpr.databases = 'postgres, app'
gdpr.ship_interval = 100
});
$node->start;

my $schema_sql = q{
CREATE EXTENSION gdpr;
CREATE TABLE person (id int PRIMARY KEY, name text NOT NULL, email text);
CREATE TABLE comment (
    id int PRIMARY KEY,
    author_id int REFERENCES person ON DELETE SET NULL,
    body text);
INSERT INTO person SELECT i, 'Person ' || i, 'person' || i || '@example.com'
  FROM generate_series(1, 6) i;
INSERT INTO comment SELECT i, 1 + i % 6, 'comment ' || i FROM generate_series(1, 12) i;
SELECT gdpr.register('person', ARRAY['name', 'email']);
SELECT gdpr.set_anonymiser('person', 'name', 'value', 'Anonymous user');
SELECT gdpr.register('comment', ARRAY['body']);
SELECT gdpr.on_delete_anonymise('comment', 'comment_author_id_fkey');
DELETE FROM person WHERE id = 6;      -- before the backup
};

# after the backup: delete person 1 (comments 6 and 12 are anonymised),
# anonymise person 2
my $erase_sql = q{
DELETE FROM person WHERE id = 1;
SELECT gdpr.anonymise('person', 2);
};

my $data_sql = q{
SELECT 'person', * FROM person ORDER BY id;
SELECT 'comment', * FROM comment ORDER BY id;
SELECT 'marker', rel::text, key FROM gdpr.marker ORDER BY 2, 3;
};

$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->reload;    # the launcher starts the shipper of app now
$node->safe_psql($_, $schema_sql) foreach ('postgres', 'app');

# the jobs, as the README shows them
$node->safe_psql('postgres', q{
SELECT cron.schedule('gdpr-rerun', '@reboot', 'SELECT gdpr.rerun()');
SELECT cron.schedule_in_database('gdpr-rerun-app', '@reboot', 'SELECT gdpr.rerun()', 'app');
});

foreach my $db ('postgres', 'app')
{
	$node->poll_query_until($db, 'SELECT queued = 0 FROM gdpr.log_status')
	  or die "the events of $db were not shipped";
}
my %mark0 = map { $_ => $node->safe_psql($_, 'SELECT reflected_id FROM gdpr.state') }
  ('postgres', 'app');
ok($mark0{postgres} > 0 && $mark0{app} > 0, 'both databases reflect their first events');

my %at_backup = map { $_ => $node->safe_psql($_, $data_sql) } ('postgres', 'app');
$node->backup('base');

my %erased;
foreach my $db ('postgres', 'app')
{
	$node->safe_psql($db, $erase_sql);
	$node->poll_query_until($db, 'SELECT queued = 0 FROM gdpr.log_status')
	  or die "the events of $db were not shipped";
	$erased{$db} = $node->safe_psql($db, $data_sql);
}
is( $logdb->safe_psql('gdprlog', q{
	SELECT string_agg(format('%s %s %s %s', source, kind, table_name, key), ', '
	                  ORDER BY source, id)
	  FROM gdpr_log.event e
	 WHERE id > CASE source WHEN 'postgres' THEN } . $mark0{postgres}
	  . q{ ELSE } . $mark0{app} . q{ END}),
	join(', ',
		map {
			("$_ anonymise public.comment 6", "$_ anonymise public.comment 12",
			 "$_ delete public.person 1", "$_ anonymise public.person 2")
		} ('app', 'postgres')),
	'the erasures after the backup are in the log');
# the jobs were scheduled but have not run (they run at a start only)
is($node->safe_psql('postgres', 'SELECT count(*) FROM cron.job_run_details'), '0',
	'no job has run on the original server');

# The restore: the original is stopped, a new server starts from the base
# backup; its pg_cron runs the '@reboot' jobs at once.
$node->stop;
my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($node, 'base');
$restored->start;

$restored->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM cron.job_run_details
	 WHERE status IN ('succeeded', 'failed')})
  or die 'the @reboot jobs did not finish';
is( $restored->safe_psql('postgres', q{
	SELECT string_agg(format('%s %s %s %s', j.jobname, d.database, d.status, d.return_message),
	                  ', ' ORDER BY j.jobname)
	  FROM cron.job_run_details d JOIN cron.job j USING (jobid)}),
	'gdpr-rerun postgres succeeded SELECT 4, gdpr-rerun-app app succeeded SELECT 4',
	'pg_cron ran gdpr.rerun() in both databases at start, replaying 4 events in each');

foreach my $db ('postgres', 'app')
{
	is($restored->safe_psql($db, $data_sql), $erased{$db},
		"$db: the replay deleted, and anonymised the children, and anonymised, as before the restore");
	isnt($erased{$db}, $at_backup{$db}, "$db: which differs from the backup");
	is( $restored->safe_psql($db, 'SELECT reflected_id FROM gdpr.state'),
		$logdb->safe_psql('gdprlog', "SELECT max(id) FROM gdpr_log.event WHERE source = '$db'"),
		"$db: the mark moved to the end of the log");
}

# The jobs run at every start; with nothing left to replay they change
# nothing.
my $log_count = $logdb->safe_psql('gdprlog', 'SELECT count(*) FROM gdpr_log.event');
$restored->restart;
$restored->poll_query_until('postgres', q{
	SELECT count(*) = 4 FROM cron.job_run_details
	 WHERE status IN ('succeeded', 'failed')})
  or die 'the @reboot jobs did not finish after the restart';
is( $restored->safe_psql('postgres', q{
	SELECT string_agg(format('%s %s %s', j.jobname, d.status, d.return_message),
	                  ', ' ORDER BY j.jobname)
	  FROM cron.job_run_details d JOIN cron.job j USING (jobid)
	 WHERE d.runid > 2}),
	'gdpr-rerun succeeded SELECT 0, gdpr-rerun-app succeeded SELECT 0',
	'after a restart, the jobs replay nothing');
foreach my $db ('postgres', 'app')
{
	is($restored->safe_psql($db, $data_sql), $erased{$db}, "$db: nothing changed");
	$restored->poll_query_until($db, 'SELECT queued = 0 FROM gdpr.log_status')
	  or die "the queue of $db was not drained";
}
is($logdb->safe_psql('gdprlog', 'SELECT count(*) FROM gdpr_log.event'), $log_count,
	'the replays wrote nothing to the log');

$restored->stop;
$logdb->stop;
done_testing();
