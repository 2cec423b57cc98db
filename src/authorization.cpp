// Role checks behind admins and readers, and their SQL-callable forms.
#include "api_gateway.hpp"
#include "authorization.hpp"
#include "event_log.hpp"
#include "extension_objects.hpp"
#include "table_config.hpp"

namespace softdelete
{

namespace
{

bool has_role(Oid member, const char* role_name)
{
    Oid role = get_role_oid(role_name, true);
    return OidIsValid(role) && has_privs_of_role(member, role);
}

bool has_role(const char* role_name)
{
    return has_role(GetUserId(), role_name);
}

// Plans fold admin and reader checks into constants (visibility.cpp): a
// change of role membership or ownership must not leave a stale answer in a
// cached plan. A change in pg_authid may be a rename of the role whose name
// the event log keeps.
void reset_plans_on_role_change(Datum arg, int cacheid, uint32 hashvalue)
{
    (void)arg;
    (void)hashvalue;
    ResetPlanCache();
    if (cacheid == AUTHOID)
        forget_role_name();
}

} // namespace

void register_role_invalidation()
{
    CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, reset_plans_on_role_change, (Datum)0);
    CacheRegisterSyscacheCallback(AUTHOID, reset_plans_on_role_change, (Datum)0);
}

// A member of the owner's role (superusers included).
static bool owns_table(Oid member, Oid root)
{
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(root));
    if (!HeapTupleIsValid(tuple))
        return superuser_arg(member);
    Oid owner = ((Form_pg_class)GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return has_privs_of_role(member, owner);
}

static bool owns_table(Oid root)
{
    return owns_table(GetUserId(), root);
}

bool is_admin_role(Oid member, Oid root)
{
    return owns_table(member, root) || has_role(member, "softdelete_admin");
}

bool is_admin(Oid root)
{
    return is_admin_role(GetUserId(), root);
}

// The schema-qualified name of relid for a message; a relation that does
// not exist (any OID can reach a SQL-callable function) is named by its OID.
const char* relation_display_name(Oid relid)
{
    char* name = get_rel_name(relid);
    char* schema = name != nullptr ? get_namespace_name(get_rel_namespace(relid)) : nullptr;
    if (name == nullptr || schema == nullptr)
        return psprintf("with OID %u", relid);
    return quote_qualified_identifier(schema, name);
}

void require_admin(Oid relid, Oid root, const char* what)
{
    require_admin_of(GetUserId(), relid, root, what);
}

void require_admin_of(Oid member, Oid relid, Oid root, const char* what)
{
    if (is_admin_role(member, root))
        return;
    ereport(
        ERROR,
        (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
         errmsg("permission denied to %s table %s", what, relation_display_name(relid)),
         errdetail("Role \"%s\" is not an admin of the table.", GetUserNameFromId(member, false)),
         errhint("Admins are superusers, members of the table owner's role, and members of "
                 "softdelete_admin.")));
}

bool may_write_operation_marks()
{
    return has_role("softdelete_backup");
}

bool is_reader(Oid root)
{
    return is_admin(root) || has_role("softdelete_reader");
}

// Does the current role own (through membership) some enabled table?
static bool owns_an_enabled_table()
{
    ListCell* lc;
    foreach (lc, enabled_tables()) {
        if (owns_table(lfirst_oid(lc)))
            return true;
    }
    return false;
}

bool is_reader_anywhere()
{
    return superuser() || has_role("softdelete_reader") || has_role("softdelete_admin") ||
           owns_an_enabled_table();
}

bool is_admin_anywhere()
{
    return superuser() || has_role("softdelete_admin") || owns_an_enabled_table();
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_is_admin);
Datum softdelete_is_admin(PG_FUNCTION_ARGS)
{
    PG_RETURN_BOOL(softdelete::is_admin(softdelete::table_config_root(PG_GETARG_OID(0))));
}

// softdelete_internal.require_admin(tbl, what): the check restore() and
// hard_delete() make about the role that called them.
PG_FUNCTION_INFO_V1(softdelete_require_admin);
Datum softdelete_require_admin(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("softdelete_internal.require_admin() needs a table and an action")));
    Oid relid = PG_GETARG_OID(0);
    softdelete::require_admin_of(softdelete::acting_role(), relid,
                                 softdelete::table_config_root(relid),
                                 text_to_cstring(PG_GETARG_TEXT_PP(1)));
    PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(softdelete_is_reader);
Datum softdelete_is_reader(PG_FUNCTION_ARGS)
{
    PG_RETURN_BOOL(softdelete::is_reader(softdelete::table_config_root(PG_GETARG_OID(0))));
}
}
