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
//  3. each table's rows removed by one DELETE as that table's owner; for a
//     table with archive => true the same statement copies them to its
//     archive (archive.cpp), so the copy and the delete commit together;
//  4. at most batch_size archived rows older than archive_retention removed
//     from tbl's archive;
//  5. the counts added to the run's row in softdelete.runs, in the same
//     transaction, so that they stay true whatever happens next.
//
// A batch is one operation of its own: softdelete.events gets a purge event
// per table it removed rows from (the log trigger notes them as purge while
// the batch runs), an archive event per table it archived, and a purge
// event for the archive table it expired rows from; NOTIFY follows the
// tables' notify option.
//
// While the batch runs, a backend-local flag that only this file sets
// (purge_in_progress()) makes every DELETE on an enabled table a real one:
// the batch's own, and those that foreign key actions and triggers fire.
// Plans whose meaning depends on it are re-planned when it flips, and after
// an error.
#include <string>
#include <vector>

#include "archive.hpp"
#include "error_bridge.hpp"
#include "extension_objects.hpp"
#include "key_sql.hpp"
#include "operations.hpp"
#include "owner_statement.hpp"
#include "purge.hpp"
#include "purge_plan.hpp"
#include "table_config.hpp"

namespace softdelete
{

namespace
{

bool purging = false;
bool plans_stale = false;
bool callbacks_registered = false;

// Candidates a run found waiting, so that its next batches look past them.
int64 waiting_run = 0;
std::string waiting_keys;

void replan_after_abort()
{
    if (plans_stale) {
        plans_stale = false;
        invalidate_delete_plans();
    }
}

void on_transaction(XactEvent event, void* arg)
{
    (void)arg;
    if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
        replan_after_abort();
}

void on_subtransaction(SubXactEvent event, SubTransactionId mine, SubTransactionId parent,
                       void* arg)
{
    (void)mine;
    (void)parent;
    (void)arg;
    if (event == SUBXACT_EVENT_ABORT_SUB)
        replan_after_abort();
}

// The flag, on for the life of the object. Left by an exception, it is
// cleared here and the plans are re-planned when the (sub)transaction
// aborts; left normally, end() re-plans them at once.
class PurgeFlag
{
public:
    PurgeFlag()
    {
        pg_guard([] {
            if (!callbacks_registered) {
                RegisterXactCallback(on_transaction, nullptr);
                RegisterSubXactCallback(on_subtransaction, nullptr);
                callbacks_registered = true;
            }
            purging = true;
            plans_stale = true;
            invalidate_delete_plans();
        });
    }
    ~PurgeFlag() { purging = false; }
    void end()
    {
        purging = false;
        pg_guard([] {
            plans_stale = false;
            invalidate_delete_plans();
        });
    }
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

// ---- Statements (PG regime) ---------------------------------------------

const char* column_sql(const TableConfig& cfg, AttrNumber attno)
{
    return quote_identifier(get_attname(cfg.relid, attno, false));
}

// Keys of at most limit rows deleted longer than retention ago, oldest
// first, locked; not those skip (a JSON array) lists. One per line.
char* candidate_rows(const TableConfig& cfg, Interval* retention, int64 limit, const char* skip)
{
    const char* col = column_sql(cfg, cfg.deleted_at);
    char* sql = psprintf("SELECT pg_catalog.string_agg(k, E'\\n' ORDER BY at) FROM ("
                         "SELECT (%s)::pg_catalog.text AS k, t.%s AS at FROM %s AS t "
                         "WHERE t.%s < pg_catalog.now() - $1 AND NOT %s "
                         "ORDER BY t.%s LIMIT $2 FOR UPDATE OF t SKIP LOCKED) c",
                         key_json_sql(cfg, "t"), col, table_sql(cfg.relid), col,
                         key_in_sql(cfg, "t", 3), col);
    Oid types[] = {INTERVALOID, INT8OID, JSONBOID};
    Datum values[] = {IntervalPGetDatum(retention), Int64GetDatum(limit),
                      DirectFunctionCall1(jsonb_in, CStringGetDatum(skip))};
    return run_as_owner(relation_owner(cfg.relid), sql, 3, types, values, false).first_value;
}

// One step: its rows removed as the table's owner, soft-deleted ones only
// while still deleted (a row restored since stays); copied to archive in
// the same statement when there is one. The log trigger notes the rows
// removed; the rows archived are noted here.
void run_step(Oid relid, const char* deleted, const char* live, Oid archive)
{
    TableConfig cfg;
    if (!table_config(relid, &cfg))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("table %s is not enabled for soft delete", relation_sql(relid))));
    StringInfoData which;
    initStringInfo(&which);
    appendStringInfo(&which, "(%s AND t.%s IS NOT NULL)", key_in_sql(cfg, "t", 1),
                     column_sql(cfg, cfg.deleted_at));
    if (strcmp(live, "[]") != 0)
        appendStringInfo(&which, " OR %s", key_in_sql(cfg, "t", 2));
    Oid types[] = {JSONBOID, JSONBOID};
    Datum values[] = {DirectFunctionCall1(jsonb_in, CStringGetDatum(deleted)),
                      DirectFunctionCall1(jsonb_in, CStringGetDatum(live))};
    Oid owner = relation_owner(relid);
    if (!OidIsValid(archive)) {
        char* sql = psprintf("DELETE FROM %s AS t WHERE %s", table_sql(relid), which.data);
        (void)run_as_owner(owner, sql, 2, types, values, true);
        return;
    }
    const char* columns = column_list_sql(relid, "");
    char* sql = psprintf(
        "WITH gone AS (DELETE FROM %s AS t WHERE %s RETURNING %s), "
        "kept AS (INSERT INTO %s AS a (%s, archived_at) SELECT %s, pg_catalog.now() FROM gone "
        "RETURNING %s AS k) "
        "SELECT pg_catalog.count(*) || ' ' || "
        "coalesce(pg_catalog.string_agg(k::pg_catalog.text, ', '), '') FROM kept",
        table_sql(relid), which.data, column_list_sql(relid, "t."), relation_sql(archive), columns,
        columns, key_json_sql(cfg, "a"));
    OwnerStatement ran = run_as_owner(owner, sql, 2, types, values, true);
    const char* space = ran.first_value != nullptr ? strchr(ran.first_value, ' ') : nullptr;
    if (space == nullptr)
        elog(ERROR, "softdelete could not read what it archived");
    note_row_list(cfg.root, Action::archive, space + 1, strtoll(ran.first_value, nullptr, 10));
}

// The run's row must be running and be tbl's; it is locked until the batch
// commits.
void check_run(int64 run, Oid relid)
{
    Oid types[] = {INT8OID};
    Datum values[] = {Int64GetDatum(run)};
    OwnerStatement found = run_statement("SELECT relid FROM softdelete.runs WHERE id = $1 AND "
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

void remember_waiting(int64 run, const std::vector<std::string>& keys)
{
    if (waiting_run != run) {
        waiting_run = run;
        waiting_keys.clear();
    }
    for (const std::string& key : keys) {
        if (!waiting_keys.empty())
            waiting_keys += ", ";
        waiting_keys += key;
    }
}

// Steps 1 to 3: rows past retention, with their descendants.
void purge_rows(int64 run, const TableConfig& cfg, Interval* retention, int64 limit)
{
    if (waiting_run != run)
        remember_waiting(run, {});
    for (;;) {
        std::string skip = "[" + waiting_keys + "]";
        std::vector<std::string> candidates =
            lines(pg_guard([&] { return candidate_rows(cfg, retention, limit, skip.c_str()); }));
        if (candidates.empty())
            return;
        PurgePlan plan = plan_purge(cfg.relid, candidates, limit);
        remember_waiting(run, plan.waiting);
        if (plan.steps.empty() && plan.waiting.empty())
            return;
        if (plan.steps.empty())
            continue; // every candidate waits: look further
        for (const PurgeStep& step : plan.steps) {
            Oid relid = step.relid;
            Oid archive = pg_guard([&] {
                LifecycleConfig life;
                return lifecycle_config(relid, &life) && life.archive ? prepare_archive(relid)
                                                                      : InvalidOid;
            });
            pg_guard([&] { run_step(relid, step.deleted.c_str(), step.live.c_str(), archive); });
        }
        return;
    }
}

int64 purge_batch(int64 run, Oid relid, int64 limit)
{
    TableConfig cfg;
    LifecycleConfig life;
    pg_guard([&] {
        if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                            errmsg("relation with OID %u does not exist", relid)));
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
        if (life.retention != nullptr)
            purge_rows(run, cfg, life.retention, limit);
        if (life.archive_retention != nullptr) {
            pg_guard([&] {
                Oid archive = archive_of(relid);
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
