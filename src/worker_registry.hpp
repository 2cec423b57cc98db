// The lifecycle workers' shared memory (worker_registry.cpp): which database
// each database worker is in, and which databases are kept out of their
// reach because a statement needs them to itself (see database_guard.cpp).
// The launcher claims a slot before it starts a worker, the worker attaches
// to it when it starts and marks it done when it exits, and the launcher
// reads how the visit went and frees the slot.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// How many database workers can exist at once, whatever the limit in effect.
constexpr int worker_slot_count = 4;

// How a database worker's visit ended.
enum class VisitOutcome : uint8 {
    unknown,      // it exited without saying: an error, or it never started
    done,         // every table was visited (some may have failed: see softdelete.runs)
    no_extension, // softdelete is not installed in the database
    failed,       // the visit failed before it got to the tables
    stopped,      // asked to stop: server shutdown, or the database is needed
};

// What a worker is given when it is started (bgw_extra).
struct WorkerTicket {
    int slot;
    uint64 generation;
    Oid database;
};

// Asks for the shared memory; from _PG_init, while shared_preload_libraries
// are loaded.
void request_worker_registry();

// --- The launcher ---

enum class ClaimResult { claimed, busy, full };

// Reserves a slot for a worker in database: busy when the database already
// has one or is kept out, full when `limit` slots are taken.
ClaimResult claim_worker_slot(Oid database, int limit, WorkerTicket* ticket);

// The visit that slot held, once it is over; the slot is then free again.
// process_gone: the worker's process is known to have exited, so a slot it
// never attached to is over too (it failed to start).
bool take_finished_visit(int slot, bool process_gone, Oid* database, VisitOutcome* outcome);

// Frees a claimed slot whose worker never attached (it could not be
// registered, or its launcher is leaving); a worker started for it later
// finds its ticket stale and exits. False when the worker had attached
// already (or the slot was over): the slot is left as it is.
bool abandon_worker_slot(const WorkerTicket& ticket);

// --- The database worker ---

// Takes the slot of ticket for this process; false when the ticket is stale
// or the worker was asked to stop before it started. The slot is marked done
// when this process exits, with the last outcome reported.
bool attach_worker_slot(const WorkerTicket& ticket);
void report_visit(VisitOutcome outcome);

// --- Statements that need a database to themselves ---

// Keeps database workers out of database until the current transaction
// ends: no new worker is started there, and those there are asked to stop
// (SIGTERM) and waited for, for a few seconds at most. Returns how many were
// asked to stop.
int keep_workers_out(Oid database);

// The policy shared by the launcher and the database worker for something
// that failed `failures` times in a row: come back after naptime, doubled at
// each further failure, up to 64 naptimes but no more than an hour (or one
// naptime, when that is longer).
long retry_delay_ms(int failures);

} // namespace softdelete
