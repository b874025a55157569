# Scrub a copy of the Pagila sample database with gdpr.anonymise_db() and
# prove that no original value of any registered PII column remains, while
# the rest of the data (keys, foreign keys, non-PII columns) is untouched.
# Skipped when the shared Pagila data is not there.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);
use Cwd qw(abs_path);

my @candidates = grep { defined $_ && $_ ne '' } (
	$ENV{GDPR_SHARED_DIR},
	abs_path(dirname(__FILE__) . '/../../shared'),
	'/work/shared');
my ($pagila) = grep { -f "$_/data/pagila/pagila-schema.sql" } @candidates;
plan skip_all => 'Pagila data not found (looked in: ' . join(', ', @candidates) . ')'
  unless defined $pagila;
$pagila = "$pagila/data/pagila";
note "using Pagila from $pagila";

my $node = PostgreSQL::Test::Cluster->new('scrub');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'gdpr'
gdpr.pseudonym_key = 'tap-secret'
});
$node->start;

# the dump says OWNER TO postgres: make sure that role exists
$node->safe_psql('postgres', q{
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgres') THEN
    CREATE ROLE postgres SUPERUSER;
  END IF;
END $$;
CREATE DATABASE pagila;
});
for my $f ('pagila-schema.sql', 'pagila-data.sql')
{
	my ($stdout, $stderr);
	my $rc = $node->psql('pagila', undef,
		extra_params => [ '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', "$pagila/$f" ],
		stdout => \$stdout, stderr => \$stderr);
	is($rc, 0, "loaded $f") or diag($stderr);
}

$node->safe_psql('pagila', q{
CREATE EXTENSION gdpr;
SELECT gdpr.register('customer', ARRAY['first_name', 'last_name', 'email', 'create_date'],
                     search_fields => ARRAY['email']);
SELECT gdpr.set_anonymiser('customer', 'email', 'email');
SELECT gdpr.register('staff', ARRAY['first_name', 'last_name', 'email', 'username', 'password', 'picture']);
SELECT gdpr.set_anonymiser('staff', 'email', 'hash');
SELECT gdpr.set_anonymiser('staff', 'first_name', 'value', 'Staff');
SELECT gdpr.register('address', ARRAY['address', 'address2', 'district', 'postal_code', 'phone']);
SELECT gdpr.set_anonymiser('address', 'phone', 'blank');
SELECT gdpr.register('actor', ARRAY['first_name', 'last_name'], can_anonymise => false);
SELECT gdpr.register('payment', '{}');
-- what a scrub does with each table: rentals and payments truncated
-- (payments first: they reference rentals), films kept
SELECT gdpr.register('rental', '{}');
SELECT gdpr.register('film', '{}');
SELECT gdpr.set_scrub_action('payment', 'truncate');
SELECT gdpr.set_scrub_action('rental', 'truncate');
SELECT gdpr.set_scrub_action('film', 'keep');
});
my ($tstdout, $tstderr);
$node->psql('pagila', q{SELECT gdpr.set_scrub_action('film', 'truncate')},
	stdout => \$tstdout, stderr => \$tstderr);
like($tstderr, qr/ERROR:  table "film" cannot be truncated by a scrub: table "(film_actor|film_category|inventory)" references it/,
	'films cannot be truncated: tables outside the truncated set reference them');
is($node->safe_psql('pagila', q{SELECT scrub_action FROM gdpr.registered_tables WHERE rel = 'film'::regclass}),
	'keep', 'and the refusal changed nothing');

# keep every original value of every PII column, with its row, and a
# fingerprint of everything that must not change
$node->safe_psql('pagila', q{
CREATE TABLE scrub_original AS
SELECT c.rel, c.column_name, k.key, k.val
  FROM gdpr.registered_columns c
  CROSS JOIN LATERAL (SELECT NULL::text AS key, NULL::text AS val WHERE false) k
 WHERE false;
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.rel, c.column_name, a.attname AS keycol
             FROM gdpr.registered_columns c
             JOIN pg_index i ON i.indrelid = c.rel AND i.indisprimary
             JOIN pg_attribute a ON a.attrelid = c.rel AND a.attnum = i.indkey[0]
            WHERE c.pii
  LOOP
    EXECUTE format('INSERT INTO scrub_original SELECT %L::regclass, %L, %I::text, %I::text FROM %s',
                   r.rel, r.column_name, r.keycol, r.column_name, r.rel);
  END LOOP;
END $$;
CREATE TABLE scrub_fingerprint AS
SELECT 'customer' AS t, md5(string_agg(format('%s|%s|%s|%s', customer_id, store_id, address_id, active), ',' ORDER BY customer_id)) AS f FROM customer
UNION ALL SELECT 'rental', md5(string_agg(format('%s|%s|%s', rental_id, customer_id, rental_date), ',' ORDER BY rental_id)) FROM rental
UNION ALL SELECT 'payment', md5(string_agg(format('%s|%s|%s', payment_id, customer_id, amount), ',' ORDER BY payment_id)) FROM payment
UNION ALL SELECT 'actor', md5(string_agg(format('%s|%s|%s', actor_id, first_name, last_name), ',' ORDER BY actor_id)) FROM actor
UNION ALL SELECT 'film', md5(string_agg(format('%s|%s|%s', film_id, title, description), ',' ORDER BY film_id)) FROM film;
});

