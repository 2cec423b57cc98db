# Dump and restore by a table owner who is no superuser (a managed service's
# database owner, a member of softdelete_backup as the README says), with the
# two command lines the README gives, read from the README itself: every
# row comes back, deleted ones with their stamps, with the configuration,
# the event log and the operation numbers; DELETE is still a soft delete
# with its true count, deleted rows stay hidden, restore() and disable()
# work; an archive and its purge runs come along too. pg_dump
# --enable-row-security without the opt-in fails aloud instead of leaving
# deleted rows out, and what tells a dump session apart shows an
# application role nothing. A -t dump made the same way restores as the
# owner with all its rows and refuses deletes until enable().
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

# The README's lines, so that it cannot drift from what is tested.
my $readme = slurp_file('README.md');
my ($dump_line) = $readme =~ /^\s*(PGOPTIONS='-c softdelete\.include_deleted=on' pg_dump --enable-row-security [^\n]*)$/m;
my ($restore_line) = $readme =~ /^\s*(pg_restore [^\n]*shop\.dump)$/m;
ok(defined $dump_line && defined $restore_line, 'the README gives the dump and the restore command')
  or BAIL_OUT('README lines not found');
note("README: $dump_line\nREADME: $restore_line");

my $node = PostgreSQL::Test::Cluster->new('dump_owner');
$node->init;
$node->start;

# The service's superuser makes the roles, the databases and the extension;
# the owner does everything else.
$node->safe_psql('postgres', q{
	CREATE ROLE owner LOGIN;
	CREATE ROLE app LOGIN;
	CREATE ROLE other_owner LOGIN;
	CREATE DATABASE shop OWNER owner;
	CREATE DATABASE shop_new OWNER owner;
	CREATE DATABASE shop_t OWNER owner;
});
for my $db ('shop', 'shop_new', 'shop_t')
{
	$node->safe_psql($db, 'SET client_min_messages = warning; CREATE EXTENSION softdelete;');
}
$node->safe_psql('postgres', 'GRANT softdelete_backup TO owner, other_owner;');

sub as
{
	my ($user, $db, $sql) = @_;
	return $node->safe_psql($db, $sql, extra_params => [ '-U', $user ]);
}

as('owner', 'shop', q{
	SET client_min_messages = warning;
	CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
	CREATE TABLE posts (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users, body text);
	CREATE TABLE plain_notes (id int PRIMARY KEY, note text);
	INSERT INTO users SELECT g, 'u' || g || '@example.com', 'user ' || g FROM generate_series(1, 50) g;
	INSERT INTO posts SELECT g, g, 'post ' || g FROM generate_series(1, 50) g;
	INSERT INTO plain_notes VALUES (1, 'not enabled');
	CREATE TABLE logs (id int PRIMARY KEY, msg text);
	INSERT INTO logs SELECT g, 'message ' || g FROM generate_series(1, 10) g;
	GRANT SELECT, INSERT, UPDATE, DELETE ON users, posts, logs TO app;
	SELECT count(*) FROM softdelete.enable('users', retention => '30 days', pii_columns => '{name}',
	                                       undo_window => '1 hour');
	SELECT count(*) FROM softdelete.enable('logs', retention => '1 microsecond', archive => true);
});
as('app', 'shop', q{
	SET softdelete.actor = 'user-1234';
	SET softdelete.reason = 'account closed';
	DELETE FROM users WHERE id <= 5;
	DELETE FROM logs WHERE id <= 4;
});
# The owner's purge moves the deleted logs to their archive.
is(as('owner', 'shop', q{SELECT rows_archived || ' ' || rows_purged FROM softdelete.purge('logs')}), '4 4',
	'the owner purged 4 logs into their archive');
is(as('app', 'shop', 'SELECT (SELECT count(*) FROM users) || \' \' || (SELECT count(*) FROM posts)'),
	'45 45', 'the application sees 45 users and 45 posts: 5 of each deleted');

