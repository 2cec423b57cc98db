// Writing a row of softdelete.events (see event_row.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// What one event row says; the id, the time and the transaction are filled in.
struct EventRow {
    int64 op;
    Oid relid;
    const char* table_name;
    const char* action;
    const char* actor;
    const char* reason; // nullptr: none
    bool rows_known;
    int64 rows;
    Datum keys; // jsonb; 0: none
};

// PG regime. Inserts the row as the extension: no privilege of the current
// role is involved. Triggers on the log run as they would for an INSERT.
void insert_event_row(const EventRow& row);

// PG regime. Forgets what was looked up about the log when relid (or, for
// InvalidOid, any relation) was invalidated.
void forget_event_table(Oid relid);

} // namespace softdelete
