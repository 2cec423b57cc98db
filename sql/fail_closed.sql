-- fail_closed: when softdelete cannot tell what a change means, it refuses;
-- no row is ever removed because something was missing.
--  * A table that carries the enforcement but has lost its configuration
--    (a pg_dump -t restored where the extension exists, a row removed from
--    softdelete.tables behind the guard's back): DELETE, TRUNCATE and
--    tombstone writes are refused with a hint to repair; enable() repairs.
--  * softdelete.tables changes through enable() and disable() only, and no
--    application role can lock it.
--  * Temporary tables cannot be enabled.
--  * The extension's internals are out of an application role's reach.
--  * An UPDATE that moves a row to another partition moves it.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE fc_owner;
CREATE ROLE fc_app;
CREATE SCHEMA fc AUTHORIZATION fc_owner;
GRANT USAGE ON SCHEMA fc TO fc_app;
SET ROLE fc_owner;
CREATE TABLE fc.users (id int PRIMARY KEY, email text);
INSERT INTO fc.users SELECT g, 'u' || g FROM generate_series(1, 10) g;
CREATE TABLE fc.orders (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE fc.orders_eu PARTITION OF fc.orders FOR VALUES IN ('eu');
CREATE TABLE fc.orders_us PARTITION OF fc.orders FOR VALUES IN ('us');
INSERT INTO fc.orders SELECT g, 'eu' FROM generate_series(1, 4) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('fc.users');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('fc.orders');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON fc.users, fc.orders TO fc_app;
RESET ROLE;

--------------------------------------------------------------------------
-- softdelete.tables is not edited by hand
--------------------------------------------------------------------------

-- Not by the table's owner (it has no privilege to), not by a superuser
-- (55000, with a hint), not by TRUNCATE; nor can the application lock it.
SET ROLE fc_owner;
DELETE FROM softdelete.tables WHERE relid = 'fc.users'::regclass;
\echo SQLSTATE :SQLSTATE
UPDATE softdelete.tables SET column_name = 'email' WHERE relid = 'fc.users'::regclass;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
DELETE FROM softdelete.tables WHERE relid = 'fc.users'::regclass;
\echo SQLSTATE :SQLSTATE
UPDATE softdelete.tables SET log_events = false WHERE relid = 'fc.users'::regclass;
\echo SQLSTATE :SQLSTATE
TRUNCATE softdelete.tables;
\echo SQLSTATE :SQLSTATE
SET ROLE fc_app;
BEGIN;
LOCK TABLE softdelete.tables IN ACCESS EXCLUSIVE MODE;
\echo SQLSTATE :SQLSTATE
ROLLBACK;
RESET ROLE;
SELECT relid, column_name, log_events FROM softdelete.tables WHERE relid::text LIKE 'fc.%' ORDER BY 1;

--------------------------------------------------------------------------
-- Enforcement without configuration
--------------------------------------------------------------------------

-- A superuser can still get past the guard (replica mode skips triggers),
-- which is what a partial restore amounts to: the table keeps its triggers
-- and policies, its configuration is gone.
SET session_replication_role = replica;
DELETE FROM softdelete.tables WHERE relid = 'fc.users'::regclass;
RESET session_replication_role;
SELECT softdelete_internal.invalidate('fc.users');

-- Every way of removing or marking rows is refused, nothing is removed: a
-- DELETE, MERGE ... DELETE or TRUNCATE with 55000 and the repair in the hint;
-- an UPDATE that marks rows by the visibility policy's own check (42501).
SET ROLE fc_app;
DELETE FROM fc.users WHERE id = 1;
\echo SQLSTATE :SQLSTATE
UPDATE fc.users SET deleted_at = now() WHERE id = 1;
\echo SQLSTATE :SQLSTATE
MERGE INTO fc.users u USING (VALUES (2)) v(id) ON u.id = v.id WHEN MATCHED THEN DELETE;
\echo SQLSTATE :SQLSTATE
TRUNCATE fc.users;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT count(*) AS rows, count(*) FILTER (WHERE deleted_at IS NULL) AS live FROM fc.users;

-- The repair: enable() again, and soft delete works as before.
SET ROLE fc_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS repaired FROM softdelete.enable('fc.users');
RESET client_min_messages;
SET ROLE fc_app;
DELETE FROM fc.users WHERE id = 1;
RESET ROLE;
SELECT count(*) AS rows, count(*) FILTER (WHERE deleted_at IS NULL) AS live FROM fc.users;

--------------------------------------------------------------------------
-- Temporary tables
--------------------------------------------------------------------------

-- A temporary table ends with its session; its row in softdelete.tables
-- would not (and would be dumped): 0A000.
-- The temporary schema is named after the session's backend slot, which
-- depends on what else is connected (background workers): masked here.
CREATE TEMPORARY TABLE scratch (id int PRIMARY KEY);
DO $$
DECLARE m text; d text; h text;
BEGIN
    PERFORM softdelete.enable('scratch');
EXCEPTION WHEN feature_not_supported THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE '0A000: %', regexp_replace(m, 'pg_temp_[0-9]+', 'pg_temp_N') USING DETAIL = d, HINT = h;
END $$;
DROP TABLE scratch;

--------------------------------------------------------------------------
-- Internals are out of reach
--------------------------------------------------------------------------

-- The public API is all an application role can call; schema
-- softdelete_internal is closed to it (42501), whatever it tries.
SELECT p.proname
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'softdelete' ORDER BY 1;
SET ROLE fc_app;
SELECT softdelete_internal.require_admin('fc.users', 'x');
\echo SQLSTATE :SQLSTATE
SELECT softdelete_internal.run_as_owner('fc.users', 'DELETE FROM fc.users', NULL, true);
\echo SQLSTATE :SQLSTATE
SELECT softdelete_internal.deletion_stamp();
\echo SQLSTATE :SQLSTATE
-- The public functions survive what any role can give them.
SELECT softdelete.is_admin(0), softdelete.is_admin(12345), softdelete.is_reader(4294967295),
       softdelete.is_admin(NULL);
SELECT softdelete.restore(12345, 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore(NULL, NULL::int);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.hard_delete('pg_class', 1);
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.disable(0);
\echo SQLSTATE :SQLSTATE
RESET ROLE;

--------------------------------------------------------------------------
-- An UPDATE that moves a row to another partition
--------------------------------------------------------------------------

-- PostgreSQL moves it as a delete there and an insert here: the row moves,
-- live, and nothing is soft-deleted; a real DELETE is still soft.
SET ROLE fc_app;
\set QUIET off
UPDATE fc.orders SET region = 'us' WHERE id = 1;
MERGE INTO fc.orders o USING (VALUES (2)) v(id) ON o.id = v.id
WHEN MATCHED THEN UPDATE SET region = 'us';
DELETE FROM fc.orders WHERE id = 3;
\set QUIET on
RESET ROLE;
SELECT tableoid::regclass AS partition, id, region, deleted_at IS NOT NULL AS deleted
  FROM fc.orders ORDER BY id;

--------------------------------------------------------------------------
-- What enable() will not build on
--------------------------------------------------------------------------

-- A policy or trigger that took one of softdelete's names first would stand
-- in for the real one: refused (55000), nothing enabled.
SET ROLE fc_owner;
CREATE TABLE fc.decoy (id int PRIMARY KEY);
CREATE POLICY softdelete_visibility ON fc.decoy USING (true);
SELECT * FROM softdelete.enable('fc.decoy');
\echo SQLSTATE :SQLSTATE
DROP POLICY softdelete_visibility ON fc.decoy;
CREATE FUNCTION fc.pass() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
CREATE TRIGGER softdelete_backstop BEFORE DELETE ON fc.decoy
    FOR EACH ROW EXECUTE FUNCTION fc.pass();
SELECT * FROM softdelete.enable('fc.decoy');
\echo SQLSTATE :SQLSTATE
-- The same decoy on a table attached later as a partition of an enabled
-- table: the attach is refused, so no partition goes without enforcement.
CREATE TABLE fc.orders_asia (LIKE fc.orders);
CREATE POLICY softdelete_visibility ON fc.orders_asia USING (true);
ALTER TABLE fc.orders ATTACH PARTITION fc.orders_asia FOR VALUES IN ('asia');
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS attached FROM pg_inherits WHERE inhrelid = 'fc.orders_asia'::regclass;
DROP TABLE fc.orders_asia;
-- A table that inherits from one that is not enabled: reads through the
-- parent would show its deleted rows (0A000).
CREATE TABLE fc.base (id int PRIMARY KEY);
CREATE TABLE fc.heir (id int PRIMARY KEY) INHERITS (fc.base);
SELECT * FROM softdelete.enable('fc.heir');
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT count(*) AS enabled FROM softdelete.tables WHERE relid::text IN ('fc.decoy', 'fc.heir');

--------------------------------------------------------------------------
-- Inheritance children of an enabled table
--------------------------------------------------------------------------

-- A child's rows show through its parent, which hides and soft-deletes them.
-- Named directly, a child that is not enabled would show them, delete them
-- for good and restore them unlogged: every way to make one is refused
-- (55000), and nothing is made.
SET ROLE fc_owner;
CREATE TABLE fc.vip () INHERITS (fc.users);
\echo SQLSTATE :SQLSTATE
CREATE TEMP TABLE vip_tmp (perk text) INHERITS (fc.base, fc.users);
\echo SQLSTATE :SQLSTATE
CREATE TABLE fc.vip (LIKE fc.users INCLUDING ALL);
ALTER TABLE fc.vip INHERIT fc.users;
\echo SQLSTATE :SQLSTATE
ALTER TABLE fc.vip ADD COLUMN perk text, INHERIT fc.users;
\echo SQLSTATE :SQLSTATE
SELECT to_regclass('pg_temp.vip_tmp') AS temp_child, count(*) AS children,
       (SELECT count(*) FROM information_schema.columns
         WHERE table_schema = 'fc' AND table_name = 'vip' AND column_name = 'perk') AS perk
  FROM pg_inherits WHERE inhparent = 'fc.users'::regclass;
RESET ROLE;
CREATE FOREIGN DATA WRAPPER fc_wrapper;
CREATE SERVER fc_server FOREIGN DATA WRAPPER fc_wrapper;
CREATE FOREIGN TABLE fc.vip_remote () INHERITS (fc.users) SERVER fc_server;
\echo SQLSTATE :SQLSTATE
CREATE FOREIGN TABLE fc.vip_remote (id int, email text) SERVER fc_server;
ALTER FOREIGN TABLE fc.vip_remote INHERIT fc.users;
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS children FROM pg_inherits WHERE inhparent = 'fc.users'::regclass;
DROP FOREIGN TABLE fc.vip_remote;
DROP SERVER fc_server;
DROP FOREIGN DATA WRAPPER fc_wrapper;
-- Enabled first, the child inherits; then it follows the rules named
-- directly and through the parent, and its restores are logged.
SET ROLE fc_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('fc.vip');
RESET client_min_messages;
ALTER TABLE fc.vip INHERIT fc.users;
-- A migration's CREATE TABLE IF NOT EXISTS, run again, still passes.
CREATE TABLE IF NOT EXISTS fc.vip () INHERITS (fc.users);
INSERT INTO fc.vip (id, email) VALUES (101, 'v101'), (102, 'v102'), (103, 'v103');
GRANT SELECT, INSERT, UPDATE, DELETE ON fc.vip TO fc_app;
SET ROLE fc_app;
DELETE FROM fc.vip WHERE id = 101;
DELETE FROM fc.users WHERE id = 102;
SELECT id FROM fc.vip ORDER BY id;
SELECT id FROM fc.users WHERE id > 100 ORDER BY id;
UPDATE fc.vip SET deleted_at = NULL WHERE id = 101;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM ONLY fc.vip ORDER BY id;
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE table_name IN ('fc.vip', 'fc.users') AND (keys @> '[101]' OR keys @> '[102]') ORDER BY id;
-- enable() on a table with a child that is not enabled: refused (0A000),
-- the parent left as it was.
SET ROLE fc_owner;
CREATE TABLE fc.kin (id int PRIMARY KEY, email text);
CREATE TABLE fc.kin_child () INHERITS (fc.kin);
SELECT * FROM softdelete.enable('fc.kin');
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS enabled FROM softdelete.tables WHERE relid = 'fc.kin'::regclass;
SELECT count(*) AS columns FROM information_schema.columns
 WHERE table_schema = 'fc' AND table_name = 'kin';
RESET ROLE;
-- A parent and a child both enabled, but with different tombstone columns:
-- a DELETE through the parent would set the parent's column in the child's
-- rows, and the child would still read them as live. Refused whichever step
-- comes last: the INHERIT (55000), enable() of the child under the parent
-- and enable() of the parent over the child (0A000); nothing changes.
SET ROLE fc_owner;
SET client_min_messages = warning;
CREATE TABLE fc.clan (id int PRIMARY KEY, email text, gone_at timestamptz);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('fc.clan');
CREATE TABLE fc.odd (LIKE fc.clan INCLUDING ALL);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('fc.odd', column_name => 'gone_at');
RESET client_min_messages;
ALTER TABLE fc.odd INHERIT fc.clan;
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS children FROM pg_inherits WHERE inhparent = 'fc.clan'::regclass;
-- Linked with the same column; then the child is disabled (allowed) and
-- enabled again with another column. The parent cannot be disabled while
-- its child is enabled (55000), nor enabled again with another column.
SELECT count(*) > 0 AS disabled FROM softdelete.disable('fc.odd');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('fc.odd');
RESET client_min_messages;
ALTER TABLE fc.odd INHERIT fc.clan;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('fc.odd');
SELECT * FROM softdelete.enable('fc.odd', column_name => 'gone_at');
\echo SQLSTATE :SQLSTATE
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('fc.odd');
RESET client_min_messages;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('fc.clan');
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('fc.clan', column_name => 'gone_at');
\echo SQLSTATE :SQLSTATE
SELECT relid, column_name FROM softdelete.tables
 WHERE relid IN ('fc.clan'::regclass, 'fc.odd'::regclass) ORDER BY relid::text;
RESET ROLE;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'fc.%';
DROP SCHEMA fc CASCADE;
DROP OWNED BY fc_owner, fc_app;
DROP ROLE fc_owner, fc_app;
