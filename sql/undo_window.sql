-- undo_window: on a table enabled with undo_window, the actor that
-- soft-deleted rows may restore them, with restore() or undo(op), within the
-- window and without being an admin (the "Undo" button). softdelete.actor
-- is a setting any session can make, so the claim counts only for a role
-- that holds the DELETE privilege on the table; every row brought back,
-- cascaded children included, must have been deleted by that actor no
-- longer than its own table's window ago (judged on deleted_at against the
-- transaction's time). Otherwise 42501, saying why, and nothing is
-- restored. A caller who may not restore learns nothing about keys.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE uw_owner;
CREATE ROLE uw_app;        -- the application: CRUD on the tables
CREATE ROLE uw_app2;       -- another application role, with DELETE too
CREATE ROLE uw_nodelete;   -- may read and update, not delete
CREATE ROLE uw_reader IN ROLE softdelete_reader;
CREATE ROLE uw_admin IN ROLE softdelete_admin;
CREATE SCHEMA uw AUTHORIZATION uw_owner;
GRANT USAGE ON SCHEMA uw TO uw_app, uw_app2, uw_nodelete, uw_reader, uw_admin;

SET ROLE uw_owner;
CREATE TABLE uw.users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
INSERT INTO uw.users SELECT g, 'u' || g FROM generate_series(1, 30) g;
CREATE TABLE uw.posts (id int PRIMARY KEY, user_id int NOT NULL REFERENCES uw.users);
INSERT INTO uw.posts SELECT g, 10 + (g - 1) / 2 FROM generate_series(1, 20) g;  -- users 10-19, two each
CREATE TABLE uw.notes (id int PRIMARY KEY, body text);
INSERT INTO uw.notes SELECT g, 'n' || g FROM generate_series(1, 5) g;
CREATE TABLE uw."Order Items" ("Order" int, line int, sku text, PRIMARY KEY ("Order", line));
INSERT INTO uw."Order Items" SELECT o, l, 's' || o || l FROM generate_series(1, 3) o, generate_series(1, 2) l;
CREATE TABLE uw.readings (region text, id int, value int, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE uw.readings_eu PARTITION OF uw.readings FOR VALUES IN ('eu');
CREATE TABLE uw.readings_us PARTITION OF uw.readings FOR VALUES IN ('us');
INSERT INTO uw.readings SELECT r, g, g FROM unnest(ARRAY['eu', 'us']) r, generate_series(1, 3) g;
CREATE TABLE uw.brief (id int PRIMARY KEY);
INSERT INTO uw.brief SELECT generate_series(1, 3);
CREATE TABLE uw.plain (id int PRIMARY KEY);
INSERT INTO uw.plain VALUES (1);
SET client_min_messages = warning;
-- posts is enabled by the cascade, with the default options but the
-- parent's undo window.
SELECT count(*) > 0 AS enabled FROM softdelete.enable('uw.users', undo_window => '30 minutes');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('uw.notes');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('uw."Order Items"', undo_window => '30 minutes');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('uw.readings', undo_window => '1 hour');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('uw.brief', undo_window => '10 milliseconds');
RESET client_min_messages;
SELECT relid, undo_window FROM softdelete.tables WHERE relid::text LIKE 'uw.%' ORDER BY relid::text;
GRANT SELECT, INSERT, UPDATE, DELETE ON uw.users, uw.posts, uw.notes, uw."Order Items", uw.readings,
    uw.readings_eu, uw.brief, uw.plain TO uw_app, uw_app2, uw_admin;
GRANT SELECT, UPDATE ON uw.users, uw.posts TO uw_nodelete, uw_reader;
-- A table that references users later is enabled with users' window too.
SET client_min_messages = warning;
CREATE TABLE uw.late (id int PRIMARY KEY, user_id int REFERENCES uw.users);
RESET client_min_messages;
SELECT undo_window FROM softdelete.tables WHERE relid = 'uw.late'::regclass;
DROP TABLE uw.late;
RESET ROLE;

-- The deleted rows of a table, as the superuser sees them: id:deleted_by.
CREATE FUNCTION uw.deleted(tbl regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    EXECUTE format('SELECT string_agg(id::text || '':'' || deleted_by, '','' ORDER BY id) FROM %s WHERE deleted_at IS NOT NULL', tbl)
       INTO result;
    RETURN coalesce(result, '-');
END
$$;

--------------------------------------------------------------------------
-- restore(): the same actor, within the window
--------------------------------------------------------------------------

SET ROLE uw_app;
SET softdelete.actor = 'alice';
DELETE FROM uw.users WHERE id = 1;
-- Another actor of the same application: refused, nothing restored.
SET softdelete.actor = 'bob';
SELECT softdelete.restore('uw.users', 1);
\echo SQLSTATE :SQLSTATE
-- The actor that deleted it.
SET softdelete.actor = 'alice';
SELECT softdelete.restore('uw.users', 1) AS restored;
-- Without softdelete.actor the actor is the role's name.
RESET softdelete.actor;
DELETE FROM uw.users WHERE id = 2;
SELECT softdelete.restore('uw.users', 2) AS restored;
-- The actor is compared byte for byte.
SET softdelete.actor = 'alice';
DELETE FROM uw.users WHERE id = 3;
SET softdelete.actor = 'Alice';
SELECT softdelete.restore('uw.users', 3);
\echo SQLSTATE :SQLSTATE
SET softdelete.actor = 'alice ';
SELECT softdelete.restore('uw.users', 3);
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.users');
-- The restores are logged with their actor.
SELECT action, actor, row_count, keys FROM softdelete.events
 WHERE table_name = 'uw.users' ORDER BY id;

-- A role without the DELETE privilege cannot claim the actor, nor can a
-- reader.
SET ROLE uw_nodelete;
SET softdelete.actor = 'alice';
SELECT softdelete.restore('uw.users', 3);
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SET ROLE uw_reader;
SET softdelete.actor = 'alice';
SELECT softdelete.restore('uw.users', 3);
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT uw.deleted('uw.users');

-- Another application role holding DELETE on the table is trusted to name
-- actors, on restores as on deletes: it may restore alice's row within the
-- window (the README says so; roles that must not undo each other's
-- deletes should not share an actor namespace on such a table).
SET ROLE uw_app2;
SET softdelete.actor = 'alice';
SELECT softdelete.restore('uw.users', 3) AS restored;
RESET softdelete.actor;
RESET ROLE;

-- Nothing is learned about keys: a missing, a live and another actor's row
-- get the same answer, before any key is looked up.
SET ROLE uw_app;
SET softdelete.actor = 'carol';
DELETE FROM uw.users WHERE id = 4;
SET softdelete.actor = 'alice';
SELECT softdelete.restore('uw.users', 4);     -- carol's
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('uw.users', 5);     -- live
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('uw.users', 999);   -- missing
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('uw.users', NULL);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('uw.users', 'not a number'::text);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('uw.users', '{"id": 4, "x": 1}');
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
-- An admin gets the precise answers.
SET ROLE uw_admin;
SELECT softdelete.restore('uw.users', 5);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('uw.users', 999);
\echo SQLSTATE :SQLSTATE
RESET ROLE;

-- The window: judged on deleted_at against the clock. Rows an
-- admin wrote as deleted by alice, 29 and 31 minutes ago and years ago.
SET ROLE uw_admin;
INSERT INTO uw.users (id, email, deleted_at, deleted_by) VALUES
    (40, 'u40', now() - interval '29 minutes', 'alice'),
    (41, 'u41', now() - interval '31 minutes', 'alice'),
    (42, 'u42', '2020-01-01 00:00:00+00', 'alice'),
    (43, 'u43', 'infinity', 'alice'),
    (44, 'u44', '-infinity', 'alice');
RESET ROLE;
SET ROLE uw_app;
SET softdelete.actor = 'alice';
SELECT softdelete.restore('uw.users', 40) AS restored;
SELECT softdelete.restore('uw.users', 41);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('uw.users', 42);
\echo SQLSTATE :SQLSTATE
-- A deletion stamped in the future is within the window; one at -infinity
-- is not.
SELECT softdelete.restore('uw.users', 43) AS restored;
SELECT softdelete.restore('uw.users', 44);
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
-- After the window, admins restore.
SET ROLE uw_admin;
SELECT softdelete.restore('uw.users', 41) AS restored;
RESET ROLE;
SELECT uw.deleted('uw.users');

-- Deleted and restored in one transaction: within the window.
SET ROLE uw_app;
SET softdelete.actor = 'dave';
BEGIN;
DELETE FROM uw.users WHERE id = 6;
SELECT softdelete.restore('uw.users', 6) AS restored;
COMMIT;
RESET softdelete.actor;
RESET ROLE;

-- The window covers restore() and undo(): an UPDATE that sets deleted_at
-- back to NULL stays for admins.
SET ROLE uw_app;
SET softdelete.actor = 'alice';
DELETE FROM uw.users WHERE id = 7;
UPDATE uw.users SET deleted_at = NULL WHERE id = 7;
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.users');

--------------------------------------------------------------------------
-- Tables without a window, or not enabled: admins only, as before
--------------------------------------------------------------------------

SET ROLE uw_app;
SET softdelete.actor = 'alice';
DELETE FROM uw.notes WHERE id = 1;
SELECT softdelete.restore('uw.notes', 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('uw.plain', 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('pg_class', 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore(0::oid::regclass, 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore(NULL, 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.undo(NULL);
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.notes');

--------------------------------------------------------------------------
-- The cascade: every child brought back follows the same rule
--------------------------------------------------------------------------

-- Without an undo window on posts, a user's restore that would bring its
-- posts back is refused, and nothing is restored.
SET ROLE uw_owner;
SET client_min_messages = warning;
SELECT count(*) AS changed FROM softdelete.enable('uw.posts');
RESET client_min_messages;
SELECT undo_window FROM softdelete.tables WHERE relid = 'uw.posts'::regclass;
RESET ROLE;
SET ROLE uw_app;
SET softdelete.actor = 'alice';
DELETE FROM uw.users WHERE id = 10;
SELECT softdelete.restore('uw.users', 10);
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.users') AS users, uw.deleted('uw.posts') AS posts;

-- With a window on posts too, the same restore brings the user and its
-- posts back.
SET ROLE uw_owner;
SET client_min_messages = warning;
SELECT count(*) AS changed FROM softdelete.enable('uw.posts', undo_window => '30 minutes');
RESET client_min_messages;
RESET ROLE;
SET ROLE uw_app;
SET softdelete.actor = 'alice';
SELECT softdelete.restore('uw.users', 10) AS restored;
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.users') AS users, uw.deleted('uw.posts') AS posts;

-- A cascaded child whose deletion record an admin since gave to another
-- actor stops the restore: nothing comes back.
SET ROLE uw_app;
SET softdelete.actor = 'alice';
DELETE FROM uw.users WHERE id = 11;
RESET ROLE;
SET ROLE uw_admin;
SET softdelete.include_deleted = on;
UPDATE uw.posts SET deleted_by = 'mallory' WHERE id = 4;
RESET softdelete.include_deleted;
RESET ROLE;
SET ROLE uw_app;
SET softdelete.actor = 'alice';
SELECT softdelete.restore('uw.users', 11);
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.users') AS users, uw.deleted('uw.posts') AS posts;

-- A role that may not delete from the child table cannot bring its rows
-- back either.
SET ROLE uw_owner;
REVOKE DELETE ON uw.posts FROM uw_app;
RESET ROLE;
SET ROLE uw_app;
SET softdelete.actor = 'alice';
DELETE FROM uw.users WHERE id = 12;  -- the cascade runs as the posts' owner
SELECT softdelete.restore('uw.users', 12);
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.users') AS users, uw.deleted('uw.posts') AS posts;
SET ROLE uw_owner;
GRANT DELETE ON uw.posts TO uw_app;
RESET ROLE;

--------------------------------------------------------------------------
-- undo(op): every row of the operation, in every table, or nothing
--------------------------------------------------------------------------

-- The application learns the op from its DELETE (RETURNING delete_op).
SET ROLE uw_app;
SET softdelete.actor = 'alice';
WITH d AS (DELETE FROM uw.users WHERE id IN (13, 14) RETURNING delete_op)
SELECT max(delete_op) AS op, count(*) AS deleted FROM d \gset
\echo deleted :deleted
SET softdelete.actor = 'bob';
SELECT softdelete.undo(:op);
\echo SQLSTATE :SQLSTATE
SET softdelete.actor = 'alice';
RESET ROLE;
SELECT uw.deleted('uw.users') AS users, uw.deleted('uw.posts') AS posts;
SET ROLE uw_app;
SET softdelete.actor = 'alice';
SELECT softdelete.undo(:op) AS restored;
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.users') AS users, uw.deleted('uw.posts') AS posts;

-- One cascaded child of the operation deleted by another actor's record:
-- undo() refuses before anything changes.
SET ROLE uw_app;
SET softdelete.actor = 'alice';
DELETE FROM uw.users WHERE id = 15 RETURNING delete_op AS op \gset
RESET ROLE;
UPDATE uw.posts SET deleted_by = 'mallory' WHERE id = 12;
SET ROLE uw_app;
SET softdelete.actor = 'alice';
SELECT softdelete.undo(:op);
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.users') AS users, uw.deleted('uw.posts') AS posts;

-- One statement that deleted from a table with a window and one without:
-- the operation is not undone by its actor.
SET ROLE uw_app;
SET softdelete.actor = 'alice';
WITH n AS (DELETE FROM uw.notes WHERE id = 2 RETURNING id)
DELETE FROM uw.users WHERE id = 16 RETURNING delete_op AS op \gset
SELECT softdelete.undo(:op);
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.users') AS users, uw.deleted('uw.notes') AS notes;

-- The window passed: brief's window is 10 milliseconds.
SET ROLE uw_app;
SET softdelete.actor = 'alice';
DELETE FROM uw.brief WHERE id = 1 RETURNING delete_op AS op \gset
SELECT pg_sleep(0.05);
SELECT softdelete.undo(:op);
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.brief');
-- An admin undoes it.
SET ROLE uw_admin;
SELECT softdelete.undo(:op) AS restored;
RESET ROLE;
-- The window is judged by the clock, not by the transaction's time: a
-- transaction kept open (or one long statement) does not stretch it, also
-- for a row deleted in that same transaction.
SET ROLE uw_app;
SET softdelete.actor = 'alice';
BEGIN;
DELETE FROM uw.brief WHERE id = 2 RETURNING delete_op AS op \gset
SELECT pg_sleep(0.05);
SELECT softdelete.restore('uw.brief', 2);
\echo SQLSTATE :SQLSTATE
ROLLBACK;
DELETE FROM uw.brief WHERE id = 3 RETURNING delete_op AS op \gset
SELECT pg_sleep(0.05), softdelete.undo(:op);
\echo SQLSTATE :SQLSTATE
RESET softdelete.actor;
RESET ROLE;
SELECT uw.deleted('uw.brief');

--------------------------------------------------------------------------
-- Composite keys, quoted names, partitions
--------------------------------------------------------------------------

SET ROLE uw_app;
SET softdelete.actor = 'alice';
DELETE FROM uw."Order Items" WHERE "Order" = 2;
SET softdelete.actor = 'bob';
SELECT softdelete.restore('uw."Order Items"', '{"Order": 2, "line": 1}');
\echo SQLSTATE :SQLSTATE
SET softdelete.actor = 'alice';
SELECT softdelete.restore('uw."Order Items"', '{"Order": 2, "line": 1}') AS restored;
SELECT softdelete.restore('uw."Order Items"', '{"Order": 2}');
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('uw."Order Items"', 2);
\echo SQLSTATE :SQLSTATE
-- A partition addressed directly; the partitioned table restores.
DELETE FROM uw.readings_eu WHERE id = 2;
SET softdelete.actor = 'bob';
SELECT softdelete.restore('uw.readings', '{"region": "eu", "id": 2}');
\echo SQLSTATE :SQLSTATE
SET softdelete.actor = 'alice';
SELECT softdelete.restore('uw.readings', '{"region": "eu", "id": 2}') AS restored;
RESET softdelete.actor;
RESET ROLE;
SELECT "Order", line, deleted_by FROM uw."Order Items" WHERE deleted_at IS NOT NULL ORDER BY 1, 2;
SELECT region, id FROM uw.readings WHERE deleted_at IS NOT NULL;

--------------------------------------------------------------------------
-- The actor judged is the restoring operation's, the one its event records
--------------------------------------------------------------------------

-- bob deleted row 21, alice row 22. One statement of alice's that switches
-- softdelete.actor to bob between two restores is one operation, alice's:
-- it may not bring back bob's row (42501), and nothing comes back.
SET ROLE uw_app;
SET softdelete.actor = 'bob';
DELETE FROM uw.users WHERE id = 21;
SET softdelete.actor = 'alice';
DELETE FROM uw.users WHERE id = 22;
SELECT softdelete.restore('uw.users', 22), set_config('softdelete.actor', 'bob', false),
       softdelete.restore('uw.users', 21);
\echo SQLSTATE :SQLSTATE
SET softdelete.actor = 'bob';
SELECT softdelete.restore('uw.users', 21) AS restored;
RESET softdelete.actor;
RESET ROLE;
SELECT id, deleted_at IS NULL AS live, deleted_by FROM uw.users WHERE id IN (21, 22) ORDER BY id;
SELECT action, actor, keys FROM softdelete.events
 WHERE table_name = 'uw.users' AND keys @> '21' ORDER BY id;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'uw.%';
DROP SCHEMA uw CASCADE;
DROP OWNED BY uw_owner, uw_app, uw_app2, uw_nodelete, uw_reader, uw_admin;
DROP ROLE uw_owner, uw_app, uw_app2, uw_nodelete, uw_reader, uw_admin;
