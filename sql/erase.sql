-- erase: softdelete.erase(tbl, key) is GDPR erasure, for admins only
-- (42501 for anyone else, before anything about the key is looked at). It
-- sets the table's pii_columns to NULL on one row, live or deleted, and
-- keeps the row, its key and its deletion record: a deleted row stays
-- deleted, nothing is restored or cascaded. Each erasure is an operation,
-- logged as "erase" in softdelete.events (even with log_events off). What
-- erasure cannot do is refused before anything changes.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE ROLE er_owner;
CREATE ROLE er_app;
CREATE ROLE er_reader IN ROLE softdelete_reader;
CREATE ROLE er_admin IN ROLE softdelete_admin;
CREATE SCHEMA er AUTHORIZATION er_owner;
GRANT USAGE ON SCHEMA er TO er_app, er_reader, er_admin;

SET ROLE er_owner;
CREATE TABLE er.users (id int PRIMARY KEY, email text UNIQUE, name text, phone text, city text NOT NULL);
INSERT INTO er.users SELECT g, 'u' || g || '@example.com', 'User ' || g, '555-' || g, 'Town ' || g
  FROM generate_series(1, 10) g;
CREATE TABLE er.orders (id int PRIMARY KEY, user_id int NOT NULL REFERENCES er.users, total int);
INSERT INTO er.orders SELECT g, g, g * 10 FROM generate_series(1, 10) g;
CREATE TABLE er.nopii (id int PRIMARY KEY, secret text);
INSERT INTO er.nopii VALUES (1, 's');
CREATE TABLE er."Member List" ("Org" int, id int, "Full Name" text, role text,
                               PRIMARY KEY ("Org", id));
INSERT INTO er."Member List" VALUES (1, 1, 'Ann Smith', 'dev'), (1, 2, 'Bo Lee', 'ops'), (2, 1, 'Cy Park', 'dev');
CREATE TABLE er.visits (region text, id int, ip inet, page text, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
CREATE TABLE er.visits_eu PARTITION OF er.visits FOR VALUES IN ('eu');
CREATE TABLE er.visits_us PARTITION OF er.visits FOR VALUES IN ('us');
INSERT INTO er.visits VALUES ('eu', 1, '10.0.0.1', '/a'), ('us', 1, '10.0.0.2', '/b');
CREATE TABLE er.strict (id int PRIMARY KEY, email text NOT NULL, nick text);
INSERT INTO er.strict VALUES (1, 'a@x', 'a');
-- NOT NULL on one partition only.
CREATE TABLE er.logs (id int PRIMARY KEY, ip text) PARTITION BY RANGE (id);
CREATE TABLE er.logs_1 PARTITION OF er.logs FOR VALUES FROM (1) TO (100);
CREATE TABLE er.logs_2 PARTITION OF er.logs FOR VALUES FROM (100) TO (200);
ALTER TABLE er.logs_2 ALTER COLUMN ip SET NOT NULL;
INSERT INTO er.logs VALUES (1, '10.0.0.1'), (150, '10.0.0.2');
CREATE DOMAIN er.required_text AS text NOT NULL;
CREATE TABLE er.domained (id int PRIMARY KEY, email er.required_text);
INSERT INTO er.domained VALUES (1, 'a@x');
CREATE TABLE er.generated (id int PRIMARY KEY, first text, last text,
                           full_name text GENERATED ALWAYS AS (first || ' ' || last) STORED);
INSERT INTO er.generated (id, first, last) VALUES (1, 'Ann', 'Smith');
CREATE TABLE er.keyed (id int PRIMARY KEY, email text);
INSERT INTO er.keyed VALUES (1, 'k@x');
CREATE TABLE er.quiet (id int PRIMARY KEY, email text);
INSERT INTO er.quiet VALUES (1, 'q@x');
-- An ORM's own deleted_at, adopted by enable().
CREATE TABLE er.adopted (id int PRIMARY KEY, email text, deleted_at timestamptz);
INSERT INTO er.adopted VALUES (1, 'a@x', NULL);
CREATE TABLE er.dropped (id int PRIMARY KEY, email text, fax text);
INSERT INTO er.dropped VALUES (1, 'd@x', '1');
CREATE TABLE er.not_enabled (id int PRIMARY KEY, email text);
INSERT INTO er.not_enabled VALUES (1, 'n@x');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.users', pii_columns => '{email,name,phone}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.nopii');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er."Member List"', pii_columns => '{"Full Name"}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.visits', pii_columns => '{ip}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.strict', pii_columns => '{nick,email}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.domained', pii_columns => '{email}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.logs', pii_columns => '{ip}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.generated', pii_columns => '{first,last,full_name}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.keyed', pii_columns => '{email,id}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.quiet', pii_columns => '{email}', log_events => false);
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.adopted', pii_columns => '{email,deleted_at}');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('er.dropped', pii_columns => '{email,fax}');
RESET client_min_messages;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA er TO er_app, er_admin;
GRANT SELECT ON ALL TABLES IN SCHEMA er TO er_reader;
-- A migration drops a pii column later.
ALTER TABLE er.dropped DROP COLUMN fax;
RESET ROLE;

