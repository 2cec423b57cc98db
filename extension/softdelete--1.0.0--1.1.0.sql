-- softdelete 1.1.0 (in development): update from 1.0.0.
-- It brings a database that has 1.0.0, tables enabled under it included, to
-- what softdelete--1.1.0.sql makes (test/t/030_upgrade.pl compares the two).
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
    -- Reads and writes through a parent follow the parent's policies, also
    -- for its children's rows: an enabled inheritance child under a parent
    -- without them would show its deleted rows to every role that reads the
    -- parent, and let every role that updates it restore or change them.
    SELECT string_agg(i.inhrelid::regclass::text, ', ' ORDER BY i.inhrelid::regclass::text) INTO problem
      FROM pg_inherits i JOIN softdelete.tables t ON t.relid = i.inhrelid
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = tbl AND NOT c.relispartition;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'cannot disable soft delete on %: enabled table % inherits from it', tbl, problem
            USING ERRCODE = '55000',
                  DETAIL = format('Through %s, which would not be enabled, the deleted rows of %s would show, '
                                  'and could be restored or changed by any role that may update %s.',
                                  tbl, problem, tbl),
                  HINT = format('Disable %s first, or detach it (ALTER TABLE ... NO INHERIT %s).', problem, tbl);
    END IF;
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
GRANT SELECT, UPDATE ON softdelete.events_id_seq, softdelete.runs_id_seq TO softdelete_backup;
GRANT EXECUTE ON FUNCTION softdelete_internal.guard_truncate() TO softdelete_backup;
GRANT USAGE, CREATE ON SCHEMA softdelete_archive TO softdelete_backup;

-------------------------------------------------------------------------------
-- The event log and the purge runs keep pointing at their tables across
-- pg_dump
-------------------------------------------------------------------------------
-- relid is a regclass so that pg_dump writes it as the table's name and a
-- restore points it at the restored table (an OID would point at nothing, or
-- at another table); a dropped table's events and runs get 0, so that
-- neither OID reuse nor a restore can lend them to an unrelated table. The
-- monitoring views read the column, so they are made again around the
-- change, as 1.0.0 made them.
UPDATE softdelete.events e SET relid = 0
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = e.relid);
UPDATE softdelete.runs r SET relid = 0
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = r.relid);
DROP VIEW softdelete.status;
DROP VIEW softdelete.stats;
ALTER TABLE softdelete.events ALTER COLUMN relid TYPE regclass;
ALTER TABLE softdelete.runs ALTER COLUMN relid TYPE regclass;

-- The event log's primary key leads with op, and the index on op alone goes:
-- every soft delete pays for each index of the log (see
-- softdelete--1.1.0.sql).
ALTER TABLE softdelete.events DROP CONSTRAINT events_pkey,
    ADD CONSTRAINT events_pkey PRIMARY KEY (op, id);
DROP INDEX softdelete.events_op_idx;

-- Operations are numbered from the ids' sequence, and an operation's first
-- event row takes its number as id (see softdelete--1.1.0.sql). The
-- sequence goes past every number either gave, so no new operation has the
-- number of an old one, or of an old row. The rename locks the old sequence
-- first: a session that took a number from it commits before its last value
-- is read, and none takes one after (a statement that waits for it then
-- fails, as the sequence is gone).
ALTER SEQUENCE softdelete_internal.operation_ids RENAME TO operation_ids_retired;
SELECT pg_catalog.setval('softdelete.events_id_seq',
                         greatest((SELECT last_value FROM softdelete.events_id_seq),
                                  (SELECT last_value FROM softdelete_internal.operation_ids_retired),
                                  (SELECT coalesce(max(op), 1) FROM softdelete.events),
                                  (SELECT coalesce(max(id), 1) FROM softdelete.events)));
ALTER EXTENSION softdelete DROP SEQUENCE softdelete_internal.operation_ids_retired;
DROP SEQUENCE softdelete_internal.operation_ids_retired;

-- One row per enabled table the current role reads (readers and admins of
-- it). deleted_rows and oldest_deletion are exact, at a cost that follows the
-- number of deleted rows; live_rows_estimate and dead_tuples come from the
-- statistics (n_live_tup, which counts deleted rows too, less deleted_rows;
-- n_dead_tup), so counting live rows never scans a large table. Sizes and
-- statistics add up a partitioned table's partitions. next_purge is when the
-- oldest deleted row reaches its retention ('infinity' for a retention past
-- the calendar); last_run_* is the latest row of softdelete.runs.
CREATE VIEW softdelete.status WITH (security_barrier) AS
SELECT t.relid,
       greatest(s.live_tuples - d.deleted_rows, 0) AS live_rows_estimate,
       d.deleted_rows,
       d.oldest_deletion,
       CASE WHEN d.oldest_deletion IS NULL OR t.retention IS NULL THEN NULL
            WHEN d.oldest_deletion >= '100000-01-01 00:00:00+00' OR t.retention >= interval '100000 years'
                THEN 'infinity'::timestamptz
            ELSE d.oldest_deletion + t.retention END AS next_purge,
       s.table_bytes,
       s.index_bytes,
       s.dead_tuples,
       r.started_at AS last_run_started_at,
       r.finished_at AS last_run_finished_at,
       r.status AS last_run_status,
       r.error AS last_run_error
  FROM softdelete.tables t
 CROSS JOIN LATERAL softdelete_internal.deleted_rows(t.relid) d
 CROSS JOIN LATERAL (SELECT pg_catalog.sum(pg_catalog.pg_stat_get_live_tuples(p.relid))::bigint AS live_tuples,
                            pg_catalog.sum(pg_catalog.pg_stat_get_dead_tuples(p.relid))::bigint AS dead_tuples,
                            pg_catalog.sum(pg_catalog.pg_table_size(p.relid))::bigint AS table_bytes,
                            pg_catalog.sum(pg_catalog.pg_indexes_size(p.relid))::bigint AS index_bytes
                       FROM (SELECT t.relid
                             UNION SELECT tree.relid FROM pg_catalog.pg_partition_tree(t.relid) tree) p(relid)) s
  LEFT JOIN LATERAL (SELECT runs.started_at, runs.finished_at, runs.status, runs.error
                       FROM softdelete.runs
                      WHERE runs.relid = t.relid::oid
                      ORDER BY runs.started_at DESC, runs.id DESC
                      LIMIT 1) r ON true
 WHERE softdelete.is_reader(t.relid);

