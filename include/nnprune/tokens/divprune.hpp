#ifndef NNPRUNE_TOKENS_DIVPRUNE_HPP
#define NNPRUNE_TOKENS_DIVPRUNE_HPP

/// @file divprune.hpp
/// DivPrune (Alvar et al., CVPR 2025): keep the k visual tokens that greedily solve the Max-Min
/// Diversity Problem under the cosine distance D(i, j) = 1 - <x_i/|x_i|, x_j/|x_j|>.
///   s_0 = argmax_j min_{i != j} D(i, j)        (the most isolated token)
///   s_t = argmax_{j not selected} min_{u < t} D(s_u, j)
/// Ties go to the lowest index; a token is never selected twice (duplicates are safe).
///
/// Implementation, two paths with bit-identical distances (so identical selections):
/// - Gram path (N * N * 4 bytes <= token_workspace::matrix_budget_bytes, default 64 MiB, and k >= N / 8): the
///   symmetric similarity matrix once with simd::gram (register- and cache-blocked, each pair
///   once), then the seed (row minima) and the greedy (a running minimum updated with each new
///   token's row) in O(N) per step. Extra memory: N x N f32 plus O(N).
/// - Lazy path (otherwise, or budget 0): no N x N matrix. Both the seed and the greedy steps are lazy (best-first)
/// maximisations of a running minimum: every candidate keeps an upper bound (the minimum over
/// the distances computed so far) and how far it got; only the candidate with the largest bound
/// is refined, four distances at a time, until it either drops below the next bound or is
/// exact and wins. Distances are bit-identical to a full matrix computed with simd::dot, so the
/// selection is identical to the naive reference (full matrix, re-minimised every step).
///   Extra memory: O(N).
/// Both paths also hold the unit rows (N x d f32), as does every method.

#include <algorithm>
#include <cstddef>
#include <limits>
#include <queue>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/dot.hpp"
#include "../simd/gram.hpp"
#include "features.hpp"
#include "keep.hpp"

