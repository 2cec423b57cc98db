// Foreign keys by referenced table. pg_constraint has no index on
// confrelid, so a lookup scans it whole (as PostgreSQL itself does to find
// the keys that reference a table); the cache keeps that to once per table
// between invalidations, with whether the table holds a foreign key itself
// (asked at the end of every soft delete, which a lock on the table cost).
#include "foreign_keys.hpp"

extern "C" {
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
}

namespace softdelete
{

namespace
{

struct CacheEntry {
    Oid parent; // hash key
    int count;
    ForeignKey* keys; // in CacheMemoryContext
    bool holds;       // parent itself holds a foreign key
};

HTAB* cache = nullptr;

// The elements of the int2[] or oid[] column attno of a pg_constraint
// tuple, at most INDEX_MAX_KEYS of them, converted by get; how many.
template <typename T>
int array_column(HeapTuple tuple, TupleDesc desc, int attno, Oid type, T (*get)(Datum), T* out)
{
    bool isnull = false;
    Datum d = heap_getattr(tuple, attno, desc, &isnull);
    if (isnull)
        return 0;
    int16 length;
    bool by_value;
    char align;
    get_typlenbyvalalign(type, &length, &by_value, &align);
    Datum* values;
    int n;
    deconstruct_array(DatumGetArrayTypeP(d), type, length, by_value, align, &values, nullptr, &n);
    for (int i = 0; i < n && i < INDEX_MAX_KEYS; i++)
        out[i] = get(values[i]);
    return n < INDEX_MAX_KEYS ? n : INDEX_MAX_KEYS;
}

AttrNumber attnum_of(Datum d)
{
    return DatumGetInt16(d);
}

Oid oid_of(Datum d)
{
    return DatumGetObjectId(d);
}

// Scans pg_constraint for the foreign keys referencing parent or, for a
// partitioned table, one of its partitions (a key may point at one).
List* read_foreign_keys(Oid parent)
{
    List* targets = get_rel_relkind(parent) == RELKIND_PARTITIONED_TABLE
                        ? find_all_inheritors(parent, AccessShareLock, nullptr)
                        : list_make1_oid(parent);
    Relation constraints = table_open(ConstraintRelationId, AccessShareLock);
    SysScanDesc scan = systable_beginscan(constraints, InvalidOid, false, nullptr, 0, nullptr);
    List* found = NIL;
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = systable_getnext(scan))) {
        auto* con = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tuple));
        if (con->contype != CONSTRAINT_FOREIGN || OidIsValid(con->conparentid) ||
            !list_member_oid(targets, con->confrelid))
            continue;
        auto* fk = static_cast<ForeignKey*>(palloc0(sizeof(ForeignKey)));
        fk->constraint = con->oid;
        fk->name = con->conname;
        fk->child = con->conrelid;
        fk->parent = con->confrelid;
        fk->on_delete = con->confdeltype;
        TupleDesc desc = RelationGetDescr(constraints);
        fk->nkeys = array_column(tuple, desc, Anum_pg_constraint_conkey, INT2OID, attnum_of,
                                 fk->child_columns);
        if (array_column(tuple, desc, Anum_pg_constraint_confkey, INT2OID, attnum_of,
                         fk->parent_columns) != fk->nkeys ||
            array_column(tuple, desc, Anum_pg_constraint_conpfeqop, OIDOID, oid_of, fk->pf_eq) !=
                fk->nkeys)
            fk->nkeys = 0;
        if (fk->nkeys > 0)
            found = lappend(found, fk);
    }
    systable_endscan(scan);
    table_close(constraints, AccessShareLock);
    return found;
}

CacheEntry* entry_for(Oid parent)
{
    if (cache == nullptr)
        cache = oid_hash("softdelete foreign keys", sizeof(CacheEntry), 64, CacheMemoryContext);
    bool found = false;
    auto* entry = static_cast<CacheEntry*>(hash_search(cache, &parent, HASH_FIND, &found));
    if (found)
        return entry;
    List* keys = read_foreign_keys(parent);
    // Whether it holds one itself is in its relcache entry.
    Relation rel = try_relation_open(parent, AccessShareLock);
    bool holds = rel != nullptr && RelationGetFKeyList(rel) != NIL;
    if (rel != nullptr)
        relation_close(rel, AccessShareLock);
    auto* copies = static_cast<ForeignKey*>(
        MemoryContextAlloc(CacheMemoryContext, sizeof(ForeignKey) * (list_length(keys) + 1)));
    int n = 0;
    ListCell* lc;
    foreach (lc, keys)
        copies[n++] = *static_cast<ForeignKey*>(lfirst(lc));
    list_free_deep(keys);
    // Entered only now: reading the catalog may have flushed the cache.
    entry = static_cast<CacheEntry*>(hash_search(cache, &parent, HASH_ENTER, &found));
    entry->count = n;
    entry->keys = copies;
    entry->holds = holds;
    return entry;
}

} // namespace

List* foreign_keys_to(Oid parent)
{
    CacheEntry* entry = entry_for(parent);
    List* out = NIL;
    for (int i = 0; i < entry->count; i++) {
        auto* fk = static_cast<ForeignKey*>(palloc(sizeof(ForeignKey)));
        *fk = entry->keys[i];
        out = lappend(out, fk);
    }
    return out;
}

List* foreign_keys_of(Oid child)
{
    Relation rel = relation_open(child, AccessShareLock);
    List* out = NIL;
    ListCell* lc;
    // The relcache keeps them, with their columns; copied before anything
    // else can rebuild the relcache entry.
    foreach (lc, RelationGetFKeyList(rel)) {
        auto* info = static_cast<ForeignKeyCacheInfo*>(lfirst(lc));
        auto* fk = static_cast<ForeignKey*>(palloc0(sizeof(ForeignKey)));
        fk->constraint = info->conoid;
        fk->child = info->conrelid;
        fk->parent = info->confrelid;
        fk->nkeys = info->nkeys;
        for (int i = 0; i < info->nkeys; i++) {
            fk->child_columns[i] = info->conkey[i];
            fk->parent_columns[i] = info->confkey[i];
            fk->pf_eq[i] = info->conpfeqop[i];
        }
        out = lappend(out, fk);
    }
    relation_close(rel, AccessShareLock);
    // Names and actions are in pg_constraint only.
    foreach (lc, out) {
        auto* fk = static_cast<ForeignKey*>(lfirst(lc));
        HeapTuple tuple = SearchSysCache1(CONSTROID, ObjectIdGetDatum(fk->constraint));
        if (!HeapTupleIsValid(tuple))
            continue;
        auto* con = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tuple));
        fk->name = con->conname;
        fk->on_delete = con->confdeltype;
        ReleaseSysCache(tuple);
    }
    return out;
}

bool referenced_by_foreign_key(Oid parent)
{
    return entry_for(parent)->count > 0;
}

bool in_any_foreign_key(Oid relid)
{
    CacheEntry* entry = entry_for(relid);
    return entry->count > 0 || entry->holds;
}

void forget_foreign_keys()
{
    if (cache == nullptr)
        return;
    HASH_SEQ_STATUS status;
    hash_seq_init(&status, cache);
    CacheEntry* entry;
    while ((entry = static_cast<CacheEntry*>(hash_seq_search(&status))) != nullptr) {
        pfree(entry->keys);
        hash_search(cache, &entry->parent, HASH_REMOVE, nullptr);
    }
}

} // namespace softdelete
