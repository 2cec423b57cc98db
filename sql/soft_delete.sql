-- soft_delete: every way an application writes a DELETE against an enabled
-- table becomes a soft delete. For each shape the test checks:
--   * the command tag reports the true number of rows (DELETE n / MERGE n),
--   * RETURNING gives back the soft-deleted rows, with deleted_at set,
--   * the rows are still in the table (checked as superuser, who bypasses
--     RLS) with deleted_at, deleted_by and delete_reason filled in,
--   * deleting the same row again affects 0 rows and does not move its stamp.
-- Statements run as an application role (sdel_app: plain table privileges)
-- and as the owner role (sdel_owner: owns the table, FORCE RLS applies).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;

CREATE ROLE sdel_owner;
CREATE ROLE sdel_app;
CREATE ROLE sdel_deleter;  -- may DELETE, but not UPDATE
CREATE SCHEMA sdel AUTHORIZATION sdel_owner;
GRANT USAGE ON SCHEMA sdel TO sdel_app, sdel_deleter;

SET ROLE sdel_owner;
CREATE TABLE sdel.users (
    id    bigint PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name  text NOT NULL
);
INSERT INTO sdel.users (id, email, name)
SELECT g, 'u' || g || '@example.com', 'user ' || g FROM generate_series(1, 50) g;
-- Blocked e-mail addresses, for DELETE ... USING and MERGE.
CREATE TABLE sdel.banned (email text NOT NULL);
-- A view made before enable() (it does not know the new columns).
CREATE VIEW sdel.users_old AS SELECT * FROM sdel.users;
SET client_min_messages = warning;
SELECT action, object FROM softdelete.enable('sdel.users') ORDER BY 1, 2;
RESET client_min_messages;
-- Views made after enable(): simple, security_barrier, security_invoker.
CREATE VIEW sdel.users_v AS SELECT * FROM sdel.users;
CREATE VIEW sdel.users_sb WITH (security_barrier) AS SELECT * FROM sdel.users WHERE id > 0;
CREATE VIEW sdel.users_si WITH (security_invoker) AS SELECT * FROM sdel.users;
GRANT SELECT, INSERT, UPDATE, DELETE
   ON sdel.users, sdel.users_old, sdel.users_v, sdel.users_sb, sdel.users_si TO sdel_app;
GRANT SELECT ON sdel.banned TO sdel_app;
GRANT SELECT, DELETE ON sdel.users TO sdel_deleter;
RESET ROLE;

-- From here on psql prints every command tag (pg_regress runs psql quietly).
\set QUIET off

-------------------------------------------------------------------------------
-- 1. Plain DELETE by the application role
-------------------------------------------------------------------------------
SET ROLE sdel_app;
-- Tag DELETE 1; RETURNING shows the row as deleted, stamped with the
-- transaction time and the acting role.
BEGIN;
DELETE FROM sdel.users WHERE id = 1
RETURNING id, email, deleted_at IS NOT NULL AS deleted, deleted_at = now() AS at_xact_time, deleted_by, delete_reason;
COMMIT;
-- The row is gone for the application...
SELECT count(*) AS visible FROM sdel.users WHERE id = 1;
RESET ROLE;
-- ...but still in the table, marked deleted (superuser sees everything).
SELECT id, email, deleted_at IS NOT NULL AS deleted, deleted_by, delete_reason
  FROM sdel.users WHERE id = 1;
SELECT deleted_at AS stamp_1 FROM sdel.users WHERE id = 1 \gset

-- A second DELETE of the same row, in a later transaction and by another
-- actor, finds nothing (DELETE 0) and leaves the first stamp and actor alone.
SET ROLE sdel_app;
SET softdelete.actor = 'someone-else';
DELETE FROM sdel.users WHERE id = 1;
DELETE FROM sdel.users WHERE id = 1 RETURNING id;
RESET softdelete.actor;
RESET ROLE;
SELECT deleted_at = :'stamp_1'::timestamptz AS stamp_unchanged, deleted_by
  FROM sdel.users WHERE id = 1;

-- Multi-row: ids 1..4, of which 1 is already deleted: DELETE 3, exactly.
SET ROLE sdel_app;
DELETE FROM sdel.users WHERE id BETWEEN 1 AND 4;
RESET ROLE;
SELECT count(*) AS deleted_rows FROM sdel.users WHERE id BETWEEN 1 AND 4 AND deleted_at IS NOT NULL;
-- and all three in one statement share one stamp.
SELECT count(DISTINCT deleted_at) AS stamps FROM sdel.users WHERE id BETWEEN 2 AND 4;

