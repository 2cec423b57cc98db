// Operations. A statement issued by the client (or by a procedure or a DO
// block, statement by statement) is one operation: every row it and the
// functions and triggers it runs soft-delete, restore or hard-delete is
// recorded under one id. The id is taken from a sequence the first time the
// statement needs one (a rewritten DELETE stamps it in each row's delete_op,
// the mark that undo() follows).
//
// Rows are noted as PostgreSQL writes them (row_notes.cpp; hard deletes by
// an AFTER DELETE row trigger, event_log.cpp): once for each row a
// statement really changed, after any re-check of a concurrently updated
// row. So the notes are exact by construction; what is left here is to
// forget what a rolled-back subtransaction noted, to hand the soft-deleted
// and restored rows to the cascade (cascade.cpp), and to write what was
// noted when the statement ends: one event per table and action, and one
// NOTIFY for tables that ask. A transaction never commits with notes
// unwritten.
#include <algorithm>
#include "event_log.hpp"
#include "executor_hooks.hpp"
#include "extension_objects.hpp"
#include "operations.hpp"

extern "C" {
#include "commands/sequence.h"
}

namespace softdelete
{

namespace
{

struct Pending {
    int64 op;
    Oid root;
    Action action;
    int level; // the subtransaction that noted these rows
    bool rows_known;
    int64 rows;
    StringInfoData keys; // the rows' keys as JSON, comma-separated
    // Or, while keys is empty, the keys of a one-column integer key as
    // integers (a purge batch's thousands): no text to write and read back.
    int64* ints;
    int64 nints;
    int64 ints_size;
    StringInfoData ops; // restores: the operations that had deleted them, likewise
    int keys_taken;     // bytes of keys (and ops) the cascade has followed
    int ops_taken;
    bool unfollowed; // no foreign key follows root: the cascade takes nothing
    // Some of the rows the cascade has not taken yet were written without
    // the FOR UPDATE lock that a rewritten DELETE takes first
    // (delete_lock.cpp): the cascade locks them (cascade.cpp).
    bool unlocked;
    char* actor;
    char* reason;
};

MemoryContext pending_context = nullptr;
List* pending = NIL;
Pending* last_used = nullptr;
int64 running_operation = 0;
// Who runs it and why: the actor and reason in effect when it took its id.
// Every row it marks and every event it writes carry these, so a function
// that changes softdelete.actor or softdelete.reason in the middle of a
// statement cannot split one operation between actors, nor make its event
// name an actor its rows do not.
OperationWho running_who = {};
bool writing = false;
int own_operations = 0; // begin_own_operation() not yet ended
// The rows being noted were locked FOR UPDATE before they were written.
bool noting_locked_rows = false;

MemoryContext notes_context()
{
    if (pending_context == nullptr)
        pending_context = AllocSetContextCreate(TopMemoryContext, "softdelete operations",
                                                ALLOCSET_DEFAULT_SIZES);
    return pending_context;
}

// The running operation has ended.
void end_running_operation()
{
    running_operation = 0;
    if (running_who.actor != nullptr)
        pfree(running_who.actor);
    if (running_who.reason != nullptr)
        pfree(running_who.reason);
    running_who = {};
}

void forget_everything()
{
    pending = NIL;
    last_used = nullptr;
    running_operation = 0;
    running_who = {}; // in pending_context
    if (pending_context != nullptr)
        MemoryContextReset(pending_context);
}

Pending* entry_for(int64 op, Oid root, Action action, int level)
{
    if (last_used != nullptr && last_used->op == op && last_used->root == root &&
        last_used->action == action && last_used->level == level)
        return last_used;
    ListCell* lc;
    foreach (lc, pending) {
        auto* p = static_cast<Pending*>(lfirst(lc));
        if (p->op == op && p->root == root && p->action == action && p->level == level)
            return last_used = p;
    }
    MemoryContext old = MemoryContextSwitchTo(notes_context());
    auto* p = static_cast<Pending*>(palloc0(sizeof(Pending)));
    p->op = op;
    p->root = root;
    p->action = action;
    p->level = level;
    p->rows_known = true;
    initStringInfo(&p->keys);
    initStringInfo(&p->ops);
    // Who and why: the operation's.
    const OperationWho& who = operation_who();
    p->actor = pstrdup(who.actor);
    p->reason = who.reason != nullptr ? pstrdup(who.reason) : nullptr;
    pending = lappend(pending, p);
    MemoryContextSwitchTo(old);
    return last_used = p;
}

void free_entry(Pending* p)
{
    if (p->ints != nullptr)
        pfree(p->ints);
    pfree(p->keys.data);
    pfree(p->ops.data);
    pfree(p->actor);
    if (p->reason != nullptr)
        pfree(p->reason);
    pfree(p);
}

// p's integer keys written into its text list, for text to follow them.
void ints_to_text(Pending* p)
{
    append_int_keys(&p->keys, p->ints, p->nints, p->keys.len > 0);
    p->nints = 0;
}

// Appends n integer keys to p's, as integers while p has no text keys.
void append_ints(Pending* p, const int64* values, int64 n)
{
    if (p->keys.len > 0 || n == 0) {
        append_int_keys(&p->keys, values, n, p->keys.len > 0);
        return;
    }
    if (p->nints + n > p->ints_size) {
        int64 size = std::max(p->ints_size * 2, p->nints + n);
        p->ints = static_cast<int64*>(
            p->ints == nullptr ? MemoryContextAllocHuge(notes_context(), sizeof(int64) * size)
                               : repalloc_huge(p->ints, sizeof(int64) * size));
        p->ints_size = size;
    }
    memcpy(p->ints + p->nints, values, sizeof(int64) * n);
    p->nints += n;
}

void append_list(StringInfo into, const StringInfoData& from)
{
    if (from.len == 0)
        return;
    if (into->len > 0)
        appendStringInfoString(into, ", ");
    appendBinaryStringInfo(into, from.data, from.len);
}

// Adds from's rows to into's. What the cascade followed stays followed when
// both were followed entirely; otherwise it may follow some rows twice,
// which finds them done already.
void append_keys(Pending* into, Pending* from)
{
    if (from->nints > 0 && into->keys.len == 0 && from->keys.len == 0) {
        into->rows += from->rows;
        into->rows_known = into->rows_known && from->rows_known;
        append_ints(into, from->ints, from->nints);
        return;
    }
    ints_to_text(into);
    ints_to_text(from);
    bool all_taken = into->keys_taken == into->keys.len && from->keys_taken == from->keys.len;
    into->rows += from->rows;
    into->rows_known = into->rows_known && from->rows_known;
    append_list(&into->keys, from->keys);
    append_list(&into->ops, from->ops);
    if (all_taken) {
        into->keys_taken = into->keys.len;
        into->ops_taken = into->ops.len;
    }
}

// The part of a list after taken, as a JSON array.
char* json_array_after(const StringInfoData& list, int taken)
{
    const char* rest = list.data + taken;
    if (taken > 0)
        rest += 2; // the ", " before the first element not taken
    return psprintf("[%s]", rest);
}

void on_subtransaction(SubXactEvent event, SubTransactionId mine, SubTransactionId parent,
                       void* arg)
{
    (void)mine;
    (void)parent;
    (void)arg;
    int level = GetCurrentTransactionNestLevel();
    if (event == SUBXACT_EVENT_COMMIT_SUB) {
        // Its notes become the parent's, merged into the parent's entry for
        // the same operation, table and action: a loop of subtransactions
        // (an EXCEPTION block per row) keeps one entry, not one per turn.
        MemoryContext old = MemoryContextSwitchTo(notes_context());
        List* kept = NIL;
        ListCell* lc;
        foreach (lc, pending) {
            auto* p = static_cast<Pending*>(lfirst(lc));
            if (p->level < level) {
                kept = lappend(kept, p);
                continue;
            }
            Pending* into = nullptr;
            ListCell* lk;
            foreach (lk, kept) {
                auto* k = static_cast<Pending*>(lfirst(lk));
                if (k->op == p->op && k->root == p->root && k->action == p->action &&
                    k->level == level - 1)
                    into = k;
            }
            if (into == nullptr) {
                p->level = level - 1;
                kept = lappend(kept, p);
                continue;
            }
            append_keys(into, p);
            into->unlocked = into->unlocked || p->unlocked;
            free_entry(p);
        }
        list_free(pending);
        pending = kept;
        MemoryContextSwitchTo(old);
        last_used = nullptr;
    } else if (event == SUBXACT_EVENT_ABORT_SUB) {
        // Its rows are back as they were: what it noted did not happen.
        MemoryContext old = MemoryContextSwitchTo(notes_context());
        List* kept = NIL;
        ListCell* lc;
        foreach (lc, pending) {
            auto* p = static_cast<Pending*>(lfirst(lc));
            if (p->level < level)
                kept = lappend(kept, p);
            else
                free_entry(p);
        }
        list_free(pending);
        pending = kept;
        MemoryContextSwitchTo(old);
        last_used = nullptr;
        // A statement that failed at the top (psql's ON_ERROR_ROLLBACK, a
        // procedure's or DO block's exception handler) has ended: the next
        // one is another operation. Inside a statement, the operation goes on.
        if (executor_depth() == 0 && finishing_query() == nullptr)
            end_running_operation();
        writing = false;
    }
}

void on_transaction(XactEvent event, void* arg)
{
    (void)arg;
    if (event == XACT_EVENT_PRE_COMMIT || event == XACT_EVENT_PRE_PREPARE) {
        // Every way a statement ends writes its notes; this is the lock on
        // the door if a way was missed: no unrecorded change commits.
        if (pending != NIL)
            ereport(ERROR,
                    (errcode(ERRCODE_INTERNAL_ERROR),
                     errmsg("softdelete has changes of this transaction that are not recorded in "
                            "softdelete.events"),
                     errdetail("The transaction is rolled back rather than committed without "
                               "its record.")));
        return;
    }
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
        event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
        event == XACT_EVENT_PREPARE) {
        forget_everything();
        writing = false;
        own_operations = 0;
    }
}

// Notes of one operation, table and action, whatever subtransactions they
// came from, as one event.
List* events_of(List* notes)
{
    List* events = NIL;
    ListCell* lc;
    foreach (lc, notes) {
        auto* p = static_cast<Pending*>(lfirst(lc));
        Pending* into = nullptr;
        ListCell* le;
        foreach (le, events) {
            auto* e = static_cast<Pending*>(lfirst(le));
            if (e->op == p->op && e->root == p->root && e->action == p->action)
                into = e;
        }
        if (into == nullptr)
            events = lappend(events, p);
        else
            append_keys(into, p);
    }
    return events;
}

// One event per operation, table and action among notes (which
// events_of() merges into their first entries).
void write_events(List* notes)
{
    MemoryContext old = MemoryContextSwitchTo(notes_context());
    List* events = events_of(notes);
    MemoryContextSwitchTo(old);
    ListCell* lc;
    foreach (lc, events) {
        auto* e = static_cast<Pending*>(lfirst(lc));
        RecordedEvent recorded = {e->op,
                                  e->root,
                                  action_name(e->action),
                                  e->actor,
                                  e->reason,
                                  e->rows_known,
                                  e->rows,
                                  e->rows_known && e->nints == 0 ? e->keys.data : nullptr,
                                  e->rows_known && e->nints > 0 ? e->ints : nullptr,
                                  e->nints,
                                  e->action == Action::soft_delete || e->action == Action::restore};
        record_event(recorded);
    }
}

} // namespace

