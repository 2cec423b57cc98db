# The lifecycle worker: with softdelete preloaded it finds by itself every
# database where the extension is installed, including one created after the
# server started, and purges what has outlived its retention, in batches of
# softdelete.batch_size rows, recording each run in softdelete.runs. It takes
# settings changes on reload, survives a failing table (recorded, retried
# later with backoff) and stops promptly with the server.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('worker_purge');
$node->init;
$node->append_conf('postgresql.conf', qq{
softdelete.naptime = '1s'
softdelete.batch_size = 100
});
$node->start;
$node->wait_for_log(qr/LOG:  softdelete launcher started/);
pass('the launcher logs that it started');

# The test connects as the bootstrap superuser, which row-level security does
# not apply to: count(*) counts the rows physically in a table.
sub rows_in
{
	my ($db, $table) = @_;
	return $node->safe_psql($db, "SELECT count(*) FROM $table");
}

# --- A database created after the server started ---------------------------

$node->safe_psql('postgres', 'CREATE DATABASE shop');
$node->safe_psql('shop', q{
	CREATE EXTENSION softdelete;
	CREATE TABLE orders (id int PRIMARY KEY, note text);
	CREATE TABLE carts (id int PRIMARY KEY);
	INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 1000) g;
	INSERT INTO carts SELECT generate_series(1, 100);
	SELECT count(*) FROM softdelete.enable('orders', retention => '1 second');
	SELECT count(*) FROM softdelete.enable('carts', retention => '1 hour');
	DELETE FROM orders WHERE id <= 250;
	DELETE FROM carts WHERE id <= 10;
});
my $deleted_at = time;
ok($node->poll_query_until('shop', 'SELECT count(*) FROM orders', '750'),
	'rows deleted longer ago than the retention are physically gone, with no setting in the database');
my $took = time - $deleted_at;
cmp_ok($took, '<', 10, "within seconds (took ${took}s with retention 1s and naptime 1s)");
is(rows_in('shop', 'orders WHERE deleted_at IS NULL'), '750', 'live rows stay');
is(rows_in('shop', 'carts'), '100', 'rows deleted more recently than their retention stay');
is($node->safe_psql('shop', q{
	SELECT string_agg(concat_ws('|', started_by, status, rows_purged, error), ',')
	  FROM softdelete.runs WHERE relid = 'orders'::regclass AND rows_purged > 0}),
	'worker|succeeded|250', 'softdelete.runs has the run: by the worker, succeeded, 250 rows');
is($node->safe_psql('shop', q{
	SELECT string_agg(row_count::text, ',' ORDER BY id) FROM softdelete.events
	 WHERE table_name = 'public.orders' AND action <> 'delete'}),
	'100,100,50', 'one logged operation per batch of at most softdelete.batch_size rows');
# Visits that find nothing due (carts: retention not reached; orders: done)
# record no run: two more naptimes leave softdelete.runs as it was.
my $runs_before = $node->safe_psql('shop', 'SELECT count(*) FROM softdelete.runs');
sleep 2.5;
is($node->safe_psql('shop', 'SELECT count(*) FROM softdelete.runs'), $runs_before,
	'visits with nothing due leave no run behind');
is($node->safe_psql('shop', q{SELECT count(*) FROM softdelete.runs WHERE relid = 'carts'::regclass}),
	'0', 'a table whose deleted rows are all within their retention has no run');

# --- The extension created by a transaction still in progress ----------------

$node->safe_psql('postgres', 'CREATE DATABASE late');
my $creator = $node->background_psql('late');
$creator->query_safe(q{
	SET client_min_messages = warning;
	BEGIN;
	CREATE EXTENSION softdelete;
	CREATE TABLE t (id int PRIMARY KEY);
	INSERT INTO t SELECT generate_series(1, 20);
	SELECT count(*) FROM softdelete.enable('t', retention => '1 second');
	DELETE FROM t WHERE id <= 5;
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pg_stat_activity
	 WHERE datname = 'late' AND backend_type = 'softdelete worker'
	   AND query = 'waiting for the transaction creating softdelete'}),
	'a worker that finds CREATE EXTENSION in progress waits for its transaction');
$creator->query_safe('COMMIT');
$creator->quit;
ok($node->poll_query_until('late', 'SELECT count(*) FROM t', '15'),
	'once it commits, the worker purges there');

# --- Settings changed on reload ----------------------------------------------

