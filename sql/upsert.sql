-- upsert: unique keys and INSERT ... ON CONFLICT on enabled tables.
-- enable() makes every unique index but the primary key live-only
-- (WHERE deleted_at IS NULL), so a deleted row's e-mail can be taken again,
-- and ON CONFLICT (cols) still finds its arbiter: against a live row the
-- conflict is handled as before, against a deleted row there is no conflict
-- and a new row is inserted. The primary key still covers deleted rows.
-- Roles: ups_app (plain table privileges) and ups_owner (owns the tables,
-- FORCE RLS applies). Stored state is checked as superuser.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;

CREATE ROLE ups_owner;
CREATE ROLE ups_app;
CREATE SCHEMA ups AUTHORIZATION ups_owner;
GRANT USAGE ON SCHEMA ups TO ups_app;

SET ROLE ups_owner;
CREATE TABLE ups.users (
    id    int PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name  text NOT NULL
);
INSERT INTO ups.users VALUES (1, 'a@example.com', 'ann'), (2, 'b@example.com', 'bob'),
                             (3, 'c@example.com', 'cid'), (4, 'd@example.com', 'dan');
-- accounts: the unique index has a predicate of its own (verified only).
CREATE TABLE ups.accounts (
    id       int PRIMARY KEY,
    email    text NOT NULL,
    verified boolean NOT NULL,
    name     text NOT NULL
);
CREATE UNIQUE INDEX accounts_verified_email ON ups.accounts (email) WHERE verified;
INSERT INTO ups.accounts VALUES (1, 'a@example.com', true, 'ann'), (2, 'b@example.com', true, 'bob'),
                                (3, 'a@example.com', false, 'ann unverified');
-- handles: a unique expression index.
CREATE TABLE ups.handles (id int PRIMARY KEY, handle text NOT NULL);
CREATE UNIQUE INDEX handles_lower_handle ON ups.handles (lower(handle));
INSERT INTO ups.handles VALUES (1, 'Alice'), (2, 'Bob');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('ups.users');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('ups.accounts');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('ups.handles');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON ups.users, ups.accounts, ups.handles TO ups_app;
RESET ROLE;

-- The unique indexes are live-only now (same names); the primary keys are not.
SELECT c.relname AS index_name, pg_get_indexdef(i.indexrelid) AS definition
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid IN ('ups.users'::regclass, 'ups.accounts'::regclass, 'ups.handles'::regclass)
   AND i.indisunique
 ORDER BY 1;

-- Users 2 and 4, the verified account 2 and handle 2 are deleted.
SET ROLE ups_app;
DELETE FROM ups.users WHERE id IN (2, 4);
DELETE FROM ups.accounts WHERE id = 2;
DELETE FROM ups.handles WHERE id = 2;
RESET ROLE;

-- psql prints every command tag from here on.
\set QUIET off

-------------------------------------------------------------------------------
-- 1. A deleted row's unique value can be taken again; a live one cannot
-------------------------------------------------------------------------------
SET ROLE ups_app;
-- b@example.com belongs to deleted user 2: a new user may have it.
INSERT INTO ups.users VALUES (10, 'b@example.com', 'bob again');
-- a@example.com belongs to live user 1: 23505, naming the index.
INSERT INTO ups.users VALUES (11, 'a@example.com', 'ann again');
\echo SQLSTATE :SQLSTATE
-- Now b@example.com is live again (user 10): 23505 too.
INSERT INTO ups.users VALUES (12, 'b@example.com', 'bob twice');
\echo SQLSTATE :SQLSTATE
-- UPDATE to a live row's e-mail: 23505; to a deleted row's e-mail: fine.
UPDATE ups.users SET email = 'a@example.com' WHERE id = 3;
\echo SQLSTATE :SQLSTATE
UPDATE ups.users SET email = 'd@example.com' WHERE id = 3;
RESET ROLE;
-- The owner: the same rules.
SET ROLE ups_owner;
INSERT INTO ups.users VALUES (13, 'a@example.com', 'ann by owner');
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT id, email, name, deleted_at IS NOT NULL AS deleted FROM ups.users ORDER BY id;

