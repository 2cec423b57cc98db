# Every dump and restore path a superuser takes round-trips: a whole
# database in custom format through pg_restore (into a fresh database, and
# into one where the extension was created first, as a template or a
# managed service does), the same with --single-transaction, a plain dump
# through psql (with --single-transaction and ON_ERROR_STOP), and a
# pg_dump -t of enabled tables restored where the extension exists.
#
# The database has a parent with a cascading child, a partitioned table with
# deleted rows in several partitions, and the events of a table dropped
# before the dump. After each restore: every row (deleted ones with their
# stamps), the configuration, the event log and the purge runs (pointing at
# the restored tables; a dropped table's at none), the enforcement objects by name
# (the same set as the source, so no name carries an OID); an application's
# DELETE soft-deletes with its true count, cascades, stays hidden from it,
# also when a partition is queried directly; restore() and undo() work;
# enable() again changes nothing and disable() leaves nothing behind.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump_restore');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE EXTENSION softdelete;
	CREATE ROLE app LOGIN;
	CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
	CREATE TABLE posts (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users ON DELETE CASCADE, body text);
	CREATE TABLE measurements (id int PRIMARY KEY, code text, v int, UNIQUE (code, id)) PARTITION BY RANGE (id);
	CREATE TABLE measurements_1 PARTITION OF measurements FOR VALUES FROM (0) TO (100);
	CREATE TABLE measurements_2 PARTITION OF measurements FOR VALUES FROM (100) TO (200);
	CREATE TABLE measurements_3 PARTITION OF measurements FOR VALUES FROM (200) TO (300);
	CREATE TABLE gone (id int PRIMARY KEY);
	INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 10) g;
	INSERT INTO posts SELECT g, 1 + g % 10, 'p' || g FROM generate_series(1, 30) g;
	INSERT INTO measurements SELECT g, 'c' || g, g FROM generate_series(1, 299, 7) g;
	INSERT INTO gone SELECT generate_series(1, 3);
	GRANT SELECT, INSERT, UPDATE, DELETE ON users, posts, measurements, measurements_2, gone TO app;
	SELECT count(*) FROM softdelete.enable('users', retention => '30 days', undo_window => '1 hour');
	SELECT count(*) FROM softdelete.enable('measurements', pii_columns => '{code}');
	SELECT count(*) FROM softdelete.enable('gone', retention => '1 day');
	SET ROLE app;
	SET softdelete.actor = 'alice';
	DELETE FROM users WHERE id IN (1, 2);
	DELETE FROM gone WHERE id = 1;
	SET softdelete.reason = 'cleanup';
	DELETE FROM measurements WHERE id % 3 = 0;
	RESET ROLE;
	SELECT count(*) FROM softdelete.purge('users');
	SELECT count(*) FROM softdelete.purge('gone');
	SELECT softdelete.disable('gone');
	DROP TABLE gone;
});

# What a restore must bring back as it was, read as the superuser (who sees
# deleted rows).
my %snapshot = (
	rows => q{
		SELECT 'users', id, email, deleted_at, deleted_by, delete_reason, delete_op FROM users
		UNION ALL SELECT 'posts', id, body, deleted_at, deleted_by, delete_reason, delete_op FROM posts
		UNION ALL SELECT tableoid::regclass::text, id, code, deleted_at, deleted_by, delete_reason, delete_op
		  FROM measurements
		ORDER BY 1, 2},
	config => q{
		SELECT relid, column_name, retention, archive, archive_retention, cascade, pii_columns, undo_window,
		       log_events, notify, key_columns, converted_uniques, rls_was_enabled, rls_was_forced, enabled_at
		  FROM softdelete.tables ORDER BY relid::text},
	# relid as the table it names: an OID left from the source shows as a
	# number or as whatever table now has it.
	events => q{
		SELECT id, op, at, relid::regclass, table_name, action, actor, reason, row_count, keys
		  FROM softdelete.events ORDER BY id},
	runs => q{
		SELECT r.id, r.relid, r.table_name, r.started_by, r.status, r.rows_purged, s.last_run_status
		  FROM softdelete.runs r LEFT JOIN softdelete.status s ON s.relid = r.relid ORDER BY r.id},
	# The enforcement by name: a name made from an OID would differ.
	objects => q{
		SELECT c.relname, 'policy', p.polname, p.polpermissive::text FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
		 WHERE c.relnamespace = 'public'::regnamespace
		UNION ALL
		SELECT c.relname, 'trigger', t.tgname, t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		 WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
		UNION ALL
		SELECT c.relname, 'index', i.relname, pg_get_indexdef(i.oid) FROM pg_index x
		  JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
		 WHERE c.relnamespace = 'public'::regnamespace
		UNION ALL
		SELECT c.relname, 'constraint', k.conname, k.contype::text FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
		 WHERE c.relnamespace = 'public'::regnamespace
		UNION ALL
		SELECT relname, 'rls', relrowsecurity::text, relforcerowsecurity::text FROM pg_class
		 WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')
		ORDER BY 1, 2, 3},
	sequences => q{
		SELECT last_value, is_called FROM softdelete.events_id_seq
		UNION ALL SELECT last_value, is_called FROM softdelete.runs_id_seq},
);
my %source = map { $_ => $node->safe_psql('postgres', $snapshot{$_}) } keys %snapshot;
like($source{events}, qr/\|-\|public\.gone\|delete\|alice/,
	'source: the events of a dropped table point at no table');
