// The public API functions (softdelete.enable, disable, restore,
// hard_delete) are this one C function. It remembers who called, keeps that
// caller as the recorded actor, and forwards the call to the function of the
// same name and arguments in schema softdelete_internal, which runs as the
// extension's owner (SECURITY DEFINER). Application roles have no access to
// softdelete_internal at all, so none of its helpers can be called directly.
#include "api_gateway.hpp"
#include "event_log.hpp"

namespace softdelete
{

namespace
{

Oid invoker = InvalidOid;
int internal_depth = 0;

// The internal function with the same name and argument types as the public
// one, prepared once per call site.
FmgrInfo* internal_function(FmgrInfo* outer)
{
    if (outer->fn_extra != nullptr)
        return static_cast<FmgrInfo*>(outer->fn_extra);
    HeapTuple tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(outer->fn_oid));
    if (!HeapTupleIsValid(tuple))
        elog(ERROR, "cache lookup failed for function %u", outer->fn_oid);
    auto* proc = (Form_pg_proc)GETSTRUCT(tuple);
    List* name = list_make2(makeString(pstrdup("softdelete_internal")),
                            makeString(pstrdup(NameStr(proc->proname))));
    Oid target = LookupFuncName(name, proc->pronargs, proc->proargtypes.values, true);
    ReleaseSysCache(tuple);
    if (!OidIsValid(target))
        ereport(ERROR,
                (errcode(ERRCODE_UNDEFINED_FUNCTION),
                 errmsg("softdelete's internal functions are missing"),
                 errhint("Run ALTER EXTENSION softdelete UPDATE, or re-create the extension.")));
    auto* info = static_cast<FmgrInfo*>(MemoryContextAllocZero(outer->fn_mcxt, sizeof(FmgrInfo)));
    fmgr_info_cxt(target, info, outer->fn_mcxt);
    // Polymorphic arguments (restore's key) resolve from the call expression.
    info->fn_expr = outer->fn_expr;
    outer->fn_extra = info;
    return info;
}

} // namespace

Oid acting_role()
{
    return internal_depth > 0 && OidIsValid(invoker) ? invoker : GetUserId();
}

bool in_internal_operation()
{
    return internal_depth > 0;
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_api);
Datum softdelete_api(PG_FUNCTION_ARGS)
{
    FmgrInfo* outer = fcinfo->flinfo;
    FmgrInfo* inner = softdelete::internal_function(outer);
    Oid saved_invoker = softdelete::invoker;
    int saved_depth = softdelete::internal_depth;
    // The actor is read as the caller, before anything runs as the owner.
    int guc_level = NewGUCNestLevel();
    (void)set_config_option("softdelete.actor", softdelete::actor_name(), PGC_USERSET,
                            PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    softdelete::invoker = GetUserId();
    softdelete::internal_depth++;
    Datum result;
    PG_TRY();
    {
        fcinfo->flinfo = inner;
        result = FunctionCallInvoke(fcinfo);
    }
    PG_FINALLY();
    {
        fcinfo->flinfo = outer;
        softdelete::invoker = saved_invoker;
        softdelete::internal_depth = saved_depth;
    }
    PG_END_TRY();
    AtEOXact_GUC(true, guc_level);
    return result;
}
}
