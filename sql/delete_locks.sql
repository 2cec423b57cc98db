-- delete_locks: a soft delete of a row that foreign keys reference locks it
-- FOR UPDATE before writing it (so that a transaction inserting a child and
-- then touching the parent waits instead of deadlocking; isolation test
-- child_insert_touch), and the cascade then does not lock it a second time.
-- That holds for a DELETE and for an ORM's UPDATE that sets deleted_at.
-- Counted in the WAL: each tuple lock is one heap LOCK record naming the
-- table's file, and the soft delete itself one UPDATE record.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
CREATE EXTENSION pg_walinspect SCHEMA public;
CREATE ROLE locks_owner;
CREATE ROLE locks_app;
CREATE SCHEMA locks AUTHORIZATION locks_owner;
GRANT USAGE ON SCHEMA locks TO locks_app;
SET search_path = locks;
SET ROLE locks_owner;
CREATE TABLE parents (id int PRIMARY KEY, name text);
CREATE TABLE children (id int PRIMARY KEY, parent_id int REFERENCES parents, note text);
INSERT INTO parents SELECT g, 'p' || g FROM generate_series(1, 4) g;
INSERT INTO children SELECT g, (g + 1) / 2, 'c' || g FROM generate_series(1, 8) g;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('parents', cascade => true);
GRANT SELECT, INSERT, UPDATE, DELETE ON parents, children TO locks_app;
RESET ROLE;
RESET client_min_messages;

-- The heap records on table tbl since the LSN since, by kind.
CREATE FUNCTION locks.records(tbl regclass, since pg_lsn)
RETURNS TABLE (record_type text, records bigint) LANGUAGE sql AS $$
    SELECT record_type, count(*)
      FROM public.pg_get_wal_records_info(since, pg_current_wal_flush_lsn())
     WHERE resource_manager = 'Heap'
       AND block_ref LIKE '%/' || pg_relation_filenode(tbl) || ' %'
     GROUP BY record_type ORDER BY record_type
$$;

-- A DELETE of one parent: one lock, one update.
SELECT pg_current_wal_insert_lsn() AS lsn \gset
SET ROLE locks_app;
DELETE FROM parents WHERE id = 1;
RESET ROLE;
SELECT * FROM locks.records('locks.parents', :'lsn');
SELECT id, deleted_at IS NOT NULL AS deleted FROM children WHERE parent_id = 1 ORDER BY id;

-- An ORM's soft delete of one parent: the same.
SELECT pg_current_wal_insert_lsn() AS lsn \gset
SET ROLE locks_app;
UPDATE parents SET deleted_at = now() WHERE id = 2;
RESET ROLE;
SELECT * FROM locks.records('locks.parents', :'lsn');
SELECT id, deleted_at IS NOT NULL AS deleted FROM children WHERE parent_id = 2 ORDER BY id;

-- An ORM's UPDATE that restores a parent (as an admin) and soft-deletes
-- another in one statement: the restored row is not locked first, so the
-- cascade locks the rows it handles.
GRANT softdelete_admin TO locks_app;
SELECT pg_current_wal_insert_lsn() AS lsn \gset
SET ROLE locks_app;
UPDATE parents SET deleted_at = CASE id WHEN 2 THEN NULL ELSE now() END WHERE id IN (2, 3);
RESET ROLE;
SELECT * FROM locks.records('locks.parents', :'lsn');
SELECT parent_id, id, deleted_at IS NOT NULL AS deleted FROM children WHERE parent_id IN (2, 3)
 ORDER BY parent_id, id;

-- A DELETE joined to another relation: its plan's input is a join, whose
-- outputs are the four values, the row's lock and the row identities, and
-- nothing the planner left behind (no NULL::record). Parent 4 is locked and
-- soft-deleted once, though the join matches it twice, with its children.
REVOKE softdelete_admin FROM locks_app;
SET ROLE locks_app;
EXPLAIN (VERBOSE, COSTS OFF)
DELETE FROM parents p USING (VALUES (4), (4)) v(k) WHERE p.id = v.k;
SELECT pg_current_wal_insert_lsn() AS lsn \gset
DELETE FROM parents p USING (VALUES (4), (4)) v(k) WHERE p.id = v.k;
RESET ROLE;
SELECT * FROM locks.records('locks.parents', :'lsn');
SELECT parent_id, id, deleted_at IS NOT NULL AS deleted FROM children WHERE parent_id = 4 ORDER BY id;
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE table_name LIKE 'locks.%' ORDER BY id DESC LIMIT 2;

-- Clean up.
RESET search_path;
DROP SCHEMA locks CASCADE;
DELETE FROM softdelete.events WHERE table_name LIKE 'locks.%';
DROP EXTENSION pg_walinspect;
DROP OWNED BY locks_app, locks_owner;
DROP ROLE locks_app, locks_owner;
