// Which DELETEs a purge batch's authority covers. While a batch runs
// (purge.cpp), a DELETE on an enabled table whose role is an admin of it is
// planned as a real one (purge_removes_rows_of()), so that the rows a
// foreign key action removes behind a table that is not enabled go for good
// with their parent, whoever owns them. Plans are made before anyone knows
// who will run them, so that authority is checked as each query starts:
// it covers the batch's own statements and the foreign key actions they set
// off, and nothing else. A DELETE from a trigger the batch fires (a
// SECURITY DEFINER function of the owner of another table, a foreign key
// action of a DELETE the trigger made) is what it would be outside the
// purge: a real DELETE only where softdelete.hard_delete is in effect for
// it; any other real DELETE of an enabled table is refused (42501), and the
// batch fails, changing nothing.
//
// The batch's own statements start at the executor depth the batch runs at,
// outside any other query's AFTER triggers. PostgreSQL runs a foreign key's
// action as a query of its own, started with EXEC_FLAG_SKIP_TRIGGERS (SPI
// with fire_triggers off, which no SQL or PL/pgSQL code can ask for) while
// the query whose rows it follows finishes: that query's authority passes
// to it, and only then.
//
// Plain PostgreSQL code.
#include "authorization.hpp"
#include "executor_hooks.hpp"
#include "purge.hpp"
#include "settings.hpp"
#include "table_config.hpp"

extern "C" {
#include "executor/executor.h"
#include "parser/parsetree.h"
}

namespace softdelete
{

namespace
{

int batch_depth = -1;
QueryDesc* batch_finishing = nullptr;
List* authorized = NIL; // QueryDescs, in TopMemoryContext

bool authorizes(const QueryDesc* query)
{
    return query != nullptr && list_member_ptr(authorized, query);
}

// The enabled table a real DELETE of stmt removes rows from without
// softdelete.hard_delete in effect for it; InvalidOid when none.
Oid removal_without_opt_in(const PlannedStmt* stmt)
{
    ListCell* lc;
    foreach (lc, modify_table_nodes(stmt)) {
        const auto* modify = static_cast<const ModifyTable*>(lfirst(lc));
        if (modify->operation != CMD_DELETE)
            continue;
        ListCell* rti;
        foreach (rti, modify->resultRelations) {
            Oid relid = rt_fetch(lfirst_int(rti), stmt->rtable)->relid;
            TableConfig cfg;
            if (table_config(relid, &cfg) && !hard_delete_in_effect_on(cfg.root))
                return relid;
        }
    }
    return InvalidOid;
}

} // namespace

void begin_purge_authority()
{
    batch_depth = executor_depth();
    batch_finishing = finishing_query();
    list_free(authorized);
    authorized = NIL;
}

void end_purge_authority()
{
    batch_depth = -1;
    batch_finishing = nullptr;
    list_free(authorized);
    authorized = NIL;
}

void check_purge_authority(QueryDesc* query, int eflags)
{
    if (!purge_in_progress())
        return;
    // A QueryDesc freed earlier may come back at the same address.
    authorized = list_delete_ptr(authorized, query);
    bool own = executor_depth() == batch_depth && finishing_query() == batch_finishing;
    bool action = (eflags & EXEC_FLAG_SKIP_TRIGGERS) != 0 && authorizes(finishing_query());
    if (own || action) {
        MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
        authorized = lappend(authorized, query);
        MemoryContextSwitchTo(old);
        return;
    }
    if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) != 0)
        return;
    Oid relid = removal_without_opt_in(query->plannedstmt);
    if (OidIsValid(relid))
        ereport(ERROR,
                (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                 errmsg("permission denied to remove rows of table %s for good during a purge",
                        relation_display_name(relid)),
                 errdetail("Only the purge's own statements, and the foreign key actions they set "
                           "off, remove rows for good; this DELETE comes from elsewhere (a "
                           "trigger, a function it calls)."),
                 errhint("Outside a purge the same DELETE would not remove them for good "
                         "either.")));
}

bool purge_authorizes(const QueryDesc* query)
{
    return purge_in_progress() && authorizes(query);
}

} // namespace softdelete
