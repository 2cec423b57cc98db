-- read_only: in a read-only transaction (a physical standby's, or BEGIN READ
-- ONLY on a primary) a DELETE on an enabled table is refused as the DELETE
-- it is (25006), although it runs as an UPDATE. EXPLAIN without ANALYZE
-- still works; an UPDATE and an admin's hard delete get PostgreSQL's own
-- messages.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;

CREATE ROLE ro_owner;
CREATE ROLE ro_app;
CREATE SCHEMA ro AUTHORIZATION ro_owner;
GRANT USAGE ON SCHEMA ro TO ro_app;
SET ROLE ro_owner;
CREATE TABLE ro.items (id int PRIMARY KEY, name text);
INSERT INTO ro.items SELECT g, 'item ' || g FROM generate_series(1, 5) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('ro.items');
RESET client_min_messages;
CREATE VIEW ro.items_v AS SELECT * FROM ro.items;
GRANT SELECT, INSERT, UPDATE, DELETE ON ro.items, ro.items_v TO ro_app;
CREATE FUNCTION ro.delete_item(i int) RETURNS void LANGUAGE sql
    AS 'DELETE FROM ro.items WHERE id = i';
GRANT EXECUTE ON FUNCTION ro.delete_item(int) TO ro_app;
RESET ROLE;

\set SHOW_CONTEXT never
SET ROLE ro_app;
BEGIN READ ONLY;
DELETE FROM ro.items WHERE id = 1;
\echo :SQLSTATE
ROLLBACK;
BEGIN READ ONLY;
DELETE FROM ro.items WHERE id = 1 RETURNING id;
ROLLBACK;
-- Through a view of the table, and inside a function.
BEGIN READ ONLY;
DELETE FROM ro.items_v WHERE id = 1;
ROLLBACK;
BEGIN READ ONLY;
SELECT ro.delete_item(1);
ROLLBACK;
-- A read-only session, as on a standby.
SET default_transaction_read_only = on;
DELETE FROM ro.items WHERE id = 1;
\echo :SQLSTATE
-- EXPLAIN needs no write: its first line names the UPDATE the DELETE became.
DO $$
DECLARE
    line text;
BEGIN
    FOR line IN EXPLAIN (COSTS OFF) DELETE FROM ro.items WHERE id = 1 LOOP
        RAISE NOTICE '%', line;
        EXIT;
    END LOOP;
END
$$;
-- An UPDATE keeps PostgreSQL's own message.
UPDATE ro.items SET name = 'x' WHERE id = 1;
RESET default_transaction_read_only;
RESET ROLE;

-- An admin's hard delete stays a DELETE: PostgreSQL's message, unchanged.
SET ROLE ro_owner;
BEGIN READ ONLY;
SET LOCAL softdelete.hard_delete = on;
DELETE FROM ro.items WHERE id = 1;
ROLLBACK;
RESET ROLE;
\set SHOW_CONTEXT errors

-- Nothing was deleted, and out of the read-only transaction it works.
SELECT count(*) AS deleted FROM ro.items WHERE deleted_at IS NOT NULL;
SET ROLE ro_app;
DELETE FROM ro.items WHERE id = 1;
RESET ROLE;
SELECT id FROM ro.items WHERE deleted_at IS NOT NULL;

SET client_min_messages = warning;
DROP SCHEMA ro CASCADE;
DROP ROLE ro_owner, ro_app;
