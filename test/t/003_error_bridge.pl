# The error bridge (src/error_bridge.hpp) on paths the extension's SQL cannot
# reach today: a C++ exception leaving a pg_guard body must leave no dead
# PG_TRY frame or error context callback behind, and errors made in C++ keep
# texts of any length. test/error_bridge_probe.cpp drives the bridge; it is
# built here, with the bridge's sources from this tree, and loaded by path.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);

my $repo = dirname(__FILE__) . '/../..';
my $probe = PostgreSQL::Test::Utils::tempdir() . '/error_bridge_probe.so';
my $includedir = `pg_config --includedir-server`;
chomp $includedir;
# -Bsymbolic: the probe uses its own copy of the bridge, not the one of a
# preloaded softdelete.so.
my ($ok, $stdout, $stderr);
$ok = IPC::Run::run(
	[
		'g++', '-std=c++17', '-O2', '-fPIC', '-shared', '-Wl,-Bsymbolic',
		'-Wall', '-Wextra', '-Werror', '-Wno-register',
		'-Wno-missing-field-initializers', '-Wno-unused-parameter',
		'-isystem', $includedir, "-I$repo/src",
		"$repo/test/error_bridge_probe.cpp", "$repo/src/error_bridge.cpp",
		'-o', $probe
	],
	'>' => \$stdout,
	'2>' => \$stderr);
ok($ok, 'the probe module builds') or diag($stderr);

my $node = PostgreSQL::Test::Cluster->new('error_bridge');
$node->init;
$node->start;

$node->safe_psql('postgres', qq{
	CREATE FUNCTION bridge_probe_escape(nested_ereport boolean) RETURNS void
		LANGUAGE c STRICT AS '$probe', 'bridge_probe_escape';
	CREATE FUNCTION bridge_probe_long_error(length int) RETURNS void
		LANGUAGE c STRICT AS '$probe', 'bridge_probe_long_error';
	CREATE FUNCTION bridge_probe_rolled_back(sql text, mode text) RETURNS text
		LANGUAGE c STRICT AS '$probe', 'bridge_probe_rolled_back';
	-- The fields of the error stmt raises, as PL/pgSQL reads them: SQLSTATE,
	-- message (its start), the lengths of message, detail and hint, schema,
	-- table and constraint names, CONTEXT lines.
	CREATE FUNCTION error_of(stmt text) RETURNS text LANGUAGE plpgsql AS \$\$
	DECLARE s text; m text; d text; h text; sch text; tab text; con text; ctx text;
	BEGIN
		EXECUTE stmt;
		RETURN 'no error';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT,
			d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT, sch = SCHEMA_NAME,
			tab = TABLE_NAME, con = CONSTRAINT_NAME, ctx = PG_EXCEPTION_CONTEXT;
		RETURN concat_ws(' | ', s, left(m, 40), length(m), length(d), length(h), sch, tab, con,
			replace(ctx, E'\\n', ' / '));
	END
	\$\$;
});

# An error made in C++, in a session of its own.
is($node->safe_psql('postgres', "SELECT error_of('SELECT bridge_probe_long_error(5000)')"),
	'22000 | ' . ('m' x 40) . ' | 5000 | 5000 | 5000 |  |  |  | '
	  . 'SQL statement "SELECT bridge_probe_long_error(5000)" / '
	  . 'PL/pgSQL function error_of(text) line 4 at EXECUTE',
	'an error made in C++ keeps message, detail and hint of any length');

# One backend takes every path, among statements that must keep working.
my $ret;
($ret, $stdout, $stderr) = $node->psql('postgres', q{
\set VERBOSITY verbose
SELECT 'pid', pg_backend_pid();
SELECT bridge_probe_escape(true);
SELECT 'after a PostgreSQL error escaped', 1 + 1;
SELECT bridge_probe_escape(false);
SELECT 'after a C++ error escaped', 2 + 2;
SELECT 'nested', error_of('SELECT bridge_probe_escape(true)');
SELECT 'thrown', error_of('SELECT bridge_probe_escape(false)');
SELECT 'plain', error_of('SELECT 1/0');
SELECT 'repeated', count(*) FROM generate_series(1, 1000) g,
	LATERAL error_of(CASE WHEN g % 2 = 0 THEN 'SELECT bridge_probe_escape(true)'
		ELSE 'SELECT bridge_probe_escape(false)' END) AS e
	WHERE e LIKE '23514 | raised in a nested guard | %' OR e LIKE '22000 | thrown in a guarded body | %';
SELECT 'pid', pg_backend_pid();
},
	on_error_stop => 0,
	extra_params => [ '--no-align', '--tuples-only', '--field-separator=:' ]);
