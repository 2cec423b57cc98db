// softdelete_internal.enable_plan(tbl, column_name, options...): what enable()
// does, in order, without doing it; plan_table() is one table's part. One row per action it
// reports, with the statement that carries it out ($1 is args). Everything
// enable() refuses, it refuses here, before the first change, so enable(),
// its dry run and the cascade (enable_plan) share one plan. The facts come
// from the catalog room (catalog.hpp); the statements stay SQL, built from
// quoted identifiers with values as the parameter, so that event triggers
// see the DDL when it runs.
#include <initializer_list>
#include <string>
#include <utility>

#include "catalog.hpp"
#include "error_bridge.hpp"
#include "table_config.hpp"
#include "target_check.hpp"

extern "C" {
#include "catalog/heap.h"
#include "utils/timestamp.h"
}

namespace softdelete
{

namespace
{

// enable()'s options for one table, as the SQL function received them.
struct EnableOptions {
    Oid table;
    const char* column; // null when NULL
    Interval* retention;
    bool archive, archive_null;
    Interval* archive_retention;
    bool cascade, cascade_null;
    ArrayType* pii_columns; // '{}' for NULL
    Interval* undo_window;
    bool log_events, log_events_null;
    bool notify; // false for NULL
};

struct PlanRow {
    Oid relid;
    const char* action;
    const char* object;
    const char* statement; // null when the row runs nothing
    Jsonb* args;
};

// The plan being made: rows in order, texts in the SRF's memory.
struct Plan {
    Oid table;
    const char* name; // the table as regclass prints it
    List* rows;
    bool changed;
    List** index_names; // chosen by the whole plan (deleted_rows_index_name())
};

void add(Plan* plan, const char* action, const char* object, const char* statement,
         Jsonb* args = nullptr)
{
    auto* row = static_cast<PlanRow*>(palloc(sizeof(PlanRow)));
    *row = {plan->table, action, object, statement, args};
    plan->rows = lappend(plan->rows, row);
    plan->changed = true;
}

bool negative(const Interval* value)
{
    static const Interval zero = {};
    return value != nullptr &&
           DatumGetBool(DirectFunctionCall2(interval_lt, IntervalPGetDatum(value),
                                            IntervalPGetDatum(&zero)));
}

// The elements of options.pii_columns; the count.
int pii_columns(const EnableOptions& options, Datum** names, bool** nulls)
{
    int n;
    deconstruct_array(options.pii_columns, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR, names, nulls,
                      &n);
    return n;
}

// The first of the pii_columns that tbl lacks, or null. A NULL element
// ends the search without a complaint, as the SQL it replaces did.
bool null_pii_column(const EnableOptions& options)
{
    Datum* names;
    bool* nulls;
    int n = pii_columns(options, &names, &nulls);
    for (int i = 0; i < n; i++) {
        if (nulls[i])
            return true;
    }
    return false;
}

// Longer than the purge and the undo window can reckon with: they compare
// times with now() minus (or plus) the interval, which must stay a
// timestamp. PostgreSQL's intervals compare a month as 30 days, so the bound
// is about 3,900 years.
bool too_long(const Interval* value)
{
    Interval limit = {};
    limit.month = 4000 * MONTHS_PER_YEAR;
    return value != nullptr &&
           DatumGetBool(DirectFunctionCall2(interval_gt, IntervalPGetDatum(value),
                                            IntervalPGetDatum(&limit)));
}

const char* missing_pii_column(const EnableOptions& options)
{
    Datum* names;
    bool* nulls;
    int n = pii_columns(options, &names, &nulls);
    for (int i = 0; i < n; i++) {
        if (nulls[i])
            continue; // refused by check_options()
        const char* name = NameStr(*DatumGetName(names[i]));
        if (!OidIsValid(column_type(options.table, name)))
            return name;
    }
    return nullptr;
}

void check_options(const EnableOptions& options, const char* table_name)
{
    if (options.column == nullptr || options.column[0] == '\0')
        throw PgError(ERRCODE_INVALID_PARAMETER_VALUE, "column_name must not be empty");
    std::string name = table_name;
    std::string column = pg_guard([&] { return quote_identifier(options.column); });
    // A column of its own beside the three others: not one of them, and not
    // a system column's name (adding it would fail; a dry run says so too).
    for (const char* taken : {"deleted_by", "delete_reason", "delete_op"}) {
        if (strcmp(options.column, taken) == 0)
            throw PgError(ERRCODE_DUPLICATE_COLUMN,
                          "column_name " + column + " is one of softdelete's own columns", "",
                          "Choose another column_name: softdelete uses deleted_by, delete_reason "
                          "and delete_op beside it.");
    }
    if (pg_guard([&] { return SystemAttributeByName(options.column) != nullptr; }))
        throw PgError(ERRCODE_DUPLICATE_COLUMN,
                      "column name " + column + " conflicts with a system column name", "",
                      "Choose another column_name.");
    const char* other = nullptr;
    Oid parent = pg_guard([&] { return parent_unlike(options.table, options.column, &other); });
    if (OidIsValid(parent)) {
        std::string parent_name = pg_guard([&] { return relation_text(parent); });
        // Reads through a parent that is not enabled would show this table's
        // deleted rows (the parent's policies apply to them there).
        if (other == nullptr)
            throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                          "table " + name + " inherits from " + parent_name +
                              ", which is not enabled for soft delete",
                          "Reads through " + parent_name + " would show the deleted rows of " +
                              name + ".",
                          "Enable " + parent_name + " first, or ALTER TABLE " + name +
                              " NO INHERIT " + parent_name + ".");
        // A DELETE through the parent marks the parent's column, which this
        // table inherits but would not read as its tombstone.
        std::string theirs = pg_guard([&] { return quote_identifier(other); });
        throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                      "table " + name + " inherits from " + parent_name +
                          ", which is enabled with tombstone column " + theirs,
                      "A DELETE through " + parent_name + " would set " + theirs + " in rows of " +
                          name + ", which would still show them as live, deleted by " + column +
                          " only.",
                      "Use the same column_name for both tables, or ALTER TABLE " + name +
                          " NO INHERIT " + parent_name + ".");
    }
    Oid child = pg_guard([&] { return child_unlike(options.table, options.column, &other); });
    if (OidIsValid(child)) {
        std::string child_name = pg_guard([&] { return relation_text(child); });
        // The child's rows show through this table, but read, deleted or
        // restored in the child itself they would follow no rule.
        if (other == nullptr)
            throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                          "table " + name + " has inheritance child " + child_name +
                              ", which is not enabled for soft delete",
                          "Its rows would be soft-deleted and hidden through " + name +
                              ", but deleted for good and shown when " + child_name +
                              " is named directly.",
                          "ALTER TABLE " + child_name + " NO INHERIT " + name +
                              ", enable both tables, then ALTER TABLE " + child_name + " INHERIT " +
                              name + ".");
        std::string theirs = pg_guard([&] { return quote_identifier(other); });
        throw PgError(ERRCODE_FEATURE_NOT_SUPPORTED,
                      "table " + name + " has inheritance child " + child_name +
                          ", which is enabled with tombstone column " + theirs,
                      "A DELETE through " + name + " would set " + column + " in rows of " +
                          child_name + ", which would still show them as live, deleted by " +
                          theirs + " only.",
                      "Use the same column_name for both tables, or ALTER TABLE " + child_name +
                          " NO INHERIT " + name + ".");
    }
    if (options.archive_null || options.cascade_null || options.log_events_null)
        throw PgError(ERRCODE_NULL_VALUE_NOT_ALLOWED,
                      "archive, cascade and log_events must not be NULL");
    bool any_negative = pg_guard([&] {
        return negative(options.retention) || negative(options.archive_retention) ||
               negative(options.undo_window);
    });
    if (any_negative)
        throw PgError(ERRCODE_INVALID_PARAMETER_VALUE,
                      "retention, archive_retention and undo_window must not be negative");
    bool any_too_long = pg_guard([&] {
        return too_long(options.retention) || too_long(options.archive_retention) ||
               too_long(options.undo_window);
    });
    if (any_too_long)
        throw PgError(ERRCODE_INTERVAL_FIELD_OVERFLOW,
                      "retention, archive_retention and undo_window must be under 4000 years", "",
                      "Leave retention NULL to keep deleted rows for good.");
    if (pg_guard([&] { return null_pii_column(options); }))
        throw PgError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "pii_columns must not contain NULL");
    const char* missing = pg_guard([&] { return missing_pii_column(options); });
    if (missing != nullptr)
        throw PgError(ERRCODE_UNDEFINED_COLUMN, std::string("column \"") + missing +
                                                    "\" of table " + table_name +
                                                    " does not exist (pii_columns)");
}

