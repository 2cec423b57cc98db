-- softdelete 1.1.0 (in development): install script.
-- A database that has 1.0.0 reaches the same objects through
-- softdelete--1.0.0--1.1.0.sql; a change made here goes there too
-- (test/t/030_upgrade.pl compares the two).
\echo Use "CREATE EXTENSION softdelete" to load this file. \quit

-- Cluster-wide roles: created when missing, never dropped by the extension.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'softdelete_reader') THEN
        CREATE ROLE softdelete_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'softdelete_admin') THEN
        CREATE ROLE softdelete_admin NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'softdelete_backup') THEN
        CREATE ROLE softdelete_backup NOLOGIN;
    END IF;
END
$roles$;

-- The public API's schema belongs to the extension (the control file names
-- pg_catalog, as plpgsql's does, instead of a schema that CREATE EXTENSION
-- would make outside it): pg_dump then leaves it to CREATE EXTENSION, so a
-- dump restores into a database where the extension already exists.
CREATE SCHEMA softdelete;

-- Everything that is not the public API lives in softdelete_internal, where
-- no other role has any access: application roles cannot call the helpers,
-- the trigger functions or the stamps. The public functions in schema
-- softdelete reach it through one C gateway (api_gateway.cpp) that remembers
-- who called. The functions that rewritten statements and the visibility
-- policy call keep EXECUTE for everyone: the executor checks that privilege,
-- while a schema's USAGE is only needed to name a function.
CREATE SCHEMA softdelete_internal;
REVOKE ALL ON SCHEMA softdelete_internal FROM PUBLIC;

-- Refuses to install where sessions do not load the module when they start:
-- their first DELETE would be planned without the rewrite (preloading.cpp).
CREATE FUNCTION softdelete_internal.require_preloading() RETURNS void
    AS 'MODULE_PATHNAME', 'softdelete_require_preloading' LANGUAGE C;
SELECT softdelete_internal.require_preloading();

-------------------------------------------------------------------------------
-- Configuration and history
-------------------------------------------------------------------------------

-- One row per enabled table. The C side reads it (by relid) to decide what a
-- DELETE or UPDATE on that table becomes; pg_dump keeps it.
CREATE TABLE softdelete.tables (
    relid             regclass PRIMARY KEY,
    column_name       name     NOT NULL DEFAULT 'deleted_at',
    retention         interval,
    archive           boolean  NOT NULL DEFAULT false,
    archive_retention interval,
    cascade           boolean  NOT NULL DEFAULT true,
    pii_columns       name[]   NOT NULL DEFAULT '{}',
    undo_window       interval,
    log_events        boolean  NOT NULL DEFAULT true,
    notify            boolean  NOT NULL DEFAULT false,
    key_columns       name[]   NOT NULL,
    -- what enable() changed, so that disable() can put it back
    converted_uniques jsonb    NOT NULL DEFAULT '[]',
    rls_was_enabled   boolean  NOT NULL,
    rls_was_forced    boolean  NOT NULL,
    enabled_at        timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('softdelete.tables', '');

-- What an event did. A domain rather than a CHECK constraint on the column:
-- PostgreSQL reads a table's CHECK expressions from the catalog text again
-- for every statement that inserts, which for a one-row soft delete was a
-- seventh of its whole cost; a domain's are read once per session.
CREATE DOMAIN softdelete.event_action AS text
    CHECK (VALUE IN ('delete', 'restore', 'hard_delete', 'truncate', 'purge', 'archive', 'erase'));

-- The history that outlives rows: one row per operation and table, never
-- per row. relid is a regclass so that pg_dump writes it as the table's name
-- and a restore points it at the restored table (an OID would point at
-- nothing, or at another table); a dropped table's events get 0, so that
-- neither OID reuse nor a restore can lend them to an unrelated table.
--
-- Every statement that soft-deletes, restores or hard-deletes rows is one
-- operation, numbered from the sequence of id (events_id_seq): its number is
-- op here, and a soft-deleted row keeps it in delete_op, which undo()
-- follows. The operation's first row here takes its number as id, so that
-- writing the event takes no second number; its other rows take their own.
-- The sequence is kept by pg_dump, so numbers are never given out twice.
--
-- Every soft delete writes one row here, so each index of the log is paid
-- for by every one-row DELETE (about 12K instructions, 5% of the whole
-- DELETE, for each btree). The primary key leads with op: it is
-- how undo() and a DBA find an operation, and it is the replica identity a
-- FOR ALL TABLES publication needs; id still makes it unique (and orders
-- the rows of one operation). (relid, at) serves a table's history and
-- softdelete.stats.
CREATE TABLE softdelete.events (
    id         bigint GENERATED ALWAYS AS IDENTITY,
    op         bigint      NOT NULL,
    at         timestamptz NOT NULL DEFAULT statement_timestamp(),
    relid      regclass    NOT NULL,
    table_name text        NOT NULL,
    action     softdelete.event_action NOT NULL,
    actor      text        NOT NULL,
    reason     text,
    row_count  bigint,      -- NULL for TRUNCATE
    keys       jsonb,
    xact_id    xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    CONSTRAINT events_pkey PRIMARY KEY (op, id)
);
CREATE INDEX events_relid_at_idx ON softdelete.events (relid, at);
-- A bulk delete's keys make a large value: lz4 compresses it several times
-- faster than the default pglz, where the server was built with it.
DO $lz4$
BEGIN
    ALTER TABLE softdelete.events ALTER COLUMN keys SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$lz4$;
SELECT pg_catalog.pg_extension_config_dump('softdelete.events', '');
SELECT pg_catalog.pg_extension_config_dump('softdelete.events_id_seq', '');

-- One row per purge of one table, by the lifecycle worker or by
-- softdelete.purge(). The worker commits its counts with each batch, so they
-- stay true after a crash; a run it left 'running' is marked 'failed' when
-- the worker next comes to that database. relid as in softdelete.events.
CREATE TABLE softdelete.runs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    finished_at   timestamptz,
    relid         regclass    NOT NULL,
    table_name    text        NOT NULL,
    started_by    text        NOT NULL CHECK (started_by IN ('worker', 'purge()')),
    status        text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    rows_archived bigint      NOT NULL DEFAULT 0,
    rows_purged   bigint      NOT NULL DEFAULT 0,
    error         text
);
CREATE INDEX runs_relid_started_at_idx ON softdelete.runs (relid, started_at);
SELECT pg_catalog.pg_extension_config_dump('softdelete.runs', '');
SELECT pg_catalog.pg_extension_config_dump('softdelete.runs_id_seq', '');

-- Archive tables: one per table enabled with archive => true, made by the
-- purge the first time it archives rows of it, owned by the table's owner
-- (archive.cpp). Nobody else has any access.
CREATE SCHEMA softdelete_archive;
REVOKE ALL ON SCHEMA softdelete_archive FROM PUBLIC;

-- Which archive table is whose, so that a renamed table keeps its archive.
CREATE TABLE softdelete_internal.archives (
    relid   regclass PRIMARY KEY,
    archive regclass NOT NULL UNIQUE
);
SELECT pg_catalog.pg_extension_config_dump('softdelete_internal.archives', '');

-------------------------------------------------------------------------------
-- C entry points
-------------------------------------------------------------------------------

-- Who is acting: the application's own user id when it set softdelete.actor,
-- else the database role.
CREATE FUNCTION softdelete_internal.actor() RETURNS text
    AS 'MODULE_PATHNAME', 'softdelete_actor' LANGUAGE C STABLE PARALLEL SAFE;

