// Operations: every statement that soft-deletes, restores or hard-deletes
// rows is one operation with an id, and its rows are recorded exactly (see
// operations.cpp). PG regime throughout.
#pragma once

#include "pg.hpp"

namespace softdelete
{

enum class Action { soft_delete, restore, hard_delete, truncate, purge, archive, erase };

const char* action_name(Action action);

// The id of the running operation, taken from softdelete_internal.operation_ids
// the first time a statement needs one.
int64 current_operation();

// The actor (never null) and reason (null: none) of the running operation,
// read from softdelete.actor (or the role) and softdelete.reason when it
// took its id: what its rows and its events record.
struct OperationWho {
    char* actor;
    char* reason;
};
const OperationWho& operation_who();

// Records rows of root (an enabled table) that the running operation
// changed. key_json is one row's key as JSON, or nullptr (TRUNCATE: no rows
// are known, and the row count stays unknown). A restored row also gives
// the operation that had deleted it (0: none), which its cascade follows.
void note_rows(Oid root, Action action, const char* key_json, int64 deleted_by_op = 0);

// One row noted as note_rows() notes it, its key to be appended (as JSON)
// to the list returned, where a separator is written already: a bulk
// statement's keys go there without a copy each.
StringInfo note_one_row(Oid root, Action action, int64 deleted_by_op);

// Rows one operation soft-deleted or restored in one table, not yet
// followed by the cascade (cascade.cpp), as JSON arrays: keys, and for a
// restore the operations that had deleted them, in the same order.
struct NotedRows {
    int64 op;
    Oid root;
    Action action;
    const char* keys;
    const char* deleted_by_ops; // restores only; nullptr otherwise
    bool locked;                // all were locked FOR UPDATE before they were written
};

// PG regime. Whether the rows noted from now on were locked FOR UPDATE
// before they were written (a rewritten DELETE's, delete_lock.cpp); false
// for all others. Set around one note.
void noting_rows_locked(bool locked);
// A rewritten statement could not lock the row it is about to write
// (delete_lock.cpp), and whether the row being noted is such a row: its
// note then says it was not locked first, so that the cascade locks it.
void missed_pre_lock();
bool take_missed_pre_lock();

// PG regime. Hands out the next batch of rows of a table for which
// wanted(root) is true, once, allocated in the current memory context;
// false when there is none.
bool take_noted_rows(bool (*wanted)(Oid root), NotedRows* out);

// Records rows of root that the running operation changed, many at once:
// keys is their keys as comma-separated JSON values.
void note_row_list(Oid root, Action action, const char* keys, int64 rows);
// The same for rows whose keys are integers (a one-column integer key).
void note_row_ints(Oid root, Action action, const int64* keys, int64 rows);

// An operation of the extension's own, within whatever statement is running:
// a purge batch. Its id is new; what it notes is written when it ends, not
// when an inner statement ends; the statement's own operation goes on after.
struct OwnOperation {
    int64 op;
    int64 outer;
    OperationWho outer_who;
};
OwnOperation begin_own_operation();
// The rows it noted so far with action, in every table.
int64 noted_rows(const OwnOperation& own, Action action);
// PG regime. Writes its events (and NOTIFYs) now.
void end_own_operation(const OwnOperation& own);
// After an error: only puts the outer operation back (never calls
// PostgreSQL); the notes go with the (sub)transaction's rollback.
void abandon_own_operation(const OwnOperation& own) noexcept;

// A statement the client (or a procedure, or a DO block) issued has ended:
// what it did is written to softdelete.events (and sent to listeners), and
// the next statement is a new operation.
void end_of_statement();

void register_operation_callbacks();

} // namespace softdelete
