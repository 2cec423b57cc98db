// Checks shared by the extension's trigger functions.
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

} // namespace softdelete
