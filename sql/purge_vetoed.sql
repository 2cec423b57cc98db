-- purge_vetoed: rows that the table's own BEFORE DELETE trigger keeps (a
-- legal hold returns NULL) are passed over by the purge, with an archive
-- as without one: the due rows after them go. They stay the oldest due
-- rows; a table that archives used to stop at them, every batch removing
-- nothing and each run 'succeeded' with 0 rows, so that nothing after them
-- was ever purged.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
ALTER SYSTEM SET softdelete.batch_size = 3;
SELECT pg_reload_conf() AS reloaded;
SELECT pg_sleep(0.5);
SHOW softdelete.batch_size;

CREATE FUNCTION keep_held() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.legal_hold THEN
        RETURN NULL;
    END IF;
    RETURN OLD;
END $$;
CREATE TABLE held_archived (id int PRIMARY KEY, legal_hold bool NOT NULL);
CREATE TABLE held_plain (id int PRIMARY KEY, legal_hold bool NOT NULL);
CREATE TRIGGER keep_held BEFORE DELETE ON held_archived FOR EACH ROW EXECUTE FUNCTION keep_held();
CREATE TRIGGER keep_held BEFORE DELETE ON held_plain FOR EACH ROW EXECUTE FUNCTION keep_held();
SELECT count(*) > 0 AS enabled
  FROM softdelete.enable('held_archived', retention => '1 hour', archive => true);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('held_plain', retention => '1 hour');
RESET client_min_messages;

-- Five rows on hold, deleted first; three more after them; all due. Two
-- batches' worth of held rows come before the first that may go.
INSERT INTO held_archived (id, legal_hold, deleted_at)
SELECT g, g <= 5, now() - interval '1 day' + g * interval '1 minute' FROM generate_series(1, 8) g;
INSERT INTO held_plain SELECT * FROM held_archived;

SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('held_archived');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('held_plain');
SELECT array_agg(id ORDER BY id) AS archived_left FROM held_archived;
SELECT array_agg(id ORDER BY id) AS plain_left FROM held_plain;
SELECT softdelete_internal.archive_table('held_archived') AS archive \gset
SELECT array_agg(id ORDER BY id) AS in_archive FROM :archive;

-- A hold on a child row. A purge takes each due parent with the
-- soft-deleted children that go with it; a child that its trigger keeps
-- keeps its parent, and the parent the rest of its children: the other due
-- parents go. Before, under NO ACTION every batch that held such a parent
-- failed (23503) and nothing of the table was purged; under CASCADE the
-- parent went and the held child was left referencing nothing.
ALTER SYSTEM SET softdelete.batch_size = 20;
SELECT pg_reload_conf() AS reloaded;
SELECT pg_sleep(0.5);
SET client_min_messages = warning;
CREATE TABLE hold_parent_c (id int PRIMARY KEY);
CREATE TABLE hold_child_c (id int PRIMARY KEY,
    pid int NOT NULL REFERENCES hold_parent_c ON DELETE CASCADE, legal_hold bool NOT NULL);
CREATE TABLE hold_parent_n (id int PRIMARY KEY);
CREATE TABLE hold_child_n (id int PRIMARY KEY,
    pid int NOT NULL REFERENCES hold_parent_n, legal_hold bool NOT NULL);
CREATE INDEX ON hold_child_c (pid);
CREATE INDEX ON hold_child_n (pid);
CREATE TRIGGER keep_held BEFORE DELETE ON hold_child_c FOR EACH ROW EXECUTE FUNCTION keep_held();
CREATE TRIGGER keep_held BEFORE DELETE ON hold_child_n FOR EACH ROW EXECUTE FUNCTION keep_held();
SELECT count(*) > 0 AS enabled
  FROM softdelete.enable('hold_parent_c', retention => '1 hour', archive => true);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('hold_child_c', archive => true);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('hold_parent_n', retention => '1 hour');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('hold_child_n');
