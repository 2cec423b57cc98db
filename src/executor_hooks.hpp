// Executor hooks: the command tag and row count a client reads, where a
// statement ends, and which query's AFTER triggers are firing.
#pragma once

#include "pg.hpp"

namespace softdelete
{

void install_executor_hooks();

// Rows the backstop trigger soft-deleted in the running query; they count as
// deleted although the executor skipped them.
void count_backstop_row();
// A row a rewritten DELETE (or a MERGE's rewritten DELETE action) on relid
// wrote that a BEFORE UPDATE trigger kept live: it does not count as
// deleted, where relid is the table the running query's count is for.
void count_kept_live_row(Oid relid);

// True when a BEFORE DELETE row trigger fires because an UPDATE (or a MERGE
// without DELETE actions) moves the row to another partition.
bool moving_row_between_partitions();
// The same for an AFTER DELETE row trigger, given the finishing query.
bool moving_rows_between_partitions(const QueryDesc* query);

// The ModifyTable nodes of a statement: its plan's top, and its writable
// CTEs' (the tops of its subplans).
List* modify_table_nodes(const PlannedStmt* stmt);

// How many ExecutorRun calls are running, one inside the other.
int executor_depth();

// The query whose ExecutorFinish is firing AFTER triggers, or nullptr.
QueryDesc* finishing_query();
// The innermost query in ExecutorRun (whose BEFORE triggers fire), or
// nullptr.
QueryDesc* running_query();

// Whether the portal running stmt at the outermost level runs another query
// of the same statement after it: rules rewrite one statement into several
// (a view's DO INSTEAD rule with two DELETEs, a NOTIFY among a rule's
// actions), one operation.
bool statement_goes_on(const PlannedStmt* stmt);

} // namespace softdelete
