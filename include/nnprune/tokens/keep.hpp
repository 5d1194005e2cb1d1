#ifndef NNPRUNE_TOKENS_KEEP_HPP
#define NNPRUNE_TOKENS_KEEP_HPP

/// @file keep.hpp
/// How many tokens a token selector keeps: a retained ratio in [0, 1], rounded half-even as the
/// reference implementations do (k = round(ratio * N), Python's round), or an explicit count.
/// Either way the result must be in [1, N]: keeping nothing is an error, not an empty answer.

#include <cmath>
#include <cstddef>
#include <string_view>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../select/policy.hpp"

namespace nnprune {

/// An explicit number of tokens to keep (instead of a ratio).
struct keep_count {
    std::size_t k = 0;
};

/**
 * @brief The token budget: token_keep(0.098) keeps round(0.098 * N) tokens (ties to even);
 * token_keep(keep_count{58}) keeps 58. Converts implicitly from both.
 * @throws precondition_error for a ratio outside [0, 1] (NaN included).
 */
class token_keep {
public:
    token_keep(double ratio) : m_ratio(ratio) {  // NOLINT(google-explicit-constructor)
        NNPRUNE_PRECONDITION(ratio >= 0.0 && ratio <= 1.0,
                             detail::str("token_keep: ratio must be in [0, 1], got ", ratio));
    }

    token_keep(keep_count c) noexcept : m_count(c.k), m_is_count(true) {}  // NOLINT(google-explicit-constructor)

    [[nodiscard]] bool is_count() const noexcept { return m_is_count; }

    [[nodiscard]] double ratio() const noexcept { return m_ratio; }

    [[nodiscard]] std::size_t count() const noexcept { return m_count; }

    /**
     * @brief k for n tokens. @throws precondition_error (message starts with fn) when n is 0,
     * when the count exceeds n, or when k comes out 0.
     */
    [[nodiscard]] std::size_t k_for(std::size_t n, std::string_view fn) const {
        NNPRUNE_PRECONDITION(n > 0, detail::str(fn, ": no tokens (N = 0)"));
        if (m_is_count) {
            NNPRUNE_PRECONDITION(m_count <= n, detail::str(fn, ": keep = ", m_count, " exceeds N = ", n));
            NNPRUNE_PRECONDITION(m_count > 0, detail::str(fn, ": keep = 0 (nothing would be kept)"));
            return m_count;
        }
        const std::size_t k = count_to_prune(n, m_ratio, rounding::half_even);  // same rounding rule
        NNPRUNE_PRECONDITION(k > 0,
                             detail::str(fn, ": keep = round(", m_ratio, " * ", n, ") = 0 (nothing would be kept)"));
        return k;
    }

private:
    double m_ratio = 0.0;
    std::size_t m_count = 0;
    bool m_is_count = false;
};

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_KEEP_HPP
