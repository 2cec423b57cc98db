// The catalog room: what enable() needs to know about a table, read from the
// system catalogs as data (syscache, relcache, index scans), never through
// SPI or from the text of a definition. catalog_plan.cpp turns these facts
// into the ordered plan that enable(), its dry run and the cascade share.
// Everything here is PG regime: call it through pg_guard from C++.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// relid as regclass prints it: qualified unless visible on the search_path,
// quoted where needed. The plan runs on enable()'s pinned search_path, so
// these are the names its statements and messages always used.
const char* relation_text(Oid relid);

// The type of relid's user column called name; InvalidOid when there is none
// (dropped and system columns do not count).
Oid column_type(Oid relid, const char* name);
// Why column name of relid cannot be a tombstone column, which a soft
// delete writes and a restore sets back to NULL: "a generated column", "an
// identity column", "NOT NULL", "a column with a default", or a type whose
// precision or length would not hold what is written. nullptr when it can
// be one, and for no such column.
const char* unfit_tombstone_column(Oid relid, const char* name);

// The names (char*) of relid's primary key columns, in key order; NIL
// without a primary key.
List* key_column_names(Oid relid);

// names (char*) as a name[].
ArrayType* name_array(List* names);

// The partitions of a partitioned table at every depth, as
// pg_partition_tree lists them (not relid itself); NIL for any other table.
List* partitions_of(Oid relid);

// A table relid inherits from (plain inheritance, not as a partition) that is
// not enabled for soft delete, or is enabled with a tombstone column other
// than column (named in *other, which stays null otherwise); InvalidOid when
// there is none.
Oid parent_unlike(Oid relid, const char* column, const char** other);

// The same for relid's inheritance children (not its partitions).
Oid child_unlike(Oid relid, const char* column, const char** other);

// The index enable() adds on relid's deleted rows for the purge path: one key
// column, column, and the predicate "column IS NOT NULL", found by what it is
// so that a renamed table or a restored dump still finds it. InvalidOid when
// there is none.
Oid deleted_rows_index(Oid relid, const char* column);

// The name for a new one, made from the table's name (never from an OID:
// names must survive a dump and restore), free in the table's schema and
// not among taken, the names a plan has chosen so far, to which it is added.
const char* deleted_rows_index_name(Oid relid, const char* column, List** taken);

// Is this unique index unique among live rows only already (its predicate
// requires column IS NULL)?
bool index_is_live_only(Relation index, const char* column);

// The unique constraints and unique indexes of relid except the primary key
// that are not live-only yet and can become so (Oids of the indexes, by
// name). Those a foreign key references, and deferrable constraints, are
// kept as they are, each with a WARNING saying why.
List* uniques_to_convert(Oid relid, const char* column);

// Refuses (55000) when rel has a policy or trigger with one of softdelete's
// names that softdelete did not make.
void refuse_foreign_enforcement(Oid rel);

// Whether rel (a table or one of its partitions) has all of softdelete's
// enforcement: row security forced, the visibility policy and the
// triggers. A restore makes them last, in its post-data section.
bool enforcement_in_place(Oid rel);
// The function trigger name on rel calls; InvalidOid when rel has no such
// trigger.
Oid trigger_function(Oid rel, const char* name);

// What install_enforcement(rel, root, ...) would install on rel (a table or
// one of its partitions), one text per object, as it reports them, after
// refuse_foreign_enforcement().
List* enforcement_to_install(Oid rel);

// relid, or the top of the partition tree it belongs to
// (catalog_foreign_keys.cpp).
Oid partition_root(Oid relid);

// A table enable() would enable with another (cascade), and the table it
// was found through.
struct CascadeChild {
    Oid child;
    Oid parent;
};

// The tables that reference table through foreign keys, at every depth, that
// are not enabled yet (CascadeChild*), in the order enable() enables them.
List* cascade_children(Oid table);

} // namespace softdelete
