// Rewrites statements on enabled tables before planning (PG regime: plain
// node surgery, errors by ereport, no C++ objects with destructors).
//
// By the time planner_hook runs, views are expanded and RLS quals are in
// place, so this sees the real table whichever way the statement named it:
//
//  * DELETE becomes an UPDATE of the tombstone columns, so it costs what the
//    UPDATE costs and its count and RETURNING are right. It
//    keeps the DELETE privilege check and the DELETE policies' quals, and has
//    no WITH CHECK options, so the new, deleted row is never judged by the
//    visibility policy (the "new row violates row-level security" trap of
//    the usual recipe). RETURNING returns the marked rows.
//  * MERGE ... THEN DELETE, in a MERGE without UPDATE actions, becomes an
//    UPDATE action that soft-deletes, decided as below.
//  * An UPDATE, ON CONFLICT DO UPDATE or MERGE ... UPDATE that assigns a
//    tombstone column gets its three tombstone assignments replaced by calls
//    that decide row by row on the values assigned (tombstone_decision.cpp),
//    each evaluated once; it loses the visibility policy's new-row check (a
//    soft delete makes a deleted row), and an admin's reaches deleted rows
//    (to restore them). Nothing about the assigned value is decided here, so
//    nothing is frozen into a plan.
//  * ON CONFLICT (cols) gets "deleted_at IS NULL" as its arbiter predicate, so
//    the live-only unique index is inferred (without it, ON CONFLICT (cols)
//    finds no arbiter and fails with 42P10); ON CONFLICT ON CONSTRAINT of a
//    unique constraint that enable() converted gets its live-only index
//    (old_constraint_names.cpp).
//  * With softdelete.hard_delete in effect (settings.cpp), an admin's DELETE
//    stays a DELETE and reaches deleted rows too.
#include <algorithm>
#include <initializer_list>
#include <utility>

#include "authorization.hpp"
#include "error_bridge.hpp"
#include "foreign_keys.hpp"
#include "purge_statements.hpp"
#include "settings.hpp"
#include "statement_rewrite.hpp"
#include "statement_values.hpp"
#include "cascade.hpp"
#include "table_config.hpp"
#include "extension_objects.hpp"
#include "old_constraint_names.hpp"

extern "C" {
#include "catalog/pg_inherits.h"
#include "rewrite/rowsecurity.h"
}

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

// value as type: varchar and text as an assignment would convert them;
// timestamptz and timestamp (an adopted deleted_at without time zone) as
// UTC, never by the session's TimeZone, which any role can set: a stamp
// written in 'Etc/GMT+12' would be 12 hours old at once (purged before its
// retention, and past its undo window), one read back in 'Etc/GMT-14'
// young again. The purge, the undo window and softdelete.status read such
// a column in UTC too (instant_sql() and column_time_sql() in key_sql.cpp).
Expr* as_type(Expr* value, Oid type)
{
    Oid from = exprType(reinterpret_cast<Node*>(value));
    if (from == type)
        return value;
    if ((from == TIMESTAMPTZOID && type == TIMESTAMPOID) ||
        (from == TIMESTAMPOID && type == TIMESTAMPTZOID)) {
        Const* utc = makeConst(TEXTOID, -1, DEFAULT_COLLATION_OID, -1, CStringGetTextDatum("UTC"),
                               false, false);
        Oid zone = from == TIMESTAMPTZOID ? F_TIMEZONE_TEXT_TIMESTAMPTZ : F_TIMEZONE_TEXT_TIMESTAMP;
        return reinterpret_cast<Expr*>(makeFuncExpr(zone, type, list_make2(utc, value), InvalidOid,
                                                    DEFAULT_COLLATION_OID, COERCE_EXPLICIT_CALL));
    }
    Node* coerced = coerce_to_target_type(nullptr, reinterpret_cast<Node*>(value), from, type, -1,
                                          COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
    if (coerced == nullptr)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
                        errmsg("softdelete cannot convert a value of type %s to %s",
                               format_type_be(from), format_type_be(type))));
    return reinterpret_cast<Expr*>(coerced);
}

Expr* call(Oid funcid, Oid result_type, List* args = NIL)
{
    Oid coll = result_type == TEXTOID ? DEFAULT_COLLATION_OID : InvalidOid;
    return reinterpret_cast<Expr*>(
        makeFuncExpr(funcid, result_type, args, InvalidOid, coll, COERCE_EXPLICIT_CALL));
}

Expr* call_as_column(Oid funcid, Oid result_type, const TableConfig& cfg, AttrNumber attno,
                     List* args = NIL)
{
    return as_type(call(funcid, result_type, args), get_atttype(cfg.relid, attno));
}

// The table as a regclass constant, the first argument of our functions.
Const* table_const(const TableConfig& cfg)
{
    return makeConst(REGCLASSOID, -1, InvalidOid, sizeof(Oid), ObjectIdGetDatum(cfg.relid), false,
                     true);
}

