-- Install the extension and the roles the tests use.
CREATE EXTENSION gdpr;
CREATE EXTENSION citext;

-- an administrator role given the documented grants, and roles without them
CREATE ROLE regress_gdpr_admin;
CREATE ROLE regress_gdpr_owner;
CREATE ROLE regress_gdpr_nobody;
GRANT USAGE ON SCHEMA gdpr TO regress_gdpr_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA gdpr TO regress_gdpr_admin;
GRANT SELECT ON gdpr.registered_columns, gdpr.log_status TO regress_gdpr_admin;

-- the extension is not relocatable and lives in schema gdpr
SELECT extname, extrelocatable, nspname
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'gdpr';

-- every function pins search_path, except the per-row C pseudonym function
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args
  FROM pg_proc p
 WHERE p.pronamespace = 'gdpr'::regnamespace
   AND p.prorettype <> 'trigger'::regtype
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
 ORDER BY 1, 2;

-- EXECUTE is revoked from PUBLIC on every function
SELECT p.proname
  FROM pg_proc p
 WHERE p.pronamespace = 'gdpr'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;

-- no table of the schema is writable or readable by PUBLIC, but the markers
SELECT c.relname,
       has_table_privilege('regress_gdpr_nobody', c.oid, 'SELECT') AS can_select,
       has_table_privilege('regress_gdpr_nobody', c.oid, 'INSERT') AS can_insert
  FROM pg_class c
 WHERE c.relnamespace = 'gdpr'::regnamespace AND c.relkind IN ('r', 'v')
 ORDER BY 1;

-- settings: superuser-only ones are hidden or refused for others
SET ROLE regress_gdpr_nobody;
-- (16 reworded the message of these two errors: the SQLSTATE is what counts)
\set VERBOSITY sqlstate
SHOW gdpr.log_conninfo;
SHOW gdpr.pseudonym_key;
\set VERBOSITY default
SET gdpr.allow_anonymise_db = on;
SET gdpr.log_anonymise = off;
SHOW gdpr.databases;
RESET ROLE;

-- the prefix is reserved
SET gdpr.no_such_setting = 1;
