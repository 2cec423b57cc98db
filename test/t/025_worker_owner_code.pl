# The lifecycle worker connects as the bootstrap superuser and runs the
# purge's statements as each table's owner. The owner's code must never run
# as the superuser, nor leave anything behind for the next table:
# - a DEFERRABLE INITIALLY DEFERRED constraint trigger, queued by the
#   purge's DELETE, fires at the end of that statement, as the owner
#   (constraints are IMMEDIATE in the worker; at the commit it would fire
#   as the superuser: an owner could make itself superuser);
# - a setting the owner's trigger changes for the session (softdelete.actor,
#   default_transaction_read_only) ends with the owner's statement, and does
#   not reach another owner's table in the same visit.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('worker_owner_code');
$node->init;
$node->append_conf('postgresql.conf', qq{
softdelete.naptime = '1s'
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE ROLE wo_owner LOGIN;
	CREATE ROLE wo_other LOGIN;
	CREATE EXTENSION softdelete;
	GRANT CREATE ON SCHEMA public TO wo_owner, wo_other;
});

# The owner's deferred trigger notes who it ran as, and tries to make its
# owner a superuser when it runs as one.
$node->safe_psql('postgres', q{
	SET ROLE wo_owner;
	CREATE TABLE seen (who name, was_superuser bool, restricted bool);
	CREATE TABLE esc (id int PRIMARY KEY);
	CREATE FUNCTION esc_trg() RETURNS trigger LANGUAGE plpgsql AS $$
	DECLARE
		restricted bool := false;
	BEGIN
		-- Refused in a security-restricted operation.
		BEGIN
			CREATE TEMP TABLE esc_probe (x int);
			DROP TABLE esc_probe;
		EXCEPTION WHEN insufficient_privilege THEN
			restricted := true;
		END;
		INSERT INTO public.seen
		SELECT current_user, rolsuper, restricted FROM pg_catalog.pg_roles
		 WHERE rolname = current_user;
		IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
			EXECUTE 'ALTER ROLE wo_owner SUPERUSER';
		END IF;
		RETURN NULL;
	END $$;
	CREATE CONSTRAINT TRIGGER esc_deferred AFTER DELETE ON esc
		DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION esc_trg();
	SELECT count(*) FROM softdelete.enable('esc', retention => '1 second');
	INSERT INTO esc VALUES (1), (2);
	DELETE FROM esc;
});

ok($node->poll_query_until('postgres', 'SELECT count(*) FROM esc', '0'),
	'the worker purged the table whose owner has a deferred trigger');
is($node->safe_psql('postgres', q{
	SELECT string_agg(concat_ws('|', who, was_superuser, restricted), ',') FROM seen}),
	'wo_owner|f|t,wo_owner|f|t',
	'the deferred trigger fired once per row, as the owner, not a superuser, restricted');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'wo_owner'}),
	'f', 'the owner did not become a superuser');
is($node->safe_psql('postgres', q{
	SELECT string_agg(status, ',') FROM softdelete.runs WHERE relid = 'esc'::regclass
	   AND rows_purged > 0}),
	'succeeded', 'the run succeeded');

# Settings: wo_owner's trigger on ta sets the actor, the reason and a
# read-only default for the session; wo_other's tb is purged in the same
# visits. Neither table's purge is logged with them, and tb's run does not
# fail as read-only.
$node->safe_psql('postgres', q{
	SET ROLE wo_owner;
	CREATE TABLE ta (id int PRIMARY KEY);
	CREATE FUNCTION ta_trg() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM pg_catalog.set_config('softdelete.actor', 'forged by wo_owner', false);
		PERFORM pg_catalog.set_config('softdelete.reason', 'forged reason', false);
		PERFORM pg_catalog.set_config('default_transaction_read_only', 'on', false);
		RETURN OLD;
	END $$;
	CREATE TRIGGER ta_trg BEFORE DELETE ON ta FOR EACH ROW EXECUTE FUNCTION ta_trg();
	SELECT count(*) FROM softdelete.enable('ta', retention => '1 second');
	INSERT INTO ta SELECT generate_series(1, 5);
	RESET ROLE;
	SET ROLE wo_other;
	CREATE TABLE tb (id int PRIMARY KEY);
	SELECT count(*) FROM softdelete.enable('tb', retention => '1 second');
	INSERT INTO tb SELECT generate_series(1, 5);
	RESET ROLE;
	DELETE FROM ta;
	DELETE FROM tb;
});
ok($node->poll_query_until('postgres', 'SELECT (SELECT count(*) FROM ta) + (SELECT count(*) FROM tb)', '0'),
	'both tables purged');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT concat_ws('|', actor, reason), ',') FROM softdelete.events
	 WHERE action = 'purge' AND table_name IN ('public.ta', 'public.tb')}),
	$node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT concat_ws('|', actor, reason), ',') FROM softdelete.events
	 WHERE action = 'purge' AND table_name = 'public.esc'}),
	'the purge events of both tables have the actor and reason of any other purge');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM softdelete.events
	 WHERE action = 'purge' AND (actor LIKE 'forged%' OR reason LIKE 'forged%')}),
	'0', 'no event has the forged actor or reason');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT status, ',') FROM softdelete.runs
	 WHERE relid IN ('ta'::regclass, 'tb'::regclass)}),
	'succeeded', 'every run on both tables succeeded');

