# Opt-ins made when a connection starts, and opt-ins left behind on a pooled
# connection for whoever uses it next.
#
# softdelete.include_deleted counts only for the role that set it, and only
# if that role is a reader; softdelete.hard_delete counts only for the
# transaction that set it, by an admin of the table. A value can also arrive
# with the connection (PGOPTIONS, ALTER ROLE ... SET), or be left on a server
# connection that a pooler hands to the next client: each of these is tried
# here with real connections. Where pgbouncer is installed (scripts/deps
# installs it) a real one in transaction pooling mode sits in front of the
# server for the pooled cases; one psql session reused by consecutive
# transactions plays the pooler too.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('connection_settings');
$node->init;
$node->start;

# cs_items: rows 1..50, 49 and 50 deleted. cs_owner owns it; cs_app and
# cs_reader use it; cs_app2 owns another enabled table (so it may set
# hard_delete) and uses cs_items. The SECURITY DEFINER functions run as
# cs_owner.
$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE EXTENSION softdelete;
	CREATE ROLE cs_owner LOGIN;
	CREATE ROLE cs_app LOGIN;
	CREATE ROLE cs_reader LOGIN IN ROLE softdelete_reader;
	CREATE ROLE cs_app2 LOGIN;
	-- enable() rebuilds unique indexes, which needs CREATE on the schema.
	GRANT CREATE ON SCHEMA public TO cs_owner, cs_app2;
	CREATE TABLE cs_items (id int PRIMARY KEY, email text UNIQUE);
	INSERT INTO cs_items SELECT g, 'u' || g FROM generate_series(1, 50) g;
	ALTER TABLE cs_items OWNER TO cs_owner;
	GRANT SELECT, INSERT, UPDATE, DELETE ON cs_items TO cs_app, cs_reader, cs_app2;
	CREATE TABLE cs_app2_own (id int PRIMARY KEY);
	ALTER TABLE cs_app2_own OWNER TO cs_app2;
	SET ROLE cs_owner;
	SELECT count(*) FROM softdelete.enable('cs_items');
	DELETE FROM cs_items WHERE id IN (49, 50);
	CREATE FUNCTION cs_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER
		SET search_path = public AS 'SELECT count(*) FROM cs_items';
	CREATE FUNCTION cs_delete(i int) RETURNS void LANGUAGE sql SECURITY DEFINER
		SET search_path = public AS 'DELETE FROM cs_items WHERE id = i';
	CREATE FUNCTION cs_truncate() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
		SET search_path = public AS 'BEGIN TRUNCATE cs_items; END';
	GRANT EXECUTE ON FUNCTION cs_count(), cs_delete(int), cs_truncate() TO PUBLIC;
	SET ROLE cs_app2;
	SELECT count(*) FROM softdelete.enable('cs_app2_own');
});

# 'live', 'deleted' or 'gone', as the superuser sees row $id.
sub state_of
{
	my ($id) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce((SELECT CASE WHEN deleted_at IS NULL THEN 'live' ELSE 'deleted' END
		                   FROM cs_items WHERE id = $id), 'gone')});
}

sub rows_in_table
{
	return $node->safe_psql('postgres', 'SELECT count(*) FROM cs_items');
}

# A new connection as $user (with PGOPTIONS when given) runs $sql; returns
# psql's exit code, its output and its errors (with SQLSTATEs).
sub connect_as
{
	my ($user, $sql, $pgoptions, $connstr) = @_;
	local $ENV{PGOPTIONS} = $pgoptions if defined $pgoptions;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		connstr => ($connstr // $node->connstr('postgres')) . " user=$user",
		on_error_stop => 0);
	return ($ret, $out, $err);
}

my ($ret, $out, $err);

# --- PGOPTIONS ---------------------------------------------------------------

($ret, $out, $err) = connect_as('cs_app', 'SELECT count(*) FROM cs_items;',
	'-c softdelete.include_deleted=on');
like($err, qr/ERROR:  42501: permission denied to see deleted rows/,
	'PGOPTIONS include_deleted: the app (not a reader) gets 42501 on its own SELECT');
