// A rewritten DELETE writes four values that are the statement's, not the
// row's: the stamp (the transaction's time), the actor, the reason and the
// operation. The planner hook has them computed by one initPlan, a Result
// that calls the four functions. Starting that Result in every execution
// looked up, checked and prepared each function again, and running it made
// four calls through the function manager: for a one-row soft delete that
// was a tenth of its whole cost, more than the UPDATE's own index scan.
//
// So, once planned, the statement's own DELETE loses the initPlan and keeps
// its parameters, listed by what they hold (keep_values_in_plan()), and a
// WITH query's DELETE keeps the Result with placeholders for the calls (see
// defer_statement_values()). When the executor starts, the hook gives the
// parameters their values for that execution, as PostgreSQL would have on
// the first row: no Result runs. Nothing is decided at plan time; each
// execution has its own operation and reads the settings and the role as
// they are then.
#include "statement_values.hpp"
#include "event_log.hpp"
#include "extension_objects.hpp"
#include "operations.hpp"
#include "statement_rewrite.hpp"

namespace softdelete
{

namespace
{

enum Value { stamp, actor, reason, operation, value_kinds };

// The names the placeholders carry, in the order of Value.
constexpr const char* placeholder_names[value_kinds] = {
    "softdelete stamp", "softdelete actor", "softdelete reason", "softdelete operation"};

int function_value(Oid funcid)
{
    const Oid functions[value_kinds] = {deletion_stamp_function(), actor_function(),
                                        reason_function(), operation_id_function()};
    for (int k = 0; k < value_kinds; k++) {
        if (OidIsValid(functions[k]) && functions[k] == funcid)
            return k;
    }
    return -1;
}

int placeholder_value(const char* name)
{
    for (int k = 0; name != nullptr && k < value_kinds; k++) {
        if (strcmp(name, placeholder_names[k]) == 0)
            return k;
    }
    return -1;
}

// The Result an initPlan of the DELETE's values runs: one output per
// parameter it sets, nothing under it, no condition.
Result* values_result(const PlannedStmt* stmt, const SubPlan* sub)
{
    if (sub->subLinkType != MULTIEXPR_SUBLINK || sub->plan_id < 1 ||
        sub->plan_id > list_length(stmt->subplans))
        return nullptr;
    auto* plan = static_cast<Plan*>(list_nth(stmt->subplans, sub->plan_id - 1));
    if (plan == nullptr || !IsA(plan, Result) || plan->lefttree != nullptr || plan->qual != NIL ||
        reinterpret_cast<Result*>(plan)->resconstantqual != nullptr ||
        list_length(plan->targetlist) != list_length(sub->setParam))
        return nullptr;
    return reinterpret_cast<Result*>(plan);
}

// The ModifyTables of rewritten DELETEs: the statement's own (top) and those
// of its WITH queries, each the top of its plan.
template <typename Visit> void each_rewritten_delete(PlannedStmt* stmt, Visit visit)
{
    auto consider = [&](Plan* plan, bool top) {
        if (plan != nullptr && IsA(plan, ModifyTable) &&
            is_rewritten_delete(stmt, reinterpret_cast<ModifyTable*>(plan)))
            visit(reinterpret_cast<ModifyTable*>(plan), top);
    };
    consider(stmt->planTree, true);
    ListCell* lc;
    foreach (lc, stmt->subplans)
        consider(static_cast<Plan*>(lfirst(lc)), false);
}

// Every output a call to one of the four functions: the initPlan
// statement_rewrite.cpp made, as the planner left it.
bool calls_the_functions(const Result* result)
{
    ListCell* lc;
    foreach (lc, result->plan.targetlist) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        auto* call = reinterpret_cast<FuncExpr*>(tle->expr);
        if (!IsA(call, FuncExpr) || call->args != NIL || function_value(call->funcid) < 0)
            return false;
    }
    return true;
}

struct StatementValues {
    bool computed[value_kinds];
    Datum value[value_kinds];
    bool isnull[value_kinds];
};

void compute(StatementValues* values, int k, MemoryContext context)
{
    if (values->computed[k])
        return;
    MemoryContext old = MemoryContextSwitchTo(context);
    values->isnull[k] = false;
    switch (k) {
    case stamp:
        values->value[k] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
        break;
    case actor:
    case reason: {
        const OperationWho& who = operation_who();
        const char* text_value = k == actor ? who.actor : who.reason;
        values->isnull[k] = text_value == nullptr;
        if (text_value != nullptr)
            values->value[k] = PointerGetDatum(cstring_to_text(text_value));
        break;
    }
    default:
        values->value[k] = Int64GetDatum(current_operation());
        break;
    }
    MemoryContextSwitchTo(old);
    values->computed[k] = true;
}

Param* exec_param(int paramid, const FuncExpr* call)
{
    Param* param = makeNode(Param);
    param->paramkind = PARAM_EXEC;
    param->paramid = paramid;
    param->paramtype = call->funcresulttype;
    param->paramtypmod = -1;
    param->paramcollid = call->funccollid;
    param->location = -1;
    return param;
}

// What the planner left in the target list of the initPlan's SubLink: a
// junk NULL of type record, computed for every row and read by nothing
// (the parameters carry the values). It goes where the ModifyTable's input
// computes its own columns, a scan or a join, one column and one type
// lookup less for each execution to start. A node that hands on its input's
// rows (an Append over partitions, a Gather) keeps the columns its input
// has; the ModifyTable finds its junk columns by name, and the new values
// are the columns that are not junk, in order, so neither moves.
void drop_placeholder_column(Plan* input)
{
    if (input == nullptr)
        return;
    switch (nodeTag(input)) {
    case T_SeqScan:
    case T_IndexScan:
    case T_BitmapHeapScan:
    case T_TidScan:
    case T_TidRangeScan:
    case T_NestLoop:
    case T_MergeJoin:
    case T_HashJoin:
        break;
    default:
        return;
    }
    List* kept = NIL;
    bool dropped = false;
    ListCell* lc;
    foreach (lc, input->targetlist) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        auto* value = reinterpret_cast<Const*>(tle->expr);
        if (!dropped && tle->resjunk && tle->resname == nullptr && IsA(value, Const) &&
            value->consttype == RECORDOID && value->constisnull) {
            dropped = true;
            continue;
        }
        if (dropped)
            tle->resno--;
        kept = lappend(kept, tle);
    }
    input->targetlist = kept;
}