-- Why: softdelete.reason when set, else NULL.
CREATE FUNCTION softdelete_internal.reason() RETURNS text
    AS 'MODULE_PATHNAME', 'softdelete_reason' LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION softdelete.is_admin(tbl regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_is_admin' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Raises 42501 (with detail and hint) unless the role that called the
-- public API is an admin of tbl.
CREATE FUNCTION softdelete_internal.require_admin(tbl regclass, what text) RETURNS void
    AS 'MODULE_PATHNAME', 'softdelete_require_admin' LANGUAGE C STRICT;

-- Restores within an undo window (undo_window.cpp). may_restore(): true
-- when the role that called the public API is an admin of tbl; false when
-- it is not, but may restore there the rows its own actor deleted within
-- the table's undo_window; else 42501. require_own_deletes(): the rows of
-- target that condition selects ($1 is arg) are locked, and 42501 unless
-- there are some and that actor deleted every one within the window.
CREATE FUNCTION softdelete_internal.may_restore(tbl regclass, what text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_may_restore' LANGUAGE C;
CREATE FUNCTION softdelete_internal.require_own_deletes(tbl regclass, target text, condition text,
                                                        arg jsonb, what text) RETURNS void
    AS 'MODULE_PATHNAME', 'softdelete_require_own_deletes' LANGUAGE C;

CREATE FUNCTION softdelete.is_reader(tbl regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_is_reader' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Planner support: folds the two policy functions below into constants, so
-- the planner sees exactly "deleted_at IS NULL", and partial indexes serve.
CREATE FUNCTION softdelete_internal.policy_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'softdelete_policy_support' LANGUAGE C STRICT;

-- true when this session opted in to see deleted rows of tbl (and may).
CREATE FUNCTION softdelete_internal.include_deleted(tbl regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_include_deleted' LANGUAGE C STABLE STRICT PARALLEL SAFE
    SUPPORT softdelete_internal.policy_support;

-- true when the current role may write rows that are already deleted.
CREATE FUNCTION softdelete_internal.may_write_deleted(tbl regclass) RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_may_write_deleted' LANGUAGE C STABLE STRICT PARALLEL SAFE
    SUPPORT softdelete_internal.policy_support;

-- true for a row without delete_op; refuses one with (42501): the check of
-- each row an admin who may not write operation marks copies in
-- (admin_copy.cpp).
CREATE FUNCTION softdelete_internal.refuse_operation_mark(tbl regclass, op bigint) RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_refuse_operation_mark' LANGUAGE C VOLATILE;

-- The stamp a rewritten DELETE writes. Kept as a call (never inlined): plans
-- whose meaning depends on softdelete.hard_delete are found by it.
CREATE FUNCTION softdelete_internal.deletion_stamp() RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'softdelete_deletion_stamp' LANGUAGE C STABLE PARALLEL SAFE;

-- The running operation's number, which a rewritten DELETE writes in
-- delete_op (taken from softdelete.events_id_seq the first time a statement
-- needs one).
CREATE FUNCTION softdelete_internal.operation_id() RETURNS bigint
    AS 'MODULE_PATHNAME', 'softdelete_operation_id' LANGUAGE C STABLE;

CREATE FUNCTION softdelete.preloaded() RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_preloaded' LANGUAGE C STABLE;

-- Trigger functions installed by enable(). log_changes() notes each row a
-- soft delete, restore or hard delete changed, under the running operation.
CREATE FUNCTION softdelete_internal.log_changes() RETURNS trigger
    AS 'MODULE_PATHNAME', 'softdelete_log_changes' LANGUAGE C;

-- Backstop for a DELETE that reaches the executor unrewritten (MERGE ... THEN
-- DELETE, or a backend that loaded the module only mid-statement).
CREATE FUNCTION softdelete_internal.soft_delete_row() RETURNS trigger
    AS 'MODULE_PATHNAME', 'softdelete_soft_delete_row' LANGUAGE C;

CREATE FUNCTION softdelete_internal.guard_truncate() RETURNS trigger
    AS 'MODULE_PATHNAME', 'softdelete_guard_truncate' LANGUAGE C;

-- No live child under a soft-deleted parent: refuses (23503) a row whose
-- foreign key to an enabled table references a soft-deleted row, locking
-- that row FOR SHARE so that a concurrent soft delete waits or is waited for.
CREATE FUNCTION softdelete_internal.guard_child() RETURNS trigger
    AS 'MODULE_PATHNAME', 'softdelete_guard_child' LANGUAGE C;

-- What a write to the tombstone columns becomes, decided row by row on the
-- values assigned and the old ones: soft delete, restore (admins), or
-- refusal. Rewritten statements call them in place of the assignments; the
-- first tombstone column decides, the others read its decision.
CREATE FUNCTION softdelete_internal.tombstone_at(tbl regclass, col integer, deciding boolean,
        new_at timestamptz, new_by text, new_reason text, new_op bigint,
        old_at timestamptz, old_by text, old_reason text, old_op bigint, old_row tid) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'softdelete_tombstone' LANGUAGE C VOLATILE;
CREATE FUNCTION softdelete_internal.tombstone_text(tbl regclass, col integer, deciding boolean,
        new_at timestamptz, new_by text, new_reason text, new_op bigint,
        old_at timestamptz, old_by text, old_reason text, old_op bigint, old_row tid) RETURNS text
    AS 'MODULE_PATHNAME', 'softdelete_tombstone' LANGUAGE C VOLATILE;
CREATE FUNCTION softdelete_internal.tombstone_op(tbl regclass, col integer, deciding boolean,
        new_at timestamptz, new_by text, new_reason text, new_op bigint,
        old_at timestamptz, old_by text, old_reason text, old_op bigint, old_row tid) RETURNS bigint
    AS 'MODULE_PATHNAME', 'softdelete_tombstone' LANGUAGE C VOLATILE;

-- Notes a row that a rewritten statement soft-deleted or restored under the
-- running operation. Rewritten statements check it as a condition on each
-- row they wrote (PostgreSQL checks it once per row really written, after
-- any re-check of a concurrently updated row); it is always true. kind 0: a
-- rewritten DELETE (3: one that locked its rows before writing them); 1:
-- what the row's tombstone decision decided, verified against the row's old
-- version when the statement also inserts rows; 2: a MERGE's rewritten
-- DELETE action.
CREATE FUNCTION softdelete_internal.note_row(tbl regclass, kind integer, verify boolean,
        is_deleted boolean, written tid, written_in oid, VARIADIC keys "any") RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_note_row' LANGUAGE C VOLATILE;

-- Locks a row a rewritten DELETE (or, deciding, an UPDATE that soft-deletes
-- it) is about to soft-delete FOR UPDATE, as a DELETE would, before the row
-- is written: the soft delete of a parent then waits for a child insert in
-- progress without holding the row, as a DELETE does. Always true; called
-- in the projection of such a statement on target, refused anywhere else.
CREATE FUNCTION softdelete_internal.lock_for_delete(row_at tid, row_in oid, target regclass, deciding boolean) RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_lock_for_delete' LANGUAGE C VOLATILE;

-- Keeps softdelete.tables from being edited by hand: only enable() and
-- disable() change it (and a dropped table's row goes with the table).
CREATE FUNCTION softdelete_internal.guard_config() RETURNS trigger
    AS 'MODULE_PATHNAME', 'softdelete_guard_config' LANGUAGE C;

-- Runs a statement on tbl as its owner (outside FORCE row security, with
-- hard_delete for that statement when asked), $1 being key: the table's own
-- code (triggers, index expressions, constraints) never runs with the rights
-- of the extension's owner. Returns the row count and the first value.
CREATE FUNCTION softdelete_internal.run_as_owner(tbl regclass, sql text, key jsonb,
                                                 hard_delete boolean DEFAULT false,
                                                 OUT processed bigint, OUT value text)
    AS 'MODULE_PATHNAME', 'softdelete_run_as_owner' LANGUAGE C;

-- Is unique index idx already unique among live rows only (its predicate
-- requires col IS NULL)? Read from the predicate's expression, not its text.
CREATE FUNCTION softdelete_internal.index_is_live_only(idx regclass, col name) RETURNS boolean
    AS 'MODULE_PATHNAME', 'softdelete_index_is_live_only' LANGUAGE C STABLE;

-- The CREATE UNIQUE INDEX statement that builds unique index idx again as
-- index_name (on every partition of a partitioned table), made from the
-- catalog's data and node trees; with live_column, unique among the rows
-- where live_column IS NULL only.
CREATE FUNCTION softdelete_internal.index_definition(idx regclass, index_name name, live_column name) RETURNS text
    AS 'MODULE_PATHNAME', 'softdelete_index_definition' LANGUAGE C STABLE;

-- The foreign keys that reference tbl (or a partition of it), one row each:
-- the table that holds it (its partitioned table, for a partition), its
-- name, its columns in key order, and its ON DELETE action (confdeltype).
CREATE FUNCTION softdelete_internal.referencing_tables(tbl regclass,
        OUT child regclass, OUT constraint_name name, OUT columns name[], OUT on_delete "char")
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'softdelete_referencing_tables' LANGUAGE C STABLE;

-------------------------------------------------------------------------------
-- Helpers of enable() / disable()
-------------------------------------------------------------------------------

-- Refuses what enable() cannot manage, each with its own SQLSTATE.
CREATE FUNCTION softdelete_internal.check_target(tbl regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'softdelete_check_target' LANGUAGE C;

-- The partitions of tbl, at every depth (not tbl itself).
CREATE FUNCTION softdelete_internal.partitions(tbl regclass) RETURNS SETOF regclass
    LANGUAGE sql STABLE
    BEGIN ATOMIC
        SELECT relid FROM pg_catalog.pg_partition_tree(tbl) WHERE level > 0;
    END;

-- The child guard on rel: the trigger softdelete_child_guard, AFTER INSERT
-- OR UPDATE OF the columns of rel's foreign keys to enabled tables (or to
-- their partitions), so that an UPDATE of other columns fires nothing. Made,
-- remade with other columns, or dropped to match what is enabled now,
-- whatever was enabled first. Nothing on a table that is not enabled, nor on
-- a partition, which carries its partitioned table's trigger (row triggers
-- are cloned).
CREATE FUNCTION softdelete_internal.install_child_guard(rel regclass) RETURNS SETOF text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    wanted int2[];
    present int2[];
    ours boolean;
    columns text;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = rel AND c.relkind IN ('r', 'p') AND NOT c.relispartition) THEN
        RETURN;
    END IF;
    IF EXISTS (SELECT FROM softdelete.tables t WHERE t.relid = rel) THEN
        SELECT array_agg(DISTINCT k ORDER BY k) INTO wanted
          FROM pg_constraint c, unnest(c.conkey) AS k
         WHERE c.conrelid = rel AND c.contype = 'f'
           AND EXISTS (SELECT FROM softdelete.tables t
                        WHERE t.relid = c.confrelid
                           OR t.relid IN (SELECT a.relid FROM pg_partition_ancestors(c.confrelid) a));
    END IF;
    SELECT t.tgfoid = 'softdelete_internal.guard_child()'::regprocedure,
           (SELECT array_agg(k ORDER BY k) FROM unnest(t.tgattr::int2[]) AS k)
      INTO ours, present
      FROM pg_trigger t
     WHERE t.tgrelid = rel AND t.tgname = 'softdelete_child_guard';
    IF NOT FOUND THEN
        IF wanted IS NULL THEN
            RETURN;
        END IF;
    ELSIF NOT ours THEN
        RAISE EXCEPTION 'table % has a trigger softdelete_child_guard that softdelete did not create', rel
            USING ERRCODE = '55000', HINT = 'Drop or rename it, then call softdelete.enable() again.';
    ELSIF present = wanted THEN
        RETURN;
    END IF;
    IF wanted IS NULL THEN
        EXECUTE format('DROP TRIGGER softdelete_child_guard ON %s', rel);
        RETURN NEXT 'dropped trigger softdelete_child_guard on ' || rel::text;
        RETURN;
    END IF;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO columns
      FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum = ANY (wanted);
    EXECUTE format('CREATE OR REPLACE TRIGGER softdelete_child_guard AFTER INSERT OR UPDATE OF %s ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION softdelete_internal.guard_child()', columns, rel);
    RETURN NEXT format('trigger softdelete_child_guard on %s (%s)', rel, columns);
END
$$;

-- The child guards that depend on whether rel is enabled: rel's own and
-- those of every table referencing rel or one of its partitions.
CREATE FUNCTION softdelete_internal.install_child_guards(rel regclass) RETURNS SETOF text
    LANGUAGE sql SET search_path = pg_catalog, pg_temp
    BEGIN ATOMIC
        SELECT softdelete_internal.install_child_guard(r.relid)
          FROM (SELECT rel AS relid
                UNION
                SELECT c.conrelid::regclass FROM pg_constraint c
                 WHERE c.contype = 'f'
                   AND c.confrelid IN (SELECT rel UNION ALL SELECT softdelete_internal.partitions(rel))) r;
    END;

-- The same, saying what it changed: enable()'s step, which cannot list the
-- triggers in its plan (their columns depend on what is enabled by then).
CREATE FUNCTION softdelete_internal.announce_child_guards(rel regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    step text;
BEGIN
    FOR step IN SELECT softdelete_internal.install_child_guards(rel) LOOP
        RAISE NOTICE 'enforcement: %', step;
    END LOOP;
END
$$;

-- Visibility, triggers and RLS on one relation (the table or a partition).
-- root is the enabled table whose owner and readers decide. What it would
-- install is enable()'s plan (catalog_enforcement.cpp reads it).
-- 55000 when rel has a policy or trigger named like softdelete's that
-- softdelete did not make (catalog_enforcement.cpp).
CREATE FUNCTION softdelete_internal.refuse_foreign_enforcement(rel regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'softdelete_refuse_foreign_enforcement' LANGUAGE C STABLE STRICT;

CREATE FUNCTION softdelete_internal.install_enforcement(rel regclass, root regclass, col name, key_columns name[])
    RETURNS SETOF text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- log_changes() arguments: the deleted_at column, then the key columns.
    log_args text := (SELECT string_agg(format('%L', a), ', ' ORDER BY o)
                        FROM unnest(col || key_columns) WITH ORDINALITY AS k(a, o));
BEGIN
    -- Objects are recognised by name below: a name taken by someone else is
    -- refused (the same check as enable()'s plan).
    PERFORM softdelete_internal.refuse_foreign_enforcement(rel);
    IF NOT EXISTS (SELECT FROM pg_policy WHERE polrelid = rel AND polname = 'softdelete_visibility') THEN
        EXECUTE format(
            'CREATE POLICY softdelete_visibility ON %s AS RESTRICTIVE FOR ALL TO PUBLIC '
            'USING (%I IS NULL OR softdelete_internal.include_deleted(%L::regclass)) '
            'WITH CHECK (%I IS NULL OR softdelete_internal.may_write_deleted(%L::regclass))',
            rel, col, root::text, col, root::text);
        RETURN NEXT 'policy softdelete_visibility on ' || rel::text;
    END IF;
    IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = rel) THEN
        -- Without RLS the table had no row filter: keep that for live rows.
        EXECUTE format('CREATE POLICY softdelete_access ON %s AS PERMISSIVE FOR ALL TO PUBLIC '
                       'USING (true) WITH CHECK (true)', rel);
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', rel);
        RETURN NEXT 'row level security on ' || rel::text;
    END IF;
    IF NOT (SELECT relforcerowsecurity FROM pg_class WHERE oid = rel) THEN
        IF (SELECT relrowsecurity FROM pg_class WHERE oid = rel)
           AND NOT EXISTS (SELECT FROM pg_policy WHERE polrelid = rel AND polname = 'softdelete_access')
           AND NOT EXISTS (SELECT FROM pg_policy WHERE polrelid = rel AND polname = 'softdelete_owner_access') THEN
            -- The owner was exempt from the table's own policies: FORCE must
            -- subject it to ours only.
            EXECUTE format('CREATE POLICY softdelete_owner_access ON %s AS PERMISSIVE FOR ALL TO %I '
                           'USING (true) WITH CHECK (true)',
                           rel, (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = rel));
            RETURN NEXT 'policy softdelete_owner_access on ' || rel::text;
        END IF;
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', rel);
        RETURN NEXT 'forced row level security on ' || rel::text;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = rel AND tgname = 'softdelete_guard_truncate') THEN
        EXECUTE format('CREATE TRIGGER softdelete_guard_truncate BEFORE TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION softdelete_internal.guard_truncate()', rel);
        RETURN NEXT 'trigger softdelete_guard_truncate on ' || rel::text;
    END IF;
    -- A row trigger on a partitioned table is cloned to its partitions.
    IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = rel AND tgname = 'softdelete_backstop')
       AND NOT (SELECT relispartition FROM pg_class WHERE oid = rel) THEN
        EXECUTE format('CREATE TRIGGER softdelete_backstop BEFORE DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION softdelete_internal.soft_delete_row()', rel);
        RETURN NEXT 'trigger softdelete_backstop on ' || rel::text;
    END IF;
    -- Hard deletes are noted row by row under the running operation by an
    -- AFTER DELETE row trigger (soft deletes and restores are noted by the
    -- rewritten statements themselves). Row triggers on a partitioned table
    -- are cloned to its partitions.
    IF NOT (SELECT relispartition FROM pg_class WHERE oid = rel)
       AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = rel AND tgname = 'softdelete_log_delete') THEN
        EXECUTE format('CREATE TRIGGER softdelete_log_delete AFTER DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION softdelete_internal.log_changes(%s)', rel, log_args);
        RETURN NEXT 'trigger softdelete_log_delete on ' || rel::text;
    END IF;
    -- The guard's columns depend on what is enabled when it runs: enable()'s
    -- plan lists it as a step of its own.
    RETURN QUERY SELECT softdelete_internal.install_child_guard(rel);
END
$$;

-- Drops what _install_enforcement made on one relation and puts RLS back.
CREATE FUNCTION softdelete_internal.remove_enforcement(rel regclass, rls_was_enabled boolean, rls_was_forced boolean)
    RETURNS SETOF text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['softdelete_guard_truncate', 'softdelete_backstop',
                                'softdelete_log_delete', 'softdelete_child_guard'] LOOP
        IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = rel AND tgname = name) THEN
            EXECUTE format('DROP TRIGGER %I ON %s', name, rel);
            RETURN NEXT 'dropped trigger ' || name || ' on ' || rel::text;
        END IF;
    END LOOP;
    FOREACH name IN ARRAY ARRAY['softdelete_visibility', 'softdelete_access', 'softdelete_owner_access'] LOOP
        IF EXISTS (SELECT FROM pg_policy WHERE polrelid = rel AND polname = name) THEN
            EXECUTE format('DROP POLICY %I ON %s', name, rel);
            RETURN NEXT 'dropped policy ' || name || ' on ' || rel::text;
        END IF;
    END LOOP;
    IF NOT rls_was_forced THEN
        EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', rel);
    END IF;
    IF NOT rls_was_enabled THEN
        EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', rel);
    END IF;
END
$$;

-- The unique constraints and unique indexes of tbl, except the primary key,
-- that are not unique among live rows only yet and can become so. Those a
-- foreign key references, and deferrable constraints, are kept as they are,
-- with a WARNING saying why.
CREATE FUNCTION softdelete_internal.uniques_to_convert(tbl regclass, col name)
    RETURNS TABLE (index_oid regclass, index_name name)
    AS 'MODULE_PATHNAME', 'softdelete_uniques_to_convert' LANGUAGE C STABLE
    SET search_path = pg_catalog, pg_temp;

-- ON CONFLICT ON CONSTRAINT <name> needs a constraint of that name while
-- the statement is parsed. Once enable() has made unique constraint <name>
-- the live-only unique index <name>, a constraint trigger of the same name
-- stands in for it, and the planner hook (old_constraint_names.cpp) then
-- makes the index of that name the arbiter. A constraint trigger because it
-- costs nothing: AFTER DELETE (a soft delete is an UPDATE) and WHEN (false),
-- it never runs, and INSERT and UPDATE never look at it; a partition gets
-- it by cloning. Dropped with the index (forget_dropped_tables) and by
-- disable().
CREATE FUNCTION softdelete_internal.unique_constraint_placeholder() RETURNS trigger
    LANGUAGE plpgsql AS 'BEGIN RETURN NULL; END';

CREATE FUNCTION softdelete_internal.add_constraint_placeholder(tbl regclass, con_name name) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('CREATE CONSTRAINT TRIGGER %I AFTER DELETE ON %s FOR EACH ROW WHEN (false) '
                   'EXECUTE FUNCTION softdelete_internal.unique_constraint_placeholder()', con_name, tbl);
    EXECUTE format('COMMENT ON TRIGGER %I ON %s IS %L', con_name, tbl,
                   format('softdelete: stands for unique constraint %I, now the unique index %I on live '
                          'rows, so that ON CONFLICT ON CONSTRAINT %I keeps working; never fires. '
                          'ALTER TABLE ... DROP CONSTRAINT %I drops it with the index.',
                          con_name, con_name, con_name, con_name));
END
$$;

-- Drops the placeholder trigger named con_name on tbl, if there is one.
CREATE FUNCTION softdelete_internal.drop_constraint_placeholder(tbl regclass, con_name name) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_trigger t
                WHERE t.tgrelid = tbl AND t.tgname = con_name
                  AND t.tgfoid = 'softdelete_internal.unique_constraint_placeholder()'::regprocedure) THEN
        EXECUTE format('DROP TRIGGER %I ON %s', con_name, tbl);
    END IF;
