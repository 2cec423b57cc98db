// PostgreSQL refuses COPY FROM into a table whose row-level security applies
// to the role ("COPY FROM not supported with row-level security"), and
// enable() forces row security on the owner too. An admin loads rows as
// they were, deleted ones included (pg_restore, psql's \copy); so
// softdelete carries out that COPY itself, without row security, when the
// role would have copied without it before enable():
//
//  * the table had no row-level security of its own: any admin of it (a
//    member of the owner's role or of softdelete_admin);
//  * it had row-level security, not forced: a member of the owner's role.
//
// Everything else gets PostgreSQL's own refusal, an application role
// included: its rows go through INSERT, held to the visibility policy. The
// COPY runs as PostgreSQL's own would: the same privilege checks on the
// role, the same COPY machinery (triggers, the child guard, constraints,
// partition routing), the tag COPY n. Only COPY ... FROM STDIN without WHERE,
// what pg_restore, psql's \copy and drivers send; a file or a program on
// the server, or a WHERE clause, keeps PostgreSQL's refusal.
//
// Plain PostgreSQL code: nothing here owns a resource through a destructor.
#include "admin_copy.hpp"
#include "authorization.hpp"
#include "extension_objects.hpp"
#include "table_config.hpp"

extern "C" {
#include "commands/copy.h"
#include "nodes/makefuncs.h"
#include "parser/parse_relation.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/rls.h"
}

namespace softdelete
{

namespace
{

bool config_flag(Oid root, const char* column)
{
    TupleDesc desc;
    HeapTuple row = config_row(root, &desc);
    if (row == nullptr)
        return true; // unknown: as if row security was there, forced
    bool isnull;
    Datum value = config_value(row, desc, column, &isnull);
    return isnull || DatumGetBool(value);
}

// Would the current role's COPY FROM into relid have run without row
// security before enable()?
bool copied_without_rls_before(Oid relid, const TableConfig& cfg)
{
    if (!config_flag(cfg.root, "rls_was_enabled"))
        return is_admin(cfg.root);
#if PG_VERSION_NUM >= 160000
    bool owner = object_ownercheck(RelationRelationId, relid, GetUserId());
#else
    bool owner = pg_class_ownercheck(relid, GetUserId());
#endif
    return owner && !config_flag(cfg.root, "rls_was_forced");
}

// The privilege checks of PostgreSQL's COPY FROM: INSERT on the table, or
// on each column copied.
void check_insert_privileges(ParseState* pstate, ParseNamespaceItem* item, List* attnums)
{
#if PG_VERSION_NUM >= 160000
    RTEPermissionInfo* perms = item->p_perminfo;
    perms->requiredPerms = ACL_INSERT;
    ListCell* lc;
    foreach (lc, attnums)
        perms->insertedCols = bms_add_member(perms->insertedCols,
                                             lfirst_int(lc) - FirstLowInvalidHeapAttributeNumber);
    ExecCheckPermissions(pstate->p_rtable, list_make1(perms), true);
#else
    RangeTblEntry* rte = item->p_rte;
    rte->requiredPerms = ACL_INSERT;
    ListCell* lc;
    foreach (lc, attnums)
        rte->insertedCols =
            bms_add_member(rte->insertedCols, lfirst_int(lc) - FirstLowInvalidHeapAttributeNumber);
    ExecCheckRTPerms(pstate->p_rtable, true);
#endif
}

// The rows an admin copies may be deleted ones, but name no operation
// (delete_op) unless the role may write the event log (a restore): a WHERE
// of the COPY, refuse_operation_mark(relid, delete_op), that lets through
// what has none and refuses the rest. nullptr: nothing to check (or the
// installed SQL script predates the function).
Node* operation_mark_check(Oid relid, const TableConfig& cfg)
{
    if (cfg.delete_op == InvalidAttrNumber || may_write_operation_marks())
        return nullptr;
    Oid args[] = {REGCLASSOID, INT8OID};
    Oid refuse = internal_function_oid("refuse_operation_mark", 2, args);
    if (!OidIsValid(refuse))
        return nullptr;
    List* call = list_make2(
        makeConst(REGCLASSOID, -1, InvalidOid, sizeof(Oid), ObjectIdGetDatum(relid), false, true),
        makeVar(1, cfg.delete_op, INT8OID, -1, InvalidOid, 0));
    return reinterpret_cast<Node*>(list_make1(
        makeFuncExpr(refuse, BOOLOID, call, InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL)));
}

} // namespace

bool copy_as_admin(PlannedStmt* pstmt, const char* query_string, QueryEnvironment* query_env,
                   QueryCompletion* qc)
{
    auto* stmt = reinterpret_cast<CopyStmt*>(pstmt->utilityStmt);
    if (!stmt->is_from || stmt->relation == nullptr || stmt->filename != nullptr ||
        stmt->whereClause != nullptr)
        return false;
    // The lock PostgreSQL's COPY FROM takes, taken while the name is looked up.
    Oid relid = RangeVarGetRelidExtended(stmt->relation, RowExclusiveLock, RVR_MISSING_OK, nullptr,
                                         nullptr);
    TableConfig cfg;
    if (!OidIsValid(relid) || !table_config(relid, &cfg) ||
        check_enable_rls(relid, InvalidOid, true) != RLS_ENABLED ||
        !copied_without_rls_before(relid, cfg))
        return false;

    ParseState* pstate = make_parsestate(nullptr);
    pstate->p_sourcetext = query_string;
    pstate->p_queryEnv = query_env;
    Relation rel = table_open(relid, NoLock);
    ParseNamespaceItem* item =
        addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, nullptr, false, false);
    check_insert_privileges(pstate, item,
                            CopyGetAttnums(RelationGetDescr(rel), rel, stmt->attlist));
    if (XactReadOnly && !rel->rd_islocaltemp)
        PreventCommandIfReadOnly("COPY FROM");
    CopyFromState cstate = BeginCopyFrom(pstate, rel, operation_mark_check(relid, cfg), nullptr,
                                         false, nullptr, stmt->attlist, stmt->options);
    uint64 processed = CopyFrom(cstate);
    EndCopyFrom(cstate);
    table_close(rel, NoLock);
    free_parsestate(pstate);
    if (qc != nullptr)
        SetQueryCompletion(qc, CMDTAG_COPY, processed);
    return true;
}

} // namespace softdelete

extern "C" {

// softdelete_internal.refuse_operation_mark(tbl, op): true for a row that
// names no operation; any other is refused. Evaluated for each row an admin
// without the right to write operation marks copies (see above).
PG_FUNCTION_INFO_V1(softdelete_refuse_operation_mark);
Datum softdelete_refuse_operation_mark(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(1))
        PG_RETURN_BOOL(true);
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("permission denied to load rows of table %s with a delete_op",
                    PG_ARGISNULL(0) ? "(unknown)"
                                    : softdelete::relation_display_name(PG_GETARG_OID(0))),
             errdetail("delete_op names the operation that softdelete.undo() restores; only a "
                       "restore writes it."),
             errhint("Leave delete_op NULL, or load the rows as a member of softdelete_backup.")));
    PG_RETURN_BOOL(false);
}
}
