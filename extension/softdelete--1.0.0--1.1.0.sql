-- softdelete 1.1.0 (in development): update from 1.0.0.
-- A fresh CREATE EXTENSION runs softdelete--1.0.0.sql and then this script,
-- so this is the one place where changes since 1.0.0 go. It must also bring
-- tables enabled under 1.0.0 to what enable() makes now
-- (test/t/030_upgrade.pl compares the two).
\echo Use "ALTER EXTENSION softdelete UPDATE" to load this file. \quit

-------------------------------------------------------------------------------
-- Logical replication with FOR ALL TABLES
-------------------------------------------------------------------------------
-- The extension's tables describe the node they are on, but a FOR ALL TABLES
-- publication carries them too: a subscriber drops the rows its logical
-- replication workers apply to them, and keeps its own (replicated_rows.cpp).
-- Archive tables get the same trigger when they are made (archive.cpp).
CREATE FUNCTION softdelete_internal.ignore_replicated_row() RETURNS trigger
    AS 'MODULE_PATHNAME', 'softdelete_ignore_replicated_row' LANGUAGE C;
GRANT EXECUTE ON FUNCTION softdelete_internal.ignore_replicated_row() TO PUBLIC;
DO $replicated$
DECLARE
    tbl regclass;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['softdelete.tables', 'softdelete.events', 'softdelete.runs',
                               'softdelete_internal.archives']::regclass[] LOOP
        EXECUTE format('CREATE TRIGGER ignore_replicated_row BEFORE INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION softdelete_internal.ignore_replicated_row()', tbl);
        EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER ignore_replicated_row', tbl);
    END LOOP;
END
$replicated$;

-- Archive tables made by 1.0.0 get what archive.cpp now gives a new one:
-- REPLICA IDENTITY FULL (without it a publisher refuses their expiry under
-- such a publication) and the same trigger, for INSERT only.
DO $archives$
DECLARE
    tbl regclass;
BEGIN
    FOR tbl IN SELECT archive FROM softdelete_internal.archives ORDER BY archive::text LOOP
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', tbl);
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger
                       WHERE tgrelid = tbl AND tgname = 'ignore_replicated_row') THEN
            EXECUTE format('CREATE TRIGGER ignore_replicated_row BEFORE INSERT ON %s FOR EACH ROW '
                           'EXECUTE FUNCTION softdelete_internal.ignore_replicated_row()', tbl);
            EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER ignore_replicated_row', tbl);
        END IF;
    END LOOP;
END
$archives$;

-------------------------------------------------------------------------------
-- Dump and restore by a table owner who is no superuser
-------------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'softdelete_backup') THEN
        CREATE ROLE softdelete_backup NOLOGIN;
    END IF;
END
$roles$;

-- The extension moves to pg_catalog, as plpgsql lives there, and schema
-- softdelete becomes one of its objects (softdelete.control): pg_dump then
-- leaves the schema out, and a dump restores into a database that has the
-- extension without "schema softdelete already exists". PostgreSQL has no
-- command that moves a non-relocatable extension, so its catalog row and its
-- dependency on the old schema are changed here, as the superuser that runs
-- this script. The comment goes: restoring COMMENT ON EXTENSION needs to own
-- the extension, which a table owner restoring a dump does not.
DELETE FROM pg_catalog.pg_depend
 WHERE classid = 'pg_catalog.pg_extension'::pg_catalog.regclass
   AND objid = (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'softdelete')
   AND refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass
   AND refobjid = 'softdelete'::pg_catalog.regnamespace
   AND deptype = 'n';
UPDATE pg_catalog.pg_extension SET extnamespace = 'pg_catalog'::pg_catalog.regnamespace
 WHERE extname = 'softdelete';
ALTER EXTENSION softdelete ADD SCHEMA softdelete;
COMMENT ON EXTENSION softdelete IS NULL;

-- disable() runs the unique definitions kept in softdelete.tables, which a
-- restore by the table's owner writes, with that owner's rights only.
CREATE OR REPLACE FUNCTION softdelete_internal.disable(tbl regclass)
    RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg softdelete.tables;
    u jsonb;
    part regclass;
    step text;
    partial_index text;
    problem text;
