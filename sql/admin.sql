-- admin: who may see deleted rows (softdelete.include_deleted), who may bring
-- them back (restore, SET deleted_at = NULL) and who may remove them for good
-- (hard_delete(), SET LOCAL softdelete.hard_delete). Every visibility check
-- runs as a non-superuser role: superusers bypass row level security.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
-- Context lines name internal PL/pgSQL lines: keep the output to the error.
\set SHOW_CONTEXT never

-- Four roles:
--   admin_owner   owns the tables (an admin of them by ownership)
--   admin_app     the application: DML grants only
--   admin_reader  member of softdelete_reader, may SELECT
--   admin_admin   member of softdelete_admin, with the table privileges it needs
CREATE ROLE admin_owner;
CREATE ROLE admin_app;
CREATE ROLE admin_reader IN ROLE softdelete_reader;
CREATE ROLE admin_admin IN ROLE softdelete_admin;
CREATE SCHEMA admin_s AUTHORIZATION admin_owner;
GRANT USAGE ON SCHEMA admin_s TO admin_app, admin_reader, admin_admin;
SET search_path = admin_s, public;

-- The owner creates and enables its tables.
SET ROLE admin_owner;
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
INSERT INTO users SELECT g, 'u' || g || '@x', 'user ' || g FROM generate_series(1, 50) g;
CREATE TABLE members (org int, id int, name text, PRIMARY KEY (org, id));
INSERT INTO members VALUES (1, 7, 'ann'), (1, 8, 'bob'), (2, 7, 'cid');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('users');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('members');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, members TO admin_app;
GRANT SELECT ON users, members TO admin_reader;
GRANT SELECT, UPDATE, DELETE ON users, members TO admin_admin;

-- Soft-delete a few rows as the application.
SET ROLE admin_app;
DELETE FROM users WHERE id IN (40, 41, 42, 43);
DELETE FROM members WHERE (org, id) IN ((1, 7), (1, 8));
SELECT count(*) AS app_sees FROM users;

--------------------------------------------------------------------------
-- softdelete.include_deleted
--------------------------------------------------------------------------

-- Off (the default): nobody subject to RLS sees deleted rows, not even the
-- owner (FORCE ROW LEVEL SECURITY).
SET ROLE admin_owner;
SELECT count(*) AS owner_sees_by_default FROM users;
SET ROLE admin_reader;
SELECT count(*) AS reader_sees_by_default FROM users;

-- On: the reader, the admin and the owner see the deleted rows too.
SET ROLE admin_reader;
SET softdelete.include_deleted = on;
SELECT count(*) AS reader_sees, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM users;
RESET softdelete.include_deleted;
SET ROLE admin_admin;
SET softdelete.include_deleted = on;
SELECT count(*) AS admin_sees, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM users;
RESET softdelete.include_deleted;
SET ROLE admin_owner;
SET softdelete.include_deleted = on;
SELECT count(*) AS owner_sees, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM users;
SELECT id, deleted_by FROM users WHERE deleted_at IS NOT NULL ORDER BY id;
RESET softdelete.include_deleted;
SELECT count(*) AS owner_sees_after_reset FROM users;

-- The application may not opt in: refused when it asks (42501), and the
-- setting stays off.
SET ROLE admin_app;
SET softdelete.include_deleted = on;
\echo SQLSTATE :SQLSTATE
SHOW softdelete.include_deleted;
SELECT count(*) AS app_sees FROM users;

-- A reader that opted in and then became the application: the opt-in is the
-- reader's, and counts for no other role; the application sees live rows.
SET ROLE admin_reader;
SET softdelete.include_deleted = on;
SET ROLE admin_app;
SELECT count(*) AS app_sees FROM users;
-- Back to the reader, the same setting works again.
SET ROLE admin_reader;
SELECT count(*) AS reader_sees FROM users;
RESET softdelete.include_deleted;

--------------------------------------------------------------------------
-- softdelete.restore(tbl, key)
--------------------------------------------------------------------------

-- The application and the reader may not restore (42501); the row stays deleted.
SET ROLE admin_app;
SELECT softdelete.restore('users', 42);
\echo SQLSTATE :SQLSTATE
SET ROLE admin_reader;
SELECT softdelete.restore('users', 42);
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS reader_sees_42 FROM users WHERE id = 42;

-- The admin restores 42: visible again, deletion record cleared.
SET ROLE admin_admin;
SELECT softdelete.restore('users', 42) AS restored;
SET ROLE admin_app;
SELECT id, email, deleted_at, deleted_by, delete_reason FROM users WHERE id = 42;

-- The owner restores 43.
SET ROLE admin_owner;
SELECT softdelete.restore('users', 43) AS restored;
SET ROLE admin_app;
SELECT id, email, deleted_at, deleted_by, delete_reason FROM users WHERE id = 43;

-- Restoring a live row (55000) and a row that does not exist (P0002).
SET ROLE admin_owner;
SELECT softdelete.restore('users', 43);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('users', 4242);
\echo SQLSTATE :SQLSTATE

