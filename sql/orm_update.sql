-- orm_update: the UPDATE statements ORMs send for soft delete and restore.
-- Laravel (SoftDeletes) and Rails (paranoia) soft-delete with
--     UPDATE users SET deleted_at = $1, updated_at = $2 WHERE id = $3
-- and Laravel restores with SET deleted_at = NULL. On an enabled table:
--   * setting deleted_at to any value is a soft delete stamped with the
--     server's own time (the client's clock or a backdated value is ignored),
--     the other assignments (updated_at) are kept, tag UPDATE n;
--   * the application role gets no row-level security error for it;
--   * setting deleted_at to NULL is a restore: admins only (42501 otherwise);
--   * deleted_by / delete_reason alone are admins' to write;
--   * a row inserted already deleted needs an admin.
-- Roles: orm_app (plain table privileges) and orm_owner (owns the table,
-- FORCE RLS applies to it). State is checked as superuser (bypasses RLS).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;

CREATE ROLE orm_owner;
CREATE ROLE orm_app;
CREATE SCHEMA orm AUTHORIZATION orm_owner;
GRANT USAGE ON SCHEMA orm TO orm_app;

SET ROLE orm_owner;
CREATE TABLE orm.users (
    id         bigint PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    name       text NOT NULL,
    updated_at timestamptz NOT NULL
);
INSERT INTO orm.users (id, email, name, updated_at)
SELECT g, 'u' || g || '@example.com', 'user ' || g, '2020-01-01 00:00:00+00'
  FROM generate_series(1, 60) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('orm.users');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON orm.users TO orm_app;
RESET ROLE;

-- psql prints every command tag from here on.
\set QUIET off

-------------------------------------------------------------------------------
-- 1. Laravel / Rails soft delete with now(): UPDATE 1, no RLS error
-------------------------------------------------------------------------------
SET ROLE orm_app;
UPDATE orm.users SET deleted_at = now(), updated_at = now() WHERE id = 1;
-- The row is hidden from the application now.
SELECT count(*) AS visible FROM orm.users WHERE id = 1;
RESET ROLE;
-- Stamped with the server's time; updated_at got the statement's value (the
-- same transaction time, so equal); deleted_by is the role.
SELECT id, deleted_at > now() - interval '1 hour' AS recent,
       updated_at = deleted_at AS updated_at_written, deleted_by, delete_reason
  FROM orm.users WHERE id = 1;
SELECT deleted_at AS stamp_1 FROM orm.users WHERE id = 1 \gset

-- The same statement again, in a later transaction: UPDATE 0, stamp kept.
SET ROLE orm_app;
UPDATE orm.users SET deleted_at = now(), updated_at = now() WHERE id = 1;
RESET ROLE;
SELECT deleted_at = :'stamp_1'::timestamptz AS stamp_unchanged FROM orm.users WHERE id = 1;

-------------------------------------------------------------------------------
-- 2. A backdated literal: the server's time is stored, updated_at is kept
-------------------------------------------------------------------------------
SET ROLE orm_app;
UPDATE orm.users SET deleted_at = '2000-01-01', updated_at = '2024-05-01 10:00:00+00' WHERE id = 2;
-- With RETURNING: the returned row already carries the server's stamp.
UPDATE orm.users SET deleted_at = '2000-01-01 00:00:00+00', updated_at = '2024-05-01 10:00:00+00' WHERE id = 3
RETURNING id, deleted_at > now() - interval '1 hour' AS recent, updated_at, deleted_by;
RESET ROLE;
SELECT id, deleted_at > now() - interval '1 hour' AS recent,
       deleted_at < '2001-01-01' AS backdated, updated_at, deleted_by
  FROM orm.users WHERE id IN (2, 3) ORDER BY id;

-------------------------------------------------------------------------------
-- 3. The ORM's statement with bound parameters (custom plans)
-------------------------------------------------------------------------------
SET ROLE orm_app;
PREPARE laravel_delete(timestamptz, timestamptz, bigint) AS
    update "orm"."users" set "deleted_at" = $1, "updated_at" = $2 where "id" = $3;
EXECUTE laravel_delete('2000-01-01', '2024-05-02 10:00:00+00', 4);
EXECUTE laravel_delete('2000-01-01', '2024-05-02 10:00:00+00', 4);
DEALLOCATE laravel_delete;
RESET ROLE;
SELECT id, deleted_at > now() - interval '1 hour' AS recent, updated_at, deleted_by
  FROM orm.users WHERE id = 4;

-------------------------------------------------------------------------------
-- 4. Bulk soft delete: the tag counts the live rows it marked
-------------------------------------------------------------------------------
SET ROLE orm_app;
-- ids 1..8: 1..4 are already deleted, 5..8 are live: UPDATE 4.
UPDATE orm.users SET deleted_at = now(), updated_at = now() WHERE id BETWEEN 1 AND 8;
RESET ROLE;
SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted,
       count(DISTINCT deleted_at) FILTER (WHERE id BETWEEN 5 AND 8) AS stamps_5_to_8
  FROM orm.users WHERE id BETWEEN 1 AND 8;