END
$$;

-- Makes unique index idx of tbl (or the unique constraint it belongs to)
-- unique among live rows only, under the same name, and records in tbl's
-- configuration how to put it back. Returns what it did.
CREATE FUNCTION softdelete_internal.make_live_only(tbl regclass, idx regclass, col name) RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tmp_name text := left('softdelete_tmp_' || idx::oid, 63);
    con record;
    con_def text;
    converted jsonb;
    child_names jsonb;
    child record;
    idx_name name := (SELECT relname FROM pg_class WHERE oid = idx);
    idx_schema name := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = idx);
BEGIN
    SELECT c.oid, c.conname INTO con FROM pg_constraint c
     WHERE c.conindid = idx AND c.contype = 'u' AND c.conrelid = tbl;
    -- Partitions' own index names, to give them back after the rebuild.
    SELECT jsonb_object_agg(ci.indrelid::text, cc.relname) INTO child_names
      FROM pg_inherits h JOIN pg_index ci ON ci.indexrelid = h.inhrelid JOIN pg_class cc ON cc.oid = h.inhrelid
     WHERE h.inhparent = idx;
    -- The same index (columns, expressions, opclasses, collations, ordering,
    -- INCLUDE, storage options, own predicate), with the live-only predicate
    -- added, built under a temporary name before the old one goes.
    EXECUTE softdelete_internal.index_definition(idx, tmp_name, col);
    IF con.oid IS NOT NULL THEN
        con_def := pg_get_constraintdef(con.oid);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', tbl, con.conname);
        converted := jsonb_build_object('kind', 'constraint', 'name', con.conname, 'definition', con_def);
    ELSE
        con_def := softdelete_internal.index_definition(idx, idx_name, NULL);
        converted := jsonb_build_object('kind', 'index', 'name', idx_name, 'definition', con_def);
        EXECUTE format('DROP INDEX %I.%I', idx_schema, idx_name);
    END IF;
    EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', idx_schema, tmp_name, idx_name);
    FOR child IN
        SELECT cn.nspname, cc.relname, child_names->>(ci.indrelid::text) AS old_name
          FROM pg_inherits h JOIN pg_index ci ON ci.indexrelid = h.inhrelid
          JOIN pg_class cc ON cc.oid = h.inhrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace
         WHERE h.inhparent = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                               WHERE n.nspname = idx_schema AND c.relname = idx_name)
           AND child_names ? (ci.indrelid::text) AND cc.relname <> child_names->>(ci.indrelid::text)
    LOOP
        EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', child.nspname, child.relname, child.old_name);
    END LOOP;
    IF con.oid IS NOT NULL THEN
        PERFORM softdelete_internal.add_constraint_placeholder(tbl, con.conname);
    END IF;
    -- disable() puts it back from this (a partition has no row of its own).
    UPDATE softdelete.tables t SET converted_uniques = t.converted_uniques || converted WHERE t.relid = tbl;
    RETURN format('unique index %I made live-only', idx_name);
