// softdelete._check_target(regclass): what enable() and disable() refuse,
// each with its own SQLSTATE. C++ regime behind entry_guard: each
// refusal is a PgError carrying detail and hint to the client.
#include <string>

#include "target_check.hpp"
#include "api_gateway.hpp"
#include "error_bridge.hpp"

namespace softdelete
{

namespace
{

struct RelationFacts {
    bool exists;
    char relkind;
    bool is_partition;
    bool is_temporary;
    bool is_catalog;
    bool is_owner;
    bool has_primary_key;
    bool extension_member;
    bool may_create_in_schema;
    const char* name;
};

RelationFacts facts_of(Oid relid)
{
    return pg_guard([relid] {
        RelationFacts facts = {};
        HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
        if (!HeapTupleIsValid(tuple))
            return facts;
        auto* form = (Form_pg_class)GETSTRUCT(tuple);
        facts.exists = true;
        facts.relkind = form->relkind;
        facts.is_partition = form->relispartition;
        facts.is_temporary = form->relpersistence == RELPERSISTENCE_TEMP;
        facts.is_catalog = IsCatalogNamespace(form->relnamespace) || relid < FirstNormalObjectId ||
                           IsToastNamespace(form->relnamespace);
        ReleaseSysCache(tuple);
        // Judged for the role that called enable() or disable(), not for the
        // extension's owner that carries them out.
        Oid caller = acting_role();
#if PG_VERSION_NUM >= 160000
        facts.may_create_in_schema = object_aclcheck(NamespaceRelationId, get_rel_namespace(relid),
                                                     caller, ACL_CREATE) == ACLCHECK_OK;
#else
        facts.may_create_in_schema =
            pg_namespace_aclcheck(get_rel_namespace(relid), caller, ACL_CREATE) == ACLCHECK_OK;
#endif
        facts.extension_member = OidIsValid(getExtensionOfObject(RelationRelationId, relid));
        facts.name = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
                                                get_rel_name(relid));
#if PG_VERSION_NUM >= 160000
        facts.is_owner = object_ownercheck(RelationRelationId, relid, caller);
#else
        facts.is_owner = pg_class_ownercheck(relid, caller);
#endif
        if (facts.relkind == RELKIND_RELATION || facts.relkind == RELKIND_PARTITIONED_TABLE) {
            Relation rel = relation_open(relid, AccessShareLock);
            facts.has_primary_key = OidIsValid(RelationGetPrimaryKeyIndex(rel));
            relation_close(rel, AccessShareLock);
        }
        return facts;
    });
}

const char* kind_name(char relkind)
{
    switch (relkind) {
    case RELKIND_VIEW:
        return "a view";
    case RELKIND_MATVIEW:
        return "a materialized view";
    case RELKIND_FOREIGN_TABLE:
        return "a foreign table";
    case RELKIND_INDEX:
    case RELKIND_PARTITIONED_INDEX:
        return "an index";
    case RELKIND_SEQUENCE:
        return "a sequence";
    case RELKIND_COMPOSITE_TYPE:
        return "a composite type";
    case RELKIND_TOASTVALUE:
        return "a TOAST table";
    default:
        return "not a table";
    }
}

// Views and foreign tables stand for a table that can be enabled instead.
bool reads_a_table(char relkind)
{
    return relkind == RELKIND_VIEW || relkind == RELKIND_MATVIEW ||
           relkind == RELKIND_FOREIGN_TABLE;
}

} // namespace

void check_target(Oid relid)
{
    RelationFacts facts = facts_of(relid);
    if (!facts.exists)
        throw PgError(ERRCODE_UNDEFINED_TABLE,
                      "relation with OID " + std::to_string(relid) + " does not exist");
    std::string name = facts.name;
    if (facts.is_catalog)
        throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED, "\"" + name + "\" is a system catalog",
                      "Soft delete manages user tables only.");
    if (facts.extension_member)
        throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED, "\"" + name + "\" belongs to an extension",
                      "An extension's own tables are managed by that extension.");
    if (facts.relkind != RELKIND_RELATION && facts.relkind != RELKIND_PARTITIONED_TABLE)
        throw PgError(ERRCODE_WRONG_OBJECT_TYPE, "\"" + name + "\" is " + kind_name(facts.relkind),
                      "Soft delete manages tables and partitioned tables.",
                      reads_a_table(facts.relkind) ? "Enable the table it reads from." : "");
    if (facts.is_partition)
        throw PgError(
            ERRCODE_FEATURE_NOT_SUPPORTED, "\"" + name + "\" is a partition",
            "Soft delete is enabled on a partitioned table as a whole.",
            "Call softdelete.enable() on the partitioned table: it covers every partition.");
    if (facts.is_temporary)
        throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED, "\"" + name + "\" is a temporary table",
                      "A temporary table ends with its session, and its configuration would "
                      "outlive it in softdelete.tables (and in dumps).",
                      "Enable a permanent table.");
    if (!facts.is_owner)
        throw PgError(ERRCODE_INSUFFICIENT_PRIVILEGE, "must be owner of table " + name,
                      "Only the table's owner (or a superuser) can change its deletion policy.");
    if (!facts.may_create_in_schema)
        throw PgError(
            ERRCODE_INSUFFICIENT_PRIVILEGE, "permission denied to create indexes for table " + name,
            "enable() rebuilds the table's unique indexes, which needs CREATE on its schema.",
            "GRANT CREATE ON SCHEMA to the table's owner, or run enable() as a superuser.");
    if (!facts.has_primary_key)
        throw PgError(ERRCODE_INVALID_TABLE_DEFINITION, "table " + name + " has no primary key",
                      "Restore, hard delete and the event log name rows by their primary key.",
                      "Add a primary key, then call softdelete.enable() again.");
}

} // namespace softdelete

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_check_target);
Datum softdelete_check_target(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a table is required")));
    Oid relid = PG_GETARG_OID(0);
    softdelete::entry_guard([relid] { softdelete::check_target(relid); });
    PG_RETURN_VOID();
}
}
