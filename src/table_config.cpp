// Reads softdelete.tables with an index scan (no SPI, so no planning and no
// recursion into our own planner hook) and caches the answer, negative ones
// included, until any relcache invalidation arrives.
#include "table_config.hpp"
#include "authorization.hpp"
#include "event_log.hpp"
#include "event_row.hpp"
#include "extension_objects.hpp"
#include "foreign_keys.hpp"

extern "C" {
#include "catalog/partition.h"
#include "utils/inval.h"
}

namespace softdelete
{

namespace
{

struct CacheEntry {
    Oid relid; // hash key
    bool enabled;
    TableConfig config;
};

HTAB* cache = nullptr;

void create_cache()
{
    cache = oid_hash("softdelete table configs", sizeof(CacheEntry), 64, CacheMemoryContext);
}

// Invalidations are cheap to honour: the cache holds a handful of entries.
void on_relcache_invalidation(Datum arg, Oid relid)
{
    (void)arg;
    forget_event_table(relid);
    forget_event_names(relid);
    forget_table_configs();
    forget_extension_objects();
    forget_foreign_keys();
}

// What a row of softdelete.tables says that the C side needs.
struct ConfigRow {
    NameData column;
    bool log_events;
    bool notify;
    bool cascade;
    int nkeys;
    NameData keys[INDEX_MAX_KEYS];
};

// key_columns, a name[], into row.
void read_key_columns(HeapTuple tuple, TupleDesc desc, ConfigRow* row)
{
    row->nkeys = 0;
    bool isnull = false;
    Datum d = config_value(tuple, desc, "key_columns", &isnull);
    if (isnull)
        return;
    Datum* names;
    int n;
    deconstruct_array(DatumGetArrayTypeP(d), NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, &names,
                      nullptr, &n);
    for (int k = 0; k < n && k < INDEX_MAX_KEYS; k++)
        namestrcpy(&row->keys[row->nkeys++], NameStr(*DatumGetName(names[k])));
}

// The value of column name in a row of softdelete.tables, or its default.
bool flag_of(HeapTuple tuple, TupleDesc desc, const char* name, bool otherwise)
{
    bool isnull = false;
    Datum d = config_value(tuple, desc, name, &isnull);
    return isnull ? otherwise : DatumGetBool(d);
}

bool read_config_row(Oid relid, ConfigRow* row)
{
    TupleDesc desc;
    HeapTuple tuple = config_row(relid, &desc);
    if (tuple == nullptr)
        return false;
    namestrcpy(&row->column, "deleted_at");
    bool isnull = false;
    Datum column = config_value(tuple, desc, "column_name", &isnull);
    if (!isnull)
        namestrcpy(&row->column, NameStr(*DatumGetName(column)));
    row->log_events = flag_of(tuple, desc, "log_events", true);
    row->notify = flag_of(tuple, desc, "notify", false);
    row->cascade = flag_of(tuple, desc, "cascade", true);
    read_key_columns(tuple, desc, row);
    heap_freetuple(tuple);
    FreeTupleDesc(desc);
    return true;
}

void fill_config(TableConfig* config, Oid relid, Oid root, const ConfigRow& row)
{
    config->relid = relid;
    config->root = root;
    config->deleted_at = get_attnum(relid, NameStr(row.column));
    config->deleted_by = get_attnum(relid, "deleted_by");
    config->delete_reason = get_attnum(relid, "delete_reason");
    config->delete_op = get_attnum(relid, "delete_op");
    config->deleted_at_type = get_atttype(relid, config->deleted_at);
    config->log_events = row.log_events;
    config->notify = row.notify;
    config->cascade = row.cascade;
    config->nkeys = 0;
    for (int k = 0; k < row.nkeys; k++) {
        AttrNumber attno = get_attnum(relid, NameStr(row.keys[k]));
        if (attno != InvalidAttrNumber)
            config->keys[config->nkeys++] = attno;
    }
}

} // namespace

HeapTuple config_row(Oid relid, TupleDesc* desc)
{
    Oid table_oid = extension_table("tables");
    if (!OidIsValid(table_oid))
        return nullptr;
    Relation rel = table_open(table_oid, AccessShareLock);
    Oid index_oid = RelationGetPrimaryKeyIndex(rel);
    HeapTuple copy = nullptr;
    if (OidIsValid(index_oid)) {
        ScanKeyData key;
        ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
        SysScanDesc scan = systable_beginscan(rel, index_oid, true, nullptr, 1, &key);
        HeapTuple tuple = systable_getnext(scan);
        if (HeapTupleIsValid(tuple)) {
            copy = heap_copytuple(tuple);
            *desc = CreateTupleDescCopy(RelationGetDescr(rel));
        }
        systable_endscan(scan);
    }
    table_close(rel, AccessShareLock);
    return copy;
}

Datum config_value(HeapTuple tuple, TupleDesc desc, const char* name, bool* isnull)
{
    for (int i = 0; i < desc->natts; i++) {
        if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0)
            return heap_getattr(tuple, i + 1, desc, isnull);
    }
    *isnull = true;
    return (Datum)0;
}

