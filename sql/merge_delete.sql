-- merge_delete: MERGE ... WHEN MATCHED THEN DELETE on an enabled table is a
-- soft delete made by the statement itself, as a DELETE is: MERGE n counts
-- the rows, one operation logs them with their keys, a source row matching
-- one target row twice fails with MERGE's own 21000 and changes nothing,
-- the DELETE privilege and the DELETE policies decide who may, and
-- softdelete.hard_delete keeps it a DELETE. A MERGE that also has an
-- UPDATE action keeps its DELETE action and the backstop trigger
-- soft-deletes those rows (27000 on a double match).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE md_owner;
CREATE ROLE md_app;        -- CRUD on the tables
CREATE ROLE md_deleter;    -- SELECT and DELETE only
CREATE ROLE md_updater;    -- SELECT and UPDATE, no DELETE
CREATE ROLE md_admin IN ROLE softdelete_admin;
CREATE SCHEMA md AUTHORIZATION md_owner;
GRANT USAGE ON SCHEMA md TO md_app, md_deleter, md_updater, md_admin;

SET ROLE md_owner;
CREATE TABLE md.users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
INSERT INTO md.users SELECT g, 'u' || g || '@x', 'user ' || g FROM generate_series(1, 40) g;
-- A table with its own row-level security, made before enable(): the app
-- may delete only the notes it owns.
CREATE TABLE md.notes (id int PRIMARY KEY, owner text NOT NULL);
INSERT INTO md.notes VALUES (1, 'md_app'), (2, 'someone_else'), (3, 'md_app');
ALTER TABLE md.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_read ON md.notes FOR SELECT USING (true);
CREATE POLICY notes_delete ON md.notes FOR DELETE USING (owner = current_user);
CREATE TABLE md.readings (region text, id int, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE md.readings_eu PARTITION OF md.readings FOR VALUES IN ('eu');
CREATE TABLE md.readings_us PARTITION OF md.readings FOR VALUES IN ('us');
INSERT INTO md.readings SELECT r, g FROM unnest(ARRAY['eu', 'us']) r, generate_series(1, 3) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('md.users');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('md.notes');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('md.readings');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON md.users, md.notes, md.readings TO md_app, md_admin;
GRANT SELECT, DELETE ON md.users TO md_deleter;
GRANT SELECT, UPDATE ON md.users TO md_updater;
RESET ROLE;

-- The events since a mark, without their ids and times.
CREATE FUNCTION pg_temp.events_since(first bigint)
    RETURNS TABLE (op_no bigint, table_name text, action text, actor text, row_count bigint, keys jsonb)
    LANGUAGE sql AS $$
    SELECT dense_rank() OVER (ORDER BY op), table_name, action::text, actor, row_count, keys
      FROM softdelete.events WHERE id > first ORDER BY id
$$;
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset

\set QUIET off

-------------------------------------------------------------------------------
-- 1. The app's MERGE: MERGE 2 (1 matches twice nothing, 999 does not exist),
--    stamped with the transaction's time and the actor, one operation.
-------------------------------------------------------------------------------
SET ROLE md_app;
BEGIN;
MERGE INTO md.users u USING (VALUES (1), (2), (999)) s(id) ON u.id = s.id
WHEN MATCHED THEN DELETE;
RESET ROLE;
SELECT id, deleted_at = now() AS at_xact_time, deleted_by, delete_op IS NOT NULL AS has_op
  FROM md.users WHERE id IN (1, 2) ORDER BY id;
COMMIT;
SET ROLE md_app;
SELECT count(*) AS visible FROM md.users WHERE id IN (1, 2);
-- Again: the rows are gone for the application, MERGE 0, nothing logged.
MERGE INTO md.users u USING (VALUES (1), (2)) s(id) ON u.id = s.id
WHEN MATCHED THEN DELETE;
RESET ROLE;
SELECT * FROM pg_temp.events_since(:mark);
SELECT max(id) AS mark FROM softdelete.events \gset

-------------------------------------------------------------------------------
-- 2. A source that matches one row twice: MERGE's own 21000, nothing changed.
-------------------------------------------------------------------------------
SET ROLE md_app;
MERGE INTO md.users u USING (VALUES (3), (4), (4)) s(id) ON u.id = s.id
WHEN MATCHED THEN DELETE;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL) AS deleted FROM md.users WHERE id IN (3, 4);
SELECT count(*) AS new_events FROM softdelete.events WHERE id > :mark;