# What must come back, read by the superuser (who sees every row).
my %queries = (
	users => 'SELECT id, email, name, deleted_at, deleted_by, delete_reason, delete_op FROM users ORDER BY id',
	posts => 'SELECT id, user_id, body, deleted_at, deleted_by, delete_reason, delete_op FROM posts ORDER BY id',
	config => q{SELECT relid::text, column_name, retention, archive, archive_retention, cascade, pii_columns,
	                   undo_window, log_events, notify, key_columns, converted_uniques, rls_was_enabled,
	                   rls_was_forced, enabled_at
	              FROM softdelete.tables ORDER BY relid::text},
	events => 'SELECT id, op, at, table_name, action, actor, reason, row_count, keys FROM softdelete.events ORDER BY id',
	operation_numbers => 'SELECT last_value, is_called FROM softdelete.events_id_seq',
	policies => q{SELECT tablename, policyname, permissive, qual, with_check FROM pg_policies
	               WHERE schemaname = 'public' ORDER BY 1, 2},
	triggers => q{SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger
	               WHERE tgrelid IN ('users'::regclass, 'posts'::regclass) AND NOT tgisinternal ORDER BY 1, 2},
	rls => q{SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class
	          WHERE relname IN ('users', 'posts', 'plain_notes') ORDER BY 1},
	indexes => q{SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index
	              WHERE indrelid IN ('users'::regclass, 'posts'::regclass) ORDER BY 1},
	notes => 'SELECT * FROM plain_notes ORDER BY id',
	logs => 'SELECT id, msg, deleted_at FROM logs ORDER BY id',
	archive => 'SELECT id, msg, deleted_at, deleted_by FROM softdelete_archive."public.logs" ORDER BY id',
	archives => 'SELECT relid::text, archive::text FROM softdelete_internal.archives ORDER BY 1',
	runs => q{SELECT id, table_name, started_by, status, rows_archived, rows_purged, error
	            FROM softdelete.runs ORDER BY id});
my $last_op = $node->safe_psql('shop', 'SELECT max(op) FROM softdelete.events');
my %before = map { $_ => $node->safe_psql('shop', $queries{$_}) } keys %queries;
like($before{users}, qr/^1\|u1\@example\.com\|user 1\|[^|]+\|user-1234\|account closed\|\d+$/m,
	'a deleted user carries its stamps');
isnt($before{events}, '', 'the event log has rows');

my $dir = PostgreSQL::Test::Utils::tempdir;

# Runs a README line as the owner, from the dump's directory.
sub run_as_owner
{
	my ($line) = @_;
	local %ENV = $node->_get_env(PGUSER => 'owner', PGOPTIONS => undef);
	my ($stdout, $stderr) = ('', '');
	my $ok = IPC::Run::run([ 'sh', '-c', "cd '$dir' && $line" ], '>' => \$stdout, '2>' => \$stderr);
	note("$line\nstdout: $stdout\nstderr: $stderr");
	return ($ok, $stderr);
}

# pg_dump --enable-row-security without the opt-in must not leave deleted
# rows out: it stops, naming the table.
my ($ok, $stderr) = run_as_owner('pg_dump --enable-row-security -Fc -f partial.dump shop');
ok(!$ok, 'pg_dump --enable-row-security without softdelete.include_deleted fails');
like($stderr, qr/pg_dump would leave out the deleted rows of table "(users|posts|logs)"/,
	'and says that it would leave deleted rows out');

($ok, $stderr) = run_as_owner($dump_line);
ok($ok, "the owner's pg_dump of the whole database, as the README gives it");
is($stderr, '', 'with nothing on stderr');
($ok, $stderr) = run_as_owner($restore_line);
ok($ok, "the owner's pg_restore into a database that has the extension, as the README gives it");
is($stderr, '', 'with no error or warning');

for my $what (sort keys %queries)
{
	is($node->safe_psql('shop_new', $queries{$what}), $before{$what}, "restored: $what as it was");
}

# The restored database works as the original did.
is(as('app', 'shop_new', q{
	SET softdelete.actor = 'user-99';
	DELETE FROM users WHERE id IN (6, 7, 8);
	\echo :ROW_COUNT
	SELECT count(*) FROM users WHERE id <= 8;
	SELECT count(*) FROM users;
	SELECT count(*) FROM posts;}),
	"3\n0\n42\n42", 'as the application: DELETE 3, deleted rows hidden, the posts followed');
