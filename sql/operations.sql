-- operations: every statement that soft-deletes, restores or hard-deletes
-- rows is one operation with an id (op). softdelete.events has one row per
-- table and action of an operation, with the exact rows it changed; each
-- soft-deleted row keeps its op in delete_op; softdelete.undo(op) restores
-- exactly those rows. Counts follow the rows really changed: not the rows a
-- join matched several times, not a savepoint rolled back, not a statement
-- that failed. The log cannot be forged, nor skipped by a statement shape.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE ops_owner;
CREATE ROLE ops_app;
CREATE ROLE ops_admin IN ROLE softdelete_admin;
CREATE SCHEMA ops AUTHORIZATION ops_owner;
GRANT USAGE ON SCHEMA ops TO ops_app, ops_admin;
SET search_path = ops, public;

SET ROLE ops_owner;
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
INSERT INTO users SELECT g, 'u' || g || '@x', 'user ' || g FROM generate_series(1, 40) g;
CREATE TABLE orders (id int PRIMARY KEY, user_id int, total int);
INSERT INTO orders SELECT g, g, g * 10 FROM generate_series(1, 40) g;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, orders TO ops_app, ops_admin;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('users');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('orders');
RESET client_min_messages;
RESET ROLE;

-- The events written since a mark, ops numbered 1, 2, ... in their order
-- (their numbers differ from run to run, and an operation that writes
-- several rows takes a number for each row after the first), keys sorted.
-- Run by the superuser.
CREATE FUNCTION ops.since(mark bigint)
RETURNS TABLE (op bigint, action text, table_name text, row_count bigint, keys jsonb)
LANGUAGE sql AS $$
    SELECT dense_rank() OVER (ORDER BY e.op), e.action, e.table_name, e.row_count,
           (SELECT jsonb_agg(k ORDER BY k) FROM jsonb_array_elements(e.keys) k)
      FROM softdelete.events e
     WHERE e.id > mark
     ORDER BY e.id
$$;
CREATE FUNCTION ops.mark() RETURNS bigint LANGUAGE sql AS
    $$ SELECT coalesce(max(id), 0) FROM softdelete.events $$;
-- undo(op) as the current role: its SQLSTATE, message (the op id, which
-- differs from run to run, as N), detail and constraint.
CREATE FUNCTION ops.try_undo(op bigint) RETURNS TABLE (state text, message text, detail text, constraint_name text)
LANGUAGE plpgsql AS $$
DECLARE
    restored bigint;
BEGIN
    restored := softdelete.undo(op);
    RETURN QUERY SELECT '00000', 'restored ' || restored, NULL::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
        detail = PG_EXCEPTION_DETAIL, constraint_name = CONSTRAINT_NAME;
    message := regexp_replace(message, 'operation -?[0-9]+', 'operation N');
    RETURN NEXT;
END
$$;
GRANT EXECUTE ON FUNCTION ops.try_undo(bigint) TO ops_app, ops_admin;

-------------------------------------------------------------------------------
-- One statement, one operation, the exact rows
-------------------------------------------------------------------------------

SELECT ops.mark() AS m \gset
SET ROLE ops_app;
DELETE FROM users WHERE id IN (1, 2);
DELETE FROM users WHERE id = 3;
RESET ROLE;
SELECT * FROM ops.since(:m);
-- Each row carries the op its event names.
SELECT u.id, u.delete_op = e.op AS marked_by_its_event
  FROM users u JOIN softdelete.events e ON e.keys @> to_jsonb(u.id) AND e.id > :m
 WHERE u.id IN (1, 2, 3) ORDER BY u.id;

-- A join that matches a row three times changes it once: one row, counted
-- once, for the client and for the log.
SELECT ops.mark() AS m \gset
SET ROLE ops_owner;
UPDATE users u SET deleted_at = NULL FROM (VALUES (3), (3), (3)) v(k) WHERE u.id = v.k;
RESET ROLE;
SET ROLE ops_app;
DELETE FROM users u USING (VALUES (4), (4), (4)) v(k) WHERE u.id = v.k;
RESET ROLE;
SELECT * FROM ops.since(:m);