bool intervals_differ(Datum stored, bool stored_null, const Interval* wanted)
{
    if (stored_null || wanted == nullptr)
        return stored_null != (wanted == nullptr);
    return !DatumGetBool(DirectFunctionCall2(interval_eq, stored, IntervalPGetDatum(wanted)));
}

// Does tbl's row in softdelete.tables say something else than options?
bool options_differ(HeapTuple row, TupleDesc desc, const EnableOptions& options)
{
    bool isnull;
    Datum value;
    for (auto [column, wanted] :
         {std::pair<const char*, const Interval*>{"retention", options.retention},
          {"archive_retention", options.archive_retention},
          {"undo_window", options.undo_window}}) {
        value = config_value(row, desc, column, &isnull);
        if (intervals_differ(value, isnull, wanted))
            return true;
    }
    for (auto [column, wanted] : {std::pair<const char*, bool>{"archive", options.archive},
                                  {"cascade", options.cascade},
                                  {"log_events", options.log_events},
                                  {"notify", options.notify}}) {
        value = config_value(row, desc, column, &isnull);
        if (isnull || DatumGetBool(value) != wanted)
            return true;
    }
    value = config_value(row, desc, "pii_columns", &isnull);
    if (isnull)
        return true;
    FmgrInfo array_equal;
    fmgr_info(F_ARRAY_EQ, &array_equal);
    return !DatumGetBool(FunctionCall2Coll(&array_equal, C_COLLATION_OID, value,
                                           PointerGetDatum(options.pii_columns)));
}