# The worker's run on $table failed with an error matching $refusal; its
# row stayed, and wo_owner is no superuser.
sub refused_run
{
	my ($table, $what, $refusal) = @_;
	ok($node->poll_query_until('postgres', qq{
		SELECT count(*) > 0 FROM softdelete.runs WHERE relid = '$table'::regclass AND status = 'failed'}),
		"the run on the table whose trigger $what fails");
	like($node->safe_psql('postgres', qq{
		SELECT error FROM softdelete.runs WHERE relid = '$table'::regclass AND status = 'failed' LIMIT 1}),
		$refusal, 'refused as a security-restricted operation');
	is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'wo_owner'}),
		'f', 'the owner did not become a superuser');
	is($node->safe_psql('postgres', "SELECT count(*) FROM $table"), '1', 'the row is still there');
}

# A WITH HOLD cursor that the owner's trigger opens would have its query
# run at the worker's commit, as the superuser: the worker works in a
# security-restricted operation, where PostgreSQL refuses such a cursor.
# The run fails, with the table's rows, and the owner stays what it was.
$node->safe_psql('postgres', q{
	SET ROLE wo_owner;
	CREATE FUNCTION public.pwn() RETURNS int LANGUAGE sql AS $$ ALTER ROLE wo_owner SUPERUSER; SELECT 1 $$;
	CREATE TABLE held (id int PRIMARY KEY);
	CREATE FUNCTION held_trg() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN EXECUTE 'DECLARE c CURSOR WITH HOLD FOR SELECT public.pwn()'; RETURN OLD; END $$;
	CREATE TRIGGER held_trg BEFORE DELETE ON held FOR EACH ROW EXECUTE FUNCTION held_trg();
	SELECT count(*) FROM softdelete.enable('held', retention => '1 second');
	INSERT INTO held VALUES (1);
	DELETE FROM held;
});
refused_run('held', 'opens a WITH HOLD cursor', qr/WITH HOLD.*security-restricted operation/);

# A trigger that defers the constraints again: PostgreSQL refuses to fire
# deferred triggers in the worker's security-restricted operation, so the
# batch fails at its commit, its rows stay, and nothing ran as the
# superuser.
$node->safe_psql('postgres', q{
	SET ROLE wo_owner;
	CREATE TABLE redefer (id int PRIMARY KEY);
	CREATE FUNCTION redefer_before() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN SET CONSTRAINTS ALL DEFERRED; RETURN OLD; END $$;
	CREATE TRIGGER redefer_before BEFORE DELETE ON redefer FOR EACH ROW EXECUTE FUNCTION redefer_before();
	CREATE CONSTRAINT TRIGGER redefer_deferred AFTER DELETE ON redefer
		DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION esc_trg();
	SELECT count(*) FROM softdelete.enable('redefer', retention => '1 second');
	INSERT INTO redefer VALUES (1);
	DELETE FROM redefer;
});
refused_run('redefer', 'defers the constraints again',
	qr/deferred trigger within security-restricted operation/);

# An owner that lost USAGE on its table's schema: whether the table is due
# is read as the owner, and fails. That is a failed run, which
# softdelete.runs shows and after which the table waits longer at each
# failure: not a WARNING at every visit and nothing else.
$node->safe_psql('postgres', q{
	CREATE SCHEMA lost AUTHORIZATION wo_owner;
	SET ROLE wo_owner;
	CREATE TABLE lost.t (id int PRIMARY KEY);
	SELECT count(*) FROM softdelete.enable('lost.t', retention => '1 second');
	INSERT INTO lost.t VALUES (1);
	DELETE FROM lost.t;
	RESET ROLE;
	ALTER SCHEMA lost OWNER TO CURRENT_USER;
	REVOKE ALL ON SCHEMA lost FROM wo_owner;
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM softdelete.runs WHERE relid = 'lost.t'::regclass AND status = 'failed'}),
	'a table whose owner cannot reach its schema gets a failed run');
like($node->safe_psql('postgres', q{
	SELECT error FROM softdelete.runs WHERE relid = 'lost.t'::regclass AND status = 'failed' LIMIT 1}),
	qr/permission denied for schema lost \(SQLSTATE 42501\)/, 'the run records the error');
is($node->safe_psql('postgres', 'SELECT count(*) FROM lost.t'), '1', 'the row is still there');

# A deferred trigger on a child owned by another role, whose rows go with
# the parent's (the purge removes descendants first): it fires as the
# child's owner, as the child's immediate triggers do, not as the parent's.
$node->safe_psql('postgres', q{
	SET ROLE wo_owner;
	CREATE TABLE par (id int PRIMARY KEY);
	GRANT REFERENCES, SELECT ON par TO wo_other;
	SELECT count(*) FROM softdelete.enable('par', retention => '1 second');
	INSERT INTO par VALUES (1);
	RESET ROLE;
	SET ROLE wo_other;
	CREATE TABLE kid_seen (who name);
	CREATE TABLE kid (id int PRIMARY KEY, par_id int REFERENCES par);
	INSERT INTO kid VALUES (1, 1);
	CREATE FUNCTION kid_trg() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO public.kid_seen VALUES (current_user); RETURN NULL; END $$;
	CREATE CONSTRAINT TRIGGER kid_deferred AFTER DELETE ON kid
		DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kid_trg();
	RESET ROLE;
	DELETE FROM par;
});
ok($node->poll_query_until('postgres', 'SELECT count(*) FROM kid_seen', '1'),
	'the child row went with its parent, and its deferred trigger fired');
is($node->safe_psql('postgres', 'SELECT string_agg(who, \',\') FROM kid_seen'), 'wo_other',
	"the child's deferred trigger fired as the child's owner");

$node->stop;
done_testing();
