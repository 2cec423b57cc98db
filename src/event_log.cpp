// softdelete.events: one row per operation, written set-based by a
// statement-level AFTER trigger that reads the statement's transition table
// (NOTES items 9 and 12). Each event is one INSERT ... SELECT over that
// table, prepared once per table and shape, and kept.
//
// Which UPDATE rows were soft deletes and which were restores: the planner
// rewrite stamps deleted rows with deletion_stamp() (the transaction time),
// found in the plan, and restored rows through restore_stamp(tbl), which
// counts them as it runs.
//
// C++ regime: runs under entry_guard; every PostgreSQL call is guarded.
#include <string>
#include <unordered_map>

#include "error_bridge.hpp"
#include "event_log.hpp"
#include "executor_hooks.hpp"
#include "table_config.hpp"
#include "visibility.hpp"

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

std::unordered_map<Oid, uint64>& restored_rows()
{
    static std::unordered_map<Oid, uint64> counts;
    return counts;
}

uint64 take_restored_rows(Oid relid)
{
    auto& counts = restored_rows();
    auto found = counts.find(relid);
    if (found == counts.end())
        return 0;
    uint64 n = found->second;
    counts.erase(found);
    return n;
}

// Kept plans per table: the transition table's shape is the table's, and the
// plan cache cannot see it change, so a relcache invalidation of the table
// (any ALTER TABLE) drops its plans.
struct KeptPlan {
    Oid relid;
    SPIPlanPtr plan;
};

std::unordered_map<std::string, KeptPlan>& kept_plans()
{
    static std::unordered_map<std::string, KeptPlan> plans;
    return plans;
}

void forget_plans(Datum arg, Oid relid)
{
    (void)arg;
    auto& plans = kept_plans();
    for (auto it = plans.begin(); it != plans.end();) {
        if (relid == InvalidOid || it->second.relid == relid) {
            SPI_freeplan(it->second.plan);
            it = plans.erase(it);
        } else {
            ++it;
        }
    }
}

constexpr int event_params = 7;

SPIPlanPtr prepared(Oid relid, const std::string& sql)
{
    auto& plans = kept_plans();
    const std::string key = std::to_string(relid) + ":" + sql;
    auto found = plans.find(key);
    if (found != plans.end())
        return found->second.plan;
    Oid types[event_params] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID};
    SPIPlanPtr plan = pg_guard([&] {
        SPIPlanPtr p = SPI_prepare(sql.c_str(), event_params, types);
        if (p == nullptr)
            elog(ERROR, "softdelete could not prepare its event insert: %s",
                 SPI_result_code_string(SPI_result));
        SPI_keepplan(p);
        return p;
    });
    plans.emplace(key, KeptPlan{relid, plan});
    return plan;
}

Oid events_owner()
{
    return pg_guard([] {
        Oid nsp = get_namespace_oid("softdelete", false);
        Oid events = get_relname_relid("events", nsp);
        HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(events));
        if (!HeapTupleIsValid(tuple))
            elog(ERROR, "softdelete.events is missing");
        Oid owner = ((Form_pg_class)GETSTRUCT(tuple))->relowner;
        ReleaseSysCache(tuple);
        return owner;
    });
}

} // namespace

std::string current_actor()
{
    const char* actor = pg_guard([] { return GetConfigOption("softdelete.actor", true, false); });
    if (actor != nullptr && actor[0] != '\0')
        return actor;
    return pg_guard([] { return GetUserNameFromId(GetUserId(), false); });
}

