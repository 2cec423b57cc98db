// The database worker: a short-lived background worker the launcher
// (worker_launcher.cpp) starts in one database. It checks that softdelete is
// installed there, marks the runs a crash left unfinished as failed, then
// purges each table that has a retention, children before parents, and
// exits. It connects as the bootstrap superuser, which owns the extension's
// internal functions, and does its work through them
// (purge_tables(), then softdelete_internal.start_run, purge_batch, finish_run):
// the same hard-delete path, rules and event log as softdelete.purge().
//
// Each unit of work is a transaction of its own with a snapshot of its own:
// starting a run, each batch of at most softdelete.batch_size rows, ending a
// run. A unit's body runs in a subtransaction that is rolled back when it
// fails (rolled_back_on_error), so a failure costs only that unit: the run
// records the error in a transaction of its own and the worker goes on with
// the next table. A table whose last runs failed waits before it is tried
// again, longer at each failure (retry_delay_ms).
//
// SIGTERM (the server stopping, or a statement that needs the database, see
// database_guard.cpp) cancels the unit in progress, which rolls back; the
// run records that it was stopped and the worker exits. SIGHUP takes effect
// between two batches (softdelete.batch_size).
#include <algorithm>
#include <csignal>
#include <optional>

#include "error_bridge.hpp"
#include "purge.hpp"
#include "settings.hpp"
#include "worker_registry.hpp"

extern "C" {
#include "access/xlog.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/wait_event.h"
}

namespace softdelete
{

namespace
{

volatile sig_atomic_t stop_requested = false;
// This database's name, for the log.
const char* database_name = "";
// A unit's body is running: a cancel ends it with an error, which the unit
// takes (rolled back); anywhere else a cancel would surface in code that
// does not expect it.
volatile sig_atomic_t in_unit = false;

constexpr char stopped_message[] =
    "stopped: the softdelete worker was asked to stop (server shutdown, or a statement that "
    "needs the database)";

// SIGTERM: a unit in progress is cancelled, so that it rolls back and the
// run can say why. Outside a unit the process ends at the next interrupt
// check, as any backend would (a commit waiting for a synchronous standby
// included).
void request_stop(SIGNAL_ARGS)
{
    stop_requested = true;
    if (in_unit)
        StatementCancelHandler(postgres_signal_arg);
    else
        die(postgres_signal_arg);
}

// SIGINT (pg_cancel_backend): cancels the unit in progress, if any.
void cancel_unit(SIGNAL_ARGS)
{
    if (in_unit)
        StatementCancelHandler(postgres_signal_arg);
}

// One unit of work, as the top of this file says. Returns the error of its
// body, or of its commit.
template <typename Body> std::optional<PgError> unit_of_work(const char* activity, Body&& body)
{
    MemoryContext work = CurrentMemoryContext;
    pg_guard([activity] {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
        pgstat_report_activity(STATE_RUNNING, activity);
        // Deferrable constraint triggers fire at the end of the statement
        // that queued them, as the role that statement runs as (each
        // table's owner), as their immediate triggers do. Deferred to the
        // commit, PostgreSQL would refuse to fire them in the worker's
        // security-restricted operation, and the commit would fail.
        ConstraintsSetStmt immediate = {};
        immediate.type = T_ConstraintsSetStmt;
        immediate.constraints = NIL;
        immediate.deferred = false;
        AfterTriggerSetState(&immediate);
    });
    MemoryContextSwitchTo(work);
    std::optional<PgError> error = rolled_back_on_error([&body] {
        in_unit = true;
        body();
        in_unit = false;
    });
    // A cancel that came too late to end the body is void: the body is over.
    in_unit = false;
    QueryCancelPending = false;
    bool committed = false;
    try {
        pg_guard([] {
            PopActiveSnapshot();
            CommitTransactionCommand();
        });
        committed = true;
    } catch (const PgError& e) {
        error = e; // a deferred constraint, a serialization failure
    }
    pg_guard([committed] {
        if (!committed)
            AbortCurrentTransaction();
        pgstat_report_activity(STATE_IDLE, nullptr);
    });
    MemoryContextSwitchTo(work);
    return error;
}

// Runs sql through SPI and returns the bigint in its first row and column (0
// for no row or NULL). Plain PostgreSQL code, for a unit's body.
int64 query_bigint(const char* sql, int nargs, Oid* types, Datum* values, const char* nulls)
{
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "softdelete worker: SPI_connect failed");
    int rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "softdelete worker: %s failed: %s", sql, SPI_result_code_string(rc));
    int64 result = 0;
    if (SPI_processed > 0) {
        bool isnull = false;
        Datum value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
        if (!isnull)
            result = DatumGetInt64(value);
    }
    SPI_finish();
    return result;
}

