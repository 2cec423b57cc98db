// softdelete_internal.guard_child(): no live child row under a soft-deleted
// parent. The trigger softdelete_child_guard (AFTER INSERT OR UPDATE OF the
// foreign-key columns, FOR EACH ROW) runs on an enabled table that has
// foreign keys to enabled tables; for each such key of the written row it
// reads the referenced row and refuses (23503) when that row is
// soft-deleted. A referenced row that does not exist is PostgreSQL's own
// foreign-key check's business, which has already run: its trigger sorts
// before ours ("RI_..." < "softdelete_...").
//
// Why no lock of its own: PostgreSQL's check has locked the referenced row
// FOR KEY SHARE. That does not conflict with the FOR NO KEY UPDATE of a soft
// delete's UPDATE, but the cascade (cascade.cpp) then locks every parent
// row it soft-deleted FOR UPDATE, which does conflict, before it looks for
// children. So a soft delete that got there first makes the check's lock
// wait, and in READ COMMITTED the check then reads the version it committed
// (here, with a new snapshot); a check that locked first makes the soft
// delete's cascade wait until the child's transaction ends and then find the
// child. In REPEATABLE READ PostgreSQL's lock of a parent soft-deleted after
// the snapshot fails with a serialization error. (A second lock here, FOR
// SHARE, measured 1.2x a plain child INSERT; the parent's delete is the rarer
// statement, so it pays.)
//
// Why AFTER: the row checked is the one written, after every BEFORE trigger
// changed it.
//
// How: for a plain referenced table the row is found through the unique
// index the constraint uses and locked directly, which costs a fraction of
// planning-free SPI (an executor start and end per row). A partitioned
// referenced table, or operators that convert the child's values, go
// through SPI with a saved plan per foreign key, run as the parent's owner
// outside FORCE row security as PostgreSQL runs its own check (the
// application may not read the parent, and the visibility policy would hide
// the deleted row). Both see the same rows.
//
// Plain PostgreSQL code: nothing here owns a resource through a destructor,
// so an ereport leaves these frames as it would leave C.
#include "as_role.hpp"
#include "authorization.hpp"
#include "child_guard.hpp"
#include "table_config.hpp"
#include "trigger_call.hpp"

extern "C" {
#include "access/tableam.h"
#include "catalog/partition.h"
#include "catalog/pg_am.h"
#include "catalog/pg_constraint.h"
#include "utils/relcache.h"
}

