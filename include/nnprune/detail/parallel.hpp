#ifndef NNPRUNE_DETAIL_PARALLEL_HPP
#define NNPRUNE_DETAIL_PARALLEL_HPP

/// @file parallel.hpp
/// A tiny fork-join helper on std::thread with deterministic, contiguous partitioning: item i
/// always goes to the same part for a given (n, parts), and results never depend on timing.

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

#include "../config.hpp"

namespace nnprune::detail {

/// Number of parts to use for n items with at least `grain` items per part and at most `threads`.
[[nodiscard]] inline unsigned parts_for(std::size_t n, unsigned threads, std::size_t grain) noexcept {
    if (threads <= 1 || n == 0) return 1;
    const std::size_t by_grain = std::max<std::size_t>(1, n / std::max<std::size_t>(grain, 1));
    return static_cast<unsigned>(std::min<std::size_t>(threads, by_grain));
}

/// Begin of part p when n items are split into `parts` contiguous parts (balanced, deterministic).
[[nodiscard]] constexpr std::size_t part_begin(std::size_t n, unsigned parts, unsigned p) noexcept {
    return (n / parts) * p + ((n % parts) * p) / parts;
}

/**
 * @brief Calls f(begin, end, part) for `parts` contiguous ranges of [0, n); part 0 runs on the
 * calling thread. The first exception thrown by any part is rethrown after all parts joined.
 */
template <class F>
void parallel_for(std::size_t n, unsigned parts, F&& f) {
    if (parts <= 1 || n <= 1) {
        f(std::size_t{0}, n, 0u);
        return;
    }
    std::vector<std::exception_ptr> errors(parts);
    std::vector<std::thread> pool;
    pool.reserve(parts - 1);
    for (unsigned p = 1; p < parts; ++p)
        pool.emplace_back([&, p] {
            try {
                f(part_begin(n, parts, p), part_begin(n, parts, p + 1), p);
            } catch (...) {
                errors[p] = std::current_exception();
            }
        });
    try {
        f(part_begin(n, parts, 0), part_begin(n, parts, 1), 0u);
    } catch (...) {
        errors[0] = std::current_exception();
    }
    for (auto& t : pool) t.join();
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace nnprune::detail

#endif  // NNPRUNE_DETAIL_PARALLEL_HPP
