-- gdpr.discover(): columns that look like personal data, by name and by a
-- sample of values (check digits included), read as the caller.
\set SHOW_CONTEXT never
-- names in several languages (German, Spanish, Italian, Dutch, Polish,
-- Swedish, French); a bare "nombre"/"name" counts in tables of people only
CREATE TABLE dc_kunde (id int PRIMARY KEY, vorname text, nachname text, e_mail text,
                       telefonnummer text, geburtsdatum date, steuer_id text, plz text,
                       wohnort text, strasse text, address_id int, email_verified boolean,
                       phone_type text, last_update timestamptz, "firstName" text);
CREATE TABLE dc_cliente (id int PRIMARY KEY, nombre text, apellidos text, correo_electronico text,
                         codice_fiscale text, dni text, "numéro_de_sécurité_sociale" text);
CREATE TABLE dc_klant (id int PRIMARY KEY, voornaam text, achternaam text, bsn text,
                       postcode text, woonplaats text, pesel text, personnummer text,
                       prénom text, date_de_naissance date, iban text, ip_address text);
CREATE TABLE dc_category (id int PRIMARY KEY, name text, city text, description text);
-- values only: the names say nothing
CREATE TABLE dc_values (id int PRIMARY KEY, c_mail text, c_note text, c_iban text,
                        c_iban_bad text, c_card text, c_card_bad text, c_phone text,
                        c_ip4 text, c_ip6 text, c_inet inet, c_born date, c_shipped date,
                        c_created date, c_code text, c_num bigint);
INSERT INTO dc_values
SELECT g,
       'user' || g || '@example.org',
       CASE WHEN g = 3 THEN 'Call back: write to jan.kowalski@poczta.example.pl.' ELSE 'nothing here' END,
       (ARRAY['DE89 3704 0044 0532 0130 00', 'GB82WEST12345698765432', 'FR1420041010050500013M02606',
              'NL91ABNA0417164300'])[1 + g % 4],
       (ARRAY['DE89 3704 0044 0532 0130 01', 'GB82WEST12345698765433', 'FR1420041010050500013M02607',
              'NL91ABNA0417164301'])[1 + g % 4],
       (ARRAY['4111 1111 1111 1111', '5500-0000-0000-0004', '378282246310005', '6011111111111117'])[1 + g % 4],
       (ARRAY['4111 1111 1111 1112', '5500-0000-0000-0005', '378282246310006', '6011111111111118'])[1 + g % 4],
       (ARRAY['+49 30 1234567', '(020) 7946 0958', '+33 1 23 45 67 89', '06-12345678'])[1 + g % 4],
       '192.168.' || g || '.' || (g * 7 % 256),
       (ARRAY['2001:db8::1', 'fe80::1ff:fe23:4567:890a', '::ffff:192.0.2.128', '2001:0db8:85a3:0000:0000:8a2e:0370:7334'])[1 + g % 4],
       ('10.0.0.' || g)::inet,
       date '1950-01-01' + g * 397,
       current_date - g,
       date '2006-02-14',
       'ORD-' || g,
       g
  FROM generate_series(1, 40) g;
-- no false positives in the not-quite-right values
INSERT INTO dc_values (id, c_mail, c_phone, c_ip4, c_ip6)
VALUES (41, 'not @ an address', '2024-01-31', '256.1.1.1', '1:2:3'),
       (42, 'a@b', '31.01.2024', '1.2.3', ':::'),
       (43, 'x@y.z', '12345', '1.2.3.4.5', '2001:db8::1::2');

SELECT rel, column_name, status, kind, evidence, hits, sampled
  FROM gdpr.discover() WHERE rel::text LIKE 'dc%' ORDER BY rel::text, column_name;

-- PII columns and ignored tables are not looked at; not_pii ones are
SELECT gdpr.register('dc_kunde', ARRAY['vorname', 'e_mail']);
SELECT gdpr.ignore('dc_cliente');
-- a city next to a street address and postcode that are already PII
SELECT gdpr.set_anonymiser('dc_kunde', 'strasse', 'null');
SELECT gdpr.set_anonymiser('dc_kunde', 'plz', 'null');
SELECT rel, column_name, status, kind FROM gdpr.discover(0)
 WHERE rel::text IN ('dc_kunde', 'dc_cliente') ORDER BY rel::text, column_name;

-- the sample bounds the rows read
SELECT DISTINCT sampled FROM gdpr.discover(sample => 3) WHERE rel = 'dc_values'::regclass;
SELECT column_name, kind, hits, sampled FROM gdpr.discover(5)
 WHERE rel = 'dc_values'::regclass AND column_name IN ('c_mail', 'c_card') ORDER BY 1;
SELECT gdpr.discover(-1);
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT gdpr.discover(NULL);
\echo sqlstate :LAST_ERROR_SQLSTATE

-- read as the caller: what it may not read is reported as not examined,
-- and a table whose read fails is reported with the error
CREATE TABLE dc_priv (id int PRIMARY KEY, email text, phone text, secret text);
INSERT INTO dc_priv VALUES (1, 'a@example.com', '+44 20 7946 0958', 'x');
GRANT SELECT (id, email) ON dc_priv TO regress_gdpr_admin;
CREATE SCHEMA dc_hidden;
CREATE TABLE dc_hidden.t (id int PRIMARY KEY, email text);
GRANT SELECT ON dc_hidden.t TO regress_gdpr_admin;
CREATE FUNCTION dc_boom() RETURNS boolean LANGUAGE plpgsql AS
  $$BEGIN RAISE EXCEPTION 'no reading here'; END$$;
CREATE TABLE dc_policed (id int PRIMARY KEY, email text, other int);
INSERT INTO dc_policed VALUES (1, 'b@example.com', 1);
ALTER TABLE dc_policed ENABLE ROW LEVEL SECURITY;
CREATE POLICY dc_boom ON dc_policed USING (dc_boom());
GRANT SELECT ON dc_policed TO regress_gdpr_admin;
SET ROLE regress_gdpr_admin;
SELECT rel, column_name, status, kind, evidence, hits, sampled FROM gdpr.discover()
 WHERE rel::text IN ('dc_priv', 'dc_hidden.t', 'dc_policed') ORDER BY rel::text, column_name;
RESET ROLE;
SET ROLE regress_gdpr_nobody;
SELECT count(*) FROM gdpr.discover();
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;

-- discover writes nothing
SELECT count(*) AS classified_by_discover FROM gdpr.not_pii_column
 WHERE rel::text IN ('dc_values', 'dc_klant', 'dc_category');

DROP TABLE dc_kunde, dc_cliente, dc_klant, dc_category, dc_values, dc_priv, dc_hidden.t, dc_policed;
DROP SCHEMA dc_hidden;
DROP FUNCTION dc_boom();