namespace softdelete
{

namespace
{

// What the check of one foreign key needs, by the constraint's OID.
struct GuardedKey {
    Oid conoid;   // hash key
    bool valid;   // false once an invalidation may have changed what it says
    bool derived; // a copy for one partition of the referenced table: its parent checks
    Oid conrelid;
    Oid confrelid;
    Oid parent_owner;
    NameData conname;
    SPIPlanPtr plan; // the check through SPI, made on first use
    // The direct check: a plain referenced table whose unique index matches
    // the key and whose operators take the columns' types as they are. One
    // scan key per index column, in index order, from the child's values
    // value_of[k].
    bool direct;
    Oid index;
    AttrNumber tombstone;
    int nkeys;
    int value_of[INDEX_MAX_KEYS];
    ScanKeyData scankeys[INDEX_MAX_KEYS];
};

HTAB* keys = nullptr;
// Calls running a saved plan: a plan is freed only when none is.
int running = 0;

void forget_keys(Oid relid)
{
    if (keys == nullptr)
        return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, keys);
    GuardedKey* key;
    while ((key = static_cast<GuardedKey*>(hash_seq_search(&status))) != nullptr) {
        if (!OidIsValid(relid) || key->conrelid == relid || key->confrelid == relid)
            key->valid = false;
    }
}

// A table renamed, re-owned or disabled, or a constraint changed: the next
// check re-reads the catalog. Plans are freed then, not here: an
// invalidation can arrive while one runs.
void on_relcache_invalidation(Datum, Oid relid)
{
    forget_keys(relid);
}

void on_constraint_invalidation(Datum, int, uint32)
{
    forget_keys(InvalidOid);
}

void on_transaction(XactEvent event, void*);
void on_subtransaction(SubXactEvent event, SubTransactionId, SubTransactionId, void*);

void create_cache()
{
    keys = oid_hash("softdelete guarded foreign keys", sizeof(GuardedKey), 32, CacheMemoryContext);
    CacheRegisterRelcacheCallback(on_relcache_invalidation, (Datum)0);
    CacheRegisterSyscacheCallback(CONSTROID, on_constraint_invalidation, (Datum)0);
    RegisterXactCallback(on_transaction, nullptr);
    RegisterSubXactCallback(on_subtransaction, nullptr);
}

// "SELECT col IS NULL FROM ONLY parent x WHERE pk1 = $1 AND ...": the
// referenced row's tombstone.
// Identifiers are quoted and qualified, the operators are the constraint's
// own, and the values travel as parameters typed as the child's columns.
SPIPlanPtr prepare_check(const ForeignKeyCacheInfo& fk, Relation child, const GuardedKey& key)
{
    TableConfig parent_cfg;
    if (!table_config(fk.confrelid, &parent_cfg))
        elog(ERROR, "softdelete: relation %u is not enabled", fk.confrelid);
    char relkind = get_rel_relkind(fk.confrelid);
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql, "SELECT x.%s IS NULL FROM %s%s x WHERE ",
                     quote_identifier(get_attname(fk.confrelid, parent_cfg.deleted_at, false)),
                     relkind == RELKIND_PARTITIONED_TABLE ? "" : "ONLY ",
                     relation_display_name(fk.confrelid));
    Oid types[INDEX_MAX_KEYS];
    for (int i = 0; i < fk.nkeys; i++) {
        types[i] = TupleDescAttr(RelationGetDescr(child), fk.conkey[i] - 1)->atttypid;
        char* column =
            psprintf("x.%s", quote_identifier(get_attname(fk.confrelid, fk.confkey[i], false)));
        char* param = psprintf("$%d", i + 1);
        if (i > 0)
            appendStringInfoString(&sql, " AND ");
        generate_operator_clause(&sql, column, get_atttype(fk.confrelid, fk.confkey[i]),
                                 fk.conpfeqop[i], param, types[i]);
    }

    // Prepared as the parent's owner, who runs it: row security is decided
    // for that role.
    SPIPlanPtr plan = as_role(key.parent_owner, SECURITY_NOFORCE_RLS,
                              [&] { return SPI_prepare(sql.data, fk.nkeys, types); });
    if (plan == nullptr)
        elog(ERROR, "softdelete: could not prepare the child guard's check: %s",
             SPI_result_code_string(SPI_result));
    if (SPI_keepplan(plan) != 0)
        elog(ERROR, "softdelete: could not keep the child guard's check");
    return plan;
}

