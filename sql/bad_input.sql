-- Bad input: every refused call gets a clear error with the
-- right SQLSTATE and leaves nothing behind. After each failing statement,
-- \echo prints the SQLSTATE psql received; CONTEXT lines (which carry
-- PL/pgSQL line numbers) are hidden to keep the output stable.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE bad_input_other NOLOGIN;
CREATE ROLE bad_input_app NOLOGIN;
CREATE ROLE bad_input_admin NOLOGIN IN ROLE softdelete_admin;

-- What enable() would change on a relation: its columns, policies, triggers,
-- RLS flags and its row in softdelete.tables. Shown after each failure.
CREATE FUNCTION pg_temp.state(rel regclass) RETURNS TABLE (columns text, policies bigint, triggers bigint,
                                                          rls boolean, configured boolean)
    LANGUAGE sql AS $$
    SELECT (SELECT string_agg(attname, ', ' ORDER BY attnum) FROM pg_attribute
             WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped),
           (SELECT count(*) FROM pg_policy WHERE polrelid = rel),
           (SELECT count(*) FROM pg_trigger WHERE tgrelid = rel AND NOT tgisinternal),
           (SELECT relrowsecurity OR relforcerowsecurity FROM pg_class WHERE oid = rel),
           EXISTS (SELECT FROM softdelete.tables WHERE relid = rel)
$$;

-- Runs stmt and says how it ended, independent of the exact wording: its
-- SQLSTATE, and whether the message and detail mention each of the words.
CREATE FUNCTION pg_temp.outcome(stmt text, words text[] DEFAULT '{}') RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    detail text;
    word text;
    result text;
BEGIN
    EXECUTE stmt;
    RETURN 'succeeded';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    result := 'SQLSTATE ' || state;
    FOREACH word IN ARRAY words LOOP
        result := result || format('; mentions %s: %s', word, strpos(msg || ' ' || detail, word) > 0);
    END LOOP;
    RETURN result;
END
$$;

-------------------------------------------------------------------------------
-- enable(): what it cannot manage
-------------------------------------------------------------------------------

-- A missing table: 42P01 (from the regclass argument).
SELECT * FROM softdelete.enable('no_such_table');
\echo SQLSTATE :SQLSTATE

-- A view: 42809, with a hint to enable the table it reads.
CREATE TABLE bad_base (id integer PRIMARY KEY, email text UNIQUE);
CREATE VIEW bad_view AS SELECT * FROM bad_base;
SELECT * FROM softdelete.enable('bad_view');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_view');

-- A materialized view: 42809.
CREATE MATERIALIZED VIEW bad_matview AS SELECT * FROM bad_base;
SELECT * FROM softdelete.enable('bad_matview');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_matview');

-- A foreign table: 42809. (postgres_fdw ships with the server's contrib; the
-- foreign table is never read, so no connection is made.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
RESET client_min_messages;
CREATE SERVER bad_server FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'nowhere');
CREATE FOREIGN TABLE bad_foreign (id integer, email text) SERVER bad_server;
SELECT * FROM softdelete.enable('bad_foreign');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_foreign');

-- Other kinds of relation: a sequence and an index, 42809.
CREATE SEQUENCE bad_seq;
SELECT * FROM softdelete.enable('bad_seq');
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base_email_key');
\echo SQLSTATE :SQLSTATE

-- A system catalog: 0A000.
SELECT * FROM softdelete.enable('pg_class');
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS policies FROM pg_policy WHERE polrelid = 'pg_class'::regclass;
SELECT count(*) AS deleted_at_columns FROM pg_attribute
 WHERE attrelid = 'pg_class'::regclass AND attname = 'deleted_at';
-- Nor the extension's own tables (0A000, like a catalog). Run in a
-- transaction that is rolled back, in case it is not refused.
BEGIN;
SELECT pg_temp.outcome($$SELECT softdelete.enable('softdelete.events')$$);
SELECT pg_temp.outcome($$SELECT softdelete.enable('softdelete.tables')$$);
ROLLBACK;

-- A table without a primary key: 42P16, with a hint.
CREATE TABLE bad_nopk (email text UNIQUE, name text);
SELECT * FROM softdelete.enable('bad_nopk');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_nopk');
-- A unique constraint is not a primary key.
ALTER TABLE bad_nopk ALTER COLUMN email SET NOT NULL;
SELECT * FROM softdelete.enable('bad_nopk');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_nopk');
SELECT pg_get_indexdef('bad_nopk_email_key'::regclass) AS indexdef;

