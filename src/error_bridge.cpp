// Both directions of the C++/PostgreSQL error bridge (see error_bridge.hpp).
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>

#include "error_bridge.hpp"

namespace softdelete
{

namespace
{

// Copies a C string into a fixed buffer, always terminated.
void copy_text(char* dest, size_t size, const char* src) noexcept
{
    if (src == nullptr) {
        dest[0] = '\0';
        return;
    }
    strlcpy(dest, src, size);
}

} // namespace

PgError capture_pg_error(MemoryContext resume_in)
{
    // CopyErrorData must not run in ErrorContext; the copy lives in the
    // caller's context and is freed once its text is in the exception.
    MemoryContextSwitchTo(resume_in);
    ErrorData* edata = CopyErrorData();
    FlushErrorState();
    PgError err(edata->sqlerrcode, edata->message ? edata->message : "",
                edata->detail ? edata->detail : "", edata->hint ? edata->hint : "");
    FreeErrorData(edata);
    return err;
}

void remember_exception(PendingError& out, std::exception_ptr error) noexcept
{
    out.set = true;
    try {
        std::rethrow_exception(error);
    } catch (const PgError& e) {
        out.sqlstate = e.sqlstate();
        copy_text(out.message, sizeof out.message, e.what());
        copy_text(out.detail, sizeof out.detail, e.detail().c_str());
        copy_text(out.hint, sizeof out.hint, e.hint().c_str());
    } catch (const std::bad_alloc&) {
        out.sqlstate = ERRCODE_OUT_OF_MEMORY;
        copy_text(out.message, sizeof out.message, "out of memory in softdelete");
    } catch (const std::exception& e) {
        out.sqlstate = ERRCODE_INTERNAL_ERROR;
        copy_text(out.message, sizeof out.message, e.what());
    } catch (...) {
        out.sqlstate = ERRCODE_INTERNAL_ERROR;
        copy_text(out.message, sizeof out.message, "unknown C++ exception in softdelete");
    }
}

void raise_pending(const PendingError& err)
{
    ereport(ERROR, (errcode(err.sqlstate), errmsg_internal("%s", err.message),
                    err.detail[0] ? errdetail_internal("%s", err.detail) : 0,
                    err.hint[0] ? errhint("%s", err.hint) : 0));
    pg_unreachable();
}

} // namespace softdelete
