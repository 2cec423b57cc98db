// The client reads the true count of a DELETE: a DELETE that runs as an
// UPDATE is still a DELETE to the server (the planner hook keeps the
// statement's command type), so its tag is DELETE, with es_processed as its
// count, corrected here for rows the executor could not count.
//
// A purge batch's own DELETE runs without the extension's row triggers on
// its table (purge_statements.cpp), which is settled when it starts. A
// read-only transaction (a standby's, BEGIN READ ONLY) refuses a DELETE by
// its own name, before PostgreSQL would refuse the UPDATE it became.
//
// Where a statement ends, for operations.cpp: a data-modifying statement
// after its ExecutorFinish (which fires its AFTER triggers, the log
// triggers among them); a SELECT, whose functions may change rows, after
// each ExecutorRun (a cursor's FETCH is one); only at the outermost level,
// and after the last query of the client's statement: rules rewrite one
// statement into several queries (a view's DO INSTEAD rule with two
// DELETEs, a table's DO ALSO), which the portal runs one after the other,
// each at the outermost level, and which are one operation.
#include "executor_hooks.hpp"
#include "cascade.hpp"
#include "cascade_from_plain_parent.hpp"
#include "child_guard.hpp"
#include "operations.hpp"
#include "purge_statements.hpp"
#include "scanned_keys.hpp"
#include "preloading.hpp"
#include "statement_rewrite.hpp"
#include "statement_values.hpp"
#include "tombstone_decision.hpp"
#include "visibility.hpp"

extern "C" {
#include "tcop/utility.h"
#include "tcop/pquery.h"
}

