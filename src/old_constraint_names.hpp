// Migrations written for the unique constraints enable() replaced.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// ALTER TABLE t DROP CONSTRAINT <name>, where <name> is a unique constraint
// that enable() turned into a live-only unique index of the same name:
// drops that index (and forgets it, so disable() does not bring it back).
// True when the statement was carried out this way.
bool drop_converted_constraint(Node* stmt);

} // namespace softdelete
