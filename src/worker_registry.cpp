// The lifecycle workers' shared memory (see worker_registry.hpp). One
// LWLock guards it all: it is taken for a few instructions at a time, by the
// launcher a few times per naptime, by each worker when it starts and exits,
// and by the rare statement that needs a database to itself.
//
// Plain PostgreSQL code: nothing here owns a resource through a destructor.
#include <algorithm>
#include <csignal>

#include "settings.hpp"
#include "worker_registry.hpp"

extern "C" {
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/wait_event.h"
}

namespace softdelete
{

namespace
{

constexpr char tranche_name[] = "softdelete";

// Statements keeping a database to themselves at once (see keep_workers_out).
constexpr int kept_out_count = 64;

// How long a statement waits for the workers it asked to stop. PostgreSQL
// then waits up to 5 seconds more for the sessions still in the database.
constexpr long stop_wait_ms = 5000;

enum class SlotState : uint8 { free, claimed, running, done };

struct WorkerSlot {
    SlotState state;
    bool stop; // asked to stop (before or after it attached)
    VisitOutcome outcome;
    Oid database;
    pid_t pid; // once attached
    uint64 generation;
};

struct KeptOut {
    Oid database; // InvalidOid: entry unused
    pid_t holder; // the backend whose transaction keeps it
};

struct Registry {
    LWLock* lock;
    uint64 next_generation;
    WorkerSlot slots[worker_slot_count];
    KeptOut kept_out[kept_out_count];
};

Registry* registry = nullptr;

#if PG_VERSION_NUM >= 150000
shmem_request_hook_type previous_shmem_request = nullptr;
#endif
shmem_startup_hook_type previous_shmem_startup = nullptr;

// This process's slot, once attached, and how its visit went.
int attached_slot = -1;
uint64 attached_generation = 0;
VisitOutcome reported_outcome = VisitOutcome::unknown;

// Whether this backend's transaction keeps a database.
bool keeping_out = false;

void request_shared_memory()
{
#if PG_VERSION_NUM >= 150000
    if (previous_shmem_request != nullptr)
        previous_shmem_request();
#endif
    RequestAddinShmemSpace(MAXALIGN(sizeof(Registry)));
    RequestNamedLWLockTranche(tranche_name, 1);
}

// Runs in the postmaster, and again after a crash: whatever the slots held
// died with the processes that held them.
void init_shared_memory()
{
    if (previous_shmem_startup != nullptr)
        previous_shmem_startup();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    bool found = false;
    registry = static_cast<Registry*>(
        ShmemInitStruct("softdelete lifecycle workers", sizeof(Registry), &found));
    if (!found) {
        memset(registry, 0, sizeof(Registry));
        registry->lock = &(GetNamedLWLockTranche(tranche_name))->lock;
        registry->next_generation = 1;
    }
    LWLockRelease(AddinShmemInitLock);
}

bool kept_out(Oid database)
{
    for (const KeptOut& entry : registry->kept_out)
        if (entry.database == database)
            return true;
    return false;
}

bool has_worker(Oid database)
{
    for (const WorkerSlot& slot : registry->slots)
        if (slot.database == database &&
            (slot.state == SlotState::claimed || slot.state == SlotState::running))
            return true;
    return false;
}

// At exit, from any cause (ERROR and FATAL included), the slot says the
// visit is over: the launcher may start the next one, and a statement
// waiting for the database goes on.
void detach_worker_slot(int code, Datum arg)
{
    (void)code;
    (void)arg;
    if (attached_slot < 0 || registry == nullptr)
        return;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    WorkerSlot& slot = registry->slots[attached_slot];
    if (slot.generation == attached_generation && slot.state == SlotState::running) {
        slot.state = SlotState::done;
        slot.outcome = reported_outcome;
        slot.pid = 0;
    }
    LWLockRelease(registry->lock);
    attached_slot = -1;
}

void release_kept_out()
{
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    for (KeptOut& entry : registry->kept_out)
        if (entry.holder == MyProcPid)
            entry = KeptOut{InvalidOid, 0};
    LWLockRelease(registry->lock);
    keeping_out = false;
}

// DROP DATABASE and its kind commit (or fail) with their transaction; only
// then may workers come back.
void release_at_transaction_end(XactEvent event, void* arg)
{
    (void)arg;
    if (!keeping_out)
        return;
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT || event == XACT_EVENT_PREPARE ||
        event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
        release_kept_out();
}

// Marks database kept out by this backend, asks its workers to stop, and
// returns their pids (pid 0: not started yet; it will see the request).
int stop_workers_in(Oid database, pid_t* pids)
{
    int n = 0;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    for (KeptOut& entry : registry->kept_out) {
        if (entry.database == InvalidOid) {
            entry = KeptOut{database, MyProcPid};
            keeping_out = true;
            break;
        }
    }
    for (WorkerSlot& slot : registry->slots) {
        if (slot.database != database ||
            (slot.state != SlotState::claimed && slot.state != SlotState::running))
            continue;
        slot.stop = true;
        pids[n++] = slot.state == SlotState::running ? slot.pid : 0;
    }
    LWLockRelease(registry->lock);
    return n;
}

bool worker_still_in(Oid database)
{
    LWLockAcquire(registry->lock, LW_SHARED);
    bool found = has_worker(database);
    LWLockRelease(registry->lock);
    return found;
}

} // namespace

void request_worker_registry()
{
#if PG_VERSION_NUM >= 150000
    previous_shmem_request = shmem_request_hook;
    shmem_request_hook = request_shared_memory;
#else
    request_shared_memory();
#endif
    previous_shmem_startup = shmem_startup_hook;
    shmem_startup_hook = init_shared_memory;
    RegisterXactCallback(release_at_transaction_end, nullptr);
}

ClaimResult claim_worker_slot(Oid database, int limit, WorkerTicket* ticket)
{
    ClaimResult result = ClaimResult::full;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    int in_use = 0;
    for (const WorkerSlot& slot : registry->slots)
        in_use += slot.state != SlotState::free;
    if (kept_out(database) || has_worker(database)) {
        result = ClaimResult::busy;
    } else if (in_use < limit) {
        for (int i = 0; i < worker_slot_count; i++) {
            WorkerSlot& slot = registry->slots[i];
            if (slot.state != SlotState::free)
                continue;
            slot = WorkerSlot{SlotState::claimed, false, VisitOutcome::unknown,
                              database,           0,     registry->next_generation++};
            *ticket = WorkerTicket{i, slot.generation, database};
            result = ClaimResult::claimed;
            break;
        }
    }
    LWLockRelease(registry->lock);
    return result;
}

bool take_finished_visit(int index, bool process_gone, Oid* database, VisitOutcome* outcome)
{
    bool finished = false;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    WorkerSlot& slot = registry->slots[index];
    if (slot.state == SlotState::done || (process_gone && slot.state == SlotState::claimed)) {
        *database = slot.database;
        *outcome = slot.state == SlotState::done ? slot.outcome : VisitOutcome::unknown;
        slot = WorkerSlot{};
        finished = true;
    }
    LWLockRelease(registry->lock);
    return finished;
}

bool abandon_worker_slot(const WorkerTicket& ticket)
{
    bool abandoned = false;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    WorkerSlot& slot = registry->slots[ticket.slot];
    if (slot.generation == ticket.generation && slot.state == SlotState::claimed) {
        slot = WorkerSlot{};
        abandoned = true;
    }
    LWLockRelease(registry->lock);
    return abandoned;
}

bool attach_worker_slot(const WorkerTicket& ticket)
{
    if (ticket.slot < 0 || ticket.slot >= worker_slot_count)
        return false;
    // Registered first: from here on an exit at any point marks the slot.
    before_shmem_exit(detach_worker_slot, 0);
    bool attached = false;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    WorkerSlot& slot = registry->slots[ticket.slot];
    if (slot.generation == ticket.generation && slot.state == SlotState::claimed) {
        if (slot.stop) {
            slot.state = SlotState::done; // stopped before it began
            slot.outcome = VisitOutcome::stopped;
        } else {
            slot.state = SlotState::running;
            slot.pid = MyProcPid;
            attached_slot = ticket.slot;
            attached_generation = ticket.generation;
            attached = true;
        }
    }
    LWLockRelease(registry->lock);
    return attached;
}

void report_visit(VisitOutcome outcome)
{
    reported_outcome = outcome;
}

int keep_workers_out(Oid database)
{
    pid_t pids[worker_slot_count];
    int n = stop_workers_in(database, pids);
    for (int i = 0; i < n; i++)
        if (pids[i] != 0)
            (void)kill(pids[i], SIGTERM);
    TimestampTz give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), stop_wait_ms);
    while (n > 0 && worker_still_in(database) && GetCurrentTimestamp() < give_up) {
        (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
                        PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
    return n;
}

long retry_delay_ms(int failures)
{
    long naptime_ms = naptime * 1000L;
    long delay = naptime_ms << std::clamp(failures - 1, 0, 6);
    return std::min(delay, std::max(naptime_ms, 3600 * 1000L));
}

} // namespace softdelete
