// One row of softdelete.events, written without an INSERT statement.
//
// A one-row soft delete used to write its event through SPI: a cached plan,
// an executor started for it, a projection of every column with its default,
// and a ModifyTable node. That cost more instructions than the soft delete's
// own UPDATE, on every transaction that deletes a row. Here the row is formed
// directly and goes into the heap and each btree index, as a catalog row
// does (insert_directly()); where the log has something else (an index of
// another kind, a column this file does not know), it goes through the table
// access method and the executor's index insertion.
//
// Only the extension writes the log and its DDL is refused to everyone but
// superusers, so the columns are the install script's; they are still
// matched by name, so that a module newer than the installed script writes
// what the table has. A column this file does not know gets its default.
// A trigger a superuser put on the log (to forward events, say) must still
// run: while one would fire, the row goes in through the INSERT as before.
#include <algorithm>
#include "event_row.hpp"
#include "as_role.hpp"
#include "extension_objects.hpp"

extern "C" {
#include "access/heapam.h"
#include "access/tableam.h"
#include "catalog/index.h"
#include "catalog/pg_am_d.h"
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

// An index of the log that a row goes into directly.
struct LogIndex {
    Oid relid;
    bool unique;
    int nkeys;
    AttrNumber keys[INDEX_MAX_KEYS];
    IndexInfo* info;
};

// Looked up when the log's OID changes; an invalidation of the log (the
// extension dropped or re-created, an update script's ALTER TABLE, an index
// added) marks it to be looked up again (forget_event_table()).
struct LogTable {
    MemoryContext context; // holds what the pointers below point at
    Oid relid;
    Oid identity_sequence; // InvalidOid: the id column has no identity
    int natts;
    Column* columns; // by attribute number - 1
    // Whether the row can go straight into the heap and each index (see
    // insert_directly()), and the indexes then.
    bool direct;
    int nindexes;
    LogIndex* indexes;
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

// domain_check()'s per-type cache, kept for the session, and the action
// names (the constants of action_name()) that passed it: each is checked
// once, not for every event.
constexpr int action_names = 8;
struct ActionDomain {
    Oid type;
    bool domain;
    void* extra;
    int nchecked;
    const char* checked[action_names];
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
void check_action(const char* name, Datum action, Oid type)
{
    if (action_domain.type != type)
        action_domain = {type, get_typtype(type) == TYPTYPE_DOMAIN, nullptr, 0, {}};
    if (!action_domain.domain)
        return;
    for (int i = 0; i < action_domain.nchecked; i++) {
        if (action_domain.checked[i] == name)
            return;
    }
    domain_check(action, false, type, &action_domain.extra, TopMemoryContext);
    if (action_domain.nchecked < action_names)
        action_domain.checked[action_domain.nchecked++] = name;
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

// The log's indexes, when each is a btree on plain columns whose uniqueness
// is checked at once (the ones the install script makes): the row's key
// values go into them as they are, without the executor's machinery around
// an index insertion. False for anything else an administrator may have
// added (an expression, a predicate, a deferred or exclusion constraint,
// another access method), which the executor's way handles.
bool load_direct_indexes(Relation rel, LogTable* table)
{
    List* oids = RelationGetIndexList(rel);
    table->indexes = static_cast<LogIndex*>(
        MemoryContextAllocZero(table->context, sizeof(LogIndex) * (list_length(oids) + 1)));
    table->nindexes = 0;
    bool plain = true;
    ListCell* lc;
    foreach (lc, oids) {
        Relation index = index_open(lfirst_oid(lc), RowExclusiveLock);
        Form_pg_index form = index->rd_index;
        // One being built concurrently takes no rows yet, as the executor
        // leaves it out (a relcache invalidation says when it is ready).
        if (!form->indisready) {
            index_close(index, NoLock);
            continue;
        }
        plain = plain && index->rd_rel->relam == BTREE_AM_OID && form->indimmediate &&
                !form->indisexclusion && RelationGetIndexExpressions(index) == NIL &&
                RelationGetIndexPredicate(index) == NIL;
        LogIndex& entry = table->indexes[table->nindexes++];
        entry.relid = RelationGetRelid(index);
        entry.unique = form->indisunique;
        entry.nkeys = std::min<int>(form->indnatts, INDEX_MAX_KEYS);
        for (int k = 0; k < entry.nkeys; k++) {
            entry.keys[k] = form->indkey.values[k];
            plain = plain && entry.keys[k] > 0 && entry.keys[k] <= table->natts;
        }
        MemoryContext old = MemoryContextSwitchTo(table->context);
        entry.info = BuildIndexInfo(index);
        MemoryContextSwitchTo(old);
        index_close(index, NoLock);
    }
    return plain;
}

// Built aside and put in place whole: opening the indexes may take in an
// invalidation, which marks what log_table held as stale.
void load_log_table(Relation rel)
{
    LogTable table = {};
    table.context =
        AllocSetContextCreate(TopMemoryContext, "softdelete event log", ALLOCSET_SMALL_SIZES);
    TupleDesc desc = RelationGetDescr(rel);
    table.columns = static_cast<Column*>(
        MemoryContextAlloc(table.context, sizeof(Column) * (desc->natts > 0 ? desc->natts : 1)));
    table.identity_sequence = identity_sequence(rel, "id");
    table.natts = desc->natts;
    table.relid = RelationGetRelid(rel);
    // Direct only where the column values below give every column: a
    // default (of a column this file does not know) is the executor's.
    bool known = true;
    for (int i = 0; i < desc->natts; i++) {
        table.columns[i] = column_named(NameStr(TupleDescAttr(desc, i)->attname));
        known =
            known && (TupleDescAttr(desc, i)->attisdropped ||
                      (table.columns[i] != Column::other &&
                       (table.columns[i] != Column::id || OidIsValid(table.identity_sequence))));
    }
    bool direct = load_direct_indexes(rel, &table);
    table.direct = known && direct && rel->rd_rel->relam == HEAP_TABLE_AM_OID;
    MemoryContext retired = log_table.context;
    log_table = table;
    if (retired != nullptr)
        MemoryContextDelete(retired);
}

// Operations are numbered from the sequence the ids come from, so an
// operation's number is an id no other row has: its first row takes it, and
// a soft delete's event costs no second call of the sequence. First means
// above every number this backend gave that way (the numbers it takes
// rise), so no number is given twice, whatever order an operation's rows
// come in; the others, and every row under 1.0.0's script, take the next
// value.
int64 last_op_given_as_id = 0;

int64 event_id(int64 op)
{
    bool shared = false;
    Oid sequence = operation_sequence(&shared);
    if (shared && sequence == log_table.identity_sequence && op > last_op_given_as_id) {
        last_op_given_as_id = op;
        return op;
    }
    return nextval_internal(log_table.identity_sequence, false);
}

// The value of one column of the new row.
Datum column_value(const EventRow& row, Relation rel, int attnum, EState* estate, bool* isnull)
{
    *isnull = false;
    switch (log_table.columns[attnum - 1]) {
    case Column::id:
        if (!OidIsValid(log_table.identity_sequence))
            break;
        return Int64GetDatum(event_id(row.op));
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
        check_action(row.action, action,
                     TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid);
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

// The row's values, into values and nulls (by attribute number - 1).
void fill_row(const EventRow& row, Relation rel, EState* estate, Datum* values, bool* nulls)
{
    TupleDesc desc = RelationGetDescr(rel);
    for (int attnum = 1; attnum <= desc->natts; attnum++) {
        Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
        bool& isnull = nulls[attnum - 1];
        if (att->attisdropped) {
            isnull = true;
            continue;
        }
        values[attnum - 1] = column_value(row, rel, attnum, estate, &isnull);
        if (isnull && att->attnotnull)
            ereport(ERROR, (errcode(ERRCODE_NOT_NULL_VIOLATION),
                            errmsg("softdelete could not write its event: column \"%s\" of "
                                   "softdelete.events has no value",
                                   NameStr(att->attname))));
    }
}

// Into the heap, then into each index, as CatalogTupleInsert() puts a
// catalog row in: an executor state, a result relation and the executor's
// index insertion cost a one-row soft delete about a tenth of its event.
// As the log's owner, as the INSERT ran: a unique violation on an index of
// the log then reports its key to the caller, who cannot read the log.
void insert_directly(const EventRow& row, Relation rel)
{
    int natts = RelationGetDescr(rel)->natts;
    auto* values = static_cast<Datum*>(palloc(sizeof(Datum) * (natts > 0 ? natts : 1)));
    auto* nulls = static_cast<bool*>(palloc(sizeof(bool) * (natts > 0 ? natts : 1)));
    fill_row(row, rel, nullptr, values, nulls);
    HeapTuple tuple = heap_form_tuple(RelationGetDescr(rel), values, nulls);
    // The indexes as loaded when the log was opened for this row: an
    // invalidation on the way marks log_table stale but keeps them.
    const int nindexes = log_table.nindexes;
    const LogIndex* indexes = log_table.indexes;
    as_role(rel->rd_rel->relowner, 0, [&] {
        heap_insert(rel, tuple, GetCurrentCommandId(true), 0, nullptr);
        for (int i = 0; i < nindexes; i++) {
            const LogIndex& entry = indexes[i];
            Datum key[INDEX_MAX_KEYS];
            bool key_null[INDEX_MAX_KEYS];
            for (int k = 0; k < entry.nkeys; k++) {
                key[k] = values[entry.keys[k] - 1];
                key_null[k] = nulls[entry.keys[k] - 1];
            }
            Relation index = index_open(entry.relid, RowExclusiveLock);
            (void)index_insert(index, key, key_null, &tuple->t_self, rel,
                               entry.unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO, false,
                               entry.info);
            index_close(index, NoLock);
        }
    });
    heap_freetuple(tuple);
}

void insert_by_executor(const EventRow& row, Relation rel)
{
    EState* estate = CreateExecutorState();
    ResultRelInfo* result = makeNode(ResultRelInfo);
    InitResultRelInfo(result, rel, 1, nullptr, 0);
    ExecOpenIndices(result, false);
    TupleTableSlot* slot =
        ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), table_slot_callbacks(rel));
    ExecClearTuple(slot);
    fill_row(row, rel, estate, slot->tts_values, slot->tts_isnull);
    ExecStoreVirtualTuple(slot);
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
}

} // namespace

// Marks the log to be looked up again at the next event, and frees nothing:
// an invalidation can arrive while an event row is being written (a lock
// taken for an index, the sequence or the row's TOAST table takes in what
// other sessions committed: an ANALYZE of the log, an index built
// concurrently), and what the row is written with must last until it is in
// every index. The log's columns and indexes cannot change meanwhile, as
// the writer holds its lock; the next event's load_log_table() frees the
// memory.
void forget_event_table(Oid relid)
{
    if (OidIsValid(relid) && relid != log_table.relid)
        return;
    log_table.relid = InvalidOid;
}

void insert_event_row(const EventRow& row)
{
    Oid relid = event_log_table();
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
    if (log_table.direct)
        insert_directly(row, rel);
    else
        insert_by_executor(row, rel);
    table_close(rel, NoLock);
}

} // namespace softdelete
