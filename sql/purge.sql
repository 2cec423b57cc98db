-- purge: retention, archive and softdelete.purge(). Rows deleted longer than
-- their table's retention ago leave for good, with the descendants that go
-- with them (children first); with archive => true they are copied to the
-- table's archive first, in the same statement. Every batch is one
-- operation in softdelete.events, every run a row of softdelete.runs.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
-- Context lines name internal PL/pgSQL lines: keep the output to the error.
\set SHOW_CONTEXT never

CREATE ROLE purge_owner;
CREATE ROLE purge_app;
CREATE ROLE purge_admin IN ROLE softdelete_admin;
CREATE ROLE purge_other;
CREATE SCHEMA purge_s AUTHORIZATION purge_owner;
GRANT USAGE ON SCHEMA purge_s TO purge_app, purge_admin;
SET search_path = purge_s, public;

-- Views of the log and of the runs since the last mark (only the extension
-- writes either, so they cannot be emptied), that do not depend on
-- operation numbers: each batch's events, numbered in order.
CREATE TABLE public.purge_mark (events bigint, runs bigint);
INSERT INTO public.purge_mark VALUES (0, 0);
CREATE PROCEDURE public.mark() LANGUAGE sql
    BEGIN ATOMIC
        UPDATE public.purge_mark SET events = (SELECT coalesce(max(id), 0) FROM softdelete.events),
                                     runs = (SELECT coalesce(max(id), 0) FROM softdelete.runs);
    END;
CREATE VIEW public.purge_events AS
    SELECT dense_rank() OVER (ORDER BY op) AS batch, action, table_name, row_count,
           (SELECT jsonb_agg(k ORDER BY k) FROM jsonb_array_elements(keys) k) AS keys
      FROM softdelete.events
     WHERE action IN ('purge', 'archive') AND id > (SELECT events FROM public.purge_mark);
-- An error's SQLSTATE and message, numbers (run ids, OIDs) masked.
CREATE FUNCTION public.purge_try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]+', 'N', 'g');
END
$$;
CREATE VIEW public.purge_runs AS
    SELECT relid::regclass AS tbl, started_by, status, rows_archived, rows_purged, error,
           finished_at >= started_at AS finished
      FROM softdelete.runs
     WHERE id > (SELECT runs FROM public.purge_mark);

--------------------------------------------------------------------------
-- Retention: older rows go, newer ones and live ones stay
--------------------------------------------------------------------------

SET ROLE purge_owner;
CREATE TABLE users (id int PRIMARY KEY, name text);
INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 6) g;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('users', retention => '5 days');
RESET client_min_messages;
-- The owner, an admin, may load rows deleted long ago, as a restore would.
INSERT INTO users (id, name, deleted_at) VALUES
    (101, 'deleted 10 days ago', now() - interval '10 days'),
    (102, 'deleted 6 days ago', now() - interval '6 days'),
    (103, 'deleted 4 days ago', now() - interval '4 days');
DELETE FROM users WHERE id = 6;
RESET ROLE;

SELECT * FROM softdelete.purge('users');
SET softdelete.include_deleted = on;
SELECT id, name, deleted_at IS NOT NULL AS deleted FROM users ORDER BY id;
RESET softdelete.include_deleted;
-- One batch, one operation: a purge event with the keys.
SELECT * FROM purge_events;
SELECT * FROM purge_runs;
-- Nothing left to do: a run with nothing purged, and no event.
SELECT * FROM softdelete.purge('users');
SELECT count(*) AS purge_events FROM purge_events;

--------------------------------------------------------------------------
-- Batches: softdelete.batch_size rows per batch, one operation each, the
-- counts adding up in the run
--------------------------------------------------------------------------

ALTER SYSTEM SET softdelete.batch_size = 2;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW softdelete.batch_size;
INSERT INTO users (id, name, deleted_at)
    SELECT g, 'old ' || g, now() - interval '30 days' + g * interval '1 minute' FROM generate_series(201, 205) g;
