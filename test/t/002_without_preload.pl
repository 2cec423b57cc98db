# Without shared_preload_libraries every SQL feature still works: CREATE
# EXTENSION says that scheduled purge needs preloading, and the first DELETE
# of a fresh backend, planned before the module was loaded, is still a soft
# delete (the backstop trigger) reported with its true count.
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

my ($ret, $stdout, $stderr) = $node->psql('postgres', 'CREATE EXTENSION softdelete;');
is($ret, 0, 'CREATE EXTENSION works without preloading');
like($stderr, qr/WARNING:.*not in shared_preload_libraries/, 'CREATE EXTENSION says purge needs preloading');

$node->safe_psql('postgres', q{
	CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);
	INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 5) g;
	CREATE ROLE app LOGIN;
	GRANT SELECT, INSERT, UPDATE, DELETE ON users TO app;
	SELECT count(*) FROM softdelete.enable('users');
});

# A fresh backend: nothing of softdelete is loaded when the DELETE is planned.
($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET ROLE app; DELETE FROM users WHERE id IN (1, 2);",
	extra_params => [ '--echo-errors', '--no-align', '--tuples-only' ]);
is($ret, 0, 'the first DELETE of a fresh backend succeeds');

is($node->safe_psql('postgres',
		'SELECT count(*) FROM users WHERE deleted_at IS NOT NULL'),
	'2', 'its rows were soft-deleted, not removed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM users'),
	'5', 'every row is still in the table');
is($node->safe_psql('postgres', 'SET ROLE app; SELECT count(*) FROM users'),
	'3', 'the application no longer sees them');

# The count the client reads, for a fresh backend's first DELETE.
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SET ROLE app; DO $$ DECLARE n int; BEGIN
		DELETE FROM users WHERE id = 3; GET DIAGNOSTICS n = ROW_COUNT;
		RAISE NOTICE 'rows=%', n; END $$;});
like($stderr, qr/rows=1/, 'the first DELETE reports the row it soft-deleted');
is($node->safe_psql('postgres',
		"SELECT action || ':' || row_count FROM softdelete.events ORDER BY id"),
	"delete:2\ndelete:1", 'each statement was logged as one event with its rows');

$node->stop;
done_testing();
