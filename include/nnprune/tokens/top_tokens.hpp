#ifndef NNPRUNE_TOKENS_TOP_TOKENS_HPP
#define NNPRUNE_TOKENS_TOP_TOKENS_HPP

/// @file top_tokens.hpp
/// keep_top_tokens: the k highest per-token scores, as ascending token indices. Among equal
/// scores the lower index is kept. Works from any precomputed scores (attention received,
/// FlashAttention-side statistics, ...); runs on nnprune's exact selection (select/select.hpp):
/// the scores are viewed backwards, so select's "lower flat index pruned first" rule prunes the
/// higher token index first.

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"
#include "../masks/mask.hpp"
#include "../select/select.hpp"
#include "keep.hpp"

namespace nnprune {

namespace detail {

/// The k highest of n scores (k <= n, validated by the caller), ascending indices, ties lowest.
inline std::vector<std::size_t> top_k_ascending(const float* s, std::size_t n, std::size_t k, std::string_view fn) {
    for (std::size_t i = 0; i < n; ++i)
        NNPRUNE_CHECK(!is_nan(s[i]), value_error, detail::str(fn, ": NaN score at token ", i));
    std::vector<std::size_t> kept;
    kept.reserve(k);
    if (k == n) {
        for (std::size_t i = 0; i < n; ++i) kept.push_back(i);
        return kept;
    }
    // reversed view: flat index f is token n - 1 - f
    const tensor_view<const float, 1> rev(s + (n - 1), {n}, {-1});
    mask m(nnprune::shape{n});
    select_mask(tensor_ref(rev), per_tensor{}, exactly{n - k}, m);
    for (std::size_t i = 0; i < n; ++i)
        if (m.test(n - 1 - i)) kept.push_back(i);
    return kept;
}

}  // namespace detail

/**
 * @brief The kept token indices (ascending) of the keep highest scores; ties keep the lower index.
 * @throws precondition_error (empty scores, keep 0 or > N, ratio outside [0, 1]), value_error (NaN).
 * @code
 * auto kept = nnprune::keep_top_tokens(scores, 0.25);   // k = round(0.25 * N)
 * @endcode
 */
[[nodiscard]] inline std::vector<std::size_t> keep_top_tokens(std::span<const float> scores, const token_keep& keep) {
    const std::size_t k = keep.k_for(scores.size(), "keep_top_tokens");
    return detail::top_k_ascending(scores.data(), scores.size(), k, "keep_top_tokens");
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_TOP_TOKENS_HPP