-- Multi-row with RETURNING: three rows back, tag DELETE 3.
SET ROLE sdel_app;
DELETE FROM sdel.users WHERE id IN (5, 6, 7)
RETURNING id, deleted_at IS NOT NULL AS deleted, deleted_by;
-- Nothing left to delete there: DELETE 0, no row returned.
DELETE FROM sdel.users WHERE id IN (5, 6, 7) RETURNING id;
RESET ROLE;

-------------------------------------------------------------------------------
-- 2. softdelete.actor and softdelete.reason fill deleted_by / delete_reason
-------------------------------------------------------------------------------
SET ROLE sdel_app;
SET softdelete.actor = 'user-42';
SET softdelete.reason = 'gdpr request';
DELETE FROM sdel.users WHERE id = 8 RETURNING id, deleted_by, delete_reason;
RESET softdelete.actor;
RESET softdelete.reason;
-- Reset: back to the role name and no reason.
DELETE FROM sdel.users WHERE id = 9 RETURNING id, deleted_by, delete_reason;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by, delete_reason
  FROM sdel.users WHERE id IN (8, 9) ORDER BY id;

-------------------------------------------------------------------------------
-- 3. The owner role: FORCE RLS applies, its DELETE is a soft delete too
-------------------------------------------------------------------------------
SET ROLE sdel_owner;
DELETE FROM sdel.users WHERE id IN (10, 11) RETURNING id, deleted_at IS NOT NULL AS deleted, deleted_by;
SELECT count(*) AS visible_to_owner FROM sdel.users WHERE id IN (10, 11);
DELETE FROM sdel.users WHERE id IN (10, 11);
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by
  FROM sdel.users WHERE id IN (10, 11) ORDER BY id;

-------------------------------------------------------------------------------
-- 4. Through views: made before enable(), simple, security_barrier,
--    security_invoker
-------------------------------------------------------------------------------
SET ROLE sdel_app;
DELETE FROM sdel.users_old WHERE id = 38 RETURNING id, name;
DELETE FROM sdel.users_old WHERE id = 38;
DELETE FROM sdel.users_v WHERE id = 12 RETURNING id, deleted_at IS NOT NULL AS deleted, deleted_by;
DELETE FROM sdel.users_sb WHERE id IN (13, 14) RETURNING id, deleted_at IS NOT NULL AS deleted, deleted_by;
DELETE FROM sdel.users_si WHERE id = 15 RETURNING id, deleted_at IS NOT NULL AS deleted, deleted_by;
-- Again through each view: nothing left to delete.
DELETE FROM sdel.users_v WHERE id = 12;
DELETE FROM sdel.users_sb WHERE id IN (13, 14);
DELETE FROM sdel.users_si WHERE id = 15;
-- Neither the views nor the table show them any more.
SELECT (SELECT count(*) FROM sdel.users_v   WHERE id BETWEEN 12 AND 15) AS via_v,
       (SELECT count(*) FROM sdel.users_sb  WHERE id BETWEEN 12 AND 15) AS via_sb,
       (SELECT count(*) FROM sdel.users_si  WHERE id BETWEEN 12 AND 15) AS via_si,
       (SELECT count(*) FROM sdel.users_old WHERE id = 38) AS via_old,
       (SELECT count(*) FROM sdel.users    WHERE id IN (12, 13, 14, 15, 38)) AS via_table;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by
  FROM sdel.users WHERE id IN (12, 13, 14, 15, 38) ORDER BY id;

-------------------------------------------------------------------------------
-- 5. DELETE in a CTE, the shape PostgREST sends
-------------------------------------------------------------------------------
SET ROLE sdel_app;
WITH pgrst_source AS (
    DELETE FROM sdel.users WHERE sdel.users.id = 16 RETURNING sdel.users.*
)
SELECT '' AS total_result_set,
       pg_catalog.count(_postgrest_t) AS page_total,
       coalesce(json_agg(json_build_object('id', _postgrest_t.id,
                                           'deleted', _postgrest_t.deleted_at IS NOT NULL,
                                           'deleted_by', _postgrest_t.deleted_by)), '[]') AS body
  FROM (SELECT * FROM pgrst_source) _postgrest_t;
-- A multi-row CTE delete: the outer query sees the three marked rows.
WITH d AS (DELETE FROM sdel.users WHERE id IN (16, 17, 18, 19) RETURNING *)
SELECT count(*) AS deleted, bool_and(deleted_at IS NOT NULL) AS all_stamped FROM d;
-- Repeated: page_total 0, body [].
WITH pgrst_source AS (
    DELETE FROM sdel.users WHERE sdel.users.id = 16 RETURNING sdel.users.*
)
SELECT pg_catalog.count(_postgrest_t) AS page_total,
       coalesce(json_agg(_postgrest_t.id), '[]') AS body
  FROM (SELECT * FROM pgrst_source) _postgrest_t;
RESET ROLE;
SELECT count(*) AS deleted_rows FROM sdel.users WHERE id BETWEEN 16 AND 19 AND deleted_at IS NOT NULL;

