# enable(tbl, notify => true): every soft delete, restore and hard delete
# operation on the table sends one NOTIFY softdelete when its transaction
# commits, with a JSON payload (op, table, action, rows, keys when they fit
# in a notification). Nothing is sent for a rolled-back transaction or
# savepoint, nor for tables that did not ask. psql prints each notification
# it receives, which is how a LISTEN loop sees them.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('notify');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION softdelete;
	CREATE ROLE app LOGIN;
	CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);
	INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 20) g;
	CREATE TABLE quiet (id int PRIMARY KEY);
	INSERT INTO quiet SELECT generate_series(1, 5);
	CREATE TABLE feed (id int PRIMARY KEY);
	INSERT INTO feed SELECT generate_series(1, 5);
	CREATE TABLE "Long Keys" (k text PRIMARY KEY);
	INSERT INTO "Long Keys" SELECT repeat('k', 100) || g FROM generate_series(1, 200) g;
	GRANT SELECT, INSERT, UPDATE, DELETE ON users, quiet, feed, "Long Keys" TO app;
	SELECT count(*) FROM softdelete.enable('users', notify => true);
	SELECT count(*) FROM softdelete.enable('quiet');
	SELECT count(*) FROM softdelete.enable('feed', notify => true, log_events => false);
	SELECT count(*) FROM softdelete.enable('"Long Keys"', notify => true);
});

# Runs a psql script that listens first; returns the payloads received, in
# order, decoded, and the whole output.
sub notifications
{
	my ($script) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres', "LISTEN softdelete;\n$script",
		extra_params => [ '--no-align', '--tuples-only' ]);
	is($ret, 0, 'the script ran') or diag($stderr);
	my @payloads = map { decode_json($_) }
	  ($stdout =~ /Asynchronous notification "softdelete" with payload "(.*)" received/g);
	return (\@payloads, $stdout);
}

my ($got, $out) = notifications(q{
	SET ROLE app;
	DELETE FROM users WHERE id IN (1, 2);
	DELETE FROM quiet WHERE id = 1;
});
is(scalar @$got, 1, 'one notification for one operation on a notifying table, none for a quiet one');
is($got->[0]{table}, 'public.users', 'it names the table');
is($got->[0]{action}, 'delete', 'and the action');
is($got->[0]{rows}, 2, 'and the rows');
is_deeply([ sort { $a <=> $b } @{ $got->[0]{keys} } ], [ 1, 2 ], 'and their keys');
my $op = $node->safe_psql('postgres',
	q{SELECT op FROM softdelete.events WHERE table_name = 'public.users' AND keys @> '[1]'});
is($got->[0]{op}, $op, 'its op is the one softdelete.events records');

($got, $out) = notifications(q{
	SET ROLE app;
	BEGIN;
	DELETE FROM users WHERE id = 3;
	SELECT 'before commit';
	COMMIT;
	SELECT 'after commit';
});
is(scalar @$got, 1, 'a transaction sends its notification');
like($out, qr/before commit.*Asynchronous notification.*after commit/s, 'when it commits');

($got, $out) = notifications(q{
	SET ROLE app;
	BEGIN;
	DELETE FROM users WHERE id = 4;
	ROLLBACK;
	BEGIN;
	DELETE FROM users WHERE id = 5;
	SAVEPOINT s;
	DELETE FROM users WHERE id = 6;
	ROLLBACK TO s;
	COMMIT;
});
is(scalar @$got, 1, 'nothing for a rolled-back transaction or savepoint');
is_deeply($got->[0]{keys}, [5], 'only what was kept is sent');

($got, $out) = notifications(q{
	SELECT softdelete.restore('users', 5);
	SELECT softdelete.undo(op) FROM softdelete.events WHERE table_name = 'public.users' AND keys @> '[1]';
});
is(scalar @$got, 2, 'restore() and undo() notify');
is($got->[0]{action} . ':' . $got->[0]{rows}, 'restore:1', 'a restore of one row');
is($got->[1]{action} . ':' . $got->[1]{rows}, 'restore:2', 'an undo of two rows');
isnt($got->[1]{op}, $op, 'the undo is an operation of its own');

($got, $out) = notifications(q{
	BEGIN;
	SET LOCAL softdelete.hard_delete = on;
	DELETE FROM users WHERE id = 20;
	COMMIT;
});
is($got->[0]{action} . ':' . $got->[0]{rows}, 'hard_delete:1', 'a hard delete notifies');

($got, $out) = notifications(q{
	SET ROLE app;
	DELETE FROM feed WHERE id IN (1, 2, 3);
});
is($got->[0]{rows}, 3, 'a table that logs nothing still notifies');
is($node->safe_psql('postgres', q{SELECT count(*) FROM softdelete.events WHERE table_name = 'public.feed'}),
	'0', 'and writes no event');

($got, $out) = notifications(q{
	SET ROLE app;
	DELETE FROM "Long Keys";
});
is($got->[0]{rows}, 200, 'a notification too long for its keys still counts the rows');
ok(exists $got->[0]{keys} && !defined $got->[0]{keys}, 'and says its keys were left out');
is($got->[0]{table}, 'public."Long Keys"', 'names are quoted as in SQL');

# An erasure (erase(), GDPR) notifies as "erase", also when the row is
# deleted, and nothing when it rolls back.
$node->safe_psql('postgres', q{
	CREATE TABLE people (id int PRIMARY KEY, email text);
	INSERT INTO people SELECT g, 'p' || g FROM generate_series(1, 3) g;
	SELECT count(*) FROM softdelete.enable('people', notify => true, pii_columns => '{email}');
	DELETE FROM people WHERE id = 2;
});
($got, $out) = notifications(q{
	SELECT softdelete.erase('people', 2);
	BEGIN;
	SELECT softdelete.erase('people', 3);
	ROLLBACK;
});
is(scalar @$got, 1, 'an erasure notifies, a rolled-back one does not');
is($got->[0]{action} . ':' . $got->[0]{rows}, 'erase:1', 'as an erase of one row');
is_deeply($got->[0]{keys}, [2], 'with its key');

# A purge batch notifies as "purge", with the keys it removed (for an
# integer key the batch keeps them as integers: they are written as text
# for the payload only).
$node->safe_psql('postgres', q{
	CREATE TABLE expiring (id bigint PRIMARY KEY);
	SELECT count(*) FROM softdelete.enable('expiring', notify => true, retention => '1 day');
	INSERT INTO expiring (id, deleted_at)
		VALUES (5, now() - interval '3 days'), (-6, now() - interval '2 days'), (7, now());
});
($got, $out) = notifications(q{
	SELECT rows_purged FROM softdelete.purge('expiring');
});
is(scalar @$got, 1, 'a purge batch notifies once');
is($got->[0]{action} . ':' . $got->[0]{rows}, 'purge:2', 'as a purge of its rows');
is_deeply([ sort { $a <=> $b } @{ $got->[0]{keys} } ], [ -6, 5 ], 'with their keys');

$node->stop;
done_testing();
