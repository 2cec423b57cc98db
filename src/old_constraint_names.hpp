// Migrations written for the unique constraints enable() replaced.
#pragma once

#include "pg.hpp"
#include "table_config.hpp"

namespace softdelete
{

// ALTER TABLE t DROP CONSTRAINT <name>, where <name> is a unique constraint
// that enable() turned into a live-only unique index of the same name:
// drops that index (and forgets it, so disable() does not bring it back).
// True when the statement was carried out this way.
bool drop_converted_constraint(Node* stmt);

// PG regime. INSERT ... ON CONFLICT ON CONSTRAINT <name> on table cfg, where
// <name> is the placeholder of a unique constraint that enable() turned into
// the live-only unique index <name>: makes the index the statement's arbiter
// (its key elements and predicate) in place of the placeholder. True when
// it did.
bool infer_old_constraint_arbiter(Query* query, const TableConfig& cfg);

} // namespace softdelete
