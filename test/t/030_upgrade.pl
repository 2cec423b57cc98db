# Releases and their upgrade path.
#
# 1. What a release shipped never changes: test/released.sha256 lists the
#    scripts of every released version (its install script, or the update
#    script that leads to it) with their checksums. A full install script
#    (softdelete--X.sql) exists only for a released version and for the
#    default version, the one in development.
# 2. For each released version: a database installs it, enables tables of
#    several kinds and deletes, restores and cascades rows under it, then
#    runs ALTER EXTENSION softdelete UPDATE. A second database does the same
#    under the default version from the start. Both must then hold the same
#    extension objects, the same objects on the user's tables (what enable()
#    made: triggers, policies, indexes, columns), the same configuration, and
#    behave the same from there on. The old version's setup runs under the
#    new module, which is also what a server runs between its restart with a
#    new module and ALTER EXTENSION ... UPDATE.
use strict;
use warnings;
use Digest::SHA;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $repo = dirname(__FILE__) . '/../..';

# --- 1. Frozen release scripts -------------------------------------------------

my %listed;
open my $sums, '<', "$repo/test/released.sha256" or die "test/released.sha256: $!";
while (my $line = <$sums>)
{
	next if $line =~ /^\s*(#|$)/;
	my ($sum, $file) = $line =~ /^([0-9a-f]{64})\s+(\S+)$/
	  or die "test/released.sha256: cannot read line: $line";
	$listed{$file} = $sum;
}
close $sums;
ok(%listed, 'test/released.sha256 lists at least one released version');

my @full_scripts = map { "extension/" . (split m{/}, $_)[-1] }
  grep { m{/softdelete--[^-]+\.sql$} } glob("$repo/extension/softdelete--*.sql");
my ($default_version) =
  slurp_file("$repo/softdelete.control") =~ /^default_version\s*=\s*'([^']+)'/m;
ok(defined $default_version, "softdelete.control names the default version ($default_version)");
is_deeply(
	[ sort grep { !exists $listed{$_} && $_ ne "extension/softdelete--$default_version.sql" } @full_scripts ],
	[], 'every full install script in extension/ belongs to a listed release or to the default version');
for my $file (sort keys %listed)
{
	my $sum = Digest::SHA->new(256)->addfile("$repo/$file")->hexdigest;
	is($sum, $listed{$file}, "$file is unchanged since its release");
}

# A listed softdelete--X.sql or softdelete--W--X.sql releases X.
my %versions = map { m{softdelete--(?:[^-]+--)?([^-]+)\.sql$} ? ($1 => 1) : () } keys %listed;
my @released = sort keys %versions;

# --- 2. Each release, updated, against a fresh install ---------------------------

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;
# What a database holds before the update: tables of the kinds enable()
# treats differently, enabled with options, and operations done under the
# old version. Only the 1.0.0 API is used, so that every release can run it.
my $setup = q{
	DO $$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app LOGIN; END IF;
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'boss') THEN CREATE ROLE boss LOGIN; END IF;
	END $$;
	GRANT softdelete_admin TO boss;
	CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE, name text);
	CREATE TABLE posts (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users, title text);
	CREATE TABLE orders (id int, region text, total numeric, PRIMARY KEY (id, region))
		PARTITION BY LIST (region);
	CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
	CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us');
	CREATE SCHEMA "Odd Schema";
	CREATE TABLE "Odd Schema"."Odd ""Name""" (k text PRIMARY KEY, v int UNIQUE);
	INSERT INTO users SELECT g, 'u' || g || '@example.com', 'user ' || g FROM generate_series(1, 20) g;
	INSERT INTO posts SELECT g, 1 + g % 20, 'post ' || g FROM generate_series(1, 60) g;
	INSERT INTO orders SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g FROM generate_series(1, 20) g;
	INSERT INTO "Odd Schema"."Odd ""Name""" SELECT 'k' || g, g FROM generate_series(1, 10) g;
	GRANT USAGE ON SCHEMA "Odd Schema" TO app, boss;
	GRANT SELECT, INSERT, UPDATE, DELETE ON users, posts, orders, "Odd Schema"."Odd ""Name""" TO app, boss;
	SELECT count(*) FROM softdelete.enable('users', retention => '30 days', undo_window => '10 minutes',
		pii_columns => '{email,name}', notify => true);
	SELECT count(*) FROM softdelete.enable('orders', archive => true, retention => '1 second');
	SELECT count(*) FROM softdelete.enable('"Odd Schema"."Odd ""Name"""', log_events => false);
	SET ROLE app;
	DELETE FROM users WHERE id IN (1, 2);
	DELETE FROM orders WHERE id IN (3, 4);
	DELETE FROM "Odd Schema"."Odd ""Name""" WHERE v = 5;
	RESET ROLE;
	SET ROLE boss;
	SELECT softdelete.restore('users', 2);
	RESET ROLE;
	-- the orders deleted above are past their retention: an archive table
	-- made under the old version
	SELECT pg_sleep(1.2);
	SELECT count(*) FROM softdelete.purge('orders');
};

