-- new_objects: what enable() finds in the catalog, and what is added after
-- it, is covered however it is written.
--  * A unique index whose predicate reads another column (legacy_deleted_at
--    IS NULL) is not live-only: it is converted. Predicates are read as
--    expressions, not as text.
--  * A unique index or constraint added after enable() becomes live-only
--    (NOTICE), and disable() puts it back as it was added.
--  * A partition created by CREATE SCHEMA ... CREATE TABLE ... PARTITION OF
--    gets the enforcement like any other.
--  * The index enable() adds for the purge path is named after the table,
--    never after an OID, so a dump restores it under the same name.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE no_owner;
CREATE ROLE no_app;
SELECT format('GRANT CREATE ON DATABASE %I TO no_owner', current_database()) \gexec
CREATE SCHEMA no AUTHORIZATION no_owner;
GRANT USAGE ON SCHEMA no TO no_app;
SET ROLE no_owner;
CREATE TABLE no.users (
    id int PRIMARY KEY,
    email text NOT NULL,
    handle text,
    legacy_deleted_at timestamptz
);
CREATE UNIQUE INDEX users_email_legacy ON no.users (email) WHERE legacy_deleted_at IS NULL;
INSERT INTO no.users SELECT g, 'u' || g, 'h' || g FROM generate_series(1, 5) g;
SELECT action, object FROM softdelete.enable('no.users') WHERE action IN ('unique index', 'index');
GRANT SELECT, INSERT, UPDATE, DELETE ON no.users TO no_app;
SELECT indexrelid::regclass AS index_name, pg_get_expr(indpred, indrelid) AS predicate
  FROM pg_index WHERE indrelid = 'no.users'::regclass AND indpred IS NOT NULL ORDER BY 1;

-- New unique index and unique constraint, after enable().
CREATE UNIQUE INDEX users_handle_idx ON no.users (handle);
ALTER TABLE no.users ADD CONSTRAINT users_email_handle_key UNIQUE (email, handle);
SELECT indexrelid::regclass AS index_name, pg_get_expr(indpred, indrelid) AS predicate
  FROM pg_index WHERE indrelid = 'no.users'::regclass AND indisunique AND NOT indisprimary ORDER BY 1;
RESET ROLE;

-- A deleted row no longer blocks a new one with the same handle.
SET ROLE no_app;
DELETE FROM no.users WHERE id = 1;
INSERT INTO no.users (id, email, handle) VALUES (6, 'u1', 'h1');
RESET ROLE;
SELECT id, email, handle, deleted_at IS NOT NULL AS deleted FROM no.users WHERE handle = 'h1' ORDER BY id;

--------------------------------------------------------------------------
-- Partitions, however they are created
--------------------------------------------------------------------------

SET ROLE no_owner;
CREATE TABLE no.events (id int, kind text, PRIMARY KEY (id, kind)) PARTITION BY LIST (kind);
CREATE TABLE no.events_a PARTITION OF no.events FOR VALUES IN ('a');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('no.events');
RESET client_min_messages;
CREATE SCHEMA no_more
    CREATE TABLE events_b PARTITION OF no.events FOR VALUES IN ('b');
GRANT USAGE ON SCHEMA no_more TO no_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON no.events, no_more.events_b TO no_app;
RESET ROLE;
SELECT c.oid::regclass AS partition, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT string_agg(polname, ', ' ORDER BY polname) FROM pg_policy WHERE polrelid = c.oid) AS policies
  FROM pg_class c WHERE c.oid IN ('no.events_a'::regclass, 'no_more.events_b'::regclass) ORDER BY 1;
-- Queried directly, the new partition hides deleted rows from the application.
SET ROLE no_app;
INSERT INTO no.events VALUES (1, 'b'), (2, 'b');
DELETE FROM no_more.events_b WHERE id = 1;
SELECT id FROM no_more.events_b ORDER BY id;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM no_more.events_b ORDER BY id;

--------------------------------------------------------------------------
-- Migrations written for the old constraints
--------------------------------------------------------------------------

-- ALTER TABLE ... DROP CONSTRAINT by the old name drops the live-only index
-- of that name (NOTICE); dropping a converted index by its name works as
-- ever. Either way disable() will not bring it back. A constraint that
-- never existed is still PostgreSQL's error (42704).
SET ROLE no_owner;
ALTER TABLE no.users DROP CONSTRAINT users_email_handle_key;
DROP INDEX no.users_handle_idx;
ALTER TABLE no.users DROP CONSTRAINT no_such_constraint;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT jsonb_array_length(converted_uniques) AS remembered FROM softdelete.tables
 WHERE relid = 'no.users'::regclass;

--------------------------------------------------------------------------
-- disable() puts back what was added as it was added
--------------------------------------------------------------------------

SET ROLE no_owner;
-- Row 1 (deleted) and row 6 (live) share email u1: the full unique index
-- cannot come back (23505) until the deleted duplicate is gone.
SELECT * FROM softdelete.disable('no.users');
\echo SQLSTATE :SQLSTATE
SELECT softdelete.hard_delete('no.users', 1) AS removed;
SELECT action FROM softdelete.disable('no.users') WHERE action = 'disabled';
SELECT indexrelid::regclass AS index_name, indisunique, pg_get_expr(indpred, indrelid) AS predicate
  FROM pg_index WHERE indrelid = 'no.users'::regclass ORDER BY 1;
SELECT conname FROM pg_constraint WHERE conrelid = 'no.users'::regclass ORDER BY 1;
RESET ROLE;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'no.%' OR table_name LIKE 'no_more.%';
DROP SCHEMA no_more CASCADE;
DROP SCHEMA no CASCADE;
SELECT format('REVOKE CREATE ON DATABASE %I FROM no_owner', current_database()) \gexec
DROP OWNED BY no_owner, no_app;
DROP ROLE no_owner, no_app;
