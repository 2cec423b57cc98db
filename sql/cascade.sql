-- cascade: children follow their parent. Soft-deleting a parent soft-deletes
-- its live descendants (NO ACTION and CASCADE foreign keys) in the same
-- statement and operation, set-based; RESTRICT refuses while live children
-- exist; SET NULL / SET DEFAULT children stay. A restore (restore() or
-- undo()) brings back exactly the descendants that the parent's operation
-- marked, never those deleted on their own. A deleted row keeps its first
-- stamp when a cascade passes over it again.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE cas_owner;
CREATE ROLE cas_app;
CREATE ROLE cas_admin IN ROLE softdelete_admin;
CREATE SCHEMA cas AUTHORIZATION cas_owner;
GRANT USAGE ON SCHEMA cas TO cas_app, cas_admin;
SET search_path = cas, public;

SET ROLE cas_owner;
CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE posts (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users,
                    slug text NOT NULL UNIQUE);
CREATE TABLE comments (id int PRIMARY KEY, post_id int NOT NULL REFERENCES posts, body text);
INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 3) g;
INSERT INTO posts SELECT g, 1 + g % 3, 'post-' || g FROM generate_series(1, 9) g;
INSERT INTO comments SELECT g, 1 + g % 9, 'c' || g FROM generate_series(1, 27) g;
-- Enabling users enables the tables that reference it, and theirs, and says so.
SET client_min_messages = warning;
SELECT action, object FROM softdelete.enable('users') WHERE action IN ('cascade', 'enabled');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, posts, comments TO cas_app, cas_admin;
RESET ROLE;

-- What each table shows the application, per parent.
CREATE FUNCTION cas.live() RETURNS TABLE (users bigint, posts bigint, comments bigint)
    LANGUAGE sql AS $$
    SELECT (SELECT count(*) FROM cas.users), (SELECT count(*) FROM cas.posts),
           (SELECT count(*) FROM cas.comments) $$;
GRANT EXECUTE ON FUNCTION cas.live() TO cas_app;
-- The rows of every table that are deleted, with the operation that did it.
CREATE VIEW cas.deleted AS
    SELECT 'users' AS t, id, delete_op FROM cas.users WHERE deleted_at IS NOT NULL
    UNION ALL SELECT 'posts', id, delete_op FROM cas.posts WHERE deleted_at IS NOT NULL
    UNION ALL SELECT 'comments', id, delete_op FROM cas.comments WHERE deleted_at IS NOT NULL;

-- 1. Deleting a user as the application hides the user's posts and their
-- comments; the other users' rows stay. The client is told about the row
-- it deleted.
SET ROLE cas_app;
DELETE FROM comments WHERE id = 4;  -- on its own: post 4 belongs to user 2
SELECT * FROM live();
DELETE FROM users WHERE id = 2;
SELECT * FROM live();
SELECT id, user_id FROM posts ORDER BY id;
RESET ROLE;
-- One operation for the whole cascade, one event per table, exact counts and keys.
SELECT op = (SELECT max(op) FROM softdelete.events) AS last_op, table_name, action, row_count, keys
  FROM softdelete.events WHERE table_name LIKE 'cas.%' ORDER BY id;
SELECT t, count(*), count(DISTINCT delete_op) AS ops FROM deleted GROUP BY t ORDER BY t;
-- Same stamp, actor and operation in every table.
SELECT count(DISTINCT (deleted_at, deleted_by, delete_op)) AS one_mark, min(deleted_by) AS actor
  FROM (SELECT deleted_at, deleted_by, delete_op FROM users WHERE id = 2
        UNION ALL SELECT deleted_at, deleted_by, delete_op FROM posts WHERE user_id = 2
        UNION ALL SELECT c.deleted_at, c.deleted_by, c.delete_op FROM comments c
                    JOIN posts p ON p.id = c.post_id WHERE p.user_id = 2 AND c.id <> 4) s;

-- 2. Restoring the user brings back its posts and comments, except the
-- comment deleted on its own.
SET ROLE cas_app;
SELECT softdelete.restore('cas.users', 2);  -- not an admin
RESET ROLE;
SET ROLE cas_admin;
SELECT softdelete.restore('cas.users', 2);
SELECT * FROM live();
RESET ROLE;
SELECT t, id FROM deleted ORDER BY t, id;
SELECT table_name, action, row_count FROM softdelete.events
 WHERE op = (SELECT max(op) FROM softdelete.events) ORDER BY id;

