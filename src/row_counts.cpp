// A statement-level AFTER trigger fires on the table the statement named: the
// enabled table, or a partition of it addressed directly, which has its own
// log triggers. So a row of a partition is counted under the partition and
// under its enabled root, and taking either forgets both.
#include "row_counts.hpp"

namespace softdelete
{

namespace
{

struct Entry {
    Oid relid; // hash key
    Oid root;
    RowCounts counts;
};

HTAB* counts = nullptr;

Entry* entry_for(Oid relid, Oid root)
{
    if (counts == nullptr)
        counts = oid_hash("softdelete row counts", sizeof(Entry), 16, TopMemoryContext);
    bool found = false;
    auto* entry = static_cast<Entry*>(hash_search(counts, &relid, HASH_ENTER, &found));
    if (!found) {
        entry->root = root;
        entry->counts = {0, 0};
    }
    return entry;
}

template <typename Bump> void note(const TableConfig& cfg, Bump bump)
{
    bump(entry_for(cfg.relid, cfg.root)->counts);
    if (cfg.root != cfg.relid)
        bump(entry_for(cfg.root, cfg.root)->counts);
}

void reset_counts(XactEvent event, void* arg)
{
    (void)arg;
    if (counts == nullptr)
        return;
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
        event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
        event == XACT_EVENT_PREPARE) {
        hash_destroy(counts);
        counts = nullptr;
    }
}

} // namespace

void note_soft_deleted_row(const TableConfig& cfg)
{
    note(cfg, [](RowCounts& c) { c.soft_deleted++; });
}

void note_restored_row(const TableConfig& cfg)
{
    note(cfg, [](RowCounts& c) { c.restored++; });
}

RowCounts take_row_counts(Oid relid)
{
    RowCounts taken = {0, 0};
    if (counts == nullptr)
        return taken;
    bool found = false;
    auto* entry = static_cast<Entry*>(hash_search(counts, &relid, HASH_FIND, &found));
    if (!found)
        return taken;
    taken = entry->counts;
    Oid root = entry->root;
    hash_search(counts, &relid, HASH_REMOVE, nullptr);
    // The same rows were counted under the other level: forget them there too.
    HASH_SEQ_STATUS scan;
    hash_seq_init(&scan, counts);
    Entry* other;
    while ((other = static_cast<Entry*>(hash_seq_search(&scan))) != nullptr) {
        if (other->relid == root || other->root == relid)
            hash_search(counts, &other->relid, HASH_REMOVE, nullptr);
    }
    return taken;
}

void register_row_count_reset()
{
    RegisterXactCallback(reset_counts, nullptr);
}

} // namespace softdelete
