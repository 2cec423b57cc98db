// softdelete_internal.lock_for_delete(row, in, target, deciding): the lock a
// DELETE takes on each row it removes, taken by a rewritten DELETE before
// it writes the row.
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
// Only a rewritten DELETE of target, which the executor checked the DELETE
// privilege of, reaches it (or, deciding, an UPDATE of target that
// soft-deletes the row: the tombstone decision its projection just took
// says so). Called any other way (a member of softdelete_backup may name
// softdelete_internal's functions), or on a row that is not of target or of
// a table under it, it refuses. A row past the end of its table is not
// one: nothing is read or locked.
//
// Plain PostgreSQL code.
#include <initializer_list>

#include "executor_hooks.hpp"
#include "operations.hpp"
#include "statement_rewrite.hpp"
#include "table_config.hpp"
#include "tombstone_decision.hpp"
#include "trigger_call.hpp"

extern "C" {
#include "access/tableam.h"
#include "catalog/pg_inherits.h"
#include "executor/tuptable.h"
#include "parser/parsetree.h"
#include "storage/bufmgr.h"
#include "utils/snapmgr.h"
}

namespace
{

// What one call site (one execution of one statement) has checked.
struct LockSite {
    Oid target;
    bool deciding;
    List* tables; // target and the tables under it that are enabled, checked
    Oid relid;    // the last row's table, and its length when last read
    BlockNumber blocks;
};

[[noreturn]] void refuse()
{
    ereport(ERROR,
            (errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
             errmsg("softdelete_internal.lock_for_delete() is called by rewritten DELETEs only")));
    pg_unreachable();
}

// Whether the query running is a DELETE of target rewritten by the planner
// hook (at its top or in a WITH clause), or, deciding, an UPDATE of it.
// A WITH query's DELETE that nothing reads runs when its statement
// finishes, not while it runs.
bool running_delete_of(Oid target, bool deciding)
{
    for (QueryDesc* query : {softdelete::running_query(), softdelete::finishing_query()}) {
        if (query == nullptr)
            continue;
        const PlannedStmt* stmt = query->plannedstmt;
        ListCell* lc;
        foreach (lc, softdelete::modify_table_nodes(stmt)) {
            const auto* modify = static_cast<const ModifyTable*>(lfirst(lc));
            bool writes = deciding ? modify->operation == CMD_UPDATE
                                   : softdelete::is_rewritten_delete(stmt, modify);
            if (writes && rt_fetch(modify->nominalRelation, stmt->rtable)->relid == target)
                return true;
        }
    }
    return false;
}

LockSite* site_of(FunctionCallInfo fcinfo, Oid target, bool deciding)
{
    auto* site = static_cast<LockSite*>(fcinfo->flinfo->fn_extra);
    if (site != nullptr && site->target == target && site->deciding == deciding)
        return site;
    if (!running_delete_of(target, deciding))
        refuse();
    MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
    site = static_cast<LockSite*>(palloc0(sizeof(LockSite)));
    site->target = target;
    site->deciding = deciding;
    site->tables = find_all_inheritors(target, NoLock, nullptr);
    MemoryContextSwitchTo(old);
    fcinfo->flinfo->fn_extra = site;
    return site;
}

} // namespace

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_lock_for_delete);
Datum softdelete_lock_for_delete(PG_FUNCTION_ARGS)
{
    softdelete::require_rewritten_call(fcinfo, 4, 4, "softdelete_internal.lock_for_delete()");
    auto* row = reinterpret_cast<ItemPointer>(PG_GETARG_POINTER(0));
    Oid relid = PG_GETARG_OID(1);
    bool deciding = PG_GETARG_BOOL(3);
    LockSite* site = site_of(fcinfo, PG_GETARG_OID(2), deciding);
    // An UPDATE locks the rows it soft-deletes, not those it restores or
    // leaves as they were.
    if (deciding && !softdelete::soft_delete_decided(site->target))
        PG_RETURN_BOOL(true);
    // A row re-checked after a concurrent update for a BEFORE UPDATE
    // trigger (EvalPlanQual) comes with tableoid 0: PostgreSQL 15 does not
    // give the re-check's copy of the row its table. A table with nothing
    // under it is the target; under a parent the row's table cannot be told,
    // and the row's note then says it was not locked first, so that the
    // cascade locks it after writing it.
    if (!OidIsValid(relid)) {
        if (list_length(site->tables) != 1) {
            softdelete::missed_pre_lock();
            PG_RETURN_BOOL(true);
        }
        relid = linitial_oid(site->tables);
    }
    if (relid != site->relid) {
        softdelete::TableConfig cfg;
        if (!list_member_oid(site->tables, relid) || get_rel_relkind(relid) != RELKIND_RELATION ||
            !softdelete::table_config(relid, &cfg))
            refuse();
        site->relid = relid;
        site->blocks = 0;
    }
    Relation rel = table_open(relid, RowExclusiveLock);
    // The table grows as the statement writes new versions, which a re-check
    // of a concurrently updated row may lock: its length is read again for
    // a block past the last length read.
    BlockNumber block = ItemPointerGetBlockNumberNoCheck(row);
    if (block >= site->blocks)
        site->blocks = RelationGetNumberOfBlocks(rel);
    if (block < site->blocks) {
        TupleTableSlot* slot = table_slot_create(rel, nullptr);
        // A line that holds no row (a tid from anywhere else) is not locked:
        // fetching it checks.
        if (table_tuple_fetch_row_version(rel, row, SnapshotAny, slot)) {
            TM_FailureData failure;
            (void)table_tuple_lock(rel, row, GetActiveSnapshot(), slot, GetCurrentCommandId(false),
                                   LockTupleExclusive, LockWaitBlock, 0, &failure);
        }
        ExecDropSingleTupleTableSlot(slot);
    }
    table_close(rel, NoLock);
    PG_RETURN_BOOL(true);
}
}
