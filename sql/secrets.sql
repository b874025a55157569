--
-- Secrets: the pseudonym key and the passwords of gdpr.log_conninfo are for
-- superusers' eyes only, the key is never stored per database, role or
-- function, and malformed gdpr.log_conninfo / gdpr.databases values are
-- refused when set.  t/022_secrets.pl covers the key file, libpq's messages,
-- the server log and the shipper's memory.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS gdpr;
RESET client_min_messages;
SELECT pg_catalog.current_database() AS dbname \gset

CREATE ROLE regress_secrets_monitor IN ROLE pg_monitor;
CREATE ROLE regress_secrets_nobody;

-- the key: superusers see it, pg_monitor members see ********, others nothing
SELECT current_setting('gdpr.pseudonym_key') = 'regress-secret' AS superuser_sees_key;
SET ROLE regress_secrets_monitor;
SHOW gdpr.pseudonym_key;
SELECT current_setting('gdpr.pseudonym_key');
SELECT count(*) AS in_pg_settings FROM pg_settings
 WHERE name IN ('gdpr.pseudonym_key', 'gdpr.log_conninfo')
    OR setting LIKE '%regress-secret%' OR reset_val LIKE '%regress-secret%';
-- a superuser who became another role is that role
RESET ROLE;
SET ROLE regress_secrets_nobody;
\set VERBOSITY sqlstate
SHOW gdpr.pseudonym_key;
\set VERBOSITY default
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET ROLE;

-- the connection string: password and sslpassword masked, even where they
-- show up in another value
ALTER SYSTEM SET gdpr.log_conninfo = 'host=/nonexistent/regress-pw port=1 dbname=nowhere password=regress-pw sslpassword=''regress ssl pw''';
SELECT pg_catalog.pg_reload_conf();
\c
SELECT current_setting('gdpr.log_conninfo') LIKE '%password=regress-pw%' AS superuser_sees_password;
SET ROLE regress_secrets_monitor;
SHOW gdpr.log_conninfo;
SELECT current_setting('gdpr.log_conninfo') ~ 'regress' AS monitor_sees_password;
RESET ROLE;
ALTER SYSTEM RESET gdpr.log_conninfo;
SELECT pg_catalog.pg_reload_conf();
\c

-- the key cannot be stored where every role can read it (SQLSTATE 55P02)
ALTER DATABASE :"dbname" SET gdpr.pseudonym_key = 'stored-key';
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER ROLE regress_secrets_nobody SET gdpr.pseudonym_key = 'stored-key';
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER ROLE regress_secrets_nobody IN DATABASE :"dbname" SET gdpr.pseudonym_key = 'stored-key';
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER ROLE ALL SET gdpr.pseudonym_key = 'stored-key';
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE FUNCTION regress_secrets_f() RETURNS int LANGUAGE sql
    SET gdpr.pseudonym_key = 'stored-key' AS 'SELECT 1';
\echo sqlstate :LAST_ERROR_SQLSTATE
CREATE FUNCTION regress_secrets_f() RETURNS int LANGUAGE sql AS 'SELECT 1';
ALTER FUNCTION regress_secrets_f() SET gdpr.pseudonym_key = 'stored-key';
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER FUNCTION regress_secrets_f() SET gdpr.pseudonym_key FROM CURRENT;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT count(*) AS stored_keys FROM pg_db_role_setting
 WHERE pg_catalog.array_to_string(setconfig, ' ') LIKE '%pseudonym_key%';
SELECT proconfig FROM pg_proc WHERE proname = 'regress_secrets_f';
-- an empty value holds no secret
ALTER ROLE regress_secrets_nobody SET gdpr.pseudonym_key = '';
ALTER ROLE regress_secrets_nobody RESET gdpr.pseudonym_key;
-- the other secret settings are reload settings: PostgreSQL refuses them
ALTER DATABASE :"dbname" SET gdpr.log_conninfo = 'dbname=x';
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER DATABASE :"dbname" SET gdpr.pseudonym_key_file = 'key';
\echo sqlstate :LAST_ERROR_SQLSTATE

-- check hooks: an unparsable connection string is refused without quoting
-- it (libpq's message would quote "pw-part"); so is an unknown option
ALTER SYSTEM SET gdpr.log_conninfo = 'host=/x password=two pw-part';
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET gdpr.log_conninfo = 'host=/x password=''unterminated';
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET gdpr.log_conninfo = 'nosuchoption=1';
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET gdpr.log_conninfo = 'postgresql://user:pw@host:5432/db';
ALTER SYSTEM RESET gdpr.log_conninfo;
-- gdpr.databases must be a list of names
ALTER SYSTEM SET gdpr.databases = 'postgres, "unterminated';
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET gdpr.databases = 'postgres,,app';
\echo sqlstate :LAST_ERROR_SQLSTATE
ALTER SYSTEM SET gdpr.databases = 'postgres, "My Shop", app';
ALTER SYSTEM RESET gdpr.databases;

-- the key file: with gdpr.pseudonym_key also set, an error at use; a
-- missing file, an error naming the file (its content never)
ALTER SYSTEM SET gdpr.pseudonym_key_file = 'regress_no_such_key_file';
SELECT pg_catalog.pg_reload_conf();
\c
SELECT gdpr.pseudonym('x');
\echo sqlstate :LAST_ERROR_SQLSTATE
SET gdpr.pseudonym_key = '';
SELECT gdpr.pseudonym('x');
\echo sqlstate :LAST_ERROR_SQLSTATE
RESET gdpr.pseudonym_key;
ALTER SYSTEM RESET gdpr.pseudonym_key_file;
SELECT pg_catalog.pg_reload_conf();
\c
SELECT length(gdpr.pseudonym('x')) AS works_again;

-- clean up
DROP FUNCTION regress_secrets_f();
DROP ROLE regress_secrets_monitor;
DROP ROLE regress_secrets_nobody;