# batch_size, changed while a run is in progress: the worker takes it between
# two batches. A slow trigger makes the run last a few seconds.
$node->safe_psql('shop', q{
	CREATE TABLE slow (id int PRIMARY KEY);
	INSERT INTO slow SELECT generate_series(1, 40);
	SELECT count(*) FROM softdelete.enable('slow', retention => '1 second');
	DELETE FROM slow;
	CREATE FUNCTION take_time() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN PERFORM pg_sleep(0.05); RETURN OLD; END $$;
	CREATE TRIGGER take_time BEFORE DELETE ON slow FOR EACH ROW EXECUTE FUNCTION take_time();
});
$node->safe_psql('postgres', 'ALTER SYSTEM SET softdelete.batch_size = 7');
$node->reload;
ok($node->poll_query_until('shop', q{
	SELECT count(*) > 0 FROM softdelete.events WHERE table_name = 'public.slow' AND action <> 'delete'}),
	'a run on a slow table began');
$node->safe_psql('postgres', 'ALTER SYSTEM SET softdelete.batch_size = 3');
$node->reload;
ok($node->poll_query_until('shop', 'SELECT count(*) FROM slow', '0'), 'the slow table was purged');
my $batches = $node->safe_psql('shop', q{
	SELECT string_agg(row_count::text, ',' ORDER BY id) FROM softdelete.events
	 WHERE table_name = 'public.slow' AND action <> 'delete'});
like($batches, qr/^7,(7,)*3,/, "batch_size changed by a reload in the middle of a run ($batches)");
is($node->safe_psql('shop', q{
	SELECT count(*) || ' ' || sum(rows_purged) FROM softdelete.runs
	 WHERE relid = 'slow'::regclass AND rows_purged > 0}), '1 40', 'in one run');

# naptime: an hour, then a second again.
$node->safe_psql('postgres', q{ALTER SYSTEM SET softdelete.naptime = '1h'});
$node->reload;
sleep(2);
$node->safe_psql('shop', 'DELETE FROM orders WHERE id <= 260');
sleep(4);
is(rows_in('shop', 'orders'), '750', 'with naptime = 1h no visit comes within seconds');
$node->safe_psql('postgres', q{ALTER SYSTEM SET softdelete.naptime = '1s'});
$node->reload;
ok($node->poll_query_until('shop', 'SELECT count(*) FROM orders', '740'),
	'back to naptime = 1s, the next visit comes at once');

# --- A failing table ------------------------------------------------------------

$node->safe_psql('shop', q{
	CREATE TABLE broken (id int PRIMARY KEY);
	CREATE TABLE fine (id int PRIMARY KEY);
	INSERT INTO broken SELECT generate_series(1, 10);
	INSERT INTO fine SELECT generate_series(1, 10);
	SELECT count(*) FROM softdelete.enable('broken', retention => '1 second');
	SELECT count(*) FROM softdelete.enable('fine', retention => '1 second');
	CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'no purging here'; END $$;
	CREATE TRIGGER refuse BEFORE DELETE ON broken FOR EACH ROW EXECUTE FUNCTION refuse();
	DELETE FROM broken WHERE id <= 4;
	DELETE FROM fine WHERE id <= 4;
});
my $failing_since = time;
ok($node->poll_query_until('shop', 'SELECT count(*) FROM fine', '6'),
	'a table is purged while another fails in the same database');
ok($node->poll_query_until('shop', q{
	SELECT count(*) > 0 FROM softdelete.runs
	 WHERE relid = 'broken'::regclass AND status = 'failed' AND error = 'no purging here (SQLSTATE P0001)'}),
	'the failure is recorded in softdelete.runs with its error');
$node->wait_for_log(
	qr/WARNING:  no purging here\n.*CONTEXT:  (?:.*\n)*?\tsoftdelete worker in database "shop" purging public.broken\n/);
pass('and logged, with what the worker was doing');
is(rows_in('shop', 'broken'), '10', 'nothing of the failed batch was removed');
# Retried with backoff: naptime, then twice, four times... as long each time.
sleep(8 - (time - $failing_since)) if time - $failing_since < 8;
my $failures = $node->safe_psql('shop', q{
	SELECT count(*) FROM softdelete.runs WHERE relid = 'broken'::regclass AND status = 'failed'});
cmp_ok($failures, '>=', 2, "the failing table is tried again ($failures failed runs in 8s)");
cmp_ok($failures, '<=', 5, 'but less often than every naptime');
$node->safe_psql('shop', 'DROP TRIGGER refuse ON broken');
ok($node->poll_query_until('shop', 'SELECT count(*) FROM broken', '6'),
	'once it can be, the table is purged by a later visit');
is($node->safe_psql('shop', q{
	SELECT status FROM softdelete.runs WHERE relid = 'broken'::regclass ORDER BY id DESC LIMIT 1}),
	'succeeded', 'and that run succeeded');

# --- Names in the worker's statements -------------------------------------------

