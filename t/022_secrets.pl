
# Copyright (c) 2026, gdpr developers
#
# Secrets stay secret.  The pseudonym key and the passwords of
# gdpr.log_conninfo are seen by superusers only: not by members of
# pg_monitor / pg_read_all_settings (SHOW, current_setting(), pg_settings),
# not in gdpr.log_status.last_error, not in errors a non-superuser gets, not
# in the server log.  The key cannot be stored per database, role or
# function (pg_db_role_setting and pg_proc are world-readable).  The key can
# come from gdpr.pseudonym_key_file, with the same pseudonyms; with the key
# in a file and the password in a passfile, reloads, failed connections,
# ship_log() and rerun() log no secret.  An unparsable gdpr.log_conninfo and
# a malformed gdpr.databases are refused when set.  A failing shipper does
# not leak memory at every attempt.

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# every secret used below: none may ever reach the server log
my $conf_key   = 'Key-Conf-5e2a71';      # gdpr.pseudonym_key at start
my $conf_pw    = 'Pw-Echo-77c3';         # password in gdpr.log_conninfo
my $ssl_pw     = 'SslPw-4d19b0';         # sslpassword in gdpr.log_conninfo
my $db_key     = 'Old-Db-Key-8812';      # a key stored per database
my $frag_pw    = 'Frag-Pw-31aa';         # in an unparsable conninfo
my $file_key   = 'Key-File-9b7d02';      # the key in the key file
my $file_key2  = 'Key-File-Rot-60c1';    # the key after rotation
my $ship_pw    = 'Ship-Pw-8c1f55';       # the log role's password (passfile)
my @secrets = ($conf_key, $conf_pw, $ssl_pw, $db_key, $frag_pw, $file_key,
	$file_key2, $ship_pw);

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
my $host = $node->host;
my $port = $node->port;

# a conninfo whose password also shows up in libpq's message (the socket
# directory), so that scrubbing can be seen at work
my $echo_conninfo =
  "host=/nonexistent/$conf_pw port=$port dbname=gdprlog user=gdpr_shipper"
  . " password=$conf_pw sslpassword=$ssl_pw";

# Statement logging logs what users type, secrets included (the README says
# so): it is off here, where the question is what gdpr and reloads log.
$node->append_conf(
	'postgresql.conf', qq{
log_statement = none
log_min_error_statement = panic
shared_preload_libraries = 'gdpr'
gdpr.databases = 'app'
gdpr.ship_interval = 100
gdpr.retry_max_interval = 100
gdpr.pseudonym_key = '$conf_key'
gdpr.log_conninfo = '$echo_conninfo'
});

# the log role logs in with a password only
my $hba = slurp_file($node->data_dir . '/pg_hba.conf');
open my $fh, '>', $node->data_dir . '/pg_hba.conf' or die $!;
print $fh "local gdprlog gdpr_shipper scram-sha-256\n" . $hba;
close $fh;
$node->start;

$node->safe_psql('postgres', qq{
CREATE DATABASE app;
CREATE DATABASE gdprlog;
CREATE ROLE gdpr_shipper LOGIN PASSWORD '$ship_pw';
GRANT CREATE ON DATABASE gdprlog TO gdpr_shipper;
CREATE ROLE mon LOGIN IN ROLE pg_monitor;
CREATE ROLE settings_reader LOGIN IN ROLE pg_read_all_settings;
CREATE ROLE shipper_user LOGIN;
});
# the log role's password: never in a reload line (no ALTER SYSTEM, no conf)
$node->safe_psql('app', q{
CREATE EXTENSION gdpr;
CREATE TABLE person (id int PRIMARY KEY, email text);
INSERT INTO person SELECT g, 'person' || g || '@example.com' FROM generate_series(1, 20) g;
SELECT gdpr.register('person', ARRAY['email']);
SELECT gdpr.set_anonymiser('person', 'email', 'hash');
GRANT EXECUTE ON FUNCTION gdpr.ship_log() TO shipper_user;
GRANT SELECT ON gdpr.log_status TO shipper_user, mon;
DELETE FROM person WHERE id <= 2;
});