RESET client_min_messages;
-- Eight parents, two children each, all due; one child of parents 2 and 7
-- is on hold. 24 rows, so two batches of at most 20.
INSERT INTO hold_parent_c (id, deleted_at)
SELECT g, now() - interval '1 day' + g * interval '1 minute' FROM generate_series(1, 8) g;
INSERT INTO hold_child_c (id, pid, legal_hold, deleted_at)
SELECT g * 10 + k, g, g IN (2, 7) AND k = 1, now() - interval '1 day' + g * interval '1 minute'
  FROM generate_series(1, 8) g, generate_series(1, 2) k;
INSERT INTO hold_parent_n SELECT * FROM hold_parent_c;
INSERT INTO hold_child_n SELECT * FROM hold_child_c;
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('hold_parent_c');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('hold_parent_n');
SELECT array_agg(id ORDER BY id) AS parents_left FROM hold_parent_c;
SELECT array_agg(id ORDER BY id) AS children_left FROM hold_child_c;
SELECT array_agg(id ORDER BY id) AS parents_left FROM hold_parent_n;
SELECT array_agg(id ORDER BY id) AS children_left FROM hold_child_n;
-- No child references a parent that is gone.
SELECT count(*) AS orphans FROM hold_child_c c
 WHERE NOT EXISTS (SELECT FROM hold_parent_c p WHERE p.id = c.pid);
-- What the log says went is what went, and the archive has those rows.
SELECT table_name, action, sum(row_count) AS rows
  FROM softdelete.events
 WHERE table_name LIKE 'public.hold_%' AND action IN ('purge', 'archive')
 GROUP BY table_name, action ORDER BY table_name, action;
SELECT softdelete_internal.archive_table('hold_child_c') AS child_archive \gset
SELECT array_agg(id ORDER BY id) AS children_archived FROM :child_archive;

-- Past the 16 subtransactions one transaction keeps (softdelete.purge()
-- runs every batch in one), a batch cannot be rolled back alone. Where the
-- run has met a kept row already, and a trigger could keep more, the
-- batches after them are left to a later run (the worker commits each
-- batch): the purge succeeds with what went. Where it has met none, the
-- batches run on, and a row kept then fails the purge: nothing of it is
-- removed. Never is a row left orphaned.
ALTER SYSTEM SET softdelete.batch_size = 1;
SELECT pg_reload_conf() AS reloaded;
SELECT pg_sleep(0.5);
INSERT INTO hold_parent_n (id, deleted_at)
SELECT g, now() - interval '1 day' + g * interval '1 second' FROM generate_series(100, 120) g;
INSERT INTO hold_child_n (id, pid, legal_hold, deleted_at)
SELECT g * 10, g, g IN (100, 119), now() - interval '1 day' + g * interval '1 second'
  FROM generate_series(100, 120) g;
SELECT table_name, rows_purged FROM softdelete.purge('hold_parent_n');
SELECT status, rows_purged, error FROM softdelete.runs
 WHERE table_name = 'public.hold_parent_n' ORDER BY id DESC LIMIT 1;
SELECT array_agg(id ORDER BY id) AS parents_left FROM hold_parent_n WHERE id >= 100;
-- The hold on 100 released: the first kept row is now past the 16th batch.
UPDATE hold_child_n SET legal_hold = false WHERE id = 1000;
SELECT table_name, rows_purged FROM softdelete.purge('hold_parent_n');
SELECT status, rows_purged, error FROM softdelete.runs
 WHERE table_name = 'public.hold_parent_n' ORDER BY id DESC LIMIT 1;
SELECT array_agg(id ORDER BY id) AS parents_left FROM hold_parent_n WHERE id >= 100;
SELECT count(*) AS orphans FROM hold_child_n c
 WHERE NOT EXISTS (SELECT FROM hold_parent_n p WHERE p.id = c.pid);

-- A table that references itself (replies to comments): its rows at
-- several depths go in one DELETE, whose foreign key check failed (23503)
-- on a held reply before the purge could see that the trigger kept it, so
-- that no batch of the table ever went. The held reply keeps its thread
-- and the thread's post; the rest goes.
ALTER SYSTEM SET softdelete.batch_size = 100;
SELECT pg_reload_conf() AS reloaded;
SELECT pg_sleep(0.5);
SET client_min_messages = warning;
CREATE TABLE hold_posts (id int PRIMARY KEY);
CREATE TABLE hold_comments (id int PRIMARY KEY, post_id int NOT NULL REFERENCES hold_posts,
    reply_to int REFERENCES hold_comments, legal_hold bool NOT NULL);
