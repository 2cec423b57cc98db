// softdelete_internal.index_is_live_only(idx, col): is a unique index already
// unique among live rows only? Read from the index's predicate as an
// expression (the implicitly ANDed conditions PostgreSQL keeps), never from
// its text: "legacy_deleted_at IS NULL" contains "deleted_at IS NULL" as text
// but says nothing about the deleted_at column.
#include "catalog.hpp"

namespace softdelete
{

bool index_is_live_only(Relation index, const char* column)
{
    AttrNumber attno = get_attnum(index->rd_index->indrelid, column);
    if (attno == InvalidAttrNumber)
        return false;
    ListCell* lc;
    foreach (lc, RelationGetIndexPredicate(index)) {
        auto* test = static_cast<Node*>(lfirst(lc));
        if (!IsA(test, NullTest))
            continue;
        auto* nt = reinterpret_cast<NullTest*>(test);
        if (nt->nulltesttype == IS_NULL && nt->arg != nullptr && IsA(nt->arg, Var) &&
            reinterpret_cast<Var*>(nt->arg)->varattno == attno)
            return true;
    }
    return false;
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_index_is_live_only);
Datum softdelete_index_is_live_only(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        PG_RETURN_NULL();
    Oid index_oid = PG_GETARG_OID(0);
    const char* column = NameStr(*PG_GETARG_NAME(1));
    Relation index = try_relation_open(index_oid, AccessShareLock);
    if (index == nullptr)
        PG_RETURN_NULL();
    if (index->rd_rel->relkind != RELKIND_INDEX &&
        index->rd_rel->relkind != RELKIND_PARTITIONED_INDEX)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("\"%s\" is not an index", RelationGetRelationName(index))));
    bool live_only = softdelete::index_is_live_only(index, column);
    relation_close(index, AccessShareLock);
    PG_RETURN_BOOL(live_only);
}
}
