-- cascade_key_types: a foreign key whose columns differ from the columns
-- they reference (varchar(3) or citext to text, numeric(5,1) to numeric,
-- int to bigint) or reference a unique array column. The cascade, RESTRICT,
-- restore() and the purge find the child rows PostgreSQL's own foreign key
-- finds, by the constraint's operator and the parent's type and collation:
-- a parent value is never cut, rounded or overflowed into the child's type.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS softdelete;
CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;
RESET client_min_messages;
\set SHOW_CONTEXT never

CREATE SCHEMA kt;
CREATE TABLE kt.words (w text PRIMARY KEY);
CREATE TABLE kt.short (id int PRIMARY KEY, w varchar(3) REFERENCES kt.words ON DELETE CASCADE);
CREATE TABLE kt.folded (id int PRIMARY KEY, w public.citext REFERENCES kt.words ON DELETE CASCADE);
CREATE TABLE kt.amounts (a numeric PRIMARY KEY);
CREATE TABLE kt.rounded (id int PRIMARY KEY, a numeric(5,1) REFERENCES kt.amounts ON DELETE CASCADE);
CREATE TABLE kt.held (id int PRIMARY KEY, a numeric(5,1) REFERENCES kt.amounts ON DELETE RESTRICT);
CREATE TABLE kt.big (n bigint PRIMARY KEY);
CREATE TABLE kt.small (id int PRIMARY KEY, n int REFERENCES kt.big ON DELETE CASCADE);
CREATE TABLE kt.sets (id int PRIMARY KEY, s int[] UNIQUE);
CREATE TABLE kt.members (id int PRIMARY KEY, s int[] REFERENCES kt.sets (s) ON DELETE CASCADE);
INSERT INTO kt.words VALUES ('abc'), ('abcd'), ('ABC');
INSERT INTO kt.short VALUES (1, 'abc');
INSERT INTO kt.folded VALUES (1, 'ABC'), (2, 'abc');
INSERT INTO kt.amounts VALUES (1.25), (1.3), (2.0), (2.04);
INSERT INTO kt.rounded VALUES (1, 1.3);
INSERT INTO kt.held VALUES (1, 2.0);
INSERT INTO kt.big VALUES (1), (1099511627776);
INSERT INTO kt.small VALUES (1, 1);
INSERT INTO kt.sets VALUES (1, '{1,2}'), (2, '{3,4}');
INSERT INTO kt.members VALUES (1, '{1,2}'), (2, '{3,4}');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('kt.words', retention => '0 s');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('kt.amounts');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('kt.big');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('kt.sets');
RESET client_min_messages;

CREATE FUNCTION pg_temp.attempt(stmt text) RETURNS text
    LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    EXECUTE stmt;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN 'ok ' || n;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
CREATE VIEW pg_temp.state AS
    SELECT 'short' AS t, id, w AS v, deleted_at IS NOT NULL AS deleted FROM kt.short
    UNION ALL SELECT 'folded', id, w::text, deleted_at IS NOT NULL FROM kt.folded
    UNION ALL SELECT 'rounded', id, a::text, deleted_at IS NOT NULL FROM kt.rounded
    UNION ALL SELECT 'held', id, a::text, deleted_at IS NOT NULL FROM kt.held
    UNION ALL SELECT 'small', id, n::text, deleted_at IS NOT NULL FROM kt.small
    UNION ALL SELECT 'members', id, s::text, deleted_at IS NOT NULL FROM kt.members
    ORDER BY 1, 2;

-- 'abcd' has no child: varchar(3)'s 'abc' and citext's 'ABC' and 'abc'
-- reference other parents. 1.25 has none either: numeric(5,1)'s 1.3 is
-- 1.3's. 2.04 is referenced by nothing, so RESTRICT lets it go. 2^40 does
-- not fit an int, and needs not to. Set 2 takes member 2 along.
SELECT pg_temp.attempt($$DELETE FROM kt.words WHERE w = 'abcd'$$) AS words;
SELECT pg_temp.attempt($$DELETE FROM kt.amounts WHERE a IN (1.25, 2.04)$$) AS amounts;
SELECT pg_temp.attempt($$DELETE FROM kt.big WHERE n = 1099511627776$$) AS big;
SELECT pg_temp.attempt($$DELETE FROM kt.sets WHERE id = 2$$) AS sets;
SELECT * FROM pg_temp.state;
-- Deleting what they do reference: the children follow, RESTRICT refuses.
SELECT pg_temp.attempt($$DELETE FROM kt.words WHERE w = 'ABC'$$) AS words;
SELECT pg_temp.attempt($$DELETE FROM kt.amounts WHERE a = 2.0$$) AS amounts;
SELECT * FROM pg_temp.state;
SELECT table_name, action, row_count, keys FROM softdelete.events
 WHERE table_name LIKE 'kt.%' ORDER BY id;

-- Restores bring back exactly what was cascaded.
SELECT softdelete.restore('kt.sets', 2) AS restored;
SELECT softdelete.restore('kt.words', 'ABC') AS restored;
SELECT * FROM pg_temp.state;

-- The purge of 'abcd' (its retention is 0) takes no child of another
-- parent: short's 'abc' stays, live, under its live 'abc'.
DELETE FROM kt.words WHERE w = 'abcd';
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('kt.words');
SELECT w FROM kt.words ORDER BY w;
SELECT * FROM pg_temp.state WHERE t IN ('short', 'folded');

