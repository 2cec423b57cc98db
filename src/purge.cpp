// softdelete_internal.purge_batch(run, tbl, batch_size): one batch of the
// purge of one table, in the caller's transaction (the lifecycle worker's,
// or softdelete.purge()'s):
//
//  1. at most batch_size rows of tbl soft-deleted longer than its retention
//     ago, oldest first, locked FOR UPDATE SKIP LOCKED: a row someone else
//     holds (a restore in progress) is left for a later batch, never waited
//     for;
//  2. with the descendants that go with them, in the order their foreign
//     keys need (purge_plan.cpp); candidates that must wait (a live child
//     under NO ACTION or RESTRICT) are passed over, and the run remembers
//     them so that its next batches look further;
//  3. each table's rows removed by one DELETE as that table's owner
//     (purge_statements.cpp); for a table with archive => true the same
//     statement copies them to its archive (archive.cpp), so the copy and
//     the delete commit together. A table that no foreign key references
//     has nothing go with its rows: 1 to 3 are then one statement;
//  4. at most batch_size archived rows older than archive_retention removed
//     from tbl's archive;
//  5. the counts added to the run's row in softdelete.runs, in the same
//     transaction, so that they stay true whatever happens next.
//
// A batch is one operation of its own: softdelete.events gets a purge event
// per table it removed rows from (its statements note the rows they remove;
// the log trigger notes, as purge, those that foreign key actions remove),
// an archive event per table it archived, and a purge event for the archive
// table it expired rows from; NOTIFY follows the tables' notify option. The
// run's counts are what the batch logged.
//
// The batch's statements run as each table's owner, without
// softdelete.hard_delete: the planner keeps the batch's own removal a real
// DELETE (purge_statements.cpp, plans_own_purge_statement()), and whatever
// it sets off (foreign key actions, the tables' triggers and rules,
// functions those call, as any role) is what it would be outside a purge.
// A backend-local flag that only this file sets (purge_in_progress())
// names the rows a hard delete removes meanwhile as purged.
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "archive.hpp"
#include "error_bridge.hpp"
#include "extension_objects.hpp"
#include "foreign_keys.hpp"
#include "key_sql.hpp"
#include "operations.hpp"
#include "owner_statement.hpp"
#include "purge.hpp"
#include "purge_plan.hpp"
#include "purge_statements.hpp"
#include "table_config.hpp"

namespace softdelete
{

namespace
{

bool purging = false;
bool callbacks_registered = false;

// What a run's batches learnt, for its next ones in this backend: the
// candidates that wait, so that they look past them, and where the last
// batch got to in deleted_at (purge_statements.hpp).
struct RunState {
    int64 run = 0;
    std::unordered_set<std::string> waiting;
    bool has_cursor = false;
    std::string cursor;
    KeptKeys kept; // rows a trigger kept (purge_plan.hpp)
};
RunState state;

void follow_run(int64 run)
{
    if (state.run != run) {
        state = RunState();
        state.run = run;
    }
}

Cursor cursor_of_run()
{
    return Cursor{state.has_cursor ? state.cursor.c_str() : nullptr};
}

void move_cursor(const Cursor& cursor)
{
    if (cursor.from != nullptr) {
        state.cursor = cursor.from;
        state.has_cursor = true;
    }
}

void on_transaction(XactEvent event, void* arg)
{
    (void)arg;
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
        event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
        forget_subtransactions();
}

// The flag, on for the life of the object (or until end()). No plan depends
// on it: it only names what the batch's hard deletes remove.
class PurgeFlag
{
public:
    PurgeFlag()
    {
        // A constructor that throws runs no destructor: clear the flag here.
        try {
            pg_guard([] {
                if (!callbacks_registered) {
                    RegisterXactCallback(on_transaction, nullptr);
                    callbacks_registered = true;
                }
                purging = true;
            });
        } catch (...) {
            purging = false;
            throw;
        }
    }
    ~PurgeFlag() { purging = false; }
    void end() { purging = false; }
    PurgeFlag(const PurgeFlag&) = delete;
    PurgeFlag& operator=(const PurgeFlag&) = delete;
};

// The batch's own operation; put back as it was if the batch fails.
class BatchOperation
{
public:
    BatchOperation() : own_(pg_guard([] { return begin_own_operation(); })) {}
    ~BatchOperation()
    {
        if (!ended_)
            abandon_own_operation(own_);
    }
    // The rows noted with action so far.
    int64 rows(Action action) const { return noted_rows(own_, action); }
    void end()
    {
        ended_ = true;
        pg_guard([this] { end_own_operation(own_); });
    }
    BatchOperation(const BatchOperation&) = delete;
    BatchOperation& operator=(const BatchOperation&) = delete;

private:
    OwnOperation own_;
    bool ended_ = false;
};

// ---- The run (PG regime) ------------------------------------------------

// relid's archive table, made when it has none, when relid archives.
Oid archive_for(Oid relid)
{
    LifecycleConfig life;
    return lifecycle_config(relid, &life) && life.archive ? prepare_archive(relid) : InvalidOid;
}

// The run's row must be running and be tbl's; it is locked until the batch
// commits.
void check_run(int64 run, Oid relid)
{
    Oid types[] = {INT8OID};
    Datum values[] = {Int64GetDatum(run)};
    OwnerStatement found = run_statement("SELECT relid::oid FROM softdelete.runs WHERE id = $1 AND "
                                         "status = 'running' FOR UPDATE",
                                         1, types, values);
    if (found.first_value == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("run " INT64_FORMAT " is not running", run)));
    if (DatumGetObjectId(DirectFunctionCall1(oidin, CStringGetDatum(found.first_value))) != relid)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("run " INT64_FORMAT " is a run of another table", run)));
}

