// Rows the tombstone decision soft-deleted and restored, per table, until the
// statement's AFTER trigger takes them for the event log (PG regime).
#pragma once

#include "pg.hpp"
#include "table_config.hpp"

namespace softdelete
{

struct RowCounts {
    uint64 soft_deleted;
    uint64 restored;
};

void note_soft_deleted_row(const TableConfig& cfg);
void note_restored_row(const TableConfig& cfg);

// The counts noted for relid (a table, or a partition addressed directly),
// forgotten once taken, for relid and for the partitions counted under it.
RowCounts take_row_counts(Oid relid);

// Counts nobody took (events off, an error) end with their transaction.
void register_row_count_reset();

} // namespace softdelete
