// softdelete.events: one row per operation, written set-based by a
// statement-level AFTER trigger that reads the statement's transition table:
// one pass over the table builds the keys' jsonb, and one kept INSERT writes
// the event. No per-row statement (a plan and an execution per row), no
// aggregate.
//
// Which UPDATE rows were soft deletes and which were restores: a rewritten
// DELETE carries deletion_stamp() (the transaction time) in its plan; the
// per-row tombstone decision counts the soft deletes and restores of the
// UPDATEs the application wrote (row_counts.cpp).
//
// C++ regime: runs under entry_guard; every PostgreSQL call is guarded.
#include <string>

#include "error_bridge.hpp"
#include "event_log.hpp"
#include "executor_hooks.hpp"
#include "row_counts.hpp"
#include "table_config.hpp"
#include "extension_objects.hpp"

namespace softdelete
{

namespace
{

struct StampSearch {
    Oid deletion_stamp;
    bool found;
};

bool find_stamp(Node* node, StampSearch* search)
{
    if (node == nullptr)
        return false;
    if (IsA(node, FuncExpr) &&
        reinterpret_cast<FuncExpr*>(node)->funcid == search->deletion_stamp) {
        search->found = true;
        return true;
    }
    return expression_tree_walker(node, walker(find_stamp), search);
}

bool find_stamp_in_plans(PlanState* state, StampSearch* search)
{
    if (state == nullptr)
        return false;
    if (find_stamp(reinterpret_cast<Node*>(state->plan->targetlist), search))
        return true;
    return planstate_tree_walker(state, walker(find_stamp_in_plans), search);
}

struct ModifySearch {
    Oid relid;
    List* rtable;
    StampSearch stamps;
};

// Finds the ModifyTable that updated relid and looks for the deletion stamp.
bool find_update_of(PlanState* state, ModifySearch* search)
{
    if (state == nullptr)
        return false;
    if (IsA(state, ModifyTableState)) {
        auto* modify = reinterpret_cast<ModifyTable*>(state->plan);
        Oid target = rt_fetch(modify->nominalRelation, search->rtable)->relid;
        if (modify->operation == CMD_UPDATE && target == search->relid) {
            find_stamp_in_plans(outerPlanState(state), &search->stamps);
            return true;
        }
    }
    return planstate_tree_walker(state, walker(find_update_of), search);
}

// Did the finishing statement's UPDATE of relid soft-delete rows?
bool update_soft_deletes(Oid relid)
{
    QueryDesc* query = finishing_query();
    if (query == nullptr || query->planstate == nullptr)
        return false;
    ModifySearch search = {relid, query->plannedstmt->rtable, {deletion_stamp_function(), false}};
    find_update_of(query->planstate, &search);
    return search.stamps.found;
}

constexpr int event_params = 7;

// One INSERT for every table, prepared once per backend; the plan cache
// re-plans it if softdelete.events changes.
SPIPlanPtr event_insert_plan()
{
    static SPIPlanPtr plan = nullptr;
    if (plan == nullptr) {
        Oid types[event_params] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, JSONBOID};
        plan = pg_guard([&] {
            SPIPlanPtr p = SPI_prepare(
                "INSERT INTO softdelete.events (relid, table_name, action, actor, reason, "
                "row_count, keys) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                event_params, types);
            if (p == nullptr)
                elog(ERROR, "softdelete could not prepare its event insert: %s",
                     SPI_result_code_string(SPI_result));
            SPI_keepplan(p);
            return p;
        });
    }
    return plan;
}

// A key column's value as JSON: integers as numbers, booleans as booleans,
// everything else as its text form, as to_jsonb() writes them.
char* output_of(Datum value, Oid type)
{
    Oid output;
    bool varlena;
    getTypeOutputInfo(type, &output, &varlena);
    return OidOutputFunctionCall(output, value);
}

void append_json_value(StringInfo out, Datum value, bool isnull, Oid type)
{
    if (isnull) {
        appendStringInfoString(out, "null");
        return;
    }
    switch (type) {
    case INT2OID:
    case INT4OID:
    case INT8OID:
    case OIDOID:
        appendStringInfoString(out, output_of(value, type));
        break;
    case BOOLOID:
        appendStringInfoString(out, DatumGetBool(value) ? "true" : "false");
        break;
    default:
        escape_json(out, output_of(value, type));
        break;
    }
}

struct RowSelection {
    AttrNumber deleted_at;
    bool want_deleted; // rows with deleted_at set (this transaction's stamp) or NULL
    TimestampTz stamp;
};

bool row_selected(TupleTableSlot* slot, const RowSelection& which)
{
    if (which.deleted_at == InvalidAttrNumber)
        return true;
    bool isnull = false;
    Datum value = slot_getattr(slot, which.deleted_at, &isnull);
    if (!which.want_deleted)
        return isnull;
    if (isnull)
        return false;
    // Rows deleted before this transaction keep their stamp: not this event's.
    Oid type = TupleDescAttr(slot->tts_tupleDescriptor, which.deleted_at - 1)->atttypid;
    return type != TIMESTAMPTZOID || DatumGetTimestampTz(value) == which.stamp;
}

// The keys of the selected transition rows as a jsonb array; *count rows.
Datum keys_of(Tuplestorestate* rows, TupleDesc desc, char** key_names, int nkeys,
              const RowSelection& which, int64* count)
{
    // As many as the trigger names: its arguments are not bounded by an index's.
    auto* attnums = static_cast<AttrNumber*>(palloc(sizeof(AttrNumber) * nkeys));
    auto* types = static_cast<Oid*>(palloc(sizeof(Oid) * nkeys));
    for (int k = 0; k < nkeys; k++) {
        attnums[k] = InvalidAttrNumber;
        for (int i = 0; i < desc->natts; i++) {
            Form_pg_attribute att = TupleDescAttr(desc, i);
            if (!att->attisdropped && strcmp(NameStr(att->attname), key_names[k]) == 0) {
                attnums[k] = att->attnum;
                types[k] = att->atttypid;
            }
        }
        if (attnums[k] == InvalidAttrNumber)
            elog(ERROR, "softdelete: key column \"%s\" is missing", key_names[k]);
    }
    TupleTableSlot* slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
    int reader = tuplestore_alloc_read_pointer(rows, 0);
    tuplestore_select_read_pointer(rows, reader);
    tuplestore_rescan(rows);
    StringInfoData json;
    initStringInfo(&json);
    appendStringInfoChar(&json, '[');
    *count = 0;
    while (tuplestore_gettupleslot(rows, true, false, slot)) {
        if (!row_selected(slot, which))
            continue;
        if (*count > 0)
            appendStringInfoString(&json, ", ");
        if (nkeys > 1)
            appendStringInfoChar(&json, '{');
        for (int k = 0; k < nkeys; k++) {
            bool isnull = false;
            Datum value = slot_getattr(slot, attnums[k], &isnull);
            if (nkeys > 1) {
                if (k > 0)
                    appendStringInfoString(&json, ", ");
                escape_json(&json, key_names[k]);
                appendStringInfoString(&json, ": ");
            }
            append_json_value(&json, value, isnull, types[k]);
        }
        if (nkeys > 1)
            appendStringInfoChar(&json, '}');
        (*count)++;
    }
    appendStringInfoChar(&json, ']');
    ExecDropSingleTupleTableSlot(slot);
    return DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data));
}