// Fills the direct check of key when the referenced table allows it: a
// plain table, and a valid btree unique index on exactly the key's columns
// whose operator families hold the constraint's operators for the columns'
// own types (cross-type ones included). Anything else keeps the SPI plan.
void prepare_direct_check(GuardedKey& key, const ForeignKeyCacheInfo& fk, Relation child)
{
    TableConfig parent_cfg;
    if (!OidIsValid(key.index) || get_rel_relkind(fk.confrelid) != RELKIND_RELATION ||
        !table_config(fk.confrelid, &parent_cfg))
        return;
    key.tombstone = parent_cfg.deleted_at;
    Relation index = index_open(key.index, AccessShareLock);
    bool usable = index->rd_rel->relam == BTREE_AM_OID && index->rd_index->indisvalid &&
                  index->rd_index->indnkeyatts == fk.nkeys;
    for (int k = 0; usable && k < fk.nkeys; k++) {
        AttrNumber heap_attno = index->rd_index->indkey.values[k];
        int i = 0;
        while (i < fk.nkeys && fk.confkey[i] != heap_attno)
            i++;
        if (i == fk.nkeys) {
            usable = false;
            break;
        }
        Oid left = InvalidOid;
        Oid right = InvalidOid;
        op_input_types(fk.conpfeqop[i], &left, &right);
        Oid child_type = TupleDescAttr(RelationGetDescr(child), fk.conkey[i] - 1)->atttypid;
        usable = left == get_atttype(fk.confrelid, heap_attno) && right == child_type &&
                 get_op_opfamily_strategy(fk.conpfeqop[i], index->rd_opfamily[k]) ==
                     BTEqualStrategyNumber;
        if (!usable)
            break;
        key.value_of[k] = i;
        // The operator's function lives as long as the entry.
        MemoryContext caller = MemoryContextSwitchTo(CacheMemoryContext);
        ScanKeyEntryInitialize(&key.scankeys[k], 0, k + 1, BTEqualStrategyNumber,
                               right == index->rd_opcintype[k] ? InvalidOid : right,
                               index->rd_indcollation[k], get_opcode(fk.conpfeqop[i]), (Datum)0);
        MemoryContextSwitchTo(caller);
    }
    index_close(index, AccessShareLock);
    key.nkeys = fk.nkeys;
    key.direct = usable;
}

// The cache entry of fk, read from the catalog when missing or invalidated.
GuardedKey* guarded_key(const ForeignKeyCacheInfo& fk, Relation child)
{
    if (keys == nullptr)
        create_cache();
    bool found = false;
    auto* key = static_cast<GuardedKey*>(hash_search(keys, &fk.conoid, HASH_FIND, &found));
    if (found && key->valid && (key->plan == nullptr || SPI_plan_is_valid(key->plan)))
        return key;

    GuardedKey fresh;
    memset(&fresh, 0, sizeof fresh);
    fresh.conoid = fk.conoid;
    fresh.conrelid = fk.conrelid;
    fresh.confrelid = fk.confrelid;
    fresh.index = InvalidOid;
    HeapTuple tuple = SearchSysCache1(CONSTROID, ObjectIdGetDatum(fk.conoid));
    if (!HeapTupleIsValid(tuple))
        elog(ERROR, "cache lookup failed for constraint %u", fk.conoid);
    auto* con = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tuple));
    namestrcpy(&fresh.conname, NameStr(con->conname));
    fresh.index = con->conindid;
    // A foreign key to a partitioned table has a copy for each of its
    // partitions on the same referencing table; the original checks them.
    if (OidIsValid(con->conparentid)) {
        HeapTuple parent = SearchSysCache1(CONSTROID, ObjectIdGetDatum(con->conparentid));
        if (HeapTupleIsValid(parent)) {
            fresh.derived =
                reinterpret_cast<Form_pg_constraint>(GETSTRUCT(parent))->conrelid == con->conrelid;
            ReleaseSysCache(parent);
        }
    }
    ReleaseSysCache(tuple);
    HeapTuple rel = SearchSysCache1(RELOID, ObjectIdGetDatum(fk.confrelid));
    if (!HeapTupleIsValid(rel))
        elog(ERROR, "cache lookup failed for relation %u", fk.confrelid);
    fresh.parent_owner = reinterpret_cast<Form_pg_class>(GETSTRUCT(rel))->relowner;
    ReleaseSysCache(rel);
    if (!fresh.derived)
        prepare_direct_check(fresh, fk, child);
    fresh.valid = true;

    // Entered only now: the lookups above may have run invalidations.
    key = static_cast<GuardedKey*>(hash_search(keys, &fk.conoid, HASH_ENTER, &found));
    if (found && key->plan != nullptr && running == 0)
        SPI_freeplan(key->plan);
    *key = fresh;
    return key;
}