-- A deleted_at column of another type: 42804; nothing is added or converted.
CREATE TABLE bad_type (id integer PRIMARY KEY, email text UNIQUE, deleted_at integer);
SELECT * FROM softdelete.enable('bad_type');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_type');
SELECT pg_get_indexdef('bad_type_email_key'::regclass) AS indexdef;
-- The same with a custom column_name.
SELECT * FROM softdelete.enable('bad_type', column_name => 'email');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_type');
-- deleted_by of another type: 42804, and deleted_at (added before the check)
-- is not left behind.
CREATE TABLE bad_by (id integer PRIMARY KEY, deleted_by integer);
SELECT * FROM softdelete.enable('bad_by');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_by');
-- A tombstone column PostgreSQL computes: 42611, nothing added. A soft
-- delete would write over the generated value, an identity delete_op could
-- never be cleared by a restore.
CREATE TABLE bad_computed (id integer PRIMARY KEY, gone boolean,
                           deleted_at timestamptz GENERATED ALWAYS AS (CASE WHEN gone THEN timestamptz '2020-01-01' END) STORED);
SELECT * FROM softdelete.enable('bad_computed');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_computed');
ALTER TABLE bad_computed ALTER COLUMN deleted_at DROP EXPRESSION,
    ADD COLUMN delete_op bigint GENERATED BY DEFAULT AS IDENTITY;
SELECT * FROM softdelete.enable('bad_computed');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_computed');
-- Without them, the same table is enabled.
ALTER TABLE bad_computed ALTER COLUMN delete_op DROP IDENTITY;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('bad_computed');
SELECT * FROM softdelete.disable('bad_computed');

-- A tombstone column adopted as it is must hold what a soft delete writes
-- and take the NULL a restore writes back: NOT NULL, a default (every new
-- row born deleted), a primary key column, a length or a precision shorter
-- than what is written (an actor longer than varchar(3) was stored, and a
-- dump of the table did not load back) are refused, by the dry run too,
-- with 42611 and nothing changed. The drift guard refuses each of them
-- once a table is enabled.
CREATE TABLE bad_adopted (id integer PRIMARY KEY, deleted_at timestamptz NOT NULL DEFAULT now());
SELECT * FROM softdelete.enable('bad_adopted', dry_run => true);
\echo SQLSTATE :SQLSTATE
ALTER TABLE bad_adopted ALTER COLUMN deleted_at DROP NOT NULL;
SELECT * FROM softdelete.enable('bad_adopted');
\echo SQLSTATE :SQLSTATE
ALTER TABLE bad_adopted ALTER COLUMN deleted_at DROP DEFAULT,
    ADD COLUMN deleted_by varchar(3);
SELECT * FROM softdelete.enable('bad_adopted');
\echo SQLSTATE :SQLSTATE
ALTER TABLE bad_adopted ALTER COLUMN deleted_by TYPE varchar,
    ADD COLUMN delete_reason char(5);