is($out, '', 'and sees no rows at all');
($ret, $out, $err) = connect_as('cs_app', 'SELECT cs_count();', '-c softdelete.include_deleted=on');
is($out, '48', "PGOPTIONS include_deleted: the owner's SECURITY DEFINER function counts live rows only")
  or diag($err);
($ret, $out, $err) = connect_as('cs_reader', 'SELECT count(*) FROM cs_items;',
	'-c softdelete.include_deleted=on');
is($out, '50', 'PGOPTIONS include_deleted: a reader sees the deleted rows') or diag($err);

for my $user ('cs_owner', 'cs_app')
{
	($ret, $out, $err) = connect_as($user, 'SELECT 1;', '-c softdelete.hard_delete=on');
	isnt($ret, 0, "PGOPTIONS hard_delete: the connection of $user is refused");
	like($err, qr/FATAL:.*softdelete\.hard_delete/, 'and the error names softdelete.hard_delete');
	is($out, '', 'nothing ran');
}

# --- ALTER ROLE ... SET --------------------------------------------------------

$node->safe_psql('postgres', q{
	ALTER ROLE cs_app SET softdelete.include_deleted = on;
	ALTER ROLE cs_reader SET softdelete.include_deleted = on;
});
($ret, $out, $err) = connect_as('cs_app', 'SHOW softdelete.include_deleted; SELECT count(*) FROM cs_items;');
like($err, qr/ERROR:  42501: permission denied to see deleted rows/,
	'ALTER ROLE app SET include_deleted: a new app session gets 42501 on the table')
  or diag("output: $out");
($ret, $out, $err) = connect_as('cs_reader', 'SELECT count(*) FROM cs_items;');
is($out, '50', 'ALTER ROLE reader SET include_deleted: a new reader session sees the deleted rows')
  or diag($err);
$node->safe_psql('postgres', 'ALTER ROLE cs_app RESET ALL; ALTER ROLE cs_reader RESET ALL;');

# ALTER ROLE/DATABASE ... SET of hard_delete would keep it on in every
# session of a role or database: refused when it is asked for.
for my $stored ('ROLE cs_owner', 'ROLE cs_owner IN DATABASE postgres', 'DATABASE postgres')
{
	($ret, $out, $err) = $node->psql('postgres', "ALTER $stored SET softdelete.hard_delete = on");
	isnt($ret, 0, "ALTER $stored SET hard_delete = on is refused");
	like($err, qr/softdelete\.hard_delete can only be set for the current transaction/,
		'with the reason');
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_db_role_setting'),
	'0', 'nothing was stored');

# A value stored anyway (written straight into pg_db_role_setting, as a
# catalog edited by hand could hold it) never takes effect at login.
my $id = 10;
for my $database ('0', "(SELECT oid FROM pg_database WHERE datname = 'postgres')")
{
	$node->safe_psql('postgres',
		"INSERT INTO pg_db_role_setting VALUES ($database, 'cs_owner'::regrole, '{softdelete.hard_delete=on}')");
	($ret, $out, $err) = connect_as('cs_owner', "SHOW softdelete.hard_delete; DELETE FROM cs_items WHERE id = $id;");
	like($err, qr/WARNING:.*softdelete\.hard_delete can only be set for the current transaction/,
		'at login the stored value is refused with a WARNING');
	is($out, 'off', 'and is off in the session');
	is(state_of($id), 'deleted', "the owner session's DELETE is soft: row $id is still there, marked");
	$node->safe_psql('postgres', "DELETE FROM pg_db_role_setting WHERE setrole = 'cs_owner'::regrole");
	$id++;
}

# --- One connection, consecutive transactions (a transaction pooler) ---------

my $pooled = $node->background_psql('postgres', on_error_stop => 0,
	extra_params => [ '-U', 'cs_owner' ]);
$pooled->query_safe('\set VERBOSITY verbose');

# Runs $sql on the reused connection; returns its output and its errors.
sub on_pooled
{
	my ($sql) = @_;
	$pooled->{stderr} = '';
	my $output = $pooled->query($sql);
	return ($output, $pooled->{stderr});
}

