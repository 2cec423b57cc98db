// The unique indexes enable() makes unique among live rows only: read from
// pg_index and pg_constraint as data (the predicate as a node tree, see
// index_predicate.cpp), for the plan and for
// softdelete_internal.uniques_to_convert(tbl, col), which the partition
// event trigger uses.
#include "catalog.hpp"
#include "extension_objects.hpp"

extern "C" {
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
}

namespace softdelete
{

namespace
{

struct UniqueIndex {
    Oid index;
    NameData name;
    bool referenced;     // a foreign key depends on it
    bool deferrable;     // its unique constraint is deferrable
    NameData constraint; // that constraint's name, when there is one
};

// A unique constraint made live-only leaves a trigger of its name in its
// place (add_constraint_placeholder()), on the table and, cloned, on each
// partition: the name must be free there, and not one of softdelete's own
// trigger names, which the drift guard and disable() tell by their prefix.
// Checked while planning, so that the dry run refuses it too.
void check_placeholder_name(Oid relid, const char* constraint)
{
    if (strncmp(constraint, "softdelete_", strlen("softdelete_")) == 0)
        ereport(ERROR, (errcode(ERRCODE_RESERVED_NAME),
                        errmsg("unique constraint %s of %s has a name that softdelete keeps for "
                               "its own triggers",
                               quote_identifier(constraint), relation_text(relid)),
                        errdetail("enable() puts a trigger of the constraint's name in its place, "
                                  "so that ON CONFLICT ON CONSTRAINT keeps working."),
                        errhint("Rename the constraint (ALTER TABLE ... RENAME CONSTRAINT).")));
    List* relations = lcons_oid(relid, partitions_of(relid));
    ListCell* lc;
    foreach (lc, relations) {
        Oid rel = lfirst_oid(lc);
        Oid function = trigger_function(rel, constraint);
        if (OidIsValid(function) &&
            function != internal_function_oid("unique_constraint_placeholder", 0, nullptr))
            ereport(ERROR,
                    (errcode(ERRCODE_DUPLICATE_OBJECT),
                     errmsg("unique constraint %s of %s has the name of trigger %s on %s",
                            quote_identifier(constraint), relation_text(relid),
                            quote_identifier(constraint), relation_text(rel)),
                     errdetail("enable() puts a trigger of the constraint's name in its place, "
                               "so that ON CONFLICT ON CONSTRAINT keeps working."),
                     errhint("Rename the constraint (ALTER TABLE ... RENAME CONSTRAINT) or the "
                             "trigger (ALTER TRIGGER ... RENAME TO).")));
    }
}

int by_name(const ListCell* a, const ListCell* b)
{
    return strcmp(NameStr(static_cast<UniqueIndex*>(lfirst(a))->name),
                  NameStr(static_cast<UniqueIndex*>(lfirst(b))->name));
}

// relid's unique indexes except the primary key, by name.
List* unique_indexes(Oid relid)
{
    Relation catalog = table_open(IndexRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_index_indrelid, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(relid));
    SysScanDesc scan = systable_beginscan(catalog, IndexIndrelidIndexId, true, nullptr, 1, &key);
    List* found = NIL;
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = systable_getnext(scan))) {
        auto* form = reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple));
        if (!form->indisunique || form->indisprimary)
            continue;
        auto* index = static_cast<UniqueIndex*>(palloc0(sizeof(UniqueIndex)));
        index->index = form->indexrelid;
        found = lappend(found, index);
    }
    systable_endscan(scan);
    table_close(catalog, AccessShareLock);
    ListCell* lc;
    foreach (lc, found) {
        auto* index = static_cast<UniqueIndex*>(lfirst(lc));
        namestrcpy(&index->name, get_rel_name(index->index));
    }
    list_sort(found, by_name);
    return found;
}

// Marks the indexes a foreign key depends on, and those of relid's unique
// constraints. pg_constraint has no index on conindid: one scan for all.
void read_constraints(Oid relid, List* indexes)
{
    Relation catalog = table_open(ConstraintRelationId, AccessShareLock);
    SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, nullptr, 0, nullptr);
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = systable_getnext(scan))) {
        auto* con = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tuple));
        ListCell* lc;
        foreach (lc, indexes) {
            auto* index = static_cast<UniqueIndex*>(lfirst(lc));
            if (con->conindid != index->index)
                continue;
            if (con->contype == CONSTRAINT_FOREIGN)
                index->referenced = true;
            if (con->contype == CONSTRAINT_UNIQUE && con->conrelid == relid) {
                index->deferrable = con->condeferrable;
                index->constraint = con->conname;
            }
        }
    }
    systable_endscan(scan);
    table_close(catalog, AccessShareLock);
}

} // namespace

List* uniques_to_convert(Oid relid, const char* column)
{
    List* indexes = unique_indexes(relid);
    read_constraints(relid, indexes);
    List* convert = NIL;
    ListCell* lc;
    foreach (lc, indexes) {
        auto* index = static_cast<UniqueIndex*>(lfirst(lc));
        Relation rel = index_open(index->index, AccessShareLock);
        bool live_only = index_is_live_only(rel, column);
        index_close(rel, AccessShareLock);
        if (live_only)
            continue; // ours, or written that way by hand
        if (index->referenced) {
            ereport(WARNING,
                    (errcode(ERRCODE_WARNING),
                     errmsg("unique index %s of %s is kept as it is: a foreign key references it",
                            NameStr(index->name), relation_text(relid)),
                     errdetail("Deleted rows still take part in its uniqueness."),
                     errhint("Point the foreign key at the primary key to make the index "
                             "live-only.")));
            continue;
        }
        if (index->deferrable) {
            ereport(WARNING,
                    (errcode(ERRCODE_WARNING),
                     errmsg("unique constraint %s of %s is kept as it is: it is deferrable",
                            NameStr(index->constraint), relation_text(relid)),
                     errdetail("A partial unique index cannot be deferred.")));
            continue;
        }
        if (NameStr(index->constraint)[0] != '\0')
            check_placeholder_name(relid, NameStr(index->constraint));
        convert = lappend_oid(convert, index->index);
    }
    return convert;
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_uniques_to_convert);
Datum softdelete_uniques_to_convert(PG_FUNCTION_ARGS)
{
    InitMaterializedSRF(fcinfo, 0);
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        return (Datum)0;
    Oid relid = PG_GETARG_OID(0);
    char relkind = get_rel_relkind(relid);
    if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
        relkind != RELKIND_MATVIEW)
        return (Datum)0;
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    List* indexes = softdelete::uniques_to_convert(relid, NameStr(*PG_GETARG_NAME(1)));
    ListCell* lc;
    foreach (lc, indexes) {
        NameData name;
        namestrcpy(&name, get_rel_name(lfirst_oid(lc)));
        Datum values[2] = {ObjectIdGetDatum(lfirst_oid(lc)), NameGetDatum(&name)};
        bool nulls[2] = {false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}
}