is($source{runs}, "1|users|public.users|purge()|succeeded|0|succeeded\n2|-|public.gone|purge()|succeeded|0|",
	'source: so do its purge runs');

my $dir = PostgreSQL::Test::Utils::tempdir;
my $conn = $node->connstr('postgres');
$node->command_ok([ 'pg_dump', '-Fc', '-f', "$dir/db.dump", '-d', $conn ], 'pg_dump, custom format');
$node->command_ok([ 'pg_dump', '-f', "$dir/db.sql", '-d', $conn ], 'pg_dump, plain format');
$node->command_ok(
	[ 'pg_dump', '-Fc', '-t', 'users', '-t', 'posts', '-t', 'measurements*', '-f', "$dir/tables.dump", '-d', $conn ],
	'pg_dump -t users -t posts -t measurements*');

# Runs a restore command: it must exit 0 and print no error at all (pg_restore
# goes on after errors unless told not to).
sub restore_ok
{
	my ($cmd, $name) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run($cmd, '>', \$out, '2>', \$err);
	ok($ok && $err !~ /error/i, $name) or diag("exit $?; stderr:\n$err");
}

# psql's ROW_COUNT: the count the client reads from the command tag.
sub as_app
{
	my ($db, $sql) = @_;
	return $node->safe_psql($db, "SET ROLE app;\nSET softdelete.actor = 'bob';\n$sql");
}

my %restored = (
	fresh_custom => sub {
		restore_ok([ 'pg_restore', '-d', $node->connstr('fresh_custom'), "$dir/db.dump" ],
			'pg_restore into a fresh database');
	},
	extension_first => sub {
		$node->safe_psql('extension_first', 'SET client_min_messages = warning; CREATE EXTENSION softdelete;');
		restore_ok([ 'pg_restore', '-d', $node->connstr('extension_first'), "$dir/db.dump" ],
			'pg_restore into a database where the extension was created first');
	},
	single_custom => sub {
		restore_ok(
			[ 'pg_restore', '--single-transaction', '--exit-on-error', '-d', $node->connstr('single_custom'),
				"$dir/db.dump" ],
			'pg_restore --single-transaction');
	},
	single_plain => sub {
		restore_ok(
			[ 'psql', '-X', '-q', '--single-transaction', '-v', 'ON_ERROR_STOP=1', '-d',
				$node->connstr('single_plain'), '-f', "$dir/db.sql" ],
			'the plain dump through psql --single-transaction -v ON_ERROR_STOP=1');
	},
);

