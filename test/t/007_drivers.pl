# Real client libraries against an enabled table: psycopg 2 and 3 and
# SQLAlchemy, from Debian's packages (scripts/deps installs them). The
# checks are in test/clients/drivers.py, which prints one "ok - ..." or
# "not ok - ..." line per check; each becomes a test here. They cover the
# DELETE count as the driver reports it, RETURNING, server-side prepared
# statements, SQLAlchemy's session.delete() + flush() (it checks the count,
# and raises StaleDataError with a version column), its
# on_conflict_do_update(constraint=<old unique constraint>), and a reader's
# opt-in with SET LOCAL.
use strict;
use warnings;
use File::Basename;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# Debian's interpreter, where Debian's python3-* packages are.
my $python = '/usr/bin/python3';
my $script = dirname(__FILE__) . '/../clients/drivers.py';

my $node = PostgreSQL::Test::Cluster->new('drivers');
$node->init;
$node->start;

$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE EXTENSION softdelete;
	CREATE ROLE app LOGIN;
	CREATE ROLE reader LOGIN IN ROLE softdelete_reader;
	CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL UNIQUE);
	INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 30) g;
	CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL, version int NOT NULL);
	INSERT INTO accounts VALUES (1, 'one', 1), (2, 'two', 1);
	GRANT SELECT, INSERT, UPDATE, DELETE ON users, accounts TO app;
	GRANT SELECT ON users TO reader;
	SELECT count(*) FROM softdelete.enable('users');
	SELECT count(*) FROM softdelete.enable('accounts');
});

my ($stdout, $stderr);
my $ran = IPC::Run::run([ $python, $script, $node->connstr('postgres') ], '>', \$stdout, '2>', \$stderr);
ok($ran, 'the client script ran to its end') or diag($stderr);

my ($checks, $declared) = (0, undef);
for my $line (split /\n/, $stdout)
{
	if ($line =~ /^(not )?ok - (.*)$/)
	{
		my ($failed, $what) = ($1, $2);
		ok(!$failed, $what);
		$checks++;
	}
	elsif ($line =~ /^checks: (\d+)$/)
	{
		$declared = $1;
	}
	else
	{
		diag($line);
	}
}
is($declared, $checks, 'the script reported every check it ran');
is($checks, 12, 'all 12 checks ran');

$node->stop;
done_testing();