// The statement's own DELETE (the top of its plan): its initPlan goes, and
// with it the cost of starting its Result in every execution (a thirtieth
// of a one-row soft delete). The parameters it set stay where the plan
// reads them, listed by what they hold in the ModifyTable's exclRelTlist,
// which only INSERT ... ON CONFLICT uses, and the hook sets them before the
// first row; a re-check after a concurrent update (EvalPlanQual) copies
// them, as it copies every parameter. The Result's place among the subplans
// is left empty, as PostgreSQL leaves an unused subplan's, so that the
// numbering of the others stays.
void keep_values_in_plan(PlannedStmt* stmt, ModifyTable* modify, const SubPlan* sub,
                         const Result* result)
{
    List* kept = NIL;
    ListCell* tc;
    ListCell* pc;
    forboth(tc, result->plan.targetlist, pc, sub->setParam)
    {
        auto* tle = static_cast<TargetEntry*>(lfirst(tc));
        auto* call = reinterpret_cast<FuncExpr*>(tle->expr);
        kept = lappend(
            kept, makeTargetEntry(reinterpret_cast<Expr*>(exec_param(lfirst_int(pc), call)),
                                  static_cast<AttrNumber>(list_length(kept) + 1),
                                  pstrdup(placeholder_names[function_value(call->funcid)]), true));
    }
    modify->exclRelTlist = kept;
    lfirst(list_nth_cell(stmt->subplans, sub->plan_id - 1)) = nullptr;
    drop_placeholder_column(outerPlan(&modify->plan));
}