// "Key (a, b)=(1, 2)", or "Key" when the role may not read those columns
// of the child (as PostgreSQL's own message does).
const char* key_text(Relation child, const ForeignKeyCacheInfo& fk, HeapTuple row)
{
    TupleDesc desc = RelationGetDescr(child);
    Oid relid = RelationGetRelid(child);
    bool may_read = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
    // Or every one of the key's columns.
    for (int i = 0; i < fk.nkeys && !may_read; i++) {
        if (pg_attribute_aclcheck(relid, fk.conkey[i], GetUserId(), ACL_SELECT) != ACLCHECK_OK)
            break;
        may_read = i == fk.nkeys - 1;
    }
    // A partition's rows are read through its partitioned table.
    if (!may_read && child->rd_rel->relispartition)
        may_read = pg_class_aclcheck(llast_oid(get_partition_ancestors(relid)), GetUserId(),
                                     ACL_SELECT) == ACLCHECK_OK;
    if (!may_read)
        return "Key";
    StringInfoData names, values;
    initStringInfo(&names);
    initStringInfo(&values);
    for (int i = 0; i < fk.nkeys; i++) {
        Form_pg_attribute att = TupleDescAttr(desc, fk.conkey[i] - 1);
        bool isnull = false;
        Datum value = heap_getattr(row, fk.conkey[i], desc, &isnull);
        Oid output;
        bool varlena;
        getTypeOutputInfo(att->atttypid, &output, &varlena);
        appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", NameStr(att->attname));
        appendStringInfo(&values, "%s%s", i > 0 ? ", " : "",
                         isnull ? "null" : OidOutputFunctionCall(output, value));
    }
    return psprintf("Key (%s)=(%s)", names.data, values.data);
}

[[noreturn]] void refuse(Relation child, const ForeignKeyCacheInfo& fk, const GuardedKey& key,
                         HeapTuple row)
{
    const char* parent = relation_display_name(fk.confrelid);
    ereport(ERROR,
            (errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
             errmsg("insert or update on table %s violates foreign key constraint \"%s\": the "
                    "referenced row of %s is soft-deleted",
                    relation_display_name(RelationGetRelid(child)), NameStr(key.conname), parent),
             errdetail("%s is soft-deleted in table \"%s\".", key_text(child, fk, row),
                       get_rel_name(fk.confrelid)),
             errhint("Restore the row of %s first, or reference a live one.", parent),
             errtableconstraint(child, NameStr(key.conname))));
    pg_unreachable();
}

// Does this write of row point fk at a new referenced row? NULL in any
// column: no reference (MATCH SIMPLE; MATCH FULL's partly NULL keys are
// refused by PostgreSQL's own check). An UPDATE that leaves the key as it
// was re-points nothing, as for PostgreSQL's check.
bool references_anew(const ForeignKeyCacheInfo& fk, TupleDesc desc, HeapTuple row,
                     HeapTuple old_row, Datum* values)
{
    for (int i = 0; i < fk.nkeys; i++) {
        bool isnull = false;
        values[i] = heap_getattr(row, fk.conkey[i], desc, &isnull);
        if (isnull)
            return false;
    }
    if (old_row == nullptr)
        return true;
    for (int i = 0; i < fk.nkeys; i++) {
        Form_pg_attribute att = TupleDescAttr(desc, fk.conkey[i] - 1);
        bool isnull = false;
        Datum old_value = heap_getattr(old_row, fk.conkey[i], desc, &isnull);
        if (isnull || !datum_image_eq(values[i], old_value, att->attbyval, att->attlen))
            return true;
    }
    return false;
}

