-- softdelete walkthrough, run by scripts/demo against a throwaway cluster.
-- psql echoes each statement (-e) and stops at the first error.

\echo
\echo '== Install the extension (the module is already preloaded).'
CREATE EXTENSION softdelete;

\echo
\echo '== An ordinary table, and a login-less application role that reads and writes it.'
CREATE TABLE users (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text UNIQUE NOT NULL,
    name  text
);
CREATE ROLE app NOLOGIN;
GRANT SELECT, INSERT, UPDATE, DELETE ON users TO app;
GRANT USAGE ON SEQUENCE users_id_seq TO app;
INSERT INTO users (email, name) VALUES
    ('ann@example.com', 'Ann'),
    ('bob@example.com', 'Bob'),
    ('carol@example.com', 'Carol');

\echo
\echo '== Turn soft delete on; enable() lists everything it changed.'
-- enable() also reports each step as a NOTICE; the result set says the same.
SET client_min_messages = warning;
SELECT * FROM softdelete.enable('users');
RESET client_min_messages;

\echo
\echo '== As the application, DELETE works as always and reports one row.'
SET ROLE app;
DELETE FROM users WHERE email = 'bob@example.com';

\echo
\echo '== Bob is gone from every read the application makes.'
SELECT * FROM users ORDER BY id;

\echo
\echo '== A reader (a support role in softdelete_reader) opts in for one transaction and sees Bob, marked.'
RESET ROLE;
CREATE ROLE support NOLOGIN IN ROLE softdelete_reader;
GRANT SELECT ON users TO support;
SET ROLE support;
BEGIN;
SET LOCAL softdelete.include_deleted = on;
SELECT id, email, deleted_at IS NOT NULL AS deleted, deleted_by FROM users ORDER BY id;
COMMIT;
-- SET LOCAL ends with its transaction (what a transaction pooler needs):
-- the reader's next query sees live rows only again.
SELECT id, email FROM users ORDER BY id;
RESET ROLE;

\echo
\echo '== Next to it, the application role cannot opt in: it is no reader (42501), and still sees live rows only.'
SET ROLE app;
\set ON_ERROR_STOP 0
SET softdelete.include_deleted = on;
\set ON_ERROR_STOP 1
SELECT id, email FROM users ORDER BY id;

\echo
\echo '== The row is still there, marked: superusers bypass row-level security and see it.'
RESET ROLE;
-- We are the superuser again, and superusers bypass RLS, so the soft-deleted
-- row shows up here with deleted_at and deleted_by set.
SELECT id, email, deleted_at, deleted_by FROM users ORDER BY id;

\echo
\echo '== Uniqueness applies to live rows only, so bob@example.com can register again.'
SET ROLE app;
INSERT INTO users (email, name) VALUES ('bob@example.com', 'Bob again');

\echo
\echo '== Upserts keep working: an email that is live already is skipped (INSERT 0 0).'
INSERT INTO users (email, name) VALUES ('ann@example.com', 'Ann twice')
    ON CONFLICT (email) DO NOTHING;
SELECT * FROM users ORDER BY id;
RESET ROLE;

-- softdelete.restore('users', 2) would now fail with 23505 (unique_violation):
-- bob@example.com belongs to a live row again. Restore someone else instead.

\echo
\echo '== Restore: the application deletes carol, an admin (here the superuser) brings her back.'
SET ROLE app;
DELETE FROM users WHERE email = 'carol@example.com';
RESET ROLE;
SELECT softdelete.restore('users', 3);
SET ROLE app;
SELECT * FROM users ORDER BY id;
RESET ROLE;

\echo
\echo '== Every delete and restore is in the event log: one row per operation, not per row.'
SELECT * FROM softdelete.events ORDER BY id;

\echo
\echo '== Hard delete removes the old bob for good, and is logged too.'
SELECT softdelete.hard_delete('users', 2);
SELECT id, email, deleted_at FROM users ORDER BY id;

\echo
\echo '== Retention: enable() again with a retention; deleted rows older than that are purged.'
SET client_min_messages = warning;
SELECT count(*) AS changed FROM softdelete.enable('users', retention => '1 second');
RESET client_min_messages;
SET ROLE app;
DELETE FROM users WHERE email = 'carol@example.com';
RESET ROLE;
SELECT pg_sleep(1.5);
-- The background worker does this by itself every softdelete.naptime (one
-- minute by default); purge() does it now, and is what pg_cron can call
-- where the module cannot be preloaded.
SELECT * FROM softdelete.purge('users');
SELECT id, email, deleted_at FROM users ORDER BY id;
SELECT table_name, started_by, status, rows_archived, rows_purged FROM softdelete.runs ORDER BY id;
SELECT id, action, table_name, actor, row_count, keys FROM softdelete.events ORDER BY id;
