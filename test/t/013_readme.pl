# The README's SQL, run as a newcomer pastes it.
#
# Every ```sql block of README.md runs, in the README's order, in one psql
# session as a superuser, in a fresh database, with ON_ERROR_STOP: the first
# statement that fails unexpectedly fails the test. A block that is not meant
# to be pasted as it is (an illustration with made-up keys, output shown
# inside the block, something that needs another extension) carries
#   <!-- readme-test: skip, <why> -->
# on the line before its fence, and only such blocks are left out.
#
# What a statement shows is checked where its trailing comment says it:
#   -- DELETE 1              the command tag (DELETE, INSERT 0, UPDATE, ...)
#   -- 3  or  -- 3: text     the statement's one value (rows returned, a count)
#   -- fails with 23505...   the statement fails with that SQLSTATE, and the
#                            session goes on
# Any other statement must succeed.
use strict;
use warnings;
use FindBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The repository's README, two levels up from this file (scripts/test runs
# a copy of the whole repository).
my $readme = "$FindBin::RealBin/../../README.md";
ok(-r $readme, "README found at $readme") or BAIL_OUT('no README');

my @lines = split /\n/, slurp_file($readme);

# The blocks, with the line each starts on and whether it is skipped.
my @blocks;
{
	my ($in, $indent, $start, @body, $skip);
	my $previous = '';
	for my $n (0 .. $#lines)
	{
		my $line = $lines[$n];
		if (!$in && $line =~ /^(\s*)```sql\s*$/)
		{
			($in, $indent, $start, @body) = (1, length($1), $n + 1);
			$skip = $previous =~ /<!--\s*readme-test:\s*skip\b/;
			next;
		}
		if ($in && $line =~ /^\s*```\s*$/)
		{
			push @blocks, { line => $start, body => [@body], skip => $skip };
			$in = 0;
			next;
		}
		if ($in)
		{
			# Blocks inside a list item are indented: take the indent off.
			my $text = $line;
			$text =~ s/^ {0,$indent}//;
			push @body, $text;
			next;
		}
		$previous = $line if $line =~ /\S/;
	}
	ok(!$in, 'every ```sql block is closed');
}
my @run = grep { !$_->{skip} } @blocks;
cmp_ok(scalar(@run), '>=', 8, scalar(@run) . ' of ' . scalar(@blocks) . ' SQL blocks are run');

# Where the code of a line ends: before a -- comment that is outside quotes.
sub split_comment
{
	my ($line) = @_;
	my $quoted = 0;
	for my $i (0 .. length($line) - 2)
	{
		my $c = substr($line, $i, 1);
		$quoted = !$quoted if $c eq "'";
		return (substr($line, 0, $i), substr($line, $i + 2)) if !$quoted && substr($line, $i, 2) eq '--';
	}
	return ($line, undef);
}

# Statements: lines up to one whose code ends with ';'. The comment on that
# line is the statement's expectation.
my @statements;
for my $block (@run)
{
	my @text;
	my $first;
	for my $i (0 .. $#{ $block->{body} })
	{
		my $line = $block->{body}[$i];
		my ($code, $comment) = split_comment($line);
		next if !@text && $code !~ /\S/;
		$first //= $block->{line} + $i + 1;
		push @text, $line;
		if ($code =~ /;\s*$/)
		{
			push @statements, { line => $first, sql => join("\n", @text), expect => $comment };
			@text = ();
			$first = undef;
		}
	}
	ok(!@text, "the block at README line $block->{line} ends with a complete statement");
}

# The script psql runs: each statement as written, a marker before it and its
# SQLSTATE after it.
my $script = "\\set ON_ERROR_STOP 1\n";
my $checks = 0;
for my $n (0 .. $#statements)
{
	my $s = $statements[$n];
	my $expect = $s->{expect} // '';
	if ($expect =~ /^\s*fails with ([0-9A-Z]{5})\b/)
	{
		$s->{fails} = $1;
	}
	elsif ($expect =~ /^\s*((?:DELETE|INSERT 0|UPDATE|MERGE|COPY) \d+)\b/)
	{
		$s->{tag} = $1;
	}
	elsif ($expect =~ /^\s*(-?\d+)\s*(?::|$)/)
	{
		$s->{value} = $1;
	}
	$script .= "\\set ON_ERROR_STOP 0\n" if $s->{fails};
	$script .= "\\echo '\@\@ statement $n'\n$s->{sql}\n\\echo '\@\@ sqlstate' :SQLSTATE\n";
	$script .= "\\set ON_ERROR_STOP 1\n" if $s->{fails};
}

my $node = PostgreSQL::Test::Cluster->new('readme');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE readme');

my ($stdout, $stderr) = ('', '');
my $ok = IPC::Run::run(
	[ 'psql', '-X', '-A', '-t', '-d', $node->connstr('readme'), '-f', '-' ],
	'<' => \$script, '>' => \$stdout, '2>' => \$stderr);
ok($ok, 'psql runs every block to the end with ON_ERROR_STOP') or diag("stderr:\n$stderr");

# Each statement's output and SQLSTATE.
my %output;
my %state;
{
	my $current;
	for my $line (split /\n/, $stdout)
	{
		if ($line =~ /^\@\@ statement (\d+)$/)
		{
			$current = $1;
			$output{$current} = [];
		}
		elsif ($line =~ /^\@\@ sqlstate (\S+)$/)
		{
			$state{$current} = $1;
		}
		elsif (defined $current)
		{
			push @{ $output{$current} }, $line;
		}
	}
}

for my $n (0 .. $#statements)
{
	my $s = $statements[$n];
	my $where = "README line $s->{line}";
	my ($head) = split /\n/, $s->{sql};
	$head =~ s/^\s+//;
	$head = substr($head, 0, 60);
	if (!defined $state{$n})
	{
		fail("$where ($head): never ran");
		next;
	}
	my @out = @{ $output{$n} };
	if ($s->{fails})
	{
		is($state{$n}, $s->{fails}, "$where ($head): fails with $s->{fails}");
		$checks++;
		next;
	}
	is($state{$n}, '00000', "$where ($head): succeeds") or diag($stderr);
	if (defined $s->{tag})
	{
		is($out[-1] // '', $s->{tag}, "$where: reports $s->{tag}");
		$checks++;
	}
	elsif (defined $s->{value})
	{
		# The rows a RETURNING statement prints come before its tag.
		pop @out if @out > 1 && $out[-1] =~ /^(DELETE|INSERT 0|UPDATE|MERGE) \d+$/;
		is(join("\n", @out), $s->{value}, "$where: shows $s->{value}");
		$checks++;
	}
}
cmp_ok($checks, '>=', 10, "$checks results the README states were checked");

$node->stop;
done_testing();
