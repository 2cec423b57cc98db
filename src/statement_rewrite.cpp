// Rewrites statements on enabled tables before planning (PG regime: plain
// node surgery, errors by ereport, no C++ objects with destructors).
//
// By the time planner_hook runs, views are expanded and RLS quals are in
// place, so this sees the real table whichever way the statement named it:
//
//  * DELETE becomes an UPDATE of the tombstone columns (NOTES item 11). It
//    keeps the DELETE privilege check and the DELETE policies' quals, and has
//    no WITH CHECK options, so the new, deleted row is never judged by the
//    visibility policy (NOTES item 1). RETURNING returns the marked rows.
//  * An UPDATE that assigns a tombstone column is left to the tombstone
//    trigger (tombstone_guard.cpp), which decides row by row on the value the
//    row actually gets: here it only loses the visibility policy's new-row
//    check (a soft delete makes a deleted row), and an admin's reaches
//    deleted rows (to restore them). Nothing about the assigned value is
//    decided here, so nothing is frozen into a plan or evaluated twice.
//  * ON CONFLICT (cols) gets "deleted_at IS NULL" as its arbiter predicate, so
//    the live-only unique index is inferred (NOTES item 3).
//  * With softdelete.hard_delete in effect (settings.cpp), an admin's DELETE
//    stays a DELETE and reaches deleted rows too.
#include <initializer_list>

#include "authorization.hpp"
#include "error_bridge.hpp"
#include "settings.hpp"
#include "statement_rewrite.hpp"
#include "table_config.hpp"
#include "extension_objects.hpp"

namespace softdelete
{

namespace
{

planner_hook_type previous_planner = nullptr;

const char* const visibility_policy = "softdelete_visibility";

AclMode required_perms(const RangeTblEntry* rte, const List* perminfos)
{
#if PG_VERSION_NUM >= 160000
    if (rte->perminfoindex == 0)
        return 0;
    return getRTEPermissionInfo(const_cast<List*>(perminfos), const_cast<RangeTblEntry*>(rte))
        ->requiredPerms;
#else
    (void)perminfos;
    return rte->requiredPerms;
#endif
}

Var* column_var(const Query* query, const TableConfig& cfg, AttrNumber attno)
{
    Oid type;
    int32 typmod;
    Oid collation;
    get_atttypetypmodcoll(cfg.relid, attno, &type, &typmod, &collation);
    return makeVar(query->resultRelation, attno, type, typmod, collation, 0);
}

void add_qual(Query* query, Node* qual)
{
    query->jointree->quals = make_and_qual(query->jointree->quals, qual);
}

Node* null_test(Expr* arg, NullTestType test)
{
    NullTest* nt = makeNode(NullTest);
    nt->arg = arg;
    nt->nulltesttype = test;
    nt->argisrow = false;
    nt->location = -1;
    return reinterpret_cast<Node*>(nt);
}

Node* deleted_at_test(const Query* query, const TableConfig& cfg, NullTestType test)
{
    return null_test(reinterpret_cast<Expr*>(column_var(query, cfg, cfg.deleted_at)), test);
}

// A call of one of our zero-argument functions, coerced to the column's type.
Expr* call_as_column(Oid funcid, Oid result_type, const TableConfig& cfg, AttrNumber attno,
                     List* args = NIL)
{
    Oid coll = result_type == TEXTOID ? DEFAULT_COLLATION_OID : InvalidOid;
    Expr* call = reinterpret_cast<Expr*>(
        makeFuncExpr(funcid, result_type, args, InvalidOid, coll, COERCE_EXPLICIT_CALL));
    Oid target = get_atttype(cfg.relid, attno);
    if (target == result_type)
        return call;
    Node* coerced =
        coerce_to_target_type(nullptr, reinterpret_cast<Node*>(call), result_type, target, -1,
                              COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
    if (coerced == nullptr)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("softdelete cannot write column %d of table \"%s\"", attno,
                               get_rel_name(cfg.relid))));
    return reinterpret_cast<Expr*>(coerced);
}

TargetEntry* find_assignment(List* target_list, AttrNumber attno)
{
    ListCell* lc;
    foreach (lc, target_list) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        if (!tle->resjunk && tle->resno == attno)
            return tle;
    }
    return nullptr;
}

