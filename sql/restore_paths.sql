-- restore_paths: bringing a deleted row back is for admins, through every
-- path. A reader that opted in sees deleted rows and is the one who could
-- try; every way it has of setting deleted_at back to NULL is refused
-- (42501) and restores nothing: UPDATE with a literal, a parameter, a
-- sub-select, a volatile function, an upsert, MERGE, softdelete.restore().
-- The application cannot even see deleted rows. Admins restore through all
-- of them.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE rp_owner;
CREATE ROLE rp_app;
CREATE ROLE rp_reader IN ROLE softdelete_reader;
CREATE ROLE rp_admin IN ROLE softdelete_admin;
CREATE SCHEMA rp AUTHORIZATION rp_owner;
GRANT USAGE ON SCHEMA rp TO rp_app, rp_reader, rp_admin;
SET ROLE rp_owner;
CREATE TABLE rp.users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
INSERT INTO rp.users SELECT g, 'u' || g FROM generate_series(1, 20) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.users');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON rp.users TO rp_app, rp_reader, rp_admin;
DELETE FROM rp.users WHERE id BETWEEN 1 AND 12;
RESET ROLE;

-- The ids of the deleted rows, as the superuser sees them.
CREATE FUNCTION rp.deleted() RETURNS text LANGUAGE sql AS
$$ SELECT string_agg(id::text, ',' ORDER BY id) FROM rp.users WHERE deleted_at IS NOT NULL $$;
-- NULL on every other call: a volatile value that a rewrite evaluating it
-- twice per row would see change.
CREATE SEQUENCE rp.calls;
CREATE FUNCTION rp.flip() RETURNS timestamptz LANGUAGE sql VOLATILE AS
$$ SELECT CASE WHEN nextval('rp.calls') % 2 = 0 THEN NULL ELSE now() END $$;
GRANT USAGE ON SEQUENCE rp.calls TO rp_reader, rp_app;
SELECT rp.deleted();

--------------------------------------------------------------------------
-- A reader that opted in: refused, whatever the shape
--------------------------------------------------------------------------

SET ROLE rp_reader;
SET softdelete.include_deleted = on;
UPDATE rp.users SET deleted_at = NULL WHERE id = 1;
\echo SQLSTATE :SQLSTATE
PREPARE undelete(timestamptz, int) AS UPDATE rp.users SET deleted_at = $1 WHERE id = $2;
EXECUTE undelete(NULL, 1);
\echo SQLSTATE :SQLSTATE
UPDATE rp.users SET (deleted_at, deleted_by) = (SELECT NULL::timestamptz, NULL::text) WHERE id = 2;
\echo SQLSTATE :SQLSTATE
UPDATE rp.users SET deleted_at = rp.flip() WHERE id BETWEEN 3 AND 6;
\echo SQLSTATE :SQLSTATE
INSERT INTO rp.users (id, email) VALUES (7, 'u7') ON CONFLICT (id) DO UPDATE SET deleted_at = NULL;
\echo SQLSTATE :SQLSTATE
MERGE INTO rp.users u USING (VALUES (8)) v(id) ON u.id = v.id
WHEN MATCHED THEN UPDATE SET deleted_at = NULL;
\echo SQLSTATE :SQLSTATE
UPDATE rp.users SET email = email, deleted_at = NULL WHERE id = 9;
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('rp.users', 10);
\echo SQLSTATE :SQLSTATE
-- Nor may it change a deleted row in any other way.
UPDATE rp.users SET email = 'changed', deleted_at = deleted_at WHERE id = 11;
\echo SQLSTATE :SQLSTATE
UPDATE rp.users SET email = 'changed' WHERE id = 11;
\echo SQLSTATE :SQLSTATE
DEALLOCATE undelete;
RESET softdelete.include_deleted;

-- The application: a restore written as one is refused aloud (42501); a
-- parameter that turns out NULL reaches no row it can see (UPDATE 0).
SET ROLE rp_app;
UPDATE rp.users SET deleted_at = NULL WHERE id = 1;
\echo SQLSTATE :SQLSTATE
PREPARE undelete(timestamptz, int) AS UPDATE rp.users SET deleted_at = $1 WHERE id = $2;
\set QUIET off
EXECUTE undelete(NULL, 1);
\set QUIET on
DEALLOCATE undelete;
SELECT softdelete.restore('rp.users', 1);
\echo SQLSTATE :SQLSTATE
RESET ROLE;

-- Nothing was restored.
SELECT rp.deleted();

--------------------------------------------------------------------------
-- Admins restore through every path
--------------------------------------------------------------------------

