// A test-only module for test/t/003_error_bridge.pl, built by that test and
// never installed: it drives src/error_bridge.hpp along paths the extension's
// own code does not take today, where a C++ exception leaves a guarded body
// and where errors made in C++ carry long texts.
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
