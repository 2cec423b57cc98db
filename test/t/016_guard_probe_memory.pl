# The child guard keeps its index scans of the referenced tables open from
# one row to the next. What the index access method allocates while one
# scans (btree's list of dead entries to mark, made the first time it passes
# one) must live as long as the scan: allocated in the per-row context of
# the trigger call, it was freed under the scan, then read and freed again
# by the next row's rescan and at the scan's end, corrupting memory (one
# observed effect: a later INSERT's AFTER row triggers, the guard's among
# them, did not fire). The backend runs under valgrind here, and the test
# fails on any invalid read, write or free it reports.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my ($valgrind) = map { "$_/valgrind" } grep { -x "$_/valgrind" } split /:/, $ENV{PATH};
ok(defined $valgrind, 'valgrind is installed (scripts/deps installs it)');

my $node = PostgreSQL::Test::Cluster->new('guard_probe_memory');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'softdelete'\nsoftdelete.naptime = 0\n");

my $logs = PostgreSQL::Test::Utils::tempdir();
my $bindir = $node->config_data('--bindir');
my $postmaster = IPC::Run::start(
	[ $valgrind, '--quiet', '--error-limit=no', "--log-file=$logs/vg.%p.log",
	  "$bindir/postgres", '-D', $node->data_dir ],
	'>' => "$logs/postmaster.out", '2>&' => "$logs/postmaster.out");
my $up = 0;
for (1 .. 600)
{
	my $rc = system("$bindir/pg_isready", '-q', '-h', $node->host, '-p', $node->port);
	if ($rc == 0) { $up = 1; last; }
	usleep(200_000);
}
ok($up, 'the server under valgrind accepts connections');

# Parents whose keys have dead index entries in front of the live one (two
# non-HOT updates each: a soft delete and a restore), then children that
# reference them: every lookup of the guard passes a dead entry first.
$node->safe_psql('postgres', q{
	CREATE EXTENSION softdelete;
	CREATE TABLE parents (id int PRIMARY KEY);
	CREATE TABLE children (id int PRIMARY KEY, parent_id int REFERENCES parents);
	INSERT INTO parents SELECT generate_series(1, 50);
	SELECT count(*) FROM softdelete.enable('parents');
	DELETE FROM parents WHERE id <= 40;
	UPDATE parents SET deleted_at = NULL WHERE id <= 40;
	DELETE FROM parents WHERE id > 45;
});
my $inserted = $node->safe_psql('postgres', q{
	INSERT INTO children SELECT g, g FROM generate_series(1, 40) g;
	INSERT INTO children SELECT 100 + g, g FROM generate_series(1, 40) g;
	SELECT count(*) FROM children;
});
is($inserted, '80', 'children under live parents go in');
my ($rc, $out, $err) = $node->psql('postgres', 'INSERT INTO children VALUES (200, 46)');
like($err, qr/soft-deleted/, 'a child under a soft-deleted parent is still refused');

# Stop the server (a fast shutdown) and read what valgrind found.
my $pid = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
kill 'INT', $pid;
$postmaster->finish;
# Each report is a block of lines; the dynamic loader's own (glibc's
# word-wise string reads while it maps a library) are valgrind's known
# false positives, not the server's.
my @problems;
for my $log (glob "$logs/vg.*.log")
{
	for my $block (split /\n==\d+== \n/, slurp_file($log))
	{
		next unless $block =~ /Invalid (read|write|free)|Mismatched free/;
		next if $block =~ /dl-load\.c|dl-open\.c|dl-deps\.c/;
		push @problems, (split /\n/, $block)[0 .. 3];
	}
}
is(scalar(@problems), 0, 'valgrind reports no invalid read, write or free')
  or diag(join("\n", @problems[0 .. ($#problems < 20 ? $#problems : 19)]));

done_testing();
