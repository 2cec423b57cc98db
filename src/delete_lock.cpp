// softdelete_internal.lock_for_delete(row, in): the lock a DELETE takes on
// each row it removes, taken by a rewritten DELETE before it writes the row.
//
// A soft delete is an UPDATE of columns that no foreign key reads, so
// PostgreSQL takes FOR NO KEY UPDATE, which does not wait for the FOR KEY
// SHARE that a child insert's foreign key check holds on the parent. The
// cascade has to see such a child, so it waits for it: it locks the rows it
// marked FOR UPDATE (cascade.cpp). Waiting after the row was written
// deadlocks with a transaction that inserted a child and then updates the
// same parent row (a counter cache, Rails' touch: true): that UPDATE waits
// for the soft delete's new version, the soft delete for the insert's
// transaction. A DELETE waits before it writes, holding nothing on the row,
// so the insert's UPDATE goes through. The planner hook
// (statement_rewrite.cpp) puts this call in the projection of a rewritten
// DELETE on a table that foreign keys of enabled tables reference, so that
// each row is locked FOR UPDATE before it is written, as a DELETE would.
//
// The lock is only taken: a row changed meanwhile is left to the UPDATE,
// which re-checks it (EvalPlanQual) and calls this again on its new version.
// The row's version then stays locked FOR UPDATE after the soft delete
// writes it, so that a later child insert waits for the deleting
// transaction as for a DELETE.
//
// Plain PostgreSQL code.
#include "table_config.hpp"
#include "trigger_call.hpp"

extern "C" {
#include "access/tableam.h"
#include "executor/tuptable.h"
#include "utils/snapmgr.h"
}

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_lock_for_delete);
Datum softdelete_lock_for_delete(PG_FUNCTION_ARGS)
{
    softdelete::require_rewritten_call(fcinfo, 2, 2, "softdelete_internal.lock_for_delete()");
    auto* row = reinterpret_cast<ItemPointer>(PG_GETARG_POINTER(0));
    Oid relid = PG_GETARG_OID(1);
    // Only the rows of an enabled table, which its DELETE reaches.
    softdelete::TableConfig cfg;
    if (get_rel_relkind(relid) != RELKIND_RELATION || !softdelete::table_config(relid, &cfg))
        ereport(ERROR, (errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
                        errmsg("softdelete_internal.lock_for_delete() is called by rewritten "
                               "statements only")));
    Relation rel = table_open(relid, RowExclusiveLock);
    TupleTableSlot* slot = table_slot_create(rel, nullptr);
    // The row must be one (a tid from anywhere else may point past the
    // relation's lines): fetching it checks.
    if (table_tuple_fetch_row_version(rel, row, SnapshotAny, slot)) {
        TM_FailureData failure;
        (void)table_tuple_lock(rel, row, GetActiveSnapshot(), slot, GetCurrentCommandId(false),
                               LockTupleExclusive, LockWaitBlock, 0, &failure);
    }
    ExecDropSingleTupleTableSlot(slot);
    table_close(rel, NoLock);
    PG_RETURN_BOOL(true);
}
}