# psql as role $role; returns (stdout, stderr)
sub psql_as
{
	my ($role, $db, $sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql(
		$db, "\\set VERBOSITY verbose\n$sql",
		stdout => \$out,
		stderr => \$err,
		extra_params => [ '-U', $role ]);
	return ($out, $err);
}

# whether the server log matches $re after $offset, waiting up to 10 s
# (unlike wait_for_log, a miss is a failed test, not the end of the script)
sub log_matches
{
	my ($re, $offset) = @_;
	for (1 .. 100)
	{
		return 1 if slurp_file($node->logfile, $offset) =~ $re;
		usleep(100_000);
	}
	return 0;
}

sub no_secret
{
	my ($text, $what) = @_;
	my @found = grep { index($text, $_) >= 0 } @secrets;
	is(join(', ', @found), '', "no secret in $what");
}

###########################################################################
# 1. pg_monitor and pg_read_all_settings members see no secret
###########################################################################

foreach my $role ('mon', 'settings_reader')
{
	my ($out, $err) = psql_as(
		$role, 'app', q{
SHOW gdpr.pseudonym_key;
SELECT current_setting('gdpr.pseudonym_key');
SHOW gdpr.log_conninfo;
SELECT current_setting('gdpr.log_conninfo');
SELECT name, setting, reset_val, boot_val FROM pg_settings WHERE name LIKE 'gdpr.%';
SHOW ALL;
});
	is($err, '', "$role may read the settings");
	no_secret($out, "what $role reads of the settings");
	like($out, qr/^\*{8}$/m, "$role sees the key as ********");
	like(
		$out,
		qr/password=\*{8}/,
		"$role sees the conninfo with password=********");
	like($out, qr/sslpassword=\*{8}/, "... and sslpassword=********");
	like($out, qr/dbname='gdprlog'/, '... and the rest of it');
}

# superusers see both as set
is($node->safe_psql('app', 'SHOW gdpr.pseudonym_key'),
	$conf_key, 'a superuser sees the key');
is($node->safe_psql('app', 'SHOW gdpr.log_conninfo'),
	$echo_conninfo, 'a superuser sees the conninfo as set');
is( $node->safe_psql(
		'app',
		'SET ROLE mon; SHOW gdpr.pseudonym_key'),
	'********', 'a superuser who SET ROLE to a non-superuser does not');

###########################################################################
# 2. libpq's messages are scrubbed everywhere
###########################################################################

ok( $node->poll_query_until(
		'app', 'SELECT last_error IS NOT NULL FROM gdpr.log_status'),
	'the shipper records its failure');
my $last_error =
  $node->safe_psql('app', 'SELECT last_error FROM gdpr.log_status');
like($last_error, qr{/nonexistent/\*{8}/}, 'last_error has the password masked');
no_secret($last_error, 'gdpr.log_status.last_error');

my ($out, $err) = psql_as('shipper_user', 'app', 'SELECT gdpr.ship_log();');
like($err, qr/ERROR:  08001: could not connect to the gdpr log database/,
	'ship_log() by a non-superuser: 08001');
like($err, qr{/nonexistent/\*{8}/}, '... with the password masked');
no_secret($err, 'the error of ship_log() to a non-superuser');

my $su = $node->safe_psql('app', 'SELECT current_user');
($out, $err) = psql_as($su, 'app', 'SELECT * FROM gdpr.rerun(dry_run => true);');
like($err, qr/ERROR:  08001: could not connect to the gdpr log database/,
	'rerun(): 08001');
like($err, qr{/nonexistent/\*{8}/}, '... with the password masked');
no_secret($err, 'the error of rerun()');

###########################################################################
# 3. a failing shipper does not grow its memory at every attempt
###########################################################################

my $shipper = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'gdpr log shipper'"
);
like($shipper, qr/^\d+$/, 'the shipper of "app" runs');

