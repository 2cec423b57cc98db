-- enable() cascades to foreign-key children: every table that references
-- the enabled table, recursively, is enabled with the default options, and
-- the call says so. Trees, cycles, multi-column keys, partitioned children
-- and odd names all end; a child that cannot be enabled fails the whole call
-- and changes nothing. After enable, a new foreign key to an enabled table
-- enables its table (the drift guard).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE cascade_owner NOLOGIN;
CREATE ROLE cascade_other NOLOGIN;
CREATE SCHEMA ce AUTHORIZATION cascade_owner;
CREATE SCHEMA "Other Schema" AUTHORIZATION cascade_owner;
GRANT CREATE, USAGE ON SCHEMA ce, "Other Schema" TO cascade_other;

-- Which of these tables are enabled, and with which column and cascade.
CREATE FUNCTION pg_temp.enabled(VARIADIC rels regclass[]) RETURNS TABLE (tbl text, enabled boolean, col name, cascade boolean)
    LANGUAGE sql AS $$
    SELECT r::text, t.relid IS NOT NULL, t.column_name, t.cascade
      FROM unnest(rels) WITH ORDINALITY AS u(r, o) LEFT JOIN softdelete.tables t ON t.relid = u.r
     ORDER BY o
$$;

SET ROLE cascade_owner;