END
$$;

-- Makes every unique constraint / unique index of tbl except the primary key
-- unique among live rows only (where it can). Returns what it did.
CREATE FUNCTION softdelete_internal.convert_uniques(tbl regclass, col name) RETURNS SETOF text
    LANGUAGE sql
    BEGIN ATOMIC
        SELECT softdelete_internal.make_live_only(tbl, u.index_oid, col)
          FROM softdelete_internal.uniques_to_convert(tbl, col) u;
    END;

-------------------------------------------------------------------------------
-- The SQL API
-------------------------------------------------------------------------------

-- The index on deleted rows that enable() adds for the purge path, found by
-- what it is (one key column col, predicate "col IS NOT NULL"), so that a
-- renamed table or a restored dump still finds it; NULL when there is none.
CREATE FUNCTION softdelete_internal.deleted_rows_index(tbl regclass, col name) RETURNS regclass
    AS 'MODULE_PATHNAME', 'softdelete_deleted_rows_index' LANGUAGE C STABLE STRICT;

-- The primary key's columns of tbl, in key order.
CREATE FUNCTION softdelete_internal.key_columns(tbl regclass) RETURNS name[]
    AS 'MODULE_PATHNAME', 'softdelete_key_columns' LANGUAGE C STABLE STRICT;

-- Writes tbl's row in softdelete.tables from enable()'s options (a jsonb
-- object), at the point of enable() where the primary key and the table's
-- own row level security are what they were before enable().
CREATE FUNCTION softdelete_internal.save_config(tbl regclass, options jsonb) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keys name[] := softdelete_internal.key_columns(tbl);
    pii name[] := ARRAY(SELECT jsonb_array_elements_text(options->'pii_columns'))::name[];
