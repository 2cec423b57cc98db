# A lifecycle worker never keeps a database from being dropped, renamed or
# used as a template. PostgreSQL refuses these statements while any other
# session is connected to the database; here a worker is in the middle of a
# slow purge there when each statement is issued, and each succeeds without
# FORCE: the worker is asked to stop first, its batch rolls back and its run
# records why. (Without the worker's guard, each fails after 5 seconds with
# "database ... is being accessed by other users".)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('worker_databases');
$node->init;
$node->append_conf('postgresql.conf', qq{
softdelete.naptime = '1s'
softdelete.batch_size = 10
});
$node->start;

# A database whose purge is slow: every batch takes 10 seconds.
$node->safe_psql('postgres', 'CREATE DATABASE busy');
$node->safe_psql('busy', q{
	CREATE EXTENSION softdelete;
	CREATE TABLE slow (id int PRIMARY KEY);
	INSERT INTO slow SELECT generate_series(1, 1000);
	SELECT count(*) FROM softdelete.enable('slow', retention => '1 second');
	DELETE FROM slow;
	CREATE FUNCTION take_time() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN PERFORM pg_sleep(1); RETURN OLD; END $$;
	CREATE TRIGGER take_time BEFORE DELETE ON slow FOR EACH ROW EXECUTE FUNCTION take_time();
});

# Waits until a worker is purging in database $db, inside a batch: asleep in
# take_time(). With the activity label alone, one clean-clone run issued
# DROP DATABASE when the worker it had seen was already gone from the
# registry (no worker to stop, "the worker was stopped for it" failed);
# presumably the label outlived the batch.
sub worker_purging_in
{
	my ($db) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM pg_stat_activity
		 WHERE datname = '$db' AND backend_type = 'softdelete worker' AND query = 'purging public.slow'
		   AND wait_event = 'PgSleep'});
}

# Runs $sql in database postgres; returns its exit code, stderr and duration.
sub timed
{
	my ($sql) = @_;
	my $start = time;
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $sql);
	return ($ret, $stderr, time - $start);
}

my $log_offset = -s $node->logfile;

# --- Only the database's owner stops the worker ----------------------------------

$node->safe_psql('postgres', 'CREATE ROLE intruder LOGIN CREATEDB');
ok(worker_purging_in('busy'), 'a worker is purging in database busy');
my ($ret, $stdout, $stderr) = $node->psql('postgres', 'DROP DATABASE busy', extra_params => [ '-U', 'intruder' ]);
like($stderr, qr/must be owner of database busy/, 'a role that does not own it cannot drop it');
ok(worker_purging_in('busy'), 'and the worker was left alone');
unlike(slurp_file($node->logfile, $log_offset), qr/stopped the lifecycle worker/, 'nothing was stopped');

# --- CREATE DATABASE ... TEMPLATE --------------------------------------------------

ok(worker_purging_in('busy'), 'a worker is purging in database busy');
my $running = $node->safe_psql('busy', q{SELECT id FROM softdelete.runs WHERE status = 'running'});
my $took;
($ret, $stderr, $took) = timed('CREATE DATABASE copy TEMPLATE busy');
is($ret, 0, "CREATE DATABASE ... TEMPLATE busy succeeds (${took}s)") or diag($stderr);
cmp_ok($took, '<', 5, 'without waiting for the batch in progress');
like(slurp_file($node->logfile, $log_offset),
	qr/softdelete: stopped the lifecycle worker in database "busy" for CREATE DATABASE ... TEMPLATE/,
	'the worker was stopped for it');
like($node->safe_psql('copy', "SELECT status || ': ' || error FROM softdelete.runs WHERE id = '$running'"),
	qr/^failed: stopped: /, 'the copy has the interrupted run ended, with why');
is($node->safe_psql('copy', 'SELECT count(*) FROM slow'), '1000', 'and every row: the batch rolled back');
ok(worker_purging_in('busy'), 'the worker comes back to the template once the copy is made');
ok(worker_purging_in('copy'), 'and works in the copy as well');

# --- ALTER DATABASE ... RENAME TO --------------------------------------------------

($ret, $stderr, $took) = timed('ALTER DATABASE busy RENAME TO renamed');
is($ret, 0, "ALTER DATABASE ... RENAME TO succeeds (${took}s)") or diag($stderr);
like(slurp_file($node->logfile, $log_offset),
	qr/softdelete: stopped the lifecycle worker in database "busy" for ALTER DATABASE ... RENAME TO/,
	'the worker was stopped for it');
ok(worker_purging_in('renamed'), 'the worker comes back under the new name');

# --- ALTER DATABASE ... SET TABLESPACE ------------------------------------------------

my $location = PostgreSQL::Test::Utils::tempdir();
$node->safe_psql('postgres', "CREATE TABLESPACE elsewhere LOCATION '$location'");
($ret, $stderr, $took) = timed('ALTER DATABASE renamed SET TABLESPACE elsewhere');
is($ret, 0, "ALTER DATABASE ... SET TABLESPACE succeeds (${took}s)") or diag($stderr);
like(slurp_file($node->logfile, $log_offset),
	qr/softdelete: stopped the lifecycle worker in database "renamed" for ALTER DATABASE ... SET TABLESPACE/,
	'the worker was stopped for it');

# --- DROP DATABASE -------------------------------------------------------------------

for my $db ('renamed', 'copy')
{
	ok(worker_purging_in($db), "a worker is purging in database $db");
	($ret, $stderr, $took) = timed("DROP DATABASE $db");
	is($ret, 0, "DROP DATABASE $db (without FORCE) succeeds (${took}s)") or diag($stderr);
	cmp_ok($took, '<', 5, 'without waiting for the batch in progress');
	like(slurp_file($node->logfile, $log_offset),
		qr/softdelete: stopped the lifecycle worker in database "$db" for DROP DATABASE/,
		'the worker was stopped for it');
}

# --- Afterwards --------------------------------------------------------------------

is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'softdelete worker' AND datname IS DISTINCT FROM 'postgres'}),
	'0', 'no worker is left in a database that is gone');
$node->safe_psql('postgres', 'CREATE DATABASE later');
$node->safe_psql('later', q{
	CREATE EXTENSION softdelete;
	CREATE TABLE t (id int PRIMARY KEY);
	INSERT INTO t SELECT generate_series(1, 10);
	SELECT count(*) FROM softdelete.enable('t', retention => '1 second');
	DELETE FROM t WHERE id <= 3;
});
ok($node->poll_query_until('later', 'SELECT count(*) FROM t', '7'), 'the launcher goes on with the other databases');
unlike(slurp_file($node->logfile), qr/terminated by signal|was terminated by exception/, 'no process crashed');

$node->stop;
done_testing();