void write_event(TriggerData* trigger, const EventSpec& spec)
{
    Relation rel = trigger->tg_relation;
    Oid relid = RelationGetRelid(rel);
    std::string sql = "INSERT INTO softdelete.events (relid, table_name, action, actor, reason, "
                      "row_count, keys) ";
    if (spec.keys_sql != nullptr)
        sql += std::string("SELECT $1, $2, $3, $4, $5, coalesce($6, count(*)), jsonb_agg(") +
               spec.keys_sql + ") FROM softdelete_rows WHERE " +
               (spec.row_filter != nullptr ? spec.row_filter : "true") + " HAVING count(*) > 0";
    else
        sql += "VALUES ($1, $2, $3, $4, $5, $6, NULL)";

    std::string table_name = pg_guard([relid] {
        return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
                                          get_rel_name(relid));
    });
    std::string actor = current_actor();
    const char* reason = pg_guard([] { return GetConfigOption("softdelete.reason", true, false); });
    bool has_reason = reason != nullptr && reason[0] != '\0';
    Oid owner = events_owner();

    pg_guard([&] {
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
        if (spec.keys_sql != nullptr)
            SPI_register_trigger_data(trigger);
    });
    SPIPlanPtr plan = prepared(relid, sql);
    pg_guard([&] {
        Datum values[event_params] = {ObjectIdGetDatum(relid),
                                      CStringGetTextDatum(table_name.c_str()),
                                      CStringGetTextDatum(spec.action),
                                      CStringGetTextDatum(actor.c_str()),
                                      has_reason ? CStringGetTextDatum(reason) : (Datum)0,
                                      Int64GetDatum(spec.row_count),
                                      TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())};
        char nulls[event_params] = {
            ' ', ' ', ' ', ' ', has_reason ? ' ' : 'n', spec.row_count >= 0 ? ' ' : 'n', ' '};
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

// Counts no trigger took (events off, or an error) end with the transaction.
void forget_restored_rows(XactEvent event, void* arg)
{
    (void)arg;
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
        event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT)
        restored_rows().clear();
}

void register_event_plan_invalidation()
{
    CacheRegisterRelcacheCallback(forget_plans, (Datum)0);
    RegisterXactCallback(forget_restored_rows, nullptr);
}

} // namespace softdelete

extern "C" {

// Trigger arguments: the jsonb expression of a row's key, and the quoted
// name of the deleted_at column.
PG_FUNCTION_INFO_V1(softdelete_log_changes);
Datum softdelete_log_changes(PG_FUNCTION_ARGS)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("softdelete.log_changes() must be called as a trigger")));
    auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!TRIGGER_FIRED_FOR_STATEMENT(trigger->tg_event) ||
        !TRIGGER_FIRED_AFTER(trigger->tg_event) || trigger->tg_trigger->tgnargs != 2)
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("softdelete.log_changes() must be an AFTER ... FOR EACH STATEMENT "
                               "trigger with two arguments")));
    softdelete::entry_guard([trigger] {
        const char* keys_sql = trigger->tg_trigger->tgargs[0];
        const std::string column = trigger->tg_trigger->tgargs[1];
        Oid relid = RelationGetRelid(trigger->tg_relation);
        if (!TRIGGER_FIRED_BY_UPDATE(trigger->tg_event)) {
            if (trigger->tg_oldtable != nullptr && tuplestore_tuple_count(trigger->tg_oldtable) > 0)
                softdelete::write_event(trigger, {"hard_delete", keys_sql, nullptr, -1});
            return;
        }
        uint64 restored = softdelete::take_restored_rows(relid);
        if (trigger->tg_newtable == nullptr || tuplestore_tuple_count(trigger->tg_newtable) == 0)
            return;
        if (softdelete::pg_guard([relid] { return softdelete::update_soft_deletes(relid); })) {
            // Rows this transaction stamped; rows deleted earlier keep their stamp.
            const std::string stamped = column + " = $7";
            softdelete::write_event(trigger, {"delete", keys_sql, stamped.c_str(), -1});
        }
        if (restored > 0) {
            const std::string live = column + " IS NULL";
            softdelete::write_event(
                trigger, {"restore", keys_sql, live.c_str(), static_cast<int64>(restored)});
        }
    });
    return PointerGetDatum(nullptr);
}

// The value a restore writes (NULL); counts the rows it restores for the log.
PG_FUNCTION_INFO_V1(softdelete_restore_stamp);
Datum softdelete_restore_stamp(PG_FUNCTION_ARGS)
{
    Oid relid = PG_GETARG_OID(0);
    softdelete::entry_guard([relid] { softdelete::restored_rows()[relid]++; });
    PG_RETURN_NULL();
}
}
