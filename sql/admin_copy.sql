-- admin_copy: COPY ... FROM STDIN into an enabled table. PostgreSQL refuses
-- COPY FROM where row security applies, and enable() forces it on the owner
-- too; softdelete carries out an admin's COPY itself, loading rows as they
-- are (deleted ones with their stamps, as pg_restore and psql's \copy send
-- them), where the role would have copied without row security before
-- enable(). An application role keeps PostgreSQL's refusal (0A000): its rows
-- go through INSERT, under the visibility policy.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;

CREATE ROLE cp_owner;
CREATE ROLE cp_member IN ROLE cp_owner;     -- a member of the owner's role
CREATE ROLE cp_dba IN ROLE softdelete_admin;
CREATE ROLE cp_dba_no_insert IN ROLE softdelete_admin;
CREATE ROLE cp_app;
CREATE SCHEMA cp AUTHORIZATION cp_owner;
GRANT USAGE ON SCHEMA cp TO cp_dba, cp_dba_no_insert, cp_app;
SET ROLE cp_owner;
-- No row security of its own before enable().
CREATE TABLE cp.users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
-- Row security of its own, not forced: a tenant policy.
CREATE TABLE cp.notes (id int PRIMARY KEY, tenant text NOT NULL);
ALTER TABLE cp.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON cp.notes USING (tenant = 'acme');
-- Row security forced on the owner before enable().
CREATE TABLE cp.audit (id int PRIMARY KEY);
ALTER TABLE cp.audit ENABLE ROW LEVEL SECURITY;
ALTER TABLE cp.audit FORCE ROW LEVEL SECURITY;
CREATE POLICY all_rows ON cp.audit USING (true);
-- A child: its guard refuses a live row under a deleted user, in a COPY too.
CREATE TABLE cp.posts (id int PRIMARY KEY, user_id int REFERENCES cp.users);
-- Partitioned.
CREATE TABLE cp.events (id int, region int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE cp.events_1 PARTITION OF cp.events FOR VALUES IN (1);
CREATE TABLE cp.events_2 PARTITION OF cp.events FOR VALUES IN (2);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cp.users');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cp.notes');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cp.audit');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('cp.events');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON cp.users, cp.notes, cp.posts, cp.events TO cp_dba, cp_app;
GRANT SELECT, UPDATE, DELETE ON cp.users TO cp_dba_no_insert;
RESET ROLE;

-- What is in a table, as the superuser sees it.
CREATE FUNCTION cp.rows(tbl regclass) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT t::text FROM %s t ORDER BY 1', tbl);
END
$$;

\set QUIET off
\set VERBOSITY terse
-------------------------------------------------------------------------------
-- 1. The owner loads live and deleted rows as they are: COPY 3. A row's
-- delete_op (the operation undo() restores) only as a restore does, as a
-- member of softdelete_backup: without, 42501 and nothing loaded.
-------------------------------------------------------------------------------
SET ROLE cp_owner;
COPY cp.users (id, email, deleted_at, deleted_by, delete_reason, delete_op) FROM STDIN;
1	ann@example.com	\N	\N	\N	\N
2	bob@example.com	2024-05-01 10:00:00+00	support	account closed	41
3	cat@example.com	\N	\N	\N	\N
\.
RESET ROLE;
GRANT softdelete_backup TO cp_owner;
SET ROLE cp_owner;
COPY cp.users (id, email, deleted_at, deleted_by, delete_reason, delete_op) FROM STDIN;
1	ann@example.com	\N	\N	\N	\N
2	bob@example.com	2024-05-01 10:00:00+00	support	account closed	41
3	cat@example.com	\N	\N	\N	\N
\.
RESET ROLE;
REVOKE softdelete_backup FROM cp_owner;
SELECT * FROM cp.rows('cp.users');

-- A member of the owner's role, and a softdelete_admin member with INSERT.
SET ROLE cp_member;
COPY cp.users (id, email, deleted_at, deleted_by) FROM STDIN (FORMAT csv);
4,dan@example.com,2024-05-02 10:00:00+00,support
\.
RESET ROLE;
SET ROLE cp_dba;
COPY cp.users (id, email) FROM STDIN;
5	eve@example.com
\.
RESET ROLE;
-- A softdelete_admin member without INSERT: PostgreSQL's privilege check.
SET ROLE cp_dba_no_insert;
COPY cp.users (id, email) FROM STDIN;
6	fay@example.com
\.
\echo :SQLSTATE
RESET ROLE;

