-- Live-only unique indexes are rebuilt from the catalog's data (pg_index's
-- columns, options, collations, operator classes, expression and predicate
-- node trees), not by editing index text: every property of the index
-- survives enable(), tablespace and storage options included, whatever the
-- names, and disable() builds the original back.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

SET allow_in_place_tablespaces = on;
CREATE TABLESPACE "Fast Space" LOCATION '';
CREATE SCHEMA "Odd "" Schema";
CREATE TABLE "Odd "" Schema"."Table WHERE x" (
    id        int PRIMARY KEY,
    "Col ON"  text,
    code      text,
    kind      int,
    note      text
);
-- Tablespace and fillfactor, which the index's text from pg_get_indexdef
-- does not carry in full.
CREATE UNIQUE INDEX "Idx "" ONLY" ON "Odd "" Schema"."Table WHERE x" ("Col ON" DESC NULLS LAST)
    WITH (fillfactor = 70) TABLESPACE "Fast Space";
-- NULLS NOT DISTINCT, an expression with ' WHERE ' in a literal, an own
-- predicate, a collation and operator class, INCLUDE.
CREATE UNIQUE INDEX "where idx" ON "Odd "" Schema"."Table WHERE x"
    ((coalesce(code, ' WHERE ')) COLLATE "C" text_pattern_ops, kind NULLS FIRST) INCLUDE (note)
    NULLS NOT DISTINCT WHERE kind > 0 AND note <> ' WHERE ';

CREATE TEMP TABLE before AS
SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def, c.reltablespace, c.reloptions, i.indnullsnotdistinct
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = '"Odd "" Schema"."Table WHERE x"'::regclass AND NOT i.indisprimary;

-- Each index as the catalog module makes it from the catalog's data (what
-- disable() runs to build it back); enable() adds the live-only condition.
SELECT softdelete_internal.index_definition(c.oid, c.relname, NULL)
  FROM pg_class c JOIN before b ON b.relname = c.relname
 WHERE c.relnamespace = '"Odd "" Schema"'::regnamespace ORDER BY c.relname;

SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('"Odd "" Schema"."Table WHERE x"');
RESET client_min_messages;

-- Same name, tablespace, storage options and null treatment; the definition
-- is the old one with the live-only condition added.
SELECT c.relname, pg_get_indexdef(i.indexrelid) AS def,
       c.reltablespace = b.reltablespace AS same_tablespace, c.reloptions IS NOT DISTINCT FROM b.reloptions AS same_options,
       i.indnullsnotdistinct = b.indnullsnotdistinct AS same_nulls
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN before b ON b.relname = c.relname
 ORDER BY c.relname;
SELECT count(*) AS in_fast_space FROM pg_class
 WHERE reltablespace = (SELECT oid FROM pg_tablespace WHERE spcname = 'Fast Space');

-- The live-only indexes work: a deleted row's value can be taken again.
INSERT INTO "Odd "" Schema"."Table WHERE x" (id, "Col ON", code, kind, note) VALUES (1, 'a', 'c', 1, 'n');
DELETE FROM "Odd "" Schema"."Table WHERE x" WHERE id = 1;
INSERT INTO "Odd "" Schema"."Table WHERE x" (id, "Col ON", code, kind, note) VALUES (2, 'a', 'c', 1, 'n');
-- A live duplicate is still refused.
INSERT INTO "Odd "" Schema"."Table WHERE x" (id, "Col ON", code, kind, note) VALUES (3, 'a', 'd', 2, 'n');
\echo SQLSTATE :SQLSTATE

-- disable() builds each index back exactly as it was.
SELECT softdelete.hard_delete('"Odd "" Schema"."Table WHERE x"', 1);
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('"Odd "" Schema"."Table WHERE x"');
RESET client_min_messages;
SELECT c.relname, pg_get_indexdef(i.indexrelid) = b.def AS same_definition,
       c.reltablespace = b.reltablespace AS same_tablespace,
       c.reloptions IS NOT DISTINCT FROM b.reloptions AS same_options
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN before b ON b.relname = c.relname
 ORDER BY c.relname;

-- Bad input: NULLs, an OID of nothing, an index that is not unique.
SELECT softdelete_internal.index_definition(NULL, 'x', NULL);
\echo SQLSTATE :SQLSTATE
SELECT softdelete_internal.index_definition(0, 'x', NULL);
\echo SQLSTATE :SQLSTATE
CREATE INDEX plain_idx ON "Odd "" Schema"."Table WHERE x" (note);
SELECT softdelete_internal.index_definition('"Odd "" Schema".plain_idx', 'x', NULL);
\echo SQLSTATE :SQLSTATE
SELECT softdelete_internal.index_definition('"Odd "" Schema"."where idx"', 'x', 'no_such_column');
\echo SQLSTATE :SQLSTATE

DROP SCHEMA "Odd "" Schema" CASCADE;
DROP TABLESPACE "Fast Space";