void give_value(EState* estate, StatementValues* values, int k, int paramid)
{
    compute(values, k, estate->es_query_cxt);
    ParamExecData* param = &estate->es_param_exec_vals[paramid];
    param->execPlan = nullptr;
    param->value = values->value[k];
    param->isnull = values->isnull[k];
}

} // namespace

// A WITH query's DELETE is one of the statement's subplans, and when a
// concurrent update makes it re-check a row (EvalPlanQual), PostgreSQL
// starts every subplan again for the re-check, the DELETE's initPlan with
// them, whose parameters then come from running its Result: NULL
// placeholders were written there (the row left live, its DELETE counted).
// Its placeholders are parameters of their own instead, which the executor
// hook sets with the initPlan's, and which the re-check copies from the
// statement: running the Result gives the same values.
void defer_statement_values(PlannedStmt* stmt)
{
    each_rewritten_delete(stmt, [stmt](ModifyTable* modify, bool top) {
        ListCell* lc;
        foreach (lc, modify->plan.initPlan) {
            auto* sub = static_cast<SubPlan*>(lfirst(lc));
            Result* result = values_result(stmt, sub);
            if (result == nullptr || !calls_the_functions(result))
                continue;
            if (top && modify->onConflictAction == ONCONFLICT_NONE && modify->exclRelTlist == NIL) {
                keep_values_in_plan(stmt, modify, sub, result);
                modify->plan.initPlan = foreach_delete_current(modify->plan.initPlan, lc);
                continue;
            }
            ListCell* tc;
            foreach (tc, result->plan.targetlist) {
                auto* tle = static_cast<TargetEntry*>(lfirst(tc));
                auto* call = reinterpret_cast<FuncExpr*>(tle->expr);
                tle->resname = pstrdup(placeholder_names[function_value(call->funcid)]);
                Param* param = exec_param(list_length(stmt->paramExecTypes), call);
                stmt->paramExecTypes = lappend_oid(stmt->paramExecTypes, call->funcresulttype);
                tle->expr = reinterpret_cast<Expr*>(param);
            }
        }
    });
}

void set_statement_values(QueryDesc* query, int eflags)
{
    PlannedStmt* stmt = query->plannedstmt;
    // A rewritten DELETE has its values' parameters listed in its plan, or
    // (in a WITH query) an initPlan among the subplans.
    if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0 || stmt == nullptr || stmt->subplans == NIL)
        return;
    EState* estate = query->estate;
    StatementValues values = {};
    each_rewritten_delete(stmt, [&](ModifyTable* modify, bool) {
        ListCell* lc;
        if (modify->onConflictAction == ONCONFLICT_NONE) {
            foreach (lc, modify->exclRelTlist) {
                auto* tle = static_cast<TargetEntry*>(lfirst(lc));
                int k = placeholder_value(tle->resname);
                if (k >= 0 && IsA(tle->expr, Param))
                    give_value(estate, &values, k, reinterpret_cast<Param*>(tle->expr)->paramid);
            }
        }
        foreach (lc, modify->plan.initPlan) {
            auto* sub = static_cast<SubPlan*>(lfirst(lc));
            Result* result = values_result(stmt, sub);
            if (result == nullptr)
                continue;
            ListCell* tc;
            ListCell* pc;
            forboth(tc, result->plan.targetlist, pc, sub->setParam)
            {
                auto* tle = static_cast<TargetEntry*>(lfirst(tc));
                int k = placeholder_value(tle->resname);
                if (k < 0)
                    break;
                give_value(estate, &values, k, lfirst_int(pc));
                // Its own parameter, which a re-check copies, likewise.
                if (IsA(tle->expr, Param))
                    give_value(estate, &values, k, reinterpret_cast<Param*>(tle->expr)->paramid);
            }
        }
    });
}

} // namespace softdelete
