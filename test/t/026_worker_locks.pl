# A lock someone holds does not stop the lifecycle worker. Any role that may
# DELETE from a table may LOCK it ACCESS EXCLUSIVE, and a migration does as
# much. The worker's listing used to wait for that lock, with every other
# table of the database behind it, and the launcher's workers (two at a
# time) then sat waiting in two such databases while a third's due rows
# waited too. Now the listing passes over a locked table, the worker's own
# statements give up on a lock after a second (lock_timeout), and the
# other tables and databases are purged as usual.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('worker_locks');
$node->init;
$node->append_conf('postgresql.conf', qq{
softdelete.naptime = '1s'
});
$node->start;

for my $db ('d1', 'd2', 'd3')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION softdelete;
		CREATE TABLE held (id int PRIMARY KEY);
		CREATE TABLE other (id int PRIMARY KEY);
		INSERT INTO held SELECT generate_series(1, 10);
		INSERT INTO other SELECT generate_series(1, 10);
		SELECT count(*) FROM softdelete.enable('held', retention => '1 second');
		SELECT count(*) FROM softdelete.enable('other', retention => '1 second');
	});
}

# In d1 and d2, a session holds "held" ACCESS EXCLUSIVE, with due rows.
my %holders;
for my $db ('d1', 'd2')
{
	$node->safe_psql($db, 'DELETE FROM held WHERE id <= 5');
	$holders{$db} = $node->background_psql($db);
	$holders{$db}->query_safe('BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE');
}

# Due rows in every database's other table.
my $start = time;
$node->safe_psql($_, 'DELETE FROM other WHERE id <= 5') for ('d1', 'd2', 'd3');
for my $db ('d3', 'd1', 'd2')
{
	ok($node->poll_query_until($db, 'SELECT count(*) FROM other', '5'),
		"$db: the unlocked table is purged while another table of a database is held");
}
my $took = time - $start;
cmp_ok($took, '<', 30, "all three databases within seconds (took ${took}s with naptime 1s)");

# Released, the held tables are purged at a later visit: their rows waited
# (reading them before would wait for the lock too).
my $released = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
$_->quit for values %holders;
for my $db ('d1', 'd2')
{
	ok($node->poll_query_until($db, 'SELECT count(*) FROM held', '5'),
		"$db: the held table is purged once its lock is released");
	is($node->safe_psql($db, qq{
		SELECT bool_and(e.at > '$released') FROM softdelete.events e
		 WHERE e.table_name = 'public.held' AND e.action = 'purge'}),
		't', "$db: and not before");
}

# A partition held: its partitioned table waits, the others do not.
$node->safe_psql('d3', q{
	CREATE TABLE parted (id int, r text, PRIMARY KEY (id, r)) PARTITION BY LIST (r);
	CREATE TABLE parted_a PARTITION OF parted FOR VALUES IN ('a');
	INSERT INTO parted VALUES (1, 'a'), (2, 'a');
	SELECT count(*) FROM softdelete.enable('parted', retention => '1 second');
	DELETE FROM parted WHERE id = 1;
});
my $holder = $node->background_psql('d3');
$holder->query_safe('BEGIN; LOCK TABLE parted_a IN ACCESS EXCLUSIVE MODE');
$node->safe_psql('d3', 'DELETE FROM other');
ok($node->poll_query_until('d3', 'SELECT count(*) FROM other', '0'),
	'd3: the unlocked table is purged while a partition of another is held');
$holder->quit;
ok($node->poll_query_until('d3', 'SELECT count(*) FROM parted', '1'),
	'd3: the partitioned table is purged once its partition is released');

$node->stop;
done_testing();
