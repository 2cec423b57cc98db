// The statements a purge batch runs (see purge_statements.hpp). Each runs
// as the table's owner; keys, intervals and limits are parameters. A
// statement that removes rows returns their keys, written as the event log
// writes them, and notes them itself: the log trigger and the DELETE
// backstop are left out of it (leave_out_own_triggers()), as the trigger
// machinery (each row fetched and queued once more for each) costs more
// than the DELETE itself.
#include "archive.hpp"
#include "extension_objects.hpp"
#include "key_sql.hpp"
#include "operations.hpp"
#include "owner_statement.hpp"
#include "purge_statements.hpp"

extern "C" {
#include "catalog/pg_trigger.h"
#include "utils/reltrigger.h"
}

namespace softdelete
{

namespace
{

// The table whose next statement leaves out the extension's row triggers.
Oid own_statement_table = InvalidOid;

// Subtransactions remove_due_rows() opened in this transaction. Each one
// that writes takes a transaction id, and past 64 of them in one
// transaction every snapshot taken meanwhile in the cluster has to look them
// up in pg_subtrans: softdelete.purge() runs all its batches in one
// transaction, so only its first batches try without row locks.
int subtransactions = 0;
constexpr int max_subtransactions = 16;

const char* column_sql(const TableConfig& cfg, AttrNumber attno)
{
    return quote_identifier(get_attname(cfg.relid, attno, false));
}

// The fields of a statement's one result, "a TAB b TAB ...", in place.
List* fields(char* value)
{
    List* out = NIL;
    if (value == nullptr)
        return out;
    for (char* field = value;;) {
        char* tab = strchr(field, '\t');
        if (tab != nullptr)
            *tab = '\0';
        out = lappend(out, field);
        if (tab == nullptr)
            return out;
        field = tab + 1;
    }
}

// "WITH gone (c1, ..., cn, k[, at]) AS (DELETE FROM table AS t WHERE which
// RETURNING t.a, ..., key[, t.deleted_at]) [, kept AS (INSERT INTO archive
// (a, ..., archived_at) SELECT c1, ..., cn, now() FROM gone)] SELECT count
// TAB keys [TAB newest deleted_at] FROM gone". Its own names for the CTE's
// columns keep the table's apart from ours.
char* removal_sql(const TableConfig& cfg, const char* which, Oid archive, bool newest)
{
    StringInfoData names, returning, copied;
    initStringInfo(&names);
    initStringInfo(&returning);
    initStringInfo(&copied);
    List* columns = OidIsValid(archive) ? archived_columns(cfg.relid) : NIL;
    int n = 0;
    ListCell* lc;
    foreach (lc, columns) {
        n++;
        appendStringInfo(&names, "c%d, ", n);
        appendStringInfo(&returning, "t.%s, ", static_cast<char*>(lfirst(lc)));
        appendStringInfo(&copied, "%s, ", static_cast<char*>(lfirst(lc)));
    }
    const char* col = column_sql(cfg, cfg.deleted_at);
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql, "WITH gone (%sk%s) AS (DELETE FROM %s AS t WHERE %s RETURNING %s%s%s%s)",
                     names.data, newest ? ", at" : "", table_sql(cfg.relid), which, returning.data,
                     key_text_sql(cfg, "t"), newest ? ", t." : "", newest ? col : "");
    if (OidIsValid(archive)) {
        appendStringInfo(&sql, ", kept AS (INSERT INTO %s (%sarchived_at) SELECT ",
                         relation_sql(archive), copied.data);
        for (int i = 1; i <= n; i++)
            appendStringInfo(&sql, "c%d, ", i);
        appendStringInfoString(&sql, "pg_catalog.now() FROM gone)");
    }
    appendStringInfoString(&sql, " SELECT pg_catalog.count(*) || E'\\t' || "
                                 "coalesce(pg_catalog.string_agg(k, ', '), '')");
    if (newest)
        appendStringInfoString(&sql,
                               " || E'\\t' || coalesce(pg_catalog.max(at)::pg_catalog.text, '')");
    appendStringInfoString(&sql, " FROM gone");
    return sql.data;
}

// Runs a removal on relid, its own row triggers left out, and notes the
// rows it removed (and archived). The fields of its result.
List* run_removal(const TableConfig& cfg, const char* sql, int nargs, Oid* types, Datum* values,
                  Oid archive)
{
    OwnerStatement ran;
    own_statement_table = cfg.relid;
    PG_TRY();
    {
        ran = run_as_owner(relation_owner(cfg.relid), sql, nargs, types, values, true);
    }
    PG_FINALLY();
    {
        // Consumed when the statement started; not if it never did.
        own_statement_table = InvalidOid;
    }
    PG_END_TRY();
    List* out = fields(ran.first_value);
    if (list_length(out) < 2)
        elog(ERROR, "softdelete could not read what its purge removed");
    int64 rows = strtoll(static_cast<char*>(linitial(out)), nullptr, 10);
    const char* keys = static_cast<char*>(lsecond(out));
    note_row_list(cfg.root, Action::purge, keys, rows);
    if (OidIsValid(archive))
        note_row_list(cfg.root, Action::archive, keys, rows);
    return out;
}

// run_removal(), in a subtransaction, with lock_timeout at its least: false
// (nothing done, *result untouched) when the statement would have waited
// for a lock; any other error is raised again after the rollback, as
// PL/pgSQL's exception blocks do.
bool run_removal_without_waiting(const TableConfig& cfg, const char* sql, int nargs, Oid* types,
                                 Datum* values, Oid archive, List** result)
{
    MemoryContext caller_context = CurrentMemoryContext;
    ResourceOwner caller_owner = CurrentResourceOwner;
    volatile bool ran = false;
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(caller_context);
    PG_TRY();
    {
        int level = NewGUCNestLevel();
        (void)set_config_option("lock_timeout", "1", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                                true, 0, false);
        *result = run_removal(cfg, sql, nargs, types, values, archive);
        AtEOXact_GUC(true, level);
        ReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(caller_context);
        CurrentResourceOwner = caller_owner;
        ran = true;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_context);
        ErrorData* error = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(caller_context);
        CurrentResourceOwner = caller_owner;
        if (error->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
            ReThrowError(error);
        FreeErrorData(error);
    }
    PG_END_TRY();
    return ran;
}

// " AND alias.col >= $3::type": from where the cursor stands, when it does.
char* from_cursor(const char* alias, const char* col, const char* type, bool from)
{
    return from ? psprintf(" AND %s.%s >= $3::%s", alias, col, type) : pstrdup("");
}

} // namespace