-------------------------------------------------------------------------------
-- 2. ON CONFLICT (email) DO NOTHING / DO UPDATE, unchanged
-------------------------------------------------------------------------------
SET ROLE ups_app;
-- Against a live row: the conflict is handled (nothing inserted / updated).
INSERT INTO ups.users VALUES (20, 'a@example.com', 'ann 20') ON CONFLICT (email) DO NOTHING;
INSERT INTO ups.users VALUES (21, 'a@example.com', 'ann 21') ON CONFLICT (email) DO UPDATE SET name = excluded.name
RETURNING id, email, name;
-- A conditional DO UPDATE that does not apply: INSERT 0 0.
INSERT INTO ups.users VALUES (22, 'a@example.com', 'ann 21') ON CONFLICT (email)
DO UPDATE SET name = excluded.name WHERE users.name <> excluded.name;
RESET ROLE;
SET ROLE ups_owner;
-- The owner deletes user 3, whose e-mail is now d@example.com (shared only
-- with deleted user 4).
DELETE FROM ups.users WHERE id = 3;
-- Against a deleted row: no conflict, a new row is inserted.
INSERT INTO ups.users VALUES (23, 'd@example.com', 'dan new') ON CONFLICT (email) DO NOTHING;
RESET ROLE;
SET ROLE ups_app;
DELETE FROM ups.users WHERE id = 23;
INSERT INTO ups.users VALUES (24, 'd@example.com', 'dan newer') ON CONFLICT (email) DO UPDATE SET name = excluded.name
RETURNING id, email, name;
-- Several rows at once: a@ conflicts with live user 1 (updated), b@ only
-- with deleted users 2 and 10 (inserted), e@ is new (inserted): INSERT 0 3.
DELETE FROM ups.users WHERE id = 10;
INSERT INTO ups.users VALUES (30, 'a@example.com', 'ann 30'), (31, 'b@example.com', 'bob 31'),
                             (32, 'e@example.com', 'eve 32')
ON CONFLICT (email) DO UPDATE SET name = excluded.name;
RESET ROLE;
-- Deleted rows were never updated by the upserts.
SELECT id, email, name, deleted_at IS NOT NULL AS deleted FROM ups.users ORDER BY id;

-------------------------------------------------------------------------------
-- 3. ON CONFLICT (email) WHERE <predicate>: the index had its own predicate
-------------------------------------------------------------------------------
SET ROLE ups_app;
-- a@ is verified and live (account 1): conflict handled.
INSERT INTO ups.accounts VALUES (10, 'a@example.com', true, 'ann 10')
ON CONFLICT (email) WHERE verified DO NOTHING;
INSERT INTO ups.accounts VALUES (11, 'a@example.com', true, 'ann 11')
ON CONFLICT (email) WHERE verified DO UPDATE SET name = excluded.name;
-- b@ was verified but account 2 is deleted: inserted.
INSERT INTO ups.accounts VALUES (12, 'b@example.com', true, 'bob 12')
ON CONFLICT (email) WHERE verified DO UPDATE SET name = excluded.name;
-- Unverified rows are outside the index: inserted.
INSERT INTO ups.accounts VALUES (13, 'a@example.com', false, 'ann 13')
ON CONFLICT (email) WHERE verified DO NOTHING;
-- Without the predicate no unique index matches the arbiter: the usual
-- error, as before enable().
INSERT INTO ups.accounts VALUES (14, 'a@example.com', true, 'ann 14') ON CONFLICT (email) DO NOTHING;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT id, email, verified, name, deleted_at IS NOT NULL AS deleted FROM ups.accounts ORDER BY id;

-------------------------------------------------------------------------------
-- 4. ON CONFLICT on an expression index
-------------------------------------------------------------------------------
SET ROLE ups_app;
-- 'ALICE' conflicts with live 'Alice'; 'BOB' only with deleted 'Bob'.
INSERT INTO ups.handles VALUES (10, 'ALICE') ON CONFLICT ((lower(handle))) DO NOTHING;
INSERT INTO ups.handles VALUES (11, 'BOB') ON CONFLICT ((lower(handle))) DO NOTHING;
INSERT INTO ups.handles VALUES (12, 'alice') ON CONFLICT ((lower(handle))) DO UPDATE SET handle = excluded.handle;
RESET ROLE;
SELECT id, handle, deleted_at IS NOT NULL AS deleted FROM ups.handles ORDER BY id;

