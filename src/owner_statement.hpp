// Statements the extension runs on a user's table as that table's owner.
#pragma once

#include "pg.hpp"

namespace softdelete
{

struct OwnerStatement {
    uint64 processed;
    char* first_value; // first column of the first row, as text; nullptr if none
    bool ran;          // run_as_owner_ordered(): its plan passed, and it ran
};

// A statement whose plan must have a certain shape (a scan in the order of
// an index): check says whether a plan has it.
struct OrderedRun {
    bool (*check)(PlannedStmt* plan, void* arg);
    void* arg;
};

// PG regime. Runs sql (with $1..$n) as owner, outside FORCE ROW LEVEL
// SECURITY, with softdelete.hard_delete in effect for that statement when
// asked, and with the caller's actor as softdelete.actor. Whatever code the statement reaches (the
// table's triggers, index expressions, CHECK constraints) runs with the owner's rights, never with
// the rights of the extension's owner: the caller's authority was checked
// before.
// see_concurrent: under REPEATABLE READ or SERIALIZABLE, read with a new
// snapshot and fail on a row the transaction's snapshot does not see (the
// cascade, which must not miss a child committed meanwhile).
OwnerStatement run_as_owner(Oid owner, const char* sql, int nargs, Oid* types, Datum* values,
                            bool hard_delete, bool see_concurrent = false);

// PG regime. run_as_owner(), the statement's rows sent to dest instead of
// kept (first_value stays nullptr): a receiver that reads what it needs
// from each row as the executor hands it over.
OwnerStatement run_as_owner_into(Oid owner, const char* sql, int nargs, Oid* types, Datum* values,
                                 bool hard_delete, DestReceiver* dest);

// PG regime. run_as_owner_into() of a statement whose order matters: its
// plan, made with sequential and bitmap scans off and kept generic, runs
// only if order.check passes it (ran tells).
OwnerStatement run_as_owner_ordered(Oid owner, const char* sql, int nargs, Oid* types,
                                    Datum* values, bool hard_delete, DestReceiver* dest,
                                    const OrderedRun& order);

// PG regime. Runs sql (with $1..$n) as the current role: statements on the
// extension's own tables (softdelete.runs, the archives) and the DDL of its
// archive schema, run by the extension's owner or the lifecycle worker.
OwnerStatement run_statement(const char* sql, int nargs, Oid* types, Datum* values);

} // namespace softdelete
