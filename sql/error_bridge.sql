-- error_bridge: errors raised inside the module's C++ code (a thrown
-- softdelete::PgError, turned into ereport by entry_guard) and PostgreSQL
-- errors that pass through C++ frames (caught by pg_guard, rethrown as a
-- PgError, re-raised unchanged by entry_guard) reach the client like any other
-- PostgreSQL error: with their SQLSTATE, message, detail and hint, and the
-- latter also with their object names and CONTEXT. Afterwards the session is
-- healthy, a SAVEPOINT can be rolled back to, and PL/pgSQL can catch them by
-- condition name.
--
-- The SQLSTATE the client received is printed with \echo :SQLSTATE after
-- each failing statement (VERBOSITY verbose would also print the server's
-- source file and line, which change from build to build). CONTEXT lines
-- (line numbers inside enable()) are left out for the same reason, except
-- where PL/pgSQL reads them from errors that do not pass through enable().
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE eb_owner;
CREATE ROLE eb_app;
CREATE ROLE eb_reader IN ROLE softdelete_reader;
-- Owns an enabled table of its own, so it may opt in, but reads eb_s.users
-- without being a reader of it.
CREATE ROLE eb_nosy;
CREATE SCHEMA eb_s AUTHORIZATION eb_owner;
GRANT USAGE, CREATE ON SCHEMA eb_s TO eb_nosy;
GRANT USAGE ON SCHEMA eb_s TO eb_app, eb_reader;
SET search_path = eb_s, public;