# Each way of leaving hard_delete on for the session, then the next
# transaction's DELETE on the same connection, with the row it deletes.
my @leftovers = (
	[ 'SET softdelete.hard_delete = on', 1 ],
	[ q{BEGIN; SELECT set_config('softdelete.hard_delete', 'on', false); COMMIT}, 2 ],
	[ q{SELECT set_config('softdelete.hard_delete', 'on', false)}, 3 ],
	[ 'BEGIN; SAVEPOINT s; SET softdelete.hard_delete = on; RELEASE s; COMMIT', 4 ],
	[ 'BEGIN; SET softdelete.hard_delete = on; SET LOCAL softdelete.hard_delete = on; COMMIT', 5 ],
);
for my $case (@leftovers)
{
	my ($sql, $id) = @$case;
	($out, $err) = on_pooled($sql);
	like($err, qr/ERROR:  55P02: softdelete\.hard_delete can only be set for the current transaction/,
		"\"$sql\": the transaction does not commit (55P02)");
	($out, $err) = on_pooled('SHOW softdelete.hard_delete');
	is($out, 'off', 'hard_delete is off afterwards');
	on_pooled("DELETE FROM cs_items WHERE id = $id");
	is(state_of($id), 'deleted', "the next transaction's DELETE of row $id is soft");
}

($out, $err) = on_pooled('BEGIN; SET LOCAL softdelete.hard_delete = on; COMMIT');
is($err, '', 'SET LOCAL hard_delete commits');
on_pooled('DELETE FROM cs_items WHERE id = 6');
is(state_of(6), 'deleted', "after SET LOCAL, the next transaction's DELETE is soft");

# A session-level SET inside the deleting transaction never counts, and the
# transaction does not commit.
($out, $err) = on_pooled('BEGIN; SET softdelete.hard_delete = on; DELETE FROM cs_items WHERE id = 7; COMMIT');
like($err, qr/55P02/, 'SET (not LOCAL) then DELETE in one transaction: COMMIT fails');
is(state_of(7), 'live', 'and its DELETE removed nothing');

# What a hard delete looks like here: SET LOCAL in the deleting transaction.
($out, $err) = on_pooled('BEGIN; SET LOCAL softdelete.hard_delete = on; DELETE FROM cs_items WHERE id = 8; COMMIT');
is($err, '', 'SET LOCAL then DELETE commits');
is(state_of(8), 'gone', 'and that DELETE removed the row');
$pooled->quit;

# --- Someone else's table, someone else's function -------------------------------

my $rows = rows_in_table();
($ret, $out, $err) = connect_as('cs_app2',
	'BEGIN; SET LOCAL softdelete.hard_delete = on; SELECT cs_delete(14); COMMIT;');
is($err, '', "cs_app2 (admin of another table) may SET LOCAL hard_delete and call the owner's function");
is(state_of(14), 'deleted', "its hard_delete does not reach the owner's SECURITY DEFINER DELETE: soft");
($ret, $out, $err) = connect_as('cs_app2',
	'BEGIN; SET LOCAL softdelete.hard_delete = on; SELECT cs_truncate(); COMMIT;');
like($err, qr/ERROR:  (55000|42501):/, "nor its TRUNCATE: refused");
($ret, $out, $err) = connect_as('cs_app2',
	'BEGIN; SET LOCAL softdelete.hard_delete = on; DELETE FROM cs_items WHERE id = 15; COMMIT;');
like($err, qr/ERROR:  42501: permission denied to hard-delete rows of table public\.cs_items/,
	"cs_app2's own DELETE of cs_items with hard_delete on is refused: it is no admin of that table");
is(state_of(15), 'live', 'and removed nothing');
is(rows_in_table(), $rows, 'no row was removed');

# A function's SET clause is an opt-in for the transaction that calls it,
# made by the function's owner: the owner's purge function hard-deletes.
($ret, $out, $err) = connect_as('cs_owner', q{
	CREATE FUNCTION cs_purge(i int) RETURNS void LANGUAGE sql SECURITY DEFINER
		SET search_path = public SET softdelete.hard_delete = on
		AS 'DELETE FROM cs_items WHERE id = i';
	GRANT EXECUTE ON FUNCTION cs_purge(int) TO PUBLIC;});