CREATE INDEX ON hold_comments (post_id);
CREATE INDEX ON hold_comments (reply_to);
CREATE TRIGGER keep_held BEFORE DELETE ON hold_comments FOR EACH ROW EXECUTE FUNCTION keep_held();
SELECT count(*) > 0 AS enabled FROM softdelete.enable('hold_posts', retention => '1 hour');
RESET client_min_messages;
INSERT INTO hold_posts (id, deleted_at)
SELECT g, now() - interval '1 day' + g * interval '1 minute' FROM generate_series(1, 5) g;
INSERT INTO hold_comments (id, post_id, reply_to, legal_hold, deleted_at)
SELECT 10 * g, g, NULL, false, now() - interval '1 day' FROM generate_series(1, 5) g;
INSERT INTO hold_comments (id, post_id, reply_to, legal_hold, deleted_at)
SELECT 10 * g + 1, g, 10 * g, g = 3, now() - interval '1 day' FROM generate_series(1, 5) g;
SELECT table_name, rows_purged FROM softdelete.purge('hold_posts');
SELECT array_agg(id ORDER BY id) AS posts_left FROM hold_posts;
SELECT array_agg(id ORDER BY id) AS comments_left FROM hold_comments;
-- The same with replies that are not due themselves: they go only with
-- their thread, in its DELETE, so the kept ones are never seen, and the
-- batch is tried in halves. Past the 16 subtransactions of the call the
-- halves left wait for the next call, rather than failing the table's
-- purge on every call (23503): two calls take every free thread.
SET client_min_messages = warning;
CREATE TABLE hold_threads (id int PRIMARY KEY, parent int REFERENCES hold_threads,
    legal_hold bool NOT NULL);
CREATE INDEX ON hold_threads (parent);
CREATE TRIGGER keep_held BEFORE DELETE ON hold_threads FOR EACH ROW EXECUTE FUNCTION keep_held();
SELECT count(*) > 0 AS enabled FROM softdelete.enable('hold_threads', retention => '1 hour');
RESET client_min_messages;
INSERT INTO hold_threads (id, legal_hold, deleted_at)
SELECT g, false, now() - interval '1 day' + g * interval '1 second' FROM generate_series(1, 64) g;
INSERT INTO hold_threads (id, parent, legal_hold, deleted_at)
SELECT 1000 + g, g, g % 7 = 3, now() - interval '1 minute' FROM generate_series(1, 64) g;
SELECT table_name, rows_purged > 0 AS some_purged FROM softdelete.purge('hold_threads');
SELECT table_name, rows_purged > 0 AS some_purged FROM softdelete.purge('hold_threads');
SELECT status, error FROM softdelete.runs WHERE table_name = 'public.hold_threads' ORDER BY id;
SELECT array_agg(id ORDER BY id) AS threads_left FROM hold_threads WHERE id < 1000;
SELECT count(*) AS replies_left FROM hold_threads WHERE id > 1000;

-- Clean up.
ALTER SYSTEM RESET softdelete.batch_size;
SELECT pg_reload_conf() AS reloaded;
SELECT pg_sleep(0.5);
DELETE FROM softdelete.events WHERE table_name LIKE 'public.held_%' OR table_name LIKE 'public.hold_%';
DELETE FROM softdelete.runs WHERE table_name LIKE 'public.held_%' OR table_name LIKE 'public.hold_%';
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('held_archived');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('held_plain');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('hold_child_c');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('hold_parent_c');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('hold_child_n');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('hold_parent_n');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('hold_comments');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('hold_posts');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('hold_threads');
SELECT softdelete_internal.archive_table('hold_parent_c') AS parent_archive \gset
DROP TABLE held_archived, held_plain, hold_child_c, hold_parent_c, hold_child_n, hold_parent_n,
    hold_comments, hold_posts, hold_threads;
DROP TABLE :archive, :child_archive, :parent_archive;
DROP FUNCTION keep_held();
RESET client_min_messages;
