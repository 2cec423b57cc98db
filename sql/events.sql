-- events: softdelete.events gets exactly one row per operation (never one per
-- row): delete, restore, hard_delete, truncate, with the actor, the reason,
-- the row count and the keys of the rows; nothing for ordinary updates, for
-- statements that touch no row, or for soft deletes and restores of tables
-- enabled with log_events => false.
-- The log cannot be written by the application, nor read unless it is a reader.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE events_owner;
CREATE ROLE events_app;
CREATE ROLE events_reader IN ROLE softdelete_reader;
CREATE SCHEMA events_s AUTHORIZATION events_owner;
GRANT USAGE ON SCHEMA events_s TO events_app, events_reader;
SET search_path = events_s, public;

-- The events written since a mark, keys sorted (a statement may list its
-- rows in any order). Run by the superuser: only readers may read the log.
CREATE FUNCTION events_s.since(mark bigint)
RETURNS TABLE (action text, table_name text, actor text, reason text, row_count bigint, keys jsonb)
LANGUAGE sql AS $$
    SELECT e.action, e.table_name, e.actor, e.reason, e.row_count,
           (SELECT jsonb_agg(k ORDER BY k) FROM jsonb_array_elements(e.keys) k)
      FROM softdelete.events e
     WHERE e.id > mark
     ORDER BY e.id
$$;

SET ROLE events_owner;
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
INSERT INTO users SELECT g, 'u' || g || '@x', 'user ' || g FROM generate_series(1, 20) g;
CREATE TABLE members (org int, id int, name text, PRIMARY KEY (org, id));
INSERT INTO members VALUES (1, 7, 'ann'), (1, 8, 'bob'), (2, 7, 'cid');
CREATE TABLE quiet (id int PRIMARY KEY, name text);
INSERT INTO quiet SELECT g, 'q' || g FROM generate_series(1, 5) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('users');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('members');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('quiet', log_events => false);
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, members, quiet TO events_app;
GRANT SELECT ON users, members, quiet TO events_reader;
RESET ROLE;

--------------------------------------------------------------------------
-- Soft deletes
--------------------------------------------------------------------------

-- A 3-row DELETE: one 'delete' event, row_count 3, the three keys, the
-- role as actor, no reason.
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_app;
DELETE FROM users WHERE id IN (1, 2, 3);
RESET ROLE;
SELECT * FROM since(:mark);

-- softdelete.actor and softdelete.reason name who and why, in the event and
-- in the rows.
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_app;
BEGIN;
SET LOCAL softdelete.actor = 'alice@example.com';
SET LOCAL softdelete.reason = 'GDPR request 17';
DELETE FROM users WHERE id IN (4, 5);
COMMIT;
RESET ROLE;
SELECT * FROM since(:mark);
SELECT id, deleted_by, delete_reason FROM users WHERE id IN (4, 5) ORDER BY id;

-- The UPDATE an ORM sends to soft-delete is logged as a 'delete' too.
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_app;
UPDATE users SET deleted_at = now() WHERE id = 6;
RESET ROLE;
SELECT * FROM since(:mark);

-- Two statements in one transaction: two events.
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_app;
BEGIN;
DELETE FROM users WHERE id = 7;
DELETE FROM users WHERE id = 8;
COMMIT;
RESET ROLE;
SELECT * FROM since(:mark);

--------------------------------------------------------------------------
-- What is not an operation: no event
--------------------------------------------------------------------------

SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_app;
-- an ordinary UPDATE
UPDATE users SET name = 'renamed' WHERE id IN (10, 11);
-- an INSERT
INSERT INTO users VALUES (21, 'u21@x', 'user 21');
-- a DELETE that matches no row
DELETE FROM users WHERE id = 999;
-- a DELETE of a row that is already deleted (it matches no live row)
DELETE FROM users WHERE id = 1;
RESET ROLE;
SELECT count(*) AS events_written FROM since(:mark);

--------------------------------------------------------------------------
-- Restores and hard deletes
--------------------------------------------------------------------------

-- softdelete.restore(): one 'restore' event, the owner as actor.
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_owner;
SELECT softdelete.restore('users', 1) AS restored;
RESET ROLE;
SELECT * FROM since(:mark);

-- A restore of two rows by UPDATE: one event with both keys.
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_owner;
UPDATE users SET deleted_at = NULL WHERE id IN (2, 3);
RESET ROLE;
SELECT * FROM since(:mark);

-- softdelete.hard_delete(): one 'hard_delete' event.
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_owner;
SELECT softdelete.hard_delete('users', 20) AS removed;
RESET ROLE;
SELECT * FROM since(:mark);