SELECT deleted_at = :'stamp_1'::timestamptz AS stamp_1_unchanged FROM orm.users WHERE id = 1;

-------------------------------------------------------------------------------
-- 5. The owner role soft-deletes the same way
-------------------------------------------------------------------------------
SET ROLE orm_owner;
UPDATE orm.users SET deleted_at = now(), updated_at = now() WHERE id = 9
RETURNING id, deleted_at IS NOT NULL AS deleted, deleted_by;
SELECT count(*) AS visible_to_owner FROM orm.users WHERE id = 9;
RESET ROLE;
SELECT id, deleted_at > now() - interval '1 hour' AS recent, deleted_by FROM orm.users WHERE id = 9;

-------------------------------------------------------------------------------
-- 6. A reason sent along with the soft delete is kept; actor/reason settings
-------------------------------------------------------------------------------
SET ROLE orm_app;
UPDATE orm.users SET deleted_at = now(), delete_reason = 'closed by user' WHERE id = 10;
SET softdelete.actor = 'user-42';
SET softdelete.reason = 'gdpr request';
UPDATE orm.users SET deleted_at = now(), updated_at = now() WHERE id = 11;
RESET softdelete.actor;
RESET softdelete.reason;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by, delete_reason
  FROM orm.users WHERE id IN (10, 11) ORDER BY id;

-------------------------------------------------------------------------------
-- 7. Restore (SET deleted_at = NULL): refused for the application role...
-------------------------------------------------------------------------------
SET ROLE orm_app;
UPDATE orm.users SET deleted_at = NULL WHERE id = 1;
\echo SQLSTATE :SQLSTATE
-- Laravel's restore() sends updated_at too. A statement that writes other
-- columns as well is what an ORM's full-row save sends, so for a non-admin it
-- is a plain update of live rows: the deleted row stays deleted (UPDATE 0).
UPDATE orm.users SET deleted_at = NULL, updated_at = now() WHERE id = 1;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS still_deleted FROM orm.users WHERE id = 1;

-- ...and done by the owner (an admin): the row is back, for everyone, with
-- its deletion record cleared and updated_at as sent.
SET ROLE orm_owner;
UPDATE orm.users SET deleted_at = NULL, updated_at = '2024-06-01 12:00:00+00' WHERE id = 1;
SELECT id, name, deleted_at, deleted_by, delete_reason, updated_at FROM orm.users WHERE id = 1;
-- Restoring several at once: ids 10 and 11 are deleted, UPDATE 2.
UPDATE orm.users SET deleted_at = NULL WHERE id IN (10, 11);
RESET ROLE;
SET ROLE orm_app;
SELECT id, deleted_at IS NULL AS live, deleted_by, delete_reason
  FROM orm.users WHERE id IN (1, 10, 11) ORDER BY id;
RESET ROLE;

-------------------------------------------------------------------------------
-- 8. The deletion record (deleted_by, delete_reason) is admins' to write
-------------------------------------------------------------------------------
SET ROLE orm_app;
UPDATE orm.users SET deleted_by = 'someone' WHERE id = 12;
\echo SQLSTATE :SQLSTATE
UPDATE orm.users SET delete_reason = 'because' WHERE id = 12;
\echo SQLSTATE :SQLSTATE
UPDATE orm.users SET name = 'renamed', delete_reason = 'because' WHERE id = 12;
\echo SQLSTATE :SQLSTATE
-- An ordinary update of other columns is just that.
UPDATE orm.users SET name = 'renamed' WHERE id = 12;
RESET ROLE;
SELECT id, name, deleted_at IS NULL AS live, deleted_by, delete_reason FROM orm.users WHERE id = 12;
-- The owner corrects the reason of a deleted row (it opts in to see it).
SET ROLE orm_owner;
SET softdelete.include_deleted = on;
UPDATE orm.users SET delete_reason = 'duplicate account' WHERE id = 9;
RESET softdelete.include_deleted;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by, delete_reason FROM orm.users WHERE id = 9;

-------------------------------------------------------------------------------
-- 9. INSERT of a row that is already deleted: admins only
-------------------------------------------------------------------------------
SET ROLE orm_app;
INSERT INTO orm.users (id, email, name, updated_at, deleted_at)
VALUES (101, 'u101@example.com', 'imported', now(), '2001-01-01');
\echo SQLSTATE :SQLSTATE
-- An INSERT that names deleted_at but leaves it NULL (ORMs insert every
-- column) is an ordinary insert.
INSERT INTO orm.users (id, email, name, updated_at, deleted_at, deleted_by, delete_reason)
VALUES (102, 'u102@example.com', 'new', now(), NULL, NULL, NULL);
RESET ROLE;
SET ROLE orm_owner;
INSERT INTO orm.users (id, email, name, updated_at, deleted_at)
VALUES (101, 'u101@example.com', 'imported', now(), '2001-01-01');
-- Inserted deleted: hidden from the owner too.
SELECT count(*) AS visible_to_owner FROM orm.users WHERE id = 101;
RESET ROLE;
SELECT id, name, deleted_at IS NOT NULL AS deleted FROM orm.users WHERE id IN (101, 102) ORDER BY id;

