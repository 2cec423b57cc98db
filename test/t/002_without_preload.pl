# softdelete rewrites a DELETE while it is planned, so every session must
# load the module before its first statement. shared_preload_libraries does
# (test/softdelete.conf); this node does without it:
#
#  * CREATE EXTENSION refuses where the module is not loaded when sessions
#    start (55000, with the way out in the hint), and leaves nothing behind;
#  * session_preload_libraries (ALTER DATABASE ... SET, no restart) is
#    enough: every fresh connection's first DELETE reports its true count
#    and returns its rows, prepared or not, as an application role and as a
#    superuser; CREATE EXTENSION still warns that scheduled purge needs
#    shared_preload_libraries;
#  * a session that loads the module late anyway (here: roles whose own
#    session_preload_libraries leaves it out) refuses the DELETE it could
#    not report truly, deletes nothing, and gets it right when run again;
#    an ON CONFLICT ON CONSTRAINT planned without the hook is refused too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
# The test runner's TEMP_CONFIG preloads softdelete into every node: undo it.
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->start;
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), '', 'softdelete is not preloaded');

# The statements of $sql (one a line) in psql as $user on a fresh
# connection, going on after an error; returns [stdout with the command
# tags, the SQLSTATEs of the errors as "line:SQLSTATE" of the lines of $sql
# that failed].
sub fresh
{
	my ($user, $sql) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"\\set QUIET off\n\\set VERBOSITY sqlstate\n\\set ON_ERROR_STOP 0\n$sql",
		extra_params => [ '-U', $user ]);
	my @errors_by_line;
	while ($stderr =~ /^psql:<stdin>:(\d+): ERROR:  (\w+)$/mg)
	{
		push @errors_by_line, ($1 - 3) . ":$2";
	}
	return [ $stdout, join(' ', @errors_by_line) ];
}

my ($ret, $stdout, $stderr) = $node->psql('postgres', "\\set VERBOSITY verbose\nCREATE EXTENSION softdelete;");
isnt($ret, 0, 'CREATE EXTENSION refuses when sessions do not load the module');
like($stderr, qr/ERROR:  55000: softdelete must be loaded when a session starts/, '... with SQLSTATE 55000');
like($stderr, qr/HINT:  .*shared_preload_libraries.*session_preload_libraries/, '... and a hint saying how');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'softdelete%'}),
	'0', '... leaving nothing behind');

# No restart: new sessions of this database load the module when they start.
$node->safe_psql('postgres', q{ALTER DATABASE postgres SET session_preload_libraries = 'softdelete'});
($ret, $stdout, $stderr) = $node->psql('postgres', 'CREATE EXTENSION softdelete;');
is($ret, 0, 'CREATE EXTENSION works with session_preload_libraries');
like($stderr, qr/WARNING:.*not in shared_preload_libraries/, 'CREATE EXTENSION says purge needs shared_preload_libraries');

$node->safe_psql('postgres', q{
	CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);
	INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 30) g;
	CREATE ROLE app LOGIN;
	CREATE ROLE late_app LOGIN;
	CREATE ROLE late_admin SUPERUSER LOGIN;
	GRANT SELECT, INSERT, UPDATE, DELETE ON users TO app, late_app;
	SET client_min_messages = warning;
	SELECT count(*) FROM softdelete.enable('users');
	-- These roles' sessions load something else at start, and softdelete
	-- only on demand, in the middle of a statement.
	ALTER ROLE late_app SET session_preload_libraries = 'plpgsql';
	ALTER ROLE late_admin SET session_preload_libraries = 'plpgsql';
});

# 'live', 'deleted' or 'gone', as the superuser sees each row of @ids.
sub states
{
	my $list = join(',', @_);
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(CASE WHEN u.id IS NULL THEN 'gone' WHEN u.deleted_at IS NULL THEN 'live'
		                  ELSE 'deleted' END, ' ' ORDER BY g)
		  FROM unnest('{$list}'::int[]) g LEFT JOIN users u ON u.id = g});
}

# --- Every session loads the module when it starts -------------------------

