-- zero_cost: for a role that has not opted in to see deleted rows, the
-- visibility policy costs nothing. The planner folds it to "deleted_at IS
-- NULL", so a lookup by a live-only unique key is a plain Index Scan on the
-- partial unique index, with no function called per row, in ad-hoc and in
-- prepared (generic) plans. Prepared statements still follow a change of
-- softdelete.include_deleted and of role between executions.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never
-- Plans without parallel workers, whatever the machine.
SET max_parallel_workers_per_gather = 0;

CREATE ROLE zc_owner;
CREATE ROLE zc_app;
CREATE ROLE zc_reader IN ROLE softdelete_reader;
CREATE SCHEMA zc_s AUTHORIZATION zc_owner;
GRANT USAGE ON SCHEMA zc_s TO zc_app, zc_reader;
SET search_path = zc_s, public;

SET ROLE zc_owner;
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
INSERT INTO users SELECT g, 'u' || g || '@x', 'user ' || g FROM generate_series(1, 100000) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('users');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO zc_app;
GRANT SELECT ON users TO zc_reader;
-- Every hundredth row is deleted, and row 5.
DELETE FROM users WHERE id % 100 = 0 OR id = 5;
ANALYZE users;
RESET ROLE;

-- The unique index on email is now live-only.
SELECT pg_get_indexdef('zc_s.users_email_key'::regclass) AS email_index;

--------------------------------------------------------------------------
-- Ad-hoc statements
--------------------------------------------------------------------------

SET ROLE zc_app;
-- An Index Scan on the partial unique index; no Filter, no function.
EXPLAIN (COSTS OFF) SELECT * FROM users WHERE email = 'u6@x';
-- The verbose plan shows every expression the executor evaluates: no call
-- of softdelete.include_deleted (nor of any other function).
EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM users WHERE email = 'u6@x';
-- A scan of the whole table filters with the plain null test.
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM users;
-- The answers: the live row is found, the deleted one is not.
SELECT id, email FROM users WHERE email = 'u6@x';
SELECT id, email FROM users WHERE email = 'u5@x';
SELECT count(*) AS live_rows FROM users;

--------------------------------------------------------------------------
-- Prepared statements, generic plan
--------------------------------------------------------------------------

SET plan_cache_mode = force_generic_plan;
PREPARE q(text) AS SELECT id, email FROM users WHERE email = $1;
EXECUTE q('u1@x');
EXECUTE q('u2@x');
EXECUTE q('u3@x');
EXECUTE q('u4@x');
EXECUTE q('u5@x');
EXECUTE q('u6@x');
EXECUTE q('u7@x');
-- The cached generic plan: the same Index Scan, a parameter, no function.
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE q('u8@x');
DEALLOCATE q;

-- Without forcing: after the five custom plans the plan cache settles on
-- the generic plan, which is just as plain.
RESET plan_cache_mode;
PREPARE q(text) AS SELECT id, email FROM users WHERE email = $1;
EXECUTE q('u1@x');
EXECUTE q('u2@x');
EXECUTE q('u3@x');
EXECUTE q('u4@x');
EXECUTE q('u5@x');
EXECUTE q('u6@x');
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE q('u8@x');
DEALLOCATE q;
RESET ROLE;

--------------------------------------------------------------------------
-- Prepared statements follow softdelete.include_deleted
--------------------------------------------------------------------------

-- The owner counts row 5 (deleted) as the setting goes off, on, off: 0, 1, 0.
SET ROLE zc_owner;
SET plan_cache_mode = force_generic_plan;
PREPARE c(int) AS SELECT count(*) FROM users WHERE id = $1;
EXECUTE c(5);
EXECUTE c(5);
SET softdelete.include_deleted = on;
EXECUTE c(5);
SET softdelete.include_deleted = off;
EXECUTE c(5);
-- The same with SET LOCAL: back to hidden when the transaction ends.
BEGIN;
SET LOCAL softdelete.include_deleted = on;
EXECUTE c(5);
COMMIT;
EXECUTE c(5);
DEALLOCATE c;
RESET plan_cache_mode;
RESET ROLE;

--------------------------------------------------------------------------
-- Prepared statements follow the role
--------------------------------------------------------------------------