BEGIN
    IF EXISTS (SELECT FROM softdelete.tables t WHERE t.relid = tbl) THEN
        UPDATE softdelete.tables t
           SET retention = (options->>'retention')::interval, archive = (options->>'archive')::boolean,
               archive_retention = (options->>'archive_retention')::interval,
               cascade = (options->>'cascade')::boolean, pii_columns = pii,
               undo_window = (options->>'undo_window')::interval, log_events = (options->>'log_events')::boolean,
               notify = (options->>'notify')::boolean, key_columns = keys
         WHERE t.relid = tbl;
    ELSE
        INSERT INTO softdelete.tables (relid, column_name, retention, archive, archive_retention, cascade,
                                       pii_columns, undo_window, log_events, notify, key_columns,
                                       rls_was_enabled, rls_was_forced)
        SELECT tbl, options->>'column_name', (options->>'retention')::interval, (options->>'archive')::boolean,
               (options->>'archive_retention')::interval, (options->>'cascade')::boolean, pii,
               (options->>'undo_window')::interval, (options->>'log_events')::boolean,
               (options->>'notify')::boolean, keys, c.relrowsecurity, c.relforcerowsecurity
          FROM pg_class c WHERE c.oid = tbl;
    END IF;
END
$$;

-- enable()'s plan, without doing it: one row per action it reports, with the
-- statements that carry it out ($1 is args); everything it refuses, it
-- refuses here, before the first change. The table's steps, then (cascade)
-- those of every table that references it (at any depth, through foreign keys) and is not enabled
-- yet, which gets the default options. A child that cannot be enabled fails
-- the whole call, named. Read from the catalog in C (catalog_plan.cpp).
CREATE FUNCTION softdelete_internal.enable_plan(tbl regclass, column_name name, retention interval,
    archive boolean, archive_retention interval, cascade boolean, pii_columns name[],
    undo_window interval, log_events boolean, notify boolean)
    RETURNS TABLE (relid regclass, action text, object text, statements text[], args jsonb)
    AS 'MODULE_PATHNAME', 'softdelete_enable_plan' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;

-- enable() and disable() run as the extension's owner, called through the
-- gateway; check_target() judges the role that called them (the owner of
-- tbl, or a superuser).
-- The defaults are the public function's: the gateway passes every argument.
-- enable() makes its whole plan first (every table checked, children
-- included), then carries it out step by step: a refusal changes nothing.
-- A dry run returns the plan's rows and stops there.
CREATE FUNCTION softdelete_internal.enable(tbl regclass, column_name name, retention interval,
    archive boolean, archive_retention interval, cascade boolean, pii_columns name[],
    undo_window interval, log_events boolean, notify boolean, dry_run boolean)
    RETURNS TABLE (action text, object text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
    stmt text;
    touched regclass[] := '{}';
BEGIN
    IF dry_run IS NULL THEN
        RAISE EXCEPTION 'dry_run must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF dry_run THEN
        RETURN QUERY SELECT p.action, p.object
                       FROM softdelete_internal.enable_plan(tbl, column_name, retention, archive, archive_retention,
                                                            cascade, pii_columns, undo_window, log_events, notify) p;
        RETURN;
    END IF;
    FOR s IN SELECT * FROM softdelete_internal.enable_plan(tbl, column_name, retention, archive, archive_retention,
                                                           cascade, pii_columns, undo_window, log_events, notify) LOOP
        FOREACH stmt IN ARRAY coalesce(s.statements, '{}') LOOP
            EXECUTE stmt USING s.args;
        END LOOP;
        action := s.action;
        object := s.object;
        IF action = 'unchanged' THEN
            RAISE NOTICE 'table % is already enabled with these options: nothing changed', object;
        ELSE
            RAISE NOTICE '%: %', action, object;
            touched := touched || s.relid;
        END IF;
        RETURN NEXT;
    END LOOP;
    -- Other backends must re-read these tables' configuration.
    PERFORM softdelete_internal.invalidate(r) FROM (SELECT DISTINCT unnest(touched) AS r) t;
END
$$;

CREATE FUNCTION softdelete_internal.invalidate(tbl regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'softdelete_invalidate' LANGUAGE C STRICT;

CREATE FUNCTION softdelete_internal.disable(tbl regclass)
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

-- "OPERATOR(schema.=)", the equality of type typ's default btree operator
-- class: key_predicate() runs with search_path = pg_catalog, pg_temp, where
-- a bare "=" would miss an extension's own (citext's) for a cast to text.
CREATE FUNCTION softdelete_internal.equality_operator(typ oid) RETURNS text
    AS 'MODULE_PATHNAME', 'softdelete_equality_operator' LANGUAGE C STABLE;

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

-- The WHERE clause that picks one row of tbl by its primary key; key is the
-- key's value, or a jsonb object of its columns for a composite key. The
-- values travel as $1 (a jsonb object), never as SQL text. A column tbl no
-- longer has makes it invalid SQL, which fails, rather than a shorter
-- clause that picks more rows.
CREATE FUNCTION softdelete_internal.key_predicate(tbl regclass, key_columns name[]) RETURNS text
    LANGUAGE sql STABLE
    RETURN (SELECT string_agg(format('%I %s %s', k.c,
                                     softdelete_internal.equality_operator(
                                         (SELECT a.atttypid FROM pg_catalog.pg_attribute a
                                           WHERE a.attrelid = tbl AND a.attname = k.c
                                             AND a.attnum > 0 AND NOT a.attisdropped)),
                                     softdelete_internal.key_value(tbl, k.c)), ' AND ' ORDER BY k.n)
              FROM unnest(key_columns) WITH ORDINALITY AS k(c, n));

CREATE FUNCTION softdelete_internal.key_object(tbl regclass, key_columns name[], key jsonb) RETURNS jsonb
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF jsonb_typeof(key) = 'object' THEN
        IF (SELECT count(*) FROM jsonb_object_keys(key)) <> cardinality(key_columns)
           OR EXISTS (SELECT FROM unnest(key_columns) c WHERE NOT key ? c) THEN
            RAISE EXCEPTION 'key % does not name the primary key columns of % (%)', key, tbl,
                array_to_string(key_columns, ', ') USING ERRCODE = '22023';
        END IF;
        RETURN key;
    END IF;
    IF cardinality(key_columns) <> 1 THEN
        RAISE EXCEPTION 'table % has a composite primary key (%): give the key as a jsonb object', tbl,
            array_to_string(key_columns, ', ')
            USING ERRCODE = '22023', HINT = format('For example %s', (SELECT jsonb_object_agg(c, 1) FROM unnest(key_columns) c));
    END IF;
    RETURN jsonb_build_object(key_columns[1], key);
END
$$;

-- "(email)=(bob@example.com)": the columns of unique index idx_name and their
-- values in the row of tbl with primary key k (read as the extension's owner,
-- which sees deleted rows).
CREATE FUNCTION softdelete_internal.index_key_of(tbl regclass, idx_name text, key_columns name[], k jsonb) RETURNS text
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

-- A table was named, and exists (any OID can be passed as a regclass).
CREATE FUNCTION softdelete_internal.check_exists(tbl regclass) RETURNS void
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'a table is required' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_class WHERE oid = tbl) THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
    END IF;
END
$$;

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

