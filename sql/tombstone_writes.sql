-- tombstone_writes: deleted_at, deleted_by and delete_reason are written by
-- softdelete, or by admins. Every path an application has to write them
-- (UPDATE in any shape, INSERT ... ON CONFLICT DO UPDATE, MERGE, prepared
-- statements, sub-selects in multi-column assignments, volatile functions)
-- is decided row by row on the value the row actually gets, evaluated once.
-- An assignment that leaves a column as it was is not a write, so an ORM
-- that saves every column keeps working.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE tw_owner;
CREATE ROLE tw_app;
CREATE SCHEMA tw AUTHORIZATION tw_owner;
GRANT USAGE ON SCHEMA tw TO tw_app;
SET ROLE tw_owner;
CREATE TABLE tw.users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
INSERT INTO tw.users SELECT g, 'u' || g, 'user ' || g FROM generate_series(1, 30) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('tw.users');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON tw.users TO tw_app;
RESET ROLE;

-- The tombstone of some rows, as the superuser sees them.
CREATE FUNCTION tw.state(lo int, hi int)
    RETURNS TABLE (id int, deleted boolean, stamped_by_server boolean, deleted_by text, delete_reason text)
    LANGUAGE sql AS $$
    SELECT id, deleted_at IS NOT NULL, deleted_at > now() - interval '1 hour', deleted_by, delete_reason
      FROM tw.users WHERE id BETWEEN lo AND hi ORDER BY id
$$;

--------------------------------------------------------------------------
-- An ORM that writes every column
--------------------------------------------------------------------------

-- Django (after inspectdb), Hibernate and GORM save a live row with the
-- tombstone columns as they read them: NULL. Not a write: UPDATE 1.
SET ROLE tw_app;
\set QUIET off
UPDATE tw.users SET email = 'u1', name = 'renamed', deleted_at = NULL, deleted_by = NULL,
                    delete_reason = NULL WHERE id = 1;
-- The same save through an upsert and through MERGE.
INSERT INTO tw.users (id, email, name, deleted_at, deleted_by, delete_reason)
VALUES (2, 'u2', 'upserted', NULL, NULL, NULL)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, deleted_at = excluded.deleted_at,
                               deleted_by = excluded.deleted_by, delete_reason = excluded.delete_reason;
MERGE INTO tw.users u USING (VALUES (3, 'merged')) v(id, name) ON u.id = v.id
WHEN MATCHED THEN UPDATE SET name = v.name, deleted_by = NULL, delete_reason = NULL;
\set QUIET on
RESET ROLE;
SELECT * FROM tw.state(1, 3);

--------------------------------------------------------------------------
-- Writes of the deletion record by the application: refused (42501)
--------------------------------------------------------------------------

SET ROLE tw_app;
UPDATE tw.users SET deleted_by = 'someone else' WHERE id = 4;
\echo SQLSTATE :SQLSTATE
UPDATE tw.users SET delete_reason = 'made up' WHERE id = 4;
\echo SQLSTATE :SQLSTATE
INSERT INTO tw.users (id, email) VALUES (4, 'u4') ON CONFLICT (id) DO UPDATE SET deleted_by = 'forged';
\echo SQLSTATE :SQLSTATE
INSERT INTO tw.users (id, email) VALUES (4, 'u4') ON CONFLICT (id) DO UPDATE SET delete_reason = 'forged';
\echo SQLSTATE :SQLSTATE
MERGE INTO tw.users u USING (VALUES (4)) v(id) ON u.id = v.id
WHEN MATCHED THEN UPDATE SET deleted_by = 'forged';
\echo SQLSTATE :SQLSTATE
UPDATE tw.users SET (name, delete_reason) = (SELECT 'x', 'forged') WHERE id = 4;
\echo SQLSTATE :SQLSTATE
-- A soft delete that names its own actor: the actor is not the
-- application's to choose (42501).
UPDATE tw.users SET deleted_at = now(), deleted_by = 'someone else' WHERE id = 4;
\echo SQLSTATE :SQLSTATE
-- An INSERT of a row already marked deleted: 42501.
INSERT INTO tw.users (id, email, deleted_at) VALUES (100, 'u100', now());
\echo SQLSTATE :SQLSTATE
RESET ROLE;
-- Row 4 is untouched, and there is no row 100.
SELECT * FROM tw.state(4, 4);
SELECT count(*) AS row_100 FROM tw.users WHERE id = 100;