SET ROLE rp_admin;
\set QUIET off
UPDATE rp.users SET deleted_at = NULL WHERE id = 1;
PREPARE undelete(timestamptz, int) AS UPDATE rp.users SET deleted_at = $1 WHERE id = $2;
EXECUTE undelete(NULL, 2);
UPDATE rp.users SET (deleted_at, deleted_by) = (SELECT NULL::timestamptz, NULL::text) WHERE id = 3;
SET softdelete.include_deleted = on;
INSERT INTO rp.users (id, email) VALUES (4, 'u4') ON CONFLICT (id) DO UPDATE SET deleted_at = NULL;
MERGE INTO rp.users u USING (VALUES (5)) v(id) ON u.id = v.id
WHEN MATCHED THEN UPDATE SET deleted_at = NULL;
RESET softdelete.include_deleted;
\set QUIET on
SELECT softdelete.restore('rp.users', 6) AS restored;
DEALLOCATE undelete;
RESET ROLE;
SELECT rp.deleted();
-- A restored row carries no deletion record.
SELECT id, deleted_at, deleted_by, delete_reason FROM rp.users WHERE id BETWEEN 1 AND 6 ORDER BY id;

-- An inheritance parent and its child are two tables, each enabled, with
-- its own keys: restore(), hard_delete() and erase() of the parent reach the
-- parent's row only, not a child's row with the same key, and undo() of an
-- operation on the child brings back the child's rows only.
SET ROLE rp_owner;
CREATE TABLE rp.base (id int PRIMARY KEY, note text);
CREATE TABLE rp.heir (id int PRIMARY KEY, note text);
INSERT INTO rp.base VALUES (1, 'base 1'), (2, 'base 2'), (3, 'base 3');
INSERT INTO rp.heir VALUES (1, 'heir 1'), (2, 'heir 2'), (3, 'heir 3');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.base', pii_columns => '{note}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.heir', pii_columns => '{note}');
RESET client_min_messages;
ALTER TABLE rp.heir INHERIT rp.base;
DELETE FROM rp.base WHERE id = 1;   -- both rows 1, through the parent
DELETE FROM ONLY rp.heir WHERE id = 3;
RESET ROLE;
SET ROLE rp_admin;
SELECT softdelete.restore('rp.base', 1) AS restored;
SELECT softdelete.hard_delete('rp.base', 2) AS hard_deleted;
SELECT softdelete.erase('rp.base', 3) AS erased;
SELECT softdelete.undo(max(op)) AS undone FROM softdelete.events WHERE table_name = 'rp.heir';
RESET ROLE;
SELECT tableoid::regclass, id, note, deleted_at IS NOT NULL AS deleted FROM rp.base ORDER BY 1, 2;

-- A child that foreign keys reference: its rows deleted or restored through
-- the parent are noted under the parent, whose foreign keys the cascade
-- follows, so the child's children were left live under a deleted row (and
-- the child guard's lock was not taken). Refused (0A000), changing nothing,
-- by DELETE and by the ORM's UPDATE; the same rows deleted in the child
-- directly cascade. Rows of the parent itself, and of a child nothing
-- references, still go through the parent.
SET ROLE rp_owner;
CREATE TABLE rp.animals (id int PRIMARY KEY);
CREATE TABLE rp.dogs (id int PRIMARY KEY);
CREATE TABLE rp.toys (id int PRIMARY KEY, dog_id int REFERENCES rp.dogs);
INSERT INTO rp.animals VALUES (1);
INSERT INTO rp.dogs VALUES (7), (8);
INSERT INTO rp.toys VALUES (70, 7);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.dogs');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.animals', log_events => false);
RESET client_min_messages;
ALTER TABLE rp.dogs INHERIT rp.animals;
DELETE FROM rp.animals WHERE id = 7;
UPDATE rp.animals SET deleted_at = now() WHERE id = 8;
DELETE FROM rp.animals WHERE id = 1;
DELETE FROM rp.dogs WHERE id = 7;
SET softdelete.include_deleted = on;
SELECT tableoid::regclass, id, deleted_at IS NOT NULL AS deleted FROM rp.animals ORDER BY 1, 2;
SELECT id, deleted_at IS NOT NULL AS deleted FROM rp.toys;
RESET softdelete.include_deleted;
-- A child that only references an enabled table (nothing references it):
-- its rows are soft-deleted through the parent (the refusal above caught it
-- too), and restored in it directly; through the parent a restore, which
-- checks the row's parents are live, is refused.
CREATE TABLE rp.owners (id int PRIMARY KEY);
CREATE TABLE rp.cats (id int PRIMARY KEY, owner_id int REFERENCES rp.owners);
INSERT INTO rp.owners VALUES (1);
INSERT INTO rp.cats VALUES (9, 1);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.owners');
RESET client_min_messages;
ALTER TABLE rp.cats INHERIT rp.animals;
DELETE FROM rp.animals WHERE id = 9;
UPDATE rp.animals SET deleted_at = NULL WHERE id = 9;
UPDATE rp.cats SET deleted_at = NULL WHERE id = 9;
SELECT id, deleted_at IS NOT NULL AS deleted FROM rp.cats;
RESET ROLE;