// Logs a failure at WARNING, PostgreSQL's whole error (its SQLSTATE, detail
// and CONTEXT) with what the worker was doing.
void log_failure(const PgError& error, const char* doing)
{
    pg_guard([&error, doing] {
        ErrorContextCallback callback;
        callback.callback = [](void* arg) {
            errcontext("softdelete worker in database \"%s\" %s", database_name,
                       static_cast<const char*>(arg));
        };
        callback.arg = const_cast<char*>(doing);
        callback.previous = error_context_stack;
        error_context_stack = &callback;
        if (ErrorData* data = error.pg_error()) {
            data->elevel = WARNING;
            data->output_to_server = true;
            data->output_to_client = false;
            ThrowErrorData(data);
        } else {
            ereport(WARNING, (errcode(error.sqlstate()), errmsg_internal("%s", error.what())));
        }
        error_context_stack = callback.previous;
    });
}

// --- Is softdelete installed here? ---

enum class Installed { yes, no, in_progress };

// Looks at pg_extension with a dirty snapshot, which also shows the row of
// a CREATE (or DROP, or ALTER) EXTENSION still in progress, and the
// transaction doing it.
Installed look_for_extension(TransactionId* in_progress)
{
    Relation rel = table_open(ExtensionRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
                CStringGetDatum("softdelete"));
    SnapshotData dirty;
    InitDirtySnapshot(dirty);
    SysScanDesc scan = systable_beginscan(rel, ExtensionNameIndexId, true, &dirty, 1, &key);
    Installed found = Installed::no;
    while (HeapTupleIsValid(systable_getnext(scan))) {
        TransactionId xid = TransactionIdIsValid(dirty.xmin) ? dirty.xmin : dirty.xmax;
        if (TransactionIdIsValid(xid)) {
            *in_progress = xid;
            found = Installed::in_progress;
            break;
        }
        found = Installed::yes;
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return found;
}

// Waits until transaction xid ends, or until give_up.
void wait_for_transaction(TransactionId xid, TimestampTz give_up)
{
#if PG_VERSION_NUM >= 180000
    while (!ConditionalXactLockTableWait(xid, false)) {
#else
    while (!ConditionalXactLockTableWait(xid)) {
#endif
        if (GetCurrentTimestamp() >= give_up)
            return;
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
}

// How long a worker waits for a transaction creating the extension: the
// next visit finds it anyway, and a transaction left open must not keep a
// worker.
constexpr long creation_wait_ms = 10 * 1000L;

// Whether softdelete is installed in this database. A transaction that is
// creating it is waited for, up to a naptime (10 seconds at most), and work
// begins as soon as it commits.
std::optional<PgError> check_extension(bool* installed)
{
    TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
                                                      std::min(naptime * 1000L, creation_wait_ms));
    for (;;) {
        Installed state = Installed::no;
        std::optional<PgError> error = unit_of_work("looking for softdelete", [&state, give_up] {
            TransactionId xid = InvalidTransactionId;
            state = look_for_extension(&xid);
            if (state == Installed::in_progress) {
                pgstat_report_activity(STATE_RUNNING,
                                       "waiting for the transaction creating softdelete");
                wait_for_transaction(xid, give_up);
            }
        });
        if (error || state != Installed::in_progress || GetCurrentTimestamp() >= give_up) {
            *installed = state == Installed::yes;
            return error;
        }
    }
}

// --- The tables ---

struct PurgeTable {
    Oid oid;
    char* name; // schema-qualified, quoted where needed
};

// The tables to visit, children before parents, allocated in the current
// memory context (outside the unit's transaction); a table someone holds
// locked is left for a later visit. Plain PostgreSQL code.
List* purge_tables()
{
    MemoryContext caller = CurrentMemoryContext;
    List* tables = NIL;
    ListCell* lc;
    foreach (lc, softdelete::purge_tables(true)) {
        Oid oid = lfirst_oid(lc);
        char* name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(oid)),
                                                get_rel_name(oid));
        MemoryContext work = MemoryContextSwitchTo(caller);
        auto* table = static_cast<PurgeTable*>(palloc(sizeof(PurgeTable)));
        table->oid = oid;
        table->name = pstrdup(name);
        tables = lappend(tables, table);
        MemoryContextSwitchTo(work);
    }
    return tables;
}

