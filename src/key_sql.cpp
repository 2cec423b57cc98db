// See key_sql.hpp.
#include "key_sql.hpp"

extern "C" {
#include "utils/ruleutils.h"
}

namespace softdelete
{

namespace
{

// Types whose JSON form the event log writes as a JSON value.
bool json_native(Oid type)
{
    return type == INT2OID || type == INT4OID || type == INT8OID || type == OIDOID ||
           type == BOOLOID;
}

} // namespace

char* key_json_sql(const TableConfig& cfg, const char* alias)
{
    StringInfoData sql;
    initStringInfo(&sql);
    if (cfg.nkeys != 1)
        appendStringInfoString(&sql, "pg_catalog.jsonb_build_object(");
    for (int k = 0; k < cfg.nkeys; k++) {
        const char* name = get_attname(cfg.relid, cfg.keys[k], false);
        if (cfg.nkeys != 1)
            appendStringInfo(&sql, "%s%s, ", k > 0 ? ", " : "", quote_literal_cstr(name));
        appendStringInfo(&sql,
                         json_native(get_atttype(cfg.relid, cfg.keys[k]))
                             ? "pg_catalog.to_jsonb(%s.%s)"
                             : "pg_catalog.to_jsonb(%s.%s::pg_catalog.text)",
                         alias, quote_identifier(name));
    }
    if (cfg.nkeys != 1)
        appendStringInfoChar(&sql, ')');
    return sql.data;
}

char* key_columns_sql(const TableConfig& cfg, const char* alias)
{
    StringInfoData sql;
    initStringInfo(&sql);
    for (int k = 0; k < cfg.nkeys; k++)
        appendStringInfo(&sql, "%s%s.%s", k > 0 ? ", " : "", alias,
                         quote_identifier(get_attname(cfg.relid, cfg.keys[k], false)));
    return sql.data;
}

namespace
{

// "value::base": value cast to the base type of relid's column attno (a
// domain's, or the column's own); the base type into *base.
const char* as_base_type(const char* value, Oid relid, AttrNumber attno, Oid* base)
{
    Oid type;
    int32 typmod;
    Oid collation;
    get_atttypetypmodcoll(relid, attno, &type, &typmod, &collation);
    *base = getBaseTypeAndTypmod(type, &typmod);
    return psprintf(
        "%s::%s", value,
        format_type_extended(*base, typmod, FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
}

// "EXISTS (SELECT FROM source WHERE <what condition appends>)".
template <typename Condition>
void append_exists(StringInfo sql, const char* source, Condition condition)
{
    appendStringInfo(sql, "EXISTS (SELECT FROM %s WHERE ", source);
    condition();
    appendStringInfoChar(sql, ')');
}

// A collation's name, with its schema whatever the search_path.
const char* collation_sql(Oid collation)
{
    HeapTuple tuple = SearchSysCache1(COLLOID, ObjectIdGetDatum(collation));
    if (!HeapTupleIsValid(tuple))
        elog(ERROR, "cache lookup failed for collation %u", collation);
    auto* form = reinterpret_cast<Form_pg_collation>(GETSTRUCT(tuple));
    const char* name = quote_qualified_identifier(get_namespace_name(form->collnamespace),
                                                  NameStr(form->collname));
    ReleaseSysCache(tuple);
    return name;
}

} // namespace

void append_fk_match(StringInfo sql, const ForeignKey& fk, const char* alias, bool on_parent,
                     const char* const* values)
{
    for (int i = 0; i < fk.nkeys; i++) {
        Oid parent_type;
        Oid child_type;
        int32 typmod;
        Oid parent_collation;
        Oid child_collation;
        get_atttypetypmodcoll(fk.parent, fk.parent_columns[i], &parent_type, &typmod,
                              &parent_collation);
        get_atttypetypmodcoll(fk.child, fk.child_columns[i], &child_type, &typmod,
                              &child_collation);
        // A value from the other table is cast to its column's base type:
        // it was checked there, and a domain's CHECK is code of that
        // table's side, which must not run as this statement's role (the
        // other table's owner).
        const char* parent;
        const char* child;
        if (on_parent) {
            parent =
                psprintf("%s.%s", alias,
                         quote_identifier(get_attname(fk.parent, fk.parent_columns[i], false)));
            child = as_base_type(values[i], fk.child, fk.child_columns[i], &child_type);
        } else {
            parent = as_base_type(values[i], fk.parent, fk.parent_columns[i], &parent_type);
            child = psprintf("%s.%s", alias,
                             quote_identifier(get_attname(fk.child, fk.child_columns[i], false)));
        }
        if (i > 0)
            appendStringInfoString(sql, " AND ");
        generate_operator_clause(sql, parent, parent_type, fk.pf_eq[i], child, child_type);
        // As PostgreSQL's foreign key actions do: the parent's collation
        // where it is nondeterministic, otherwise the usual rules (a
        // column's collation over a value's default). Named with its schema,
        // whatever the search_path.
        if (parent_collation != child_collation && OidIsValid(parent_collation) &&
            !get_collation_isdeterministic(parent_collation))
            appendStringInfo(sql, " COLLATE %s", collation_sql(parent_collation));
    }
}

void append_fk_in(StringInfo sql, const ForeignKey& fk, const char* alias, bool on_parent,
                  const char* const* values, const char* source, const char* extra)
{
    append_exists(sql, source, [&] {
        append_fk_match(sql, fk, alias, on_parent, values);
        if (extra != nullptr)
            appendStringInfo(sql, " AND %s", extra);
    });
}

const char* key_field_sql(const TableConfig& cfg, int k)
{
    if (cfg.nkeys == 1)
        return "(w.k #>> '{}'::pg_catalog.text[])";
    return psprintf("(w.k ->> %s::pg_catalog.text)",
                    quote_literal_cstr(get_attname(cfg.relid, cfg.keys[k], false)));
}

char* key_in_sql(const TableConfig& cfg, const char* alias, int param)
{
    const char* values[INDEX_MAX_KEYS];
    for (int k = 0; k < cfg.nkeys; k++)
        values[k] = key_field_sql(cfg, k);
    StringInfoData sql;
    initStringInfo(&sql);
    append_in(&sql, alias, cfg.relid, cfg.keys, cfg.nkeys, values, elements_sql(param, "w(k)"));
    return sql.data;
}

Datum elements_array(const char* json_array)
{
    Jsonb* array = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json_array)));
    if (!JB_ROOT_IS_ARRAY(array) || JB_ROOT_IS_SCALAR(array))
        elog(ERROR, "softdelete: a list of keys is not a JSON array");
    int n = static_cast<int>(JB_ROOT_COUNT(array));
    auto* elements = static_cast<Datum*>(palloc(sizeof(Datum) * (n > 0 ? n : 1)));
    int count = 0;
    JsonbIterator* it = JsonbIteratorInit(&array->root);
    JsonbValue value;
    JsonbIteratorToken token;
    while ((token = JsonbIteratorNext(&it, &value, true)) != WJB_DONE) {
        if (token == WJB_ELEM && count < n)
            elements[count++] = JsonbPGetDatum(JsonbValueToJsonb(&value));
    }
    return PointerGetDatum(construct_array(elements, count, JSONBOID, -1, false, TYPALIGN_INT));
}