-------------------------------------------------------------------------------
-- 5. ON CONFLICT (id): the primary key covers deleted rows too
-------------------------------------------------------------------------------
SET ROLE ups_app;
-- Live user 1: handled.
INSERT INTO ups.users VALUES (1, 'z@example.com', 'zed') ON CONFLICT (id) DO NOTHING;
INSERT INTO ups.users VALUES (1, 'z@example.com', 'ann by id') ON CONFLICT (id) DO UPDATE SET name = excluded.name
RETURNING id, email, name;
-- A brand-new id: inserted.
INSERT INTO ups.users VALUES (40, 'f@example.com', 'fay') ON CONFLICT (id) DO NOTHING;
-- Deleted user 2 still holds id 2: DO NOTHING does nothing...
INSERT INTO ups.users VALUES (2, 'g@example.com', 'gus') ON CONFLICT (id) DO NOTHING;
-- ...a plain INSERT is a duplicate key...
INSERT INTO ups.users VALUES (2, 'g@example.com', 'gus');
\echo SQLSTATE :SQLSTATE
-- ...and DO UPDATE may not change the deleted row (refused by its
-- visibility policy), for the application and for the owner.
INSERT INTO ups.users VALUES (2, 'g@example.com', 'gus') ON CONFLICT (id) DO UPDATE SET name = excluded.name;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SET ROLE ups_owner;
INSERT INTO ups.users VALUES (2, 'g@example.com', 'gus') ON CONFLICT (id) DO UPDATE SET name = excluded.name;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT id, email, name, deleted_at IS NOT NULL AS deleted FROM ups.users WHERE id IN (1, 2, 40) ORDER BY id;

-------------------------------------------------------------------------------
-- 6. ON CONFLICT DO NOTHING without an arbiter
-------------------------------------------------------------------------------
SET ROLE ups_app;
-- Conflicts with live user 1's e-mail: skipped.
INSERT INTO ups.users VALUES (50, 'a@example.com', 'ann 50') ON CONFLICT DO NOTHING;
-- Conflicts with deleted user 2's id: skipped (the key is taken).
INSERT INTO ups.users VALUES (2, 'h@example.com', 'hal') ON CONFLICT DO NOTHING;
-- g@ is new: inserted; once that row is deleted, g@ is free again.
INSERT INTO ups.users VALUES (51, 'g@example.com', 'gus 51') ON CONFLICT DO NOTHING;
DELETE FROM ups.users WHERE id = 51;
INSERT INTO ups.users VALUES (52, 'g@example.com', 'gus 52') ON CONFLICT DO NOTHING;
RESET ROLE;
SELECT id, email, name, deleted_at IS NOT NULL AS deleted FROM ups.users WHERE id >= 50 OR id = 2 ORDER BY id;

-------------------------------------------------------------------------------
-- 7. Restoring a row whose unique value was taken meanwhile: 23505
-------------------------------------------------------------------------------
SET ROLE ups_owner;
-- User 4 (deleted, d@example.com); user 24 is live with d@example.com now.
UPDATE ups.users SET deleted_at = NULL WHERE id = 4;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM ups.users WHERE id = 4;

-------------------------------------------------------------------------------
-- 8. ON CONFLICT ON CONSTRAINT users_email_key: enable() turned the unique
--    constraint into a partial unique index of the same name, and the name
--    still works as the arbiter (sql/on_conflict_constraint.sql has the
--    details).
-------------------------------------------------------------------------------
SET ROLE ups_app;
INSERT INTO ups.users VALUES (60, 'a@example.com', 'ann 60') ON CONFLICT ON CONSTRAINT users_email_key DO NOTHING;
\echo SQLSTATE :SQLSTATE
RESET ROLE;

\set QUIET on

-- Clean up.
SELECT 'ups.users'::regclass::oid AS users_oid, 'ups.accounts'::regclass::oid AS accounts_oid,
       'ups.handles'::regclass::oid AS handles_oid \gset
SET client_min_messages = warning;
DROP SCHEMA ups CASCADE;
RESET client_min_messages;
DROP OWNED BY ups_app;
DROP ROLE ups_app;
DROP OWNED BY ups_owner;
DROP ROLE ups_owner;
