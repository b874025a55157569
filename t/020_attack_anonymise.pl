
# Copyright (c) 2026, gdpr developers

# Privilege-escalation attacks on anonymisation, performed end to end as an
# ordinary login role would (issue 9).  Each attack must leave the attacker
# with exactly the rights it had: a role that ends up superuser, or with a
# new attribute, membership or grant, is a failure.
#
# The contract checked here:
# A. gdpr.anonymise, anonymise_many, anonymise_search, anonymise_db and
#    anonymise_db_batched run as the CALLER, with the caller's search_path,
#    as a plain UPDATE by the caller would (privileges, row-level security,
#    triggers firing as the caller).
# B. ON DELETE ANONYMISE runs the child's anonymisation as the child table's
#    owner, under SECURITY_RESTRICTED_OPERATION, with search_path pinned to
#    the owner's own setting (else "$user", public), never the deleting
#    session's.
# C. gdpr.marker shows a role only the markers of tables it has some SELECT
#    privilege on.
# E. A 'function' anonymiser calls the registered function, never an
#    overload planted later.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'gdpr'
gdpr.pseudonym_key = 'tap-secret'
});
$node->start;

# run_as: run a script as a login role; returns (exit code, stdout, stderr).
# Errors carry their SQLSTATE (VERBOSITY verbose); the script stops at the
# first error.
sub run_as
{
	my ($role, $sql, $db) = @_;
	my ($ret, $out, $err) = $node->psql($db // 'app', "\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', $role ]);
	return ($ret, $out, $err);
}

# sqlstate: the SQLSTATE of the first ERROR in psql's stderr, 'none' if none
sub sqlstate
{
	my ($err) = @_;
	return $err =~ /ERROR:  ([0-9A-Z]{5}): / ? $1 : 'none';
}

# rights: a role's attributes and memberships, as one line
sub rights
{
	my ($role) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT format('superuser=%s createrole=%s createdb=%s bypassrls=%s replication=%s member of: %s',
		              r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolreplication,
		              coalesce((SELECT string_agg(m.roleid::regrole::text, ',' ORDER BY m.roleid::regrole::text)
		                          FROM pg_auth_members m WHERE m.member = r.oid), '-'))
		  FROM pg_roles r WHERE r.rolname = '$role'});
}

