-- Drift: soft delete cannot be switched off except by softdelete.disable().
-- The attacker is drift_owner, a plain role that owns two enabled tables
-- (drift.items, and drift.orders, partitioned) and tries every DDL that would
-- turn the enforcement off; drift_app is the application. Each refused
-- statement is shown with its SQLSTATE and message (a few in full, with
-- detail and hint); afterwards the catalog is compared with a snapshot taken
-- before, and the application's DELETE is shown to still be a soft delete.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
-- CONTEXT lines carry PL/pgSQL line numbers: keep them out of the output.
\set SHOW_CONTEXT never

CREATE ROLE drift_owner NOLOGIN;
CREATE ROLE drift_app NOLOGIN;
CREATE SCHEMA drift AUTHORIZATION drift_owner;
GRANT USAGE ON SCHEMA drift TO drift_app;

-- Runs stmt as the current role: "done", or the SQLSTATE and message it
-- failed with (the statement is rolled back).
CREATE FUNCTION pg_temp.attempt(stmt text) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
BEGIN
    EXECUTE stmt;
    RETURN 'done';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN state || ' ' || msg;
END
$$;

-- Everything in schema drift that soft delete's enforcement consists of:
-- RLS flags, policies, triggers with their firing mode, columns with their
-- types and defaults, inheritance.
CREATE FUNCTION pg_temp.enforcement() RETURNS TABLE (rel text, item text)
    LANGUAGE sql AS $$
    SELECT c.oid::regclass::text, format('rls %s, forced %s', c.relrowsecurity, c.relforcerowsecurity)
      FROM pg_class c
     WHERE c.relnamespace = 'drift'::regnamespace AND c.relkind IN ('r', 'p')
    UNION ALL
    SELECT p.polrelid::regclass::text,
           format('policy %s, %s, %s, to %s, using %s, check %s', p.polname, p.polcmd,
                  CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END, p.polroles::text,
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
      FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
     WHERE c.relnamespace = 'drift'::regnamespace
    UNION ALL
    SELECT t.tgrelid::regclass::text, format('trigger %s, fires %s', t.tgname, t.tgenabled)
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = 'drift'::regnamespace AND NOT t.tgisinternal
    UNION ALL
    SELECT a.attrelid::regclass::text,
           format('column %s %s, default %s', a.attname, format_type(a.atttypid, a.atttypmod),
                  pg_get_expr(d.adbin, d.adrelid))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'drift'::regnamespace AND c.relkind IN ('r', 'p')
       AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT i.inhrelid::regclass::text, format('inherits %s', i.inhparent::regclass)
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE c.relnamespace = 'drift'::regnamespace AND c.relkind IN ('r', 'p')
$$;

-------------------------------------------------------------------------------
-- The owner's tables
-------------------------------------------------------------------------------
SET ROLE drift_owner;
CREATE TABLE drift.items (id integer PRIMARY KEY, name text);
INSERT INTO drift.items VALUES (1, 'one'), (2, 'two'), (3, 'three');
CREATE TABLE drift.orders (id integer, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE drift.orders_eu PARTITION OF drift.orders FOR VALUES IN ('eu');
CREATE TABLE drift.orders_us PARTITION OF drift.orders FOR VALUES IN ('us');
INSERT INTO drift.orders VALUES (1, 'eu'), (2, 'eu'), (1, 'us'), (2, 'us');
-- Enabled with another name for the deleted_at column.
CREATE TABLE drift.notes (id integer PRIMARY KEY, body text);
INSERT INTO drift.notes VALUES (1, 'first'), (2, 'second');
-- An enabled inheritance child of an enabled parent (enable() wants the
-- parent enabled first, and the parent its children: the child is made
-- apart, enabled, then joined). disable() of the parent is refused while the
-- child is enabled: reads and writes through a plain parent would follow
-- none of the child's rules. DDL on the parent that PostgreSQL would carry
-- over to the child is judged on both.
CREATE TABLE drift.base (id integer PRIMARY KEY, label text, deleted_by text);
CREATE TABLE drift.heir (LIKE drift.base, PRIMARY KEY (id));
-- A plain table, never enabled, with the same columns as an enabled one.
CREATE TABLE drift.plain (id integer PRIMARY KEY, name text, deleted_at timestamptz,
                          deleted_by text, delete_reason text);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('drift.items');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('drift.orders');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('drift.notes', column_name => 'removed_at');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('drift.base');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('drift.heir');
ALTER TABLE drift.heir INHERIT drift.base;
RESET client_min_messages;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('drift.base');
\echo SQLSTATE :SQLSTATE
GRANT SELECT, INSERT, UPDATE, DELETE ON drift.items, drift.orders, drift.orders_eu, drift.orders_us,
    drift.notes TO drift_app;
RESET ROLE;

CREATE TEMP TABLE enforcement_before AS SELECT * FROM pg_temp.enforcement();

-------------------------------------------------------------------------------
-- Row-level security: 55000
-------------------------------------------------------------------------------
SET ROLE drift_owner;
-- In full: the message names the table and what was refused, the detail
-- says why, the hint names disable().
ALTER TABLE drift.items DISABLE ROW LEVEL SECURITY;
\echo SQLSTATE :SQLSTATE
-- A partition: the hint names the partitioned table, which disable() takes.
ALTER TABLE drift.orders_eu NO FORCE ROW LEVEL SECURITY;
\echo SQLSTATE :SQLSTATE
SELECT pg_temp.attempt($$ALTER TABLE drift.items NO FORCE ROW LEVEL SECURITY$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.orders DISABLE ROW LEVEL SECURITY$$);
SELECT pg_temp.attempt($$ALTER TABLE ONLY drift.orders NO FORCE ROW LEVEL SECURITY$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.orders_us DISABLE ROW LEVEL SECURITY$$);
-- Hidden behind a harmless subcommand: the whole statement is refused, so
-- the column is not added either.
SELECT pg_temp.attempt($$ALTER TABLE drift.items ADD COLUMN note text, NO FORCE ROW LEVEL SECURITY$$);
SELECT pg_temp.attempt($$ALTER TABLE IF EXISTS drift.notes ALTER COLUMN body SET STATISTICS 100,
                                                     DISABLE ROW LEVEL SECURITY$$);

-------------------------------------------------------------------------------
-- Triggers: 55000
-------------------------------------------------------------------------------
ALTER TABLE drift.items DISABLE TRIGGER softdelete_backstop;
\echo SQLSTATE :SQLSTATE
SELECT pg_temp.attempt($$ALTER TABLE drift.items DISABLE TRIGGER softdelete_guard_truncate$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items DISABLE TRIGGER ALL$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items DISABLE TRIGGER USER$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ENABLE REPLICA TRIGGER softdelete_backstop$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ENABLE ALWAYS TRIGGER softdelete_log_delete$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.orders DISABLE TRIGGER softdelete_backstop$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.orders_eu DISABLE TRIGGER USER$$);
SELECT pg_temp.attempt($$DROP TRIGGER softdelete_backstop ON drift.items$$);
SELECT pg_temp.attempt($$DROP TRIGGER IF EXISTS softdelete_guard_truncate ON drift.orders_us CASCADE$$);
SELECT pg_temp.attempt($$DROP TRIGGER softdelete_log_delete ON drift.orders$$);
SELECT pg_temp.attempt($$ALTER TRIGGER softdelete_backstop ON drift.items RENAME TO backstop$$);
SELECT pg_temp.attempt($$ALTER TRIGGER softdelete_guard_truncate ON drift.orders_eu RENAME TO guard$$);
-- Replacing one of ours with the owner's own function.
CREATE FUNCTION drift.let_through() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN OLD;
END
$$;
SELECT pg_temp.attempt($$CREATE OR REPLACE TRIGGER softdelete_backstop BEFORE DELETE ON drift.items
                         FOR EACH ROW EXECUTE FUNCTION drift.let_through()$$);
-- Even one enable() has not made yet: the softdelete_ names are ours.
SELECT pg_temp.attempt($$CREATE OR REPLACE TRIGGER softdelete_future BEFORE DELETE ON drift.items
                         FOR EACH ROW EXECUTE FUNCTION drift.let_through()$$);

-------------------------------------------------------------------------------
-- Policies: 55000
-------------------------------------------------------------------------------
DROP POLICY softdelete_visibility ON drift.items;
\echo SQLSTATE :SQLSTATE
SELECT pg_temp.attempt($$DROP POLICY IF EXISTS softdelete_access ON drift.items$$);
SELECT pg_temp.attempt($$DROP POLICY softdelete_visibility ON drift.orders_eu$$);
SELECT pg_temp.attempt($$ALTER POLICY softdelete_visibility ON drift.items USING (true)$$);
SELECT pg_temp.attempt($$ALTER POLICY softdelete_visibility ON drift.orders WITH CHECK (true)$$);
SELECT pg_temp.attempt($$ALTER POLICY softdelete_access ON drift.items TO drift_owner$$);
SELECT pg_temp.attempt($$ALTER POLICY softdelete_visibility ON drift.items RENAME TO visibility$$);

-------------------------------------------------------------------------------
-- Tombstone columns: 55000
-------------------------------------------------------------------------------
ALTER TABLE drift.items DROP COLUMN deleted_at;
\echo SQLSTATE :SQLSTATE
ALTER TABLE drift.items ALTER COLUMN deleted_at SET DEFAULT now();
\echo SQLSTATE :SQLSTATE
SELECT pg_temp.attempt($$ALTER TABLE drift.items DROP COLUMN deleted_by CASCADE$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items DROP COLUMN IF EXISTS delete_reason$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items RENAME COLUMN deleted_at TO gone_at$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items RENAME delete_reason TO why$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ALTER COLUMN deleted_at TYPE timestamp$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ALTER COLUMN deleted_by TYPE varchar(20)$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ALTER COLUMN deleted_by SET DEFAULT 'nobody'$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ALTER COLUMN delete_reason SET DEFAULT 'why not'$$);
-- NULL is what a live row has in them and what a restore writes back: no
-- NOT NULL (nor, as that comes first, identity). On a table without rows
-- PostgreSQL would allow both.
CREATE TABLE drift.empty (id integer PRIMARY KEY);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('drift.empty') \gset
SELECT pg_temp.attempt($$ALTER TABLE drift.empty ALTER COLUMN deleted_at SET NOT NULL$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.empty ALTER COLUMN deleted_by SET NOT NULL$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.empty ALTER COLUMN delete_op SET NOT NULL,
                         ALTER COLUMN delete_op ADD GENERATED ALWAYS AS IDENTITY$$);
SELECT attname, attnotnull, attidentity <> '' AS identity FROM pg_attribute
 WHERE attrelid = 'drift.empty'::regclass AND attname IN ('deleted_at', 'deleted_by', 'delete_op')
 ORDER BY attnum;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('drift.empty') \gset
DROP TABLE drift.empty;
-- The partitioned table and a partition.
SELECT pg_temp.attempt($$ALTER TABLE drift.orders RENAME COLUMN deleted_at TO gone_at$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.orders ALTER COLUMN deleted_at TYPE timestamp$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.orders_eu ALTER COLUMN deleted_at SET DEFAULT now()$$);
-- A table enabled with column_name => 'removed_at': that is its tombstone.
SELECT pg_temp.attempt($$ALTER TABLE drift.notes DROP COLUMN removed_at$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.notes ALTER COLUMN removed_at SET DEFAULT now()$$);
-- The primary key: softdelete finds rows, logs them and archives them by
-- it. Renaming a key column, dropping one, or dropping the primary key is
-- refused (the hint says disable(), change, enable()); the message names
-- the column or constraint. A partition's key column too.
SELECT pg_temp.attempt($$ALTER TABLE drift.items RENAME COLUMN id TO item_id$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items RENAME id TO item_id$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items DROP COLUMN id CASCADE$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items DROP CONSTRAINT items_pkey$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items DROP CONSTRAINT items_pkey,
                                                 ADD PRIMARY KEY (name)$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.orders RENAME COLUMN region TO area$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.orders_eu DROP CONSTRAINT orders_eu_pkey$$);
-- Its type may change (rows are looked up with the column's type of the
-- moment), and other columns may be renamed.
SELECT pg_temp.attempt($$ALTER TABLE drift.items ALTER COLUMN id TYPE bigint$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ALTER COLUMN id TYPE integer$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items RENAME COLUMN name TO title$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items RENAME COLUMN title TO name$$);
ALTER TABLE drift.items RENAME COLUMN id TO item_id;
\echo SQLSTATE :SQLSTATE
-- Through the parent of an enabled child: the change would reach the
-- child's tombstone column too, so it is refused.
SELECT pg_temp.attempt($$ALTER TABLE drift.base DROP COLUMN deleted_by$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.base ALTER COLUMN deleted_by SET DEFAULT 'nobody'$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.base RENAME COLUMN deleted_by TO by_whom$$);

-------------------------------------------------------------------------------
-- Inheriting from a table that is not enabled: 55000
-------------------------------------------------------------------------------
-- Reads through drift.plain would show the deleted rows of drift.items.
ALTER TABLE drift.items INHERIT drift.plain;
\echo SQLSTATE :SQLSTATE
RESET ROLE;

-------------------------------------------------------------------------------
-- Nothing changed
-------------------------------------------------------------------------------
-- The catalog is as it was before the attempts: no difference either way.
(SELECT * FROM pg_temp.enforcement() EXCEPT SELECT * FROM enforcement_before)
UNION ALL
(SELECT * FROM enforcement_before EXCEPT SELECT * FROM pg_temp.enforcement());

-- And the application's DELETE is still a soft delete.
SET ROLE drift_app;
\set QUIET off
DELETE FROM drift.items WHERE id = 1;
DELETE FROM drift.orders WHERE id = 1 AND region = 'eu';
DELETE FROM drift.orders_us WHERE id = 1;
DELETE FROM drift.notes WHERE id = 1;
\set QUIET on
SELECT count(*) AS items_seen FROM drift.items;
RESET ROLE;
-- A superuser sees every row: the deleted ones are there, marked.
SELECT id, name, deleted_at IS NOT NULL AS deleted, deleted_by FROM drift.items ORDER BY id;
SELECT id, region, deleted_at IS NOT NULL AS deleted FROM drift.orders ORDER BY region, id;
SELECT id, removed_at IS NOT NULL AS deleted FROM drift.notes ORDER BY id;
-- The owner is still subject to the policy, and TRUNCATE is still guarded.
SET ROLE drift_owner;
SELECT count(*) AS items_seen_by_owner FROM drift.items;
TRUNCATE drift.items;
\echo SQLSTATE :SQLSTATE
RESET ROLE;

-------------------------------------------------------------------------------
-- From inside the extension's own operations
-------------------------------------------------------------------------------
-- The owner's trigger fires while restore() brings a row back: it runs as
-- the owner, and its DDL is judged like any other. The restore fails and
-- the row stays deleted.
SET ROLE drift_owner;
CREATE FUNCTION drift.on_restore() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN
        EXECUTE 'ALTER TABLE drift.orders NO FORCE ROW LEVEL SECURITY';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER items_on_restore BEFORE UPDATE ON drift.items
    FOR EACH ROW EXECUTE FUNCTION drift.on_restore();
SELECT pg_temp.attempt($$SELECT softdelete.restore('drift.items', 1)$$);
DROP TRIGGER items_on_restore ON drift.items;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM drift.items WHERE id = 1;
SELECT relrowsecurity AS rls, relforcerowsecurity AS forced FROM pg_class WHERE oid = 'drift.orders'::regclass;

-------------------------------------------------------------------------------
-- What keeps working
-------------------------------------------------------------------------------
SET ROLE drift_owner;
-- New columns and indexes, and the table's other columns.
SELECT pg_temp.attempt($$ALTER TABLE drift.items ADD COLUMN note text$$);
SELECT pg_temp.attempt($$CREATE INDEX items_name_idx ON drift.items (name)$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items RENAME COLUMN name TO title$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ALTER COLUMN note SET DEFAULT 'n/a'$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ALTER COLUMN note TYPE varchar(100)$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items DROP COLUMN note$$);
-- Switching things on, or dropping a default nobody set.
SELECT pg_temp.attempt($$ALTER TABLE drift.items ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ENABLE TRIGGER ALL$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ENABLE TRIGGER softdelete_backstop$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ALTER COLUMN deleted_at DROP DEFAULT$$);
-- The owner's own triggers and policies.
SELECT pg_temp.attempt($$CREATE TRIGGER items_audit BEFORE UPDATE ON drift.items
                         FOR EACH ROW EXECUTE FUNCTION drift.let_through()$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items DISABLE TRIGGER items_audit$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items ENABLE REPLICA TRIGGER items_audit$$);
SELECT pg_temp.attempt($$ALTER TRIGGER items_audit ON drift.items RENAME TO items_audit2$$);
SELECT pg_temp.attempt($$CREATE OR REPLACE TRIGGER items_audit2 AFTER UPDATE ON drift.items
                         FOR EACH ROW EXECUTE FUNCTION drift.let_through()$$);
SELECT pg_temp.attempt($$DROP TRIGGER items_audit2 ON drift.items$$);
SELECT pg_temp.attempt($$CREATE POLICY items_named ON drift.items AS RESTRICTIVE USING (title IS NOT NULL)$$);
SELECT pg_temp.attempt($$ALTER POLICY items_named ON drift.items USING (true)$$);
SELECT pg_temp.attempt($$ALTER POLICY items_named ON drift.items RENAME TO items_any$$);
SELECT pg_temp.attempt($$DROP POLICY items_any ON drift.items$$);
-- Only the parent: still its own tombstone column.
SELECT pg_temp.attempt($$ALTER TABLE ONLY drift.base ALTER COLUMN deleted_by SET DEFAULT 'nobody'$$);
SELECT pg_temp.attempt($$ALTER TABLE ONLY drift.base DROP COLUMN deleted_by$$);
-- Everything on a table that is not enabled, whatever the names.
SELECT pg_temp.attempt($$ALTER TABLE drift.plain ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.plain NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY$$);
SELECT pg_temp.attempt($$CREATE TRIGGER softdelete_backstop BEFORE DELETE ON drift.plain
                         FOR EACH ROW EXECUTE FUNCTION drift.let_through()$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.plain DISABLE TRIGGER softdelete_backstop$$);
SELECT pg_temp.attempt($$DROP TRIGGER softdelete_backstop ON drift.plain$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.plain ALTER COLUMN deleted_at SET DEFAULT now()$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.plain RENAME COLUMN deleted_at TO gone_at$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.plain DROP COLUMN deleted_by$$);
-- Leaving a parent.
SELECT pg_temp.attempt($$ALTER TABLE drift.heir NO INHERIT drift.base$$);
-- A missing table gets PostgreSQL's own error.
SELECT pg_temp.attempt($$ALTER TABLE drift.missing DISABLE ROW LEVEL SECURITY$$);
SELECT pg_temp.attempt($$DROP POLICY softdelete_visibility ON drift.missing$$);
-- Dropping an enabled table takes its configuration along.
SELECT pg_temp.attempt($$DROP TABLE drift.notes$$);
RESET ROLE;
SELECT relid FROM softdelete.tables WHERE relid::text LIKE 'drift.%' ORDER BY relid::text;

-------------------------------------------------------------------------------
-- The extension's own tables: 0A000, also for a superuser
-------------------------------------------------------------------------------
TRUNCATE softdelete.events;
\echo SQLSTATE :SQLSTATE
-- softdelete.tables refuses TRUNCATE with its own trigger (55000), which
-- cannot be disabled or dropped (below).
TRUNCATE softdelete.tables;
\echo SQLSTATE :SQLSTATE
SELECT pg_temp.attempt($$TRUNCATE drift.plain, softdelete.events$$);
SELECT pg_temp.attempt($$ALTER TABLE softdelete.tables ENABLE ROW LEVEL SECURITY$$);
SELECT pg_temp.attempt($$ALTER TABLE softdelete.tables DISABLE TRIGGER ALL$$);
SELECT pg_temp.attempt($$ALTER TABLE softdelete.events DROP COLUMN keys$$);
SELECT pg_temp.attempt($$ALTER TABLE softdelete.events ADD COLUMN note text$$);
SELECT pg_temp.attempt($$ALTER TABLE softdelete.tables RENAME TO tables_old$$);
SELECT pg_temp.attempt($$ALTER TABLE softdelete.tables RENAME COLUMN column_name TO col$$);
SELECT pg_temp.attempt($$ALTER TABLE softdelete.events SET SCHEMA drift$$);
-- A policy there, whoever made it, decides who reads the extension's data.
CREATE POLICY drift_probe ON softdelete.events USING (true);
SELECT pg_temp.attempt($$ALTER POLICY drift_probe ON softdelete.events USING (false)$$);
SELECT pg_temp.attempt($$DROP POLICY drift_probe ON softdelete.events$$);
-- The extension's triggers (they call its functions) keep softdelete.tables
-- from being edited by hand.
SELECT pg_temp.attempt($$ALTER TABLE softdelete.tables DISABLE TRIGGER guard_config_truncate$$);
SELECT pg_temp.attempt($$DROP TRIGGER guard_config ON softdelete.tables$$);
SELECT pg_temp.attempt($$ALTER TRIGGER guard_config_truncate ON softdelete.tables RENAME TO gc$$);
-- A trigger of one's own there (it calls one's own function) is one's own.
SELECT pg_temp.attempt($$CREATE TRIGGER drift_probe AFTER INSERT ON softdelete.events
                         FOR EACH STATEMENT EXECUTE FUNCTION drift.let_through()$$);
SELECT pg_temp.attempt($$ALTER TRIGGER drift_probe ON softdelete.events RENAME TO drift_probe2$$);
SELECT pg_temp.attempt($$CREATE OR REPLACE TRIGGER guard_config BEFORE UPDATE ON softdelete.tables
                         FOR EACH ROW EXECUTE FUNCTION drift.let_through()$$);
SELECT pg_temp.attempt($$DROP TRIGGER drift_probe2 ON softdelete.events$$);

-------------------------------------------------------------------------------
-- Dropping the extension while tables are enabled: 55000
-------------------------------------------------------------------------------
-- Nothing else in this database is enabled right now.
SELECT relid FROM softdelete.tables ORDER BY relid::text;
DROP EXTENSION softdelete;
\echo SQLSTATE :SQLSTATE
SELECT pg_temp.attempt($$DROP EXTENSION softdelete CASCADE$$);
SELECT pg_temp.attempt($$DROP EXTENSION IF EXISTS no_such_extension, softdelete$$);
SELECT pg_temp.attempt($$DROP SCHEMA softdelete CASCADE$$);
SELECT pg_temp.attempt($$DROP SCHEMA IF EXISTS drift_nothing, softdelete_internal CASCADE$$);
SELECT pg_temp.attempt($$ALTER SCHEMA softdelete RENAME TO softdelete_old$$);
SELECT count(*) AS extension_still_there FROM pg_extension WHERE extname = 'softdelete';

-- DDL that reaches an enabled table through something else: a typed
-- table's type (ALTER TYPE ... DROP or RENAME ATTRIBUTE ... CASCADE), or a
-- CASCADE from DROP DOMAIN or DROP COLLATION that would drop a key or
-- tombstone column. Checked once it has run: refused, nothing changes.
-- A change that leaves them whole (another attribute renamed) works, and
-- DROP TYPE ... CASCADE drops the typed table itself, as DROP TABLE does.
SET ROLE drift_owner;
CREATE TYPE drift.row_shape AS (id int, v text, deleted_at timestamptz, deleted_by text,
                                delete_reason text, delete_op bigint);
CREATE TABLE drift.typed OF drift.row_shape (PRIMARY KEY (id));
CREATE DOMAIN drift.key_int AS int;
CREATE TABLE drift.by_domain (id drift.key_int PRIMARY KEY, v text);
CREATE COLLATION drift.key_order (provider = libc, locale = 'C');
CREATE TABLE drift.by_collation (id text COLLATE drift.key_order PRIMARY KEY);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('drift.typed');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('drift.by_domain');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('drift.by_collation');
RESET client_min_messages;
SELECT pg_temp.attempt($$ALTER TYPE drift.row_shape DROP ATTRIBUTE deleted_at CASCADE$$);
SELECT pg_temp.attempt($$ALTER TYPE drift.row_shape DROP ATTRIBUTE id CASCADE$$);
SELECT pg_temp.attempt($$ALTER TYPE drift.row_shape RENAME ATTRIBUTE delete_op TO op CASCADE$$);
SELECT pg_temp.attempt($$ALTER TYPE drift.row_shape RENAME ATTRIBUTE v TO value CASCADE$$);
SELECT pg_temp.attempt($$DROP DOMAIN drift.key_int CASCADE$$);
SELECT pg_temp.attempt($$DROP COLLATION drift.key_order CASCADE$$);
SELECT attname FROM pg_attribute
 WHERE attrelid IN ('drift.typed'::regclass, 'drift.by_domain'::regclass, 'drift.by_collation'::regclass)
   AND attnum > 0 AND NOT attisdropped ORDER BY attrelid::regclass::text, attnum;
-- The same DDL run by the owner's own code inside one of softdelete's
-- operations (a trigger that fires on restore(), run as the owner) is
-- checked as any other: refused, and the restore with it. So is an edit
-- of softdelete.tables made there, by a role that may restore a dump.
CREATE TABLE drift.restored (id int PRIMARY KEY);
INSERT INTO drift.restored VALUES (1), (2);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('drift.restored');
RESET client_min_messages;
CREATE FUNCTION drift.on_restore_ddl() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id = 1 THEN
        DROP DOMAIN drift.key_int CASCADE;
    ELSE
        INSERT INTO softdelete.tables (relid) VALUES ('drift.not_mine'::regclass);
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER on_restore_ddl AFTER UPDATE ON drift.restored FOR EACH ROW
    WHEN (OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL) EXECUTE FUNCTION drift.on_restore_ddl();
DELETE FROM drift.restored;
RESET ROLE;
CREATE TABLE drift.not_mine (id int PRIMARY KEY);
GRANT softdelete_backup TO drift_owner;
SET ROLE drift_owner;
SELECT pg_temp.attempt($$SELECT softdelete.restore('drift.restored', 1)$$);
SELECT pg_temp.attempt($$SELECT softdelete.restore('drift.restored', 2)$$);
RESET ROLE;
REVOKE softdelete_backup FROM drift_owner;
SET ROLE drift_owner;
SET softdelete.include_deleted = on;
SELECT id, deleted_at IS NOT NULL AS deleted FROM drift.restored ORDER BY id;
RESET softdelete.include_deleted;
SELECT attname FROM pg_attribute
 WHERE attrelid = 'drift.by_domain'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
SELECT relid FROM softdelete.tables
 WHERE relid IN ('drift.by_domain'::regclass, 'drift.by_collation'::regclass, 'drift.not_mine'::regclass)
 ORDER BY relid::text;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('drift.restored');
DROP TABLE drift.restored;
DROP FUNCTION drift.on_restore_ddl();
RESET ROLE;
DROP TABLE drift.not_mine;
SET ROLE drift_owner;
SELECT pg_temp.attempt($$DROP TYPE drift.row_shape CASCADE$$);
SELECT count(*) > 0 AS disabled
  FROM softdelete.disable('drift.by_domain') a, softdelete.disable('drift.by_collation') b;
DROP TABLE drift.by_domain, drift.by_collation;
DROP DOMAIN drift.key_int;
DROP COLLATION drift.key_order;
RESET ROLE;
SELECT relid FROM softdelete.tables WHERE relid::text LIKE 'drift.%' ORDER BY relid::text;

-- disable() is the way out; after it the same DDL works.
SET ROLE drift_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('drift.items');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('drift.orders');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('drift.heir');
-- Its child disabled first, the parent may go too.
SELECT count(*) > 0 AS disabled FROM softdelete.disable('drift.base');
RESET client_min_messages;
SELECT pg_temp.attempt($$ALTER TABLE drift.items NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.items DROP COLUMN delete_reason$$);
SELECT pg_temp.attempt($$ALTER TABLE drift.orders ALTER COLUMN deleted_at SET DEFAULT now()$$);
RESET ROLE;
SELECT pg_temp.attempt($$DROP EXTENSION softdelete$$);
SELECT count(*) AS extension_still_there FROM pg_extension WHERE extname = 'softdelete';

-------------------------------------------------------------------------------
-- Clean up
-------------------------------------------------------------------------------
SET client_min_messages = warning;
CREATE EXTENSION softdelete;
DROP SCHEMA drift CASCADE;
RESET client_min_messages;
DROP OWNED BY drift_owner;
DROP ROLE drift_owner;
DROP OWNED BY drift_app;
DROP ROLE drift_app;
