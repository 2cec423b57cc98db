# No input to any of softdelete's functions, from any role, and no statement
# shape brings the server down or loses a row.
#
# Every function in schemas softdelete and softdelete_internal is read from
# pg_proc, so a function added later is called here without anyone editing
# this file (a new argument type stops the test until it gets its values).
# Each is called with combinations of hostile arguments built from its
# argument types, once as an application role (which must not reach
# softdelete_internal at all) and once as a superuser (which may, and whose
# calls are rolled back so that nothing it breaks stays broken). Then the
# log trigger is attached where nobody expects it, and the application runs
# the statement shapes that planner rewrites most easily get wrong. After it
# all the postmaster must be the one that started, no backend may have died,
# and every row must still be in the table.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use SoftdeleteTAP qw(marked_statements server_watch server_survived);

my $node = PostgreSQL::Test::Cluster->new('function_inputs');
$node->init;
# Hostile inputs come back in error messages a megabyte long, thousands of
# them: the log keeps LOG and worse, which is where the postmaster reports a
# backend that died. After a crash the server restarts, so that the calls
# after it still run and one crash does not hide the next.
$node->append_conf('postgresql.conf', "log_min_messages = log\nrestart_after_crash = on");
$node->start;
my $watch = server_watch($node);
my $superuser = $node->safe_psql('postgres', 'SELECT current_user');

$node->safe_psql('postgres', q{
	SET client_min_messages = warning;
	CREATE EXTENSION softdelete;
	CREATE ROLE fz_app LOGIN;
	CREATE TABLE fz_items (id int PRIMARY KEY, email text NOT NULL UNIQUE, note text);
	INSERT INTO fz_items SELECT g, 'user' || g || '@example.com', 'n' || g FROM generate_series(1, 40) g;
	CREATE TABLE fz_members (org int, id int, name text UNIQUE, PRIMARY KEY (org, id));
	INSERT INTO fz_members SELECT g % 3, g, 'm' || g FROM generate_series(1, 20) g;
	CREATE VIEW fz_view AS SELECT id, email FROM fz_items;
	GRANT SELECT, INSERT, UPDATE, DELETE ON fz_items, fz_members, fz_view TO fz_app;
	SELECT count(*) FROM softdelete.enable('fz_items', pii_columns => '{note}');
	SELECT count(*) FROM softdelete.enable('fz_members');
	-- Some rows are deleted before the application starts: they must stay so.
	DELETE FROM fz_items WHERE id IN (30, 31, 32, 33);
	DELETE FROM fz_members WHERE id IN (10, 11);
});

# --- Every function, every role --------------------------------------------