void push_key(JsonbParseState** state, const char* key)
{
    JsonbValue v;
    v.type = jbvString;
    v.val.string.val = const_cast<char*>(key);
    v.val.string.len = strlen(key);
    pushJsonbValue(state, WJB_KEY, &v);
}

void push_string(JsonbParseState** state, JsonbIteratorToken token, const char* value)
{
    JsonbValue v;
    v.type = value == nullptr ? jbvNull : jbvString;
    if (value != nullptr) {
        v.val.string.val = const_cast<char*>(value);
        v.val.string.len = strlen(value);
    }
    pushJsonbValue(state, token, &v);
}

void push_bool(JsonbParseState** state, bool value)
{
    JsonbValue v;
    v.type = jbvBool;
    v.val.boolean = value;
    pushJsonbValue(state, WJB_VALUE, &v);
}

void push_interval(JsonbParseState** state, const Interval* value)
{
    push_string(state, WJB_VALUE,
                value == nullptr
                    ? nullptr
                    : DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(value))));
}

// save_config()'s parameter: the options as a jsonb object (intervals in
// their text form, as jsonb_build_object writes them).
Jsonb* options_json(const EnableOptions& options)
{
    JsonbParseState* state = nullptr;
    pushJsonbValue(&state, WJB_BEGIN_OBJECT, nullptr);
    push_key(&state, "column_name");
    push_string(&state, WJB_VALUE, options.column);
    push_key(&state, "retention");
    push_interval(&state, options.retention);
    push_key(&state, "archive");
    push_bool(&state, options.archive);
    push_key(&state, "archive_retention");
    push_interval(&state, options.archive_retention);
    push_key(&state, "cascade");
    push_bool(&state, options.cascade);
    push_key(&state, "pii_columns");
    pushJsonbValue(&state, WJB_BEGIN_ARRAY, nullptr);
    Datum* names;
    bool* nulls;
    int n = pii_columns(options, &names, &nulls);
    for (int i = 0; i < n; i++)
        push_string(&state, WJB_ELEM, nulls[i] ? nullptr : NameStr(*DatumGetName(names[i])));
    pushJsonbValue(&state, WJB_END_ARRAY, nullptr);
    push_key(&state, "undo_window");
    push_interval(&state, options.undo_window);
    push_key(&state, "log_events");
    push_bool(&state, options.log_events);
    push_key(&state, "notify");
    push_bool(&state, options.notify);
    return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, nullptr));
}

// "{a,b}" as a literal: the key columns as install_enforcement() takes them.
const char* names_literal(List* names)
{
    if (names == NIL)
        return "NULL";
    return quote_literal_cstr(
        OidOutputFunctionCall(F_ARRAY_OUT, PointerGetDatum(name_array(names))));
}