# query: run SQL as the bootstrap superuser in database app (or $db)
sub query
{
	my ($sql, $db) = @_;
	return $node->safe_psql($db // 'app', $sql);
}

# The attacker's weapon: a function named like a built-in, in a schema of
# the attacker's own.  Whoever runs it is recorded in <schema>.seen; it then
# tries, silently, to make the attacker superuser and a member of
# pg_read_server_files, and returns what the built-in would.
sub plant
{
	my ($role, $name, $args, $rettype, $retexpr) = @_;
	return qq{
CREATE TABLE IF NOT EXISTS $role.seen (who name, what text);
GRANT USAGE ON SCHEMA $role TO PUBLIC;
GRANT INSERT ON $role.seen TO PUBLIC;
CREATE FUNCTION $role.$name($args) RETURNS $rettype LANGUAGE plpgsql AS \$plant\$
BEGIN
    INSERT INTO $role.seen VALUES (current_user, '$name');
    BEGIN
        EXECUTE 'ALTER ROLE $role SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    BEGIN
        EXECUTE 'GRANT pg_read_server_files TO $role';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN $retexpr;
END \$plant\$;
};
}

# seen: who ran the planted functions of an attacker ('never' if nobody)
sub seen
{
	my ($role, $db) = @_;
	return query("SELECT coalesce(string_agg(DISTINCT who::text, ','), 'never') FROM $role.seen",
		$db);
}

# attacker: a login role that may call gdpr's anonymisation functions, with
# a schema of its own in the given databases
sub attacker
{
	my ($role, @dbs) = @_;
	query("CREATE ROLE $role LOGIN; GRANT gdpr_caller TO $role;");
	query("CREATE SCHEMA $role AUTHORIZATION $role", $_) foreach @dbs;
	return rights($role);
}

# What every database of this test holds: gdpr, a role that may call the
# anonymisation functions (as the README's privacy_admin), and a trigger
# function of the superuser's that stamps rows with an unqualified now().
my $common_sql = q{
CREATE EXTENSION gdpr;
GRANT EXECUTE ON FUNCTION
    gdpr.anonymise(regclass, text, boolean),
    gdpr.anonymise(regclass, anyelement, boolean),
    gdpr.anonymise_many(regclass, text[], boolean),
    gdpr.anonymise_many(regclass, anyarray, boolean),
    gdpr.anonymise_search(text),
    gdpr.anonymise_db(text),
    gdpr.is_anonymised(regclass, text),
    gdpr.is_anonymised(regclass, anyelement),
    gdpr.search(text)
  TO gdpr_caller;
GRANT EXECUTE ON PROCEDURE gdpr.anonymise_db_batched(text) TO gdpr_caller;
CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.touched_at := now();
    RETURN NEW;
END $$;
};

query('CREATE ROLE gdpr_caller NOLOGIN', 'postgres');
query('CREATE DATABASE app', 'postgres');
query('CREATE DATABASE scrub', 'postgres');
query($common_sql, 'app');
query($common_sql, 'scrub');

###########################################################################
# A1. A superuser's registered table whose trigger, 'function' anonymiser or
#     column DEFAULT calls an unqualified function.  The attacker has
#     SELECT and UPDATE on it and a schema of its own, plants a function of
#     the same name there and puts that schema first in its search_path.
###########################################################################

query(q{
-- a trigger calling now()
CREATE TABLE acct_trg (id int PRIMARY KEY, email text, name text, touched_at timestamptz);
CREATE TRIGGER touch BEFORE UPDATE ON acct_trg FOR EACH ROW EXECUTE FUNCTION public.touch();
INSERT INTO acct_trg SELECT g, 'user' || g || '@example.com', 'User ' || g FROM generate_series(1, 20) g;
SELECT gdpr.register('acct_trg', ARRAY['name'], search_fields => ARRAY['email']);
SELECT gdpr.set_anonymiser('acct_trg', 'name', 'value', 'anonymous');

-- a 'function' anonymiser whose body calls lower()
CREATE FUNCTION public.redact(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN lower('REDACTED ' || pg_catalog.length($1));
END $$;
CREATE TABLE acct_fn (id int PRIMARY KEY, name text);
INSERT INTO acct_fn SELECT g, 'User ' || g FROM generate_series(1, 5) g;
SELECT gdpr.register('acct_fn', ARRAY['name']);
SELECT gdpr.set_anonymiser('acct_fn', 'name', 'function', 'public.redact(text)');

-- a column DEFAULT (for column_default) whose function calls now()
CREATE FUNCTION public.stamp() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN 'anonymised in ' || pg_catalog.to_char(now(), 'YYYY');
END $$;
CREATE TABLE acct_def (id int PRIMARY KEY, note text DEFAULT public.stamp());
INSERT INTO acct_def SELECT g, 'note ' || g FROM generate_series(1, 5) g;
SELECT gdpr.register('acct_def', ARRAY['note']);
SELECT gdpr.set_anonymiser('acct_def', 'note', 'column_default');
});

# one attack: $role plants $name, sets its search_path and runs $call
sub hijack
{
	my (%a) = @_;
	my $role = $a{role};
	my $db = $a{db} // 'app';
	my $before = attacker($role, $db);
	query("GRANT SELECT, UPDATE ON $a{table} TO $role", $db);
	my ($ret, $out, $err) = run_as($role,
		plant($role, @{ $a{plant} })
		  . "SET search_path = $role, pg_catalog;\n$a{call};\n", $db);
	is($ret, 0, "$a{what}: the call succeeds for the attacker, as a plain UPDATE would")
	  or diag($err);
	is(rights($role), $before,
		"$a{what}: the attacker's planted $a{plant}[0]() does not make it superuser or give it any membership");
	is(seen($role, $db), $role,
		"$a{what}: the planted $a{plant}[0]() runs only as the attacker itself (the caller's rights and search_path)");
	return $out;
}

my @now = ('now', '', 'timestamptz', 'pg_catalog.now()');
my @lower = ('lower', 'text', 'text', 'pg_catalog.lower($1)');

hijack(
	what => 'A1 anonymise, trigger calling now()',
	role => 'm_trg', table => 'public.acct_trg', plant => \@now,
	call => "SELECT gdpr.anonymise('public.acct_trg', 1)");
is(query('SELECT name FROM acct_trg WHERE id = 1'), 'anonymous',
	'A1 anonymise, trigger: the row is anonymised');

hijack(
	what => 'A1 anonymise, function anonymiser calling lower()',
	role => 'm_fn', table => 'public.acct_fn', plant => \@lower,
	call => "SELECT gdpr.anonymise('public.acct_fn', 1)");
is(query('SELECT name FROM acct_fn WHERE id = 1'), 'redacted 6',
	'A1 anonymise, function anonymiser: the row is anonymised by public.redact(text)');

hijack(
	what => 'A1 anonymise, column_default calling now()',
	role => 'm_def', table => 'public.acct_def', plant => \@now,
	call => "SELECT gdpr.anonymise('public.acct_def', 1)");
like(query('SELECT note FROM acct_def WHERE id = 1'), qr/^anonymised in \d{4}$/,
	'A1 anonymise, column_default: the row is anonymised with the column default');

hijack(
	what => 'A1 anonymise_many, trigger calling now()',
	role => 'm_many', table => 'public.acct_trg', plant => \@now,
	call => "SELECT gdpr.anonymise_many('public.acct_trg', ARRAY[2, 3])");
is(query('SELECT string_agg(name, \',\' ORDER BY id) FROM acct_trg WHERE id IN (2, 3)'),
	'anonymous,anonymous', 'A1 anonymise_many: the rows are anonymised');

hijack(
	what => 'A1 anonymise_search, trigger calling now()',
	role => 'm_search', table => 'public.acct_trg', plant => \@now,
	call => "SELECT * FROM gdpr.anonymise_search('USER4\@example.com')");
is(query('SELECT name FROM acct_trg WHERE id = 4'), 'anonymous',
	'A1 anonymise_search: the row found is anonymised');

# anonymise_db and anonymise_db_batched, in a database of their own (they
# scrub every registered table); a superuser has turned the scrub on there
query(q{
CREATE TABLE scrub_me (id int PRIMARY KEY, name text, touched_at timestamptz);
CREATE TRIGGER touch BEFORE UPDATE ON scrub_me FOR EACH ROW EXECUTE FUNCTION public.touch();
INSERT INTO scrub_me SELECT g, 'User ' || g FROM generate_series(1, 5) g;
SELECT gdpr.register('scrub_me', ARRAY['name']);
ALTER DATABASE scrub SET gdpr.allow_anonymise_db = on;
}, 'scrub');

hijack(
	what => 'A1 anonymise_db, trigger calling now()',
	role => 'm_db', db => 'scrub', table => 'public.scrub_me', plant => \@now,
	call => "SELECT * FROM gdpr.anonymise_db('scrub')");
is(query('SELECT count(*) FROM scrub_me WHERE name IS NULL', 'scrub'), '5',
	'A1 anonymise_db: every row is anonymised');

query(q{INSERT INTO scrub_me SELECT g, 'User ' || g FROM generate_series(6, 10) g}, 'scrub');
hijack(
	what => 'A1 anonymise_db_batched, trigger calling now()',
	role => 'm_batch', db => 'scrub', table => 'public.scrub_me', plant => \@now,
	call => "CALL gdpr.anonymise_db_batched('scrub')");
is(query('SELECT count(*) FROM scrub_me WHERE name IS NULL', 'scrub'), '10',
	'A1 anonymise_db_batched: the new rows are anonymised');

###########################################################################
# A2. No CREATE privilege at all.  alice (not a superuser) owns a
#     registered table whose trigger writes to an unqualified "audit", and a
#     private table.  mallory has SELECT and UPDATE on the registered table
#     only; she shadows "audit" with a TEMP table whose trigger (a temporary
#     function) grants alice's private table to her.  Nothing may run as
#     alice.
###########################################################################


my $mallory_before = attacker('mallory');
query(q{
CREATE ROLE alice LOGIN;
GRANT CREATE ON SCHEMA public TO alice;
GRANT EXECUTE ON FUNCTION gdpr.register(regclass, text[], text[], text[], text[], boolean)
  TO alice;
});
my ($ret, $out, $err) = run_as('alice', q{
CREATE TABLE audit (who name, id int);
CREATE TABLE alice_secret (secret text);
INSERT INTO alice_secret VALUES ('the recipe');
CREATE TABLE alice_people (id int PRIMARY KEY, name text);
INSERT INTO alice_people SELECT g, 'Person ' || g FROM generate_series(1, 5) g;
CREATE FUNCTION alice_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit (who, id) VALUES (current_user, NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER audit AFTER UPDATE ON alice_people FOR EACH ROW EXECUTE FUNCTION alice_audit();
SELECT gdpr.register('alice_people', ARRAY['name']);
GRANT SELECT, UPDATE ON alice_people TO mallory;
});
is($ret, 0, 'A2 set-up: alice registers her table') or diag($err);

($ret, $out, $err) = run_as('mallory', q{
CREATE TEMP TABLE audit (who name, id int);
GRANT ALL ON audit TO PUBLIC;
CREATE FUNCTION pg_temp.steal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE 'GRANT SELECT ON public.alice_secret TO mallory';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    BEGIN
        EXECUTE 'GRANT CREATE ON SCHEMA public TO mallory';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN NEW;
END $$;
CREATE TRIGGER steal BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION pg_temp.steal();
SELECT gdpr.anonymise('public.alice_people', 1);
SELECT 'audited by ' || string_agg(who, ',') FROM audit;
});
is($ret, 0, 'A2 TEMP shadow: gdpr.anonymise succeeds for mallory') or diag($err);
like($out, qr/^audited by mallory$/m,
	"A2 TEMP shadow: alice's trigger ran as mallory (the caller), into mallory's temporary audit");
is( query(q{SELECT has_table_privilege('mallory', 'public.alice_secret', 'SELECT')
            OR has_schema_privilege('mallory', 'public', 'CREATE')}),
	'f',
	"A2 TEMP shadow: mallory's temporary trigger does not run as alice: no grant on alice's private table nor on schema public");
is(rights('mallory'), $mallory_before, 'A2 TEMP shadow: mallory gains no attribute or membership');
is(query('SELECT count(*) FROM public.audit'), '0', "A2 TEMP shadow: alice's own audit is not written");

###########################################################################
# A3. Row-level security.  landlord owns a table with a tenant policy;
#     m_rls (SELECT, UPDATE) sees only its own tenant's rows.  Hidden rows
#     are neither anonymised nor revealed.
###########################################################################

my $m_rls_before = attacker('m_rls');
query(q{
CREATE ROLE landlord LOGIN;
CREATE TABLE tenant_data (id int PRIMARY KEY, tenant name NOT NULL, secret text);
INSERT INTO tenant_data VALUES (1, 'm_rls', 's1'), (2, 'm_rls', 's2'),
                               (3, 'other', 's3'), (4, 'other', 's4'), (5, 'other', 's5');
SELECT gdpr.register('tenant_data', ARRAY['secret']);
SELECT gdpr.set_anonymiser('tenant_data', 'secret', 'value', 'gone');
ALTER TABLE tenant_data OWNER TO landlord;
ALTER TABLE tenant_data ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON tenant_data USING (tenant = current_user);
GRANT SELECT, UPDATE ON tenant_data TO m_rls;
GRANT gdpr_caller TO landlord;
});

# the error for a hidden key, and for a key that exists nowhere
($ret, $out, $err) = run_as('m_rls', "SELECT gdpr.anonymise('public.tenant_data', 3)");
my $hidden_state = sqlstate($err);
(my $hidden_msg = $err) =~ s/"3"/"KEY"/g;
($ret, $out, $err) = run_as('m_rls', "SELECT gdpr.anonymise('public.tenant_data', 999)");
my $absent_state = sqlstate($err);
(my $absent_msg = $err) =~ s/"999"/"KEY"/g;
is($absent_state, 'P0002', 'A3 RLS: a key that exists nowhere is no_data_found (P0002)');
is($hidden_state, 'P0002',
	"A3 RLS: anonymising a row hidden by the tenant policy is no_data_found (P0002)");
$hidden_msg =~ s/^.*LOCATION:.*\n//mg;
$absent_msg =~ s/^.*LOCATION:.*\n//mg;
is($hidden_msg, $absent_msg,
	'A3 RLS: the error for a hidden key is the same as for a key that does not exist');
is(query('SELECT secret FROM tenant_data WHERE id = 3'), 's3',
	'A3 RLS: the hidden row is unchanged');

($ret, $out, $err) =
  run_as('m_rls', "SELECT gdpr.anonymise_many('public.tenant_data', ARRAY[2, 4, 5, 1000])");
is($out, '1', 'A3 RLS: anonymise_many counts only the visible row among hidden and absent keys')
  or diag($err);
is(query('SELECT string_agg(id || secret, \',\' ORDER BY id) FROM tenant_data'),
	'1s1,2gone,3s3,4s4,5s5',
	'A3 RLS: anonymise_many changes the visible row only, the hidden rows are unchanged');
is( query(q{SELECT string_agg(key, ',' ORDER BY key) FROM gdpr.marker
             WHERE rel = 'tenant_data'::regclass}),
	'2', 'A3 RLS: only the visible row is marked');
is(rights('m_rls'), $m_rls_before, 'A3 RLS: m_rls gains no attribute or membership');

###########################################################################
# C. gdpr.marker: only the markers of tables the role may read.
###########################################################################

query(q{
CREATE ROLE snoop LOGIN;
GRANT gdpr_caller TO snoop;
SELECT gdpr.anonymise('tenant_data', 3, force => true);
SELECT gdpr.anonymise('acct_trg', 10);
});
my $markers = query(q{SELECT count(*) FROM gdpr.marker WHERE rel = 'tenant_data'::regclass});
cmp_ok($markers, '>=', 2, 'C set-up: the hidden tenant has a marker');
($ret, $out, $err) = run_as('snoop', q{
SELECT count(*) FROM gdpr.marker;
SELECT count(*) FROM gdpr.marker WHERE rel = 'public.tenant_data'::regclass;
});
is($out, "0\n0", 'C: a role without any privilege on the tables sees no marker')
  or diag($err);
($ret, $out, $err) = run_as('snoop', "SELECT gdpr.is_anonymised('public.tenant_data', 3)");
isnt($out, 't',
	'C: gdpr.is_anonymised does not reveal a marker to a role without SELECT on the table');
query('GRANT SELECT (id) ON tenant_data TO snoop');
($ret, $out, $err) = run_as('snoop', q{
SELECT count(*) FROM gdpr.marker WHERE rel = 'public.tenant_data'::regclass;
SELECT count(*) FROM gdpr.marker WHERE rel <> 'public.tenant_data'::regclass;
SELECT gdpr.is_anonymised('public.tenant_data', 3);
});
is($out, "$markers\n0\nt",
	'C: with SELECT on one column of the table the role sees its markers, and only those')
  or diag($err);

###########################################################################
# B. ON DELETE ANONYMISE runs the child's anonymisation as the child's
#    owner, restricted, with the owner's search_path.
###########################################################################

# B1: a superuser's child with a trigger calling now(); the attacker may
# delete from the parent, and sets its search_path to its planted now()
my $m_od_before = attacker('m_od', 'app');
query(q{
CREATE TABLE od_parent1 (id int PRIMARY KEY);
CREATE TABLE od_child1 (id int PRIMARY KEY, parent_id int REFERENCES od_parent1 ON DELETE SET NULL,
                        body text, touched_at timestamptz);
CREATE TRIGGER touch BEFORE UPDATE ON od_child1 FOR EACH ROW EXECUTE FUNCTION public.touch();
SELECT gdpr.register('od_child1', ARRAY['body']);
SELECT gdpr.set_anonymiser('od_child1', 'body', 'value', '(removed)');
SELECT gdpr.on_delete_anonymise('od_child1', 'od_child1_parent_id_fkey');
INSERT INTO od_parent1 VALUES (1), (2);
INSERT INTO od_child1 VALUES (1, 1, 'hello'), (2, 2, 'world');
GRANT SELECT, DELETE ON od_parent1 TO m_od;
});
($ret, $out, $err) = run_as('m_od', plant('m_od', @now) . q{
SET search_path = m_od, pg_catalog;
DELETE FROM public.od_parent1 WHERE id = 1;
});
is($ret, 0, 'B1: the attacker deletes a parent row') or diag($err);
is(query('SELECT parent_id IS NULL AND body = \'(removed)\' FROM od_child1 WHERE id = 1'), 't',
	'B1: the child row is anonymised and unlinked');
is(rights('m_od'), $m_od_before,
	"B1: the deleting session's planted now() does not make it superuser or give it any membership");
is(seen('m_od'), 'never',
	"B1: the child's trigger does not see the deleting session's search_path");

# B2: a child owned by clerk (not a superuser), whose trigger writes to an
# unqualified "od_audit" in public; the deleting session has a search_path
# without public.  The trigger works, as clerk.
my $m_od2_before = attacker('m_od2');
query(q{
CREATE ROLE clerk LOGIN;
CREATE TABLE od_parent2 (id int PRIMARY KEY);
CREATE TABLE od_child2 (id int PRIMARY KEY, parent_id int REFERENCES od_parent2 ON DELETE SET NULL,
                        body text);
CREATE TABLE od_audit (who name, id int);
CREATE FUNCTION od_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO od_audit VALUES (current_user, NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER audit AFTER UPDATE ON od_child2 FOR EACH ROW EXECUTE FUNCTION od_audit_row();
SELECT gdpr.register('od_child2', ARRAY['body']);
SELECT gdpr.on_delete_anonymise('od_child2', 'od_child2_parent_id_fkey');
INSERT INTO od_parent2 VALUES (1), (2);
INSERT INTO od_child2 VALUES (1, 1, 'hello'), (2, 2, 'world');
ALTER TABLE od_child2 OWNER TO clerk;
ALTER TABLE od_audit OWNER TO clerk;
ALTER FUNCTION od_audit_row() OWNER TO clerk;
GRANT SELECT, DELETE ON od_parent2 TO m_od2;
});
($ret, $out, $err) = run_as('m_od2', q{
SET search_path = pg_catalog;
DELETE FROM public.od_parent2 WHERE id = 1;
});
is($ret, 0,
	"B2: a delete from a session whose search_path lacks public works: the child's trigger finds public.od_audit through its owner's search_path")
  or diag($err);
is(query('SELECT string_agg(who || \' \' || id, \',\') FROM od_audit'), 'clerk 1',
	"B2: the child's trigger ran once, as the child's owner");
is(query('SELECT body IS NULL FROM od_child2 WHERE id = 1'), 't', 'B2: the child row is anonymised');
is(rights('m_od2'), $m_od2_before, 'B2: m_od2 gains no attribute or membership');

# B3: a child owned by clerk2, whose role setting puts its own schema on
# the search_path, where its trigger's unqualified "ledger" lives
my $m_od3_before = attacker('m_od3');
query(q{
CREATE ROLE clerk2 LOGIN;
CREATE SCHEMA clerkspace AUTHORIZATION clerk2;
ALTER ROLE clerk2 IN DATABASE app SET search_path = clerkspace, public;
CREATE TABLE clerkspace.ledger (who name, id int);
CREATE TABLE od_parent3 (id int PRIMARY KEY);
CREATE TABLE od_child3 (id int PRIMARY KEY, parent_id int REFERENCES od_parent3 ON DELETE SET NULL,
                        body text);
CREATE FUNCTION od_ledger_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger VALUES (current_user, NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER ledger AFTER UPDATE ON od_child3 FOR EACH ROW EXECUTE FUNCTION od_ledger_row();
SELECT gdpr.register('od_child3', ARRAY['body']);
SELECT gdpr.on_delete_anonymise('od_child3', 'od_child3_parent_id_fkey');
INSERT INTO od_parent3 VALUES (1), (2);
INSERT INTO od_child3 VALUES (1, 1, 'hello'), (2, 2, 'world');
ALTER TABLE od_child3 OWNER TO clerk2;
ALTER TABLE clerkspace.ledger OWNER TO clerk2;
ALTER FUNCTION od_ledger_row() OWNER TO clerk2;
GRANT SELECT, DELETE ON od_parent3 TO m_od3;
});
($ret, $out, $err) = run_as('m_od3', q{
DELETE FROM public.od_parent3 WHERE id = 1;
});
is($ret, 0,
	"B3: the child's trigger finds its table through the owner's ALTER ROLE ... IN DATABASE ... SET search_path")
  or diag($err);
is(query('SELECT string_agg(who || \' \' || id, \',\') FROM clerkspace.ledger'), 'clerk2 1',
	"B3: the child's trigger ran once, as the child's owner");
is(rights('m_od3'), $m_od3_before, 'B3: m_od3 gains no attribute or membership');

###########################################################################
# E. A 'function' anonymiser cannot be hijacked by an overload: the
#    registered public.scrub(text) is called, never a public.scrub(mydomain)
#    planted later by a role that may create in public.
###########################################################################

my $m_ovl_before = attacker('m_ovl');
query(q{
CREATE DOMAIN mydomain AS text;
CREATE FUNCTION public.scrub(text) RETURNS mydomain LANGUAGE sql AS $$ SELECT 'scrubbed'::mydomain $$;
CREATE TABLE fe (id int PRIMARY KEY, nick mydomain);
INSERT INTO fe VALUES (1, 'nick one'), (2, 'nick two');
SELECT gdpr.register('fe', ARRAY['nick']);
SELECT gdpr.set_anonymiser('fe', 'nick', 'function', 'public.scrub(text)');
CREATE TABLE ovl_seen (who name);
GRANT INSERT ON ovl_seen TO PUBLIC;
GRANT CREATE ON SCHEMA public TO m_ovl;
});
($ret, $out, $err) = run_as('m_ovl', q{
CREATE FUNCTION public.scrub(mydomain) RETURNS mydomain LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.ovl_seen VALUES (current_user);
    BEGIN
        EXECUTE 'ALTER ROLE m_ovl SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN 'HIJACKED';
END $$;
});
is($ret, 0, 'E set-up: m_ovl creates public.scrub(mydomain)') or diag($err);
is(query(q{SELECT gdpr.anonymise('fe', 1); SELECT nick FROM fe WHERE id = 1}), "t\nscrubbed",
	"E: anonymising calls the registered public.scrub(text), not the overload planted for the column's domain");
is(query('SELECT count(*) FROM ovl_seen'), '0', 'E: the planted overload never runs');
is(rights('m_ovl'), $m_ovl_before, 'E: m_ovl gains no attribute or membership');

$node->stop;
done_testing();