-- Values travel between the extension's statements as text, which does not
-- follow the session's settings: under extra_float_digits = -15, and under
-- DateStyle 'SQL, DMY' in Asia/Kolkata (where a date of 1500 prints in
-- local mean time, which does not read back), the purge takes exactly the
-- deleted parent and its child, and a restore still sees a deleted parent.
CREATE TABLE kt.floats (f float8 PRIMARY KEY);
CREATE TABLE kt.float_uses (id int PRIMARY KEY, f float8 REFERENCES kt.floats ON DELETE CASCADE);
INSERT INTO kt.floats VALUES (0.1::float8 + 0.2::float8), (0.3), (2);
INSERT INTO kt.float_uses VALUES (1, 0.1::float8 + 0.2::float8), (2, 0.3), (3, 2);
CREATE TABLE kt.times (t timestamptz PRIMARY KEY);
CREATE TABLE kt.time_uses (id int PRIMARY KEY, t timestamptz REFERENCES kt.times ON DELETE CASCADE);
INSERT INTO kt.times VALUES ('1500-06-01 10:00+00'), ('2024-01-01 10:00+00'), ('2024-01-01 13:30+00');
INSERT INTO kt.time_uses VALUES (1, '1500-06-01 10:00+00'), (2, '2024-01-01 10:00+00'),
                                (3, '2024-01-01 13:30+00');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('kt.floats', retention => '0 s');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('kt.times', retention => '0 s');
RESET client_min_messages;
DELETE FROM kt.floats WHERE f = 0.1::float8 + 0.2::float8;
DELETE FROM kt.times WHERE t IN ('1500-06-01 10:00+00', '2024-01-01 10:00+00');
SET extra_float_digits = -15;
SET DateStyle = 'SQL, DMY';
SET TimeZone = 'Asia/Kolkata';
-- The child of a deleted parent is not restored (23503), whatever the text.
SELECT pg_temp.attempt($$SELECT softdelete.restore('kt.float_uses', 1)$$) AS float_child;
SELECT pg_temp.attempt($$SELECT softdelete.restore('kt.time_uses', 2)$$) AS time_child;
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('kt.floats');
SELECT table_name, rows_archived, rows_purged FROM softdelete.purge('kt.times');
RESET extra_float_digits;
RESET DateStyle;
RESET TimeZone;
SET extra_float_digits = 3;
SELECT 'floats' AS t, f::text AS v FROM kt.floats
UNION ALL SELECT 'float_uses', id || ' ' || f FROM kt.float_uses
UNION ALL SELECT 'times', t::text FROM kt.times
UNION ALL SELECT 'time_uses', id || ' ' || t FROM kt.time_uses
ORDER BY 1, 2;
RESET extra_float_digits;

-- Collations, as PostgreSQL's foreign key compares: a nondeterministic
-- (case-insensitive) collation of the parent, in a schema on the
-- search_path, decides; a deterministic parent leaves it to the child's.
CREATE COLLATION public.kt_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE kt.ci_parent (k text COLLATE public.kt_ci PRIMARY KEY);
CREATE TABLE kt.ci_child (id int PRIMARY KEY, k text REFERENCES kt.ci_parent ON DELETE CASCADE);
CREATE TABLE kt.plain_parent (k text PRIMARY KEY);
CREATE TABLE kt.ci_child2 (id int PRIMARY KEY, k text COLLATE public.kt_ci REFERENCES kt.plain_parent ON DELETE CASCADE);
INSERT INTO kt.ci_parent VALUES ('abc'), ('xyz');
INSERT INTO kt.ci_child VALUES (1, 'ABC'), (2, 'xyz');
INSERT INTO kt.plain_parent VALUES ('abc'), ('ABC');
INSERT INTO kt.ci_child2 VALUES (1, 'ABC');
SET client_min_messages = warning;
SELECT count(*) > 0 AS enabled FROM softdelete.enable('kt.ci_parent');
SELECT count(*) > 0 AS enabled FROM softdelete.enable('kt.plain_parent');
RESET client_min_messages;
SELECT pg_temp.attempt($$DELETE FROM kt.ci_parent WHERE k = 'abc'$$) AS ci_parent;
SELECT pg_temp.attempt($$DELETE FROM kt.plain_parent WHERE k = 'abc'$$) AS plain_parent;
SELECT 'ci_child' AS t, id, k, deleted_at IS NOT NULL AS deleted FROM kt.ci_child
UNION ALL SELECT 'ci_child2', id, k, deleted_at IS NOT NULL FROM kt.ci_child2
ORDER BY 1, 2;

-- Clean up.
DELETE FROM softdelete.events WHERE table_name LIKE 'kt.%';
DELETE FROM softdelete.runs WHERE table_name LIKE 'kt.%';
SET client_min_messages = warning;
SELECT count(*) > 0 AS disabled FROM softdelete.tables t, softdelete.disable(t.relid)
 WHERE t.relid::text LIKE 'kt.%' AND t.relid NOT IN ('kt.words'::regclass, 'kt.amounts'::regclass,
                                                     'kt.big'::regclass, 'kt.sets'::regclass);
SELECT count(*) > 0 AS disabled FROM softdelete.tables t, softdelete.disable(t.relid)
 WHERE t.relid::text LIKE 'kt.%';
DROP SCHEMA kt CASCADE;
DROP COLLATION public.kt_ci;
RESET client_min_messages;