CREATE FUNCTION softdelete_internal.config(tbl regclass) RETURNS softdelete.tables
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cfg softdelete.tables;
BEGIN
    PERFORM softdelete_internal.check_exists(tbl);
    SELECT * INTO cfg FROM softdelete.tables t WHERE t.relid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not enabled for soft delete', tbl USING ERRCODE = '55000',
            HINT = format('Call softdelete.enable(%L) first.', tbl::text);
    END IF;
    RETURN cfg;
END
$$;

-- Brings back one deleted row, for an admin of tbl (the role that called
-- restore()), or for the actor that deleted it within the table's
-- undo_window (undo_window.cpp). The UPDATE runs as the table's owner and
-- goes through the tombstone decision like any restore; the event records
-- the caller.
CREATE FUNCTION softdelete_internal.restore_row(tbl regclass, key jsonb) RETURNS bigint
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

CREATE FUNCTION softdelete_internal.restore(tbl regclass, key anycompatible) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'SELECT softdelete_internal.restore_row($1, softdelete_internal.key_json($1, $2))';

-- Removes one row for good (admins only, logged as a hard delete), as the
-- table's owner with hard_delete for that one statement.
CREATE FUNCTION softdelete_internal.hard_delete_row(tbl regclass, key jsonb) RETURNS bigint
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

CREATE FUNCTION softdelete_internal.hard_delete(tbl regclass, key anycompatible) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'SELECT softdelete_internal.hard_delete_row($1, softdelete_internal.key_json($1, $2))';