CALL mark();
SELECT * FROM softdelete.purge('users');
-- Three batches, oldest first: 2 + 2 + 1 rows, three operations.
SELECT batch, action, row_count, keys FROM purge_events;
SELECT * FROM purge_runs;
-- Rows one statement deleted share their deleted_at: more of them than a
-- batch still go a batch at a time. With a retention of 0, rows 6 and 103
-- go first (deleted earlier), with the first of the seven: 3 + 3 + 3.
SET ROLE purge_owner;
INSERT INTO users (id, name) SELECT g, 'tied ' || g FROM generate_series(301, 307) g;
DELETE FROM users WHERE id BETWEEN 301 AND 307;
RESET ROLE;
SET softdelete.include_deleted = on;
SELECT count(DISTINCT deleted_at) AS stamps FROM users WHERE id BETWEEN 301 AND 307;
RESET softdelete.include_deleted;
ALTER SYSTEM SET softdelete.batch_size = 3;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW softdelete.batch_size;
SET ROLE purge_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS configured FROM softdelete.enable('users', retention => '0 seconds', cascade => false);
RESET client_min_messages;
RESET ROLE;
CALL mark();
SELECT * FROM softdelete.purge('users');
SELECT batch, action, row_count, keys @> '[6, 103]' AS oldest_first FROM purge_events;
SELECT jsonb_agg(k ORDER BY k) AS keys FROM purge_events, jsonb_array_elements(keys) k;
-- A batch is read oldest first by the index on deleted rows. Without it
-- (dropped by hand), the batch is bounded by a query instead. Rows written
-- newest first (in the order of both the table and its primary key): 7, 6
-- and 5, deleted first, still go first, 3 + 3 + 1.
CREATE TABLE purge_noindex (id int PRIMARY KEY);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('purge_noindex', retention => '1 day');
RESET client_min_messages;
INSERT INTO purge_noindex (id, deleted_at)
    SELECT g, now() - interval '2 days' - g * interval '1 minute' FROM generate_series(1, 7) g;
SELECT format('DROP INDEX %s', indexrelid::regclass) AS drop_index FROM pg_index
 WHERE indrelid = 'purge_noindex'::regclass AND NOT indisprimary \gset
:drop_index;
CALL mark();
SELECT * FROM softdelete.purge('purge_noindex');
SELECT batch, row_count, keys FROM purge_events;
DROP TABLE purge_noindex;
DELETE FROM softdelete.runs WHERE table_name = 'public.purge_noindex';
SET ROLE purge_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS configured FROM softdelete.enable('users', retention => '5 days', cascade => false);
RESET client_min_messages;
RESET ROLE;
ALTER SYSTEM RESET softdelete.batch_size;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW softdelete.batch_size;

--------------------------------------------------------------------------
-- Archive: rows copied to softdelete_archive with archived_at, in the
-- statement that removes them
--------------------------------------------------------------------------

SET ROLE purge_owner;
CREATE TABLE orders (id bigint PRIMARY KEY, item text NOT NULL, qty int);
INSERT INTO orders VALUES (1, 'apple', 3), (2, 'pear', 1), (3, 'plum', 7);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('orders', retention => '1 day', archive => true,
                                                      archive_retention => '30 days');
RESET client_min_messages;
INSERT INTO orders (id, item, qty, deleted_at, deleted_by, delete_reason) VALUES
    (10, 'fig', 2, now() - interval '3 days', 'clerk', 'cancelled'),
    (11, 'kiwi', 5, now() - interval '2 days', 'clerk', NULL);
DELETE FROM orders WHERE id = 3;
RESET ROLE;
-- No archive table until rows are archived.
SELECT softdelete_internal.archive_table('orders') IS NULL AS no_archive_yet;
CALL mark();
SELECT * FROM softdelete.purge('orders');
SELECT softdelete_internal.archive_table('orders');
-- The table's columns (tombstone included), then archived_at; owned by the
-- table's owner, nobody else has any privilege.
SELECT id, item, qty, deleted_at IS NOT NULL AS deleted, deleted_by, delete_reason,
       archived_at > now() - interval '1 minute' AS archived_now
  FROM softdelete_archive."purge_s.orders" ORDER BY id;
SELECT c.relowner::regrole AS owner, c.relacl,
       has_table_privilege('purge_app', c.oid, 'SELECT') AS app_may_read,
       has_table_privilege('purge_admin', c.oid, 'SELECT') AS admin_may_read
  FROM pg_class c WHERE c.oid = softdelete_internal.archive_table('orders');
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
  FROM pg_attribute a WHERE a.attrelid = softdelete_internal.archive_table('orders') AND a.attnum > 0
 ORDER BY a.attnum;
-- One operation: archive and purge events with the same keys.
SELECT * FROM purge_events;
SELECT * FROM purge_runs;
SET softdelete.include_deleted = on;
SELECT id FROM orders ORDER BY id;
RESET softdelete.include_deleted;

-- A column the table gained later is added to the archive before the next
-- copy: nothing fails, nothing is lost.
SET ROLE purge_owner;
ALTER TABLE orders ADD COLUMN note text;
INSERT INTO orders (id, item, note, deleted_at) VALUES (12, 'lime', 'gift', now() - interval '2 days');
RESET ROLE;
SELECT rows_archived, rows_purged FROM softdelete.purge('orders');
SELECT id, item, note FROM softdelete_archive."purge_s.orders" ORDER BY id;

-- archive_retention: archived rows older than it are removed from the
-- archive in turn, logged as a purge of the archive table.
UPDATE softdelete_archive."purge_s.orders" SET archived_at = now() - interval '31 days' WHERE id = 10;
CALL mark();
SELECT * FROM softdelete.purge('orders');
SELECT id FROM softdelete_archive."purge_s.orders" ORDER BY id;
SELECT * FROM purge_events;

