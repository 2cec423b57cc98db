// A foreign key's ON DELETE CASCADE from a table that is not enabled into
// one that is (cascade_from_plain_parent.cpp). PG regime.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// Called as the executor starts query: refuses (23503) the referential
// action that would remove rows of an enabled table because the rows they
// reference, in a table that is not enabled, are being deleted.
void refuse_cascade_from_plain_parent(const QueryDesc* query, int eflags);

} // namespace softdelete
