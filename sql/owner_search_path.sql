-- owner_search_path: the statements softdelete runs as a table's owner (a
-- cascade to the children, the backstop's soft delete, restore(), the purge)
-- name PostgreSQL's operators and functions (=, #>>, now()) without a
-- schema. They run with search_path = pg_catalog, pg_temp: an application
-- role that puts a schema of its own first in its search_path, with an
-- operator or a function of the same name, never gets its code run as the
-- owner. Each trap below records the role it ran as; none may run at all.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE sp_owner;
CREATE ROLE sp_app;
CREATE SCHEMA sp AUTHORIZATION sp_owner;
GRANT USAGE ON SCHEMA sp TO sp_app;
CREATE SCHEMA sp_trap AUTHORIZATION sp_app;
GRANT USAGE ON SCHEMA sp_trap TO PUBLIC;
-- Where a trap writes down who ran it.
CREATE TABLE public.sp_ran (as_role name, trap text);
GRANT INSERT ON public.sp_ran TO PUBLIC;

SET ROLE sp_owner;
CREATE TABLE sp.parents (id int PRIMARY KEY);
CREATE TABLE sp.children (id int PRIMARY KEY, parent_id int REFERENCES sp.parents ON DELETE CASCADE);
CREATE TABLE sp.items (id int PRIMARY KEY, name text);
INSERT INTO sp.parents VALUES (1), (2);
INSERT INTO sp.children VALUES (10, 1), (20, 2);
INSERT INTO sp.items VALUES (1, 'one'), (2, 'two'), (3, 'three');
RESET ROLE;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('sp.parents');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('sp.items');
RESET client_min_messages;
SET ROLE sp_owner;
GRANT SELECT, DELETE ON sp.parents TO sp_app;
-- UPDATE of one column only: a MERGE's DELETE actions then stay DELETEs,
-- which the backstop trigger soft-deletes row by row as the owner.
GRANT SELECT, DELETE, UPDATE (name) ON sp.items TO sp_app;
RESET ROLE;