namespace softdelete
{

namespace
{

ExecutorStart_hook_type previous_start = nullptr;
ExecutorRun_hook_type previous_run = nullptr;
ExecutorFinish_hook_type previous_finish = nullptr;

// What the running query's count is off by: rows the backstop trigger
// soft-deleted (+1 each, PostgreSQL did not count them) and rows a
// rewritten DELETE wrote that a BEFORE UPDATE trigger kept live (-1 each,
// PostgreSQL counted an update that deleted nothing).
int64 count_correction = 0;
// The table named by the running query's own DELETE or MERGE, whose count
// is the query's; a DELETE in one of its WITH queries counts for nothing.
Oid counted_table = InvalidOid;

QueryDesc* running = nullptr;
int run_depth = 0;
QueryDesc* finishing = nullptr;

Oid table_counted_by(const QueryDesc* query)
{
    const PlannedStmt* stmt = query->plannedstmt;
    if (stmt->planTree == nullptr || !IsA(stmt->planTree, ModifyTable))
        return InvalidOid;
    const auto* modify = reinterpret_cast<const ModifyTable*>(stmt->planTree);
    if (!is_merge(modify->operation) && !rewritten_delete_statement(stmt))
        return InvalidOid;
    return rt_fetch(modify->nominalRelation, stmt->rtable)->relid;
}

void start_hook(QueryDesc* query, int eflags)
{
    // The same test and the same errors as PostgreSQL's ExecCheckXactReadOnly,
    // made first. Nothing else runs here: EXPLAIN without ANALYZE still works.
    if ((XactReadOnly || IsInParallelMode()) && (eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0 &&
        rewritten_delete_statement(query->plannedstmt)) {
        PreventCommandIfReadOnly("DELETE");
        PreventCommandIfParallelMode("DELETE");
    }
    if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0) {
        refuse_stale_delete_plan(query->plannedstmt);
        refuse_dump_without_deleted_rows(query->plannedstmt);
    }
    refuse_cascade_from_plain_parent(query, eflags);
    if (previous_start != nullptr)
        previous_start(query, eflags);
    else
        standard_ExecutorStart(query, eflags);
    set_statement_values(query, eflags);
    // A purge's own DELETE, with its triggers in place now.
    leave_out_own_triggers(query);
    tap_scanned_rows(query);
}

void run_hook(QueryDesc* query, ScanDirection direction, uint64 count, bool execute_once)
{
    int64 outer_correction = count_correction;
    Oid outer_counted = counted_table;
    QueryDesc* outer_running = running;
    count_correction = 0;
    counted_table = table_counted_by(query);
    running = query;
    run_depth++;
    // Whatever is left at this level is from a statement that has finished.
    forget_tombstone_decision(run_depth);
    PG_TRY();
    {
        if (previous_run != nullptr)
            previous_run(query, direction, count, execute_once);
        else
            standard_ExecutorRun(query, direction, count, execute_once);
    }
    PG_FINALLY();
    {
        int64 corrected = static_cast<int64>(query->estate->es_processed) + count_correction;
        query->estate->es_processed = corrected > 0 ? static_cast<uint64>(corrected) : 0;
        count_correction = outer_correction;
        counted_table = outer_counted;
        running = outer_running;
        run_depth--;
    }
    PG_END_TRY();
    if (run_depth == 0 && finishing == nullptr && query->operation == CMD_SELECT &&
        !query->plannedstmt->hasModifyingCTE && !statement_goes_on(query->plannedstmt))
        end_of_statement();
}

void finish_hook(QueryDesc* query)
{
    QueryDesc* outer = finishing;
    finishing = query;
    PG_TRY();
    {
        if (previous_finish != nullptr)
            previous_finish(query);
        else
            standard_ExecutorFinish(query);
        // After the statement's AFTER triggers, as PostgreSQL's own foreign
        // key actions; still inside this statement, so the operation goes on.
        run_cascades();
    }
    PG_FINALLY();
    {
        finishing = outer;
    }
    PG_END_TRY();
    if (finishing == nullptr)
        end_child_guard_statement();
    if (run_depth == 0 && finishing == nullptr && !statement_goes_on(query->plannedstmt))
        end_of_statement();
}

} // namespace

void count_backstop_row()
{
    count_correction++;
}

void count_kept_live_row(Oid relid)
{
    if (relid == counted_table)
        count_correction--;
}

List* modify_table_nodes(const PlannedStmt* stmt)
{
    List* nodes = NIL;
    List* tops = lcons(stmt->planTree, list_copy(stmt->subplans));
    ListCell* lc;
    foreach (lc, tops) {
        if (lfirst(lc) != nullptr && IsA(lfirst(lc), ModifyTable))
            nodes = lappend(nodes, lfirst(lc));
    }
    return nodes;
}

// BEFORE row triggers fire inside the ExecutorRun of the statement that
// changes the row, AFTER row triggers inside its ExecutorFinish; a statement
// run from inside them (a function, SPI) has its own. So a DELETE row
// trigger that fires for a statement that updates rows, and deletes none,
// comes from an UPDATE moving a row to another partition (PostgreSQL moves
// it as a delete here and an insert there). A statement that also deletes
// (a writable CTE, a MERGE with a DELETE action) cannot be told apart from
// its deletes: those rows are treated as deleted, never as moved.
bool moving_rows_between_partitions(const QueryDesc* query)
{
    if (query == nullptr)
        return false;
    const PlannedStmt* stmt = query->plannedstmt;
    bool updates = false;
    ListCell* lc;
    foreach (lc, modify_table_nodes(stmt)) {
        const auto* modify = static_cast<const ModifyTable*>(lfirst(lc));
        if (modify->operation == CMD_DELETE)
            return false;
        if (modify->operation == CMD_UPDATE && !is_rewritten_delete(stmt, modify))
            updates = true;
#if PG_VERSION_NUM >= 150000
        if (modify->operation != CMD_MERGE)
            continue;
        ListCell* per_relation;
        foreach (per_relation, modify->mergeActionLists) {
            ListCell* la;
            foreach (la, static_cast<List*>(lfirst(per_relation))) {
                CmdType action = static_cast<MergeAction*>(lfirst(la))->commandType;
                if (action == CMD_DELETE)
                    return false;
                updates = updates || action == CMD_UPDATE;
            }
        }
#endif
    }
    return updates;
}

bool moving_row_between_partitions()
{
    return moving_rows_between_partitions(running);
}

int executor_depth()
{
    return run_depth;
}

QueryDesc* finishing_query()
{
    return finishing;
}

QueryDesc* running_query()
{
    return running;
}

// Only the portal's own list is trusted: the queries PL/pgSQL, a procedure
// or EXPLAIN ANALYZE run of one rewritten statement are not told apart here
// from those of the next statement (or of the same one, again, in a loop),
// so each of them ends an operation.
bool statement_goes_on(const PlannedStmt* stmt)
{
    if (ActivePortal == nullptr)
        return false;
    bool after = false;
    ListCell* lc;
    foreach (lc, ActivePortal->stmts) {
        const auto* listed = static_cast<const PlannedStmt*>(lfirst(lc));
        if (after && IsA(listed, PlannedStmt) && listed->commandType != CMD_UTILITY)
            return true;
        after = after || listed == stmt;
    }
    return false;
}

void install_executor_hooks()
{
    previous_start = ExecutorStart_hook;
    ExecutorStart_hook = start_hook;
    previous_run = ExecutorRun_hook;
    ExecutorRun_hook = run_hook;
    previous_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = finish_hook;
}

} // namespace softdelete