-- Per enabled table the current role reads and per period (the last hour,
-- day, 7 days and 30 days, up to now()): the rows soft-deleted, restored and
-- purged, from softdelete.events, and the reactivation rate, restores /
-- deletes in the period (NULL without deletes; above 1 when rows deleted
-- before the period came back in it).
CREATE VIEW softdelete.stats WITH (security_barrier) AS
SELECT t.relid,
       p.period,
       coalesce(pg_catalog.sum(e.row_count) FILTER (WHERE e.action = 'delete'), 0)::bigint AS deletes,
       coalesce(pg_catalog.sum(e.row_count) FILTER (WHERE e.action = 'restore'), 0)::bigint AS restores,
       coalesce(pg_catalog.sum(e.row_count) FILTER (WHERE e.action = 'purge'), 0)::bigint AS purges,
       pg_catalog.round(coalesce(pg_catalog.sum(e.row_count) FILTER (WHERE e.action = 'restore'), 0)::numeric
                        / NULLIF(pg_catalog.sum(e.row_count) FILTER (WHERE e.action = 'delete'), 0), 4)
           AS reactivation_rate
  FROM softdelete.tables t
 CROSS JOIN (VALUES (interval '1 hour'), (interval '1 day'), (interval '7 days'), (interval '30 days')) AS p(period)
  LEFT JOIN softdelete.events e
         ON e.relid = t.relid::oid AND e.at >= pg_catalog.now() - p.period
        AND e.action IN ('delete', 'restore', 'purge')
 WHERE softdelete.is_reader(t.relid)
 GROUP BY t.relid, p.period;

GRANT SELECT ON softdelete.status, softdelete.stats TO softdelete_reader, softdelete_admin;

-- A restore loads the configuration before it makes the tables' triggers
-- and policies: the partitions of an enabled table are covered only once
-- that table has its visibility policy.
CREATE OR REPLACE FUNCTION softdelete_internal.cover_new_objects() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
    part record;
    conf softdelete.tables;
    converted boolean;
    step text;
BEGIN
    FOR rel IN
        SELECT DISTINCT CASE WHEN c.relkind IN ('i', 'I') THEN i.indrelid ELSE c.oid END::regclass
          FROM pg_event_trigger_ddl_commands() d
          JOIN pg_class c ON c.oid = d.objid
          LEFT JOIN pg_index i ON i.indexrelid = c.oid
         WHERE d.classid = 'pg_class'::regclass AND c.relkind IN ('r', 'p', 'i', 'I')
    LOOP
        -- A foreign key added or dropped changes the columns the guard watches.
        PERFORM softdelete_internal.install_child_guard(rel);
        FOR part IN
            SELECT t.relid AS partition, cfg.relid AS root, cfg.column_name, cfg.key_columns
              FROM pg_partition_tree(rel) t
              JOIN pg_class c ON c.oid = t.relid AND c.relispartition
              CROSS JOIN LATERAL (SELECT a.relid FROM pg_partition_ancestors(t.relid) a) anc
              JOIN softdelete.tables cfg ON cfg.relid = anc.relid
             -- A restore (pg_restore, a plain dump through psql) loads the
             -- configuration before it makes the tables' triggers and
             -- policies, partitions' included: covering a partition then
             -- would take the names its own next statements create. Until
             -- the enabled table itself has its visibility policy, which only
             -- such a restore can leave missing (enable() makes it with the
             -- configuration row, the drift guard keeps it), the table is
             -- not enforced yet anyway and the restore brings the
             -- partitions' enforcement.
             WHERE EXISTS (SELECT FROM pg_policy p
                            WHERE p.polrelid = cfg.relid AND p.polname = 'softdelete_visibility')
        LOOP
            -- Every time, not only when no policy of that name is there: it
            -- adds only what is missing, and refuses a decoy (a policy named
            -- softdelete_visibility that softdelete did not make would leave
            -- the partition open when queried directly).
            PERFORM softdelete_internal.install_enforcement(part.partition, part.root, part.column_name,
                                                            part.key_columns);
            -- An attached table brings its own full unique indexes along.
            FOR step IN SELECT softdelete_internal.convert_uniques(part.partition, part.column_name) LOOP
                RAISE NOTICE '%: %', step, part.partition;
            END LOOP;
            PERFORM softdelete_internal.invalidate(part.partition);
        END LOOP;
        SELECT * INTO conf FROM softdelete.tables t WHERE t.relid = rel;
        IF FOUND THEN
            converted := false;
            FOR step IN SELECT softdelete_internal.convert_uniques(rel, conf.column_name) LOOP
                RAISE NOTICE '%: %', step, rel;
                converted := true;
            END LOOP;
            IF converted THEN
                PERFORM softdelete_internal.invalidate(rel);
            END IF;
        ELSIF (SELECT c.relkind IN ('r', 'p') FROM pg_class c WHERE c.oid = rel) THEN
            PERFORM softdelete_internal.enable_new_child(rel);
        END IF;
    END LOOP;
