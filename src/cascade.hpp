// Cascade: children follow their parent's soft deletes and restores
// (see cascade.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// PG regime. Follows every foreign key from the rows soft-deleted or
// restored so far, until nothing is left to follow. Called when a statement
// finishes, at any level; statements it runs itself add their rows to the
// work, which the outermost call goes on with.
void run_cascades();

// Must the rows a statement soft-deletes or restores in root be noted, for
// the cascade to follow them? Decided when the statement is planned: adding
// or dropping a foreign key invalidates plans on the referenced table.
bool followed_by_cascade(Oid root);

} // namespace softdelete
