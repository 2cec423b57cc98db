# A physical standby: reads are filtered the same way as on the primary, and
# the lifecycle worker writes nothing there, not a run, not a removed row.
# Once promoted, it purges.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
# The primary's worker must not purge before the standby is looked at: a
# naptime of a day, and a retention the rows reach only later.
$primary->append_conf('postgresql.conf', qq{softdelete.naptime = '1d'});
$primary->start;
$primary->safe_psql('postgres', 'CREATE DATABASE shop');
$primary->safe_psql('shop', q{
	CREATE EXTENSION softdelete;
	CREATE ROLE app LOGIN;
	CREATE TABLE orders (id int PRIMARY KEY, note text);
	INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 100) g;
	GRANT SELECT, INSERT, UPDATE, DELETE ON orders TO app;
	SELECT count(*) FROM softdelete.enable('orders', retention => '1 second');
});
$primary->safe_psql('shop', 'SET ROLE app; DELETE FROM orders WHERE id <= 30');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{softdelete.naptime = '1s'});
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('shop', 'SET ROLE app; SELECT count(*) FROM orders'), '70',
	'on the standby the application sees live rows only');
my ($ret, $stdout, $stderr) = $standby->psql('shop', 'SET ROLE app; SET softdelete.include_deleted = on');
like($stderr, qr/permission denied to set softdelete.include_deleted/, 'and may not ask for deleted ones');
is($standby->safe_psql('shop', 'SELECT count(*) FROM orders'), '100',
	'the deleted rows are there, as on the primary');

# Long past the retention, with a naptime of a second.
sleep(4);
is($standby->safe_psql('shop', 'SELECT count(*) FROM orders'), '100', 'the standby purged nothing');
is($standby->safe_psql('shop', 'SELECT count(*) FROM softdelete.runs'), '0', 'and recorded no run');
is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'softdelete%'}),
	'0', 'no lifecycle process runs during recovery');
unlike(slurp_file($standby->logfile), qr/softdelete launcher started/, 'the launcher did not start');

$standby->promote;
$standby->wait_for_log(qr/softdelete launcher started/);
pass('after promotion the launcher starts');
ok($standby->poll_query_until('shop', 'SELECT count(*) FROM orders', '70'), 'and the promoted standby purges');
is($standby->safe_psql('shop',
		q{SELECT started_by || ' ' || status || ' ' || rows_purged FROM softdelete.runs WHERE rows_purged > 0}),
	'worker succeeded 30', 'recording its run');
is($primary->safe_psql('shop', 'SELECT count(*) FROM orders'), '100', 'the old primary purged nothing meanwhile');

$standby->stop;
$primary->stop;
done_testing();