my ($stdout, $stderr);
$node->psql('pagila', q{
SET gdpr.allow_anonymise_db = on;
SELECT * FROM gdpr.anonymise_db(current_database());
}, stdout => \$stdout, stderr => \$stderr);
is($stdout, join("\n",
	'payment|0|0|truncate|16049',
	'rental|0|0|truncate|16044',
	'actor|0|200|anonymise|0',
	'address|603|0|anonymise|0',
	'customer|599|0|anonymise|0',
	'film|0|1000|keep|0',
	'staff|1500|0|anonymise|0'), 'every registered table reported with its action, truncated tables first');
like($stderr, qr/NOTICE:  gdpr: table 1 of 7, public\.payment: 16049 rows truncated/, 'progress is shown per table');
like($stderr, qr/NOTICE:  gdpr: table 7 of 7, public\.staff/, 'progress reaches the last table');
is($node->safe_psql('pagila', q{SELECT (SELECT count(*) FROM rental) + (SELECT count(*) FROM payment)}),
	'0', 'rentals and payments are gone');

# no original value survives, in its row or anywhere else in its column
# (values that are the anonymised value themselves, like '' or NULL, aside)
my ($out2, $err2);
$node->psql('pagila', q{
DO $$
DECLARE r record; n bigint; total bigint := 0;
BEGIN
  FOR r IN SELECT DISTINCT rel, column_name FROM scrub_original WHERE rel <> 'actor'::regclass
  LOOP
    EXECUTE format(
      'SELECT count(*) FROM scrub_original o JOIN %s t ON t.%I::text = o.val
        WHERE o.rel = %L::regclass AND o.column_name = %L AND o.val IS NOT NULL
          AND o.val NOT IN (%L, %L, %L)',
      r.rel, r.column_name, r.rel, r.column_name, '', 'Staff', '1970-01-01') INTO n;
    total := total + n;
  END LOOP;
  RAISE NOTICE 'survivors %', total;
END $$;
}, stdout => \$out2, stderr => \$err2);
like($err2, qr/NOTICE:  survivors 0\b/, 'no original value of any anonymised PII column remains');

# the values are what the declarations say
is($node->safe_psql('pagila', q{
SELECT count(*) FILTER (WHERE first_name = '' AND last_name = '' AND email = customer_id || '@anonymised.invalid'
                          AND create_date = '1970-01-01'), count(*) FROM customer}),
	'599|599', 'customers anonymised by their methods');
is($node->safe_psql('pagila', q{
SELECT count(*) FILTER (WHERE first_name = 'Staff' AND last_name = '' AND username = ''
                          AND password IS NULL AND picture IS NULL AND length(email) = 64),
       count(DISTINCT email) FROM staff}),
	'1500|1500', 'staff anonymised; hashed e-mails stay distinct');
is($node->safe_psql('pagila', q{
SELECT count(*) FILTER (WHERE address = '' AND address2 IS NULL AND district = ''
                          AND postal_code IS NULL AND phone = '') FROM address}),
	'603', 'addresses anonymised');

# everything else is untouched: keys, foreign keys, non-PII data, and the
# can_anonymise = false table
is($node->safe_psql('pagila', q{
SELECT count(*) FROM scrub_fingerprint f JOIN (
SELECT 'customer' AS t, md5(string_agg(format('%s|%s|%s|%s', customer_id, store_id, address_id, active), ',' ORDER BY customer_id)) AS f FROM customer
UNION ALL SELECT 'rental', md5(string_agg(format('%s|%s|%s', rental_id, customer_id, rental_date), ',' ORDER BY rental_id)) FROM rental
UNION ALL SELECT 'payment', md5(string_agg(format('%s|%s|%s', payment_id, customer_id, amount), ',' ORDER BY payment_id)) FROM payment
UNION ALL SELECT 'actor', md5(string_agg(format('%s|%s|%s', actor_id, first_name, last_name), ',' ORDER BY actor_id)) FROM actor
UNION ALL SELECT 'film', md5(string_agg(format('%s|%s|%s', film_id, title, description), ',' ORDER BY film_id)) FROM film
) now USING (t) WHERE f.f = now.f}), '3', 'customers\' keys and links, actors and the films kept are unchanged');

# every anonymised row is marked; the scrub queued no events
is( $node->safe_psql('pagila', q{
	SELECT count(*) FROM (SELECT rel, key FROM gdpr.marker
	                      UNION SELECT r.rel, g::text FROM gdpr.marker_range AS r,
	                                   generate_series(r.lo, r.hi) AS g) AS m}),
	599 + 1500 + 603,
	'every anonymised row is marked (markers and marker ranges)');
# integer keys: runs of keys, far fewer rows than markers would be
cmp_ok($node->safe_psql('pagila', q{SELECT count(*) FROM gdpr.marker_range}), '<', 100,
	'the scrub marked its rows as ranges of keys');
is($node->safe_psql('pagila', q{SELECT count(*) FROM gdpr.queued_events}), '0', 'the scrub writes no events');

# the views over PII still work, and show anonymised data
is($node->safe_psql('pagila', q{SELECT count(*) FROM customer_list WHERE name <> ' '}), '0',
	'views over PII show the anonymised names');

# a second scrub has nothing to do
is($node->safe_psql('pagila', q{
SET client_min_messages = warning;
SET gdpr.allow_anonymise_db = on;
SELECT sum(anonymised) FROM gdpr.anonymise_db(current_database())}), '0',
	'a second scrub changes nothing');

$node->stop;
done_testing();
