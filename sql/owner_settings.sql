-- owner_settings: the settings around a table owner's code that softdelete
-- runs as that owner (here a cascade to the owner's child table). The
-- statement pins what it needs (search_path, DateStyle and the others the
-- keys' text depends on) and puts them back after. Anything else is as in
-- PostgreSQL's own ON DELETE CASCADE: the owner's trigger sees the
-- caller's TimeZone, and its SET LOCAL lasts the transaction. (In the
-- lifecycle worker a trigger's settings end with its statement instead:
-- test/t/025_worker_owner_code.pl.)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
CREATE ROLE os_owner;
CREATE ROLE os_app;
CREATE SCHEMA os AUTHORIZATION os_owner;
GRANT USAGE ON SCHEMA os TO os_app;

SET ROLE os_owner;
CREATE TABLE os.parents (id int PRIMARY KEY);
CREATE TABLE os.children (id int PRIMARY KEY, parent_id int REFERENCES os.parents ON DELETE CASCADE,
                          touched_at timestamp, seen text);
INSERT INTO os.parents VALUES (1), (2);
INSERT INTO os.children (id, parent_id) VALUES (10, 1), (20, 2);
-- The child's soft delete is an UPDATE of its row. The trigger keeps a
-- transaction-wide list of what it touched, as audit code does.
CREATE FUNCTION os.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.touched_at := localtimestamp;
    NEW.seen := current_setting('TimeZone');
    PERFORM pg_catalog.set_config('os.touched',
        coalesce(current_setting('os.touched', true), '') || NEW.id || ',', true);
    RETURN NEW;
END $$;
CREATE TRIGGER touch BEFORE UPDATE ON os.children FOR EACH ROW EXECUTE FUNCTION os.touch();
SELECT count(*) > 0 AS enabled FROM softdelete.enable('os.parents');
GRANT SELECT, DELETE ON os.parents, os.children TO os_app;
RESET ROLE;
RESET client_min_messages;

SET ROLE os_app;
SET TimeZone = 'America/New_York';
SET DateStyle = 'SQL, DMY';
BEGIN;
DELETE FROM os.children WHERE id = 20;
DELETE FROM os.parents WHERE id = 1;
-- Both rows touched, the cascaded one included; the pinned settings are
-- the application's again.
SELECT current_setting('os.touched', true) AS touched,
       current_setting('DateStyle') AS datestyle,
       current_setting('search_path') AS search_path;
COMMIT;
RESET ROLE;
-- The trigger saw the application's zone, directly and in the cascade,
-- and wrote that zone's local time.
SELECT id, seen, abs(extract(epoch FROM touched_at - (now() AT TIME ZONE 'America/New_York'))) < 60
       AS local_time
  FROM os.children ORDER BY id;
RESET TimeZone;
RESET DateStyle;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'os.%';
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('os.children');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('os.parents');
DROP SCHEMA os CASCADE;
RESET client_min_messages;
DROP OWNED BY os_owner, os_app;
DROP ROLE os_owner, os_app;