Oid events_owner()
{
    return pg_guard([] {
        Oid events = extension_table("events");
        HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(events));
        if (!HeapTupleIsValid(tuple))
            elog(ERROR, "softdelete.events is missing");
        Oid owner = ((Form_pg_class)GETSTRUCT(tuple))->relowner;
        ReleaseSysCache(tuple);
        return owner;
    });
}

} // namespace

const char* actor_name()
{
    const char* actor = GetConfigOption("softdelete.actor", true, false);
    if (actor == nullptr || actor[0] == '\0')
        actor = GetUserNameFromId(GetUserId(), false);
    return actor;
}

int pin_actor()
{
    int level = NewGUCNestLevel();
    (void)set_config_option("softdelete.actor", actor_name(), PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_SAVE, true, 0, false);
    return level;
}

const char* reason_text()
{
    const char* reason = GetConfigOption("softdelete.reason", true, false);
    return reason != nullptr && reason[0] != '\0' ? reason : nullptr;
}

std::string current_actor()
{
    return pg_guard(actor_name);
}

void write_event(TriggerData* trigger, const EventSpec& spec)
{
    Relation rel = trigger->tg_relation;
    Oid relid = RelationGetRelid(rel);
    int64 selected = 0;
    Datum keys = (Datum)0;
    if (spec.rows != nullptr) {
        keys = pg_guard([&] {
            return keys_of(
                spec.rows, RelationGetDescr(rel), spec.key_names, spec.nkeys,
                {spec.deleted_at, spec.want_deleted, GetCurrentTransactionStartTimestamp()},
                &selected);
        });
        if (selected == 0)
            return;
    }
    int64 row_count = spec.row_count >= 0 ? spec.row_count : selected;

    std::string table_name = pg_guard([relid] {
        return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
                                          get_rel_name(relid));
    });
    std::string actor = current_actor();
    const char* reason = pg_guard(reason_text);
    bool has_reason = reason != nullptr;
    Oid owner = events_owner();

    pg_guard([] {
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
    });
    SPIPlanPtr plan = event_insert_plan();
    pg_guard([&] {
        Datum values[event_params] = {ObjectIdGetDatum(relid),
                                      CStringGetTextDatum(table_name.c_str()),
                                      CStringGetTextDatum(spec.action),
                                      CStringGetTextDatum(actor.c_str()),
                                      has_reason ? CStringGetTextDatum(reason) : (Datum)0,
                                      Int64GetDatum(row_count),
                                      keys};
        char nulls[event_params] = {' ',
                                    ' ',
                                    ' ',
                                    ' ',
                                    has_reason ? ' ' : 'n',
                                    spec.rows != nullptr || spec.row_count >= 0 ? ' ' : 'n',
                                    spec.rows != nullptr ? ' ' : 'n'};
        // The log is written as its owner: application roles may not forge it.
        Oid saved_user;
        int saved_context;
        GetUserIdAndSecContext(&saved_user, &saved_context);
        SetUserIdAndSecContext(owner, saved_context | SECURITY_LOCAL_USERID_CHANGE);
        int rc = SPI_execute_plan(plan, values, nulls, false, 0);
        SetUserIdAndSecContext(saved_user, saved_context);
        if (rc != SPI_OK_INSERT)
            elog(ERROR, "softdelete could not write its event: %s", SPI_result_code_string(rc));
        SPI_finish();
    });
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_actor);
Datum softdelete_actor(PG_FUNCTION_ARGS)
{
    PG_RETURN_TEXT_P(cstring_to_text(softdelete::actor_name()));
}

