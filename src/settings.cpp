// GUC definitions, and whose opt-in a value is. The two switches that change
// what a plan means re-plan the plans that depend on them when they change,
// so prepared statements follow.
//
// A setting can be made in many ways (SET, SET LOCAL, set_config(),
// PGOPTIONS, ALTER ROLE/DATABASE ... SET, a function's SET clause), and a
// check hook sees only some of them, some before the catalog can be read.
// So what a value means is judged when it is used: PostgreSQL records the
// role that set the current value (srole) and, for values set in this
// transaction, how (the GUC stack).
#include "authorization.hpp"
#include "settings.hpp"
#include "extension_objects.hpp"

extern "C" {
#include "utils/guc_tables.h"
}

namespace softdelete
{

char* actor_setting = nullptr;
char* reason_setting = nullptr;

bool include_deleted = false;
bool hard_delete = false;
int naptime = 60;
int batch_size = 10000;

namespace
{

config_generic* include_deleted_guc = nullptr;
config_generic* hard_delete_guc = nullptr;
config_generic* row_security_guc = nullptr;
config_generic* synchronize_seqscans_guc = nullptr;

config_generic* find_setting(const char* name)
{
#if PG_VERSION_NUM >= 160000
    int n = 0;
    config_generic** all = get_guc_variables(&n);
#else
    config_generic** all = get_guc_variables();
    int n = GetNumConfigOptions();
#endif
    for (int i = 0; i < n; i++) {
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    }
    elog(ERROR, "softdelete: setting %s is not defined", name);
    return nullptr;
}

// Every value that turns a switch on gets an extra of its own. PostgreSQL
// calls the assign hook when it puts an earlier value back (a function's SET
// clause ends, a transaction or savepoint ends) only if the value or its
// extra differs from the current one; with its own extra, "on" set by one
// role coming back over "on" set by another still calls it, and the plans
// that were made for the other role's opt-in are re-planned.
bool mark_value(void** extra)
{
#if PG_VERSION_NUM >= 160000
    void* mark = guc_malloc(LOG, 1);
#else
    void* mark = malloc(1);
#endif
    if (mark == nullptr) {
        GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
        GUC_check_errmsg("out of memory");
        return false;
    }
    *extra = mark;
    return true;
}

// Any change may change whose opt-in the value is, not only a flip.
void replan_on_include_deleted_change(bool newval, void* extra)
{
    (void)extra;
    if (newval || include_deleted)
        invalidate_visibility_plans();
}

void replan_on_hard_delete_change(bool newval, void* extra)
{
    (void)extra;
    if (newval || hard_delete)
        invalidate_delete_plans();
}

// Sources applied at connection start or from configuration, not by a
// statement of this session.
bool connection_time_source(GucSource source)
{
    return source >= PGC_S_FILE && source <= PGC_S_CLIENT;
}

// A role that may not see deleted rows is told so when it asks.
bool check_include_deleted(bool* newval, void** extra, GucSource source)
{
    if (!*newval)
        return true;
    if (source < PGC_S_INTERACTIVE || !IsTransactionState() || is_reader_anywhere())
        return mark_value(extra);
    GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
    GUC_check_errmsg("permission denied to set softdelete.include_deleted");
    GUC_check_errdetail("Only superusers, table owners and members of softdelete_reader or "
                        "softdelete_admin may see deleted rows.");
    return false;
}

// hard_delete exists for one transaction only: no connection-time or stored
// default, and only for a role that is an admin of some table.
bool check_hard_delete(bool* newval, void** extra, GucSource source)
{
    if (!*newval)
        return true;
    if (connection_time_source(source)) {
        GUC_check_errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM);
        GUC_check_errmsg("softdelete.hard_delete can only be set for the current transaction");
        GUC_check_errhint("Use SET LOCAL softdelete.hard_delete = on inside the transaction that "
                          "deletes.");
        return false;
    }
    if (!IsTransactionState() || is_admin_anywhere())
        return mark_value(extra);
    GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
    GUC_check_errmsg("permission denied to set softdelete.hard_delete");
    GUC_check_errdetail("Only superusers, table owners and members of softdelete_admin may "
                        "remove rows for good.");
    return false;
}

// The value left for the rest of the session when this transaction commits.
// By then savepoints and function calls are merged away, and the one stack
// entry left tells how the value was set in this transaction.
bool session_value_after_commit(const config_generic* guc, bool current)
{
    const GucStack* entry = guc->stack;
    if (entry == nullptr)
        return false; // not set in this transaction
    if (entry->state == GUC_SET)
        return current;
    if (entry->state == GUC_SET_LOCAL)
        return entry->masked.val.boolval; // SET, then SET LOCAL on top of it
    return false;
}

// A session-level SET of hard_delete (or set_config(..., false)) would
// outlive the transaction, and behind a pooler reach the next client: the
// transaction that tries it does not commit.
void refuse_session_hard_delete(XactEvent event, void* arg)
{
    (void)arg;
    if (event != XACT_EVENT_PRE_COMMIT && event != XACT_EVENT_PRE_PREPARE)
        return;
    if (hard_delete_guc == nullptr || !session_value_after_commit(hard_delete_guc, hard_delete))
        return;
    ereport(ERROR,
            (errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM),
             errmsg("softdelete.hard_delete can only be set for the current transaction"),
             errdetail("A session-level value would stay on for whatever runs next on this "
                       "connection."),
             errhint("Use SET LOCAL softdelete.hard_delete = on, or set_config(..., true).")));
}

