-- visibility: soft-deleted rows are invisible to every way of reading or
-- writing the table, for the application role (vis_app: DML grants only) and
-- for the owner role (vis_owner: owns the table, FORCE RLS applies to it).
-- Superusers bypass RLS; the superuser only checks what is really stored.
-- Also: TRUNCATE is refused unless an admin asked for a hard delete, and a
-- table's access to live rows is what it was before enable().
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;

CREATE ROLE vis_owner;
CREATE ROLE vis_app;
CREATE ROLE vis_trunc;  -- has the TRUNCATE privilege, but is no admin
CREATE SCHEMA vis AUTHORIZATION vis_owner;
GRANT USAGE ON SCHEMA vis TO vis_app, vis_trunc;

SET ROLE vis_owner;
-- users had no row level security before enable().
CREATE TABLE vis.users (
    id     int PRIMARY KEY,
    email  text NOT NULL UNIQUE,
    name   text NOT NULL,
    tenant int NOT NULL
);
INSERT INTO vis.users SELECT g, 'u' || g || '@example.com', 'user ' || g, g % 2 FROM generate_series(1, 10) g;
-- orders is not enabled (cascade => false below); it points at users.
CREATE TABLE vis.orders (
    id      int PRIMARY KEY,
    user_id int NOT NULL REFERENCES vis.users,
    amount  int NOT NULL
);
INSERT INTO vis.orders SELECT g, (g - 1) % 10 + 1, g * 10 FROM generate_series(1, 20) g;
-- Before enable(): the application sees all ten users.
GRANT SELECT, INSERT, UPDATE, DELETE ON vis.users, vis.orders TO vis_app;
GRANT SELECT, TRUNCATE ON vis.users, vis.orders TO vis_trunc;
RESET ROLE;
SET ROLE vis_app;
SELECT count(*) AS app_sees_before_enable FROM vis.users;
RESET ROLE;
SET ROLE vis_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('vis.users', cascade => false);
RESET client_min_messages;
CREATE VIEW vis.users_v AS SELECT id, email FROM vis.users;
CREATE VIEW vis.users_si WITH (security_invoker) AS SELECT id, email FROM vis.users;
GRANT SELECT ON vis.users_v, vis.users_si TO vis_app;
RESET ROLE;

-- Users 2, 5 and 8 are deleted (their orders stay).
SET ROLE vis_app;
DELETE FROM vis.users WHERE id IN (2, 5, 8);
RESET ROLE;
-- Control: all ten rows are still stored, three of them deleted.
SELECT count(*) AS stored, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM vis.users;

