// softdelete_internal.note_row(): how the rows a rewritten statement soft-
// deletes or restores reach the log. The planner hook (statement_rewrite.cpp)
// adds it to the statement as a check of each written row (a WITH CHECK
// OPTION of the kind a view's CHECK OPTION makes), which PostgreSQL
// evaluates once for each row it has really written: after a concurrently
// updated row was re-checked and written, never for a row a join matched
// again, nor for one the re-check dropped. It is always true.
//
// A rewritten DELETE writes soft deletes only. A routed tombstone write is
// what its row's decision was (tombstone_decision.cpp), taken in the same
// row's projection just before. A statement that also inserts (an upsert, a
// MERGE with an INSERT action) checks its inserted rows too: there the
// decision is confirmed by the row version it was taken on, whose successor
// must be the row written.
//
// No row trigger is involved, so an UPDATE that writes no tombstone column
// queues, fetches and copies nothing. PG regime.
#include "authorization.hpp"
#include "cascade.hpp"
#include "event_log.hpp"
#include "executor_hooks.hpp"
#include "foreign_keys.hpp"
#include "operations.hpp"
#include "table_config.hpp"
#include "tombstone_decision.hpp"
#include "trigger_call.hpp"

extern "C" {
#include "access/heapam.h"
#include "catalog/pg_am.h"
#include "storage/bufmgr.h"
}

namespace softdelete
{

namespace
{

constexpr int first_key = 6;

RowKeys* row_notes(FunctionCallInfo fcinfo, Oid relid)
{
    auto* keys = static_cast<RowKeys*>(fcinfo->flinfo->fn_extra);
    if (keys != nullptr)
        return keys;
    TableConfig cfg;
    if (!table_config(relid, &cfg))
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("relation %s is not enabled for soft delete", relation_display_name(relid)),
                 errhint("Call softdelete.enable() on it, or re-plan the statement.")));
    int nkeys = PG_NARGS() - first_key;
    if (nkeys != cfg.nkeys)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("softdelete_internal.note_row() got %d key values for %d key "
                               "columns",
                               nkeys, cfg.nkeys)));
    // The values' own types: the statement's, which a partition shares.
    Oid types[INDEX_MAX_KEYS];
    for (int k = 0; k < nkeys; k++)
        types[k] = get_fn_expr_argtype(fcinfo->flinfo, first_key + k);
    keys = row_keys(fcinfo->flinfo, cfg, types);
    // Asked once per statement: a note may be there only to count rows a
    // trigger kept live (statement_rewrite.cpp), with nothing to record.
    keys->recorded = cfg.log_events || cfg.notify || followed_by_cascade(cfg.root);
    return keys;
}

// Is written the successor of old_row, in relation written_in? Read from the
// old version's forward link, which the UPDATE that wrote the row set.
bool written_from(Oid written_in, ItemPointer old_row, ItemPointer written)
{
    if (!ItemPointerIsValid(old_row))
        return false;
    // The writing statement holds its lock already; a call by hand may name
    // any OID and gets an error, not a relation opened without a lock.
    Relation rel = try_relation_open(written_in, AccessShareLock);
    if (rel == nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("relation with OID %u does not exist", written_in)));
    bool same = true; // another table access method: nothing to read it from
    if (rel->rd_rel->relam == HEAP_TABLE_AM_OID) {
        HeapTupleData tuple;
        tuple.t_self = *old_row;
        Buffer buffer = InvalidBuffer;
        same = heap_fetch(rel, SnapshotAny, &tuple, &buffer, false) &&
               ItemPointerEquals(&tuple.t_data->t_ctid, written);
        if (BufferIsValid(buffer))
            ReleaseBuffer(buffer);
    }
    relation_close(rel, AccessShareLock);
    return same;
}

