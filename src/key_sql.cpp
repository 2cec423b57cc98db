// See key_sql.hpp.
#include "key_sql.hpp"

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

char* key_in_sql(const TableConfig& cfg, const char* alias, int param)
{
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql, "(%s) IN (SELECT ", key_columns_sql(cfg, alias));
    for (int k = 0; k < cfg.nkeys; k++) {
        const char* name = get_attname(cfg.relid, cfg.keys[k], false);
        if (cfg.nkeys == 1)
            appendStringInfo(&sql, "(w.k #>> '{}')::%s", column_type_sql(cfg.relid, cfg.keys[k]));
        else
            appendStringInfo(&sql, "%s(w.k ->> %s)::%s", k > 0 ? ", " : "",
                             quote_literal_cstr(name), column_type_sql(cfg.relid, cfg.keys[k]));
    }
    appendStringInfo(&sql, " FROM pg_catalog.jsonb_array_elements($%d) AS w(k))", param);
    return sql.data;
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
