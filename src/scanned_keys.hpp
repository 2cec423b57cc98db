// The keys of the rows a purge batch's DELETE removes, read from the rows
// its index scan hands to the DELETE (scanned_keys.cpp). PG regime.
#pragma once

#include "pg.hpp"
#include "returned_keys.hpp"
#include "table_config.hpp"

namespace softdelete
{

// Runs sql, a DELETE of cfg's table without RETURNING, as owner
// (run_as_owner_ordered(), softdelete.hard_delete on), when check passes
// its plan, which must then be a DELETE reading one index scan of the
// table. Each row the scan hands over and the DELETE removes is counted and
// its key written; the scan ends after limit such rows, and newest is then
// the deleted_at of the last one. A row changed concurrently since the
// statement started (PostgreSQL re-checks it, and may remove a newer
// version than the scan read) fails the statement with 55P03, as a row
// lock held elsewhere does: the caller takes its locking path instead.
ReturnedKeys run_scanned_keys(Oid owner, const TableConfig& cfg, const char* sql, int nargs,
                              Oid* types, Datum* values, uint64 limit,
                              bool (*check)(PlannedStmt* plan, void* arg), void* arg);

// Called when an executor has started: the statement run_scanned_keys() is
// running gets its scan tapped. Only the first statement after such a call
// is concerned.
void tap_scanned_rows(QueryDesc* query);

} // namespace softdelete
