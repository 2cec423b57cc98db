-- purge_authority: a purge batch removes for good the rows it plans, by its
-- own DELETE, as each table's owner; nothing else. Whatever that DELETE
-- sets off (the tables' triggers and rules, foreign key actions, functions
-- they call, as any role) is what it would be outside a purge. It used to
-- run with the owner's hard delete on, and each of the following removed
-- rows for good, logged as purged; from another owner's table, too:
--   A. the owner's trigger deleting from the owner's own table;
--   B. the owner's trigger deleting from another role's table it may
--      DELETE from (C: by a MERGE through the backstop);
--   D. the owner's trigger calling the victim's SECURITY DEFINER function;
--   E. the owner's trigger soft-deleting the victim's parent by UPDATE (its
--      cascade purged the children);
--   F. the owner's trigger deleting from its own plain table that the
--      victim's enabled table references ON DELETE CASCADE;
--   G. another owner's trigger, which PostgreSQL runs as the purging owner
--      when its foreign key action (SET NULL) fires in the purge.
-- A to E are soft deletes now, F is refused (23503, as outside a purge),
-- G is a soft delete.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
CREATE ROLE pa_victim;
CREATE ROLE pa_owner;
GRANT CREATE ON SCHEMA public TO pa_victim, pa_owner;

SET ROLE pa_victim;
CREATE TABLE pa_accounts (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO pa_accounts SELECT g, 'account ' || g FROM generate_series(1, 9) g;
CREATE TABLE pa_lines (id int PRIMARY KEY, account_id int REFERENCES pa_accounts ON DELETE CASCADE);
INSERT INTO pa_lines VALUES (5, 5);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_accounts');
GRANT SELECT, DELETE, UPDATE (name, deleted_at, deleted_by, delete_reason, delete_op) ON pa_accounts TO pa_owner;
CREATE FUNCTION pa_cancel(p int) RETURNS void LANGUAGE sql SECURITY DEFINER
    SET search_path = public, pg_catalog AS $$ DELETE FROM public.pa_accounts WHERE id = p $$;
GRANT EXECUTE ON FUNCTION pa_cancel(int) TO pa_owner;
RESET ROLE;

SET ROLE pa_owner;
CREATE TABLE pa_notes (id int PRIMARY KEY, step text NOT NULL);
CREATE TABLE pa_own_log (id int PRIMARY KEY);
INSERT INTO pa_own_log VALUES (1), (2);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_own_log');
CREATE TABLE pa_plain (id int PRIMARY KEY);
INSERT INTO pa_plain VALUES (6), (7);
GRANT REFERENCES ON pa_plain TO pa_victim;
-- The trigger does what each note's step says.
CREATE FUNCTION pa_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    CASE OLD.step
    WHEN 'A' THEN DELETE FROM public.pa_own_log WHERE id = 1;
    WHEN 'B' THEN DELETE FROM public.pa_accounts WHERE id IN (1, 2);
    WHEN 'C' THEN
        MERGE INTO public.pa_accounts a USING (VALUES (3)) v(id) ON a.id = v.id
         WHEN MATCHED AND a.id > 100 THEN UPDATE SET name = a.name
         WHEN MATCHED THEN DELETE;
    WHEN 'D' THEN PERFORM public.pa_cancel(4);
    WHEN 'E' THEN UPDATE public.pa_accounts SET deleted_at = now() WHERE id = 5;
    WHEN 'F' THEN DELETE FROM public.pa_plain WHERE id IN (6, 7);
    END CASE;
    RETURN OLD;
END $$;
CREATE TRIGGER pa_sweep BEFORE DELETE ON pa_notes FOR EACH ROW EXECUTE FUNCTION pa_sweep();
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_notes', retention => '1 hour');
RESET ROLE;

SET ROLE pa_victim;
CREATE TABLE pa_refs (id int PRIMARY KEY, plain_id int REFERENCES pa_plain ON DELETE CASCADE);
INSERT INTO pa_refs VALUES (6, 6), (7, 7);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_refs');
-- C goes through the backstop: with a policy of the table's own, a MERGE
-- that also updates keeps its DELETE actions.
CREATE POLICY pa_extra ON pa_accounts FOR SELECT USING (true);
RESET ROLE;

-- One purge per step, each with one due note.
SET ROLE pa_owner;
CREATE FUNCTION pa_step(s text, n int) RETURNS TABLE (step text, rows_purged bigint)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.pa_notes (id, step, deleted_at) VALUES (n, s, now() - interval '1 day');
    RETURN QUERY SELECT s, p.rows_purged FROM softdelete.purge('public.pa_notes') p;
END $$;
SELECT * FROM pa_step('A', 1);
SELECT * FROM pa_step('B', 2);
SELECT * FROM pa_step('C', 3);
SELECT * FROM pa_step('D', 4);
SELECT * FROM pa_step('E', 5);
SELECT * FROM pa_step('F', 6);
SET softdelete.include_deleted = on;
SELECT array_agg(id ORDER BY id) AS notes_left FROM pa_notes;
SELECT id, deleted_at IS NOT NULL AS deleted FROM pa_own_log ORDER BY id;
RESET softdelete.include_deleted;
SELECT array_agg(id ORDER BY id) AS plain_left FROM pa_plain;
RESET ROLE;

-- The victim's rows: soft-deleted where the steps deleted them, none gone.
SET ROLE pa_victim;
SET softdelete.include_deleted = on;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by FROM pa_accounts ORDER BY id;
SELECT id, deleted_at IS NOT NULL AS deleted FROM pa_lines ORDER BY id;
SELECT id, deleted_at IS NOT NULL AS deleted FROM pa_refs ORDER BY id;
RESET softdelete.include_deleted;
RESET ROLE;
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE table_name IN ('public.pa_accounts', 'public.pa_lines', 'public.pa_refs', 'public.pa_own_log',
                      'public.pa_notes')
 ORDER BY id;
SELECT status, rows_purged, error FROM softdelete.runs WHERE table_name = 'public.pa_notes' ORDER BY id;

-- G: pa_owner's table references pa_victim's ON DELETE SET NULL, and its
-- AFTER UPDATE trigger deletes from pa_victim's other table. PostgreSQL
-- runs that trigger, fired by the SET NULL of pa_victim's purge, as
-- pa_victim: a soft delete, as in any statement of pa_victim's.
SET ROLE pa_victim;
CREATE TABLE pa_due (id int PRIMARY KEY);
INSERT INTO pa_due VALUES (1);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_due', retention => '1 second');
CREATE TABLE pa_kept (id int PRIMARY KEY);
INSERT INTO pa_kept VALUES (1), (2);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_kept');
GRANT SELECT, REFERENCES ON pa_due TO pa_owner;
RESET ROLE;
SET ROLE pa_owner;
SET client_min_messages = warning;
CREATE TABLE pa_child (id int PRIMARY KEY, due_id int REFERENCES pa_due ON DELETE SET NULL);
RESET client_min_messages;
INSERT INTO pa_child VALUES (1, 1);
CREATE FUNCTION pa_child_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM public.pa_kept WHERE id = 2;
    RETURN NULL;
END $$;
CREATE TRIGGER pa_child_trg AFTER UPDATE ON pa_child FOR EACH ROW EXECUTE FUNCTION pa_child_trg();
RESET ROLE;
SET ROLE pa_victim;
DELETE FROM pa_due;
SELECT pg_sleep(1.2);
SELECT table_name, rows_purged FROM softdelete.purge('pa_due');
SET softdelete.include_deleted = on;
SELECT id, deleted_at IS NOT NULL AS deleted FROM pa_kept ORDER BY id;
RESET softdelete.include_deleted;
RESET ROLE;
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE table_name IN ('public.pa_due', 'public.pa_kept') ORDER BY id;

-- H: the purge's own DELETE is the one planned in the planner call its run
-- makes, not a statement of the same text run while that call plans (a DO
-- ALSO rule's action is planned before the DELETE it is on, and an
-- IMMUTABLE function in its WHERE ran then). That statement, given a
-- retention of its own, removed rows not yet due for good, unlogged, and
-- took the place of the purge's. Now it is what it would be outside a
-- purge: a DELETE of rows already deleted, which changes nothing.
SET ROLE pa_owner;
CREATE TABLE pa_ruled (id int PRIMARY KEY);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_ruled', retention => '1 hour');
RESET client_min_messages;
INSERT INTO pa_ruled (id, deleted_at) VALUES (1, now() - interval '1 day'), (2, now());
INSERT INTO pa_ruled (id) VALUES (3);
CREATE FUNCTION pa_same_text() RETURNS int VOLATILE LANGUAGE plpgsql SET search_path = public, pg_catalog AS $$
DECLARE n int;
BEGIN
    EXECUTE 'DELETE FROM ONLY public.pa_ruled AS t WHERE t.deleted_at < pg_catalog.now() - $1 RETURNING t.id'
        USING interval '-1000 years';
    EXECUTE 'DELETE FROM public.pa_ruled AS t WHERE t.deleted_at < pg_catalog.now() - $1 RETURNING t.id'
        USING interval '-1000 years';
    RETURN 0;
END $$;
CREATE FUNCTION pa_at_plan_time() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('pa.busy', true) = '1' THEN RETURN 0; END IF;
    PERFORM set_config('pa.busy', '1', true);
    PERFORM public.pa_same_text();
    PERFORM set_config('pa.busy', '0', true);
    RETURN 0;
END $$;
CREATE TABLE pa_side (id int);
CREATE RULE pa_also AS ON DELETE TO pa_ruled DO ALSO DELETE FROM pa_side WHERE pa_side.id = pa_at_plan_time();
SELECT table_name, rows_purged FROM softdelete.purge('pa_ruled');
SET softdelete.include_deleted = on;
SELECT id, deleted_at IS NOT NULL AS deleted FROM pa_ruled ORDER BY id;
RESET softdelete.include_deleted;
RESET ROLE;
SELECT action, row_count, keys FROM softdelete.events WHERE table_name = 'public.pa_ruled' ORDER BY id;

-- A query that starts while the purge's own statement is being planned (an
-- IMMUTABLE function in a partition's CHECK, which PostgreSQL evaluates to
-- rule partitions out) is not that statement: it took the place of the
-- purge's statement, whose rows were then logged twice (keys [1, 2, 1, 2])
-- and counted twice in the run.
SET ROLE pa_owner;
CREATE FUNCTION pa_peek() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM pg_catalog.pg_class LIMIT 1;
    RETURN 0;
