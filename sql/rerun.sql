--
-- gdpr.rerun() without a reachable log database: its errors, and who may
-- call it.  Replaying itself is tested by the rerun_vs_rerun isolation spec
-- and the TAP tests.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS gdpr;
RESET client_min_messages;

-- the signature and result columns
SELECT pg_catalog.pg_get_function_arguments('gdpr.rerun(boolean)'::regprocedure),
       pg_catalog.pg_get_function_result('gdpr.rerun(boolean)'::regprocedure);

-- the state before: whatever earlier tests left, remembered to compare
SELECT pg_catalog.count(*) AS state_rows_before FROM gdpr.state \gset
SELECT COALESCE(pg_catalog.max(reflected_id), -1) AS mark_before FROM gdpr.state \gset

-- without gdpr.log_conninfo: an error, for a dry run too
SELECT * FROM gdpr.rerun();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.rerun(dry_run => true);
\echo :LAST_ERROR_SQLSTATE

-- a log database that cannot be reached: a clean ERROR (SQLSTATE 08001),
-- without the connection string
ALTER SYSTEM SET gdpr.log_conninfo = 'host=/nonexistent/gdpr port=1 dbname=nowhere password=regress-secret-pw';
SELECT pg_catalog.pg_reload_conf();
\c
SELECT pg_catalog.current_setting('gdpr.log_conninfo') LIKE 'host=/nonexistent/%' AS configured;
SELECT * FROM gdpr.rerun();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.rerun(true);
\echo :LAST_ERROR_SQLSTATE
-- NULL means the default: a real run
SELECT * FROM gdpr.rerun(NULL);
\echo :LAST_ERROR_SQLSTATE

-- nothing changed: no state row was made, the mark did not move
SELECT pg_catalog.count(*) = :state_rows_before AS same_rows,
       COALESCE(pg_catalog.max(reflected_id), -1) = :mark_before AS same_mark
  FROM gdpr.state;

-- a failed rerun inside a transaction leaves the transaction usable after
-- ROLLBACK TO SAVEPOINT, and nothing is replayed
BEGIN;
SAVEPOINT s;
SELECT count(*) FROM gdpr.rerun();
ROLLBACK TO SAVEPOINT s;
SELECT 1 AS still_usable;
COMMIT;

-- non-superusers: nothing without a grant
CREATE ROLE regress_gdpr_rerun_user;
SET ROLE regress_gdpr_rerun_user;
SELECT * FROM gdpr.rerun();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.rerun(true);
RESET ROLE;

-- with EXECUTE on gdpr.rerun() only, the call reaches the log database:
-- gdpr's own state and the internal functions need no further grant
GRANT EXECUTE ON FUNCTION gdpr.rerun(boolean) TO regress_gdpr_rerun_user;
SET ROLE regress_gdpr_rerun_user;
SELECT * FROM gdpr.rerun();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM gdpr.rerun(dry_run => true);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- clean up
ALTER SYSTEM RESET gdpr.log_conninfo;
SELECT pg_catalog.pg_reload_conf();
\c
SHOW gdpr.log_conninfo;
REVOKE ALL ON FUNCTION gdpr.rerun(boolean) FROM regress_gdpr_rerun_user;
DROP ROLE regress_gdpr_rerun_user;
