-- Drop the extension and the roles of the tests.
SET client_min_messages = warning;
DROP EXTENSION gdpr CASCADE;
RESET client_min_messages;
-- the schema named in the control file is not a member of the extension
-- (PostgreSQL creates it before the script runs), but nothing is left in it
SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'gdpr'::regnamespace)
     + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'gdpr'::regnamespace)
     + (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'gdpr%') AS gdpr_objects_left;
DROP SCHEMA gdpr;
DROP OWNED BY regress_gdpr_admin, regress_gdpr_owner, regress_gdpr_nobody;
DROP ROLE regress_gdpr_admin;
DROP ROLE regress_gdpr_owner;
DROP ROLE regress_gdpr_nobody;
