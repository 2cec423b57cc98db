// softdelete_internal.tombstone_at() / _text() / _op(): what a write to the
// tombstone columns becomes, decided row by row inside the statement's own
// projection. The planner hook (statement_rewrite.cpp) replaces every
// assignment to deleted_at, deleted_by, delete_reason and delete_op of an UPDATE,
// an INSERT ... ON CONFLICT DO UPDATE or a MERGE ... UPDATE with calls of
// these functions. The first of the three columns in attribute order (the
// executor computes a row's new values in that order) gets the deciding call,
// which receives the values the statement assigns (each evaluated once, as an
// argument) and the row's old values; the others read its decision.
//
//   live -> live        deletion records may not change, except by admins
//   live -> deleted     a soft delete: the server stamps its own time, the
//                       actor, the reason (an admin may give the actor) and
//                       the running operation, which nobody can name
//   deleted -> live     a restore: admins only
//   deleted -> deleted  the stamp and the operation never move; only admins
//                       may write the row
//
// An assignment that leaves a value as it was is not a write, so an ORM that
// saves every column of a live row keeps working. No row trigger is
// involved: an UPDATE that assigns no tombstone column costs what it cost
// before enable().
#include "tombstone_decision.hpp"
#include "authorization.hpp"
#include "event_log.hpp"
#include "executor_hooks.hpp"
#include "operations.hpp"
#include "table_config.hpp"
#include "trigger_call.hpp"

namespace softdelete
{

namespace
{

enum Column { at_column = 0, by_column = 1, reason_column = 2, op_column = 3 };
constexpr int columns = 4;

struct Value {
    Datum datum;
    bool isnull;
};

// The decision for the row being projected, one per executor nesting level:
// a statement run from a function inside the projection decides its own.
struct Decision {
    Oid relid;
    int pending; // calls still to read it
    Value values[columns];
    Action action;           // soft_delete, restore, or truncate for neither
    bool noted;              // the row it was for has been noted (row_notes.cpp)
    ItemPointerData old_row; // the version of the row it was taken on
    int64 old_op;            // the operation that had deleted the row; 0: none
};

Decision* decisions = nullptr;
int decisions_size = 0;

Decision& decision_at(int depth)
{
    if (depth >= decisions_size) {
        int size = depth < 4 ? 8 : depth * 2;
        auto* grown = static_cast<Decision*>(
            MemoryContextAllocZero(TopMemoryContext, sizeof(Decision) * size));
        if (decisions != nullptr) {
            memcpy(grown, decisions, sizeof(Decision) * decisions_size);
            pfree(decisions);
        }
        decisions = grown;
        decisions_size = size;
    }
    return decisions[depth];
}

// The decision keeps its own copies (the arguments live in a per-row
// context), and frees them when it is replaced or forgotten.
void release(Decision& d)
{
    for (int i = 0; i < columns; i++) {
        Value& v = d.values[i];
        if (!v.isnull && v.datum != (Datum)0 && (i == by_column || i == reason_column))
            pfree(DatumGetPointer(v.datum));
        v = {(Datum)0, true};
    }
    d.pending = 0;
    d.noted = true;
}

void keep(Decision& d)
{
    for (int i = by_column; i <= reason_column; i++) {
        if (!d.values[i].isnull)
            d.values[i].datum = datumCopy(d.values[i].datum, false, -1);
    }
}

Value argument(FunctionCallInfo fcinfo, int n)
{
    return {PG_ARGISNULL(n) ? (Datum)0 : PG_GETARG_DATUM(n), PG_ARGISNULL(n)};
}

bool same_text(const Value& a, const Value& b)
{
    if (a.isnull || b.isnull)
        return a.isnull == b.isnull;
    return DatumGetBool(DirectFunctionCall2Coll(texteq, DEFAULT_COLLATION_OID, a.datum, b.datum));
}

Value text_value(const char* text)
{
    return {text == nullptr ? (Datum)0 : CStringGetTextDatum(text), text == nullptr};
}

bool same_op(const Value& a, const Value& b)
{
    if (a.isnull || b.isnull)
        return a.isnull == b.isnull;
    return DatumGetInt64(a.datum) == DatumGetInt64(b.datum);
}

// Arguments: new deleted_at, deleted_by, delete_reason, delete_op, then the
// old ones.
Action decide(const TableConfig& cfg, FunctionCallInfo fcinfo, int first, Value out[columns])
{
    Action decided = Action::truncate;
    Value new_at = argument(fcinfo, first);
    Value new_by = argument(fcinfo, first + 1);
    Value new_reason = argument(fcinfo, first + 2);
    Value new_op = argument(fcinfo, first + 3);
    Value old_at = argument(fcinfo, first + 4);
    Value old_by = argument(fcinfo, first + 5);
    Value old_reason = argument(fcinfo, first + 6);
    Value old_op = argument(fcinfo, first + 7);
    bool by_changed = !same_text(new_by, old_by);
    bool reason_changed = !same_text(new_reason, old_reason);
    const Value null_value = {(Datum)0, true};

    if (old_at.isnull && new_at.isnull) {
        if (by_changed || reason_changed || !same_op(new_op, old_op))
            require_admin(cfg.relid, cfg.root, "change deletion records of");
        out[at_column] = null_value;
        out[by_column] = new_by;
        out[reason_column] = new_reason;
        out[op_column] = new_op;
    } else if (old_at.isnull) {
        // A soft delete. The actor is the application's unless an admin names one.
        if (by_changed)
            require_admin(cfg.relid, cfg.root, "change deletion records of");
        out[at_column] = {TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()), false};
        const OperationWho& who = operation_who();
        out[by_column] = by_changed ? new_by : text_value(who.actor);
        out[reason_column] = reason_changed ? new_reason : text_value(who.reason);
        out[op_column] = {Int64GetDatum(current_operation()), false};
        decided = Action::soft_delete;
    } else if (new_at.isnull) {
        require_admin(cfg.relid, cfg.root, "restore rows of");
        out[at_column] = out[by_column] = out[reason_column] = out[op_column] = null_value;
        decided = Action::restore;
    } else {
        // Stays deleted: retention counts from the first delete, and undo
        // follows the operation that deleted it.
        require_admin(cfg.relid, cfg.root, "change deleted rows of");
        out[at_column] = old_at;
        out[by_column] = new_by;
        out[reason_column] = new_reason;
        out[op_column] = old_op;
    }
    return decided;
}

} // namespace

