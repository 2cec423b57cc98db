// See owner_statement.hpp. Errors need no cleanup here: aborting the
// (sub)transaction restores the user id and the settings.
#include "extension_objects.hpp"
#include "owner_statement.hpp"
#include "event_log.hpp"

extern "C" {
#include "utils/varlena.h"
}

namespace softdelete
{

namespace
{

// Runs sql in a connected SPI; the first value is copied into into. With
// dest, the rows go there instead; with order, only when its plan passes.
OwnerStatement execute(const char* sql, int nargs, Oid* types, Datum* values, bool see_concurrent,
                       MemoryContext into, DestReceiver* dest = nullptr,
                       const OrderedRun* order = nullptr)
{
    OwnerStatement result = {0, nullptr};
    int rc;
    if (dest != nullptr) {
        SPIPlanPtr plan =
            SPI_prepare_cursor(sql, nargs, types, order != nullptr ? CURSOR_OPT_GENERIC_PLAN : 0);
        if (plan == nullptr)
            elog(ERROR, "softdelete could not prepare a statement on a table: %s",
                 SPI_result_code_string(SPI_result));
        if (order != nullptr) {
            // An index scan where there is one to use; the plan made now is
            // the one that runs (a generic plan is kept with the statement).
            (void)set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION,
                                    GUC_ACTION_SAVE, true, 0, false);
            (void)set_config_option("enable_bitmapscan", "off", PGC_USERSET, PGC_S_SESSION,
                                    GUC_ACTION_SAVE, true, 0, false);
            CachedPlan* cached = SPI_plan_get_cached_plan(plan);
            bool passes = cached != nullptr && list_length(cached->stmt_list) == 1 &&
                          order->check(linitial_node(PlannedStmt, cached->stmt_list), order->arg);
            if (cached != nullptr)
                ReleaseCachedPlan(cached, nullptr);
            if (!passes)
                return result;
            result.ran = true;
        }
        ParamListInfo params = makeParamList(nargs);
        for (int i = 0; i < nargs; i++) {
            params->params[i].value = values[i];
            params->params[i].isnull = false;
            params->params[i].pflags = PARAM_FLAG_CONST;
            params->params[i].ptype = types[i];
        }
        SPIExecuteOptions options;
        memset(&options, 0, sizeof options);
        options.params = params;
        options.dest = dest;
        rc = SPI_execute_plan_extended(plan, &options);
    } else if (see_concurrent && IsolationUsesXactSnapshot()) {
        // As PostgreSQL's own foreign key actions under REPEATABLE READ: rows
        // committed after this transaction's snapshot are seen, and changing
        // one is a serialization failure, never a row passed over.
        SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
        if (plan == nullptr)
            elog(ERROR, "softdelete could not prepare a statement on a table: %s",
                 SPI_result_code_string(SPI_result));
        rc = SPI_execute_snapshot(plan, values, nullptr, GetLatestSnapshot(),
                                  GetTransactionSnapshot(), false, true, 0);
    } else {
        rc = SPI_execute_with_args(sql, nargs, types, values, nullptr, false, 0);
    }
    if (rc < 0)
        elog(ERROR, "softdelete could not run a statement on a table: %s",
             SPI_result_code_string(rc));
    result.processed = SPI_processed;
    if (SPI_tuptable != nullptr && SPI_processed > 0 && SPI_tuptable->tupdesc->natts > 0) {
        char* value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
        if (value != nullptr)
            result.first_value = MemoryContextStrdup(into, value);
    }
    return result;
}

} // namespace

// "pg_catalog, <the caller's schemas>, pg_temp": the caller's own mention
// of pg_temp is left out, so that it comes last whatever the caller wrote.
const char* owner_search_path()
{
    StringInfoData path;
    initStringInfo(&path);
    appendStringInfoString(&path, "pg_catalog");
    char* caller = pstrdup(namespace_search_path != nullptr ? namespace_search_path : "");
    List* names = NIL;
    if (SplitIdentifierString(caller, ',', &names)) {
        ListCell* lc;
        foreach (lc, names) {
            const char* name = static_cast<const char*>(lfirst(lc));
            if (strcmp(name, "pg_temp") == 0)
                continue;
            // "$user" is kept as the caller wrote it; PostgreSQL reads it.
            appendStringInfo(&path, ", %s",
                             strcmp(name, "$user") == 0 ? "\"$user\"" : quote_identifier(name));
        }
    }
    appendStringInfoString(&path, ", pg_temp");
    return path.data;
}

