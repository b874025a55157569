
# Copyright (c) 2026, gdpr developers

# Retention policies applied by pg_cron, and repeated by gdpr.rerun() after
# a restore.  pg_cron 1.4 is minute-granular, so the job is an '@reboot'
# job and the server is restarted: the job runs gdpr.apply_retention(),
# which deletes the sessions older than 90 days and anonymises the orders
# older than 7 years; the erasures are logged like any other.  A server
# started from a base backup taken before the job ran then gets them back
# with gdpr.rerun(): the same rows deleted and anonymised, and no new
# events in the log.

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
gdpr.databases = 'postgres'
gdpr.ship_interval = 100
});
$node->start;

# the README's example: sessions deleted after 90 days, orders anonymised
# after 7 years
$node->safe_psql('postgres', q{
CREATE EXTENSION gdpr;
CREATE EXTENSION pg_cron;
CREATE TABLE session (id int PRIMARY KEY, token text, last_seen timestamptz);
CREATE TABLE orders (id int PRIMARY KEY, customer text, address text, placed_at date);
INSERT INTO session SELECT i, 'token ' || i,
       now() - CASE WHEN i % 2 = 0 THEN interval '120 days' ELSE interval '3 days' END
  FROM generate_series(1, 10) i;
INSERT INTO orders SELECT i, 'Customer ' || i, 'Street ' || i,
       current_date - CASE WHEN i <= 4 THEN 8 * 365 ELSE 30 END
  FROM generate_series(1, 10) i;
SELECT gdpr.register('session', ARRAY['token']);
SELECT gdpr.register('orders', ARRAY['customer', 'address']);
SELECT gdpr.set_retention('public.session', column_name => 'last_seen',
                          keep => interval '90 days', action => 'delete');
SELECT gdpr.set_retention('public.orders', column_name => 'placed_at',
                          keep => interval '7 years');
});

my $data_sql = q{
SELECT 'session', * FROM session ORDER BY id;
SELECT 'orders', * FROM orders ORDER BY id;
SELECT 'marker', rel::text, key FROM gdpr.marker ORDER BY 2, 3::int;
};
my $at_backup = $node->safe_psql('postgres', $data_sql);
is($node->safe_psql('postgres', 'SELECT sum(due) FROM gdpr.retention'), '9',
	'five sessions and four orders are due');
$node->backup('base');

# the job, as the README shows it (with '@reboot' instead of a daily time)
$node->safe_psql('postgres',
	q{SELECT cron.schedule('gdpr-retention', '@reboot', 'SELECT gdpr.apply_retention()')});
$node->restart;
$node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')})
  or die 'the @reboot job did not finish';
is( $node->safe_psql('postgres', q{
	SELECT format('%s %s %s', j.jobname, d.status, d.return_message)
	  FROM cron.job_run_details d JOIN cron.job j USING (jobid)}),
	'gdpr-retention succeeded SELECT 2',
	'pg_cron ran gdpr.apply_retention(), which applied both policies');
is( $node->safe_psql('postgres', q{
	SELECT string_agg(format('%s %s %s', rel, last_done, due), ', ' ORDER BY rel::text)
	  FROM gdpr.retention WHERE last_applied_at IS NOT NULL}),
	'orders 4 0, session 5 0',
	'the view shows what the job erased, and nothing is due any more');
my $erased = $node->safe_psql('postgres', $data_sql);
isnt($erased, $at_backup, 'the job changed the data');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM session WHERE last_seen < now() - interval '90 days'}), '0',
	'no session older than 90 days is left');

$node->poll_query_until('postgres', 'SELECT queued = 0 FROM gdpr.log_status')
  or die 'the events were not shipped';
is( $logdb->safe_psql('gdprlog', q{
	SELECT string_agg(format('%s %s %s', kind, table_name, key), ', ' ORDER BY kind, table_name, key::int)
	  FROM gdpr_log.event WHERE source = 'postgres'}),
	'anonymise public.orders 1, anonymise public.orders 2, anonymise public.orders 3, '
	  . 'anonymise public.orders 4, delete public.session 2, delete public.session 4, '
	  . 'delete public.session 6, delete public.session 8, delete public.session 10',
	'the retention erasures are in the log');
my $log_count = $logdb->safe_psql('gdprlog', 'SELECT count(*) FROM gdpr_log.event');

# the restore: a new server from the backup taken before the job ran
$node->stop;
my $restored = PostgreSQL::Test::Cluster->new('restored');
$restored->init_from_backup($node, 'base');
$restored->start;
is($restored->safe_psql('postgres', $data_sql), $at_backup, 'the restored server holds the backup');
my $rerun = $restored->safe_psql('postgres', q{
	SELECT kind || ' ' || table_name || ' ' || outcome, count(*) FROM gdpr.rerun() GROUP BY 1 ORDER BY 1});
is($rerun, "anonymise public.orders applied|4\ndelete public.session applied|5",
	'gdpr.rerun() repeats the retention erasures');
is($restored->safe_psql('postgres', $data_sql), $erased,
	'the restored data is as it was after the job');
is($restored->safe_psql('postgres', 'SELECT count(*) FROM gdpr.rerun()'), '0',
	'a second rerun lists nothing');
$restored->poll_query_until('postgres', 'SELECT queued = 0 FROM gdpr.log_status')
  or die 'the queue was not drained';
is($logdb->safe_psql('gdprlog', 'SELECT count(*) FROM gdpr_log.event'), $log_count,
	'the replay wrote nothing to the log');

$restored->stop;
$logdb->stop;
done_testing();