END
$$;

-- A partition detached from an enabled table stays enabled, on its own,
-- with its root's options. PostgreSQL drops the triggers the partition had
-- from its parent while its own policies stay, so it would otherwise go on
-- hiding its deleted rows while a DELETE removed rows for good, unlogged.
-- Called by the drift guard once the DETACH has run, for the role that ran
-- it (which must own the partition, as for enable()); if it fails, the
-- DETACH fails with it. softdelete.disable() then makes it a plain table.
CREATE FUNCTION softdelete_internal.enable_detached(part regclass, root regclass) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg softdelete.tables;
    code text;
    msg text;
    det text;
    hnt text;
BEGIN
    SELECT * INTO cfg FROM softdelete.tables t WHERE t.relid = root;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RAISE NOTICE 'partition % was detached from %, which is enabled for soft delete: enabling %', part, root, part;
    BEGIN
        PERFORM softdelete_internal.enable(part, cfg.column_name, cfg.retention, cfg.archive,
                                           cfg.archive_retention, cfg.cascade, cfg.pii_columns,
                                           cfg.undo_window, cfg.log_events, cfg.notify, false);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
        RAISE EXCEPTION 'cannot detach %: it would stay without soft delete, and enabling it failed: %', part, msg
            USING ERRCODE = code, DETAIL = det,
                  HINT = concat_ws(' ', nullif(hnt, ''),
                                   'Or DROP the partition with its rows, or call softdelete.disable() on '
                                   || root::text || ' first.');
    END;
END
$$;
REVOKE ALL ON FUNCTION softdelete_internal.enable_detached(regclass, regclass) FROM PUBLIC;

-- A dropped table's events and runs stay, pointing at no table.
CREATE OR REPLACE FUNCTION softdelete_internal.forget_dropped_tables() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM softdelete.tables t
     WHERE t.relid::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table');
    -- The history stays, pointing at no table (see softdelete.events).
    UPDATE softdelete.events e SET relid = 0
     WHERE e.relid::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table');
    UPDATE softdelete.runs r SET relid = 0
     WHERE r.relid::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table');
    -- The archive of a dropped table stays, with its rows, but is no longer
    -- its table's; a dropped archive is forgotten.
    DELETE FROM softdelete_internal.archives a
     WHERE a.relid::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table')
        OR a.archive::oid IN (SELECT objid FROM pg_event_trigger_dropped_objects() WHERE object_type = 'table');
    -- A unique constraint made live-only goes with its placeholder.
    PERFORM softdelete_internal.drop_constraint_placeholder(t.relid, u->>'name')
       FROM softdelete.tables t JOIN pg_class c ON c.oid = t.relid JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN jsonb_array_elements(t.converted_uniques) u
      WHERE u->>'kind' = 'constraint'
        AND EXISTS (SELECT FROM pg_event_trigger_dropped_objects() d
                     WHERE d.object_type = 'index' AND d.schema_name = n.nspname AND d.object_name = u->>'name');
    UPDATE softdelete.tables t
       SET converted_uniques = (SELECT coalesce(jsonb_agg(u), '[]') FROM jsonb_array_elements(t.converted_uniques) u
                                 WHERE NOT EXISTS (SELECT FROM pg_event_trigger_dropped_objects() d
                                                    WHERE d.object_type = 'index' AND d.schema_name = n.nspname
                                                      AND d.object_name = u->>'name'))
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = t.relid
       AND EXISTS (SELECT FROM pg_event_trigger_dropped_objects() d, jsonb_array_elements(t.converted_uniques) u
                    WHERE d.object_type = 'index' AND d.schema_name = n.nspname AND d.object_name = u->>'name');
END
$$;

-------------------------------------------------------------------------------
-- Rows of a plain table only, not of its inheritance children: restore(),
-- hard_delete(), erase(), undo() and the purge's due check name it ONLY.
-- erase() also clears archive columns the table renamed or dropped since.
-------------------------------------------------------------------------------
-- tbl as the target of a statement on its own rows: ONLY for a plain table,
-- whose inheritance children are tables of their own (each enabled, with its
-- own keys, admins and pii_columns); a partitioned table's rows are its
-- partitions'.
CREATE FUNCTION softdelete_internal.own_rows(tbl regclass) RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT CASE WHEN c.relkind = 'p' THEN '' ELSE 'ONLY ' END || tbl::text
          FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    END;

-- "(email)=(bob@example.com)": the columns of unique index idx_name and their
-- values in the row of tbl with primary key k (read as the extension's owner,
-- which sees deleted rows).
CREATE OR REPLACE FUNCTION softdelete_internal.index_key_of(tbl regclass, idx_name text, key_columns name[], k jsonb) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text;
    vals text;
BEGIN
    SELECT string_agg(pg_get_indexdef(i.indexrelid, g, true), ', ' ORDER BY g) INTO cols
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid,
           generate_series(1, i.indnkeyatts) g
     WHERE i.indrelid = tbl AND c.relname = idx_name;
    IF cols IS NULL THEN
        RETURN '(unknown)';
    END IF;
    SELECT r.value INTO vals
      FROM softdelete_internal.run_as_owner(tbl, format('SELECT concat_ws('', '', %s) FROM %s WHERE %s', cols, softdelete_internal.own_rows(tbl),
                                                        softdelete_internal.key_predicate(tbl, key_columns)), k) r;
    RETURN format('(%s)=(%s)', cols, vals);
END
$$;