# TopMemoryContext's "used" bytes of the shipper, from the server log
sub shipper_top_memory
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres',
		"SELECT pg_log_backend_memory_contexts($shipper)");
	my $re =
	  qr/\[$shipper\].*level: \d+; TopMemoryContext: \d+ total in \d+ blocks; \d+ free \(\d+ chunks\); (\d+) used/;
	$node->wait_for_log($re, $offset);
	my $log = slurp_file($node->logfile, $offset);
	$log =~ $re or die 'no memory context line';
	return $1;
}

$node->safe_psql('postgres', "ALTER SYSTEM SET log_min_messages = 'debug1'");
my $reload_offset = -s $node->logfile;
$node->reload;
# measure from a failed attempt after the reload on: what the first DEBUG
# line allocates once is not growth
$node->wait_for_log(
	qr/\[$shipper\] DEBUG:  could not connect to the gdpr log database/,
	$reload_offset);
sleep(1);
my $before = shipper_top_memory();
my $offset = -s $node->logfile;
sleep(5);
my $attempts = () =
  slurp_file($node->logfile, $offset) =~
  /\[$shipper\] DEBUG:  could not connect to the gdpr log database/g;
my $after = shipper_top_memory();
$node->safe_psql('postgres', 'ALTER SYSTEM RESET log_min_messages');
$node->reload;
cmp_ok($attempts, '>=', 20, "the shipper failed often meanwhile ($attempts times)");
cmp_ok($after - $before, '<', 2048,
	"TopMemoryContext of the shipper did not grow ($before -> $after bytes)");

###########################################################################
# 4. the key cannot be stored per database, role or function
###########################################################################

foreach my $cmd (
	"ALTER DATABASE app SET gdpr.pseudonym_key = '$db_key'",
	"ALTER ROLE mon SET gdpr.pseudonym_key = '$db_key'",
	"ALTER ROLE mon IN DATABASE app SET gdpr.pseudonym_key = '$db_key'",
	"ALTER ROLE ALL SET gdpr.pseudonym_key = '$db_key'",
	"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET gdpr.pseudonym_key = '$db_key' AS 'SELECT 1'"
  )
{
	($out, $err) = psql_as($su, 'app', "$cmd;");
	like(
		$err,
		qr/ERROR:  55P02: parameter "gdpr.pseudonym_key" cannot be set per database, per role or per function/,
		"refused (55P02): " . substr($cmd, 0, 30));
}
is( $node->safe_psql(
		'app',
		"SELECT count(*) FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') LIKE '%pseudonym_key%'"
	),
	'0',
	'no key in pg_db_role_setting');

# the other secret settings are PGC_SIGHUP: PostgreSQL refuses them itself
foreach my $name ('gdpr.log_conninfo', 'gdpr.pseudonym_key_file')
{
	($out, $err) =
	  psql_as($su, 'app', "ALTER DATABASE app SET $name = 'x';");
	like($err, qr/ERROR:  55P02: parameter "$name" cannot be changed now/,
		"ALTER DATABASE SET $name is refused (55P02)");
}

# a key stored before the check existed is refused at login, with a
# WARNING that does not quote it
$node->safe_psql('postgres', qq{
DELETE FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = 'app') AND setrole = 0;
INSERT INTO pg_db_role_setting VALUES ((SELECT oid FROM pg_database WHERE datname = 'app'), 0, '{gdpr.pseudonym_key=$db_key}');
});
$node->safe_psql('postgres', 'ALTER SYSTEM SET gdpr.pseudonym_key = \'\'');
$node->reload;
$offset = -s $node->logfile;
{
	# the WARNING comes before psql's VERBOSITY applies: the SQLSTATE is
	# read from the server log
	local $ENV{PGOPTIONS} = '-c log_error_verbosity=verbose';
	($out, $err) = psql_as($su, 'app', 'SHOW gdpr.pseudonym_key;');
}
like(
	$err,
	qr/WARNING:  parameter "gdpr.pseudonym_key" cannot be set per database, per role or per function/,
	'a key stored per database is refused at login');
ok( log_matches(
		qr/WARNING:  55P02: parameter "gdpr.pseudonym_key" cannot be set per database/,
		$offset),
	'... with SQLSTATE 55P02');
