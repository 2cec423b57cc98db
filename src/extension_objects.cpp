// OIDs of the extension's own functions, looked up by name once and kept
// until the next relcache invalidation (dropping or re-creating the extension
// drops its tables, which sends one).
#include "extension_objects.hpp"

namespace softdelete
{

namespace
{

struct FunctionOids {
    bool valid;
    Oid include_deleted;
    Oid deletion_stamp;
    Oid actor;
    Oid reason;
    Oid tombstone_at;
    Oid tombstone_text;
    Oid tombstone_op;
    Oid operation_id;
    Oid note_row;
    Oid lock_for_delete; // InvalidOid under the 1.0.0 script
};

FunctionOids oids = {};
// Kept across invalidations: settings use them to invalidate dependent plans.
FunctionOids last_known = {};

Oid lookup(const char* name, int nargs, const Oid* argtypes)
{
    return internal_function_oid(name, nargs, argtypes);
}

const FunctionOids& functions()
{
    if (!oids.valid) {
        const Oid regclass_arg[] = {REGCLASSOID};
        FunctionOids fresh = {};
        fresh.include_deleted = lookup("include_deleted", 1, regclass_arg);
        fresh.deletion_stamp = lookup("deletion_stamp", 0, nullptr);
        fresh.actor = lookup("actor", 0, nullptr);
        fresh.reason = lookup("reason", 0, nullptr);
        const Oid decision_args[] = {REGCLASSOID, INT4OID, BOOLOID, TIMESTAMPTZOID,
                                     TEXTOID,     TEXTOID, INT8OID, TIMESTAMPTZOID,
                                     TEXTOID,     TEXTOID, INT8OID, TIDOID};
        constexpr int decision_nargs = sizeof decision_args / sizeof decision_args[0];
        fresh.tombstone_at = lookup("tombstone_at", decision_nargs, decision_args);
        fresh.tombstone_text = lookup("tombstone_text", decision_nargs, decision_args);
        fresh.tombstone_op = lookup("tombstone_op", decision_nargs, decision_args);
        fresh.operation_id = lookup("operation_id", 0, nullptr);
        const Oid note_args[] = {REGCLASSOID, INT4OID, BOOLOID, BOOLOID, TIDOID, OIDOID, ANYOID};
        fresh.note_row = lookup("note_row", 7, note_args);
        const Oid lock_args[] = {TIDOID, OIDOID, REGCLASSOID, BOOLOID};
        fresh.lock_for_delete = lookup("lock_for_delete", 4, lock_args);
        fresh.valid = OidIsValid(fresh.include_deleted) && OidIsValid(fresh.deletion_stamp) &&
                      OidIsValid(fresh.actor) && OidIsValid(fresh.reason) &&
                      OidIsValid(fresh.tombstone_at) && OidIsValid(fresh.tombstone_text) &&
                      OidIsValid(fresh.tombstone_op) && OidIsValid(fresh.operation_id) &&
                      OidIsValid(fresh.note_row);
        if (!fresh.valid)
            ereport(
                ERROR,
                (errcode(ERRCODE_UNDEFINED_FUNCTION),
                 errmsg("softdelete's functions are missing from schema softdelete_internal"),
                 errhint("Run ALTER EXTENSION softdelete UPDATE, or re-create the extension.")));
        oids = fresh;
        last_known = fresh;
    }
    return oids;
}

// The relations every soft delete uses, looked up by name as the functions
// are and forgotten with them: the lookups by name cost a one-row DELETE
// more than its event's heap insert. Nothing is kept while one is missing.
struct RelationOids {
    bool valid;
    Oid events;
    Oid operation_sequence;
    bool shared; // with the events' ids (see operation_sequence())
};

RelationOids relations = {};

const RelationOids& relation_oids()
{
    if (!relations.valid) {
        RelationOids fresh = {};
        fresh.events = extension_table("events");
        fresh.operation_sequence = internal_relation("operation_ids");
        if (!OidIsValid(fresh.operation_sequence)) {
            fresh.operation_sequence = extension_table("events_id_seq");
            fresh.shared = true;
        }
        fresh.valid = OidIsValid(fresh.events) && OidIsValid(fresh.operation_sequence);
        relations = fresh;
    }
    return relations;
}

} // namespace

Oid event_log_table()
{
    return relation_oids().events;
}

Oid operation_sequence(bool* shared_with_event_ids)
{
    const RelationOids& found = relation_oids();
    if (shared_with_event_ids != nullptr)
        *shared_with_event_ids = found.shared;
    return found.operation_sequence;
}

// Plans that depend on funcid (a PlanInvalItem the planner recorded) are
// re-planned; plans that do not are left alone. Without a known OID, all are.
void invalidate_plans_using(Oid funcid)
{
    if (!OidIsValid(funcid)) {
        ResetPlanCache();
        return;
    }
    CallSyscacheCallbacks(PROCOID, GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(funcid)));
}

