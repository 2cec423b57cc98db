// The keys of the rows a statement removes, read from what it returns as
// the executor hands each row over (returned_keys.cpp). PG regime.
#pragma once

#include "owner_statement.hpp"
#include "pg.hpp"
#include "table_config.hpp"

namespace softdelete
{

struct ReturnedKeys {
    int64 rows;
    char* keys;     // comma-separated JSON values, as the event log writes keys
    char* newest;   // the greatest value of the column after the keys, as text;
                    // nullptr when not asked for, or no row had one
    bool ran;       // false: the statement's plan did not pass its check (scanned_keys.hpp)
    int64* ints;    // not nullptr: the keys are these integers, and keys is nullptr
    int64 archived; // with counts_archive: the rows the archive took (0 when no row came back)
};

// Runs sql as owner (run_as_owner_into()), which returns for each row it
// removes cfg's key columns, in cfg's order, and when newest is true one
// more column whose greatest value is kept. The rows are counted and their
// keys written without any text or aggregate in the statement.
// With counts_archive, one more column after those: the number of rows the
// statement copied to its archive, the same in every row.
ReturnedKeys run_returning_keys(Oid owner, const TableConfig& cfg, const char* sql, int nargs,
                                Oid* types, Datum* values, bool hard_delete, bool newest,
                                bool counts_archive = false);

} // namespace softdelete
