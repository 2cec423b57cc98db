// A unique constraint cannot be partial, so enable() replaces each one with
// a live-only unique index of the same name. A migration written before
// enable() that drops the constraint by name would then fail with
// "constraint does not exist"; the index it means is known, so it is dropped
// instead, with a NOTICE saying so. Anything else goes to PostgreSQL as is.
#include "old_constraint_names.hpp"
#include "extension_objects.hpp"
#include "table_config.hpp"

extern "C" {
#include "catalog/pg_constraint.h"
}

namespace softdelete
{

namespace
{

// The live-only unique index named name on relid (an enabled table), if
// enable() made it from a unique constraint.
Oid converted_index(Oid relid, const char* name)
{
    Oid index = get_relname_relid(name, get_rel_namespace(relid));
    if (!OidIsValid(index))
        return InvalidOid;
    HeapTuple tuple = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(index));
    if (!HeapTupleIsValid(tuple))
        return InvalidOid;
    auto* form = reinterpret_cast<Form_pg_index>(GETSTRUCT(tuple));
    bool ours = form->indrelid == relid && form->indisunique && !form->indisprimary;
    ReleaseSysCache(tuple);
    if (!ours)
        return InvalidOid;
    const Oid args[] = {REGCLASSOID, TEXTOID};
    Oid check = require_internal_function("converted_constraint", 2, args);
    Datum found = OidFunctionCall2(check, ObjectIdGetDatum(relid), CStringGetTextDatum(name));
    return DatumGetBool(found) ? index : InvalidOid;
}

} // namespace

bool drop_converted_constraint(Node* node)
{
    if (!IsA(node, AlterTableStmt))
        return false;
    auto* stmt = reinterpret_cast<AlterTableStmt*>(node);
    if (stmt->objtype != OBJECT_TABLE || list_length(stmt->cmds) != 1)
        return false;
    auto* cmd = castNode(AlterTableCmd, linitial(stmt->cmds));
    if (cmd->subtype != AT_DropConstraint || cmd->name == nullptr)
        return false;
    Oid relid = RangeVarGetRelid(stmt->relation, NoLock, true);
    TableConfig cfg;
    if (!OidIsValid(relid) || !table_config(relid, &cfg) || cfg.root != relid ||
        OidIsValid(get_relation_constraint_oid(relid, cmd->name, true)))
        return false;
    Oid index = converted_index(relid, cmd->name);
    if (!OidIsValid(index))
        return false;
    // Dropped as the caller, who must own the table as for the constraint.
    const char* qualified =
        quote_qualified_identifier(get_namespace_name(get_rel_namespace(index)), cmd->name);
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    int rc = SPI_execute(
        psprintf("DROP INDEX %s%s", qualified, cmd->behavior == DROP_CASCADE ? " CASCADE" : ""),
        false, 0);
    if (rc != SPI_OK_UTILITY)
        elog(ERROR, "softdelete could not drop index %s: %s", qualified,
             SPI_result_code_string(rc));
    SPI_finish();
    // The sql_drop event trigger forgets it: disable() will not bring it back.
    ereport(NOTICE, (errmsg("dropped index %s: it is unique constraint %s, made live-only by "
                            "softdelete.enable()",
                            qualified, quote_identifier(cmd->name))));
    return true;
}

} // namespace softdelete
