// What softdelete.tables says about a relation, cached per backend.
#pragma once

#include "pg.hpp"

namespace softdelete
{

struct TableConfig {
    Oid relid;             // the relation asked about (a table or a partition)
    Oid root;              // the enabled table whose row in softdelete.tables applies
    AttrNumber deleted_at; // attribute numbers in relid
    AttrNumber deleted_by;
    AttrNumber delete_reason;
    AttrNumber delete_op; // the operation that soft-deleted the row
    Oid deleted_at_type;  // timestamptz, or timestamp when an ORM column was adopted
    bool log_events;
    bool notify;  // NOTIFY softdelete for each operation
    bool cascade; // children that reference it follow its soft deletes and restores
    int nkeys;    // the primary key's columns, as attribute numbers in relid
    AttrNumber keys[INDEX_MAX_KEYS];
};

// Fills *out with the configuration governing relid; false when soft delete
// is not enabled on it (nor on an ancestor, for a partition). A copy, because
// an invalidation may empty the cache at any catalog access.
bool table_config(Oid relid, TableConfig* out);

// The configuration of a relation that carries softdelete's triggers. When
// it is missing (its row in softdelete.tables deleted, or a dump of the table
// restored without it), the trigger refuses: nothing is removed or written
// because something was missing.
void require_table_config(Relation rel, TableConfig* out);

// The configuration of relid, which must be an enabled table itself (not a
// partition of one), with its deletion record; else 55000. For the SQL
// entry points that take a table (any OID can reach them).
void require_enabled_table(Oid relid, TableConfig* out);

// Drops every cached entry (relcache callback, and on extension changes).
void forget_table_configs();

// The table whose owner decides for relid: its enabled root, else itself.
Oid table_config_root(Oid relid);

void register_config_invalidation();

// The tables that have a row in softdelete.tables (read with a plain scan:
// a handful of rows).
List* enabled_tables();

// PG regime. A copy of relid's row of softdelete.tables, with a copy of its
// descriptor in *desc; null when it has none.
HeapTuple config_row(Oid relid, TupleDesc* desc);

// PG regime. The value of the column called name in a row of
// softdelete.tables; *isnull when it is null or the column is missing.
Datum config_value(HeapTuple tuple, TupleDesc desc, const char* name, bool* isnull);

// True when the extension's schema exists in this database.
bool extension_present();

} // namespace softdelete
