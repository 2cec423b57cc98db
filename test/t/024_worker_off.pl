# softdelete.naptime = 0 turns the lifecycle worker off: due rows stay in a
# database created after the start, softdelete.purge() still purges, and a
# reload that sets a naptime turns the worker on.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker_off');
$node->init;
$node->append_conf('postgresql.conf', "softdelete.naptime = 0\n");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
	CREATE EXTENSION softdelete;
	CREATE TABLE items (id int PRIMARY KEY);
	INSERT INTO items SELECT generate_series(1, 6);
	CREATE TABLE kept (id int PRIMARY KEY);
	INSERT INTO kept SELECT generate_series(1, 4);
	SELECT count(*) FROM softdelete.enable('items', retention => '1 second');
	SELECT count(*) FROM softdelete.enable('kept', retention => '1 second');
	DELETE FROM items;
	DELETE FROM kept WHERE id <= 2;
});
ok($node->log_contains('softdelete.naptime is 0: no database is visited until it is set'),
	'the launcher says it is off');

# Well past the retention: the worker, off, purges nothing.
sleep 4;
is($node->safe_psql('shop', 'SELECT count(*) FROM items'), '6', 'naptime 0: due rows stay');
is($node->safe_psql('shop', 'SELECT count(*) FROM softdelete.runs'), '0', 'naptime 0: no run');

# purge() works without the worker.
is($node->safe_psql('shop', q{SELECT rows_purged FROM softdelete.purge('kept')}), '2',
	'purge() purges with the worker off');

# A reload that sets a naptime turns it on.
$node->append_conf('postgresql.conf', "softdelete.naptime = 1\n");
$node->reload;
ok($node->poll_query_until('shop', 'SELECT count(*) = 0 FROM items'),
	'after a reload with naptime 1, the worker purges the due rows');
is($node->safe_psql('shop', q{SELECT count(*) FROM softdelete.runs WHERE started_by = 'worker' AND status = 'succeeded'}),
	'1', 'and records its run');

$node->stop;
done_testing();