-- The statement is prepared once (by the superuser session) and executed
-- under different roles: each gets its own answer.
SET plan_cache_mode = force_generic_plan;
PREPARE c(int) AS SELECT count(*) FROM users WHERE id = $1;
SET ROLE zc_app;
EXECUTE c(5);
-- A superuser bypasses row level security: the deleted row is there.
RESET ROLE;
EXECUTE c(5);
SET ROLE zc_app;
EXECUTE c(5);
-- The reader opts in and sees the row...
SET ROLE zc_reader;
SET softdelete.include_deleted = on;
EXECUTE c(5);
-- ...the application, with the reader's setting still on, sees live rows
-- only: the opt-in is the reader's, not the application's...
SET ROLE zc_app;
EXECUTE c(5);
\echo SQLSTATE :SQLSTATE
-- ...and the reader again sees it.
SET ROLE zc_reader;
EXECUTE c(5);
RESET softdelete.include_deleted;
EXECUTE c(5);
-- The application's plan is the plain one again.
SET ROLE zc_app;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE c(5);
EXECUTE c(5);
DEALLOCATE c;
RESET plan_cache_mode;
RESET ROLE;

--------------------------------------------------------------------------
-- A DELETE's own cost: the UPDATE it becomes reads the statement's stamp,
-- actor, reason and operation once per execution, as four parameters ($0 to
-- $3 below), and calls nothing per row in its scan or its target list. The
-- planner made them the outputs of an initPlan; the planner hook takes the
-- initPlan out of the plan, so that no executor starts it, and the executor
-- hook gives the parameters their values when the statement starts. The
-- scan computes nothing else: not even the NULL::record the planner leaves
-- in a target list where a SubLink became an initPlan.
--------------------------------------------------------------------------

SET plan_cache_mode = force_generic_plan;
SET ROLE zc_app;
PREPARE d(bigint) AS DELETE FROM users WHERE id = $1;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE d(7);
-- Each execution of the one cached plan has its own operation and reads
-- the actor and the reason as they are then.
BEGIN;
EXECUTE d(7);
SET LOCAL softdelete.actor = 'support desk';
SET LOCAL softdelete.reason = 'ticket 42';
EXECUTE d(8);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE d(9);
-- A DELETE in a WITH query of a SELECT gets them too.
WITH gone AS (DELETE FROM users WHERE id = 10 RETURNING id) SELECT count(*) FROM gone;
RESET ROLE;
SELECT id, deleted_by, delete_reason,
       count(*) OVER (PARTITION BY delete_op) AS rows_of_its_operation,
       delete_op > 0 AS numbered, deleted_at = now() AS stamped_now
  FROM users WHERE id IN (7, 8, 9, 10) ORDER BY id;
SELECT count(DISTINCT op) AS operations, count(*) AS events,
       bool_and(e.op = u.delete_op) AS rows_carry_their_events_op
  FROM softdelete.events e JOIN users u ON u.id = (e.keys->>0)::bigint
 WHERE e.table_name = 'zc_s.users' AND u.id IN (7, 8, 9, 10);
ROLLBACK;
DEALLOCATE d;
RESET ROLE;
RESET plan_cache_mode;

--------------------------------------------------------------------------
-- An UPDATE that names no tombstone column keeps each row's deleted_at and
-- reaches live rows only: the policy's check of the written row, that it
-- is live, cannot fail, and is left out. It stays wherever something else
-- may write deleted_at (a BEFORE UPDATE row trigger, a child table) or the
-- role reaches deleted rows, also for a statement prepared before.
--------------------------------------------------------------------------