// The statements are built with every table and type schema-qualified, and
// with operators and functions by name (->>, now()) on arguments of exact
// types (typed literals, parameters, columns); key comparisons name their
// operator's schema (key_sql.cpp). They run with pg_catalog first in the
// search_path, then the caller's, then pg_temp: an exact match is taken
// from the schema that comes first, so PostgreSQL's own operators and
// functions are used, never one of the same name that a schema of the
// caller's puts before pg_catalog to run as the table's owner. The caller's
// schemas stay on the path, for the table's triggers that name tables and
// functions without a schema (an audit table in public), as they run when
// PostgreSQL's own foreign key actions fire them; pg_temp last, even where
// the caller put it first, keeps a temporary table of the caller's from
// standing in for one of those.
// Values travel between the statements as text (a parent's key, read in one
// and compared in the next), so the settings that shape a value's text are
// pinned too, to forms that read back exactly: all of a float's digits, ISO
// dates with their offset (which an old date's local mean time under
// DateStyle SQL is not), intervals and bytea in PostgreSQL's own format.
void pin_settings()
{
    const char* path = owner_search_path();
    const char* const pinned[][2] = {
        {"search_path", path},         {"extra_float_digits", "3"}, {"DateStyle", "ISO, YMD"},
        {"IntervalStyle", "postgres"}, {"bytea_output", "hex"},
    };
    for (const auto& setting : pinned)
        (void)set_config_option(setting[0], setting[1], PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                                true, 0, false);
}

OwnerStatement run_statement(const char* sql, int nargs, Oid* types, Datum* values)
{
    MemoryContext caller_context = CurrentMemoryContext;
    int guc_level = NewGUCNestLevel();
    pin_settings();
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    OwnerStatement result = execute(sql, nargs, types, values, false, caller_context);
    SPI_finish();
    AtEOXact_GUC(true, guc_level);
    return result;
}

namespace
{

OwnerStatement as_owner(Oid owner, const char* sql, int nargs, Oid* types, Datum* values,
                        bool hard_delete, bool see_concurrent, DestReceiver* dest,
                        const OrderedRun* order = nullptr)
{
    Oid saved_user;
    int saved_context;
    GetUserIdAndSecContext(&saved_user, &saved_context);
    MemoryContext caller_context = CurrentMemoryContext;
    // The actor is read as the caller, before the switch to the owner.
    int guc_level = pin_actor();
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "SPI_connect failed");
    SetUserIdAndSecContext(owner,
                           saved_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS);
    // Set as the owner, for this statement only: the owner's own opt-in,
    // or off whatever the session had (a cascade's DELETE is a soft delete).
    (void)set_config_option("softdelete.hard_delete", hard_delete ? "on" : "off", PGC_USERSET,
                            PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
    pin_settings();
    OwnerStatement result =
        execute(sql, nargs, types, values, see_concurrent, caller_context, dest, order);
    SetUserIdAndSecContext(saved_user, saved_context);
    // In a security-restricted operation (the lifecycle worker), a setting
    // the owner's code changed (a trigger's set_config()) ends with the
    // statement, as in PostgreSQL's own maintenance commands: it would
    // otherwise reach the next tables, other owners' included (their
    // events' actor, a read-only default). Elsewhere it is kept, as
    // PostgreSQL's own ON DELETE CASCADE keeps it (a trigger's SET LOCAL
    // lasts the transaction); the settings pinned here are put back
    // either way.
    AtEOXact_GUC((saved_context & SECURITY_RESTRICTED_OPERATION) == 0, guc_level);
    SPI_finish();
    return result;
}

} // namespace

OwnerStatement run_as_owner(Oid owner, const char* sql, int nargs, Oid* types, Datum* values,
                            bool hard_delete, bool see_concurrent)
{
    return as_owner(owner, sql, nargs, types, values, hard_delete, see_concurrent, nullptr);
}

OwnerStatement run_as_owner_into(Oid owner, const char* sql, int nargs, Oid* types, Datum* values,
                                 bool hard_delete, DestReceiver* dest)
{
    return as_owner(owner, sql, nargs, types, values, hard_delete, false, dest);
}

OwnerStatement run_as_owner_ordered(Oid owner, const char* sql, int nargs, Oid* types,
                                    Datum* values, bool hard_delete, DestReceiver* dest,
                                    const OrderedRun& order)
{
    return as_owner(owner, sql, nargs, types, values, hard_delete, false, dest, &order);
}

} // namespace softdelete

extern "C" {

// softdelete_internal.run_as_owner(tbl, sql, key, hard_delete): what
// restore() and hard_delete() run on tbl, with the key as $1.
PG_FUNCTION_INFO_V1(softdelete_run_as_owner);
Datum softdelete_run_as_owner(PG_FUNCTION_ARGS)
{
    if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
        ereport(ERROR,
                (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                 errmsg("softdelete_internal.run_as_owner() needs a table and a statement")));
    Oid owner = softdelete::relation_owner(PG_GETARG_OID(0));
    Oid types[] = {JSONBOID};
    Datum values[] = {PG_ARGISNULL(2) ? (Datum)0 : PG_GETARG_DATUM(2)};
    int nargs = PG_ARGISNULL(2) ? 0 : 1;
    bool hard = !PG_ARGISNULL(3) && PG_GETARG_BOOL(3);
    softdelete::OwnerStatement ran = softdelete::run_as_owner(
        owner, text_to_cstring(PG_GETARG_TEXT_PP(1)), nargs, types, values, hard);

    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
        elog(ERROR, "softdelete_internal.run_as_owner() must return a record");
    desc = BlessTupleDesc(desc);
    Datum out[2] = {Int64GetDatum(static_cast<int64>(ran.processed)),
                    ran.first_value != nullptr ? CStringGetTextDatum(ran.first_value) : (Datum)0};
    bool nulls[2] = {false, ran.first_value == nullptr};
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, out, nulls)));
}
}
