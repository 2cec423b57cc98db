// See scanned_keys.hpp. A DELETE with RETURNING fetches each removed row
// again from its page to compute what it returns, and deforms it up to the
// columns returned: for a purge batch of 10,000 rows that was a fifth of the
// batch's instructions, more than anything else it did beyond a plain
// DELETE. The index scan under the DELETE already holds each row it hands
// over, so the key is read there instead. A row the scan hands over is not
// always one the DELETE removes (a BEFORE DELETE trigger may skip it, or a
// concurrent update may leave it out), so a row's key is kept only once the
// DELETE has counted it: the DELETE asks the scan for its next row only
// after it has finished with the last one.
#include "event_log.hpp"
#include "owner_statement.hpp"
#include "purge_statements.hpp"
#include "scanned_keys.hpp"

extern "C" {
#include "executor/nodeIndexscan.h"
#include "tcop/dest.h"
}

namespace softdelete
{

namespace
{

struct ScanTap {
    const TableConfig* cfg;
    uint64 limit;
    KeyFormat* format;
    MemoryContext context;
    // The keys: as integers for a one-column integer key, else as text.
    bool integer_key;
    int64* ints;
    int64 ints_size;
    StringInfoData keys;
    int64 rows;
    // The statement's scan, its own function, and the DELETE above it.
    PlanState* scan;
    ExecProcNodeMtd scan_next;
    ModifyTableState* modify;
    // The row handed over last and not settled yet: where its key starts in
    // keys (-1: none; integer keys: its key is ints[rows]), and how many rows
    // the DELETE had counted before it.
    int pending_from;
    uint64 processed_before;
    bool attached;
    char* newest;
};

// Set by run_scanned_keys() until its statement starts.
ScanTap* armed = nullptr;
// The tap of the statement running.
ScanTap* running = nullptr;

// The row handed over last: kept if the DELETE counted it.
void settle(ScanTap* tap)
{
    if (tap->pending_from < 0)
        return;
    // EvalPlanQual made its state: a row was changed since the statement's
    // snapshot, and the version removed may not be the one the scan read.
    if (tap->modify->mt_epqstate.recheckestate != nullptr)
        ereport(ERROR, (errcode(ERRCODE_LOCK_NOT_AVAILABLE),
                        errmsg("a purge batch met a row changed concurrently")));
    if (tap->modify->ps.state->es_processed > tap->processed_before)
        tap->rows++;
    else if (!tap->integer_key) {
        tap->keys.len = tap->pending_from;
        tap->keys.data[tap->keys.len] = '\0';
    }
    tap->pending_from = -1;
}

TupleTableSlot* tapped_scan_next(PlanState* node)
{
    ScanTap* tap = running;
    if (tap == nullptr || tap->scan != node)
        elog(ERROR, "softdelete's purge scan lost its statement");
    settle(tap);
    TupleTableSlot* scanned = reinterpret_cast<ScanState*>(node)->ss_ScanTupleSlot;
    const TableConfig& cfg = *tap->cfg;
    if (static_cast<uint64>(tap->rows) >= tap->limit) {
        // The scan slot still holds the last row removed.
        bool isnull = true;
        Datum at = TupIsNull(scanned) ? (Datum)0 : slot_getattr(scanned, cfg.deleted_at, &isnull);
        if (!isnull) {
            Oid output;
            bool varlena;
            getTypeOutputInfo(
                TupleDescAttr(scanned->tts_tupleDescriptor, cfg.deleted_at - 1)->atttypid, &output,
                &varlena);
            MemoryContext old = MemoryContextSwitchTo(tap->context);
            tap->newest = OidOutputFunctionCall(output, at);
            MemoryContextSwitchTo(old);
        }
        return nullptr;
    }
    TupleTableSlot* out = tap->scan_next(node);
    if (TupIsNull(out))
        return out;
    Datum values[INDEX_MAX_KEYS];
    bool nulls[INDEX_MAX_KEYS];
    // From the heap tuple itself where there is one: the key's columns
    // usually come first, at offsets known without deforming the row.
    HeapTuple tuple = TTS_IS_BUFFERTUPLE(scanned)
                          ? reinterpret_cast<BufferHeapTupleTableSlot*>(scanned)->base.tuple
                          : nullptr;
    for (int k = 0; k < cfg.nkeys; k++)
        values[k] = tuple != nullptr
                        ? heap_getattr(tuple, cfg.keys[k], scanned->tts_tupleDescriptor, &nulls[k])
                        : slot_getattr(scanned, cfg.keys[k], &nulls[k]);
    if (tap->integer_key && !nulls[0]) {
        if (tap->rows == tap->ints_size) {
            tap->ints_size *= 2;
            tap->ints =
                static_cast<int64*>(repalloc_huge(tap->ints, sizeof(int64) * tap->ints_size));
        }
        tap->ints[tap->rows] = integer_key_value(tap->format->types[0], values[0]);
        tap->pending_from = 0;
    } else {
        if (tap->integer_key)
            elog(ERROR, "softdelete's purge scan met a row without a key");
        tap->pending_from = tap->keys.len;
        if (tap->keys.len > 0)
            appendBinaryStringInfo(&tap->keys, ", ", 2);
        append_key(&tap->keys, tap->format, values, nulls);
    }
    tap->processed_before = tap->modify->ps.state->es_processed;
    return out;
}

} // namespace

void tap_scanned_rows(QueryDesc* query)
{
    ScanTap* tap = armed;
    // Another query starting first (a function evaluated while the
    // statement is planned, a rule's action) leaves the tap for it.
    if (tap == nullptr || query->planstate == nullptr || !is_own_purge_plan(query))
        return;
    armed = nullptr;
    PlanState* top = query->planstate;
    PlanState* scan = IsA(top, ModifyTableState) ? outerPlanState(top) : nullptr;
    auto* modify = reinterpret_cast<ModifyTableState*>(top);
    if (scan == nullptr || !IsA(scan, IndexScanState) || modify->operation != CMD_DELETE ||
        RelationGetRelid(reinterpret_cast<ScanState*>(scan)->ss_currentRelation) != tap->cfg->relid)
        elog(ERROR, "softdelete's purge statement is not a DELETE reading an index scan of %s",
             get_rel_name(tap->cfg->relid));
    tap->scan = scan;
    tap->modify = modify;
    // ExecProcNodeFirst() installs the node's own function at its first
    // call: replacing that one puts the tap in its place.
    tap->scan_next = scan->ExecProcNodeReal;
    scan->ExecProcNodeReal = tapped_scan_next;
    tap->attached = true;
    running = tap;
}

ReturnedKeys run_scanned_keys(Oid owner, const TableConfig& cfg, const char* sql, int nargs,
                              Oid* types, Datum* values, uint64 limit,
                              bool (*check)(PlannedStmt* plan, void* arg), void* arg)
{
    auto* tap = static_cast<ScanTap*>(palloc0(sizeof(ScanTap)));
    tap->cfg = &cfg;
    tap->limit = limit;
    tap->context = CurrentMemoryContext;
    tap->pending_from = -1;
    initStringInfo(&tap->keys);
    tap->format = make_key_format(tap->context, cfg, nullptr);
    tap->integer_key = integer_key(tap->format);
    if (tap->integer_key) {
        tap->ints_size = 1024;
        tap->ints = static_cast<int64*>(palloc(sizeof(int64) * tap->ints_size));
    }
    OwnerStatement ran = {0, nullptr, false};
    armed = tap;
    PG_TRY();
    {
        OrderedRun order = {check, arg};
        ran = run_as_owner_ordered(owner, sql, nargs, types, values, false, None_Receiver, order);
    }
    PG_FINALLY();
    {
        armed = nullptr;
        running = nullptr;
    }
    PG_END_TRY();
    if (ran.ran && !tap->attached)
        elog(ERROR, "softdelete's purge statement ran without its scan tapped");
    if (tap->integer_key)
        return ReturnedKeys{tap->rows, nullptr, tap->newest, ran.ran, tap->ints, 0};
    return ReturnedKeys{tap->rows, tap->keys.data, tap->newest, ran.ran, nullptr, 0};
}

} // namespace softdelete
