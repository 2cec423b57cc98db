// softdelete.events: one row per operation, written set-based by a
// statement-level AFTER trigger that reads the statement's transition table
// (NOTES items 9 and 12). The statement is one INSERT ... SELECT over that
// table, prepared once per key shape and kept.
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

struct KindSearch {
    Oid deletion_stamp;
    Oid restore_stamp;
    const char* kind;
};

bool find_stamp(Node* node, KindSearch* search)
{
    if (node == nullptr)
        return false;
    if (IsA(node, FuncExpr)) {
        Oid fn = reinterpret_cast<FuncExpr*>(node)->funcid;
        if (fn == search->deletion_stamp)
            search->kind = "delete";
        else if (fn == search->restore_stamp)
            search->kind = "restore";
        if (search->kind != nullptr)
            return true;
    }
    return expression_tree_walker(node, walker(find_stamp), search);
}

bool find_stamp_in_plans(PlanState* state, KindSearch* search)
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
    KindSearch stamps;
};

// Finds the ModifyTable that wrote relid and reads its stamps.
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

// "delete", "restore", or nullptr for an UPDATE that is neither.
const char* update_kind(Oid relid)
{
    QueryDesc* query = finishing_query();
    if (query == nullptr || query->planstate == nullptr)
        return nullptr;
    ModifySearch search = {relid,
                           query->plannedstmt->rtable,
                           {deletion_stamp_function(), restore_stamp_function(), nullptr}};
    find_update_of(query->planstate, &search);
    return search.stamps.kind;
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

SPIPlanPtr prepared(Oid relid, const std::string& sql)
{
    auto& plans = kept_plans();
    const std::string key = std::to_string(relid) + ":" + sql;
    auto found = plans.find(key);
    if (found != plans.end())
        return found->second.plan;
    Oid types[] = {OIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
    SPIPlanPtr plan = pg_guard([&] {
        SPIPlanPtr p = SPI_prepare(sql.c_str(), 5, types);
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

void write_event(TriggerData* trigger, const char* action, const char* keys_sql)
{
    Relation rel = trigger->tg_relation;
    Oid relid = RelationGetRelid(rel);
    std::string sql = "INSERT INTO softdelete.events (relid, table_name, action, actor, reason, "
                      "row_count, keys) ";
    if (keys_sql != nullptr)
        sql += std::string("SELECT $1, $2, $3, $4, $5, count(*), jsonb_agg(") + keys_sql +
               ") FROM softdelete_rows HAVING count(*) > 0";
    else
        sql += "VALUES ($1, $2, $3, $4, $5, NULL, NULL)";

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
        if (keys_sql != nullptr)
            SPI_register_trigger_data(trigger);
    });
    SPIPlanPtr plan = prepared(relid, sql);
    pg_guard([&] {
        Datum values[5] = {ObjectIdGetDatum(relid), CStringGetTextDatum(table_name.c_str()),
                           CStringGetTextDatum(action), CStringGetTextDatum(actor.c_str()),
                           has_reason ? CStringGetTextDatum(reason) : (Datum)0};
        char nulls[5] = {' ', ' ', ' ', ' ', has_reason ? ' ' : 'n'};
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

void register_event_plan_invalidation()
{
    CacheRegisterRelcacheCallback(forget_plans, (Datum)0);
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_log_changes);
Datum softdelete_log_changes(PG_FUNCTION_ARGS)
{
    if (!CALLED_AS_TRIGGER(fcinfo))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("softdelete.log_changes() must be called as a trigger")));
    auto* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!TRIGGER_FIRED_FOR_STATEMENT(trigger->tg_event) ||
        !TRIGGER_FIRED_AFTER(trigger->tg_event) || trigger->tg_trigger->tgnargs != 1)
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("softdelete.log_changes() must be an AFTER ... FOR EACH STATEMENT "
                               "trigger with one argument")));
    softdelete::entry_guard([trigger] {
        Tuplestorestate* rows = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtable
                                                                           : trigger->tg_oldtable;
        if (rows == nullptr || tuplestore_tuple_count(rows) == 0)
            return;
        const char* action = "hard_delete";
        if (TRIGGER_FIRED_BY_UPDATE(trigger->tg_event)) {
            action = softdelete::pg_guard([trigger] {
                return softdelete::update_kind(RelationGetRelid(trigger->tg_relation));
            });
            if (action == nullptr)
                return; // an ordinary UPDATE
        }
        softdelete::write_event(trigger, action, trigger->tg_trigger->tgargs[0]);
    });
    return PointerGetDatum(nullptr);
}
}