# The worker is a superuser. A database owner who is not one puts an
# operator in front of pg_catalog's, for the search path it gives the
# database: the worker's statements never call it.
$node->safe_psql('postgres', q{
	CREATE ROLE dbowner LOGIN;
	CREATE DATABASE owned OWNER dbowner;
});
$node->safe_psql('owned', 'CREATE EXTENSION softdelete');
$node->safe_psql('owned', q{
	SET ROLE dbowner;
	CREATE TABLE calls (who text);
	CREATE FUNCTION public.capture(oid, regclass) RETURNS boolean LANGUAGE plpgsql AS
		$$ BEGIN INSERT INTO public.calls VALUES (current_user); RETURN $1 = $2::oid; END $$;
	CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regclass, FUNCTION = public.capture);
	ALTER DATABASE owned SET search_path = public, pg_catalog;
	CREATE TABLE t (id int PRIMARY KEY);
	INSERT INTO t SELECT generate_series(1, 10);
	SELECT count(*) FROM softdelete.enable('t', retention => '1 second');
	DELETE FROM t WHERE id <= 2;
});
ok($node->poll_query_until('owned', 'SELECT count(*) FROM t', '8'), 'the worker purges in that database');
is($node->safe_psql('owned', 'SELECT count(*) FROM calls'), '0', 'without calling the operator put in public');

# --- The launcher stopped alone ----------------------------------------------------

# Terminated while the server runs, it comes back (bgw_restart_time).
my $log_offset = -s $node->logfile;
is($node->safe_psql('postgres',
		q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'softdelete launcher'}),
	'1', 'the launcher can be terminated');
$node->wait_for_log(qr/LOG:  softdelete launcher stopping/, $log_offset);
$node->wait_for_log(qr/LOG:  softdelete launcher started/, $log_offset);
pass('and is started again');
$node->safe_psql('shop', 'DELETE FROM orders WHERE id <= 270');
ok($node->poll_query_until('shop', 'SELECT count(*) FROM orders', '730'), 'and purges again');

# --- Rows that wait --------------------------------------------------------------

# A table whose due rows all wait (a legal hold keeps them) is due at every
# visit; each visit removes nothing, and of such runs in a row only the
# latest is kept, not one per naptime.
$node->safe_psql('shop', q{
	CREATE TABLE held (id int PRIMARY KEY);
	INSERT INTO held SELECT generate_series(1, 3);
	SELECT count(*) FROM softdelete.enable('held', retention => '1 second');
	CREATE FUNCTION keep_all() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
	CREATE TRIGGER keep_all BEFORE DELETE ON held FOR EACH ROW EXECUTE FUNCTION keep_all();
	DELETE FROM held;
});
ok($node->poll_query_until('shop', q{
	SELECT count(*) > 0 FROM softdelete.runs WHERE relid = 'held'::regclass AND status = 'succeeded'}),
	'the worker visits the held table');
sleep(5);
is($node->safe_psql('shop', q{
	SELECT count(*) || ' ' || bool_and(status = 'succeeded' AND rows_purged = 0)
	  FROM softdelete.runs WHERE relid = 'held'::regclass}), '1 true',
	'visits that removed nothing leave one run, the latest');
cmp_ok($node->safe_psql('shop', q{
	SELECT extract(epoch FROM now() - max(finished_at)) FROM softdelete.runs
	 WHERE relid = 'held'::regclass}), '<', 4, 'which is recent');
is(rows_in('shop', 'held'), '3', 'the held rows stay');

# --- Stopping -------------------------------------------------------------------

# A run whose batches take long: the server's stop does not wait for them.
$node->safe_psql('shop', q{
	CREATE OR REPLACE FUNCTION take_time() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN PERFORM pg_sleep(1); RETURN OLD; END $$;
	INSERT INTO slow SELECT generate_series(1, 100);
	DELETE FROM slow;
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pg_stat_activity
	 WHERE datname = 'shop' AND backend_type = 'softdelete worker' AND query = 'purging public.slow'}),
	'a worker is in the middle of a slow batch');
my $interrupted = $node->safe_psql('shop',
	q{SELECT id FROM softdelete.runs WHERE relid = 'slow'::regclass AND status = 'running'});
my $stopping = time;
$node->stop('fast');
my $stop_took = time - $stopping;
cmp_ok($stop_took, '<', 5, "the server stops promptly all the same (${stop_took}s)");
my $log = slurp_file($node->logfile);
like($log, qr/LOG:  softdelete launcher stopping/, 'the launcher logs that it stops');
unlike($log, qr/terminated by signal|was terminated by exception/, 'no process crashed');
$node->start;
like($node->safe_psql('shop', "SELECT status || ': ' || error FROM softdelete.runs WHERE id = '$interrupted'"),
	qr/^failed: stopped: /, 'the interrupted run records that the worker was stopped');
is(rows_in('shop', 'slow'), '100', 'and its batch in progress was rolled back');
$node->stop;
done_testing();
