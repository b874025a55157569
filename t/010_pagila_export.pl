# Find one person and export everything held about them, on Pagila: a
# schema we did not design, with a partitioned payment table whose foreign
# keys exist only on (some of) its partitions and addresses shared between
# customers and staff.
use strict;
use warnings;

use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The data sits beside the repository (../shared/data/pagila); TAP tests may
# run from a copy of the tree elsewhere, so GDPR_SHARED_DIR can name it.
my @candidates;
push @candidates, "$ENV{GDPR_SHARED_DIR}/data/pagila" if $ENV{GDPR_SHARED_DIR};
push @candidates, "$ENV{TESTDIR}/../shared/data/pagila" if $ENV{TESTDIR};
push @candidates, '/work/shared/data/pagila';
my ($pagila) = grep { -f "$_/pagila-schema.sql" && -f "$_/pagila-data.sql" } @candidates;
plan skip_all => 'pagila data not found at ' . join(', ', @candidates)
  unless defined $pagila;
diag "using pagila data from $pagila";

my $node = PostgreSQL::Test::Cluster->new('pagila');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'gdpr'");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE pagila');

# The dump says "OWNER TO postgres"; the TAP superuser is the OS user, who
# need not be called postgres.
foreach my $part ('schema', 'data')
{
	my $src = "$pagila/pagila-$part.sql";
	my $dst = "$PostgreSQL::Test::Utils::tmp_check/pagila-$part.sql";
	open(my $in, '<', $src) or die "could not open $src: $!";
	open(my $out, '>', $dst) or die "could not create $dst: $!";
	while (my $line = <$in>)
	{
		print $out $line unless $line =~ /OWNER TO postgres;/;
	}
	close($in);
	close($out);
	my ($stdout, $stderr);
	my $ok = IPC::Run::run(
		[
			'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('pagila'), '-f', $dst
		],
		'>', \$stdout, '2>', \$stderr);
	ok($ok, "pagila $part loaded") or diag($stderr);
}

sub query
{
	my ($sql) = @_;
	return $node->safe_psql('pagila', $sql);
}

query(q{
	CREATE EXTENSION gdpr;
	CREATE INDEX customer_lower_email ON customer (lower(email));
	ANALYZE;
	SELECT gdpr.register('customer', ARRAY['first_name', 'last_name', 'email'],
	                     search_fields => ARRAY['email']);
	SELECT gdpr.register('address', ARRAY['address', 'phone']);
	SELECT gdpr.export_follow('customer', 'customer_address_id_fkey');
	SELECT gdpr.register('rental', ARRAY[]::text[]);
	SELECT gdpr.register('payment', ARRAY[]::text[]);
	SELECT gdpr.register('staff', ARRAY['first_name', 'last_name', 'email',
	                                    'username', 'password']);
});
is( query(
		q{SELECT string_agg(rel::text, ',' ORDER BY rel::text) FROM gdpr.registered_table}),
	'address,customer,payment,rental,staff',
	'five pagila tables registered');

# A customer with payments in every partition, the last of which has no
# foreign key at all.
my $cid = query(q{
	SELECT customer_id FROM payment GROUP BY customer_id
	HAVING count(DISTINCT tableoid) = 7 ORDER BY customer_id LIMIT 1});
ok($cid =~ /^\d+$/, "customer $cid has payments in all seven partitions");

query(qq{CREATE TABLE export_doc AS SELECT gdpr.export('customer', $cid) AS doc});

is( query(
		q{SELECT string_agg(k, ',' ORDER BY k) FROM export_doc, jsonb_object_keys(doc) k}),
	'public.address,public.customer,public.payment,public.rental',
	'the export holds the customer, address, payments and rentals, nothing else');

is(query(q{SELECT jsonb_array_length(doc -> 'public.customer') FROM export_doc}),
	'1', 'one customer row');
is( query(q{SELECT jsonb_array_length(doc -> 'public.rental') FROM export_doc}),
	query(qq{SELECT count(*) FROM rental WHERE customer_id = $cid}),
	'every rental of the customer');

# payments reference the customer and the customer's rentals
my $payments = query(qq{
	SELECT count(*) FROM payment
	 WHERE customer_id = $cid
	    OR rental_id IN (SELECT rental_id FROM rental WHERE customer_id = $cid)});
is(query(q{SELECT jsonb_array_length(doc -> 'public.payment') FROM export_doc}),
	$payments, "all $payments payments across the partitions");
is( query(qq{
	SELECT count(*) FROM payment p
	 WHERE p.customer_id = $cid
	   AND NOT EXISTS (SELECT FROM export_doc, jsonb_array_elements(doc -> 'public.payment') e
	                    WHERE (e ->> 'payment_id')::int = p.payment_id
	                      AND (e ->> 'payment_date')::timestamptz = p.payment_date)}),
	'0', 'no payment of the customer is missing');
is( query(q{
	SELECT count(DISTINCT (e ->> 'payment_date', e ->> 'payment_id')) = count(*)
	  FROM export_doc, jsonb_array_elements(doc -> 'public.payment') e}),
	't', 'each payment once');
