-- purge_authority: a purge batch removes rows for good, as each table's
-- owner with its hard delete on. The owner's own triggers fire in it, and a
-- DELETE they run on an enabled table is what it would be in the owner's
-- own hard delete: for good on a table the trigger's role is an admin of
-- (its own), logged as purged; refused (42501) on another role's table it
-- may only DELETE from, and the batch fails, changing nothing. Such a
-- DELETE used to remove the other table's live rows for good, so that any
-- table owner whose rows were due could hard-delete, through a trigger,
-- the rows of every table it may DELETE from.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
CREATE ROLE pa_victim;
CREATE ROLE pa_owner;
GRANT CREATE ON SCHEMA public TO pa_victim, pa_owner;

SET ROLE pa_victim;
CREATE TABLE pa_accounts (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO pa_accounts SELECT g, 'account ' || g FROM generate_series(1, 4) g;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_accounts');
GRANT SELECT, DELETE, UPDATE (name) ON pa_accounts TO pa_owner;
RESET ROLE;

SET ROLE pa_owner;
CREATE TABLE pa_notes (id int PRIMARY KEY);
CREATE TABLE pa_own_log (id int PRIMARY KEY);
INSERT INTO pa_own_log VALUES (1), (2);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_own_log');
-- The owner's own table: removed for good, within the purge.
CREATE FUNCTION pa_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM public.pa_own_log WHERE id = OLD.id;
    RETURN OLD;
END $$;
CREATE TRIGGER pa_sweep BEFORE DELETE ON pa_notes FOR EACH ROW EXECUTE FUNCTION pa_sweep();
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_notes', retention => '1 hour');
INSERT INTO pa_notes (id, deleted_at) VALUES (1, now() - interval '1 day');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('pa_notes');
SELECT count(*) AS notes_left FROM pa_notes;
SET softdelete.include_deleted = on;
SELECT array_agg(id) AS own_log_left FROM pa_own_log;
RESET softdelete.include_deleted;

-- Another role's table: refused, and nothing of the batch happens.
CREATE OR REPLACE FUNCTION pa_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM public.pa_accounts WHERE id <= 2;
    RETURN OLD;
END $$;
INSERT INTO pa_notes (id, deleted_at) VALUES (2, now() - interval '1 day');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('pa_notes');
SET softdelete.include_deleted = on;
SELECT array_agg(id) AS notes_left FROM pa_notes;
RESET softdelete.include_deleted;

-- The same through the backstop: a MERGE with an UPDATE action on a table
-- with policies of its own keeps its DELETE for the backstop trigger.
RESET ROLE;
SET ROLE pa_victim;
CREATE POLICY pa_extra ON pa_accounts FOR SELECT USING (true);
RESET ROLE;
SET ROLE pa_owner;
CREATE OR REPLACE FUNCTION pa_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    MERGE INTO public.pa_accounts a USING (VALUES (3)) v(id) ON a.id = v.id
     WHEN MATCHED AND a.id > 100 THEN UPDATE SET name = a.name
     WHEN MATCHED THEN DELETE;
    RETURN OLD;
END $$;
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('pa_notes');
SET softdelete.include_deleted = on;
SELECT array_agg(id) AS notes_left FROM pa_notes;
RESET softdelete.include_deleted;
RESET ROLE;

-- The victim's rows are all there, live.
SET ROLE pa_victim;
SET softdelete.include_deleted = on;
SELECT id, deleted_at IS NOT NULL AS deleted FROM pa_accounts ORDER BY id;
RESET softdelete.include_deleted;
RESET ROLE;
SELECT table_name, action, actor, row_count, keys FROM softdelete.events
 WHERE table_name IN ('public.pa_accounts', 'public.pa_own_log', 'public.pa_notes')
 ORDER BY id;
SELECT status, error FROM softdelete.runs WHERE table_name = 'public.pa_notes' ORDER BY id;

-- What the owner's trigger sets off through another role is what it would
-- be outside a purge, whatever that role may do: the purge's hard delete
-- is the owner's, for the tables the owner is an admin of. (1) The trigger
-- calls the victim's SECURITY DEFINER function, an ordinary soft-delete
-- API, whose DELETE runs as the victim (an admin of its table): a soft
-- delete, where it removed the rows for good. (2) The trigger soft-deletes
-- the victim's parent row by UPDATE: the cascade to its child is a soft
-- delete too, where the child went for good. (3) The trigger deletes from
-- its own plain table, which the victim's enabled table references ON
-- DELETE CASCADE: PostgreSQL's action on the victim's rows is refused
-- (23503), as outside a purge, where they went for good.
SET ROLE pa_victim;
CREATE FUNCTION pa_cancel(p int) RETURNS void LANGUAGE sql SECURITY DEFINER
    SET search_path = public, pg_catalog AS $$ DELETE FROM public.pa_accounts WHERE id = p $$;
GRANT EXECUTE ON FUNCTION pa_cancel(int) TO pa_owner;
CREATE TABLE pa_lines (id int PRIMARY KEY, account_id int REFERENCES pa_accounts ON DELETE CASCADE);
INSERT INTO pa_lines VALUES (1, 1), (4, 4);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_lines');
GRANT UPDATE (deleted_at, deleted_by, delete_reason, delete_op) ON pa_accounts TO pa_owner;
RESET ROLE;
SET ROLE pa_owner;
SELECT pa_cancel(1);
CREATE OR REPLACE FUNCTION pa_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM public.pa_cancel(i) FROM generate_series(2, 3) i;
    RETURN OLD;
END $$;
INSERT INTO pa_notes (id, deleted_at) VALUES (3, now() - interval '1 day');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('pa_notes');
CREATE OR REPLACE FUNCTION pa_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public.pa_accounts SET deleted_at = now() WHERE id = 4;
    RETURN OLD;
END $$;
INSERT INTO pa_notes (id, deleted_at) VALUES (4, now() - interval '1 day');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('pa_notes');
CREATE TABLE pa_plain (id int PRIMARY KEY);
INSERT INTO pa_plain VALUES (1), (2), (3), (4);
GRANT REFERENCES ON pa_plain TO pa_victim;
RESET ROLE;
SET ROLE pa_victim;
CREATE TABLE pa_refs (id int PRIMARY KEY, plain_id int REFERENCES pa_plain ON DELETE CASCADE);
INSERT INTO pa_refs VALUES (2, 2), (3, 3);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('pa_refs');
RESET ROLE;
SET ROLE pa_owner;
CREATE OR REPLACE FUNCTION pa_sweep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM public.pa_plain WHERE id IN (2, 3);
    RETURN OLD;
END $$;
INSERT INTO pa_notes (id, deleted_at) VALUES (5, now() - interval '1 day');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('pa_notes');
RESET ROLE;
SET ROLE pa_victim;
SET softdelete.include_deleted = on;
SELECT id, deleted_at IS NOT NULL AS deleted, deleted_by FROM pa_accounts ORDER BY id;
SELECT id, deleted_at IS NOT NULL AS deleted FROM pa_lines ORDER BY id;
SELECT id, deleted_at IS NOT NULL AS deleted FROM pa_refs ORDER BY id;
RESET softdelete.include_deleted;
RESET ROLE;
SELECT action, table_name, actor, row_count, keys FROM softdelete.events
 WHERE table_name IN ('public.pa_accounts', 'public.pa_lines', 'public.pa_refs')
 ORDER BY id;

-- A query that starts while the purge's own statement is being planned (an
-- IMMUTABLE function in a partition's CHECK, which PostgreSQL evaluates to
-- rule partitions out) is not that statement: it took the place of the
-- purge's statement, whose rows were then logged twice (keys [1, 1]) and
-- counted twice in the run.
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
DROP TABLE pa_lines, pa_refs, pa_plain, pa_accounts, pa_notes, pa_own_log, pa_parted;
DROP FUNCTION pa_peek();
DROP FUNCTION pa_sweep();
DROP FUNCTION pa_cancel(int);
REVOKE CREATE ON SCHEMA public FROM pa_victim, pa_owner;
DROP ROLE pa_victim;
DROP ROLE pa_owner;
RESET client_min_messages;
