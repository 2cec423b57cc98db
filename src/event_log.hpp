// softdelete.events and NOTIFY softdelete (see event_log.cpp).
#pragma once

#include "operations.hpp"
#include "pg.hpp"
#include "table_config.hpp"

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
    const int64* ints; // or, when not nullptr, the keys as integers (a one-column integer key)
    int64 nints;
    bool optional_log; // soft deletes and restores, which log_events may turn off
};

// How a table's primary key is written in the log: a JSON value, or an
// object of the columns for a composite key.
struct KeyFormat {
    int nkeys;
    MemoryContext context; // holds what the pointers below point at
    char** names;          // a composite key's column names
    Oid* types;
    FmgrInfo* outputs; // nullptr until a key is first written as text
};

// PG regime. How cfg's key is written, built in context, which must outlive
// its use; types are the key values' own, or nullptr for the columns'. Only
// what writing needs is looked up: a one-column key's name never is, and
// the output functions are when a key is first written as text, so that a
// soft delete of one integer key looks up nothing.
KeyFormat* make_key_format(MemoryContext context, const TableConfig& cfg, const Oid* types);
// One key column of an integer type: its keys can be kept as int64 values.
inline bool integer_key(const KeyFormat* format)
{
    return format->nkeys == 1 && (format->types[0] == INT8OID || format->types[0] == INT4OID ||
                                  format->types[0] == INT2OID);
}
// A key value of integer_key()'s type as an int64.
inline int64 integer_key_value(Oid type, Datum value)
{
    return type == INT8OID   ? DatumGetInt64(value)
           : type == INT4OID ? DatumGetInt32(value)
                             : DatumGetInt16(value);
}
// Integer keys appended to out as JSON numbers, separated by ", ", with one
// before the first when after_others.
void append_int_keys(StringInfo out, const int64* values, int64 n, bool after_others);

// Once, when the module loads: the cached table name of the last event
// follows schema renames.
void register_event_log_invalidation();
// A relcache invalidation of relid (InvalidOid: of every relation) reaches
// the cached name of the last event's table (table_config.cpp dispatches).
void forget_event_names(Oid relid);
// A change in pg_authid reaches the cached name of the current role
// (authorization.cpp dispatches).
void forget_role_name();
// The key of one row appended to out.
void append_key(StringInfo out, KeyFormat* format, const Datum* values, const bool* nulls);

// What a function that notes rows keeps for the statement in its FmgrInfo:
// the table's configuration, how its keys are written, and room for one
// row's key values.
struct RowKeys {
    TableConfig cfg;
    bool recorded; // the table logs, notifies or cascades its rows' changes
    KeyFormat* format;
    Datum values[INDEX_MAX_KEYS];
    bool nulls[INDEX_MAX_KEYS];
    // The last table a row was written in that row_notes.cpp found may be
    // noted here, for a soft delete [0] and for a restore [1]: checked once
    // per table, not per row.
    Oid written_in_checked[2];
};

// PG regime. The key columns' types are the columns' own unless given.
RowKeys* row_keys(FmgrInfo* flinfo, const TableConfig& cfg, const Oid* types);
// Notes the row whose key values were put in keys under the running
// operation; a restored row also gives the operation that had deleted it.
void note_row_keys(RowKeys* keys, Action action, int64 deleted_by_op = 0);

// PG regime. Writes the event (event_row.cpp) unless the table turned
// its log off, and sends NOTIFY softdelete when the table asked for it.
void record_event(const RecordedEvent& event);

// PG regime: softdelete.actor when the application set it, else the role.
// The setting's or a cached string: copy it before anything can change the
// setting or the role.
const char* actor_name();
// PG regime: opens a GUC nest level in which softdelete.actor holds the
// current actor, so that work then done as another role (the table's owner,
// the extension's owner) records the one who asked. Close it with
// AtEOXact_GUC(true, level); an error closes it with the (sub)transaction.
int pin_actor();
// PG regime: softdelete.reason when set, else nullptr.
const char* reason_text();

} // namespace softdelete