char* candidate_rows(const TableConfig& cfg, Interval* retention, int64 limit, const char* skip,
                     Cursor* cursor)
{
    const char* col = column_sql(cfg, cfg.deleted_at);
    char* from = cursor->from != nullptr ? psprintf(" AND t.%s >= $4::%s", col,
                                                    column_type_sql(cfg.relid, cfg.deleted_at))
                                         : pstrdup("");
    char* sql = psprintf("SELECT pg_catalog.min(at)::pg_catalog.text || E'\\n' || "
                         "pg_catalog.string_agg(k, E'\\n' ORDER BY at) FROM ("
                         "SELECT (%s)::pg_catalog.text AS k, t.%s AS at FROM %s AS t "
                         "WHERE t.%s < pg_catalog.now() - $1%s AND NOT %s "
                         "ORDER BY t.%s LIMIT $2 FOR UPDATE OF t SKIP LOCKED) c",
                         key_json_sql(cfg, "t"), col, table_sql(cfg.relid), col, from,
                         key_in_sql(cfg, "t", 3), col);
    Oid types[] = {INTERVALOID, INT8OID, JSONBOID, TEXTOID};
    Datum values[] = {IntervalPGetDatum(retention), Int64GetDatum(limit),
                      DirectFunctionCall1(jsonb_in, CStringGetDatum(skip)),
                      cursor->from != nullptr ? CStringGetTextDatum(cursor->from) : (Datum)0};
    char* found = run_as_owner(relation_owner(cfg.relid), sql, cursor->from != nullptr ? 4 : 3,
                               types, values, false)
                      .first_value;
    if (found == nullptr)
        return nullptr;
    // The first line is the oldest candidate's deleted_at.
    char* newline = strchr(found, '\n');
    if (newline == nullptr)
        return nullptr;
    *newline = '\0';
    cursor->from = pstrdup(found);
    return newline + 1;
}

int64 remove_rows(Oid relid, const char* deleted, const char* live, Oid archive)
{
    TableConfig cfg;
    if (!table_config(relid, &cfg))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("table %s is not enabled for soft delete", relation_sql(relid))));
    // A soft-deleted row goes only while still deleted: one restored since
    // stays.
    StringInfoData which;
    initStringInfo(&which);
    appendStringInfo(&which, "(%s AND t.%s IS NOT NULL)", key_in_sql(cfg, "t", 1),
                     column_sql(cfg, cfg.deleted_at));
    if (strcmp(live, "[]") != 0)
        appendStringInfo(&which, " OR %s", key_in_sql(cfg, "t", 2));
    Oid types[] = {JSONBOID, JSONBOID};
    Datum values[] = {DirectFunctionCall1(jsonb_in, CStringGetDatum(deleted)),
                      DirectFunctionCall1(jsonb_in, CStringGetDatum(live))};
    List* result =
        run_removal(cfg, removal_sql(cfg, which.data, archive, false), 2, types, values, archive);
    return strtoll(static_cast<char*>(linitial(result)), nullptr, 10);
}

