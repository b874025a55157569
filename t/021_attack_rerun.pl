
# Copyright (c) 2026, gdpr developers

# Attacks on gdpr.rerun() (issue 9, items 3 and 4; issue 10 item 5).
#
# gdpr.rerun() is run by a superuser after a restore, as the README's
# procedure says.  The contract checked here: each replayed change runs as
# the table's owner, under SECURITY_RESTRICTED_OPERATION, with the owner's
# search_path (its ALTER ROLE ... SET search_path, else "$user", public),
# after checking that the caller may change the table; only 'delete' and
# 'anonymise' events of registered tables are applied, never to gdpr's or
# the system's objects; every event gets its own outcome (applied, missing,
# already, skipped, invalid, failed) and one bad event never stops the
# others; the mark never moves past events that were neither applied nor
# reported.
#
# A restore is simulated the simple way: the rows deleted since the
# "backup" are inserted again and gdpr.state.reflected_id is set back to the
# backup's mark (t/004_restore_rerun.pl does real restores).  Events are
# shipped with gdpr.ship_log(); no worker serves the database.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use GdprTest qw(log_server gdpr_server);

my $huge = '9000000000000000000';

# the log database, on a server of its own
my ($logdb, $log_conninfo) = log_server();
my $node = gdpr_server($log_conninfo, q{
gdpr.pseudonym_key = 'tap-secret'
gdpr.databases = 'postgres'
});

# query: SQL as the bootstrap superuser in database app
sub query
{
	my ($sql) = @_;
	return $node->safe_psql('app', $sql);
}

# run_as: a script as a login role in app; returns (exit code, stdout, stderr)
sub run_as
{
	my ($role, $sql) = @_;
	return $node->psql('app', "\\set VERBOSITY verbose\n$sql", extra_params => [ '-U', $role ]);
}

# rights: a role's attributes and memberships, as one line
sub rights
{
	my ($role) = @_;
	return query(qq{
		SELECT format('superuser=%s createrole=%s createdb=%s bypassrls=%s replication=%s member of: %s',
		              r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolreplication,
		              coalesce((SELECT string_agg(m.roleid::regrole::text, ',' ORDER BY m.roleid::regrole::text)
		                          FROM pg_auth_members m WHERE m.member = r.oid), '-'))
		  FROM pg_roles r WHERE r.rolname = '$role'});
}

# log_max: the highest ordinary log id of this source (forged huge ids left out)
sub log_max
{
	return $logdb->safe_psql('gdprlog',
		"SELECT coalesce(max(id), 0) FROM gdpr_log.event WHERE source = 'app' AND id < $huge");
}

# set_mark: what the restored database reflects
sub set_mark
{
	my ($mark) = @_;
	query("UPDATE gdpr.state SET reflected_id = $mark");
	return;
}

# forge: an event written straight into the log by another role that may
# insert there (every shipper sharing the log database may); with $id, an
# explicit id
sub forge
{
	my ($kind, $table, $key, $id) = @_;
	my $cols = defined $id ? 'id, ' : '';
	my $vals = defined $id ? "$id, " : '';
	my $over = defined $id ? 'OVERRIDING SYSTEM VALUE' : '';
	$logdb->safe_psql('gdprlog', qq{
		INSERT INTO gdpr_log.event ($cols source, kind, table_name, key, occurred_at, event_uuid)
		$over VALUES ($vals 'app', '$kind', '$table', '$key', now(), gen_random_uuid())},
		extra_params => [ '-U', 'other_shipper' ]);
	return;
}

# rerun: gdpr.rerun() as the superuser, as the README's restore procedure
# runs it.  Returns the exit code, the outcomes by "kind table key", the
# event ids listed, and stderr.
sub rerun
{
	my ($ret, $out, $err) = $node->psql('app', "\\set VERBOSITY verbose\nSELECT * FROM gdpr.rerun()");
	my (%outcome, @ids);
	foreach my $line (split /\n/, $out)
	{
		my ($id, $kind, $table, $key, $outcome) = split /\|/, $line, 5;
		$outcome{"$kind $table $key"} = $outcome;
		push @ids, $id;
	}
	return ($ret, \%outcome, \@ids, $err);
}

# outcome: the outcome of one event, or what happened instead
sub outcome
{
	my ($ret, $outcomes, $event) = @_;
	return 'rerun failed' if $ret != 0;
	return $outcomes->{$event} // 'not listed';
}

