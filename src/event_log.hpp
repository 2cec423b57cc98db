// Writing softdelete.events (see event_log.cpp).
#pragma once

#include <string>

#include "pg.hpp"

namespace softdelete
{

struct EventSpec {
    const char* action;
    const char* keys_sql; // jsonb of a row's key over softdelete_rows; nullptr: no rows (TRUNCATE)
    const char* row_filter; // which transition rows the event covers; nullptr: all
    int64 row_count;        // -1: count the rows
};

// C++ regime (may throw PgError). One event for the statement that fired trigger.
void write_event(TriggerData* trigger, const EventSpec& spec);
std::string current_actor();

// Kept event plans follow their table's changes.
void register_event_plan_invalidation();

} // namespace softdelete
