// An admin's COPY ... FROM STDIN into an enabled table.
#pragma once

#include "pg.hpp"

namespace softdelete
{

// PG regime. Carries out stmt, a COPY, when it is a COPY ... FROM STDIN
// into an enabled table (or a partition of one) that PostgreSQL would refuse
// because of row-level security, by a role that may load the rows as they
// are (see admin_copy.cpp). True when it did, with the command tag in qc.
bool copy_as_admin(PlannedStmt* pstmt, const char* query_string, QueryEnvironment* query_env,
                   QueryCompletion* qc);

} // namespace softdelete