# The database: plain, a registered table whose deletes are the good events
# logged after the bad ones; unreg, a table that is not registered.
$node->safe_psql('postgres', 'CREATE DATABASE app');
query(q{
CREATE EXTENSION gdpr;
CREATE TABLE plain (id int PRIMARY KEY, name text);
INSERT INTO plain SELECT g, 'Plain ' || g FROM generate_series(1, 100) g;
SELECT gdpr.register('plain', ARRAY['name']);
CREATE TABLE unreg (id int PRIMARY KEY, name text);
INSERT INTO unreg SELECT g, 'Unreg ' || g FROM generate_series(1, 5) g;
CREATE TABLE victim_reg (id int PRIMARY KEY, name text);
SELECT gdpr.register('victim_reg', ARRAY['name']);
SELECT gdpr.ship_log();
});
# another source's shipper, which may insert into the log
$logdb->safe_psql('gdprlog', q{
CREATE ROLE other_shipper LOGIN;
GRANT USAGE ON SCHEMA gdpr_log TO other_shipper;
GRANT INSERT ON gdpr_log.event TO other_shipper;
});

# genuine: delete a row of plain as the superuser, ship the event, and put
# the row back (it is in the "backup")
sub genuine_delete_plain
{
	my ($id) = @_;
	query("DELETE FROM plain WHERE id = $id");
	query('SELECT gdpr.ship_log()');
	query("INSERT INTO plain VALUES ($id, 'Plain $id')");
	return;
}

###########################################################################
# D1. mallory (CREATE on a schema) registers a table of her own with a
#     BEFORE DELETE trigger that makes her superuser and a member of
#     pg_read_server_files, and deletes one of her rows (with the trigger
#     disabled; the delete is logged and shipped).  After the "restore" a
#     superuser runs gdpr.rerun().
###########################################################################

query(q{
CREATE ROLE mallory LOGIN;
CREATE SCHEMA shop;
GRANT USAGE, CREATE ON SCHEMA shop TO mallory;
GRANT EXECUTE ON FUNCTION gdpr.register(regclass, text[], text[], text[], text[], boolean)
  TO mallory;
});
my $mallory_before = rights('mallory');
my $mark = log_max();
set_mark($mark);
my ($ret, $out, $err) = run_as('mallory', q{
CREATE TABLE shop.m_items (id int PRIMARY KEY, label text);
INSERT INTO shop.m_items VALUES (1, 'one'), (2, 'two');
SELECT gdpr.register('shop.m_items', '{}');
CREATE FUNCTION shop.m_evil() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'GRANT pg_read_server_files TO mallory';
    EXECUTE 'ALTER ROLE mallory SUPERUSER';
    RETURN OLD;
END $$;
CREATE TRIGGER m_evil BEFORE DELETE ON shop.m_items FOR EACH ROW EXECUTE FUNCTION shop.m_evil();
ALTER TABLE shop.m_items DISABLE TRIGGER m_evil;
DELETE FROM shop.m_items WHERE id = 1;
ALTER TABLE shop.m_items ENABLE TRIGGER m_evil;
});
is($ret, 0, 'D1 set-up: mallory registers her table and deletes one of its rows') or diag($err);
query('SELECT gdpr.ship_log()');
genuine_delete_plain(1);
# the restore
query(q{INSERT INTO shop.m_items VALUES (1, 'one')});
set_mark($mark);
is(rights('mallory'), $mallory_before, 'D1 set-up: mallory is no superuser before the replay');

my ($outcomes, $ids);
($ret, $outcomes, $ids, $err) = rerun();
is($ret, 0, 'D1: gdpr.rerun() itself does not fail') or diag($err);
is(rights('mallory'), $mallory_before,
	"D1: replaying a delete from mallory's table does not run her trigger as the superuser: she gains no superuser nor membership");
is(outcome($ret, $outcomes, 'delete shop.m_items 1'), 'failed',
	"D1: the event whose owner's trigger fails (run as mallory, restricted) is 'failed'");
like($err, qr/WARNING: .*(must have admin option|must be superuser|permission denied)/,
	"D1: a WARNING carries the trigger's error");
is(query('SELECT count(*) FROM shop.m_items WHERE id = 1'), '1',
	'D1: the failed delete left the row in place');
