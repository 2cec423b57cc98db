-- enable(tbl, dry_run => true) returns exactly the rows the real call
-- returns, for the table and every child it would enable, and changes
-- nothing at all: no column, index, policy, trigger, RLS flag,
-- configuration row or event.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE dry_owner NOLOGIN;
CREATE SCHEMA dr AUTHORIZATION dry_owner;

-- Everything enable() could touch in schema dr, as one comparable text.
CREATE FUNCTION pg_temp.snapshot() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(E'\n',
        (SELECT string_agg(format('%s %s rls=%s force=%s', c.oid::regclass, c.relkind, c.relrowsecurity,
                                  c.relforcerowsecurity), E'\n' ORDER BY c.oid)
           FROM pg_class c WHERE c.relnamespace = 'dr'::regnamespace),
        (SELECT string_agg(pg_get_indexdef(i.indexrelid), E'\n' ORDER BY i.indexrelid)
           FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'dr'::regnamespace),
        (SELECT string_agg(format('%s %s', p.polrelid::regclass, p.polname), E'\n' ORDER BY p.oid)
           FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'dr'::regnamespace),
        (SELECT string_agg(format('%s %s %s', t.tgrelid::regclass, t.tgname, t.tgenabled), E'\n' ORDER BY t.oid)
           FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'dr'::regnamespace),
        (SELECT string_agg(format('%s %s %s', a.attrelid::regclass, a.attname, a.atttypid::regtype), E'\n'
                           ORDER BY a.attrelid, a.attnum)
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          WHERE c.relnamespace = 'dr'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped),
        (SELECT string_agg(format('%s %s', con.conrelid::regclass, con.conname), E'\n' ORDER BY con.oid)
           FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid WHERE c.relnamespace = 'dr'::regnamespace),
        (SELECT string_agg(format('%s %s %s', t.relid, t.column_name, t.cascade), E'\n' ORDER BY t.relid::text)
           FROM softdelete.tables t),
        (SELECT count(*)::text FROM softdelete.events))
$$;

SET ROLE dry_owner;
-- users <- posts <- comments (a tree), posts with unique constraints and
-- indexes to convert, a partitioned child, users with RLS of its own.
CREATE TABLE dr.users (id int PRIMARY KEY, email text NOT NULL UNIQUE, tenant int);
ALTER TABLE dr.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON dr.users USING (tenant = 1);
CREATE TABLE dr.posts (id int PRIMARY KEY, user_id int REFERENCES dr.users, slug text,
                       CONSTRAINT posts_slug_key UNIQUE (slug));
CREATE UNIQUE INDEX posts_lower_slug_idx ON dr.posts (lower(slug)) WHERE user_id > 0;
CREATE TABLE dr.comments (id int PRIMARY KEY, post_id int REFERENCES dr.posts, parent_id int REFERENCES dr.comments);
CREATE TABLE dr.visits (id int, user_id int REFERENCES dr.users, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE dr.visits_2024 PARTITION OF dr.visits FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
RESET ROLE;

SELECT pg_temp.snapshot() AS before \gset
-- The dry run: rows, no NOTICE of a change.
CREATE TEMP TABLE planned AS
SELECT row_number() OVER () AS n, action, object FROM softdelete.enable('dr.users', dry_run => true);
SELECT action, object FROM planned ORDER BY n;
-- Nothing changed.
SELECT pg_temp.snapshot() = :'before' AS nothing_changed;

-- The real call returns the same rows, in the same order, and it does
-- change the catalog (so the snapshot can tell).
SET client_min_messages = warning;
CREATE TEMP TABLE done AS
SELECT row_number() OVER () AS n, action, object FROM softdelete.enable('dr.users');
RESET client_min_messages;
SELECT (SELECT count(*) FROM planned) AS planned, (SELECT count(*) FROM done) AS done,
       NOT EXISTS (SELECT n, action, object FROM planned EXCEPT SELECT n, action, object FROM done)
       AND NOT EXISTS (SELECT n, action, object FROM done EXCEPT SELECT n, action, object FROM planned) AS same_rows;
SELECT pg_temp.snapshot() <> :'before' AS enable_changed_things;

-- On an enabled table: a dry run with the same options says unchanged; with
-- other options it says configured and configures nothing.
SELECT pg_temp.snapshot() AS enabled_state \gset
SELECT * FROM softdelete.enable('dr.users', dry_run => true);
SELECT * FROM softdelete.enable('dr.users', retention => '30 days', dry_run => true);
SELECT pg_temp.snapshot() = :'enabled_state' AS nothing_changed;
SELECT retention FROM softdelete.tables WHERE relid = 'dr.users'::regclass;

-- A child the dry run finds is planned, not enabled: standalone is enabled
-- with cascade off, so its new child was not enabled by the event trigger;
-- a dry run of cascade => true shows the child it would enable.
SET ROLE dry_owner;
CREATE TABLE dr.standalone (id int PRIMARY KEY);
SET client_min_messages = warning;
SELECT count(*) AS actions FROM softdelete.enable('dr.standalone', cascade => false) \gset
RESET client_min_messages;
CREATE TABLE dr.standalone_notes (id int PRIMARY KEY, standalone_id int REFERENCES dr.standalone);
RESET ROLE;
SELECT pg_temp.snapshot() AS with_child \gset
SET ROLE dry_owner;
SELECT action, object FROM softdelete.enable('dr.standalone', dry_run => true)
 WHERE action IN ('configured', 'cascade', 'enabled');
RESET ROLE;
SELECT pg_temp.snapshot() = :'with_child' AS nothing_changed;

SET ROLE dry_owner;
-- A refusal is the same in a dry run: the child without a primary key is
-- named, with its SQLSTATE and hint.
CREATE TABLE dr.standalone_scraps (standalone_id int REFERENCES dr.standalone);
SELECT * FROM softdelete.enable('dr.standalone', dry_run => true);
\echo SQLSTATE :SQLSTATE
SELECT * FROM softdelete.enable('dr.standalone');
\echo SQLSTATE :SQLSTATE
-- dry_run must be true or false.
SELECT * FROM softdelete.enable('dr.standalone', dry_run => NULL);
\echo SQLSTATE :SQLSTATE
RESET ROLE;

DROP SCHEMA dr CASCADE;
DROP ROLE dry_owner;
