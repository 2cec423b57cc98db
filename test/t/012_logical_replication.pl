# Logical replication with a FOR ALL TABLES publication: the publication
# carries the extension's own tables too (configuration, event log, runs,
# archives), and a subscriber must neither loop on them nor take the
# publisher's bookkeeping for its own. The subscriber enables its tables as
# the README says; soft deletes, restores, a reused unique key, a hard delete,
# a cascade and a purge with archive must all arrive, with the subscriber's
# deleted rows hidden there.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# How long to wait for the subscriber to converge: an apply loop never does,
# and this keeps a failing run short.
my $patience = 60;

my $schema = q{
	CREATE ROLE app LOGIN;
	CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text);
	CREATE TABLE posts (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users, body text);
	CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL);
	GRANT SELECT, INSERT, UPDATE, DELETE ON users, posts, orders TO app;
};
my $enable = q{
	SET client_min_messages = warning;
	CREATE EXTENSION softdelete;
	SELECT count(*) FROM softdelete.enable('users', retention => '1 day', archive => true);
	SELECT count(*) FROM softdelete.enable('orders', retention => '1 day', archive => true,
	                                       archive_retention => '30 days');
};

my $publisher = PostgreSQL::Test::Cluster->new('publisher');
$publisher->init(allows_streaming => 'logical');
$publisher->start;
$publisher->safe_psql('postgres', $schema . $enable . q{
	INSERT INTO users VALUES (1, 'ann@x', 'Ann'), (2, 'bob@x', 'Bob'), (3, 'cy@x', 'Cy'),
	                         (4, 'di@x', 'Di'), (5, 'ed@x', 'Ed');
	INSERT INTO posts VALUES (10, 4, 'hello'), (11, 4, 'again'), (12, 5, 'hi');
	INSERT INTO orders VALUES (1, 'apple'), (2, 'pear');
	SET ROLE app;
	DELETE FROM users WHERE id = 1;
	RESET ROLE;
	CREATE PUBLICATION everything FOR ALL TABLES;
});

# The subscriber, set up as the README's "Logical replication" says: the same
# tables, the extension, the same enable() calls, and a purge() that makes
# the archive tables the publisher has, before the subscription.
my $subscriber = PostgreSQL::Test::Cluster->new('subscriber');
$subscriber->init(allows_streaming => 'logical');
$subscriber->start;
$subscriber->safe_psql('postgres', $schema . $enable . q{
	SELECT count(*) FROM softdelete.purge();
});
# Rows deleted long enough ago for the purge, written as an admin may.
$publisher->safe_psql('postgres', q{
	INSERT INTO orders (id, item, deleted_at, deleted_by) VALUES (3, 'plum', now() - interval '3 days', 'clerk');
	SELECT count(*) FROM softdelete.purge('orders');
});
my $publisher_connstr = $publisher->connstr . ' dbname=postgres';
$subscriber->safe_psql('postgres',
	"CREATE SUBSCRIPTION mirror CONNECTION '$publisher_connstr' PUBLICATION everything");

# Polls $query on the subscriber until it returns $expected, for $patience
# seconds at most; true when it did.
sub subscriber_reads
{
	my ($query, $expected) = @_;
	my $got;
	for (1 .. $patience * 4)
	{
		$got = $subscriber->safe_psql('postgres', $query);
		return 1 if $got eq $expected;
		usleep(250_000);
	}
	diag("subscriber read '$got', expected '$expected'");
	return 0;
}

my $all_rows = q{
	SET softdelete.include_deleted = on;
	SELECT string_agg(format('%s:%s:%s', id, email, deleted_at IS NOT NULL), ' ' ORDER BY id) FROM users;
	SELECT string_agg(format('%s:%s:%s', id, user_id, deleted_at IS NOT NULL), ' ' ORDER BY id) FROM posts;
	SELECT string_agg(format('%s:%s', id, deleted_at IS NOT NULL), ' ' ORDER BY id) FROM orders;
};

ok(subscriber_reads(q{SELECT count(*) FILTER (WHERE srsubstate NOT IN ('r', 's')) FROM pg_subscription_rel},
	'0'), 'the initial copy of every published table finishes');
ok(subscriber_reads($all_rows, $publisher->safe_psql('postgres', $all_rows)),
	'the initial copy brings the rows with their deletion stamps');

# What the application does on the publisher, and a row already due for
# the purge, written as an admin may.
$publisher->safe_psql('postgres', q{
	SET ROLE app;
	DELETE FROM users WHERE id = 2;
	DELETE FROM users WHERE id = 4;                        -- cascades to posts 10 and 11
	INSERT INTO users VALUES (6, 'bob@x', 'Bob again');    -- reuses a deleted row's unique key
	INSERT INTO users VALUES (7, 'ann@x', 'Ann again');
	INSERT INTO posts VALUES (13, 6, 'new');
	RESET ROLE;
	INSERT INTO orders (id, item, deleted_at, deleted_by) VALUES (4, 'fig', now() - interval '3 days', 'clerk');
});
# The cascade arrives as the children's own updates; the subscriber's apply
# worker cascades nothing itself.
ok(subscriber_reads(q{
		SET softdelete.include_deleted = on;
		SELECT string_agg(format('%s:%s', id, deleted_at IS NOT NULL), ' ' ORDER BY id) FROM posts;
	}, '10:t 11:t 12:f 13:f'), 'the cascaded soft delete reaches the subscriber');