is($node->safe_psql('shop_new', qq{
	SELECT count(*), min(deleted_by), bool_and(delete_op > $last_op)
	  FROM users WHERE id IN (6, 7, 8) AND deleted_at IS NOT NULL}),
	'3|user-99|t', 'soft-deleted, stamped, under an operation number never given out before the dump');
is(as('owner', 'shop_new', q{
	SELECT softdelete.restore('users', 3);
	SELECT count(*) FROM users WHERE id = 3;
	SELECT count(*) FROM posts WHERE id = 3;}),
	"1\n1\n1", 'restore() as the owner brings user 3 back, with its post');
is(as('app', 'shop_new', 'SELECT count(*) FROM users WHERE id = 3'), '1', 'the application sees it');
is(as('owner', 'shop_new', q{
	SET client_min_messages = warning;
	BEGIN;
	SET LOCAL softdelete.hard_delete = on;
	DELETE FROM posts WHERE deleted_at IS NOT NULL;
	DELETE FROM users WHERE deleted_at IS NOT NULL;
	SELECT count(*) > 0 FROM softdelete.disable('posts');
	SELECT count(*) > 0 FROM softdelete.disable('users');
	SELECT string_agg(conname || ':' || contype::text, ' ' ORDER BY conname)
	  FROM pg_constraint WHERE conrelid = 'users'::regclass;
	ROLLBACK;}),
	"t\nt\nusers_email_key:u users_pkey:p", 'disable() as the owner brings the unique constraint back');

as('app', 'shop_new', 'DELETE FROM logs WHERE id = 5');
is(as('owner', 'shop_new', q{
	SELECT rows_archived || ' ' || rows_purged FROM softdelete.purge('logs');
	SELECT count(*) FROM softdelete_archive."public.logs";
	SELECT count(*) FROM pg_class WHERE relnamespace = 'softdelete_archive'::regnamespace AND relkind = 'r';}),
	"1 1\n5\n1", 'the purge goes on archiving into the restored archive');

# What lets a restore write the configuration is no way around it.
my ($ret, $out, $err) = $node->psql('shop_new', q{
	INSERT INTO softdelete.tables (relid, key_columns, rls_was_enabled, rls_was_forced, converted_uniques)
	VALUES ('plain_notes', '{id}', false, false, '[{"kind": "index", "name": "x", "definition": "ALTER ROLE other_owner SUPERUSER"}]')},
	extra_params => [ '-U', 'other_owner' ]);
like($err, qr/permission denied to configure soft delete on public\.plain_notes/,
	'another member of softdelete_backup cannot write the configuration of a table it does not own');
# What the owner writes there runs with the owner's rights only.
($ret, $out, $err) = $node->psql('shop_new', q{
	BEGIN;
	INSERT INTO softdelete.tables (relid, key_columns, rls_was_enabled, rls_was_forced, converted_uniques)
	VALUES ('plain_notes', '{id}', false, false, '[{"kind": "index", "name": "x", "definition": "ALTER ROLE owner SUPERUSER"}]');
	SELECT * FROM softdelete.disable('plain_notes');
	COMMIT;}, extra_params => [ '-U', 'owner' ]);
like($err, qr/permission denied|must be superuser/, "disable() runs a definition the owner wrote as the owner");
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'owner'}), 'f',
	'so the owner did not become a superuser');
($ret, $out, $err) = $node->psql('shop_new', q{INSERT INTO softdelete.events (op, relid, table_name, action, actor)
	VALUES (1, 0, 'users', 'delete', 'forged')}, extra_params => [ '-U', 'app' ]);
like($err, qr/permission denied for table events/, 'the application cannot write the event log');
($ret, $out, $err) = $node->psql('shop_new', 'SELECT softdelete_internal.include_deleted(\'users\')',
	extra_params => [ '-U', 'app' ]);
like($err, qr/permission denied for schema softdelete_internal/, 'nor name what is in softdelete_internal');

# An application role that sets what pg_dump sets gets errors, never rows.
($ret, $out, $err) = $node->psql('shop_new', q{
	SET row_security = on;
	SET synchronize_seqscans = off;
	SELECT count(*) FROM users WHERE deleted_at IS NOT NULL;}, extra_params => [ '-U', 'app' ]);
