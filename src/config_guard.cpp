// softdelete_internal.guard_config(): softdelete.tables says which tables
// are enforced and how; editing it by hand would switch enforcement off
// behind the tables' backs (a DELETE would find no configuration). So it
// changes only inside enable() and disable(), and a row may go with its
// table when the table is dropped. INSERT is what restoring a dump needs:
// open to superusers and, for a table's row, to its owner's members (a
// non-superuser restore; softdelete_backup holds the privilege). Nobody else
// may write another table's configuration, whose text disable() runs.
// The extension's own update scripts may change it too: a new version can
// need to bring the configuration of tables enabled before it along.
#include "api_gateway.hpp"
#include "authorization.hpp"
#include "extension_objects.hpp"
#include "trigger_call.hpp"

namespace
{

void require_restoring_owner(TriggerData* trigger)
{
    bool isnull = false;
    Datum relid =
        heap_getattr(trigger->tg_trigtuple, 1, RelationGetDescr(trigger->tg_relation), &isnull);
    if (isnull || superuser())
        return; // NOT NULL refuses the first
    Oid relation = DatumGetObjectId(relid);
    if (has_privs_of_role(GetUserId(), softdelete::relation_owner(relation)))
        return;
    ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                    errmsg("permission denied to configure soft delete on %s",
                           softdelete::relation_display_name(relation)),
                    errdetail("A row of softdelete.tables is written by enable(), or restored by a "
                              "superuser or the table's owner."),
                    errhint("Restore the dump as the table's owner or as a superuser.")));
}

} // namespace

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_guard_config);
Datum softdelete_guard_config(PG_FUNCTION_ARGS)
{
    TriggerData* trigger = softdelete::trigger_data(fcinfo, "softdelete_internal.guard_config()");
    bool per_row = TRIGGER_FIRED_FOR_ROW(trigger->tg_event);
    HeapTuple result = per_row && TRIGGER_FIRED_BY_UPDATE(trigger->tg_event)
                           ? trigger->tg_newtuple
                           : trigger->tg_trigtuple;
    if (softdelete::extension_at_work())
        return PointerGetDatum(result);
    if (softdelete::in_own_extension_script())
        return PointerGetDatum(result);
    if (per_row && TRIGGER_FIRED_BY_INSERT(trigger->tg_event)) {
        require_restoring_owner(trigger);
        return PointerGetDatum(result);
    }
    if (per_row && TRIGGER_FIRED_BY_DELETE(trigger->tg_event)) {
        bool isnull = false;
        Datum relid =
            heap_getattr(trigger->tg_trigtuple, 1, RelationGetDescr(trigger->tg_relation), &isnull);
        if (!isnull && !SearchSysCacheExists1(RELOID, relid))
            return PointerGetDatum(result); // its table is gone
    }
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("softdelete.tables is changed only by softdelete.enable() and "
                    "softdelete.disable()"),
             errdetail("Editing it by hand would leave tables enforced without a configuration, "
                       "or configured without enforcement."),
             errhint("Call softdelete.enable() with new options, or softdelete.disable() to "
                     "switch soft delete off.")));
    return PointerGetDatum(nullptr);
}
}
