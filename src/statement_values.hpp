// The stamp, actor, reason and operation a soft delete writes, set by the
// executor hook when the statement starts (statement_values.cpp).
#pragma once

#include "pg.hpp"

namespace softdelete
{

// After planning: a rewritten DELETE's initPlan, whose Result calls the four
// functions, gets placeholders instead of the calls. Statements without one
// are left as they are.
void defer_statement_values(PlannedStmt* stmt);

// When an executor has started: the parameters of every such initPlan get
// their values for this execution, so that its Result never runs. Nothing
// under EXPLAIN without ANALYZE.
void set_statement_values(QueryDesc* query, int eflags);

} // namespace softdelete
