# The error paths of the C++/PostgreSQL bridge do not leak: test/leak_check.sh
# takes each error path thousands of times in one backend and fails when the
# backend's memory grows past its threshold.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);

my $node = PostgreSQL::Test::Cluster->new('leaks');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'softdelete'");
$node->start;

my $script = dirname(__FILE__) . '/../leak_check.sh';
my ($stdout, $stderr);
my $ok = IPC::Run::run(
	[ 'bash', $script, $node->port, $node->host ],
	'>' => \$stdout, '2>' => \$stderr);
note($stdout);
note($stderr) if $stderr;
ok($ok, 'no error path grows the backend past the threshold');
like($stdout, qr/leak_check: ok/, 'leak_check reports every error path clean');
unlike($stdout, qr/NO ERROR/, 'every error path raised its error');

$node->stop;
done_testing();
