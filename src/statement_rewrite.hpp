// The planner hook that turns DELETEs on enabled tables into soft deletes.
#pragma once

#include "pg.hpp"

namespace softdelete
{

void install_planner_hook();

// True when modify (a ModifyTable of stmt) is a DELETE that the planner hook
// turned into an UPDATE: its result relation asks for the DELETE privilege only.
bool is_rewritten_delete(const PlannedStmt* stmt, const ModifyTable* modify);

// How many planner calls are running, one inside the other.
int planner_calls();
// A statement that is such a DELETE: its command type stays DELETE, its
// plan's top is the UPDATE.
bool rewritten_delete_statement(const PlannedStmt* stmt);

} // namespace softdelete
