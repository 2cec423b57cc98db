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
// setting can).
bool purge_in_progress();

// Whether a DELETE on the enabled table of root is planned as a real one
// because a purge batch runs: where softdelete.hard_delete is on (the batch
// sets it for its statements, as each table's owner) and the role running
// it is an admin of the table (a foreign key action runs as the referencing
// table's owner). It is then logged as purge. Whether the query that runs
// the plan is covered by the batch's authority is checked as it starts
// (purge_authority.cpp).
bool purge_removes_rows_of(Oid root);

// purge_authority.cpp. PG regime. The batch begins and ends its authority;
// each query is checked as it starts (before ExecutorStart): a real DELETE
// of an enabled table outside the batch's own statements and their foreign
// key actions, without softdelete.hard_delete in effect, is refused (42501).
void begin_purge_authority();
void end_purge_authority();
void check_purge_authority(QueryDesc* query, int eflags);
// Whether query is one of the batch's own statements or their foreign key
// actions (false outside a purge).
bool purge_authorizes(const QueryDesc* query);

} // namespace softdelete
