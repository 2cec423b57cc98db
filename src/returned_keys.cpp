// See returned_keys.hpp. A purge batch removes up to batch_size rows in one
// statement and must log the key of each. Returning each key as text and
// aggregating them in SQL (a CTE's tuplestore, a cast and string_agg per
// row) cost about as much as removing the rows: here a DestReceiver takes
// the key columns' values from each returned row and writes them straight
// into the list the event log keeps, integers without a text round trip.
#include "event_log.hpp"
#include "owner_statement.hpp"
#include "returned_keys.hpp"

extern "C" {
#include "tcop/dest.h"
#include "utils/typcache.h"
}

namespace softdelete
{

namespace
{

struct KeyReceiver {
    DestReceiver dest; // first: the executor knows only this part
    MemoryContext context;
    const TableConfig* cfg;
    bool newest;
    bool counts_archive;
    int64 archived;
    KeyFormat* format;
    StringInfoData keys;
    int64 rows;
    // The greatest value of the column after the keys so far.
    FmgrInfo compare;
    Oid at_collation;
    int16 at_len;
    bool at_byval;
    Oid at_output;
    bool has_at;
    Datum at;
};

KeyReceiver* receiver_of(DestReceiver* self)
{
    return reinterpret_cast<KeyReceiver*>(self);
}

void receiver_startup(DestReceiver* self, int operation, TupleDesc typeinfo)
{
    (void)operation;
    KeyReceiver* r = receiver_of(self);
    const TableConfig& cfg = *r->cfg;
    int natts = cfg.nkeys + (r->newest ? 1 : 0) + (r->counts_archive ? 1 : 0);
    if (typeinfo->natts != natts)
        elog(ERROR, "softdelete's purge statement returned %d columns, not %d", typeinfo->natts,
             natts);
    // The types are the returned columns' own: an archive's key column
    // keeps the type it was made with.
    Oid types[INDEX_MAX_KEYS];
    for (int k = 0; k < cfg.nkeys; k++)
        types[k] = TupleDescAttr(typeinfo, k)->atttypid;
    r->format = make_key_format(r->context, cfg, types);
    if (r->newest) {
        Form_pg_attribute att = TupleDescAttr(typeinfo, cfg.nkeys);
        TypeCacheEntry* type = lookup_type_cache(att->atttypid, TYPECACHE_CMP_PROC_FINFO);
        if (!OidIsValid(type->cmp_proc_finfo.fn_oid))
            elog(ERROR, "softdelete cannot order values of type %s", format_type_be(att->atttypid));
        fmgr_info_copy(&r->compare, &type->cmp_proc_finfo, r->context);
        r->at_collation = att->attcollation;
        r->at_len = att->attlen;
        r->at_byval = att->attbyval;
        bool varlena;
        getTypeOutputInfo(att->atttypid, &r->at_output, &varlena);
    }
}

bool receiver_receive(TupleTableSlot* slot, DestReceiver* self)
{
    KeyReceiver* r = receiver_of(self);
    int nkeys = r->cfg->nkeys;
    int count_at = nkeys + (r->newest ? 1 : 0);
    slot_getsomeattrs(slot, count_at + (r->counts_archive ? 1 : 0));
    if (r->counts_archive && !slot->tts_isnull[count_at])
        r->archived = DatumGetInt64(slot->tts_values[count_at]);
    if (r->keys.len > 0)
        appendBinaryStringInfo(&r->keys, ", ", 2);
    append_key(&r->keys, r->format, slot->tts_values, slot->tts_isnull);
    r->rows++;
    if (r->newest && !slot->tts_isnull[nkeys]) {
        Datum value = slot->tts_values[nkeys];
        if (!r->has_at ||
            DatumGetInt32(FunctionCall2Coll(&r->compare, r->at_collation, value, r->at)) > 0) {
            if (r->has_at && !r->at_byval)
                pfree(DatumGetPointer(r->at));
            MemoryContext old = MemoryContextSwitchTo(r->context);
            r->at = datumCopy(value, r->at_byval, r->at_len);
            MemoryContextSwitchTo(old);
            r->has_at = true;
        }
    }
    return true;
}

void receiver_shutdown(DestReceiver* self)
{
    (void)self;
}

void receiver_destroy(DestReceiver* self)
{
    (void)self;
}

} // namespace

ReturnedKeys run_returning_keys(Oid owner, const TableConfig& cfg, const char* sql, int nargs,
                                Oid* types, Datum* values, bool hard_delete, bool newest,
                                bool counts_archive)
{
    auto* r = static_cast<KeyReceiver*>(palloc0(sizeof(KeyReceiver)));
    r->dest.receiveSlot = receiver_receive;
    r->dest.rStartup = receiver_startup;
    r->dest.rShutdown = receiver_shutdown;
    r->dest.rDestroy = receiver_destroy;
    r->dest.mydest = DestNone;
    r->context = CurrentMemoryContext;
    r->cfg = &cfg;
    r->newest = newest;
    r->counts_archive = counts_archive;
    initStringInfo(&r->keys);
    (void)run_as_owner_into(owner, sql, nargs, types, values, hard_delete, &r->dest);
    ReturnedKeys out = {r->rows, r->keys.data, nullptr, true, nullptr, r->archived};
    if (r->has_at)
        out.newest = OidOutputFunctionCall(r->at_output, r->at);
    return out;
}

} // namespace softdelete