# Values for each argument type, as SQL expressions. The first is NULL and the
# second a plausible value; the others are what an attacker would try.
my $json40 = q{(SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 40) g)};
my $megabyte = q{repeat('x', 1048576)};
my %values_of = (
	regclass => [
		'NULL::regclass',                 q{'fz_items'::regclass},
		'0::oid::regclass',               '4294967295::oid::regclass',
		'12345::oid::regclass',           q{'pg_class'::regclass},
		q{'fz_members'::regclass},        q{'fz_view'::regclass},
	],
	name => [
		'NULL::name', q{'deleted_at'::name}, q{''::name}, q{'id'::name},
		"$megabyte\::name", q{'no such column'::name}, q{'email'::name},
	],
	'name[]' => [
		'NULL::name[]', q{'{id}'::name[]}, q{'{}'::name[]}, 'ARRAY[NULL]::name[]',
		q{(SELECT array_agg('k' || g)::name[] FROM generate_series(1, 40) g)},
		"ARRAY[$megabyte]::name[]", q{'{org,id}'::name[]},
	],
	text => [
		'NULL::text', q{'restore rows of'::text}, q{''::text}, $megabyte,
		q{'SELECT 1'::text}, q{'SELECT $1::text'::text},
		q{'DELETE FROM fz_items'::text},
	],
	jsonb => [
		'NULL::jsonb', q{'{"id": 1}'::jsonb}, q{'{}'::jsonb}, q{'[]'::jsonb},
		$json40, q{'1'::jsonb}, q{'null'::jsonb}, q{'"x"'::jsonb},
		"to_jsonb($megabyte)", q{'{"org": 1, "id": 7}'::jsonb},
	],
	# A polymorphic key: whatever type the caller picks.
	anycompatible => [
		'NULL', '1', '0', '-2147483648', '30', q{'x'::text}, $megabyte, $json40,
		"$json40\::text", q{'[]'::jsonb}, q{'{"org": 1, "id": 7}'},
		q{'{"org": 1, "id": 10}'::jsonb}, 'ARRAY[1, 2]', 'ARRAY[]::int[]',
		q{'pg_class'::regclass}, '1.5::numeric', 'true', 'now()',
		q{(SELECT jsonb_agg(g) FROM generate_series(1, 40) g)},
	],
	interval => [
		'NULL::interval', q{'1 day'::interval}, q{'-1 day'::interval},
		q{'0'::interval}, q{'178000000 years'::interval},
	],
	boolean => [ 'NULL::boolean', 'true', 'false' ],
	# Column numbers and the like: in range, out of range, at the limits.
	integer => [ 'NULL::int', '1', '0', '-1', '2', '3', '4', '99', '32767', '2147483647', '-2147483648' ],
	bigint => [ 'NULL::bigint', '1', '0', '-1', '2', '9223372036854775807', '(-9223372036854775808)::bigint' ],
	tid => [ 'NULL::tid', q{'(0,1)'::tid}, q{'(0,0)'::tid}, q{'(4294967295,65535)'::tid} ],
	oid => [ 'NULL::oid', '0', q{'pg_class'::regclass::oid}, '4294967295' ],
	# The keys a rewritten statement passes to note_row(): any type.
	'"any"' => [ 'NULL', '1', q{'x'::text}, $megabyte, q{'{"a": 1}'::jsonb}, 'ARRAY[1, 2]' ],
	'timestamp with time zone' => [
		'NULL::timestamptz', 'now()', q{'infinity'::timestamptz}, q{'-infinity'::timestamptz},
		q{'epoch'::timestamptz}, q{'294276-12-31 23:59:59+00'::timestamptz},
		q{'4713-01-01 00:00:00+00 BC'::timestamptz},
	],
	# No SQL value has type internal: any call must fail.
	internal => ['NULL'],
);

my @functions = map { [ split /\|/ ] } split /\n/, $node->safe_psql('postgres', q{
	SELECT n.nspname, p.proname, p.prorettype::regtype,
	       coalesce((SELECT string_agg(format_type(t, NULL), ',' ORDER BY o)
	                   FROM unnest(p.proargtypes) WITH ORDINALITY AS a(t, o)), '')
	  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
	 WHERE n.nspname IN ('softdelete', 'softdelete_internal')
	 ORDER BY n.nspname, p.proname, p.oid});
ok(scalar(@functions) >= 20, scalar(@functions) . ' functions found in softdelete and softdelete_internal');