-- Brings back one deleted row, for an admin of tbl (the role that called
-- restore()), or for the actor that deleted it within the table's
-- undo_window (undo_window.cpp). The UPDATE runs as the table's owner and
-- goes through the tombstone decision like any restore; the event records
-- the caller.
CREATE OR REPLACE FUNCTION softdelete_internal.restore_row(tbl regclass, key jsonb) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg softdelete.tables;
    k jsonb;
    n bigint;
    admin boolean;
    problem text;
    problem_schema text;
    problem_table text;
    problem_detail text;
BEGIN
    -- Who may, first: a role that may not restore learns nothing about the
    -- table's keys.
    PERFORM softdelete_internal.check_exists(tbl);
    admin := softdelete_internal.may_restore(tbl, 'restore rows of');
    cfg := softdelete_internal.config(tbl);
    k := softdelete_internal.key_object(tbl, cfg.key_columns, key);
    IF NOT admin THEN
        -- The row, locked, must be one its actor deleted within the window;
        -- a missing or live row gets the same refusal.
        PERFORM softdelete_internal.require_own_deletes(tbl, softdelete_internal.own_rows(tbl),
                    softdelete_internal.key_predicate(tbl, cfg.key_columns), k, 'restore rows of');
    END IF;
    BEGIN
        SELECT r.processed INTO n
          FROM softdelete_internal.run_as_owner(tbl, format('UPDATE %s SET %I = NULL WHERE %s AND %I IS NOT NULL',
                                                            softdelete_internal.own_rows(tbl), cfg.column_name,
                                                            softdelete_internal.key_predicate(tbl, cfg.key_columns),
                                                            cfg.column_name), k) r;
    EXCEPTION WHEN unique_violation THEN
        -- Name the key in terms of the index, whatever PostgreSQL's message says.
        GET STACKED DIAGNOSTICS problem = CONSTRAINT_NAME, problem_schema = SCHEMA_NAME,
                                problem_table = TABLE_NAME, problem_detail = PG_EXCEPTION_DETAIL;
        IF format('%I.%I', problem_schema, problem_table)::regclass <> tbl THEN
            -- A row its cascade brings back, in another table.
            RAISE EXCEPTION 'cannot restore row % of %: a row of %.% restored with it would duplicate a live row in unique index %',
                    k, tbl, quote_ident(problem_schema), quote_ident(problem_table), quote_ident(problem)
                USING ERRCODE = '23505', CONSTRAINT = problem, DETAIL = problem_detail,
                      HINT = 'Delete or change the live row first; nothing was restored.';
        END IF;
        RAISE EXCEPTION 'cannot restore row % of %: it would duplicate a live row in unique index %',
                k, tbl, quote_ident(problem)
            USING ERRCODE = '23505', CONSTRAINT = problem,
                  DETAIL = format('Key %s of the restored row is taken by a live row.',
                                  softdelete_internal.index_key_of(tbl, problem, cfg.key_columns, k)),
                  HINT = 'Delete or change the live row first, or leave this row deleted.';
    END;
    IF n = 0 THEN
        SELECT r.processed INTO n
          FROM softdelete_internal.run_as_owner(tbl, format('SELECT 1 FROM %s WHERE %s', softdelete_internal.own_rows(tbl),
                                                            softdelete_internal.key_predicate(tbl, cfg.key_columns)), k) r;
        IF n = 0 THEN
            RAISE EXCEPTION 'no row of % has key %', tbl, k USING ERRCODE = 'P0002';
        END IF;
        RAISE EXCEPTION 'row % of % is not deleted', k, tbl USING ERRCODE = '55000';
    END IF;
    RETURN n;
END
$$;

-- Removes one row for good (admins only, logged as a hard delete), as the
-- table's owner with hard_delete for that one statement.
CREATE OR REPLACE FUNCTION softdelete_internal.hard_delete_row(tbl regclass, key jsonb) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg softdelete.tables;
    k jsonb;
    n bigint;
BEGIN
    PERFORM softdelete_internal.check_exists(tbl);
    PERFORM softdelete_internal.require_admin(tbl, 'hard-delete rows of');
    cfg := softdelete_internal.config(tbl);
    k := softdelete_internal.key_object(tbl, cfg.key_columns, key);
    SELECT r.processed INTO n
      FROM softdelete_internal.run_as_owner(tbl, format('DELETE FROM %s WHERE %s', softdelete_internal.own_rows(tbl),
                                                        softdelete_internal.key_predicate(tbl, cfg.key_columns)),
                                            k, hard_delete => true) r;
    IF n = 0 THEN
        RAISE EXCEPTION 'no row of % has key %', tbl, k USING ERRCODE = 'P0002';
    END IF;
    RETURN n;
END
$$;

-- GDPR erasure of one row, live or deleted, for an admin of tbl: the
-- table's pii_columns become NULL (a stored generated column is computed
-- again from the nulled columns), as the table's owner. The row stays, with
-- its key and its deletion record (deleted_at, deleted_by, delete_reason,
-- delete_op): a deleted row stays deleted, a live one live. What erasure
-- cannot do (no pii_columns; a key, tombstone, missing or NOT NULL column
-- among them) is refused before anything changes.
CREATE OR REPLACE FUNCTION softdelete_internal.erase_row(tbl regclass, key jsonb) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg softdelete.tables;
    pii name[];
    col name;
    k jsonb;
    assignments text;
    erased text;
    n bigint;
    archive regclass;
    archived bigint := 0;
