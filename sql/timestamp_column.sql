-- timestamp_column: an adopted deleted_at of type timestamp (without time
-- zone) holds UTC. The stamp is written in UTC, and the purge's cutoff and
-- the undo window read the column in UTC, whatever TimeZone the session
-- (any role can set it) or the database has. In a session at 'Etc/GMT+12'
-- the stamp used to be written 12 hours behind UTC: the row was purged at
-- once under a retention of an hour. In 'Etc/GMT-14' a deletion outside
-- its undo window looked 14 hours younger, and the deleting actor could
-- restore it again.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
CREATE ROLE tzc_owner;
CREATE ROLE tzc_app;
CREATE SCHEMA tzc AUTHORIZATION tzc_owner;
GRANT USAGE ON SCHEMA tzc TO tzc_app;
SET ROLE tzc_owner;
CREATE TABLE tzc.items (id int PRIMARY KEY, deleted_at timestamp);
INSERT INTO tzc.items SELECT generate_series(1, 6);
SELECT count(*) > 0 AS enabled
  FROM softdelete.enable('tzc.items', retention => '1 hour', undo_window => '1 hour');
GRANT SELECT, UPDATE, DELETE ON tzc.items TO tzc_app;
RESET ROLE;
RESET client_min_messages;

-- Within a minute of now, in UTC: the stamp the server wrote.
CREATE FUNCTION tzc.stamped_in_utc(ts timestamp) RETURNS boolean LANGUAGE sql AS $$
  SELECT abs(extract(epoch FROM ts - (now() AT TIME ZONE 'UTC'))) < 60
$$;

-- A DELETE and the ORM's UPDATE, from a session 12 hours behind UTC.
SET ROLE tzc_app;
SET TimeZone = 'Etc/GMT+12';
DELETE FROM tzc.items WHERE id = 1;
UPDATE tzc.items SET deleted_at = now() WHERE id = 2;
RESET TimeZone;
RESET ROLE;
SELECT id, tzc.stamped_in_utc(deleted_at) FROM tzc.items WHERE deleted_at IS NOT NULL ORDER BY id;

-- A cascade stamps its children in UTC too.
SET ROLE tzc_owner;
SET client_min_messages = warning;
-- Enabled as it is created, under its enabled parent.
CREATE TABLE tzc.notes (id int PRIMARY KEY, item_id int REFERENCES tzc.items ON DELETE CASCADE,
                        deleted_at timestamp);
RESET client_min_messages;
INSERT INTO tzc.notes VALUES (30, 3);
GRANT SELECT ON tzc.notes TO tzc_app;
RESET ROLE;
SET ROLE tzc_app;
SET TimeZone = 'Etc/GMT+12';
DELETE FROM tzc.items WHERE id = 3;
RESET TimeZone;
RESET ROLE;
SELECT id, tzc.stamped_in_utc(deleted_at) FROM tzc.notes ORDER BY id;

-- Deleted minutes ago under a retention of an hour: nothing is due, from a
-- session at either end of the clock.
SET TimeZone = 'Etc/GMT-14';
SELECT rows_purged FROM softdelete.purge('tzc.items');
SET TimeZone = 'Etc/GMT+12';
SELECT rows_purged FROM softdelete.purge('tzc.items');
RESET TimeZone;
SELECT count(*) AS rows_left FROM tzc.items;

-- The undo window: a row the application deleted two hours ago (written by
-- an admin, in UTC) is past its window of an hour, in any zone.
INSERT INTO tzc.items (id, deleted_at, deleted_by)
VALUES (7, (now() AT TIME ZONE 'UTC') - interval '2 hours', 'tzc_app');
SET ROLE tzc_app;
SET TimeZone = 'Etc/GMT-14';
\set VERBOSITY sqlstate
SELECT softdelete.restore('tzc.items', 7);
\set VERBOSITY default
RESET TimeZone;
-- The application's own delete of minutes ago is within it.
SELECT softdelete.restore('tzc.items', 1) AS restored;
RESET ROLE;

-- Row 7, deleted two hours ago in UTC, is due, from a session whose clock
-- reads it 10 hours in the future.
SET TimeZone = 'Etc/GMT+12';
SELECT rows_purged FROM softdelete.purge('tzc.items');
RESET TimeZone;
SELECT id FROM tzc.items ORDER BY id;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'tzc.%';
DELETE FROM softdelete.runs WHERE table_name LIKE 'tzc.%';
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('tzc.notes');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('tzc.items');
DROP SCHEMA tzc CASCADE;
RESET client_min_messages;
DROP OWNED BY tzc_owner, tzc_app;
DROP ROLE tzc_owner, tzc_app;
