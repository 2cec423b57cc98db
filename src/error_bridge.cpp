// Both directions of the C++/PostgreSQL error bridge (see error_bridge.hpp).
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "error_bridge.hpp"

namespace softdelete
{

namespace
{

const char* or_empty(const char* text)
{
    return text != nullptr ? text : "";
}

// The string that follows text in a block of consecutive C strings.
const char* next_text(const char* text)
{
    return text + strlen(text) + 1;
}

// message, detail and hint as one malloc'd block; null when out of memory.
// malloc, because this runs inside a catch block, where palloc's ereport on
// failure would longjmp out of it.
char* malloc_texts(const char* message, const char* detail, const char* hint) noexcept
{
    size_t message_size = strlen(message) + 1;
    size_t detail_size = strlen(detail) + 1;
    size_t hint_size = strlen(hint) + 1;
    auto* texts = static_cast<char*>(malloc(message_size + detail_size + hint_size));
    if (texts == nullptr)
        return nullptr;
    memcpy(texts, message, message_size);
    memcpy(texts + message_size, detail, detail_size);
    memcpy(texts + message_size + detail_size, hint, hint_size);
    return texts;
}

// A palloc'd copy of the malloc'd texts, which are freed in any case; null
// when out of memory. ereport never returns, so the malloc'd block must be
// gone before it runs.
char* palloc_texts(char* texts)
{
    if (texts == nullptr)
        return nullptr;
    size_t size = next_text(next_text(next_text(texts))) - texts;
    auto* copy = static_cast<char*>(palloc_extended(size, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM));
    if (copy != nullptr)
        memcpy(copy, texts, size);
    free(texts);
    return copy;
}

} // namespace

PgError::PgError(ErrorData* pg_error)
    : PgError(pg_error->sqlerrcode, or_empty(pg_error->message), or_empty(pg_error->detail),
              or_empty(pg_error->hint))
{
    pg_error_ = pg_error;
}

PgError PgError::copied_into(MemoryContext context) const
{
    if (pg_error_ == nullptr)
        return *this;
    // PostgreSQL makes the copy: the error is raised again and taken as
    // pg_guard takes any error, so that no field of ErrorData is left out.
    MemoryContext current = CurrentMemoryContext;
    ErrorData* error = pg_error_;
    auto raise_again = [error] { ReThrowError(error); };
    caught_pg_error(raise_again);
    PgError copy = capture_pg_error(context);
    MemoryContextSwitchTo(current);
    return copy;
}

std::optional<PgError> failure_kept_in(std::exception_ptr failure, MemoryContext context)
{
    std::optional<PgError> error;
    try {
        std::rethrow_exception(failure);
    } catch (const PgError& e) {
        error = e;
    } catch (...) {
    }
    if (!error)
        return std::nullopt;
    return error->copied_into(context);
}

PgError capture_pg_error(MemoryContext resume_in)
{
    // CopyErrorData must not run in ErrorContext, which FlushErrorState
    // empties. Running out of memory in it would longjmp over the C++ frames
    // of pg_guard's caller: it is caught here and thrown as bad_alloc.
    ErrorData* volatile pg_error = nullptr;
    MemoryContextSwitchTo(resume_in);
    PG_TRY();
    {
        pg_error = CopyErrorData();
    }
    PG_CATCH();
    {
    }
    PG_END_TRY();
    FlushErrorState();
    MemoryContextSwitchTo(resume_in);
    if (pg_error == nullptr)
        throw std::bad_alloc();
    return PgError(pg_error);
}

void remember_exception(PendingError& out, std::exception_ptr error) noexcept
{
    out = {};
    try {
        std::rethrow_exception(error);
    } catch (const PgError& e) {
        out.pg_error = e.pg_error();
        out.sqlstate = e.sqlstate();
        if (out.pg_error == nullptr)
            out.texts = malloc_texts(e.what(), e.detail().c_str(), e.hint().c_str());
    } catch (const std::bad_alloc&) {
        out.sqlstate = ERRCODE_OUT_OF_MEMORY;
    } catch (const std::exception& e) {
        out.sqlstate = ERRCODE_INTERNAL_ERROR;
        out.texts = malloc_texts(e.what(), "", "");
    } catch (...) {
        out.sqlstate = ERRCODE_INTERNAL_ERROR;
        out.texts = malloc_texts("unknown C++ exception in softdelete", "", "");
    }
}

void raise_pending(const PendingError& err)
{
    if (err.pg_error != nullptr)
        ReThrowError(err.pg_error);
    const char* message = palloc_texts(err.texts);
    if (message == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory in softdelete")));
    const char* detail = next_text(message);
    const char* hint = next_text(detail);
    ereport(ERROR,
            (errcode(err.sqlstate), errmsg_internal("%s", message),
             detail[0] ? errdetail_internal("%s", detail) : 0, hint[0] ? errhint("%s", hint) : 0));
    pg_unreachable();
}

} // namespace softdelete