-- SET LOCAL softdelete.hard_delete and a 3-row DELETE (live and deleted
-- rows): one 'hard_delete' event with the three keys and the reason.
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_owner;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
SET LOCAL softdelete.reason = 'cleanup';
DELETE FROM users WHERE id IN (4, 5, 19);
COMMIT;
RESET ROLE;
SELECT * FROM since(:mark);

-- A refused operation writes nothing.
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_app;
SELECT softdelete.restore('users', 6);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.hard_delete('users', 18);
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT count(*) AS events_written FROM since(:mark);

--------------------------------------------------------------------------
-- Composite keys: an array of objects
--------------------------------------------------------------------------

SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_app;
DELETE FROM members WHERE org = 1;
RESET ROLE;
SET ROLE events_owner;
SELECT softdelete.restore('members', '{"org": 1, "id": 8}'::jsonb) AS restored;
SELECT softdelete.hard_delete('members', '{"org": 2, "id": 7}'::jsonb) AS removed;
RESET ROLE;
SELECT * FROM since(:mark);

--------------------------------------------------------------------------
-- TRUNCATE
--------------------------------------------------------------------------

-- Without softdelete.hard_delete the owner's TRUNCATE is refused (55000):
-- no event. With it: one 'truncate' event, no count, no keys.
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_owner;
TRUNCATE members;
\echo SQLSTATE :SQLSTATE
BEGIN;
SET LOCAL softdelete.hard_delete = on;
TRUNCATE members;
COMMIT;
RESET ROLE;
SELECT * FROM since(:mark);
SELECT count(*) AS members_left FROM members;

--------------------------------------------------------------------------
-- log_events => false: soft deletes and restores of that table are not
-- logged; rows removed for good (hard_delete, TRUNCATE) always are.
--------------------------------------------------------------------------

SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_app;
DELETE FROM quiet WHERE id IN (1, 2);
RESET ROLE;
SET ROLE events_owner;
SELECT softdelete.restore('quiet', 1) AS restored;
SELECT softdelete.hard_delete('quiet', 3) AS removed;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
TRUNCATE quiet;
COMMIT;
RESET ROLE;
SELECT * FROM since(:mark);
-- All the operations did happen.
SELECT count(*) AS quiet_rows FROM quiet;

-- Switching a logged table to log_events => false stops its soft-delete
-- events, and back to true starts them again.
SET ROLE events_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS changed FROM softdelete.enable('users', log_events => false);
RESET client_min_messages;
RESET ROLE;
SELECT coalesce(max(id), 0) AS mark FROM softdelete.events \gset
SET ROLE events_app;
DELETE FROM users WHERE id = 15;
RESET ROLE;
SELECT count(*) AS events_written FROM since(:mark);
SET ROLE events_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS changed FROM softdelete.enable('users', log_events => true);
RESET client_min_messages;
SET ROLE events_app;
DELETE FROM users WHERE id = 16;
RESET ROLE;
SELECT * FROM since(:mark);

--------------------------------------------------------------------------
-- Who may write and read the log
--------------------------------------------------------------------------

-- The application can neither forge nor alter events (42501)...
SET ROLE events_app;
INSERT INTO softdelete.events (relid, table_name, action, actor)
VALUES ('events_s.users'::regclass, 'events_s.users', 'restore', 'nobody');
\echo SQLSTATE :SQLSTATE
UPDATE softdelete.events SET actor = 'nobody';
\echo SQLSTATE :SQLSTATE
DELETE FROM softdelete.events;
\echo SQLSTATE :SQLSTATE
-- ...nor read them (42501)...
SELECT count(*) FROM softdelete.events;
\echo SQLSTATE :SQLSTATE
-- ...though its deletes are logged as the log's owner.
DELETE FROM users WHERE id = 17;
RESET ROLE;
SELECT action, actor, row_count FROM softdelete.events ORDER BY id DESC LIMIT 1;
-- A reader reads the log but cannot write it either.
SET ROLE events_reader;
SELECT action, count(*) FROM softdelete.events
 WHERE relid = 'events_s.users'::regclass GROUP BY action ORDER BY action;
INSERT INTO softdelete.events (relid, table_name, action, actor)
VALUES ('events_s.users'::regclass, 'events_s.users', 'restore', 'nobody');
\echo SQLSTATE :SQLSTATE
RESET ROLE;
-- Integer keys at the ends of bigint's range, negative ones and zero are
-- logged exactly (the log builds an integer array without parsing text).
CREATE TABLE events_s.extremes (id bigint PRIMARY KEY);
INSERT INTO events_s.extremes VALUES (9223372036854775807), (-9223372036854775808), (-7), (0), (42),
    (9999), (10000), (10001), (-10000), (100000000), (123400005678), (1000000000000000000);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('events_s.extremes');
