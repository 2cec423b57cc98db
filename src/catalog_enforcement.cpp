// What install_enforcement() would add to one relation (visibility policy,
// row level security, softdelete's triggers), read from pg_class, pg_policy
// and pg_trigger: the enforcement rows of enable()'s plan and of its dry run,
// which must list exactly what the real run installs.
#include <initializer_list>

#include "catalog.hpp"
#include "table_config.hpp"
#include "error_bridge.hpp"
#include "extension_objects.hpp"

extern "C" {
#include "catalog/pg_policy.h"
#include "catalog/pg_trigger.h"
}

namespace softdelete
{

namespace
{

// A copy of rel's row of a catalog (pg_policy or pg_trigger) called name,
// found through index, whose keys are (relation, name); null when none.
// qual, when asked for, receives the row's column qual_column as a string.
HeapTuple named_row(Oid catalog_oid, Oid index, AttrNumber rel_column, AttrNumber name_column,
                    Oid rel, const char* name, AttrNumber qual_column = 0, char** qual = nullptr)
{
    Relation catalog = table_open(catalog_oid, AccessShareLock);
    ScanKeyData keys[2];
    NameData key_name;
    namestrcpy(&key_name, name);
    ScanKeyInit(&keys[0], rel_column, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(rel));
    ScanKeyInit(&keys[1], name_column, BTEqualStrategyNumber, F_NAMEEQ, NameGetDatum(&key_name));
    SysScanDesc scan = systable_beginscan(catalog, index, true, nullptr, 2, keys);
    HeapTuple tuple = systable_getnext(scan);
    HeapTuple copy = nullptr;
    if (HeapTupleIsValid(tuple)) {
        copy = heap_copytuple(tuple);
        if (qual != nullptr) {
            bool isnull = false;
            Datum value = heap_getattr(tuple, qual_column, RelationGetDescr(catalog), &isnull);
            *qual = isnull ? nullptr : TextDatumGetCString(value);
        }
    }
    systable_endscan(scan);
    table_close(catalog, AccessShareLock);
    return copy;
}

HeapTuple trigger(Oid rel, const char* name)
{
    return named_row(TriggerRelationId, TriggerRelidNameIndexId, Anum_pg_trigger_tgrelid,
                     Anum_pg_trigger_tgname, rel, name);
}

bool has_policy(Oid rel, const char* name)
{
    return named_row(PolicyRelationId, PolicyPolrelidPolnameIndexId, Anum_pg_policy_polrelid,
                     Anum_pg_policy_polname, rel, name) != nullptr;
}

bool has_trigger(Oid rel, const char* name)
{
    return trigger(rel, name) != nullptr;
}

bool calls_function(Node* node, Oid* function)
{
    if (node == nullptr)
        return false;
    if (IsA(node, FuncExpr) && reinterpret_cast<FuncExpr*>(node)->funcid == *function)
        return true;
    return expression_tree_walker(node, walker(calls_function), function);
}

// A softdelete_visibility policy softdelete did not make: permissive, not
// for all commands, or filtering without include_deleted().
bool foreign_visibility_policy(Oid rel)
{
    char* qual = nullptr;
    HeapTuple tuple = named_row(PolicyRelationId, PolicyPolrelidPolnameIndexId,
                                Anum_pg_policy_polrelid, Anum_pg_policy_polname, rel,
                                "softdelete_visibility", Anum_pg_policy_polqual, &qual);
    if (tuple == nullptr)
        return false;
    auto* form = reinterpret_cast<Form_pg_policy>(GETSTRUCT(tuple));
    if (form->polpermissive || form->polcmd != '*')
        return true;
    Oid include_deleted = include_deleted_function();
    return qual != nullptr &&
           !calls_function(static_cast<Node*>(stringToNode(qual)), &include_deleted);
}

// A trigger with the name of one of softdelete's that does not call one of
// softdelete's trigger functions.
bool foreign_trigger(Oid rel)
{
    const Oid ours[] = {internal_function_oid("guard_truncate", 0, nullptr),
                        internal_function_oid("soft_delete_row", 0, nullptr),
                        internal_function_oid("log_changes", 0, nullptr),
                        internal_function_oid("guard_child", 0, nullptr)};
    for (const char* name : {"softdelete_guard_truncate", "softdelete_backstop",
                             "softdelete_log_delete", "softdelete_child_guard"}) {
        HeapTuple tuple = trigger(rel, name);
        if (tuple == nullptr)
            continue;
        auto* form = reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple));
        bool called = false;
        for (Oid fn : ours)
            called = called || form->tgfoid == fn;
        if (!form->tgisinternal && !called)
            return true;
    }
    return false;
}

} // namespace

Oid trigger_function(Oid rel, const char* name)
{
    HeapTuple tuple = trigger(rel, name);
    if (tuple == nullptr)
        return InvalidOid;
    Oid function = reinterpret_cast<Form_pg_trigger>(GETSTRUCT(tuple))->tgfoid;
    heap_freetuple(tuple);
    return function;
}

