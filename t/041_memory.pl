
# Copyright (c) 2026, gdpr developers

# The long paths run in bounded memory.  A probe, a statement trigger on
# the scrubbed table, reports the backend's memory (the sum of
# pg_backend_memory_contexts) in a NOTICE at every batch's UPDATE, from
# inside the running CALL or statement:
#
# - CALL gdpr.anonymise_db_batched() commits after every batch; its memory
#   must not grow with the number of batches: 500 batches end where 50
#   batches end, and batch 500 uses what batch 50 used.
# - gdpr.anonymise_many() with ten times more keys: beyond the input array
#   itself, its memory must not grow with the number of keys.
# - ON DELETE ANONYMISE with ten times more children: the rule of the
#   second child table runs after the first one's children were anonymised
#   and marked, in the same trigger call; its probe must not see memory grow
#   with their number.
# - TRUNCATE of a registered table with ten times more rows: its BEFORE
#   TRUNCATE trigger reads the keys 10,000 at a time and queues each batch's
#   'delete' events with one INSERT into gdpr.queue, where the probe sits;
#   memory must not grow from batch to batch, nor with the number of rows.
# - gdpr.anonymise_search() with ten times more hits: the hits' keys go to
#   a work_mem-bounded store (spilling to disk here) and are anonymised a
#   batch at a time; its memory must not grow with the number of hits.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'gdpr'
});
$node->start;

my $probe = q{
CREATE FUNCTION memory_probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'memory %',
		(SELECT sum(total_bytes) FROM pg_catalog.pg_backend_memory_contexts);
	RETURN NULL;
END $$;
};

# the memory figures of the probe's NOTICEs, in order
sub probes
{
	my ($stderr) = @_;
	return map { /NOTICE:  memory (\d+)/ ? ($1) : () } split /\n/, $stderr;
}

# The probes of two runs of $what, the second with ten times more $unit
# ($batches batches): the bigger run must end where its first batch began,
# and peak where the smaller run peaks.
sub no_growth
{
	my ($what, $unit, $small, $big, $batches) = @_;
	my ($small_peak) = sort { $b <=> $a } @$small;
	my ($big_peak) = sort { $b <=> $a } @$big;
	note "$what: first batch $small->[0] bytes, last $small->[-1], peak $small_peak; "
	  . "ten times more $unit: first batch $big->[0] bytes, last $big->[-1], peak $big_peak";
	cmp_ok($big->[-1] - $big->[0], '<', 256 * 1024,
		"$what over $batches batches ends where its first batch began");
	cmp_ok($big_peak - $small_peak, '<', 256 * 1024,
		"$what of ten times more $unit peaks where the smaller one peaks");
	return;
}

# a scrubbed table of $rows rows with the probe, in database $db
sub make_table
{
	my ($db, $rows) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
CREATE EXTENSION gdpr;
$probe
CREATE TABLE person (id int PRIMARY KEY, name text, email text);
INSERT INTO person SELECT g, 'name ' || g, 'mail' || g || '\@example.com'
  FROM generate_series(1, $rows) g;
SELECT gdpr.register('person', ARRAY['name', 'email']);
CREATE TRIGGER memory_probe AFTER UPDATE ON person
  FOR EACH STATEMENT EXECUTE FUNCTION memory_probe();
});
}

# ---- the batched scrub: 50 batches, then 500 batches of 100 rows ----
my %peak;
my %probes;
for my $case ([ 'scrub50', 5000 ], [ 'scrub500', 50000 ])
{
	my ($db, $rows) = @$case;
	make_table($db, $rows);
	my ($ret, $stdout, $stderr) = $node->psql($db, q{
SET gdpr.allow_anonymise_db = on;
SET gdpr.anonymise_batch_size = 100;
CALL gdpr.anonymise_db_batched(current_database());
});
	is($ret, 0, "$db: the batched scrub succeeds") or diag($stderr);
	is($node->safe_psql($db, 'SELECT count(*) FROM person WHERE name IS NULL'),
		$rows, "$db: every row is anonymised");
	my @p = probes($stderr);
	is(scalar(@p), $rows / 100 + 1, "$db: the probe ran at every batch");
	$probes{$db} = \@p;
	($peak{$db}) = sort { $b <=> $a } @p;
}

my @p500 = @{ $probes{scrub500} };
my $growth_batches = $p500[-2] - $p500[49];
note "batched scrub: batch 50 " . $p500[49] . " bytes, batch 500 " . $p500[-2]
  . " bytes, peak of 50 batches $peak{scrub50}, of 500 batches $peak{scrub500}";
