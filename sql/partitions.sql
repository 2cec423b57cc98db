-- Partitioned tables: enabling the partitioned table covers
-- every partition, present and future, also when a partition is addressed
-- directly.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
-- CONTEXT lines carry PL/pgSQL line numbers: keep them out of the output.
\set SHOW_CONTEXT never

CREATE ROLE partitions_app NOLOGIN;

-- Unique on (id, region) as the primary key, and on (ref, region).
CREATE TABLE orders (
    id     integer,
    region text,
    ref    text NOT NULL,
    amount integer,
    PRIMARY KEY (id, region),
    CONSTRAINT orders_ref_region_key UNIQUE (ref, region)
) PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON orders, orders_eu, orders_us TO partitions_app;
INSERT INTO orders VALUES
    (1, 'eu', 'A', 10), (2, 'eu', 'B', 20), (3, 'eu', 'C', 30),
    (1, 'us', 'A', 40), (2, 'us', 'B', 50), (3, 'us', 'C', 60);

-- Every unique index, on the parent and on each partition, before enable().
CREATE TEMP TABLE before_enable AS
SELECT i.indrelid::regclass::text AS rel, c.relname AS index_name, pg_get_indexdef(i.indexrelid) AS indexdef
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid IN ('orders'::regclass, 'orders_eu'::regclass, 'orders_us'::regclass);

-- enable() on the partitioned table: the policies and triggers go on the
-- parent and on each partition.
SELECT * FROM softdelete.enable('orders');

-- What each relation carries now.
SELECT c.oid::regclass AS rel, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       (SELECT string_agg(polname, ', ' ORDER BY polname) FROM pg_policy WHERE polrelid = c.oid) AS policies,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = c.oid AND tgname LIKE 'softdelete%') AS triggers
  FROM pg_class c WHERE c.oid IN ('orders'::regclass, 'orders_eu'::regclass, 'orders_us'::regclass)
 ORDER BY 1;
-- The unique index on (ref, region) is live-only on the parent and on each
-- partition, each keeping its name; the primary keys stay full.
SELECT i.indrelid::regclass AS rel, c.relname AS index_name,
       regexp_replace(pg_get_indexdef(i.indexrelid), 'softdelete_[0-9]+_', 'softdelete_<oid>_') AS indexdef
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid IN ('orders'::regclass, 'orders_eu'::regclass, 'orders_us'::regclass)
   AND i.indisunique
 ORDER BY 1, 2;

-------------------------------------------------------------------------------
-- DELETE through the parent and on a partition directly
-------------------------------------------------------------------------------
SET ROLE partitions_app;
\set QUIET off
-- Through the parent: a soft delete, tag DELETE 1.
DELETE FROM orders WHERE id = 1 AND region = 'eu';
-- On a partition directly: a soft delete too.
DELETE FROM orders_us WHERE id = 1;
-- Through the parent across both partitions.
DELETE FROM orders WHERE id = 2;
-- Deleting rows already deleted affects none.
DELETE FROM orders WHERE id IN (1, 2);
DELETE FROM orders_eu WHERE id = 1;
-- RETURNING returns the soft-deleted rows.
DELETE FROM orders_eu WHERE id = 3 RETURNING id, region, deleted_at IS NOT NULL AS deleted, deleted_by;
\set QUIET on

-- The deleted rows are hidden through the parent and in each partition.
SELECT id, region, ref FROM orders ORDER BY region, id;
SELECT id, region, ref FROM orders_eu ORDER BY id;
SELECT id, region, ref FROM orders_us ORDER BY id;
SELECT count(*) FROM orders_eu WHERE id = 1;
-- The (ref, region) of a deleted row is free for a new live row.
INSERT INTO orders VALUES (4, 'eu', 'A', 70);
-- A live duplicate is still refused.
INSERT INTO orders VALUES (5, 'us', 'C', 80);
-- TRUNCATE of a partition is refused like TRUNCATE of the parent.
TRUNCATE orders_eu;
TRUNCATE orders;
RESET ROLE;

-- The rows are still there, marked.
SET softdelete.include_deleted = on;
SELECT id, region, ref, deleted_at IS NOT NULL AS deleted, deleted_by FROM orders ORDER BY region, id;
RESET softdelete.include_deleted;

-- One event per statement that deleted rows.
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE relid IN ('orders'::regclass, 'orders_eu'::regclass, 'orders_us'::regclass)
 ORDER BY id;

-- Restore through the parent's key.
SELECT softdelete.restore('orders', '{"id": 2, "region": "us"}'::jsonb);
SET ROLE partitions_app;
SELECT id, region, ref FROM orders_us ORDER BY id;
RESET ROLE;

-------------------------------------------------------------------------------
-- Partitions created or attached after enable()
-------------------------------------------------------------------------------

