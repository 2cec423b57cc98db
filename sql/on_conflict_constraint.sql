-- on_conflict_constraint: INSERT ... ON CONFLICT ON CONSTRAINT <name>, as
-- SQLAlchemy's constraint=, peewee, Sequel and Kysely write it, keeps working
-- after enable() turned unique constraint <name> into the live-only unique
-- index <name>. A constraint trigger of that name that never fires stands in
-- for the constraint while the statement is parsed; the planner hook makes
-- the index of that name the arbiter. Covered: DO NOTHING, DO UPDATE, a
-- deleted row (no conflict), composite keys, column privileges, prepared
-- statements across enable() and disable(), names that are not ours,
-- partitions, and the placeholder's life (DROP CONSTRAINT, DROP INDEX,
-- disable()).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;

CREATE ROLE occ_owner;
CREATE ROLE occ_app;
CREATE SCHEMA occ AUTHORIZATION occ_owner;
GRANT USAGE ON SCHEMA occ TO occ_app;
SET ROLE occ_owner;
CREATE TABLE occ.items (
    id   int PRIMARY KEY,
    sku  text NOT NULL CONSTRAINT items_sku_key UNIQUE,
    org  int,
    code text,
    name text,
    CONSTRAINT items_org_code_key UNIQUE (org, code)
);
-- A unique index, never a constraint: ON CONFLICT ON CONSTRAINT never knew it.
CREATE UNIQUE INDEX items_lower_name ON occ.items (lower(name));
INSERT INTO occ.items VALUES (1, 'a', 1, 'x', 'one'), (2, 'b', 1, 'y', 'two');
CREATE TABLE occ.other (id int PRIMARY KEY, code text CONSTRAINT other_code_key UNIQUE);
GRANT SELECT, INSERT, UPDATE, DELETE ON occ.items, occ.other TO occ_app;

-- Prepared before enable(), with a generic plan on the full constraint.
SET plan_cache_mode = force_generic_plan;
PREPARE upsert_sku(int, text, text) AS
    INSERT INTO occ.items (id, sku, name) VALUES ($1, $2, $3)
    ON CONFLICT ON CONSTRAINT items_sku_key DO UPDATE SET name = excluded.name
    RETURNING id, sku, name;
EXECUTE upsert_sku(10, 'a', 'one, again');

SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('occ.items');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('occ.other');
RESET client_min_messages;

-- One placeholder per converted unique constraint: none for the unique index
-- or the primary key. It fires on nothing (AFTER DELETE, WHEN false) and
-- says what it is.
SELECT t.tgname, t.tgfoid::regproc AS function, pg_get_triggerdef(t.oid) LIKE '%WHEN (false)%' AS never,
       c.contype, obj_description(t.oid, 'pg_trigger') LIKE 'softdelete: stands for unique constraint%' AS described
  FROM pg_trigger t JOIN pg_constraint c ON c.oid = t.tgconstraint
 WHERE t.tgrelid = 'occ.items'::regclass ORDER BY 1;
RESET ROLE;

\set QUIET off
\set VERBOSITY terse
-------------------------------------------------------------------------------
-- 1. DO NOTHING and DO UPDATE, as the application
-------------------------------------------------------------------------------
SET ROLE occ_app;
INSERT INTO occ.items VALUES (3, 'a', 2, 'z', 'three') ON CONFLICT ON CONSTRAINT items_sku_key DO NOTHING;
INSERT INTO occ.items VALUES (3, 'a', 2, 'z', 'three') ON CONFLICT ON CONSTRAINT items_sku_key
    DO UPDATE SET name = excluded.name RETURNING id, sku, name;
-- Composite key.
INSERT INTO occ.items VALUES (4, 'c', 1, 'x', 'four') ON CONFLICT ON CONSTRAINT items_org_code_key
    DO UPDATE SET name = 'org 1, code x' RETURNING id, org, code, name;
-- The arbiter is the live-only index of that name, and only it.
EXPLAIN (COSTS OFF) INSERT INTO occ.items VALUES (3, 'a') ON CONFLICT ON CONSTRAINT items_sku_key DO NOTHING;
-- The generic plan prepared before enable() follows the new index.
EXECUTE upsert_sku(11, 'a', 'one, prepared');

-------------------------------------------------------------------------------
-- 2. A deleted row does not conflict
-------------------------------------------------------------------------------
DELETE FROM occ.items WHERE id = 2;
INSERT INTO occ.items VALUES (5, 'b', 5, 'q', 'five') ON CONFLICT ON CONSTRAINT items_sku_key
    DO UPDATE SET name = 'conflicted with a deleted row' RETURNING id, sku, name;
EXECUTE upsert_sku(5, 'b', 'five, prepared');
RESET ROLE;
SELECT id, sku, name, deleted_at IS NOT NULL AS deleted FROM occ.items ORDER BY id;

