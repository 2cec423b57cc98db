// softdelete_internal.referencing_tables(tbl): the foreign-key graph one step
// down from tbl (foreign_keys.cpp reads it, for the cascade too): each foreign key that
// references tbl (or one of its partitions), with the table that holds it,
// its columns in key order and its ON DELETE action (confdeltype). A
// partitioned table stands for its partitions on both ends: a key declared
// on a partition is reported for its partitioned table, and the copies
// PostgreSQL keeps of a partitioned table's key on each partition
// (conparentid set) are left out, so each key comes once.
#include "catalog.hpp"
#include "extension_objects.hpp"
#include "foreign_keys.hpp"

extern "C" {
#include "catalog/partition.h"
#include "catalog/pg_constraint.h"
}

namespace
{

// "{a,b}": the names of columns attnums of relid.
Datum column_names(Oid relid, const AttrNumber* attnums, int count)
{
    auto* names = static_cast<Datum*>(palloc(sizeof(Datum) * (count > 0 ? count : 1)));
    for (int i = 0; i < count; i++) {
        Name name = static_cast<Name>(palloc0(NAMEDATALEN));
        namestrcpy(name, get_attname(relid, attnums[i], false));
        names[i] = NameGetDatum(name);
    }
    return PointerGetDatum(
        construct_array(names, count, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
}

} // namespace

Oid softdelete::partition_root(Oid relid)
{
    if (!get_rel_relispartition(relid))
        return relid;
    List* ancestors = get_partition_ancestors(relid);
    return ancestors == NIL ? relid : llast_oid(ancestors);
}

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_referencing_tables);
Datum softdelete_referencing_tables(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a table is required")));
    Oid relid = PG_GETARG_OID(0);
    softdelete::require_relation(relid);
    InitMaterializedSRF(fcinfo, 0);
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    List* keys = softdelete::foreign_keys_to(relid);
    ListCell* lc;
    foreach (lc, keys) {
        auto* fk = static_cast<softdelete::ForeignKey*>(lfirst(lc));
        Datum values[4];
        bool nulls[4] = {false, false, false, false};
        values[0] = ObjectIdGetDatum(softdelete::partition_root(fk->child));
        values[1] = NameGetDatum(&fk->name);
        values[2] = column_names(fk->child, fk->child_columns, fk->nkeys);
        values[3] = CharGetDatum(fk->on_delete);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}
}