-- Keys of any type: an array, a composite and a domain over an array reach
-- their one row from the key's value, from its jsonb form, and from the form
-- the event log wrote; a jsonb key from the event log's text of it too.
SET ROLE rp_owner;
CREATE TYPE rp.pair AS (a int, b text);
CREATE DOMAIN rp.ints AS int[] CHECK (cardinality(VALUE) > 0);
CREATE TABLE rp.by_array (k int[] PRIMARY KEY, note text);
CREATE TABLE rp.by_pair (k rp.pair PRIMARY KEY, note text);
CREATE TABLE rp.by_domain (k rp.ints PRIMARY KEY, note text);
CREATE TABLE rp.by_json (k jsonb PRIMARY KEY, note text);
INSERT INTO rp.by_array VALUES ('{1,2}', 'a12'), ('{1}', 'a1'), ('{2,1}', 'a21'), ('{3}', 'a3');
INSERT INTO rp.by_pair VALUES ('(1,x)', 'p1x'), ('(1,y)', 'p1y'), ('(2,x)', 'p2x'), ('(3,x)', 'p3x');
INSERT INTO rp.by_domain VALUES ('{1,2}', 'd12'), ('{1}', 'd1'), ('{2,1}', 'd21'), ('{3}', 'd3');
INSERT INTO rp.by_json VALUES ('{"a": 1}', 'j1'), ('{"a": 2}', 'j2');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.by_array', pii_columns => '{note}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.by_pair', pii_columns => '{note}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.by_domain', pii_columns => '{note}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.by_json');
RESET client_min_messages;
DELETE FROM rp.by_array;
DELETE FROM rp.by_pair;
DELETE FROM rp.by_domain;
DELETE FROM rp.by_json;
RESET ROLE;
SET ROLE rp_admin;
SELECT softdelete.restore('rp.by_array', '{1,2}'::int[]) AS "value",
       softdelete.restore('rp.by_array', '{"k": [2, 1]}'::jsonb) AS "jsonb",
       softdelete.restore('rp.by_array', (SELECT keys -> 3 FROM softdelete.events
                                           WHERE table_name = 'rp.by_array')) AS "logged",
       softdelete.hard_delete('rp.by_array', '{1}'::int[]) AS hard_deleted;
SELECT softdelete.erase('rp.by_array', '{"k": [1, 2]}'::jsonb) AS erased;
SELECT softdelete.restore('rp.by_pair', '(1,x)'::rp.pair) AS "value",
       softdelete.restore('rp.by_pair', '{"k": {"a": 1, "b": "y"}}'::jsonb) AS "jsonb",
       softdelete.restore('rp.by_pair', (SELECT keys -> 2 FROM softdelete.events
                                          WHERE table_name = 'rp.by_pair')) AS "logged",
       softdelete.hard_delete('rp.by_pair', '{"k": "(3,x)"}'::jsonb) AS hard_deleted;
SELECT softdelete.erase('rp.by_pair', '(1,y)'::rp.pair) AS erased;
SELECT softdelete.restore('rp.by_domain', '{1,2}'::rp.ints) AS "value",
       softdelete.restore('rp.by_domain', '{"k": [2, 1]}'::jsonb) AS "jsonb",
       softdelete.hard_delete('rp.by_domain', '{"k": "{1}"}'::jsonb) AS hard_deleted;
SELECT softdelete.restore('rp.by_json', '{"k": {"a": 1}}'::jsonb) AS "jsonb",
       softdelete.restore('rp.by_json', (SELECT jsonb_build_object('k', keys -> 1) FROM softdelete.events
                                          WHERE table_name = 'rp.by_json')) AS "logged";
-- Not a value of the key's type: 22P02 (a domain's check: 23514), nothing changed.
SELECT softdelete.restore('rp.by_array', '{"k": [1, "x"]}'::jsonb);
SELECT softdelete.restore('rp.by_domain', '{"k": []}'::jsonb);
RESET ROLE;
SELECT k, note, deleted_at IS NOT NULL AS deleted FROM rp.by_array ORDER BY k;
SELECT k, note, deleted_at IS NOT NULL AS deleted FROM rp.by_pair ORDER BY k;
SELECT k, note, deleted_at IS NOT NULL AS deleted FROM rp.by_domain ORDER BY k;
SELECT k, note, deleted_at IS NOT NULL AS deleted FROM rp.by_json ORDER BY k;
-- Each logged with its key in the event log's form.
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE table_name LIKE 'rp.by\_%' ORDER BY id;

-- A text key that begins with a brace and is not JSON is the key's value,
-- typed or untyped; one that is a JSON object goes in an object.
SET ROLE rp_owner;
CREATE TABLE rp.by_text (k text PRIMARY KEY);
INSERT INTO rp.by_text VALUES ('{draft}'), ('{final}'), ('{"a": 1}');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('rp.by_text');
RESET client_min_messages;
DELETE FROM rp.by_text;
RESET ROLE;
SET ROLE rp_admin;
SELECT softdelete.restore('rp.by_text', '{draft}'::text) AS "typed",
       softdelete.restore('rp.by_text', '{final}') AS "untyped",
       softdelete.restore('rp.by_text', '{"k": "{\"a\": 1}"}') AS "json text";
RESET ROLE;
SELECT k, deleted_at IS NOT NULL AS deleted FROM rp.by_text ORDER BY k;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'rp.%';
SET client_min_messages = warning;
DROP SCHEMA rp CASCADE;
RESET client_min_messages;
DROP OWNED BY rp_owner, rp_app, rp_reader, rp_admin;
DROP ROLE rp_owner, rp_app, rp_reader, rp_admin;
