// The target's own facts for enable()'s plan: its name, its columns' types,
// its primary key, its partitions, the parents it inherits from and the
// index on its deleted rows. Read from syscache and catalog index scans (not
// SPI), so that the plan is data read once, before anything changes.
#include "catalog.hpp"
#include "table_config.hpp"

extern "C" {
#include "catalog/pg_inherits.h"
#include "catalog/pg_index.h"
#include "commands/defrem.h"
#include "mb/pg_wchar.h"
#include "utils/datetime.h"
}

namespace softdelete
{

const char* relation_text(Oid relid)
{
    return DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(relid)));
}

Oid column_type(Oid relid, const char* name)
{
    AttrNumber attnum = get_attnum(relid, name);
    return attnum > 0 ? get_atttype(relid, attnum) : InvalidOid;
}

const char* unfit_tombstone_column(Oid relid, const char* name)
{
    HeapTuple tuple = SearchSysCacheAttName(relid, name);
    if (!HeapTupleIsValid(tuple))
        return nullptr;
    auto* att = reinterpret_cast<Form_pg_attribute>(GETSTRUCT(tuple));
    const char* why = nullptr;
    if (att->attgenerated != '\0')
        why = "a generated column";
    else if (att->attidentity != '\0')
        why = "an identity column";
    else if (att->attnotnull)
        why = "NOT NULL";
    else if (att->atthasdef)
        why = "a column with a default";
    // timestamp(6) is what a timestamp without precision stores (Rails
    // makes its columns so); a shorter precision or a length would take a
    // stamp, an actor or a reason that does not fit.
    else if (att->atttypmod >= 0 &&
             !((att->atttypid == TIMESTAMPTZOID || att->atttypid == TIMESTAMPOID) &&
               att->atttypmod >= MAX_TIMESTAMP_PRECISION))
        why = psprintf("of type %s, whose precision or length limits what it holds",
                       format_type_with_typemod(att->atttypid, att->atttypmod));
    ReleaseSysCache(tuple);
    return why;
}

List* key_column_names(Oid relid)
{
    Relation rel = relation_open(relid, AccessShareLock);
    Oid index_oid = RelationGetPrimaryKeyIndex(rel);
    relation_close(rel, AccessShareLock);
    if (!OidIsValid(index_oid))
        return NIL;
    HeapTuple tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index_oid));
    if (!HeapTupleIsValid(tuple))
        return NIL;
    auto* index = reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple));
    List* names = NIL;
    // Every column of the index, INCLUDE columns too, as pg_index.indkey
    // lists them.
    for (int i = 0; i < index->indnatts; i++)
        names = lappend(names, get_attname(relid, index->indkey.values[i], false));
    ReleaseSysCache(tuple);
    return names;
}

ArrayType* name_array(List* names)
{
    int n = list_length(names);
    auto* datums = static_cast<Datum*>(palloc(sizeof(Datum) * (n > 0 ? n : 1)));
    for (int i = 0; i < n; i++) {
        Name name = static_cast<Name>(palloc0(NAMEDATALEN));
        namestrcpy(name, static_cast<char*>(list_nth(names, i)));
        datums[i] = NameGetDatum(name);
    }
    return construct_array(datums, n, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR);
}

List* partitions_of(Oid relid)
{
    if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
        return NIL;
    // Breadth first, siblings by OID: pg_partition_tree's order.
    return list_delete_first(find_all_inheritors(relid, AccessShareLock, nullptr));
}

namespace
{

// The first of relations that softdelete.tables has no row for, or whose
// row names a tombstone column other than column (then *other is that
// column; else it stays null).
Oid first_unlike(List* relations, const char* column, const char** other)
{
    ListCell* lc;
    foreach (lc, relations) {
        TupleDesc desc;
        HeapTuple row = config_row(lfirst_oid(lc), &desc);
        if (row == nullptr)
            return lfirst_oid(lc);
        bool isnull;
        Datum value = config_value(row, desc, "column_name", &isnull);
        const char* theirs = isnull ? "" : pstrdup(NameStr(*DatumGetName(value)));
        heap_freetuple(row);
        FreeTupleDesc(desc);
        if (strcmp(theirs, column) != 0) {
            *other = theirs;
            return lfirst_oid(lc);
        }
    }
    return InvalidOid;
}

} // namespace

