// Operations: every statement that soft-deletes, restores or hard-deletes
// rows is one operation with an id, and its rows are recorded exactly (see
// operations.cpp). PG regime throughout.
#pragma once

#include "pg.hpp"

namespace softdelete
{

enum class Action { soft_delete, restore, hard_delete, truncate };

const char* action_name(Action action);

// The id of the running operation, taken from softdelete_internal.operation_ids
// the first time a statement needs one.
int64 current_operation();

// Records rows of root (an enabled table) that the running operation
// changed. key_json is one row's key as JSON, or nullptr (TRUNCATE: no rows
// are known, and the row count stays unknown).
void note_rows(Oid root, Action action, const char* key_json);

// A statement the client (or a procedure, or a DO block) issued has ended:
// what it did is written to softdelete.events (and sent to listeners), and
// the next statement is a new operation.
void end_of_statement();

void register_operation_callbacks();

} // namespace softdelete