is(outcome($ret, $outcomes, 'delete public.plain 1'), 'applied',
	'D1: the good event after it is applied in the same run');
is(query('SELECT count(*) FROM plain WHERE id = 1'), '0', 'D1: its row is gone');

# D1b: the same with an anonymise event: mallory2 anonymises one of her
# rows (trigger disabled); the restore brings the row back unanonymised and
# unmarked.  Her BEFORE UPDATE trigger must not run as the superuser; the
# event fails and the good event after it is applied.
query(q{
CREATE ROLE mallory2 LOGIN;
GRANT USAGE, CREATE ON SCHEMA shop TO mallory2;
GRANT EXECUTE ON FUNCTION gdpr.register(regclass, text[], text[], text[], text[], boolean),
    gdpr.anonymise(regclass, text, boolean), gdpr.anonymise(regclass, anyelement, boolean)
  TO mallory2;
});
my $mallory2_before = rights('mallory2');
$mark = log_max();
set_mark($mark);
($ret, $out, $err) = run_as('mallory2', q{
CREATE TABLE shop.m2_people (id int PRIMARY KEY, name text);
INSERT INTO shop.m2_people VALUES (1, 'one'), (2, 'two');
SELECT gdpr.register('shop.m2_people', ARRAY['name']);
CREATE FUNCTION shop.m2_evil() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'ALTER ROLE mallory2 SUPERUSER';
    RETURN NEW;
END $$;
CREATE TRIGGER m2_evil BEFORE UPDATE ON shop.m2_people FOR EACH ROW EXECUTE FUNCTION shop.m2_evil();
ALTER TABLE shop.m2_people DISABLE TRIGGER m2_evil;
SELECT gdpr.anonymise('shop.m2_people', 1);
ALTER TABLE shop.m2_people ENABLE TRIGGER m2_evil;
});
is($ret, 0, 'D1b set-up: mallory2 registers her table and anonymises one of its rows') or diag($err);
query('SELECT gdpr.ship_log()');
genuine_delete_plain(9);
# the restore (which, like pg_restore, fires no trigger of hers)
query(q{
SET session_replication_role = replica;
UPDATE shop.m2_people SET name = 'one' WHERE id = 1;
DELETE FROM gdpr.marker WHERE rel = 'shop.m2_people'::regclass;
});
set_mark($mark);
is(rights('mallory2'), $mallory2_before, 'D1b set-up: mallory2 is no superuser before the replay');
($ret, $outcomes, $ids, $err) = rerun();
is($ret, 0, 'D1b: gdpr.rerun() itself does not fail') or diag($err);
is(rights('mallory2'), $mallory2_before,
	"D1b: replaying an anonymise of mallory2's table does not make her superuser");
is(outcome($ret, $outcomes, 'anonymise shop.m2_people 1'), 'failed',
	"D1b: the anonymise event whose owner's trigger fails is 'failed'");
is(query('SELECT name FROM shop.m2_people WHERE id = 1'), 'one',
	'D1b: the failed anonymise left the row unchanged');
is(outcome($ret, $outcomes, 'delete public.plain 9'), 'applied',
	'D1b: the good event after it is applied in the same run');

###########################################################################
# D2. Ordinary triggers work on replay (issue 10 item 5): a table owned by
#     clerk whose delete trigger inserts into an unqualified "audit" in
#     public, and one owned by clerk2 whose role setting puts clerkspace,
#     where its trigger's "ledger" lives, on its search_path.
###########################################################################