-- The rows of a table as the superuser sees them, deletion record included.
CREATE FUNCTION er.rows(tbl regclass) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT (t.*)::text FROM %s t ORDER BY 1', tbl);
END
$$;
-- The events of a table since a mark, ops numbered from the first one shown.
CREATE FUNCTION er.events(tbl text, mark bigint)
RETURNS TABLE (op bigint, action text, actor text, reason text, row_count bigint, keys jsonb)
LANGUAGE sql AS $$
    SELECT e.op - min(e.op) OVER () + 1, e.action, e.actor, e.reason, e.row_count, e.keys
      FROM softdelete.events e WHERE e.table_name = tbl AND e.id > mark ORDER BY e.id
$$;
CREATE FUNCTION er.mark() RETURNS bigint LANGUAGE sql AS
    $$ SELECT coalesce(max(id), 0) FROM softdelete.events $$;

-- The application deletes a user, with a reason; the user's order follows.
SET ROLE er_app;
SET softdelete.actor = 'user-2';
SET softdelete.reason = 'closed account';
DELETE FROM er.users WHERE id = 2;
RESET softdelete.actor;
RESET softdelete.reason;
RESET ROLE;
CREATE TABLE er.before AS SELECT * FROM er.users;

--------------------------------------------------------------------------
-- Admins only, checked first
--------------------------------------------------------------------------

SELECT er.mark() AS m \gset
SET ROLE er_reader;
SELECT softdelete.erase('er.users', 1);
\echo SQLSTATE :SQLSTATE
-- The same answer whatever the key, and on a table without pii_columns.
SELECT softdelete.erase('er.users', 999);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er.users', 'garbage'::text);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er.users', NULL);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er.nopii', 1);
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SET ROLE er_app;
SELECT softdelete.erase('er.users', 2);
\echo SQLSTATE :SQLSTATE
-- Nor can the application null the columns of a deleted row itself.
UPDATE er.users SET email = NULL WHERE id = 2;
RESET ROLE;
-- Nothing changed, nothing was logged.
SELECT count(*) AS changed FROM er.users u JOIN er.before b USING (id)
 WHERE (u.*)::text IS DISTINCT FROM (b.*)::text;
SELECT * FROM er.events('er.users', :m);

--------------------------------------------------------------------------
-- Erasure: the PII goes, the row, its key and its deletion record stay
--------------------------------------------------------------------------

SET ROLE er_admin;
SET softdelete.reason = 'GDPR request 17';
SELECT softdelete.erase('er.users', 1) AS erased;     -- live
SELECT softdelete.erase('er.users', '2') AS erased;   -- deleted, key as text
RESET softdelete.reason;
RESET ROLE;
SELECT id, email, name, phone, city, deleted_at IS NOT NULL AS deleted, deleted_by, delete_reason
  FROM er.users WHERE id IN (1, 2, 3) ORDER BY id;
