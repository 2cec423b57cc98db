# On a physical standby a DELETE on an enabled table is refused as the DELETE
# it is (25006, "cannot execute DELETE in a read-only transaction"), though
# softdelete runs it as an UPDATE; an UPDATE keeps PostgreSQL's own message,
# and the standby reads with the primary's visibility.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE EXTENSION softdelete;
	CREATE ROLE app LOGIN;
	CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);
	INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 5) g;
	GRANT SELECT, INSERT, UPDATE, DELETE ON users TO app;
	SELECT count(*) FROM softdelete.enable('users');
	SET ROLE app;
	DELETE FROM users WHERE id = 1;
});
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my ($ret, $stdout, $stderr) = $standby->psql('postgres', "\\set VERBOSITY verbose\nDELETE FROM users WHERE id = 2;",
	extra_params => [ '-U', 'app' ]);
like($stderr, qr/ERROR:  25006: cannot execute DELETE in a read-only transaction/, 'a DELETE on the standby is refused as a DELETE (25006)');
($ret, $stdout, $stderr) = $standby->psql('postgres', 'UPDATE users SET email = email WHERE id = 2;',
	extra_params => [ '-U', 'app' ]);
like($stderr, qr/cannot execute UPDATE in a read-only transaction/, 'an UPDATE keeps its own message');
is($standby->safe_psql('postgres', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM users', extra_params => [ '-U', 'app' ]),
	'2,3,4,5', 'the standby hides the deleted row from the application');

$standby->stop;
$primary->stop;
done_testing();