for my $db (sort keys %restored)
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$restored{$db}->();

	for my $what (sort keys %snapshot)
	{
		is($node->safe_psql($db, $snapshot{$what}), $source{$what}, "$db: $what as in the source");
	}
	is($node->safe_psql($db, q{
		SELECT count(*) FROM softdelete.events
		 WHERE relid::oid IS DISTINCT FROM coalesce(to_regclass(table_name)::oid, 0)}),
		'0', "$db: every event points at its restored table, a dropped table's at none");

	# The application, after the restore.
	is(as_app($db, q{
		SELECT count(*) FROM users;
		SELECT count(*) FROM measurements_2;
		DELETE FROM users WHERE id IN (3, 4, 99);
		\echo :ROW_COUNT
		DELETE FROM measurements WHERE id IN (8, 106, 211, 204);
		\echo :ROW_COUNT
		SELECT count(*) FROM users;
		SELECT count(*) FROM measurements_2;
		SELECT count(*) FROM posts WHERE user_id IN (3, 4);}),
		"8\n10\n2\n3\n6\n9\n0", "$db: the application's DELETEs soft-delete with their true counts, hidden from it");
	is($node->safe_psql($db, q{
		SELECT string_agg(DISTINCT format('%s %s %s', deleted_by, delete_op = e.op, e.relid = 'users'::regclass), ', ')
		  FROM users, (SELECT op, relid FROM softdelete.events WHERE table_name = 'public.users'
		                ORDER BY id DESC LIMIT 1) e
		 WHERE id IN (3, 4);
		SELECT count(*), count(DISTINCT delete_op) FROM posts
		 WHERE user_id IN (3, 4) AND delete_op = (SELECT delete_op FROM users WHERE id = 3);
		SELECT count(*) FROM softdelete.events
		 WHERE op = (SELECT delete_op FROM users WHERE id = 3) AND relid = 'posts'::regclass;}),
		"bob t t\n6|1\n1", "$db: stamped, logged against the restored table, cascaded to the posts in the same operation");
	is($node->safe_psql($db, q{
		SELECT softdelete.restore('users', 1);
		SELECT softdelete.undo((SELECT delete_op FROM users WHERE id = 3));
		SELECT string_agg(id::text, ',' ORDER BY id) FROM users WHERE deleted_at IS NOT NULL;
		SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL AND user_id IN (1, 3, 4);}),
		"1\n8\n2\n0", "$db: restore() and undo() after the restore");

	# Outside the restore the event trigger covers new partitions again.
	is($node->safe_psql($db, q{
		SET client_min_messages = warning;
		CREATE TABLE measurements_4 PARTITION OF measurements FOR VALUES FROM (300) TO (400);
		SELECT string_agg(polname, ',' ORDER BY polname) FROM pg_policy WHERE polrelid = 'measurements_4'::regclass;
		SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'measurements_4'::regclass;}),
		"softdelete_access,softdelete_visibility\nt", "$db: a partition created after the restore is covered");

	# enable() again changes nothing; disable() takes everything away.
	my $objects = $node->safe_psql($db, $snapshot{objects});
	is($node->safe_psql($db, q{
		SET client_min_messages = warning;
		SELECT string_agg(DISTINCT action, ',') FROM softdelete.enable('users', retention => '30 days', undo_window => '1 hour');
		SELECT string_agg(DISTINCT action, ',') FROM softdelete.enable('measurements', pii_columns => '{code}');}),
		"unchanged\nunchanged", "$db: enable() with the same options changes nothing");
	is($node->safe_psql($db, $snapshot{objects}), $objects, "$db: and makes no object");
	is($node->safe_psql($db, q{
		SET client_min_messages = warning;
		SELECT count(*) > 0 FROM softdelete.disable('measurements');
		SELECT count(*) > 0 FROM softdelete.disable('posts');
		SELECT count(*) > 0 FROM softdelete.disable('users');
		SELECT count(*) FROM softdelete.tables;
		SELECT string_agg(format('%s %s', c.relname, t.tgname), ', ') FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		 WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal;
		SELECT string_agg(format('%s %s', c.relname, p.polname), ', ') FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid;
		SELECT string_agg(relname, ', ') FROM pg_class
		 WHERE relnamespace = 'public'::regnamespace AND (relrowsecurity OR relforcerowsecurity);
		SELECT string_agg(i.relname, ', ' ORDER BY i.relname) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
		 WHERE i.relnamespace = 'public'::regnamespace AND x.indpred IS NOT NULL;
		SELECT string_agg(conname || ':' || contype::text, ' ' ORDER BY conname) FROM pg_constraint
		 WHERE conrelid IN ('users'::regclass, 'measurements'::regclass) AND contype = 'u';}),
		"t\nt\nt\n0\n\n\n\n\nmeasurements_code_id_key:u users_email_key:u",
		"$db: disable() leaves no trigger, policy, row security or partial index behind");
}

# pg_dump -t (a partitioned table with its partitions too): the tables come
# with their triggers and policies but without their configuration (softdelete.tables belongs to the extension). Where the
# extension exists they refuse deletes until enable() repairs them.
$node->safe_psql('postgres', 'CREATE DATABASE tables_only');
$node->safe_psql('tables_only', 'SET client_min_messages = warning; CREATE EXTENSION softdelete;');
restore_ok([ 'pg_restore', '-d', $node->connstr('tables_only'), "$dir/tables.dump" ],
	'pg_restore of a pg_dump -t where the extension exists');
is($node->safe_psql('tables_only', q{
	SELECT count(*), count(deleted_at) FROM users;
	SELECT count(*) FROM softdelete.tables;}),
	"10|2\n0", 'tables_only: every row, deleted ones marked; no configuration');
