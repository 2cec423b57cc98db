// Visibility decisions behind the RLS policy (see visibility.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// C++ regime: may throw PgError.
bool sees_deleted_rows(Oid root);
bool may_write_deleted_rows(Oid root);

// The pg_dump check of sees_deleted_rows() runs when a plan is made. A plan
// made before the session looked like pg_dump (a prepared statement, a
// PL/pgSQL function's cached plan) would read live rows only without it:
// run at each execution of a plan whose policy was folded. Plain
// PostgreSQL code (ereports).
void refuse_dump_without_deleted_rows(const PlannedStmt* stmt);

} // namespace softdelete
