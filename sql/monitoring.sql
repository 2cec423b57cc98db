-- monitoring: softdelete.status (per enabled table: rows, deletions, next
-- purge, sizes, last purge run) and softdelete.stats (per table and period:
-- deletes, restores, purges and the reactivation rate, from the event log).
-- Both are for readers and admins, and show only the tables the role reads.
-- deleted_rows is exact and read through the partial index on deleted rows;
-- live rows are an estimate from the statistics, never a scan of the table.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE mo_owner;
CREATE ROLE mo_app;
CREATE ROLE mo_reader IN ROLE softdelete_reader;
CREATE ROLE mo_admin IN ROLE softdelete_admin;
CREATE ROLE mo_lone;  -- owns a table of its own, and is in neither role
CREATE SCHEMA mo AUTHORIZATION mo_owner;
GRANT USAGE ON SCHEMA mo TO mo_app, mo_reader, mo_admin;
GRANT CREATE, USAGE ON SCHEMA mo TO mo_lone;

SET ROLE mo_owner;
CREATE TABLE mo.users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
INSERT INTO mo.users SELECT g, 'u' || g FROM generate_series(1, 1000) g;
CREATE TABLE mo.parts (region text, id int, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE mo.parts_eu PARTITION OF mo.parts FOR VALUES IN ('eu');
CREATE TABLE mo.parts_us PARTITION OF mo.parts FOR VALUES IN ('us');
INSERT INTO mo.parts SELECT r, g FROM unnest(ARRAY['eu', 'us']) r, generate_series(1, 100) g;
CREATE TABLE mo.big (id int PRIMARY KEY, payload text);
INSERT INTO mo.big SELECT g, repeat('x', 50) FROM generate_series(1, 20000) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('mo.users', retention => '30 days');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('mo.parts', retention => '7 days');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('mo.big');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON mo.users, mo.parts, mo.parts_eu, mo.big TO mo_app, mo_admin;
RESET ROLE;
SET ROLE mo_lone;
CREATE TABLE mo.lone (id int PRIMARY KEY);
INSERT INTO mo.lone VALUES (1), (2);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('mo.lone');
RESET client_min_messages;
DELETE FROM mo.lone WHERE id = 1;
RESET ROLE;

-- The application deletes; an admin loads rows deleted long ago (their
-- stamps are fixed, so the oldest deletion is known) and restores a few.
SET ROLE mo_app;
DELETE FROM mo.users WHERE id <= 400;
DELETE FROM mo.parts_eu WHERE id <= 10;
DELETE FROM mo.big WHERE id <= 5;
RESET ROLE;
SET ROLE mo_admin;
INSERT INTO mo.users (id, email, deleted_at, deleted_by) VALUES
    (2001, 'old1', '2024-01-01 00:00:00+00', 'import'),
    (2002, 'old2', '2024-06-01 00:00:00+00', 'import');
INSERT INTO mo.parts (region, id, deleted_at, deleted_by) VALUES
    ('eu', 1000, '2024-03-01 00:00:00+00', 'import'),
    ('us', 1000, '2024-02-01 00:00:00+00', 'import');
SELECT softdelete.restore('mo.users', 1) + softdelete.restore('mo.users', 2)
       + softdelete.restore('mo.users', 3) AS restored;
RESET ROLE;
-- Purge runs, as the worker and purge() record them.
INSERT INTO softdelete.runs (started_at, finished_at, relid, table_name, started_by, status, rows_purged, error)
VALUES ('2024-05-01 10:00:00+00', '2024-05-01 10:01:00+00', 'mo.users'::regclass, 'mo.users', 'worker', 'succeeded', 10, NULL),
       ('2024-05-02 10:00:00+00', '2024-05-02 10:00:05+00', 'mo.users'::regclass, 'mo.users', 'purge()', 'failed', 0,
        'canceling statement due to lock timeout'),
       ('2024-04-01 10:00:00+00', NULL, 'mo.parts'::regclass, 'mo.parts', 'worker', 'running', 0, NULL);
-- The statistics of this session's writes reach the shared counters.
SELECT pg_stat_force_next_flush();
ANALYZE mo.big;

--------------------------------------------------------------------------
-- softdelete.status
--------------------------------------------------------------------------

\d softdelete.status
SELECT relid, deleted_rows,
       CASE WHEN oldest_deletion > now() - interval '1 hour' THEN 'within the hour'
            ELSE oldest_deletion::text END AS oldest_deletion,
       next_purge, last_run_started_at, last_run_finished_at, last_run_status, last_run_error
  FROM softdelete.status WHERE relid::text LIKE 'mo.%' ORDER BY relid::text;
-- deleted_rows is exact.
SELECT s.relid, s.deleted_rows = (SELECT count(*) FROM mo.users WHERE deleted_at IS NOT NULL) AS exact
  FROM softdelete.status s WHERE s.relid = 'mo.users'::regclass;
-- Live rows: the statistics' live tuples, which count deleted rows too,
-- less the deleted rows (597 live users).
SELECT relid, live_rows_estimate BETWEEN 550 AND 650 AS about_597
  FROM softdelete.status WHERE relid = 'mo.users'::regclass;
-- Sizes and dead tuples add up every partition (the partitioned table has
-- no storage of its own).
SELECT s.relid,
       s.table_bytes > 0 AND s.table_bytes = (SELECT sum(pg_table_size(r)) FROM unnest(ARRAY[s.relid, p.eu, p.us]) r) AS table_bytes,
       s.index_bytes > 0 AND s.index_bytes = (SELECT sum(pg_indexes_size(r)) FROM unnest(ARRAY[s.relid, p.eu, p.us]) r) AS index_bytes,
       s.dead_tuples = (SELECT sum(pg_stat_get_dead_tuples(r)) FROM unnest(ARRAY[p.eu, p.us]) r) AS dead_tuples
  FROM softdelete.status s, (VALUES ('mo.parts_eu'::regclass, 'mo.parts_us'::regclass)) p(eu, us)
 WHERE s.relid = 'mo.parts'::regclass;
-- The deleted rows are counted through the partial index on deleted rows,
-- never by a scan of the 20,000-row table.
BEGIN;
SELECT deleted_rows, oldest_deletion IS NOT NULL AS has_oldest FROM softdelete.status WHERE relid = 'mo.big'::regclass;
SELECT pg_stat_get_xact_numscans('mo.big'::regclass) AS table_scans,
       pg_stat_get_xact_numscans('mo.big_deleted_at_deleted'::regclass) > 0 AS index_scanned;
COMMIT;

-- Who sees what: readers and admins see every enabled table.
SET ROLE mo_reader;
SELECT relid, deleted_rows FROM softdelete.status WHERE relid::text LIKE 'mo.%' ORDER BY relid::text;
RESET ROLE;
SET ROLE mo_admin;
SELECT relid, deleted_rows FROM softdelete.status WHERE relid::text LIKE 'mo.%' ORDER BY relid::text;
-- The function behind the counts cannot be called by name.
SELECT * FROM softdelete_internal.deleted_rows('mo.users');
\echo SQLSTATE :SQLSTATE
RESET ROLE;
-- The application and a table owner outside both roles may not read it.
SET ROLE mo_app;
SELECT relid FROM softdelete.status;
\echo SQLSTATE :SQLSTATE
SELECT relid FROM softdelete.stats;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SET ROLE mo_lone;
SELECT relid FROM softdelete.status;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
-- Given SELECT on the views, a role sees only the tables it reads: the
-- owner of mo.lone sees mo.lone.
GRANT SELECT ON softdelete.status, softdelete.stats TO mo_lone;
SET ROLE mo_lone;
SELECT relid, deleted_rows, next_purge FROM softdelete.status;
SELECT DISTINCT relid FROM softdelete.stats;
RESET ROLE;
REVOKE SELECT ON softdelete.status, softdelete.stats FROM mo_lone;

--------------------------------------------------------------------------
-- softdelete.stats
--------------------------------------------------------------------------

-- Events of earlier days, as the log would hold them.
INSERT INTO softdelete.events (op, at, relid, table_name, action, actor, row_count, keys) VALUES
    (-1, now() - interval '2 hours', 'mo.users'::regclass, 'mo.users', 'delete', 'app', 100, NULL),
    (-2, now() - interval '3 days', 'mo.users'::regclass, 'mo.users', 'restore', 'admin', 50, NULL),
    (-3, now() - interval '10 days', 'mo.users'::regclass, 'mo.users', 'purge', 'worker', 70, NULL),
    (-4, now() - interval '40 days', 'mo.users'::regclass, 'mo.users', 'delete', 'app', 1000, NULL),
    (-5, now() - interval '20 minutes', 'mo.parts'::regclass, 'mo.parts', 'purge', 'worker', 5, NULL),
    (-6, now() - interval '1 minute', 'mo.parts'::regclass, 'mo.parts', 'hard_delete', 'admin', 1, NULL);
\d softdelete.stats
SELECT relid, period, deletes, restores, purges, reactivation_rate
  FROM softdelete.stats WHERE relid::text LIKE 'mo.%' ORDER BY relid::text, period;
SET ROLE mo_reader;
SELECT count(*) AS rows FROM softdelete.stats WHERE relid::text LIKE 'mo.%';
RESET ROLE;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'mo.%';
DELETE FROM softdelete.runs WHERE table_name LIKE 'mo.%';
DROP SCHEMA mo CASCADE;
DROP OWNED BY mo_owner, mo_app, mo_reader, mo_admin, mo_lone;
DROP ROLE mo_owner, mo_app, mo_reader, mo_admin, mo_lone;