// The role whose opt-in the current value is. PostgreSQL records values that
// ALTER ROLE/DATABASE ... SET stored as set by the bootstrap superuser; they
// apply to the session's login role, whose opt-in they are.
Oid setter_of(const config_generic* guc)
{
    bool stored_default =
        guc->stack == nullptr && (guc->source == PGC_S_GLOBAL || guc->source == PGC_S_DATABASE ||
                                  guc->source == PGC_S_USER || guc->source == PGC_S_DATABASE_USER);
    return stored_default ? GetSessionUserId() : guc->srole;
}

bool set_by_current_role(const config_generic* guc)
{
    return guc != nullptr && setter_of(guc) == GetUserId();
}

// The SET statement inside stmt that would keep hard_delete beyond the
// current transaction (SET, ALTER ROLE/DATABASE ... SET, ALTER SYSTEM, to a
// value or FROM CURRENT), or nullptr.
const VariableSetStmt* lasting_setting(const Node* stmt)
{
    const VariableSetStmt* set = nullptr;
    switch (nodeTag(stmt)) {
    case T_VariableSetStmt:
        set = reinterpret_cast<const VariableSetStmt*>(stmt);
        if (set->is_local)
            return nullptr;
        break;
    case T_AlterRoleSetStmt:
        set = reinterpret_cast<const AlterRoleSetStmt*>(stmt)->setstmt;
        break;
    case T_AlterDatabaseSetStmt:
        set = reinterpret_cast<const AlterDatabaseSetStmt*>(stmt)->setstmt;
        break;
    case T_AlterSystemStmt:
        set = reinterpret_cast<const AlterSystemStmt*>(stmt)->setstmt;
        break;
    default:
        return nullptr;
    }
    if (set == nullptr || (set->kind != VAR_SET_VALUE && set->kind != VAR_SET_CURRENT) ||
        set->name == nullptr || pg_strcasecmp(set->name, "softdelete.hard_delete") != 0)
        return nullptr;
    return set;
}

} // namespace

void refuse_lasting_hard_delete(const Node* stmt)
{
    const VariableSetStmt* set = lasting_setting(stmt);
    if (set == nullptr)
        return;
    bool on = false;
    if (set->kind == VAR_SET_CURRENT) {
        // FROM CURRENT stores or keeps the value in effect now.
        if (!hard_delete)
            return;
    } else {
        char* value = ExtractSetVariableArgs(const_cast<VariableSetStmt*>(set));
        if (value == nullptr || !parse_bool(value, &on) || !on)
            return; // off, or not a boolean (PostgreSQL says so itself)
    }
    ereport(ERROR,
            (errcode(ERRCODE_CANT_CHANGE_RUNTIME_PARAM),
             errmsg("softdelete.hard_delete can only be set for the current transaction"),
             errdetail("A value that outlives the transaction would stay on for whatever runs "
                       "next on this connection, or in every session of a role or database."),
             errhint("Use SET LOCAL softdelete.hard_delete = on inside the transaction that "
                     "deletes.")));
}

