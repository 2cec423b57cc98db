// The public API functions (softdelete.enable, disable, restore,
// hard_delete) are this one C function, and the event triggers another. It remembers who called,
// keeps that caller as the recorded actor, and forwards the call to the function of the same name
// and arguments in schema softdelete_internal, which runs as the extension's owner (SECURITY
// DEFINER). Application roles have no access to softdelete_internal at all, so none of its helpers
// can be called directly.
#include "api_gateway.hpp"
#include "event_log.hpp"
#include "extension_objects.hpp"

namespace softdelete
{

namespace
{

Oid invoker = InvalidOid;
int internal_depth = 0;

// A call site of a public function: the internal function with the same
// name and argument types, prepared once.
struct CallSite {
    FmgrInfo inner;
    // restore(), hard_delete() and erase() take (tbl regclass, key
    // anycompatible). Turning a value of any type into jsonb can run code of
    // that type's owner (a cast to json it created): it is done here, as the
    // caller, with softdelete_internal.key_json(), and the internal function,
    // which runs as the extension's owner, gets the jsonb.
    bool takes_key;
    FmgrInfo key_json;
};

CallSite* call_site(FmgrInfo* outer)
{
    if (outer->fn_extra != nullptr)
        return static_cast<CallSite*>(outer->fn_extra);
    HeapTuple tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(outer->fn_oid));
    if (!HeapTupleIsValid(tuple))
        elog(ERROR, "cache lookup failed for function %u", outer->fn_oid);
    auto* proc = (Form_pg_proc)GETSTRUCT(tuple);
    Oid target =
        require_internal_function(NameStr(proc->proname), proc->pronargs, proc->proargtypes.values);
    // (Before ALTER EXTENSION ... UPDATE to 1.1.0 there is no key_json of
    // two arguments, and the key goes on as it is.)
    const Oid key_args[] = {REGCLASSOID, ANYCOMPATIBLEOID};
    Oid key_json = proc->pronargs == 2 && proc->proargtypes.values[0] == REGCLASSOID &&
                           proc->proargtypes.values[1] == ANYCOMPATIBLEOID
                       ? internal_function_oid("key_json", 2, key_args)
                       : InvalidOid;
    bool takes_key = OidIsValid(key_json);
    ReleaseSysCache(tuple);
    auto* site = static_cast<CallSite*>(MemoryContextAllocZero(outer->fn_mcxt, sizeof(CallSite)));
    fmgr_info_cxt(target, &site->inner, outer->fn_mcxt);
    // Polymorphic arguments resolve from the call expression.
    site->inner.fn_expr = outer->fn_expr;
    site->takes_key = takes_key;
    if (takes_key) {
        fmgr_info_cxt(key_json, &site->key_json, outer->fn_mcxt);
        site->key_json.fn_expr = outer->fn_expr;
        // The internal function's key is then a jsonb.
        MemoryContext old = MemoryContextSwitchTo(outer->fn_mcxt);
        site->inner.fn_expr = reinterpret_cast<Node*>(
            makeFuncExpr(target, get_func_rettype(target),
                         list_make2(makeNullConst(REGCLASSOID, -1, InvalidOid),
                                    makeNullConst(JSONBOID, -1, InvalidOid)),
                         InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL));
        MemoryContextSwitchTo(old);
    }
    outer->fn_extra = site;
    return site;
}

// The key as jsonb, converted as the caller (see CallSite).
void key_to_jsonb(CallSite* site, FunctionCallInfo fcinfo)
{
    if (fcinfo->args[1].isnull)
        return;
    LOCAL_FCINFO(convert, 2);
    InitFunctionCallInfoData(*convert, &site->key_json, 2, InvalidOid, nullptr, nullptr);
    convert->args[0] = fcinfo->args[0];
    convert->args[1] = fcinfo->args[1];
    Datum key = FunctionCallInvoke(convert);
    fcinfo->args[1].value = key;
    fcinfo->args[1].isnull = convert->isnull;
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

bool extension_at_work()
{
    if (!in_internal_operation())
        return false;
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(extension_table("tables")));
    if (!HeapTupleIsValid(tuple))
        return false;
    // The role that created the extension owns its functions and its tables.
    Oid owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return GetUserId() == owner;
}

void call_for_caller(Oid function, int nargs, const Datum* args)
{
    int saved_depth = internal_depth;
    Oid saved_invoker = invoker;
    // A table enabled because of this DDL (a new foreign key, a detached
    // partition) is judged for the role that ran the DDL, as if it had
    // called enable() itself.
    invoker = GetUserId();
    internal_depth++;
    PG_TRY();
    {
        LOCAL_FCINFO(fcinfo, FUNC_MAX_ARGS);
        FmgrInfo flinfo;
        fmgr_info(function, &flinfo);
        InitFunctionCallInfoData(*fcinfo, &flinfo, nargs, InvalidOid, nullptr, nullptr);
        for (int i = 0; i < nargs; i++) {
            fcinfo->args[i].value = args[i];
            fcinfo->args[i].isnull = false;
        }
        (void)FunctionCallInvoke(fcinfo);
    }
    PG_FINALLY();
    {
        internal_depth = saved_depth;
        invoker = saved_invoker;
    }
    PG_END_TRY();
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_api);
Datum softdelete_api(PG_FUNCTION_ARGS)
{
    FmgrInfo* outer = fcinfo->flinfo;
    softdelete::CallSite* site = softdelete::call_site(outer);
    FmgrInfo* inner = &site->inner;
    if (site->takes_key)
        softdelete::key_to_jsonb(site, fcinfo);
    Oid saved_invoker = softdelete::invoker;
    int saved_depth = softdelete::internal_depth;
    // The actor is read as the caller, before anything runs as the owner.
    int guc_level = softdelete::pin_actor();
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

// ddl_command_end and sql_drop. The extension's own operations (enable(),
// disable(), and this trigger's own DDL) cover what they change themselves.
PG_FUNCTION_INFO_V1(softdelete_on_event);
Datum softdelete_on_event(PG_FUNCTION_ARGS)
{
    if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
        ereport(ERROR,
                (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                 errmsg("softdelete_internal.on_event() must be called as an event trigger")));
    // The extension's own DDL is its own business; DDL that a table owner's
    // code runs inside one of its operations (a trigger during restore()) is
    // followed up as any other.
    if (softdelete::extension_at_work())
        PG_RETURN_VOID();
    auto* data = reinterpret_cast<EventTriggerData*>(fcinfo->context);
    // Both run as the extension's owner (SECURITY DEFINER).
    bool dropped = strcmp(data->event, "sql_drop") == 0;
    Oid work = softdelete::require_internal_function(
        dropped ? "forget_dropped_tables" : "cover_new_objects", 0, nullptr);
    softdelete::call_for_caller(work, 0, nullptr);
    // What a drop took along, or an ALTER TYPE changed in a typed table,
    // the drift guard did not see: the enabled tables are checked whole.
    // (The check came with 1.1.0: before ALTER EXTENSION ... UPDATE it is
    // missing, and nothing is checked.)
    const Oid check_args[] = {BOOLOID};
    Oid check = softdelete::internal_function_oid("require_enforcement", 1, check_args);
    if (OidIsValid(check) && (dropped || data->tag == CMDTAG_ALTER_TYPE)) {
        const Datum args[] = {BoolGetDatum(dropped)};
        softdelete::call_for_caller(check, 1, args);
    }
    PG_RETURN_VOID();
}
}