const char* action_name(Action action)
{
    switch (action) {
    case Action::soft_delete:
        return "delete";
    case Action::restore:
        return "restore";
    case Action::hard_delete:
        return "hard_delete";
    case Action::truncate:
        return "truncate";
    case Action::purge:
        return "purge";
    case Action::archive:
        return "archive";
    case Action::erase:
        return "erase";
    }
    return "unknown";
}

int64 current_operation()
{
    if (running_operation == 0) {
        Oid sequence = operation_sequence(nullptr);
        if (!OidIsValid(sequence))
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                            errmsg("softdelete's sequence events_id_seq is missing"),
                            errhint("Re-create the extension.")));
        // Whatever the role: application roles have no access to it, and
        // need none (as an identity column's sequence serves an INSERT).
        int64 next = nextval_internal(sequence, false);
        MemoryContext old = MemoryContextSwitchTo(notes_context());
        const char* reason = reason_text();
        OperationWho who = {pstrdup(actor_name()), reason != nullptr ? pstrdup(reason) : nullptr};
        MemoryContextSwitchTo(old);
        running_operation = next;
        running_who = who;
    }
    return running_operation;
}

const OperationWho& operation_who()
{
    (void)current_operation();
    return running_who;
}

namespace
{

// The running operation's entry for root and action, at this
// subtransaction's level.
Pending* running_entry(Oid root, Action action)
{
    Pending* p = entry_for(current_operation(), root, action, GetCurrentTransactionNestLevel());
    p->unlocked = p->unlocked || !noting_locked_rows;
    return p;
}

} // namespace