List* enabled_tables()
{
    Oid config_table = extension_table("tables");
    if (!OidIsValid(config_table))
        return NIL;
    Relation rel = table_open(config_table, AccessShareLock);
    SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, nullptr, 0, nullptr);
    List* relids = NIL;
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = systable_getnext(scan))) {
        bool isnull = false;
        // relid, the table's first column, keys every row.
        Datum relid = heap_getattr(tuple, 1, RelationGetDescr(rel), &isnull);
        if (!isnull)
            relids = lappend_oid(relids, DatumGetObjectId(relid));
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return relids;
}

bool extension_present()
{
    return OidIsValid(extension_table("tables"));
}

bool table_config(Oid relid, TableConfig* out)
{
    if (cache == nullptr)
        create_cache();
    bool found = false;
    auto* entry = static_cast<CacheEntry*>(hash_search(cache, &relid, HASH_FIND, &found));
    if (found) {
        if (entry->enabled)
            *out = entry->config;
        return entry->enabled;
    }

    ConfigRow row;
    Oid root = InvalidOid;
    if (read_config_row(relid, &row)) {
        root = relid;
    } else if (get_rel_relispartition(relid)) {
        List* ancestors = get_partition_ancestors(relid);
        ListCell* lc;
        foreach (lc, ancestors) {
            Oid ancestor = lfirst_oid(lc);
            if (read_config_row(ancestor, &row)) {
                root = ancestor;
                break;
            }
        }
        list_free(ancestors);
    }

    TableConfig config;
    memset(&config, 0, sizeof config);
    bool enabled = OidIsValid(root);
    if (enabled) {
        fill_config(&config, relid, root, row);
        enabled = config.deleted_at != InvalidAttrNumber;
    }
    // Entered only now: the lookups above may have flushed the cache.
    entry = static_cast<CacheEntry*>(hash_search(cache, &relid, HASH_ENTER, &found));
    entry->enabled = enabled;
    entry->config = config;
    if (enabled)
        *out = config;
    return enabled;
}

void require_table_config(Relation rel, TableConfig* out)
{
    if (table_config(RelationGetRelid(rel), out))
        return;
    const char* name = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
                                                  RelationGetRelationName(rel));
    ereport(ERROR,
            (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
             errmsg("table %s carries soft delete enforcement but has no configuration", name),
             errdetail("Its row in softdelete.tables is missing, so softdelete cannot tell what "
                       "a change to it means; nothing was changed."),
             errhint("Call softdelete.enable('%s') to repair the configuration.", name)));
}

void require_enabled_table(Oid relid, TableConfig* out)
{
    if (table_config(relid, out) && out->relid == out->root &&
        out->deleted_at != InvalidAttrNumber && out->deleted_by != InvalidAttrNumber)
        return;
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("table %s is not enabled for soft delete", relation_display_name(relid)),
                    errhint("Call softdelete.enable() on it first.")));
}

Oid table_config_root(Oid relid)
{
    TableConfig config;
    return table_config(relid, &config) ? config.root : relid;
}

void forget_table_configs()
{
    if (cache == nullptr)
        return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, cache);
    CacheEntry* entry;
    while ((entry = static_cast<CacheEntry*>(hash_seq_search(&status))) != nullptr)
        hash_search(cache, &entry->relid, HASH_REMOVE, nullptr);
}

void register_config_invalidation()
{
    CacheRegisterRelcacheCallback(on_relcache_invalidation, (Datum)0);
}

} // namespace softdelete