// The tombstone columns: added without a rewrite (nullable, no default), or
// adopted. Refuses a column of the wrong type.
void plan_columns(Plan* plan, const EnableOptions& options, bool enabled)
{
    const char* col = options.column;
    // The soft delete writes these columns itself, and a restore clears
    // them: a column PostgreSQL computes, that refuses NULL, that a new row
    // would fill (born deleted), or too narrow for what is written (a dump
    // of its rows would not load back) cannot be one of them. The drift
    // guard refuses each of these once the table is enabled.
    // A partition's NOT NULL and default are its own.
    List* relations = pg_guard([&] { return lcons_oid(plan->table, partitions_of(plan->table)); });
    for (int r = 0; r < list_length(relations); r++)
        for (const char* tombstone : {col, "deleted_by", "delete_reason", "delete_op"}) {
            Oid rel = list_nth_oid(relations, r);
            const char* why = pg_guard([&] { return unfit_tombstone_column(rel, tombstone); });
            if (why != nullptr)
                throw PgError(
                    ERRCODE_INVALID_COLUMN_DEFINITION,
                    std::string("column ") + tombstone + " of " +
                        pg_guard([&] { return relation_text(rel); }) + " is " + why,
                    "softdelete writes " + std::string(tombstone) +
                        " when it soft-deletes a row and sets it back to NULL when it "
                        "restores one.",
                    "Choose another column_name, or change the column: ALTER TABLE ... "
                    "ALTER COLUMN ... DROP EXPRESSION, DROP IDENTITY, DROP NOT NULL, DROP "
                    "DEFAULT, or TYPE text (timestamptz for the deletion time).");
        }
    Oid type = pg_guard([&] { return column_type(plan->table, col); });
    if (!OidIsValid(type)) {
        pg_guard([&] {
            add(plan, "column", psprintf("%s.%s", plan->name, quote_identifier(col)),
                psprintf("ALTER TABLE %s ADD COLUMN %s timestamptz", plan->name,
                         quote_identifier(col)));
        });
    } else if (type != TIMESTAMPTZOID && type != TIMESTAMPOID) {
        std::string type_name = pg_guard([&] { return format_type_be(type); });
        throw PgError(ERRCODE_DATATYPE_MISMATCH,
                      std::string("column ") + col + " of " + plan->name + " has type " +
                          type_name + ", not timestamptz or timestamp",
                      "", "Choose another column_name, or change the column's type.");
    } else if (!enabled) {
        pg_guard([&] {
            add(plan, "adopted column", psprintf("%s.%s", plan->name, quote_identifier(col)),
                nullptr);
        });
    }
    for (const char* who : {"deleted_by", "delete_reason"}) {
        type = pg_guard([&] { return column_type(plan->table, who); });
        if (!OidIsValid(type)) {
            pg_guard([&] {
                add(plan, "column", psprintf("%s.%s", plan->name, who),
                    psprintf("ALTER TABLE %s ADD COLUMN %s text", plan->name, who));
            });
        } else if (type != TEXTOID && type != VARCHAROID) {
            std::string type_name = pg_guard([&] { return format_type_be(type); });
            throw PgError(ERRCODE_DATATYPE_MISMATCH, std::string("column ") + who + " of " +
                                                         plan->name + " has type " + type_name +
                                                         ", not text");
        }
    }
    // The operation that soft-deleted the row: what undo() follows.
    type = pg_guard([&] { return column_type(plan->table, "delete_op"); });
    if (!OidIsValid(type)) {
        pg_guard([&] {
            add(plan, "column", psprintf("%s.delete_op", plan->name),
                psprintf("ALTER TABLE %s ADD COLUMN delete_op bigint", plan->name));
        });
    } else if (type != INT8OID) {
        std::string type_name = pg_guard([&] { return format_type_be(type); });
        throw PgError(ERRCODE_DATATYPE_MISMATCH, std::string("column delete_op of ") + plan->name +
                                                     " has type " + type_name + ", not bigint");
    }
}