cmp_ok($growth_batches, '<', 256 * 1024,
	'the batched scrub uses no more memory at batch 500 than at batch 50');
cmp_ok($peak{scrub500} - $peak{scrub50}, '<', 256 * 1024,
	'500 batches peak where 50 batches peak');

# ---- anonymise_many: 10,000 keys, then 100,000 keys ----
my %many;
for my $case ([ 'many10k', 10000 ], [ 'many100k', 100000 ])
{
	my ($db, $rows) = @$case;
	make_table($db, $rows);
	my ($ret, $stdout, $stderr) = $node->psql($db, qq{
SET gdpr.anonymise_batch_size = 1000;
SELECT gdpr.anonymise_many('person', (SELECT array_agg(g) FROM generate_series(1, $rows) g));
});
	is($ret, 0, "$db: anonymise_many succeeds") or diag($stderr);
	is($stdout, $rows, "$db: every row is anonymised");
	my @p = probes($stderr);
	is(scalar(@p), $rows / 1000, "$db: the probe ran at every batch");
	$many{$db} = \@p;
}

# the input array is in memory from the first batch on: what comes after
# must not grow with the number of keys
my @m = @{ $many{many100k} };
note "anonymise_many: first batch $m[0] bytes, last batch $m[-1] bytes, "
  . "10,000 keys: first $many{many10k}[0], last $many{many10k}[-1]";
cmp_ok($m[-1] - $m[0], '<', 256 * 1024,
	'anonymise_many over 100 batches ends where its first batch began');
cmp_ok(($m[-1] - $m[0]) - ($many{many10k}[-1] - $many{many10k}[0]), '<', 128 * 1024,
	'ten times more keys add nothing beyond the input array');

# ---- ON DELETE ANONYMISE: 100 parents with 10,000, then 100,000 orders ----
# The rules run in the order of their child tables' OIDs: orders, then note,
# whose probe reports the memory once the orders are marked.
my %oda;
for my $case ([ 'oda10k', 100 ], [ 'oda100k', 1000 ])
{
	my ($db, $per) = @$case;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
CREATE EXTENSION gdpr;
$probe
CREATE TABLE account (id int PRIMARY KEY);
INSERT INTO account SELECT generate_series(1, 100);
CREATE TABLE orders (id int PRIMARY KEY,
  account_id int REFERENCES account ON DELETE SET NULL, name text);
INSERT INTO orders SELECT g, (g - 1) / $per + 1, 'name ' || g
  FROM generate_series(1, 100 * $per) g;
CREATE TABLE note (id int PRIMARY KEY,
  account_id int REFERENCES account ON DELETE SET NULL, body text);
INSERT INTO note SELECT g, g, 'body ' || g FROM generate_series(1, 100) g;
SELECT gdpr.register('orders', ARRAY['name']);
SELECT gdpr.register('note', ARRAY['body']);
SELECT gdpr.on_delete_anonymise('orders', 'orders_account_id_fkey');
SELECT gdpr.on_delete_anonymise('note', 'note_account_id_fkey');
CREATE TRIGGER memory_probe AFTER UPDATE ON note
  FOR EACH STATEMENT EXECUTE FUNCTION memory_probe();
});
	my ($ret, $stdout, $stderr) = $node->psql($db, q{
SET gdpr.anonymise_batch_size = 1000;
DELETE FROM account;
});
	is($ret, 0, "$db: the DELETE succeeds") or diag($stderr);
	is($node->safe_psql($db, q{
SELECT (SELECT count(*) FROM orders WHERE name IS NULL AND account_id IS NULL)
    || ' ' || (SELECT count(*) FROM gdpr.marker WHERE rel = 'orders'::regclass)
    || ' ' || (SELECT count(*) FROM note WHERE body IS NULL)}),
		(100 * $per) . ' ' . (100 * $per) . ' 100',
		"$db: every order and note is anonymised and every order marked");
	my @p = probes($stderr);
	# first from our UPDATE, then from the constraint's own (which finds
	# nothing left to clear)
	cmp_ok(scalar(@p), '>=', 1, "$db: the probe ran");
	$oda{$db} = $p[0];
}
note "ON DELETE ANONYMISE: after 10,000 orders $oda{oda10k} bytes, "
  . "after 100,000 orders $oda{oda100k} bytes";