int64 remove_due_rows(const TableConfig& cfg, Interval* retention, int64 limit, Oid archive,
                      Cursor* cursor)
{
    const char* col = column_sql(cfg, cfg.deleted_at);
    const char* type = column_type_sql(cfg.relid, cfg.deleted_at);
    const char* table = table_sql(cfg.relid);
    bool from = cursor->from != nullptr;
    Oid types[] = {INTERVALOID, INT8OID, TEXTOID, TEXTOID};
    Datum values[] = {IntervalPGetDatum(retention), Int64GetDatum(limit),
                      from ? CStringGetTextDatum(cursor->from) : (Datum)0, (Datum)0};
    // The deleted_at of the due row after the oldest limit: the batch is
    // the due rows deleted before it (at most limit), taken by one range
    // scan of the index on deleted rows.
    // (As text for that one row: converting each row passed over would cost
    // more than the index scan.)
    char* sql = psprintf("SELECT b::pg_catalog.text FROM (SELECT c.%s AS b FROM %s AS c WHERE c.%s "
                         "< pg_catalog.now() - $1%s ORDER BY c.%s OFFSET $2 LIMIT 1) s",
                         col, table, col, from_cursor("c", col, type, from), col);
    char* bound = run_as_owner(relation_owner(cfg.relid), sql, from ? 3 : 2, types, values, false)
                      .first_value;
    // Without row locks, and waiting for none: the rows a batch removes are
    // nearly always held by nobody, and locking each FOR UPDATE first would
    // write it twice. A row someone holds (a restore in progress) makes the
    // statement give up at once, rolled back alone.
    List* result = nullptr;
    char* which =
        psprintf("t.%s < pg_catalog.now() - $1%s%s", col, from_cursor("t", col, type, from),
                 bound != nullptr ? psprintf(" AND t.%s < $4::%s", col, type) : "");
    values[3] = bound != nullptr ? CStringGetTextDatum(bound) : (Datum)0;
    if (subtransactions++ < max_subtransactions &&
        run_removal_without_waiting(cfg, removal_sql(cfg, which, archive, false),
                                    bound != nullptr ? 4 : 3, types, values, archive, &result)) {
        int64 rows = strtoll(static_cast<char*>(linitial(result)), nullptr, 10);
        if (rows > 0 || bound == nullptr) {
            if (bound != nullptr)
                cursor->from = bound;
            return rows;
        }
    }
    // A row was held, or more than limit rows share the oldest deleted_at
    // (one statement deleted them): the oldest limit rows by ctid, locked
    // FOR UPDATE SKIP LOCKED, those held left for a later batch.
    which = psprintf("t.ctid = ANY (ARRAY(SELECT c.ctid FROM %s AS c WHERE c.%s < "
                     "pg_catalog.now() - $1%s ORDER BY c.%s LIMIT $2 FOR UPDATE OF c SKIP LOCKED))",
                     table, col, from_cursor("c", col, type, from), col);
    result = run_removal(cfg, removal_sql(cfg, which, archive, true), from ? 3 : 2, types, values,
                         archive);
    int64 rows = strtoll(static_cast<char*>(linitial(result)), nullptr, 10);
    if (rows > 0 && list_length(result) >= 3)
        cursor->from = pstrdup(static_cast<char*>(lthird(result)));
    return rows;
}

void forget_subtransactions()
{
    subtransactions = 0;
}

void leave_out_own_triggers(QueryDesc* query)
{
    if (!OidIsValid(own_statement_table) || query->estate == nullptr)
        return;
    Oid table = own_statement_table;
    // Once: the statements it fires (foreign key actions, the table's own
    // triggers) keep every trigger.
    own_statement_table = InvalidOid;
    Oid backstop = internal_function_oid("soft_delete_row", 0, nullptr);
    Oid log = internal_function_oid("log_changes", 0, nullptr);
    ListCell* lc;
    foreach (lc, query->estate->es_opened_result_relations) {
        auto* info = static_cast<ResultRelInfo*>(lfirst(lc));
        Oid relid = RelationGetRelid(info->ri_RelationDesc);
        TriggerDesc* triggers = info->ri_TrigDesc;
        if (triggers == nullptr || (relid != table && table_config_root(relid) != table))
            continue;
        // The executor's own copy of the table's triggers, for this
        // statement: the others stay, and decide whether the row triggers
        // of DELETE run at all.
        bool before = false;
        bool after = false;
        for (int i = 0; i < triggers->numtriggers; i++) {
            Trigger* trigger = &triggers->triggers[i];
            if (trigger->tgfoid == backstop || trigger->tgfoid == log) {
                trigger->tgenabled = TRIGGER_DISABLED;
                continue;
            }
            if (TRIGGER_FOR_ROW(trigger->tgtype) && TRIGGER_FOR_DELETE(trigger->tgtype)) {
                before = before || TRIGGER_FOR_BEFORE(trigger->tgtype);
                after = after || TRIGGER_FOR_AFTER(trigger->tgtype);
            }
        }
        triggers->trig_delete_before_row = before;
        triggers->trig_delete_after_row = after;
    }
}

} // namespace softdelete