# Every combination when there are few; otherwise each argument through all
# its values with the others NULL, and every pair of arguments through all
# their values with the others plausible.
sub combinations
{
	my @lists = @_;
	my $product = 1;
	$product *= scalar(@$_) for @lists;
	my @combos;
	if ($product <= 400)
	{
		@combos = ([]);
		for my $list (@lists)
		{
			@combos = map { my $c = $_; map { [ @$c, $_ ] } @$list } @combos;
		}
		return @combos;
	}
	my %seen;
	my $add = sub { my $key = join("\x1f", @_); push @combos, [@_] unless $seen{$key}++; };
	for my $i (0 .. $#lists)
	{
		for my $v (@{ $lists[$i] })
		{
			$add->(map { $_ == $i ? $v : $lists[$_][0] } 0 .. $#lists);
		}
	}
	for my $i (0 .. $#lists)
	{
		for my $j ($i + 1 .. $#lists)
		{
			for my $vi (@{ $lists[$i] })
			{
				for my $vj (@{ $lists[$j] })
				{
					$add->(map { $_ == $i ? $vi : $_ == $j ? $vj : $lists[$_][1] } 0 .. $#lists);
				}
			}
		}
	}
	return @combos;
}

my @calls;    # [function label, return type, SQL, first argument]
for my $f (@functions)
{
	my ($schema, $name, $rettype, $argtypes) = @$f;
	$argtypes //= '';
	my @types = $argtypes eq '' ? () : split /,/, $argtypes;
	my @lists = map {
		$values_of{$_} // BAIL_OUT("no test values for argument type $_ of $schema.$name: add them")
	} @types;
	for my $combo (combinations(@lists))
	{
		push @calls, [ "$schema.$name($argtypes)", $rettype,
			"SELECT $schema.$name(" . join(', ', @$combo) . ')', $combo->[0] ];
	}
}
note(scalar(@calls) . ' argument combinations per role');

# A call that waits this long hangs.
my $prologue = "SET statement_timeout = '60s';";
# role => [[label, return type, SQLSTATE, message, first argument, SQL], ...]
my %outcomes;
for my $role ('fz_app', $superuser)
{
	my @results = marked_statements($node, user => $role, prologue => $prologue, rollback => 1,
		items => [ map { $_->[2] } @calls ]);
	my @crashed = map { $calls[$_][2] } grep { $results[$_] && $results[$_][0] eq 'crash' } 0 .. $#calls;
	is(scalar(@crashed), 0, "$role: no call crashed the server") or diag(join("\n", @crashed));
	is(scalar(grep { defined } @results), scalar(@calls), "$role: every call ran");
	$outcomes{$role} = [ map { [ @{ $calls[$_] }[ 0, 1 ], @{ $results[$_] // [ 'none', '' ] }, @{ $calls[$_] }[ 3, 2 ] ] } 0 .. $#calls ];
}

# Each function was reached: some call of it got past the parser (no syntax
# error, and a function of that name and those argument types was found).
my %reached;
$reached{ $_->[0] } ||= $_->[2] !~ /^(42601|42883)$/ for @{ $outcomes{$superuser} };
my @unreached = grep { !$reached{$_} && !/\(.*\binternal\b.*\)$/ } sort keys %reached;
is(scalar(keys %reached), scalar(@functions), 'every function was called');
is("@unreached", "", "every function was reached by some call");
diag(scalar(keys %reached) . ' functions called, ' . scalar(@calls) . ' argument combinations in all, each as fz_app and as a superuser');

# The first few of a list of failed calls, for the log.
sub some
{
	my @list = @_;
	return explain([ @list[ 0 .. ($#list < 4 ? $#list : 4) ] ]);
}

# The application reaches nothing in softdelete_internal, whatever the input.
my @inside = grep {
	$_->[0] =~ /^softdelete_internal\./
	  && !($_->[2] eq '42501' && $_->[3] =~ /permission denied for schema softdelete_internal/)
} @{ $outcomes{fz_app} };
is(scalar(@inside), 0, 'fz_app gets 42501 "permission denied for schema softdelete_internal" on every internal call')
  or diag(some(@inside));

# Trigger and event trigger functions run only as triggers, and nothing can
# hand a function a value of type internal.
for my $role ('fz_app', $superuser)
{
	my @ran = grep {
		($_->[1] =~ /^(trigger|event_trigger|internal)$/) && $_->[2] eq '00000'
	} @{ $outcomes{$role} };
	is(scalar(@ran), 0, "$role: no trigger, event trigger or internal function runs when called directly")
	  or diag(some(@ran));
}

# No call hangs. The public API answers bad input with a proper SQLSTATE:
# never an internal error (XX000: "cache lookup failed" and the like), never
# a syntax error (SQL text built from an input that should have been refused).
for my $role ('fz_app', $superuser)
{
	my @hung = grep { $_->[2] eq '57014' } @{ $outcomes{$role} };
	is(scalar(@hung), 0, "$role: no call runs into the statement timeout") or diag(some(@hung));
	for my $bad ([ qr/^XX/, 'an internal error' ], [ qr/^42601$/, 'a syntax error' ])
	{
		my @got = grep { $_->[0] =~ /^softdelete\./ && $_->[2] =~ $bad->[0] } @{ $outcomes{$role} };
		is(scalar(@got), 0, "$role: the public API never fails with $bad->[1]")
		  or diag(some(@got));
	}
}

# Whatever the key, a role that is not an admin of an enabled table (without
# an undo window) hears 42501 from restore(), hard_delete() and erase(), not
# what was wrong with its key.
my @answered = grep {
	$_->[0] =~ /^softdelete\.(restore|hard_delete|erase)\(/
	  && $_->[4] =~ /^'fz_(items|members)'/
	  && $_->[2] ne '42501'
} @{ $outcomes{fz_app} };
is(scalar(@answered), 0, 'fz_app: every restore(), hard_delete() and erase() of an enabled table gets 42501')
  or diag(some(@answered));
# The superuser's erasures get as far as the row (fz_items has pii_columns):
# the hostile keys meet the erasing statement itself, not only its checks.
my @erased = grep { $_->[0] =~ /^softdelete\.erase\(/ && $_->[2] eq '00000' } @{ $outcomes{$superuser} };
ok(scalar(@erased) > 0, scalar(@erased) . ' erase() calls of the superuser erased a row (rolled back)');

# For the record: what the calls came to, and the internal errors that the
# superuser's direct calls of internals met.
for my $role ('fz_app', $superuser)
{
	my %by_state;
	$by_state{ $_->[2] }++ for @{ $outcomes{$role} };
	note("$role outcomes by SQLSTATE: " . join(', ', map { "$_=$by_state{$_}" } sort keys %by_state));
}
note("internal error: @$_") for grep { $_->[2] =~ /^XX/ } @{ $outcomes{$superuser} };

# --- The log trigger where nobody expects it --------------------------------

# An enabled table with 40 more columns, all named as keys by an extra log
# trigger: each soft delete must write an event whose keys are 40-column
# objects, or fail; never bring the backend down.
my $cols = join(', ', map { "c$_ int DEFAULT $_" } 1 .. 40);
my $colnames = join(', ', map { "'c$_'" } 1 .. 40);
$node->safe_psql('postgres', qq{
	SET client_min_messages = warning;
	CREATE TABLE fz_scratch (id int PRIMARY KEY, $cols);
	INSERT INTO fz_scratch (id) SELECT generate_series(1, 5);
	SELECT count(*) FROM softdelete.enable('fz_scratch');
	CREATE TRIGGER fz_log40 AFTER UPDATE ON fz_scratch REFERENCING NEW TABLE AS fz_rows
		FOR EACH STATEMENT EXECUTE FUNCTION softdelete_internal.log_changes('deleted_at', $colnames);
	CREATE TABLE fz_plain (id int PRIMARY KEY, deleted_at timestamptz, $cols);
	INSERT INTO fz_plain (id) SELECT generate_series(1, 5);
});
my @soft_deletes = (
	'DELETE FROM fz_scratch WHERE id IN (1, 2)',
	'UPDATE fz_scratch SET deleted_at = now() WHERE id = 3',
);
my $events40 = q{
	SELECT count(*) FROM softdelete.events
	 WHERE relid = 'fz_scratch'::regclass AND jsonb_typeof(keys -> 0) = 'object'
	   AND (SELECT count(*) FROM jsonb_object_keys(keys -> 0)) = 40};
for my $sql (@soft_deletes)
{
	my $logged = $node->safe_psql('postgres', $events40);
	my ($result) = marked_statements($node, user => $superuser, items => [$sql]);
	my $now = $node->safe_psql('postgres', $events40);
	ok(defined $result && ($result->[0] ne '00000' || $now > $logged),
		"40 key columns: \"$sql\" failed or logged an event with 40-column keys ("
		  . ($result ? $result->[0] : 'no result') . ", events $logged -> $now)");
}

# The same trigger in shapes it was never meant for, on a table that is not
# enabled: no key column that exists, one argument only, no transition table,
# FOR EACH ROW, BEFORE, the old rows of a DELETE, a deleted_at column that
# does not exist. Each is tried with an UPDATE and a DELETE, rolled back.
my @shapes = (
	"AFTER UPDATE ON fz_plain REFERENCING NEW TABLE AS r FOR EACH STATEMENT EXECUTE FUNCTION softdelete_internal.log_changes('deleted_at', $colnames)",
	"AFTER UPDATE ON fz_plain REFERENCING NEW TABLE AS r FOR EACH STATEMENT EXECUTE FUNCTION softdelete_internal.log_changes('deleted_at', 'nope', $colnames)",
	"AFTER UPDATE ON fz_plain REFERENCING NEW TABLE AS r FOR EACH STATEMENT EXECUTE FUNCTION softdelete_internal.log_changes('deleted_at')",
	"AFTER UPDATE ON fz_plain FOR EACH STATEMENT EXECUTE FUNCTION softdelete_internal.log_changes('deleted_at', $colnames)",
	"AFTER UPDATE ON fz_plain FOR EACH ROW EXECUTE FUNCTION softdelete_internal.log_changes('deleted_at', $colnames)",
	"BEFORE UPDATE ON fz_plain FOR EACH ROW EXECUTE FUNCTION softdelete_internal.log_changes('deleted_at', $colnames)",
	"AFTER DELETE ON fz_plain REFERENCING OLD TABLE AS r FOR EACH STATEMENT EXECUTE FUNCTION softdelete_internal.log_changes('nope', 'id', $colnames)",
	"AFTER DELETE OR UPDATE ON fz_plain FOR EACH STATEMENT EXECUTE FUNCTION softdelete_internal.log_changes('nope', 'id')",
);
my @shape_items;
for my $shape (@shapes)
{
	push @shape_items,
	  [ "CREATE TRIGGER fz_shape $shape", 'UPDATE fz_plain SET deleted_at = now(), c1 = c1 + 1 WHERE id <= 3' ],
	  [ "CREATE TRIGGER fz_shape $shape", 'DELETE FROM fz_plain WHERE id <= 3' ];
}
my @shape_results = marked_statements($node, user => $superuser, rollback => 1, items => \@shape_items);
is(scalar(@shape_results), scalar(@shape_items), 'every statement under a misplaced log trigger ran to its end');
note(join("\n", map { "@{ $shape_results[$_] // [] } <- $shape_items[$_][0]" } 0 .. $#shape_items));

# --- Statement shapes, as the application -----------------------------------

# NULL in every other call: a deleted_at that soft-deletes half the rows and
# would restore the other half.
$node->safe_psql('postgres', q{
	CREATE SEQUENCE fz_flip;
	CREATE FUNCTION fz_flip() RETURNS timestamptz LANGUAGE sql VOLATILE
		AS $$ SELECT CASE WHEN nextval('fz_flip') % 2 = 0 THEN NULL ELSE now() END $$;
	GRANT USAGE ON SEQUENCE fz_flip TO fz_app;
	GRANT EXECUTE ON FUNCTION fz_flip() TO fz_app;
});

# Row counts, then the deleted rows, as the superuser (who sees every row).
my $census = q{
	SELECT (SELECT count(*) FROM fz_items), (SELECT count(*) FROM fz_members),
	       (SELECT string_agg(id::text, ',' ORDER BY id) FROM fz_items WHERE deleted_at IS NOT NULL),
	       (SELECT string_agg(org || ':' || id, ',' ORDER BY org, id) FROM fz_members WHERE deleted_at IS NOT NULL)};
my @before = split /\|/, $node->safe_psql('postgres', $census);

# Each shape, with the rows it deletes when it works.
my @app_shapes = (
	[ q{UPDATE fz_items SET (deleted_at, delete_reason) = (SELECT now(), 'x') WHERE id = 1}, [1] ],
	[ q{UPDATE fz_items SET (deleted_at, deleted_by) = (SELECT NULL::timestamptz, NULL) WHERE id = 2}, [] ],
	[ q{UPDATE fz_items SET (deleted_at, deleted_by) = (SELECT NULL::timestamptz, NULL) WHERE id = 30}, [] ],
	[ q{UPDATE fz_items SET deleted_at = fz_flip() WHERE id BETWEEN 5 AND 12 OR id BETWEEN 30 AND 33}, [] ],
	[ q{UPDATE fz_items SET deleted_at = fz_flip(), note = 'flipped' WHERE id BETWEEN 13 AND 16 OR id = 31}, [] ],
	[ q{WITH d AS (DELETE FROM fz_items WHERE id = 3 RETURNING id) UPDATE fz_items SET email = email WHERE id = 4}, [3] ],
	[ q{WITH d AS (DELETE FROM fz_items WHERE id = 17 RETURNING id) UPDATE fz_items SET deleted_at = NULL WHERE id IN (SELECT id FROM d)}, [] ],
	[ q{WITH r AS (UPDATE fz_items SET deleted_at = NULL WHERE id IN (30, 32) RETURNING id) DELETE FROM fz_items WHERE id = 18}, [18] ],
	[ q{WITH d AS (DELETE FROM fz_items WHERE id = 19 RETURNING *) INSERT INTO fz_items (id, email) SELECT id + 1000, email FROM d}, [19] ],
	[ q{MERGE INTO fz_items t USING (SELECT g AS id FROM generate_series(20, 22) g) v ON t.id = v.id WHEN MATCHED THEN DELETE}, [20, 21, 22] ],
	[ q{MERGE INTO fz_items t USING (SELECT g AS id FROM generate_series(23, 33) g) v ON t.id = v.id WHEN MATCHED THEN UPDATE SET deleted_at = NULL}, [] ],
	[ q{MERGE INTO fz_items t USING (VALUES (24, 'x'), (30, 'y')) v(id, e) ON t.id = v.id WHEN MATCHED AND t.id % 2 = 0 THEN DELETE WHEN MATCHED THEN UPDATE SET deleted_at = NULL WHEN NOT MATCHED THEN INSERT (id, email) VALUES (v.id + 2000, v.e)}, [24] ],
	[ q{MERGE INTO fz_members t USING (VALUES (1, 10), (2, 11), (2, 2)) v(org, id) ON (t.org, t.id) = (v.org, v.id) WHEN MATCHED THEN UPDATE SET deleted_at = NULL}, [] ],
	[ q{MERGE INTO fz_members t USING (VALUES (1, 1), (1, 4)) v(org, id) ON (t.org, t.id) = (v.org, v.id) WHEN MATCHED THEN DELETE}, [ '1:1', '1:4' ] ],
	[ q{UPDATE fz_members SET (deleted_at, deleted_by, delete_reason) = (SELECT NULL::timestamptz, NULL, NULL) WHERE true}, [] ],
	[ q{UPDATE fz_members SET deleted_at = fz_flip() WHERE org = 2}, [] ],
	[ q{WITH d AS (DELETE FROM fz_members WHERE org = 0 AND id < 10 RETURNING org, id) UPDATE fz_members m SET name = m.name || '!' FROM d WHERE m.org = d.org AND m.id = d.id}, [ '0:3', '0:6', '0:9' ] ],
	[ q{DELETE FROM fz_view WHERE id = 25}, [25] ],
	[ q{UPDATE fz_view SET id = id WHERE id = 26}, [] ],
);
my @app_results = marked_statements($node, user => 'fz_app', items => [ map { $_->[0] } @app_shapes ]);
is(scalar(@app_results), scalar(@app_shapes), 'every statement shape ran to its end');
note(join("\n", map { "@{ $app_results[$_] // [] } <- $app_shapes[$_][0]" } 0 .. $#app_shapes));

my @after = split /\|/, $node->safe_psql('postgres', $census);
# The writable CTE and the MERGE may insert rows; none may go away.
ok($after[0] >= $before[0] && $after[1] >= $before[1],
	"no row disappeared physically (fz_items $before[0] -> $after[0], fz_members $before[1] -> $after[1])");
my %still_deleted = map { $_ => 1 } split(/,/, $after[2] // ''), split(/,/, $after[3] // '');
my @restored = grep { !$still_deleted{$_} } split(/,/, $before[2] // ''), split(/,/, $before[3] // '');
is("@restored", '', 'the application restored none of the deleted rows');
for my $i (0 .. $#app_shapes)
{
	my @ids = @{ $app_shapes[$i][1] };
	next unless @ids && $app_results[$i] && $app_results[$i][0] eq '00000';
	my @missing = grep { !$still_deleted{$_} } @ids;
	is("@missing", '', "the rows \"$app_shapes[$i][0]\" deleted are marked (@ids)");
}

ok(server_survived($node, $watch), 'the server never restarted and no backend died');

$node->stop;
done_testing();