// Sets column attno to expr. The column is not added to the statement's
// updated columns: a rewritten DELETE must not fire the tombstone trigger,
// which is for UPDATEs the application wrote.
void assign(Query* query, const TableConfig& cfg, AttrNumber attno, Expr* expr)
{
    if (attno == InvalidAttrNumber)
        return;
    TargetEntry* tle = find_assignment(query->targetList, attno);
    if (tle != nullptr) {
        tle->expr = expr;
        return;
    }
    char* name = get_attname(cfg.relid, attno, false);
    tle = makeTargetEntry(expr, attno, name, false);
    // Keep the target list in attribute order, as the rewriter leaves it.
    List* sorted = NIL;
    bool placed = false;
    ListCell* lc;
    foreach (lc, query->targetList) {
        auto* existing = static_cast<TargetEntry*>(lfirst(lc));
        if (!placed && (existing->resjunk || existing->resno > attno)) {
            sorted = lappend(sorted, tle);
            placed = true;
        }
        sorted = lappend(sorted, existing);
    }
    if (!placed)
        sorted = lappend(sorted, tle);
    query->targetList = sorted;
}

struct FunctionSearch {
    Oid funcid;
};

bool calls_function_walker(Node* node, FunctionSearch* search)
{
    if (node == nullptr)
        return false;
    if (IsA(node, FuncExpr) && reinterpret_cast<FuncExpr*>(node)->funcid == search->funcid)
        return true;
    return expression_tree_walker(node, walker(calls_function_walker), search);
}

bool calls_function(Node* node, Oid funcid)
{
    FunctionSearch search = {funcid};
    return calls_function_walker(node, &search);
}

// Drops the visibility policy's qual: the statement may reach deleted rows.
void unhide_deleted_rows(RangeTblEntry* rte)
{
    Oid include_fn = include_deleted_function();
    List* kept = NIL;
    ListCell* lc;
    foreach (lc, rte->securityQuals) {
        if (!calls_function(static_cast<Node*>(lfirst(lc)), include_fn))
            kept = lappend(kept, lfirst(lc));
    }
    rte->securityQuals = kept;
}

// Drops the new-row checks that come from the visibility policy.
void skip_visibility_checks(Query* query)
{
    List* kept = NIL;
    ListCell* lc;
    foreach (lc, query->withCheckOptions) {
        auto* wco = static_cast<WithCheckOption*>(lfirst(lc));
        if (wco->polname == nullptr || strcmp(wco->polname, visibility_policy) != 0)
            kept = lappend(kept, wco);
    }
    query->withCheckOptions = kept;
}

// Marks the target rows deleted: stamp, actor, reason; live rows only.
void make_soft_delete(Query* query, const TableConfig& cfg)
{
    assign(query, cfg, cfg.deleted_at,
           call_as_column(deletion_stamp_function(), TIMESTAMPTZOID, cfg, cfg.deleted_at));
    assign(query, cfg, cfg.deleted_by,
           call_as_column(actor_function(), TEXTOID, cfg, cfg.deleted_by));
    assign(query, cfg, cfg.delete_reason,
           call_as_column(reason_function(), TEXTOID, cfg, cfg.delete_reason));
    // A second delete never moves the stamp: retention counts from the first.
    add_qual(query, deleted_at_test(query, cfg, IS_NULL));
    skip_visibility_checks(query);
}

struct RewriteState {
    bool kept_hard_delete; // the plan is only right while hard_delete is in effect
};

void rewrite_delete(Query* query, RangeTblEntry* rte, const TableConfig& cfg, RewriteState* state)
{
    if (hard_delete_in_effect()) {
        state->kept_hard_delete = true;
        require_admin(cfg.relid, cfg.root, "hard-delete rows of");
        unhide_deleted_rows(rte);
        return;
    }
    query->commandType = CMD_UPDATE;
    query->targetList = NIL;
    make_soft_delete(query, cfg);
}

bool assigns_tombstone(const Query* query, const TableConfig& cfg)
{
    for (AttrNumber attno : {cfg.deleted_at, cfg.deleted_by, cfg.delete_reason}) {
        if (attno != InvalidAttrNumber && find_assignment(query->targetList, attno) != nullptr)
            return true;
    }
    return false;
}

bool assigns_only_tombstone(const Query* query, const TableConfig& cfg)
{
    ListCell* lc;
    foreach (lc, query->targetList) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        if (!tle->resjunk && tle->resno != cfg.deleted_at && tle->resno != cfg.deleted_by &&
            tle->resno != cfg.delete_reason)
            return false;
    }
    return true;
}

// "SET deleted_at = NULL" written as a literal, and nothing else but
// tombstone columns: a restore and nothing else.
bool literal_restore(const Query* query, const TableConfig& cfg)
{
    TargetEntry* stamp = find_assignment(query->targetList, cfg.deleted_at);
    return stamp != nullptr && IsA(stamp->expr, Const) &&
           reinterpret_cast<Const*>(stamp->expr)->constisnull && assigns_only_tombstone(query, cfg);
}