-------------------------------------------------------------------------------
-- 1. Reading, as the application role and as the owner role. Every query
--    below must show exactly the live users 1 3 4 6 7 9 10.
-------------------------------------------------------------------------------
SET ROLE vis_app;
SELECT current_user;
-- SELECT: all rows, and a deleted row by its key.
SELECT id, email FROM vis.users ORDER BY id;
SELECT id FROM vis.users WHERE id = 2;
SELECT id FROM vis.users WHERE email = 'u5@example.com';
-- Through views (owner's rights, and security_invoker).
SELECT array_agg(id ORDER BY id) AS via_view FROM vis.users_v;
SELECT array_agg(id ORDER BY id) AS via_invoker_view FROM vis.users_si;
-- COPY of the table and of a query.
COPY vis.users (id, email, name, tenant, deleted_at) TO STDOUT;
COPY (SELECT id, email FROM vis.users ORDER BY id) TO STDOUT;
-- Aggregates.
SELECT count(*), sum(id), min(id), max(id) FROM vis.users;
SELECT tenant, count(*) FROM vis.users GROUP BY tenant ORDER BY tenant;
-- Joins: inner, outer, semi, anti.
SELECT u.id AS user_id, count(o.id) AS orders, sum(o.amount) AS amount
  FROM vis.users u JOIN vis.orders o ON o.user_id = u.id GROUP BY u.id ORDER BY u.id;
SELECT o.id AS order_id, o.user_id, u.email
  FROM vis.orders o LEFT JOIN vis.users u ON u.id = o.user_id
 WHERE o.user_id IN (1, 2, 5) ORDER BY o.id;
SELECT count(*) AS orders_of_visible_users
  FROM vis.orders o WHERE EXISTS (SELECT FROM vis.users u WHERE u.id = o.user_id);
SELECT array_agg(DISTINCT o.user_id ORDER BY o.user_id) AS orders_without_visible_user
  FROM vis.orders o WHERE NOT EXISTS (SELECT FROM vis.users u WHERE u.id = o.user_id);
-- Row locks.
BEGIN;
SELECT id FROM vis.users WHERE id BETWEEN 1 AND 6 ORDER BY id FOR UPDATE;
SELECT id FROM vis.users WHERE id BETWEEN 1 AND 6 ORDER BY id FOR SHARE SKIP LOCKED;
SELECT id FROM vis.users WHERE id = 2 FOR UPDATE NOWAIT;
COMMIT;
RESET ROLE;

SET ROLE vis_owner;
SELECT current_user;
SELECT id, email FROM vis.users ORDER BY id;
SELECT id FROM vis.users WHERE id = 2;
SELECT id FROM vis.users WHERE email = 'u5@example.com';
SELECT array_agg(id ORDER BY id) AS via_view FROM vis.users_v;
SELECT array_agg(id ORDER BY id) AS via_invoker_view FROM vis.users_si;
COPY vis.users (id, email, name, tenant, deleted_at) TO STDOUT;
COPY (SELECT id, email FROM vis.users ORDER BY id) TO STDOUT;
SELECT count(*), sum(id), min(id), max(id) FROM vis.users;
SELECT tenant, count(*) FROM vis.users GROUP BY tenant ORDER BY tenant;
SELECT u.id AS user_id, count(o.id) AS orders, sum(o.amount) AS amount
  FROM vis.users u JOIN vis.orders o ON o.user_id = u.id GROUP BY u.id ORDER BY u.id;
SELECT o.id AS order_id, o.user_id, u.email
  FROM vis.orders o LEFT JOIN vis.users u ON u.id = o.user_id
 WHERE o.user_id IN (1, 2, 5) ORDER BY o.id;
SELECT count(*) AS orders_of_visible_users
  FROM vis.orders o WHERE EXISTS (SELECT FROM vis.users u WHERE u.id = o.user_id);
SELECT array_agg(DISTINCT o.user_id ORDER BY o.user_id) AS orders_without_visible_user
  FROM vis.orders o WHERE NOT EXISTS (SELECT FROM vis.users u WHERE u.id = o.user_id);
BEGIN;
SELECT id FROM vis.users WHERE id BETWEEN 1 AND 6 ORDER BY id FOR UPDATE;
SELECT id FROM vis.users WHERE id BETWEEN 1 AND 6 ORDER BY id FOR SHARE SKIP LOCKED;
SELECT id FROM vis.users WHERE id = 2 FOR UPDATE NOWAIT;
COMMIT;
RESET ROLE;

-- A prepared query keeps hiding deleted rows whatever role executes it,
-- also once the plan cache uses a generic plan.
SET ROLE vis_owner;
PREPARE visible(int) AS SELECT count(*) FROM vis.users WHERE id <= $1;
EXECUTE visible(10);
EXECUTE visible(10);
EXECUTE visible(10);
EXECUTE visible(10);
EXECUTE visible(10);
EXECUTE visible(10);
RESET ROLE;
SET ROLE vis_app;
EXECUTE visible(10);
EXECUTE visible(10);
RESET ROLE;
DEALLOCATE visible;

-------------------------------------------------------------------------------
-- 2. Writing: UPDATE and DELETE never reach deleted rows
-------------------------------------------------------------------------------
-- psql prints the command tags in this part.
\set QUIET off
SET ROLE vis_app;
UPDATE vis.users SET name = 'changed' WHERE id = 2;
UPDATE vis.users SET name = 'changed' WHERE id IN (1, 2) RETURNING id;
DELETE FROM vis.users WHERE id = 5;
DELETE FROM vis.users WHERE id = 5 RETURNING id;
RESET ROLE;
SET ROLE vis_owner;
UPDATE vis.users SET name = 'changed' WHERE id = 8;
UPDATE vis.users SET name = name || '!';
DELETE FROM vis.users WHERE id = 8;
RESET ROLE;
\set QUIET on
-- Deleted rows kept their names; live rows got both updates.
SELECT id, name, deleted_at IS NOT NULL AS deleted FROM vis.users ORDER BY id;

-------------------------------------------------------------------------------
-- 3. TRUNCATE: refused without an explicit hard delete by an admin
--    (orders references users, so both are truncated together)
-------------------------------------------------------------------------------
-- The owner (an admin) without softdelete.hard_delete: 55000, with a hint.
SET ROLE vis_owner;
TRUNCATE vis.users, vis.orders;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
-- A role with the TRUNCATE privilege but no admin: 42501, and it may not
-- even ask for hard_delete (42501).
SET ROLE vis_trunc;
TRUNCATE vis.users, vis.orders;
\echo SQLSTATE :SQLSTATE
BEGIN;
SET LOCAL softdelete.hard_delete = on;
\echo SQLSTATE :SQLSTATE
ROLLBACK;
RESET ROLE;
-- The application role (no TRUNCATE privilege): PostgreSQL's own 42501.
SET ROLE vis_app;
TRUNCATE vis.users, vis.orders;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT count(*) AS stored_after_refusals FROM vis.users;

-- The owner with SET LOCAL softdelete.hard_delete = on: TRUNCATE works (rolled
-- back here to keep the data). The role is set inside the transaction, so
-- that the ROLLBACK returns to the superuser.
BEGIN;
SET LOCAL ROLE vis_owner;
SET LOCAL softdelete.hard_delete = on;
TRUNCATE vis.users, vis.orders;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT current_setting('is_superuser') AS superuser, count(*) AS stored_inside_transaction FROM vis.users;
ROLLBACK;
SELECT current_setting('is_superuser') AS superuser, count(*) AS stored_after_rollback FROM vis.users;
-- SET LOCAL ended with the transaction: refused again.
SET ROLE vis_owner;
TRUNCATE vis.users, vis.orders;
\echo SQLSTATE :SQLSTATE
RESET ROLE;

-- The same on a table of its own, committed.
SET ROLE vis_owner;
CREATE TABLE vis.scratch (id int PRIMARY KEY);
INSERT INTO vis.scratch SELECT generate_series(1, 5);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('vis.scratch');
RESET client_min_messages;
DELETE FROM vis.scratch WHERE id = 1;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
TRUNCATE vis.scratch;
COMMIT;
RESET ROLE;
SELECT count(*) AS scratch_rows FROM vis.scratch;

-------------------------------------------------------------------------------
-- 4. Live rows keep the access they had before enable()
-------------------------------------------------------------------------------
-- users had no RLS: the application still reads, inserts, updates and
-- deletes every live row, with RETURNING.
SET ROLE vis_app;
INSERT INTO vis.users VALUES (11, 'u11@example.com', 'user 11', 1) RETURNING id, email;
UPDATE vis.users SET tenant = 0 WHERE id = 11 RETURNING id, tenant;
SELECT count(*) AS live_rows FROM vis.users;
DELETE FROM vis.users WHERE id = 11 RETURNING id;
SELECT count(*) AS live_rows FROM vis.users;
RESET ROLE;

-- docs had row level security of its own (authors see their documents; RLS
-- not forced, so the owner saw every row). After enable() the application
-- is still limited by that policy, and the owner still sees every live row.
SET ROLE vis_owner;
CREATE TABLE vis.docs (id int PRIMARY KEY, author name NOT NULL, title text NOT NULL);
INSERT INTO vis.docs VALUES (1, 'vis_app', 'a1'), (2, 'vis_app', 'a2'), (3, 'vis_app', 'a3'),
                            (4, 'vis_owner', 'o1'), (5, 'someone', 's1');
ALTER TABLE vis.docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY docs_author ON vis.docs USING (author = current_user);
GRANT SELECT, INSERT, UPDATE, DELETE ON vis.docs TO vis_app;
SELECT array_agg(id ORDER BY id) AS owner_sees_before FROM vis.docs;
RESET ROLE;
SET ROLE vis_app;
SELECT array_agg(id ORDER BY id) AS app_sees_before FROM vis.docs;
RESET ROLE;
SET ROLE vis_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('vis.docs');
RESET client_min_messages;
RESET ROLE;
SET ROLE vis_app;
DELETE FROM vis.docs WHERE id = 2;
-- The policy still applies: another author's document cannot be deleted.
DELETE FROM vis.docs WHERE id = 5;
SELECT array_agg(id ORDER BY id) AS app_sees_after FROM vis.docs;
RESET ROLE;
SET ROLE vis_owner;
SELECT array_agg(id ORDER BY id) AS owner_sees_after FROM vis.docs;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM vis.docs ORDER BY id;

-- Clean up.
SELECT 'vis.users'::regclass::oid AS users_oid, 'vis.scratch'::regclass::oid AS scratch_oid,
       'vis.docs'::regclass::oid AS docs_oid \gset
SET client_min_messages = warning;
DROP SCHEMA vis CASCADE;
RESET client_min_messages;
DROP OWNED BY vis_trunc;
DROP ROLE vis_trunc;
DROP OWNED BY vis_app;
DROP ROLE vis_app;
DROP OWNED BY vis_owner;
DROP ROLE vis_owner;
