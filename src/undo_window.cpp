// Undo windows: who may restore rows besides admins. A table enabled with
// undo_window lets the actor that soft-deleted a row restore it, with
// restore() or undo(), no longer than the window after its deletion (the
// "Undo" button of pending-deletion interfaces). After the window, and on a
// table without one, restores are for admins only.
//
// softdelete.actor is a setting that any session can make, so the actor's
// claim alone proves nothing. A role that is no admin may restore within the
// window only when all of these hold, for every row the restore would bring
// back, in every table it reaches (cascaded children included):
//
//   * the row's table has an undo_window;
//   * the role holds the DELETE privilege on that table: it could have
//     deleted the row itself, so the claim is made by a role the table's
//     owner already trusts to record actors on its deletes;
//   * the row's deleted_by is the restoring operation's actor (what its
//     restore event will record: softdelete.actor, else the role's name, as
//     they were when the operation took its number), compared byte for byte;
//   * the row was deleted no longer than the window ago, judged against the
//     clock as the check runs (clock_timestamp()): a transaction's time
//     would let a role keep one transaction open, or run one long
//     statement, and restore long after the window.
//
// The rows are locked FOR UPDATE while they are judged, so the rows judged
// are the rows restored. A caller who may not restore learns nothing about
// keys: a missing, live or foreign row all get the same answer.
#include "undo_window.hpp"
#include "api_gateway.hpp"
#include "authorization.hpp"
#include "event_log.hpp"
#include "extension_objects.hpp"
#include "key_sql.hpp"
#include "operations.hpp"
#include "owner_statement.hpp"

namespace softdelete
{

namespace
{

// The undo_window of an enabled table, or nullptr when it has none.
Interval* undo_window(Oid root)
{
    TupleDesc desc;
    HeapTuple row = config_row(root, &desc);
    if (row == nullptr)
        return nullptr;
    bool isnull = false;
    Datum value = config_value(row, desc, "undo_window", &isnull);
    Interval* window =
        isnull ? nullptr : DatumGetIntervalP(datumCopy(value, false, sizeof(Interval)));
    heap_freetuple(row);
    FreeTupleDesc(desc);
    return window;
}

const char* window_text(Interval* window)
{
    return DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(window)));
}

[[noreturn]] void refuse(Oid member, Oid relid, const char* what, const char* why)
{
    ereport(ERROR,
            (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
             errmsg("permission denied to %s table %s", what, relation_display_name(relid)),
             errdetail("Role \"%s\" is not an admin of the table, and %s.",
                       GetUserNameFromId(member, false), why),
             errhint("Within the table's undo window, the actor that deleted rows "
                     "(softdelete.actor, else the role) may restore them if its role holds the "
                     "DELETE privilege on the table; other restores are for admins.")));
}

} // namespace

bool may_restore(Oid member, Oid relid, Oid root, const char* what)
{
    if (is_admin_role(member, root))
        return true;
    if (undo_window(root) == nullptr)
        require_admin_of(member, relid, root, what); // raises: admins only
    if (pg_class_aclcheck(root, member, ACL_DELETE) != ACLCHECK_OK)
        refuse(member, relid, what,
               "holds no DELETE privilege on it, which restoring within the undo window needs");
    return false;
}