ok( query(q{
	SELECT count(*) FROM export_doc, jsonb_array_elements(doc -> 'public.payment') e
	 WHERE (e ->> 'payment_date')::timestamptz >= '2022-07-01'}) > 0,
	'payments of the partition without foreign keys are included');
is( query(q{
	SELECT bool_and(x.ord = x.rn)
	  FROM (SELECT row_number() OVER (ORDER BY (e ->> 'payment_date')::timestamptz,
	                                           (e ->> 'payment_id')::int) AS ord,
	               ordinality AS rn
	          FROM export_doc, jsonb_array_elements(doc -> 'public.payment')
	               WITH ORDINALITY AS t(e, ordinality)) x}),
	't', 'payments ordered by key value');
is( query(q{
	SELECT jsonb_typeof(doc -> 'public.payment' -> 0 -> 'amount') || ',' ||
	       jsonb_typeof(doc -> 'public.customer' -> 0 -> 'activebool')
	  FROM export_doc}),
	'number,boolean', 'typed JSON values');

is( query(qq{
	SELECT (doc -> 'public.address' -> 0 ->> 'address_id')::int = c.address_id
	       AND jsonb_array_length(doc -> 'public.address') = 1
	  FROM export_doc, customer c WHERE c.customer_id = $cid}),
	't', 'the followed address is included');

# No staff member's personal data: compare every string in the document
# with every staff name, e-mail and user name.  The same check finds the
# customer's own name, so it can fail.
my $strings_matching = sub {
	my ($table, $cols) = @_;
	my $cond = join(' OR ', map { "v = t.$_" } @$cols);
	return query(qq{
		SELECT count(*)
		  FROM export_doc,
		       LATERAL (SELECT s #>> '{}' AS v
		                  FROM jsonb_path_query(doc, 'strict \$.**') s
		                 WHERE jsonb_typeof(s) = 'string') strings,
		       $table t
		 WHERE $cond});
};
is($strings_matching->('staff', [ 'first_name', 'last_name', 'email', 'username' ]),
	'0', 'no staff name, e-mail or user name anywhere in the export');
ok( $strings_matching->(
		"(SELECT * FROM customer WHERE customer_id = $cid)", [ 'first_name', 'last_name', 'email' ])
	  > 0,
	'the check does find the customer\'s own data');

# A customer whose address row is shared with staff: the address enters,
# the staff living there do not, nor does any other customer.
my $shared = query(q{
	SELECT c.customer_id FROM customer c
	 WHERE EXISTS (SELECT FROM staff s WHERE s.address_id = c.address_id)
	 ORDER BY c.customer_id LIMIT 1});
ok($shared =~ /^\d+$/, "customer $shared shares an address with staff");
query(qq{DROP TABLE export_doc;
	CREATE TABLE export_doc AS SELECT gdpr.export('customer', $shared) AS doc});
is( query(q{
	SELECT (doc ? 'public.address') AND NOT (doc ? 'public.staff')
	       AND jsonb_array_length(doc -> 'public.customer') = 1
	  FROM export_doc}),
	't', 'shared address exported, no staff row, no other customer');
is($strings_matching->('staff', [ 'first_name', 'last_name', 'email', 'username' ]),
	'0', 'no staff personal data in the shared-address export');

# Search by e-mail in another case; the lower(email) index serves it.
my $email = query(qq{SELECT email FROM customer WHERE customer_id = $cid});
my $lower = lc($email);
isnt($lower, $email, "searching for $lower, stored as $email");
my $log_offset = -s $node->logfile;
is( query(qq{
	LOAD 'auto_explain';
	SET auto_explain.log_min_duration = 0;
	SET auto_explain.log_nested_statements = on;
	SELECT rel, key, matched FROM gdpr.search('$lower')}),
	"customer|$cid|{email}",
	'search finds the customer by e-mail in another case');
my $log = slurp_file($node->logfile, $log_offset);
like(
	$log,
	qr/(Index Scan using customer_lower_email on customer|Bitmap Index Scan on customer_lower_email)/,
	'the search used the lower(email) index');

is( query(qq{SELECT gdpr.export_search('$lower') = gdpr.export('customer', $cid)}),
	't', 'export_search of the e-mail gives the customer\'s export');

# anonymise_search anonymises the customer (and nothing else)
is(query(qq{SELECT * FROM gdpr.anonymise_search('$lower')}),
	'customer|1|0', 'anonymise_search anonymised one customer row');
is( query(qq{
	SELECT first_name || '|' || last_name || '|' || coalesce(email, 'NULL') || '|' ||
	       gdpr.is_anonymised('customer', customer_id)
	  FROM customer WHERE customer_id = $cid}),
	'||NULL|true', 'the customer\'s PII is gone and the row is marked');
is(query(q{SELECT count(*) FROM gdpr.marker}), '1', 'only that row is marked');
is(query(qq{SELECT count(*) FROM gdpr.search('$lower')}),
	'0', 'the e-mail is no longer found');

$node->stop;
done_testing();