-- The deletion record is the same, to the microsecond and the op.
SELECT u.id, u.deleted_at = b.deleted_at AS same_stamp, u.delete_op = b.delete_op AS same_op
  FROM er.users u JOIN er.before b USING (id) WHERE u.id = 2;
-- Row 1 is still live for the application; row 2 still hidden; the order
-- of user 2 still deleted with it.
SET ROLE er_app;
SELECT id, email, city FROM er.users WHERE id IN (1, 2) ORDER BY id;
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM er.orders WHERE id IN (1, 2) ORDER BY id;
-- One erase event per erasure, with the key, the actor and the reason.
SELECT * FROM er.events('er.users', :m);
-- A second erasure of the same row changes nothing more but is an
-- operation of its own (the request is on record).
SELECT softdelete.erase('er.users', 1) AS erased;

--------------------------------------------------------------------------
-- Keys: as restore() takes them
--------------------------------------------------------------------------

SET ROLE er_admin;
SELECT softdelete.erase('er.users', 999);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er.users', NULL);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er.users', 'garbage'::text);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er.users', '{"id": 3, "org": 1}');
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er.users', '[3]'::jsonb);
\echo SQLSTATE :SQLSTATE
-- A composite key and quoted names.
SELECT softdelete.erase('er."Member List"', '{"Org": 1, "id": 2}') AS erased;
SELECT softdelete.erase('er."Member List"', 2);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er."Member List"', '{"Org": 3, "id": 2}');
\echo SQLSTATE :SQLSTATE
-- A partitioned table, a row of a partition, deleted through the partition.
DELETE FROM er.visits_us WHERE id = 1;
SELECT softdelete.erase('er.visits', '{"region": "us", "id": 1}') AS erased;
RESET ROLE;
SELECT * FROM er.rows('er."Member List"');
SELECT region, id, ip, page, deleted_at IS NOT NULL AS deleted FROM er.visits ORDER BY 1, 2;
SELECT action, table_name, row_count, keys FROM softdelete.events
 WHERE id > :m AND table_name IN ('er."Member List"', 'er.visits') ORDER BY id;

--------------------------------------------------------------------------
-- What erasure refuses, changing nothing
--------------------------------------------------------------------------

