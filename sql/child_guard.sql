-- child_guard: no live child under a soft-deleted parent. Inserting a row
-- whose foreign key references a soft-deleted row of an enabled table, or
-- re-pointing a row to one (an UPDATE of its foreign-key columns), fails
-- with 23503 naming the parent and the constraint. A referenced row that
-- does not exist is left to PostgreSQL's own foreign-key check. An UPDATE
-- that leaves the foreign-key columns as they were re-points nothing and
-- passes, also when the row's parent is deleted: it was there before.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE cg_owner;
CREATE ROLE cg_app;
CREATE SCHEMA cg AUTHORIZATION cg_owner;
GRANT USAGE ON SCHEMA cg TO cg_app;

-- SQLSTATE, message and detail of sql run as the current role, or 'ok'.
CREATE FUNCTION cg.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text;
    msg text;
    detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RETURN state || ': ' || msg || coalesce(' / ' || nullif(detail, ''), '');
END
$$;
GRANT EXECUTE ON FUNCTION cg.try(text) TO cg_app;

-- The guard's trigger on each table of schema cg, and the columns it watches.
CREATE VIEW cg.guards AS
SELECT t.tgrelid::regclass AS rel,
       (SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_attribute a
         WHERE a.attrelid = t.tgrelid AND a.attnum = ANY (t.tgattr::int2[])) AS update_of,
       pg_get_triggerdef(t.oid) LIKE '%AFTER INSERT OR UPDATE OF%FOR EACH ROW%' AS after_row
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE t.tgname = 'softdelete_child_guard' AND c.relnamespace = 'cg'::regnamespace
 ORDER BY t.tgrelid::regclass::text;
GRANT SELECT ON cg.guards TO cg_owner;