// Reads the referenced row as the parent's owner; false when it exists and
// is soft-deleted.
bool referenced_row_live(const GuardedKey& key, Datum* values, Snapshot snapshot)
{
    Oid saved_user;
    int saved_context;
    GetUserIdAndSecContext(&saved_user, &saved_context);
    SetUserIdAndSecContext(key.parent_owner,
                           saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
    volatile int rc = 0;
    running++;
    PG_TRY();
    {
        rc = SPI_execute_snapshot(key.plan, values, nullptr, snapshot, InvalidSnapshot, true, false,
                                  1);
    }
    PG_FINALLY();
    {
        running--;
    }
    PG_END_TRY();
    SetUserIdAndSecContext(saved_user, saved_context);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "softdelete: the child guard's check failed: %s", SPI_result_code_string(rc));
    if (SPI_processed == 0)
        return true;
    bool isnull = false;
    Datum live = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
    return isnull || DatumGetBool(live);
}

// The direct check's index scans, kept open from one row to the next until
// the outermost statement ends: opening the two relations, a btree scan
// (whose state is several kilobytes) and a slot for every row cost about as
// much as the lookup itself. They belong to a resource owner of their own,
// a child of the transaction's, so that a subtransaction's end neither
// frees them under us nor complains about them; the transaction's end frees
// that owner with everything in it.
struct OpenProbe {
    Oid conoid;
    Relation parent;
    Relation index;
    IndexScanDesc scan;
    TupleTableSlot* slot;
};

constexpr int max_open_probes = 8;
OpenProbe open_probes[max_open_probes];
int n_open_probes = 0;
ResourceOwner probe_owner = nullptr;
MemoryContext probe_context = nullptr;
// A probe is in use: nothing may close it, and a check nested in its
// lookup (an operator's function can run a statement of its own) opens a
// scan of its own. probing_in is the subtransaction the lookup runs in.
bool probing = false;
SubTransactionId probing_in = InvalidSubTransactionId;
// A subtransaction ended in an error while a probe was in use: its scan
// state is not to be trusted; the probes are closed before the next use.
bool probes_suspect = false;

// Opens the parent, its index, a slot and a scan as the current resource
// owner, in the current memory context.
void open_scan(OpenProbe& probe, const GuardedKey& key, Snapshot snapshot)
{
    probe.conoid = key.conoid;
    probe.parent = table_open(key.confrelid, AccessShareLock);
    probe.index = index_open(key.index, AccessShareLock);
    probe.slot = table_slot_create(probe.parent, nullptr);
    // The snapshot is given again for every row (see look_up).
    probe.scan = index_beginscan(probe.parent, probe.index, snapshot, key.nkeys, 0);
}

void close_scan(const OpenProbe& probe)
{
    index_endscan(probe.scan);
    ExecDropSingleTupleTableSlot(probe.slot);
    index_close(probe.index, NoLock);
    table_close(probe.parent, NoLock);
}

void close_probes()
{
    if (n_open_probes == 0 || probing)
        return;
    ResourceOwner caller = CurrentResourceOwner;
    CurrentResourceOwner = probe_owner;
    for (int i = 0; i < n_open_probes; i++)
        close_scan(open_probes[i]);
    CurrentResourceOwner = caller;
    n_open_probes = 0;
    probes_suspect = false;
}

// The transaction's end releases and deletes the owner (a child of the
// transaction's) and the context; what is still open is closed before a
// commit, where a leftover pin or reference would be reported as a leak.
void on_transaction(XactEvent event, void*)
{
    switch (event) {
    case XACT_EVENT_PRE_COMMIT:
    case XACT_EVENT_PARALLEL_PRE_COMMIT:
    case XACT_EVENT_PRE_PREPARE:
        probing = false;
        close_probes();
        break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
    case XACT_EVENT_PREPARE:
        n_open_probes = 0;
        probing = false;
        probes_suspect = false;
        probe_owner = nullptr;
        probe_context = nullptr;
        break;
    }
}

// Only the subtransaction the lookup ran in ends it: one begun and rolled
// back inside it (by an operator's function) leaves the lookup going on.
void on_subtransaction(SubXactEvent event, SubTransactionId subxact, SubTransactionId, void*)
{
    if (event == SUBXACT_EVENT_ABORT_SUB && probing && subxact == probing_in) {
        probing = false;
        probes_suspect = true;
    }
}