void add_to_run(int64 run, int64 archived, int64 purged)
{
    Oid types[] = {INT8OID, INT8OID, INT8OID};
    Datum values[] = {Int64GetDatum(run), Int64GetDatum(archived), Int64GetDatum(purged)};
    (void)run_statement("UPDATE softdelete.runs SET rows_archived = rows_archived + $2, "
                        "rows_purged = rows_purged + $3 WHERE id = $1",
                        3, types, values);
}

// ---- The batch (C++) ----------------------------------------------------

std::vector<std::string> lines(const char* text)
{
    std::vector<std::string> out;
    if (text == nullptr)
        return out;
    for (const char* line = text; *line != '\0';) {
        const char* end = strchr(line, '\n');
        size_t len = end != nullptr ? static_cast<size_t>(end - line) : strlen(line);
        out.emplace_back(line, len);
        line += len + (end != nullptr ? 1 : 0);
    }
    return out;
}

void remember_waiting(const std::vector<std::string>& keys)
{
    state.waiting.insert(keys.begin(), keys.end());
}

// The candidates that wait, as the JSON array candidate_rows() skips.
std::string waiting_json()
{
    std::string out = "[";
    for (const std::string& key : state.waiting) {
        if (out.size() > 1)
            out += ", ";
        out += key;
    }
    return out + "]";
}

// What became of some candidates of a batch.
enum class Outcome {
    nothing, // nothing to do
    removed, // their rows went (or were restored meanwhile)
    passed,  // they wait: the batch looks further
};

Outcome combined(Outcome a, Outcome b)
{
    if (a == Outcome::removed || b == Outcome::removed)
        return Outcome::removed;
    return a == Outcome::passed || b == Outcome::passed ? Outcome::passed : Outcome::nothing;
}

// Whether the rows a trigger kept in the last removal are new to the run:
// they are added to those its plans keep, with the rows that need them.
bool learn_kept_rows()
{
    KeptRows kept = last_kept_rows();
    bool learnt = false;
    for (const std::string& key : lines(kept.keys))
        learnt = state.kept.emplace(kept.relid, key).second || learnt;
    return learnt;
}

// Steps 2 and 3 for some candidates (oldest first). When a trigger keeps
// rows that had to go (a legal hold), the run learns which, and plans the
// candidates again: those that need a kept row wait, as behind a live
// child, and the others go; one legal hold on a child row does not keep
// every other due row of the batch (each batch would fail on it again,
// oldest first). Where the kept rows are not known (a self-referencing
// table's foreign key check failed on them first), the candidates are
// split in two and each half tried on its own, down to the one candidate
// that needs them, which waits. Once the transaction's subtransactions are
// used up, candidates could not be rolled back alone: where the
// transaction has met kept rows and a trigger could keep more, they are
// not tried, and wait for a later run, with a transaction of its own.
Outcome remove_candidates(Oid relid, const std::vector<std::string>& candidates, int64 limit)
{
    PurgePlan plan;
    Removal removal;
    do {
        plan = plan_purge(relid, candidates, limit, state.kept);
        if (plan.steps.empty()) {
            remember_waiting(plan.waiting);
            return plan.waiting.empty() ? Outcome::nothing : Outcome::passed;
        }
        std::vector<Oid> archives;
        for (const PurgeStep& step : plan.steps)
            archives.push_back(pg_guard([&] { return archive_for(step.relid); }));
        removal = pg_guard([&] { return remove_planned_rows(plan.steps, archives); });
    } while (removal == Removal::kept && learn_kept_rows());
    remember_waiting(plan.waiting);
    if (removal == Removal::removed)
        return Outcome::removed;
    // A row someone else holds (a child locked by an application, a row
    // changing) is not waited for, and candidates that cannot be tried
    // alone are not tried: they are passed over, and a later run takes them
    // if they are still due.
    if (removal != Removal::kept || candidates.size() == 1) {
        remember_waiting(candidates);
        return Outcome::passed;
    }
    auto half = candidates.begin() + static_cast<std::ptrdiff_t>(candidates.size() / 2);
    Outcome older =
        remove_candidates(relid, std::vector<std::string>(candidates.begin(), half), limit);
    return combined(
        older, remove_candidates(relid, std::vector<std::string>(half, candidates.end()), limit));
}