-------------------------------------------------------------------------------
-- 6. DELETE ... USING
-------------------------------------------------------------------------------
SET ROLE sdel_owner;
-- u21 is listed twice: it must still count once.
INSERT INTO sdel.banned VALUES ('u20@example.com'), ('u21@example.com'), ('u21@example.com'),
                               ('u1@example.com');  -- u1 is already deleted
RESET ROLE;
SET ROLE sdel_app;
DELETE FROM sdel.users u USING sdel.banned b WHERE b.email = u.email
RETURNING u.id, u.deleted_at IS NOT NULL AS deleted, u.deleted_by;
DELETE FROM sdel.users u USING sdel.banned b WHERE b.email = u.email;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by
  FROM sdel.users WHERE id IN (20, 21) ORDER BY id;

-------------------------------------------------------------------------------
-- 7. MERGE ... WHEN MATCHED THEN DELETE
-------------------------------------------------------------------------------
SET ROLE sdel_app;
-- ids 22 and 23 are live, 1 is deleted (invisible, so NOT MATCHED), 999 does
-- not exist: MERGE 2.
MERGE INTO sdel.users u
USING (VALUES (22), (23), (1), (999)) AS s(id) ON u.id = s.id
WHEN MATCHED THEN DELETE;
-- The same MERGE again: the rows are gone for the application, MERGE 0.
MERGE INTO sdel.users u
USING (VALUES (22), (23)) AS s(id) ON u.id = s.id
WHEN MATCHED THEN DELETE;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by
  FROM sdel.users WHERE id IN (22, 23) ORDER BY id;
SELECT deleted_at AS stamp_22 FROM sdel.users WHERE id = 22 \gset
-- The owner merges too.
SET ROLE sdel_owner;
MERGE INTO sdel.users u
USING (VALUES (22), (24)) AS s(id) ON u.id = s.id
WHEN MATCHED THEN DELETE;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by
  FROM sdel.users WHERE id IN (22, 24) ORDER BY id;
SELECT deleted_at = :'stamp_22'::timestamptz AS stamp_22_unchanged FROM sdel.users WHERE id = 22;
-- A source that matches one row twice fails with MERGE's own 21000, as on
-- a table that is not enabled, and changes nothing (merge_delete tests the
-- MERGE forms further).
SET ROLE sdel_app;
MERGE INTO sdel.users u
USING (VALUES (25), (26), (26)) AS s(id) ON u.id = s.id
WHEN MATCHED THEN DELETE;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM sdel.users WHERE id IN (25, 26) ORDER BY id;

-------------------------------------------------------------------------------
-- 8. From PL/pgSQL: GET DIAGNOSTICS ROW_COUNT and FOUND see the true count
-------------------------------------------------------------------------------
SET ROLE sdel_owner;
CREATE FUNCTION sdel.delete_users(first_id bigint, last_id bigint) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM sdel.users WHERE id BETWEEN first_id AND last_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN format('row_count=%s found=%s', n, FOUND);
END
$$;
CREATE FUNCTION sdel.delete_user_returning(user_id bigint) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    who text;
BEGIN
    DELETE FROM sdel.users WHERE id = user_id RETURNING deleted_by INTO who;
    RETURN format('found=%s deleted_by=%s', FOUND, coalesce(who, '<none>'));
END
$$;
GRANT EXECUTE ON FUNCTION sdel.delete_users(bigint, bigint), sdel.delete_user_returning(bigint) TO sdel_app;
RESET ROLE;
SET ROLE sdel_app;
SELECT sdel.delete_users(25, 25);
SELECT sdel.delete_users(25, 25);
-- 25 is already deleted: 26..28 count, 3 rows.
SELECT sdel.delete_users(25, 28);
SELECT sdel.delete_users(25, 28);
SELECT sdel.delete_user_returning(29);
SELECT sdel.delete_user_returning(29);
RESET ROLE;
SELECT count(*) AS deleted_rows FROM sdel.users WHERE id BETWEEN 25 AND 29 AND deleted_at IS NOT NULL;

-------------------------------------------------------------------------------
-- 9. Prepared statement with a parameter (custom plans, then a generic one)
-------------------------------------------------------------------------------
SET ROLE sdel_app;
PREPARE del_user(bigint) AS
    DELETE FROM sdel.users WHERE id = $1 RETURNING id, deleted_at IS NOT NULL AS deleted, deleted_by;
EXECUTE del_user(30);
EXECUTE del_user(30);
EXECUTE del_user(31);
EXECUTE del_user(32);
EXECUTE del_user(33);
EXECUTE del_user(34);
EXECUTE del_user(35);
EXECUTE del_user(35);
-- With an actor set after PREPARE: the plan reads the setting at execution.
SET softdelete.actor = 'user-7';
EXECUTE del_user(36);
RESET softdelete.actor;
EXECUTE del_user(37);
DEALLOCATE del_user;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by
  FROM sdel.users WHERE id BETWEEN 30 AND 37 ORDER BY id;

