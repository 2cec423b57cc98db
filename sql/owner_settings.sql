-- owner_settings: a setting that a table owner's code changes for the
-- session, inside a statement softdelete runs as that owner (here the
-- cascade to the owner's child table), ends with that statement. It does
-- not reach the caller's session: not its next statements, nor the actor
-- and reason the next operations are logged with. (The lifecycle worker
-- is tested the same way, across tables of different owners, in
-- test/t/025_worker_owner_code.pl.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
CREATE ROLE os_owner;
CREATE ROLE os_app;
CREATE SCHEMA os AUTHORIZATION os_owner;
GRANT USAGE ON SCHEMA os TO os_app;

SET ROLE os_owner;
CREATE TABLE os.parents (id int PRIMARY KEY);
CREATE TABLE os.children (id int PRIMARY KEY, parent_id int REFERENCES os.parents ON DELETE CASCADE);
INSERT INTO os.parents VALUES (1), (2);
INSERT INTO os.children VALUES (10, 1), (20, 2);
-- The child's soft delete is an UPDATE of its row.
CREATE FUNCTION os.sets_things() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_catalog.set_config('softdelete.reason', 'set by the owner', false);
    PERFORM pg_catalog.set_config('os.mark', 'set by the owner', false);
    PERFORM pg_catalog.set_config('statement_timeout', '1234', false);
    RETURN NEW;
END $$;
CREATE TRIGGER sets_things BEFORE UPDATE ON os.children
    FOR EACH ROW EXECUTE FUNCTION os.sets_things();
SELECT count(*) > 0 AS enabled FROM softdelete.enable('os.parents');
GRANT SELECT, DELETE ON os.parents TO os_app;
RESET ROLE;
RESET client_min_messages;

SET ROLE os_app;
DELETE FROM os.parents WHERE id = 1;
-- The trigger ran (the child is deleted), and its settings are gone.
SELECT current_setting('softdelete.reason') AS reason,
       current_setting('os.mark', true) AS mark,
       current_setting('statement_timeout') AS statement_timeout;
DELETE FROM os.parents WHERE id = 2;
RESET ROLE;
SELECT table_name, row_count, reason FROM softdelete.events
 WHERE table_name LIKE 'os.%' ORDER BY id;
SELECT id, deleted_at IS NOT NULL AS deleted FROM os.children ORDER BY id;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'os.%';
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('os.children');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('os.parents');
DROP SCHEMA os CASCADE;
RESET client_min_messages;
DROP OWNED BY os_owner, os_app;
DROP ROLE os_owner, os_app;