// Steps 1 to 3, for a table that foreign keys reference: candidates, their
// descendants, the plan's steps.
void purge_with_descendants(const TableConfig& cfg, Interval* retention, int64 limit)
{
    // Made now even when nothing is due, as purge_alone() does: a logical
    // replication subscriber needs the publisher's archive tables.
    pg_guard([&] { (void)archive_for(cfg.relid); });
    for (;;) {
        std::string skip = waiting_json();
        Cursor cursor = cursor_of_run();
        std::vector<std::string> candidates = lines(
            pg_guard([&] { return candidate_rows(cfg, retention, limit, skip.c_str(), &cursor); }));
        if (candidates.empty())
            return;
        std::string from = cursor.from;
        move_cursor(Cursor{from.c_str()});
        if (remove_candidates(cfg.relid, candidates, limit) != Outcome::passed)
            return;
        // Every candidate waits: look further.
    }
}

// Steps 1 to 3, for a table no foreign key references: one statement.
void purge_alone(const TableConfig& cfg, Interval* retention, int64 limit)
{
    Cursor cursor = cursor_of_run();
    pg_guard(
        [&] { (void)remove_due_rows(cfg, retention, limit, archive_for(cfg.relid), &cursor); });
    if (cursor.from != nullptr) {
        std::string from = cursor.from;
        move_cursor(Cursor{from.c_str()});
    }
}

int64 purge_batch(int64 run, Oid relid, int64 limit)
{
    TableConfig cfg;
    LifecycleConfig life;
    pg_guard([&] {
        require_relation(relid);
        if (!lifecycle_config(relid, &life) || !table_config(relid, &cfg) || cfg.root != relid)
            ereport(ERROR,
                    (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                     errmsg("table %s is not enabled for soft delete", relation_sql(relid))));
        check_run(run, relid);
    });
    if (purging)
        throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                      "a purge batch cannot run inside another one");
    // Counted from what the batch logged: the rows it removed from enabled
    // tables (foreign key actions included) and from the archive, and the
    // rows it archived.
    int64 archived = 0;
    int64 purged = 0;
    {
        PurgeFlag flag;
        BatchOperation operation;
        if (life.retention != nullptr) {
            follow_run(run);
            bool alone = pg_guard([&] {
                return !referenced_by_foreign_key(relid) &&
                       get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE;
            });
            if (alone)
                purge_alone(cfg, life.retention, limit);
            else
                purge_with_descendants(cfg, life.retention, limit);
        }
        if (life.archive_retention != nullptr) {
            pg_guard([&] {
                Oid archive = owned_archive(relid);
                if (!OidIsValid(archive))
                    return;
                ExpiredRows expired =
                    expire_archived_rows(archive, cfg, life.archive_retention, limit);
                note_row_list(archive, Action::purge, expired.keys, expired.rows);
            });
        }
        flag.end();
        archived = operation.rows(Action::archive);
        purged = operation.rows(Action::purge);
        operation.end();
    }
    pg_guard([&] { add_to_run(run, archived, purged); });
    return purged;
}

} // namespace

bool purge_in_progress()
{
    return purging;
}

bool lifecycle_config(Oid relid, LifecycleConfig* out)
{
    TupleDesc desc;
    HeapTuple tuple = config_row(relid, &desc);
    if (tuple == nullptr)
        return false;
    auto interval = [&](const char* name) -> Interval* {
        bool isnull = false;
        Datum d = config_value(tuple, desc, name, &isnull);
        return isnull ? nullptr : DatumGetIntervalP(datumCopy(d, false, sizeof(Interval)));
    };
    out->retention = interval("retention");
    out->archive_retention = interval("archive_retention");
    bool isnull = false;
    Datum archive = config_value(tuple, desc, "archive", &isnull);
    out->archive = !isnull && DatumGetBool(archive);
    heap_freetuple(tuple);
    FreeTupleDesc(desc);
    return true;
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_purge_batch);
Datum softdelete_purge_batch(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
        ereport(
            ERROR,
            (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
             errmsg("softdelete_internal.purge_batch() needs a run, a table and a batch size")));
    if (PG_GETARG_INT32(2) < 1)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("batch size must be at least 1")));
    int64 run = PG_GETARG_INT64(0);
    Oid relid = PG_GETARG_OID(1);
    int64 limit = PG_GETARG_INT32(2);
    PG_RETURN_INT64(
        softdelete::entry_guard([&] { return softdelete::purge_batch(run, relid, limit); }));
}
}
