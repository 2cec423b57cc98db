// Visibility decisions behind the RLS policy (see visibility.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// C++ regime: may throw PgError.
bool sees_deleted_rows(Oid root);
bool may_write_deleted_rows(Oid root);

} // namespace softdelete
