// The lifecycle launcher: one background worker for the whole server. It
// connects to no database and reads only the shared catalog pg_database.
// Every softdelete.naptime it lists the databases that take connections and
// are no template, and starts a short-lived database worker
// (worker_database.cpp) in each one whose visit is due: one at a time per
// database, a few at a time overall. A worker that connected to a database
// for good would keep it from being dropped; these leave when their visit is
// over, and are asked to leave early by the statements that need a database
// to themselves (database_guard.cpp).
//
// A database whose visit failed is visited again later, with a delay that
// doubles at each failure (retry_delay_ms). The launcher starts only once
// recovery is over, so a standby never runs it, and a promoted standby
// starts it then. If it exits (an error, or SIGTERM outside a shutdown) the
// postmaster starts it again after launcher_restart_seconds; after a crash
// of any backend, with everything else.
//
// Plain PostgreSQL code: nothing here owns a resource through a destructor.
#include <algorithm>
#include <csignal>

#include "error_bridge.hpp"
#include "settings.hpp"
#include "worker_launcher.hpp"
#include "worker_registry.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/pg_database.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/wait_event.h"
}

namespace softdelete
{

namespace
{

constexpr int launcher_restart_seconds = 10;

volatile sig_atomic_t stop_requested = false;

// A database the launcher knows, and how its last visit went.
struct DatabaseVisits {
    Oid database;           // hash key
    TimestampTz last_start; // 0: never visited
    TimestampTz last_end;
    int failures; // visits in a row that failed
    bool running;
    bool listed; // in pg_database at the last look
};

// A worker this launcher started, by slot.
struct StartedWorker {
    BackgroundWorkerHandle* handle; // null: none, or started by an earlier launcher
    WorkerTicket ticket;
};

struct ListedDatabase {
    Oid oid;
    NameData name;
};

// Lives as long as the launcher: the visits and the workers' handles.
MemoryContext launcher_context = nullptr;
HTAB* visits = nullptr;
StartedWorker started[worker_slot_count];
bool said_no_worker_slot = false;

// SIGTERM: the loop ends at its next turn (a wait is cut short).
void request_stop(SIGNAL_ARGS)
{
    int saved_errno = errno;
    stop_requested = true;
    SetLatch(MyLatch);
    errno = saved_errno;
}

// The most database workers at once: a quarter of max_worker_processes, so
// that parallel queries and other extensions keep theirs.
int worker_limit()
{
    return std::clamp(max_worker_processes / 4, 1, worker_slot_count);
}

bool invalid_database(Form_pg_database db)
{
#ifdef DATCONNLIMIT_INVALID_DB
    // an interrupted DROP DATABASE leaves it so; nobody can connect
    return db->datconnlimit == DATCONNLIMIT_INVALID_DB;
#else
    (void)db;
    return false;
#endif
}

// The databases a worker may visit, as ListedDatabase entries allocated in
// the current memory context.
List* list_databases()
{
    MemoryContext caller = CurrentMemoryContext;
    List* databases = NIL;
    StartTransactionCommand();
    (void)GetTransactionSnapshot();
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(rel, 0, nullptr);
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = heap_getnext(scan, ForwardScanDirection))) {
        auto* db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tuple));
        if (!db->datallowconn || db->datistemplate || invalid_database(db))
            continue;
        auto* entry =
            static_cast<ListedDatabase*>(MemoryContextAlloc(caller, sizeof(ListedDatabase)));
        entry->oid = db->oid;
        entry->name = db->datname;
        MemoryContext transaction = MemoryContextSwitchTo(caller);
        databases = lappend(databases, entry);
        MemoryContextSwitchTo(transaction);
    }
    table_endscan(scan);
    table_close(rel, AccessShareLock);
    CommitTransactionCommand();
    MemoryContextSwitchTo(caller);
    return databases;
}

DatabaseVisits* visits_of(Oid database, TimestampTz now)
{
    bool found = false;
    auto* entry = static_cast<DatabaseVisits*>(hash_search(visits, &database, HASH_ENTER, &found));
    if (!found) {
        entry->last_start = 0;
        entry->last_end = now;
        entry->failures = 0;
        entry->running = false;
        entry->listed = true;
    }
    return entry;
}