BEGIN
    -- Who may, first: a non-admin learns nothing about the table.
    PERFORM softdelete_internal.check_exists(tbl);
    PERFORM softdelete_internal.require_admin(tbl, 'erase rows of');
    cfg := softdelete_internal.config(tbl);
    pii := ARRAY(SELECT DISTINCT c FROM unnest(cfg.pii_columns) c WHERE c IS NOT NULL ORDER BY c);
    IF cardinality(pii) = 0 THEN
        RAISE EXCEPTION 'table % has no pii_columns to erase', tbl USING ERRCODE = '55000',
            HINT = format('Name the columns that hold personal data with softdelete.enable(%L, pii_columns => ''{...}''), '
                          'giving the table''s other options again.', tbl::text);
    END IF;
    FOREACH col IN ARRAY pii LOOP
        IF col = ANY (cfg.key_columns)
           OR col IN (cfg.column_name, 'deleted_by', 'delete_reason', 'delete_op') THEN
            RAISE EXCEPTION 'cannot erase rows of %: pii column "%" is part of the primary key or of the deletion record',
                    tbl, col
                USING ERRCODE = '55000',
                      DETAIL = 'erase() keeps each row''s key and its deletion record as they are.',
                      HINT = 'Leave it out of pii_columns (call softdelete.enable() again with the table''s options).';
        END IF;
        IF NOT EXISTS (SELECT FROM pg_attribute a
                        WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'column "%" of table % does not exist (pii_columns)', col, tbl
                USING ERRCODE = '42703',
                      HINT = 'Call softdelete.enable() again with the table''s pii_columns as they are now.';
        END IF;
        -- NOT NULL on the table, on one of its partitions, or in the column's domain.
        IF EXISTS (SELECT FROM (SELECT tbl UNION SELECT relid FROM pg_partition_tree(tbl)) p(relid)
                     JOIN pg_attribute a ON a.attrelid = p.relid AND a.attname = col
                     JOIN pg_type ty ON ty.oid = a.atttypid
                    WHERE a.attnotnull OR ty.typnotnull) THEN
            RAISE EXCEPTION 'cannot erase rows of %: pii column "%" is NOT NULL', tbl, col
                USING ERRCODE = '55000',
                      DETAIL = 'Erasure sets the pii_columns to NULL; nothing was changed.',
                      HINT = format('Let column %I of %s (and of its partitions) hold NULL, or leave it out of pii_columns.',
                                    col, tbl);
        END IF;
    END LOOP;
    k := softdelete_internal.key_object(tbl, cfg.key_columns, key);
    SELECT string_agg(format('%I = %s', a.attname, CASE WHEN a.attgenerated <> '' THEN 'DEFAULT' ELSE 'NULL' END),
                      ', ' ORDER BY a.attnum)
      INTO assignments
      FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = ANY (pii);
    -- The erased row's key as it is stored, for the event.
    SELECT r.processed, r.value INTO n, erased
      FROM softdelete_internal.run_as_owner(tbl,
               format('UPDATE %s SET %s WHERE %s RETURNING pg_catalog.jsonb_build_object(%s)',
                      softdelete_internal.own_rows(tbl), assignments,
                      softdelete_internal.key_predicate(tbl, cfg.key_columns),
                      (SELECT string_agg(format('%L, %I::text', c, c), ', ' ORDER BY o)
                         FROM unnest(cfg.key_columns) WITH ORDINALITY AS u(c, o))),
               k) r;
    -- Archived copies of the row (archive => true) hold the same personal
    -- data: they are erased with it, in the same transaction, also when the
    -- row itself was purged since and only its copy is left. The archive
    -- belongs to the table's owner and has the table's column names, and
    -- keeps a column the table renamed or dropped since (archive.cpp): the
    -- personal data archived under an old name is erased too, as is
    -- anything else in a column the table no longer has. A table that
    -- changed hands gives its archive to its new owner first.
    archive := softdelete_internal.owned_archive(tbl);
    IF archive IS NOT NULL THEN
        SELECT string_agg(format('%I = NULL', a.attname), ', ' ORDER BY a.attnum) INTO assignments
          FROM pg_attribute a
         WHERE a.attrelid = archive AND a.attnum > 0 AND NOT a.attisdropped
           AND (a.attname = ANY (pii)
                OR (a.attname <> 'archived_at'
                    AND NOT EXISTS (SELECT FROM pg_attribute t
                                     WHERE t.attrelid = tbl AND t.attname = a.attname
                                       AND t.attnum > 0 AND NOT t.attisdropped))
                -- A stored generated column computed from a pii column
                -- (lower(email)): the table computes it again from the
                -- NULL, while its archived copy is a plain value.
                OR a.attname IN (SELECT g.attname FROM pg_attribute g
                                   JOIN pg_attrdef d ON d.adrelid = g.attrelid AND d.adnum = g.attnum
                                   JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass
                                                     AND dep.objid = d.oid
                                                     AND dep.refclassid = 'pg_class'::regclass
                                                     AND dep.refobjid = tbl
                                   JOIN pg_attribute p ON p.attrelid = tbl AND p.attnum = dep.refobjsubid
                                  WHERE g.attrelid = tbl AND g.attgenerated <> '' AND p.attname = ANY (pii)));
        SELECT r.processed INTO archived
          FROM softdelete_internal.run_as_owner(tbl,
                   format('UPDATE %s SET %s WHERE %s', archive, assignments,
                          softdelete_internal.key_predicate(tbl, cfg.key_columns)),
                   k) r
         WHERE assignments IS NOT NULL;
        archived := coalesce(archived, 0);
    END IF;
    IF n = 0 AND archived = 0 THEN
        RAISE EXCEPTION 'no row of % has key %', tbl, k USING ERRCODE = 'P0002';
    END IF;
    -- Only its archived copy is left: the key as given, as text, as the
    -- statement would have returned it.
    -- As the table's owner: a cast of the key's type to text is its code.
    IF erased IS NULL THEN
        SELECT r.value INTO erased
          FROM softdelete_internal.run_as_owner(tbl,
                   format('SELECT pg_catalog.jsonb_build_object(%s)::pg_catalog.text',
                          (SELECT string_agg(format('%L::pg_catalog.text, (%s)::pg_catalog.text', c,
                                                    softdelete_internal.key_value(tbl, c)), ', ' ORDER BY o)
                             FROM unnest(cfg.key_columns) WITH ORDINALITY AS u(c, o))),
                   k) r;
    END IF;
    PERFORM softdelete_internal.note_erasure(tbl, erased::jsonb);
    RETURN n + archived;
END
$$;

-- Every enabled table, as the target of a statement on the rows an
-- operation ($1->>'op') soft-deleted and that are still deleted. ONLY for a
-- plain table: an enabled inheritance child has its own turn.
CREATE OR REPLACE FUNCTION softdelete_internal.operation_targets(OUT relid regclass, OUT target text, OUT col name, OUT marked text)
    RETURNS SETOF record
    LANGUAGE sql STABLE
    BEGIN ATOMIC
        SELECT cfg.relid,
               softdelete_internal.own_rows(cfg.relid),
               cfg.column_name,
               format('delete_op = ($1->>''op'')::bigint AND %I IS NOT NULL', cfg.column_name)
          FROM softdelete.tables cfg JOIN pg_catalog.pg_class c ON c.oid = cfg.relid
         ORDER BY cfg.relid::oid;
    END;

-- Whether tbl has rows a purge would take now: rows deleted longer than
-- its retention ago (through the index on deleted rows), or archived rows
-- past archive_retention. The worker starts a run only then.
CREATE OR REPLACE FUNCTION softdelete_internal.purge_due(tbl regclass) RETURNS boolean
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg softdelete.tables;
    archive regclass;
    due boolean := false;
BEGIN
    SELECT * INTO cfg FROM softdelete.tables t WHERE t.relid = tbl;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF cfg.retention IS NOT NULL THEN
        -- As the table's owner, as everything that reads its rows or its
        -- archive: read as the extension's owner, a view the owner made of
        -- its archive would run the owner's functions as a superuser. The
        -- cutoff travels as jsonb, whose timestamps are ISO 8601.
        -- A deleted_at of type timestamp (without time zone) holds UTC.
        SELECT r.value::boolean INTO due
          FROM softdelete_internal.run_as_owner(tbl,
                   format('SELECT EXISTS (SELECT FROM %s WHERE %I < %s)',
                          softdelete_internal.own_rows(tbl), cfg.column_name,
                          CASE WHEN (SELECT a.atttypid FROM pg_attribute a
                                      WHERE a.attrelid = tbl AND a.attname = cfg.column_name)
                                    = 'pg_catalog.timestamp'::regtype
                               THEN 'pg_catalog.timezone(''UTC''::pg_catalog.text, ($1->>''cutoff'')::pg_catalog.timestamptz)'
                               ELSE '($1->>''cutoff'')::pg_catalog.timestamptz' END),
                   pg_catalog.jsonb_build_object('cutoff', now() - cfg.retention)) r;
    END IF;
    IF NOT due AND cfg.archive_retention IS NOT NULL THEN
        archive := softdelete_internal.owned_archive(tbl);
        IF archive IS NOT NULL THEN
            SELECT r.value::boolean INTO due
              FROM softdelete_internal.run_as_owner(tbl,
                       format('SELECT EXISTS (SELECT FROM %s WHERE archived_at < ($1->>''cutoff'')::pg_catalog.timestamptz)',
                              archive),
                       pg_catalog.jsonb_build_object('cutoff', now() - cfg.archive_retention)) r;
        END IF;
    END IF;
    RETURN due;
END
$$;
REVOKE ALL ON FUNCTION softdelete_internal.own_rows(regclass) FROM PUBLIC;

-- The archive table of tbl, as archive_table(), given to tbl's owner first
-- where the table changed hands since it was made (ALTER TABLE ... OWNER
-- TO): erase() and the worker read and change it as the table's owner.
CREATE FUNCTION softdelete_internal.owned_archive(tbl regclass) RETURNS regclass
    AS 'MODULE_PATHNAME', 'softdelete_owned_archive' LANGUAGE C VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION softdelete_internal.owned_archive(regclass) FROM PUBLIC;

-- Archive columns of a domain type take the domain's base type, as
-- archive.cpp now makes them: a NOT NULL or CHECK domain refused the NULL
-- that rows archived after the column was dropped carry, and erase()
-- writes, stopping the purge of that table for good.
DO $archive_domains$
DECLARE
    col record;
    base oid;
    typmod integer;
BEGIN
    FOR col IN
        SELECT a.archive, att.attname, att.atttypid, att.atttypmod
          FROM softdelete_internal.archives a
          JOIN pg_catalog.pg_attribute att ON att.attrelid = a.archive
          JOIN pg_catalog.pg_type t ON t.oid = att.atttypid
         WHERE att.attnum > 0 AND NOT att.attisdropped AND t.typtype = 'd'
         ORDER BY a.archive::text, att.attnum
    LOOP
        base := col.atttypid;
        typmod := col.atttypmod;
        WHILE (SELECT t.typtype FROM pg_catalog.pg_type t WHERE t.oid = base) = 'd' LOOP
            SELECT t.typbasetype, t.typtypmod INTO base, typmod FROM pg_catalog.pg_type t WHERE t.oid = base;
        END LOOP;
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I TYPE %s', col.archive, col.attname,
                       pg_catalog.format_type(base, typmod));
    END LOOP;