RESET client_min_messages;
DELETE FROM events_s.extremes;
SELECT row_count, keys, keys @> '[9223372036854775807, -9223372036854775808]' AS exact,
       jsonb_typeof(keys -> 0) AS element
  FROM softdelete.events WHERE table_name = 'events_s.extremes';
-- Each number is stored exactly as PostgreSQL stores that bigint as numeric
-- (numeric_send() shows the stored digits, weight, sign and scale).
SELECT count(*) AS keys,
       count(*) FILTER (WHERE numeric_send(k::numeric) = numeric_send(k::text::bigint::numeric))
           AS stored_as_numeric_stores_them
  FROM softdelete.events, jsonb_array_elements(keys) k WHERE table_name = 'events_s.extremes';
DROP TABLE events_s.extremes;
-- smallint and integer keys the same way, at their types' ends.
CREATE TABLE events_s.small (id smallint PRIMARY KEY);
CREATE TABLE events_s.medium (id integer PRIMARY KEY);
INSERT INTO events_s.small VALUES (32767), (-32768), (0), (-1);
INSERT INTO events_s.medium VALUES (2147483647), (-2147483648), (10000), (-1);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('events_s.small') a, softdelete.enable('events_s.medium') b;
RESET client_min_messages;
DELETE FROM events_s.small;
DELETE FROM events_s.medium;
SELECT table_name, row_count,
       (SELECT jsonb_agg(k ORDER BY k::numeric) FROM jsonb_array_elements(keys) k) AS keys
  FROM softdelete.events WHERE table_name IN ('events_s.small', 'events_s.medium') ORDER BY table_name;
DROP TABLE events_s.small, events_s.medium;
-- Date, time and floating-point keys are logged the same whatever the
-- session's DateStyle, TimeZone and extra_float_digits: dates and times in
-- ISO 8601 (as to_jsonb() writes them), floats with the digits that read
-- back exactly. Each logged key, cast back under other settings, finds the
-- row it logged, the deleted one.
CREATE TABLE events_s.days (id date PRIMARY KEY);
CREATE TABLE events_s.moments (id timestamptz PRIMARY KEY);
CREATE TABLE events_s.ratios (id float8 PRIMARY KEY);
CREATE TABLE events_s.dated (day date, n int, PRIMARY KEY (day, n));
INSERT INTO events_s.days VALUES ('2020-02-01'), ('2020-01-02');
INSERT INTO events_s.moments VALUES ('2019-12-31 19:00:00.123456+00');
INSERT INTO events_s.ratios VALUES (0.1::float8 + 0.2::float8), ('NaN'), ('-Infinity');
INSERT INTO events_s.dated VALUES ('2021-03-04', 1);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled
  FROM softdelete.enable('events_s.days') a, softdelete.enable('events_s.moments') b,
       softdelete.enable('events_s.ratios') c, softdelete.enable('events_s.dated') d;
RESET client_min_messages;
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'America/New_York';
SET extra_float_digits = -3;
DELETE FROM events_s.days WHERE id = '2020-02-01';
DELETE FROM events_s.moments;
DELETE FROM events_s.ratios;
DELETE FROM events_s.dated;
RESET TimeZone;
RESET extra_float_digits;
SET DateStyle = 'SQL, MDY';
SELECT table_name, keys FROM softdelete.events
 WHERE table_name IN ('events_s.days', 'events_s.moments', 'events_s.ratios', 'events_s.dated') ORDER BY id;
SELECT e.table_name, k AS logged_key,
       CASE e.table_name
           WHEN 'events_s.days' THEN EXISTS (SELECT FROM events_s.days WHERE id = k::date AND deleted_at IS NOT NULL)
           WHEN 'events_s.moments' THEN EXISTS (SELECT FROM events_s.moments WHERE id = k::timestamptz AND deleted_at IS NOT NULL)
           ELSE EXISTS (SELECT FROM events_s.ratios WHERE id = k::float8 AND deleted_at IS NOT NULL)
       END AS finds_its_row
  FROM softdelete.events e, jsonb_array_elements_text(e.keys) k
 WHERE e.table_name IN ('events_s.days', 'events_s.moments', 'events_s.ratios') ORDER BY e.id, k;
RESET DateStyle;
DROP TABLE events_s.days, events_s.moments, events_s.ratios, events_s.dated;
-- The log's indexes: the primary key leads with op, and (relid, at) serves
-- a table's history. The module puts each event row into the heap and into
-- each btree itself: amcheck finds every row of the log in every index.
SELECT pg_get_indexdef(indexrelid) FROM pg_index
 WHERE indrelid = 'softdelete.events'::regclass ORDER BY 1;
CREATE EXTENSION amcheck;
SELECT count(*) AS checked FROM pg_index, bt_index_check(indexrelid, true)
 WHERE indrelid = 'softdelete.events'::regclass;
