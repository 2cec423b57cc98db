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
// PG regime: opens a GUC nest level in which softdelete.actor holds the
// current actor, so that work then done as another role (the table's owner,
// the extension's owner) records the one who asked. Close it with
// AtEOXact_GUC(true, level); an error closes it with the (sub)transaction.
int pin_actor();
// PG regime: softdelete.reason when set, else nullptr.
const char* reason_text();

} // namespace softdelete