StringInfo note_one_row(Oid root, Action action, int64 deleted_by_op)
{
    Pending* p = running_entry(root, action);
    ints_to_text(p);
    // A StringInfo grows in the context it was made in (notes_context()).
    if (p->keys.len > 0)
        appendBinaryStringInfo(&p->keys, ", ", 2);
    if (action == Action::restore) {
        if (p->ops.len > 0)
            appendBinaryStringInfo(&p->ops, ", ", 2);
        if (deleted_by_op != 0)
            appendStringInfo(&p->ops, INT64_FORMAT, deleted_by_op);
        else
            appendStringInfoString(&p->ops, "null");
    }
    p->rows++;
    return &p->keys;
}

void note_rows(Oid root, Action action, const char* key_json, int64 deleted_by_op)
{
    if (key_json == nullptr) {
        running_entry(root, action)->rows_known = false;
        return;
    }
    appendStringInfoString(note_one_row(root, action, deleted_by_op), key_json);
}

void note_row_list(Oid root, Action action, const char* keys, int64 rows)
{
    if (rows <= 0)
        return;
    Pending* p = running_entry(root, action);
    ints_to_text(p);
    if (p->keys.len > 0)
        appendStringInfoString(&p->keys, ", ");
    appendStringInfoString(&p->keys, keys);
    p->rows += rows;
}

