-- softdelete 1.1.0 (in development): update from 1.0.0.
-- A fresh CREATE EXTENSION runs softdelete--1.0.0.sql and then this script,
-- so this is the one place where changes since 1.0.0 go. It must also bring
-- tables enabled under 1.0.0 to what enable() makes now
-- (test/t/030_upgrade.pl compares the two).
\echo Use "ALTER EXTENSION softdelete UPDATE" to load this file. \quit

-------------------------------------------------------------------------------
-- Logical replication with FOR ALL TABLES
-------------------------------------------------------------------------------
-- The extension's tables describe the node they are on, but a FOR ALL TABLES
-- publication carries them too: a subscriber drops the rows its logical
-- replication workers apply to them, and keeps its own (replicated_rows.cpp).
-- Archive tables get the same trigger when they are made (archive.cpp).
CREATE FUNCTION softdelete_internal.ignore_replicated_row() RETURNS trigger
    AS 'MODULE_PATHNAME', 'softdelete_ignore_replicated_row' LANGUAGE C;
GRANT EXECUTE ON FUNCTION softdelete_internal.ignore_replicated_row() TO PUBLIC;
DO $replicated$
DECLARE
    tbl regclass;
BEGIN
    FOREACH tbl IN ARRAY ARRAY['softdelete.tables', 'softdelete.events', 'softdelete.runs',
                               'softdelete_internal.archives']::regclass[] LOOP
        EXECUTE format('CREATE TRIGGER ignore_replicated_row BEFORE INSERT OR UPDATE OR DELETE ON %s '
                       'FOR EACH ROW EXECUTE FUNCTION softdelete_internal.ignore_replicated_row()', tbl);
        EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER ignore_replicated_row', tbl);
    END LOOP;
END
$replicated$;

-- Archive tables made by 1.0.0 get what archive.cpp now gives a new one:
-- REPLICA IDENTITY FULL (without it a publisher refuses their expiry under
-- such a publication) and the same trigger, for INSERT only.
DO $archives$
DECLARE
    tbl regclass;
BEGIN
    FOR tbl IN SELECT archive FROM softdelete_internal.archives ORDER BY archive::text LOOP
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', tbl);
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger
                       WHERE tgrelid = tbl AND tgname = 'ignore_replicated_row') THEN
            EXECUTE format('CREATE TRIGGER ignore_replicated_row BEFORE INSERT ON %s FOR EACH ROW '
                           'EXECUTE FUNCTION softdelete_internal.ignore_replicated_row()', tbl);
            EXECUTE format('ALTER TABLE %s ENABLE REPLICA TRIGGER ignore_replicated_row', tbl);
        END IF;
    END LOOP;
END
$archives$;