// Whether table's last runs failed so recently that it is not tried again
// yet. Plain PostgreSQL code. Seven runs at most: the delay stops growing
// after six failures in a row.
bool waiting_after_failures(Oid table)
{
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "softdelete worker: SPI_connect failed");
    Oid types[1] = {OIDOID};
    Datum values[1] = {ObjectIdGetDatum(table)};
    const char* sql = "SELECT status = 'failed', finished_at FROM softdelete.runs "
                      "WHERE relid = $1 ORDER BY started_at DESC, id DESC LIMIT 7";
    int rc = SPI_execute_with_args(sql, 1, types, values, nullptr, true, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "softdelete worker: %s failed: %s", sql, SPI_result_code_string(rc));
    int failures = 0;
    TimestampTz last_failure = 0;
    for (uint64 i = 0; i < SPI_processed; i++) {
        bool isnull = false;
        Datum failed = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
        if (isnull || !DatumGetBool(failed))
            break;
        if (failures++ == 0) {
            Datum at = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
            last_failure = isnull ? GetCurrentTimestamp() : DatumGetTimestampTz(at);
        }
    }
    SPI_finish();
    return failures > 0 && GetCurrentTimestamp() <
                               TimestampTzPlusMilliseconds(last_failure, retry_delay_ms(failures));
}

// Whether table has rows for a purge to take now: rows deleted longer than
// its retention ago, or archived rows past archive_retention. A visit that
// finds none records no run, so that softdelete.runs holds work, not one
// empty row per table and naptime.
bool purge_due(Oid table)
{
    Oid types[1] = {REGCLASSOID};
    Datum values[1] = {ObjectIdGetDatum(table)};
    return query_bigint("SELECT softdelete_internal.purge_due($1)::int::bigint", 1, types, values,
                        nullptr) != 0;
}

int64 start_run(Oid table)
{
    Oid types[1] = {REGCLASSOID};
    Datum values[1] = {ObjectIdGetDatum(table)};
    return query_bigint("SELECT softdelete_internal.start_run($1, 'worker')", 1, types, values,
                        nullptr);
}

int64 purge_batch(int64 run, Oid table)
{
    Oid types[3] = {INT8OID, REGCLASSOID, INT4OID};
    Datum values[3] = {Int64GetDatum(run), ObjectIdGetDatum(table), Int32GetDatum(batch_size)};
    return query_bigint("SELECT softdelete_internal.purge_batch($1, $2, $3)", 3, types, values,
                        nullptr);
}

void finish_run(int64 run, const char* error)
{
    Oid types[2] = {INT8OID, TEXTOID};
    Datum values[2] = {Int64GetDatum(run), error ? CStringGetTextDatum(error) : Datum(0)};
    const char nulls[2] = {' ', error ? ' ' : 'n'};
    (void)query_bigint("SELECT 0::bigint FROM softdelete_internal.finish_run($1, $2)", 2, types,
                       values, nulls);
    // A table whose due rows all wait (kept by a trigger, needed by a live
    // row) is due at every visit, and every visit would add a run that
    // removed nothing. Of such runs in a row, the latest is kept: the
    // table's previous run goes when both removed nothing, and when every
    // run numbered between them is one this transaction sees (a purge()
    // still running in another transaction is not seen, and comes between).
    if (error == nullptr)
        (void)query_bigint(
            "WITH this AS (SELECT relid FROM softdelete.runs WHERE id = $1 AND status = "
            "'succeeded' AND rows_archived = 0 AND rows_purged = 0), "
            "previous AS (SELECT max(p.id) AS id FROM softdelete.runs p, this WHERE p.relid = "
            "this.relid AND p.id < $1), "
            "gone AS (DELETE FROM softdelete.runs p USING previous WHERE p.id = previous.id AND "
            "p.started_by = 'worker' AND p.status = 'succeeded' AND p.rows_archived = 0 AND "
            "p.rows_purged = 0 AND (SELECT pg_catalog.count(*) FROM softdelete.runs m WHERE "
            "m.id > previous.id AND m.id < $1) = $1 - previous.id - 1 RETURNING 0) "
            "SELECT pg_catalog.count(*) FROM gone",
            1, types, values, nullptr);
}

