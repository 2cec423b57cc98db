# Crashes in the middle of a large purge with archive => true: kill -9 of the
# database worker (the postmaster then restarts every process), and an
# immediate shutdown of the server. Each batch copies its rows to the archive
# and deletes them in one transaction, so after either crash every deleted
# row is either still in the table or in the archive, exactly once; the run
# the crash interrupted is marked failed, the launcher comes back, and the
# purge completes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
softdelete.naptime = '1s'
softdelete.batch_size = 200
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE shop');

my $rows = 6000;

# A table of $rows rows, every fifth one live, the others deleted and due
# for purge; a trigger makes each batch take about a second, so that the
# crash comes in the middle of the purge.
sub prepare
{
	my ($table) = @_;
	$node->safe_psql('shop', qq{
		CREATE TABLE $table (id int PRIMARY KEY, payload text);
		INSERT INTO $table SELECT g, repeat('x', 100) FROM generate_series(1, $rows) g;
		SELECT count(*) FROM softdelete.enable('$table', retention => '1 second', archive => true);
		DELETE FROM $table WHERE id % 5 <> 0;
		CREATE TRIGGER take_time BEFORE DELETE ON $table FOR EACH ROW EXECUTE FUNCTION take_time();
	});
}

# Waits until the worker has committed a few batches of $table and is in the
# middle of the next one; returns the worker's pid and the run's id.
sub purging
{
	my ($table) = @_;
	$node->poll_query_until('shop', qq{
		SELECT count(*) > 0 FROM softdelete.runs
		 WHERE relid = '$table'::regclass AND status = 'running' AND rows_purged >= 400})
	  or die "the purge of $table did not begin";
	my $run = $node->safe_psql('shop', qq{
		SELECT id FROM softdelete.runs WHERE relid = '$table'::regclass AND status = 'running'});
	my $pid = $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity WHERE datname = 'shop' AND backend_type = 'softdelete worker'});
	return ($pid, $run);
}

# How many of the deleted rows are not exactly once in the table or its
# archive, and how many rows are in each.
sub check_rows
{
	my ($table) = @_;
	my $archive = $node->safe_psql('shop', "SELECT softdelete_internal.archive_table('$table')");
	return $node->safe_psql('shop', qq{
		SELECT count(*) FILTER (WHERE coalesce(t.n, 0) + coalesce(a.n, 0) <> 1)
		       || ' ' || coalesce(sum(t.n), 0) || ' ' || coalesce(sum(a.n), 0)
		  FROM generate_series(1, $rows) g
		  LEFT JOIN (SELECT id, count(*) AS n FROM $table GROUP BY id) t ON t.id = g
		  LEFT JOIN (SELECT id, count(*) AS n FROM $archive GROUP BY id) a ON a.id = g
	});
}

# After the crash: nothing lost or doubled, the interrupted run failed, and
# once the trigger is gone the purge completes.
sub after_crash
{
	my ($table, $run, $crash) = @_;
	my ($wrong, $in_table, $in_archive) = split / /, check_rows($table);
	is($wrong, '0', "after $crash, every row of $table is in the table or the archive, exactly once");
	cmp_ok($in_archive, '>=', 400, "the batches committed before $crash are archived ($in_archive rows)");
	cmp_ok($in_table, '>', $rows / 5, 'and some deleted rows were not purged yet');
	ok($node->poll_query_until('shop', qq{
		SELECT status = 'failed' AND error LIKE '%stopped before the run finished%'
		  FROM softdelete.runs WHERE id = $run}),
		"the run $crash interrupted is marked failed");
	$node->safe_psql('shop', "DROP TRIGGER take_time ON $table");
	ok($node->poll_query_until('shop', "SELECT count(*) FROM $table", $rows / 5), 'the purge completes');
	is(check_rows($table), '0 ' . ($rows / 5) . ' ' . ($rows * 4 / 5),
		'every deleted row is in the archive exactly once, every live row in the table');
	is($node->safe_psql('shop', qq{
		SELECT sum(rows_purged) || ' ' || sum(rows_archived) FROM softdelete.runs WHERE relid = '$table'::regclass}),
		($rows * 4 / 5) . ' ' . ($rows * 4 / 5), 'and the runs account for each of them once');
}

$node->safe_psql('shop', q{
	CREATE EXTENSION softdelete;
	CREATE FUNCTION take_time() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN PERFORM pg_sleep(0.005); RETURN OLD; END $$;
});

# --- kill -9 of the database worker ------------------------------------------------

prepare('killed');
my ($pid, $run) = purging('killed');
my $log_offset = -s $node->logfile;
kill 'KILL', $pid;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
$node->wait_for_log(qr/softdelete launcher started/, $log_offset);
pass('after kill -9 of the worker the server restarts, and the launcher with it');
after_crash('killed', $run, 'kill -9 of the worker');

# --- immediate shutdown ------------------------------------------------------------------

prepare('stopped');
(undef, $run) = purging('stopped');
$node->stop('immediate');
$node->start;
after_crash('stopped', $run, 'an immediate shutdown');

$node->stop;
done_testing();