-------------------------------------------------------------------------------
-- 1. users <- posts <- comments (default NO ACTION keys), comments also a
--    tree (self-reference), a cycle between two tables, a two-column key,
--    a partitioned child, a key on one partition, names with quotes, spaces
--    and capitals in another schema.
-------------------------------------------------------------------------------
CREATE TABLE ce.users (id int PRIMARY KEY, email text UNIQUE);
CREATE TABLE ce.posts (id int PRIMARY KEY, user_id int NOT NULL REFERENCES ce.users, title text);
CREATE TABLE ce.comments (
    id        int PRIMARY KEY,
    post_id   int NOT NULL REFERENCES ce.posts ON DELETE RESTRICT,
    parent_id int REFERENCES ce.comments,
    body      text
);
-- A cycle: reviews and reviewers point at each other; reviews at posts.
CREATE TABLE ce.reviews (id int PRIMARY KEY, post_id int REFERENCES ce.posts ON DELETE SET NULL, reviewer_id int);
CREATE TABLE ce.reviewers (id int PRIMARY KEY, last_review int REFERENCES ce.reviews);
ALTER TABLE ce.reviews ADD FOREIGN KEY (reviewer_id) REFERENCES ce.reviewers;
-- A two-column key to posts (id, user_id).
ALTER TABLE ce.posts ADD CONSTRAINT posts_id_user_key UNIQUE (id, user_id);
CREATE TABLE ce.post_tags (
    post_id int, user_id int, tag text,
    PRIMARY KEY (post_id, tag),
    FOREIGN KEY (post_id, user_id) REFERENCES ce.posts (id, user_id)
);
-- A partitioned child: enabled as a whole, never one partition.
CREATE TABLE ce.visits (id int, user_id int REFERENCES ce.users, at date, PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE ce.visits_2024 PARTITION OF ce.visits FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
-- A key declared on one partition only: its partitioned table is enabled.
CREATE TABLE ce.logins (id int, user_id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE ce.logins_2024 PARTITION OF ce.logins FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE ce.logins_2024 ADD FOREIGN KEY (user_id) REFERENCES ce.users;
-- Odd names across schemas.
CREATE TABLE "Other Schema"."Post ""Likes""" ("Id" int PRIMARY KEY, "Post Id" int REFERENCES ce.posts);
-- Not a child: nothing references it and it references nothing.
CREATE TABLE ce.unrelated (id int PRIMARY KEY);

-- One call enables users and every table that references it, directly or
-- not; each child's rows start with a 'cascade' row naming its parent, and
-- go on as enable() of that table would (shown in full for one child).
SET client_min_messages = warning;
CREATE TEMP TABLE first_call AS SELECT * FROM softdelete.enable('ce.users');
RESET client_min_messages;
SELECT action, object FROM first_call WHERE action IN ('cascade', 'enabled');
SELECT action, object FROM first_call WHERE object LIKE 'ce.comments%' OR object LIKE '% ce.comments';

SELECT * FROM pg_temp.enabled('ce.users', 'ce.posts', 'ce.comments', 'ce.reviews', 'ce.reviewers',
                              'ce.post_tags', 'ce.visits', 'ce.visits_2024', 'ce.logins', 'ce.logins_2024',
                              '"Other Schema"."Post ""Likes"""', 'ce.unrelated');
-- The children carry the whole enforcement, partitions included.
SELECT c.oid::regclass AS rel, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'softdelete_visibility') AS visibility
  FROM pg_class c
 WHERE c.oid IN ('ce.comments'::regclass, 'ce.visits'::regclass, 'ce.visits_2024'::regclass,
                 'ce.logins_2024'::regclass, '"Other Schema"."Post ""Likes"""'::regclass)
 ORDER BY c.oid::regclass::text;

-- A second call changes nothing and enables nothing more.
SELECT * FROM softdelete.enable('ce.users');

-------------------------------------------------------------------------------
-- 2. Already enabled children are left alone (their own column and options
--    stay); cascade => false enables the table only.
-------------------------------------------------------------------------------
CREATE TABLE ce.teams (id int PRIMARY KEY);
CREATE TABLE ce.members (id int PRIMARY KEY, team_id int REFERENCES ce.teams);
CREATE TABLE ce.badges (id int PRIMARY KEY, member_id int REFERENCES ce.members);
SELECT count(*) AS actions FROM softdelete.enable('ce.members', column_name => 'removed_at', cascade => false);
SELECT action, object FROM softdelete.enable('ce.teams') WHERE action IN ('cascade', 'enabled');
-- members kept removed_at and cascade off, so badges (its child) was not enabled.
SELECT * FROM pg_temp.enabled('ce.teams', 'ce.members', 'ce.badges');

CREATE TABLE ce.shops (id int PRIMARY KEY);
CREATE TABLE ce.orders (id int PRIMARY KEY, shop_id int REFERENCES ce.shops);
SELECT * FROM softdelete.enable('ce.shops', cascade => false);
SELECT * FROM pg_temp.enabled('ce.shops', 'ce.orders');
-- Turning cascade on later enables the children then.
SELECT * FROM softdelete.enable('ce.shops');
SELECT * FROM pg_temp.enabled('ce.shops', 'ce.orders');

-------------------------------------------------------------------------------
-- 3. A child that cannot be enabled fails the whole call, named, with its
--    SQLSTATE and a hint; nothing changed, not even the parent.
-------------------------------------------------------------------------------
CREATE TABLE ce.authors (id int PRIMARY KEY);
CREATE TABLE ce.books (id int PRIMARY KEY, author_id int REFERENCES ce.authors);
CREATE TABLE ce.notes (book_id int REFERENCES ce.books, body text);   -- no primary key
SELECT * FROM softdelete.enable('ce.authors');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.enabled('ce.authors', 'ce.books', 'ce.notes');
SELECT count(*) AS tombstone_columns FROM pg_attribute
 WHERE attrelid IN ('ce.authors'::regclass, 'ce.books'::regclass) AND attname = 'deleted_at';
-- cascade => false, as the hint says, enables authors alone.
SELECT count(*) AS actions FROM softdelete.enable('ce.authors', cascade => false);
SELECT * FROM pg_temp.enabled('ce.authors', 'ce.books', 'ce.notes');

-- A child the caller does not own: 42501 naming the child, nothing changed.
RESET ROLE;
CREATE TABLE ce.shelves (id int PRIMARY KEY);
ALTER TABLE ce.shelves OWNER TO cascade_other;
CREATE TABLE ce.shelf_books (id int PRIMARY KEY, shelf_id int REFERENCES ce.shelves);
ALTER TABLE ce.shelf_books OWNER TO cascade_owner;
SET ROLE cascade_other;
SELECT * FROM softdelete.enable('ce.shelves');
\echo SQLSTATE :SQLSTATE
SELECT * FROM pg_temp.enabled('ce.shelves', 'ce.shelf_books');
RESET ROLE;
SET ROLE cascade_owner;

-------------------------------------------------------------------------------
-- 4. After enable: a new table with a foreign key to an enabled table whose
--    cascade is on is enabled (NOTICE), and so is a table that gets such a
--    key with ALTER TABLE. One that cannot be enabled fails its DDL.
-------------------------------------------------------------------------------
CREATE TABLE ce.attachments (id int PRIMARY KEY, comment_id int REFERENCES ce.comments);
SELECT * FROM pg_temp.enabled('ce.attachments');
SELECT count(*) AS visibility FROM pg_policy
 WHERE polrelid = 'ce.attachments'::regclass AND polname = 'softdelete_visibility';

CREATE TABLE ce."Late Child" (id int PRIMARY KEY, post int);
SELECT * FROM pg_temp.enabled('ce."Late Child"');
ALTER TABLE ce."Late Child" ADD FOREIGN KEY (post) REFERENCES ce.posts;
SELECT * FROM pg_temp.enabled('ce."Late Child"');

-- A partitioned table created with a key: enabled as a whole, its
-- partitions covered.
CREATE TABLE ce.events (id int, user_id int REFERENCES ce.users, at date, PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE ce.events_2024 PARTITION OF ce.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
SELECT * FROM pg_temp.enabled('ce.events', 'ce.events_2024');
SELECT count(*) AS partition_visibility FROM pg_policy
 WHERE polrelid = 'ce.events_2024'::regclass AND polname = 'softdelete_visibility';

-- Fail closed: a table that cannot be enabled cannot reference an enabled
-- table with cascade on; the statement fails, the table does not exist.
CREATE TABLE ce.scribbles (comment_id int REFERENCES ce.comments, body text);
\echo SQLSTATE :SQLSTATE
SELECT to_regclass('ce.scribbles') AS scribbles;
CREATE TABLE ce.doodles (comment_id int, body text);
ALTER TABLE ce.doodles ADD FOREIGN KEY (comment_id) REFERENCES ce.comments;
\echo SQLSTATE :SQLSTATE
SELECT count(*) AS doodles_keys FROM pg_constraint WHERE conrelid = 'ce.doodles'::regclass AND contype = 'f';

-- A parent with cascade off: a new child is not enabled.
CREATE TABLE ce.receipts (id int PRIMARY KEY, author_id int REFERENCES ce.authors);
SELECT * FROM pg_temp.enabled('ce.receipts');
-- Neither is a key to a table that is not enabled.
CREATE TABLE ce.unrelated_child (id int PRIMARY KEY, unrelated_id int REFERENCES ce.unrelated);
SELECT * FROM pg_temp.enabled('ce.unrelated_child');
RESET ROLE;

-- The new children are real soft-delete tables: a DELETE marks the row.
INSERT INTO ce.users VALUES (1, 'a@example.com');
INSERT INTO ce.posts VALUES (1, 1, 'hello');
INSERT INTO ce."Late Child" VALUES (1, 1);
DELETE FROM ce."Late Child" WHERE id = 1;
SET softdelete.include_deleted = on;
SELECT id, deleted_at IS NOT NULL AS deleted FROM ce."Late Child";
RESET softdelete.include_deleted;

-------------------------------------------------------------------------------
-- 5. The foreign-key graph as the catalog module reads it: one row per key,
--    the table holding it (a partition's key counts for its partitioned
--    table), its columns in order, its ON DELETE action.
-------------------------------------------------------------------------------
SELECT * FROM softdelete_internal.referencing_tables('ce.users') ORDER BY child::text, constraint_name;
SELECT * FROM softdelete_internal.referencing_tables('ce.posts') ORDER BY child::text, constraint_name;
SELECT * FROM softdelete_internal.referencing_tables('ce.unrelated_child');
SELECT * FROM softdelete_internal.referencing_tables(NULL);
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete_internal.referencing_tables(0);
\echo SQLSTATE :SQLSTATE

DROP SCHEMA ce, "Other Schema" CASCADE;
DROP ROLE cascade_owner, cascade_other;