--------------------------------------------------------------------------
-- Soft deletes the application writes as UPDATEs
--------------------------------------------------------------------------

SET ROLE tw_app;
SET softdelete.reason = 'closed by user';
\set QUIET off
-- A backdated value: the server stamps its own time.
UPDATE tw.users SET deleted_at = '2000-01-01' WHERE id = 5;
-- A multi-column assignment from a sub-select, with a reason of its own.
UPDATE tw.users SET (deleted_at, delete_reason) = (SELECT now(), 'from a sub-select') WHERE id = 6;
-- The same sub-select assigning NULL to a live row: nothing to restore.
UPDATE tw.users SET (deleted_at, delete_reason) = (SELECT NULL::timestamptz, NULL) WHERE id = 7;
-- A volatile expression, evaluated once per row: the odd rows get a value
-- (soft-deleted), the even rows NULL (left live).
UPDATE tw.users SET deleted_at = CASE WHEN id % 2 = 1 THEN clock_timestamp() END
 WHERE id BETWEEN 8 AND 11;
-- Deleting a deleted row again: the stamp never moves, 0 rows.
UPDATE tw.users SET deleted_at = now() WHERE id = 5;
-- The same soft delete through an upsert and through MERGE.
INSERT INTO tw.users (id, email) VALUES (16, 'u16') ON CONFLICT (id) DO UPDATE SET deleted_at = now();
MERGE INTO tw.users u USING (VALUES (17)) v(id) ON u.id = v.id
WHEN MATCHED THEN UPDATE SET deleted_at = '2000-01-01';
\set QUIET on
RESET softdelete.reason;
RESET ROLE;
SELECT * FROM tw.state(5, 11);
SELECT * FROM tw.state(16, 17);

-- A decision taken on the value, not on a plan: a prepared UPDATE whose new
-- value depends on a setting is a no-op while the setting is empty and a
-- soft delete once it is set, in the same prepared statement.
SET ROLE tw_app;
SET app.del = '';
PREPARE mark(int) AS
    UPDATE tw.users SET deleted_at = nullif(current_setting('app.del'), '')::timestamptz WHERE id = $1;
\set QUIET off
EXECUTE mark(12);
EXECUTE mark(12);
EXECUTE mark(12);
EXECUTE mark(12);
EXECUTE mark(12);
EXECUTE mark(12);
SET app.del = '2001-01-01';
EXECUTE mark(12);
EXECUTE mark(13);
SET app.del = '';
EXECUTE mark(14);
\set QUIET on
DEALLOCATE mark;
RESET app.del;
RESET ROLE;
SELECT * FROM tw.state(12, 14);

--------------------------------------------------------------------------
-- Admins write deletion records
--------------------------------------------------------------------------

SET ROLE tw_owner;
UPDATE tw.users SET deleted_at = now(), deleted_by = 'support desk', delete_reason = 'ticket 42'
 WHERE id = 15;
UPDATE tw.users SET delete_reason = 'corrected' WHERE id = 15;
INSERT INTO tw.users (id, email, deleted_by, delete_reason) VALUES (45, 'u45', 'support desk', 'imported');
RESET ROLE;
SELECT * FROM tw.state(15, 15);
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by, delete_reason FROM tw.users WHERE id = 45;

--------------------------------------------------------------------------
-- An application inserts live rows without deletion records
--------------------------------------------------------------------------

-- deleted_by, delete_reason and delete_op given to a live row it inserts
-- are refused as a deleted row is (42501), by INSERT, by an upsert's insert
-- and by a MERGE's INSERT action (which fails whole: its DELETE of row 21
-- does not happen either); NULL given explicitly, or as a parameter that
-- is NULL, is no record. Admins may (below).
SET ROLE tw_app;
INSERT INTO tw.users (id, email, deleted_by) VALUES (40, 'u40', 'postgres');
\echo SQLSTATE :SQLSTATE
INSERT INTO tw.users (id, email, delete_op) VALUES (40, 'u40', 1);
\echo SQLSTATE :SQLSTATE
INSERT INTO tw.users (id, email, delete_reason) VALUES (40, 'u40', 'gdpr')
    ON CONFLICT (id) DO UPDATE SET name = 'upserted';