// Takes the visits that are over and sets when each database is due again.
void collect_finished_visits(TimestampTz now)
{
    for (int i = 0; i < worker_slot_count; i++) {
        bool gone = false;
        if (started[i].handle != nullptr) {
            pid_t pid;
            gone = GetBackgroundWorkerPid(started[i].handle, &pid) == BGWH_STOPPED;
        }
        Oid database;
        VisitOutcome outcome;
        if (!take_finished_visit(i, gone, &database, &outcome))
            continue;
        if (started[i].handle != nullptr)
            pfree(started[i].handle);
        started[i] = StartedWorker{};
        DatabaseVisits* entry = visits_of(database, now);
        entry->running = false;
        entry->last_end = now;
        if (outcome == VisitOutcome::failed || outcome == VisitOutcome::unknown)
            entry->failures++;
        else
            entry->failures = 0;
    }
}

// When database is due for a visit, from the settings in effect now (a
// new naptime applies at once): a naptime after the last visit began, or
// after a failed one ended, later at each failure in a row.
TimestampTz next_visit(const DatabaseVisits& entry)
{
    if (entry.last_start == 0)
        return entry.last_end; // not visited yet: due since it was first seen
    if (entry.failures > 0)
        return TimestampTzPlusMilliseconds(entry.last_end, retry_delay_ms(entry.failures));
    return TimestampTzPlusMilliseconds(entry.last_start, naptime * 1000L);
}

// Forgets the databases that are gone (no longer listed, nothing running).
void forget_unlisted_databases(List* databases)
{
    HASH_SEQ_STATUS seq;
    hash_seq_init(&seq, visits);
    DatabaseVisits* entry;
    while ((entry = static_cast<DatabaseVisits*>(hash_seq_search(&seq))) != nullptr)
        entry->listed = false;
    ListCell* lc;
    foreach (lc, databases) {
        auto* db = static_cast<ListedDatabase*>(lfirst(lc));
        entry = static_cast<DatabaseVisits*>(hash_search(visits, &db->oid, HASH_FIND, nullptr));
        if (entry != nullptr)
            entry->listed = true;
    }
    hash_seq_init(&seq, visits);
    while ((entry = static_cast<DatabaseVisits*>(hash_seq_search(&seq))) != nullptr)
        if (!entry->listed && !entry->running)
            hash_search(visits, &entry->database, HASH_REMOVE, nullptr);
}

bool start_worker(const WorkerTicket& ticket, const char* database_name,
                  BackgroundWorkerHandle** handle)
{
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;
    strlcpy(worker.bgw_library_name, MyBgworkerEntry->bgw_library_name, BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "softdelete_database_worker_main", BGW_MAXLEN);
    snprintf(worker.bgw_name, BGW_MAXLEN, "softdelete worker for database %s", database_name);
    strlcpy(worker.bgw_type, "softdelete worker", BGW_MAXLEN);
    worker.bgw_notify_pid = MyProcPid; // its start and exit set our latch
    static_assert(sizeof ticket <= BGW_EXTRALEN);
    memcpy(worker.bgw_extra, &ticket, sizeof ticket);
    return RegisterDynamicBackgroundWorker(&worker, handle);
}

// Starts a worker in every listed database whose visit is due, while the
// limit allows; returns when the next visit not yet due is.
TimestampTz start_due_visits(List* databases, TimestampTz now)
{
    TimestampTz next_wake = TimestampTzPlusMilliseconds(now, naptime * 1000L);
    ListCell* lc;
    foreach (lc, databases) {
        auto* db = static_cast<ListedDatabase*>(lfirst(lc));
        DatabaseVisits* entry = visits_of(db->oid, now);
        if (entry->running)
            continue;
        TimestampTz due = next_visit(*entry);
        if (due > now) {
            next_wake = std::min(next_wake, due);
            continue;
        }
        WorkerTicket ticket;
        // busy: kept out by a statement, or an earlier launcher's worker is
        // still there; full: a worker's exit wakes us
        if (claim_worker_slot(db->oid, worker_limit(), &ticket) != ClaimResult::claimed)
            continue;
        BackgroundWorkerHandle* handle = nullptr;
        MemoryContext loop_context = MemoryContextSwitchTo(launcher_context);
        bool registered = start_worker(ticket, NameStr(db->name), &handle);
        MemoryContextSwitchTo(loop_context);
        if (!registered) {
            (void)abandon_worker_slot(ticket);
            if (!said_no_worker_slot)
                ereport(LOG, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                              errmsg("softdelete launcher: no background worker slot is free "
                                     "for a database worker"),
                              errhint("Raise max_worker_processes.")));
            said_no_worker_slot = true;
            entry->last_start = now; // tried: again in a naptime
            continue;
        }
        said_no_worker_slot = false;
        started[ticket.slot] = StartedWorker{handle, ticket};
        entry->running = true;
        entry->last_start = now;
    }
    return next_wake;
}

