// A unique constraint cannot be partial, so enable() replaces each one with
// a live-only unique index of the same name, and a constraint trigger of
// that name that never fires stands in for the old constraint
// (add_constraint_placeholder() in the install script). SQL written for the
// old constraint keeps working:
//
//  * ON CONFLICT ON CONSTRAINT <name>: parse analysis finds the placeholder,
//    and the planner hook, which runs before the planner infers the arbiter
//    indexes, names the live-only index instead (its key and predicate), so
//    DO NOTHING and DO UPDATE conflict on live rows exactly as the old
//    constraint did on all rows. Without the hook the planner refuses the
//    placeholder ("has no associated index"): nothing runs with the wrong
//    arbiter.
//  * A migration that drops the constraint by name drops the index instead
//    (its placeholder goes with it), with a NOTICE saying so.
//
// Anything else goes to PostgreSQL as is.
#include "old_constraint_names.hpp"
#include "extension_objects.hpp"
#include "table_config.hpp"

extern "C" {
#include "catalog/pg_constraint.h"
#include "rewrite/rewriteManip.h"
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

// The live-only unique index that constraint conoid, a placeholder on
// relid, stands for.
Oid placeholder_index(Oid relid, Oid conoid)
{
    HeapTuple tuple = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
    if (!HeapTupleIsValid(tuple))
        return InvalidOid;
    auto* form = reinterpret_cast<Form_pg_constraint>(GETSTRUCT(tuple));
    bool trigger = form->contype == CONSTRAINT_TRIGGER && form->conrelid == relid;
    char* name = pstrdup(NameStr(form->conname));
    ReleaseSysCache(tuple);
    return trigger ? converted_index(relid, name) : InvalidOid;
}

} // namespace

bool infer_old_constraint_arbiter(Query* query, const TableConfig& cfg)
{
    OnConflictExpr* conflict = query->onConflict;
    if (conflict == nullptr || !OidIsValid(conflict->constraint))
        return false;
    Oid index = placeholder_index(cfg.relid, conflict->constraint);
    if (!OidIsValid(index))
        return false;
    Index varno = query->resultRelation;
    RangeTblEntry* rte = rt_fetch(varno, query->rtable);
#if PG_VERSION_NUM >= 160000
    Bitmapset** selected = &getRTEPermissionInfo(query->rteperminfos, rte)->selectedCols;
#else
    Bitmapset** selected = &rte->selectedCols;
#endif
    // Its key, element by element, with the collation and operator class
    // that decide what counts as equal; the planner matches them exactly.
    Relation rel = index_open(index, AccessShareLock);
    bool isnull;
    auto* opclasses = reinterpret_cast<oidvector*>(DatumGetPointer(
        SysCacheGetAttr(INDEXRELID, rel->rd_indextuple, Anum_pg_index_indclass, &isnull)));
    List* exprs = RelationGetIndexExpressions(rel);
    if (varno != 1)
        ChangeVarNodes(reinterpret_cast<Node*>(exprs), 1, varno, 0);
    ListCell* next_expr = list_head(exprs);
    List* elems = NIL;
    for (int i = 0; i < rel->rd_index->indnkeyatts; i++) {
        AttrNumber attno = rel->rd_index->indkey.values[i];
        InferenceElem* elem = makeNode(InferenceElem);
        if (attno != 0) {
            Oid type;
            int32 typmod;
            Oid collation;
            get_atttypetypmodcoll(cfg.relid, attno, &type, &typmod, &collation);
            elem->expr = reinterpret_cast<Node*>(makeVar(varno, attno, type, typmod, collation, 0));
            // The constraint's columns need SELECT, as parse analysis asks of
            // a unique constraint's (the placeholder names none).
            *selected = bms_add_member(*selected, attno - FirstLowInvalidHeapAttributeNumber);
        } else {
            elem->expr = static_cast<Node*>(lfirst(next_expr));
            next_expr = lnext(exprs, next_expr);
        }
        elem->infercollid = rel->rd_indcollation[i];
        elem->inferopclass = opclasses->values[i];
        elems = lappend(elems, elem);
    }
    List* predicate = RelationGetIndexPredicate(rel);
    if (varno != 1)
        ChangeVarNodes(reinterpret_cast<Node*>(predicate), 1, varno, 0);
    // Locked until the end of the transaction, as the planner locks indexes.
    index_close(rel, NoLock);
    conflict->constraint = InvalidOid;
    conflict->arbiterElems = elems;
    conflict->arbiterWhere = reinterpret_cast<Node*>(make_ands_explicit(predicate));
    return true;
}

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
    if (!OidIsValid(relid) || !table_config(relid, &cfg) || cfg.root != relid)
        return false;
    Oid conoid = get_relation_constraint_oid(relid, cmd->name, true);
    Oid index =
        OidIsValid(conoid) ? placeholder_index(relid, conoid) : converted_index(relid, cmd->name);
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
    // The sql_drop event trigger forgets it, so that disable() will not bring
    // it back, and drops its placeholder.
    ereport(NOTICE, (errmsg("dropped index %s: it is unique constraint %s, made live-only by "
                            "softdelete.enable()",
                            qualified, quote_identifier(cmd->name))));
    return true;
}

} // namespace softdelete