void note_row_ints(Oid root, Action action, const int64* keys, int64 rows)
{
    if (rows <= 0)
        return;
    Pending* p = running_entry(root, action);
    append_ints(p, keys, rows);
    p->rows += rows;
}

void noting_rows_locked(bool locked)
{
    noting_locked_rows = locked;
}

namespace
{
// Rows a rewritten statement could not lock before writing them, by the
// executor depth of the statement (its lock and its note run at the same
// depth; a trigger's statement in between runs deeper). Past the last
// depth every note counts as missed: the cascade then locks the rows after
// writing them, which is never wrong, only a lock more.
constexpr int missed_depths = 64;
bool missed_lock[missed_depths];
} // namespace

void missed_pre_lock()
{
    int depth = executor_depth();
    if (depth >= 0 && depth < missed_depths)
        missed_lock[depth] = true;
}

bool take_missed_pre_lock()
{
    int depth = executor_depth();
    if (depth < 0 || depth >= missed_depths)
        return true;
    bool missed = missed_lock[depth];
    missed_lock[depth] = false;
    return missed;
}

bool take_noted_rows(bool (*wanted)(Oid root), NotedRows* out)
{
    ListCell* lc;
    foreach (lc, pending) {
        auto* p = static_cast<Pending*>(lfirst(lc));
        if ((p->action != Action::soft_delete && p->action != Action::restore) || p->unfollowed)
            continue;
        if (p->keys.len == p->keys_taken && p->nints == 0)
            continue;
        if (!wanted(p->root)) {
            // Asked once: whether a foreign key follows a table does not
            // change within a statement. Its integer keys stay integers.
            p->unfollowed = true;
            continue;
        }
        ints_to_text(p);
        out->op = p->op;
        out->root = p->root;
        out->action = p->action;
        out->keys = json_array_after(p->keys, p->keys_taken);
        out->deleted_by_ops =
            p->action == Action::restore ? json_array_after(p->ops, p->ops_taken) : nullptr;
        out->locked = !p->unlocked;
        p->keys_taken = p->keys.len;
        p->ops_taken = p->ops.len;
        p->unlocked = false;
        return true;
    }
    return false;
}

void end_of_statement()
{
    // Writing the events runs statements of its own, which end too; an
    // operation of the extension's own ends when it says so.
    if (writing || own_operations > 0)
        return;
    if (pending == NIL) {
        end_running_operation();
        return;
    }
    writing = true;
    write_events(pending);
    writing = false;
    forget_everything();
}

OwnOperation begin_own_operation()
{
    OwnOperation own = {0, running_operation, running_who};
    running_operation = 0;
    running_who = {};
    own_operations++;
    own.op = current_operation();
    return own;
}

int64 noted_rows(const OwnOperation& own, Action action)
{
    int64 rows = 0;
    ListCell* lc;
    foreach (lc, pending) {
        auto* p = static_cast<Pending*>(lfirst(lc));
        if (p->op == own.op && p->action == action)
            rows += p->rows;
    }
    return rows;
}

void end_own_operation(const OwnOperation& own)
{
    // Its notes, whatever subtransaction level they are at; the others stay.
    List* mine = NIL;
    List* others = NIL;
    ListCell* lc;
    foreach (lc, pending) {
        auto* p = static_cast<Pending*>(lfirst(lc));
        if (p->op == own.op)
            mine = lappend(mine, p);
        else
            others = lappend(others, p);
    }
    bool was_writing = writing;
    writing = true;
    write_events(mine);
    writing = was_writing;
    MemoryContext old = MemoryContextSwitchTo(notes_context());
    list_free(pending);
    pending = list_copy(others);
    MemoryContextSwitchTo(old);
    list_free(others);
    foreach (lc, mine)
        free_entry(static_cast<Pending*>(lfirst(lc)));
    list_free(mine);
    last_used = nullptr;
    end_running_operation();
    abandon_own_operation(own);
}

void abandon_own_operation(const OwnOperation& own) noexcept
{
    // The failed operation's actor and reason stay in pending_context until
    // the statement's or the transaction's end resets it.
    running_operation = own.outer;
    running_who = own.outer_who;
    if (own_operations > 0)
        own_operations--;
}

void register_operation_callbacks()
{
    RegisterXactCallback(on_transaction, nullptr);
    RegisterSubXactCallback(on_subtransaction, nullptr);
}

} // namespace softdelete

extern "C" {

// The operation a rewritten DELETE stamps in each row it marks.
PG_FUNCTION_INFO_V1(softdelete_operation_id);
Datum softdelete_operation_id(PG_FUNCTION_ARGS)
{
    PG_RETURN_INT64(softdelete::current_operation());
}
}
