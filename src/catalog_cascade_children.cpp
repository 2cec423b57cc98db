// The tables enable() enables with a table when its cascade is on: those
// that reference it through a foreign key, those that reference them, and so
// on, that are not enabled yet, each with the table it was found through.
// Walked over the foreign-key graph foreign_keys.cpp keeps (cached, with
// relcache invalidation), breadth first. A partitioned table stands for its
// partitions on both ends. An enabled table is left alone, and its own
// children are followed only when its cascade is on. Self-references and
// cycles end: each table comes once.
#include "catalog.hpp"
#include "foreign_keys.hpp"
#include "table_config.hpp"

extern "C" {
#include "utils/varlena.h"
}

namespace softdelete
{

namespace
{

// Siblings in the order of their names as text, as enable() reports them.
int by_name(const ListCell* a, const ListCell* b)
{
    const char* x = relation_text(lfirst_oid(a));
    const char* y = relation_text(lfirst_oid(b));
    return varstr_cmp(x, strlen(x), y, strlen(y), DEFAULT_COLLATION_OID);
}

// The tables (partitioned tables for partitions) holding a foreign key to
// parent, each once, in order.
List* referencing(Oid parent)
{
    List* children = NIL;
    ListCell* lc;
    foreach (lc, foreign_keys_to(parent))
        children = list_append_unique_oid(
            children, partition_root(static_cast<ForeignKey*>(lfirst(lc))->child));
    list_sort(children, by_name);
    return children;
}

} // namespace

List* cascade_children(Oid table)
{
    List* queue = list_make1_oid(table);
    List* seen = list_make1_oid(table);
    List* found = NIL;
    for (int i = 0; i < list_length(queue); i++) {
        Oid parent = list_nth_oid(queue, i);
        ListCell* lc;
        foreach (lc, referencing(parent)) {
            Oid child = lfirst_oid(lc);
            if (list_member_oid(seen, child))
                continue;
            seen = lappend_oid(seen, child);
            TupleDesc desc;
            HeapTuple config = config_row(child, &desc);
            if (config == nullptr) {
                auto* edge = static_cast<CascadeChild*>(palloc(sizeof(CascadeChild)));
                *edge = {child, parent};
                found = lappend(found, edge);
                queue = lappend_oid(queue, child);
                continue;
            }
            bool isnull = false;
            Datum follow = config_value(config, desc, "cascade", &isnull);
            if (!isnull && DatumGetBool(follow))
                queue = lappend_oid(queue, child);
        }
    }
    return found;
}

} // namespace softdelete