void require_own_deletes(Oid member, const TableConfig& cfg, const char* target,
                         const char* condition, int nargs, const Oid* types, const Datum* values,
                         bool expect_rows, const char* what)
{
    Interval* window = undo_window(cfg.root);
    if (window == nullptr)
        require_admin_of(member, cfg.relid, cfg.root, what);
    if (cfg.deleted_at == InvalidAttrNumber || cfg.deleted_by == InvalidAttrNumber)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("table %s lacks its deletion record columns",
                               relation_display_name(cfg.relid)),
                        errhint("Call softdelete.enable() on it to repair it.")));
    const char* actor = operation_who().actor;
    const char* at = quote_identifier(get_attname(cfg.relid, cfg.deleted_at, false));
    const char* by = quote_identifier(get_attname(cfg.relid, cfg.deleted_by, false));
    int actor_param = nargs + 1;
    int window_param = nargs + 2;
    // The first row that fails, 'actor' before 'window'; 'none' when the
    // condition selects nothing; NULL when every row passes. Operators and
    // collations are schema-qualified: the statement runs under the
    // caller's search_path.
    StringInfoData sql;
    initStringInfo(&sql);
    appendStringInfo(&sql,
                     "WITH r AS MATERIALIZED (SELECT c.%s::pg_catalog.text AS by, "
                     "%s AS at FROM %s AS c WHERE (%s) FOR UPDATE OF c), "
                     "judged AS (SELECT r.at IS NULL OR NOT coalesce(r.by "
                     "OPERATOR(pg_catalog.=) $%d COLLATE pg_catalog.\"C\", false) AS other_actor, "
                     "CASE WHEN r.at OPERATOR(pg_catalog.>=) pg_catalog.clock_timestamp() "
                     "THEN true WHEN NOT pg_catalog.isfinite(r.at) THEN false "
                     "ELSE pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) r.at "
                     "OPERATOR(pg_catalog.<=) $%d END AS in_window FROM r) "
                     "SELECT CASE WHEN NOT EXISTS (SELECT FROM r) THEN 'none' "
                     "WHEN EXISTS (SELECT FROM judged WHERE other_actor) THEN 'actor' "
                     "WHEN EXISTS (SELECT FROM judged WHERE NOT coalesce(in_window, "
                     "false)) THEN 'window' END",
                     by, instant_sql(cfg.relid, cfg.deleted_at, psprintf("c.%s", at)), target,
                     condition, actor_param, window_param);
    Oid all_types[FUNC_MAX_ARGS];
    Datum all_values[FUNC_MAX_ARGS];
    if (nargs < 0 || nargs > FUNC_MAX_ARGS - 2)
        elog(ERROR, "softdelete: too many parameters for the undo window check");
    for (int i = 0; i < nargs; i++) {
        all_types[i] = types[i];
        all_values[i] = values[i];
    }
    all_types[nargs] = TEXTOID;
    all_values[nargs] = CStringGetTextDatum(actor);
    all_types[nargs + 1] = INTERVALOID;
    all_values[nargs + 1] = IntervalPGetDatum(window);
    OwnerStatement judged = run_as_owner(relation_owner(cfg.relid), sql.data, nargs + 2, all_types,
                                         all_values, false, true);
    const char* verdict = judged.first_value;
    if (verdict == nullptr || (strcmp(verdict, "none") == 0 && !expect_rows))
        return;
    if (strcmp(verdict, "window") == 0)
        refuse(member, cfg.relid, what,
               psprintf("the table's undo window (%s) has passed since the rows were deleted",
                        window_text(window)));
    refuse(member, cfg.relid, what,
           psprintf("actor \"%s\" is not the one that deleted the rows", actor));
}

} // namespace softdelete

extern "C" {

// softdelete_internal.may_restore(tbl, what): may_restore() about the role
// that called the public API.
PG_FUNCTION_INFO_V1(softdelete_may_restore);
Datum softdelete_may_restore(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("softdelete_internal.may_restore() needs a table and an action")));
    Oid relid = PG_GETARG_OID(0);
    PG_RETURN_BOOL(softdelete::may_restore(softdelete::acting_role(), relid,
                                           softdelete::table_config_root(relid),
                                           text_to_cstring(PG_GETARG_TEXT_PP(1))));
}

// softdelete_internal.require_own_deletes(tbl, target, condition, arg, what):
// require_own_deletes() about the role that called the public API, for the
// rows of target that condition selects ($1 being arg), at least one.
PG_FUNCTION_INFO_V1(softdelete_require_own_deletes);
Datum softdelete_require_own_deletes(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(4))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("softdelete_internal.require_own_deletes() needs a table, a "
                               "target, a condition and an action")));
    Oid relid = PG_GETARG_OID(0);
    softdelete::TableConfig cfg;
    softdelete::require_enabled_table(relid, &cfg);
    Oid types[] = {JSONBOID};
    Datum values[] = {PG_ARGISNULL(3) ? (Datum)0 : PG_GETARG_DATUM(3)};
    softdelete::require_own_deletes(softdelete::acting_role(), cfg,
                                    text_to_cstring(PG_GETARG_TEXT_PP(1)),
                                    text_to_cstring(PG_GETARG_TEXT_PP(2)), PG_ARGISNULL(3) ? 0 : 1,
                                    types, values, true, text_to_cstring(PG_GETARG_TEXT_PP(4)));
    PG_RETURN_VOID();
}
}