-- undo() of the cascade: the same, as one operation.
SET ROLE cas_app;
DELETE FROM users WHERE id = 3;
SELECT * FROM live();
RESET ROLE;
SET ROLE cas_admin;
SELECT softdelete.undo(max(op)) AS restored FROM softdelete.events;
SELECT * FROM live();
RESET ROLE;
SELECT t, id FROM deleted ORDER BY t, id;

-- Restore follows the mark of the operation, not a time window: posts of
-- user 1 deleted by an earlier statement in the same transaction stay
-- deleted when the user comes back.
BEGIN;
SET LOCAL ROLE cas_app;
DELETE FROM posts WHERE id = 3;
DELETE FROM users WHERE id = 1;
SELECT * FROM live();
SET LOCAL ROLE cas_admin;
SELECT softdelete.restore('cas.users', 1);
SELECT * FROM live();
RESET ROLE;
SELECT t, id FROM deleted ORDER BY t, id;
ROLLBACK;

-- A unique collision anywhere in the operation fails with 23505 and
-- restores nothing: post-4's slug was taken while user 2 was deleted.
SET ROLE cas_app;
DELETE FROM users WHERE id = 2;
INSERT INTO posts VALUES (100, 1, 'post-4');
RESET ROLE;
SET ROLE cas_admin;
SELECT softdelete.restore('cas.users', 2);
\echo :LAST_ERROR_SQLSTATE
DO $$
BEGIN
    PERFORM softdelete.undo(max(op)) FROM softdelete.events
      WHERE table_name = 'cas.users' AND action = 'delete';
EXCEPTION WHEN unique_violation THEN  -- 23505; the op number depends on the tests before
    RAISE NOTICE '%', regexp_replace(SQLERRM, 'operation \d+', 'operation N');
END $$;
SELECT * FROM live();
RESET ROLE;
DELETE FROM posts WHERE id = 100;
SET ROLE cas_admin;
SELECT softdelete.restore('cas.users', 2);
RESET ROLE;

-- A row cannot be restored under a deleted parent (23503, naming the
-- parent); restoring the parent first brings it back with the others.
SET ROLE cas_app;
DELETE FROM posts WHERE id = 5;  -- post 5 and its comments, on their own
DELETE FROM users WHERE id = 3;  -- then its user, with the other posts
RESET ROLE;
SET ROLE cas_admin;
SELECT softdelete.restore('cas.posts', 5);
\echo :LAST_ERROR_SQLSTATE
UPDATE posts SET deleted_at = NULL WHERE id = 5;
\echo :LAST_ERROR_SQLSTATE
SELECT softdelete.restore('cas.users', 3);
SELECT softdelete.restore('cas.posts', 5);
SELECT * FROM live();
RESET ROLE;

-- The ORM's UPDATE ... SET deleted_at = now() cascades too, and so does a
-- DELETE inside a function: the function's next statement sees the children
-- gone.
SET ROLE cas_app;
UPDATE users SET deleted_at = now() WHERE id = 3;
SELECT * FROM live();
RESET ROLE;
SELECT t, count(*) FROM deleted GROUP BY t ORDER BY t;
SET ROLE cas_admin;
SELECT softdelete.undo(max(op)) AS restored FROM softdelete.events;
RESET ROLE;
CREATE FUNCTION cas.delete_user(uid int) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM cas.users WHERE id = uid;
    RETURN (SELECT count(*) FROM cas.comments);
END $$;
SET ROLE cas_app;
SELECT delete_user(3) AS comments_left;
RESET ROLE;
SET ROLE cas_admin;
SELECT softdelete.undo(max(op)) AS restored FROM softdelete.events;
RESET ROLE;

