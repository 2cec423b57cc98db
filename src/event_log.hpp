// Writing softdelete.events (see event_log.cpp).
#pragma once

#include <string>

#include "pg.hpp"

namespace softdelete
{

struct EventSpec {
    const char* action;
    Tuplestorestate* rows; // the statement's transition rows; nullptr: none (TRUNCATE)
    char** key_names;      // the primary key's columns
    int nkeys;
    AttrNumber deleted_at; // which rows the event covers: InvalidAttrNumber for all,
    bool want_deleted;     // else those this transaction deleted (true) or live (false)
    int64 row_count;       // -1: the number of rows covered
};

// C++ regime (may throw PgError). One event for the statement that fired trigger.
void write_event(TriggerData* trigger, const EventSpec& spec);
std::string current_actor();
// PG regime: softdelete.actor when the application set it, else the role.
const char* actor_name();
// PG regime: softdelete.reason when set, else nullptr.
const char* reason_text();

} // namespace softdelete