cmp_ok($oda{oda100k} - $oda{oda10k}, '<', 256 * 1024,
	'ON DELETE ANONYMISE of ten times more children uses no more memory');

# ---- TRUNCATE: 100,000 rows, then 1,000,000 rows ----
# The BEFORE TRUNCATE trigger reads the keys through a cursor, 10,000 at a
# time, and queues each batch's 'delete' events with one INSERT into
# gdpr.queue: the probe is a statement trigger on the queue, so it reports
# the memory at every batch, from inside the TRUNCATE.  10 batches, then
# 100: a batch's keys must be gone before the next one is read.
my %trunc;
for my $case ([ 'trunc100k', 100000 ], [ 'trunc1m', 1000000 ])
{
	my ($db, $rows) = @$case;
	make_table($db, $rows);
	$node->safe_psql($db, q{
CREATE TRIGGER memory_probe AFTER INSERT ON gdpr.queue
  FOR EACH STATEMENT EXECUTE FUNCTION memory_probe();
});
	my ($ret, $stdout, $stderr) = $node->psql($db, 'TRUNCATE person');
	is($ret, 0, "$db: the TRUNCATE succeeds") or diag($stderr);
	is($node->safe_psql($db, q{
SELECT (SELECT count(*) FROM person)
    || ' ' || (SELECT count(*) FROM gdpr.queued_events WHERE kind = 'delete')
    || ' ' || (SELECT count(DISTINCT key) FROM gdpr.queued_events)}),
		"0 $rows $rows", "$db: every truncated row has its one 'delete' event");
	my @p = probes($stderr);
	is(scalar(@p), $rows / 10000, "$db: the probe ran at every batch");
	$trunc{$db} = \@p;
}

no_growth('TRUNCATE', 'rows', $trunc{trunc100k}, $trunc{trunc1m}, 100);

# ---- anonymise_search: 10,000 hits, then 100,000 hits ----
# Every row holds the searched address.  The hits' keys go to a store
# bounded by work_mem (64kB: it spills to disk) and are anonymised 1,000 at
# a time, one UPDATE each: the probe on the table reports the memory at
# every batch.  Nothing is in memory from the start (unlike anonymise_many's
# input array), so the figures themselves must not grow with the hits: the
# first comparison catches memory kept from batch to batch, the second the
# hits held all at once before the first batch (as anonymise_search did).
my %search;
for my $case ([ 'search10k', 10000 ], [ 'search100k', 100000 ])
{
	my ($db, $rows) = @$case;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
CREATE EXTENSION gdpr;
$probe
CREATE TABLE person (id int PRIMARY KEY, name text, email text);
INSERT INTO person SELECT g, 'name ' || g, 'same\@example.com'
  FROM generate_series(1, $rows) g;
SELECT gdpr.register('person', ARRAY['name', 'email'],
  search_fields => ARRAY['email']);
CREATE TRIGGER memory_probe AFTER UPDATE ON person
  FOR EACH STATEMENT EXECUTE FUNCTION memory_probe();
});
	my $log_offset = -s $node->logfile;
	my ($ret, $stdout, $stderr) = $node->psql($db, q{
SET work_mem = '64kB';
SET log_temp_files = 0;
SET gdpr.anonymise_batch_size = 1000;
SELECT rel, anonymised, skipped FROM gdpr.anonymise_search('SAME@example.com');
});
	is($ret, 0, "$db: anonymise_search succeeds") or diag($stderr);
	# the hits' keys went through the disk: the store's temporary file is
	# logged when anonymise_search ends it, under the caller's statement
	# (the search's sort may spill too, logged under its SQL statement)
	like(slurp_file($node->logfile, $log_offset),
		qr/LOG:  temporary file: [^\n]*\n[^\n]*STATEMENT:  SELECT rel, anonymised/,
		"$db: the hits' keys spilled to a temporary file");
	is($stdout, "person|$rows|0", "$db: it reports every hit anonymised");
	is($node->safe_psql($db, q{
SELECT (SELECT count(*) FROM person WHERE name IS NULL
          AND email IS DISTINCT FROM 'same@example.com')
    || ' ' || (SELECT count(*) FROM gdpr.marker WHERE rel = 'person'::regclass)}),
		"$rows $rows", "$db: every row is anonymised and marked");
	my @p = probes($stderr);
	is(scalar(@p), $rows / 1000, "$db: the probe ran at every batch");
	$search{$db} = \@p;
}

no_growth('anonymise_search', 'hits', $search{search10k}, $search{search100k}, 100);

done_testing();