PG_FUNCTION_INFO_V1(softdelete_reason);
Datum softdelete_reason(PG_FUNCTION_ARGS)
{
    const char* reason = softdelete::reason_text();
    if (reason == nullptr)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(cstring_to_text(reason));
}

// Trigger arguments: the name of the deleted_at column, then the primary
// key's column names.
PG_FUNCTION_INFO_V1(softdelete_log_changes);
Datum softdelete_log_changes(PG_FUNCTION_ARGS)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("softdelete_internal.log_changes() must be called as a trigger")));
    auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!TRIGGER_FIRED_FOR_STATEMENT(trigger->tg_event) ||
        !TRIGGER_FIRED_AFTER(trigger->tg_event) || trigger->tg_trigger->tgnargs < 2)
        ereport(ERROR,
                (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                 errmsg("softdelete_internal.log_changes() must be an AFTER ... FOR EACH STATEMENT "
                        "trigger naming the deleted_at column and the key columns")));
    softdelete::entry_guard([trigger] {
        char** args = trigger->tg_trigger->tgargs;
        int nkeys = trigger->tg_trigger->tgnargs - 1;
        Relation rel = trigger->tg_relation;
        Oid relid = RelationGetRelid(rel);
        AttrNumber deleted_at = softdelete::pg_guard([&] { return get_attnum(relid, args[0]); });
        if (!TRIGGER_FIRED_BY_UPDATE(trigger->tg_event)) {
            if (trigger->tg_oldtable != nullptr)
                softdelete::write_event(trigger, {"hard_delete", trigger->tg_oldtable, args + 1,
                                                  nkeys, InvalidAttrNumber, false, -1});
            return;
        }
        softdelete::RowCounts counted =
            softdelete::pg_guard([relid] { return softdelete::take_row_counts(relid); });
        if (trigger->tg_newtable == nullptr)
            return;
        // Rewritten DELETEs carry the deletion stamp in their plan; UPDATEs the
        // application wrote were counted by the tombstone decision.
        if (counted.soft_deleted > 0 ||
            softdelete::pg_guard([relid] { return softdelete::update_soft_deletes(relid); }))
            softdelete::write_event(
                trigger, {"delete", trigger->tg_newtable, args + 1, nkeys, deleted_at, true, -1});
        if (counted.restored > 0)
            softdelete::write_event(trigger,
                                    {"restore", trigger->tg_newtable, args + 1, nkeys, deleted_at,
                                     false, static_cast<int64>(counted.restored)});
    });
    return PointerGetDatum(nullptr);
}
}