-------------------------------------------------------------------------------
-- 3. Names that are not a converted unique constraint of this table
-------------------------------------------------------------------------------
SET ROLE occ_owner;
ALTER TABLE occ.items ADD CONSTRAINT items_id_check CHECK (id > 0);
-- A constraint trigger of the owner's, named like the unique index.
CREATE FUNCTION occ.noop() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';
CREATE CONSTRAINT TRIGGER items_lower_name AFTER DELETE ON occ.items FOR EACH ROW EXECUTE FUNCTION occ.noop();
RESET ROLE;
SET ROLE occ_app;
-- The other table's placeholder: no such constraint here (42704).
INSERT INTO occ.items VALUES (6, 'f') ON CONFLICT ON CONSTRAINT other_code_key DO NOTHING;
\echo :SQLSTATE
-- A check constraint, and the owner's trigger: PostgreSQL's own 42809.
INSERT INTO occ.items VALUES (6, 'f') ON CONFLICT ON CONSTRAINT items_id_check DO NOTHING;
INSERT INTO occ.items VALUES (6, 'f') ON CONFLICT ON CONSTRAINT items_lower_name DO NOTHING;
\echo :SQLSTATE
-- The primary key, as ever.
INSERT INTO occ.items VALUES (1, 'f') ON CONFLICT ON CONSTRAINT items_pkey DO UPDATE SET name = 'pk' RETURNING id, name;
RESET ROLE;
SET ROLE occ_owner;
DROP TRIGGER items_lower_name ON occ.items;
ALTER TABLE occ.items DROP CONSTRAINT items_id_check;
RESET ROLE;

-------------------------------------------------------------------------------
-- 4. The constraint's columns need SELECT, as before enable()
-------------------------------------------------------------------------------
SET ROLE occ_owner;
REVOKE SELECT ON occ.items FROM occ_app;
GRANT SELECT (id, name, deleted_at) ON occ.items TO occ_app;
RESET ROLE;
SET ROLE occ_app;
INSERT INTO occ.items VALUES (7, 'a') ON CONFLICT ON CONSTRAINT items_sku_key DO NOTHING;
\echo :SQLSTATE
RESET ROLE;
SET ROLE occ_owner;
GRANT SELECT ON occ.items TO occ_app;
RESET ROLE;

-------------------------------------------------------------------------------
-- 5. disable(): the constraints come back and the placeholders go; the
--    prepared statement follows again
-------------------------------------------------------------------------------
SET ROLE occ_owner;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
DELETE FROM occ.items WHERE deleted_at IS NOT NULL;
COMMIT;
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('occ.items');
RESET client_min_messages;
SELECT conname, contype FROM pg_constraint WHERE conrelid = 'occ.items'::regclass ORDER BY 1;
RESET ROLE;
SET ROLE occ_app;
EXECUTE upsert_sku(12, 'a', 'one, after disable');
RESET ROLE;

-------------------------------------------------------------------------------
-- 6. Enabled again: DROP CONSTRAINT and DROP INDEX take the placeholder along
-------------------------------------------------------------------------------
SET ROLE occ_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('occ.items');
RESET client_min_messages;
ALTER TABLE occ.items DROP CONSTRAINT items_org_code_key;
DROP INDEX occ.items_sku_key;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'occ.items'::regclass AND tgname LIKE 'items%';
SELECT converted_uniques FROM softdelete.tables WHERE relid = 'occ.items'::regclass;
RESET ROLE;
SET ROLE occ_app;
INSERT INTO occ.items VALUES (8, 'a') ON CONFLICT ON CONSTRAINT items_sku_key DO NOTHING;
RESET ROLE;

-------------------------------------------------------------------------------
-- 7. Partitioned tables: through the parent, and on a partition attached later
-------------------------------------------------------------------------------
SET ROLE occ_owner;
CREATE TABLE occ.stock (id int, region int, sku text,
                        PRIMARY KEY (id, region), CONSTRAINT stock_sku_region_key UNIQUE (sku, region))
    PARTITION BY LIST (region);
CREATE TABLE occ.stock_1 PARTITION OF occ.stock FOR VALUES IN (1);
INSERT INTO occ.stock VALUES (1, 1, 'a');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('occ.stock');
RESET client_min_messages;
CREATE TABLE occ.stock_2 (LIKE occ.stock);
ALTER TABLE occ.stock ATTACH PARTITION occ.stock_2 FOR VALUES IN (2);
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE tgname = 'stock_sku_region_key' ORDER BY 1;
GRANT SELECT, INSERT, UPDATE, DELETE ON occ.stock TO occ_app;
RESET ROLE;
SET ROLE occ_app;
INSERT INTO occ.stock VALUES (2, 1, 'a'), (3, 2, 'a') ON CONFLICT ON CONSTRAINT stock_sku_region_key
    DO UPDATE SET sku = 'a, updated' RETURNING id, region, sku;
DELETE FROM occ.stock WHERE id = 3;
INSERT INTO occ.stock VALUES (4, 2, 'a') ON CONFLICT ON CONSTRAINT stock_sku_region_key DO NOTHING;
RESET ROLE;
SELECT id, region, sku, deleted_at IS NOT NULL AS deleted FROM occ.stock ORDER BY id;
\set QUIET on

SET client_min_messages = warning;
DEALLOCATE upsert_sku;
DROP SCHEMA occ CASCADE;
DROP OWNED BY occ_owner;
DROP OWNED BY occ_app;
DROP ROLE occ_owner, occ_app;