-- CREATE TABLE ... PARTITION OF: the new partition gets the same
-- enforcement as the others.
CREATE TABLE orders_asia PARTITION OF orders FOR VALUES IN ('asia');
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON orders_asia TO partitions_app;
INSERT INTO orders VALUES (1, 'asia', 'A', 100), (2, 'asia', 'B', 200), (3, 'asia', 'C', 300);

-- ATTACH PARTITION of a table made separately (with the tombstone columns).
CREATE TABLE orders_sa (LIKE orders);
INSERT INTO orders_sa (id, region, ref, amount) VALUES (1, 'sa', 'A', 1000), (2, 'sa', 'B', 2000);
ALTER TABLE orders ATTACH PARTITION orders_sa FOR VALUES IN ('sa');
GRANT SELECT, INSERT, UPDATE, DELETE ON orders_sa TO partitions_app;

-- A new partition that is itself partitioned: its own partitions are covered.
-- (Every unique key must contain the partition key: region again.)
CREATE TABLE orders_af PARTITION OF orders FOR VALUES IN ('af') PARTITION BY LIST (region);
CREATE TABLE orders_af_low PARTITION OF orders_af DEFAULT;
GRANT SELECT, DELETE ON orders_af, orders_af_low TO partitions_app;
INSERT INTO orders VALUES (1, 'af', 'A', 5), (2, 'af', 'B', 6);

SELECT c.oid::regclass AS rel, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       (SELECT string_agg(polname, ', ' ORDER BY polname) FROM pg_policy WHERE polrelid = c.oid) AS policies,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = c.oid AND tgname LIKE 'softdelete%') AS triggers
  FROM pg_class c
 WHERE c.oid IN ('orders_asia'::regclass, 'orders_sa'::regclass, 'orders_af'::regclass,
                 'orders_af_low'::regclass)
 ORDER BY 1;

SET ROLE partitions_app;
\set QUIET off
-- Through the parent: a soft delete of a row in the new partition.
DELETE FROM orders WHERE id = 1 AND region = 'asia';
-- On the new partitions directly.
DELETE FROM orders_asia WHERE id = 2;
DELETE FROM orders_sa WHERE id = 1;
DELETE FROM orders_af_low WHERE id = 1;
\set QUIET on
-- Hidden through the parent and in the new partitions queried directly.
SELECT id, region, ref FROM orders WHERE region IN ('asia', 'sa', 'af') ORDER BY region, id;
SELECT id, region, ref FROM orders_asia ORDER BY id;
SELECT id, region, ref FROM orders_sa ORDER BY id;
SELECT id, region, ref FROM orders_af ORDER BY id;
SELECT id, region, ref FROM orders_af_low ORDER BY id;
-- TRUNCATE of a new partition is refused.
TRUNCATE orders_asia;
RESET ROLE;

SET softdelete.include_deleted = on;
SELECT id, region, deleted_at IS NOT NULL AS deleted, deleted_by
  FROM orders WHERE region IN ('asia', 'sa', 'af') ORDER BY region, id;
RESET softdelete.include_deleted;

-------------------------------------------------------------------------------
-- DETACH PARTITION: the partition leaves enabled on its own, with its root's
-- options (PostgreSQL drops the triggers it had from the parent, and its
-- policies alone would hide its deleted rows while deletes removed rows for
-- good). Its deleted rows stay deleted and hidden, and a DELETE on it is a
-- soft delete logged under it. A role that cannot enable it (not its owner)
-- cannot detach it. ATTACH of a table enabled on its own is refused (55000)
-- until it is disabled, in the same transaction.
-------------------------------------------------------------------------------
SET client_min_messages = warning;
ALTER TABLE orders DETACH PARTITION orders_sa;
RESET client_min_messages;
SELECT relid, column_name, cascade, log_events FROM softdelete.tables
 WHERE relid IN ('orders'::regclass, 'orders_sa'::regclass) ORDER BY relid::text;
