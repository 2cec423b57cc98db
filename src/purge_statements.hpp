// The statements a purge batch runs on a table, as the table's owner
// (purge_statements.cpp). PG regime.
#pragma once

#include <vector>

#include "pg.hpp"
#include "purge_plan.hpp"
#include "table_config.hpp"

namespace softdelete
{

// Where a run's last batch of a table got to: its next batch's index scan
// starts at this deleted_at (as text; nullptr: at the start) instead of
// walking again over the index entries of rows its transaction removed.
struct Cursor {
    const char* from;
};

// Keys (JSON, one per line, oldest first) of at most limit rows of cfg's
// table deleted longer than retention ago, locked FOR UPDATE SKIP LOCKED,
// from cursor on and not among skip (a JSON array of keys). cursor->from
// becomes the oldest one's deleted_at.
char* candidate_rows(const TableConfig& cfg, Interval* retention, int64 limit, const char* skip,
                     Cursor* cursor);

// What became of a purge plan's steps.
enum class Removal {
    removed,  // all of them ran
    held,     // nothing removed: a row was held by someone else, never waited for
    kept,     // nothing removed: a trigger kept rows that had to go
    deferred, // nothing tried: no subtransaction left, and a trigger could keep rows
};
// The rows that remove_planned_rows() found kept, when it came back with
// Removal::kept: their table, and their keys one per line as plan_purge()
// writes them (keys nullptr: not known, as when a self-referencing table's
// foreign key check failed on them first). In the transaction's memory.
struct KeptRows {
    Oid relid;
    const char* keys;
};
KeptRows last_kept_rows();
// A purge plan's steps, each removing its rows of its table by key
// (deleted: soft-deleted rows, removed only while still deleted; live: live
// rows, each removed only while its columns hold the values of one of the
// objects in references), copying them to archives[i] first when it is
// valid, and noting them under the running operation; all or
// nothing. Past the subtransactions a transaction may keep, the steps run
// in the caller's (a held row is waited for, a kept one fails it), unless
// the transaction met kept rows before and a table's trigger or rule could
// keep rows: then nothing is tried (Removal::deferred).
Removal remove_planned_rows(const std::vector<PurgeStep>& steps, const std::vector<Oid>& archives);

// The whole batch in one statement, for a table that no foreign key
// references (so no row goes with another): at most limit rows deleted
// longer than retention ago, oldest first, from cursor on, skipping rows
// locked by others, removed (and archived first when archive is valid).
// Notes them; moves the cursor; returns the rows removed.
int64 remove_due_rows(const TableConfig& cfg, Interval* retention, int64 limit, Oid archive,
                      Cursor* cursor);

// A transaction has ended (remove_due_rows() counts its subtransactions).
void forget_subtransactions();

// Called when an executor starts: the statement remove_rows() or
// remove_due_rows() is running runs without the extension's own row
// triggers on its table (the DELETE backstop, which would let it through,
// and the log trigger, whose rows the statement notes itself from what it
// returns). The table's own triggers and foreign key actions fire as
// always. Only the first statement after one of those calls is concerned.
void leave_out_own_triggers(QueryDesc* query);

// PG regime, for the planner hook. Whether the planner is planning a purge
// batch's own removal (its text, the query that sets the command tag, in
// the planner call the statement's run makes, depth counting planner calls
// running, this one included), once: that plan removes rows for good, as its table's owner. The
// batch runs without softdelete.hard_delete, so that what its statement sets off (foreign key
// actions, triggers, functions, rules, code of other roles running as the owner) is what it would
// be outside a purge.
bool plans_own_purge_statement(const char* query_string, const Query* parse, int depth);
// The table it removes rows of (a rule may put another's DELETE in its
// place, which is not it).
Oid own_purge_table();
// The plan the planner made of it, marked so that the executor hooks
// recognise it (and no other query).
void planned_own_purge_statement(PlannedStmt* stmt);
bool is_own_purge_plan(const QueryDesc* query);

} // namespace softdelete
