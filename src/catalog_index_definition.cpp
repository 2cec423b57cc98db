// softdelete_internal.index_definition(idx, index_name, live_column): the
// CREATE UNIQUE INDEX statement that builds unique index idx again under
// index_name, made from the catalog's data (pg_index's columns, options,
// collations and operator classes, its expression and predicate node trees),
// never by editing the text of pg_get_indexdef. With live_column, the
// predicate gains "live_column IS NULL": the same index, unique among live
// rows only. On a partitioned table the statement builds the index on every
// partition (no ONLY).
#include "pg.hpp"

extern "C" {
#include "catalog/pg_am.h"
#include "catalog/pg_index.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
#include "utils/ruleutils.h"
}

namespace
{

// The node tree stored in column attnum of idx's pg_index row, or nullptr.
Node* stored_tree(HeapTuple index_tuple, AttrNumber attnum)
{
    bool isnull;
    Datum value = SysCacheGetAttr(INDEXRELID, index_tuple, attnum, &isnull);
    if (isnull)
        return nullptr;
    return static_cast<Node*>(stringToNode(TextDatumGetCString(value)));
}

// One of pg_index's oidvector columns (indcollation, indclass).
oidvector* oid_vector(HeapTuple index_tuple, AttrNumber attnum)
{
    bool isnull;
    Datum value = SysCacheGetAttr(INDEXRELID, index_tuple, attnum, &isnull);
    return reinterpret_cast<oidvector*>(DatumGetPointer(value));
}

// "name = 'value', ..." from a reloptions array ("name=value" elements).
void append_reloptions(StringInfo buf, Datum options)
{
    Datum* elems;
    int count;
    deconstruct_array(DatumGetArrayTypeP(options), TEXTOID, -1, false, TYPALIGN_INT, &elems,
                      nullptr, &count);
    for (int i = 0; i < count; i++) {
        char* option = TextDatumGetCString(elems[i]);
        char* equals = strchr(option, '=');
        if (equals != nullptr)
            *equals = '\0';
        appendStringInfo(buf, "%s%s = %s", i > 0 ? ", " : "", quote_identifier(option),
                         quote_literal_cstr(equals != nullptr ? equals + 1 : "true"));
    }
}

char* index_definition(Oid index_oid, const char* index_name, const char* live_column)
{
    HeapTuple index_tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index_oid));
    if (!HeapTupleIsValid(index_tuple))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("index with OID %u does not exist", index_oid)));
    auto* index = (Form_pg_index)GETSTRUCT(index_tuple);
    Oid table = index->indrelid;
    if (!index->indisunique)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("index \"%s\" is not unique", get_rel_name(index_oid))));
    Oid am = InvalidOid;
    Oid tablespace = InvalidOid;
    bool has_options = false;
    Datum options = (Datum)0;
    {
        HeapTuple class_tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(index_oid));
        if (!HeapTupleIsValid(class_tuple))
            elog(ERROR, "cache lookup failed for relation %u", index_oid);
        auto* form = (Form_pg_class)GETSTRUCT(class_tuple);
        am = form->relam;
        tablespace = form->reltablespace;
        bool isnull;
        Datum value = SysCacheGetAttr(RELOID, class_tuple, Anum_pg_class_reloptions, &isnull);
        if (!isnull) {
            has_options = true;
            options = datumCopy(value, false, -1);
        }
        ReleaseSysCache(class_tuple);
    }
    List* context = deparse_context_for(get_rel_name(table), table);
    List* expressions = reinterpret_cast<List*>(stored_tree(index_tuple, Anum_pg_index_indexprs));
    ListCell* next_expression = list_head(expressions);
    Node* predicate = stored_tree(index_tuple, Anum_pg_index_indpred);

    StringInfoData buf;
    initStringInfo(&buf);
    appendStringInfo(&buf, "CREATE UNIQUE INDEX %s ON %s USING %s (", quote_identifier(index_name),
                     quote_qualified_identifier(get_namespace_name(get_rel_namespace(table)),
                                                get_rel_name(table)),
                     quote_identifier(get_am_name(am)));
    for (int i = 0; i < index->indnatts; i++) {
        AttrNumber attnum = index->indkey.values[i];
        bool key = i < index->indnkeyatts;
        if (i == index->indnkeyatts)
            appendStringInfoString(&buf, ") INCLUDE (");
        else if (i > 0)
            appendStringInfoString(&buf, ", ");
        Oid type;
        Oid default_collation;
        if (attnum != 0) {
            appendStringInfoString(&buf, quote_identifier(get_attname(table, attnum, false)));
            int32 typmod;
            get_atttypetypmodcoll(table, attnum, &type, &typmod, &default_collation);
        } else {
            if (next_expression == nullptr)
                elog(ERROR, "too few entries in indexprs list");
            auto* expr = static_cast<Node*>(lfirst(next_expression));
            next_expression = lnext(expressions, next_expression);
            appendStringInfo(&buf, "(%s)", deparse_expression(expr, context, false, false));
            type = exprType(expr);
            default_collation = exprCollation(expr);
        }
        if (!key)
            continue;
        Oid collation = oid_vector(index_tuple, Anum_pg_index_indcollation)->values[i];
        if (OidIsValid(collation) && collation != default_collation)
            appendStringInfo(&buf, " COLLATE %s", generate_collation_name(collation));
        Oid opclass = oid_vector(index_tuple, Anum_pg_index_indclass)->values[i];
        if (opclass != GetDefaultOpClass(type, am))
            // Qualified unless visible on the pinned search_path this
            // statement runs with.
            appendStringInfo(&buf, " %s", generate_opclass_name(opclass));
        if (DatumGetPointer(get_attoptions(index_oid, i + 1)) != nullptr)
            ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                            errmsg("unique index \"%s\" has operator class parameters",
                                   get_rel_name(index_oid)),
                            errdetail("softdelete cannot rebuild it unique among live rows.")));
        bool isnull;
        Datum option_datum =
            SysCacheGetAttr(INDEXRELID, index_tuple, Anum_pg_index_indoption, &isnull);
        auto* indoption = reinterpret_cast<int2vector*>(DatumGetPointer(option_datum));
        int16 option = indoption->values[i];
        bool descending = (option & INDOPTION_DESC) != 0;
        bool nulls_first = (option & INDOPTION_NULLS_FIRST) != 0;
        if (descending)
            appendStringInfoString(&buf, " DESC");
        if (descending && !nulls_first)
            appendStringInfoString(&buf, " NULLS LAST");
        if (!descending && nulls_first)
            appendStringInfoString(&buf, " NULLS FIRST");
    }
    appendStringInfoChar(&buf, ')');
    if (index->indnullsnotdistinct)
        appendStringInfoString(&buf, " NULLS NOT DISTINCT");
    if (has_options) {
        appendStringInfoString(&buf, " WITH (");
        append_reloptions(&buf, options);
        appendStringInfoChar(&buf, ')');
    }
    if (OidIsValid(tablespace))
        appendStringInfo(&buf, " TABLESPACE %s", quote_identifier(get_tablespace_name(tablespace)));
    if (live_column != nullptr) {
        AttrNumber live_attnum = get_attnum(table, live_column);
        if (live_attnum == InvalidAttrNumber)
            ereport(ERROR, (errcode(ERRCODE_UNDEFINED_COLUMN),
                            errmsg("column \"%s\" of relation \"%s\" does not exist", live_column,
                                   get_rel_name(table))));
        Oid type;
        int32 typmod;
        Oid collation;
        get_atttypetypmodcoll(table, live_attnum, &type, &typmod, &collation);
        NullTest* live = makeNode(NullTest);
        live->arg = reinterpret_cast<Expr*>(makeVar(1, live_attnum, type, typmod, collation, 0));
        live->nulltesttype = IS_NULL;
        live->argisrow = false;
        live->location = -1;
        Node* live_node = reinterpret_cast<Node*>(live);
        predicate = predicate == nullptr ? live_node
                                         : reinterpret_cast<Node*>(makeBoolExpr(
                                               AND_EXPR, list_make2(predicate, live_node), -1));
    }
    if (predicate != nullptr)
        appendStringInfo(&buf, " WHERE %s", deparse_expression(predicate, context, false, false));
    ReleaseSysCache(index_tuple);
    return buf.data;
}

} // namespace

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_index_definition);
Datum softdelete_index_definition(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("an index and a name for it are required")));
    const char* live_column = PG_ARGISNULL(2) ? nullptr : NameStr(*PG_GETARG_NAME(2));
    PG_RETURN_TEXT_P(cstring_to_text(
        index_definition(PG_GETARG_OID(0), NameStr(*PG_GETARG_NAME(1)), live_column)));
}
}