-- Other statement shapes cascade the same way, each as one operation: a
-- MERGE that deletes, an upsert that marks the row, a writable CTE, and a
-- SECURITY DEFINER function owned by another role (the cascade runs as each
-- child's owner whoever called).
SET ROLE cas_app;
MERGE INTO users u USING (VALUES (3)) v(id) ON u.id = v.id WHEN MATCHED THEN DELETE;
SELECT * FROM live();
RESET ROLE;
SET ROLE cas_admin;
SELECT softdelete.undo(max(op)) AS restored FROM softdelete.events;
RESET ROLE;
SET ROLE cas_app;
INSERT INTO users (id, email) VALUES (3, 'u3') ON CONFLICT (id) DO UPDATE SET deleted_at = now();
SELECT * FROM live();
RESET ROLE;
SELECT table_name, row_count FROM softdelete.events
 WHERE op = (SELECT max(op) FROM softdelete.events) ORDER BY id;
SET ROLE cas_admin;
SELECT softdelete.undo(max(op)) AS restored FROM softdelete.events;
RESET ROLE;
SET ROLE cas_app;
WITH d AS (DELETE FROM users WHERE id = 3 RETURNING id) SELECT count(*) AS deleted FROM d;
SELECT * FROM live();
RESET ROLE;
SET ROLE cas_admin;
SELECT softdelete.undo(max(op)) AS restored FROM softdelete.events;
RESET ROLE;
CREATE ROLE cas_definer;
GRANT USAGE ON SCHEMA cas TO cas_definer;
GRANT SELECT, DELETE ON users TO cas_definer;  -- nothing on posts or comments
CREATE FUNCTION cas.close_account(uid int) RETURNS void LANGUAGE sql SECURITY DEFINER
    SET search_path = cas, pg_temp AS 'DELETE FROM cas.users WHERE id = uid';
ALTER FUNCTION cas.close_account(int) OWNER TO cas_definer;
GRANT EXECUTE ON FUNCTION cas.close_account(int) TO cas_app;
SET ROLE cas_app;
SELECT close_account(3);
SELECT * FROM live();
RESET ROLE;
SELECT actor, table_name, row_count FROM softdelete.events
 WHERE op = (SELECT max(op) FROM softdelete.events) ORDER BY id;
SET ROLE cas_admin;
SELECT softdelete.undo(max(op)) AS restored FROM softdelete.events;
RESET ROLE;
DROP FUNCTION cas.close_account(int);
REVOKE ALL ON SCHEMA cas FROM cas_definer;
REVOKE ALL ON users FROM cas_definer;
DROP ROLE cas_definer;

-- A restore is for admins of every table it reaches: the owner of a parent
-- table who is no admin of the child's table cannot restore what the
-- cascade marked there (42501, nothing restored), and can restore a parent
-- whose delete marked nothing there.
CREATE ROLE cas_shop_owner;
CREATE ROLE cas_item_owner;
GRANT USAGE, CREATE ON SCHEMA cas TO cas_shop_owner, cas_item_owner;
SET ROLE cas_shop_owner;
CREATE TABLE shops (id int PRIMARY KEY);
INSERT INTO shops VALUES (1), (2);
GRANT SELECT, REFERENCES ON shops TO cas_item_owner;
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('shops');
RESET ROLE;
SET ROLE cas_item_owner;
CREATE TABLE items (id int PRIMARY KEY, shop_id int REFERENCES shops);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('items');
RESET client_min_messages;
INSERT INTO items VALUES (1, 1);
-- Says when the child's own code runs: not for a caller refused there.
CREATE FUNCTION cas.items_touched() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'items trigger ran as %', current_user; RETURN NEW; END $$;
CREATE TRIGGER items_touched AFTER UPDATE ON items FOR EACH ROW EXECUTE FUNCTION cas.items_touched();
RESET ROLE;
SET ROLE cas_shop_owner;
DELETE FROM shops;
SELECT softdelete.restore('cas.shops', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT softdelete.restore('cas.shops', 2);
RESET ROLE;
SELECT 'shops' AS t, id, deleted_at IS NOT NULL AS deleted FROM shops
UNION ALL SELECT 'items', id, deleted_at IS NOT NULL FROM items ORDER BY 1 DESC, 2;
DROP TABLE items, shops;
DROP FUNCTION cas.items_touched();
REVOKE ALL ON SCHEMA cas FROM cas_shop_owner, cas_item_owner;
DROP ROLE cas_shop_owner, cas_item_owner;

-- A savepoint rolled back takes its cascade with it.
BEGIN;
SET LOCAL ROLE cas_app;
SAVEPOINT s;
DELETE FROM users WHERE id = 1;
ROLLBACK TO SAVEPOINT s;
SELECT * FROM live();
COMMIT;

-- 6. A row already deleted keeps its first stamp and operation when a
-- cascade passes over it again.
SET ROLE cas_app;
DELETE FROM posts WHERE id = 1;
RESET ROLE;
SELECT delete_op AS first_op, deleted_at AS first_at FROM posts WHERE id = 1 \gset
SET ROLE cas_app;
DELETE FROM users WHERE id = 1;
RESET ROLE;
SELECT delete_op = :first_op AS same_op, deleted_at = :'first_at' AS same_stamp FROM posts WHERE id = 1;
SET ROLE cas_admin;
SELECT softdelete.restore('cas.users', 1);
RESET ROLE;
SELECT t, id FROM deleted ORDER BY t, id;  -- post 1 and its comments were deleted before
-- The same for a child enabled with log_events => false, which nothing
-- references: its restores are still noted, for this check.
SET ROLE cas_owner;
SET client_min_messages = warning;
CREATE TABLE quiet_parents (id int PRIMARY KEY);
CREATE TABLE quiet_kids (id int PRIMARY KEY, parent_id int REFERENCES quiet_parents);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('quiet_parents');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('quiet_kids', log_events => false);
RESET client_min_messages;
INSERT INTO quiet_parents VALUES (1);
INSERT INTO quiet_kids VALUES (1, 1);
DELETE FROM quiet_kids WHERE id = 1;
DELETE FROM quiet_parents WHERE id = 1;
UPDATE quiet_kids SET deleted_at = NULL WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
-- A foreign key added later counts from then on.
CREATE TABLE quiet_late (id int PRIMARY KEY, parent_id int);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('quiet_late', log_events => false);
RESET client_min_messages;
INSERT INTO quiet_parents VALUES (2);
INSERT INTO quiet_late VALUES (1, 2);
DELETE FROM quiet_late WHERE id = 1;
ALTER TABLE quiet_late ADD FOREIGN KEY (parent_id) REFERENCES quiet_parents;
DELETE FROM quiet_parents WHERE id = 2;
UPDATE quiet_late SET deleted_at = NULL WHERE id = 1;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT 'quiet_kids' AS t, id, deleted_at IS NOT NULL AS deleted FROM cas.quiet_kids
UNION ALL SELECT 'quiet_late', id, deleted_at IS NOT NULL FROM cas.quiet_late ORDER BY 1, 2;

-- 3. Foreign key actions. RESTRICT refuses while live children exist
-- (23503, naming the child); a deleted child does not count.
-- (New tables that reference users are enabled as they are created.)
SET ROLE cas_owner;
SET client_min_messages = warning;
CREATE TABLE badges (id int PRIMARY KEY, user_id int REFERENCES users ON DELETE RESTRICT);
CREATE TABLE notes (id int PRIMARY KEY, user_id int REFERENCES users ON DELETE SET NULL);
CREATE TABLE flags (id int PRIMARY KEY, user_id int DEFAULT 1 REFERENCES users ON DELETE SET DEFAULT);
RESET client_min_messages;
SELECT relid FROM softdelete.tables WHERE relid IN ('badges'::regclass, 'notes'::regclass, 'flags'::regclass)
 ORDER BY relid::text;
INSERT INTO badges VALUES (1, 3);
INSERT INTO notes VALUES (1, 3);
INSERT INTO flags VALUES (1, 3);
GRANT SELECT, INSERT, UPDATE, DELETE ON badges, notes, flags TO cas_app;
RESET ROLE;
SET ROLE cas_app;
DELETE FROM users WHERE id = 3;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM live();
DELETE FROM badges WHERE id = 1;
DELETE FROM users WHERE id = 3;
-- SET NULL / SET DEFAULT children stay as they are until purge.
SELECT id, user_id FROM notes;
SELECT id, user_id FROM flags;
RESET ROLE;
SET ROLE cas_admin;
SELECT softdelete.undo(max(op)) AS restored FROM softdelete.events;
RESET ROLE;

-- A child that is not enabled (here: disabled after it was enabled with its
-- creation) cannot follow: its live rows refuse the parent's delete rather
-- than stay under a deleted parent.
SET ROLE cas_owner;
SET client_min_messages = warning;
CREATE TABLE plain_kids (id int PRIMARY KEY, user_id int REFERENCES users);
SELECT count(*) > 0 AS disabled FROM softdelete.disable('plain_kids');
RESET client_min_messages;
INSERT INTO plain_kids VALUES (1, 3);
GRANT SELECT ON plain_kids TO cas_app;
RESET ROLE;
SET ROLE cas_app;
DELETE FROM users WHERE id = 3;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP TABLE plain_kids;

-- A parent enabled with cascade => false leaves its children as they are.
SET ROLE cas_owner;
CREATE TABLE teams (id int PRIMARY KEY);
CREATE TABLE players (id int PRIMARY KEY, team_id int REFERENCES teams);
INSERT INTO teams VALUES (1);
GRANT SELECT, DELETE ON teams, players TO cas_app;
INSERT INTO players VALUES (1, 1);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('teams', cascade => false);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('players');
RESET client_min_messages;
RESET ROLE;
SET ROLE cas_app;
DELETE FROM teams;
SELECT (SELECT count(*) FROM teams) AS teams, (SELECT count(*) FROM players) AS players;
RESET ROLE;

-- 5. Trees, cycles, chains, multi-column keys, a key other than the primary
-- key, partitioned children, names with quotes, spaces and capitals across
-- schemas: all follow, and all end.
CREATE SCHEMA "Cas Other" AUTHORIZATION cas_owner;
GRANT USAGE ON SCHEMA "Cas Other" TO cas_app, cas_admin;
SET ROLE cas_owner;
CREATE TABLE "Cas Other"."Org ""Units""" ("Org Id" int, code text, PRIMARY KEY ("Org Id", code),
                                        UNIQUE (code));
CREATE TABLE "Members" (id int PRIMARY KEY, org int, unit text,
                        FOREIGN KEY (org, unit) REFERENCES "Cas Other"."Org ""Units""");
CREATE TABLE by_code (id int PRIMARY KEY, code text REFERENCES "Cas Other"."Org ""Units""" (code));
CREATE TABLE shards (id int, org int, unit text, PRIMARY KEY (id, org),
                     FOREIGN KEY (org, unit) REFERENCES "Cas Other"."Org ""Units""")
    PARTITION BY LIST (org);
CREATE TABLE shards_1 PARTITION OF shards FOR VALUES IN (1);
CREATE TABLE shards_2 PARTITION OF shards FOR VALUES IN (2);
CREATE TABLE tree (id int PRIMARY KEY, parent int REFERENCES tree);
CREATE TABLE ring_a (id int PRIMARY KEY, b_id int);
CREATE TABLE ring_b (id int PRIMARY KEY, a_id int REFERENCES ring_a);
ALTER TABLE ring_a ADD FOREIGN KEY (b_id) REFERENCES ring_b;
INSERT INTO "Cas Other"."Org ""Units""" VALUES (1, 'x'), (2, 'y');
INSERT INTO "Members" VALUES (1, 1, 'x'), (2, 2, 'y');
INSERT INTO by_code VALUES (1, 'x'), (2, 'y');
INSERT INTO shards VALUES (1, 1, 'x'), (2, 2, 'y'), (3, 1, 'x');
INSERT INTO tree SELECT g, NULLIF(g - 1, 0) FROM generate_series(1, 300) g;  -- a chain 300 deep
INSERT INTO tree SELECT g, 1 FROM generate_series(301, 310) g;             -- and a fan
INSERT INTO ring_a VALUES (1, NULL), (2, NULL);
INSERT INTO ring_b VALUES (1, 1), (2, 2);
UPDATE ring_a SET b_id = id;
SET client_min_messages = warning;
SELECT count(*) AS enabled
  FROM unnest(ARRAY['"Cas Other"."Org ""Units"""', '"Members"', 'by_code', 'shards', 'tree',
                    'ring_a', 'ring_b']::regclass[]) t, softdelete.enable(t) e
 WHERE e.action = 'enabled';
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON "Cas Other"."Org ""Units""", "Members", by_code, shards,
    shards_1, tree, ring_a, ring_b TO cas_app;
RESET ROLE;
SET ROLE cas_app;
DELETE FROM "Cas Other"."Org ""Units""" WHERE "Org Id" = 1;
SELECT (SELECT count(*) FROM "Members") AS members, (SELECT count(*) FROM by_code) AS by_code,
       (SELECT count(*) FROM shards) AS shards, (SELECT count(*) FROM shards_1) AS shards_1;
DELETE FROM tree WHERE id = 150;
SELECT count(*) AS tree_left, max(id) FILTER (WHERE id < 301) AS deepest FROM tree;
DELETE FROM ring_a WHERE id = 1;
SELECT (SELECT count(*) FROM ring_a) AS ring_a, (SELECT count(*) FROM ring_b) AS ring_b;
RESET ROLE;
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE op = (SELECT op FROM softdelete.events WHERE table_name = '"Cas Other"."Org ""Units"""' ORDER BY id LIMIT 1)
 ORDER BY id;
SELECT count(DISTINCT op) AS ops, sum(row_count) AS rows FROM softdelete.events WHERE table_name = 'cas.tree';
SELECT table_name, row_count FROM softdelete.events WHERE table_name LIKE 'cas.ring%' ORDER BY id;
SET ROLE cas_admin;
-- Children first would stay under deleted parents: undo() takes the
-- tables in an order that works, ring_a (created first) after ring_b.
SELECT softdelete.undo(op) AS ring_restored FROM softdelete.events WHERE table_name = 'cas.ring_a';
SELECT softdelete.restore('"Cas Other"."Org ""Units"""', '{"Org Id": 1, "code": "x"}');
SELECT softdelete.undo(op) AS tree_restored FROM softdelete.events WHERE table_name = 'cas.tree';
RESET ROLE;
SET ROLE cas_app;
SELECT (SELECT count(*) FROM "Members") AS members, (SELECT count(*) FROM by_code) AS by_code,
       (SELECT count(*) FROM shards) AS shards, (SELECT count(*) FROM tree) AS tree,
       (SELECT count(*) FROM ring_a) AS ring_a, (SELECT count(*) FROM ring_b) AS ring_b;
RESET ROLE;
-- undo() of an operation whose rows sit under parents another operation
-- deleted: 23503, nothing restored.
SET ROLE cas_app;
DELETE FROM posts WHERE id = 2;
DELETE FROM users WHERE id = 3;
RESET ROLE;
SET ROLE cas_admin;
SELECT softdelete.undo(op) FROM softdelete.events
 WHERE table_name = 'cas.posts' AND keys = '[2]' ORDER BY id DESC LIMIT 1;
\echo :LAST_ERROR_SQLSTATE
SELECT softdelete.undo(max(op)) AS restored FROM softdelete.events WHERE table_name = 'cas.users';
SELECT softdelete.undo(op) AS restored FROM softdelete.events
 WHERE table_name = 'cas.posts' AND keys = '[2]' ORDER BY id DESC LIMIT 1;
SELECT * FROM live();
RESET ROLE;

-- A key to one partition of an enabled partitioned table follows too.
SET ROLE cas_owner;
CREATE TABLE accounts (region text, id int, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE accounts_eu PARTITION OF accounts FOR VALUES IN ('eu');
CREATE TABLE accounts_us PARTITION OF accounts FOR VALUES IN ('us');
INSERT INTO accounts VALUES ('eu', 1), ('us', 1);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('accounts');
CREATE TABLE eu_notes (id int PRIMARY KEY, region text, account int,
                       FOREIGN KEY (region, account) REFERENCES accounts_eu);
RESET client_min_messages;
INSERT INTO eu_notes VALUES (1, 'eu', 1);
SELECT relid FROM softdelete.tables WHERE relid = 'eu_notes'::regclass;
GRANT SELECT, DELETE ON accounts, eu_notes TO cas_app;
RESET ROLE;
SET ROLE cas_app;
DELETE FROM accounts WHERE id = 1;
SELECT (SELECT count(*) FROM accounts) AS accounts, (SELECT count(*) FROM eu_notes) AS eu_notes;
RESET ROLE;

-- An enabled child of a parent that is not enabled, by an ON DELETE CASCADE
-- key: the parent's DELETE removes its rows for good, and PostgreSQL's own
-- action would remove the child's. Soft delete keeps them, so the parent's
-- DELETE is refused (23503) while any child row references the rows it
-- removes, live or already deleted; a parent row without children goes.
-- The same through a prepared statement, by the application. An admin
-- under hard_delete removes the children too, for good and logged: the
-- referential action runs as the child's owner, an admin of the child as
-- well, for whom the admin's setting is then in effect (rolled back here,
-- then done the way the hint gives: the children first, then the parent).
SET ROLE cas_owner;
CREATE TABLE vendors (id int PRIMARY KEY);
CREATE TABLE offers (id int PRIMARY KEY, vendor_id int REFERENCES vendors ON DELETE CASCADE);
INSERT INTO vendors VALUES (1), (2), (3), (4);
INSERT INTO offers VALUES (10, 1), (20, 2);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('offers');
RESET client_min_messages;
GRANT SELECT, DELETE ON vendors, offers TO cas_app, cas_admin;
DELETE FROM offers WHERE id = 20;
RESET ROLE;
SET ROLE cas_app;
DELETE FROM vendors WHERE id = 3;   -- nothing references it
PREPARE drop_vendor(int) AS DELETE FROM vendors WHERE id = $1;
EXECUTE drop_vendor(1);             -- a live offer
\echo SQLSTATE :SQLSTATE
EXECUTE drop_vendor(2);             -- a deleted offer
\echo SQLSTATE :SQLSTATE
EXECUTE drop_vendor(4);
DEALLOCATE drop_vendor;
RESET ROLE;
SELECT id FROM vendors ORDER BY id;
SET ROLE cas_admin;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
DELETE FROM vendors WHERE id = 2;
\echo SQLSTATE :SQLSTATE
ROLLBACK;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
DELETE FROM offers WHERE vendor_id = 2;
DELETE FROM vendors WHERE id = 2;
COMMIT;
RESET ROLE;
SELECT id FROM vendors ORDER BY id;
SELECT id, vendor_id, deleted_at IS NOT NULL AS deleted FROM offers ORDER BY id;
SELECT action, row_count, keys FROM softdelete.events WHERE table_name = 'cas.offers' ORDER BY id;
-- ON DELETE SET NULL from such a parent is PostgreSQL's own action, on live
-- and deleted children alike; the deleted child stays deleted.
SET ROLE cas_owner;
CREATE TABLE brands (id int PRIMARY KEY);
CREATE TABLE items (id int PRIMARY KEY, brand_id int REFERENCES brands ON DELETE SET NULL);
INSERT INTO brands VALUES (1), (2);
INSERT INTO items VALUES (10, 1), (20, 2);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('items');
RESET client_min_messages;
DELETE FROM items WHERE id = 20;
DELETE FROM brands;
RESET ROLE;
SELECT id, brand_id, deleted_at IS NOT NULL AS deleted FROM items ORDER BY id;

-- An admin's hard delete of an enabled parent takes its ON DELETE CASCADE
-- children along for good, as PostgreSQL's action does, although that
-- action runs as the child's owner: the admin's setting is in effect for a
-- DELETE run by another role that is an admin of the table too. By
-- softdelete.hard_delete() and by SET LOCAL, and through a self-reference.
SET ROLE cas_owner;
CREATE TABLE shops (id int PRIMARY KEY);
CREATE TABLE shelves (id int PRIMARY KEY, shop_id int REFERENCES shops ON DELETE CASCADE);
CREATE TABLE folders (id int PRIMARY KEY, parent_id int REFERENCES folders ON DELETE CASCADE);
INSERT INTO shops VALUES (1), (2), (3);
INSERT INTO shelves VALUES (10, 1), (20, 2), (30, 3);
INSERT INTO folders VALUES (1, NULL), (2, 1), (3, 2), (4, NULL);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('shops');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('folders');
RESET client_min_messages;
GRANT SELECT, DELETE ON shops, shelves, folders TO cas_admin;
RESET ROLE;
SET ROLE cas_admin;
BEGIN;
SET LOCAL softdelete.hard_delete = on;
DELETE FROM shops WHERE id = 1;
DELETE FROM folders WHERE id = 1;
COMMIT;
SELECT softdelete.hard_delete('shops', 2) AS hard_deleted;
RESET ROLE;
SELECT (SELECT string_agg(id::text, ',' ORDER BY id) FROM shops) AS shops,
       (SELECT string_agg(id::text, ',' ORDER BY id) FROM shelves) AS shelves,
       (SELECT string_agg(id::text, ',' ORDER BY id) FROM folders) AS folders;
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE relid IN ('cas.shops'::regclass, 'cas.shelves'::regclass, 'cas.folders'::regclass) ORDER BY id;

DROP SCHEMA cas, "Cas Other" CASCADE;
DROP ROLE cas_owner, cas_app, cas_admin;