// The open probe of key, opened when missing. Only while no probe is in
// use: the array may then be closed to make room.
OpenProbe& open_probe(const GuardedKey& key, Snapshot snapshot)
{
    if (probes_suspect)
        close_probes();
    for (int i = 0; i < n_open_probes; i++) {
        const OpenProbe& open = open_probes[i];
        if (open.conoid == key.conoid && RelationGetRelid(open.index) == key.index &&
            RelationGetRelid(open.parent) == key.confrelid)
            return open_probes[i];
    }
    if (n_open_probes == max_open_probes)
        close_probes();
    if (probe_owner == nullptr) {
        probe_owner = ResourceOwnerCreate(TopTransactionResourceOwner, "softdelete child guard");
        probe_context = AllocSetContextCreate(TopTransactionContext, "softdelete child guard",
                                              ALLOCSET_SMALL_SIZES);
    }
    ResourceOwner caller = CurrentResourceOwner;
    MemoryContext caller_context = MemoryContextSwitchTo(probe_context);
    CurrentResourceOwner = probe_owner;
    OpenProbe& probe = open_probes[n_open_probes];
    open_scan(probe, key, snapshot);
    n_open_probes++;
    CurrentResourceOwner = caller;
    MemoryContextSwitchTo(caller_context);
    return probe;
}

// Whether the row probe's scan finds for values is live.
bool look_up(OpenProbe& probe, const GuardedKey& key, const Datum* values, Snapshot snapshot)
{
    ScanKeyData scankeys[INDEX_MAX_KEYS];
    for (int k = 0; k < key.nkeys; k++) {
        scankeys[k] = key.scankeys[k];
        scankeys[k].sk_argument = values[key.value_of[k]];
    }
    // A scan reads with the snapshot it holds; each row has its own.
    probe.scan->xs_snapshot = snapshot;
    index_rescan(probe.scan, scankeys, key.nkeys, nullptr, 0);
    bool live = true;
    if (index_getnext_slot(probe.scan, ForwardScanDirection, probe.slot)) {
        bool isnull = false;
        slot_getattr(probe.slot, key.tombstone, &isnull);
        live = isnull;
    }
    ExecClearTuple(probe.slot);
    probe.scan->xs_snapshot = InvalidSnapshot;
    return live;
}

// The same as referenced_row_live, without planning or executing a query:
// the row is found through the unique index with the snapshot SPI would
// take. No privilege is checked and no row security applies, as for the
// parent's owner outside FORCE.
bool referenced_row_live_direct(const GuardedKey& key, const Datum* values, Snapshot taken)
{
    PushActiveSnapshot(taken);
    UpdateActiveSnapshotCommandId();
    Snapshot snapshot = GetActiveSnapshot();
    bool live;
    if (probing) {
        // A check inside another one's lookup (an operator's function ran a
        // statement): the open probes are in use, so this one has a scan
        // of its own, for this row only.
        OpenProbe own;
        open_scan(own, key, snapshot);
        live = look_up(own, key, values, snapshot);
        close_scan(own);
    } else {
        OpenProbe& probe = open_probe(key, snapshot);
        ResourceOwner caller = CurrentResourceOwner;
        CurrentResourceOwner = probe_owner;
        // In the probe's own context: the index AM keeps what it allocates
        // while scanning (btree's list of dead items to mark, made on the
        // first one it meets) with the scan, and frees it when the scan
        // ends. Allocated in the caller's per-row context, it was freed
        // under the open scan, which then read and freed it again at its
        // end: memory corruption that could even lose a later statement's
        // AFTER trigger events.
        MemoryContext caller_context = MemoryContextSwitchTo(probe_context);
        probing = true;
        probing_in = GetCurrentSubTransactionId();
        live = look_up(probe, key, values, snapshot);
        probing = false;
        MemoryContextSwitchTo(caller_context);
        CurrentResourceOwner = caller;
    }
    PopActiveSnapshot();
    return live;
}