// Objects are recognised by name, so a name taken by someone else would leave
// the table without them. Only softdelete (or a superuser) can create
// objects that call into softdelete_internal.
void refuse_foreign_enforcement(Oid rel)
{
    // A partition made or attached after enable() brings its own column
    // definitions: a NOT NULL or a default on a tombstone column, which
    // enable() refuses on the table, would come in with it.
    TableConfig cfg;
    if (table_config(rel, &cfg)) {
        for (AttrNumber attno :
             {cfg.deleted_at, cfg.deleted_by, cfg.delete_reason, cfg.delete_op}) {
            if (attno == InvalidAttrNumber)
                continue;
            const char* name = get_attname(rel, attno, false);
            const char* why = unfit_tombstone_column(rel, name);
            if (why != nullptr)
                ereport(ERROR,
                        (errcode(ERRCODE_INVALID_COLUMN_DEFINITION),
                         errmsg("column %s of %s is %s", quote_identifier(name), relation_text(rel),
                                why),
                         errdetail("softdelete writes %s when it soft-deletes a row and sets it "
                                   "back to NULL when it restores one.",
                                   quote_identifier(name)),
                         errhint("Change the column (ALTER TABLE ... ALTER COLUMN ... DROP NOT "
                                 "NULL, DROP DEFAULT) before it joins the table.")));
        }
    }
    if (foreign_visibility_policy(rel) || foreign_trigger(rel))
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("table %s has a policy or trigger with the name of one of "
                               "softdelete's that softdelete did not create",
                               relation_text(rel)),
                        errhint("Drop or rename it, then call softdelete.enable() again.")));
}

bool enforcement_in_place(Oid rel)
{
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
    if (!HeapTupleIsValid(tuple))
        return false;
    auto* form = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple));
    bool forced = form->relrowsecurity && form->relforcerowsecurity;
    bool partition = form->relispartition;
    ReleaseSysCache(tuple);
    return forced && has_policy(rel, "softdelete_visibility") &&
           has_trigger(rel, "softdelete_guard_truncate") &&
           (partition ||
            (has_trigger(rel, "softdelete_backstop") && has_trigger(rel, "softdelete_log_delete")));
}

List* enforcement_to_install(Oid rel)
{
    refuse_foreign_enforcement(rel);
    const char* name = relation_text(rel);
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
    if (!HeapTupleIsValid(tuple))
        elog(ERROR, "cache lookup failed for relation %u", rel);
    auto* form = reinterpret_cast<Form_pg_class>(GETSTRUCT(tuple));
    bool row_security = form->relrowsecurity;
    bool forced = form->relforcerowsecurity;
    bool partition = form->relispartition;
    ReleaseSysCache(tuple);

    List* steps = NIL;
    if (!has_policy(rel, "softdelete_visibility"))
        steps = lappend(steps, psprintf("policy softdelete_visibility on %s", name));
    // Without RLS the table had no row filter: softdelete_access keeps that
    // for live rows.
    if (!row_security)
        steps = lappend(steps, psprintf("row level security on %s", name));
    if (!forced) {
        // The owner was exempt from the table's own policies: FORCE must
        // subject it to softdelete's only.
        if (row_security && !has_policy(rel, "softdelete_access") &&
            !has_policy(rel, "softdelete_owner_access"))
            steps = lappend(steps, psprintf("policy softdelete_owner_access on %s", name));
        steps = lappend(steps, psprintf("forced row level security on %s", name));
    }
    if (!has_trigger(rel, "softdelete_guard_truncate"))
        steps = lappend(steps, psprintf("trigger softdelete_guard_truncate on %s", name));
    // Row triggers on a partitioned table are cloned to its partitions.
    if (!has_trigger(rel, "softdelete_backstop") && !partition)
        steps = lappend(steps, psprintf("trigger softdelete_backstop on %s", name));
    if (!partition && !has_trigger(rel, "softdelete_log_delete"))
        steps = lappend(steps, psprintf("trigger softdelete_log_delete on %s", name));
    // The child guard's columns depend on what is enabled when it runs: the
    // plan has a step of its own for it.
    return steps;
}

} // namespace softdelete

extern "C" {

// softdelete_internal.refuse_foreign_enforcement(rel): the same refusal for
// install_enforcement(), which also runs outside enable()'s plan (a new
// partition).
PG_FUNCTION_INFO_V1(softdelete_refuse_foreign_enforcement);
Datum softdelete_refuse_foreign_enforcement(PG_FUNCTION_ARGS)
{
    Oid rel = PG_GETARG_OID(0);
    softdelete::require_relation(rel);
    softdelete::refuse_foreign_enforcement(rel);
    PG_RETURN_VOID();
}
}
