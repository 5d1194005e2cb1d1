#ifndef NNPRUNE_DETAIL_FAULT_INJECTION_HPP
#define NNPRUNE_DETAIL_FAULT_INJECTION_HPP

/// @file fault_injection.hpp
/// A test hook in the style of SQLite's I/O error tests: compiled with NNPRUNE_FAULT_INJECTION=1,
/// every call that can fail (open, read, write, fsync, close, rename, link, mkdir, lock, a big
/// buffer's allocation) first asks injected_fault(), which counts it and fails the N-th one
/// (fault_at = N) with errno = EIO (std::bad_alloc for allocations). A test sets N = 1, 2, ...
/// until a run makes fewer calls than N, and checks after each failure that nothing was lost.
/// The fault is one-shot: the cleanup after it (removing temporaries, rolling back) is not hooked.
/// Without the macro (the default) injected_fault() is a constant false and costs nothing.

#include <cerrno>
#include <cstdint>

#if !defined(NNPRUNE_FAULT_INJECTION)
#define NNPRUNE_FAULT_INJECTION 0
#endif

#if NNPRUNE_FAULT_INJECTION
#include <atomic>
#endif

namespace nnprune::detail {

#if NNPRUNE_FAULT_INJECTION
struct io_faults {
    static inline std::atomic<std::uint64_t> calls{0};    ///< failable calls made so far
    static inline std::atomic<std::uint64_t> fail_at{0};  ///< the one that fails (1-based; 0: none)
};

/// Counts a failable call; true (errno = EIO) when it is the one chosen to fail.
inline bool injected_fault() noexcept {
    const std::uint64_t n = io_faults::calls.fetch_add(1) + 1;
    if (n != io_faults::fail_at.load()) return false;
    errno = EIO;
    return true;
}
#else
constexpr bool injected_fault() noexcept { return false; }
#endif

}  // namespace nnprune::detail

#endif  // NNPRUNE_DETAIL_FAULT_INJECTION_HPP