\echo SQLSTATE :SQLSTATE
MERGE INTO tw.users u USING (VALUES (21), (41)) v(id) ON u.id = v.id
WHEN MATCHED THEN DELETE
WHEN NOT MATCHED THEN INSERT (id, email, deleted_by, delete_reason, delete_op)
    VALUES (v.id, 'u' || v.id, 'postgres', 'gdpr erasure', 1);
\echo SQLSTATE :SQLSTATE
INSERT INTO tw.users (id, email, deleted_by, delete_reason, delete_op) VALUES (42, 'u42', NULL, NULL, NULL);
PREPARE add_user(int, text) AS INSERT INTO tw.users (id, email, deleted_by) VALUES ($1, 'u' || $1, $2);
EXECUTE add_user(43, NULL);
EXECUTE add_user(44, 'mallory');
\echo SQLSTATE :SQLSTATE
DEALLOCATE add_user;
RESET ROLE;
-- Nor through a BEFORE INSERT trigger (here the owner's, which any role's
-- insert fires): the row it would write is checked as inserted.
SET ROLE tw_owner;
CREATE FUNCTION tw.stamp_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.deleted_by := 'from a trigger';
    RETURN NEW;
END
$$;
CREATE TRIGGER stamp_records BEFORE INSERT ON tw.users
    FOR EACH ROW WHEN (NEW.id = 46) EXECUTE FUNCTION tw.stamp_records();
RESET ROLE;
SET ROLE tw_app;
INSERT INTO tw.users (id, email) VALUES (46, 'u46');
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SET ROLE tw_owner;
DROP TRIGGER stamp_records ON tw.users;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by, delete_reason, delete_op
  FROM tw.users WHERE id = 21 OR id BETWEEN 40 AND 46 ORDER BY id;

--------------------------------------------------------------------------
-- What a tombstone write writes is written as any UPDATE of those columns
--------------------------------------------------------------------------

