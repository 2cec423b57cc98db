-- softdelete.enable() and softdelete.disable() on one table: what enable()
-- installs (columns, live-only unique indexes, policies, triggers, the
-- configuration row), that it is idempotent, that it never rewrites the
-- table, and that disable() puts everything back as it was.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
-- CONTEXT lines carry PL/pgSQL line numbers: keep them out of the output.
\set SHOW_CONTEXT never

CREATE ROLE enable_app NOLOGIN;

-- A table with every kind of unique index enable() must convert.
-- (The PK must stay a full unique index.)
CREATE TABLE users (
    id         bigint PRIMARY KEY,
    email      text NOT NULL UNIQUE,                 -- unique constraint from a column
    handle     text,
    code       integer,
    org        integer,
    slug       text,
    nick       text,
    account_no integer UNIQUE,                       -- referenced by a foreign key below
    note       text,
    CONSTRAINT users_handle_uq UNIQUE (handle)      -- named table unique constraint
);
CREATE UNIQUE INDEX users_code_idx ON users (code);                          -- plain unique index
CREATE UNIQUE INDEX users_org_slug_idx ON users (org, slug) WHERE org > 0;   -- partial, own predicate
CREATE UNIQUE INDEX users_lower_email_idx ON users (lower(email));           -- expression
CREATE UNIQUE INDEX users_nick_idx ON users (nick COLLATE "C" text_pattern_ops DESC)
    INCLUDE (note);                                                          -- INCLUDE, collation, opclass
