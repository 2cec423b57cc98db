-- A table that already has row level security and a tenant policy:
-- softdelete's policy is restrictive and composes with it.
-- The tenant policy keeps applying, deleted rows are hidden on top of it,
-- and disable() leaves the tenant policy and RLS as they were.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
-- CONTEXT lines carry PL/pgSQL line numbers: keep them out of the output.
\set SHOW_CONTEXT never

CREATE ROLE existing_policies_app NOLOGIN;
CREATE ROLE existing_policies_reader NOLOGIN IN ROLE softdelete_reader;

CREATE TABLE docs (
    id     integer PRIMARY KEY,
    tenant text NOT NULL,
    title  text NOT NULL,
    CONSTRAINT docs_tenant_title_key UNIQUE (tenant, title)
);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON docs
    USING (tenant = current_setting('app.tenant'))
    WITH CHECK (tenant = current_setting('app.tenant'));
GRANT SELECT, INSERT, UPDATE, DELETE ON docs TO existing_policies_app, existing_policies_reader;
INSERT INTO docs VALUES
    (1, 'a', 'a one'), (2, 'a', 'a two'), (3, 'a', 'a three'),
    (4, 'b', 'b one'), (5, 'b', 'b two');

-- enable(): RLS is already on, so no permissive softdelete_access policy is
-- added (it would open the table to every tenant); only the restrictive
-- visibility policy, FORCE, and the triggers.
SELECT * FROM softdelete.enable('docs');
SELECT polname, polpermissive, pg_get_expr(polqual, polrelid) AS using_expr
  FROM pg_policy WHERE polrelid = 'docs'::regclass ORDER BY polname;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'docs'::regclass;
SELECT rls_was_enabled, rls_was_forced FROM softdelete.tables WHERE relid = 'docs'::regclass;

-- The tenant policy still applies: each tenant sees only its own rows.
SET ROLE existing_policies_app;
SET app.tenant = 'a';
SELECT id, tenant, title FROM docs ORDER BY id;
SET app.tenant = 'b';
SELECT id, tenant, title FROM docs ORDER BY id;

-- Tenant A deletes: only its own rows are touched, even when it names
-- tenant B's rows or deletes without a WHERE clause.
SET app.tenant = 'a';
\set QUIET off
DELETE FROM docs WHERE id = 4;
DELETE FROM docs WHERE tenant = 'b';
DELETE FROM docs WHERE id = 1;
UPDATE docs SET deleted_at = now() WHERE id = 5;
DELETE FROM docs;
\set QUIET on
-- Tenant A's deleted rows are hidden from tenant A ...
SELECT id, tenant, title FROM docs ORDER BY id;
-- ... tenant B's rows are untouched.
SET app.tenant = 'b';
SELECT id, tenant, title FROM docs ORDER BY id;
-- Tenant B cannot restore tenant A's rows (not an admin, nor its rows).
UPDATE docs SET deleted_at = NULL WHERE id = 1;
\echo SQLSTATE :SQLSTATE
-- Nor write a row into tenant A (the tenant policy's WITH CHECK).
INSERT INTO docs VALUES (6, 'a', 'a six');
\echo SQLSTATE :SQLSTATE
-- Tenant B reuses a title of its own after deleting it (live-only unique).
\set QUIET off
DELETE FROM docs WHERE id = 5;
\set QUIET on
INSERT INTO docs VALUES (6, 'b', 'b two');
SELECT id, tenant, title FROM docs ORDER BY id;
RESET app.tenant;
RESET ROLE;

-- A reader that opts in sees deleted rows, still of its tenant only.
SET ROLE existing_policies_reader;
SET app.tenant = 'a';
SET softdelete.include_deleted = on;
SELECT id, tenant, title, deleted_at IS NOT NULL AS deleted, deleted_by FROM docs ORDER BY id;
RESET softdelete.include_deleted;
SELECT id, tenant, title FROM docs ORDER BY id;
RESET app.tenant;
RESET ROLE;

-- Every row, as the superuser.
SELECT id, tenant, title, deleted_at IS NOT NULL AS deleted, deleted_by FROM docs ORDER BY id;

-- disable() first refuses: tenant B's deleted 'b two' and its live 'b two'
-- would collide in the restored unique constraint.
SELECT * FROM softdelete.disable('docs');
\echo SQLSTATE :SQLSTATE
SELECT softdelete.hard_delete('docs', 5);

-- disable(): the tenant policy stays, RLS stays enabled, FORCE goes back to
-- off as it was, softdelete's policy and triggers are gone.
SELECT * FROM softdelete.disable('docs');
SELECT polname, polpermissive, pg_get_expr(polqual, polrelid) AS using_expr,
       pg_get_expr(polwithcheck, polrelid) AS check_expr
  FROM pg_policy WHERE polrelid = 'docs'::regclass ORDER BY polname;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'docs'::regclass;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'docs'::regclass AND NOT tgisinternal;
-- The tenant policy still isolates the tenants; the marked rows are plain
-- rows again.
SET ROLE existing_policies_app;
SET app.tenant = 'a';
SELECT id, tenant, title, deleted_at IS NOT NULL AS deleted FROM docs ORDER BY id;
SET app.tenant = 'b';
SELECT id, tenant, title, deleted_at IS NOT NULL AS deleted FROM docs ORDER BY id;
RESET app.tenant;
RESET ROLE;

-------------------------------------------------------------------------------
-- A table whose RLS was already enabled AND forced keeps both after disable().
-------------------------------------------------------------------------------
CREATE TABLE notes (id integer PRIMARY KEY, tenant text NOT NULL);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes USING (tenant = current_setting('app.tenant'));
SELECT * FROM softdelete.enable('notes');
SELECT rls_was_enabled, rls_was_forced FROM softdelete.tables WHERE relid = 'notes'::regclass;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('notes');
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'notes'::regclass;
SELECT polname FROM pg_policy WHERE polrelid = 'notes'::regclass ORDER BY polname;

-------------------------------------------------------------------------------
-- Clean up
-------------------------------------------------------------------------------
DELETE FROM softdelete.events WHERE relid IN ('docs'::regclass, 'notes'::regclass);
DROP TABLE docs, notes;
DROP OWNED BY existing_policies_app;
DROP ROLE existing_policies_app;
DROP OWNED BY existing_policies_reader;
DROP ROLE existing_policies_reader;
