// One row of softdelete.events, written without an INSERT statement.
//
// A one-row soft delete used to write its event through SPI: a cached plan,
// an executor started for it, a projection of every column with its default,
// and a ModifyTable node. That cost more instructions than the soft delete's
// own UPDATE, on every transaction that deletes a row. Here the row is formed
// directly and goes through the table access method and the executor's index
// insertion: what the INSERT does underneath, minus everything around it.
//
// Only the extension writes the log and its DDL is refused to everyone but
// superusers, so the columns are the install script's; they are still
// matched by name, so that a module newer than the installed script writes
// what the table has. A column this file does not know gets its default.
// A trigger a superuser put on the log (to forward events, say) must still
// run: while one would fire, the row goes in through the INSERT as before.
#include "event_row.hpp"
#include "as_role.hpp"
#include "extension_objects.hpp"

extern "C" {
#include "access/tableam.h"
#include "catalog/pg_trigger.h"
#include "catalog/heap.h"
#include "commands/sequence.h"
#include "rewrite/rewriteHandler.h"
#include "utils/fmgroids.h"
#include "utils/typcache.h"
#include "utils/xid8.h"
}

namespace softdelete
{

namespace
{

// What each column of the log holds, by its name.
enum class Column {
    other,
    id,
    op,
    at,
    relid,
    table_name,
    action,
    actor,
    reason,
    row_count,
    keys,
    xact_id
};

// Looked up when the log's OID changes; an invalidation of the log (the
// extension dropped or re-created, an update script's ALTER TABLE) forgets
// it.
struct LogTable {
    Oid relid;
    Oid identity_sequence; // InvalidOid: the id column has no identity
    int natts;
    Column* columns; // by attribute number - 1, in TopMemoryContext
};
LogTable log_table = {};

Column column_named(const char* name)
{
    static const struct {
        const char* name;
        Column column;
    } known[] = {{"id", Column::id},
                 {"op", Column::op},
                 {"at", Column::at},
                 {"relid", Column::relid},
                 {"table_name", Column::table_name},
                 {"action", Column::action},
                 {"actor", Column::actor},
                 {"reason", Column::reason},
                 {"row_count", Column::row_count},
                 {"keys", Column::keys},
                 {"xact_id", Column::xact_id}};
    for (const auto& k : known)
        if (strcmp(name, k.name) == 0)
            return k.column;
    return Column::other;
}

// domain_check()'s per-type cache, kept for the session.
struct ActionDomain {
    Oid type;
    void* extra;
};
ActionDomain action_domain = {};

Oid identity_sequence(Relation rel, const char* column)
{
    AttrNumber attnum = get_attnum(RelationGetRelid(rel), column);
    if (attnum == InvalidAttrNumber ||
        TupleDescAttr(RelationGetDescr(rel), attnum - 1)->attidentity == '\0')
        return InvalidOid;
#if PG_VERSION_NUM >= 170000
    return getIdentitySequence(rel, attnum, false);
#else
    return getIdentitySequence(RelationGetRelid(rel), attnum, false);
#endif
}

// An action is one of the event_action domain's values; the domain is
// checked as the INSERT checked it, should the C side ever pass another.
void check_action(Datum action, Oid type)
{
    if (get_typtype(type) != TYPTYPE_DOMAIN)
        return;
    if (action_domain.type != type) {
        action_domain.type = type;
        action_domain.extra = nullptr;
    }
    domain_check(action, false, type, &action_domain.extra, TopMemoryContext);
}

Datum column_default(Relation rel, int attnum, EState* estate, bool* isnull)
{
    Node* expr = build_column_default(rel, attnum);
    if (expr == nullptr) {
        *isnull = true;
        return (Datum)0;
    }
    ExprState* state = ExecPrepareExpr(reinterpret_cast<Expr*>(expr), estate);
    return ExecEvalExprSwitchContext(state, GetPerTupleExprContext(estate), isnull);
}

void load_log_table(Relation rel)
{
    forget_event_table(InvalidOid);
    TupleDesc desc = RelationGetDescr(rel);
    auto* columns = static_cast<Column*>(
        MemoryContextAlloc(TopMemoryContext, sizeof(Column) * (desc->natts > 0 ? desc->natts : 1)));
    for (int i = 0; i < desc->natts; i++)
        columns[i] = column_named(NameStr(TupleDescAttr(desc, i)->attname));
    log_table.identity_sequence = identity_sequence(rel, "id");
    log_table.natts = desc->natts;
    log_table.columns = columns;
    log_table.relid = RelationGetRelid(rel);
}

// The value of one column of the new row.
Datum column_value(const EventRow& row, Relation rel, int attnum, EState* estate, bool* isnull)
{
    *isnull = false;
    switch (log_table.columns[attnum - 1]) {
    case Column::id:
        if (!OidIsValid(log_table.identity_sequence))
            break;
        return Int64GetDatum(nextval_internal(log_table.identity_sequence, false));
    case Column::op:
        return Int64GetDatum(row.op);
    case Column::at: // the column's default, statement_timestamp()
        return TimestampTzGetDatum(GetCurrentStatementStartTimestamp());
    case Column::relid:
        return ObjectIdGetDatum(row.relid);
    case Column::table_name:
        return CStringGetTextDatum(row.table_name);
    case Column::action: {
        Datum action = CStringGetTextDatum(row.action);
        check_action(action, TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid);
        return action;
    }
    case Column::actor:
        return CStringGetTextDatum(row.actor);
    case Column::reason:
        *isnull = row.reason == nullptr;
        return *isnull ? (Datum)0 : CStringGetTextDatum(row.reason);
    case Column::row_count:
        *isnull = !row.rows_known;
        return *isnull ? (Datum)0 : Int64GetDatum(row.rows);
    case Column::keys:
        *isnull = row.keys == (Datum)0;
        return row.keys;
    case Column::xact_id: // the column's default, pg_current_xact_id()
        return FullTransactionIdGetDatum(GetTopFullTransactionId());
    case Column::other:
        break;
    }
    return column_default(rel, attnum, estate, isnull);
}

// Whether an INSERT into rel would fire a trigger, in this session's
// replication role.
bool insert_triggers_fire(Relation rel)
{
    TriggerDesc* triggers = rel->trigdesc;
    if (triggers == nullptr)
        return false;
    for (int i = 0; i < triggers->numtriggers; i++) {
        const Trigger& trigger = triggers->triggers[i];
        if (!TRIGGER_FOR_INSERT(trigger.tgtype) || trigger.tgenabled == TRIGGER_DISABLED)
            continue;
        bool replica = SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA;
        if (trigger.tgenabled == TRIGGER_FIRES_ALWAYS ||
            (trigger.tgenabled == TRIGGER_FIRES_ON_REPLICA) == replica)
            return true;
    }
    return false;
}

constexpr int statement_params = 8;

// One INSERT for every table, prepared once per backend; the plan cache
// re-plans it if softdelete.events changes.
SPIPlanPtr insert_plan()
{
    static SPIPlanPtr plan = nullptr;
    if (plan == nullptr) {
        Oid types[statement_params] = {INT8OID, REGCLASSOID, TEXTOID, TEXTOID,
                                       TEXTOID, TEXTOID,     INT8OID, JSONBOID};
        SPIPlanPtr p = SPI_prepare("INSERT INTO softdelete.events (op, relid, table_name, action, "
                                   "actor, reason, row_count, keys) "
                                   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                                   statement_params, types);
        if (p == nullptr)
            elog(ERROR, "softdelete could not prepare its event insert: %s",
                 SPI_result_code_string(SPI_result));
        SPI_keepplan(p);
        plan = p;
    }
    return plan;
}

// The INSERT runs as the log's owner, so that the caller needs no privilege
// on the log.
void insert_by_statement(const EventRow& row, Oid owner)
{
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    Datum values[statement_params] = {Int64GetDatum(row.op),
                                      ObjectIdGetDatum(row.relid),
                                      CStringGetTextDatum(row.table_name),
                                      CStringGetTextDatum(row.action),
                                      CStringGetTextDatum(row.actor),
                                      row.reason != nullptr ? CStringGetTextDatum(row.reason)
                                                            : (Datum)0,
                                      Int64GetDatum(row.rows),
                                      row.keys};
    char nulls[statement_params] = {' ',
                                    ' ',
                                    ' ',
                                    ' ',
                                    ' ',
                                    row.reason != nullptr ? ' ' : 'n',
                                    row.rows_known ? ' ' : 'n',
                                    row.keys != (Datum)0 ? ' ' : 'n'};
    int rc =
        as_role(owner, 0, [&] { return SPI_execute_plan(insert_plan(), values, nulls, false, 0); });
    if (rc != SPI_OK_INSERT)
        elog(ERROR, "softdelete could not write its event: %s", SPI_result_code_string(rc));
    SPI_finish();
}

} // namespace

void forget_event_table(Oid relid)
{
    if (OidIsValid(relid) && relid != log_table.relid)
        return;
    if (log_table.columns != nullptr)
        pfree(log_table.columns);
    log_table = {};
}

void insert_event_row(const EventRow& row)
{
    Oid relid = extension_table("events");
    if (!OidIsValid(relid))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("softdelete.events is missing"),
                        errhint("Re-create the extension softdelete.")));
    Relation rel = table_open(relid, RowExclusiveLock);
    if (insert_triggers_fire(rel)) {
        Oid owner = rel->rd_rel->relowner;
        table_close(rel, NoLock);
        insert_by_statement(row, owner);
        return;
    }
    if (log_table.relid != relid || log_table.natts != RelationGetDescr(rel)->natts)
        load_log_table(rel);
    EState* estate = CreateExecutorState();
    ResultRelInfo* result = makeNode(ResultRelInfo);
    InitResultRelInfo(result, rel, 1, nullptr, 0);
    ExecOpenIndices(result, false);
    TupleDesc desc = RelationGetDescr(rel);
    TupleTableSlot* slot = ExecInitExtraTupleSlot(estate, desc, table_slot_callbacks(rel));
    ExecClearTuple(slot);
    for (int attnum = 1; attnum <= desc->natts; attnum++) {
        Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
        bool& isnull = slot->tts_isnull[attnum - 1];
        if (att->attisdropped) {
            isnull = true;
            continue;
        }
        slot->tts_values[attnum - 1] = column_value(row, rel, attnum, estate, &isnull);
        if (isnull && att->attnotnull)
            ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
                            errmsg("softdelete could not write its event: column \"%s\" of "
                                   "softdelete.events has no value",
                                   NameStr(att->attname))));
    }
    ExecStoreVirtualTuple(slot);
    // As the log's owner, as the INSERT ran: a unique violation on an index
    // of the log then reports its key to the caller, who cannot read the log.
    as_role(rel->rd_rel->relowner, 0, [&] {
        table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, nullptr);
#if PG_VERSION_NUM >= 160000
        (void)ExecInsertIndexTuples(result, slot, estate, false, false, nullptr, NIL, false);
#else
        (void)ExecInsertIndexTuples(result, slot, estate, false, false, nullptr, NIL);
#endif
    });
    ExecCloseIndices(result);
    ExecResetTupleTable(estate->es_tupleTable, false);
    FreeExecutorState(estate);
    table_close(rel, NoLock);
}

} // namespace softdelete
