-- cascade_scans: the statements a cascade and a restore run find the rows
-- they follow by index. They read the parents' keys from a bound
-- array, whose length the planner counts. Read from
-- jsonb_array_elements(), which the planner takes for 100 rows whatever it
-- holds, a single-row DELETE read its parent of a few thousand rows whole
-- (a hash join) to lock one row, and a chain of self-references was read
-- whole once per level: time quadratic in its length.
-- pg_stat_xact_user_tables counts the scans not yet reported, the
-- cascade's own statements included; inside a transaction block nothing
-- is reported, so the difference from a mark taken at its start is the
-- block's own.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;

CREATE TABLE scan_parent (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE scan_child (id int PRIMARY KEY,
                         parent_id int NOT NULL REFERENCES scan_parent ON DELETE CASCADE);
CREATE INDEX scan_child_parent ON scan_child (parent_id);
INSERT INTO scan_parent SELECT g, 'p' || g FROM generate_series(1, 5000) g;
INSERT INTO scan_child SELECT g, g % 5000 + 1 FROM generate_series(1, 15000) g;
CREATE TABLE scan_chain (id int PRIMARY KEY, up int REFERENCES scan_chain ON DELETE CASCADE);
CREATE INDEX scan_chain_up ON scan_chain (up);
INSERT INTO scan_chain SELECT g, nullif(g - 1, 0) FROM generate_series(1, 2000) g;
-- scan_child is enabled with its parent (cascade).
SELECT count(*) > 0 AS enabled FROM softdelete.enable('scan_parent');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('scan_chain');
RESET client_min_messages;
ANALYZE scan_parent, scan_child, scan_chain;

CREATE TABLE scan_mark (relname name, seq_scan bigint, idx_scan bigint);
CREATE VIEW scans AS
SELECT s.relname, s.seq_scan - m.seq_scan AS seq_scans, s.idx_scan > m.idx_scan AS by_index
  FROM pg_stat_xact_user_tables s JOIN scan_mark m USING (relname) ORDER BY s.relname;
CREATE FUNCTION mark_scans() RETURNS void LANGUAGE sql AS $$
  DELETE FROM scan_mark;
  INSERT INTO scan_mark SELECT relname, seq_scan, idx_scan FROM pg_stat_xact_user_tables
   WHERE relname LIKE 'scan\_%' AND relname <> 'scan_mark';
$$;

-- One parent row and its three children.
BEGIN;
SELECT mark_scans();
DELETE FROM scan_parent WHERE id = 7;
SELECT * FROM scans;
COMMIT;
SELECT count(*) AS children_deleted FROM scan_child WHERE parent_id = 7 AND deleted_at IS NOT NULL;

-- Its restore brings the children back, by index too.
BEGIN;
SELECT mark_scans();
SELECT softdelete.restore('scan_parent', 7);
SELECT * FROM scans;
COMMIT;
SELECT count(*) AS children_live FROM scan_child WHERE parent_id = 7 AND deleted_at IS NULL;

-- A chain of 2000 rows, each referencing the one before: one level at a
-- time, each by index.
BEGIN;
SELECT mark_scans();
DELETE FROM scan_chain WHERE id = 1;
SELECT * FROM scans;
COMMIT;
SELECT count(*) AS chain_deleted FROM scan_chain WHERE deleted_at IS NOT NULL;

BEGIN;
SELECT mark_scans();
SELECT softdelete.restore('scan_chain', 1);
SELECT * FROM scans;
COMMIT;
SELECT count(*) AS chain_live FROM scan_chain WHERE deleted_at IS NULL;

DROP VIEW scans;
DROP FUNCTION mark_scans();
DROP TABLE scan_mark, scan_chain, scan_child, scan_parent;