SET ROLE er_admin;
SELECT er.mark() AS m2 \gset
-- No pii_columns.
SELECT softdelete.erase('er.nopii', 1);
\echo SQLSTATE :SQLSTATE
-- A NOT NULL pii column, on the table, on one of its partitions (even for
-- a row of another), or through its domain.
SELECT softdelete.erase('er.strict', 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er.logs', 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er.domained', 1);
\echo SQLSTATE :SQLSTATE
-- The primary key, or a column of the deletion record.
SELECT softdelete.erase('er.keyed', 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('er.adopted', 1);
\echo SQLSTATE :SQLSTATE
-- A pii column dropped since enable().
SELECT softdelete.erase('er.dropped', 1);
\echo SQLSTATE :SQLSTATE
-- Tables that are not enabled, and no table at all.
SELECT softdelete.erase('er.not_enabled', 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase('pg_class', 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase(0::oid::regclass, 1);
\echo SQLSTATE :SQLSTATE
SELECT softdelete.erase(NULL, 1);
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT * FROM er.rows('er.strict');
SELECT * FROM er.rows('er.domained');
SELECT * FROM er.rows('er.logs');
SELECT * FROM er.rows('er.keyed');
SELECT * FROM er.rows('er.adopted');
SELECT count(*) AS logged FROM softdelete.events WHERE id > :m2;

--------------------------------------------------------------------------
-- The rest of the row's life
--------------------------------------------------------------------------

-- A stored generated column is computed again from the nulled columns.
SET ROLE er_admin;
SELECT softdelete.erase('er.generated', 1) AS erased;
-- log_events => false does not hide an erasure.
SELECT softdelete.erase('er.quiet', 1) AS erased;
RESET ROLE;
SELECT * FROM er.rows('er.generated');
SELECT * FROM er.rows('er.quiet');
SELECT action, table_name, row_count, keys FROM softdelete.events
 WHERE id > :m2 ORDER BY id;

-- A rolled-back erasure leaves the row and the log as they were.
SELECT er.mark() AS m3 \gset
BEGIN;
SELECT softdelete.erase('er.users', 3) AS erased;
ROLLBACK;
BEGIN;
SAVEPOINT s;
SELECT softdelete.erase('er.users', 4) AS erased;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT id, email FROM er.users WHERE id IN (3, 4) ORDER BY id;
SELECT count(*) AS logged FROM softdelete.events WHERE id > :m3;

-- An erased deleted row can still be restored by an admin, without its PII.
SET ROLE er_admin;
SELECT softdelete.restore('er.users', 2) AS restored;
RESET ROLE;
SELECT id, email, name, city, deleted_at FROM er.users WHERE id = 2;

-- Archived copies: a table that archives before it purges. erase() nulls
-- the personal data in the archive too, also for a row that only the
-- archive still holds, and keeps the copy's key and archived_at.
SET ROLE er_owner;
CREATE TABLE er.patients (id int PRIMARY KEY, name text, diagnosis text, ward int);
INSERT INTO er.patients VALUES (2, 'Bob', 'cold', 4), (3, 'Cy', 'ok', 5);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled
  FROM softdelete.enable('er.patients', retention => '1 hour', archive => true,
                         pii_columns => '{name,diagnosis}');
RESET client_min_messages;
-- An admin loads a row deleted long enough ago to be purged.
INSERT INTO er.patients (id, name, diagnosis, ward, deleted_at)
VALUES (1, 'Ann', 'flu', 3, now() - interval '2 hours');
DELETE FROM er.patients WHERE id = 2;
RESET ROLE;
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('er.patients');
SELECT softdelete_internal.archive_table('er.patients') AS archive \gset
SET ROLE er_admin;
SELECT softdelete.erase('er.patients', 1) AS erased;  -- only the archive holds it
SELECT softdelete.erase('er.patients', 2) AS erased;  -- deleted, not archived
SELECT softdelete.erase('er.patients', 9);            -- nowhere
\echo SQLSTATE :SQLSTATE
RESET ROLE;
SELECT id, name, diagnosis, ward, archived_at IS NOT NULL AS archived FROM :archive ORDER BY id;
SELECT id, name, diagnosis, ward, deleted_at IS NOT NULL AS deleted FROM er.patients ORDER BY id;
SELECT action, table_name, row_count, keys FROM softdelete.events
 WHERE table_name = 'er.patients' AND action = 'erase' ORDER BY id;

-- A pii column renamed after rows were archived: the archive keeps the old
-- column, with the personal data archived under that name, and gains the
-- new one at the next purge. erase() clears both, and any other column the
-- table no longer has; the key and archived_at stay.
SET ROLE er_owner;
INSERT INTO er.patients (id, name, diagnosis, ward, deleted_at)
VALUES (4, 'Dee', 'sprain', 6, now() - interval '2 hours');
RESET ROLE;
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('er.patients');
SET ROLE er_owner;
ALTER TABLE er.patients RENAME COLUMN name TO full_name;
ALTER TABLE er.patients DROP COLUMN ward;
SET client_min_messages = warning;
SELECT count(*) > 0 AS reconfigured
  FROM softdelete.enable('er.patients', retention => '1 hour', archive => true,
                         pii_columns => '{full_name,diagnosis}');
RESET client_min_messages;
INSERT INTO er.patients (id, full_name, diagnosis, deleted_at)
VALUES (5, 'Eve', 'rash', now() - interval '2 hours');
RESET ROLE;
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('er.patients');
SET ROLE er_admin;
SELECT softdelete.erase('er.patients', 4) AS erased;  -- archived under the old name
SELECT softdelete.erase('er.patients', 5) AS erased;  -- archived under the new one
RESET ROLE;
SELECT id, name, full_name, diagnosis, ward, archived_at IS NOT NULL AS archived FROM :archive ORDER BY id;

-- Archive columns take a domain's base type: a NOT NULL domain column
-- dropped after rows were archived leaves NULL in the rows archived since,
-- and erase() writes NULL; neither is refused.
SET ROLE er_owner;
CREATE DOMAIN er.code AS text NOT NULL CHECK (VALUE <> '');
CREATE TABLE er.checkins (id int PRIMARY KEY, code er.code, email text);
INSERT INTO er.checkins VALUES (1, 'a', 'one@example.com'), (2, 'b', 'two@example.com');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled
  FROM softdelete.enable('er.checkins', retention => '1 hour', archive => true, pii_columns => '{email}');
RESET client_min_messages;
INSERT INTO er.checkins (id, code, email, deleted_at)
VALUES (3, 'c', 'three@example.com', now() - interval '2 hours');
RESET ROLE;
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('er.checkins');
SET ROLE er_owner;
ALTER TABLE er.checkins DROP COLUMN code;
INSERT INTO er.checkins (id, email, deleted_at) VALUES (4, 'four@example.com', now() - interval '2 hours');
RESET ROLE;
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('er.checkins');
SET ROLE er_admin;
SELECT softdelete.erase('er.checkins', 3) AS erased;
RESET ROLE;
SELECT softdelete_internal.archive_table('er.checkins') AS checkins_archive \gset
SELECT id, code, email, pg_catalog.format_type(a.atttypid, a.atttypmod) AS code_type
  FROM :checkins_archive v,
       pg_attribute a WHERE a.attrelid = :'checkins_archive'::regclass AND a.attname = 'code'
 ORDER BY id;

-- A stored generated column computed from a pii column is archived as a
-- plain value: erase() nulls that copy too, as the table computes its own
-- again from the NULL. One computed from other columns stays.
SET ROLE er_owner;
CREATE TABLE er.contacts (id int PRIMARY KEY, email text, ward int,
                          email_lower text GENERATED ALWAYS AS (lower(email)) STORED,
                          ward_label text GENERATED ALWAYS AS ('ward ' || ward) STORED);
INSERT INTO er.contacts (id, email, ward) VALUES (2, 'Bob@Example.com', 4);
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled
  FROM softdelete.enable('er.contacts', retention => '1 hour', archive => true, pii_columns => '{email}');
RESET client_min_messages;
INSERT INTO er.contacts (id, email, ward, deleted_at)
VALUES (1, 'Ann@Example.com', 3, now() - interval '2 hours');
RESET ROLE;
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('er.contacts');
SET ROLE er_admin;
SELECT softdelete.erase('er.contacts', 1) AS erased;  -- only the archive holds it
SELECT softdelete.erase('er.contacts', 2) AS erased;
RESET ROLE;
SELECT softdelete_internal.archive_table('er.contacts') AS contacts_archive \gset
SELECT id, email, email_lower, ward_label FROM :contacts_archive ORDER BY id;
SELECT id, email, email_lower, ward_label FROM er.contacts ORDER BY id;

-- A table that changed hands (ALTER TABLE ... OWNER TO): erase() gives its
-- archive to the new owner before it changes the archive as that owner,
-- who otherwise could not reach it (42501).
CREATE ROLE er_heir;
GRANT USAGE ON SCHEMA er TO er_heir;
ALTER TABLE er.contacts OWNER TO er_heir;
SET ROLE er_admin;
SELECT softdelete.erase('er.contacts', 1) AS erased;
RESET ROLE;
SELECT pg_get_userbyid(relowner) AS archive_owner FROM pg_class
 WHERE oid = :'contacts_archive'::regclass;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'er.%';
DELETE FROM softdelete.runs WHERE table_name LIKE 'er.%';
DROP SCHEMA er CASCADE;
DROP OWNED BY er_owner, er_app, er_reader, er_admin, er_heir;
DROP ROLE er_owner, er_app, er_reader, er_admin, er_heir;
