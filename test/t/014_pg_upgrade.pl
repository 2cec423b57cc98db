# pg_upgrade of a cluster where softdelete is installed and in use.
#
# Only PostgreSQL 15 is installed here, so this upgrades from 15 to 15: what
# it checks is pg_upgrade's schema restore (binary-upgrade mode), which
# recreates the extension and every enabled table's policies, triggers and
# live-only indexes as they were, and the data files carried over. After the
# upgrade the tables must behave as before: deleted rows hidden, DELETE soft
# with its true count, restore, the configuration and the event log kept,
# enable() finding nothing to change, the lifecycle worker running.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $old = PostgreSQL::Test::Cluster->new('upgrade_old');
$old->init;
$old->start;
$old->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE DATABASE shop;
	CREATE ROLE app LOGIN;
});
$old->safe_psql('shop', q{
	SET client_min_messages = warning;
	CREATE EXTENSION softdelete;
	CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);
	CREATE TABLE posts (id int PRIMARY KEY, user_id int REFERENCES users);
	CREATE TABLE orders (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
	CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
	CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us');
	INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 10) g;
	INSERT INTO posts SELECT g, g FROM generate_series(1, 10) g;
	INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 10) g;
	GRANT SELECT, INSERT, UPDATE, DELETE ON users, posts, orders TO app;
	SELECT count(*) FROM softdelete.enable('users', retention => '1 day', archive => true);
	SELECT count(*) FROM softdelete.enable('orders');
	SET ROLE app;
	DELETE FROM users WHERE id IN (1, 2);
	DELETE FROM orders WHERE id IN (1, 2);
});

# What an application and an admin see, and the extension's own state.
sub snapshot
{
	my ($node) = @_;
	return $node->safe_psql('shop', q{
		SET ROLE app;
		SELECT 'app sees users ' || (SELECT count(*) FROM users)
		       || ', posts ' || (SELECT count(*) FROM posts)
		       || ', orders ' || (SELECT count(*) FROM orders);
		RESET ROLE;
		SELECT 'stored users ' || (SELECT count(*) FROM users)
		       || ', deleted ' || (SELECT count(*) FROM users WHERE deleted_at IS NOT NULL)
		       || ', orders deleted ' || (SELECT count(*) FROM orders WHERE deleted_at IS NOT NULL);
		SELECT string_agg(relid::text || ' ' || coalesce(retention::text, '-') || ' ' || archive, ', ' ORDER BY relid::text)
		  FROM softdelete.tables;
		SELECT string_agg(action || ' ' || table_name || ' ' || row_count, ', ' ORDER BY id) FROM softdelete.events;
		SELECT string_agg(indexrelid::regclass::text || ' ' || pg_get_expr(indpred, indrelid), ', ' ORDER BY indexrelid::regclass::text)
		  FROM pg_index WHERE indrelid = 'users'::regclass AND indpred IS NOT NULL;
	});
}
my $before = snapshot($old);
like($before, qr/^app sees users 8, posts 8, orders 8$/m, 'before: the app sees live rows only');
$old->stop;

my $new = PostgreSQL::Test::Cluster->new('upgrade_new');
$new->init;

# pg_upgrade writes its logs in the current directory.
my $cwd = PostgreSQL::Test::Utils::tempdir;
chdir $cwd;
my $bindir = $new->config_data('--bindir');
my ($stdout, $stderr);
my $ok = IPC::Run::run(
	[
		'pg_upgrade', '--no-sync',
		'-b', $bindir, '-B', $bindir,
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-p', $old->port, '-P', $new->port,
		'-s', $new->host,
	],
	'>' => \$stdout, '2>' => \$stderr);
ok($ok, 'pg_upgrade succeeds') or do
{
	diag($stdout . $stderr);
	for my $log (glob($new->data_dir . '/pg_upgrade_output.d/*/log/*.log'))
	{
		diag("---- $log\n" . join('', (split /^/, slurp_file($log))[-15 .. -1]));
	}
};

SKIP:
{
	skip 'pg_upgrade failed', 6 unless $ok;
	$new->start;
	is(snapshot($new), $before, 'after: the same rows, hidden the same way, with the same configuration, events and indexes');
	is($new->safe_psql('shop', q{
		SET ROLE app;
		DELETE FROM users WHERE id IN (3, 4) RETURNING id;
		\echo :ROW_COUNT
		DELETE FROM orders WHERE id = 3;
		\echo :ROW_COUNT
		SELECT count(*) FROM users;
		RESET ROLE;
		SELECT count(*) FROM users WHERE deleted_at IS NOT NULL;}),
		"3\n4\n2\n1\n6\n4", 'DELETE is soft, with its true count and RETURNING rows, on a table and a partitioned table');
	is($new->safe_psql('shop', q{SELECT softdelete.restore('users', 1); SELECT softdelete.hard_delete('posts', 2);}),
		"1\n1", 'restore and hard_delete work');
	is($new->safe_psql('shop', q{
		SET client_min_messages = warning;
		SELECT string_agg(action, ',') FROM softdelete.enable('users', retention => '1 day', archive => true);
		SELECT string_agg(action, ',') FROM softdelete.enable('orders');}),
		"unchanged\nunchanged", 'enable() finds nothing to change');
	my ($ret, $out, $err) = $new->psql('shop', 'ALTER TABLE users NO FORCE ROW LEVEL SECURITY');
	like($err, qr/cannot/, 'the drift guard still refuses DDL that would switch soft delete off');
	ok($new->poll_query_until('postgres',
		q{SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'softdelete launcher'}),
		'the lifecycle worker runs');
	$new->stop;
}

done_testing();