SELECT * FROM softdelete.enable('bad_adopted');
\echo SQLSTATE :SQLSTATE
ALTER TABLE bad_adopted DROP COLUMN delete_reason, ALTER COLUMN deleted_at TYPE timestamptz(0);
SELECT * FROM softdelete.enable('bad_adopted');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_adopted');
CREATE TABLE bad_key_stamp (deleted_at timestamptz PRIMARY KEY, v text);
SELECT * FROM softdelete.enable('bad_key_stamp', dry_run => true);
\echo SQLSTATE :SQLSTATE
-- A partition's NOT NULL and default are its own: refused in an existing
-- partition by enable() (its dry run too), and in a partition made or
-- attached later, whose statement fails (these came in unchecked).
CREATE TABLE bad_parted_cols (id int, k int, deleted_at timestamptz, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
CREATE TABLE bad_parted_cols_1 PARTITION OF bad_parted_cols (deleted_at DEFAULT now()) FOR VALUES IN (1);
SELECT * FROM softdelete.enable('bad_parted_cols', dry_run => true);
\echo SQLSTATE :SQLSTATE
ALTER TABLE bad_parted_cols_1 ALTER COLUMN deleted_at DROP DEFAULT;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('bad_parted_cols');
RESET client_min_messages;
CREATE TABLE bad_parted_cols_2 PARTITION OF bad_parted_cols (deleted_at NOT NULL) FOR VALUES IN (2);
\echo SQLSTATE :SQLSTATE
CREATE TABLE bad_parted_cols_3 (id int, k int, deleted_at timestamptz DEFAULT now(), deleted_by text,
                                 delete_reason text, delete_op bigint, PRIMARY KEY (id, k));
ALTER TABLE bad_parted_cols ATTACH PARTITION bad_parted_cols_3 FOR VALUES IN (3);
\echo SQLSTATE :SQLSTATE
SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'bad_parted_cols'::regclass ORDER BY 1;
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('bad_parted_cols');
RESET client_min_messages;
DROP TABLE bad_parted_cols, bad_parted_cols_3;
-- timestamp(6) (Rails' datetime) holds what an unlimited one does: adopted.
ALTER TABLE bad_adopted ALTER COLUMN deleted_at TYPE timestamp(6);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('bad_adopted');
SELECT * FROM softdelete.disable('bad_adopted');
DROP TABLE bad_adopted, bad_key_stamp;

-- An empty column_name: 22023.
SELECT * FROM softdelete.enable('bad_base', column_name => '');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_base');

-- An unknown PII column: 42703, naming it.
SELECT * FROM softdelete.enable('bad_base', pii_columns => '{email,no_such_column}');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_base');
-- A system column is not a PII column either.
SELECT * FROM softdelete.enable('bad_base', pii_columns => '{ctid}');
\echo SQLSTATE :SQLSTATE

-- Negative intervals: 22023.
SELECT * FROM softdelete.enable('bad_base', retention => '-1 day');
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base', undo_window => '-5 minutes');
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base', archive => true, archive_retention => '-1 year');
\echo SQLSTATE :SQLSTATE
-- Intervals too long for now() minus them to be a timestamp, which every
-- purge would then fail on: 22015, real call or dry run.
SELECT * FROM softdelete.enable('bad_base', retention => '178000000 years');
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base', retention => '4001 years', dry_run => true);
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base', undo_window => '100000 years');
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base', archive => true, archive_retention => '1000000000 days');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_base');
-- A NULL among the PII columns: 22004, wherever it is.
SELECT * FROM softdelete.enable('bad_base', pii_columns => '{NULL}');
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base', pii_columns => '{NULL,no_such_column}', dry_run => true);
\echo SQLSTATE :SQLSTATE
-- column_name may not be softdelete's other columns or a system column's
-- name: 42701, and a dry run refuses what the real call refuses.
SELECT * FROM softdelete.enable('bad_base', column_name => 'deleted_by');
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base', column_name => 'delete_op', dry_run => true);
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base', column_name => 'ctid');
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base', column_name => 'xmin', dry_run => true);
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('bad_base', column_name => 'tableoid', dry_run => true);
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_base');

-- A caller who is not the owner: 42501, even with every privilege on the table.
GRANT ALL ON bad_base TO bad_input_other;
SET ROLE bad_input_other;
SELECT * FROM softdelete.enable('bad_base');
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT * FROM pg_temp.state('bad_base');

-- A partition on its own: 0A000, with a hint to enable the partitioned table.
CREATE TABLE bad_parted (id integer, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE bad_parted_eu PARTITION OF bad_parted FOR VALUES IN ('eu');
SELECT * FROM softdelete.enable('bad_parted_eu');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_parted_eu');
SELECT * FROM pg_temp.state('bad_parted');

-- disable() of a table that is not enabled: 55000.
SELECT * FROM softdelete.disable('bad_base');
\echo SQLSTATE :SQLSTATE

-- Nothing above left a configuration row.
SELECT relid FROM softdelete.tables WHERE relid::text LIKE 'bad%';

-- Once enabled, another column_name is refused (55000, hint: disable first).
SET client_min_messages = warning;
SELECT count(*) AS actions FROM softdelete.enable('bad_base');
RESET client_min_messages;
SELECT * FROM softdelete.enable('bad_base', column_name => 'removed_at');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.state('bad_base');
-- Nor may another role disable it: 42501.
SET ROLE bad_input_other;
SELECT * FROM softdelete.disable('bad_base');
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT * FROM pg_temp.state('bad_base');

-------------------------------------------------------------------------------
-- restore() and hard_delete()
-------------------------------------------------------------------------------

CREATE TABLE bad_users (id integer PRIMARY KEY, email text UNIQUE);
CREATE TABLE bad_members (org integer, id integer, email text, PRIMARY KEY (org, id));
INSERT INTO bad_users VALUES (1, 'a@example.com'), (2, 'b@example.com'), (3, 'c@example.com');
INSERT INTO bad_members VALUES (1, 7, 'm@example.com');
GRANT SELECT, INSERT, UPDATE, DELETE ON bad_users TO bad_input_app, bad_input_admin;
SET client_min_messages = warning;
SELECT count(*) AS actions FROM softdelete.enable('bad_users');
SELECT count(*) AS actions FROM softdelete.enable('bad_members');
RESET client_min_messages;
DELETE FROM bad_users WHERE id IN (2, 3);
DELETE FROM bad_members;

-- Restore of a live row: 55000.
SELECT softdelete.restore('bad_users', 1);
\echo SQLSTATE :SQLSTATE
-- Restore of a key that does not exist: P0002.
SELECT softdelete.restore('bad_users', 42);
\echo SQLSTATE :SQLSTATE
-- Restore on a table that is not enabled: 55000, with a hint.
SELECT softdelete.restore('bad_nopk', 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('bad_type', 1);
\echo SQLSTATE :SQLSTATE
-- A composite key given as a scalar: 22023, with an example in the hint.
SELECT softdelete.restore('bad_members', 7);
\echo SQLSTATE :SQLSTATE
-- A jsonb object that does not name exactly the key's columns: 22023.
SELECT softdelete.restore('bad_members', '{"id": 7}'::jsonb);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.restore('bad_members', '{"org": 1, "id": 7, "email": "m@example.com"}'::jsonb);
\echo SQLSTATE :SQLSTATE
-- A key value of the wrong type: 22P02.
SELECT softdelete.restore('bad_users', 'two'::text);
\echo SQLSTATE :SQLSTATE
-- Restore that would break a live unique key: 23505, naming the constraint
-- and the key.
INSERT INTO bad_users VALUES (4, 'b@example.com');
SELECT softdelete.restore('bad_users', 2);
\echo SQLSTATE :SQLSTATE
-- The same for an admin who is not a superuser (row security applies to
-- them, and PostgreSQL then leaves the key out of its own message).
SET ROLE bad_input_admin;
SELECT pg_temp.outcome($$SELECT softdelete.restore('bad_users', 2)$$,
                       '{bad_users_email_key,b@example.com}');
RESET ROLE;
-- Restore by a role that is not an admin: 42501.
SET ROLE bad_input_app;
SELECT softdelete.restore('bad_users', 3);
\echo SQLSTATE :SQLSTATE
RESET ROLE;
-- None of these changed a row: 2 and 3 are still deleted.
SELECT id, email, deleted_at IS NOT NULL AS deleted FROM bad_users ORDER BY id;
SET softdelete.include_deleted = on;
SELECT org, id, deleted_at IS NOT NULL AS deleted FROM bad_members;
RESET softdelete.include_deleted;

-- hard_delete(): a missing key (P0002), a table that is not enabled (55000),
-- a composite key as a scalar (22023), a role that is not an admin (42501).
SELECT softdelete.hard_delete('bad_users', 42);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.hard_delete('bad_nopk', 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.hard_delete('bad_members', 7);
\echo SQLSTATE :SQLSTATE
SET ROLE bad_input_app;
SELECT softdelete.hard_delete('bad_users', 3);
\echo SQLSTATE :SQLSTATE
-- Nor can a plain DELETE be turned into a hard delete: the setting itself
-- is refused (42501).
BEGIN;
SET LOCAL softdelete.hard_delete = on;
\echo SQLSTATE :SQLSTATE
ROLLBACK;
RESET ROLE;
-- Every row is still there.
SELECT id, email, deleted_at IS NOT NULL AS deleted FROM bad_users ORDER BY id;

-------------------------------------------------------------------------------
-- Clean up
-------------------------------------------------------------------------------
SET client_min_messages = warning;
SELECT count(*) AS actions FROM softdelete.disable('bad_base');
RESET client_min_messages;
DELETE FROM softdelete.events WHERE relid IN ('bad_users'::regclass, 'bad_members'::regclass);
DROP TABLE bad_users, bad_members, bad_parted, bad_by, bad_computed, bad_type, bad_nopk;
DROP FOREIGN TABLE bad_foreign;
DROP MATERIALIZED VIEW bad_matview;
DROP VIEW bad_view;
DROP TABLE bad_base;
DROP SEQUENCE bad_seq;
DROP SERVER bad_server;
DROP EXTENSION postgres_fdw;
DROP OWNED BY bad_input_other;
DROP ROLE bad_input_other;
DROP OWNED BY bad_input_app;
DROP ROLE bad_input_app;
DROP OWNED BY bad_input_admin;
DROP ROLE bad_input_admin;