-- An index the module does not put rows in itself (another access method)
-- makes it write through the executor: that index gets the rows too.
CREATE INDEX events_op_hash ON softdelete.events USING hash (op);
SET ROLE events_app;
DELETE FROM events_s.users WHERE id = 9;
RESET ROLE;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT table_name, row_count, keys FROM softdelete.events WHERE op = 0;
SELECT table_name, row_count, keys FROM softdelete.events
 WHERE op = (SELECT delete_op FROM events_s.users WHERE id = 9);
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT count(*) AS checked FROM pg_index, bt_index_check(indexrelid, true)
 WHERE indrelid = 'softdelete.events'::regclass AND indexrelid <> 'softdelete.events_op_hash'::regclass;
DROP INDEX softdelete.events_op_hash;
-- An invalidation of the log that arrives while its row is being written
-- (here: a GRANT on the log, made by a CHECK on the action's domain, which
-- a session checks once per action; elsewhere a lock taken for an index or
-- the TOAST table takes in another session's ANALYZE or CREATE INDEX
-- CONCURRENTLY) leaves the row in every index. It used to free what the row
-- was being written with: the backend crashed, or the row missed the
-- indexes after the first.
CREATE FUNCTION public.events_analyze_log(action text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
    AS $$
BEGIN
    GRANT SELECT ON softdelete.events TO events_owner;
    REVOKE SELECT ON softdelete.events FROM events_owner;
    RETURN true;
END
$$;
ALTER DOMAIN softdelete.event_action ADD CONSTRAINT events_analyze_log
    CHECK (public.events_analyze_log(VALUE));
\c
SET search_path = events_s, public;
SET ROLE events_app;
DELETE FROM events_s.users WHERE id = 10;
RESET ROLE;
SELECT count(*) AS checked FROM pg_index, bt_index_check(indexrelid, true)
 WHERE indrelid = 'softdelete.events'::regclass;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT table_name, row_count, keys FROM softdelete.events
 WHERE op = (SELECT delete_op FROM events_s.users WHERE id = 10);
SELECT table_name, row_count, keys FROM softdelete.events
 WHERE relid = 'events_s.users'::regclass AND at >= (SELECT deleted_at FROM events_s.users WHERE id = 10)
   AND keys = '[10]';
RESET enable_seqscan;
RESET enable_bitmapscan;
ALTER DOMAIN softdelete.event_action DROP CONSTRAINT events_analyze_log;
DROP FUNCTION public.events_analyze_log(text);
DROP EXTENSION amcheck;

-- Even the log's owner can only write the actions the extension knows.
\set VERBOSITY terse
INSERT INTO softdelete.events (op, relid, table_name, action, actor)
VALUES (0, 'events_s.users'::regclass, 'events_s.users', 'forged', 'nobody');
\set VERBOSITY default

-- The actor is the role as it is named when it deletes: renamed in the same
-- session, it is recorded under its new name, in the row and in the log.
SET ROLE events_app;
DELETE FROM users WHERE id = 12;
RESET ROLE;
ALTER ROLE events_app RENAME TO events_app_renamed;
SET ROLE events_app_renamed;
DELETE FROM users WHERE id = 13;
RESET ROLE;
ALTER ROLE events_app_renamed RENAME TO events_app;
SELECT id, deleted_by FROM users WHERE id IN (12, 13) ORDER BY id;
SELECT actor, row_count, keys FROM softdelete.events
 WHERE table_name = 'events_s.users' ORDER BY id DESC LIMIT 2;

-- The event names the table as it is named when the rows are deleted: after
-- a rename of the table, and after a rename of its schema.
INSERT INTO users VALUES (31, 'u31@x', 'user 31'), (32, 'u32@x', 'user 32'), (33, 'u33@x', 'user 33');
SET ROLE events_app;
DELETE FROM users WHERE id = 31;
RESET ROLE;
ALTER TABLE users RENAME TO people;
SET ROLE events_app;
DELETE FROM people WHERE id = 32;
RESET ROLE;
ALTER TABLE people RENAME TO users;
ALTER SCHEMA events_s RENAME TO events_t;
SET ROLE events_app;
DELETE FROM events_t.users WHERE id = 33;
RESET ROLE;
ALTER SCHEMA events_t RENAME TO events_s;
SELECT table_name, keys FROM softdelete.events ORDER BY at DESC, id DESC LIMIT 3;
DELETE FROM softdelete.events WHERE table_name = 'events_t.users';

-- Clean up.
RESET search_path;
DELETE FROM softdelete.events WHERE table_name LIKE 'events\_s.%';
DROP TABLE events_s.users, events_s.members, events_s.quiet;
DROP FUNCTION events_s.since(bigint);
DROP SCHEMA events_s;
DROP OWNED BY events_owner, events_app, events_reader;
DROP ROLE events_owner, events_app, events_reader;