for my $sql ('DELETE FROM users WHERE id = 5', 'DELETE FROM posts WHERE id = 5', 'TRUNCATE posts',
	'DELETE FROM measurements WHERE id = 8', 'DELETE FROM measurements_2 WHERE id = 106')
{
	for my $role ('app', 'postgres')
	{
		next if $role eq 'app' && $sql =~ /TRUNCATE/;    # app has no TRUNCATE privilege
		my ($ret, $out, $err) = $node->psql('tables_only', "SET ROLE $role;\n\\set VERBOSITY verbose\n$sql");
		like($err, qr/ERROR:  55000: .*\n(?:.*\n)*HINT:  .*softdelete\.enable/,
			"tables_only: '$sql' as $role is refused (55000), the hint names enable()");
	}
}
is($node->safe_psql('tables_only', 'SELECT count(*) FROM users; SELECT count(*) FROM posts; SELECT count(*) FROM measurements'),
	"10\n30\n43", 'tables_only: nothing was removed');
is($node->safe_psql('tables_only', q{
	SET client_min_messages = warning;
	SELECT count(*) > 0 FROM softdelete.enable('measurements', pii_columns => '{code}');
	SET ROLE app;
	SELECT count(*) FROM measurements;
	DELETE FROM measurements WHERE id IN (8, 106, 204);
	\echo :ROW_COUNT
	SELECT count(*) FROM measurements_2;
	RESET ROLE;
	SELECT count(*), count(deleted_at) FROM measurements;}),
	"t\n29\n2\n9\n43|16", 'tables_only: enable() repairs the partitioned table; deletes soft-delete, deleted rows stay hidden');
is($node->safe_psql('tables_only', q{
	SET client_min_messages = warning;
	SELECT count(*) > 0 FROM softdelete.enable('users', retention => '30 days', undo_window => '1 hour');
	SELECT relid, retention, undo_window, cascade FROM softdelete.tables
	 WHERE relid IN ('users'::regclass, 'posts'::regclass) ORDER BY relid::text;}),
	"t\nposts||01:00:00|t\nusers|30 days|01:00:00|t",
	'tables_only: enable() repairs the table and its child (which takes its undo window, as enable() gives it)');
is(as_app('tables_only', q{
	DELETE FROM users WHERE id IN (3, 4);
	\echo :ROW_COUNT
	SELECT count(*) FROM users;
	SELECT count(*) FROM posts;}),
	"2\n6\n18", 'tables_only: then a DELETE soft-deletes with its true count and cascades');
is($node->safe_psql('tables_only', q{
	SELECT count(*), count(deleted_at) FROM users;
	SELECT string_agg(id::text, ',' ORDER BY id) FROM users WHERE deleted_at IS NOT NULL AND deleted_by = 'alice';
	SELECT softdelete.restore('users', 1);}),
	"10|4\n1,2\n1", 'tables_only: the rows deleted before the dump keep their stamps and can be restored');
# enable() cannot tell that the restored live-only index was a unique
# constraint before the source's enable(): disable() keeps the index and its
# ON CONFLICT stand-in. What the README gives to put the constraint back.
is($node->safe_psql('tables_only', q{
	SET client_min_messages = warning;
	BEGIN;
	SET LOCAL softdelete.hard_delete = on;
	DELETE FROM posts WHERE deleted_at IS NOT NULL;
	DELETE FROM users WHERE deleted_at IS NOT NULL;
	COMMIT;
	SELECT count(*) > 0 FROM softdelete.disable('posts');
	SELECT count(*) > 0 FROM softdelete.disable('users');
	SELECT string_agg(conname || ':' || contype::text, ' ' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'users'::regclass;
	DROP TRIGGER users_email_key ON users;
	DROP INDEX users_email_key;
	ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
	SELECT string_agg(conname || ':' || contype::text, ' ' ORDER BY conname) FROM pg_constraint WHERE conrelid = 'users'::regclass;
	SELECT count(*) FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
	 WHERE t.tgrelid = 'users'::regclass AND p.pronamespace = 'softdelete_internal'::regnamespace;
	SELECT count(*) FROM pg_policy WHERE polrelid = 'users'::regclass;}),
	"t\nt\nusers_email_key:t users_pkey:p\nusers_email_key:u users_pkey:p\n0\n0",
	'tables_only: disable() after the repair keeps the live-only index and its stand-in; the README puts the constraint back');

$node->stop;
done_testing();
