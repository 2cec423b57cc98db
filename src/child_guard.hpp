// The child guard (child_guard.cpp): no live child row under a soft-deleted
// parent.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// The outermost statement ended: the guard's index scans, kept open from
// one row to the next, are closed.
void end_child_guard_statement();

} // namespace softdelete