bool include_deleted_in_effect()
{
    return include_deleted && set_by_current_role(include_deleted_guc);
}

namespace
{

// Set by this session (SET, set_config(), a function's SET clause), not by
// configuration or a stored default.
bool set_in_session_to(const config_generic* guc, bool value)
{
    return guc != nullptr && guc->source == PGC_S_SESSION &&
           *reinterpret_cast<const config_bool*>(guc)->variable == value;
}

} // namespace

bool looks_like_pg_dump()
{
    return set_in_session_to(row_security_guc, true) &&
           set_in_session_to(synchronize_seqscans_guc, false);
}

namespace
{

// On for this transaction only (SET LOCAL, or a function's SET clause).
bool hard_delete_set_locally()
{
    if (!hard_delete || hard_delete_guc == nullptr)
        return false;
    const GucStack* top = hard_delete_guc->stack;
    return top != nullptr &&
           (top->state == GUC_LOCAL || top->state == GUC_SET_LOCAL || top->state == GUC_SAVE);
}

} // namespace

bool hard_delete_in_effect()
{
    return hard_delete_set_locally() && set_by_current_role(hard_delete_guc);
}

bool hard_delete_in_effect_on(Oid root)
{
    if (!hard_delete_set_locally())
        return false;
    Oid setter = setter_of(hard_delete_guc);
    return setter == GetUserId() || (is_admin_role(setter, root) && is_admin(root));
}

void define_settings()
{
    DefineCustomBoolVariable("softdelete.include_deleted",
                             "Shows soft-deleted rows to readers and admins.", nullptr,
                             &include_deleted, false, PGC_USERSET, 0, check_include_deleted,
                             replan_on_include_deleted_change, nullptr);
    DefineCustomBoolVariable(
        "softdelete.hard_delete", "Lets an admin's DELETE and TRUNCATE remove rows for good.",
        "Only with SET LOCAL; every hard delete is logged.", &hard_delete, false, PGC_USERSET, 0,
        check_hard_delete, replan_on_hard_delete_change, nullptr);
    DefineCustomStringVariable("softdelete.actor",
                               "Who is deleting, as the application knows them.",
                               "Recorded in deleted_by and in softdelete.events; defaults to the "
                               "database role.",
                               &actor_setting, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("softdelete.reason", "Why rows are being deleted.",
                               "Recorded in delete_reason and in softdelete.events.",
                               &reason_setting, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
    // Both are read by the lifecycle worker, which reloads them on SIGHUP,
    // and batch_size also by softdelete.purge().
    DefineCustomIntVariable("softdelete.naptime",
                            "How long the lifecycle worker waits between two looks at the "
                            "databases.",
                            "A row is purged at most naptime (plus run time) after its retention "
                            "ends. 0 turns the worker off: softdelete.purge() still purges.",
                            &naptime, 60, 0, 86400, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr,
                            nullptr);
    DefineCustomIntVariable(
        "softdelete.batch_size", "The most rows one purge transaction archives or removes.",
        nullptr, &batch_size, 10000, 1, 1000000000, PGC_SIGHUP, 0, nullptr, nullptr, nullptr);
#if PG_VERSION_NUM >= 150000
    MarkGUCPrefixReserved("softdelete");
    MarkGUCPrefixReserved("softdelete_internal");
#else
    EmitWarningsOnPlaceholders("softdelete");
#endif
    include_deleted_guc = find_setting("softdelete.include_deleted");
    hard_delete_guc = find_setting("softdelete.hard_delete");
    row_security_guc = find_setting("row_security");
    synchronize_seqscans_guc = find_setting("synchronize_seqscans");
    RegisterXactCallback(refuse_session_hard_delete, nullptr);
}

} // namespace softdelete
