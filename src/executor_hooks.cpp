// The client reads the true count (SPEC section 2.3): the server picks the
// command tag from queryDesc->operation right after ExecutorRun (PG's
// ProcessQuery), so a DELETE that ran as an UPDATE is reported as the DELETE
// it was, with es_processed as its count.
#include "executor_hooks.hpp"
#include "statement_rewrite.hpp"

namespace softdelete
{

namespace
{

ExecutorRun_hook_type previous_run = nullptr;
ExecutorFinish_hook_type previous_finish = nullptr;

uint64 backstop_rows = 0;
QueryDesc* finishing = nullptr;

void run_hook(QueryDesc* query, ScanDirection direction, uint64 count, bool execute_once)
{
    uint64 outer_backstop_rows = backstop_rows;
    backstop_rows = 0;
    PG_TRY();
    {
        if (previous_run != nullptr)
            previous_run(query, direction, count, execute_once);
        else
            standard_ExecutorRun(query, direction, count, execute_once);
    }
    PG_FINALLY();
    {
        query->estate->es_processed += backstop_rows;
        backstop_rows = outer_backstop_rows;
    }
    PG_END_TRY();
    if (query->operation == CMD_UPDATE && is_rewritten_delete(query->plannedstmt))
        query->operation = CMD_DELETE;
}

void finish_hook(QueryDesc* query)
{
    QueryDesc* outer = finishing;
    finishing = query;
    PG_TRY();
    {
        if (previous_finish != nullptr)
            previous_finish(query);
        else
            standard_ExecutorFinish(query);
    }
    PG_FINALLY();
    {
        finishing = outer;
    }
    PG_END_TRY();
}

} // namespace

void count_backstop_row()
{
    backstop_rows++;
}

QueryDesc* finishing_query()
{
    return finishing;
}

void install_executor_hooks()
{
    previous_run = ExecutorRun_hook;
    ExecutorRun_hook = run_hook;
    previous_finish = ExecutorFinish_hook;
    ExecutorFinish_hook = finish_hook;
}

} // namespace softdelete
