// Checks shared by the extension's trigger functions and by the functions
// that only rewritten statements call.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// The trigger data of a call, or an error when the function was called some
// other way (any role can try SELECT f() on a trigger function it can name).
inline TriggerData* trigger_data(FunctionCallInfo fcinfo, const char* name)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("%s must be called as a trigger", name)));
    return reinterpret_cast<TriggerData*>(fcinfo->context);
}

// Refuses a call whose first nonnull arguments include a NULL, or that has
// not nargs arguments (nargs < 0: any number): no plan the planner hook
// builds makes one, so it is someone calling by hand.
inline void require_rewritten_call(FunctionCallInfo fcinfo, int nonnull, int nargs,
                                   const char* name)
{
    bool refused = nargs >= 0 && PG_NARGS() != nargs;
    for (int i = 0; i < nonnull && !refused; i++)
        refused = PG_ARGISNULL(i);
    if (refused)
        ereport(ERROR, (errcode(ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION),
                        errmsg("%s is called by rewritten statements only", name)));
}

} // namespace softdelete