bool take_decision(Oid relid, Action* action, ItemPointerData* old_row, int64* old_op)
{
    int depth = executor_depth();
    if (depth >= decisions_size)
        return false;
    Decision& d = decisions[depth];
    if (d.noted || d.relid != relid)
        return false;
    d.noted = true;
    *action = d.action;
    *old_row = d.old_row;
    *old_op = d.old_op;
    return true;
}

bool soft_delete_decided(Oid relid)
{
    int depth = executor_depth();
    if (depth >= decisions_size)
        return false;
    const Decision& d = decisions[depth];
    return d.relid == relid && !d.noted && d.action == Action::soft_delete;
}

void forget_tombstone_decision(int depth)
{
    if (depth < decisions_size)
        release(decisions[depth]);
}

} // namespace softdelete

extern "C" {

// (tbl, column, deciding, new_at, new_by, new_reason, new_op, old_at,
// old_by, old_reason, old_op, old_row); column 0 is deleted_at, 1
// deleted_by, 2 delete_reason, 3 delete_op. Only the deciding call gets
// values; the others read what it decided.
PG_FUNCTION_INFO_V1(softdelete_tombstone);
Datum softdelete_tombstone(PG_FUNCTION_ARGS)
{
    softdelete::require_rewritten_call(fcinfo, 3, 12, "softdelete_internal.tombstone_*()");
    Oid relid = PG_GETARG_OID(0);
    int column = PG_GETARG_INT32(1);
    bool deciding = PG_GETARG_BOOL(2);
    if (column < 0 || column >= softdelete::columns)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("no tombstone column %d", column)));
    // tombstone_at() returns deleted_at, tombstone_text() the two text
    // columns, tombstone_op() delete_op: a call that asks one for another's
    // column gets an error, not a value of the wrong type.
    Oid declared = get_fn_expr_rettype(fcinfo->flinfo);
    if (!OidIsValid(declared))
        declared = get_func_rettype(fcinfo->flinfo->fn_oid);
    Oid expected = column == softdelete::at_column   ? TIMESTAMPTZOID
                   : column == softdelete::op_column ? INT8OID
                                                     : TEXTOID;
    if (declared != expected)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("tombstone column %d is not of the type this function returns", column)));
    softdelete::TableConfig cfg;
    if (!softdelete::table_config(relid, &cfg))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("relation %s is not enabled for soft delete",
                               softdelete::relation_display_name(relid)),
                        errhint("Call softdelete.enable() on it, or re-plan the statement.")));
    softdelete::Decision& d = softdelete::decision_at(softdelete::executor_depth());
    if (deciding) {
        softdelete::release(d);
        softdelete::Value decided[softdelete::columns];
        d.action = softdelete::decide(cfg, fcinfo, 3, decided);
        d.noted = false;
        if (PG_ARGISNULL(11))
            ItemPointerSetInvalid(&d.old_row);
        else
            d.old_row = *reinterpret_cast<ItemPointer>(PG_GETARG_POINTER(11));
        d.old_op = PG_ARGISNULL(10) ? 0 : PG_GETARG_INT64(10);
        MemoryContext caller = MemoryContextSwitchTo(TopMemoryContext);
        memcpy(d.values, decided, sizeof decided);
        softdelete::keep(d);
        MemoryContextSwitchTo(caller);
        d.relid = relid;
        d.pending = (cfg.deleted_at != InvalidAttrNumber) + (cfg.deleted_by != InvalidAttrNumber) +
                    (cfg.delete_reason != InvalidAttrNumber) +
                    (cfg.delete_op != InvalidAttrNumber) - 1;
    } else {
        // The deciding call runs first for each row; anything else is a plan
        // this code did not build, and must not write a guess.
        if (d.relid != relid || d.pending <= 0)
            ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                            errmsg("softdelete found no decision for this row's deletion "
                                   "record")));
        d.pending--;
    }
    softdelete::Value v = d.values[column];
    if (v.isnull)
        PG_RETURN_NULL();
    PG_RETURN_DATUM(v.datum);
}
}