// A run's error as softdelete.purge() records it, allocated in context.
const char* failure_text(const PgError& error, MemoryContext context)
{
    return pg_guard([&error, context] {
        MemoryContext previous = MemoryContextSwitchTo(context);
        char* text = psprintf("%s (SQLSTATE %s)", error.what(), unpack_sql_state(error.sqlstate()));
        MemoryContextSwitchTo(previous);
        return text;
    });
}

// Ends run, with error (null when it succeeded), in a transaction of its own.
void end_run(int64 run, const char* error, const char* doing)
{
    // When the run ends because the worker must stop, that is what it
    // records: a second SIGTERM (a fast shutdown can send more than one)
    // must not cancel this short UPDATE too, which would leave the run to
    // the next visit's "stopped before the run finished". So interrupts
    // wait until it is done. (An error zeroes the hold-off count: it is
    // put back as it was, not decremented.)
    uint32 saved_holdoff = InterruptHoldoffCount;
    if (stop_requested)
        InterruptHoldoffCount++;
    std::optional<PgError> failure;
    try {
        failure = unit_of_work(doing, [run, error] { finish_run(run, error); });
    } catch (...) {
        InterruptHoldoffCount = saved_holdoff;
        throw;
    }
    InterruptHoldoffCount = saved_holdoff;
    if (failure)
        log_failure(*failure, doing);
}

// One run on one table: start it, purge batch after batch until nothing is
// left, end it. A failure ends the run with its error. What a batch
// allocates goes with batch_context, reset at each batch.
void purge_table(const PurgeTable& table, MemoryContext batch_context)
{
    MemoryContext table_context = CurrentMemoryContext;
    const char* doing = pg_guard([&table] { return psprintf("purging %s", table.name); });
    bool waiting = false;
    bool asked = false;
    int64 run = 0;
    std::optional<PgError> error = unit_of_work(doing, [&table, &waiting, &asked, &run] {
        waiting = waiting_after_failures(table.oid);
        if (waiting)
            return;
        asked = true;
        waiting = !purge_due(table.oid);
        if (!waiting)
            run = start_run(table.oid);
    });
    if (error) {
        if (stop_requested)
            return;
        log_failure(*error, doing);
        // Whether the table is due is read as its owner (purge_due()), and
        // fails as the owner's purge would (an owner that lost USAGE on the
        // table's schema). Recorded as a failed run, it shows in
        // softdelete.runs and the table waits before the next try, instead
        // of a WARNING at every visit and nothing else.
        if (asked && run == 0) {
            const char* text = failure_text(*error, table_context);
            if (!unit_of_work(doing, [&table, &run] { run = start_run(table.oid); }))
                end_run(run, text, doing);
        }
        return;
    }
    if (waiting)
        return;
    int64 purged = 0;
    int batches = 0;
    const char* failure = nullptr;
    for (;;) {
        pg_guard([batch_context] { MemoryContextReset(batch_context); });
        MemoryContextSwitchTo(batch_context);
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            pg_guard([] { ProcessConfigFile(PGC_SIGHUP); });
        }
        if (stop_requested) {
            failure = stopped_message;
            break;
        }
        int64 rows = 0;
        error = unit_of_work(doing, [run, &table, &rows] { rows = purge_batch(run, table.oid); });
        if (error) {
            if (stop_requested) {
                failure = stopped_message;
            } else {
                log_failure(*error, doing);
                failure = failure_text(*error, table_context);
            }
            break;
        }
        if (rows == 0)
            break;
        purged += rows;
        batches++;
    }
    MemoryContextSwitchTo(table_context);
    end_run(run, failure, doing);
    if (purged > 0)
        pg_guard([&] {
            ereport(LOG,
                    (errmsg("softdelete worker: run %lld on %s: %lld rows in %d batches%s",
                            static_cast<long long>(run), table.name, static_cast<long long>(purged),
                            batches, failure != nullptr ? ", then it failed" : "")));
        });
}

