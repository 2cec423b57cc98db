// softdelete_internal.purge_tables(): the enabled tables that have a
// retention or an archive_retention, children before parents. A table's
// purge removes the descendants that go with its rows itself (purge.cpp);
// this order lets each table's own retention act on its rows before its
// parents' purge reaches them, and keeps the two apart when they differ.
// The order is a depth-first walk of the foreign-key graph between enabled
// tables, each table listed after every table that references it; a cycle
// is walked once (a table already on the way down is not entered again),
// so it ends. PG regime.
#include "authorization.hpp"
#include "catalog.hpp"
#include "foreign_keys.hpp"
#include "purge.hpp"
#include "table_config.hpp"

extern "C" {
#include "catalog/pg_inherits.h"
}

namespace softdelete
{

namespace
{

struct Walk {
    List* enabled; // Oids, in softdelete.tables' order of relids
    List* seen;
    List* order; // children before parents
};

void visit(Walk* walk, Oid table)
{
    walk->seen = lappend_oid(walk->seen, table);
    ListCell* lc;
    foreach (lc, foreign_keys_to(table)) {
        Oid child = partition_root(static_cast<ForeignKey*>(lfirst(lc))->child);
        if (list_member_oid(walk->enabled, child) && !list_member_oid(walk->seen, child))
            visit(walk, child);
    }
    walk->order = lappend_oid(walk->order, table);
}

int compare_oids(const ListCell* a, const ListCell* b)
{
    Oid x = lfirst_oid(a);
    Oid y = lfirst_oid(b);
    return x < y ? -1 : x > y ? 1 : 0;
}

} // namespace

List* purge_tables(bool skip_locked)
{
    // Reading a table's foreign keys takes its lock; one that is held would
    // hold up every table of the database.
    // A partitioned table's partitions are read too (find_all_inheritors()).
    // The worker also leaves alone a table whose enforcement is not all in
    // place: a restore in progress has loaded its rows and configuration,
    // and makes its triggers (a legal hold among them), the foreign keys
    // that reference it and its policies only at its end, so that its due
    // rows are not yet what they will be.
    List* enabled = NIL;
    ListCell* lc;
    foreach (lc, enabled_tables()) {
        bool ready = true;
        if (skip_locked) {
            ListCell* part;
            foreach (part, find_all_inheritors(lfirst_oid(lc), NoLock, nullptr)) {
                // A partition belongs to the table; an inheritance child is
                // a table of its own, maybe disabled.
                Oid rel = lfirst_oid(part);
                bool own = rel == lfirst_oid(lc) || get_rel_relispartition(rel);
                if (!ConditionalLockRelationOid(rel, AccessShareLock)) {
                    ready = false;
                    break;
                }
                if (own && !enforcement_in_place(rel)) {
                    // Said at every visit: past a restore, this table is
                    // never purged until someone repairs it.
                    ereport(
                        WARNING,
                        (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                         errmsg("softdelete worker: not purging %s: the soft delete "
                                "enforcement of %s is not all in place",
                                relation_display_name(lfirst_oid(lc)), relation_display_name(rel)),
                         errdetail("Its policy, forced row level security or softdelete's "
                                   "triggers are missing, as during a restore."),
                         errhint("Once a restore is over, softdelete.enable() on the table "
                                 "puts them back.")));
                    ready = false;
                    break;
                }
            }
        }
        if (ready)
            enabled = lappend_oid(enabled, lfirst_oid(lc));
    }
    Walk walk = {enabled, NIL, NIL};
    // The same order on every call, whatever order the rows are stored in.
    list_sort(walk.enabled, compare_oids);
    foreach (lc, walk.enabled) {
        if (!list_member_oid(walk.seen, lfirst_oid(lc)))
            visit(&walk, lfirst_oid(lc));
    }
    List* out = NIL;
    foreach (lc, walk.order) {
        LifecycleConfig life;
        if (lifecycle_config(lfirst_oid(lc), &life) &&
            (life.retention != nullptr || life.archive_retention != nullptr))
            out = lappend_oid(out, lfirst_oid(lc));
    }
    return out;
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_purge_tables);
Datum softdelete_purge_tables(PG_FUNCTION_ARGS)
{
    FuncCallContext* call;
    if (SRF_IS_FIRSTCALL()) {
        call = SRF_FIRSTCALL_INIT();
        MemoryContext old = MemoryContextSwitchTo(call->multi_call_memory_ctx);
        call->user_fctx = softdelete::purge_tables();
        MemoryContextSwitchTo(old);
    }
    call = SRF_PERCALL_SETUP();
    auto* tables = static_cast<List*>(call->user_fctx);
    if (call->call_cntr < static_cast<uint64>(list_length(tables))) {
        // Read before SRF_RETURN_NEXT, which counts the call first.
        Datum next = ObjectIdGetDatum(list_nth_oid(tables, call->call_cntr));
        SRF_RETURN_NEXT(call, next);
    }
    SRF_RETURN_DONE(call);
}
}