-------------------------------------------------------------------------------
-- 10. PREPARE p(timestamptz, bigint): value = soft delete, NULL = restore.
--     More than five executions, so the plan cache considers a generic
--     plan; every execution must still do what its parameter says.
-------------------------------------------------------------------------------
SET ROLE orm_app;
PREPARE p(timestamptz, bigint) AS UPDATE orm.users SET deleted_at = $1 WHERE id = $2;
EXECUTE p(now(), 20);
EXECUTE p(now(), 21);
EXECUTE p('2000-01-01', 22);
EXECUTE p(now(), 23);
EXECUTE p(now(), 24);
EXECUTE p(now(), 25);
EXECUTE p('2000-01-01', 26);
EXECUTE p(now(), 26);
-- NULL from the application role: a restore, which reaches no row the
-- application can see (deleted rows are hidden from it): UPDATE 0.
EXECUTE p(NULL, 20);
\echo SQLSTATE :SQLSTATE
EXECUTE p(now(), 27);
RESET ROLE;
SELECT count(*) FILTER (WHERE deleted_at > now() - interval '1 hour') AS recently_deleted,
       count(*) FILTER (WHERE deleted_at IS NULL) AS live
  FROM orm.users WHERE id BETWEEN 20 AND 27;
-- The owner restores with the same statement, then deletes again.
SET ROLE orm_owner;
EXECUTE p(NULL, 20);
EXECUTE p(NULL, 21);
EXECUTE p(NULL, 22);
EXECUTE p(NULL, 23);
EXECUTE p(NULL, 24);
EXECUTE p(NULL, 25);
-- 25 is live now: nothing to restore, a plain update (UPDATE 1); it stays live.
EXECUTE p(NULL, 25);
EXECUTE p('2000-01-01', 25);
EXECUTE p(NULL, 26);
RESET ROLE;
SELECT id, deleted_at IS NULL AS live, deleted_at > now() - interval '1 hour' AS recent
  FROM orm.users WHERE id BETWEEN 20 AND 27 ORDER BY id;
DEALLOCATE p;

-- Forced generic plans (plan_cache_mode = force_generic_plan): a generic plan
-- cannot see whether $1 is NULL, yet each execution must still do what its
-- parameter says.
SET plan_cache_mode = force_generic_plan;
SET ROLE orm_app;
PREPARE p(timestamptz, bigint) AS UPDATE orm.users SET deleted_at = $1 WHERE id = $2;
EXECUTE p(now(), 30);
EXECUTE p('2000-01-01', 31);
-- A restore by the application role: nothing it can see to restore here too.
EXECUTE p(NULL, 30);
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SET ROLE orm_owner;
-- Restores 30 (UPDATE 1); 32 is live: a plain update (UPDATE 1) that leaves it live.
EXECUTE p(NULL, 30);
EXECUTE p(NULL, 32);
RESET ROLE;
DEALLOCATE p;
RESET plan_cache_mode;
SELECT id, deleted_at IS NULL AS live, deleted_at > now() - interval '1 hour' AS recent
  FROM orm.users WHERE id BETWEEN 30 AND 32 ORDER BY id;

-------------------------------------------------------------------------------
-- 11. Full-row saves: Django's Model.save(), Hibernate and Entity Framework
--     write every mapped column, deleted_at = NULL included, on a live row.
--     That changes nothing about the row's deletion state: it is an ordinary
--     update, for the application role and for the owner alike (Django
--     falls back to INSERT when the UPDATE reports 0 rows).
-------------------------------------------------------------------------------
SET ROLE orm_app;
UPDATE orm.users SET email = 'u40@example.com', name = 'saved by app', updated_at = now(),
                     deleted_at = NULL
 WHERE id = 40;
RESET ROLE;
SET ROLE orm_owner;
UPDATE orm.users SET email = 'u41@example.com', name = 'saved by owner', updated_at = now(),
                     deleted_at = NULL
 WHERE id = 41;
RESET ROLE;
SELECT id, name, deleted_at IS NULL AS live FROM orm.users WHERE id IN (40, 41) ORDER BY id;

-------------------------------------------------------------------------------
-- 12. deleted_at is decided per row: an expression that is NULL for a row
--     does not delete that row.
-------------------------------------------------------------------------------
\set QUIET on
SET ROLE orm_app;
UPDATE orm.users SET deleted_at = CASE WHEN id = 50 THEN now() END WHERE id IN (50, 51);
RESET ROLE;
\set QUIET off
SELECT id, deleted_at IS NULL AS live FROM orm.users WHERE id IN (50, 51) ORDER BY id;

\set QUIET on

-- Clean up.
SELECT 'orm.users'::regclass::oid AS users_oid \gset
SET client_min_messages = warning;
DROP SCHEMA orm CASCADE;
RESET client_min_messages;
DROP OWNED BY orm_app;
DROP ROLE orm_app;
DROP OWNED BY orm_owner;
DROP ROLE orm_owner;