-- A savepoint rolled back takes its rows and its record back; the rest of
-- the transaction keeps both.
SELECT ops.mark() AS m \gset
SET ROLE ops_app;
BEGIN;
DELETE FROM users WHERE id = 5;
SAVEPOINT s;
DELETE FROM users WHERE id = 6;
ROLLBACK TO s;
DELETE FROM users WHERE id = 7;
COMMIT;
-- A statement that fails after marking rows leaves nothing.
WITH d AS (DELETE FROM users WHERE id = 8 RETURNING id) SELECT 1 / 0 FROM d;
-- A rolled-back transaction leaves nothing.
BEGIN;
DELETE FROM users WHERE id = 9;
ROLLBACK;
SELECT id FROM users WHERE id BETWEEN 5 AND 9 ORDER BY id;
RESET ROLE;
SELECT * FROM ops.since(:m);

-- Inside one statement, a subtransaction that fails (an EXCEPTION block)
-- loses its own rows only; the statement is one operation.
CREATE FUNCTION ops.delete_two(a int, b int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ops.users WHERE id = a;
    BEGIN
        DELETE FROM ops.users WHERE id = b;
        RAISE EXCEPTION 'changed my mind';
    EXCEPTION WHEN raise_exception THEN
        NULL;
    END;
    DELETE FROM ops.orders WHERE id = a;
END
$$;
GRANT EXECUTE ON FUNCTION ops.delete_two(int, int) TO ops_app;
SELECT ops.mark() AS m \gset
SET ROLE ops_app;
SELECT ops.delete_two(10, 11);
SELECT id FROM users WHERE id IN (10, 11);
RESET ROLE;
SELECT * FROM ops.since(:m);

-- Rows deleted in subtransactions that succeed (an EXCEPTION block per row)
-- are the statement's: one event.
CREATE FUNCTION ops.delete_each(ids int[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    i int;
BEGIN
    FOREACH i IN ARRAY ids LOOP
        BEGIN
            DELETE FROM ops.users WHERE id = i;
        EXCEPTION WHEN others THEN
            RAISE;
        END;
    END LOOP;
END
$$;
GRANT EXECUTE ON FUNCTION ops.delete_each(int[]) TO ops_app;
SELECT ops.mark() AS m \gset
SET ROLE ops_app;
SELECT ops.delete_each(ARRAY[35, 36, 37]);
RESET ROLE;
SELECT * FROM ops.since(:m);

-------------------------------------------------------------------------------
-- No statement shape soft-deletes without its record
-------------------------------------------------------------------------------

SELECT ops.mark() AS m \gset
SET ROLE ops_app;
-- A DELETE hidden in a CTE of an UPDATE that changes nothing else.
WITH d AS (DELETE FROM users WHERE id = 12 RETURNING id) UPDATE users SET name = name WHERE id = 13;
-- Two tables in one statement: one op, one event for each.
WITH a AS (DELETE FROM users WHERE id = 14 RETURNING id),
     b AS (DELETE FROM orders WHERE id = 14 RETURNING id)
SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b) AS deleted;
-- The ORM's UPDATE, an upsert and MERGE.
UPDATE users SET deleted_at = now() WHERE id = 15;
INSERT INTO users VALUES (16, 'u16@x', 'user 16') ON CONFLICT (id) DO UPDATE SET deleted_at = now();
MERGE INTO users u USING (VALUES (17), (18)) v(k) ON u.id = v.k
    WHEN MATCHED AND v.k = 17 THEN DELETE
    WHEN MATCHED THEN UPDATE SET deleted_at = now();
-- An UPDATE that leaves the tombstone alone records nothing.
UPDATE users SET name = 'renamed' WHERE id BETWEEN 19 AND 21;
RESET ROLE;
SELECT * FROM ops.since(:m);

-- Statements that insert some rows and soft-delete others count the soft
-- deletes only: an upsert, a MERGE with an INSERT action. A BEFORE UPDATE
-- trigger that skips a row leaves its decision unused; the row inserted next
-- is not taken for it.
SET ROLE ops_owner;
CREATE FUNCTION ops.skip_marked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = 'skip me' THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER skip_marked BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION ops.skip_marked();
RESET ROLE;
SELECT ops.mark() AS m \gset
SET ROLE ops_app;
INSERT INTO users VALUES (30, 'u30@x', 'x'), (50, 'u50@x', 'new'), (31, 'u31@x', 'x')
    ON CONFLICT (id) DO UPDATE SET deleted_at = now();
MERGE INTO users u USING (VALUES (33), (52), (34)) v(k) ON u.id = v.k
    WHEN MATCHED THEN UPDATE SET deleted_at = now()
    WHEN NOT MATCHED THEN INSERT VALUES (v.k, 'u' || v.k || '@x', 'merged');
RESET ROLE;
-- An admin's upsert that would restore row 30, skipped by the trigger, then
-- inserts row 53: a live row, but no restore.
SET ROLE ops_owner;
SET softdelete.include_deleted = on;
INSERT INTO users VALUES (30, 'u30@x', 'skip me'), (53, 'u53@x', 'new')
    ON CONFLICT (id) DO UPDATE SET deleted_at = NULL, name = excluded.name;
RESET softdelete.include_deleted;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM users WHERE id IN (30, 31, 33, 34, 50, 52, 53) ORDER BY id;
SELECT * FROM ops.since(:m);
SET ROLE ops_owner;
DROP TRIGGER skip_marked ON users;
RESET ROLE;

-- A soft delete that moves rows to another partition (PostgreSQL writes a
-- delete there and an insert here) is one soft delete of each row, and no
-- hard delete.
SET ROLE ops_owner;
CREATE TABLE parts (id int, live boolean NOT NULL DEFAULT true, PRIMARY KEY (id, live))
    PARTITION BY LIST (live);
CREATE TABLE parts_live PARTITION OF parts FOR VALUES IN (true);
CREATE TABLE parts_gone PARTITION OF parts FOR VALUES IN (false);
INSERT INTO parts SELECT generate_series(1, 5);
GRANT SELECT, UPDATE, DELETE ON parts TO ops_app;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('parts');
RESET client_min_messages;
RESET ROLE;
SELECT ops.mark() AS m \gset
SET ROLE ops_app;
UPDATE parts SET deleted_at = now(), live = false WHERE id IN (1, 2);
RESET ROLE;
SELECT tableoid::regclass AS part, id, deleted_at IS NOT NULL AS deleted FROM ops.parts WHERE id <= 3 ORDER BY id;
SELECT * FROM ops.since(:m);

-- Restores and hard deletes are operations too.
SELECT ops.mark() AS m \gset
SET ROLE ops_admin;
SELECT softdelete.restore('ops.users', 12);
BEGIN;
SET LOCAL softdelete.hard_delete = on;
DELETE FROM users WHERE id IN (12, 39);
COMMIT;
SELECT softdelete.hard_delete('ops.users', 40);
RESET ROLE;
SELECT * FROM ops.since(:m);

-------------------------------------------------------------------------------
-- The log cannot be forged
-------------------------------------------------------------------------------

SET ROLE ops_app;
-- Not by calling the extension's functions,
SELECT softdelete_internal.operation_id();
\echo SQLSTATE :SQLSTATE
-- nor by attaching its log trigger to a table of one's own,
CREATE TEMP TABLE mine (id int PRIMARY KEY, deleted_at timestamptz);
CREATE TRIGGER forge AFTER DELETE ON mine FOR EACH ROW
    EXECUTE FUNCTION softdelete_internal.log_changes('deleted_at', 'id');
\echo SQLSTATE :SQLSTATE
-- nor by writing the log,
INSERT INTO softdelete.events (op, relid, table_name, action, actor, row_count)
    VALUES (1, 'ops.users'::regclass, 'ops.users', 'hard_delete', 'someone', 1000);
\echo SQLSTATE :SQLSTATE
-- nor by writing the mark undo follows: a live row's delete_op is a
-- deletion record, and a soft delete gets the real op, whatever is assigned.
UPDATE users SET delete_op = 12345 WHERE id = 22;
\echo SQLSTATE :SQLSTATE
DROP TABLE mine;
RESET ROLE;
SELECT ops.mark() AS m \gset
SET ROLE ops_app;
UPDATE users SET deleted_at = now(), delete_op = 1 WHERE id = 22;
RESET ROLE;
SELECT u.delete_op = e.op AS real_op, u.delete_op <> 1 AS not_the_assigned_one
  FROM users u, softdelete.events e WHERE u.id = 22 AND e.id > :m;
-- Even a superuser who attaches the log trigger elsewhere gets a refusal,
-- not an entry: it logs enabled tables only.
CREATE TABLE ops.elsewhere (id int PRIMARY KEY, deleted_at timestamptz);
INSERT INTO ops.elsewhere VALUES (1, NULL);
CREATE TRIGGER forge AFTER DELETE ON ops.elsewhere FOR EACH ROW
    EXECUTE FUNCTION softdelete_internal.log_changes('deleted_at', 'id');
DELETE FROM ops.elsewhere;
\echo SQLSTATE :SQLSTATE
DROP TABLE ops.elsewhere;

-- Nor by an admin who gives rows another operation's number: the table's
-- owner may load deleted rows, but not their delete_op, by INSERT or by
-- COPY; only a restore (a member of softdelete_backup, or a superuser),
-- who may write the log itself, writes it. Such a row used to come back
-- with undo() of that operation, which had never deleted it.
SET ROLE ops_app;
DELETE FROM orders WHERE id = 30;
RESET ROLE;
SELECT e.op AS op_30 FROM softdelete.events e
 WHERE e.keys @> '[30]' AND e.table_name = 'ops.orders' AND e.action = 'delete' \gset
SET ROLE ops_owner;
INSERT INTO users (id, email, deleted_at, deleted_by, delete_op)
    VALUES (140, 'u140@x', now(), 'nobody', :op_30);
\echo SQLSTATE :SQLSTATE
COPY users (id, email, deleted_at, deleted_by, delete_op) FROM STDIN;
141	u141@x	2026-01-01 00:00:00+00	nobody	7
\.
\echo SQLSTATE :SQLSTATE
-- Deleted rows without an operation load as before, by either way.
INSERT INTO users (id, email, deleted_at, deleted_by) VALUES (142, 'u142@x', now(), 'elsewhere');
COPY users (id, email, deleted_at, deleted_by) FROM STDIN;
143	u143@x	2026-01-01 00:00:00+00	elsewhere
\.
RESET ROLE;
GRANT softdelete_backup TO ops_owner;
SET ROLE ops_owner;
COPY users (id, email, deleted_at, deleted_by, delete_op) FROM STDIN;
144	u144@x	2026-01-01 00:00:00+00	restored	7
\.
RESET ROLE;
REVOKE softdelete_backup FROM ops_owner;
SELECT id, deleted_by, delete_op IS NOT NULL AS has_op FROM users WHERE id BETWEEN 140 AND 144 ORDER BY id;
SET ROLE ops_admin;
SELECT softdelete.undo(:op_30) AS restored;
RESET ROLE;

-------------------------------------------------------------------------------
-- undo(op): exactly the rows of that operation
-------------------------------------------------------------------------------

SET ROLE ops_app;
DELETE FROM users WHERE id = 23;
DELETE FROM users WHERE id IN (24, 25);
DELETE FROM users WHERE id = 26;
RESET ROLE;
SELECT e.op AS op_24 FROM softdelete.events e WHERE e.keys @> '[24]' AND e.table_name = 'ops.users' AND e.action = 'delete' \gset
-- The application may not undo.
SET ROLE ops_app;
SELECT * FROM ops.try_undo(:op_24);
RESET ROLE;
SET ROLE ops_admin;
SELECT softdelete.undo(:op_24) AS restored;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM users WHERE id BETWEEN 23 AND 26 ORDER BY id;
-- Its rows are live: a second undo finds nothing to do.
SET ROLE ops_admin;
SELECT * FROM ops.try_undo(:op_24);
SELECT * FROM ops.try_undo(NULL);
SELECT * FROM ops.try_undo(-1);
RESET ROLE;

-- A row restored and deleted again belongs to the later operation.
SET ROLE ops_app;
DELETE FROM users WHERE id IN (27, 28);
RESET ROLE;
SELECT e.op AS op_27 FROM softdelete.events e WHERE e.keys @> '[27]' AND e.table_name = 'ops.users' AND e.action = 'delete' \gset
SELECT softdelete.restore('ops.users', 28);
SET ROLE ops_app;
DELETE FROM users WHERE id = 28;
RESET ROLE;
SELECT softdelete.undo(:op_27) AS restored;
SELECT id, deleted_at IS NOT NULL AS deleted FROM users WHERE id IN (27, 28) ORDER BY id;

-- A unique collision in any table restores nothing, and names the key.
SET ROLE ops_app;
WITH a AS (DELETE FROM orders WHERE id = 29 RETURNING id) DELETE FROM users WHERE id = 29;
INSERT INTO users VALUES (129, 'u29@x', 'took the address');
RESET ROLE;
SELECT e.op AS op_29 FROM softdelete.events e WHERE e.keys @> '[29]' AND e.table_name = 'ops.users' \gset
SELECT * FROM ops.try_undo(:op_29);
SELECT (SELECT deleted_at IS NOT NULL FROM users WHERE id = 29) AS user_still_deleted,
       (SELECT deleted_at IS NOT NULL FROM orders WHERE id = 29) AS order_still_deleted;

-- A statement that rules turn into several queries is one operation: a
-- view's DO INSTEAD rule with two DELETEs, a table's DO ALSO rule. The
-- portal runs them one after the other; they used to be an operation each,
-- and undo() of the statement's op brought back one table only. Two
-- statements in one query string stay two operations.
SET ROLE ops_owner;
SET client_min_messages = warning;
CREATE TABLE ops.ra (id int PRIMARY KEY);
CREATE TABLE ops.rb (id int PRIMARY KEY);
INSERT INTO ops.ra SELECT generate_series(1, 6);
INSERT INTO ops.rb SELECT generate_series(1, 6);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('ops.ra');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('ops.rb');
RESET client_min_messages;
CREATE VIEW ops.rv AS SELECT id FROM ops.ra;
CREATE RULE rv_delete AS ON DELETE TO ops.rv
    DO INSTEAD (DELETE FROM ops.rb WHERE id = OLD.id; DELETE FROM ops.ra WHERE id = OLD.id);
CREATE RULE ra_also AS ON DELETE TO ops.ra DO ALSO DELETE FROM ops.rb WHERE id = OLD.id + 3;
GRANT SELECT, DELETE ON ops.rv, ops.ra, ops.rb TO ops_app;
RESET ROLE;
SELECT ops.mark() AS m \gset
SET ROLE ops_app;
DELETE FROM ops.rv WHERE id IN (1, 2);
DELETE FROM ops.ra WHERE id = 3; DELETE FROM ops.ra WHERE id = 6;
PREPARE rule_delete(int) AS DELETE FROM ops.rv WHERE id = $1;
EXECUTE rule_delete(5);
RESET ROLE;
SELECT * FROM ops.since(:m);
SELECT min(op) AS rule_op FROM softdelete.events WHERE id > :m \gset
-- A NOTIFY among a rule's actions does not end the statement's operation.
-- Where PL/pgSQL, a procedure or EXPLAIN ANALYZE runs the rule's queries
-- (not the portal), each query is an operation of its own: a known limit,
-- for nothing there tells the queries of one rewritten statement from
-- those of the next, or of the same one in the next turn of a loop. Never
-- are two statements one operation, every row is logged, and a COMMIT in a
-- DO block after such a statement commits.
SET ROLE ops_owner;
DROP RULE ra_also ON ops.ra;
CREATE VIEW ops.rn AS SELECT id FROM ops.ra;
CREATE RULE rn_delete AS ON DELETE TO ops.rn
    DO INSTEAD (DELETE FROM ops.rb WHERE id = OLD.id; NOTIFY ops_rule; DELETE FROM ops.ra WHERE id = OLD.id);
CREATE PROCEDURE ops.rule_proc(i int) LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ops.rv WHERE id = i;
END $$;
CREATE TABLE ops.rlog (id int);
CREATE RULE rlog_also AS ON INSERT TO ops.rlog DO ALSO DELETE FROM ops.rb WHERE id = NEW.id;
GRANT EXECUTE ON PROCEDURE ops.rule_proc(int) TO ops_app;
GRANT INSERT ON ops.rlog TO ops_app;
GRANT SELECT, DELETE ON ops.rn TO ops_app;
INSERT INTO ops.ra SELECT generate_series(7, 16);
INSERT INTO ops.rb SELECT generate_series(7, 18);
RESET ROLE;
SELECT ops.mark() AS m \gset
SET ROLE ops_app;
DELETE FROM ops.rn WHERE id = 7;
DO $$ BEGIN DELETE FROM ops.rv WHERE id = 8; END $$;
CALL ops.rule_proc(9);
DO $$ BEGIN EXECUTE 'DELETE FROM ops.rv WHERE id = 10'; EXECUTE 'DELETE FROM ops.ra WHERE id = 11'; END $$;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) DELETE FROM ops.rv WHERE id = 12;
DO $$ BEGIN FOR i IN 13..14 LOOP DELETE FROM ops.rv WHERE id = i; END LOOP; END $$;
DO $$ BEGIN INSERT INTO ops.rlog VALUES (17); INSERT INTO ops.rlog VALUES (18); END $$;
DO $$
BEGIN
    DELETE FROM ops.rv WHERE id = 15;
    BEGIN
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN NULL;
    END;
END $$;
DO $$ BEGIN DELETE FROM ops.rv WHERE id = 16; COMMIT; END $$;
RESET ROLE;
SELECT * FROM ops.since(:m);
SET ROLE ops_admin;
SELECT softdelete.undo(:rule_op) AS restored;
RESET ROLE;
SELECT (SELECT array_agg(id ORDER BY id) FROM ops.ra WHERE deleted_at IS NULL) AS ra_live,
       (SELECT array_agg(id ORDER BY id) FROM ops.rb WHERE deleted_at IS NULL) AS rb_live;
SET client_min_messages = warning;
DROP VIEW ops.rv, ops.rn;
DROP TABLE ops.rlog;
DROP PROCEDURE ops.rule_proc(int);
SELECT count(*) FROM softdelete.disable('ops.ra');
SELECT count(*) FROM softdelete.disable('ops.rb');
DROP TABLE ops.ra, ops.rb;
RESET client_min_messages;

-- The way back from a DELETE without a WHERE.
SET ROLE ops_app;
SELECT count(*) AS live_before FROM users;
DELETE FROM users;
SELECT count(*) AS live_after_delete FROM users;
RESET ROLE;
SET ROLE ops_admin;
SELECT softdelete.undo(op) AS restored FROM softdelete.events ORDER BY at DESC, id DESC LIMIT 1;
RESET ROLE;
SET ROLE ops_app;
SELECT count(*) AS live_after_undo FROM users;
RESET ROLE;

-------------------------------------------------------------------------------
-- A DELETE in a WITH query reads its actor once, as it starts, as a DELETE
-- at the statement's top does: a function in its WHERE that deletes under
-- another actor, or that changes softdelete.actor, changes neither its rows
-- nor its event. (With the four calls kept in the WITH query's plan, they
-- read the actor as its first row was written: row 22 got 'system', row 23
-- 'real' and the event 'system'.)
-------------------------------------------------------------------------------
CREATE TABLE ops.tags (id int PRIMARY KEY);
INSERT INTO ops.tags SELECT generate_series(1, 30);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('ops.tags');
RESET client_min_messages;
CREATE FUNCTION ops.sd_mark(i int) RETURNS bool LANGUAGE plpgsql SECURITY DEFINER
    SET softdelete.actor = 'system' AS $$ BEGIN DELETE FROM ops.tags WHERE id = i; RETURN true; END $$;
SET softdelete.actor = 'real';
DELETE FROM ops.tags WHERE id = 21 AND ops.sd_mark(20) RETURNING id, deleted_by;
WITH d AS (DELETE FROM ops.tags WHERE id = 23 AND ops.sd_mark(22) RETURNING id, deleted_by) SELECT * FROM d;
WITH d AS (DELETE FROM ops.tags WHERE id = 11 AND set_config('softdelete.actor', 'evil', false) IS NOT NULL
           RETURNING id, deleted_by) SELECT * FROM d;
RESET softdelete.actor;
SET softdelete.include_deleted = on;
SELECT id, deleted_by FROM ops.tags WHERE deleted_at IS NOT NULL ORDER BY id;
RESET softdelete.include_deleted;
SELECT actor, keys FROM softdelete.events WHERE table_name = 'ops.tags' ORDER BY id;

-------------------------------------------------------------------------------
-- Clean up
-------------------------------------------------------------------------------
DELETE FROM softdelete.events WHERE table_name LIKE 'ops.%';
SELECT softdelete.hard_delete('ops.users', 129);
SET client_min_messages = warning;
SELECT count(*) FROM softdelete.disable('ops.users');
SELECT count(*) FROM softdelete.disable('ops.orders');
SELECT count(*) FROM softdelete.disable('ops.parts');
SELECT count(*) FROM softdelete.disable('ops.tags');
DROP SCHEMA ops CASCADE;
RESET client_min_messages;
DROP ROLE ops_app, ops_admin, ops_owner;
