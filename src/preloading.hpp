// Whether the module was loaded before the session's first statement, and
// what a session that loaded it later refuses.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// Called once, from _PG_init: by_postmaster when shared_preload_libraries
// loads the module.
void note_module_load(bool by_postmaster);

// PG regime. Refuses to execute a DELETE on an enabled table that was
// planned before the module was loaded, when it has a RETURNING list (it
// could return no row). Nothing in a session that loaded the module at
// its start.
void refuse_stale_delete_plan(const PlannedStmt* stmt);

// PG regime. Refuses a DELETE that reaches the backstop trigger from a
// statement that began before the module was loaded: its count would miss
// the rows the backstop soft-deletes.
void refuse_delete_begun_before_load();

} // namespace softdelete
