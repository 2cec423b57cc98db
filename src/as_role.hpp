// Running a piece of work as another role (see as_role()).
#pragma once

#include <type_traits>

#include "pg.hpp"

namespace softdelete
{

// PG regime. Runs body as role, the way a SECURITY DEFINER function runs as
// its owner (a local user-id change; extra_flags adds to it, e.g.
// SECURITY_NOFORCE_RLS), and puts the caller's user and security context
// back when body returns. When body raises an error, the abort of the
// (sub)transaction that catches it puts them back instead.
template <typename Body> decltype(auto) as_role(Oid role, int extra_flags, Body&& body)
{
    Oid saved_user;
    int saved_context;
    GetUserIdAndSecContext(&saved_user, &saved_context);
    SetUserIdAndSecContext(role, saved_context | SECURITY_LOCAL_USERID_CHANGE | extra_flags);
    if constexpr (std::is_void_v<decltype(body())>) {
        body();
        SetUserIdAndSecContext(saved_user, saved_context);
    } else {
        auto result = body();
        SetUserIdAndSecContext(saved_user, saved_context);
        return result;
    }
}

} // namespace softdelete
