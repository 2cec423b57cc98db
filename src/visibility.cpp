// The functions inside the visibility policy and their planner support.
//
// The policy reads "deleted_at IS NULL OR softdelete_internal.include_deleted(tbl)".
// The support function answers SupportRequestSimplify with a constant, so the
// planner folds the OR away and sees exactly "deleted_at IS NULL": partial
// indexes stay usable and nothing runs per row (an OR with a bypass
// expression would turn index lookups into sequential scans). The
// answer depends on settings and role; settings reset the plan cache when
// they flip, and RLS plans are already re-planned on a change of role.
#include <string>

#include "authorization.hpp"
#include "error_bridge.hpp"
#include "settings.hpp"
#include "table_config.hpp"
#include "extension_objects.hpp"
#include "visibility.hpp"

namespace softdelete
{

namespace
{

std::string relation_name(Oid relid)
{
    const char* name = pg_guard([relid] { return get_rel_name(relid); });
    return name != nullptr ? std::string(name) : std::to_string(relid);
}

} // namespace

bool sees_deleted_rows(Oid root)
{
    // Another role's opt-in (a caller's, around a SECURITY DEFINER function)
    // is not this role's: it shows nothing.
    if (!include_deleted_in_effect()) {
        if (looks_like_pg_dump())
            throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                          "pg_dump would leave out the deleted rows of table \"" +
                              relation_name(root) + "\"",
                          "This session set row_security = on and synchronize_seqscans = off, "
                          "as pg_dump --enable-row-security does, and softdelete.include_deleted "
                          "is off.",
                          "Dump as a reader of the table with PGOPTIONS='-c "
                          "softdelete.include_deleted=on' pg_dump --enable-row-security ...");
        return false;
    }
    if (pg_guard([root] { return is_reader(root); }))
        return true;
    // Opting in without the right is an error, never a silent empty answer.
    const char* role = pg_guard([] { return GetUserNameFromId(GetUserId(), false); });
    throw PgError(ERRCODE_INSUFFICIENT_PRIVILEGE,
                  "permission denied to see deleted rows of table \"" + relation_name(root) + "\"",
                  "Role \"" + std::string(role) +
                      "\" has softdelete.include_deleted on but is not a reader of the table.",
                  "GRANT softdelete_reader TO the role, or RESET softdelete.include_deleted.");
}

bool may_write_deleted_rows(Oid root)
{
    return pg_guard([root] { return is_admin(root); });
}

void refuse_dump_without_deleted_rows(const PlannedStmt* stmt)
{
    if (!looks_like_pg_dump() || include_deleted_in_effect())
        return;
    Oid include_fn = include_deleted_function();
    if (!OidIsValid(include_fn))
        return;
    uint32 hash = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(include_fn));
    bool folded = false;
    ListCell* lc;
    foreach (lc, stmt->invalItems) {
        const auto* item = static_cast<const PlanInvalItem*>(lfirst(lc));
        folded = folded || (item->cacheId == PROCOID && item->hashValue == hash);
    }
    if (!folded)
        return;
    foreach (lc, stmt->relationOids) {
        TableConfig cfg;
        if (table_config(lfirst_oid(lc), &cfg))
            entry_guard([&cfg] { (void)sees_deleted_rows(cfg.root); });
    }
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_include_deleted);
Datum softdelete_include_deleted(PG_FUNCTION_ARGS)
{
    Oid relid = PG_GETARG_OID(0);
    bool result = softdelete::entry_guard([relid] { return softdelete::sees_deleted_rows(relid); });
    PG_RETURN_BOOL(result);
}

PG_FUNCTION_INFO_V1(softdelete_may_write_deleted);
Datum softdelete_may_write_deleted(PG_FUNCTION_ARGS)
{
    Oid relid = PG_GETARG_OID(0);
    bool result =
        softdelete::entry_guard([relid] { return softdelete::may_write_deleted_rows(relid); });
    PG_RETURN_BOOL(result);
}

// Folds either policy function into a constant when its table is a constant.
PG_FUNCTION_INFO_V1(softdelete_policy_support);
Datum softdelete_policy_support(PG_FUNCTION_ARGS)
{
    Node* request = reinterpret_cast<Node*>(PG_GETARG_POINTER(0));
    if (!IsA(request, SupportRequestSimplify))
        PG_RETURN_POINTER(nullptr);
    FuncExpr* call = reinterpret_cast<SupportRequestSimplify*>(request)->fcall;
    if (list_length(call->args) != 1 || !IsA(linitial(call->args), Const))
        PG_RETURN_POINTER(nullptr);
    Const* arg = static_cast<Const*>(linitial(call->args));
    if (arg->constisnull)
        PG_RETURN_POINTER(nullptr);
    Oid relid = DatumGetObjectId(arg->constvalue);
    Oid include_fn = softdelete::include_deleted_function();
    // The answer depends on softdelete.include_deleted: a flip of it must
    // re-plan this plan, and only plans like it.
    PlannerInfo* root = reinterpret_cast<SupportRequestSimplify*>(request)->root;
    if (root != nullptr && call->funcid == include_fn)
        record_plan_function_dependency(root, include_fn);
    bool value = softdelete::entry_guard([&] {
        return call->funcid == include_fn ? softdelete::sees_deleted_rows(relid)
                                          : softdelete::may_write_deleted_rows(relid);
    });
    PG_RETURN_POINTER(makeBoolConst(value, false));
}
}