# The subscriber purges by itself, with its own retention: its archive gets
# the row, and the publisher's later purge of it, which finds nothing to
# delete there, does no harm.
is($subscriber->safe_psql('postgres', q{
		SELECT rows_archived || ':' || rows_purged FROM softdelete.purge('orders');
	}), '1:1', 'the subscriber purges a due row into its own archive');

$publisher->safe_psql('postgres', q{
	SELECT softdelete.restore('users', 4);                 -- brings posts 10 and 11 back
	SELECT softdelete.hard_delete('posts', 12);
	SELECT softdelete.hard_delete('users', 5);
});
# The archive's expiry deletes from an archive table, which has no primary
# key: a FOR ALL TABLES publication publishes that delete too. The purge of
# every table also makes the archive of users, for a row due there, and the
# subscriber must have one of that name already.
my ($ret, $stdout, $stderr) = $publisher->psql('postgres', q{
	INSERT INTO users (id, email, deleted_at, deleted_by) VALUES (8, 'gone@x', now() - interval '3 days', 'admin');
	UPDATE softdelete_archive."public.orders" SET archived_at = archived_at - interval '60 days';
	SELECT count(*) FROM softdelete.purge();
	SELECT string_agg(id::text, ',' ORDER BY id) FROM softdelete_archive."public.orders";
});
is("$ret $stdout $stderr", "0 2\n4 ", 'the archive expiry works on the publisher under a FOR ALL TABLES publication');
$publisher->safe_psql('postgres', q{
	INSERT INTO orders VALUES (9, 'the last row');
});

my $publisher_rows = $publisher->safe_psql('postgres', $all_rows);
is($publisher_rows, "1:ann\@x:t 2:bob\@x:t 3:cy\@x:f 4:di\@x:f 6:bob\@x:f 7:ann\@x:f\n"
	  . "10:4:f 11:4:f 13:6:f\n1:f 2:f 9:f",
	'the publisher has what the application did');
ok(subscriber_reads(q{SELECT count(*) FROM orders WHERE id = 9}, '1'),
	'a row written after all of it reaches the subscriber');
is($subscriber->safe_psql('postgres', $all_rows), $publisher_rows,
	'the subscriber has the same rows and deletion stamps as the publisher');
is($subscriber->safe_psql('postgres', q{
		SET ROLE app;
		SELECT string_agg(id::text, ',' ORDER BY id) FROM users;
		SELECT count(*) FROM users WHERE email = 'bob@x';
	}), "3,4,6,7\n1", 'the subscriber hides its deleted rows from the application');
is($subscriber->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_subscription WHERE subname = 'mirror' AND pid IS NOT NULL;
	}), '1', 'the apply worker is running');

# The subscriber keeps its own bookkeeping: its configuration, its event log
# (its own purge only), its runs of purge() and its archive, none of the
# publisher's rows.
is($subscriber->safe_psql('postgres', q{
		SELECT string_agg(relid::text, ',' ORDER BY relid::text) FROM softdelete.tables;
		SELECT string_agg(format('%s:%s:%s', action, table_name, keys), ' ' ORDER BY id) FROM softdelete.events;
		SELECT string_agg(format('%s:%s', table_name, started_by), ',' ORDER BY table_name) FROM softdelete.runs;
		SELECT string_agg(id::text, ',') FROM softdelete_archive."public.orders";
		SELECT count(*) FROM softdelete_archive."public.users";
	}), "orders,posts,users\npurge:public.orders:[4] archive:public.orders:[4]\npublic.orders:purge(),public.orders:purge(),public.users:purge()\n4\n0",
	"the publisher's configuration, events, runs and archived rows are not applied on the subscriber");
is($publisher->safe_psql('postgres', q{
		SELECT count(*) > 0 FROM softdelete.events;
		SELECT string_agg(id::text, ',') FROM softdelete_archive."public.users";
	}), "t\n8", 'while the publisher logged its operations and archived its purged row');

# Only the replication workers' rows are dropped: another session running
# as replica (a tool loading data with triggers off) keeps what it writes.
is($subscriber->safe_psql('postgres', q{
		BEGIN;
		SET LOCAL session_replication_role = replica;
		INSERT INTO softdelete.runs (relid, table_name, started_by) VALUES ('orders'::regclass, 'public.orders', 'purge()');
		INSERT INTO softdelete_archive."public.orders" (id, item, archived_at) VALUES (99, 'kept', now());
		SELECT count(*) FROM softdelete.runs;
		SELECT count(*) FROM softdelete_archive."public.orders";
		ROLLBACK;
	}), "4\n2", 'a session running as replica keeps its rows');

# Attached any other way than BEFORE ... FOR EACH ROW it refuses to run.
($ret, $stdout, $stderr) = $publisher->psql('postgres', q{
	CREATE TABLE misused (i int);
	CREATE TRIGGER misused AFTER INSERT ON misused
		FOR EACH ROW EXECUTE FUNCTION softdelete_internal.ignore_replicated_row();
	\set VERBOSITY verbose
	INSERT INTO misused VALUES (1);
});
like($stderr, qr/39P01: softdelete_internal.ignore_replicated_row\(\) must fire BEFORE, FOR EACH ROW/,
	'the trigger function refuses to run as an AFTER trigger');

my $log = slurp_file($subscriber->logfile);
my @errors = $log =~ /^.*ERROR:.*$/mg;
is(join("\n", @errors), '', 'no error in the subscriber log');

$subscriber->stop;
$publisher->stop;
done_testing();