--------------------------------------------------------------------------
-- Children before parents
--------------------------------------------------------------------------

-- A chain: authors <- posts <- comments (NO ACTION), and likes of posts
-- (RESTRICT), enabled by cascade. The children have no retention of their
-- own: they go with their parent. (retention 0: anything deleted by an
-- earlier transaction is due.)
SET ROLE purge_owner;
CREATE TABLE authors (id int PRIMARY KEY, name text);
CREATE TABLE posts (id int PRIMARY KEY, author_id int REFERENCES authors, title text);
CREATE TABLE comments (id int PRIMARY KEY, post_id int REFERENCES posts, body text);
CREATE TABLE likes (id int PRIMARY KEY, post_id int REFERENCES posts ON DELETE RESTRICT);
INSERT INTO authors VALUES (1, 'ann'), (2, 'bob');
INSERT INTO posts VALUES (10, 1, 'a'), (11, 1, 'b'), (20, 2, 'c');
INSERT INTO comments VALUES (100, 10, 'x'), (101, 10, 'y'), (110, 11, 'z'), (200, 20, 'w');
INSERT INTO likes VALUES (1, 10), (2, 20);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('authors', retention => '0 seconds');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('comments', archive => true);
RESET client_min_messages;
-- RESTRICT refuses the soft delete while a like is live: it goes first.
DELETE FROM likes WHERE id = 1;
DELETE FROM authors WHERE id = 1;
RESET ROLE;
CALL mark();
SELECT * FROM softdelete.purge('authors');
-- ann, her posts and their comments are gone (the comments archived, their
-- table archives); bob and his are untouched.
SET softdelete.include_deleted = on;
SELECT (SELECT array_agg(id ORDER BY id) FROM authors) AS authors,
       (SELECT array_agg(id ORDER BY id) FROM posts) AS posts,
       (SELECT array_agg(id ORDER BY id) FROM comments) AS comments,
       (SELECT array_agg(id ORDER BY id) FROM likes) AS likes,
       (SELECT array_agg(id ORDER BY id) FROM softdelete_archive."purge_s.comments") AS archived;
RESET softdelete.include_deleted;
-- One operation, one event per table and action.
SELECT * FROM purge_events ORDER BY table_name, action;
SELECT * FROM purge_runs;

-- A self-referencing tree: the root is due, its subtree goes with it,
-- leaves and inner nodes in one DELETE, though deleted later. A deleted
-- leaf under a live root waits for its own turn. (The owner, an admin,
-- loads the rows with their stamps.)
SET ROLE purge_owner;
CREATE TABLE categories (id int PRIMARY KEY, parent_id int REFERENCES categories, name text);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('categories', retention => '1 day');
RESET client_min_messages;
INSERT INTO categories (id, parent_id, name, deleted_at) VALUES
    (1, NULL, 'root', now() - interval '10 days'), (2, 1, 'a', now() - interval '1 hour'),
    (3, 1, 'b', now() - interval '1 hour'), (4, 2, 'a1', now() - interval '1 hour'),
    (5, 4, 'a11', now() - interval '1 hour'), (6, NULL, 'other', NULL),
    (7, 6, 'other leaf', now() - interval '1 hour');
RESET ROLE;
CALL mark();
SELECT * FROM softdelete.purge('categories');
SET softdelete.include_deleted = on;
SELECT id, deleted_at IS NOT NULL AS deleted FROM categories ORDER BY id;
RESET softdelete.include_deleted;
SELECT * FROM purge_events;

