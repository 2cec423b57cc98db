// A lifecycle worker connected to a database must never be why a statement
// on that database fails. PostgreSQL refuses DROP DATABASE (without FORCE),
// CREATE DATABASE ... TEMPLATE, ALTER DATABASE ... RENAME TO and
// ALTER DATABASE ... SET TABLESPACE while another session is connected to
// the database they name ("is being accessed by other users"), after
// waiting 5 seconds for such sessions to leave. So before such a statement
// runs, this ProcessUtility hook keeps the workers out of that database until
// the statement's transaction ends: the launcher starts none there, and the
// worker there, if any, is asked to stop (SIGTERM: the batch in progress
// rolls back, the run records why) and waited for.
//
// Only for the database's owner (or a superuser): a statement PostgreSQL
// would refuse anyway does not get to stop anybody's purge. A worker the
// launcher starts after this hook, but before the statement took its lock
// on the database, waits for that lock when it connects, so it cannot slip
// in either. TimescaleDB's loader stops its schedulers the same way, from
// its post-parse-analyze hook, for the same statements.
//
// Plain PostgreSQL code: nothing here owns a resource through a destructor.
#include "database_guard.hpp"
#include "worker_registry.hpp"

extern "C" {
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "tcop/utility.h"
}

namespace softdelete
{

namespace
{

ProcessUtility_hook_type previous_utility = nullptr;

const char* option_value(List* options, const char* name)
{
    ListCell* lc;
    foreach (lc, options) {
        auto* option = static_cast<DefElem*>(lfirst(lc));
        if (option->arg != nullptr && strcmp(option->defname, name) == 0)
            return defGetString(option);
    }
    return nullptr;
}

// The database stmt needs to itself, by name, or nullptr; *what names the
// statement for the log.
const char* database_needed_alone(const Node* stmt, const char** what)
{
    switch (nodeTag(stmt)) {
    case T_DropdbStmt:
        *what = "DROP DATABASE";
        return reinterpret_cast<const DropdbStmt*>(stmt)->dbname;
    case T_CreatedbStmt:
        *what = "CREATE DATABASE ... TEMPLATE";
        return option_value(reinterpret_cast<const CreatedbStmt*>(stmt)->options, "template");
    case T_RenameStmt: {
        auto* rename = reinterpret_cast<const RenameStmt*>(stmt);
        *what = "ALTER DATABASE ... RENAME TO";
        return rename->renameType == OBJECT_DATABASE ? rename->subname : nullptr;
    }
    case T_AlterDatabaseStmt:
        *what = "ALTER DATABASE ... SET TABLESPACE";
        return option_value(reinterpret_cast<const AlterDatabaseStmt*>(stmt)->options,
                            "tablespace") != nullptr
                   ? reinterpret_cast<const AlterDatabaseStmt*>(stmt)->dbname
                   : nullptr;
    default:
        return nullptr;
    }
}

bool owns_database(Oid database)
{
#if PG_VERSION_NUM >= 160000
    return object_ownercheck(DatabaseRelationId, database, GetUserId());
#else
    return pg_database_ownercheck(database, GetUserId());
#endif
}

void make_room(const Node* stmt)
{
    const char* what = nullptr;
    const char* name = database_needed_alone(stmt, &what);
    if (name == nullptr)
        return;
    Oid database = get_database_oid(name, true);
    if (!OidIsValid(database) || !owns_database(database))
        return;
    if (keep_workers_out(database) > 0)
        ereport(LOG, (errmsg("softdelete: stopped the lifecycle worker in database \"%s\" for %s",
                             name, what)));
}

void database_guard(PlannedStmt* pstmt, const char* query_string, bool read_only_tree,
                    ProcessUtilityContext context, ParamListInfo params,
                    QueryEnvironment* query_env, DestReceiver* dest, QueryCompletion* qc)
{
    make_room(pstmt->utilityStmt);
    if (previous_utility != nullptr)
        previous_utility(pstmt, query_string, read_only_tree, context, params, query_env, dest, qc);
    else
        standard_ProcessUtility(pstmt, query_string, read_only_tree, context, params, query_env,
                                dest, qc);
}

} // namespace

void install_database_guard()
{
    previous_utility = ProcessUtility_hook;
    ProcessUtility_hook = database_guard;
}

} // namespace softdelete
