-- opt_ins: softdelete.include_deleted and softdelete.hard_delete count only
-- for the role that set them, and hard_delete only for the transaction that
-- set it, however they were set. Tried as an attacker would: an application
-- role sets them and calls SECURITY DEFINER functions of the table's owner;
-- a role sets them, then becomes another; a session-level value is left for
-- the next transaction on the same connection (a pooler's next client).
-- Connection-time settings (PGOPTIONS, ALTER ROLE ... SET) are tested in
-- test/t/005_connection_settings.pl.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

-- oi_owner owns oi.users; oi_app is the application; oi_other owns an enabled
-- table of its own (so it may opt in at all) but is no admin or reader of
-- oi.users; oi_reader is a member of softdelete_reader.
CREATE ROLE oi_owner;
CREATE ROLE oi_app;
CREATE ROLE oi_other;
CREATE ROLE oi_reader IN ROLE softdelete_reader;
CREATE SCHEMA oi AUTHORIZATION oi_owner;
GRANT USAGE ON SCHEMA oi TO oi_app, oi_other, oi_reader;
GRANT CREATE ON SCHEMA oi TO oi_other;
SET ROLE oi_owner;
CREATE TABLE oi.users (id int PRIMARY KEY, email text NOT NULL);
INSERT INTO oi.users SELECT g, 'u' || g FROM generate_series(1, 20) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('oi.users');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON oi.users TO oi_app, oi_other, oi_reader;
DELETE FROM oi.users WHERE id IN (19, 20);
-- The owner's SECURITY DEFINER functions, callable by everyone.
CREATE FUNCTION oi.count_all() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS 'SELECT count(*) FROM oi.users';
CREATE FUNCTION oi.remove(k int) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog AS $$
DECLARE n bigint;
BEGIN
    DELETE FROM oi.users WHERE id = k;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
CREATE FUNCTION oi.empty() RETURNS void LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog AS 'TRUNCATE oi.users';
-- The owner's own opt-ins, in the functions' SET clauses.
CREATE FUNCTION oi.count_with_deleted() RETURNS bigint LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog SET softdelete.include_deleted = on
    AS 'SELECT count(*) FROM oi.users';
CREATE FUNCTION oi.purge_one(k int) RETURNS void LANGUAGE sql SECURITY DEFINER
    SET search_path = pg_catalog SET softdelete.hard_delete = on
    AS 'DELETE FROM oi.users WHERE id = k';
SET ROLE oi_other;
CREATE TABLE oi.own (id int PRIMARY KEY);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('oi.own');
RESET client_min_messages;
RESET ROLE;

-- Every row as the superuser (RLS does not apply): id, deleted or not.
CREATE FUNCTION oi.rows() RETURNS text LANGUAGE sql AS
$$ SELECT string_agg(id || CASE WHEN deleted_at IS NULL THEN '' ELSE 'd' END, ',' ORDER BY id) FROM oi.users $$;
SELECT oi.rows();

--------------------------------------------------------------------------
-- include_deleted
--------------------------------------------------------------------------

-- A caller's opt-in never widens the owner's definer function: the reader's
-- own query shows the 20 rows, the owner's function the 18 live ones.
SET ROLE oi_reader;
SET softdelete.include_deleted = on;
SELECT count(*) AS reader_sees FROM oi.users;
SELECT oi.count_all() AS definer_sees;
RESET softdelete.include_deleted;
-- Made with set_config() or SET LOCAL, the same.
BEGIN;
SELECT set_config('softdelete.include_deleted', 'on', true) IS NOT NULL AS set;
SELECT count(*) AS reader_sees, oi.count_all() AS definer_sees FROM oi.users;
COMMIT;
-- oi_other may opt in (it owns an enabled table), which does not make it a
-- reader of oi.users: its query is refused (42501), the owner's function
-- still answers with live rows only.
SET ROLE oi_other;
SET softdelete.include_deleted = on;
SELECT count(*) FROM oi.users;
\echo SQLSTATE :SQLSTATE
SELECT oi.count_all() AS definer_sees;
SELECT count(*) AS own_table FROM oi.own;
RESET softdelete.include_deleted;
-- The application may not opt in at all (42501).
SET ROLE oi_app;
SET softdelete.include_deleted = on;
\echo SQLSTATE :SQLSTATE
SELECT set_config('softdelete.include_deleted', 'on', false);
\echo SQLSTATE :SQLSTATE
-- A reader's opt-in left on by SET ROLE is the reader's: the application
-- sees live rows only.
SET ROLE oi_reader;
SET softdelete.include_deleted = on;
SET ROLE oi_app;
SELECT count(*) AS app_sees FROM oi.users;
SET ROLE oi_reader;
RESET softdelete.include_deleted;
-- The owner's function with its own SET clause is the owner's opt-in,
-- whoever calls it.
SET ROLE oi_app;
SELECT oi.count_with_deleted() AS owner_opt_in;
RESET ROLE;
-- And that opt-in ends with the function. Inside it, the owner's PL/pgSQL
-- definer function, called six times, gets a generic plan made for the
-- owner's opt-in; when the SET clause ends, PostgreSQL puts the reader's
-- own "on" back, the same value. The reader's next call of the same
-- function must be planned again: live rows only, 18, not 20.
SET ROLE oi_owner;
CREATE FUNCTION oi.count_cached() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog AS $$ BEGIN RETURN (SELECT count(*) FROM oi.users); END $$;
CREATE FUNCTION oi.count_cached_with_deleted() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog SET softdelete.include_deleted = on AS $$
DECLARE n bigint;
BEGIN
    FOR i IN 1..6 LOOP
        n := oi.count_cached();
    END LOOP;
    RETURN n;
END
$$;
SET ROLE oi_reader;
SET softdelete.include_deleted = on;
SELECT oi.count_cached() AS definer_sees;
SELECT oi.count_cached_with_deleted() AS owner_opt_in;
SELECT oi.count_cached() AS definer_sees_after;
-- The same when the owner's opt-in ends with a savepoint rolled back.
BEGIN;
SAVEPOINT s;
SET LOCAL ROLE oi_owner;
SET LOCAL softdelete.include_deleted = on;
SELECT oi.count_cached() + oi.count_cached() + oi.count_cached() + oi.count_cached()
     + oi.count_cached() + oi.count_cached() AS owner_sees_6_times;
ROLLBACK TO SAVEPOINT s;
SELECT current_user, oi.count_cached() AS definer_sees_after;
COMMIT;
RESET softdelete.include_deleted;
RESET ROLE;

--------------------------------------------------------------------------
-- hard_delete
--------------------------------------------------------------------------

-- (That the application may not ask at all is in admin.sql.)

-- oi_other may ask (it owns an enabled table), but its setting does not
-- reach the owner's definer functions: the DELETE inside is a soft delete
-- (1 row, still there) and the TRUNCATE is refused (55000).
SET ROLE oi_other;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
SELECT oi.remove(1) AS removed;
SELECT oi.empty();
\echo SQLSTATE :SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
SELECT oi.remove(1) AS removed;
COMMIT;
RESET ROLE;
SELECT oi.rows();

-- A session-level value is refused (55P02): a SET at once, a
-- set_config(..., false) when its transaction tries to commit; nothing is
-- left for the next transaction on this connection.
SET ROLE oi_owner;
SET softdelete.hard_delete = on;
\echo SQLSTATE :SQLSTATE
SHOW softdelete.hard_delete;
ALTER ROLE oi_owner SET softdelete.hard_delete = on;
\echo SQLSTATE :SQLSTATE
-- Nor stored FROM CURRENT, the value of a SET LOCAL.
BEGIN;
SET LOCAL softdelete.hard_delete = on;
ALTER ROLE oi_owner SET softdelete.hard_delete FROM CURRENT;
\echo SQLSTATE :SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
ALTER ROLE oi_owner IN DATABASE :"DBNAME" SET softdelete.hard_delete FROM CURRENT;
\echo SQLSTATE :SQLSTATE
ROLLBACK;
SELECT count(*) AS stored FROM pg_db_role_setting WHERE 'softdelete.hard_delete=on' = ANY (setconfig);
DELETE FROM oi.users WHERE id = 2;
BEGIN;
SELECT set_config('softdelete.hard_delete', 'on', false);
-- Even in its own transaction a session-level value does not count: soft.
DELETE FROM oi.users WHERE id = 3;
COMMIT;
\echo SQLSTATE :SQLSTATE
SHOW softdelete.hard_delete;
-- set_config(..., false) then SET LOCAL in one transaction: the first would
-- outlive it, so the COMMIT fails.
BEGIN;
SELECT set_config('softdelete.hard_delete', 'on', false);
SET LOCAL softdelete.hard_delete = on;
COMMIT;
\echo SQLSTATE :SQLSTATE
-- SET LOCAL counts for its transaction only: 4 is removed, and the DELETE in
-- the next transaction on the same connection is soft.
BEGIN;
SET LOCAL softdelete.hard_delete = on;
DELETE FROM oi.users WHERE id = 4;
COMMIT;
SHOW softdelete.hard_delete;
DELETE FROM oi.users WHERE id = 5;
-- A savepoint rolled back takes its SET LOCAL along.
BEGIN;
SAVEPOINT s;
SET LOCAL softdelete.hard_delete = on;
ROLLBACK TO SAVEPOINT s;
DELETE FROM oi.users WHERE id = 6;
COMMIT;
RESET ROLE;
-- 2, 3, 5, 6 soft-deleted; 4 gone.
SELECT oi.rows();

-- The owner's SET LOCAL does not count for another role it becomes: as the
-- application, the DELETE is soft.
BEGIN;
SET LOCAL ROLE oi_owner;
SET LOCAL softdelete.hard_delete = on;
SET LOCAL ROLE oi_app;
DELETE FROM oi.users WHERE id = 7;
COMMIT;
SELECT oi.rows();

-- The owner's function with its own SET clause is the owner's hard delete,
-- whoever calls it: 8 is gone.
SET ROLE oi_app;
SELECT oi.purge_one(8);
RESET ROLE;
SELECT oi.rows();

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'oi.%';
DROP SCHEMA oi CASCADE;
DROP OWNED BY oi_owner, oi_app, oi_other, oi_reader;
DROP ROLE oi_owner, oi_app, oi_other, oi_reader;
