// What enable() and disable() refuse to manage (target_check.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// C++ regime. Throws a PgError with the refusal's SQLSTATE, detail and hint
// when relid is not a table softdelete can manage for the acting role.
void check_target(Oid relid);

} // namespace softdelete
