// GUC definitions. The two switches that change what a plan means re-plan
// the plans that depend on them when they flip, so prepared statements follow
// (NOTES item 5).
#include "authorization.hpp"
#include "settings.hpp"
#include "extension_objects.hpp"

namespace softdelete
{

bool include_deleted = false;
bool hard_delete = false;

namespace
{

char* actor_setting = nullptr;
char* reason_setting = nullptr;

void replan_on_include_deleted_flip(bool newval, void* extra)
{
    (void)extra;
    if (newval != include_deleted)
        invalidate_visibility_plans();
}

// A role that may not see deleted rows is told so when it asks.
bool check_include_deleted(bool* newval, void** extra, GucSource source)
{
    (void)extra;
    if (!*newval || source < PGC_S_INTERACTIVE || !IsTransactionState())
        return true;
    if (is_reader_anywhere())
        return true;
    GUC_check_errcode(ERRCODE_INSUFFICIENT_PRIVILEGE);
    GUC_check_errmsg("permission denied to set softdelete.include_deleted");
    GUC_check_errdetail("Only superusers, table owners and members of softdelete_reader or "
                        "softdelete_admin may see deleted rows.");
    return false;
}

void replan_on_hard_delete_flip(bool newval, void* extra)
{
    (void)extra;
    if (newval != hard_delete)
        invalidate_delete_plans();
}

} // namespace

void define_settings()
{
    DefineCustomBoolVariable("softdelete.include_deleted",
                             "Shows soft-deleted rows to readers and admins.", nullptr,
                             &include_deleted, false, PGC_USERSET, 0, check_include_deleted,
                             replan_on_include_deleted_flip, nullptr);
    DefineCustomBoolVariable("softdelete.hard_delete",
                             "Lets an admin's DELETE and TRUNCATE remove rows for good.",
                             "Use SET LOCAL; every hard delete is logged.", &hard_delete, false,
                             PGC_USERSET, 0, nullptr, replan_on_hard_delete_flip, nullptr);
    DefineCustomStringVariable("softdelete.actor",
                               "Who is deleting, as the application knows them.",
                               "Recorded in deleted_by and in softdelete.events; defaults to the "
                               "database role.",
                               &actor_setting, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("softdelete.reason", "Why rows are being deleted.",
                               "Recorded in delete_reason and in softdelete.events.",
                               &reason_setting, "", PGC_USERSET, 0, nullptr, nullptr, nullptr);
#if PG_VERSION_NUM >= 150000
    MarkGUCPrefixReserved("softdelete");
#else
    EmitWarningsOnPlaceholders("softdelete");
#endif
}

} // namespace softdelete
