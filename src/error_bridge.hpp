// The bridge between PostgreSQL's errors (ereport, a longjmp) and C++
// exceptions. Two regimes meet here and nowhere else:
//
//  * C++ code that calls into PostgreSQL wraps the call in pg_guard(): an
//    ereport inside becomes a softdelete::PgError carrying the SQLSTATE,
//    message, detail and hint, thrown only after PG_END_TRY.
//  * Every entry point PostgreSQL calls (SQL function, trigger, hook) runs its
//    C++ body through entry_guard(): a C++ exception is caught, its fields are
//    copied into plain buffers, and ereport() is raised after the catch block
//    has ended, so no exception crosses into PostgreSQL and no longjmp leaves
//    a catch block.
//
// Code that runs between the two (the bodies) may hold C++ objects with
// destructors only while it makes no unguarded PostgreSQL call.
#pragma once

#include <exception>
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
    const char* what() const noexcept override { return message_.c_str(); }
    int sqlstate() const noexcept { return sqlstate_; }
    const std::string& detail() const noexcept { return detail_; }
    const std::string& hint() const noexcept { return hint_; }

private:
    int sqlstate_;
    std::string message_;
    std::string detail_;
    std::string hint_;
};

// Turns the error PostgreSQL is handling into a PgError and clears it.
// Only for use inside PG_CATCH (through pg_guard).
PgError capture_pg_error(MemoryContext resume_in);

// Runs body inside PG_TRY; true when an ereport(ERROR) was caught (the
// error is still pending: capture_pg_error takes it). Nothing in this frame
// changes between setjmp and longjmp except the volatile flag.
template <typename Body> bool caught_pg_error(Body& body)
{
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
// a longjmp may abandon its frame.
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

// expression_tree_walker and friends take a generic function pointer.
template <typename Fn> auto walker(Fn* fn)
{
    return reinterpret_cast<bool (*)()>(reinterpret_cast<void (*)()>(fn));
}

// Plain-data copy of an error, safe to hold across the end of a catch block.
struct PendingError {
    bool set = false;
    int sqlstate = 0;
    char message[1024] = {};
    char detail[1024] = {};
    char hint[512] = {};
};

// Fills out from error (the exception in flight); never allocates through PostgreSQL.
void remember_exception(PendingError& out, std::exception_ptr error) noexcept;

// Raises the remembered error with ereport(ERROR). Never returns.
[[noreturn]] void raise_pending(const PendingError& err);

// Runs a C++ body for an entry point; a C++ exception becomes ereport(ERROR)
// with its SQLSTATE, detail and hint once the catch block is closed.
template <typename Fn> auto entry_guard(Fn&& fn) -> decltype(fn())
{
    PendingError pending;
    try {
        return fn();
    } catch (...) {
        remember_exception(pending, std::current_exception());
    }
    raise_pending(pending);
}

} // namespace softdelete