note($stdout);
note($stderr);

my %row;
my @pids;
for my $line (split /\n/, $stdout)
{
	my ($key, $value) = split /:/, $line, 2;
	if ($key eq 'pid') { push @pids, $value; }
	else { $row{$key} = $value; }
}

# At the top level the client gets the nested guard's error whole, its
# CONTEXT from the frame it was raised in.
like($stderr, qr/ERROR:  23514: raised in a nested guard/, 'the escaped PostgreSQL error reaches the client');
like($stderr, qr/SCHEMA NAME:  probe_schema\nTABLE NAME:  probe_table\nCONSTRAINT NAME:  probe_constraint/,
	'with its object names');
like($stderr, qr/CONTEXT:  in the outer guarded body/, 'and the context it was raised in');
like($stderr, qr/ERROR:  22000: thrown in a guarded body\nLOCATION/,
	'an error made in C++ after the body left carries no context of the dead frame');
is($row{'after a PostgreSQL error escaped'}, '2', 'the backend works after a PostgreSQL error escaped a guarded body');
is($row{'after a C++ error escaped'}, '4', 'and after a C++ error escaped one');

is($row{nested},
	'23514 | raised in a nested guard | 24 | 50 | 0 | probe_schema | probe_table | probe_constraint | '
	  . 'in the outer guarded body / SQL statement "SELECT bridge_probe_escape(true)" / '
	  . 'PL/pgSQL function error_of(text) line 4 at EXECUTE',
	'PL/pgSQL catches the escaped PostgreSQL error with every field');
is($row{thrown},
	'22000 | thrown in a guarded body | 24 | 0 | 0 |  |  |  | SQL statement "SELECT bridge_probe_escape(false)" / '
	  . 'PL/pgSQL function error_of(text) line 4 at EXECUTE',
	'and the C++ error, whose context has only live frames');
is($row{plain},
	'22012 | division by zero | 16 | 0 | 0 |  |  |  | SQL statement "SELECT 1/0" / '
	  . 'PL/pgSQL function error_of(text) line 4 at EXECUTE',
	'a later error has only its own context');
is($row{repeated}, '1000', 'a thousand escapes in one statement, each caught with its own error');
is(scalar(@pids), 2, 'the session ran to its end');
is($pids[0], $pids[1], 'in the backend it started in');

# rolled_back_on_error: a failing body is rolled back and its error returned,
# while the transaction around it goes on and commits.
$node->safe_psql('postgres', 'CREATE TABLE kept (i int)');
($ret, $stdout, $stderr) = $node->psql('postgres', q{
BEGIN;
INSERT INTO kept VALUES (1);
SELECT 'failed', bridge_probe_rolled_back('INSERT INTO kept VALUES (2), (1/0)', 'sql');
SELECT 'failed again', bridge_probe_rolled_back('INSERT INTO kept VALUES (3); SELECT 1/0', 'sql');
SELECT 'worked', bridge_probe_rolled_back('INSERT INTO kept VALUES (4)', 'sql');
SELECT 'left open', bridge_probe_rolled_back('INSERT INTO kept VALUES (5); SELECT 1/0', 'open');
SELECT 'thrown', error_of($$SELECT bridge_probe_rolled_back('INSERT INTO kept VALUES (6)', 'throw')$$);
INSERT INTO kept VALUES (7);
COMMIT;
SELECT 'kept', string_agg(i::text, ',' ORDER BY i) FROM kept;
},
	on_error_stop => 1,
	extra_params => [ '--no-align', '--tuples-only', '--field-separator=:' ]);
is($ret, 0, 'the transaction around failed bodies commits') or diag($stderr);
%row = map { split /:/, $_, 2 } split /\n/, $stdout;
is($row{failed}, "22012 division by zero (kept in the caller's context)",
	'the error of a failed body is returned, copied out of the memory the rollback frees');
is($row{'failed again'}, "22012 division by zero (kept in the caller's context)",
	'and again after a first rollback');
is($row{worked}, 'ok', 'a body that works returns nothing');
is($row{'left open'}, "22012 division by zero (kept in the caller's context)",
	'a body that leaves a subtransaction of its own open is rolled back whole');
like($row{thrown}, qr/^XX000 \| a C\+\+ error after the SQL ran/,
	'a C++ exception that is no PgError is rolled back and propagates');
is($row{kept}, '1,4,7', 'only what failed was rolled back');
unlike(slurp_file($node->logfile), qr/WARNING|subtransaction left/,
	'no warning about a subtransaction left behind');

$node->stop;
done_testing();
