#ifndef NNPRUNE_TOKENS_DPP_HPP
#define NNPRUNE_TOKENS_DPP_HPP

/// @file dpp.hpp
/// Conditional DPP token selection (CDPruner, Zhang et al. 2025): greedy MAP inference of a DPP
/// with kernel L = diag(r) S diag(r), S the cosine similarity of the tokens and r a per-token
/// relevance (all ones when none is given), using the incremental Cholesky update of Chen, Zhang
/// & Zhou, "Fast Greedy MAP Inference for Determinantal Point Process" (NeurIPS 2018):
///   d_i^2 = L_ii;  j = argmax d_i^2;  then per step  e_i = (L_ji - <c_j, c_i>) / d_j,
///   c_i <- [c_i, e_i],  d_i^2 <- d_i^2 - e_i^2.
/// The first token is always taken; afterwards selection stops at k tokens or when the best
/// marginal gain d_j^2 is not above 1e-10 (Chen et al.'s epsilon), so fewer than k may come back.
/// Ties go to the lowest index. Memory O(N k) doubles (the c vectors); similarities in f32
/// through simd::dot on the unit rows, the Cholesky update in double.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/dot.hpp"
#include "features.hpp"
#include "keep.hpp"

namespace nnprune {

/// Marginal gains d_j^2 at or below this end a DPP selection early.
inline constexpr double dpp_epsilon = 1e-10;

namespace detail {

template <class T>
std::vector<std::size_t> dpp_impl(const tensor_view<T, 2>& features, const token_keep& keep,
                                  std::span<const float> relevance, token_workspace& ws, std::string_view fn) {
    const std::size_t n = features.extent(0);
    const std::size_t k = keep.k_for(n, fn);
    NNPRUNE_CHECK(relevance.empty() || relevance.size() == n, shape_error,
                  detail::str(fn, ": relevance has ", relevance.size(), " scores for ", n, " tokens"));
    for (std::size_t i = 0; i < relevance.size(); ++i)
        NNPRUNE_CHECK(is_finite(relevance[i]), value_error,
                      detail::str(fn, ": non-finite relevance ", relevance[i], " at token ", i));
    const unit_rows u = normalize_tokens(features, ws, fn);
    auto r = [&](std::size_t i) { return relevance.empty() ? 1.0 : static_cast<double>(relevance[i]); };

    std::vector<double> d2(n), c(k * n, 0.0);  // c[t * n + i]: t-th Cholesky coordinate of token i
    for (std::size_t i = 0; i < n; ++i)
        d2[i] = r(i) * r(i) * static_cast<double>(simd::dot(u.row(i), u.row(i), u.stride));
    std::vector<unsigned char> chosen(n, 0);
    auto argmax = [&] {
        std::size_t best = n;
        for (std::size_t i = 0; i < n; ++i)
            if (!chosen[i] && (best == n || d2[i] > d2[best])) best = i;
        return best;
    };
    std::vector<std::size_t> order;
    order.reserve(k);
    std::size_t j = argmax();
    for (;;) {
        order.push_back(j);
        chosen[j] = 1;
        if (order.size() == k) break;
        const std::size_t t = order.size() - 1;
        const double dj = std::sqrt(std::max(d2[j], 0.0));
        for (std::size_t i = 0; i < n; ++i) {
            if (chosen[i]) continue;
            double lji = r(j) * r(i) * static_cast<double>(simd::dot(u.row(j), u.row(i), u.stride));
            for (std::size_t s = 0; s < t; ++s) lji -= c[s * n + j] * c[s * n + i];
            const double e = lji / dj;
            c[t * n + i] = e;
            d2[i] -= e * e;
        }
        j = argmax();
        if (j == n || !(d2[j] > dpp_epsilon)) break;
    }
    return order;
}

}  // namespace detail

/**
 * @brief DPP greedy MAP: selected token indices in selection order (at most k).
 * @param relevance per-token relevance r (empty: all ones), any finite values.
 * @throws shape_error (N = 0, d = 0, relevance size), value_error (NaN/Inf), precondition_error (keep).
 */
template <class T>
[[nodiscard]] std::vector<std::size_t> dpp_order(const tensor_view<T, 2>& features, const token_keep& keep,
                                                 std::span<const float> relevance = {}) {
    token_workspace ws;
    return detail::dpp_impl(features, keep, relevance, ws, "dpp_order");
}

/// DPP greedy MAP: the kept token indices, ascending (at most k; see dpp_order()).
template <class T>
[[nodiscard]] std::vector<std::size_t> dpp(const tensor_view<T, 2>& features, const token_keep& keep,
                                           std::span<const float> relevance = {}) {
    token_workspace ws;
    auto kept = detail::dpp_impl(features, keep, relevance, ws, "dpp");
    std::sort(kept.begin(), kept.end());
    return kept;
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_DPP_HPP