-------------------------------------------------------------------------------
-- 3. Conditions, DO NOTHING and INSERT in the same MERGE: MERGE 3 (two soft
--    deletes, one insert); the event counts the deleted rows only.
-------------------------------------------------------------------------------
SET ROLE md_app;
MERGE INTO md.users u
USING (VALUES (5, true), (6, false), (7, true), (41, true)) s(id, gone) ON u.id = s.id
WHEN MATCHED AND s.gone THEN DELETE
WHEN MATCHED THEN DO NOTHING
WHEN NOT MATCHED THEN INSERT VALUES (s.id, 'u' || s.id || '@x', 'new');
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM md.users WHERE id IN (5, 6, 7, 41) ORDER BY id;
SELECT * FROM pg_temp.events_since(:mark);
SELECT max(id) AS mark FROM softdelete.events \gset

-------------------------------------------------------------------------------
-- 4. A MERGE with an UPDATE action too. On a table whose only policies are
--    the extension's, its DELETE action is rewritten as well: MERGE 2, one
--    operation of one row, and a double match is 21000. On a table with
--    policies of its own (notes), the DELETE action stays and the backstop
--    soft-deletes the row: a double match there meets the backstop's own
--    update, 27000, and nothing changes either way.
-------------------------------------------------------------------------------
SET ROLE md_app;
MERGE INTO md.users u USING (VALUES (8, 'd'), (9, 'u')) s(id, what) ON u.id = s.id
WHEN MATCHED AND s.what = 'd' THEN DELETE
WHEN MATCHED THEN UPDATE SET name = 'renamed';
MERGE INTO md.users u USING (VALUES (10, 'd'), (10, 'd')) s(id, what) ON u.id = s.id
WHEN MATCHED AND s.what = 'd' THEN DELETE
WHEN MATCHED THEN UPDATE SET name = 'renamed';
\echo SQLSTATE :SQLSTATE
MERGE INTO md.notes n USING (VALUES (1, 'd'), (1, 'd')) s(id, what) ON n.id = s.id
WHEN MATCHED AND s.what = 'd' THEN DELETE
WHEN MATCHED THEN UPDATE SET owner = n.owner;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, name FROM md.users WHERE id IN (8, 9, 10) ORDER BY id;
SELECT id, deleted_at IS NOT NULL AS deleted FROM md.notes WHERE id = 1;
SELECT * FROM pg_temp.events_since(:mark);
SELECT max(id) AS mark FROM softdelete.events \gset

