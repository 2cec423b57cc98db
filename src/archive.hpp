// Archive tables: where the purge copies the rows of a table enabled with
// archive => true before it removes them (see archive.cpp). PG regime.
#pragma once

#include "pg.hpp"
#include "table_config.hpp"

namespace softdelete
{

// The archive table of relid, or InvalidOid when it has none (yet).
Oid archive_of(Oid relid);

// PG regime. archive_of(), the archive given to relid's owner first where
// the table changed hands since (ALTER TABLE ... OWNER TO): the statements
// that read and change it run as the table's owner.
Oid owned_archive(Oid relid);

// The archive table of relid, made when it has none, with every column relid
// has now (a column relid gained since is added) and relid's owner.
Oid prepare_archive(Oid relid);

// The user columns of relid, in order: what is archived of its rows, as
// quoted names (a List of char*).
List* archived_columns(Oid relid);

struct ExpiredRows {
    int64 rows;
    char* keys; // comma-separated JSON keys, as the event log writes them
};

// Removes at most limit rows archived longer than retention ago from
// archive, oldest first, skipping rows locked by someone else, as the
// archive's owner. cfg is the archived table's, whose key the rows keep.
ExpiredRows expire_archived_rows(Oid archive, const TableConfig& cfg, Interval* retention,
                                 int64 limit);

} // namespace softdelete