// A row written through an inheritance parent is noted under the parent
// (its events are the parent's), and the cascade follows the foreign keys
// that reference the parent. Those that reference the child the row is in
// (a table enabled on its own) would not be followed: its children would
// stay live under a deleted row, or deleted under a restored one. Refused
// instead, before anything is logged: the statement fails and changes
// nothing.
void refuse_inherited_cascade(const TableConfig& noted, Oid written_in, Action action)
{
    if (written_in == noted.relid || (action != Action::soft_delete && action != Action::restore))
        return;
    // A soft delete follows the keys that reference the child; a restore
    // those too, and checks that the parents of the child's own keys are
    // live.
    TableConfig own;
    bool deleting = action == Action::soft_delete;
    if (!table_config(written_in, &own) || own.root == noted.root ||
        !(deleting ? referenced_by_foreign_key(own.root) : followed_by_cascade(own.root)))
        return;
    const char* child = relation_display_name(own.root);
    ereport(ERROR,
            (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
             errmsg("cannot %s rows of %s through its inheritance parent %s",
                    deleting ? "soft-delete" : "restore", child, relation_display_name(noted.root)),
             deleting ? errdetail("Foreign keys reference %s, and softdelete follows them from "
                                  "rows deleted in %s itself.",
                                  child, child)
                      : errdetail("Foreign keys link %s to other tables, and softdelete follows "
                                  "and checks them from rows restored in %s itself.",
                                  child, child),
             errhint("%s the rows in %s directly.", deleting ? "Delete" : "Restore", child)));
}

} // namespace

} // namespace softdelete

extern "C" {

// (tbl, kind, verify, is_deleted, written, written_in, keys...): kind 0 for a
// rewritten DELETE, 1 for a routed tombstone write, 2 for one in a MERGE
// whose only UPDATE actions are its rewritten DELETE actions, 3 for a
// rewritten DELETE that locks its rows before writing them, 4 for a routed
// tombstone write that locks the rows it soft-deletes before writing them.
PG_FUNCTION_INFO_V1(softdelete_note_row);
Datum softdelete_note_row(PG_FUNCTION_ARGS)
{
    softdelete::require_rewritten_call(fcinfo, softdelete::first_key, -1,
                                       "softdelete_internal.note_row()");
    Oid relid = PG_GETARG_OID(0);
    int kind = PG_GETARG_INT32(1);
    bool is_deleted = PG_GETARG_BOOL(3);
    // Taken for each row of a statement that locks its rows first.
    bool missed_lock = (kind == 3 || kind == 4) && softdelete::take_missed_pre_lock();
    softdelete::RowKeys* keys = softdelete::row_notes(fcinfo, relid);
    softdelete::Action action = softdelete::Action::soft_delete;
    int64 old_op = 0;
    if (kind == 1 || kind == 2 || kind == 4) {
        ItemPointerData old_row;
        if (!softdelete::take_decision(relid, &action, &old_row, &old_op))
            PG_RETURN_BOOL(true);
        auto* written = reinterpret_cast<ItemPointer>(PG_GETARG_POINTER(4));
        if (PG_GETARG_BOOL(2) && !softdelete::written_from(PG_GETARG_OID(5), &old_row, written))
            PG_RETURN_BOOL(true);
    } else if (kind != 0 && kind != 3) {
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("no kind of row note %d", kind)));
    }
    // What the row holds now decides: a BEFORE trigger may have changed it.
    bool wrote = action == softdelete::Action::soft_delete ? is_deleted
                 : action == softdelete::Action::restore   ? !is_deleted
                                                           : false;
    if (!wrote) {
        // A DELETE's row (kind 0) or a MERGE's rewritten DELETE action's
        // (kind 2): not deleted, not counted.
        if (kind == 0 || kind == 2 || kind == 3)
            softdelete::count_kept_live_row(relid);
        PG_RETURN_BOOL(true);
    }
    int checked = action == softdelete::Action::soft_delete ? 0 : 1;
    if (keys->written_in_checked[checked] != PG_GETARG_OID(5)) {
        softdelete::refuse_inherited_cascade(keys->cfg, PG_GETARG_OID(5), action);
        keys->written_in_checked[checked] = PG_GETARG_OID(5);
    }
    if (!keys->recorded)
        PG_RETURN_BOOL(true);
    for (int k = 0; k < keys->cfg.nkeys; k++) {
        keys->nulls[k] = PG_ARGISNULL(softdelete::first_key + k);
        keys->values[k] = keys->nulls[k] ? (Datum)0 : PG_GETARG_DATUM(softdelete::first_key + k);
    }
    // Kind 3: a rewritten DELETE that locked its rows before writing them;
    // kind 4: a routed write that locked the rows it soft-deletes.
    softdelete::noting_rows_locked(
        !missed_lock && (kind == 3 || (kind == 4 && action == softdelete::Action::soft_delete)));
    softdelete::note_row_keys(keys, action, old_op);
    softdelete::noting_rows_locked(false);
    PG_RETURN_BOOL(true);
}
}
