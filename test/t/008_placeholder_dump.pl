# The placeholder that keeps ON CONFLICT ON CONSTRAINT <old name> working
# (a constraint trigger named after each unique constraint that enable()
# made live-only) survives pg_dump: restored from a custom-format dump with
# pg_restore and from a plain dump through psql, the table has the
# live-only index and its placeholder, never the full unique constraint
# back; the upsert works there as it did; disable() there brings the
# constraint back and removes the placeholder.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('placeholder_dump');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE EXTENSION softdelete;
	CREATE ROLE app LOGIN;
	CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, org int, code text, UNIQUE (org, code));
	INSERT INTO users SELECT g, 'u' || g, 1, 'c' || g FROM generate_series(1, 10) g;
	GRANT SELECT, INSERT, UPDATE, DELETE ON users TO app;
	SELECT count(*) FROM softdelete.enable('users');
	SET ROLE app;
	DELETE FROM users WHERE id = 1;
});

my $dir = PostgreSQL::Test::Utils::tempdir;
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/db.dump", '-d', $node->connstr('postgres') ],
	'pg_dump, custom format');
$node->command_ok([ 'pg_dump', '-f', "$dir/db.sql", '-d', $node->connstr('postgres') ], 'pg_dump, plain');
$node->safe_psql('postgres', 'CREATE DATABASE from_custom; CREATE DATABASE from_plain;');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('from_custom'), "$dir/db.dump" ], 'pg_restore');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('from_plain'), '-f', "$dir/db.sql" ],
	'the plain dump through psql');

for my $db ('from_custom', 'from_plain')
{
	is($node->safe_psql($db, q{
		SELECT string_agg(conname || ':' || contype::text, ' ' ORDER BY conname)
		  FROM pg_constraint WHERE conrelid = 'users'::regclass AND conname <> 'users_pkey'}),
		'users_email_key:t users_org_code_key:t', "$db: the placeholders, no unique constraint");
	is($node->safe_psql($db, q{
		SELECT string_agg(tgname, ' ' ORDER BY tgname) FROM pg_trigger
		 WHERE tgrelid = 'users'::regclass
		   AND tgfoid = 'softdelete_internal.unique_constraint_placeholder()'::regprocedure}),
		'users_email_key users_org_code_key', "$db: as placeholder triggers");
	is($node->safe_psql($db, q{SELECT pg_get_indexdef('users_email_key'::regclass)}),
		'CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email) WHERE (deleted_at IS NULL)',
		"$db: the index is live-only");
	is($node->safe_psql($db, q{
		SET ROLE app;
		INSERT INTO users (id, email) VALUES (11, 'u2') ON CONFLICT ON CONSTRAINT users_email_key
		    DO UPDATE SET email = 'u2 again' RETURNING id, email;
		INSERT INTO users (id, email) VALUES (12, 'u1') ON CONFLICT ON CONSTRAINT users_email_key
		    DO UPDATE SET email = 'conflicted' RETURNING id, email;}),
		"2|u2 again\n12|u1", "$db: ON CONFLICT ON CONSTRAINT, against a live and a deleted row");
	is($node->safe_psql($db, q{
		BEGIN;
		SET LOCAL softdelete.hard_delete = on;
		DELETE FROM users WHERE deleted_at IS NOT NULL;
		COMMIT;
		SET client_min_messages = warning;
		SELECT count(*) > 0 FROM softdelete.disable('users');
		SELECT string_agg(conname || ':' || contype::text, ' ' ORDER BY conname)
		  FROM pg_constraint WHERE conrelid = 'users'::regclass AND conname <> 'users_pkey';}),
		"t\nusers_email_key:u users_org_code_key:u", "$db: disable() brings the constraints back, without placeholders");
}

$node->stop;
done_testing();