is($out, '', '... and not used');
no_secret($err, 'the WARNING at login');
$node->safe_psql('postgres', 'ALTER DATABASE app RESET gdpr.pseudonym_key');

###########################################################################
# 5. check hooks: gdpr.log_conninfo must parse, gdpr.databases be a list
###########################################################################

($out, $err) = psql_as($su, 'app',
	"ALTER SYSTEM SET gdpr.log_conninfo = 'host=/x password=Bad $frag_pw';");
like($err,
	qr/ERROR:  22023: invalid connection string in parameter "gdpr.log_conninfo"/,
	'ALTER SYSTEM refuses an unparsable gdpr.log_conninfo (22023)');
no_secret($err, 'the error of a refused gdpr.log_conninfo');

($out, $err) = psql_as($su, 'app',
	"ALTER SYSTEM SET gdpr.databases = 'app, \"unterminated';");
like($err,
	qr/ERROR:  22023: invalid value for parameter "gdpr.databases"/,
	'ALTER SYSTEM refuses a malformed gdpr.databases (22023)');

$offset = -s $node->logfile;
$node->append_conf('postgresql.conf',
	"gdpr.log_conninfo = 'host=/x password=Bad $frag_pw'\ngdpr.databases = 'app, \"unterminated'\n");
$node->reload;
ok( log_matches(
		qr/invalid connection string in parameter "gdpr.log_conninfo"/, $offset),
	'a reload with an unparsable gdpr.log_conninfo is refused');
ok(log_matches(qr/invalid value for parameter "gdpr.databases"/, $offset),
	'a reload with a malformed gdpr.databases is refused');
is($node->safe_psql('app', 'SHOW gdpr.log_conninfo'),
	$echo_conninfo, 'the previous gdpr.log_conninfo stays in force');
is($node->safe_psql('app', 'SHOW gdpr.databases'),
	'app', 'the previous gdpr.databases stays in force');
$node->adjust_conf('postgresql.conf', 'gdpr.databases', undef);
$node->append_conf('postgresql.conf', "gdpr.databases = 'app'\n");

###########################################################################
# 6. the key file
###########################################################################

my $value    = 'alice@example.com';
my $expected = hmac_sha256_hex($value, $file_key);

# the key as a setting (set in the session: no reload line)
is( $node->safe_psql(
		'app',
		"SET gdpr.pseudonym_key = '$file_key'; SELECT gdpr.pseudonym('$value')"),
	$expected,
	'the key as a setting gives HMAC-SHA256');

