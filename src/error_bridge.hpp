// The bridge between PostgreSQL's errors (ereport, a longjmp) and C++
// exceptions. Two regimes meet here and nowhere else:
//
//  * C++ code that calls into PostgreSQL wraps the call in pg_guard(): an
//    ereport inside becomes a softdelete::PgError holding PostgreSQL's whole
//    ErrorData (SQLSTATE, texts, schema/table/column/constraint names,
//    CONTEXT), thrown only after PG_END_TRY.
//  * Every entry point PostgreSQL calls (SQL function, trigger, hook) runs its
//    C++ body through entry_guard(): a C++ exception is caught and reduced to
//    plain data; once the catch block has ended, a PostgreSQL error is
//    re-raised exactly as PostgreSQL made it (ReThrowError) and an error made
//    in C++ is raised with ereport(). No exception crosses into PostgreSQL
//    and no longjmp leaves a catch block.
//
// Code that runs between the two (the bodies) may hold C++ objects with
// destructors only while it makes no unguarded PostgreSQL call.
#pragma once

#include <exception>
#include <optional>
#include <type_traits>
#include <string>
#include <utility>

#include "pg.hpp"

namespace softdelete
{

// An error on its way to the client. sqlstate is PostgreSQL's packed code.
class PgError : public std::exception
{
public:
    PgError(int sqlstate, std::string message, std::string detail = {}, std::string hint = {})
        : sqlstate_(sqlstate), message_(std::move(message)), detail_(std::move(detail)),
          hint_(std::move(hint))
    {
    }
    // PostgreSQL's own error, as CopyErrorData made it (see capture_pg_error).
    explicit PgError(ErrorData* pg_error);
    const char* what() const noexcept override { return message_.c_str(); }
    int sqlstate() const noexcept { return sqlstate_; }
    const std::string& detail() const noexcept { return detail_; }
    const std::string& hint() const noexcept { return hint_; }
    // The error to re-raise unchanged; null for an error made in C++.
    ErrorData* pg_error() const noexcept { return pg_error_; }
    // The same error, with PostgreSQL's part copied into context: for an
    // error to outlive the memory it was captured in (see capture_pg_error).
    // Calls PostgreSQL: only through pg_guard, never inside a catch block.
    PgError copied_into(MemoryContext context) const;

private:
    int sqlstate_;
    std::string message_;
    std::string detail_;
    std::string hint_;
    ErrorData* pg_error_ = nullptr;
};

// Takes the error PostgreSQL is handling and clears PostgreSQL's error state.
// The copy lives in resume_in, the context that was current when the guarded
// call began: unwinding C++ frames runs no PostgreSQL code, so it is still
// there when entry_guard re-raises it, and the transaction's abort frees it.
// A caller that catches the PgError must be done with it before it resets or
// deletes that context (SPI_finish, a subtransaction's rollback).
// Only for use after PG_CATCH (through pg_guard).
PgError capture_pg_error(MemoryContext resume_in);

// Restores PG_exception_stack and error_context_stack, as PG_END_TRY does,
// when it goes out of scope: also when a C++ exception leaves a PG_TRY body,
// which would otherwise leave both pointing into the abandoned frame for the
// next ereport to jump into.
class ErrorStacksRestorer
{
public:
    ErrorStacksRestorer() noexcept
        : exception_stack_(PG_exception_stack), context_stack_(error_context_stack)
    {
    }
    ~ErrorStacksRestorer()
    {
        PG_exception_stack = exception_stack_;
        error_context_stack = context_stack_;
    }
    ErrorStacksRestorer(const ErrorStacksRestorer&) = delete;
    ErrorStacksRestorer& operator=(const ErrorStacksRestorer&) = delete;

private:
    sigjmp_buf* exception_stack_;
    ErrorContextCallback* context_stack_;
};

// Runs body inside PG_TRY; true when an ereport(ERROR) was caught (the
// error is still pending: capture_pg_error takes it). Nothing in this frame
// changes between setjmp and longjmp except the volatile flag, and the
// restorer is made before the setjmp, so a longjmp back here jumps over no
// destructor.
template <typename Body> bool caught_pg_error(Body& body)
{
    ErrorStacksRestorer restore_stacks;
    volatile bool failed = false;
    PG_TRY();
    {
        body();
    }
    PG_CATCH();
    {
        failed = true;
    }
    PG_END_TRY();
    return failed;
}

// Runs fn, which calls PostgreSQL; an ereport(ERROR) inside it surfaces as a
// thrown PgError. fn must return a trivially destructible value (or void):
// a longjmp may abandon its frame. fn may throw (a nested pg_guard does).
template <typename Fn> auto pg_guard(Fn&& fn) -> decltype(fn())
{
    using Result = decltype(fn());
    MemoryContext caller_context = CurrentMemoryContext;
    if constexpr (std::is_void_v<Result>) {
        if (caught_pg_error(fn))
            throw capture_pg_error(caller_context);
    } else {
        static_assert(std::is_trivially_destructible_v<Result>,
                      "pg_guard results must survive a longjmp");
        Result result{};
        auto body = [&result, &fn] { result = fn(); };
        if (caught_pg_error(body))
            throw capture_pg_error(caller_context);
        return result;
    }
}

// The PgError that failure (an exception in flight) holds, copied into
// context; nullopt for any other exception. Calls PostgreSQL: never inside a
// catch block.
std::optional<PgError> failure_kept_in(std::exception_ptr failure, MemoryContext context);

// Runs body in a subtransaction of the current transaction, which is kept
// when body returns. When body fails (an ereport, or a thrown PgError) the
// subtransaction is rolled back, undoing whatever body did, and its error is
// returned instead of raised: the transaction around it goes on. This is
// the one correct way to catch a PostgreSQL error without raising it again;
// the error is copied into the caller's memory context before the rollback
// frees the memory it may have been captured in. Other C++ exceptions
// (bad_alloc) roll back as well and then propagate.
template <typename Body> std::optional<PgError> rolled_back_on_error(Body&& body)
{
    MemoryContext caller_context = CurrentMemoryContext;
    ResourceOwner caller_owner = CurrentResourceOwner;
    int level = pg_guard([] {
        BeginInternalSubTransaction(nullptr);
        return GetCurrentTransactionNestLevel();
    });
    MemoryContextSwitchTo(caller_context);
    std::exception_ptr failure;
    try {
        pg_guard(body);
    } catch (...) {
        failure = std::current_exception();
    }
    std::optional<PgError> error;
    if (failure) {
        // Copying the error can fail too (out of memory): the
        // subtransaction is rolled back all the same, and that is raised.
        try {
            error = failure_kept_in(failure, caller_context);
        } catch (...) {
            failure = std::current_exception();
        }
    }
    pg_guard([&] {
        if (!failure) {
            ReleaseCurrentSubTransaction();
            return;
        }
        // body may have left subtransactions of its own open
        while (GetCurrentTransactionNestLevel() >= level)
            RollbackAndReleaseCurrentSubTransaction();
    });
    MemoryContextSwitchTo(caller_context);
    CurrentResourceOwner = caller_owner;
    if (failure && !error)
        std::rethrow_exception(failure);
    return error;
}

// expression_tree_walker and friends take a generic function pointer.
template <typename Fn> auto walker(Fn* fn)
{
    return reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(fn));
}

// Plain-data copy of an error, safe to hold across the end of a catch block
// and to abandon by a longjmp.
struct PendingError {
    // PostgreSQL's error, re-raised unchanged; or else:
    ErrorData* pg_error;
    // an error made in C++: its SQLSTATE, and its message, detail and hint as
    // three C strings in one malloc'd block (null when out of memory).
    int sqlstate;
    char* texts;
};
static_assert(std::is_trivially_destructible_v<PendingError>);

// Fills out from error (the exception in flight); never calls PostgreSQL.
void remember_exception(PendingError& out, std::exception_ptr error) noexcept;

// Raises the remembered error, freeing what remember_exception allocated.
// Never returns.
[[noreturn]] void raise_pending(const PendingError& err);

// Runs a C++ body for an entry point; a C++ exception becomes a PostgreSQL
// error once the catch block is closed.
template <typename Fn> auto entry_guard(Fn&& fn) -> decltype(fn())
{
    PendingError pending = {};
    try {
        return fn();
    } catch (...) {
        remember_exception(pending, std::current_exception());
    }
    raise_pending(pending);
}

} // namespace softdelete