-- A stored generated column that reads deleted_by is computed again, and
-- an UPDATE OF deleted_by trigger fires, whichever statement writes it: an
-- ORM soft delete, an upsert's, a MERGE's UPDATE and DELETE, a restore. (As
-- PostgreSQL does for any MERGE, UPDATE OF triggers fire for the columns
-- any of its UPDATE actions write: row 27's too.)
SET ROLE tw_owner;
ALTER TABLE tw.users ADD COLUMN who text GENERATED ALWAYS AS (coalesce(deleted_by, '-')) STORED;
CREATE FUNCTION tw.say_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'deleted_by of row % written: %', NEW.id, coalesce(NEW.deleted_by, 'NULL');
    RETURN NULL;
END
$$;
CREATE TRIGGER by_written AFTER UPDATE OF deleted_by ON tw.users
    FOR EACH ROW EXECUTE FUNCTION tw.say_written();
RESET ROLE;
SET ROLE tw_app;
UPDATE tw.users SET deleted_at = now() WHERE id = 23;
INSERT INTO tw.users (id, email) VALUES (24, 'u24') ON CONFLICT (id) DO UPDATE SET deleted_at = now();
MERGE INTO tw.users u USING (VALUES (25)) v(id) ON u.id = v.id
WHEN MATCHED THEN UPDATE SET deleted_at = now();
MERGE INTO tw.users u USING (VALUES (26, 'd'), (27, 'u')) v(id, what) ON u.id = v.id
WHEN MATCHED AND v.what = 'd' THEN DELETE
WHEN MATCHED THEN UPDATE SET name = 'renamed';
RESET ROLE;
SET ROLE tw_owner;
UPDATE tw.users SET deleted_at = NULL WHERE id = 24;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by, who = coalesce(deleted_by, '-') AS who_current
  FROM tw.users WHERE id BETWEEN 23 AND 27 ORDER BY id;
-- Writing those columns as an UPDATE needs UPDATE privilege on them, as an
-- UPDATE naming them would: a role granted UPDATE on deleted_at alone
-- cannot soft-delete by UPDATE (42501), and can once it has all four; a
-- DELETE needs only DELETE.
CREATE ROLE tw_cols;
GRANT USAGE ON SCHEMA tw TO tw_cols;
GRANT SELECT, DELETE, UPDATE (deleted_at) ON tw.users TO tw_cols;
SET ROLE tw_cols;
UPDATE tw.users SET deleted_at = now() WHERE id = 28;
\echo SQLSTATE :SQLSTATE
DELETE FROM tw.users WHERE id = 29;
RESET ROLE;
GRANT UPDATE (deleted_by, delete_reason, delete_op) ON tw.users TO tw_cols;
SET ROLE tw_cols;
UPDATE tw.users SET deleted_at = now() WHERE id = 28;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by FROM tw.users WHERE id IN (28, 29) ORDER BY id;

--------------------------------------------------------------------------
-- The owner's BEFORE UPDATE trigger may veto a soft delete
--------------------------------------------------------------------------

-- A trigger that puts deleted_at back keeps the row live: the DELETE does
-- not count it (DELETE 2 of 4 matched, ROW_COUNT 1 of 2) and nothing is
-- logged for it, with the event log and without.
SET ROLE tw_owner;
CREATE TABLE tw.locked (id int PRIMARY KEY, locked boolean NOT NULL);
INSERT INTO tw.locked SELECT g, g % 2 = 0 FROM generate_series(1, 6) g;
CREATE TABLE tw.locked_quiet (id int PRIMARY KEY, locked boolean NOT NULL);
INSERT INTO tw.locked_quiet SELECT g, g % 2 = 0 FROM generate_series(1, 6) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('tw.locked');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('tw.locked_quiet', log_events => false);
RESET client_min_messages;
CREATE FUNCTION tw.keep_locked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.locked THEN
        NEW.deleted_at := NULL;
        NEW.deleted_by := NULL;
        NEW.delete_op := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER keep_locked BEFORE UPDATE ON tw.locked FOR EACH ROW EXECUTE FUNCTION tw.keep_locked();
CREATE TRIGGER keep_locked BEFORE UPDATE ON tw.locked_quiet FOR EACH ROW EXECUTE FUNCTION tw.keep_locked();
GRANT SELECT, DELETE ON tw.locked, tw.locked_quiet TO tw_app;
RESET ROLE;
SET ROLE tw_app;
\set QUIET off
DELETE FROM tw.locked WHERE id <= 4;
DELETE FROM tw.locked_quiet WHERE id <= 4;
-- With RETURNING the vetoed row comes back live, and PostgreSQL's tag
-- counts the rows returned.
DELETE FROM tw.locked WHERE id = 2 RETURNING id, deleted_at IS NOT NULL AS deleted;
\set QUIET on
DO $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM tw.locked WHERE id IN (5, 6);
    GET DIAGNOSTICS n = ROW_COUNT;
    RAISE NOTICE 'ROW_COUNT %', n;
END
$$;
-- A MERGE's DELETE counts as a DELETE does (MERGE 0 of 2 matched, both
-- vetoed); a vetoed row a WITH query's DELETE returns is the outer
-- statement's to count (its INSERT of 2 returned rows is INSERT 0 2).
\set QUIET off
MERGE INTO tw.locked l USING (VALUES (2), (4)) v(id) ON l.id = v.id WHEN MATCHED THEN DELETE;
RESET ROLE;
CREATE TEMP TABLE returned (id int);
GRANT INSERT ON returned TO tw_app;
SET ROLE tw_app;
WITH d AS (DELETE FROM tw.locked WHERE id IN (2, 4) RETURNING id) INSERT INTO returned SELECT id FROM d;
\set QUIET on
RESET ROLE;
SELECT 'locked' AS t, id, deleted_at IS NOT NULL AS deleted FROM tw.locked
UNION ALL
SELECT 'locked_quiet', id, deleted_at IS NOT NULL FROM tw.locked_quiet ORDER BY 1, 2;
SELECT table_name, row_count, keys FROM softdelete.events WHERE table_name LIKE 'tw.locked%' ORDER BY id;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'tw.%';
DROP SCHEMA tw CASCADE;
DROP OWNED BY tw_owner, tw_app, tw_cols;
DROP ROLE tw_owner, tw_app, tw_cols;
