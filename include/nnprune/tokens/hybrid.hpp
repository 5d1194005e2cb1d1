#ifndef NNPRUNE_TOKENS_HYBRID_HPP
#define NNPRUNE_TOKENS_HYBRID_HPP

/// @file hybrid.hpp
/// Importance-then-diversity token selection: of the k kept tokens, the top
/// round(share * k) (half-even) by an importance score (e.g. FastV attention) are kept first,
/// ties to the lower index; the remaining slots are filled by DivPrune's greedy max-min
/// diversity seeded from that kept set (each new token maximises its minimum cosine distance
/// to everything kept so far). share = 0 is plain DivPrune; share = 1 is plain top-k.

#include <algorithm>
#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "../select/policy.hpp"
#include "divprune.hpp"
#include "features.hpp"
#include "keep.hpp"
#include "top_tokens.hpp"

namespace nnprune {

/**
 * @brief Hybrid selection: kept token indices in ascending order.
 * @param scores per-token importance (N values, higher = more important).
 * @param importance_share the fraction of the k slots filled by importance, in [0, 1].
 * @throws shape_error (N = 0, d = 0, scores size), value_error (NaN features or scores),
 *         precondition_error (keep, share outside [0, 1]).
 */
template <class T>
[[nodiscard]] std::vector<std::size_t> hybrid(const tensor_view<T, 2>& features, std::span<const float> scores,
                                              const token_keep& keep, double importance_share = 0.5) {
    constexpr std::string_view fn = "hybrid";
    const std::size_t n = features.extent(0);
    const std::size_t k = keep.k_for(n, fn);
    NNPRUNE_PRECONDITION(importance_share >= 0.0 && importance_share <= 1.0,
                         detail::str(fn, ": importance share must be in [0, 1], got ", importance_share));
    NNPRUNE_CHECK(scores.size() == n, shape_error, detail::str(fn, ": ", scores.size(), " scores for ", n, " tokens"));
    const std::size_t k_imp = count_to_prune(k, importance_share, rounding::half_even);
    token_workspace ws;
    const auto u = detail::normalize_tokens(features, ws, fn);  // validates features first
    std::vector<std::size_t> order =
        k_imp == 0 ? std::vector<std::size_t>{} : detail::top_k_ascending(scores.data(), n, k_imp, fn);
    if (k_imp == 0)
        for (std::size_t i = 0; i < n; ++i)
            NNPRUNE_CHECK(!is_nan(scores[i]), value_error, detail::str(fn, ": NaN score at token ", i));
    detail::maxmin_fill(u, order, k, ws);
    std::sort(order.begin(), order.end());
    return order;
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_HYBRID_HPP
