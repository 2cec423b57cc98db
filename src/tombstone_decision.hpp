// The per-row decision of tombstone writes (see tombstone_decision.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// Forgets the decision of executor level depth: it belongs to the rows of a
// statement that has finished running.
void forget_tombstone_decision(int depth);

} // namespace softdelete