// The rows after the columns: configuration, unique indexes, the index on
// deleted rows, enforcement on the table and each partition, child guards.
void plan_objects(Plan* plan, const EnableOptions& options, List* keys, HeapTuple config,
                  TupleDesc config_desc)
{
    const char* col = options.column;
    const char* table_literal = quote_literal_cstr(plan->name);
    // The configuration row; its values travel as the parameter $1.
    if (config == nullptr || options_differ(config, config_desc, options))
        add(plan, config == nullptr ? "enabled" : "configured", plan->name,
            psprintf("SELECT softdelete_internal.save_config(%s, $1)", table_literal),
            options_json(options));
    ListCell* lc;
    foreach (lc, uniques_to_convert(plan->table, col)) {
        Oid index = lfirst_oid(lc);
        add(plan, "unique index",
            psprintf("unique index %s made live-only", quote_identifier(get_rel_name(index))),
            psprintf("SELECT softdelete_internal.make_live_only(%s, %s, %s)", table_literal,
                     quote_literal_cstr(relation_text(index)), quote_literal_cstr(col)));
    }
    if (!OidIsValid(deleted_rows_index(plan->table, col)))
        // The purge path reads deleted rows by age.
        add(plan, "index", psprintf("deleted rows of %s by %s", plan->name, quote_identifier(col)),
            psprintf("CREATE INDEX %s ON %s (%s) WHERE %s IS NOT NULL",
                     quote_identifier(deleted_rows_index_name(plan->table, col, plan->index_names)),
                     plan->name, quote_identifier(col), quote_identifier(col)));
    // The first enforcement row of each relation carries the call that
    // installs it all.
    List* relations = lcons_oid(plan->table, partitions_of(plan->table));
    foreach (lc, relations) {
        Oid rel = lfirst_oid(lc);
        const char* install =
            psprintf("SELECT count(*) FROM softdelete_internal.install_enforcement(%s, %s, %s, %s)",
                     quote_literal_cstr(relation_text(rel)), table_literal, quote_literal_cstr(col),
                     names_literal(keys));
        ListCell* step;
        foreach (step, enforcement_to_install(rel)) {
            add(plan, "enforcement", static_cast<char*>(lfirst(step)), install);
            install = nullptr;
        }
    }
    // Children that reference tbl are guarded against it, and tbl against
    // its parents, once tbl is enabled: which columns is worked out when the
    // step runs, so the plan names the step, not each trigger.
    if (plan->changed)
        add(plan, "enforcement",
            psprintf("child guards of %s and of the tables that reference it", plan->name),
            psprintf("SELECT softdelete_internal.announce_child_guards(%s)", table_literal));
    else
        add(plan, "unchanged", plan->name, nullptr);
}

List* plan_table(const EnableOptions& options, List** index_names)
{
    check_target(options.table);
    Plan* plan = pg_guard([&] {
        auto* p = static_cast<Plan*>(palloc0(sizeof(Plan)));
        p->table = options.table;
        p->name = relation_text(options.table);
        p->index_names = index_names;
        return p;
    });
    check_options(options, plan->name);
    List* keys = pg_guard([&] { return key_column_names(plan->table); });
    TupleDesc config_desc = nullptr;
    HeapTuple config = pg_guard([&] { return config_row(plan->table, &config_desc); });
    if (config != nullptr) {
        std::string stored = pg_guard([&] {
            bool isnull;
            Datum column = config_value(config, config_desc, "column_name", &isnull);
            return isnull ? "" : pstrdup(NameStr(*DatumGetName(column)));
        });
        if (stored != options.column)
            throw PgError(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                          std::string("table ") + plan->name + " is already enabled with column " +
                              stored,
                          "", "Call softdelete.disable() first to change the column.");
    }
    plan_columns(plan, options, config != nullptr);
    pg_guard([&] { plan_objects(plan, options, keys, config, config_desc); });
    return plan->rows;
}

