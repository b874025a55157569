
# Copyright (c) 2026, gdpr developers

# The keys of rows under a legal hold are for the readers of gdpr.holds
# only.  The erasing statements leave held rows out with a constant of the
# held keys (src/hold.c), and a statement that fails, or whose triggers
# raise a NOTICE, has its text in the message's context.  An ordinary role
# that may anonymise and delete rows, but not read the holds, attacks that
# end to end: through the NOTICE of a trigger of its own, through an error,
# through a PL/pgSQL handler reading the error's context, for the one-row
# and the batched anonymisation and a retention DELETE.  The held key must
# reach neither the role nor the server log; the statement's text must
# still be there, with the constant cut out.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'gdpr'
});
$node->start;

my $secret = 'k-HELD-SECRET';
$node->safe_psql('postgres', qq{
CREATE EXTENSION gdpr;
CREATE ROLE clerk LOGIN;
CREATE TABLE acct (k text PRIMARY KEY, name text, seen date);
INSERT INTO acct VALUES ('k-open-1', 'a', '2000-01-01'), ('k-open-2', 'b', '2000-01-01'),
  ('k-open-3', 'c', '2000-01-01'), ('$secret', 'd', '2000-01-01');
SET client_min_messages = error;
SELECT gdpr.register('acct', ARRAY['name']);
SELECT gdpr.hold('acct', '$secret', 'litigation');
SELECT gdpr.set_retention('acct', 'seen', interval '90 days', 'delete');
GRANT USAGE ON SCHEMA gdpr TO clerk;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA gdpr TO clerk;
GRANT SELECT, UPDATE, DELETE ON acct TO clerk;
-- the clerk's own trigger: a NOTICE at every row, an error when asked
CREATE FUNCTION acct_touch() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	RAISE NOTICE 'touching %', OLD.k;
	IF current_setting('test.fail', true) = 'on' THEN
		RAISE EXCEPTION 'refused by the trigger';
	END IF;
	RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END \$\$;
CREATE TRIGGER acct_touch BEFORE UPDATE OR DELETE ON acct
  FOR EACH ROW EXECUTE FUNCTION acct_touch();
});
is($node->safe_psql('postgres', 'SELECT has_table_privilege(\'clerk\', \'gdpr.legal_hold\', \'SELECT\')'),
	'f', 'the clerk may not read the holds');

my $log_offset = -s $node->logfile;

# run a script as the clerk, every message with its context
sub as_clerk
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set SHOW_CONTEXT always\n\\set VERBOSITY verbose\n$sql",
		extra_params => [ '-U', 'clerk' ]);
	return $err;
}

# what the clerk saw must name the statement, with the constant cut out
sub hidden
{
	my ($err, $what) = @_;
	unlike($err, qr/\Q$secret\E/, "$what: the held key does not reach the clerk");
	like($err, qr{/\* gdpr: held keys \*/ '\*+'}, "$what: the statement is shown without it");
}

my $err = as_clerk(q{SELECT gdpr.anonymise('acct', 'k-open-1');});
like($err, qr/NOTICE:  00000: touching k-open-1/, 'one row: the trigger raised its NOTICE');
hidden($err, 'one row, NOTICE of a trigger');

$err = as_clerk(q{SET test.fail = on; SELECT gdpr.anonymise('acct', 'k-open-2');});
like($err, qr/ERROR:  P0001: refused by the trigger/, 'one row: the trigger failed it');
hidden($err, 'one row, error');

$err = as_clerk(q{SET test.fail = on;
SELECT gdpr.anonymise_many('acct', ARRAY['k-open-2', 'k-open-3']);});
like($err, qr/ERROR:  P0001: refused by the trigger/, 'many rows: the trigger failed it');
hidden($err, 'many rows, error');

# an error caught by the caller's handler is never emitted: its context
# must be clean already
$err = as_clerk(q{SET test.fail = on;
DO $$
DECLARE
	ctx text;
BEGIN
	PERFORM gdpr.anonymise_many('acct', ARRAY['k-open-2']);
EXCEPTION WHEN others THEN
	GET STACKED DIAGNOSTICS ctx = PG_EXCEPTION_CONTEXT;
	RAISE NOTICE 'caught: %', ctx;
END $$;});
like($err, qr/NOTICE:  00000: caught: /, 'the handler caught the error');
hidden($err, 'many rows, context read by a handler');

$err = as_clerk(q{SELECT * FROM gdpr.apply_retention('acct');});
like($err, qr/NOTICE:  00000: touching k-open-2/, 'retention: the trigger raised its NOTICE');
hidden($err, 'retention DELETE, NOTICE of a trigger');

is($node->safe_psql('postgres', q{SELECT string_agg(k || '=' || coalesce(name, '-'), ' ' ORDER BY k) FROM acct}),
	"$secret=d", 'the held row alone is left, untouched');

my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/\Q$secret\E/, 'the held key does not reach the server log');
like($log, qr{/\* gdpr: held keys \*/ '\*+'}, 'the server log has the statements without it');

done_testing();
