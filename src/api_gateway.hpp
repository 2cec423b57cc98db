// The public API's gateway into the extension's internal functions.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// The role that called the public API function now running (enable(),
// restore(), ...), else the current role. Internal functions run as the
// extension's owner; every authorization they make is about this role.
Oid acting_role();

// True while one of the extension's own operations (enable(), disable(), a
// restore, a hard delete, the partition event trigger) is changing things:
// the drift guard lets those changes through, and no other.
bool in_internal_operation();

// In one of those operations, and running as the extension's owner, which
// carries out their DDL (SECURITY DEFINER). Code of a table's owner that
// runs inside one of them (a trigger firing during restore()) runs as the
// table's owner and stays guarded, or it could switch off the enforcement of
// another table.
bool extension_at_work();

// Calls an internal function (SECURITY DEFINER: it runs as the extension's
// owner) on behalf of the role running the current statement, which
// acting_role() then names: the event triggers and the drift guard's
// follow-up of a DDL statement. PG regime.
void call_for_caller(Oid function, int nargs, const Datum* args);

} // namespace softdelete