void invalidate_visibility_plans()
{
    invalidate_plans_using(last_known.include_deleted);
}

void invalidate_delete_plans()
{
    invalidate_plans_using(last_known.deletion_stamp);
}

// By the catalog, not by name resolution: the role at hand usually has no
// USAGE on softdelete_internal, and needs none to run what is looked up.
Oid internal_function_oid(const char* name, int nargs, const Oid* argtypes)
{
    Oid nsp = get_namespace_oid("softdelete_internal", true);
    if (!OidIsValid(nsp))
        return InvalidOid;
    oidvector* args = buildoidvector(argtypes, nargs);
    return GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid, CStringGetDatum(name),
                           PointerGetDatum(args), ObjectIdGetDatum(nsp));
}

Oid require_internal_function(const char* name, int nargs, const Oid* argtypes)
{
    Oid fn = internal_function_oid(name, nargs, argtypes);
    if (!OidIsValid(fn))
        ereport(ERROR,
                (errcode(ERRCODE_UNDEFINED_FUNCTION),
                 errmsg("softdelete's internal function %s is missing", name),
                 errhint("Run ALTER EXTENSION softdelete UPDATE, or re-create the extension.")));
    return fn;
}

Oid extension_table(const char* name)
{
    Oid nsp = get_namespace_oid("softdelete", true);
    return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

Oid internal_relation(const char* name)
{
    Oid nsp = get_namespace_oid("softdelete_internal", true);
    return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

void require_relation(Oid relid)
{
    if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("relation with OID %u does not exist", relid)));
}

bool in_own_extension_script()
{
    return creating_extension && OidIsValid(CurrentExtensionObject) &&
           CurrentExtensionObject == get_extension_oid("softdelete", true);
}

Oid relation_owner(Oid relid)
{
    HeapTuple tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
    if (!HeapTupleIsValid(tuple))
        ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE),
                        errmsg("relation with OID %u does not exist", relid)));
    Oid owner = ((Form_pg_class)GETSTRUCT(tuple))->relowner;
    ReleaseSysCache(tuple);
    return owner;
}

void forget_extension_objects()
{
    oids.valid = false;
    relations.valid = false;
}

Oid include_deleted_function()
{
    return functions().include_deleted;
}
Oid deletion_stamp_function()
{
    return functions().deletion_stamp;
}
Oid actor_function()
{
    return functions().actor;
}
Oid reason_function()
{
    return functions().reason;
}

Oid tombstone_at_function()
{
    return functions().tombstone_at;
}

Oid tombstone_text_function()
{
    return functions().tombstone_text;
}

Oid tombstone_op_function()
{
    return functions().tombstone_op;
}

Oid operation_id_function()
{
    return functions().operation_id;
}

Oid note_row_function()
{
    return functions().note_row;
}

Oid lock_for_delete_function()
{
    return functions().lock_for_delete;
}

} // namespace softdelete