# What is compared after the update. Object names that embed an OID (none
# should; this keeps such a name from hiding everything else) are written
# with N in place of the number.
sub state_of
{
	my ($db) = @_;
	my %state;
	my $members = q{
		WITH m AS (
			SELECT classid, objid FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
			WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
			  AND e.extname = 'softdelete')
	};
	$state{functions} = $node->safe_psql($db, $members . q{
		SELECT p.oid::regprocedure::text || E'\n' || pg_get_functiondef(p.oid)
		       || E'\nacl ' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(p.proacl) x), '-')
		FROM m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
		ORDER BY 1});
	$state{relations} = $node->safe_psql($db, $members . q{
		SELECT c.oid::regclass::text || ' ' || c.relkind::text || ' acl ' || coalesce((SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(c.relacl) x), '-')
		       || ' rls ' || c.relrowsecurity || '/' || c.relforcerowsecurity
		       || ' options ' || coalesce(c.reloptions::text, '-') || E'\n  '
		       || coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		              || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
		              || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
		              || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
		              || coalesce(' acl ' || (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(a.attacl) x), ''), E'\n  ' ORDER BY a.attnum)
		          FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
		          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
		       || coalesce(E'\n  ' || (SELECT string_agg(pg_get_indexdef(i.indexrelid), E'\n  ' ORDER BY pg_get_indexdef(i.indexrelid))
		          FROM pg_index i WHERE i.indrelid = c.oid), '')
		       || coalesce(E'\n  ' || (SELECT string_agg(co.conname || ' ' || pg_get_constraintdef(co.oid), E'\n  ' ORDER BY co.conname)
		          FROM pg_constraint co WHERE co.conrelid = c.oid), '')
		       || coalesce(E'\n  ' || (SELECT string_agg(pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text, E'\n  ' ORDER BY t.tgname)
		          FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal), '')
		       || coalesce(E'\n  ' || (SELECT string_agg(p.polname::text || ' ' || p.polcmd::text || ' ' || p.polroles::regrole[]::text
		              || ' ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '-')
		              || ' ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), '-'), E'\n  ' ORDER BY p.polname)
		          FROM pg_policy p WHERE p.polrelid = c.oid), '')
		FROM m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
		ORDER BY 1});
	$state{other_objects} = $node->safe_psql($db, $members . q{
		SELECT pg_describe_object(m.classid, m.objid, 0)
		       || coalesce(' ' || (SELECT (SELECT string_agg(x::text, ',' ORDER BY x::text) FROM unnest(n.nspacl) x) FROM pg_namespace n
		              WHERE m.classid = 'pg_namespace'::regclass AND n.oid = m.objid), '')
		       || coalesce(' ' || (SELECT format_type(t.typbasetype, t.typtypmod) || ' '
		              || coalesce((SELECT string_agg(pg_get_constraintdef(co.oid), ' ' ORDER BY co.conname)
		                   FROM pg_constraint co WHERE co.contypid = t.oid), '')
		              FROM pg_type t WHERE m.classid = 'pg_type'::regclass AND t.oid = m.objid
		                AND t.typtype = 'd'), '')
		       || coalesce(' ' || (SELECT evtevent || ' ' || evtenabled::text || ' ' || evtfoid::regproc::text
		              || ' ' || coalesce(evttags::text, '-')
		              FROM pg_event_trigger WHERE m.classid = 'pg_event_trigger'::regclass AND oid = m.objid), '')
		FROM m WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass)
		ORDER BY 1});
	$state{extension} = $node->safe_psql($db, q{
		SELECT extversion || ' config ' || coalesce((SELECT string_agg(c::regclass::text, ', ' ORDER BY c::regclass::text)
		           FROM unnest(extconfig) c), '-')
		FROM pg_extension WHERE extname = 'softdelete'});
	$state{configuration} = $node->safe_psql($db, q{
		SELECT (to_jsonb(t) - 'enabled_at')::text FROM softdelete.tables t ORDER BY relid::text});
	# The user's side: everything pg_dump writes for the database's own
	# objects, which is where enable() leaves its triggers, policies,
	# indexes and columns. Extension members are not in a dump.
	my ($stdout, $stderr);
	my $ok = IPC::Run::run([ 'pg_dump', '--schema-only', '--no-owner', '-d', $node->connstr($db) ],
		'>', \$stdout, '2>', \$stderr);
	die "pg_dump of $db failed: $stderr" unless $ok;
	$state{user_objects} = join "\n",
	  grep { !/^(--|SET |SELECT pg_catalog\.set_config|\\(un)?restrict )/ && /\S/ } split /\n/, $stdout;
	s/softdelete_\d+_/softdelete_N_/g for values %state;
	return \%state;
}

