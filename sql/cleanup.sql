-- Drop the extension and the roles of the tests.
DROP EXTENSION gdpr CASCADE;
SELECT count(*) AS gdpr_objects_left FROM pg_namespace WHERE nspname = 'gdpr';
DROP OWNED BY regress_gdpr_admin, regress_gdpr_owner, regress_gdpr_nobody;
DROP ROLE regress_gdpr_admin;
DROP ROLE regress_gdpr_owner;
DROP ROLE regress_gdpr_nobody;
