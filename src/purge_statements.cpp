// The statements a purge batch runs (see purge_statements.hpp). Each runs
// as the table's owner; keys, intervals and limits are parameters. A
// statement that removes rows returns their keys, written as the event log
// writes them, and notes them itself: the log trigger and the DELETE
// backstop are left out of it (leave_out_own_triggers()), as the trigger
// machinery (each row fetched and queued once more for each) costs more
// than the DELETE itself.
#include <initializer_list>
#include "archive.hpp"
#include "authorization.hpp"
#include "extension_objects.hpp"
#include "key_sql.hpp"
#include "operations.hpp"
#include "owner_statement.hpp"
#include "purge_statements.hpp"
#include "statement_rewrite.hpp"
#include "returned_keys.hpp"
#include "scanned_keys.hpp"

extern "C" {
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "commands/defrem.h"
#include "utils/reltrigger.h"
}

namespace softdelete
{

namespace
{

// The table of the removal running, whose own plan (own_plan_id below)
// leaves out the extension's row triggers.
Oid own_statement_table = InvalidOid;
// The same text until the planner has planned it once: the one plan that
// removes rows for good (plans_own_purge_statement()), planned in the first
// planner call of the statement run, not in one nested in it (a function
// the planner evaluates, planning the same text). The plan made then
// carries a random number as its queryId (SPI copies plans: the pointer is
// not the one executed), which the executor hooks recognise: a query with
// the same text that a function runs meanwhile has another plan.
const char* own_statement_to_plan = nullptr;
int own_statement_planner_depth = 0;
uint64 own_plan_id = 0;

// Subtransactions the batches kept (released) in this transaction. Each
// one that writes takes a transaction id, and past 64 of them in one
// transaction every snapshot taken meanwhile in the cluster has to look them
// up in pg_subtrans: softdelete.purge() runs all its batches in one
// transaction, so only its first batches try without row locks. One rolled
// back gives its ids up at once, and is not counted.
int subtransactions = 0;
constexpr int max_subtransactions = 16;

// remove_rows() found rows that a trigger kept, and raised its error: the
// table and the rows' keys (one per line, as the purge's plan writes them),
// kept where a subtransaction's rollback does not free them.
bool rows_kept = false;
KeptRows kept_rows = {InvalidOid, nullptr};
// A removal of this transaction came back with rows a trigger kept (the
// table's, or another's: softdelete.purge() purges every table in one).
bool kept_in_transaction = false;

// The functions of the extension's own row triggers on an enabled table
// (the DELETE backstop and the log trigger), which a purge statement leaves
// out.
struct OwnTriggers {
    Oid backstop;
    Oid log;
    bool calls(const Trigger* trigger) const
    {
        return trigger->tgfoid == backstop || trigger->tgfoid == log;
    }
};

OwnTriggers own_triggers()
{
    return {internal_function_oid("soft_delete_row", 0, nullptr),
            internal_function_oid("log_changes", 0, nullptr)};
}

const char* column_sql(const TableConfig& cfg, AttrNumber attno)
{
    return quote_identifier(get_attname(cfg.relid, attno, false));
}

// "alias.deleted_at < now() - $1": the row is due, its retention $1 over.
// A deleted_at of type timestamp (without time zone) holds UTC, as the
// stamp writes it (statement_rewrite.cpp): the cutoff is taken in UTC, not
// in the session's TimeZone (which the table's triggers see unchanged).
char* due_sql(const TableConfig& cfg, const char* alias)
{
    return psprintf("%s.%s < %s", alias, column_sql(cfg, cfg.deleted_at),
                    column_time_sql(cfg.relid, cfg.deleted_at, "pg_catalog.now() - $1"));
}

// "DELETE FROM table AS t WHERE which RETURNING key[, t.deleted_at]", or
// with an archive "WITH gone (c1, ..., cn, k1, ...[, at]) AS (DELETE ...
// RETURNING t.a, ..., key[, t.deleted_at]), kept AS (INSERT INTO archive
// (a, ..., archived_at) SELECT c1, ..., cn, now() FROM gone) SELECT k1,
// ...[, at] FROM gone". Its own names for the CTE's columns keep the
// table's apart from ours.
char* removal_sql(const TableConfig& cfg, const char* which, Oid archive, bool newest)
{
    const char* col = column_sql(cfg, cfg.deleted_at);
    const char* keys = key_columns_sql(cfg, "t");
    StringInfoData sql;
    initStringInfo(&sql);
    if (!OidIsValid(archive)) {
        appendStringInfo(&sql, "DELETE FROM %s AS t WHERE %s RETURNING %s%s%s",
                         table_sql(cfg.relid), which, keys, newest ? ", t." : "",
                         newest ? col : "");
        return sql.data;
    }
    StringInfoData names, returning, copied, kept, ours;
    initStringInfo(&names);
    initStringInfo(&returning);
    initStringInfo(&copied);
    initStringInfo(&kept);
    initStringInfo(&ours);
    int n = 0;
    ListCell* lc;
    foreach (lc, archived_columns(cfg.relid)) {
        n++;
        appendStringInfo(&names, "c%d, ", n);
        appendStringInfo(&returning, "t.%s, ", static_cast<char*>(lfirst(lc)));
        appendStringInfo(&copied, "%s, ", static_cast<char*>(lfirst(lc)));
        appendStringInfo(&kept, "c%d, ", n);
    }
    for (int k = 1; k <= cfg.nkeys; k++)
        appendStringInfo(&ours, "%sk%d", k > 1 ? ", " : "", k);
    if (newest)
        appendStringInfoString(&ours, ", at");
    appendStringInfo(&sql,
                     "WITH gone (%s%s) AS (DELETE FROM %s AS t WHERE %s RETURNING %s%s%s%s), "
                     "kept AS (INSERT INTO %s (%sarchived_at) SELECT %spg_catalog.now() FROM gone "
                     "RETURNING 1) "
                     "SELECT %s, (SELECT pg_catalog.count(*) FROM kept) FROM gone",
                     names.data, ours.data, table_sql(cfg.relid), which, returning.data, keys,
                     newest ? ", t." : "", newest ? col : "", relation_sql(archive), copied.data,
                     kept.data, ours.data);
    return sql.data;
}

// Runs run(), a removal on cfg's table as its owner, with the table's own
// row triggers left out.
template <typename Run>
ReturnedKeys without_own_triggers(const TableConfig& cfg, const char* sql, Run run)
{
    ReturnedKeys ran;
    own_statement_table = cfg.relid;
    own_statement_to_plan = sql;
    own_statement_planner_depth = planner_calls() + 1;
    own_plan_id = 0;
    PG_TRY();
    {
        ran = run();
    }
    PG_FINALLY();
    {
        // Consumed when the statement started; not if it never did.
        own_statement_table = InvalidOid;
        own_statement_to_plan = nullptr;
        own_plan_id = 0;
    }
    PG_END_TRY();
    return ran;
}

// Runs a removal on cfg's table as its owner, its own row triggers left
// out. What it returned: the rows' keys, and their newest deleted_at when
// asked for.
// A statement that archives (archive valid) also returns how many rows its
// archive took: a trigger or rule on the archive (its owner's) that kept
// rows out would have them removed but not archived, and logged as
// archived. The statement fails then, and removes nothing.
ReturnedKeys run_removal(const TableConfig& cfg, const char* sql, int nargs, Oid* types,
                         Datum* values, bool newest, Oid archive)
{
    ReturnedKeys removed = without_own_triggers(cfg, sql, [&] {
        return run_returning_keys(relation_owner(cfg.relid), cfg, sql, nargs, types, values, false,
                                  newest, OidIsValid(archive));
    });
    if (OidIsValid(archive) && removed.archived != removed.rows)
        ereport(
            ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("cannot archive rows of %s: its archive %s took %lld of the %lld rows "
                    "removed",
                    relation_display_name(cfg.relid), relation_sql(archive),
                    static_cast<long long>(removed.archived), static_cast<long long>(removed.rows)),
             errdetail("A trigger or rule on the archive kept rows out. Nothing was removed."),
             errhint("Drop what keeps rows out of the archive, or enable the table with "
                     "archive => false.")));
    return removed;
}

// Notes the rows a removal removed (and archived).
void note_removed(const TableConfig& cfg, const ReturnedKeys& removed, Oid archive)
{
    for (Action action : {Action::purge, Action::archive}) {
        if (action == Action::archive && !OidIsValid(archive))
            continue;
        if (removed.ints != nullptr)
            note_row_ints(cfg.root, action, removed.ints, removed.rows);
        else
            note_row_list(cfg.root, action, removed.keys, removed.rows);
    }
}

// body() in a subtransaction, with lock_timeout at its least: false
// (nothing done) when a statement would have waited for a lock, or when
// passable(error) says that body's error is one to pass over (*passed gets
// its SQLSTATE); any other error is raised again after the rollback, as
// PL/pgSQL's exception blocks do. A subtransaction rolled back takes its transaction
// ids out of the backend's cache at once: only one that is kept counts
// against max_subtransactions.
bool never(const ErrorData*)
{
    return false;
}

template <typename Body, typename Passable = bool (*)(const ErrorData*)>
bool without_waiting(Body body, Passable passable = never, int* passed = nullptr)
{
    MemoryContext caller_context = CurrentMemoryContext;
    ResourceOwner caller_owner = CurrentResourceOwner;
    volatile bool done = false;
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(caller_context);
    PG_TRY();
    {
        int level = NewGUCNestLevel();
        (void)set_config_option("lock_timeout", "1", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                                true, 0, false);
        body();
        AtEOXact_GUC(true, level);
        ReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(caller_context);
        CurrentResourceOwner = caller_owner;
        done = true;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(caller_context);
        ErrorData* error = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(caller_context);
        CurrentResourceOwner = caller_owner;
        if (error->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE && !passable(error))
            ReThrowError(error);
        if (passed != nullptr)
            *passed = error->sqlerrcode;
        FreeErrorData(error);
    }
    PG_END_TRY();
    if (done)
        subtransactions++;
    return done;
}

// Whether plan reads the rows of cfg's table oldest first: a DELETE by a
// forward scan of a btree index of the table whose first column is
// deleted_at, ascending in its type's default order (the index on deleted
// rows).
bool scans_oldest_first(PlannedStmt* plan, void* arg)
{
    const auto* cfg = static_cast<const TableConfig*>(arg);
    Plan* top = plan->planTree;
    if (top == nullptr || !IsA(top, ModifyTable) || outerPlan(top) == nullptr ||
        !IsA(outerPlan(top), IndexScan))
        return false;
    auto* scan = reinterpret_cast<IndexScan*>(outerPlan(top));
    if (scan->indexorderdir != ForwardScanDirection || scan->indexorderby != NIL)
        return false;
    Oid opclass = GetDefaultOpClass(get_atttype(cfg->relid, cfg->deleted_at), BTREE_AM_OID);
    Relation index = index_open(scan->indexid, AccessShareLock);
    bool ordered = index->rd_rel->relam == BTREE_AM_OID &&
                   index->rd_index->indrelid == cfg->relid && index->rd_index->indnkeyatts >= 1 &&
                   index->rd_index->indkey.values[0] == cfg->deleted_at &&
                   (index->rd_indoption[0] & INDOPTION_DESC) == 0 && OidIsValid(opclass) &&
                   index->rd_opfamily[0] == get_opclass_family(opclass);
    index_close(index, AccessShareLock);
    return ordered;
}

// " AND alias.col >= $3::type": from where the cursor stands, when it does.
char* from_cursor(const char* alias, const char* col, const char* type, bool from)
{
    return from ? psprintf(" AND %s.%s >= $3::%s", alias, col, type) : pstrdup("");
}

// The oldest limit due rows by ctid, locked FOR UPDATE SKIP LOCKED, those
// held left for a later batch; types and values as remove_due_rows() has
// them.
int64 remove_locked_rows(const TableConfig& cfg, Oid archive, Cursor* cursor, Oid* types,
                         Datum* values)
{
    const char* col = column_sql(cfg, cfg.deleted_at);
    bool from = cursor->from != nullptr;
    char* which =
        psprintf("t.ctid = ANY (ARRAY(SELECT c.ctid FROM %s AS c WHERE %s%s "
                 "ORDER BY c.%s LIMIT $2 FOR UPDATE OF c SKIP LOCKED))",
                 table_sql(cfg.relid), due_sql(cfg, "c"),
                 from_cursor("c", col, column_type_sql(cfg.relid, cfg.deleted_at), from), col);
    ReturnedKeys removed = run_removal(cfg, removal_sql(cfg, which, archive, true), from ? 3 : 2,
                                       types, values, true, archive);
    note_removed(cfg, removed, archive);
    if (removed.newest != nullptr)
        cursor->from = removed.newest;
    return removed.rows;
}

// Whether a DELETE of relid's rows (a partitioned table's: of its
// partitions') may keep some: a rule on DELETE, or an enabled BEFORE DELETE
// row trigger other than the extension's own, which a statement of the
// purge leaves out.
bool may_keep_rows(Oid relid)
{
    OwnTriggers own = own_triggers();
    ListCell* lc;
    foreach (lc, find_all_inheritors(relid, AccessShareLock, nullptr)) {
        Relation rel = table_open(lfirst_oid(lc), NoLock);
        bool may = rel->rd_rel->relhasrules;
        TriggerDesc* triggers = rel->trigdesc;
        for (int i = 0; !may && triggers != nullptr && i < triggers->numtriggers; i++) {
            const Trigger* trigger = &triggers->triggers[i];
            may = trigger->tgenabled != TRIGGER_DISABLED && TRIGGER_FOR_ROW(trigger->tgtype) &&
                  TRIGGER_FOR_BEFORE(trigger->tgtype) && TRIGGER_FOR_DELETE(trigger->tgtype) &&
                  !own.calls(trigger);
        }
        table_close(rel, NoLock);
        if (may)
            return true;
    }
    return false;
}

// Removes rows of relid by key (deleted: a JSON array of keys of rows that
// must still be soft-deleted; live: of live rows, each removed only while
// its columns hold the values of one of the objects in references),
// copying them to archive first when it is valid. Notes what it removed and
// archived under the running operation. Returns the rows removed; an error
// (triggered_action_exception) when a trigger kept some of them, looked for
// where keepable (may_keep_rows()).
int64 remove_rows(Oid relid, const char* deleted, const char* live, const char* references,
                  Oid archive, bool keepable)
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
    // A live row (a CASCADE child) goes only while it still references a
    // row that goes: one changed to reference another since the plan was
    // made is kept, as PostgreSQL's own action would keep it. A concurrent
    // change is waited for (or, in a batch, given up on) and re-checked.
    if (strcmp(live, "[]") != 0)
        appendStringInfo(&which,
                         " OR (%s AND EXISTS (SELECT FROM pg_catalog.unnest($3) AS "
                         "r(o) WHERE pg_catalog.to_jsonb(t) OPERATOR(pg_catalog.@>) r.o))",
                         key_in_sql(cfg, "t", 2));
    Oid types[] = {JSONBARRAYOID, JSONBARRAYOID, JSONBARRAYOID};
    Datum values[] = {elements_array(deleted), elements_array(live), elements_array(references)};
    ReturnedKeys removed = run_removal(cfg, removal_sql(cfg, which.data, archive, false), 3, types,
                                       values, false, archive);
    note_removed(cfg, removed, archive);
    // A row still here that the statement should have removed was kept by
    // a BEFORE DELETE trigger of its table (a legal hold returns NULL).
    // What it references must then stay too: the steps after this one would
    // fail on it (NO ACTION, RESTRICT), or have PostgreSQL's CASCADE remove
    // its parent and leave it referencing nothing, as the trigger keeps it
    // from that DELETE as well.
    // Looked for only where a trigger or rule could have kept any.
    char* kept = nullptr;
    if (keepable)
        kept = run_as_owner(relation_owner(relid),
                            psprintf("SELECT pg_catalog.string_agg((%s)::pg_catalog.text, E'\\n') "
                                     "FROM %s AS t WHERE %s",
                                     key_json_sql(cfg, "t"), table_sql(relid), which.data),
                            3, types, values, false)
                   .first_value;
    if (kept != nullptr) {
        rows_kept = true;
        kept_rows = {relid, MemoryContextStrdup(TopTransactionContext, kept)};
        ereport(ERROR,
                (errcode(ERRCODE_TRIGGERED_ACTION_EXCEPTION),
                 errmsg("cannot purge rows of %s: a trigger kept some of them",
                        relation_display_name(relid)),
                 errdetail("A BEFORE DELETE trigger of the table returned NULL for rows that go "
                           "with the rows purged. Nothing was removed."),
                 errhint("The lifecycle worker, which commits each batch, passes over the rows "
                         "that need them; softdelete.purge() does in its first batches.")));
    }
    return removed.rows;
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
                         "WHERE %s%s AND NOT %s "
                         "ORDER BY t.%s LIMIT $2 FOR UPDATE OF t SKIP LOCKED) c",
                         key_json_sql(cfg, "t"), col, table_sql(cfg.relid), due_sql(cfg, "t"), from,
                         key_in_sql(cfg, "t", 3), col);
    Oid types[] = {INTERVALOID, INT8OID, JSONBARRAYOID, TEXTOID};
    Datum values[] = {IntervalPGetDatum(retention), Int64GetDatum(limit), elements_array(skip),
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

Removal remove_planned_rows(const std::vector<PurgeStep>& steps, const std::vector<Oid>& archives)
{
    // Which steps' tables a trigger or rule could keep rows of, read once
    // (palloc'd: an error here jumps over this frame).
    auto* keepable_step = static_cast<bool*>(palloc(sizeof(bool) * (steps.size() + 1)));
    bool keepable = false;
    for (size_t i = 0; i < steps.size(); i++) {
        keepable_step[i] = may_keep_rows(steps[i].relid);
        keepable = keepable || keepable_step[i];
    }
    auto remove = [&] {
        for (size_t i = 0; i < steps.size(); i++)
            (void)remove_rows(steps[i].relid, steps[i].deleted.c_str(), steps[i].live.c_str(),
                              steps[i].references.c_str(), archives[i], keepable_step[i]);
    };
    // Counted with remove_due_rows()'s: past them (a purge() of many
    // batches in one transaction), the steps run without a subtransaction
    // of their own, and may wait for a held row, as a DELETE does; a row a
    // trigger keeps then fails the whole transaction. Where the transaction
    // has met such rows already and a trigger could keep more, the steps
    // are left to a later run instead.
    if (subtransactions >= max_subtransactions) {
        if (kept_in_transaction && keepable)
            return Removal::deferred;
        remove();
        return Removal::removed;
    }
    // A table's rows at several depths (a self-referencing tree) go in one
    // DELETE, whose foreign key checks at its end fail (23503) on a row its
    // trigger kept, before the kept rows are looked for: where a trigger
    // could keep rows, that error means the same, without saying which.
    rows_kept = false;
    kept_rows = {InvalidOid, nullptr};
    int passed = 0;
    auto passable = [keepable](const ErrorData* error) {
        return (rows_kept && error->sqlerrcode == ERRCODE_TRIGGERED_ACTION_EXCEPTION) ||
               (keepable && error->sqlerrcode == ERRCODE_FOREIGN_KEY_VIOLATION);
    };
    if (without_waiting(remove, passable, &passed))
        return Removal::removed;
    if (passed == ERRCODE_LOCK_NOT_AVAILABLE)
        return Removal::held;
    kept_in_transaction = true;
    return Removal::kept;
}

KeptRows last_kept_rows()
{
    return kept_rows;
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
    // First without row locks, and waiting for none: the rows a batch
    // removes are nearly always held by nobody, and locking each FOR UPDATE
    // first would write it twice. A row someone holds (a restore in
    // progress) makes the statement give up at once, rolled back alone.
    ReturnedKeys removed = {0, nullptr, nullptr, true, nullptr, 0};
    // Without an archive: one DELETE of the due rows, read oldest first by
    // the index on deleted rows, whose scan ends after limit rows removed
    // and hands each row's key to the log (scanned_keys.hpp). Its plan is
    // checked before it runs: one that would read them in another order is
    // not run, and the batch is bounded as below. The archive's statement
    // cannot stop so: a data-modifying CTE runs to its end whatever its
    // query reads.
    if (!OidIsValid(archive) && subtransactions < max_subtransactions) {
        char* sql = psprintf("DELETE FROM %s AS t WHERE %s%s", table, due_sql(cfg, "t"),
                             from_cursor("t", col, type, from));
        if (!without_waiting([&] {
                removed = without_own_triggers(cfg, sql, [&] {
                    return run_scanned_keys(relation_owner(cfg.relid), cfg, sql, from ? 3 : 2,
                                            types, values, static_cast<uint64>(limit),
                                            scans_oldest_first, const_cast<TableConfig*>(&cfg));
                });
                if (removed.ran)
                    note_removed(cfg, removed, archive);
            }))
            return remove_locked_rows(cfg, archive, cursor, types, values);
        if (removed.ran) {
            if (removed.newest != nullptr)
                cursor->from = removed.newest;
            return removed.rows;
        }
    }
    for (;;) {
        from = cursor->from != nullptr;
        // Text in $3 either way: the check below passes it unused.
        values[2] = CStringGetTextDatum(from ? cursor->from : "");
        // The deleted_at of the due row after the oldest limit: the batch is
        // the due rows deleted before it (at most limit), taken by one range
        // scan of the index on deleted rows.
        // (As text for that one row: converting each row passed over would
        // cost more than the index scan.)
        char* sql =
            psprintf("SELECT b::pg_catalog.text FROM (SELECT c.%s AS b FROM %s AS c WHERE %s%s "
                     "ORDER BY c.%s OFFSET $2 LIMIT 1) s",
                     col, table, due_sql(cfg, "c"), from_cursor("c", col, type, from), col);
        char* bound =
            run_as_owner(relation_owner(cfg.relid), sql, from ? 3 : 2, types, values, false)
                .first_value;
        const char* before_bound =
            bound != nullptr ? psprintf(" AND t.%s < $4::%s", col, type) : "";
        char* which =
            psprintf("%s%s%s", due_sql(cfg, "t"), from_cursor("t", col, type, from), before_bound);
        values[3] = bound != nullptr ? CStringGetTextDatum(bound) : (Datum)0;
        if (subtransactions < max_subtransactions && without_waiting([&] {
                removed = run_removal(cfg, removal_sql(cfg, which, archive, false),
                                      bound != nullptr ? 4 : 3, types, values, false, archive);
                note_removed(cfg, removed, archive);
            })) {
            if (removed.rows > 0 || bound == nullptr) {
                if (bound != nullptr)
                    cursor->from = bound;
                return removed.rows;
            }
            // No row before bound went, and none was held (the statement
            // did not wait): where there were any, the table's own trigger
            // kept them (a legal hold's BEFORE DELETE returns NULL). The
            // batch goes on past them, as the DELETE without an archive
            // passes such rows by; they stayed oldest, and a batch that
            // stopped at them would leave every due row after them for
            // good.
            char* any = psprintf("SELECT FROM %s AS t WHERE %s LIMIT 1", table, which);
            if (run_as_owner(relation_owner(cfg.relid), any, 4, types, values, false).processed >
                0) {
                cursor->from = bound;
                continue;
            }
        }
        // A row was held, or more than limit rows share the oldest
        // deleted_at (one statement deleted them).
        return remove_locked_rows(cfg, archive, cursor, types, values);
    }
}

void forget_subtransactions()
{
    subtransactions = 0;
    kept_in_transaction = false;
}

bool plans_own_purge_statement(const char* query_string, const Query* parse, int depth)
{
    if (own_statement_to_plan == nullptr || depth != own_statement_planner_depth ||
        query_string == nullptr || !parse->canSetTag ||
        strcmp(query_string, own_statement_to_plan) != 0)
        return false;
    own_statement_to_plan = nullptr;
    return true;
}

Oid own_purge_table()
{
    return own_statement_table;
}

void planned_own_purge_statement(PlannedStmt* stmt)
{
    uint64 id = 0;
    while (id == 0) {
        if (!pg_strong_random(&id, sizeof id))
            ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                            errmsg("could not generate a random number")));
    }
    own_plan_id = id;
    stmt->queryId = id;
}

bool is_own_purge_plan(const QueryDesc* query)
{
    return own_plan_id != 0 && query->plannedstmt != nullptr &&
           query->plannedstmt->queryId == own_plan_id;
}

void leave_out_own_triggers(QueryDesc* query)
{
    if (!OidIsValid(own_statement_table) || query->estate == nullptr || !is_own_purge_plan(query))
        return;
    Oid table = own_statement_table;
    // Once: the statements it fires (foreign key actions, the table's own
    // triggers) keep every trigger.
    own_statement_table = InvalidOid;
    OwnTriggers own = own_triggers();
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
            if (own.calls(trigger)) {
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