-- The traps, each PostgreSQL's own under the same name and argument types.
SET ROLE sp_app;
CREATE FUNCTION sp_trap.path(j jsonb, p text[]) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.sp_ran VALUES (current_user, '#>>');
    RETURN j OPERATOR(pg_catalog.#>>) p;
END $$;
CREATE OPERATOR sp_trap.#>> (LEFTARG = jsonb, RIGHTARG = text[], FUNCTION = sp_trap.path);
-- Where a literal were left untyped, PostgreSQL would try these first: its
-- type taken as the other side's, an exact match here and none in pg_catalog.
CREATE FUNCTION sp_trap.path_j(j jsonb, p jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.sp_ran VALUES (current_user, '#>> jsonb');
    RETURN NULL;
END $$;
CREATE OPERATOR sp_trap.#>> (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = sp_trap.path_j);
CREATE FUNCTION sp_trap.field_j(j jsonb, f jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.sp_ran VALUES (current_user, '->> jsonb');
    RETURN NULL;
END $$;
CREATE OPERATOR sp_trap.->> (LEFTARG = jsonb, RIGHTARG = jsonb, FUNCTION = sp_trap.field_j);
CREATE FUNCTION sp_trap.field(j jsonb, f text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.sp_ran VALUES (current_user, '->>');
    RETURN j OPERATOR(pg_catalog.->>) f;
END $$;
CREATE OPERATOR sp_trap.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = sp_trap.field);
CREATE FUNCTION sp_trap.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.sp_ran VALUES (current_user, 'now()');
    RETURN pg_catalog.now();
END $$;
CREATE FUNCTION sp_trap.same_int(a int, b int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.sp_ran VALUES (current_user, '=');
    RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE OPERATOR sp_trap.= (LEFTARG = int, RIGHTARG = int, FUNCTION = sp_trap.same_int);
SET search_path = sp_trap, pg_catalog;

-- A parent's soft delete cascades to its child, as the child's owner.
DELETE FROM sp.parents WHERE id = 1;
-- A MERGE whose DELETE action the backstop carries out, as the owner.
MERGE INTO sp.items t USING (VALUES (1, 'uno'), (2, NULL)) v(id, name) ON t.id = v.id
 WHEN MATCHED AND v.name IS NOT NULL THEN UPDATE SET name = v.name
 WHEN MATCHED THEN DELETE;
RESET search_path;
RESET ROLE;

-- No trap ran as anyone but the application, whose own statements above
-- do name "=" (id = 1, t.id = v.id), in its own search_path.
SELECT as_role, trap, count(*) FROM public.sp_ran GROUP BY 1, 2 ORDER BY 1, 2;
SELECT 'parents' AS t, id, deleted_at IS NOT NULL AS deleted FROM sp.parents
UNION ALL SELECT 'children', id, deleted_at IS NOT NULL FROM sp.children
UNION ALL SELECT 'items', id, deleted_at IS NOT NULL FROM sp.items
ORDER BY 1, 2;
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE table_name LIKE 'sp.%' ORDER BY id;

-- The caller's schemas stay on the path after pg_catalog: the child
-- owner's audit trigger, which names its table without a schema as such
-- triggers usually do, works inside the cascade as inside PostgreSQL's own.
CREATE TABLE public.sp_audit (tbl text, op text, parent int);
GRANT INSERT ON public.sp_audit TO sp_owner;
SET ROLE sp_owner;
CREATE FUNCTION sp.audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sp_audit VALUES (TG_TABLE_NAME, TG_OP, NEW.parent_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER audit AFTER UPDATE ON sp.children FOR EACH ROW EXECUTE FUNCTION sp.audit_row();
RESET ROLE;
SET ROLE sp_app;
DELETE FROM sp.parents WHERE id = 2;
RESET ROLE;
SELECT * FROM public.sp_audit;
-- The caller's pg_temp comes last however the caller placed it: an
-- application's temporary table does not stand in for the audit table.
INSERT INTO sp.parents VALUES (3);
INSERT INTO sp.children VALUES (30, 3);
SET ROLE sp_app;
CREATE TEMPORARY TABLE sp_audit (tbl text, op text, parent int);
SET search_path = pg_temp, public;
DELETE FROM sp.parents WHERE id = 3;
RESET search_path;
SELECT count(*) AS captured FROM pg_temp.sp_audit;
DROP TABLE pg_temp.sp_audit;
RESET ROLE;
SELECT * FROM public.sp_audit ORDER BY parent;
-- restore() and the purge keep search_path = pg_catalog, pg_temp for the
-- owner's triggers (they run inside the extension's own functions); the
-- README says to qualify names there, or to give the function its own
-- search_path.
DROP TRIGGER audit ON sp.children;

-- An admin's restore() and the purge run as the owner too; the admin's
-- search_path does not reach them either.
CREATE ROLE sp_admin IN ROLE softdelete_admin;
GRANT USAGE ON SCHEMA sp TO sp_admin;
SET ROLE sp_admin;
SET search_path = sp_trap, pg_catalog;
SELECT softdelete.restore('sp.parents', 1) AS restored;
RESET search_path;
RESET ROLE;
SELECT as_role, trap, count(*) FROM public.sp_ran GROUP BY 1, 2 ORDER BY 1, 2;
SELECT 'parents' AS t, id, deleted_at IS NOT NULL AS deleted FROM sp.parents
UNION ALL SELECT 'children', id, deleted_at IS NOT NULL FROM sp.children
ORDER BY 1, 2;

-- A key given to restore(), hard_delete() or erase() is turned into jsonb as
-- the caller: a cast to json of the key's type, which its owner may create,
-- runs as that caller, never as the extension's owner (a superuser here).
SET ROLE sp_app;
CREATE TYPE sp_trap.k AS ENUM ('1', '2');
CREATE FUNCTION sp_trap.k_json(sp_trap.k) RETURNS json LANGUAGE plpgsql AS $$
BEGIN
    -- A notice, which the failing call below does not take back.
    RAISE NOTICE 'cast to json ran as the caller: %', current_user = 'sp_app';
    RETURN pg_catalog.to_json($1::text);
END $$;
CREATE CAST (sp_trap.k AS json) WITH FUNCTION sp_trap.k_json(sp_trap.k);
SELECT softdelete.restore('sp.parents', '1'::sp_trap.k);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.hard_delete('sp.parents', '1'::sp_trap.k);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('sp.parents', '1'::sp_trap.k);
\echo SQLSTATE :SQLSTATE
RESET ROLE;

-- Nor does a domain's CHECK, the code of the domain's owner, run as the
-- extension's owner when erase() records the erased key: it runs only as
-- the table's owner (t), when the erasing statement reads the key.
SET ROLE sp_owner;
CREATE FUNCTION sp.key_ok(int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'domain check ran as the table''s owner: %', current_user = 'sp_owner';
    RETURN true;
END $$;
CREATE DOMAIN sp.checked_id AS int CHECK (sp.key_ok(VALUE));
CREATE TABLE sp.people (id sp.checked_id PRIMARY KEY, name text);
INSERT INTO sp.people VALUES (1, 'ann');
RESET ROLE;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('sp.people', pii_columns => '{name}');
RESET client_min_messages;
SET ROLE sp_owner;
SELECT softdelete.erase('sp.people', 1) AS erased;
RESET ROLE;

-- The same with the domain inside the key's type, a field of a composite
-- or an element of an array: erase() reads the key as the table's owner.
SET ROLE sp_owner;
CREATE TYPE sp.pair_key AS (a sp.checked_id, b int);
CREATE TABLE sp.pairs (id sp.pair_key PRIMARY KEY, name text);
CREATE TABLE sp.sets (id sp.checked_id[] PRIMARY KEY, name text);
INSERT INTO sp.pairs VALUES (ROW(2, 2), 'bo');
INSERT INTO sp.sets VALUES ('{3}', 'cy');
RESET ROLE;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('sp.pairs', pii_columns => '{name}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('sp.sets', pii_columns => '{name}');
RESET client_min_messages;
SET ROLE sp_owner;
SELECT softdelete.erase('sp.pairs', ROW(2, 2)::sp.pair_key) AS erased;
SELECT softdelete.erase('sp.sets', '{3}'::sp.checked_id[]) AS erased;
RESET ROLE;

-- A restore checks the parents of the rows it brings back, as the parent's
-- owner (here the superuser): the child's values reach that statement cast
-- to their base type, so the child's domain CHECK does not run there.
CREATE TABLE public.sp_parent (id int PRIMARY KEY);
INSERT INTO public.sp_parent VALUES (1);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('public.sp_parent');
RESET client_min_messages;
GRANT SELECT, REFERENCES ON public.sp_parent TO sp_owner;
SET ROLE sp_owner;
SET client_min_messages = warning;
CREATE TABLE sp.kids (id int PRIMARY KEY, pid sp.checked_id REFERENCES public.sp_parent);
RESET client_min_messages;
INSERT INTO sp.kids VALUES (10, 1);
DELETE FROM sp.kids WHERE id = 10;
SELECT softdelete.restore('sp.kids', 10) AS restored;
RESET ROLE;

-- The worker's look at whether a table has rows due reads the table and
-- its archive as the table's owner: an owner that turned its (empty)
-- archive into a view has the view's functions run as itself (t), not as
-- the extension's owner.
SET ROLE sp_owner;
CREATE TABLE sp.kept (id int PRIMARY KEY, v text);
RESET ROLE;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('sp.kept', retention => '100 years', archive => true,
                                                       archive_retention => '1 day');
SELECT count(*) FROM softdelete.purge('sp.kept');
RESET client_min_messages;
SET ROLE sp_owner;
CREATE FUNCTION sp.seen() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'archive view ran as the table''s owner: %', current_user = 'sp_owner';
    RETURN false;
END $$;
SET client_min_messages = warning;
DO $$
DECLARE
    t name;
BEGIN
    FOR t IN SELECT tgname FROM pg_trigger
              WHERE tgrelid = 'softdelete_archive."sp.kept"'::regclass AND NOT tgisinternal LOOP
        EXECUTE format('DROP TRIGGER %I ON softdelete_archive."sp.kept"', t);
    END LOOP;
END
$$;
DROP INDEX softdelete_archive."sp.kept_archived_at_idx";
-- (VACUUM clears the table's has-triggers flag, which the rule checks.)
VACUUM softdelete_archive."sp.kept";
RESET client_min_messages;
CREATE RULE "_RETURN" AS ON SELECT TO softdelete_archive."sp.kept" DO INSTEAD
    SELECT NULL::int AS id, NULL::text AS v, NULL::timestamptz AS deleted_at, NULL::text AS deleted_by,
           NULL::text AS delete_reason, NULL::bigint AS delete_op,
           '2000-01-01'::timestamptz AS archived_at
     WHERE sp.seen();
RESET ROLE;
SELECT softdelete_internal.purge_due('sp.kept') AS due;

-- Operators are named with their schema, not just pinned to pg_catalog:
-- citext's "=" lives in the schema of the extension (public here), and a
-- bare "=" under search_path = pg_catalog would compare citext as text,
-- case-sensitively. Children follow, RESTRICT refuses, and restore(),
-- hard_delete() and erase() find their row, whatever the case.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;
RESET client_min_messages;
SET ROLE sp_owner;
CREATE TABLE sp.codes (code public.citext PRIMARY KEY, note text);
CREATE TABLE sp.uses (id int PRIMARY KEY, code public.citext REFERENCES sp.codes ON DELETE CASCADE);
CREATE TABLE sp.holds (id int PRIMARY KEY, code public.citext REFERENCES sp.codes ON DELETE RESTRICT);
INSERT INTO sp.codes VALUES ('Abc', 'a'), ('Def', 'd'), ('Ghi', 'g'), ('Jkl', 'j');
INSERT INTO sp.uses VALUES (1, 'abc'), (2, 'ABC'), (3, 'Abc'), (4, 'def');
INSERT INTO sp.holds VALUES (1, 'gHI');
RESET ROLE;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('sp.codes', pii_columns => '{note}');
RESET client_min_messages;
SET ROLE sp_owner;
DELETE FROM sp.codes WHERE code = 'Abc';
DELETE FROM sp.codes WHERE code = 'Ghi';
\echo SQLSTATE :SQLSTATE
DELETE FROM sp.codes WHERE code IN ('Def', 'Jkl');
RESET ROLE;
SELECT id, code::text, deleted_at IS NOT NULL AS deleted FROM sp.uses ORDER BY id;
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE table_name IN ('sp.codes', 'sp.uses') ORDER BY id;
SET ROLE sp_owner;
SELECT softdelete.restore('sp.codes', 'abc'::public.citext) AS restored,
       softdelete.hard_delete('sp.codes', 'JKL'::public.citext) AS hard_deleted,
       softdelete.erase('sp.codes', '{"code": "dEF"}'::jsonb) AS erased;
RESET ROLE;
SELECT 'codes' AS t, code::text AS k, note, deleted_at IS NOT NULL AS deleted FROM sp.codes
UNION ALL SELECT 'uses', id::text, code::text, deleted_at IS NOT NULL FROM sp.uses
UNION ALL SELECT 'holds', id::text, code::text, deleted_at IS NOT NULL FROM sp.holds
ORDER BY 1, 2;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'sp.%';
DELETE FROM softdelete.runs WHERE table_name LIKE 'sp.%';
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.items');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.people');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.pairs');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.sets');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.kept');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.kids');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('public.sp_parent');
DROP VIEW softdelete_archive."sp.kept";
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.holds');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.uses');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.codes');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.children');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('sp.parents');
DROP SCHEMA sp CASCADE;
DROP SCHEMA sp_trap CASCADE;
DROP TABLE public.sp_ran, public.sp_audit;
DROP TABLE public.sp_parent;
RESET client_min_messages;
DROP OWNED BY sp_owner, sp_app, sp_admin;
DROP ROLE sp_owner, sp_app, sp_admin;