VisitOutcome visit_database()
{
    // The launcher never runs during recovery; this is the last line of
    // defence against writing on a standby.
    if (pg_guard([] { return RecoveryInProgress(); }))
        return VisitOutcome::stopped;
    MemoryContext work = pg_guard([] {
        return AllocSetContextCreate(TopMemoryContext, "softdelete worker", ALLOCSET_DEFAULT_SIZES);
    });
    MemoryContext table_context = pg_guard([work] {
        return AllocSetContextCreate(work, "softdelete worker table", ALLOCSET_DEFAULT_SIZES);
    });
    MemoryContext batch_context = pg_guard([work] {
        return AllocSetContextCreate(work, "softdelete worker batch", ALLOCSET_DEFAULT_SIZES);
    });
    MemoryContextSwitchTo(work);
    // The worker is a superuser: the statements it writes resolve names in
    // pg_catalog only, whatever ALTER DATABASE ... SET gave this session
    // (objects in public could otherwise capture an operator it uses).
    // PGC_S_SESSION, as SET does: the functions' own SET clauses still apply.
    pg_guard(
        [] { SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION); });
    // Everything the worker does is a security-restricted operation, as
    // PostgreSQL's own maintenance commands are: the owners' code that its
    // statements reach (run as each owner) cannot leave anything to run
    // later as the superuser (a WITH HOLD cursor, whose query would run at
    // the commit), nor change a setting beyond its statement, nor SET ROLE.
    pg_guard([] {
        Oid user;
        int context;
        GetUserIdAndSecContext(&user, &context);
        SetUserIdAndSecContext(user, context | SECURITY_RESTRICTED_OPERATION);
    });
    // A lock someone holds on a table (a migration's ACCESS EXCLUSIVE, or
    // any role's LOCK TABLE) fails that table's step after a second, as a
    // failure it is retried after, instead of holding up this database's
    // other tables and, through the launcher's few workers, every other
    // database. The listing passes over a locked table (purge_tables()).
    pg_guard([] { SetConfigOption("lock_timeout", "1s", PGC_SUSET, PGC_S_SESSION); });
    database_name = pg_guard([] {
        StartTransactionCommand();
        char* name = MemoryContextStrdup(TopMemoryContext, get_database_name(MyDatabaseId));
        CommitTransactionCommand();
        return name;
    });
    MemoryContextSwitchTo(work);
    const char* doing = "looking for softdelete";
    bool installed = false;
    std::optional<PgError> error = check_extension(&installed);
    if (!error && !installed)
        return VisitOutcome::no_extension;
    pg_guard([] { elog(DEBUG1, "softdelete worker: visiting database \"%s\"", database_name); });
    if (!error) {
        doing = "marking the runs a crash left unfinished as failed";
        error = unit_of_work(doing, [] {
            (void)query_bigint("SELECT softdelete_internal.fail_unfinished_runs()", 0, nullptr,
                               nullptr, nullptr);
        });
    }
    List* tables = NIL;
    if (!error) {
        doing = "listing the tables to purge";
        error = unit_of_work(doing, [&tables] { tables = purge_tables(); });
    }
    ListCell* lc;
    foreach (lc, tables) {
        if (stop_requested)
            break;
        pg_guard([table_context] { MemoryContextReset(table_context); });
        MemoryContextSwitchTo(table_context);
        purge_table(*static_cast<PurgeTable*>(lfirst(lc)), batch_context);
        MemoryContextSwitchTo(work);
    }
    if (stop_requested)
        return VisitOutcome::stopped;
    if (error) {
        log_failure(*error, doing);
        return VisitOutcome::failed;
    }
    return VisitOutcome::done;
}

} // namespace

} // namespace softdelete

extern "C" {

PGDLLEXPORT void softdelete_database_worker_main(Datum arg);

void softdelete_database_worker_main(Datum arg)
{
    (void)arg;
    softdelete::WorkerTicket ticket;
    memcpy(&ticket, MyBgworkerEntry->bgw_extra, sizeof ticket);
    pqsignal(SIGTERM, softdelete::request_stop);
    pqsignal(SIGINT, softdelete::cancel_unit);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    // Stale (its launcher gave up on it), or asked to stop before it began.
    if (!softdelete::attach_worker_slot(ticket))
        proc_exit(0);
    BackgroundWorkerInitializeConnectionByOid(ticket.database, InvalidOid, 0);
    softdelete::entry_guard([] { softdelete::report_visit(softdelete::visit_database()); });
    proc_exit(0);
}
}