CREATE INDEX users_note_idx ON users (note);                                 -- not unique: left alone
CREATE TABLE invoices (
    id         bigint PRIMARY KEY,
    account_no integer REFERENCES users (account_no)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO enable_app;

INSERT INTO users (id, email, handle, code, org, slug, nick, account_no) VALUES
    (1, 'ann@example.com', 'ann', 10, 1, 'a', 'Ann', 100),
    (2, 'bob@example.com', NULL, 20, 1, 'b', 'Bob', 200),
    (3, 'cid@example.com', NULL, 30, 0, 'a', 'Cid', NULL);
INSERT INTO invoices VALUES (1, 100);

-- What the table's indexes and constraints look like before enable(): kept
-- to compare with what disable() leaves.
CREATE TEMP TABLE before_enable AS
SELECT c.relname AS index_name, pg_get_indexdef(i.indexrelid) AS indexdef,
       con.conname, con.contype, pg_get_constraintdef(con.oid) AS condef
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
 WHERE i.indrelid = 'users'::regclass;
SELECT index_name, indexdef, conname, condef FROM before_enable ORDER BY index_name;

-- The file node before enable(): adding the columns must not rewrite the table.
SELECT pg_relation_filenode('users') AS filenode_before \gset

-- enable(): one row and one NOTICE per action. cascade => false because
-- cascading to the referencing table invoices is not what this file tests.
-- The WARNING says why users_account_no_key stays a full unique constraint.
SELECT * FROM softdelete.enable('users', cascade => false);

-- No table rewrite.
SELECT pg_relation_filenode('users') = :filenode_before AS same_filenode;

-- Every unique index except the PK is now live-only, with its name, columns,
-- expressions, collation, opclass, ordering, INCLUDE and own predicate kept.
-- users_account_no_key (referenced by invoices) and the PK are unchanged.
-- The index on deleted rows is named softdelete_<oid>_deleted_at.
SELECT regexp_replace(c.relname, '^softdelete_[0-9]+_', 'softdelete_<oid>_') AS index_name,
       regexp_replace(pg_get_indexdef(i.indexrelid), 'softdelete_[0-9]+_', 'softdelete_<oid>_') AS indexdef
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'users'::regclass
 ORDER BY 1;

-- Constraints: the PK and the FK-referenced unique constraint remain; the
-- other unique constraints became plain (partial) unique indexes, each with
-- a placeholder constraint trigger of its name (t), for ON CONFLICT ON
-- CONSTRAINT.
SELECT conname, contype, pg_get_constraintdef(oid) AS condef
  FROM pg_constraint WHERE conrelid = 'users'::regclass ORDER BY conname;

-- The tombstone columns: timestamptz and text, nullable, no default.
SELECT attname, format_type(atttypid, atttypmod) AS type, attnotnull, atthasdef
  FROM pg_attribute
 WHERE attrelid = 'users'::regclass AND attname IN ('deleted_at', 'deleted_by', 'delete_reason')
 ORDER BY attnum;

-- RLS enabled and forced; the restrictive visibility policy and the
-- permissive access policy (the table had no RLS before).
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'users'::regclass;
SELECT polname, polpermissive, polcmd, polroles::regrole[] AS roles,
       pg_get_expr(polqual, polrelid) AS using_expr,
       pg_get_expr(polwithcheck, polrelid) AS check_expr
  FROM pg_policy WHERE polrelid = 'users'::regclass ORDER BY polname;

-- The triggers, with the two placeholders that never fire.
SELECT tgname, pg_get_triggerdef(oid) AS triggerdef
  FROM pg_trigger WHERE tgrelid = 'users'::regclass AND NOT tgisinternal ORDER BY tgname;

-- The configuration row.
SELECT relid, column_name, retention, archive, archive_retention, cascade, pii_columns,
       undo_window, log_events, key_columns, rls_was_enabled, rls_was_forced,
       jsonb_array_length(converted_uniques) AS converted
  FROM softdelete.tables WHERE relid = 'users'::regclass;

-- Idempotent: the same call again changes nothing and says so.
SELECT * FROM softdelete.enable('users', cascade => false);

-- Other options: the configuration row is updated, nothing else changes.
SELECT * FROM softdelete.enable('users', cascade => false, retention => '30 days',
                                pii_columns => '{email,nick}', undo_window => '5 minutes');
SELECT relid, retention, cascade, pii_columns, undo_window
  FROM softdelete.tables WHERE relid = 'users'::regclass;
-- ... and the same options again: unchanged.
SELECT * FROM softdelete.enable('users', cascade => false, retention => '30 days',
                                pii_columns => '{email,nick}', undo_window => '5 minutes');

-- Still no rewrite after all these calls.
SELECT pg_relation_filenode('users') = :filenode_before AS same_filenode;

-- The converted indexes work: as an application role a DELETE soft-deletes,
-- and the email, code, lower(email) and nick of the deleted row are free again.
SET ROLE enable_app;
DELETE FROM users WHERE id = 2;
SELECT id, email FROM users ORDER BY id;
INSERT INTO users (id, email, code, org, slug, nick) VALUES (4, 'bob@example.com', 20, 1, 'b', 'Bob');
SELECT id, email FROM users ORDER BY id;
-- A live duplicate is still refused.
INSERT INTO users (id, email) VALUES (5, 'ann@example.com');
INSERT INTO users (id, email) VALUES (5, 'ANN@example.com');
RESET ROLE;
-- The full PK still counts deleted rows.
INSERT INTO users (id, email) VALUES (2, 'other@example.com');

-------------------------------------------------------------------------------
-- disable()
-------------------------------------------------------------------------------

-- Refused while a deleted row and a live row share an email (rows 2 and 4),
-- with SQLSTATE 23505, a detail and a hint; nothing changes.
SELECT * FROM softdelete.disable('users');
\echo SQLSTATE :SQLSTATE
SELECT polname FROM pg_policy WHERE polrelid = 'users'::regclass ORDER BY polname;
SELECT count(*) AS config_rows FROM softdelete.tables WHERE relid = 'users'::regclass;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'users'::regclass;

-- Remove the live duplicate; now disable() works.
SELECT softdelete.hard_delete('users', 4);
SELECT * FROM softdelete.disable('users');

-- The unique indexes and constraints are exactly as before enable(), by
-- name and definition (both differences are empty).
SELECT c.relname AS index_name, pg_get_indexdef(i.indexrelid) AS indexdef,
       con.conname, con.contype, pg_get_constraintdef(con.oid) AS condef
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
 WHERE i.indrelid = 'users'::regclass
EXCEPT
SELECT * FROM before_enable;
SELECT * FROM before_enable
EXCEPT
SELECT c.relname AS index_name, pg_get_indexdef(i.indexrelid) AS indexdef,
       con.conname, con.contype, pg_get_constraintdef(con.oid) AS condef
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indexrelid
  LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.conrelid = i.indrelid
 WHERE i.indrelid = 'users'::regclass;

-- No policy, no trigger, RLS off again, no configuration row.
SELECT count(*) AS policies FROM pg_policy WHERE polrelid = 'users'::regclass;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'users'::regclass AND NOT tgisinternal;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'users'::regclass;
SELECT count(*) AS config_rows FROM softdelete.tables WHERE relid = 'users'::regclass;

-- The columns and their data are kept: row 2 is still marked deleted, and
-- every role sees it now (no policy).
SET ROLE enable_app;
SELECT id, email, deleted_at IS NOT NULL AS deleted, deleted_by FROM users ORDER BY id;
-- A DELETE is a real DELETE again.
DELETE FROM users WHERE id = 3;
SELECT id FROM users ORDER BY id;
RESET ROLE;

-- disable() on a table that is not enabled: 55000.
SELECT * FROM softdelete.disable('users');
\echo SQLSTATE :SQLSTATE

-- Re-enable after disable: the existing deleted_at column is adopted and the
-- unique indexes are converted again; row 2 stays deleted.
SELECT * FROM softdelete.enable('users', cascade => false);
SET ROLE enable_app;
SELECT id, email FROM users ORDER BY id;
RESET ROLE;
SELECT * FROM softdelete.disable('users');

-------------------------------------------------------------------------------
-- Adopting an existing deleted_at column (migrating from an ORM)
-------------------------------------------------------------------------------

CREATE TABLE legacy_users (
    id         integer PRIMARY KEY,
    email      text UNIQUE,
    deleted_at timestamp                      -- without time zone, as some ORMs make it
);
INSERT INTO legacy_users VALUES
    (1, 'live@example.com', NULL),
    (2, 'gone@example.com', '2020-01-02 03:04:05');
GRANT SELECT, DELETE ON legacy_users TO enable_app;
SELECT pg_relation_filenode('legacy_users') AS legacy_filenode \gset

-- The column is adopted (not added), keeps its type, and is not rewritten.
SELECT * FROM softdelete.enable('legacy_users');
SELECT format_type(atttypid, atttypmod) AS deleted_at_type
  FROM pg_attribute WHERE attrelid = 'legacy_users'::regclass AND attname = 'deleted_at';
SELECT pg_relation_filenode('legacy_users') = :legacy_filenode AS same_filenode;

-- The row already marked stays deleted: invisible to the application role,
-- and its stamp did not move.
SET ROLE enable_app;
SELECT id, email FROM legacy_users ORDER BY id;
DELETE FROM legacy_users WHERE id = 2;
RESET ROLE;
SELECT id, deleted_at FROM legacy_users ORDER BY id;

SELECT * FROM softdelete.disable('legacy_users');
SELECT format_type(atttypid, atttypmod) AS deleted_at_type
  FROM pg_attribute WHERE attrelid = 'legacy_users'::regclass AND attname = 'deleted_at';

-------------------------------------------------------------------------------
-- disable(): harder unique constraints and collisions
-------------------------------------------------------------------------------

-- Reports how a disable() call ended, independent of the message wording:
-- 'disabled', or the SQLSTATE and whether a hint says what to do.
CREATE FUNCTION pg_temp.try_disable(t regclass) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    state text;
    hint text;
BEGIN
    PERFORM softdelete.disable(t);
    RETURN 'disabled';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, hint = PG_EXCEPTION_HINT;
    RETURN format('refused: SQLSTATE %s, hint given: %s', state, coalesce(hint, '') <> '');
END
$$;

-- A unique constraint with INCLUDE is converted, and disable() brings it
-- back as the same constraint.
CREATE TABLE members (
    id    integer PRIMARY KEY,
    email text,
    name  text,
    CONSTRAINT members_email_key UNIQUE (email) INCLUDE (name)
);
INSERT INTO members VALUES (1, 'm1@example.com', 'M1');
SET client_min_messages = warning;
SELECT count(*) AS actions FROM softdelete.enable('members');
RESET client_min_messages;
SELECT pg_get_indexdef('members_email_key'::regclass) AS indexdef;
SELECT pg_temp.try_disable('members');
SELECT conname, pg_get_constraintdef(oid) AS condef
  FROM pg_constraint WHERE conrelid = 'members'::regclass ORDER BY conname;

-- A two-column unique constraint over rows with NULLs: (1, NULL) twice is
-- not a duplicate (NULLs are distinct), so disable() must not refuse.
CREATE TABLE slots (
    id   integer PRIMARY KEY,
    room integer,
    day  integer,
    CONSTRAINT slots_room_day_key UNIQUE (room, day)
);
INSERT INTO slots VALUES (1, 1, NULL), (2, 1, NULL);
SET client_min_messages = warning;
SELECT count(*) AS actions FROM softdelete.enable('slots');
RESET client_min_messages;
DELETE FROM slots WHERE id = 1;
SELECT pg_temp.try_disable('slots');
SELECT conname, pg_get_constraintdef(oid) AS condef
  FROM pg_constraint WHERE conrelid = 'slots'::regclass ORDER BY conname;

-- A collision on a unique INDEX (not a constraint), lower(name): refused
-- with 23505 and a hint like a constraint collision; nothing changes.
CREATE TABLE tags (id integer PRIMARY KEY, name text);
CREATE UNIQUE INDEX tags_lower_name_idx ON tags (lower(name));
INSERT INTO tags VALUES (1, 'Red');
SET client_min_messages = warning;
SELECT count(*) AS actions FROM softdelete.enable('tags');
RESET client_min_messages;
DELETE FROM tags WHERE id = 1;
INSERT INTO tags VALUES (2, 'red');
SELECT pg_temp.try_disable('tags');
SELECT polname FROM pg_policy WHERE polrelid = 'tags'::regclass ORDER BY polname;
SELECT pg_get_indexdef('tags_lower_name_idx'::regclass) AS indexdef;
-- After removing the deleted duplicate, disable() works.
SELECT softdelete.hard_delete('tags', 1);
SELECT pg_temp.try_disable('tags');

-- The owner (not a superuser) disables: FORCE row security hides the
-- deleted rows from the owner, yet the collision check must still see the
-- deleted duplicate and refuse with 23505 and a hint.
CREATE ROLE enable_owner NOLOGIN;
GRANT CREATE ON SCHEMA public TO enable_owner;   -- CREATE INDEX needs it
CREATE TABLE owned (id integer PRIMARY KEY, email text UNIQUE);
ALTER TABLE owned OWNER TO enable_owner;
SET ROLE enable_owner;
INSERT INTO owned VALUES (1, 'o@example.com');
SET client_min_messages = warning;
SELECT count(*) AS actions FROM softdelete.enable('owned');
RESET client_min_messages;
DELETE FROM owned WHERE id = 1;
INSERT INTO owned VALUES (2, 'o@example.com');
SELECT pg_temp.try_disable('owned');
RESET ROLE;
SELECT polname FROM pg_policy WHERE polrelid = 'owned'::regclass ORDER BY polname;

-------------------------------------------------------------------------------
-- Clean up
-------------------------------------------------------------------------------
-- (owned is still enabled; DROP TABLE does not remove a configuration row)
DELETE FROM softdelete.events
 WHERE relid IN ('users'::regclass, 'legacy_users'::regclass, 'members'::regclass,
                 'slots'::regclass, 'tags'::regclass, 'owned'::regclass);
DROP TABLE invoices, users, legacy_users, members, slots, tags, owned;
DROP OWNED BY enable_app;
DROP ROLE enable_app;
DROP OWNED BY enable_owner;
DROP ROLE enable_owner;