END $$;
CREATE TABLE pa_parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE pa_parted_1 PARTITION OF pa_parted (CONSTRAINT peek CHECK (public.pa_peek() = 0))
    FOR VALUES FROM (0) TO (100);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_parted', retention => '1 hour');
RESET client_min_messages;
INSERT INTO pa_parted (id, deleted_at) VALUES (1, now() - interval '1 day'), (2, now() - interval '1 day');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('pa_parted');
RESET ROLE;
SELECT action, row_count, keys FROM softdelete.events WHERE table_name = 'public.pa_parted';
SELECT rows_purged FROM softdelete.runs WHERE table_name = 'public.pa_parted';

-- Clean up.
SET client_min_messages = warning;
DELETE FROM softdelete.events WHERE table_name LIKE 'public.pa_%';
DELETE FROM softdelete.runs WHERE table_name LIKE 'public.pa_%';
SELECT count(*) > 0 AS disabled FROM softdelete.disable('pa_lines');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('pa_refs');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('pa_accounts');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('pa_notes');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('pa_own_log');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('pa_parted');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('pa_child');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('pa_due');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('pa_kept');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('pa_ruled');
DROP TABLE pa_lines, pa_refs, pa_plain, pa_accounts, pa_notes, pa_own_log, pa_parted, pa_child,
    pa_due, pa_kept, pa_ruled, pa_side;
DROP FUNCTION pa_at_plan_time();
DROP FUNCTION pa_same_text();
DROP FUNCTION pa_sweep();
DROP FUNCTION pa_cancel(int);
DROP FUNCTION pa_peek();
DROP FUNCTION pa_step(text, int);
DROP FUNCTION pa_child_trg();
REVOKE CREATE ON SCHEMA public FROM pa_victim, pa_owner;
DROP ROLE pa_victim;
DROP ROLE pa_owner;
RESET client_min_messages;