void guard_row(Relation child, HeapTuple row, HeapTuple old_row)
{
    TupleDesc desc = RelationGetDescr(child);
    // A child row written as deleted is no live child.
    TableConfig child_cfg;
    if (table_config(RelationGetRelid(child), &child_cfg) &&
        !heap_attisnull(row, child_cfg.deleted_at, desc))
        return;
    // A copy: the relcache may rebuild its list while the checks run.
    auto* fkeys = static_cast<List*>(copyObjectImpl(RelationGetFKeyList(child)));
    bool connected = false;
    bool incremented = false;
    ListCell* lc;
    foreach (lc, fkeys) {
        auto* fk = static_cast<ForeignKeyCacheInfo*>(lfirst(lc));
        TableConfig parent_cfg;
        Datum values[INDEX_MAX_KEYS];
        if (!table_config(fk->confrelid, &parent_cfg) ||
            !references_anew(*fk, desc, row, old_row, values))
            continue;
        GuardedKey* key = guarded_key(*fk, child);
        if (key->derived)
            continue;
        // Invalidations during the check only mark the entry; it is rebuilt
        // (and its plan freed) by the next guarded_key() call alone.
        if (!key->direct && !connected) {
            if (SPI_connect() != SPI_OK_CONNECT)
                elog(ERROR, "SPI_connect failed");
            connected = true;
        }
        if (!key->direct && key->plan == nullptr)
            key->plan = prepare_check(*fk, child, *key);
        // Rows this statement wrote are visible to the check (once a row).
        if (!incremented) {
            CommandCounterIncrement();
            incremented = true;
        }
        auto live = [&](Snapshot snapshot) {
            return key->direct ? referenced_row_live_direct(*key, values, snapshot)
                               : referenced_row_live(*key, values, snapshot);
        };
        // The latest committed version decides: PostgreSQL's check locked it
        // FOR KEY SHARE, after any soft delete holding it committed.
        if (live(GetLatestSnapshot()))
            continue;
        // Under REPEATABLE READ a parent this transaction still sees live
        // was soft-deleted since: a serialization failure, as when
        // PostgreSQL cannot lock a row changed since the snapshot.
        if (IsolationUsesXactSnapshot() && live(GetTransactionSnapshot()))
            ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                            errmsg("could not serialize access due to concurrent update"),
                            errdetail("The row referenced in table %s was soft-deleted by a "
                                      "transaction that committed after this one began.",
                                      relation_display_name(fk->confrelid))));
        refuse(child, *fk, *key, row);
    }
    if (connected)
        SPI_finish();
    list_free_deep(fkeys);
}

} // namespace

// The guard's open index scans are closed when the outermost statement ends.
void end_child_guard_statement()
{
    close_probes();
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_guard_child);
Datum softdelete_guard_child(PG_FUNCTION_ARGS)
{
    TriggerData* trigger = softdelete::trigger_data(fcinfo, "softdelete_internal.guard_child()");
    TriggerEvent event = trigger->tg_event;
    if (!TRIGGER_FIRED_AFTER(event) || !TRIGGER_FIRED_FOR_ROW(event) ||
        !(TRIGGER_FIRED_BY_INSERT(event) || TRIGGER_FIRED_BY_UPDATE(event)))
        ereport(ERROR, (errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
                        errmsg("softdelete_internal.guard_child() must be an AFTER INSERT OR "
                               "UPDATE row trigger")));
    if (TRIGGER_FIRED_BY_UPDATE(event))
        softdelete::guard_row(trigger->tg_relation, trigger->tg_newtuple, trigger->tg_trigtuple);
    else
        softdelete::guard_row(trigger->tg_relation, trigger->tg_trigtuple, nullptr);
    return PointerGetDatum(nullptr);
}
}
