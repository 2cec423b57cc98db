-- Names with quotes, spaces, capitals and another schema:
-- enable, delete, restore, hard delete and disable all quote identifiers.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
-- CONTEXT lines carry PL/pgSQL line numbers: keep them out of the output.
\set SHOW_CONTEXT never

CREATE ROLE names_app NOLOGIN;
CREATE SCHEMA "My Schema";
GRANT USAGE ON SCHEMA "My Schema" TO names_app;

CREATE TABLE "My Schema"."Odd ""Name"" Table" (
    "Id"      integer PRIMARY KEY,
    "E-Mail"  text NOT NULL UNIQUE,
    "Full Name" text
);
CREATE UNIQUE INDEX "Lower E-Mail" ON "My Schema"."Odd ""Name"" Table" (lower("E-Mail"));
GRANT SELECT, INSERT, UPDATE, DELETE ON "My Schema"."Odd ""Name"" Table" TO names_app;
INSERT INTO "My Schema"."Odd ""Name"" Table" VALUES
    (1, 'Ann@Example.com', 'Ann'),
    (2, 'Bob@Example.com', 'Bob'),
    (3, 'Cid@Example.com', 'Cid');

-- enable(): every object is named with its quotes.
SELECT * FROM softdelete.enable('"My Schema"."Odd ""Name"" Table"');
SELECT relid, key_columns FROM softdelete.tables WHERE relid = '"My Schema"."Odd ""Name"" Table"'::regclass;
SELECT c.relname AS index_name, pg_get_indexdef(i.indexrelid) AS indexdef
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = '"My Schema"."Odd ""Name"" Table"'::regclass AND c.relname NOT LIKE 'softdelete%'
 ORDER BY 1;
SELECT polname, pg_get_expr(polqual, polrelid) AS using_expr
  FROM pg_policy WHERE polrelid = '"My Schema"."Odd ""Name"" Table"'::regclass ORDER BY polname;
-- Idempotent with these names too.
SELECT * FROM softdelete.enable('"My Schema"."Odd ""Name"" Table"');

-- DELETE as the application role: a soft delete; the row disappears.
SET ROLE names_app;
\set QUIET off
DELETE FROM "My Schema"."Odd ""Name"" Table" WHERE "E-Mail" = 'Bob@Example.com';
\set QUIET on
SELECT "Id", "E-Mail" FROM "My Schema"."Odd ""Name"" Table" ORDER BY "Id";
-- The address is free for a new live row, and the upsert on it works.
INSERT INTO "My Schema"."Odd ""Name"" Table" VALUES (4, 'Bob@Example.com', 'Bob 2')
    ON CONFLICT ("E-Mail") DO UPDATE SET "Full Name" = excluded."Full Name";
INSERT INTO "My Schema"."Odd ""Name"" Table" VALUES (5, 'Bob@Example.com', 'Bob 3')
    ON CONFLICT ("E-Mail") DO UPDATE SET "Full Name" = excluded."Full Name";
SELECT "Id", "E-Mail", "Full Name" FROM "My Schema"."Odd ""Name"" Table" ORDER BY "Id";
RESET ROLE;

-- The deleted row is marked, and the event names the table and key.
SET softdelete.include_deleted = on;
SELECT "Id", deleted_at IS NOT NULL AS deleted, deleted_by
  FROM "My Schema"."Odd ""Name"" Table" ORDER BY "Id";
RESET softdelete.include_deleted;
SELECT table_name, action,
       CASE WHEN actor = current_user THEN '(superuser)' ELSE actor END AS actor, row_count, keys
  FROM softdelete.events
 WHERE relid = '"My Schema"."Odd ""Name"" Table"'::regclass ORDER BY id;

-- restore(): refused while the live row 4 holds the address (23505)...
SELECT softdelete.restore('"My Schema"."Odd ""Name"" Table"', 2);
\echo SQLSTATE :SQLSTATE
-- ... works once the address is free.
SET ROLE names_app;
DELETE FROM "My Schema"."Odd ""Name"" Table" WHERE "Id" = 4;
RESET ROLE;
SELECT softdelete.restore('"My Schema"."Odd ""Name"" Table"', 2);
SELECT softdelete.restore('"My Schema"."Odd ""Name"" Table"', '{"Id": 3}'::jsonb);
\echo SQLSTATE :SQLSTATE
SET ROLE names_app;
SELECT "Id", "E-Mail" FROM "My Schema"."Odd ""Name"" Table" ORDER BY "Id";
RESET ROLE;

