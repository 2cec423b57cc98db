// PostgreSQL carries out a foreign key's ON DELETE CASCADE with its own
// statement, "DELETE FROM [ONLY] child WHERE $1 = col ...", run through SPI
// with its triggers deferred to the parent's statement (the only caller
// that starts an executor with EXEC_FLAG_SKIP_TRIGGERS). On an enabled
// child the planner makes it a soft delete like any other DELETE. That
// cannot stand when the parent's row really goes (its table is not
// enabled): the child's rows, soft-deleted or already deleted, would keep
// referencing a row that no longer exists, which no foreign key allows and
// which a dump could not restore. So the parent's DELETE is refused while
// any row of the child references the rows it removes, deleted or not, as
// RESTRICT would; with none, it goes through.
//
// Where the parent's delete is itself a soft delete (an enabled parent),
// no referential action runs; where it is a real one by choice (an admin's
// softdelete.hard_delete, a purge), the child's statement is not rewritten
// and is not concerned here.
#include "cascade_from_plain_parent.hpp"
#include "authorization.hpp"
#include "statement_rewrite.hpp"

extern "C" {
#include "utils/lsyscache.h"
}

namespace softdelete
{

namespace
{

const char delete_prefix[] = "DELETE FROM ";

// Whether a row of the child matches the referential action's condition,
// deleted or not. The statement runs as PostgreSQL runs it, as the child's
// owner outside FORCE ROW LEVEL SECURITY, so every row is seen.
bool referencing_rows_exist(const QueryDesc* query)
{
    const char* text = query->sourceText;
    // PostgreSQL 14 to 17 write the action this way; anything else is not
    // understood, and refused.
    if (text == nullptr || strncmp(text, delete_prefix, sizeof delete_prefix - 1) != 0)
        return true;
    char* select = psprintf("SELECT FROM %s LIMIT 1", text + sizeof delete_prefix - 1);
    ParamListInfo params = query->params;
    int nargs = params != nullptr ? params->numParams : 0;
    Oid* types = static_cast<Oid*>(palloc0(sizeof(Oid) * (nargs > 0 ? nargs : 1)));
    Datum* values = static_cast<Datum*>(palloc0(sizeof(Datum) * (nargs > 0 ? nargs : 1)));
    char* nulls = static_cast<char*>(palloc0(nargs + 1));
    for (int i = 0; i < nargs; i++) {
        ParamExternData workspace;
        ParamExternData* param = params->paramFetch != nullptr
                                     ? params->paramFetch(params, i + 1, false, &workspace)
                                     : &params->params[i];
        types[i] = param->ptype;
        values[i] = param->value;
        nulls[i] = param->isnull ? 'n' : ' ';
    }
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    int rc = SPI_execute_with_args(select, nargs, types, values, nulls, true, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(rc));
    bool found = SPI_processed > 0;
    SPI_finish();
    return found;
}

} // namespace

void refuse_cascade_from_plain_parent(const QueryDesc* query, int eflags)
{
    if ((eflags & (EXEC_FLAG_SKIP_TRIGGERS | EXEC_FLAG_EXPLAIN_ONLY)) != EXEC_FLAG_SKIP_TRIGGERS)
        return;
    const PlannedStmt* stmt = query->plannedstmt;
    if (!rewritten_delete_statement(stmt) || !referencing_rows_exist(query))
        return;
    const auto* modify = reinterpret_cast<const ModifyTable*>(stmt->planTree);
    const char* child =
        relation_display_name(rt_fetch(modify->nominalRelation, stmt->rtable)->relid);
    ereport(ERROR,
            (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
             errmsg("cannot delete rows that rows of %s reference: %s is enabled for soft delete",
                    child, child),
             errdetail("A foreign key of %s with ON DELETE CASCADE would remove its referencing "
                       "rows, deleted or not. Soft delete keeps them, and kept they would "
                       "reference rows that no longer exist.",
                       child),
             errhint("Enable soft delete on the referenced table too (its DELETE then soft-deletes "
                     "these rows with it), or hard-delete the referencing rows first as an admin "
                     "(SET LOCAL softdelete.hard_delete = on).")));
}

} // namespace softdelete
