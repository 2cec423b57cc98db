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
//  * An UPDATE that sets deleted_at to a value is routed the same way (the
//    server stamps the time); one that sets it to NULL is a restore, for
//    admins only; other writes to tombstone columns are admins' alone.
//  * ON CONFLICT (cols) gets "deleted_at IS NULL" as its arbiter predicate, so
//    the live-only unique index is inferred (NOTES item 3).
//  * With softdelete.hard_delete on, an admin's DELETE stays a DELETE and
//    reaches deleted rows too.
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

void add_updated_column(Query* query, RangeTblEntry* rte, AttrNumber attno)
{
    int member = attno - FirstLowInvalidHeapAttributeNumber;
#if PG_VERSION_NUM >= 160000
    RTEPermissionInfo* perm = getRTEPermissionInfo(query->rteperminfos, rte);
    perm->updatedCols = bms_add_member(perm->updatedCols, member);
#else
    (void)query;
    rte->updatedCols = bms_add_member(rte->updatedCols, member);
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

// The table as a regclass constant, the argument of our per-table functions.
Const* table_const(const TableConfig& cfg)
{
    return makeConst(REGCLASSOID, -1, InvalidOid, sizeof(Oid), ObjectIdGetDatum(cfg.relid), false,
                     true);
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

// Sets column attno to expr, replacing what the statement assigned.
void assign(Query* query, RangeTblEntry* rte, const TableConfig& cfg, AttrNumber attno, Expr* expr)
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
    add_updated_column(query, rte, attno);
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

// copyObject() needs typeof, which ISO C++ lacks.
template <typename T> T* copy_node(T* node)
{
    return static_cast<T*>(copyObjectImpl(node));
}

CaseWhen* when_then(Node* condition, Expr* result)
{
    CaseWhen* w = makeNode(CaseWhen);
    w->expr = reinterpret_cast<Expr*>(condition);
    w->result = result;
    w->location = -1;
    return w;
}

Const* null_of(const Query* query, const TableConfig& cfg, AttrNumber attno)
{
    Var* column = column_var(query, cfg, attno);
    return makeNullConst(column->vartype, column->vartypmod, column->varcollid);
}

// Marks the target rows deleted: stamp, actor, reason; live rows only.
void make_soft_delete(Query* query, RangeTblEntry* rte, const TableConfig& cfg, bool keep_reason,
                      bool keep_actor)
{
    assign(query, rte, cfg, cfg.deleted_at,
           call_as_column(deletion_stamp_function(), TIMESTAMPTZOID, cfg, cfg.deleted_at));
    if (!keep_actor)
        assign(query, rte, cfg, cfg.deleted_by,
               call_as_column(actor_function(), TEXTOID, cfg, cfg.deleted_by));
    if (!keep_reason)
        assign(query, rte, cfg, cfg.delete_reason,
               call_as_column(reason_function(), TEXTOID, cfg, cfg.delete_reason));
    // A second delete never moves the stamp: retention counts from the first.
    add_qual(query, deleted_at_test(query, cfg, IS_NULL));
    skip_visibility_checks(query);
}

// softdelete.restore_stamp(tbl): NULL, counting the row as restored.
Expr* restore_stamp_call(const TableConfig& cfg)
{
    return call_as_column(restore_stamp_function(), TIMESTAMPTZOID, cfg, cfg.deleted_at,
                          list_make1(table_const(cfg)));
}

// An admin's UPDATE that sets deleted_at to NULL: deleted rows it matches are
// restored (their deletion record cleared), live rows are updated as usual,
// as an ORM's full-row save of a live row expects.
void make_restore(Query* query, RangeTblEntry* rte, const TableConfig& cfg)
{
    Node* was_live = deleted_at_test(query, cfg, IS_NULL);
    CaseExpr* stamp = makeNode(CaseExpr);
    stamp->casetype = get_atttype(cfg.relid, cfg.deleted_at);
    stamp->args = list_make1(
        when_then(was_live, reinterpret_cast<Expr*>(null_of(query, cfg, cfg.deleted_at))));
    stamp->defresult = restore_stamp_call(cfg);
    stamp->location = -1;
    assign(query, rte, cfg, cfg.deleted_at, reinterpret_cast<Expr*>(stamp));
    for (AttrNumber attno : {cfg.deleted_by, cfg.delete_reason}) {
        if (attno != InvalidAttrNumber)
            assign(query, rte, cfg, attno, reinterpret_cast<Expr*>(null_of(query, cfg, attno)));
    }
    unhide_deleted_rows(rte);
}

// For a value only known row by row (a CASE over columns, or a parameter in
// a generic plan): NULL keeps a live row live and restores a deleted one
// (admins only); a value soft-deletes a live row and leaves a deleted row's
// record as it was.
void make_row_by_row(Query* query, RangeTblEntry* rte, const TableConfig& cfg, Expr* value,
                     bool admin)
{
    auto column = [&](AttrNumber attno) {
        return reinterpret_cast<Expr*>(column_var(query, cfg, attno));
    };
    Node* value_is_null = null_test(value, IS_NULL);
    Node* was_live = deleted_at_test(query, cfg, IS_NULL);
    auto choose = [&](AttrNumber attno, Expr* on_delete, Expr* on_restore) {
        CaseExpr* c = makeNode(CaseExpr);
        c->casetype = get_atttype(cfg.relid, attno);
        c->args = list_make3(
            when_then(make_and_qual(copy_node(value_is_null), copy_node(was_live)), column(attno)),
            when_then(copy_node(value_is_null), on_restore),
            when_then(copy_node(was_live), on_delete));
        c->defresult = column(attno);
        c->location = -1;
        assign(query, rte, cfg, attno, reinterpret_cast<Expr*>(c));
    };
    choose(cfg.deleted_at,
           call_as_column(deletion_stamp_function(), TIMESTAMPTZOID, cfg, cfg.deleted_at),
           restore_stamp_call(cfg));
    if (cfg.deleted_by != InvalidAttrNumber)
        choose(cfg.deleted_by, call_as_column(actor_function(), TEXTOID, cfg, cfg.deleted_by),
               reinterpret_cast<Expr*>(null_of(query, cfg, cfg.deleted_by)));
    if (cfg.delete_reason != InvalidAttrNumber)
        choose(cfg.delete_reason,
               call_as_column(reason_function(), TEXTOID, cfg, cfg.delete_reason),
               reinterpret_cast<Expr*>(null_of(query, cfg, cfg.delete_reason)));
    skip_visibility_checks(query);
    if (admin)
        unhide_deleted_rows(rte);
    else
        // Others reach deleted rows only as readers, and may not restore them.
        add_qual(query, reinterpret_cast<Node*>(make_orclause(list_make2(
                            copy_node(was_live),
                            make_notclause(reinterpret_cast<Expr*>(copy_node(value_is_null)))))));
}

// Is the value assigned to deleted_at NULL? Decided with the bound parameter
// values when there are some (custom plans, extended protocol).
enum class Assigned { null_value, some_value, row_by_row };

Assigned assigned_value(Expr* expr, ParamListInfo params)
{
    Node* node = reinterpret_cast<Node*>(expr);
    if (!IsA(node, Const)) {
        PlannerGlobal* glob = makeNode(PlannerGlobal);
        glob->boundParams = params;
        PlannerInfo* root = makeNode(PlannerInfo);
        root->glob = glob;
        node = estimate_expression_value(root, node);
    }
    if (IsA(node, Const))
        return reinterpret_cast<Const*>(node)->constisnull ? Assigned::null_value
                                                           : Assigned::some_value;
    return Assigned::row_by_row;
}

struct RewriteState {
    ParamListInfo params;
    bool kept_hard_delete; // the plan is only right while hard_delete is on
};

void rewrite_delete(Query* query, RangeTblEntry* rte, const TableConfig& cfg, RewriteState* state)
{
    if (hard_delete) {
        state->kept_hard_delete = true;
        require_admin(cfg.relid, cfg.root, "hard-delete rows of");
        unhide_deleted_rows(rte);
        return;
    }
    query->commandType = CMD_UPDATE;
    query->targetList = NIL;
    make_soft_delete(query, rte, cfg, false, false);
}

// softdelete.refuse_restore(tbl, value IS NULL): no column in it, so the
// planner makes it a one-time filter.
Node* refuse_restore_check(const TableConfig& cfg, Expr* value)
{
    List* args = list_make2(table_const(cfg), null_test(copy_node(value), IS_NULL));
    return reinterpret_cast<Node*>(makeFuncExpr(refuse_restore_function(), BOOLOID, args,
                                                InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
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

void rewrite_update(Query* query, RangeTblEntry* rte, const TableConfig& cfg, RewriteState* state)
{
    TargetEntry* stamp = find_assignment(query->targetList, cfg.deleted_at);
    bool sets_actor = find_assignment(query->targetList, cfg.deleted_by) != nullptr;
    bool sets_reason = find_assignment(query->targetList, cfg.delete_reason) != nullptr;
    if (stamp == nullptr) {
        if (sets_actor || sets_reason)
            require_admin(cfg.relid, cfg.root, "change deletion records of");
        return;
    }
    if (sets_actor)
        require_admin(cfg.relid, cfg.root, "change deletion records of");
    switch (assigned_value(stamp->expr, state->params)) {
    case Assigned::null_value:
        if (is_admin(cfg.root))
            make_restore(query, rte, cfg);
        else if (assigns_only_tombstone(query, cfg))
            require_admin(cfg.relid, cfg.root,
                          "restore rows of"); // nothing but a restore: refuse it aloud
        else
            // An ORM's full-row save: a plain update of live rows only.
            add_qual(query, deleted_at_test(query, cfg, IS_NULL));
        break;
    case Assigned::row_by_row: {
        bool admin = is_admin(cfg.root);
        // A non-admin's pure tombstone write whose value is a parameter:
        // refuse a NULL (a restore) once per execution, rows or no rows.
        Node* restore_check = nullptr;
        if (!admin && assigns_only_tombstone(query, cfg) &&
            !contain_var_clause(reinterpret_cast<Node*>(stamp->expr)))
            restore_check = refuse_restore_check(cfg, stamp->expr);
        make_row_by_row(query, rte, cfg, stamp->expr, admin);
        if (restore_check != nullptr)
            add_qual(query, restore_check);
        break;
    }
    case Assigned::some_value:
        make_soft_delete(query, rte, cfg, sets_reason, sets_actor);
        break;
    }
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
        rewrite_update(query, rte, cfg, state);
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
    RewriteState state = {bound_params, false};
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

bool is_rewritten_delete(const PlannedStmt* stmt)
{
    if (stmt->commandType != CMD_UPDATE || stmt->planTree == nullptr ||
        !IsA(stmt->planTree, ModifyTable))
        return false;
    // The named table: child RTEs of a partitioned target carry no permissions.
    const auto* modify = reinterpret_cast<const ModifyTable*>(stmt->planTree);
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
