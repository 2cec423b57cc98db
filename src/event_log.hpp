// Writing softdelete.events (see event_log.cpp).
#pragma once

#include <string>

#include "pg.hpp"

namespace softdelete
{

// C++ regime (may throw PgError).
// One event for the statement that fired trigger; keys_sql is the jsonb
// expression over the transition table softdelete_rows, or nullptr for an
// event without rows (TRUNCATE).
void write_event(TriggerData* trigger, const char* action, const char* keys_sql);
std::string current_actor();

// Kept event plans follow their table's changes.
void register_event_plan_invalidation();

} // namespace softdelete