char* elements_sql(int param, const char* alias)
{
    return psprintf("pg_catalog.unnest($%d) AS %s", param, alias);
}

// A timestamp without time zone, converted either way, as UTC; the
// function timezone(text, ...) that does it is the one for value's type.
static char* utc_sql(const char* value)
{
    return psprintf("pg_catalog.timezone('UTC'::pg_catalog.text, %s)", value);
}

char* instant_sql(Oid relid, AttrNumber attno, const char* value)
{
    if (get_atttype(relid, attno) == TIMESTAMPOID)
        return utc_sql(value);
    return psprintf("(%s)::pg_catalog.timestamptz", value);
}

char* column_time_sql(Oid relid, AttrNumber attno, const char* instant)
{
    return get_atttype(relid, attno) == TIMESTAMPOID ? utc_sql(instant) : pstrdup(instant);
}

const char* equality_operator_sql(Oid type)
{
    Oid op = lookup_type_cache(type, TYPECACHE_EQ_OPR)->eq_opr;
    HeapTuple tuple = OidIsValid(op) ? SearchSysCache1(OPEROID, ObjectIdGetDatum(op)) : nullptr;
    // A key's type has a btree operator class (its index needs one).
    if (tuple == nullptr || !HeapTupleIsValid(tuple))
        return "OPERATOR(pg_catalog.=)";
    auto* form = reinterpret_cast<Form_pg_operator>(GETSTRUCT(tuple));
    char* sql =
        psprintf("OPERATOR(%s.%s)", quote_identifier(get_namespace_name(form->oprnamespace)),
                 NameStr(form->oprname));
    ReleaseSysCache(tuple);
    return sql;
}

void append_equals(StringInfo sql, const char* left, Oid relid, AttrNumber attno, const char* right)
{
    appendStringInfo(sql, "%s %s %s::%s", left, equality_operator_sql(get_atttype(relid, attno)),
                     right, column_type_sql(relid, attno));
}

void append_in(StringInfo sql, const char* alias, Oid rel, const AttrNumber* columns, int n,
               const char* const* values, const char* source)
{
    append_exists(sql, source, [&] {
        for (int i = 0; i < n; i++) {
            if (i > 0)
                appendStringInfoString(sql, " AND ");
            append_equals(
                sql,
                psprintf("%s.%s", alias, quote_identifier(get_attname(rel, columns[i], false))),
                rel, columns[i], values[i]);
        }
    });
}

const char* column_type_sql(Oid relid, AttrNumber attno)
{
    Oid type;
    int32 typmod;
    Oid collation;
    get_atttypetypmodcoll(relid, attno, &type, &typmod, &collation);
    return format_type_extended(type, typmod,
                                FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY);
}

char* relation_sql(Oid relid)
{
    char* name = get_rel_name(relid);
    if (name == nullptr)
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("relation with OID %u does not exist", relid)));
    return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), name);
}

char* table_sql(Oid relid)
{
    char* name = relation_sql(relid);
    return get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE ? name : psprintf("ONLY %s", name);
}

} // namespace softdelete

extern "C" {

// softdelete_internal.equality_operator(typ): equality_operator_sql() for
// the key_predicate() of the install script.
PG_FUNCTION_INFO_V1(softdelete_equality_operator);
Datum softdelete_equality_operator(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0))
        PG_RETURN_NULL();
    Oid type = PG_GETARG_OID(0);
    if (!SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(type)))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
                        errmsg("type with OID %u does not exist", type)));
    PG_RETURN_TEXT_P(cstring_to_text(softdelete::equality_operator_sql(type)));
}
}