my $r = fresh('app', 'DELETE FROM users WHERE id = 1 RETURNING id;');
is($r->[0], "1\nDELETE 1", 'application: the first DELETE ... RETURNING of a fresh connection returns its row, DELETE 1');
$r = fresh('app', 'DELETE FROM users WHERE id IN (2, 3);');
is($r->[0], 'DELETE 2', 'application: the first DELETE of a fresh connection reports DELETE 2');
$r = fresh('app', "PREPARE d(int) AS DELETE FROM users WHERE id = \$1 RETURNING id;\nEXECUTE d(4);\nEXECUTE d(5);");
is($r->[0], "PREPARE\n4\nDELETE 1\n5\nDELETE 1", 'application: a prepared DELETE returns its rows from the first execution');
$r = fresh('postgres', 'DELETE FROM users WHERE id = 6 RETURNING id;');
is($r->[0], "6\nDELETE 1", 'superuser: the first DELETE ... RETURNING of a fresh connection returns its row');
$r = fresh('postgres', 'DELETE FROM users WHERE id = 7;');
is($r->[0], 'DELETE 1', 'superuser: the first DELETE of a fresh connection reports DELETE 1');
is(states(1 .. 7), join(' ', ('deleted') x 7), 'those rows were soft-deleted, not removed');

# --- Sessions that load the module late ------------------------------------

$r = fresh('late_app', "DELETE FROM users WHERE id = 11 RETURNING id;\nDELETE FROM users WHERE id = 11 RETURNING id;");
is($r->[1], '1:55000', 'late application session: its first DELETE ... RETURNING is refused (55000)');
is($r->[0], "11\nDELETE 1", '... and the same statement run again returns its row, DELETE 1');
$r = fresh('late_app', 'DELETE FROM users WHERE id = 12;');
is($r->[0], 'DELETE 1', 'late application session: a first DELETE without RETURNING reports DELETE 1 (backstop)');
$r = fresh('late_app', "PREPARE d AS DELETE FROM users WHERE id = 13 RETURNING id;\nEXECUTE d;\nEXECUTE d;");
is($r->[1], '2:55000', 'late application session: the first execution of a prepared DELETE ... RETURNING is refused');
is($r->[0], "PREPARE\n13\nDELETE 1", '... and the next one is planned again and returns its row');
$r = fresh('late_app', "INSERT INTO users VALUES (40, 'u30') ON CONFLICT ON CONSTRAINT users_email_key DO NOTHING;\n"
	  . "INSERT INTO users VALUES (40, 'u30') ON CONFLICT ON CONSTRAINT users_email_key DO NOTHING;");
is($r->[1], '1:42809', 'late application session: ON CONFLICT ON CONSTRAINT <old name> planned without the hook is refused (42809)');
is($r->[0], 'INSERT 0 0', '... and run again it conflicts with the live row');

$r = fresh('late_admin', 'DELETE FROM users WHERE id = 14;');
is($r->[1], '1:55000', 'late superuser session: its first DELETE is refused (55000)');
is(states(14), 'live', '... and the row was not deleted');
$r = fresh('late_admin', "DELETE FROM users WHERE id = 14 RETURNING id;\nDELETE FROM users WHERE id = 15;");
is($r->[1], '1:55000', 'late superuser session: a first DELETE ... RETURNING is refused too');
is($r->[0], 'DELETE 1', '... and the next DELETE reports DELETE 1');
$r = fresh('late_admin', "PREPARE d AS DELETE FROM users WHERE id = 16;\nEXECUTE d;\nEXECUTE d;");
is($r->[1], '2:55000', 'late superuser session: the first execution of a prepared DELETE is refused');
is($r->[0], "PREPARE\nDELETE 1", '... and the next one reports DELETE 1');
is(states(11 .. 16), 'deleted deleted deleted live deleted deleted', 'the refused statements deleted nothing');

is($node->safe_psql('postgres',
		"SELECT string_agg(row_count::text || ':' || keys::text, ' ' ORDER BY id) FROM softdelete.events"),
	'1:[1] 2:[2, 3] 1:[4] 1:[5] 1:[6] 1:[7] 1:[11] 1:[12] 1:[13] 1:[15] 1:[16]',
	'each DELETE that worked was logged as one operation with its rows, the refused ones not at all');

$node->stop;
done_testing();
