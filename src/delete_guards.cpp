// Trigger functions that stop rows from being removed without authority:
// the BEFORE DELETE row backstop and the BEFORE TRUNCATE guard.
#include "authorization.hpp"
#include "error_bridge.hpp"
#include "event_log.hpp"
#include "executor_hooks.hpp"
#include "operations.hpp"
#include "owner_statement.hpp"
#include "preloading.hpp"
#include "settings.hpp"
#include "table_config.hpp"
#include "trigger_call.hpp"

namespace softdelete
{

namespace
{

// Marks one row deleted, as the table's owner (so DELETE privilege is enough,
// as for a rewritten DELETE). The invoking actor stays the recorded one
// (run_as_owner pins it).
void soft_delete_by_ctid(Relation rel, const TableConfig& cfg, ItemPointer ctid)
{
    char* sql = psprintf("UPDATE ONLY %s SET %s = now() WHERE ctid = $1",
                         quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
                                                    RelationGetRelationName(rel)),
                         quote_identifier(get_attname(cfg.relid, cfg.deleted_at, false)));
    Oid types[] = {TIDOID};
    Datum values[] = {PointerGetDatum(ctid)};
    OwnerStatement ran = run_as_owner(rel->rd_rel->relowner, sql, 1, types, values, false);
    if (ran.processed > 0)
        count_backstop_row();
}

} // namespace

} // namespace softdelete

extern "C" {

// A DELETE that reached the executor as a DELETE: hard only when an admin
// asked for it; otherwise this row is soft-deleted and skipped, and the
// executor hook still counts it.
PG_FUNCTION_INFO_V1(softdelete_soft_delete_row);
Datum softdelete_soft_delete_row(PG_FUNCTION_ARGS)
{
    TriggerData* trigger =
        softdelete::trigger_data(fcinfo, "softdelete_internal.soft_delete_row()");
    if (!TRIGGER_FIRED_BEFORE(trigger->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigger->tg_event) ||
        !TRIGGER_FIRED_BY_DELETE(trigger->tg_event))
        ereport(
            ERROR,
            (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
             errmsg("softdelete_internal.soft_delete_row() must be a BEFORE DELETE row trigger")));
    softdelete::TableConfig cfg;
    softdelete::require_table_config(trigger->tg_relation, &cfg);
    if (softdelete::hard_delete_in_effect_on(cfg.root)) {
        softdelete::require_admin(cfg.relid, cfg.root, "hard-delete rows of");
        return PointerGetDatum(trigger->tg_trigtuple);
    }
    // An UPDATE that moves a row to another partition runs as a delete here
    // and an insert there: the row is not going away.
    if (softdelete::moving_row_between_partitions())
        return PointerGetDatum(trigger->tg_trigtuple);
    softdelete::refuse_delete_begun_before_load();
    bool isnull = false;
    heap_getattr(trigger->tg_trigtuple, cfg.deleted_at, RelationGetDescr(trigger->tg_relation),
                 &isnull);
    if (isnull)
        softdelete::soft_delete_by_ctid(trigger->tg_relation, cfg, &trigger->tg_trigtuple->t_self);
    return PointerGetDatum(nullptr);
}

PG_FUNCTION_INFO_V1(softdelete_guard_truncate);
Datum softdelete_guard_truncate(PG_FUNCTION_ARGS)
{
    TriggerData* trigger = softdelete::trigger_data(fcinfo, "softdelete_internal.guard_truncate()");
    softdelete::TableConfig cfg;
    softdelete::require_table_config(trigger->tg_relation, &cfg);
    softdelete::require_admin(cfg.relid, cfg.root, "truncate");
    if (!softdelete::hard_delete_in_effect_on(cfg.root))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("TRUNCATE of soft-delete table \"%s\" needs an explicit hard delete",
                               RelationGetRelationName(trigger->tg_relation)),
                        errdetail("TRUNCATE would remove live and deleted rows for good."),
                        errhint("As an admin, SET LOCAL softdelete.hard_delete = on in the same "
                                "transaction first.")));
    softdelete::note_rows(cfg.root, softdelete::Action::truncate, nullptr);
    return PointerGetDatum(nullptr);
}
}
