// The per-row decision of tombstone writes (see tombstone_decision.cpp).
#pragma once

#include "operations.hpp"
#include "pg.hpp"

namespace softdelete
{

// Forgets the decision of executor level depth: it belongs to the rows of a
// statement that has finished running.
void forget_tombstone_decision(int depth);

// The decision taken on the row being written at this executor level, for
// a table (the one the statement named), once: what it was (soft_delete,
// restore, or truncate for neither), the row version it was taken on and
// the operation that had deleted the row (0: none). False when there is
// none, or it was taken already.
bool take_decision(Oid relid, Action* action, ItemPointerData* old_row, int64* old_op);

// Whether the decision the running projection took for its row of relid
// (not yet noted) is a soft delete. PG regime.
bool soft_delete_decided(Oid relid);

} // namespace softdelete