query(q{
CREATE ROLE clerk LOGIN;
CREATE TABLE orders (id int PRIMARY KEY, item text);
CREATE TABLE audit (id int, who name);
CREATE FUNCTION audit_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit VALUES (OLD.id, current_user);
    RETURN OLD;
END $$;
CREATE TRIGGER audit AFTER DELETE ON orders FOR EACH ROW EXECUTE FUNCTION audit_delete();
INSERT INTO orders VALUES (1, 'book'), (2, 'pen');
SELECT gdpr.register('orders', ARRAY['item']);
ALTER TABLE orders OWNER TO clerk;
ALTER TABLE audit OWNER TO clerk;
ALTER FUNCTION audit_delete() OWNER TO clerk;

CREATE ROLE clerk2 LOGIN;
CREATE SCHEMA clerkspace AUTHORIZATION clerk2;
ALTER ROLE clerk2 IN DATABASE app SET search_path = clerkspace, public;
CREATE TABLE clerkspace.ledger (id int, who name);
CREATE TABLE bookings (id int PRIMARY KEY, guest text);
CREATE FUNCTION ledger_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger VALUES (OLD.id, current_user);
    RETURN OLD;
END $$;
CREATE TRIGGER ledger AFTER DELETE ON bookings FOR EACH ROW EXECUTE FUNCTION ledger_delete();
INSERT INTO bookings VALUES (1, 'guest one'), (2, 'guest two');
SELECT gdpr.register('bookings', ARRAY['guest']);
ALTER TABLE bookings OWNER TO clerk2;
ALTER TABLE clerkspace.ledger OWNER TO clerk2;
ALTER FUNCTION ledger_delete() OWNER TO clerk2;
});
$mark = log_max();
set_mark($mark);
query(q{
DELETE FROM orders WHERE id = 1;
SET search_path = clerkspace, public;
DELETE FROM bookings WHERE id = 1;
SELECT gdpr.ship_log();
});
genuine_delete_plain(2);
is(query('SELECT count(*) FROM audit') . ' ' . query('SELECT count(*) FROM clerkspace.ledger'),
	'1 1', 'D2 set-up: the deletes ran the triggers');
# the restore
query(q{
INSERT INTO orders VALUES (1, 'book');
INSERT INTO bookings VALUES (1, 'guest one');
TRUNCATE audit, clerkspace.ledger;
});
set_mark($mark);

($ret, $outcomes, $ids, $err) = rerun();
is($ret, 0, 'D2: gdpr.rerun() itself does not fail') or diag($err);
is(outcome($ret, $outcomes, 'delete public.orders 1'), 'applied',
	"D2: a delete whose trigger writes to an unqualified table in public is applied");
is(query('SELECT string_agg(id || \' \' || who, \',\') FROM audit'), '1 clerk',
	"D2: the trigger's audit row exists, written as the table's owner");
is(outcome($ret, $outcomes, 'delete public.bookings 1'), 'applied',
	"D2: a delete whose trigger needs the owner's ALTER ROLE ... SET search_path is applied");
is(query('SELECT string_agg(id || \' \' || who, \',\') FROM clerkspace.ledger'), '1 clerk2',
	"D2: that trigger's ledger row exists, written as the table's owner");
is(outcome($ret, $outcomes, 'delete public.plain 2'), 'applied',
	'D2: the good event after them is applied');

###########################################################################
# D3. Forged events, inserted into the log by another role that may insert
#     there.  Each bad event gets its own outcome, changes nothing, and the
#     good event after it in the same run is applied.
###########################################################################

# D3a: deletes of an unregistered table and of gdpr's own tables; a table
# that does not exist; a table name that does not parse; an anonymise of an
# unregistered table
query('DELETE FROM plain WHERE id = 90');    # queued, not shipped
my $seq = query('SELECT max(seq) FROM gdpr.queued_events');
my $registry = query('SELECT count(*) FROM gdpr.registered_table');
$mark = log_max();
set_mark($mark);
forge('delete', 'public.unreg', '1');
forge('delete', 'gdpr.queue', $seq);
forge('delete', 'gdpr.registered_table', 'public.victim_reg');
forge('delete', 'public.nope', '1');
forge('delete', '"unterminated', '1');
forge('anonymise', 'public.unreg', '2');
forge('delete', 'public.plain', '3');
($ret, $outcomes, $ids, $err) = rerun();
is($ret, 0, 'D3a: gdpr.rerun() itself does not fail') or diag($err);
is(outcome($ret, $outcomes, 'delete public.unreg 1'), 'skipped',
	"D3a: a forged delete of an unregistered table is 'skipped'");
is(query('SELECT count(*) FROM unreg WHERE id = 1'), '1', 'D3a: and its row is still there');
is(outcome($ret, $outcomes, "delete gdpr.queue $seq"), 'skipped',
	"D3a: a forged delete of a gdpr.queue row is 'skipped'");
is(query("SELECT count(*) FROM gdpr.queued_events WHERE seq = $seq"), '1',
	'D3a: and the queued event is still there');
is(outcome($ret, $outcomes, 'delete gdpr.registered_table public.victim_reg'), 'skipped',
	"D3a: a forged delete of a gdpr.registered_table row is 'skipped'");