is($err, '', 'the owner may create a function with SET softdelete.hard_delete = on');
connect_as('cs_app', 'SELECT cs_purge(16);');
is(state_of(16), 'gone', 'called by the app, that function hard-deletes as its owner');

# --- A real pooler ---------------------------------------------------------------------

my ($pgbouncer) = grep { -x } map { "$_/pgbouncer" } split(/:/, $ENV{PATH}), '/usr/sbin';
ok(defined $pgbouncer, 'pgbouncer is installed (scripts/deps installs it)');
# Starts pgbouncer in $mode (transaction or session) in front of the node,
# with one server connection per user: every client of a user gets the one
# the previous client of that user left. Returns the process and the
# connection string of the pooled database.
sub start_pgbouncer
{
	my ($mode) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir_short();
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	append_to_file("$dir/userlist.txt", join('', map { qq{"$_" ""\n} } qw(cs_owner cs_app cs_reader)));
	append_to_file("$dir/pgbouncer.ini", join("\n",
		'[databases]',
		'postgres = host=' . $node->host . ' port=' . $node->port . ' dbname=postgres',
		'[pgbouncer]',
		"unix_socket_dir = $dir",
		"listen_port = $port",
		'auth_type = trust',
		"auth_file = $dir/userlist.txt",
		"pool_mode = $mode",
		'default_pool_size = 1',
		"logfile = $dir/pgbouncer.log",
		"pidfile = $dir/pgbouncer.pid",
		''));
	my $bouncer = IPC::Run::start([ $pgbouncer, "$dir/pgbouncer.ini" ],
		'>' => "$dir/stdout", '2>' => "$dir/stderr");
	my $via = "host=$dir port=$port dbname=postgres";
	my $up = 0;
	for (1 .. 100)
	{
		($ret) = connect_as('cs_owner', 'SELECT 1;', undef, $via);
		last if $up = ($ret == 0);
		select(undef, undef, undef, 0.1);
	}
	ok($up, "pgbouncer in $mode mode accepts connections") or diag(slurp_file("$dir/pgbouncer.log"));
	return ($bouncer, $via);
}