Oid parent_unlike(Oid relid, const char* column, const char** other)
{
    if (get_rel_relispartition(relid))
        return InvalidOid;
    Relation inherits = table_open(InheritsRelationId, AccessShareLock);
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
                ObjectIdGetDatum(relid));
    SysScanDesc scan =
        systable_beginscan(inherits, InheritsRelidSeqnoIndexId, true, nullptr, 1, &key);
    List* parents = NIL;
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = systable_getnext(scan)))
        parents =
            lappend_oid(parents, reinterpret_cast<Form_pg_inherits>(GETSTRUCT(tuple))->inhparent);
    systable_endscan(scan);
    table_close(inherits, AccessShareLock);
    return first_unlike(parents, column, other);
}

Oid child_unlike(Oid relid, const char* column, const char** other)
{
    // A partitioned table's children are its partitions, which its own row
    // covers.
    if (get_rel_relkind(relid) != RELKIND_RELATION)
        return InvalidOid;
    return first_unlike(find_inheritance_children(relid, AccessShareLock), column, other);
}

namespace
{

// Is the predicate of index exactly "column IS NOT NULL" on attnum?
bool only_not_null_on(Relation index, AttrNumber attnum)
{
    List* predicate = RelationGetIndexPredicate(index);
    if (list_length(predicate) != 1 || !IsA(linitial(predicate), NullTest))
        return false;
    auto* test = static_cast<NullTest*>(linitial(predicate));
    return test->nulltesttype == IS_NOT_NULL && test->arg != nullptr && IsA(test->arg, Var) &&
           reinterpret_cast<Var*>(test->arg)->varattno == attnum;
}

} // namespace

Oid deleted_rows_index(Oid relid, const char* column)
{
    AttrNumber attnum = get_attnum(relid, column);
    if (attnum <= 0)
        return InvalidOid;
    Relation rel = relation_open(relid, AccessShareLock);
    List* indexes = RelationGetIndexList(rel);
    relation_close(rel, AccessShareLock);
    Oid found = InvalidOid;
    ListCell* lc;
    foreach (lc, indexes) {
        Relation index = index_open(lfirst_oid(lc), AccessShareLock);
        Form_pg_index form = index->rd_index;
        if (form->indnatts == 1 && !form->indisunique && form->indkey.values[0] == attnum &&
            only_not_null_on(index, attnum))
            found = RelationGetRelid(index);
        index_close(index, AccessShareLock);
        if (OidIsValid(found))
            break;
    }
    return found;
}

const char* deleted_rows_index_name(Oid relid, const char* column, List** taken)
{
    // <table>_<column>_deleted, the table's name cut (at a character
    // boundary) so that the rest fits. Two long table names alike in their
    // first characters come to the same name: the second gets a number, as
    // an index created without a name would, also when the first is only
    // planned (one enable() of a parent and the tables that reference it).
    Oid namespace_oid = get_rel_namespace(relid);
    const char* table = get_rel_name(relid);
    for (int n = 0;; n++) {
        char label[NAMEDATALEN];
        if (n == 0)
            strlcpy(label, "deleted", sizeof label);
        else
            snprintf(label, sizeof label, "deleted%d", n);
        char* name = makeObjectName(table, column, label);
        char* key = psprintf("%u.%s", namespace_oid, name);
        bool planned = false;
        ListCell* lc;
        foreach (lc, *taken)
            planned = planned || strcmp(static_cast<char*>(lfirst(lc)), key) == 0;
        if (!planned && !OidIsValid(get_relname_relid(name, namespace_oid))) {
            *taken = lappend(*taken, key);
            return name;
        }
    }
}

} // namespace softdelete

namespace
{

// A table's columns and indexes are asked about: anything else has none.
bool is_table(Oid relid)
{
    char relkind = get_rel_relkind(relid);
    return relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE;
}

} // namespace

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_deleted_rows_index);
Datum softdelete_deleted_rows_index(PG_FUNCTION_ARGS)
{
    Oid relid = PG_GETARG_OID(0);
    Oid index = is_table(relid) ? softdelete::deleted_rows_index(relid, NameStr(*PG_GETARG_NAME(1)))
                                : InvalidOid;
    if (!OidIsValid(index))
        PG_RETURN_NULL();
    PG_RETURN_OID(index);
}

PG_FUNCTION_INFO_V1(softdelete_key_columns);
Datum softdelete_key_columns(PG_FUNCTION_ARGS)
{
    Oid relid = PG_GETARG_OID(0);
    List* names = is_table(relid) ? softdelete::key_column_names(relid) : NIL;
    if (names == NIL)
        PG_RETURN_NULL();
    PG_RETURN_ARRAYTYPE_P(softdelete::name_array(names));
}
}
