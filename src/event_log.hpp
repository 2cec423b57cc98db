// softdelete.events and NOTIFY softdelete (see event_log.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// One operation's rows of one table, for one action.
struct RecordedEvent {
    int64 op;
    Oid root;
    const char* action;
    const char* actor;
    const char* reason; // nullptr: none
    bool rows_known;    // false for TRUNCATE
    int64 rows;
    const char* keys;  // the keys as comma-separated JSON values; nullptr: none
    bool optional_log; // soft deletes and restores, which log_events may turn off
};

// PG regime. Writes the event (as the log's owner) unless the table turned
// its log off, and sends NOTIFY softdelete when the table asked for it.
void record_event(const RecordedEvent& event);

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