-- hard_delete(): the row is gone for good, even for a reader.
SELECT softdelete.hard_delete('"My Schema"."Odd ""Name"" Table"', 4);
SET softdelete.include_deleted = on;
SELECT "Id", deleted_at IS NOT NULL AS deleted FROM "My Schema"."Odd ""Name"" Table" ORDER BY "Id";
RESET softdelete.include_deleted;
SELECT table_name, action,
       CASE WHEN actor = current_user THEN '(superuser)' ELSE actor END AS actor, row_count, keys
  FROM softdelete.events
 WHERE relid = '"My Schema"."Odd ""Name"" Table"'::regclass ORDER BY id;

-- disable(): the unique constraint and index come back with their names.
SELECT * FROM softdelete.disable('"My Schema"."Odd ""Name"" Table"');
SELECT c.relname AS index_name, pg_get_indexdef(i.indexrelid) AS indexdef
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = '"My Schema"."Odd ""Name"" Table"'::regclass ORDER BY 1;
SELECT conname, pg_get_constraintdef(oid) AS condef
  FROM pg_constraint WHERE conrelid = '"My Schema"."Odd ""Name"" Table"'::regclass ORDER BY 1;

-------------------------------------------------------------------------------
-- A composite primary key with odd column names, a custom tombstone column
-- name with capitals, and a table name with a space.
-------------------------------------------------------------------------------
CREATE TABLE "My Schema"."Member List" (
    "Org ID" integer,
    "Id"     integer,
    "Nick"   text,
    PRIMARY KEY ("Org ID", "Id"),
    UNIQUE ("Org ID", "Nick")
);
GRANT SELECT, DELETE ON "My Schema"."Member List" TO names_app;
INSERT INTO "My Schema"."Member List" VALUES (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'a');
SELECT * FROM softdelete.enable('"My Schema"."Member List"', column_name => 'Removed At');
SELECT pg_get_triggerdef(oid) AS triggerdef FROM pg_trigger
 WHERE tgrelid = '"My Schema"."Member List"'::regclass AND tgname = 'softdelete_log_delete';
SET ROLE names_app;
\set QUIET off
DELETE FROM "My Schema"."Member List" WHERE "Nick" = 'a';
\set QUIET on
SELECT "Org ID", "Id", "Nick" FROM "My Schema"."Member List" ORDER BY 1, 2;
RESET ROLE;
SELECT keys FROM softdelete.events
 WHERE relid = '"My Schema"."Member List"'::regclass ORDER BY id;
SELECT softdelete.restore('"My Schema"."Member List"', '{"Org ID": 2, "Id": 1}'::jsonb);
SELECT softdelete.hard_delete('"My Schema"."Member List"', '{"Org ID": 1, "Id": 1}'::jsonb);
SET softdelete.include_deleted = on;
SELECT "Org ID", "Id", "Removed At" IS NOT NULL AS deleted FROM "My Schema"."Member List" ORDER BY 1, 2;
RESET softdelete.include_deleted;
SELECT * FROM softdelete.disable('"My Schema"."Member List"');
SELECT attname FROM pg_attribute
 WHERE attrelid = '"My Schema"."Member List"'::regclass AND attnum > 0 ORDER BY attnum;

-------------------------------------------------------------------------------
-- Two long names alike in their first 50 characters: the index on deleted
-- rows that enable() names after the table would be the same for both; the
-- second gets a free name of PostgreSQL's choosing, and both tables work.
-------------------------------------------------------------------------------
SET client_min_messages = warning;
CREATE TABLE "My Schema".customer_notification_preferences_by_channel_and_region_a (id int PRIMARY KEY);
CREATE TABLE "My Schema".customer_notification_preferences_by_channel_and_region_b (id int PRIMARY KEY);
SELECT count(*) > 0 AS enabled
  FROM softdelete.enable('"My Schema".customer_notification_preferences_by_channel_and_region_a');
SELECT count(*) > 0 AS enabled
  FROM softdelete.enable('"My Schema".customer_notification_preferences_by_channel_and_region_b');
RESET client_min_messages;
SELECT c.relname AS table_name, i.relname AS deleted_rows_index
  FROM pg_class c
  JOIN pg_class i ON i.oid = softdelete_internal.deleted_rows_index(c.oid, 'deleted_at')
 WHERE c.relnamespace = '"My Schema"'::regnamespace
   AND c.relname LIKE 'customer_notification_preferences_by_channel_and_region_%'
 ORDER BY 1;
SELECT count(*) > 0 AS disabled
  FROM softdelete.disable('"My Schema".customer_notification_preferences_by_channel_and_region_a') a,
       softdelete.disable('"My Schema".customer_notification_preferences_by_channel_and_region_b') b;
DROP TABLE "My Schema".customer_notification_preferences_by_channel_and_region_a,
           "My Schema".customer_notification_preferences_by_channel_and_region_b;