# What happens from there on, as the application, an admin and the purge
# would do it; the output is compared, not the times or transaction ids, nor
# the operations' numbers: under 1.0.0 they had a sequence of their own, and
# the update continues them past every number given, where a fresh install
# numbers from 1 (their order and which events share one are compared).
my $afterwards = q{
	SET ROLE app;
	DELETE FROM users WHERE id = 3;
	SELECT count(*) AS visible_users FROM users;
	SELECT count(*) AS visible_posts FROM posts;
	DELETE FROM orders WHERE region = 'eu' AND id <= 10;
	SELECT count(*) AS visible_orders FROM orders;
	UPDATE "Odd Schema"."Odd ""Name""" SET v = v + 100 WHERE k = 'k1';
	DELETE FROM "Odd Schema"."Odd ""Name""" WHERE k = 'k2';
	RESET ROLE;
	SET ROLE boss;
	SELECT softdelete.restore('users', 1) AS restored;
	SELECT softdelete.undo(max(op)) AS undone FROM softdelete.events WHERE action = 'delete' AND table_name = 'public.users';
	SELECT softdelete.erase('users', 20) AS erased;
	SELECT id, email, name, deleted_at IS NOT NULL AS deleted FROM users WHERE id IN (1, 2, 3, 20) ORDER BY id;
	SELECT softdelete.hard_delete('orders', '{"id": 5, "region": "us"}'::jsonb) AS hard_deleted;
	RESET ROLE;
	SELECT pg_sleep(1.2);
	SELECT table_name, rows_archived, rows_purged FROM softdelete.purge() ORDER BY 1;
	SELECT count(*) AS archived FROM softdelete_archive."public.orders";
	SELECT dense_rank() OVER (ORDER BY op), table_name, action, actor, reason, row_count, keys
	  FROM softdelete.events ORDER BY id;
	SELECT status, rows_archived, rows_purged FROM softdelete.runs ORDER BY id;
};

for my $version (@released)
{
	(my $tag = $version) =~ s/\W/_/g;
	my ($updated, $fresh) = ("updated_$tag", "fresh_$tag");
	$node->safe_psql('postgres', "CREATE DATABASE $updated");
	$node->safe_psql('postgres', "CREATE DATABASE $fresh");

	$node->safe_psql($updated, "CREATE EXTENSION softdelete VERSION '$version'");
	is($node->safe_psql($updated, q{SELECT extversion FROM pg_extension WHERE extname = 'softdelete'}),
		$version, "$version installs");
	$node->safe_psql($updated, $setup);
	# Numbers given out under 1.0.0: operations that wrote no event (a
	# DELETE that found no row) take one too, so the last one is above every
	# op in the log.
	$node->safe_psql($updated, q{
		SET ROLE app;
		DO $$ BEGIN FOR i IN 1..40 LOOP DELETE FROM users WHERE id = -i; END LOOP; END $$;});
	my ($last_number, $last_id) = split /\|/, $node->safe_psql($updated, q{
		SELECT greatest((SELECT last_value FROM softdelete_internal.operation_ids), max(id)), max(id)
		  FROM softdelete.events});
	$node->safe_psql($updated, 'ALTER EXTENSION softdelete UPDATE');
	is($node->safe_psql($updated, q{SELECT extversion FROM pg_extension WHERE extname = 'softdelete'}),
		$default_version, "$version updates to $default_version");

	$node->safe_psql($fresh, 'CREATE EXTENSION softdelete');
	$node->safe_psql($fresh, $setup);

	my $got = state_of($updated);
	my $want = state_of($fresh);
	for my $part (sort keys %$want)
	{
		ok(length $want->{$part}, "$version: the fresh install has $part to compare");
		is($got->{$part}, $want->{$part}, "$version updated: the same $part as a fresh install");
	}

	my $then_updated = $node->safe_psql($updated, $afterwards);
	my $then_fresh = $node->safe_psql($fresh, $afterwards);
	like($then_fresh, qr/^orders\|4\|4$/m,
		"$version: the scenario ran to its end (the purge archived and removed the 4 orders deleted since the last one)");
	is($then_updated, $then_fresh, "$version updated: behaves as a fresh install afterwards");
	# No operation after the update has the number of one before it, nor
	# of an event row's id: undo() of a new operation finds only its own.
	ok($last_number > 0, "$version: the events before the update have numbers ($last_number)");
	is($node->safe_psql($updated, qq{
		SELECT count(*) FILTER (WHERE op <= $last_number OR id <= $last_number), count(*)
		  FROM softdelete.events WHERE id > $last_id}) =~ s/\|\d+$//r, '0',
		"$version updated: operations and ids after the update are past every number before it");
}

$node->stop;
done_testing();
