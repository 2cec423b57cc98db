// A test-only module for test/t/003_error_bridge.pl, built by that test and
// never installed: it drives src/error_bridge.hpp along paths the extension's
// own code does not take today, where a C++ exception leaves a guarded body
// and where errors made in C++ carry long texts, and through
// rolled_back_on_error, whose paths the lifecycle worker takes only when
// something fails.
#include <optional>
#include <stdexcept>
#include <string>

#include "error_bridge.hpp"

extern "C" {
PG_MODULE_MAGIC;
}

namespace
{

void outer_body_context(void* arg)
{
    errcontext("%s", static_cast<const char*>(arg));
}

// Leaves a guarded body by a C++ exception while an error context callback on
// that body's frame is installed: a PgError from an ereport inside a nested
// pg_guard, or one made in C++.
void escape_from_guarded_body(bool nested_ereport)
{
    softdelete::pg_guard([nested_ereport] {
        ErrorContextCallback callback;
        callback.callback = outer_body_context;
        callback.arg = const_cast<char*>("in the outer guarded body");
        callback.previous = error_context_stack;
        error_context_stack = &callback;
        if (!nested_ereport)
            throw softdelete::PgError(ERRCODE_DATA_EXCEPTION, "thrown in a guarded body");
        softdelete::pg_guard([]() -> int {
            ereport(ERROR, (errcode(ERRCODE_CHECK_VIOLATION), errmsg("raised in a nested guard"),
                            errdetail("The outer guarded body is left by a C++ exception."),
                            err_generic_string(PG_DIAG_SCHEMA_NAME, "probe_schema"),
                            err_generic_string(PG_DIAG_TABLE_NAME, "probe_table"),
                            err_generic_string(PG_DIAG_CONSTRAINT_NAME, "probe_constraint")));
            return 0;
        });
        error_context_stack = callback.previous;
    });
}

} // namespace

extern "C" {

PG_FUNCTION_INFO_V1(bridge_probe_escape);
Datum bridge_probe_escape(PG_FUNCTION_ARGS)
{
    bool nested_ereport = PG_GETARG_BOOL(0);
    softdelete::entry_guard([nested_ereport] { escape_from_guarded_body(nested_ereport); });
    PG_RETURN_VOID();
}

// Throws a PgError whose message, detail and hint are each `length` long.
PG_FUNCTION_INFO_V1(bridge_probe_long_error);
Datum bridge_probe_long_error(PG_FUNCTION_ARGS)
{
    int32 length = PG_GETARG_INT32(0);
    softdelete::entry_guard([length] {
        throw softdelete::PgError(ERRCODE_DATA_EXCEPTION, std::string(length, 'm'),
                                  std::string(length, 'd'), std::string(length, 'h'));
    });
    PG_RETURN_VOID();
}
}

namespace
{

// Runs sql through SPI inside rolled_back_on_error. mode: "sql" runs it
// under a nested pg_guard while SPI's memory context is current, so that
// the error is captured in memory the rollback frees; "throw" runs it and
// then throws a C++ exception that is no PgError; "open" runs it inside a
// subtransaction of its own that an error leaves open. Returns "ok", or the
// caught error: SQLSTATE, message, and whether it lives in the caller's
// memory context.
std::string rolled_back(const char* sql, const std::string& mode)
{
    MemoryContext caller = CurrentMemoryContext;
    std::optional<softdelete::PgError> error = softdelete::rolled_back_on_error([sql, &mode] {
        softdelete::pg_guard([] {
            if (SPI_connect() != SPI_OK_CONNECT)
                elog(ERROR, "SPI_connect failed");
        });
        if (mode == "open")
            softdelete::pg_guard([] { BeginInternalSubTransaction(nullptr); });
        softdelete::pg_guard([sql] { SPI_execute(sql, false, 0); });
        if (mode == "throw")
            throw std::runtime_error("a C++ error after the SQL ran");
        if (mode == "open")
            softdelete::pg_guard([] { ReleaseCurrentSubTransaction(); });
        softdelete::pg_guard([] { SPI_finish(); });
    });
    if (!error)
        return "ok";
    const char* where = error->pg_error() != nullptr && error->pg_error()->assoc_context == caller
                            ? "kept in the caller's context"
                            : "elsewhere";
    return std::string(
               softdelete::pg_guard([&error] { return unpack_sql_state(error->sqlstate()); })) +
           " " + error->what() + " (" + where + ")";
}

} // namespace

extern "C" {

PG_FUNCTION_INFO_V1(bridge_probe_rolled_back);
Datum bridge_probe_rolled_back(PG_FUNCTION_ARGS)
{
    char* sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
    char* mode = text_to_cstring(PG_GETARG_TEXT_PP(1));
    text* result = softdelete::entry_guard([sql, mode] {
        std::string outcome = rolled_back(sql, mode);
        return softdelete::pg_guard([&outcome] { return cstring_to_text(outcome.c_str()); });
    });
    PG_RETURN_TEXT_P(result);
}
}
