// softdelete_internal.guard_tombstone(): the BEFORE UPDATE OF <tombstone
// columns> row trigger. Every UPDATE the application writes that assigns
// deleted_at, deleted_by or delete_reason (UPDATE, INSERT ... ON CONFLICT DO
// UPDATE, MERGE ... UPDATE, any statement shape) is decided here, once per
// row, on the values the row actually gets (old row against new row):
//
//   live -> live      deletion records may not change, except by admins
//   live -> deleted   a soft delete: the server stamps its own time, the
//                     actor and the reason (an admin may give them)
//   deleted -> live   a restore: admins only
//   deleted -> deleted  the stamp never moves; only admins may change the
//                     row; a row left as it was is skipped (0 rows)
//
// An assignment that leaves a column as it was is not a write, so an ORM that
// saves every column of a live row keeps working. UPDATEs that do not name a
// tombstone column never fire this trigger.
#include "authorization.hpp"
#include "event_log.hpp"
#include "row_counts.hpp"
#include "table_config.hpp"
#include "trigger_call.hpp"

namespace softdelete
{

namespace
{

struct Column {
    AttrNumber attno;
    Datum old_value;
    bool old_null;
    Datum new_value;
    bool new_null;
};

bool same_value(Form_pg_attribute att, Datum a, bool a_null, Datum b, bool b_null)
{
    if (a_null || b_null)
        return a_null == b_null;
    return datumIsEqual(a, b, att->attbyval, att->attlen);
}

Column read_column(TriggerData* trigger, AttrNumber attno)
{
    Column c = {attno, (Datum)0, true, (Datum)0, true};
    if (attno == InvalidAttrNumber)
        return c;
    TupleDesc desc = RelationGetDescr(trigger->tg_relation);
    c.old_value = heap_getattr(trigger->tg_trigtuple, attno, desc, &c.old_null);
    c.new_value = heap_getattr(trigger->tg_newtuple, attno, desc, &c.new_null);
    return c;
}

bool changed(TriggerData* trigger, const Column& c)
{
    if (c.attno == InvalidAttrNumber)
        return false;
    Form_pg_attribute att = TupleDescAttr(RelationGetDescr(trigger->tg_relation), c.attno - 1);
    return !same_value(att, c.old_value, c.old_null, c.new_value, c.new_null);
}

// Does the new row differ from the old one in any column?
bool row_changed(TriggerData* trigger, HeapTuple new_row)
{
    TupleDesc desc = RelationGetDescr(trigger->tg_relation);
    for (int i = 0; i < desc->natts; i++) {
        Form_pg_attribute att = TupleDescAttr(desc, i);
        if (att->attisdropped)
            continue;
        bool old_null = false;
        bool new_null = false;
        Datum old_value = heap_getattr(trigger->tg_trigtuple, i + 1, desc, &old_null);
        Datum new_value = heap_getattr(new_row, i + 1, desc, &new_null);
        if (!same_value(att, old_value, old_null, new_value, new_null))
            return true;
    }
    return false;
}

// The new row with some columns replaced.
struct Replacement {
    int count = 0;
    int columns[3];
    Datum values[3];
    bool nulls[3];

    void set(AttrNumber attno, Datum value, bool isnull)
    {
        if (attno == InvalidAttrNumber)
            return;
        columns[count] = attno;
        values[count] = value;
        nulls[count] = isnull;
        count++;
    }
    HeapTuple apply(TriggerData* trigger)
    {
        if (count == 0)
            return trigger->tg_newtuple;
        return heap_modify_tuple_by_cols(trigger->tg_newtuple,
                                         RelationGetDescr(trigger->tg_relation), count, columns,
                                         values, nulls);
    }
};

Datum deletion_time(const TableConfig& cfg)
{
    TimestampTz now = GetCurrentTransactionStartTimestamp();
    if (cfg.deleted_at_type == TIMESTAMPOID)
        return DirectFunctionCall1(timestamptz_timestamp, TimestampTzGetDatum(now));
    return TimestampTzGetDatum(now);
}

Datum text_or_null(const char* text, bool* isnull)
{
    *isnull = text == nullptr;
    return text == nullptr ? (Datum)0 : CStringGetTextDatum(text);
}

HeapTuple decide(TriggerData* trigger, const TableConfig& cfg)
{
    Column at = read_column(trigger, cfg.deleted_at);
    Column by = read_column(trigger, cfg.deleted_by);
    Column reason = read_column(trigger, cfg.delete_reason);
    bool records_changed = changed(trigger, by) || changed(trigger, reason);
    Replacement r;

    if (at.old_null && at.new_null) {
        if (records_changed)
            require_admin(cfg.relid, cfg.root, "change deletion records of");
        return trigger->tg_newtuple;
    }
    if (at.old_null) {
        // A soft delete. The actor is the application's unless an admin named one.
        if (changed(trigger, by))
            require_admin(cfg.relid, cfg.root, "change deletion records of");
        r.set(cfg.deleted_at, deletion_time(cfg), false);
        bool isnull = false;
        if (!changed(trigger, by)) {
            Datum actor = text_or_null(actor_name(), &isnull);
            r.set(cfg.deleted_by, actor, isnull);
        }
        if (!changed(trigger, reason)) {
            Datum why = text_or_null(reason_text(), &isnull);
            r.set(cfg.delete_reason, why, isnull);
        }
        note_soft_deleted_row(cfg);
        return r.apply(trigger);
    }
    if (at.new_null) {
        require_admin(cfg.relid, cfg.root, "restore rows of");
        r.set(cfg.deleted_by, (Datum)0, true);
        r.set(cfg.delete_reason, (Datum)0, true);
        note_restored_row(cfg);
        return r.apply(trigger);
    }
    // Stays deleted: the stamp never moves, retention counts from the first delete.
    r.set(cfg.deleted_at, at.old_value, false);
    HeapTuple result = r.apply(trigger);
    if (!row_changed(trigger, result))
        return nullptr; // deleting a deleted row affects nothing
    require_admin(cfg.relid, cfg.root, "change deleted rows of");
    return result;
}

} // namespace

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_guard_tombstone);
Datum softdelete_guard_tombstone(PG_FUNCTION_ARGS)
{
    TriggerData* trigger =
        softdelete::trigger_data(fcinfo, "softdelete_internal.guard_tombstone()");
    if (!TRIGGER_FIRED_BEFORE(trigger->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigger->tg_event) ||
        !TRIGGER_FIRED_BY_UPDATE(trigger->tg_event))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("softdelete_internal.guard_tombstone() must be a BEFORE UPDATE row "
                               "trigger")));
    softdelete::TableConfig cfg;
    softdelete::require_table_config(trigger->tg_relation, &cfg);
    return PointerGetDatum(softdelete::decide(trigger, cfg));
}
}