# the key in a file, the setting gone
my $keyfile = $node->data_dir . '/gdpr_pseudonym.key';
sub write_key
{
	my ($content, $mode) = @_;
	open my $kfh, '>', $keyfile or die $!;
	print $kfh $content;
	close $kfh;
	chmod($mode // 0600, $keyfile) or die $!;
}
write_key("$file_key\nthe second line is ignored\n");
$node->adjust_conf('postgresql.conf', 'gdpr.pseudonym_key', undef);
$node->adjust_conf('postgresql.conf', 'gdpr.log_conninfo', undef);
$node->safe_psql('postgres', 'ALTER SYSTEM RESET gdpr.pseudonym_key');
$node->append_conf('postgresql.conf',
	"gdpr.pseudonym_key_file = '$keyfile'\n");
$node->reload;
is($node->safe_psql('app', "SELECT gdpr.pseudonym('$value')"),
	$expected, 'the key from the file gives the same pseudonym');
is( $node->safe_psql(
		'app',
		"SELECT gdpr.anonymise('person', 3); SELECT email FROM person WHERE id = 3"
	),
	"t\n" . hmac_sha256_hex('person3@example.com', $file_key),
	'the hash method uses the key from the file');
is($node->safe_psql('app', 'SHOW gdpr.pseudonym_key'),
	'', 'gdpr.pseudonym_key is empty');

write_key("$file_key\r\n");
is($node->safe_psql('app', "SELECT gdpr.pseudonym('$value')"),
	$expected, 'a CRLF line end is not part of the key');

# rotation: read again at the next transaction
write_key("$file_key2\n");
is($node->safe_psql('app', "SELECT gdpr.pseudonym('$value')"),
	hmac_sha256_hex($value, $file_key2),
	'a replaced key file is read again');

# both set: an error at use
($out, $err) = psql_as($su, 'app',
	"SET gdpr.pseudonym_key = 'not-a-secret'; SELECT gdpr.pseudonym('x');");
like($err,
	qr/ERROR:  55000: both gdpr.pseudonym_key and gdpr.pseudonym_key_file are set/,
	'both the key and the key file set: 55000');

# a key file others can read, an empty one, a missing one: errors
write_key("$file_key2\n", 0640);
($out, $err) = psql_as($su, 'app', "SELECT gdpr.pseudonym('x');");
like($err, qr/ERROR:  F0000: pseudonym key file ".*" has group or world access/,
	'a key file readable by the group is refused (F0000)');
write_key("\n");
($out, $err) = psql_as($su, 'app', "SELECT gdpr.pseudonym('x');");
like($err, qr/ERROR:  F0000: pseudonym key file ".*" holds no valid key/,
	'an empty key file is refused (F0000)');
unlink $keyfile;
($out, $err) = psql_as($su, 'app', "SELECT gdpr.pseudonym('x');");
like($err, qr/ERROR:  58P01: could not access pseudonym key file ".*": No such file/,
	'a missing key file: 58P01');
write_key("$file_key\n");
is($node->safe_psql('app', "SELECT gdpr.pseudonym('$value')"),
	$expected, 'the restored key file works again');

# non-superusers may see the path, never the key
($out, $err) = psql_as('mon', 'app',
	"SHOW gdpr.pseudonym_key_file; SHOW gdpr.pseudonym_key;");
no_secret($out . $err, 'what pg_monitor sees with a key file');

###########################################################################
# 7. the documented set-up: key in a file, password in a passfile
###########################################################################

my $passfile = $node->data_dir . '/gdpr.pgpass';
open my $pfh, '>', $passfile or die $!;
print $pfh "*:*:gdprlog:gdpr_shipper:$ship_pw\n";
close $pfh;
chmod(0600, $passfile) or die $!;
my $good_conninfo =
  "host=$host port=$port dbname=gdprlog user=gdpr_shipper passfile=$passfile";
$node->append_conf('postgresql.conf', "gdpr.log_conninfo = '$good_conninfo'\n");
$node->reload;
ok( $node->poll_query_until(
		'gdprlog',
		"SELECT count(*) FROM gdpr_log.event WHERE source = 'app' AND kind = 'delete'",
		'2'),
	'with a passfile the events reach the log database');

# a failed connection: the log role without its password
$node->append_conf('postgresql.conf',
	"gdpr.log_conninfo = 'host=$host port=$port dbname=gdprlog user=gdpr_shipper passfile=/nonexistent'\n");
$node->reload;
$node->safe_psql('app', 'DELETE FROM person WHERE id = 4');
ok( $node->poll_query_until(
		'app',
		"SELECT last_error LIKE '%password%' FROM gdpr.log_status"),
	'a failed password authentication is recorded');
($out, $err) = psql_as('shipper_user', 'app', 'SELECT gdpr.ship_log();');
like($err, qr/08001/, 'ship_log() fails without the passfile');

$node->append_conf('postgresql.conf', "gdpr.log_conninfo = '$good_conninfo'\n");
$node->reload;
ok( $node->poll_query_until(
		'app', "SELECT queued FROM gdpr.log_status", '0'),
	'the queue drains again');
($out, $err) = psql_as('shipper_user', 'app', 'SELECT gdpr.ship_log();');
is($err, '', 'ship_log() by a non-superuser works');
($out, $err) = psql_as($su, 'app', 'SELECT count(*) FROM gdpr.rerun(dry_run => true);');
is($err, '', 'rerun() works');

# the server log: no secret anywhere
my $log = slurp_file($node->logfile);
no_secret($log, 'the server log');
like($log, qr/parameter "gdpr.log_conninfo" changed to/,
	'(the log has reload lines to check)');

done_testing();