END
$archive_domains$;

-------------------------------------------------------------------------------
-- DDL that reaches an enabled table through a type, a domain, a collation or
-- a CASCADE is checked once it has run
-------------------------------------------------------------------------------
-- After DDL that reaches an enabled table other than through a statement on
-- it, which the drift guard judges (a CASCADE from DROP DOMAIN, DROP
-- COLLATION or DROP TYPE, ALTER TYPE ... DROP or RENAME ATTRIBUTE on the
-- type of a typed table, ...): every enabled table must still have its
-- tombstone columns, its primary key on its key columns, and the policy and
-- trigger that enforce soft delete. Otherwise the DDL fails, and changes
-- nothing (55000). In sql_drop (dropping), only the tables that lost a
-- column, a policy, a trigger or a constraint are looked at: a DROP that
-- touches no enabled table (an application's temporary table) costs no
-- pass over every enabled table.
CREATE FUNCTION softdelete_internal.require_enforcement(dropping boolean) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    missing text;
BEGIN
    FOR t IN SELECT cfg.relid, cfg.column_name, cfg.key_columns
               FROM softdelete.tables cfg JOIN pg_class c ON c.oid = cfg.relid
              WHERE NOT dropping
                 OR c.oid IN (SELECT d.objid FROM pg_event_trigger_dropped_objects() d
                               WHERE d.classid = 'pg_class'::regclass AND d.objsubid > 0
                              UNION ALL
                              SELECT r.oid FROM pg_event_trigger_dropped_objects() d
                                JOIN pg_namespace n ON n.nspname = d.address_names[1]
                                JOIN pg_class r ON r.relnamespace = n.oid AND r.relname = d.address_names[2]
                               WHERE d.object_type IN ('policy', 'trigger', 'table constraint'))
              ORDER BY cfg.relid::text LOOP
        SELECT format('column %I', col) INTO missing
          FROM unnest(ARRAY[t.column_name, 'deleted_by', 'delete_reason', 'delete_op']::name[]
                      || t.key_columns) AS u(col)
         WHERE NOT EXISTS (SELECT FROM pg_attribute a
                            WHERE a.attrelid = t.relid AND a.attname = u.col AND a.attnum > 0
                              AND NOT a.attisdropped)
         LIMIT 1;
        IF missing IS NULL AND NOT EXISTS (
               SELECT FROM pg_constraint k
                WHERE k.conrelid = t.relid AND k.contype = 'p'
                  AND ARRAY(SELECT a.attname FROM pg_attribute a
                             WHERE a.attrelid = t.relid AND a.attnum = ANY (k.conkey) ORDER BY a.attname)
                      = ARRAY(SELECT x FROM unnest(t.key_columns) AS x ORDER BY x)) THEN
            missing := 'its primary key';
        END IF;
        IF missing IS NULL AND NOT EXISTS (SELECT FROM pg_policy p
                                            WHERE p.polrelid = t.relid AND p.polname = 'softdelete_visibility') THEN
            missing := 'policy softdelete_visibility';
        END IF;
        IF missing IS NULL AND NOT EXISTS (SELECT FROM pg_trigger g
                                            WHERE g.tgrelid = t.relid AND g.tgname = 'softdelete_backstop') THEN
            missing := 'trigger softdelete_backstop';
        END IF;
        IF missing IS NOT NULL THEN
            RAISE EXCEPTION 'cannot change the enforcement of soft delete on %: % would be gone', t.relid, missing
                USING ERRCODE = '55000',
                      DETAIL = 'Soft delete is enabled on it and enforced through its tombstone columns, its '
                               'primary key and its softdelete_* policies and triggers; a change that reaches '
                               'them through a type, a domain, a collation or a CASCADE would switch it off '
                               'without disable().',
                      HINT = format('To change them, call softdelete.disable(%L) first; it keeps every row.',
                                    t.relid::text);
        END IF;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION softdelete_internal.require_enforcement(boolean) FROM PUBLIC;
DROP EVENT TRIGGER softdelete_cover_new_objects;
DROP EVENT TRIGGER softdelete_forget_dropped_tables;
-- ALTER TYPE and every sql_drop: their changes can reach an enabled table
-- through a typed table's type or a CASCADE (require_enforcement()).
CREATE EVENT TRIGGER softdelete_cover_new_objects ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE SCHEMA', 'CREATE INDEX', 'ALTER TYPE')
    EXECUTE FUNCTION softdelete_internal.on_event();

CREATE EVENT TRIGGER softdelete_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION softdelete_internal.on_event();

-- Keys of any type: restore(), hard_delete() and erase() read an array's or
-- a composite's key from its jsonb form as well as from its text, and take
-- a composite value as the value of a one-column key.
-- Whether a value of type typ (seen through its domains) is an array or a
-- composite, whose jsonb form ([1, 2], {"a": 1}) is not its text form.
CREATE FUNCTION softdelete_internal.structured_type(typ oid) RETURNS boolean
    LANGUAGE sql STABLE
    RETURN (WITH RECURSIVE base AS (
                SELECT t.typtype, t.typcategory, t.typbasetype FROM pg_catalog.pg_type t WHERE t.oid = typ
                UNION ALL
                SELECT t.typtype, t.typcategory, t.typbasetype
                  FROM pg_catalog.pg_type t JOIN base b ON t.oid = b.typbasetype
                 WHERE b.typtype = 'd')
            SELECT typcategory = 'A' OR typtype = 'c' FROM base WHERE typtype <> 'd');
REVOKE ALL ON FUNCTION softdelete_internal.structured_type(oid) FROM PUBLIC;

-- "OPERATOR(schema.=)", the equality of type typ's default btree operator
-- class: key_predicate() runs with search_path = pg_catalog, pg_temp, where
-- a bare "=" would miss an extension's own (citext's) for a cast to text.
CREATE FUNCTION softdelete_internal.equality_operator(typ oid) RETURNS text
    AS 'MODULE_PATHNAME', 'softdelete_equality_operator' LANGUAGE C STABLE;
