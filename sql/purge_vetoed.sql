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

-- Clean up.
ALTER SYSTEM RESET softdelete.batch_size;
SELECT pg_reload_conf() AS reloaded;
SELECT pg_sleep(0.5);
DELETE FROM softdelete.events WHERE table_name LIKE 'public.held_%';
DELETE FROM softdelete.runs WHERE table_name LIKE 'held_%';
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.disable('held_archived');
SELECT count(*) > 0 AS disabled FROM softdelete.disable('held_plain');
DROP TABLE held_archived, held_plain;
DROP TABLE :archive;
DROP FUNCTION keep_held();
RESET client_min_messages;
