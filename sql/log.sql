--
-- The log side of gdpr that needs no log database: gdpr.log_status,
-- gdpr.ship_log() without or with an unreachable gdpr.log_conninfo, and who
-- may call it.  Shipping itself is tested by the TAP tests and the
-- rerun_vs_rerun isolation spec.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS gdpr;
RESET client_min_messages;

-- the view's shape: one row, four columns
SELECT attname, pg_catalog.format_type(atttypid, atttypmod)
  FROM pg_catalog.pg_attribute
 WHERE attrelid = 'gdpr.log_status'::regclass AND attnum > 0
 ORDER BY attnum;
SELECT count(*) FROM gdpr.log_status;

-- the result type of gdpr.ship_log()
SELECT pg_catalog.pg_get_function_result('gdpr.ship_log()'::regprocedure);

-- events queued by earlier tests are left alone: count from here
SELECT queued AS queued_before FROM gdpr.log_status \gset

-- queue two events by hand (the triggers do this for registered tables)
INSERT INTO gdpr.queue (kind, table_name, key)
VALUES ('delete', 'public.regress_log_person', '1'),
       ('anonymise', 'public.regress_log_person', '2');
SELECT queued - :queued_before AS queued_here,
       oldest_queued_at IS NOT NULL AS has_oldest
  FROM gdpr.log_status;

-- without gdpr.log_conninfo, ship_log() is an error and the events stay queued
SHOW gdpr.log_conninfo;
SELECT gdpr.ship_log();
\echo :LAST_ERROR_SQLSTATE
SELECT queued - :queued_before AS queued_here FROM gdpr.log_status;

-- a log database that cannot be reached: a clean ERROR (SQLSTATE 08001)
-- that never shows the connection string (its password least of all)
ALTER SYSTEM SET gdpr.log_conninfo = 'host=/nonexistent/gdpr port=1 dbname=nowhere user=nobody password=regress-secret-pw';
SELECT pg_catalog.pg_reload_conf();
\c
SELECT pg_catalog.current_setting('gdpr.log_conninfo') LIKE 'host=/nonexistent/%' AS configured;
SELECT gdpr.ship_log();
\echo :LAST_ERROR_SQLSTATE
-- ... and nothing left the queue
SELECT queued - :queued_before AS queued_here FROM gdpr.log_status;
-- ... also inside a transaction that goes on after the failure
BEGIN;
SAVEPOINT s;
SELECT gdpr.ship_log();
ROLLBACK TO SAVEPOINT s;
SELECT queued - :queued_before AS queued_here FROM gdpr.log_status;
COMMIT;
-- the failure of a call is not recorded in gdpr.state: it is the caller's error
SELECT last_error FROM gdpr.log_status;

-- non-superusers: nothing without a grant
CREATE ROLE regress_gdpr_log_user;
SET ROLE regress_gdpr_log_user;
SELECT gdpr.ship_log();
SELECT * FROM gdpr.log_status;
SELECT count(*) FROM gdpr.queue;
SELECT count(*) FROM gdpr.queued_events;
-- the connection string is for superusers' eyes only (SQLSTATE only: 16
-- reworded the message)
\set VERBOSITY sqlstate
SHOW gdpr.log_conninfo;
\set VERBOSITY default
RESET ROLE;

-- with EXECUTE granted, ship_log() reads and writes gdpr's own tables as the
-- extension's owner: the call gets as far as the log database (no
-- "permission denied for table queue")
GRANT EXECUTE ON FUNCTION gdpr.ship_log() TO regress_gdpr_log_user;
GRANT SELECT ON gdpr.log_status TO regress_gdpr_log_user;
SET ROLE regress_gdpr_log_user;
SELECT gdpr.ship_log();
\echo :LAST_ERROR_SQLSTATE
SELECT queued - :queued_before AS queued_here FROM gdpr.log_status;
-- the setting stays out of reach
ALTER SYSTEM SET gdpr.log_conninfo = '';
RESET ROLE;

-- clean up
ALTER SYSTEM RESET gdpr.log_conninfo;
SELECT pg_catalog.pg_reload_conf();
\c
SHOW gdpr.log_conninfo;
DELETE FROM gdpr.queue WHERE table_name = 'public.regress_log_person';
SELECT queued - :queued_before AS queued_here FROM gdpr.log_status;
REVOKE ALL ON gdpr.log_status FROM regress_gdpr_log_user;
REVOKE ALL ON FUNCTION gdpr.ship_log() FROM regress_gdpr_log_user;
DROP ROLE regress_gdpr_log_user;