namespace nnprune {

namespace detail {

/// Cosine distance between two unit rows, exactly as every nnprune token selector computes it.
[[nodiscard]] inline float cosine_distance(const unit_rows& u, std::size_t i, std::size_t j) noexcept {
    return 1.0f - simd::dot(u.row(i), u.row(j), u.stride);
}

/// Max-heap entry of the lazy searches: larger bound first, then lower index.
struct bound_entry {
    float bound;
    std::size_t index;
};

struct bound_less {
    bool operator()(const bound_entry& a, const bound_entry& b) const noexcept {
        return a.bound < b.bound || (a.bound == b.bound && a.index > b.index);
    }
};

using bound_heap = std::priority_queue<bound_entry, std::vector<bound_entry>, bound_less>;

/// Refines candidate j's running minimum with the distances to others[first..last), four at a
/// time, stopping early (returns the new position) once the entry falls below `top`. When
/// `sym` is given, each distance D(j, i) also lowers sym[i] (D is symmetric bit for bit: the
/// products of a dot commute exactly).
template <class Other>
std::size_t refine(const unit_rows& u, std::size_t j, float& bound, std::size_t first, std::size_t last, Other other,
                   const bound_entry* top, float* sym) {
    const float* a = u.row(j);
    std::size_t t = first;
    while (t < last) {
        if (last - t >= 4) {
            const std::size_t o[4] = {other(t), other(t + 1), other(t + 2), other(t + 3)};
            const float* b[4] = {u.row(o[0]), u.row(o[1]), u.row(o[2]), u.row(o[3])};
            float dots[4];
            simd::dot4(a, b, u.stride, dots);
            for (std::size_t c = 0; c < 4; ++c) {
                const float dist = 1.0f - dots[c];
                bound = std::min(bound, dist);
                if (sym) sym[o[c]] = std::min(sym[o[c]], dist);
            }
            t += 4;
        } else {
            const std::size_t o = other(t);
            const float dist = 1.0f - simd::dot(a, u.row(o), u.stride);
            bound = std::min(bound, dist);
            if (sym) sym[o] = std::min(sym[o], dist);
            ++t;
        }
        if (top && bound_less{}(bound_entry{bound, j}, *top)) break;
    }
    return t;
}

/// The seed: argmax_j of the nearest-neighbour distance (zero tokens excluded unless all are zero).
inline std::size_t maxmin_seed(const unit_rows& u, token_workspace& ws) {
    const std::size_t n = u.n;
    if (n == 1) return 0;
    const bool skip_zero = u.zeros < n;
    ws.dist.assign(n, std::numeric_limits<float>::infinity());
    ws.index.assign(n, 0);
    bound_heap heap;
    for (std::size_t j = 0; j < n; ++j)
        if (!(skip_zero && u.zero[j])) heap.push({ws.dist[j], j});
    for (;;) {
        const bound_entry top = heap.top();
        const std::size_t j = top.index;
        heap.pop();
        if (top.bound != ws.dist[j]) {  // lowered meanwhile by a symmetric distance: re-queue at its bound
            heap.push({ws.dist[j], j});
            continue;
        }
        // the t-th other token of j is (j + 1 + t) mod n: neighbours first, wrapping around
        auto other = [j, n](std::size_t t) { return (j + 1 + t) % n; };
        ws.index[j] =
            refine(u, j, ws.dist[j], ws.index[j], n - 1, other, heap.empty() ? nullptr : &heap.top(), ws.dist.data());
        if (ws.index[j] == n - 1 && (heap.empty() || !bound_less{}(bound_entry{ws.dist[j], j}, heap.top()))) return j;
        heap.push({ws.dist[j], j});
    }
}

/// Whether maxmin_fill takes the Gram path for n tokens, keeping k: the matrix must fit the
/// budget, and k >= n / 8 (measured: with fewer picks the lazy searches touch fewer pairs than
/// the whole matrix and win, e.g. 576 x 4096 keeping 10%).
[[nodiscard]] inline bool maxmin_use_matrix(std::size_t n, std::size_t k, const token_workspace& ws) noexcept {
    return n > 0 && n <= ws.matrix_budget_bytes / sizeof(float) / n && 8 * k >= n;
}

/// The Gram path of maxmin_fill: G = X X^T once, D(i, j) = 1 - G(i, j) computed exactly as the
/// lazy path does (G is bit-identical to simd::dot and exactly symmetric).
inline void maxmin_fill_matrix(const unit_rows& u, std::vector<std::size_t>& order, std::size_t k,
                               token_workspace& ws) {
    const std::size_t n = u.n;
    ws.matrix.resize(n * n);
    float* g = ws.matrix.data();
    simd::gram(u.data, n, u.stride, u.stride, g, n);
    if (order.empty()) {
        // seed: argmax_j min_{i != j} D(i, j); min_i (1 - g) == 1 - max_i g (rounding is monotone)
        std::size_t seed = 0;
        if (n > 1) {
            const bool skip_zero = u.zeros < n;
            float best = -std::numeric_limits<float>::infinity();
            for (std::size_t j = 0; j < n; ++j) {
                if (skip_zero && u.zero[j]) continue;
                const float* r = g + j * n;
                float m = -std::numeric_limits<float>::infinity();
                for (std::size_t i = 0; i < j; ++i) m = std::max(m, r[i]);
                for (std::size_t i = j + 1; i < n; ++i) m = std::max(m, r[i]);
                const float dist = 1.0f - m;
                if (dist > best) best = dist, seed = j;
            }
        }
        order.push_back(seed);
    }
    std::vector<unsigned char> chosen(n, 0);
    ws.dist.assign(n, std::numeric_limits<float>::infinity());
    float* dist = ws.dist.data();
    auto take = [&](std::size_t s) {
        chosen[s] = 1;
        const float* r = g + s * n;
        for (std::size_t j = 0; j < n; ++j) dist[j] = std::min(dist[j], 1.0f - r[j]);
    };
    for (auto s : order) take(s);
    while (order.size() < k) {
        std::size_t arg = n;
        float best = -std::numeric_limits<float>::infinity();
        for (std::size_t j = 0; j < n; ++j)
            if (!chosen[j] && (arg == n || dist[j] > best)) best = dist[j], arg = j;
        order.push_back(arg);
        take(arg);
    }
}

/**
 * @brief Extends `order` (already selected tokens, in selection order; may be empty) greedily to
 * k tokens by max-min distance. With an empty order it starts from the seed.
 */
inline void maxmin_fill(const unit_rows& u, std::vector<std::size_t>& order, std::size_t k, token_workspace& ws) {
    const std::size_t n = u.n;
    if (order.size() >= k) return;
    if (maxmin_use_matrix(n, k, ws)) return maxmin_fill_matrix(u, order, k, ws);
    if (order.empty()) order.push_back(maxmin_seed(u, ws));
    std::vector<unsigned char> chosen(n, 0);
    for (auto s : order) chosen[s] = 1;
    ws.dist.assign(n, std::numeric_limits<float>::infinity());
    ws.index.assign(n, 0);  // how many selected tokens each candidate has seen
    bound_heap heap;
    for (std::size_t j = 0; j < n; ++j)
        if (!chosen[j]) heap.push({ws.dist[j], j});
    auto other = [&order](std::size_t t) { return order[t]; };
    while (order.size() < k) {
        const std::size_t j = heap.top().index;
        heap.pop();
        ws.index[j] =
            refine(u, j, ws.dist[j], ws.index[j], order.size(), other, heap.empty() ? nullptr : &heap.top(), nullptr);
        if (ws.index[j] == order.size() && (heap.empty() || !bound_less{}(bound_entry{ws.dist[j], j}, heap.top()))) {
            order.push_back(j);
            continue;
        }
        heap.push({ws.dist[j], j});
    }
}

template <class T>
std::vector<std::size_t> divprune_impl(const tensor_view<T, 2>& features, const token_keep& keep, token_workspace& ws,
                                       std::string_view fn) {
    const std::size_t n = features.extent(0);
    const std::size_t k = keep.k_for(n, fn);
    const unit_rows u = normalize_tokens(features, ws, fn);
    std::vector<std::size_t> order;
    order.reserve(k);
    maxmin_fill(u, order, k, ws);
    return order;
}

}  // namespace detail

/**
 * @brief DivPrune selection order: the k selected token indices in the order greedy max-min
 * diversity picked them (seed first).
 * @param features [N, d] token features (f32, f64, bf16 or f16; any strides).
 * @param keep a retained ratio (k = round(ratio * N), half-even) or keep_count{k}.
 * @throws shape_error (N = 0, d = 0), value_error (NaN or Inf feature), precondition_error
 *         (ratio outside [0, 1], keep = 0, keep > N).
 * @code
 * auto order = nnprune::divprune_order(nnprune::matrix_view<const float>(x, 576, 1024), 0.098);
 * @endcode
 */
template <class T>
[[nodiscard]] std::vector<std::size_t> divprune_order(const tensor_view<T, 2>& features, const token_keep& keep,
                                                      token_workspace& ws) {
    return detail::divprune_impl(features, keep, ws, "divprune_order");
}

template <class T>
[[nodiscard]] std::vector<std::size_t> divprune_order(const tensor_view<T, 2>& features, const token_keep& keep) {
    token_workspace ws;
    return divprune_order(features, keep, ws);
}

/**
 * @brief DivPrune: the kept token indices in ascending order (ready to gather).
 * Same arguments and errors as divprune_order().
 */
template <class T>
[[nodiscard]] std::vector<std::size_t> divprune(const tensor_view<T, 2>& features, const token_keep& keep,
                                                token_workspace& ws) {
    auto kept = detail::divprune_impl(features, keep, ws, "divprune");
    std::sort(kept.begin(), kept.end());
    return kept;
}

template <class T>
[[nodiscard]] std::vector<std::size_t> divprune(const tensor_view<T, 2>& features, const token_keep& keep) {
    token_workspace ws;
    return divprune(features, keep, ws);
}

/// DivPrune into a caller buffer: out must hold exactly k indices (ascending on return).
/// @throws shape_error when out.size() != k (then out is untouched), and the errors of divprune().
template <class T>
void divprune(const tensor_view<T, 2>& features, const token_keep& keep, std::span<std::size_t> out) {
    const std::size_t k = keep.k_for(features.extent(0), "divprune");
    NNPRUNE_CHECK(
        out.size() == k, shape_error,
        detail::str("divprune: output holds ", out.size(), " indices, keeping ", k, " of ", features.extent(0)));
    const auto kept = divprune(features, keep);
    std::copy(kept.begin(), kept.end(), out.begin());
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_DIVPRUNE_HPP