-- Notes the row of tbl with key (a jsonb object of the key's columns) as
-- erased by the running operation: softdelete.events gets an "erase" event
-- when the statement ends, whatever log_events says (erasure.cpp).
CREATE FUNCTION softdelete_internal.note_erasure(tbl regclass, key jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'softdelete_note_erasure' LANGUAGE C;

-- GDPR erasure of one row, live or deleted, for an admin of tbl: the
-- table's pii_columns become NULL (a stored generated column is computed
-- again from the nulled columns), as the table's owner. The row stays, with
-- its key and its deletion record (deleted_at, deleted_by, delete_reason,
-- delete_op): a deleted row stays deleted, a live one live. What erasure
-- cannot do (no pii_columns; a key, tombstone, missing or NOT NULL column
-- among them) is refused before anything changes.
CREATE FUNCTION softdelete_internal.erase_row(tbl regclass, key jsonb) RETURNS bigint
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

CREATE FUNCTION softdelete_internal.erase(tbl regclass, key anycompatible) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS 'SELECT softdelete_internal.erase_row($1, softdelete_internal.key_json($1, $2))';

-- Every enabled table, as the target of a statement on the rows an
-- operation ($1->>'op') soft-deleted and that are still deleted. ONLY for a
-- plain table: an enabled inheritance child has its own turn.
CREATE FUNCTION softdelete_internal.operation_targets(OUT relid regclass, OUT target text, OUT col name, OUT marked text)
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

-- Restores exactly the rows that operation op soft-deleted, in every table,
-- and nothing deleted before or after by another operation: the rows still
-- marked with op. Admins of every table it touched, or the actor that
-- deleted the rows within each table's undo window; all or nothing.
CREATE FUNCTION softdelete_internal.undo(op bigint) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    touched regclass[] := '{}';
    n bigint;
    total bigint := 0;
    arg jsonb := jsonb_build_object('op', undo.op);
    problem text;
    problem_schema text;
    problem_table text;
    detail text;
    pending regclass[];
    waiting regclass[];
    progress boolean;
    step text;
    stuck regclass;
    stuck_step text;
BEGIN
    IF undo.op IS NULL THEN
        RAISE EXCEPTION 'an operation id is required' USING ERRCODE = '22004';
    END IF;
    -- The rows to restore, counted before (a restore of a parent brings its
    -- cascaded children back itself, before their own table's turn) and
    -- locked, so that the count stays true: a concurrent restore of the same
    -- rows is waited for, and its rows are no longer counted.
    FOR t IN SELECT * FROM softdelete_internal.operation_targets() LOOP
        SELECT r.value::bigint INTO n
          FROM softdelete_internal.run_as_owner(t.relid,
                   format('SELECT count(*) FROM (SELECT FROM %s WHERE %s FOR UPDATE) marked', t.target, t.marked),
                   arg) r;
        IF n > 0 THEN
            touched := touched || t.relid;
            total := total + n;
        END IF;
    END LOOP;
    IF cardinality(touched) = 0 THEN
        RAISE EXCEPTION 'operation % has no soft-deleted rows left to restore', undo.op
            USING ERRCODE = 'P0002',
                  DETAIL = 'It never soft-deleted rows, or they were restored, deleted again by another operation, or purged since.';
    END IF;
    -- Who may, for every table, before anything changes: the UPDATEs below
    -- run as each table's owner, whose own triggers would run for a caller
    -- who may not, and the tombstone decision judges the owner, not the
    -- caller. A role that is no admin of a table may undo there only within
    -- its undo window, every row deleted by its own actor (cascaded
    -- children included: they carry the same op).
    FOR t IN SELECT * FROM softdelete_internal.operation_targets() WHERE relid = ANY (touched) LOOP
        IF NOT softdelete_internal.may_restore(t.relid, 'undo operations on') THEN
            PERFORM softdelete_internal.require_own_deletes(t.relid, t.target, t.marked, arg,
                                                            'undo operations on');
        END IF;
    END LOOP;
    -- A restored row may not stay under a deleted parent, so a table whose
    -- parent rows the operation also deleted waits for a later pass, after
    -- the parent's restore (which brings back its cascaded children
    -- itself). A pass that restores nothing more leaves parents deleted by
    -- another operation: that error stands.
    pending := touched;
    LOOP
        waiting := '{}';
        progress := false;
        stuck := NULL;
        FOR t IN SELECT * FROM softdelete_internal.operation_targets() WHERE relid = ANY (pending) LOOP
            step := format('UPDATE %s SET %I = NULL WHERE %s', t.target, t.col, t.marked);
            BEGIN
                PERFORM softdelete_internal.run_as_owner(t.relid, step, arg);
                progress := true;
            EXCEPTION
                WHEN foreign_key_violation THEN
                    waiting := waiting || t.relid;
                    IF stuck IS NULL THEN  -- the first, most likely the parent
                        stuck := t.relid;
                        stuck_step := step;
                    END IF;
                WHEN unique_violation THEN
                    -- The row may be a cascaded child that its parent's restore brought back.
                    GET STACKED DIAGNOSTICS problem = CONSTRAINT_NAME, detail = PG_EXCEPTION_DETAIL,
                                            problem_schema = SCHEMA_NAME, problem_table = TABLE_NAME;
                    RAISE EXCEPTION 'cannot undo operation %: a row of %.% would duplicate a live row in unique index %',
                            undo.op, quote_ident(problem_schema), quote_ident(problem_table), quote_ident(problem)
                        USING ERRCODE = '23505', CONSTRAINT = problem, DETAIL = detail,
                              HINT = 'Delete or change the live row first; nothing was restored.';
            END;
        END LOOP;
        EXIT WHEN cardinality(waiting) = 0;
        IF NOT progress THEN
            -- Parents deleted by another operation: that error stands.
            PERFORM softdelete_internal.run_as_owner(stuck, stuck_step, arg);
        END IF;
        pending := waiting;
    END LOOP;
    RETURN total;
END
$$;

-------------------------------------------------------------------------------
-- Lifecycle: retention, archive, purge
--
-- The unit of work is one batch on one table (purge_batch), in the caller's
-- transaction; a run is the batches of one table, recorded in softdelete.runs.
-- The lifecycle worker and softdelete.purge() both drive them.
-------------------------------------------------------------------------------

-- The enabled tables that have a retention or an archive_retention,
-- children before parents: a table is listed after every enabled table that
-- references it (a cycle is walked once). purge_order.cpp.
CREATE FUNCTION softdelete_internal.purge_tables() RETURNS SETOF regclass
    AS 'MODULE_PATHNAME', 'softdelete_purge_tables' LANGUAGE C STABLE;

-- Opens a run of tbl in softdelete.runs ('running'); returns its id.
CREATE FUNCTION softdelete_internal.start_run(tbl regclass, started_by text) RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM softdelete_internal.config(tbl);
    IF start_run.started_by IS NULL OR start_run.started_by NOT IN ('worker', 'purge()') THEN
        RAISE EXCEPTION 'a run is started by ''worker'' or ''purge()'', not %', coalesce(start_run.started_by, 'NULL')
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO softdelete.runs (relid, table_name, started_by)
    VALUES (tbl, tbl::text, start_run.started_by)
    RETURNING runs.id INTO id;
    RETURN id;
END
$$;

-- One batch of the purge of tbl, in the caller's transaction (purge.cpp):
-- at most batch_size rows soft-deleted longer than its retention ago, oldest
-- first, never waiting for a row someone else holds, with the descendants
-- that go with them (children first), archived first where their table
-- archives; then at most batch_size archived rows past archive_retention.
-- One operation in softdelete.events; its counts added to run, which must be
-- a running run of tbl. Returns the rows it removed; 0 when nothing is left.
CREATE FUNCTION softdelete_internal.purge_batch(run bigint, tbl regclass, batch_size integer) RETURNS bigint
    AS 'MODULE_PATHNAME', 'softdelete_purge_batch' LANGUAGE C
    SET search_path = pg_catalog, pg_temp;

-- Ends a run: 'succeeded' when error is NULL, else 'failed' with it.
CREATE FUNCTION softdelete_internal.finish_run(run bigint, error text) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE softdelete.runs r
       SET status = CASE WHEN finish_run.error IS NULL THEN 'succeeded' ELSE 'failed' END,
           error = finish_run.error, finished_at = clock_timestamp()
     WHERE r.id = run AND r.status = 'running';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % is not running', run USING ERRCODE = '55000';
    END IF;
END
$$;

-- Whether tbl has rows a purge would take now: rows deleted longer than
-- its retention ago (through the index on deleted rows), or archived rows
-- past archive_retention. The worker starts a run only then.
CREATE FUNCTION softdelete_internal.purge_due(tbl regclass) RETURNS boolean
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

-- Runs left 'running' by a worker or a server that stopped (a purge() run
-- commits with its final status, in its caller's transaction, so only the
-- worker's can be left so) are marked failed. Returns how many.
CREATE FUNCTION softdelete_internal.fail_unfinished_runs() RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    UPDATE softdelete.runs
       SET status = 'failed', finished_at = clock_timestamp(),
           error = 'the lifecycle worker or the server stopped before the run finished'
     WHERE status = 'running';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- The archive table of tbl in schema softdelete_archive, or NULL when it has
-- none yet (archive.cpp).
CREATE FUNCTION softdelete_internal.archive_table(tbl regclass) RETURNS regclass
    AS 'MODULE_PATHNAME', 'softdelete_archive_table' LANGUAGE C STABLE STRICT
    SET search_path = pg_catalog, pg_temp;

-- The archive table of tbl, as archive_table(), given to tbl's owner first
-- where the table changed hands since it was made (ALTER TABLE ... OWNER
-- TO): erase() and the worker read and change it as the table's owner.
CREATE FUNCTION softdelete_internal.owned_archive(tbl regclass) RETURNS regclass
    AS 'MODULE_PATHNAME', 'softdelete_owned_archive' LANGUAGE C VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp;

-- purge(tbl): the lifecycle worker's work, on demand, in the caller's
-- transaction. For admins of every table it covers (with NULL, every table
-- purge_tables() lists), checked before anything happens. One run per
-- table, in batches of softdelete.batch_size rows. A table whose purge
-- fails is rolled back alone (a subtransaction per table, not per batch:
-- the transaction ids of many subtransactions would slow every snapshot in
-- the cluster): its run records the error and ends 'failed', a WARNING
-- says so, and the other tables go on.
CREATE FUNCTION softdelete_internal.purge(tbl regclass)
    RETURNS TABLE (table_name regclass, rows_archived bigint, rows_purged bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tables regclass[];
    rel regclass;
    run bigint;
    size integer := current_setting('softdelete.batch_size')::integer;
    failure text;
    code text;
BEGIN
    IF tbl IS NOT NULL THEN
        PERFORM softdelete_internal.check_exists(tbl);
        PERFORM softdelete_internal.require_admin(tbl, 'purge');
        PERFORM softdelete_internal.config(tbl);
        tables := ARRAY(SELECT t FROM softdelete_internal.purge_tables() t WHERE t = tbl);
        IF cardinality(tables) = 0 THEN
            RAISE NOTICE 'table % has neither retention nor archive_retention: nothing to purge', tbl;
        END IF;
    ELSE
        tables := ARRAY(SELECT softdelete_internal.purge_tables());
        FOREACH rel IN ARRAY tables LOOP
            PERFORM softdelete_internal.require_admin(rel, 'purge');
        END LOOP;
    END IF;
    FOREACH rel IN ARRAY tables LOOP
        run := softdelete_internal.start_run(rel, 'purge()');
        failure := NULL;
        BEGIN
            LOOP
                EXIT WHEN softdelete_internal.purge_batch(run, rel, size) = 0;
            END LOOP;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT, code = RETURNED_SQLSTATE;
            failure := format('%s (SQLSTATE %s)', failure, code);
        END;
        PERFORM softdelete_internal.finish_run(run, failure);
        IF failure IS NOT NULL THEN
            RAISE WARNING 'purge of % failed: %', rel, failure
                USING HINT = 'Nothing of it was purged; its run in softdelete.runs has the error.';
        END IF;
        RETURN QUERY SELECT rel, r.rows_archived, r.rows_purged FROM softdelete.runs r WHERE r.id = run;
    END LOOP;
END
$$;

-------------------------------------------------------------------------------
-- The public API: each is the C gateway, which calls the function of the same
-- name and arguments in softdelete_internal as the extension's owner and
-- tells it who called.
-------------------------------------------------------------------------------

CREATE FUNCTION softdelete.enable(
    tbl regclass,
    column_name name DEFAULT 'deleted_at',
    retention interval DEFAULT NULL,
    archive boolean DEFAULT false,
    archive_retention interval DEFAULT NULL,
    cascade boolean DEFAULT true,
    pii_columns name[] DEFAULT '{}',
    undo_window interval DEFAULT NULL,
    log_events boolean DEFAULT true,
    notify boolean DEFAULT false,
    dry_run boolean DEFAULT false)
    RETURNS TABLE (action text, object text)
    AS 'MODULE_PATHNAME', 'softdelete_api' LANGUAGE C;

CREATE FUNCTION softdelete.disable(tbl regclass) RETURNS TABLE (action text, object text)
    AS 'MODULE_PATHNAME', 'softdelete_api' LANGUAGE C;

CREATE FUNCTION softdelete.restore(tbl regclass, key anycompatible) RETURNS bigint
    AS 'MODULE_PATHNAME', 'softdelete_api' LANGUAGE C;

CREATE FUNCTION softdelete.hard_delete(tbl regclass, key anycompatible) RETURNS bigint
    AS 'MODULE_PATHNAME', 'softdelete_api' LANGUAGE C;

CREATE FUNCTION softdelete.undo(op bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'softdelete_api' LANGUAGE C;

CREATE FUNCTION softdelete.erase(tbl regclass, key anycompatible) RETURNS bigint
    AS 'MODULE_PATHNAME', 'softdelete_api' LANGUAGE C;

-- Archives and purges now what has outlived its retention: tbl, or with NULL
-- every table that has a retention (see softdelete_internal.purge()).
CREATE FUNCTION softdelete.purge(tbl regclass DEFAULT NULL)
    RETURNS TABLE (table_name regclass, rows_archived bigint, rows_purged bigint)
    AS 'MODULE_PATHNAME', 'softdelete_api' LANGUAGE C;

-- After DDL by anyone else than enable() and disable() (the event triggers
-- below call these through softdelete_internal.on_event(), which skips the
-- extension's own operations):
--  * a partition created or attached after enable(), however it was created
--    (CREATE TABLE ... PARTITION OF, ATTACH PARTITION, CREATE SCHEMA ...
--    CREATE TABLE), gets the same enforcement: querying a partition directly
--    uses the partition's own policies;
--  * a unique index or constraint added to an enabled table (or a partition
--    of one) is made live-only, and disable() will put it back as it was;
--  * a table that now references an enabled table whose cascade is on (a new
--    table with a foreign key, or ALTER TABLE ... ADD FOREIGN KEY) is
--    enabled (enable_new_child()).
CREATE FUNCTION softdelete_internal.cover_new_objects() RETURNS void
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

-- Enables tbl (the partitioned table, for a partition) with the default
-- options and the parent's undo window when one of its own foreign keys
-- references an enabled table whose cascade is on, as enable() would have. Fail closed: when tbl cannot be
-- enabled, the DDL that made the foreign key fails, naming both tables.
CREATE FUNCTION softdelete_internal.enable_new_child(rel regclass) RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tbl regclass := coalesce(pg_partition_root(rel), rel);
    parent regclass;
    parent_window interval;
    code text;
    msg text;
    det text;
    hnt text;
BEGIN
    IF EXISTS (SELECT FROM softdelete.tables t WHERE t.relid = tbl) THEN
        RETURN;
    END IF;
    SELECT cfg.relid, cfg.undo_window INTO parent, parent_window
      FROM pg_constraint con
      JOIN softdelete.tables cfg ON cfg.relid = coalesce(pg_partition_root(con.confrelid), con.confrelid)
     WHERE con.contype = 'f' AND con.conparentid = 0 AND con.conrelid = rel AND cfg.cascade
     ORDER BY cfg.relid::text
     LIMIT 1;
    IF parent IS NULL THEN
        RETURN;
    END IF;
    RAISE NOTICE 'table % references %, which is enabled for soft delete with cascade: enabling %', tbl, parent, tbl;
    BEGIN
        -- The parent's undo window, as when enable() cascades (catalog_plan.cpp).
        PERFORM softdelete_internal.enable(tbl, 'deleted_at', NULL, false, NULL, true, '{}', parent_window, true, false, false);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
        RAISE EXCEPTION 'cannot enable %, which references % (enabled for soft delete with cascade): %', tbl, parent, msg
            USING ERRCODE = code, DETAIL = det,
                  HINT = concat_ws(' ', nullif(hnt, ''),
                                   format('Or call softdelete.enable(%L, cascade => false) before adding the foreign key.',
                                          parent::text));
    END;
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

-- A dropped table takes its configuration row along. A dropped unique index
-- that enable() had made live-only is forgotten, so that disable() does not
-- bring back what a migration removed.
CREATE FUNCTION softdelete_internal.forget_dropped_tables() RETURNS void
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

-- Was constraint_name a unique constraint of tbl that enable() made live-only?
CREATE FUNCTION softdelete_internal.converted_constraint(tbl regclass, constraint_name text) RETURNS boolean
    LANGUAGE sql STABLE
    RETURN EXISTS (SELECT FROM softdelete.tables t, jsonb_array_elements(t.converted_uniques) u
                    WHERE t.relid = tbl AND u->>'kind' = 'constraint' AND u->>'name' = constraint_name);

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

CREATE FUNCTION softdelete_internal.on_event() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'softdelete_on_event' LANGUAGE C;

-- ALTER TYPE and every sql_drop: their changes can reach an enabled table
-- through a typed table's type or a CASCADE (require_enforcement()).
CREATE EVENT TRIGGER softdelete_cover_new_objects ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE SCHEMA', 'CREATE INDEX', 'ALTER TYPE')
    EXECUTE FUNCTION softdelete_internal.on_event();

CREATE EVENT TRIGGER softdelete_forget_dropped_tables ON sql_drop
    EXECUTE FUNCTION softdelete_internal.on_event();

-- softdelete.tables changes through enable() and disable() only.
CREATE TRIGGER guard_config BEFORE INSERT OR UPDATE OR DELETE ON softdelete.tables
    FOR EACH ROW EXECUTE FUNCTION softdelete_internal.guard_config();
CREATE TRIGGER guard_config_truncate BEFORE TRUNCATE ON softdelete.tables
    FOR EACH STATEMENT EXECUTE FUNCTION softdelete_internal.guard_config();

-- The extension's tables describe the node they are on, but a FOR ALL TABLES
-- publication carries them too: a subscriber drops the rows its logical
-- replication workers apply to them, and keeps its own (replicated_rows.cpp).
-- Archive tables get the same trigger when they are made (archive.cpp).
CREATE FUNCTION softdelete_internal.ignore_replicated_row() RETURNS trigger
    AS 'MODULE_PATHNAME', 'softdelete_ignore_replicated_row' LANGUAGE C;
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

-------------------------------------------------------------------------------
-- Monitoring
-------------------------------------------------------------------------------

-- The deleted rows of tbl, counted exactly, and the oldest deletion: both
-- read through the partial index on deleted rows, as the table's owner (row
-- security would hide them from the reader asking); readers of tbl only
-- (monitoring.cpp).
CREATE FUNCTION softdelete_internal.deleted_rows(tbl regclass,
        OUT deleted_rows bigint, OUT oldest_deletion timestamptz)
    AS 'MODULE_PATHNAME', 'softdelete_deleted_rows' LANGUAGE C STABLE STRICT;

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

-------------------------------------------------------------------------------
-- Privileges
-------------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA softdelete FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA softdelete_internal FROM PUBLIC;
GRANT USAGE ON SCHEMA softdelete TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    softdelete.enable(regclass, name, interval, boolean, interval, boolean, name[], interval, boolean, boolean, boolean),
    softdelete.disable(regclass), softdelete.restore(regclass, anycompatible),
    softdelete.hard_delete(regclass, anycompatible), softdelete.undo(bigint),
    softdelete.erase(regclass, anycompatible), softdelete.purge(regclass), softdelete.is_admin(regclass),
    softdelete.is_reader(regclass), softdelete.preloaded()
    TO PUBLIC;
-- Called by rewritten statements and by the visibility policy, as whichever
-- role runs them. The row trigger function too: PostgreSQL checks EXECUTE
-- on them as the table's owner when it clones the triggers onto a new
-- partition. Without USAGE on the schema nobody can name any of them.
GRANT EXECUTE ON FUNCTION softdelete_internal.actor(), softdelete_internal.reason(),
    softdelete_internal.deletion_stamp(), softdelete_internal.operation_id(),
    softdelete_internal.include_deleted(regclass),
    softdelete_internal.may_write_deleted(regclass), softdelete_internal.soft_delete_row(),
    softdelete_internal.refuse_operation_mark(regclass, bigint),
    softdelete_internal.log_changes(), softdelete_internal.guard_child(),
    softdelete_internal.unique_constraint_placeholder(), softdelete_internal.ignore_replicated_row(),
    softdelete_internal.note_row(regclass, integer, boolean, boolean, tid, oid, "any"),
    softdelete_internal.lock_for_delete(tid, oid, regclass, boolean),
    softdelete_internal.tombstone_at(regclass, integer, boolean, timestamptz, text, text, bigint, timestamptz, text, text, bigint, tid),
    softdelete_internal.tombstone_text(regclass, integer, boolean, timestamptz, text, text, bigint, timestamptz, text, text, bigint, tid),
    softdelete_internal.tombstone_op(regclass, integer, boolean, timestamptz, text, text, bigint, timestamptz, text, text, bigint, tid)
    TO PUBLIC;
GRANT SELECT ON softdelete.tables TO PUBLIC;
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
GRANT SELECT ON softdelete.events TO softdelete_reader, softdelete_admin;
GRANT SELECT ON softdelete.runs TO softdelete_reader, softdelete_admin;
-- The monitoring views show a role only the tables it reads. The views call
-- deleted_rows() as the role reading them, and it checks that role itself.
GRANT SELECT ON softdelete.status, softdelete.stats TO softdelete_reader, softdelete_admin;
GRANT EXECUTE ON FUNCTION softdelete_internal.deleted_rows(regclass) TO PUBLIC;

-- A WARNING, not a NOTICE: PostgreSQL runs extension scripts with
-- client_min_messages raised to WARNING, so a NOTICE would never be seen.
DO $notice$
BEGIN
    IF NOT softdelete.preloaded() THEN
        RAISE WARNING 'softdelete is not in shared_preload_libraries: every SQL feature works, but scheduled purge needs it'
            USING HINT = 'Add softdelete to shared_preload_libraries, or call softdelete.purge() from cron or pg_cron.';
    END IF;
END
$notice$;
