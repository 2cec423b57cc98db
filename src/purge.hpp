// The purge: rows deleted longer than their table's retention ago leave for
// good, with the descendants that go with them, archived first where the
// table asks for it (purge.cpp, purge_plan.cpp, archive.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// A table's lifecycle options, from its row in softdelete.tables.
struct LifecycleConfig {
    Interval* retention; // nullptr: keep deleted rows forever
    bool archive;
    Interval* archive_retention; // nullptr: keep archived rows forever
};

// PG regime. false when relid is not an enabled table. The intervals are
// copies in the current memory context.
bool lifecycle_config(Oid relid, LifecycleConfig* out);

// PG regime. The enabled tables with a retention or an archive_retention,
// children before parents (purge_order.cpp), as a List of Oids. With
// skip_locked (the lifecycle worker), a table whose lock someone holds
// against readers (ACCESS EXCLUSIVE: a migration, any role's LOCK TABLE) is
// left out of this visit instead of waited for; the tables found are
// locked ACCESS SHARE until the transaction ends.
List* purge_tables(bool skip_locked = false);

// True while a purge batch runs. Only the extension's C code sets it (no
// setting can). It names what a hard delete removes (purge, not
// hard_delete); no plan depends on it.
bool purge_in_progress();

} // namespace softdelete