// On the way out, for any reason: a worker registered but not yet attached
// is called off, so that no slot stays claimed by a worker nobody watches.
// Workers already at work finish their visit and free their own slot.
void abandon_unattached_workers(int code, Datum arg)
{
    (void)code;
    (void)arg;
    for (StartedWorker& worker : started) {
        // Freed first: a worker that attaches after this finds its ticket
        // stale. One that attached before is at work and is left to it.
        if (worker.handle != nullptr && abandon_worker_slot(worker.ticket))
            TerminateBackgroundWorker(worker.handle);
    }
}

void launcher_loop()
{
    if (naptime == 0)
        ereport(LOG, (errmsg("softdelete launcher started"),
                      errdetail("softdelete.naptime is 0: no database is visited until it is "
                                "set.")));
    else
        ereport(LOG, (errmsg("softdelete launcher started"),
                      errdetail("Looking at every database each %d s; at most %d database "
                                "workers at once.",
                                naptime, worker_limit())));
    before_shmem_exit(abandon_unattached_workers, 0);
    launcher_context =
        AllocSetContextCreate(TopMemoryContext, "softdelete launcher", ALLOCSET_DEFAULT_SIZES);
    visits =
        oid_hash("softdelete launcher databases", sizeof(DatabaseVisits), 64, launcher_context);
    MemoryContext loop_context =
        AllocSetContextCreate(launcher_context, "softdelete launcher loop", ALLOCSET_SMALL_SIZES);
    while (!stop_requested) {
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        MemoryContextReset(loop_context);
        MemoryContextSwitchTo(loop_context);
        TimestampTz now = GetCurrentTimestamp();
        collect_finished_visits(now);
        if (naptime == 0) {
            // Off (test instances, or purge() from a scheduler instead):
            // nothing to do until a reload sets a naptime, or a worker
            // started before exits.
            (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L, PG_WAIT_EXTENSION);
            ResetLatch(MyLatch);
            CHECK_FOR_INTERRUPTS();
            continue;
        }
        List* databases = list_databases();
        forget_unlisted_databases(databases);
        TimestampTz next_wake = start_due_visits(databases, now);
        long timeout =
            std::max(TimestampDifferenceMilliseconds(GetCurrentTimestamp(), next_wake), 1L);
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
    ereport(LOG, (errmsg("softdelete launcher stopping")));
}

} // namespace

void register_launcher()
{
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = launcher_restart_seconds;
    strlcpy(worker.bgw_library_name, "softdelete", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "softdelete_launcher_main", BGW_MAXLEN);
    strlcpy(worker.bgw_name, "softdelete launcher", BGW_MAXLEN);
    strlcpy(worker.bgw_type, "softdelete launcher", BGW_MAXLEN);
    RegisterBackgroundWorker(&worker);
}

} // namespace softdelete

extern "C" {

PGDLLEXPORT void softdelete_launcher_main(Datum arg);

void softdelete_launcher_main(Datum arg)
{
    (void)arg;
    pqsignal(SIGTERM, softdelete::request_stop);
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();
    // No database: shared catalogs only.
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);
    softdelete::entry_guard([] { softdelete::launcher_loop(); });
    // Exit code 1, so that the postmaster starts it again unless it is the
    // server that is stopping.
    proc_exit(1);
}
}