is(query('SELECT count(*) FROM gdpr.registered_table'), $registry,
	'D3a: and the registry is unchanged');
is(outcome($ret, $outcomes, 'delete public.nope 1'), 'missing',
	"D3a: a delete of a table that does not exist is 'missing'");
is(outcome($ret, $outcomes, 'delete "unterminated 1'), 'invalid',
	"D3a: a table name that does not parse is 'invalid'");
is(outcome($ret, $outcomes, 'anonymise public.unreg 2'), 'skipped',
	"D3a: a forged anonymise of an unregistered table is 'skipped'");
is(query('SELECT name FROM unreg WHERE id = 2'), 'Unreg 2', 'D3a: and its row is unchanged');
is(outcome($ret, $outcomes, 'delete public.plain 3'), 'applied',
	'D3a: the good event after them is applied');
is(query('SELECT count(*) FROM plain WHERE id = 3'), '0', 'D3a: its row is gone');
query('SELECT gdpr.ship_log()');    # ship the delete of plain 90

# D3b: an unknown kind
$mark = log_max();
set_mark($mark);
forge('drop', 'public.plain', '4');
forge('delete', 'public.plain', '5');
($ret, $outcomes, $ids, $err) = rerun();
is($ret, 0, 'D3b: gdpr.rerun() itself does not fail on an unknown kind') or diag($err);
is(outcome($ret, $outcomes, 'drop public.plain 4'), 'invalid',
	"D3b: an event of an unknown kind is 'invalid'");
is(query('SELECT count(*) FROM plain WHERE id = 4'), '1', 'D3b: and its row is still there');
is(outcome($ret, $outcomes, 'delete public.plain 5'), 'applied',
	'D3b: the good event after it is applied');
is(query('SELECT reflected_id FROM gdpr.state'), log_max(),
	'D3b: the mark moves over the reported events');

# D3c: a key that does not parse
$mark = log_max();
set_mark($mark);
forge('delete', 'public.plain', 'abc');
forge('anonymise', 'public.plain', 'xyz');
forge('delete', 'public.plain', '6');
($ret, $outcomes, $ids, $err) = rerun();
is($ret, 0, 'D3c: gdpr.rerun() itself does not fail on an unparsable key') or diag($err);
is(outcome($ret, $outcomes, 'delete public.plain abc'), 'invalid',
	"D3c: a delete with an unparsable key is 'invalid'");
is(outcome($ret, $outcomes, 'anonymise public.plain xyz'), 'invalid',
	"D3c: an anonymise with an unparsable key is 'invalid'");
is(outcome($ret, $outcomes, 'delete public.plain 6'), 'applied',
	'D3c: the good event after them is applied');

# D3d: a huge explicit id must not push the mark past later events
$mark = log_max();
set_mark($mark);
forge('delete', 'public.plain', '95', $huge);
forge('delete', 'public.plain', '7');
($ret, $outcomes, $ids, $err) = rerun();
is($ret, 0, 'D3d: gdpr.rerun() itself does not fail on a huge id') or diag($err);
ok(!grep({ $_ eq $huge } @$ids), "D3d: the event with id $huge is not listed");
like($err, qr/WARNING: /, 'D3d: it is reported with a WARNING');
is(query('SELECT count(*) FROM plain WHERE id = 95'), '1', 'D3d: and not applied');
is(outcome($ret, $outcomes, 'delete public.plain 7'), 'applied',
	'D3d: the good event logged after it is applied');
my $backup_mark = query('SELECT reflected_id FROM gdpr.state');
cmp_ok($backup_mark, '<', $huge, 'D3d: the mark did not move to the huge id');
# a genuine erasure after the huge event, then a restore of a backup taken
# before it: the next rerun replays it
genuine_delete_plain(8);
set_mark($backup_mark);
($ret, $outcomes, $ids, $err) = rerun();
is(outcome($ret, $outcomes, 'delete public.plain 8'), 'applied',
	'D3d: a genuine erasure logged after the huge id is replayed by the next rerun');
is(query('SELECT count(*) FROM plain WHERE id = 8'), '0', 'D3d: its row is gone');

is(rights('mallory'), $mallory_before, 'in the end mallory still has only what she had');

$node->stop;
$logdb->stop;
done_testing();