REVOKE ALL ON FUNCTION softdelete_internal.equality_operator(oid) FROM PUBLIC;

-- The SQL expression for key column c of tbl in $1, a jsonb object of the
-- key's columns: the value is read from its text (the event log's form of a
-- key), or, for an array or a composite, by jsonb_populate_record(), which
-- takes both its text and its jsonb form. NULL for a column tbl does not have.
CREATE FUNCTION softdelete_internal.key_value(tbl regclass, c name) RETURNS text
    LANGUAGE sql STABLE
    RETURN (SELECT CASE WHEN softdelete_internal.structured_type(a.atttypid)
                        THEN format('(pg_catalog.jsonb_populate_record(NULL::%s, $1)).%I', tbl, c)
                        ELSE format('($1->>%L)::%s', c, pg_catalog.format_type(a.atttypid, a.atttypmod)) END
              FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = tbl AND a.attname = c AND a.attnum > 0 AND NOT a.attisdropped);
REVOKE ALL ON FUNCTION softdelete_internal.key_value(regclass, name) FROM PUBLIC;

-- The WHERE clause that picks one row of tbl by its primary key; key is the
-- key's value, or a jsonb object of its columns for a composite key. The
-- values travel as $1 (a jsonb object), never as SQL text. A column tbl no
-- longer has makes it invalid SQL, which fails, rather than a shorter
-- clause that picks more rows.
CREATE OR REPLACE FUNCTION softdelete_internal.key_predicate(tbl regclass, key_columns name[]) RETURNS text
    LANGUAGE sql STABLE
    RETURN (SELECT string_agg(format('%I %s %s', k.c,
                                     softdelete_internal.equality_operator(
                                         (SELECT a.atttypid FROM pg_catalog.pg_attribute a
                                           WHERE a.attrelid = tbl AND a.attname = k.c
                                             AND a.attnum > 0 AND NOT a.attisdropped)),
                                     softdelete_internal.key_value(tbl, k.c)), ' AND ' ORDER BY k.n)
              FROM unnest(key_columns) WITH ORDINALITY AS k(c, n));