-------------------------------------------------------------------------------
-- 5. Who may: the DELETE privilege is enough and is needed; the table's
--    DELETE policies judge each matched row as they do on a plain table
--    (42501 "target row violates row-level security policy").
-------------------------------------------------------------------------------
SET ROLE md_deleter;
MERGE INTO md.users u USING (VALUES (11)) s(id) ON u.id = s.id WHEN MATCHED THEN DELETE;
SET ROLE md_updater;
MERGE INTO md.users u USING (VALUES (12)) s(id) ON u.id = s.id WHEN MATCHED THEN DELETE;
\echo SQLSTATE :SQLSTATE
-- A role granted UPDATE on one column only may still MERGE with DELETE and
-- UPDATE actions: its DELETE action stays a DELETE (the backstop's).
RESET ROLE;
CREATE ROLE md_columns;
GRANT USAGE ON SCHEMA md TO md_columns;
GRANT SELECT, DELETE, UPDATE (name) ON md.users TO md_columns;
SET ROLE md_columns;
MERGE INTO md.users u USING (VALUES (29, 'd'), (30, 'u')) s(id, what) ON u.id = s.id
WHEN MATCHED AND s.what = 'd' THEN DELETE
WHEN MATCHED THEN UPDATE SET name = 'by columns';
SET ROLE md_app;
MERGE INTO md.notes n USING (VALUES (1), (2)) s(id) ON n.id = s.id WHEN MATCHED THEN DELETE;
\echo SQLSTATE :SQLSTATE
MERGE INTO md.notes n USING (VALUES (3)) s(id) ON n.id = s.id WHEN MATCHED THEN DELETE;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by, name FROM md.users
 WHERE id IN (11, 12, 29, 30) ORDER BY id;
SELECT id, owner, deleted_at IS NOT NULL AS deleted FROM md.notes ORDER BY id;
SELECT * FROM pg_temp.events_since(:mark);
SELECT max(id) AS mark FROM softdelete.events \gset

-------------------------------------------------------------------------------
-- 6. A prepared MERGE follows the actor of each execution, and an admin's
--    SET LOCAL softdelete.hard_delete makes the same prepared MERGE a hard
--    delete (re-planned), logged as such; without it, a soft delete again.
-------------------------------------------------------------------------------
SET ROLE md_admin;
PREPARE gone(int) AS
    MERGE INTO md.users u USING (VALUES ($1)) s(id) ON u.id = s.id WHEN MATCHED THEN DELETE;
SET softdelete.actor = 'alice';
EXECUTE gone(13);
SET softdelete.actor = 'bob';
EXECUTE gone(14);
RESET softdelete.actor;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
EXECUTE gone(15);
COMMIT;
EXECUTE gone(16);
DEALLOCATE gone;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by FROM md.users WHERE id BETWEEN 13 AND 16 ORDER BY id;
SELECT * FROM pg_temp.events_since(:mark);
SELECT max(id) AS mark FROM softdelete.events \gset

-------------------------------------------------------------------------------
-- 7. An admin who reads deleted rows (include_deleted) and MERGE-deletes one
--    that is deleted already: MERGE 0, its stamp and operation unmoved.
-------------------------------------------------------------------------------
SELECT deleted_at AS stamp_13, delete_op AS op_13 FROM md.users WHERE id = 13 \gset
SET ROLE md_admin;
SET softdelete.include_deleted = on;
MERGE INTO md.users u USING (VALUES (13)) s(id) ON u.id = s.id WHEN MATCHED THEN DELETE;
RESET softdelete.include_deleted;
RESET ROLE;
SELECT deleted_at = :'stamp_13' AS stamp_kept, delete_op = :op_13 AS op_kept, deleted_by
  FROM md.users WHERE id = 13;

-------------------------------------------------------------------------------
-- 8. undo() of a MERGE's operation brings back exactly its rows.
-------------------------------------------------------------------------------
SET ROLE md_app;
MERGE INTO md.users u USING (VALUES (17), (18)) s(id) ON u.id = s.id WHEN MATCHED THEN DELETE;
RESET ROLE;
SELECT op AS merge_op FROM softdelete.events WHERE id > :mark ORDER BY id DESC LIMIT 1 \gset
SELECT softdelete.undo(:merge_op) AS restored;
SELECT id, deleted_at IS NULL AS live FROM md.users WHERE id IN (16, 17, 18) ORDER BY id;
SELECT max(id) AS mark FROM softdelete.events \gset

-------------------------------------------------------------------------------
-- 9. A partitioned table: the rows are soft-deleted in their partitions, one
--    event per partition of the one operation.
-------------------------------------------------------------------------------
SET ROLE md_app;
MERGE INTO md.readings r USING (VALUES ('eu', 1), ('us', 2)) s(region, id)
    ON r.region = s.region AND r.id = s.id
WHEN MATCHED THEN DELETE;
RESET ROLE;
SELECT tableoid::regclass AS partition, id, deleted_at IS NOT NULL AS deleted
  FROM md.readings ORDER BY region, id;
SELECT * FROM pg_temp.events_since(:mark);
SELECT max(id) AS mark FROM softdelete.events \gset
-- A MERGE that deletes one row and moves another to another partition: the
-- row moves, live (eu 7 becomes us 7), and only the deleted one is logged.
INSERT INTO md.readings VALUES ('eu', 7);
SET ROLE md_app;
MERGE INTO md.readings r USING (VALUES ('eu', 7, 'move'), ('us', 3, 'gone')) s(region, id, what)
    ON r.region = s.region AND r.id = s.id
WHEN MATCHED AND s.what = 'gone' THEN DELETE
WHEN MATCHED THEN UPDATE SET region = 'us';
RESET ROLE;
SELECT tableoid::regclass AS partition, id, deleted_at IS NOT NULL AS deleted
  FROM md.readings WHERE id IN (3, 7) ORDER BY region, id;
SELECT * FROM pg_temp.events_since(:mark);
-- A row moved into a partition is inserted there: a BEFORE INSERT trigger of
-- that partition cannot give the application's row deletion records, by
-- UPDATE or by MERGE (42501), and nothing moves.
SET ROLE md_owner;
CREATE FUNCTION md.stamp_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.deleted_by := 'from a trigger';
    RETURN NEW;
END
$$;
CREATE TRIGGER stamp_records BEFORE INSERT ON md.readings_eu
    FOR EACH ROW EXECUTE FUNCTION md.stamp_records();
RESET ROLE;
SET ROLE md_app;
UPDATE md.readings SET region = 'eu' WHERE region = 'us' AND id = 7;
\echo SQLSTATE :SQLSTATE
MERGE INTO md.readings r USING (VALUES ('us', 7)) s(region, id) ON r.region = s.region AND r.id = s.id
WHEN MATCHED THEN UPDATE SET region = 'eu';
\echo SQLSTATE :SQLSTATE
RESET ROLE;
DROP TRIGGER stamp_records ON md.readings_eu;
SELECT tableoid::regclass AS partition, id, deleted_by FROM md.readings WHERE id = 7;

-------------------------------------------------------------------------------
-- 10. One operation, one actor and reason: those in effect when it took its
--     number. A function in the statement that changes softdelete.actor or
--     softdelete.reason row by row changes neither the rows' deleted_by and
--     delete_reason nor the event's actor and reason, which agree.
-------------------------------------------------------------------------------
SET ROLE md_owner;
CREATE FUNCTION md.claim(who text) RETURNS boolean LANGUAGE sql VOLATILE AS $$
    SELECT set_config('softdelete.actor', who, false) IS NOT NULL
       AND set_config('softdelete.reason', 'because ' || who, false) IS NOT NULL
$$;
GRANT EXECUTE ON FUNCTION md.claim(text) TO md_app;
RESET ROLE;
SELECT max(id) AS mark FROM softdelete.events \gset
SET ROLE md_app;
SET softdelete.actor = 'alice';
MERGE INTO md.users u USING (VALUES (19), (20), (21)) s(id) ON u.id = s.id
WHEN MATCHED AND md.claim(CASE s.id WHEN 19 THEN 'alice' ELSE 'mallory' END) THEN DELETE;
SET softdelete.actor = 'alice';
DELETE FROM md.users WHERE id IN (22, 23) AND md.claim('bob' || id);
SET softdelete.actor = 'alice';
UPDATE md.users SET deleted_at = now() WHERE id IN (24, 25) AND md.claim('carl' || id);
RESET softdelete.actor;
RESET softdelete.reason;
RESET ROLE;
SELECT u.id, u.deleted_by, u.delete_reason, e.actor = u.deleted_by AS event_agrees,
       e.reason IS NOT DISTINCT FROM u.delete_reason AS reason_agrees
  FROM md.users u JOIN softdelete.events e ON e.op = u.delete_op AND e.id > :mark
 WHERE u.id BETWEEN 19 AND 25 ORDER BY u.id;

-------------------------------------------------------------------------------
-- 11. An admin's MERGE and deleted rows. Under softdelete.hard_delete its
--     DELETE reaches deleted rows too (row 20, soft-deleted above) and live
--     ones (26): MERGE 2, logged as hard deletes. In a MERGE that also
--     writes deleted_at (an admin's then reaches deleted rows), a DELETE
--     action skips a deleted row (21), as a DELETE does, and the next WHEN
--     clause takes it: MERGE 3, no error from the visibility policy.
-------------------------------------------------------------------------------
SELECT max(id) AS mark FROM softdelete.events \gset
SET ROLE md_admin;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
MERGE INTO md.users u USING (VALUES (20), (26)) s(id) ON u.id = s.id WHEN MATCHED THEN DELETE;
COMMIT;
MERGE INTO md.users u USING (VALUES (21, 'gone'), (27, 'gone'), (28, 'keep')) s(id, what) ON u.id = s.id
WHEN MATCHED AND s.what = 'gone' THEN DELETE
WHEN MATCHED THEN UPDATE SET name = 'kept', deleted_at = deleted_at;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted, name FROM md.users WHERE id BETWEEN 20 AND 28 ORDER BY id;
SELECT * FROM pg_temp.events_since(:mark);

-- An admin's SET LOCAL softdelete.hard_delete holds for a MERGE's DELETE
-- actions and a TRUNCATE that a SECURITY DEFINER function of the owner
-- runs, as for its DELETE: both roles are admins of the table. Without the
-- setting the same MERGE soft-deletes.
SET ROLE md_owner;
CREATE TABLE md.boxes (id int PRIMARY KEY);
INSERT INTO md.boxes VALUES (1), (2), (3);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('md.boxes');
RESET client_min_messages;
CREATE FUNCTION md.drop_box(k int) RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
    AS $$ MERGE INTO md.boxes b USING (VALUES (k)) AS s(id) ON b.id = s.id WHEN MATCHED THEN DELETE $$;
CREATE FUNCTION md.clear_boxes() RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
    AS $$ TRUNCATE md.boxes $$;
RESET ROLE;
SET ROLE md_admin;
SELECT md.drop_box(1);
BEGIN;
SET LOCAL softdelete.hard_delete = on;
SELECT md.drop_box(2);
COMMIT;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM md.boxes ORDER BY id;
SET ROLE md_admin;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
SELECT md.clear_boxes();
COMMIT;
RESET ROLE;
SELECT count(*) AS boxes_left FROM md.boxes;
SELECT action, row_count, keys FROM softdelete.events WHERE relid = 'md.boxes'::regclass ORDER BY id;
DROP TABLE md.boxes;

\set QUIET on

-- Nothing was removed for good but the hard-deleted rows 15, 20 and 26.
SELECT count(*) AS rows_left FROM md.users;

SET client_min_messages = warning;
DROP SCHEMA md CASCADE;
RESET client_min_messages;
DROP OWNED BY md_app;
DROP OWNED BY md_deleter;
DROP OWNED BY md_updater;
DROP OWNED BY md_admin;
DROP OWNED BY md_owner;
DROP OWNED BY md_columns;
DROP ROLE md_app, md_deleter, md_updater, md_admin, md_owner, md_columns;
