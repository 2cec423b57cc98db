# Helpers shared by the TAP tests in test/t (scripts/test puts test/ on
# PERL5LIB).
package SoftdeleteTAP;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT_OK = qw(marked_statements server_watch server_survived);

# Runs each statement of @items in psql as $user and returns, in order,
# [SQLSTATE, error message] of each ('00000' when it worked). An item is a
# statement, or an array of statements of which the last is the one reported
# (the others prepare it). With rollback => 1 each item runs in a transaction
# that is rolled back, so that nothing it changes stays.
#
# An item during which the session died gets ['crash', '']; when the server
# restarts itself (restart_after_crash = on) the rest run in a new session,
# so that one crash does not hide the next (up to 200: after that, the items
# left get no result).
sub marked_statements
{
	my ($node, %opts) = @_;
	my @items = @{ $opts{items} };
	my @results;
	my $next = 0;
	my $crashes = 0;
	while ($next <= $#items && $crashes++ < 200)
	{
		my %got = run_marked($node, \%opts, $next, @items[ $next .. $#items ]);
		while ($next <= $#items && $got{$next})
		{
			$results[$next] = $got{$next};
			$next++;
		}
		last if $next > $#items;
		# The session died in the middle of item $next.
		$results[$next] = [ 'crash', '' ];
		$next++;
		last unless $node->poll_query_until('postgres', 'SELECT true');
	}
	return @results;
}

# One psql session running @items (numbered from $first) to its end or its
# death. Hostile inputs make megabyte-long values and error messages: result
# rows go to /dev/null and every line psql prints is cut to its first 300
# characters as it arrives, so memory and the test log stay small.
sub run_marked
{
	my ($node, $opts, $first, @items) = @_;
	my $script = "\\set VERBOSITY terse\n\\o /dev/null\n" . ($opts->{prologue} // '') . "\n";
	for my $i (0 .. $#items)
	{
		my @stmts = ref $items[$i] ? @{ $items[$i] } : ($items[$i]);
		$script .= "BEGIN;\n" if $opts->{rollback};
		$script .= "$_;\n" for @stmts;
		$script .= "\\echo \@\@result " . ($first + $i) . " :SQLSTATE :LAST_ERROR_MESSAGE\n";
		$script .= "ROLLBACK;\n" if $opts->{rollback};
	}
	my (@lines, $partial);
	$partial = '';
	my $cut = sub {
		$partial .= shift;
		while ($partial =~ s/^([^\n]*)\n//)
		{
			push @lines, substr($1, 0, 300);
		}
		# A line still coming in: keep its start only.
		$partial = substr($partial, 0, 300) if length($partial) > 300;
	};
	my $stderr_lines = 0;
	my $connstr = $node->connstr('postgres') . " user=$opts->{user}";
	local %ENV = (%ENV, %{ $opts->{env} // {} });
	# A psql that lost its server stops reading its script: that is not an
	# error of the test.
	local $SIG{PIPE} = 'IGNORE';
	eval {
		IPC::Run::run(
			[ $node->installed_command('psql'), '-X', '-q', '-d', $connstr, '-f', '-' ],
			'<' => \$script,
			'>' => $cut,
			'2>' => sub { $stderr_lines += () = $_[0] =~ /\n/g; });
	};
	my %results;
	for (@lines)
	{
		next unless /^\@\@result (\d+) (\S+) ?(.*)$/;
		$results{$1} = [ $2, $2 eq '00000' ? '' : $3 ];
	}
	note("$opts->{user}: " . scalar(keys %results) . ' of ' . scalar(@items)
		  . " statements reported, $stderr_lines lines of errors and notices");
	return %results;
}

# What must not change while a test runs, unless the server restarted.
sub server_watch
{
	my ($node) = @_;
	return {
		start_time => $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		pid => postmaster_pid($node),
	};
}

sub postmaster_pid
{
	my ($node) = @_;
	my ($pid) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
	return $pid;
}

# True when the postmaster is the one server_watch() saw, it answers, and its
# log tells of no backend that died.
sub server_survived
{
	my ($node, $watch) = @_;
	my ($ret, $start_time) = $node->psql('postgres', 'SELECT pg_postmaster_start_time()');
	my $log = slurp_file($node->logfile);
	my @crashes = $log =~ /^.*(?:terminated by signal|server process .* was terminated|was terminated by exception).*\n(?:.*Failed process was running.*)?$/mg;
	diag("crashes in the server log:\n" . join("\n", @crashes)) if @crashes;
	diag("postmaster start time was $watch->{start_time}, now $start_time")
	  if $ret == 0 && $start_time ne $watch->{start_time};
	return $ret == 0
	  && $start_time eq $watch->{start_time}
	  && postmaster_pid($node) eq $watch->{pid}
	  && $node->safe_psql('postgres', 'SELECT 1') eq '1'
	  && !@crashes;
}

1;