BEGIN
    cfg := softdelete_internal.config(tbl);
    PERFORM softdelete_internal.check_target(tbl);
    -- Our cache may not see this table as enabled while its enforcement is
    -- being taken apart.
    DELETE FROM softdelete.tables t WHERE t.relid = tbl;
    PERFORM softdelete_internal.invalidate(tbl);

    -- Put the original unique constraints and indexes back first: if deleted
    -- and live rows now collide, the error rolls back everything. Their
    -- definitions are text from softdelete.tables, which a restore by the
    -- table's owner writes: they run with that owner's rights only.
    FOR u IN SELECT * FROM jsonb_array_elements(cfg.converted_uniques) LOOP
        SELECT format('%I.%I', n.nspname, c.relname) INTO partial_index
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_index i ON i.indexrelid = c.oid
         WHERE i.indrelid = tbl AND c.relname = u->>'name';
        BEGIN
            IF partial_index IS NOT NULL THEN
                EXECUTE format('DROP INDEX %s', partial_index);
            END IF;
            IF u->>'kind' = 'constraint' THEN
                PERFORM softdelete_internal.drop_constraint_placeholder(tbl, u->>'name');
                PERFORM softdelete_internal.run_as_owner(tbl,
                    format('ALTER TABLE %s ADD CONSTRAINT %I %s', tbl, u->>'name', u->>'definition'), NULL);
            ELSE
                PERFORM softdelete_internal.run_as_owner(tbl, u->>'definition', NULL);
            END IF;
        EXCEPTION WHEN unique_violation THEN
            GET STACKED DIAGNOSTICS problem = PG_EXCEPTION_DETAIL;
            RAISE EXCEPTION 'cannot disable soft delete on %: restoring unique % % would fail', tbl,
                    u->>'kind', quote_ident(u->>'name')
                USING ERRCODE = '23505',
                      DETAIL = coalesce(problem, '') || ' Deleted and live rows share the value.',
                      HINT = 'Hard-delete (softdelete.hard_delete) or change the deleted duplicates, then call disable() again.';
        END;
        action := 'unique index'; object := format('%I restored as it was', u->>'name'); RETURN NEXT;
    END LOOP;

    FOR part IN SELECT tbl UNION ALL SELECT softdelete_internal.partitions(tbl) LOOP
        FOR step IN SELECT softdelete_internal.remove_enforcement(part, cfg.rls_was_enabled, cfg.rls_was_forced) LOOP
            action := 'enforcement'; object := step; RETURN NEXT;
        END LOOP;
    END LOOP;

    -- Children that referenced tbl no longer need guarding against it.
    FOR step IN SELECT softdelete_internal.install_child_guards(tbl) LOOP
        action := 'enforcement'; object := step; RETURN NEXT;
    END LOOP;

    part := softdelete_internal.deleted_rows_index(tbl, cfg.column_name);
    IF part IS NOT NULL THEN
        EXECUTE format('DROP INDEX %s', part);
    END IF;
    PERFORM softdelete_internal.invalidate(tbl);
    action := 'disabled'; object := tbl::text; RETURN NEXT;
    RAISE NOTICE 'soft delete disabled on %; columns %, deleted_by, delete_reason and delete_op are kept with their data',
        tbl, quote_ident(cfg.column_name);
END
$$;

-- softdelete.tables takes a restored row only from a superuser or the
-- table's owner (config_guard.cpp).
DROP TRIGGER guard_config ON softdelete.tables;
CREATE TRIGGER guard_config BEFORE INSERT OR UPDATE OR DELETE ON softdelete.tables
    FOR EACH ROW EXECUTE FUNCTION softdelete_internal.guard_config();

-- softdelete_backup: what pg_dump and pg_restore of a whole database need
-- when they run as a table owner who is no superuser (a managed service's
-- database owner). pg_dump reads the configuration, the event log and their
-- sequences, and the archive tables (their owners'); pg_restore writes them
-- back (guard_config takes a table's row from its owner only) and recreates
-- the triggers and policies of enabled tables, which name functions of
-- softdelete_internal. Admins and readers keep no privilege on
-- softdelete_internal.
GRANT USAGE ON SCHEMA softdelete_internal TO softdelete_backup;
GRANT SELECT, INSERT ON softdelete.tables, softdelete.events, softdelete.runs,
    softdelete_internal.archives TO softdelete_backup;
GRANT SELECT, UPDATE ON softdelete.events_id_seq, softdelete.runs_id_seq,
    softdelete_internal.operation_ids TO softdelete_backup;
GRANT EXECUTE ON FUNCTION softdelete_internal.guard_truncate() TO softdelete_backup;
GRANT USAGE, CREATE ON SCHEMA softdelete_archive TO softdelete_backup;
