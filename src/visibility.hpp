// Visibility decisions behind the RLS policy (see visibility.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// C++ regime: may throw PgError.
bool sees_deleted_rows(Oid root);
bool may_write_deleted_rows(Oid root);

// OIDs of the extension's functions that rewritten statements and policies use.
Oid include_deleted_function();
Oid deletion_stamp_function();
Oid restore_stamp_function();
Oid actor_function();
Oid reason_function();
Oid refuse_restore_function();
void forget_extension_objects();

// Plans that fold softdelete.include_deleted (SELECTs, through the policy).
void invalidate_visibility_plans();
// Plans whose DELETE meaning depends on softdelete.hard_delete.
void invalidate_delete_plans();

} // namespace softdelete