void rewrite_update(Query* query, RangeTblEntry* rte, const TableConfig& cfg)
{
    if (!assigns_tombstone(query, cfg))
        return;
    skip_visibility_checks(query);
    // Which admin this is depends on the role: plans on enabled tables use
    // row security, so a change of role re-plans them.
    bool admin = is_admin(cfg.root);
    if (admin)
        unhide_deleted_rows(rte);
    // The tombstone trigger refuses a non-admin's restore row by row; a
    // restore written as such is refused aloud even when it reaches no row
    // (the application cannot see deleted rows at all).
    else if (literal_restore(query, cfg))
        require_admin(cfg.relid, cfg.root, "restore rows of");
}

void rewrite_upsert(Query* query, const TableConfig& cfg)
{
    OnConflictExpr* conflict = query->onConflict;
    if (conflict == nullptr || conflict->arbiterElems == NIL)
        return;
    Node* live = deleted_at_test(query, cfg, IS_NULL);
    conflict->arbiterWhere =
        conflict->arbiterWhere == nullptr ? live : make_and_qual(conflict->arbiterWhere, live);
}

void rewrite_query(Query* query, RewriteState* state)
{
    ListCell* lc;
    foreach (lc, query->cteList) {
        auto* cte = static_cast<CommonTableExpr*>(lfirst(lc));
        if (IsA(cte->ctequery, Query))
            rewrite_query(reinterpret_cast<Query*>(cte->ctequery), state);
    }
    if (query->resultRelation == 0 || query->commandType == CMD_MERGE)
        return;
    RangeTblEntry* rte = rt_fetch(query->resultRelation, query->rtable);
    if (rte->rtekind != RTE_RELATION)
        return;
    TableConfig cfg;
    if (!table_config(rte->relid, &cfg))
        return;
    switch (query->commandType) {
    case CMD_DELETE:
        rewrite_delete(query, rte, cfg, state);
        break;
    case CMD_UPDATE:
        rewrite_update(query, rte, cfg);
        break;
    case CMD_INSERT:
        rewrite_upsert(query, cfg);
        break;
    default:
        break;
    }
}

bool modifies_anything(const Query* query)
{
    if (query->commandType == CMD_DELETE || query->commandType == CMD_UPDATE ||
        query->commandType == CMD_INSERT)
        return true;
    ListCell* lc;
    foreach (lc, query->cteList) {
        auto* cte = static_cast<CommonTableExpr*>(lfirst(lc));
        if (IsA(cte->ctequery, Query) && modifies_anything(reinterpret_cast<Query*>(cte->ctequery)))
            return true;
    }
    return false;
}

PlannedStmt* softdelete_planner(Query* parse, const char* query_string, int cursor_options,
                                ParamListInfo bound_params)
{
    RewriteState state = {false};
    if (parse->commandType != CMD_UTILITY && modifies_anything(parse) && extension_present())
        rewrite_query(parse, &state);
    PlannedStmt* stmt = previous_planner != nullptr
                            ? previous_planner(parse, query_string, cursor_options, bound_params)
                            : standard_planner(parse, query_string, cursor_options, bound_params);
    if (state.kept_hard_delete) {
        // Same dependency a rewritten DELETE has on deletion_stamp(): when
        // hard_delete flips, settings.cpp re-plans exactly these plans.
        PlanInvalItem* item = makeNode(PlanInvalItem);
        item->cacheId = PROCOID;
        item->hashValue =
            GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(deletion_stamp_function()));
        stmt->invalItems = lappend(stmt->invalItems, item);
    }
    return stmt;
}

} // namespace

bool is_rewritten_delete(const PlannedStmt* stmt, const ModifyTable* modify)
{
    if (modify->operation != CMD_UPDATE)
        return false;
    // The named table: child RTEs of a partitioned target carry no permissions.
    const RangeTblEntry* rte = rt_fetch(modify->nominalRelation, stmt->rtable);
#if PG_VERSION_NUM >= 160000
    AclMode perms = required_perms(rte, stmt->permInfos);
#else
    AclMode perms = required_perms(rte, NIL);
#endif
    return (perms & ACL_DELETE) != 0 && (perms & ACL_UPDATE) == 0;
}

void install_planner_hook()
{
    previous_planner = planner_hook;
    planner_hook = softdelete_planner;
}

} // namespace softdelete