// enable()'s plan: the table's rows, then (cascade) those of every table
// that references it and is not enabled yet, which gets the default options
// but the parent's undo window: the rows a parent's delete cascades to come
// back with its undo, under the same rule.
// A child that cannot be enabled fails the whole call, named.
List* enable_plan(const EnableOptions& options)
{
    List* index_names = NIL;
    List* rows = plan_table(options, &index_names);
    if (!options.cascade)
        return rows;
    List* children = pg_guard([&] { return cascade_children(options.table); });
    ArrayType* no_columns = pg_guard([] { return construct_empty_array(NAMEOID); });
    for (int i = 0; i < list_length(children); i++) {
        const auto* edge = static_cast<CascadeChild*>(list_nth(children, i));
        const char* child = pg_guard([&] { return relation_text(edge->child); });
        const char* parent = pg_guard([&] { return relation_text(edge->parent); });
        pg_guard([&] {
            auto* row = static_cast<PlanRow*>(palloc(sizeof(PlanRow)));
            *row = {edge->child, "cascade", psprintf("%s references %s", child, parent), nullptr,
                    nullptr};
            rows = lappend(rows, row);
        });
        EnableOptions defaults = {};
        defaults.table = edge->child;
        defaults.column = "deleted_at";
        defaults.cascade = true;
        defaults.pii_columns = no_columns;
        defaults.log_events = true;
        defaults.undo_window = options.undo_window;
        List* child_rows = NIL;
        try {
            child_rows = plan_table(defaults, &index_names);
        } catch (const PgError& error) {
            std::string table = pg_guard([&] { return relation_text(options.table); });
            std::string advice =
                "Or call softdelete.enable(" +
                std::string(pg_guard([&] { return quote_literal_cstr(table.c_str()); })) +
                ", cascade => false) to leave the tables that reference it alone.";
            throw PgError(error.sqlstate(),
                          std::string("cannot enable ") + child + ", which references " + parent +
                              " (cascade from " + table + "): " + error.what(),
                          error.detail(),
                          error.hint().empty() ? advice : error.hint() + " " + advice);
        }
        rows = pg_guard([&] { return list_concat(rows, child_rows); });
    }
    return rows;
}

Interval* interval_arg(FunctionCallInfo fcinfo, int n)
{
    return PG_ARGISNULL(n) ? nullptr : PG_GETARG_INTERVAL_P(n);
}

} // namespace

} // namespace softdelete

namespace
{

// The options of enable_plan().
softdelete::EnableOptions options_of(FunctionCallInfo fcinfo)
{
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("a table is required")));
    softdelete::EnableOptions options = {};
    options.table = PG_GETARG_OID(0);
    options.column = PG_ARGISNULL(1) ? nullptr : NameStr(*PG_GETARG_NAME(1));
    options.retention = softdelete::interval_arg(fcinfo, 2);
    options.archive_null = PG_ARGISNULL(3);
    options.archive = !options.archive_null && PG_GETARG_BOOL(3);
    options.archive_retention = softdelete::interval_arg(fcinfo, 4);
    options.cascade_null = PG_ARGISNULL(5);
    options.cascade = !options.cascade_null && PG_GETARG_BOOL(5);
    options.pii_columns =
        PG_ARGISNULL(6) ? construct_empty_array(NAMEOID) : PG_GETARG_ARRAYTYPE_P(6);
    options.undo_window = softdelete::interval_arg(fcinfo, 7);
    options.log_events_null = PG_ARGISNULL(8);
    options.log_events = !options.log_events_null && PG_GETARG_BOOL(8);
    options.notify = !PG_ARGISNULL(9) && PG_GETARG_BOOL(9);
    if (ARR_ELEMTYPE(options.pii_columns) != NAMEOID)
        ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH), errmsg("pii_columns must be name[]")));
    return options;
}

// rows (PlanRow*) as the function's result set.
Datum return_rows(FunctionCallInfo fcinfo, List* rows)
{
    auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    ListCell* lc;
    foreach (lc, rows) {
        auto* row = static_cast<softdelete::PlanRow*>(lfirst(lc));
        Datum values[5];
        bool nulls[5] = {false, false, false, row->statement == nullptr, row->args == nullptr};
        values[0] = ObjectIdGetDatum(row->relid);
        values[1] = CStringGetTextDatum(row->action);
        values[2] = CStringGetTextDatum(row->object);
        if (row->statement != nullptr) {
            Datum statement = CStringGetTextDatum(row->statement);
            values[3] =
                PointerGetDatum(construct_array(&statement, 1, TEXTOID, -1, false, TYPALIGN_INT));
        }
        values[4] = row->args == nullptr ? (Datum)0 : JsonbPGetDatum(row->args);
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum)0;
}

} // namespace

extern "C" {

PG_FUNCTION_INFO_V1(softdelete_enable_plan);
Datum softdelete_enable_plan(PG_FUNCTION_ARGS)
{
    softdelete::EnableOptions options = options_of(fcinfo);
    InitMaterializedSRF(fcinfo, 0);
    return return_rows(
        fcinfo, softdelete::entry_guard([&options] { return softdelete::enable_plan(options); }));
}
}