SKIP:
{
	skip 'no pgbouncer', 28 unless defined $pgbouncer;
	my ($bouncer, $via) = start_pgbouncer('transaction');

	# Each client is a new connection to pgbouncer; with one server
	# connection they all land on the same backend. A session setting that
	# is not ours shows that state does travel to the next client.
	connect_as('cs_owner', q{SET softdelete.reason = 'left behind';}, undef, $via);
	my (undef, $pid_and_reason) = connect_as('cs_owner', 'SELECT pg_backend_pid(); SHOW softdelete.reason;',
		undef, $via);
	my ($pid, $reason) = split /\n/, $pid_and_reason;
	is($reason, 'left behind', 'through pgbouncer, a session setting reaches the next client');

	$id = 20;
	# Each leftover is refused at commit; SET LOCAL commits and ends there.
	for my $sql ((map { $_->[0] } @leftovers), 'BEGIN; SET LOCAL softdelete.hard_delete = on; COMMIT')
	{
		(undef, undef, $err) = connect_as('cs_owner', "$sql;", undef, $via);
		if ($sql =~ /^BEGIN; SET LOCAL/)
		{
			is($err, '', "through pgbouncer, \"$sql\" commits");
		}
		else
		{
			like($err, qr/ERROR:  55P02:/, "through pgbouncer, \"$sql\" does not commit");
		}
		my $next;
		(undef, $next, $err) = connect_as('cs_owner',
			"SELECT pg_backend_pid(); SHOW softdelete.hard_delete; DELETE FROM cs_items WHERE id = $id;",
			undef, $via);
		is($next, "$pid\noff", 'the next client is on the same backend, with hard_delete off');
		is(state_of($id), 'deleted', "and its DELETE of row $id is soft");
		$id++;
	}

	# What the README's "Connection poolers" says about transaction mode.
	($ret, $out, $err) = connect_as('cs_app',
		"DELETE FROM cs_items WHERE id IN (40, 41, 42);\n\\echo :ROW_COUNT\n"
		  . "DELETE FROM cs_items WHERE id IN (42, 43) RETURNING id;\n\\echo :ROW_COUNT\n",
		undef, $via);
	is($out, "3\n43\n1",
		'through pgbouncer (transaction), DELETE reports its true count and RETURNING its rows')
	  or diag($err);
	connect_as('cs_app', q{BEGIN; SET LOCAL softdelete.actor = 'alice'; DELETE FROM cs_items WHERE id = 44; COMMIT;},
		undef, $via);
	connect_as('cs_app', 'DELETE FROM cs_items WHERE id = 45;', undef, $via);
	is($node->safe_psql('postgres', 'SELECT string_agg(deleted_by, \',\' ORDER BY id) FROM cs_items WHERE id IN (44, 45)'),
		'alice,cs_app', 'SET LOCAL softdelete.actor is recorded and ends with its transaction');
	connect_as('cs_app', q{SET softdelete.actor = 'alice';}, undef, $via);
	connect_as('cs_app', 'DELETE FROM cs_items WHERE id = 46;', undef, $via);
	is($node->safe_psql('postgres', 'SELECT deleted_by FROM cs_items WHERE id = 46'),
		'alice', "a session SET softdelete.actor is recorded on the next client's delete: why it is unsafe there");
	connect_as('cs_app', 'RESET softdelete.actor;', undef, $via);

	($ret, $out, $err) = connect_as('cs_reader',
		'BEGIN; SET LOCAL softdelete.include_deleted = on; SELECT count(*) FROM cs_items; COMMIT; SELECT count(*) FROM cs_items;',
		undef, $via);
	my ($with, $without) = grep { /^\d+$/ } split /\n/, $out;
	my $all = $node->safe_psql('postgres', 'SELECT count(*) FROM cs_items');
	my $live = $node->safe_psql('postgres', 'SELECT count(*) FROM cs_items WHERE deleted_at IS NULL');
	is("$with/$without", "$all/$live",
		"a reader's SET LOCAL include_deleted shows the deleted rows in its transaction only")
	  or diag($err);
	connect_as('cs_reader', 'SET softdelete.include_deleted = on;', undef, $via);
	($ret, $out, $err) = connect_as('cs_reader', 'SELECT count(*) FROM cs_items;', undef, $via);
	is($out, $all, "a reader's session SET include_deleted reaches the next client of that role: unsafe there");
	connect_as('cs_reader', 'RESET softdelete.include_deleted;', undef, $via);
	$bouncer->kill_kill;

	# Session mode: a client keeps its server connection, and pgbouncer's
	# DISCARD ALL resets it before the next client.
	($bouncer, $via) = start_pgbouncer('session');
	($ret, $out, $err) = connect_as('cs_app',
		qq{SET softdelete.actor = 'bob'; DELETE FROM cs_items WHERE id = 47 RETURNING id, deleted_by;\n\\echo :ROW_COUNT\n}
		  . 'SELECT pg_backend_pid();',
		undef, $via);
	my ($returned, $count, $session_pid) = split /\n/, $out;
	is("$returned/$count", '47|bob/1', 'through pgbouncer (session), a session SET works as on a direct connection')
	  or diag($err);
	($ret, $out, $err) = connect_as('cs_app', 'SELECT pg_backend_pid(); SHOW softdelete.actor;', undef, $via);
	is($out, "$session_pid\n", 'the next client gets that backend with the actor reset');
	$bouncer->kill_kill;
}

# --- postgresql.conf -------------------------------------------------------------

# A configuration file value is refused too, whether read at a reload or
# when the server starts.
$node->append_conf('postgresql.conf', 'softdelete.hard_delete = on');
$id = 30;
for my $how ('reload', 'restart')
{
	$node->$how;
	($ret, $out, $err) = connect_as('cs_owner', "SHOW softdelete.hard_delete; DELETE FROM cs_items WHERE id = $id;");
	is($out, 'off', "after a $how with hard_delete = on in postgresql.conf, it is off in a new session")
	  or diag($err);
	is(state_of($id), 'deleted', "and that session's DELETE of row $id is soft");
	$id++;
}

$node->stop;
done_testing();