-------------------------------------------------------------------------------
-- The same two names in one enable(), a parent's cascade to both: the
-- second's index is planned before the first exists, and used to get the
-- same name (42P07 from the real call, while the dry run said it would
-- work). A table named in multibyte characters keeps the "_deleted" suffix
-- (its name was cut by characters, then by bytes).
-------------------------------------------------------------------------------
SET client_min_messages = warning;
CREATE TABLE "My Schema".cascade_parent (id int PRIMARY KEY);
CREATE TABLE "My Schema".customer_notification_preferences_by_channel_and_region_child_a
    (id int PRIMARY KEY, p int REFERENCES "My Schema".cascade_parent);
CREATE TABLE "My Schema".customer_notification_preferences_by_channel_and_region_child_b
    (id int PRIMARY KEY, p int REFERENCES "My Schema".cascade_parent);
CREATE TABLE "My Schema"."ééééééééééééééééééééééééééééééé" (id int PRIMARY KEY);
SELECT count(*) AS planned FROM softdelete.enable('"My Schema".cascade_parent', dry_run => true);
SELECT count(*) AS done FROM softdelete.enable('"My Schema".cascade_parent');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('"My Schema"."ééééééééééééééééééééééééééééééé"');
RESET client_min_messages;
SELECT c.relname AS table_name, i.relname AS deleted_rows_index
  FROM pg_class c
  JOIN pg_class i ON i.oid = softdelete_internal.deleted_rows_index(c.oid, 'deleted_at')
 WHERE c.relnamespace = '"My Schema"'::regnamespace
   AND (c.relname LIKE 'customer_notification_preferences_by_channel_and_region_child_%'
        OR c.relname LIKE 'éé%')
 ORDER BY 1;
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled
  FROM softdelete.disable('"My Schema".customer_notification_preferences_by_channel_and_region_child_a') a,
       softdelete.disable('"My Schema".customer_notification_preferences_by_channel_and_region_child_b') b,
       softdelete.disable('"My Schema".cascade_parent') p,
       softdelete.disable('"My Schema"."ééééééééééééééééééééééééééééééé"') e;
RESET client_min_messages;
DROP TABLE "My Schema".customer_notification_preferences_by_channel_and_region_child_a,
           "My Schema".customer_notification_preferences_by_channel_and_region_child_b,
           "My Schema".cascade_parent, "My Schema"."ééééééééééééééééééééééééééééééé";

-------------------------------------------------------------------------------
-- A unique constraint becomes a trigger of its name (ON CONFLICT ON
-- CONSTRAINT keeps working by it): a trigger of that name, or a name of
-- softdelete's own triggers, is refused while planning (the dry run too),
-- naming the constraint, and nothing changes. The dry run passed before,
-- and the real call failed (rolled back) with an error about the trigger,
-- or about softdelete's own trigger having been made by someone else.
-------------------------------------------------------------------------------
CREATE TABLE "My Schema".taken (id int PRIMARY KEY, email text CONSTRAINT "my key" UNIQUE);
CREATE FUNCTION "My Schema".noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER "my key" BEFORE INSERT ON "My Schema".taken FOR EACH ROW EXECUTE FUNCTION "My Schema".noop();
SELECT count(*) FROM softdelete.enable('"My Schema".taken', dry_run => true);
\echo SQLSTATE :SQLSTATE
SELECT count(*) FROM softdelete.enable('"My Schema".taken');
\echo SQLSTATE :SQLSTATE
CREATE TABLE "My Schema".reserved (id int PRIMARY KEY, email text CONSTRAINT softdelete_backstop UNIQUE);
SELECT count(*) FROM softdelete.enable('"My Schema".reserved', dry_run => true);
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS configured FROM softdelete.tables
 WHERE relid IN ('"My Schema".taken'::regclass, '"My Schema".reserved'::regclass);
SELECT count(*) AS triggers FROM pg_trigger
 WHERE tgrelid IN ('"My Schema".taken'::regclass, '"My Schema".reserved'::regclass);
-- Renamed, both are enabled.
ALTER TRIGGER "my key" ON "My Schema".taken RENAME TO "my trigger";
ALTER TABLE "My Schema".reserved RENAME CONSTRAINT softdelete_backstop TO reserved_email_key;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('"My Schema".taken');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('"My Schema".reserved');
SELECT count(*) > 0 AS disabled
  FROM softdelete.disable('"My Schema".taken') t, softdelete.disable('"My Schema".reserved') r;
RESET client_min_messages;
DROP TABLE "My Schema".taken, "My Schema".reserved;
DROP FUNCTION "My Schema".noop();

-------------------------------------------------------------------------------
-- Clean up
-------------------------------------------------------------------------------
DELETE FROM softdelete.events
 WHERE relid IN ('"My Schema"."Odd ""Name"" Table"'::regclass, '"My Schema"."Member List"'::regclass);
DROP TABLE "My Schema"."Odd ""Name"" Table", "My Schema"."Member List";
DROP SCHEMA "My Schema";
DROP OWNED BY names_app;
DROP ROLE names_app;