like($err, qr/pg_dump would leave out the deleted rows of table "users"/,
	'an application role that looks like pg_dump gets an error');
is($out, '', 'and no rows');
is(as('app', 'shop_new', q{
	SET row_security = on;
	SELECT count(*) FROM users;
	RESET row_security;
	SET synchronize_seqscans = off;
	SELECT count(*) FROM users;}),
	"43\n43", 'either setting alone changes nothing');
# A plan made before the session looked like pg_dump (a prepared
# statement, a PL/pgSQL function's plan) is checked at each execution: it
# used to go on returning live rows only.
($ret, $out, $err) = $node->psql('shop_new', q{
	SET row_security = on;
	PREPARE live AS SELECT count(*) FROM users;
	EXECUTE live;
	SET synchronize_seqscans = off;
	EXECUTE live;}, extra_params => [ '-U', 'app' ]);
is($out, '43', 'a statement prepared before runs as before');
like($err, qr/pg_dump would leave out the deleted rows of table "users"/,
	'and gets the error once the session looks like pg_dump');
($ret, $out, $err) = $node->psql('shop_new', q{
	CREATE FUNCTION pg_temp.live() RETURNS bigint LANGUAGE plpgsql AS
		$$ BEGIN RETURN (SELECT count(*) FROM users); END $$;
	SET row_security = on;
	SELECT pg_temp.live();
	SET synchronize_seqscans = off;
	SELECT pg_temp.live();}, extra_params => [ '-U', 'app' ]);
is($out, '43', "a function's plan made before runs as before");
like($err, qr/pg_dump would leave out the deleted rows of table "users"/,
	'and gets the error too');
like(as('app', 'shop_new', q{
	SET enable_seqscan = off;
	EXPLAIN (COSTS OFF) SELECT id FROM users WHERE email = 'u20@example.com'}),
	qr/^ *Index Scan using users_email_key on users\n *Index Cond: \(email = 'u20\@example.com'::text\)$/,
	'the lookup by email still uses the live-only index, with nothing else to check');

# -t: the table alone, restored as the owner where the extension exists: all
# its rows, hidden as before, and deletes refused until enable() repairs it.
my $table_line = $dump_line =~ s/ -f \S+/ -t users -f users.dump/r;
($ok, $stderr) = run_as_owner($table_line);
ok($ok, 'the owner dumps one table with -t the same way');
my $table_restore = $restore_line =~ s/-d shop_new shop\.dump/-d shop_t users.dump/r;
($ok, $stderr) = run_as_owner($table_restore);
ok($ok, 'and restores it as the owner');
is($stderr, '', 'without errors');
is($node->safe_psql('shop_t', $queries{users}), $before{users}, '-t: every row, deleted ones with their stamps');
is($node->safe_psql('shop_t', 'SELECT count(*) FROM softdelete.tables'), '0', '-t: no configuration came with it');
as('owner', 'shop_t', 'GRANT SELECT, INSERT, UPDATE, DELETE ON users TO app');
is(as('app', 'shop_t', 'SELECT count(*) FROM users'), '45', '-t: deleted rows hidden');
($ret, $out, $err) = $node->psql('shop_t', 'DELETE FROM users WHERE id = 10', extra_params => [ '-U', 'app' ]);
like($err, qr/table public\.users carries soft delete enforcement but has no configuration/,
	'-t: a DELETE is refused before enable()');
is($node->safe_psql('shop_t', 'SELECT count(*) FROM users'), '50', '-t: nothing was removed');
as('owner', 'shop_t', q{
	SET client_min_messages = warning;
	SELECT count(*) FROM softdelete.enable('users', retention => '30 days', pii_columns => '{name}',
	                                       undo_window => '1 hour');});
is(as('app', 'shop_t', q{
	DELETE FROM users WHERE id IN (10, 11);
	\echo :ROW_COUNT
	SELECT count(*) FROM users;}),
	"2\n43", '-t: after enable(), DELETE 2 soft-deletes');
is($node->safe_psql('shop_t', 'SELECT count(*) FROM users'), '50', '-t: and keeps the rows');

$node->stop;
done_testing();