// copyObject() needs typeof, which ISO C++ lacks.
template <typename T> T* copy_node(T* node)
{
    return static_cast<T*>(copyObjectImpl(node));
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

// Sets column attno to expr in a target list. The column is not added to
// the statement's updated columns here: record_written_columns() does that
// for all four at once.
void assign(List** target_list, const TableConfig& cfg, AttrNumber attno, Expr* expr)
{
    if (attno == InvalidAttrNumber)
        return;
    TargetEntry* tle = find_assignment(*target_list, attno);
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
    foreach (lc, *target_list) {
        auto* existing = static_cast<TargetEntry*>(lfirst(lc));
        if (!placed && (existing->resjunk || existing->resno > attno)) {
            sorted = lappend(sorted, tle);
            placed = true;
        }
        sorted = lappend(sorted, existing);
    }
    if (!placed)
        sorted = lappend(sorted, tle);
    *target_list = sorted;
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

// Drops the visibility policy's checks of the given kinds.
void drop_visibility_checks(Query* query, std::initializer_list<WCOKind> kinds)
{
    List* kept = NIL;
    ListCell* lc;
    foreach (lc, query->withCheckOptions) {
        auto* wco = static_cast<WithCheckOption*>(lfirst(lc));
        bool dropped = wco->polname != nullptr && strcmp(wco->polname, visibility_policy) == 0 &&
                       std::find(kinds.begin(), kinds.end(), wco->kind) != kinds.end();
        if (!dropped)
            kept = lappend(kept, wco);
    }
    query->withCheckOptions = kept;
}

// Drops the visibility policy's checks of rows an UPDATE (or an upsert's or
// a MERGE's UPDATE) writes; the checks of inserted rows and of the existing
// row an upsert conflicts with stay.
void skip_visibility_checks(Query* query)
{
#if PG_VERSION_NUM >= 150000
    drop_visibility_checks(query, {WCO_RLS_UPDATE_CHECK, WCO_RLS_MERGE_UPDATE_CHECK});
#else
    drop_visibility_checks(query, {WCO_RLS_UPDATE_CHECK});
#endif
}

enum class NoteKind {
    rewritten_delete = 0,
    decided = 1,
    merge_delete = 2,
    locked_delete = 3,
    decided_locked = 4
};

// Whether something besides the statement may change the rows it writes
// into relid: a row trigger that fires before they are written (BEFORE
// INSERT or BEFORE UPDATE, as command is), or the triggers of its
// partitions, or with_children, of its inheritance children. A new trigger
// re-plans the statements on the table.
bool others_write_rows(Oid relid, bool with_children, CmdType command)
{
    Relation rel = relation_open(relid, NoLock);
    const TriggerDesc* triggers = rel->trigdesc;
    bool before = triggers != nullptr && (command == CMD_INSERT ? triggers->trig_insert_before_row
                                                                : triggers->trig_update_before_row);
    bool others = before || rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE ||
                  (with_children && rel->rd_rel->relhassubclass);
    relation_close(rel, NoLock);
    return others;
}

// Has each row the statement writes noted under the running operation
// (row_notes.cpp), as a check PostgreSQL makes once per row really written.
// Nothing when the table neither logs nor notifies soft deletes: those
// statements cost what a plain UPDATE costs. A change of the table's
// configuration re-plans (enable() invalidates its relcache entry).
// Whether a table under relid by inheritance (not a partition: one enabled
// on its own) is one whose rows the cascade follows: its rows written
// through relid must be noted, to be refused (row_notes.cpp).
bool inherited_rows_followed(Oid relid, Oid root)
{
    if (!has_subclass(relid))
        return false;
    ListCell* lc;
    foreach (lc, find_all_inheritors(relid, NoLock, nullptr)) {
        TableConfig own;
        if (table_config(lfirst_oid(lc), &own) && own.root != root && followed_by_cascade(own.root))
            return true;
    }
    return false;
}

void note_written_rows(Query* query, const TableConfig& cfg, NoteKind kind, bool verify,
                       bool exact_count = false)
{
    if (!exact_count && !cfg.log_events && !cfg.notify && !followed_by_cascade(cfg.root) &&
        !inherited_rows_followed(cfg.relid, cfg.root))
        return;
    Index varno = query->resultRelation;
    List* args = list_make3(table_const(cfg),
                            makeConst(INT4OID, -1, InvalidOid, sizeof(int32),
                                      Int32GetDatum(static_cast<int>(kind)), false, true),
                            makeBoolConst(verify, false));
    args = lappend(args, deleted_at_test(query, cfg, IS_NOT_NULL));
    args = lappend(args, makeVar(varno, SelfItemPointerAttributeNumber, TIDOID, -1, InvalidOid, 0));
    args = lappend(args, makeVar(varno, TableOidAttributeNumber, OIDOID, -1, InvalidOid, 0));
    for (int k = 0; k < cfg.nkeys; k++)
        args = lappend(args, column_var(query, cfg, cfg.keys[k]));
    WithCheckOption* wco = makeNode(WithCheckOption);
    wco->kind = WCO_VIEW_CHECK;
    wco->relname = get_rel_name(cfg.relid);
    wco->polname = nullptr;
    wco->qual = reinterpret_cast<Node*>(makeFuncExpr(note_row_function(), BOOLOID, args, InvalidOid,
                                                     InvalidOid, COERCE_EXPLICIT_CALL));
    wco->cascaded = false;
    query->withCheckOptions = lappend(query->withCheckOptions, wco);
}

// Sets columns to values computed once per execution, by one initPlan:
// "SET (a, b) = (SELECT x, y)" (a MULTIEXPR sublink, the values taken by
// PARAM_MULTIEXPR parameters) is one the planner makes an initPlan that
// sets one parameter per column when a row first needs them. A call in the
// target list would run for every row, and an initPlan per column costs
// each its own plan node to start and its own call to run: a third of what
// a one-row soft delete costs beyond the hand-written UPDATE. Nothing is
// decided at plan time: statement_values.cpp gives the parameters their
// values as each execution starts.
void assign_once_per_execution(Query* query, const TableConfig& cfg,
                               std::initializer_list<std::pair<AttrNumber, Expr*>> columns)
{
    int id = 1;
    // A junk column's number is past the table's columns, as the parser
    // numbers them (the table is locked already).
    Relation rel = relation_open(cfg.relid, NoLock);
    AttrNumber junk_resno = RelationGetNumberOfAttributes(rel) + 1;
    relation_close(rel, NoLock);
    ListCell* lc;
    foreach (lc, query->targetList) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        junk_resno = std::max<AttrNumber>(junk_resno, tle->resno + 1);
        if (tle->resjunk && IsA(tle->expr, SubLink) &&
            reinterpret_cast<SubLink*>(tle->expr)->subLinkType == MULTIEXPR_SUBLINK)
            id = std::max(id, reinterpret_cast<SubLink*>(tle->expr)->subLinkId + 1);
    }
    Query* select = makeNode(Query);
    select->commandType = CMD_SELECT;
    select->querySource = QSRC_ORIGINAL;
    select->canSetTag = true;
    select->jointree = makeFromExpr(NIL, nullptr);
    for (const auto& [attno, value] : columns) {
        if (attno == InvalidAttrNumber)
            continue;
        int column = list_length(select->targetList) + 1;
        select->targetList =
            lappend(select->targetList, makeTargetEntry(value, column, pstrdup("value"), false));
        Param* param = makeNode(Param);
        param->paramkind = PARAM_MULTIEXPR;
        param->paramid = (id << 16) | column;
        param->paramtype = exprType(reinterpret_cast<Node*>(value));
        param->paramtypmod = exprTypmod(reinterpret_cast<Node*>(value));
        param->paramcollid = exprCollation(reinterpret_cast<Node*>(value));
        param->location = -1;
        // Converted where it is assigned, so that the initPlan's outputs
        // stay the bare calls (statement_values.cpp).
        assign(&query->targetList, cfg, attno,
               as_type(reinterpret_cast<Expr*>(param), get_atttype(cfg.relid, attno)));
    }
    SubLink* sublink = makeNode(SubLink);
    sublink->subLinkType = MULTIEXPR_SUBLINK;
    sublink->subLinkId = id;
    sublink->testexpr = nullptr;
    sublink->operName = NIL;
    sublink->subselect = reinterpret_cast<Node*>(select);
    sublink->location = -1;
    query->targetList = lappend(query->targetList, makeTargetEntry(reinterpret_cast<Expr*>(sublink),
                                                                   junk_resno, nullptr, true));
    query->hasSubLinks = true;
}

// Is qual the visibility policy's "deleted_at IS NULL OR include_deleted()"
// on the statement's target?
bool is_visibility_qual(const Query* query, const TableConfig& cfg, Node* qual)
{
    if (!IsA(qual, BoolExpr) || reinterpret_cast<BoolExpr*>(qual)->boolop != OR_EXPR ||
        list_length(reinterpret_cast<BoolExpr*>(qual)->args) != 2)
        return false;
    List* args = reinterpret_cast<BoolExpr*>(qual)->args;
    auto* test = static_cast<Node*>(linitial(args));
    auto* call = static_cast<Node*>(lsecond(args));
    if (!IsA(test, NullTest) || reinterpret_cast<NullTest*>(test)->nulltesttype != IS_NULL ||
        !IsA(call, FuncExpr) ||
        reinterpret_cast<FuncExpr*>(call)->funcid != include_deleted_function())
        return false;
    auto* var = reinterpret_cast<Node*>(reinterpret_cast<NullTest*>(test)->arg);
    return var != nullptr && IsA(var, Var) &&
           static_cast<int>(reinterpret_cast<Var*>(var)->varno) ==
               static_cast<int>(query->resultRelation) &&
           reinterpret_cast<Var*>(var)->varattno == cfg.deleted_at &&
           reinterpret_cast<Var*>(var)->varlevelsup == 0;
}

// A soft delete reaches live rows only: a second delete never moves the
// stamp, as retention counts from the first. Where row security applies,
// "deleted_at IS NULL" takes the place of the visibility policy's qual
// rather than being added to the WHERE: one clause, at the policy's
// security level, so that functions in the WHERE still see only the rows
// the policy lets through, and so that the planner does not count the
// share of live rows twice (it multiplies equal clauses, and a table of
// mostly deleted rows would be estimated at a tenth of its live rows or
// less). Whether include_deleted is on does not matter to a soft delete.
// Without row security (a superuser, BYPASSRLS) the WHERE gets it.
void require_live_rows(Query* query, RangeTblEntry* rte, const TableConfig& cfg)
{
    Node* live = deleted_at_test(query, cfg, IS_NULL);
    ListCell* lc;
    foreach (lc, rte->securityQuals) {
        if (is_visibility_qual(query, cfg, static_cast<Node*>(lfirst(lc)))) {
            lfirst(lc) = live;
            return;
        }
    }
    add_qual(query, live);
}

// A row of a table that foreign keys reference (whose soft delete the
// cascade follows to its children) is locked FOR UPDATE before it
// is written, in the projection that makes its new version
// (delete_lock.cpp): a junk column, computed for each row the scan returns,
// and again for a row's new version when a concurrent update made the
// UPDATE re-check it. deciding: only a row the projection's tombstone
// decision (computed before, in its columns) soft-deletes.
bool lock_before_writing(Query* query, const TableConfig& cfg, bool deciding)
{
    Oid lock_fn = lock_for_delete_function();
    if (!OidIsValid(lock_fn) || !referenced_by_foreign_key(cfg.root))
        return false;
    Index varno = query->resultRelation;
    List* args =
        list_make3(makeVar(varno, SelfItemPointerAttributeNumber, TIDOID, -1, InvalidOid, 0),
                   makeVar(varno, TableOidAttributeNumber, OIDOID, -1, InvalidOid, 0),
                   makeConst(REGCLASSOID, -1, InvalidOid, sizeof(Oid),
                             ObjectIdGetDatum(rt_fetch(varno, query->rtable)->relid), false, true));
    args = lappend(args, makeBoolConst(deciding, false));
    Expr* lock = reinterpret_cast<Expr*>(
        makeFuncExpr(lock_fn, BOOLOID, args, InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
    AttrNumber resno = static_cast<AttrNumber>(list_length(query->targetList) + 1);
    ListCell* lc;
    foreach (lc, query->targetList)
        resno = std::max<AttrNumber>(resno, static_cast<TargetEntry*>(lfirst(lc))->resno + 1);
    query->targetList =
        lappend(query->targetList, makeTargetEntry(lock, resno, pstrdup("softdelete_lock"), true));
    return true;
}

// Marks the target rows deleted: stamp, actor, reason, operation; live rows
// only. The four values are the statement's (STABLE functions), so they
// are read once per execution.
void make_soft_delete(Query* query, RangeTblEntry* rte, const TableConfig& cfg)
{
    assign_once_per_execution(query, cfg,
                              {{cfg.deleted_at, call(deletion_stamp_function(), TIMESTAMPTZOID)},
                               {cfg.deleted_by, call(actor_function(), TEXTOID)},
                               {cfg.delete_reason, call(reason_function(), TEXTOID)},
                               {cfg.delete_op, call(operation_id_function(), INT8OID)}});
    bool locked = lock_before_writing(query, cfg, false);
    require_live_rows(query, rte, cfg);
    skip_visibility_checks(query);
    // A BEFORE UPDATE trigger may keep a row live: the note sees it and
    // leaves it out of the DELETE's count (executor_hooks.cpp), with or
    // without an event log. Rows locked before they were written need no
    // lock from the cascade.
    note_written_rows(query, cfg, locked ? NoteKind::locked_delete : NoteKind::rewritten_delete,
                      false, others_write_rows(rte->relid, rte->inh, CMD_UPDATE));
}

// The columns a soft delete writes, recorded as PostgreSQL records those of
// an UPDATE it parsed. Without them every index would be told that its key
// did not change, and the index on deleted rows, which gets a new entry for
// every row, would try to delete old versions each time a page fills (all
// of them still visible to this transaction) before splitting it: that
// futile work was 8% of a 50,000-row soft delete. UPDATE OF triggers on the
// tombstone columns fire and stored generated columns that read them are
// computed again, as for any other UPDATE of them. A statement that writes
// them as an UPDATE (an ORM's soft delete, a restore, an upsert's or a
// MERGE's UPDATE) needs UPDATE privilege on the four columns, as an UPDATE
// naming them would; a DELETE, whose privilege check is DELETE's, does not.
void record_written_columns(Query* query, RangeTblEntry* rte, const TableConfig& cfg)
{
#if PG_VERSION_NUM >= 160000
    RTEPermissionInfo* perms = getRTEPermissionInfo(query->rteperminfos, rte);
    Bitmapset** written = &perms->updatedCols;
#else
    (void)query;
    Bitmapset** written = &rte->updatedCols;
#endif
    for (AttrNumber attno : {cfg.deleted_at, cfg.deleted_by, cfg.delete_reason, cfg.delete_op}) {
        if (attno != InvalidAttrNumber)
            *written = bms_add_member(*written, attno - FirstLowInvalidHeapAttributeNumber);
    }
}

// The planner is planning a purge batch's own removal (purge_statements.cpp).
bool planning_purge_statement = false;

struct RewriteState {
    bool kept_hard_delete; // the plan is only right while hard_delete is in effect
    bool soft_delete;      // a DELETE became a soft delete
};

void rewrite_delete(Query* query, RangeTblEntry* rte, const TableConfig& cfg, RewriteState* state)
{
    // An admin's hard delete, or a purge batch's own removal (as the table's
    // owner): the DELETE stays one.
    if ((planning_purge_statement && own_purge_table() == cfg.root) ||
        hard_delete_in_effect_on(cfg.root)) {
        state->kept_hard_delete = true;
        require_admin(cfg.relid, cfg.root, "hard-delete rows of");
        unhide_deleted_rows(rte);
        return;
    }
    query->commandType = CMD_UPDATE;
    query->targetList = NIL;
    make_soft_delete(query, rte, cfg);
    state->soft_delete = true;
    record_written_columns(query, rte, cfg);
}

bool assigns_tombstone(List* target_list, const TableConfig& cfg)
{
    for (AttrNumber attno : {cfg.deleted_at, cfg.deleted_by, cfg.delete_reason, cfg.delete_op}) {
        if (attno != InvalidAttrNumber && find_assignment(target_list, attno) != nullptr)
            return true;
    }
    return false;
}

bool assigns_only_tombstone(List* target_list, const TableConfig& cfg)
{
    ListCell* lc;
    foreach (lc, target_list) {
        auto* tle = static_cast<TargetEntry*>(lfirst(lc));
        if (!tle->resjunk && tle->resno != cfg.deleted_at && tle->resno != cfg.deleted_by &&
            tle->resno != cfg.delete_reason && tle->resno != cfg.delete_op)
            return false;
    }
    return true;
}

// "SET deleted_at = NULL" written as a literal, and nothing else but
// tombstone columns: a restore and nothing else.
bool literal_restore(List* target_list, const TableConfig& cfg)
{
    TargetEntry* stamp = find_assignment(target_list, cfg.deleted_at);
    return stamp != nullptr && IsA(stamp->expr, Const) &&
           reinterpret_cast<Const*>(stamp->expr)->constisnull &&
           assigns_only_tombstone(target_list, cfg);
}

// Replaces the tombstone assignments of a target list (an UPDATE's, an
// upsert's DO UPDATE SET, a MERGE action's) with the per-row decision. The
// first tombstone column in attribute order decides, from the values the
// statement assigns (or the old ones it keeps) and the old values; varno is
// the target relation in the statement's range table.
void route_tombstone_writes(List** target_list, Index varno, const TableConfig& cfg)
{
    constexpr int n = 4;
    const AttrNumber columns[n] = {cfg.deleted_at, cfg.deleted_by, cfg.delete_reason,
                                   cfg.delete_op};
    const Oid types[n] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, INT8OID};
    const Oid functions[n] = {tombstone_at_function(), tombstone_text_function(),
                              tombstone_text_function(), tombstone_op_function()};
    Expr* new_values[n];
    Expr* old_values[n];
    AttrNumber deciding = InvalidAttrNumber;
    for (int i = 0; i < n; i++) {
        if (columns[i] == InvalidAttrNumber) {
            new_values[i] = old_values[i] =
                reinterpret_cast<Expr*>(makeNullConst(types[i], -1, InvalidOid));
            continue;
        }
        Oid type;
        int32 typmod;
        Oid collation;
        get_atttypetypmodcoll(cfg.relid, columns[i], &type, &typmod, &collation);
        Expr* old_value =
            reinterpret_cast<Expr*>(makeVar(varno, columns[i], type, typmod, collation, 0));
        TargetEntry* assigned = find_assignment(*target_list, columns[i]);
        new_values[i] =
            as_type(assigned != nullptr ? assigned->expr : copy_node(old_value), types[i]);
        old_values[i] = as_type(old_value, types[i]);
        if (deciding == InvalidAttrNumber || columns[i] < deciding)
            deciding = columns[i];
    }
    for (int i = 0; i < n; i++) {
        if (columns[i] == InvalidAttrNumber)
            continue;
        bool decides = columns[i] == deciding;
        List* args = list_make3(
            table_const(cfg),
            makeConst(INT4OID, -1, InvalidOid, sizeof(int32), Int32GetDatum(i), false, true),
            makeBoolConst(decides, false));
        for (Expr** values : {new_values, old_values}) {
            for (int k = 0; k < n; k++)
                args = lappend(args, decides ? values[k]
                                             : reinterpret_cast<Expr*>(
                                                   makeNullConst(types[k], -1, InvalidOid)));
        }
        // The version of the row the decision is taken on (row_notes.cpp).
        args = lappend(
            args, decides ? reinterpret_cast<Expr*>(makeVar(varno, SelfItemPointerAttributeNumber,
                                                            TIDOID, -1, InvalidOid, 0))
                          : reinterpret_cast<Expr*>(makeNullConst(TIDOID, -1, InvalidOid)));
        assign(target_list, cfg, columns[i],
               call_as_column(functions[i], types[i], cfg, columns[i], args));
    }
}

// An UPDATE that assigns no tombstone column writes each row with the
// deleted_at it had, and the policy lets it reach live rows only, unless
// the role opted in to deleted rows (a flip of that setting re-plans, as
// does a change of role): the policy's check of the written row, that it
// is live, cannot fail then, and preparing it cost every execution of
// such an UPDATE (every statement of an ordinary workload) more than
// evaluating it. It stays wherever something else may write deleted_at: a
// BEFORE UPDATE row trigger, a child table's own triggers, or a generation
// expression (enable() refuses a generated tombstone column now, but a
// table enabled before it did may have one). Creating one of those
// re-plans the statements on the table.
void drop_needless_visibility_check(Query* query, const RangeTblEntry* rte, const TableConfig& cfg)
{
    if (include_deleted_in_effect() || rte->relkind != RELKIND_RELATION)
        return;
    Relation rel = relation_open(rte->relid, NoLock);
    bool generated = TupleDescAttr(RelationGetDescr(rel), cfg.deleted_at - 1)->attgenerated != '\0';
    relation_close(rel, NoLock);
    if (!generated && !others_write_rows(rte->relid, rte->inh, CMD_UPDATE))
        skip_visibility_checks(query);
}

void rewrite_update(Query* query, RangeTblEntry* rte, const TableConfig& cfg)
{
    if (!assigns_tombstone(query->targetList, cfg)) {
        drop_needless_visibility_check(query, rte, cfg);
        return;
    }
    // Which admin this is depends on the role: plans on enabled tables use
    // row security, so a change of role re-plans them.
    bool admin = is_admin(cfg.root);
    // The decision refuses a non-admin's restore row by row; a restore
    // written as such is refused aloud even when it reaches no row (the
    // application cannot see deleted rows at all).
    if (!admin && literal_restore(query->targetList, cfg))
        require_admin(cfg.relid, cfg.root, "restore rows of");
    route_tombstone_writes(&query->targetList, query->resultRelation, cfg);
    // A row this UPDATE soft-deletes is locked before it is written, as a
    // DELETE's (a soft delete by UPDATE: an ORM's, Rails' paranoia), and
    // then needs no lock from the cascade.
    bool locked = lock_before_writing(query, cfg, true);
    record_written_columns(query, rte, cfg);
    skip_visibility_checks(query);
    note_written_rows(query, cfg, locked ? NoteKind::decided_locked : NoteKind::decided, false);
    if (admin)
        unhide_deleted_rows(rte);
}

// A check the extension adds to a statement's written rows, refused as the
// visibility policy refuses (42501).
void add_records_check(Query* query, const TableConfig& cfg, WCOKind kind, Node* check)
{
    WithCheckOption* wco = makeNode(WithCheckOption);
    wco->kind = kind;
    wco->relname = get_rel_name(cfg.relid);
    wco->polname = pstrdup(visibility_policy);
    wco->qual = check;
    wco->cascaded = false;
    query->withCheckOptions = lappend(query->withCheckOptions, wco);
}

// "deleted_by IS NULL AND delete_reason IS NULL AND delete_op IS NULL" on
// the statement's target: a row without deletion records.
Node* no_records(const Query* query, const TableConfig& cfg)
{
    Node* none = nullptr;
    for (AttrNumber attno : {cfg.deleted_by, cfg.delete_reason, cfg.delete_op}) {
        if (attno != InvalidAttrNumber)
            none = make_and_qual(
                none, null_test(reinterpret_cast<Expr*>(column_var(query, cfg, attno)), IS_NULL));
    }
    return none;
}

// Whether a target list gives column attno anything but a NULL constant.
bool assigns_value(List* target_list, AttrNumber attno)
{
    TargetEntry* tle = attno == InvalidAttrNumber ? nullptr : find_assignment(target_list, attno);
    return tle != nullptr &&
           !(IsA(tle->expr, Const) && reinterpret_cast<Const*>(tle->expr)->constisnull);
}

// Whether a target list gives a record column anything but a NULL constant.
bool assigns_records(List* target_list, const TableConfig& cfg)
{
    for (AttrNumber attno : {cfg.deleted_by, cfg.delete_reason, cfg.delete_op}) {
        if (assigns_value(target_list, attno))
            return true;
    }
    return false;
}

// A row an application inserts is live and carries no deletion record:
// deleted_at is the visibility policy's to refuse; deleted_by,
// delete_reason and delete_op, which an UPDATE by a non-admin may not
// change either, are checked here, where the statement (an INSERT, an
// upsert's insert, a MERGE's INSERT actions in target_lists) assigns them
// anything but a NULL constant, or where something else may: a BEFORE
// INSERT row trigger, or a partition's own. One check of the inserted row,
// refused as the policy refuses (42501); an INSERT that leaves them out of
// a table without such triggers costs nothing more. Whether the role is an
// admin is judged as the policy's check judges it, when the statement is
// planned (a change of role re-plans, as does a new trigger).
//
// An admin may give an inserted row a deleted_at, deleted_by and
// delete_reason (loading rows deleted elsewhere), but its delete_op only as
// a restore does, as a member of softdelete_backup (or a superuser), who
// may write the event log too: delete_op names the operation that undo()
// restores, and a row given another operation's number would come back
// with an undo of that operation, which never deleted it.
void refuse_inserted_records(Query* query, const TableConfig& cfg, List* target_lists)
{
    bool others = others_write_rows(cfg.relid, false, CMD_INSERT);
    bool check = others;
    bool op = others;
    ListCell* lc;
    foreach (lc, target_lists) {
        check = check || assigns_records(static_cast<List*>(lfirst(lc)), cfg);
        op = op || assigns_value(static_cast<List*>(lfirst(lc)), cfg.delete_op);
    }
    if (!is_admin(cfg.root)) {
        Node* none = check ? no_records(query, cfg) : nullptr;
        if (none != nullptr)
            add_records_check(query, cfg, WCO_RLS_INSERT_CHECK, none);
        return;
    }
    if (op && cfg.delete_op != InvalidAttrNumber && !may_write_operation_marks())
        add_records_check(
            query, cfg, WCO_RLS_INSERT_CHECK,
            null_test(reinterpret_cast<Expr*>(column_var(query, cfg, cfg.delete_op)), IS_NULL));
}

// A row an UPDATE or a MERGE's UPDATE moves to another partition is inserted
// there, where that partition's BEFORE INSERT triggers may give it
// deletion records; PostgreSQL checks it as an updated row. So on a
// partitioned table an application's updated rows are checked: deleted, or
// live without deletion records (an admin's records on a live row, which
// only an admin can write, would stop it there too). Role as above.
void refuse_moved_records(Query* query, const RangeTblEntry* rte, const TableConfig& cfg)
{
    if (rte->relkind != RELKIND_PARTITIONED_TABLE || is_admin(cfg.root))
        return;
    Node* none = no_records(query, cfg);
    if (none == nullptr)
        return;
    Node* deleted = deleted_at_test(query, cfg, IS_NOT_NULL);
    add_records_check(
        query, cfg, WCO_RLS_UPDATE_CHECK,
        reinterpret_cast<Node*>(makeBoolExpr(OR_EXPR, list_make2(deleted, none), -1)));
}

void rewrite_upsert(Query* query, RangeTblEntry* rte, const TableConfig& cfg)
{
    OnConflictExpr* conflict = query->onConflict;
    if (conflict == nullptr)
        return;
    if (conflict->action == ONCONFLICT_UPDATE && assigns_tombstone(conflict->onConflictSet, cfg)) {
        route_tombstone_writes(&conflict->onConflictSet, query->resultRelation, cfg);
        record_written_columns(query, rte, cfg);
        skip_visibility_checks(query);
        // Inserted rows are checked too: they must not take a decision.
        note_written_rows(query, cfg, NoteKind::decided, true);
    }
    if (infer_old_constraint_arbiter(query, cfg) || conflict->arbiterElems == NIL)
        return;
    Node* live = deleted_at_test(query, cfg, IS_NULL);
    conflict->arbiterWhere =
        conflict->arbiterWhere == nullptr ? live : make_and_qual(conflict->arbiterWhere, live);
}

// MERGE came with PostgreSQL 15.
#if PG_VERSION_NUM >= 150000
// Row security for a MERGE whose DELETE actions became UPDATE actions.
// PostgreSQL gives a MERGE the checks of every kind of action, whichever it
// has, and the executor picks them by the kind of the action it runs. In a
// MERGE without UPDATE actions of its own, the UPDATE policies' checks were
// there for actions it does not have, so they go, and the DELETE policies'
// checks of the target row become those of the converted actions: a DELETE
// needs no UPDATE policy, as a rewritten DELETE needs none. In a MERGE with
// UPDATE actions, only where the table has no policies but the extension's
// (the DELETE policies' checks are then the UPDATE policies'), the DELETE
// checks go and the UPDATE checks stay, for all its UPDATE actions.
void move_delete_checks_to_update(Query* query, bool updates)
{
    List* kept = NIL;
    ListCell* lc;
    foreach (lc, query->withCheckOptions) {
        auto* wco = static_cast<WithCheckOption*>(lfirst(lc));
        bool update_check =
            wco->kind == WCO_RLS_UPDATE_CHECK || wco->kind == WCO_RLS_MERGE_UPDATE_CHECK;
        if ((update_check && !updates) || (wco->kind == WCO_RLS_MERGE_DELETE_CHECK && updates))
            continue;
        if (wco->kind == WCO_RLS_MERGE_DELETE_CHECK)
            wco->kind = WCO_RLS_MERGE_UPDATE_CHECK;
        kept = lappend(kept, wco);
    }
    query->withCheckOptions = kept;
}

// Whether relid's row-level security policies are only those enable() made,
// which treat every command alike.
bool only_own_policies(Oid relid)
{
    Relation rel = relation_open(relid, NoLock);
    bool own = true;
    if (rel->rd_rsdesc != nullptr) {
        ListCell* lc;
        foreach (lc, rel->rd_rsdesc->policies) {
            const auto* policy = static_cast<RowSecurityPolicy*>(lfirst(lc));
            // The drift guard keeps these two from being altered or dropped;
            // their kinds are checked all the same.
            bool visibility = strcmp(policy->policy_name, visibility_policy) == 0 &&
                              !policy->permissive && policy->polcmd == '*';
            bool access = strcmp(policy->policy_name, "softdelete_access") == 0 &&
                          policy->permissive && policy->polcmd == '*';
            own = own && (visibility || access);
        }
    }
    relation_close(rel, NoLock);
    return own;
}

// Whether the role may UPDATE the four tombstone columns, which a MERGE with
// UPDATE actions of its own then checks for its rewritten DELETE actions
// too: a role granted UPDATE on some columns only keeps its DELETE actions
// (and the backstop). A GRANT or REVOKE, as a change of role, re-plans.
bool may_update_tombstone(const TableConfig& cfg)
{
    Oid role = GetUserId();
    if (pg_class_aclcheck(cfg.relid, role, ACL_UPDATE) == ACLCHECK_OK)
        return true;
    for (AttrNumber attno : {cfg.deleted_at, cfg.deleted_by, cfg.delete_reason, cfg.delete_op}) {
        if (attno != InvalidAttrNumber &&
            pg_attribute_aclcheck(cfg.relid, attno, role, ACL_UPDATE) != ACLCHECK_OK)
            return false;
    }
    return true;
}

// MERGE ... WHEN MATCHED THEN DELETE becomes WHEN MATCHED AND deleted_at IS
// NULL THEN UPDATE SET deleted_at = <the stamp>, which the tombstone
// decision makes a soft delete like any other: the same stamp, actor, reason
// and operation as a DELETE, one row version written, counted in MERGE n,
// and a second match of the same row is MERGE's own 21000. In a MERGE with
// UPDATE actions of its own, only where the table has no policies but the
// extension's (move_delete_checks_to_update()): otherwise the DELETE actions
// stay, for live rows only too, and the backstop trigger soft-deletes their
// rows one by one (and a row such a MERGE's UPDATE moves to another
// partition is soft-deleted where it is: the trigger cannot tell the move
// from a delete).
void soften_merge_deletes(Query* query, const TableConfig& cfg)
{
    bool updates = false;
    ListCell* lc;
    foreach (lc, query->mergeActionList)
        updates = updates || static_cast<MergeAction*>(lfirst(lc))->commandType == CMD_UPDATE;
    bool convert = !updates || (only_own_policies(cfg.relid) && may_update_tombstone(cfg));
    bool converted = false;
    foreach (lc, query->mergeActionList) {
        auto* action = static_cast<MergeAction*>(lfirst(lc));
        if (action->commandType != CMD_DELETE)
            continue;
        // Live rows only, as for a DELETE: a deleted row an admin's MERGE
        // matches (include_deleted) is neither stamped again nor refused by
        // the visibility policy's check; the next WHEN clause may take it.
        action->qual = make_and_qual(action->qual, deleted_at_test(query, cfg, IS_NULL));
        if (!convert)
            continue;
        action->commandType = CMD_UPDATE;
        action->targetList = NIL;
        assign(&action->targetList, cfg, cfg.deleted_at,
               call_as_column(deletion_stamp_function(), TIMESTAMPTZOID, cfg, cfg.deleted_at));
        converted = true;
    }
    if (converted)
        move_delete_checks_to_update(query, updates);
}

bool has_delete_action(const Query* query)
{
    ListCell* lc;
    foreach (lc, query->mergeActionList) {
        if (static_cast<MergeAction*>(lfirst(lc))->commandType == CMD_DELETE)
            return true;
    }
    return false;
}

void rewrite_merge(Query* query, RangeTblEntry* rte, const TableConfig& cfg, RewriteState* state)
{
    List* inserted = NIL;
    bool updates = false;          // the statement has UPDATE actions of its own
    bool writes_tombstone = false; // one of them writes a tombstone column
    ListCell* lc;
    foreach (lc, query->mergeActionList) {
        auto* action = static_cast<MergeAction*>(lfirst(lc));
        if (action->commandType == CMD_INSERT)
            inserted = lappend(inserted, action->targetList);
        updates = updates || action->commandType == CMD_UPDATE;
        writes_tombstone = writes_tombstone || (action->commandType == CMD_UPDATE &&
                                                assigns_tombstone(action->targetList, cfg));
    }
    refuse_inserted_records(query, cfg, inserted);
    // A purge never runs a MERGE: one that a trigger runs during a purge is
    // what it would be outside it.
    if (hard_delete_in_effect_on(cfg.root)) {
        // Its DELETE actions stay DELETEs, which an admin's hard delete
        // makes of deleted rows too, as of live ones.
        state->kept_hard_delete = true;
        if (has_delete_action(query)) {
            require_admin(cfg.relid, cfg.root, "hard-delete rows of");
            // The policy's check of the row a DELETE action removes would
            // refuse a deleted one.
            unhide_deleted_rows(rte);
            drop_visibility_checks(query, {WCO_RLS_MERGE_DELETE_CHECK});
        }
    } else {
        soften_merge_deletes(query, cfg);
    }
    bool routed = false;
    bool inserts = false;
    foreach (lc, query->mergeActionList) {
        auto* action = static_cast<MergeAction*>(lfirst(lc));
        inserts = inserts || action->commandType == CMD_INSERT;
        if (action->commandType != CMD_UPDATE || !assigns_tombstone(action->targetList, cfg))
            continue;
        route_tombstone_writes(&action->targetList, query->resultRelation, cfg);
        routed = true;
    }
    if (!routed)
        return;
    record_written_columns(query, rte, cfg);
    skip_visibility_checks(query);
    // Where every UPDATE action is a rewritten DELETE, a row an owner's
    // trigger keeps live leaves MERGE n as it leaves DELETE n.
    if (updates)
        note_written_rows(query, cfg, NoteKind::decided, inserts);
    else
        note_written_rows(query, cfg, NoteKind::merge_delete, inserts,
                          others_write_rows(rte->relid, rte->inh, CMD_UPDATE));
    // An admin's own tombstone writes may restore or correct deleted rows;
    // a converted DELETE action, like a DELETE, takes live rows only.
    if (writes_tombstone && is_admin(cfg.root))
        unhide_deleted_rows(rte);
}
#endif

void rewrite_query(Query* query, RewriteState* state)
{
    ListCell* lc;
    foreach (lc, query->cteList) {
        auto* cte = static_cast<CommonTableExpr*>(lfirst(lc));
        if (IsA(cte->ctequery, Query))
            rewrite_query(reinterpret_cast<Query*>(cte->ctequery), state);
    }
    if (query->resultRelation == 0)
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
        // After the visibility policy's checks of written rows are settled:
        // this one is not the policy's, though it is refused in its name.
        refuse_moved_records(query, rte, cfg);
        break;
    case CMD_INSERT:
        refuse_inserted_records(query, cfg, list_make1(query->targetList));
        rewrite_upsert(query, rte, cfg);
        break;
#if PG_VERSION_NUM >= 150000
    case CMD_MERGE:
        rewrite_merge(query, rte, cfg, state);
        refuse_moved_records(query, rte, cfg);
        break;
#endif
    default:
        break;
    }
}

bool modifies_anything(const Query* query)
{
    if (query->commandType == CMD_DELETE || query->commandType == CMD_UPDATE ||
        query->commandType == CMD_INSERT || is_merge(query->commandType))
        return true;
    ListCell* lc;
    foreach (lc, query->cteList) {
        auto* cte = static_cast<CommonTableExpr*>(lfirst(lc));
        if (IsA(cte->ctequery, Query) && modifies_anything(reinterpret_cast<Query*>(cte->ctequery)))
            return true;
    }
    return false;
}

// The plan's top is a DELETE that the planner hook turned into an UPDATE.
bool rewritten_delete_plan(const PlannedStmt* stmt)
{
    return stmt->planTree != nullptr && IsA(stmt->planTree, ModifyTable) &&
           is_rewritten_delete(stmt, reinterpret_cast<ModifyTable*>(stmt->planTree));
}

// How many planner calls are running, one inside the other (a function the
// planner evaluates may plan statements of its own).
int planner_depth = 0;

PlannedStmt* plan_statement(Query* parse, const char* query_string, int cursor_options,
                            ParamListInfo bound_params)
{
    RewriteState state = {false, false};
    bool own = false;
    if (parse->commandType != CMD_UTILITY && modifies_anything(parse) && extension_present()) {
        // Read by rewrite_delete() only, in this call's rewrite: a planner
        // call nested in this one's planning decides its own.
        own = plans_own_purge_statement(query_string, parse, planner_depth);
        planning_purge_statement = own;
        rewrite_query(parse, &state);
        planning_purge_statement = false;
    }
    PlannedStmt* stmt = previous_planner != nullptr
                            ? previous_planner(parse, query_string, cursor_options, bound_params)
                            : standard_planner(parse, query_string, cursor_options, bound_params);
    if (own)
        planned_own_purge_statement(stmt);
    if (state.soft_delete)
        defer_statement_values(stmt);
    // A DELETE made an UPDATE is still a DELETE to whoever runs it: the
    // client's command tag, SPI's result (a foreign key's ON DELETE action
    // expects SPI_OK_DELETE), a read-only transaction's error.
    if (stmt->commandType == CMD_UPDATE && rewritten_delete_plan(stmt))
        stmt->commandType = CMD_DELETE;
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

PlannedStmt* softdelete_planner(Query* parse, const char* query_string, int cursor_options,
                                ParamListInfo bound_params)
{
    PlannedStmt* stmt = nullptr;
    planner_depth++;
    PG_TRY();
    {
        stmt = plan_statement(parse, query_string, cursor_options, bound_params);
    }
    PG_FINALLY();
    {
        planner_depth--;
    }
    PG_END_TRY();
    return stmt;
}

} // namespace

int planner_calls()
{
    return planner_depth;
}

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

bool rewritten_delete_statement(const PlannedStmt* stmt)
{
    return stmt->commandType == CMD_DELETE && rewritten_delete_plan(stmt);
}

void install_planner_hook()
{
    previous_planner = planner_hook;
    planner_hook = softdelete_planner;
}

} // namespace softdelete