SET ROLE cg_owner;
CREATE TABLE cg.users (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE cg.teams (id int PRIMARY KEY);
-- ON DELETE SET NULL: a post stays as it is when its user is soft-deleted
-- (nothing cascades to it), so a live post can hang under a deleted user.
CREATE TABLE cg.posts (
    id int PRIMARY KEY,
    user_id int REFERENCES cg.users ON DELETE SET NULL,
    team_id int REFERENCES cg.teams,
    title text
);
INSERT INTO cg.users VALUES (1, 'ann'), (2, 'bob'), (3, 'cy');
INSERT INTO cg.teams VALUES (1);
INSERT INTO cg.posts VALUES (1, 1, 1, 'first'), (2, 3, 1, 'by cy');
GRANT SELECT, INSERT, UPDATE ON cg.posts TO cg_app;
-- The application has no privilege on cg.users at all.

-- The child is enabled first: no guard yet, its parents are not enabled.
SELECT action, object FROM softdelete.enable('cg.posts') WHERE object LIKE '%child_guard%';
SELECT * FROM cg.guards;
-- Enabling a parent guards the children that reference it, on the columns
-- of their foreign keys to enabled tables only (team_id's table is not).
SELECT action, object FROM softdelete.enable('cg.users') WHERE object LIKE '%child_guard%';
SELECT * FROM cg.guards;
DELETE FROM cg.users WHERE id = 3;
RESET ROLE;

SET ROLE cg_app;

-- Insert under a soft-deleted parent: 23503, naming the parent and the
-- constraint. The application cannot read cg.users at all, and gets the
-- same answer as the owner below.
INSERT INTO cg.posts VALUES (10, 3, 1, 'under a deleted user');
SELECT cg.try($$INSERT INTO cg.posts VALUES (10, 3, 1, 'under a deleted user')$$);
-- Re-pointing a row to the deleted parent.
SELECT cg.try($$UPDATE cg.posts SET user_id = 3 WHERE id = 1$$);
-- Several rows, one of them under the deleted parent: the statement fails.
SELECT cg.try($$INSERT INTO cg.posts VALUES (11, 1, 1, 'ok'), (12, 3, 1, 'no')$$);
-- An upsert that re-points through ON CONFLICT DO UPDATE.
SELECT cg.try($$INSERT INTO cg.posts VALUES (1, 3, 1, 'x') ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id$$);
-- A parent that does not exist is PostgreSQL's own error.
SELECT cg.try($$INSERT INTO cg.posts VALUES (13, 99, 1, 'nobody')$$);
-- No parent (NULL) is no reference.
SELECT cg.try($$INSERT INTO cg.posts VALUES (14, NULL, 1, 'anonymous')$$);
-- A live parent.
SELECT cg.try($$INSERT INTO cg.posts VALUES (15, 2, 1, 'by bob')$$);
-- Row 2 already hangs under the deleted user: editing its other columns
-- re-points nothing and is allowed, and so is writing the same key again.
SELECT cg.try($$UPDATE cg.posts SET title = 'edited' WHERE id = 2$$);
SELECT cg.try($$UPDATE cg.posts SET user_id = user_id, title = 'edited again' WHERE id = 2$$);
-- Moving it to a live parent is allowed, and back is not.
SELECT cg.try($$UPDATE cg.posts SET user_id = 2 WHERE id = 2$$);
SELECT cg.try($$UPDATE cg.posts SET user_id = 3 WHERE id = 2$$);
-- Changing the column that is not guarded (cg.teams is not enabled).
SELECT cg.try($$UPDATE cg.posts SET team_id = 1 WHERE id = 1$$);
RESET ROLE;

-- The table owner gets the same.
SET ROLE cg_owner;
SELECT cg.try($$INSERT INTO cg.posts VALUES (10, 3, 1, 'under a deleted user')$$);
RESET ROLE;
-- A role that may not read the child's key columns learns the constraint,
-- not the key (as with PostgreSQL's own message).
CREATE ROLE cg_writer;
GRANT USAGE ON SCHEMA cg TO cg_writer;
GRANT INSERT ON cg.posts TO cg_writer;
GRANT EXECUTE ON FUNCTION cg.try(text) TO cg_writer;
SET ROLE cg_writer;
SELECT cg.try($$INSERT INTO cg.posts VALUES (10, 3, 1, 'under a deleted user')$$);
RESET ROLE;
-- Reading some other column is not enough; reading the key's is.
GRANT SELECT (id) ON cg.posts TO cg_writer;
SET ROLE cg_writer;
SELECT cg.try($$INSERT INTO cg.posts VALUES (10, 3, 1, 'under a deleted user')$$);
RESET ROLE;
GRANT SELECT (user_id) ON cg.posts TO cg_writer;
SET ROLE cg_writer;
SELECT cg.try($$INSERT INTO cg.posts VALUES (10, 3, 1, 'under a deleted user')$$);
RESET ROLE;

-- The check sees the row as the triggers left it: a BEFORE trigger that
-- points the row at the deleted user is caught.
CREATE FUNCTION cg.to_cy() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN NEW.user_id := 3; RETURN NEW; END $$;
CREATE TRIGGER to_cy BEFORE INSERT ON cg.posts FOR EACH ROW EXECUTE FUNCTION cg.to_cy();
SELECT cg.try($$INSERT INTO cg.posts VALUES (16, 1, 1, 'redirected')$$);
DROP TRIGGER to_cy ON cg.posts;

-- In one transaction: a user deleted, then a post under it.
BEGIN;
DELETE FROM cg.users WHERE id = 2;
SELECT cg.try($$INSERT INTO cg.posts VALUES (17, 2, 1, 'too late')$$);
ROLLBACK;

-- A row written as deleted is no live child: an admin may store it.
SELECT cg.try($$INSERT INTO cg.posts (id, user_id, title, deleted_at) VALUES (18, 3, 'archived', now())$$);

-- A restore of the parent makes the insert work again.
SELECT softdelete.restore('cg.users', 3);
SELECT cg.try($$INSERT INTO cg.posts VALUES (10, 3, 1, 'under cy again')$$);
SELECT id, user_id, title FROM cg.posts ORDER BY id;

-- A foreign key added later to an enabled child is watched at once, and
-- one dropped is no longer (so that its column can be dropped).
SET ROLE cg_owner;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cg.teams');
SELECT * FROM cg.guards;
ALTER TABLE cg.posts ADD COLUMN editor_id int;
ALTER TABLE cg.posts ADD CONSTRAINT posts_editor_fkey FOREIGN KEY (editor_id) REFERENCES cg.users;
SELECT * FROM cg.guards;
ALTER TABLE cg.posts DROP CONSTRAINT posts_editor_fkey;
ALTER TABLE cg.posts DROP COLUMN editor_id;
SELECT * FROM cg.guards;
RESET ROLE;

-- Multi-column foreign keys.
SET ROLE cg_owner;
CREATE TABLE cg.members (org int, id int, PRIMARY KEY (org, id));
CREATE TABLE cg.badges (id int PRIMARY KEY, org int, member_id int, FOREIGN KEY (org, member_id) REFERENCES cg.members);
INSERT INTO cg.members VALUES (1, 1), (1, 2), (2, 1);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cg.members');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cg.badges');
SELECT * FROM cg.guards WHERE rel = 'cg.badges'::regclass;
DELETE FROM cg.members WHERE org = 1 AND id = 2;
SELECT cg.try($$INSERT INTO cg.badges VALUES (1, 1, 2)$$);
SELECT cg.try($$INSERT INTO cg.badges VALUES (2, 2, 2)$$);  -- (2, 2) does not exist
SELECT cg.try($$INSERT INTO cg.badges VALUES (3, 1, NULL)$$);  -- MATCH SIMPLE: no reference
SELECT cg.try($$INSERT INTO cg.badges VALUES (4, 2, 1)$$);
-- Changing one column of the key to land on the deleted row.
SELECT cg.try($$UPDATE cg.badges SET org = 1, member_id = 2 WHERE id = 4$$);
RESET ROLE;

-- Keys of other types than the referenced ones: a bigint referencing an
-- integer (a cross-type operator of the index's family) and a varchar
-- referencing a text (an operator on the text it converts to).
SET ROLE cg_owner;
CREATE TABLE cg.codes (code text PRIMARY KEY, n int NOT NULL UNIQUE);
CREATE TABLE cg.uses (id int PRIMARY KEY, n bigint REFERENCES cg.codes (n), code varchar(10) REFERENCES cg.codes);
INSERT INTO cg.codes VALUES ('a', 1), ('b', 2);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cg.codes');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cg.uses');
DELETE FROM cg.codes WHERE code = 'b';
SELECT cg.try($$INSERT INTO cg.uses VALUES (1, 1, 'a')$$);
SELECT cg.try($$INSERT INTO cg.uses VALUES (2, 2, NULL)$$);
SELECT cg.try($$INSERT INTO cg.uses VALUES (3, NULL, 'b')$$);
RESET ROLE;

-- A self-referencing tree.
SET ROLE cg_owner;
CREATE TABLE cg.nodes (id int PRIMARY KEY, parent_id int REFERENCES cg.nodes);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cg.nodes');
SELECT * FROM cg.guards WHERE rel = 'cg.nodes'::regclass;
-- A root that references itself, and rows that reference each other, in
-- one statement.
INSERT INTO cg.nodes VALUES (1, 1);
INSERT INTO cg.nodes VALUES (2, 3), (3, 2), (4, 1);
DELETE FROM cg.nodes WHERE id = 4;
SELECT cg.try($$INSERT INTO cg.nodes VALUES (5, 4)$$);
SELECT cg.try($$UPDATE cg.nodes SET parent_id = 4 WHERE id = 2$$);
-- A row re-pointed to itself, and a row that is soft-deleted while it
-- is re-pointed to a deleted node (it is no live child).
SELECT cg.try($$UPDATE cg.nodes SET parent_id = 2 WHERE id = 2$$);
SELECT cg.try($$UPDATE cg.nodes SET parent_id = 4, deleted_at = now() WHERE id = 3$$);
RESET ROLE;

-- Partitioned parent and partitioned child: the trigger on the child is
-- cloned to its partitions, present and future, and the check reads the
-- parent through its partitioned table.
SET ROLE cg_owner;
CREATE TABLE cg.accounts (region text, id int, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE cg.accounts_eu PARTITION OF cg.accounts FOR VALUES IN ('eu');
CREATE TABLE cg.accounts_us PARTITION OF cg.accounts FOR VALUES IN ('us');
CREATE TABLE cg.entries (id int, region text, account_id int, amount int, PRIMARY KEY (id, region),
                         FOREIGN KEY (region, account_id) REFERENCES cg.accounts) PARTITION BY LIST (region);
CREATE TABLE cg.entries_eu PARTITION OF cg.entries FOR VALUES IN ('eu');
INSERT INTO cg.accounts VALUES ('eu', 1), ('eu', 2), ('us', 1);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cg.accounts');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cg.entries');
CREATE TABLE cg.entries_us PARTITION OF cg.entries FOR VALUES IN ('us');
SELECT * FROM cg.guards WHERE rel::text LIKE 'cg.entries%';
DELETE FROM cg.accounts WHERE region = 'eu' AND id = 2;
DELETE FROM cg.accounts_us WHERE id = 1;
GRANT SELECT, INSERT, UPDATE ON cg.entries, cg.entries_eu TO cg_app;
RESET ROLE;
SET ROLE cg_app;
SELECT cg.try($$INSERT INTO cg.entries VALUES (1, 'eu', 1, 10)$$);
SELECT cg.try($$INSERT INTO cg.entries VALUES (2, 'eu', 2, 10)$$);
SELECT cg.try($$INSERT INTO cg.entries VALUES (3, 'us', 1, 10)$$);
-- An UPDATE that moves the row to the other partition and to a deleted account.
SELECT cg.try($$UPDATE cg.entries SET region = 'us' WHERE id = 1$$);
-- A partition addressed directly.
SELECT cg.try($$INSERT INTO cg.entries_eu VALUES (4, 'eu', 2, 10)$$);
RESET ROLE;
-- A partition attached later, its columns in another order and one dropped:
-- the cloned trigger watches its own column numbers.
SET ROLE cg_owner;
CREATE TABLE cg.accounts_asia PARTITION OF cg.accounts FOR VALUES IN ('asia');
INSERT INTO cg.accounts VALUES ('asia', 1);
DELETE FROM cg.accounts WHERE region = 'asia';
CREATE TABLE cg.entries_asia (junk int, amount int, account_id int, region text NOT NULL, id int NOT NULL);
ALTER TABLE cg.entries_asia DROP COLUMN junk;
ALTER TABLE cg.entries_asia ADD COLUMN deleted_at timestamptz, ADD COLUMN deleted_by text,
    ADD COLUMN delete_reason text, ADD COLUMN delete_op bigint;
ALTER TABLE cg.entries ATTACH PARTITION cg.entries_asia FOR VALUES IN ('asia');
SELECT * FROM cg.guards WHERE rel = 'cg.entries_asia'::regclass;
SELECT cg.try($$INSERT INTO cg.entries VALUES (5, 'asia', 1, 10)$$);
SELECT cg.try($$INSERT INTO cg.entries VALUES (5, 'asia', NULL, 10)$$);
SELECT cg.try($$UPDATE cg.entries SET account_id = 1 WHERE id = 5$$);
RESET ROLE;

-- Names with quotes, spaces and capitals, across schemas.
CREATE SCHEMA "Odd ""Schema""" AUTHORIZATION cg_owner;
SET ROLE cg_owner;
CREATE TABLE "Odd ""Schema"""."Parent Table" ("Key Col" int PRIMARY KEY);
CREATE TABLE cg."Child's ""Rows""" (id int PRIMARY KEY,
    "Parent Ref" int CONSTRAINT "The ""FK""" REFERENCES "Odd ""Schema"""."Parent Table");
INSERT INTO "Odd ""Schema"""."Parent Table" VALUES (1), (2);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cg."Child''s ""Rows"""');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('"Odd ""Schema"""."Parent Table"');
SELECT * FROM cg.guards WHERE rel::text LIKE '%Child%';
DELETE FROM "Odd ""Schema"""."Parent Table" WHERE "Key Col" = 2;
SELECT cg.try($$INSERT INTO cg."Child's ""Rows""" VALUES (1, 1)$$);
SELECT cg.try($$INSERT INTO cg."Child's ""Rows""" VALUES (2, 2)$$);
RESET ROLE;

-- The checks follow the catalog after they were first used in this
-- session: renamed tables and foreign key columns (the direct check and the
-- SPI plan of the partitioned parent are rebuilt). A parent's primary key
-- column cannot be renamed while it is enabled (the drift guard, 55000).
SET ROLE cg_owner;
ALTER TABLE cg.accounts RENAME TO ledger;
ALTER TABLE cg.badges RENAME COLUMN member_id TO member_no;
ALTER TABLE cg.members RENAME COLUMN id TO member_no;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT cg.try($$INSERT INTO cg.entries VALUES (5, 'eu', 2, 10)$$);
SELECT cg.try($$INSERT INTO cg.entries VALUES (6, 'eu', 1, 10)$$);
SELECT cg.try($$INSERT INTO cg.badges VALUES (5, 1, 2)$$);
SELECT cg.try($$INSERT INTO cg.badges VALUES (6, 1, 1)$$);
-- The guard watches its columns: dropping one that a foreign key still
-- uses is refused by the dependency (drop the foreign key first).
SELECT cg.try($$ALTER TABLE cg.badges DROP COLUMN member_no$$);

-- disable() of a parent takes its children's guard away (or narrows it);
-- disable() of a child takes its own.
SELECT action, object FROM softdelete.disable('cg.users') WHERE object LIKE '%child_guard%';
SELECT * FROM cg.guards WHERE rel = 'cg.posts'::regclass;
SELECT cg.try($$INSERT INTO cg.posts VALUES (20, 1, 1, 'users no longer enabled')$$);
SELECT action, object FROM softdelete.disable('cg.badges') WHERE object LIKE '%child_guard%';
SELECT action, object FROM softdelete.disable('cg.entries') WHERE object LIKE '%child_guard%';
SELECT * FROM cg.guards;
-- Enabled again, the guard is back.
SELECT action, object FROM softdelete.enable('cg.users') WHERE object LIKE '%child_guard%';
DELETE FROM cg.users WHERE id = 1;
SELECT cg.try($$INSERT INTO cg.posts VALUES (21, 1, 1, 'users enabled again')$$);

-- The trigger function runs only as the guard it is meant to be.
SELECT cg.try($$SELECT softdelete_internal.guard_child()$$);
CREATE TABLE cg.misplaced (id int PRIMARY KEY);
CREATE TRIGGER misplaced BEFORE INSERT ON cg.misplaced FOR EACH ROW EXECUTE FUNCTION softdelete_internal.guard_child();
SELECT cg.try($$INSERT INTO cg.misplaced VALUES (1)$$);

-- The lock a DELETE of a parent takes on each row before it writes it
-- (lock_for_delete()) is taken only inside such a DELETE: a member of
-- softdelete_backup, who may name softdelete_internal's functions, locked
-- rows of a table it had no privilege on; a superuser's call with the
-- block number of a new page added a page to the table.
CREATE ROLE cg_backup IN ROLE softdelete_backup;
GRANT EXECUTE ON FUNCTION cg.try(text) TO cg_backup;
GRANT USAGE ON SCHEMA cg TO cg_backup;
SET ROLE cg_backup;
SELECT cg.try($$SELECT softdelete_internal.lock_for_delete('(0,1)', 'cg.users'::regclass, 'cg.users'::regclass)$$);
RESET ROLE;
SELECT pg_relation_size('cg.users') AS size_before \gset
SELECT cg.try($$SELECT softdelete_internal.lock_for_delete('(4294967295,1)', 'cg.users'::regclass, 'cg.users'::regclass)$$);
SELECT cg.try($$SELECT softdelete_internal.lock_for_delete('(1000,1)', 'cg.users'::regclass, 'cg.users'::regclass)$$);
SELECT pg_relation_size('cg.users') = :size_before AS same_size;
-- In a DELETE of another table, on a row of cg.users: refused too.
CREATE TABLE cg.scratch (id int PRIMARY KEY);
CREATE TABLE cg.scratch_child (id int PRIMARY KEY, scratch_id int REFERENCES cg.scratch);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cg.scratch');
RESET client_min_messages;
INSERT INTO cg.scratch VALUES (1);
SELECT cg.try($$DELETE FROM cg.scratch WHERE softdelete_internal.lock_for_delete('(0,1)', 'cg.users'::regclass, 'cg.scratch'::regclass)$$);
-- Inside a DELETE of its own table, a row past the end is not one: the
-- table does not grow.
SELECT pg_relation_size('cg.scratch') AS size_before \gset
SELECT cg.try($$DELETE FROM cg.scratch WHERE softdelete_internal.lock_for_delete('(4294967295,1)', 'cg.scratch'::regclass, 'cg.scratch'::regclass)$$);
SELECT pg_relation_size('cg.scratch') = :size_before AS same_size;
-- A WITH query's DELETE that nothing reads runs as its statement finishes,
-- not while it runs: it locks and soft-deletes as any other (it was refused
-- by the lock's own check).
INSERT INTO cg.scratch VALUES (2), (3);
INSERT INTO cg.scratch_child VALUES (20, 2);
WITH d AS (DELETE FROM cg.scratch WHERE id = 2) SELECT 1 AS one;
WITH d AS (DELETE FROM cg.scratch WHERE id = 3 RETURNING id) SELECT 1 AS one FROM d LIMIT 0;
SET softdelete.include_deleted = on;
SELECT id, deleted_at IS NOT NULL AS deleted FROM cg.scratch ORDER BY id;
SELECT id, deleted_at IS NOT NULL AS deleted FROM cg.scratch_child ORDER BY id;
RESET softdelete.include_deleted;
DROP OWNED BY cg_backup;
DROP ROLE cg_backup;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'cg.%' OR table_name LIKE '"Odd%';
DROP SCHEMA cg CASCADE;
DROP SCHEMA "Odd ""Schema""" CASCADE;
DROP OWNED BY cg_owner, cg_app, cg_writer;
DROP ROLE cg_owner, cg_app, cg_writer;
