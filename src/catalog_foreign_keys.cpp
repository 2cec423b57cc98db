// softdelete_internal.referencing_tables(tbl): the foreign-key graph one step
// down from tbl, read from pg_constraint's arrays: each foreign key that
// references tbl (or one of its partitions), with the table that holds it,
// its columns in key order and its ON DELETE action (confdeltype). A
// partitioned table stands for its partitions on both ends: a key declared
// on a partition is reported for its partitioned table, and the copies
// PostgreSQL keeps of a partitioned table's key on each partition
// (conparentid set) are left out, so each key comes once.
#include "pg.hpp"

extern "C" {
#include "catalog/partition.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_inherits.h"
}

namespace
{

// relid, or the top of the partition tree it belongs to.
Oid partition_root(Oid relid)
{
    if (!get_rel_relispartition(relid))
        return relid;
    List* ancestors = get_partition_ancestors(relid);
    return ancestors == NIL ? relid : llast_oid(ancestors);
}

// "{a,b}": the names of columns attnums of relid.
Datum column_names(Oid relid, Datum attnums)
{
    Datum* elems;
    int count;
    deconstruct_array(DatumGetArrayTypeP(attnums), INT2OID, sizeof(int16), true, TYPALIGN_SHORT,
                      &elems, nullptr, &count);
    auto* names = static_cast<Datum*>(palloc(sizeof(Datum) * (count > 0 ? count : 1)));
    for (int i = 0; i < count; i++) {
        Name name = static_cast<Name>(palloc0(NAMEDATALEN));
        namestrcpy(name, get_attname(relid, DatumGetInt16(elems[i]), false));
        names[i] = NameGetDatum(name);
    }
    return PointerGetDatum(
        construct_array(names, count, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR));
}

} // namespace

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_referencing_tables);
Datum softdelete_referencing_tables(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a table is required")));
    Oid relid = PG_GETARG_OID(0);
    if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("relation with OID %u does not exist", relid)));
    InitMaterializedSRF(fcinfo, 0);
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    // tbl and its partitions at every depth: keys may point at any of them.
    List* targets = find_all_inheritors(relid, AccessShareLock, nullptr);

    // pg_constraint has no index on confrelid: PostgreSQL itself scans it
    // whole to find the keys that reference a table.
    Relation constraints = table_open(ConstraintRelationId, AccessShareLock);
    SysScanDesc scan = systable_beginscan(constraints, InvalidOid, false, nullptr, 0, nullptr);
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = systable_getnext(scan))) {
        auto* con = (Form_pg_constraint)GETSTRUCT(tuple);
        if (con->contype != CONSTRAINT_FOREIGN || OidIsValid(con->conparentid) ||
            !list_member_oid(targets, con->confrelid))
            continue;
        bool isnull;
        Datum conkey =
            heap_getattr(tuple, Anum_pg_constraint_conkey, RelationGetDescr(constraints), &isnull);
        if (isnull)
            continue;
        Datum values[4];
        bool nulls[4] = {false, false, false, false};
        values[0] = ObjectIdGetDatum(partition_root(con->conrelid));
        values[1] = NameGetDatum(&con->conname);
        values[2] = column_names(con->conrelid, conkey);
        values[3] = CharGetDatum(con->confdeltype);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    systable_endscan(scan);
    table_close(constraints, AccessShareLock);
    return (Datum)0;
}
}
