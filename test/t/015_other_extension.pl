# Another extension's install script cannot loosen softdelete's hold on an
# enabled table. PostgreSQL runs an extension's script as the superuser who
# creates it, and says an extension is being created; softdelete's guards
# let its own install and update scripts through, and only those. The
# fixture extension (test/fixtures/softdelete_fixture--1.0.sql) tries eight
# ways (NO FORCE and DISABLE ROW LEVEL SECURITY, disabling the backstop
# trigger, dropping the visibility policy, dropping the tombstone column,
# editing and deleting the table's row of softdelete.tables, TRUNCATE) and
# keeps each outcome. scripts/test installs the fixture where PostgreSQL
# finds extensions, which needs root.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
if (!-f "$sharedir/extension/softdelete_fixture.control")
{
	# In CI the suite runs as root and installs it: missing there is a failure.
	BAIL_OUT('the fixture extension softdelete_fixture is not installed') if $ENV{CI};
	plan skip_all => 'the fixture extension softdelete_fixture is not installed '
	  . '(scripts/test installs it when run as root)';
}

my $node = PostgreSQL::Test::Cluster->new('other_extension');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE EXTENSION softdelete;
	CREATE ROLE app;
	CREATE TABLE public.fixture_target (id int PRIMARY KEY, name text);
	INSERT INTO fixture_target VALUES (1, 'a'), (2, 'b'), (3, 'c');
	GRANT SELECT, DELETE ON fixture_target TO app;
	SELECT count(*) FROM softdelete.enable('fixture_target');
	DELETE FROM fixture_target WHERE id = 2;
});

$node->safe_psql('postgres', 'CREATE EXTENSION softdelete_fixture');
my $attempts = $node->safe_psql('postgres',
	q{SELECT count(*) FROM fixture_attempts});
is($attempts, '8', 'the fixture made its eight attempts');
my $outcomes = $node->safe_psql('postgres',
	q{SELECT attempt || ': ' || outcome FROM fixture_attempts WHERE outcome <> '55000' ORDER BY 1});
is($outcomes, '', 'every attempt was refused with 55000');

# And the table is as enable() left it.
is( $node->safe_psql(
		'postgres', q{
	SELECT relrowsecurity AND relforcerowsecurity FROM pg_class WHERE oid = 'fixture_target'::regclass}
	),
	't',
	'row level security is still on and forced');
is( $node->safe_psql(
		'postgres', q{
	SELECT tgenabled FROM pg_trigger
	 WHERE tgrelid = 'fixture_target'::regclass AND tgname = 'softdelete_backstop'}
	),
	'O',
	'the backstop trigger is still enabled');
is( $node->safe_psql(
		'postgres', q{
	SELECT count(*) FROM pg_policy
	 WHERE polrelid = 'fixture_target'::regclass AND polname = 'softdelete_visibility'}
	),
	'1',
	'the visibility policy is still there');
is( $node->safe_psql(
		'postgres', q{
	SELECT log_events FROM softdelete.tables WHERE relid = 'fixture_target'::regclass}
	),
	't',
	'its configuration is unchanged');
is($node->safe_psql('postgres', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM fixture_target'),
	'1,2,3', 'no row was removed, the soft-deleted one included');

# The application still soft-deletes and sees live rows only.
is( $node->safe_psql(
		'postgres', q{
	SET ROLE app;
	DELETE FROM fixture_target WHERE id = 3;
	SELECT string_agg(id::text, ',' ORDER BY id) FROM fixture_target}
	),
	'1',
	'a DELETE is still a soft delete, and deleted rows stay hidden');
is($node->safe_psql('postgres', 'SELECT count(*) FROM fixture_target'),
	'3', 'the rows are all still there');

$node->stop;
done_testing();
