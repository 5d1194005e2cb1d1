#ifndef NNPRUNE_CONFIG_HPP
#define NNPRUNE_CONFIG_HPP

/// @file config.hpp
/// Version, error macros and feature switches. Included first by every nnprune header.

#include <string>

#define NNPRUNE_VERSION_MAJOR 0
#define NNPRUNE_VERSION_MINOR 1
#define NNPRUNE_VERSION_PATCH 0
#define NNPRUNE_VERSION (NNPRUNE_VERSION_MAJOR * 10000 + NNPRUNE_VERSION_MINOR * 100 + NNPRUNE_VERSION_PATCH)

/// Throws `ex(msg)`; override it (before including nnprune) to report errors another way.
/// Without exceptions the message goes to stderr and the program aborts.
#if !defined(NNPRUNE_THROW)
#if defined(__cpp_exceptions)
#define NNPRUNE_THROW(ex, msg) throw ex(msg)
#else
#include <cstdio>
#include <cstdlib>
#define NNPRUNE_THROW(ex, msg) (std::fputs(std::string(msg).c_str(), stderr), std::fputc('\n', stderr), std::abort())
#endif
#endif

/// Always-on check of an API precondition: throws `ex` with `msg` (built lazily) when `cond` fails.
#define NNPRUNE_CHECK(cond, ex, msg)         \
    do {                                     \
        if (!(cond)) NNPRUNE_THROW(ex, msg); \
    } while (false)

/// Shorthand for the common case: a precondition_error.
#define NNPRUNE_PRECONDITION(cond, msg) NNPRUNE_CHECK(cond, ::nnprune::precondition_error, msg)

/// Internal invariant, compiled only with NNPRUNE_ENABLE_ASSERT (the sanitizer CI build turns it on).
#if defined(NNPRUNE_ENABLE_ASSERT) && NNPRUNE_ENABLE_ASSERT
#define NNPRUNE_ASSERT(cond)                       \
    NNPRUNE_CHECK(cond, ::nnprune::internal_error, \
                  std::string(__FILE__ ":") + std::to_string(__LINE__) + ": internal assertion failed: " #cond)
#else
#define NNPRUNE_ASSERT(cond) ((void)0)
#endif

#endif  // NNPRUNE_CONFIG_HPP