SET ROLE partitions_app;
SELECT id, ref FROM orders_sa ORDER BY id;
\set QUIET off
DELETE FROM orders_sa WHERE id = 2;
\set QUIET on
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM orders_sa ORDER BY id;
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE relid = 'orders_sa'::regclass ORDER BY id;
ALTER TABLE orders ATTACH PARTITION orders_sa FOR VALUES IN ('sa');
\echo SQLSTATE :SQLSTATE
CREATE TABLE plain_orders (LIKE orders) PARTITION BY LIST (region);
ALTER TABLE plain_orders ATTACH PARTITION orders_sa FOR VALUES IN ('sa');
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS attached FROM pg_inherits WHERE inhrelid = 'orders_sa'::regclass;
DROP TABLE plain_orders;
-- A live row takes the (ref, region) of a deleted one: the way back still
-- works, since disable() leaves the detached table's unique indexes
-- live-only, and the ATTACH takes them as the parent's.
INSERT INTO orders_sa (id, region, ref, amount) VALUES (3, 'sa', 'A', 3000);
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('orders_sa');
ALTER TABLE orders ATTACH PARTITION orders_sa FOR VALUES IN ('sa');
COMMIT;
SELECT count(*) AS own_configuration FROM softdelete.tables WHERE relid = 'orders_sa'::regclass;
SELECT c.relname AS index_name, pg_get_indexdef(i.indexrelid) AS indexdef,
       (SELECT h.inhparent::regclass FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) AS parent_index
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'orders_sa'::regclass AND i.indisunique ORDER BY 1;
SET ROLE partitions_app;
SELECT id, region, ref FROM orders WHERE region = 'sa' ORDER BY id;
INSERT INTO orders VALUES (4, 'sa', 'A', 4000);
\echo SQLSTATE :SQLSTATE
RESET ROLE;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
DELETE FROM orders WHERE region = 'sa' AND id = 3;
COMMIT;
-- DETACH ... CONCURRENTLY (two transactions) ends the same way.
CREATE TABLE logs (id int, day int, PRIMARY KEY (id, day)) PARTITION BY LIST (day);
CREATE TABLE logs_1 PARTITION OF logs FOR VALUES IN (1);
INSERT INTO logs VALUES (1, 1), (2, 1);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('logs', retention => '90 days');
DELETE FROM logs WHERE id = 1;
ALTER TABLE logs DETACH PARTITION logs_1 CONCURRENTLY;
RESET client_min_messages;
SELECT relid, retention FROM softdelete.tables WHERE relid = 'logs_1'::regclass;
SELECT id, deleted_at IS NOT NULL AS deleted FROM logs_1 ORDER BY id;
DROP TABLE logs, logs_1;
-- The parent's owner, who does not own the partition.
CREATE ROLE partitions_owner NOLOGIN;
ALTER TABLE orders OWNER TO partitions_owner;
SET ROLE partitions_owner;
ALTER TABLE orders DETACH PARTITION orders_asia;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
ALTER TABLE orders OWNER TO CURRENT_USER;
SELECT count(*) AS attached FROM pg_inherits WHERE inhrelid = 'orders_asia'::regclass;
SELECT count(*) AS own_configuration FROM softdelete.tables WHERE relid = 'orders_asia'::regclass;

-------------------------------------------------------------------------------
-- disable() on the partitioned table: every partition, old and new, is
-- released, and the unique constraint is back as it was.
-------------------------------------------------------------------------------
-- First remove the deleted row whose (ref, region) a live row took again.
BEGIN;
SET LOCAL softdelete.hard_delete = on;
DELETE FROM orders WHERE ref = 'A' AND region = 'eu' AND deleted_at IS NOT NULL;
COMMIT;
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('orders');
RESET client_min_messages;
SELECT c.oid::regclass AS rel, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       (SELECT count(*) FROM pg_policy WHERE polrelid = c.oid) AS policies,
       (SELECT count(*) FROM pg_trigger WHERE tgrelid = c.oid AND tgname LIKE 'softdelete%') AS triggers
  FROM pg_class c
 WHERE c.oid IN ('orders'::regclass, 'orders_eu'::regclass, 'orders_us'::regclass,
                 'orders_asia'::regclass, 'orders_sa'::regclass, 'orders_af'::regclass,
                 'orders_af_low'::regclass)
 ORDER BY 1;
-- The original partitions' unique indexes are as before enable().
SELECT i.indrelid::regclass::text AS rel, c.relname AS index_name, pg_get_indexdef(i.indexrelid) AS indexdef
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid IN ('orders'::regclass, 'orders_eu'::regclass, 'orders_us'::regclass)
EXCEPT
SELECT * FROM before_enable;
SELECT * FROM before_enable
EXCEPT
SELECT i.indrelid::regclass::text AS rel, c.relname AS index_name, pg_get_indexdef(i.indexrelid) AS indexdef
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid IN ('orders'::regclass, 'orders_eu'::regclass, 'orders_us'::regclass);
SELECT conname, pg_get_constraintdef(oid) AS condef
  FROM pg_constraint WHERE conrelid = 'orders'::regclass ORDER BY conname;

-------------------------------------------------------------------------------
-- Clean up
-------------------------------------------------------------------------------
DELETE FROM softdelete.events
 WHERE relid IN ('orders'::regclass, 'orders_eu'::regclass, 'orders_us'::regclass,
                 'orders_asia'::regclass, 'orders_sa'::regclass, 'orders_af'::regclass,
                 'orders_af_low'::regclass);
DROP TABLE orders;
DROP OWNED BY partitions_app, partitions_owner;
DROP ROLE partitions_app, partitions_owner;