-------------------------------------------------------------------------------
-- 10. DELETE ... WHERE CURRENT OF a cursor
-------------------------------------------------------------------------------
SET ROLE sdel_app;
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM sdel.users WHERE id IN (41, 42) ORDER BY id FOR UPDATE;
FETCH c;
DELETE FROM sdel.users WHERE CURRENT OF c RETURNING id, deleted_at IS NOT NULL AS deleted;
-- The same cursor position again: already deleted, DELETE 0.
DELETE FROM sdel.users WHERE CURRENT OF c;
FETCH c;
DELETE FROM sdel.users WHERE CURRENT OF c;
COMMIT;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by
  FROM sdel.users WHERE id IN (41, 42) ORDER BY id;

-------------------------------------------------------------------------------
-- 11. A rolled-back soft delete leaves the row live
-------------------------------------------------------------------------------
SET ROLE sdel_app;
BEGIN;
SAVEPOINT before_delete;
DELETE FROM sdel.users WHERE id = 43;
-- Invisible in the deleting transaction itself...
SELECT count(*) AS visible FROM sdel.users WHERE id = 43;
ROLLBACK TO SAVEPOINT before_delete;
-- ...and back after the rollback.
SELECT count(*) AS visible FROM sdel.users WHERE id = 43;
COMMIT;
RESET ROLE;
SELECT id, deleted_at IS NULL AS live, deleted_by FROM sdel.users WHERE id = 43;

-------------------------------------------------------------------------------
-- 12. A role with DELETE but no UPDATE privilege: deleting is what it was
--     granted, so every DELETE shape works for it (the soft delete is the
--     extension's business, not an UPDATE the role asked for).
-------------------------------------------------------------------------------
SET ROLE sdel_deleter;
DELETE FROM sdel.users WHERE id = 44 RETURNING id, deleted_at IS NOT NULL AS deleted, deleted_by;
MERGE INTO sdel.users u
USING (VALUES (45)) AS s(id) ON u.id = s.id
WHEN MATCHED THEN DELETE;
-- It still cannot UPDATE.
UPDATE sdel.users SET name = 'x' WHERE id = 46;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by, name
  FROM sdel.users WHERE id IN (44, 45, 46) ORDER BY id;

-------------------------------------------------------------------------------
-- 13. A soft delete writes the tombstone columns as an UPDATE of them would:
--     a trigger on UPDATE OF deleted_at fires, one on UPDATE OF name does
--     not. (PostgreSQL also tells each index whether the UPDATE changed its
--     columns, from the same record.)
-------------------------------------------------------------------------------
SET ROLE sdel_owner;
CREATE FUNCTION sdel.say_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE '% fired for row %', TG_NAME, NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER on_deleted_at AFTER UPDATE OF deleted_at ON sdel.users
    FOR EACH ROW EXECUTE FUNCTION sdel.say_written();
CREATE TRIGGER on_delete_op AFTER UPDATE OF delete_op ON sdel.users
    FOR EACH ROW EXECUTE FUNCTION sdel.say_written();
CREATE TRIGGER on_name AFTER UPDATE OF name ON sdel.users
    FOR EACH ROW EXECUTE FUNCTION sdel.say_written();
RESET ROLE;
SET ROLE sdel_app;
DELETE FROM sdel.users WHERE id = 47;
RESET ROLE;
SET ROLE sdel_owner;
DROP TRIGGER on_deleted_at ON sdel.users;
DROP TRIGGER on_delete_op ON sdel.users;
DROP TRIGGER on_name ON sdel.users;
RESET ROLE;

-------------------------------------------------------------------------------
-- Totals: nothing was removed for good; exactly the deleted rows are marked.
-------------------------------------------------------------------------------
SELECT count(*) AS total_rows,
       count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted_rows,
       count(*) FILTER (WHERE deleted_at IS NULL) AS live_rows
  FROM sdel.users;
SET ROLE sdel_app;
SELECT array_agg(id ORDER BY id) AS visible_to_app FROM sdel.users;
RESET ROLE;

\set QUIET on

-- Clean up (the configuration row goes with the table).
SELECT 'sdel.users'::regclass::oid AS users_oid \gset
SET client_min_messages = warning;
DROP SCHEMA sdel CASCADE;
RESET client_min_messages;
DROP OWNED BY sdel_deleter;
DROP ROLE sdel_deleter;
DROP OWNED BY sdel_app;
DROP ROLE sdel_app;
DROP OWNED BY sdel_owner;
DROP ROLE sdel_owner;
