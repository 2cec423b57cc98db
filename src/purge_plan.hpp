// Which rows one purge batch removes, and in what order (purge_plan.cpp).
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pg.hpp"

namespace softdelete
{

// One DELETE of the batch: rows of one enabled table, by key.
struct PurgeStep {
    Oid relid;           // the enabled table (a partitioned table for its partitions)
    std::string deleted; // JSON array of the keys of soft-deleted rows
    std::string live;    // JSON array of the keys of live rows ("[]": none)
    // JSON array of objects: a live row goes only while it still holds the
    // values of one of them in its columns (the foreign key columns by
    // which a row that goes referenced it when the plan was made).
    std::string references;
    int64 rows;
};

struct PurgePlan {
    std::vector<PurgeStep> steps; // in the order they must run
    // Candidates that must wait (a live or unpurgeable row still needs
    // them), as JSON keys.
    std::vector<std::string> waiting;
    int64 rows;
};

// Rows a purge found kept by their table's trigger: they stay, as a live
// row does, and keep what they reference.
using KeptKeys = std::set<std::pair<Oid, std::string>>;

// C++ regime. The steps that remove the candidate rows of table (keys of
// soft-deleted rows, oldest first) with the descendants that go with them,
// at most limit rows in all; the oldest candidate goes with all of them
// (or, when they are more than limit, with the deepest of them first).
// A candidate that needs a row of kept (a table's root and a key, as
// written here) waits.
PurgePlan plan_purge(Oid table, const std::vector<std::string>& candidates, int64 limit,
                     const KeptKeys& kept);

} // namespace softdelete