-- A key of tbl as the caller wrote it: a value (restore('users', 42)) or a
-- jsonb object of the key's columns, also when written as a plain literal
-- (restore('members', '{"org": 1, "id": 7}')), which resolves to text. A
-- value of another type, for a one-column key, is that column's value, also
-- a composite one, whose jsonb form is an object too. The public functions'
-- gateway calls it as the caller, before anything runs as the extension's
-- owner: converting a value can run code of its type's owner (a cast to
-- json). Its own search_path keeps the caller's operators out.
CREATE FUNCTION softdelete_internal.key_json(tbl regclass, key anycompatible) RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    one name;
BEGIN
    SELECT t.key_columns[1] INTO one FROM softdelete.tables t
     WHERE t.relid = tbl AND pg_catalog.cardinality(t.key_columns) = 1;
    IF pg_catalog.pg_typeof(key) = 'text'::pg_catalog.regtype
       AND pg_catalog.ltrim(key::text) LIKE '{%' THEN
        BEGIN
            RETURN key::text::jsonb;
        EXCEPTION WHEN invalid_text_representation THEN
            -- Not JSON: a text key that begins with a brace ('{draft}').
            NULL;
        END;
    END IF;
    IF pg_catalog.pg_typeof(key) IN ('jsonb'::pg_catalog.regtype, 'json'::pg_catalog.regtype)
       OR one IS NULL THEN
        RETURN pg_catalog.to_jsonb(key);
    END IF;
    RETURN pg_catalog.jsonb_build_object(one, key);
END
$$;
REVOKE ALL ON FUNCTION softdelete_internal.key_json(regclass, anycompatible) FROM PUBLIC;

CREATE OR REPLACE FUNCTION softdelete_internal.restore(tbl regclass, key anycompatible) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'SELECT softdelete_internal.restore_row($1, softdelete_internal.key_json($1, $2))';
CREATE OR REPLACE FUNCTION softdelete_internal.hard_delete(tbl regclass, key anycompatible) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'SELECT softdelete_internal.hard_delete_row($1, softdelete_internal.key_json($1, $2))';
CREATE OR REPLACE FUNCTION softdelete_internal.erase(tbl regclass, key anycompatible) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'SELECT softdelete_internal.erase_row($1, softdelete_internal.key_json($1, $2))';
DROP FUNCTION softdelete_internal.key_json(anycompatible);

-- true for a row without delete_op; refuses one with (42501): the check of
-- each row an admin who may not write operation marks copies in
-- (admin_copy.cpp).
-- Locks a row a rewritten DELETE (or, deciding, an UPDATE that soft-deletes
-- it) is about to soft-delete FOR UPDATE, as a DELETE would, before the row
-- is written: the soft delete of a parent then waits for a child insert in
-- progress without holding the row, as a DELETE does. Always true; called
-- in the projection of such a statement on target, refused anywhere else.
CREATE FUNCTION softdelete_internal.lock_for_delete(row_at tid, row_in oid, target regclass, deciding boolean) RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_lock_for_delete' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION softdelete_internal.lock_for_delete(tid, oid, regclass, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION softdelete_internal.lock_for_delete(tid, oid, regclass, boolean) TO PUBLIC;

CREATE FUNCTION softdelete_internal.refuse_operation_mark(tbl regclass, op bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_refuse_operation_mark' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION softdelete_internal.refuse_operation_mark(regclass, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION softdelete_internal.refuse_operation_mark(regclass, bigint) TO PUBLIC;
