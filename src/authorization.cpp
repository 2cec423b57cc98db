// Role checks behind admins and readers, and their SQL-callable forms.
#include "authorization.hpp"
#include "extension_objects.hpp"
#include "table_config.hpp"

namespace softdelete
{

namespace
{

bool has_role(const char* role_name)
{
    Oid role = get_role_oid(role_name, true);
    return OidIsValid(role) && has_privs_of_role(GetUserId(), role);
}

// Plans fold admin and reader checks into constants (visibility.cpp): a
// change of role membership or ownership must not leave a stale answer in a
// cached plan.
void reset_plans_on_role_change(Datum arg, int cacheid, uint32 hashvalue)
{
    (void)arg;
    (void)cacheid;
    (void)hashvalue;
    ResetPlanCache();
}

} // namespace

void register_role_invalidation()
{
    CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, reset_plans_on_role_change, (Datum)0);
    CacheRegisterSyscacheCallback(AUTHOID, reset_plans_on_role_change, (Datum)0);
}

// A member of the owner's role (superusers included).
static bool owns_table(Oid root)
{
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(root));
    if (!HeapTupleIsValid(tuple))
        return superuser();
    Oid owner = ((Form_pg_class)GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return has_privs_of_role(GetUserId(), owner);
}

bool is_admin(Oid root)
{
    return owns_table(root) || has_role("softdelete_admin");
}

void require_admin(Oid relid, Oid root, const char* what)
{
    if (is_admin(root))
        return;
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("permission denied to %s table %s", what,
                    quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
                                               get_rel_name(relid))),
             errdetail("Role \"%s\" is not an admin of the table.",
                       GetUserNameFromId(GetUserId(), false)),
             errhint("Admins are superusers, members of the table owner's role, and members of "
                     "softdelete_admin.")));
}

bool is_reader(Oid root)
{
    return is_admin(root) || has_role("softdelete_reader");
}

bool is_reader_anywhere()
{
    if (superuser() || has_role("softdelete_reader") || has_role("softdelete_admin"))
        return true;
    // A table owner reads its own deleted rows: does the role own an enabled one?
    Oid tables = extension_table("tables");
    if (!OidIsValid(tables))
        return false;
    bool owns_one = false;
    Relation rel = table_open(tables, AccessShareLock);
    SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, nullptr, 0, nullptr);
    HeapTuple tuple;
    while (!owns_one && HeapTupleIsValid(tuple = systable_getnext(scan))) {
        bool isnull = false;
        Datum relid = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);
        if (!isnull)
            owns_one = owns_table(DatumGetObjectId(relid));
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return owns_one;
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_is_admin);
Datum softdelete_is_admin(PG_FUNCTION_ARGS)
{
    PG_RETURN_BOOL(softdelete::is_admin(softdelete::table_config_root(PG_GETARG_OID(0))));
}

// A parameter only known at execution decides that an UPDATE is a restore:
// the check runs once per execution (a one-time filter), rows or no rows.
PG_FUNCTION_INFO_V1(softdelete_refuse_restore);
Datum softdelete_refuse_restore(PG_FUNCTION_ARGS)
{
    Oid relid = PG_GETARG_OID(0);
    if (!PG_ARGISNULL(1) && PG_GETARG_BOOL(1))
        softdelete::require_admin(relid, softdelete::table_config_root(relid), "restore rows of");
    PG_RETURN_BOOL(true);
}

PG_FUNCTION_INFO_V1(softdelete_require_admin);
Datum softdelete_require_admin(PG_FUNCTION_ARGS)
{
    Oid relid = PG_GETARG_OID(0);
    softdelete::require_admin(relid, softdelete::table_config_root(relid),
                              text_to_cstring(PG_GETARG_TEXT_PP(1)));
    PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(softdelete_is_reader);
Datum softdelete_is_reader(PG_FUNCTION_ARGS)
{
    PG_RETURN_BOOL(softdelete::is_reader(softdelete::table_config_root(PG_GETARG_OID(0))));
}
}