-- A restore that would break a live unique key: 23505 naming the index and
-- the key; the row stays deleted.
SET ROLE admin_app;
INSERT INTO users VALUES (51, 'u41@x', 'the new u41');
SET ROLE admin_owner;
SELECT softdelete.restore('users', 41);
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS owner_sees_41 FROM users WHERE id = 41;

-- The owner restores with the UPDATE an ORM sends; the application may not.
SET ROLE admin_app;
UPDATE users SET deleted_at = NULL WHERE id = 40;
\echo SQLSTATE :SQLSTATE
SET ROLE admin_owner;
UPDATE users SET deleted_at = NULL WHERE id = 40;
SELECT id, deleted_at, deleted_by, delete_reason FROM users WHERE id = 40;

--------------------------------------------------------------------------
-- softdelete.hard_delete(tbl, key)
--------------------------------------------------------------------------

-- The application may not (42501); the row is still there.
SET ROLE admin_app;
SELECT softdelete.hard_delete('users', 7);
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT count(*) AS rows_with_id_7 FROM users WHERE id = 7;

-- The owner and the admin remove rows for good: even a superuser, who sees
-- deleted rows, finds nothing. A soft-deleted row can be hard-deleted too.
SET ROLE admin_owner;
SELECT softdelete.hard_delete('users', 7) AS removed;
SET ROLE admin_app;
DELETE FROM users WHERE id = 9;
SET ROLE admin_admin;
SELECT softdelete.hard_delete('users', 8) AS removed;
SELECT softdelete.hard_delete('users', 9) AS removed;
RESET ROLE;
SELECT count(*) AS rows_with_ids_7_8_9 FROM users WHERE id IN (7, 8, 9);

--------------------------------------------------------------------------
-- SET LOCAL softdelete.hard_delete = on; DELETE
--------------------------------------------------------------------------

-- The application: refused when it asks (42501), nothing removed.
SET ROLE admin_app;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
\echo SQLSTATE :SQLSTATE
ROLLBACK;
BEGIN;
SELECT set_config('softdelete.hard_delete', 'on', true);
\echo SQLSTATE :SQLSTATE
ROLLBACK;
DELETE FROM users WHERE id IN (10, 11);
RESET ROLE;
SELECT count(*) AS rows_10_11, count(*) FILTER (WHERE deleted_at IS NULL) AS live FROM users WHERE id IN (10, 11);

-- The owner: the rows are gone, deleted ones included.
SET ROLE admin_app;
DELETE FROM users WHERE id = 12;
SET ROLE admin_owner;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
DELETE FROM users WHERE id IN (10, 11, 12);
COMMIT;
SHOW softdelete.hard_delete;
RESET ROLE;
SELECT count(*) AS rows_10_11_12 FROM users WHERE id IN (10, 11, 12);

-- Without the setting, the owner's DELETE is a soft delete as always.
SET ROLE admin_owner;
DELETE FROM users WHERE id = 13;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by FROM users WHERE id = 13;

--------------------------------------------------------------------------
-- Composite primary key: the key is a jsonb object
--------------------------------------------------------------------------

-- The key written as a plain literal, as in the documentation.
SET ROLE admin_admin;
SELECT softdelete.restore('members', '{"org": 1, "id": 7}') AS restored;
-- And as an explicit jsonb value.
SELECT softdelete.restore('members', '{"org": 1, "id": 8}'::jsonb) AS restored;
SET ROLE admin_app;
SELECT org, id, name, deleted_at, deleted_by FROM members ORDER BY org, id;
-- A scalar key, or an object that does not name exactly the key columns,
-- is refused (22023).
SET ROLE admin_admin;
SELECT softdelete.restore('members', 7);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('members', '{"org": 1}'::jsonb);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('members', '{"org": 1, "id": 8, "x": 0}'::jsonb);
\echo SQLSTATE :SQLSTATE
-- hard_delete with a jsonb key: refused to the application (42501), done by
-- the owner and the admin (literal and jsonb forms).
SET ROLE admin_app;
SELECT softdelete.hard_delete('members', '{"org": 2, "id": 7}'::jsonb);
\echo SQLSTATE :SQLSTATE
SET ROLE admin_owner;
SELECT softdelete.hard_delete('members', '{"org": 2, "id": 7}'::jsonb) AS removed;
SET ROLE admin_admin;
SELECT softdelete.hard_delete('members', '{"org": 1, "id": 8}') AS removed;
RESET ROLE;
SELECT org, id, name, deleted_at IS NOT NULL AS deleted FROM members ORDER BY org, id;

-- Clean up.
RESET ROLE;
RESET search_path;
DELETE FROM softdelete.events WHERE table_name LIKE 'admin\_s.%';
DROP TABLE admin_s.users, admin_s.members;
DROP SCHEMA admin_s;
DROP OWNED BY admin_owner, admin_app, admin_reader, admin_admin;
DROP ROLE admin_owner, admin_app, admin_reader, admin_admin;