SET ROLE eb_owner;
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
INSERT INTO users SELECT g, 'u' || g || '@x' FROM generate_series(1, 10) g;
CREATE TABLE no_pk (id int, email text);
CREATE VIEW users_view AS SELECT * FROM users;
CREATE SEQUENCE a_sequence;
CREATE TABLE parted (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE parted_2024 PARTITION OF parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('users');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO eb_app;
GRANT SELECT ON users TO eb_reader, eb_nosy;
DELETE FROM users WHERE id IN (9, 10);
SET ROLE eb_nosy;
CREATE TABLE own (id int PRIMARY KEY);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('own');
RESET client_min_messages;
RESET ROLE;

--------------------------------------------------------------------------
-- C++ refusals of softdelete.enable() (softdelete._check_target)
--------------------------------------------------------------------------

SET ROLE eb_owner;
-- A system catalog: 0A000 with a detail.
SELECT * FROM softdelete.enable('pg_class');
\echo SQLSTATE :SQLSTATE
-- The session is healthy.
SELECT count(*) AS live_users FROM users;
-- A table without a primary key: 42P16 with a detail and a hint.
SELECT * FROM softdelete.enable('no_pk');
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS live_users FROM users;
-- A view: 42809 with a detail and a hint.
SELECT * FROM softdelete.enable('users_view');
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS live_users FROM users;
-- A sequence: 42809 too.
SELECT * FROM softdelete.enable('a_sequence');
\echo SQLSTATE :SQLSTATE
-- A partition on its own: 0A000 with a detail and a hint.
SELECT * FROM softdelete.enable('parted_2024');
\echo SQLSTATE :SQLSTATE
-- Not the owner: 42501 with a detail.
SET ROLE eb_app;
SELECT * FROM softdelete.enable('users');
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS live_users FROM users;
RESET ROLE;
-- Nothing was enabled on the way.
SELECT count(*) AS enabled_tables FROM softdelete.tables
 WHERE relid IN ('eb_s.no_pk'::regclass, 'eb_s.users_view'::regclass, 'eb_s.a_sequence'::regclass,
                 'eb_s.parted'::regclass, 'eb_s.parted_2024'::regclass);

--------------------------------------------------------------------------
-- The include_deleted refusal at query time (C++ PgError through entry_guard)
--------------------------------------------------------------------------

SET ROLE eb_nosy;
SET softdelete.include_deleted = on;
-- At plan time (the planner support function folds the policy): 42501 with
-- a detail and a hint.
SELECT count(*) FROM users;
\echo SQLSTATE :SQLSTATE
-- The session is healthy: its own table reads, and after RESET so does
-- eb_s.users.
SELECT count(*) AS own_rows FROM own;
RESET softdelete.include_deleted;
SELECT count(*) AS nosy_sees FROM users;
RESET ROLE;

--------------------------------------------------------------------------
-- A PostgreSQL error while the event log is written
--------------------------------------------------------------------------

-- A trigger on the event log refuses every insert with its own SQLSTATE,
-- detail and hint. The module writes the log when the statement ends; the
-- error reaches the client intact, and the DELETE that caused it is rolled
-- back: no soft delete without its record.
CREATE FUNCTION eb_s.refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is closed'
        USING ERRCODE = 'SD001', DETAIL = 'eb_s.refuse_events refused the insert.',
              HINT = 'Drop the trigger eb_refuse on softdelete.events.';
END
$$;
CREATE TRIGGER eb_refuse BEFORE INSERT ON softdelete.events
    FOR EACH ROW EXECUTE FUNCTION eb_s.refuse_events();
SET ROLE eb_app;
DELETE FROM users WHERE id = 1;
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS live_users FROM users;
RESET ROLE;
DROP TRIGGER eb_refuse ON softdelete.events;
DROP FUNCTION eb_s.refuse_events();

--------------------------------------------------------------------------
-- Inside a transaction: roll back to a savepoint and carry on
--------------------------------------------------------------------------

SET ROLE eb_owner;
BEGIN;
DELETE FROM users WHERE id = 1;
SAVEPOINT before_enable;
SELECT * FROM softdelete.enable('users_view');
\echo SQLSTATE :SQLSTATE
ROLLBACK TO SAVEPOINT before_enable;
DELETE FROM users WHERE id = 2;
SAVEPOINT before_refusal;
SET ROLE eb_nosy;
SET LOCAL softdelete.include_deleted = on;
SELECT count(*) FROM users;
\echo SQLSTATE :SQLSTATE
ROLLBACK TO SAVEPOINT before_refusal;
-- The rollback also undid the SET ROLE and the setting.
SELECT current_user, current_setting('softdelete.include_deleted') AS include_deleted;
DELETE FROM users WHERE id = 3;
COMMIT;
SELECT count(*) AS live_users FROM users;
RESET ROLE;
SELECT id FROM users WHERE deleted_at IS NOT NULL ORDER BY id;

--------------------------------------------------------------------------
-- PL/pgSQL catches the errors by condition name, with all their fields
--------------------------------------------------------------------------

CREATE FUNCTION eb_s.caught(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text; detail text; hint text;
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION
    WHEN feature_not_supported OR invalid_table_definition OR wrong_object_type
         OR insufficient_privilege THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
        RETURN format('%s | %s | %s | %s', state, msg, nullif(detail, ''), nullif(hint, ''));
END
$$;
GRANT EXECUTE ON FUNCTION eb_s.caught(text) TO eb_app, eb_reader, eb_nosy;
SELECT eb_s.caught($$SELECT softdelete.enable('pg_class')$$);
SELECT eb_s.caught($$SELECT softdelete.enable('eb_s.no_pk')$$);
SELECT eb_s.caught($$SELECT softdelete.enable('eb_s.users_view')$$);
SET ROLE eb_nosy;
SET softdelete.include_deleted = on;
SELECT eb_s.caught($$SELECT count(*) FROM eb_s.users$$);
RESET softdelete.include_deleted;
SELECT eb_s.caught($$SELECT count(*) FROM eb_s.users$$);
RESET ROLE;

--------------------------------------------------------------------------
-- PostgreSQL's whole error crosses the C++ frames
--------------------------------------------------------------------------

-- The client gets the error PostgreSQL made, not a summary of it: the object
-- names, texts of any length, and the CONTEXT lines of the frames it was
-- raised in. The log is written when a statement the client (or a
-- procedure) issued ends, so a procedure catches it: capture_error() runs
-- a statement and keeps each field of the error it raised as PL/pgSQL reads
-- it (long texts by their start and length).
SELECT pg_backend_pid() AS backend_pid \gset
CREATE TABLE eb_s.captured (n int, field text, value text);
GRANT INSERT, SELECT, DELETE ON eb_s.captured TO eb_app;
CREATE PROCEDURE eb_s.capture_error(stmt text, times int DEFAULT 1)
LANGUAGE plpgsql AS $$
DECLARE
    e_state text; e_message text; e_detail text; e_hint text; e_schema text; e_table text;
    e_column text; e_datatype text; e_constraint text; e_context text;
BEGIN
    FOR i IN 1..times LOOP
        BEGIN
            EXECUTE stmt;
            INSERT INTO eb_s.captured VALUES (i, 'no error', NULL);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_message = MESSAGE_TEXT,
                e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT, e_schema = SCHEMA_NAME,
                e_table = TABLE_NAME, e_column = COLUMN_NAME, e_datatype = PG_DATATYPE_NAME,
                e_constraint = CONSTRAINT_NAME, e_context = PG_EXCEPTION_CONTEXT;
            INSERT INTO eb_s.captured
                SELECT i, f, CASE WHEN f IN ('message', 'detail', 'hint') AND length(v) > 100
                                  THEN left(v, 20) || '... (' || length(v) || ' characters)' ELSE v END
                  FROM (VALUES ('sqlstate', e_state), ('message', e_message), ('detail', e_detail),
                               ('hint', e_hint), ('schema', e_schema), ('table', e_table),
                               ('column', e_column), ('datatype', e_datatype),
                               ('constraint', e_constraint), ('context', e_context)) AS e(f, v);
        END;
    END LOOP;
END
$$;
GRANT EXECUTE ON PROCEDURE eb_s.capture_error(text, int) TO eb_app;

-- Every field a PL/pgSQL RAISE can set, with texts longer than any fixed
-- buffer, raised by a trigger under the module's event insert.
CREATE FUNCTION eb_s.refuse_events_at_length() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'SD002', MESSAGE = 'the event log is closed: ' || repeat('m', 1500),
        DETAIL = 'why: ' || repeat('d', 1200), HINT = 'what to do: ' || repeat('h', 700),
        SCHEMA = 'eb_s', TABLE = 'users', COLUMN = 'email', DATATYPE = 'text',
        CONSTRAINT = 'users_email_key';
END
$$;
CREATE TRIGGER eb_refuse BEFORE INSERT ON softdelete.events
    FOR EACH ROW EXECUTE FUNCTION eb_s.refuse_events_at_length();
SET ROLE eb_app;
CALL eb_s.capture_error($$DELETE FROM eb_s.users WHERE id = 4$$);
SELECT field, value FROM eb_s.captured;
DELETE FROM eb_s.captured;
RESET ROLE;
DROP TRIGGER eb_refuse ON softdelete.events;
DROP FUNCTION eb_s.refuse_events_at_length();

-- A unique violation in the event insert itself keeps its constraint,
-- table and schema. The first DELETE with this reason is logged, the second
-- one breaks the index and is rolled back.
CREATE UNIQUE INDEX eb_one_event_per_reason ON softdelete.events (table_name, reason)
    WHERE reason = 'eb: once';
SET ROLE eb_app;
SET softdelete.reason = 'eb: once';
DELETE FROM eb_s.users WHERE id = 4;
CALL eb_s.capture_error($$DELETE FROM eb_s.users WHERE id = 5$$);
SELECT field, value FROM eb_s.captured;
DELETE FROM eb_s.captured;

-- The backend keeps working: the same error a hundred times in one
-- procedure, then errors made in C++ and in PostgreSQL, and statements that
-- succeed between them, all in the backend that started this file.
CALL eb_s.capture_error($$DELETE FROM eb_s.users WHERE id = 5$$, 100);
SELECT count(*) AS constraint_kept FROM eb_s.captured
 WHERE field = 'constraint' AND value = 'eb_one_event_per_reason';
DELETE FROM eb_s.users WHERE id = 5;
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('eb_s.users_view');
\echo SQLSTATE :SQLSTATE
RESET softdelete.reason;
DELETE FROM eb_s.users WHERE id = 5;
SELECT count(*) AS live_users FROM eb_s.users;
RESET ROLE;
SELECT reason, keys FROM softdelete.events
 WHERE table_name = 'eb_s.users' AND (keys @> '[4]' OR keys @> '[5]') ORDER BY id;
SELECT pg_backend_pid() = :backend_pid AS same_backend;
DROP INDEX softdelete.eb_one_event_per_reason;

-- Clean up.
RESET search_path;
DELETE FROM softdelete.events WHERE table_name LIKE 'eb\_s.%';
DROP FUNCTION eb_s.caught(text);
DROP PROCEDURE eb_s.capture_error(text, int);
DROP TABLE eb_s.captured;
DROP VIEW eb_s.users_view;
DROP TABLE eb_s.users, eb_s.no_pk, eb_s.parted, eb_s.own;
DROP SEQUENCE eb_s.a_sequence;
DROP SCHEMA eb_s;
DROP OWNED BY eb_owner, eb_app, eb_reader, eb_nosy;
DROP ROLE eb_owner, eb_app, eb_reader, eb_nosy;
