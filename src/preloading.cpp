// The DELETE rewrite is a planner hook, and PostgreSQL calls a hook only
// once the module that sets it is loaded. A module in shared_preload_libraries
// (or session_preload_libraries) is loaded before a session's first
// statement. Loaded on demand instead, it arrives in the middle of a
// statement: while an RLS-subject role's first statement on an enabled table
// is planned (the visibility policy calls one of its functions), or, for a
// role RLS does not apply to, when the backstop trigger first fires. Such a
// DELETE was planned as a DELETE. The backstop still soft-deletes its rows,
// but it cannot return them, and a count that no executor hook saw begin
// reads 0. So CREATE EXTENSION refuses an install where the module is not
// preloaded, and a session that loads it late anyway (preloading removed
// afterwards, a role that overrides session_preload_libraries) refuses those
// statements instead of lying; run again, they are planned with the hook.
//
// Plain PostgreSQL code: nothing here owns a resource through a destructor.
#include "executor_hooks.hpp"
#include "preloading.hpp"
#include "settings.hpp"
#include "table_config.hpp"

namespace softdelete
{

namespace
{

bool loaded_late = false;

void refuse_late_load(const char* what)
{
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("softdelete was loaded in the middle of this statement, so %s", what),
                    errdetail("softdelete rewrites a DELETE while it is planned; this session "
                              "loaded the module only after the statement was planned. Nothing "
                              "was deleted."),
                    errhint("Run the statement again. Add softdelete to shared_preload_libraries "
                            "or session_preload_libraries so that every session loads it when "
                            "it starts.")));
}

} // namespace

void note_module_load(bool by_postmaster)
{
    // session_preload_libraries and local_preload_libraries load a module
    // while the backend initializes, before it reads its first statement.
    loaded_late = !by_postmaster && !IsInitProcessingMode();
    // Plans this session cached before now were made without the rewrite.
    // The one being made right now cannot be helped: it is refused above.
    if (loaded_late)
        ResetPlanCache();
}

void refuse_stale_delete_plan(const PlannedStmt* stmt)
{
    if (!loaded_late || hard_delete_in_effect())
        return;
    ListCell* lc;
    foreach (lc, modify_table_nodes(stmt)) {
        const auto* modify = static_cast<const ModifyTable*>(lfirst(lc));
        if (modify->operation != CMD_DELETE || modify->returningLists == NIL)
            continue;
        TableConfig cfg;
        if (table_config(rt_fetch(modify->nominalRelation, stmt->rtable)->relid, &cfg))
            refuse_late_load("its DELETE ... RETURNING would return no row");
    }
}

void refuse_delete_begun_before_load()
{
    // Every statement that began after the module was loaded runs inside
    // its executor hooks (a writable CTE run to completion at the end of the
    // statement inside ExecutorFinish's).
    if (loaded_late && executor_depth() == 0 && finishing_query() == nullptr)
        refuse_late_load("its DELETE would report a wrong row count");
}

} // namespace softdelete

extern "C" {

// The install script's first check: an install where the module is not
// loaded when sessions start could report wrong DELETE counts.
PG_FUNCTION_INFO_V1(softdelete_require_preloading);
Datum softdelete_require_preloading(PG_FUNCTION_ARGS)
{
    if (softdelete::loaded_late)
        ereport(ERROR,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("softdelete must be loaded when a session starts"),
                 errdetail("softdelete rewrites each DELETE while it is planned. A session that "
                           "loads the module on demand plans its first statements without it, "
                           "and such a DELETE could report 0 rows and return none."),
                 errhint("Add softdelete to shared_preload_libraries (takes a restart), or to "
                         "session_preload_libraries (ALTER DATABASE ... SET, for new sessions), "
                         "then connect again and run CREATE EXTENSION.")));
    PG_RETURN_VOID();
}
}