-- ON DELETE CASCADE and SET NULL fire when the parent goes, not before.
-- teams is enabled with cascade => false: its soft delete leaves the
-- children as they are, live.
SET ROLE purge_owner;
CREATE TABLE teams (id int PRIMARY KEY, name text);
CREATE TABLE members (id int PRIMARY KEY, team_id int REFERENCES teams ON DELETE CASCADE, name text);
CREATE TABLE badges (id int PRIMARY KEY, team_id int REFERENCES teams ON DELETE SET NULL);
CREATE TABLE team_notes (id int PRIMARY KEY, team_id int REFERENCES teams ON DELETE CASCADE);
INSERT INTO teams VALUES (1, 'red'), (2, 'blue');
INSERT INTO members VALUES (1, 1, 'm1'), (2, 1, 'm2'), (3, 2, 'm3');
INSERT INTO badges VALUES (1, 1), (2, 2);
INSERT INTO team_notes VALUES (1, 1), (2, 2);
GRANT SELECT, REFERENCES ON team_notes TO purge_other;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('teams', retention => '0 seconds', cascade => false);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('members', cascade => false);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('badges', cascade => false);
RESET client_min_messages;
RESET ROLE;
-- note_lines, of another owner, is enabled and references team_notes (which
-- is not) ON DELETE CASCADE: PostgreSQL's own action would reach it. The
-- purge's hard delete is purge_owner's, which is no admin of note_lines:
-- there the action is what it would be outside a purge, refused (23503:
-- a soft delete would leave lines referencing notes that are gone), and
-- the batch fails, changing nothing. (It used to go for good: so would any
-- row a trigger reached that way, a table owner's way to remove another
-- owner's live rows.) With team_notes enabled too, the purge plans its rows
-- and the lines', each table's as its owner, and they go, logged.
GRANT USAGE, CREATE ON SCHEMA purge_s TO purge_other;
SET ROLE purge_other;
CREATE TABLE note_lines (id int PRIMARY KEY, note_id int REFERENCES team_notes ON DELETE CASCADE);
INSERT INTO note_lines VALUES (1, 1), (2, 2);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('note_lines');
RESET client_min_messages;
RESET ROLE;
SET ROLE purge_owner;
DELETE FROM teams WHERE id = 1;
-- Until the purge, nothing happens to them.
SELECT (SELECT count(*) FROM members WHERE team_id = 1) AS members, (SELECT team_id FROM badges WHERE id = 1) AS badge_team,
       (SELECT count(*) FROM team_notes WHERE team_id = 1) AS notes;
RESET ROLE;
CALL mark();
SELECT * FROM softdelete.purge('teams');
SELECT status FROM purge_runs;
SELECT count(*) AS nothing_purged FROM purge_events;
DELETE FROM softdelete.runs WHERE table_name = 'purge_s.teams';
SET ROLE purge_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('team_notes', cascade => false);
RESET client_min_messages;
RESET ROLE;
CALL mark();
SELECT * FROM softdelete.purge('teams');
-- The members went for good (not soft-deleted: no row left, even deleted),
-- the badge lost its team, the note and its line went with their team.
SET softdelete.include_deleted = on;
SELECT (SELECT array_agg(id ORDER BY id) FROM members) AS members,
       (SELECT array_agg(team_id ORDER BY id) FROM badges) AS badge_teams,
       (SELECT array_agg(id ORDER BY id) FROM team_notes) AS notes,
       (SELECT array_agg(id ORDER BY id) FROM note_lines) AS note_lines;
RESET softdelete.include_deleted;
SELECT * FROM purge_events ORDER BY table_name;

-- A live child under a deleted parent (cascade => false, NO ACTION) keeps
-- the parent: it waits, and the table's other rows go on. Once the child
-- is deleted, the parent goes with it.
SET ROLE purge_owner;
CREATE TABLE projects (id int PRIMARY KEY);
CREATE TABLE tasks (id int PRIMARY KEY, project_id int REFERENCES projects);
INSERT INTO projects SELECT generate_series(1, 4);
INSERT INTO tasks VALUES (1, 1), (2, 3);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('projects', retention => '0 seconds', cascade => false);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('tasks');
RESET client_min_messages;
DELETE FROM projects;
RESET ROLE;
-- One row a batch: the oldest rows wait, and the run's later batches look
-- past them.
ALTER SYSTEM SET softdelete.batch_size = 1;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW softdelete.batch_size;
CALL mark();
SELECT * FROM softdelete.purge('projects');
SET softdelete.include_deleted = on;
SELECT array_agg(id ORDER BY id) AS projects_left FROM projects;
RESET softdelete.include_deleted;
SELECT * FROM purge_runs;
-- Project 1 waited for task 1, project 3 for task 2. Task 1 deleted,
-- project 1 goes, with it: the two are more than a batch, so the task goes
-- first, in a batch of its own, and the project in the next.
SET ROLE purge_owner;
DELETE FROM tasks WHERE id = 1;
RESET ROLE;
CALL mark();
SELECT * FROM softdelete.purge('projects');
SELECT * FROM purge_events;
ALTER SYSTEM RESET softdelete.batch_size;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SHOW softdelete.batch_size;
SET softdelete.include_deleted = on;
SELECT array_agg(id ORDER BY id) AS projects_left FROM projects;
SELECT array_agg(id ORDER BY id) AS tasks_left FROM tasks;
RESET softdelete.include_deleted;

-- Multi-column keys, and a foreign key to a unique column that is not the
-- primary key.
SET ROLE purge_owner;
CREATE TABLE orgs (org int, id int, code text UNIQUE, PRIMARY KEY (org, id));
CREATE TABLE seats (org int, id int, member int, seat int PRIMARY KEY,
                    FOREIGN KEY (org, id) REFERENCES orgs);
CREATE TABLE tags (id int PRIMARY KEY, org_code text REFERENCES orgs (code));
INSERT INTO orgs VALUES (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c');
INSERT INTO seats VALUES (1, 1, 10, 1), (1, 2, 11, 2), (2, 1, 12, 3);
INSERT INTO tags VALUES (1, 'a'), (2, 'c');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('orgs', retention => '0 seconds');
RESET client_min_messages;
DELETE FROM orgs WHERE (org, id) IN ((1, 1), (2, 1));
RESET ROLE;
CALL mark();
SELECT * FROM softdelete.purge('orgs');
SELECT (SELECT array_agg(org || '/' || id ORDER BY org, id) FROM orgs) AS orgs,
       (SELECT array_agg(seat ORDER BY seat) FROM seats) AS seats,
       (SELECT array_agg(id ORDER BY id) FROM tags) AS tags;
SELECT * FROM purge_events ORDER BY table_name;

-- A partitioned table: rows in every partition, and its archive.
SET ROLE purge_owner;
CREATE TABLE logs (id int, region text, msg text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE logs_eu PARTITION OF logs FOR VALUES IN ('eu');
CREATE TABLE logs_us PARTITION OF logs FOR VALUES IN ('us');
INSERT INTO logs VALUES (1, 'eu', 'a'), (2, 'us', 'b'), (3, 'eu', 'c');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('logs', retention => '0 seconds', archive => true);
RESET client_min_messages;
DELETE FROM logs WHERE id IN (1, 2);
RESET ROLE;
SELECT * FROM softdelete.purge('logs');
SELECT id, region FROM logs ORDER BY id;
SELECT id, region, msg FROM softdelete_archive."purge_s.logs" ORDER BY id;

--------------------------------------------------------------------------
-- Names: quotes, spaces, capitals, and two tables of the same name in two
-- schemas, each with its own archive
--------------------------------------------------------------------------

CREATE SCHEMA "Purge Space" AUTHORIZATION purge_owner;
CREATE SCHEMA purge_t AUTHORIZATION purge_owner;
SET ROLE purge_owner;
CREATE TABLE "Purge Space"."Odd ""Name""" ("Key Col" text PRIMARY KEY, "Val" int);
CREATE TABLE "Purge Space".orders (id int PRIMARY KEY);
CREATE TABLE purge_t.orders (id int PRIMARY KEY);
INSERT INTO "Purge Space"."Odd ""Name""" VALUES ('a b', 1), ('it''s', 2), ('keep', 3);
INSERT INTO "Purge Space".orders VALUES (1), (2);
INSERT INTO purge_t.orders VALUES (1), (3);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('"Purge Space"."Odd ""Name"""', retention => '0 seconds', archive => true);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('"Purge Space".orders', retention => '0 seconds', archive => true);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('purge_t.orders', retention => '0 seconds', archive => true);
RESET client_min_messages;
DELETE FROM "Purge Space"."Odd ""Name""" WHERE "Val" < 3;
DELETE FROM "Purge Space".orders;
DELETE FROM purge_t.orders WHERE id = 3;
RESET ROLE;
CALL mark();
SELECT * FROM softdelete.purge('"Purge Space"."Odd ""Name"""');
SELECT * FROM softdelete.purge('"Purge Space".orders');
SELECT * FROM softdelete.purge('purge_t.orders');
SELECT relid, archive FROM softdelete_internal.archives
 WHERE relid::text LIKE '%orders' OR relid::text LIKE '%Odd%' ORDER BY relid::text;
SELECT "Key Col", "Val" FROM softdelete_archive."Purge Space.Odd ""Name""" ORDER BY 1;
SELECT id FROM softdelete_archive."Purge Space.orders" ORDER BY id;
SELECT id FROM softdelete_archive."purge_t.orders" ORDER BY id;
SELECT * FROM purge_events ORDER BY table_name, action;

--------------------------------------------------------------------------
-- purge() with NULL: every table with a retention, children before parents
--------------------------------------------------------------------------

-- A table comes after every table with a retention that references it,
-- through tables without one too (o_mid); a cycle (cyc_a <-> cyc_b) is
-- listed once.
SET ROLE purge_owner;
CREATE TABLE o_top (id int PRIMARY KEY);
CREATE TABLE o_mid (id int PRIMARY KEY, top int REFERENCES o_top);
CREATE TABLE o_low (id int PRIMARY KEY, mid int REFERENCES o_mid);
CREATE TABLE cyc_a (id int PRIMARY KEY, b int);
CREATE TABLE cyc_b (id int PRIMARY KEY, a int REFERENCES cyc_a);
ALTER TABLE cyc_a ADD FOREIGN KEY (b) REFERENCES cyc_b;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('o_top', retention => '1 day');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('o_low', retention => '1 day');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cyc_a', retention => '1 day');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cyc_b', retention => '1 day');
RESET client_min_messages;
RESET ROLE;
SELECT array_agg(t::text ORDER BY ord) AS purge_order
  FROM softdelete_internal.purge_tables() WITH ORDINALITY AS p(t, ord)
 WHERE t::text IN ('o_top', 'o_mid', 'o_low');
SELECT count(*) AS listed FROM softdelete_internal.purge_tables() t WHERE t::text IN ('cyc_a', 'cyc_b');

SET ROLE purge_owner;
INSERT INTO users (id, name, deleted_at) VALUES (301, 'old', now() - interval '9 days');
RESET ROLE;
CALL mark();
-- Tables other tests left enabled are covered too: only ours are shown.
SET client_min_messages = error;
SELECT * FROM softdelete.purge() WHERE table_name::text = 'users';
RESET client_min_messages;
SELECT count(*) = (SELECT count(*) FROM softdelete_internal.purge_tables()) AS a_run_per_table
  FROM purge_runs;
SELECT bool_and(status = 'succeeded') AS ours_succeeded
  FROM purge_runs WHERE tbl::text NOT LIKE '%.%' OR tbl::text LIKE '"Purge Space".%' OR tbl::text LIKE 'purge_t.%';

--------------------------------------------------------------------------
-- A table whose purge fails is rolled back alone: its run records the
-- error, a WARNING says so, and the other tables go on
--------------------------------------------------------------------------

SET ROLE purge_owner;
CREATE TABLE fragile (id int PRIMARY KEY);
-- Its own trigger refuses real deletes (a soft delete is an UPDATE: it
-- does not fire).
CREATE FUNCTION fragile_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'fragile rows stay';
END
$$;
CREATE TRIGGER fragile_refuse BEFORE DELETE ON fragile FOR EACH ROW EXECUTE FUNCTION fragile_refuse();
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('fragile', retention => '0 seconds');
RESET client_min_messages;
INSERT INTO fragile VALUES (1), (2);
DELETE FROM fragile;
INSERT INTO users (id, name, deleted_at) VALUES (302, 'old', now() - interval '9 days');
RESET ROLE;
CALL mark();
SELECT * FROM softdelete.purge('fragile');
SELECT * FROM purge_runs;
SET softdelete.include_deleted = on;
SELECT count(*) AS fragile_rows FROM fragile;
RESET softdelete.include_deleted;
CALL mark();
SET client_min_messages = error;
SELECT * FROM softdelete.purge() WHERE table_name::text IN ('users', 'fragile') ORDER BY 1;
RESET client_min_messages;
SELECT tbl, status, rows_purged, error FROM purge_runs WHERE tbl::text IN ('users', 'fragile') ORDER BY 1;
SET ROLE purge_owner;
DROP TABLE fragile;
RESET ROLE;

--------------------------------------------------------------------------
-- A batch logs exactly the rows it removed, under the keys they had when
-- removed: a row the table's own BEFORE DELETE trigger keeps is neither
-- counted nor logged, and a row another session changed meanwhile is
-- logged as it was when removed
--------------------------------------------------------------------------

SET client_min_messages = warning;
CREATE EXTENSION dblink SCHEMA public;
RESET client_min_messages;
SET ROLE purge_owner;
CREATE TABLE picky (id int PRIMARY KEY, note text);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('picky', retention => '1 day');
RESET client_min_messages;
-- Deleted long ago, oldest first: 1, 2, 3, 4, 5; 6 is live.
INSERT INTO picky (id, note, deleted_at)
    SELECT g, CASE g WHEN 1 THEN 'take 30' ELSE 'row ' || g END, now() - (10 - g) * interval '1 day'
      FROM generate_series(1, 5) g;
INSERT INTO picky (id, note) VALUES (6, 'live'), (30, 'taken by row 1');
RESET ROLE;
-- The trigger keeps row 3; row 1 takes live row 30 along (a DELETE the
-- batch sets off is what it would be outside a purge: a soft delete,
-- logged as such; the row goes when it is due). On a
-- row whose note says so it has another
-- session give row 9 a new key and commit, before the batch reaches row
-- 9. (Its function is a superuser's: only a superuser may open such a
-- connection.)
CREATE FUNCTION public.picky_trigger() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog AS $$
BEGIN
    IF OLD.id = 3 THEN
        RETURN NULL;
    END IF;
    IF OLD.note = 'take 30' THEN
        DELETE FROM purge_s.picky WHERE id = 30;
    END IF;
    IF OLD.note = 'move 9' THEN
        PERFORM public.dblink_exec('dbname=' || current_database(),
                                   'UPDATE purge_s.picky SET id = 90 WHERE id = 9');
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER picky_trigger BEFORE DELETE ON purge_s.picky FOR EACH ROW
    EXECUTE FUNCTION public.picky_trigger();
CALL mark();
SELECT table_name, rows_purged FROM softdelete.purge('picky');
SELECT batch, action, row_count, keys FROM purge_events;
SET ROLE purge_owner;
INSERT INTO picky (id, note, deleted_at)
    SELECT g, CASE g WHEN 7 THEN 'move 9' ELSE 'row ' || g END, now() - (20 - g) * interval '1 day'
      FROM generate_series(7, 9) g;
RESET ROLE;
CALL mark();
SELECT table_name, rows_purged FROM softdelete.purge('picky');
SELECT batch, action, row_count, keys FROM purge_events;
SET softdelete.include_deleted = on;
SELECT id, note, deleted_at IS NOT NULL AS deleted FROM picky ORDER BY id;
RESET softdelete.include_deleted;
DROP TABLE picky;
DROP FUNCTION public.picky_trigger();
DROP EXTENSION dblink;
-- Keys that are not one integer column: written as JSON text, as every
-- event writes them.
SET ROLE purge_owner;
CREATE TABLE picky_names (name text PRIMARY KEY);
CREATE TABLE picky_pairs (a int, b text, PRIMARY KEY (a, b));
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('picky_names', retention => '1 day');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('picky_pairs', retention => '1 day');
RESET client_min_messages;
INSERT INTO picky_names (name, deleted_at)
    VALUES ('it''s', now() - interval '3 days'), ('a "b"', now() - interval '2 days'), ('new', now());
INSERT INTO picky_pairs (a, b, deleted_at)
    VALUES (1, 'x', now() - interval '3 days'), (2, 'y"', now() - interval '2 days'), (3, 'z', now());
RESET ROLE;
CALL mark();
SELECT table_name, rows_purged FROM softdelete.purge('picky_names');
SELECT table_name, rows_purged FROM softdelete.purge('picky_pairs');
SELECT batch, action, row_count, keys FROM purge_events;
DROP TABLE picky_names, picky_pairs;

-- A live CASCADE child goes with its parent only while it still references
-- it: here a BEFORE DELETE trigger of a grandchild (which the batch removes
-- first) moves child 10 to another parent after the batch was planned. The
-- child stays, with its new parent; its sibling 20 goes, as PostgreSQL's own
-- action would take it.
SET ROLE purge_owner;
CREATE TABLE movers_parents (id int PRIMARY KEY);
CREATE TABLE movers (id int PRIMARY KEY,
                     parent_id int NOT NULL REFERENCES movers_parents ON DELETE CASCADE);
CREATE TABLE mover_notes (id int PRIMARY KEY, mover_id int NOT NULL REFERENCES movers);
INSERT INTO movers_parents VALUES (1), (2);
INSERT INTO movers VALUES (10, 1), (20, 1);
INSERT INTO mover_notes VALUES (100, 10);
CREATE FUNCTION move_mover() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE purge_s.movers SET parent_id = 2 WHERE id = 10;
    RETURN OLD;
END
$$;
CREATE TRIGGER move_mover BEFORE DELETE ON mover_notes FOR EACH ROW EXECUTE FUNCTION move_mover();
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('mover_notes');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('movers');
SELECT count(*) > 0 AS enabled
  FROM softdelete.enable('movers_parents', retention => '0 seconds', cascade => false);
RESET client_min_messages;
DELETE FROM mover_notes WHERE id = 100;
DELETE FROM movers_parents WHERE id = 1;
RESET ROLE;
CALL mark();
SELECT table_name, rows_purged FROM softdelete.purge('movers_parents');
SELECT batch, action, row_count, keys FROM purge_events;
SELECT id, parent_id, deleted_at IS NOT NULL AS deleted FROM movers ORDER BY id;
DROP TABLE mover_notes, movers, movers_parents;
DROP FUNCTION move_mover();

-- The archive belongs to the table's owner, who may put a trigger on it. A
-- trigger that keeps rows out of the archive would have them removed but
-- not archived, and logged as archived: the batch fails instead (a warning,
-- the run failed), nothing is removed and nothing is logged. With a
-- referencing table (the planned path) and without one (one statement).
SET ROLE purge_owner;
CREATE TABLE kept_out (id int PRIMARY KEY);
CREATE TABLE kept_out_kids (id int PRIMARY KEY, parent int REFERENCES kept_out);
INSERT INTO kept_out VALUES (1), (2);
CREATE TABLE kept_alone (id int PRIMARY KEY);
INSERT INTO kept_alone VALUES (1), (2);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('kept_out', retention => '0 seconds', archive => true);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('kept_alone', retention => '0 seconds', archive => true);
RESET client_min_messages;
RESET ROLE;
-- The archives are made by the first purge, due rows or not.
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('kept_out');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('kept_alone');
SELECT softdelete_internal.archive_table('kept_out') AS kept_out_archive,
       softdelete_internal.archive_table('kept_alone') AS kept_alone_archive \gset
SET ROLE purge_owner;
CREATE FUNCTION keep_out() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER keep_out BEFORE INSERT ON :kept_out_archive FOR EACH ROW EXECUTE FUNCTION keep_out();
CREATE TRIGGER keep_out BEFORE INSERT ON :kept_alone_archive FOR EACH ROW EXECUTE FUNCTION keep_out();
DELETE FROM kept_out WHERE id = 1;
DELETE FROM kept_alone WHERE id = 1;
RESET ROLE;
CALL mark();
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('kept_out');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('kept_alone');
SELECT batch, action, row_count, keys FROM purge_events;
SELECT (SELECT count(*) FROM kept_out) AS kept_out_rows, (SELECT count(*) FROM kept_alone) AS kept_alone_rows;
DROP TABLE kept_out_kids, kept_out, kept_alone, :kept_out_archive, :kept_alone_archive;
DROP FUNCTION keep_out();

--------------------------------------------------------------------------
-- Who may: admins only, checked before anything happens
--------------------------------------------------------------------------

SET ROLE purge_owner;
INSERT INTO users (id, name, deleted_at) VALUES (401, 'old', now() - interval '9 days');
RESET ROLE;
CALL mark();
SET ROLE purge_app;
SELECT * FROM softdelete.purge('users');
SELECT * FROM softdelete.purge();
-- The internal functions are out of reach.
SELECT softdelete_internal.purge_batch(1, 'users', 10);
SELECT softdelete_internal.start_run('users', 'worker');
SELECT softdelete_internal.archive_table('users');
RESET ROLE;
SELECT count(*) AS runs FROM purge_runs;
-- A member of softdelete_admin may.
SET ROLE purge_admin;
SELECT * FROM softdelete.purge('users');
RESET ROLE;
-- The owner may purge its own table, but not every table with NULL when
-- some are not its own.
CREATE TABLE public.not_owned (id int PRIMARY KEY);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('public.not_owned', retention => '1 day');
RESET client_min_messages;
SET ROLE purge_owner;
SELECT * FROM softdelete.purge('users');
SELECT purge_try('SELECT softdelete.purge()');
RESET ROLE;

--------------------------------------------------------------------------
-- Bad input
--------------------------------------------------------------------------

CREATE TABLE public.plain (id int PRIMARY KEY);
SELECT * FROM softdelete.purge('public.plain');
SELECT * FROM softdelete.purge(0);
SELECT * FROM softdelete.purge(123456789);
-- A table enabled without retention: nothing to do.
SET ROLE purge_owner;
CREATE TABLE keep_all (id int PRIMARY KEY);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('keep_all');
RESET client_min_messages;
RESET ROLE;
SELECT * FROM softdelete.purge('keep_all');
-- The internal functions, called by the extension's owner with anything.
SELECT softdelete_internal.purge_batch(NULL, 'users', 10);
SELECT softdelete_internal.purge_batch(1, NULL, 10);
SELECT softdelete_internal.purge_batch(1, 'users', NULL);
SELECT softdelete_internal.purge_batch(1, 'users', 0);
SELECT softdelete_internal.purge_batch(1, 123456789, 10);
SELECT softdelete_internal.purge_batch(1, 'public.plain', 10);
SELECT softdelete_internal.purge_batch(-1, 'users', 10);
SELECT softdelete_internal.purge_batch(1, 'logs_eu', 10);
SELECT softdelete_internal.start_run('public.plain', 'worker');
SELECT softdelete_internal.start_run(123456789, 'worker');
SELECT softdelete_internal.start_run('users', 'somebody');
SELECT softdelete_internal.start_run('users', NULL);
SELECT softdelete_internal.start_run(NULL, 'worker');
SELECT softdelete_internal.archive_table(NULL);
SELECT softdelete_internal.archive_table(123456789);
SELECT softdelete_internal.archive_table('users');
SELECT softdelete_internal.finish_run(-1, NULL);
-- A run of one table is no run of another.
SELECT softdelete_internal.start_run('orders', 'worker') AS run \gset
SELECT purge_try(format('SELECT softdelete_internal.purge_batch(%s, ''users'', 10)', :run));
SELECT softdelete_internal.purge_batch(:run, 'orders', 10);
SELECT softdelete_internal.finish_run(:run, NULL);
SELECT purge_try(format('SELECT softdelete_internal.finish_run(%s, NULL)', :run));
SELECT purge_try(format('SELECT softdelete_internal.purge_batch(%s, ''orders'', 10)', :run));

--------------------------------------------------------------------------
-- Runs left running by a worker or a server that stopped
--------------------------------------------------------------------------

CALL mark();
SELECT softdelete_internal.start_run('users', 'worker') IS NOT NULL AS started;
SELECT softdelete_internal.start_run('orders', 'worker') AS run \gset
SELECT softdelete_internal.finish_run(:run, 'it broke');
SELECT softdelete_internal.fail_unfinished_runs();
SELECT softdelete_internal.fail_unfinished_runs();
SELECT * FROM purge_runs ORDER BY tbl::text;

--------------------------------------------------------------------------
-- Dropping a table forgets its archive, which stays with its rows
--------------------------------------------------------------------------

SET client_min_messages = warning;
DROP SCHEMA purge_s, purge_t, "Purge Space" CASCADE;
DROP TABLE public.not_owned, public.plain;
RESET client_min_messages;
SELECT count(*) AS archives_known FROM softdelete_internal.archives;
SELECT count(*) AS archive_tables_left FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'softdelete_archive' AND c.relkind = 'r';
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'softdelete_archive' AND c.relkind = 'r' LOOP
        EXECUTE format('DROP TABLE %s', t);
    END LOOP;
END
$$;
