// The foreign keys that reference a table, read from pg_constraint and cached
// per backend until a relcache invalidation (adding or dropping a foreign key
// invalidates the referenced table's relcache entry).
#pragma once

#include "pg.hpp"

namespace softdelete
{

struct ForeignKey {
    Oid constraint;
    NameData name;
    Oid child;      // the referencing table
    Oid parent;     // the referenced table
    char on_delete; // pg_constraint.confdeltype: a, r, c, n or d
    int nkeys;
    AttrNumber child_columns[INDEX_MAX_KEYS];
    AttrNumber parent_columns[INDEX_MAX_KEYS];
    Oid pf_eq[INDEX_MAX_KEYS]; // conpfeqop: parent column = child column
};

// PG regime. The foreign keys that reference parent (or, for a partitioned
// table, one of its partitions), copied into the current memory context (a
// List of ForeignKey*). Only top-level constraints: the copies PostgreSQL
// makes for partitions follow their parent constraint.
List* foreign_keys_to(Oid parent);

// PG regime. The foreign keys of child (that it holds), likewise.
List* foreign_keys_of(Oid child);

// PG regime. Does any foreign key reference parent?
bool referenced_by_foreign_key(Oid parent);

// PG regime. Does a foreign key reference relid, or does relid hold one?
bool in_any_foreign_key(Oid relid);

void forget_foreign_keys();

} // namespace softdelete