SET plan_cache_mode = force_generic_plan;
SET ROLE zc_app;
PREPARE rename(int, text) AS UPDATE users SET name = $2 WHERE id = $1;
EXECUTE rename(11, 'eleven');
-- Row 5 is deleted: not reached.
EXECUTE rename(5, 'five');
-- A reader that opted in reaches deleted rows, and may not write them.
SET ROLE zc_owner;
GRANT UPDATE (name) ON users TO zc_reader;
SET ROLE zc_reader;
PREPARE reader_rename(int, text) AS UPDATE users SET name = $2 WHERE id = $1;
EXECUTE reader_rename(5, 'five');
SET softdelete.include_deleted = on;
EXECUTE reader_rename(5, 'five');
\echo SQLSTATE :SQLSTATE
RESET softdelete.include_deleted;
-- The owner's trigger soft-deletes on the way: refused.
SET ROLE zc_owner;
CREATE FUNCTION zc_s.bury() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.deleted_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER bury BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION zc_s.bury();
SET ROLE zc_app;
EXECUTE rename(12, 'twelve');
\echo SQLSTATE :SQLSTATE
SET ROLE zc_owner;
DROP TRIGGER bury ON users;
-- The same trigger on a child table, the UPDATE through the parent.
CREATE TABLE vip (LIKE users INCLUDING ALL, perk text);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('vip');
RESET client_min_messages;
ALTER TABLE vip INHERIT users;
INSERT INTO vip (id, email, name) VALUES (200001, 'vip@x', 'vip');
GRANT SELECT, UPDATE ON vip TO zc_app;
CREATE TRIGGER bury BEFORE UPDATE ON vip FOR EACH ROW EXECUTE FUNCTION zc_s.bury();
SET ROLE zc_app;
EXECUTE rename(200001, 'very important');
\echo SQLSTATE :SQLSTATE
SET ROLE zc_owner;
DROP TABLE vip;
DROP FUNCTION zc_s.bury();
RESET ROLE;
SELECT id, name, deleted_at IS NULL AS live FROM users WHERE id IN (5, 11, 12) ORDER BY id;
DEALLOCATE rename;
DEALLOCATE reader_rename;
RESET plan_cache_mode;

--------------------------------------------------------------------------
-- A DELETE is estimated as a SELECT with its WHERE is: the live-row test
-- takes the place of the policy's qual, one clause, where a second copy
-- in the WHERE made the planner count the share of live rows twice (on a
-- table of 90% deleted rows, a tenth of the live rows). It stays at the
-- policy's security level: a function in the WHERE sees live rows only.
--------------------------------------------------------------------------

SET ROLE zc_owner;
CREATE TABLE mostly_gone (id int PRIMARY KEY, n int);
INSERT INTO mostly_gone SELECT g, g FROM generate_series(1, 10000) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('mostly_gone', log_events => false);
RESET client_min_messages;
GRANT SELECT, DELETE ON mostly_gone TO zc_app;
DELETE FROM mostly_gone WHERE id <= 9000;
ANALYZE mostly_gone;
-- The planner's row estimate for the scan of mostly_gone in statement.
CREATE FUNCTION zc_s.scan_estimate(statement text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || statement INTO plan;
    RETURN jsonb_path_query_first(plan, '$.**?(@."Relation Name" == "mostly_gone" && @."Node Type" == "Seq Scan")."Plan Rows"');
END
$$;
CREATE FUNCTION zc_s.peek(id int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'the WHERE saw row %', id;
    RETURN id > 8995;
END
$$;
SET ROLE zc_app;
SELECT zc_s.scan_estimate('SELECT * FROM zc_s.mostly_gone WHERE n > 100') AS select_rows,
       zc_s.scan_estimate('DELETE FROM zc_s.mostly_gone WHERE n > 100') AS delete_rows;
BEGIN;
DELETE FROM mostly_gone WHERE zc_s.peek(id) AND id < 9003;
ROLLBACK;
RESET ROLE;
-- Without row security (a superuser) the test is in the WHERE, once.
SELECT zc_s.scan_estimate('SELECT * FROM zc_s.mostly_gone WHERE n > 100 AND deleted_at IS NULL') AS select_rows,
       zc_s.scan_estimate('DELETE FROM zc_s.mostly_gone WHERE n > 100') AS delete_rows;
SET ROLE zc_owner;
DROP TABLE mostly_gone;
DROP FUNCTION zc_s.scan_estimate(text), zc_s.peek(int);
RESET ROLE;

-- Clean up.
RESET search_path;
RESET max_parallel_workers_per_gather;
DELETE FROM softdelete.events WHERE table_name LIKE 'zc\_s.%';
DROP TABLE zc_s.users;
DROP SCHEMA zc_s;
DROP OWNED BY zc_owner, zc_app, zc_reader;
DROP ROLE zc_owner, zc_app, zc_reader;