-------------------------------------------------------------------------------
-- 2. The application: PostgreSQL's refusal, nothing loaded; INSERT it is
-------------------------------------------------------------------------------
SET ROLE cp_app;
COPY cp.users (id, email) FROM STDIN;
7	gus@example.com
\.
\echo :SQLSTATE
COPY cp.users (id, email, deleted_at) FROM STDIN;
8	hal@example.com	2024-05-01 10:00:00+00
\.
\echo :SQLSTATE
INSERT INTO cp.users (id, email) VALUES (7, 'gus@example.com');
INSERT INTO cp.users (id, email, deleted_at) VALUES (8, 'hal@example.com', '2024-05-01 10:00:00+00');
\echo :SQLSTATE
RESET ROLE;
SELECT * FROM cp.rows('cp.users');

-------------------------------------------------------------------------------
-- 3. Where the role was under row security before enable(): refused
-------------------------------------------------------------------------------
-- Not forced: the owner copies as before, a softdelete_admin member does not.
SET ROLE cp_owner;
COPY cp.notes (id, tenant) FROM STDIN;
1	acme
2	other
\.
RESET ROLE;
SET ROLE cp_dba;
COPY cp.notes (id, tenant) FROM STDIN;
3	acme
\.
\echo :SQLSTATE
RESET ROLE;
SELECT * FROM cp.rows('cp.notes');
-- Forced: not even the owner.
SET ROLE cp_owner;
COPY cp.audit (id) FROM STDIN;
1
\.
\echo :SQLSTATE
RESET ROLE;

-------------------------------------------------------------------------------
-- 4. The COPY is PostgreSQL's: triggers, the child guard, partitions
-------------------------------------------------------------------------------
SET ROLE cp_owner;
-- A live post of deleted user 2: refused by the guard; a deleted one loads.
COPY cp.posts (id, user_id) FROM STDIN;
1	2
\.
COPY cp.posts (id, user_id, deleted_at) FROM STDIN;
1	2	2024-05-01 10:00:00+00
2	1	\N
\.
COPY cp.events (id, region, deleted_at) FROM STDIN;
1	1	\N
2	2	2024-05-01 10:00:00+00
\.
COPY cp.events_2 (id, region) FROM STDIN;
3	2
\.
RESET ROLE;
SELECT * FROM cp.rows('cp.posts');
SELECT tableoid::regclass, id, deleted_at IS NOT NULL AS deleted FROM cp.events ORDER BY id;

-------------------------------------------------------------------------------
-- 5. As pg_restore runs it: with row_security = off (a dump's first lines)
-------------------------------------------------------------------------------
SET row_security = off;
SET ROLE cp_owner;
COPY cp.users (id, email, deleted_at) FROM STDIN;
10	jon@example.com	2024-05-03 10:00:00+00
\.
RESET ROLE;
-- The application: PostgreSQL's error for row_security = off (42501).
SET ROLE cp_app;
COPY cp.users (id, email) FROM STDIN;
11	kim@example.com
\.
\echo :SQLSTATE
RESET ROLE;
RESET row_security;
SELECT id, deleted_at IS NOT NULL AS deleted FROM cp.users WHERE id >= 10 ORDER BY id;

-------------------------------------------------------------------------------
-- 6. What stays PostgreSQL's: WHERE, a read-only transaction
-------------------------------------------------------------------------------
SET ROLE cp_owner;
COPY cp.users (id, email) FROM STDIN WHERE id > 100;
9	ivy@example.com
\.
\echo :SQLSTATE
BEGIN READ ONLY;
COPY cp.users (id, email) FROM STDIN;
9	ivy@example.com
\.
\echo :SQLSTATE
ROLLBACK;
RESET ROLE;
\set QUIET on

SET client_min_messages = warning;
DROP SCHEMA cp CASCADE;
DROP OWNED BY cp_owner;
DROP OWNED BY cp_dba;
DROP OWNED BY cp_dba_no_insert;
DROP OWNED BY cp_app;
DROP ROLE cp_member, cp_owner, cp_dba, cp_dba_no_insert, cp_app;
