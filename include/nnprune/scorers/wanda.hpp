#ifndef NNPRUNE_SCORERS_WANDA_HPP
#define NNPRUNE_SCORERS_WANDA_HPP

/// @file wanda.hpp
/// Wanda (algorithms.md §2): S_ij = |W_ij| * sqrt(scaler_row_j), float32, compared per output row
/// (per_row{} with rounding::truncate reproduces the reference: k = int(in * s), stable ties), and
/// GBLM-Pruner (§4c): S_ij = |W_ij| * (sqrt(scaler_row_j) + |G_ij|). The statistic comes from
/// wanda_accumulator (layer::input_stat); G from gblm_gradient_accumulator (layer::gradient).
/// Wanda's "2:4" names the number PRUNED: wanda_n_of_m(2, 4) gives select's n_of_m{2, 4} (keep 2).

#include <cmath>
#include <cstddef>
#include <vector>

#include "../config.hpp"
#include "../select/groups.hpp"
#include "../simd/abs_mul.hpp"
#include "scorer.hpp"

namespace nnprune {

namespace detail {
/// sqrt(stat_j) in float32 (torch.sqrt on the float32 scaler_row).
inline std::vector<float> sqrt_stat(const layer& l) {
    auto v = to_float_vector(*l.input_stat);
    for (auto& x : v) x = std::sqrt(x);
    return v;
}
}  // namespace detail

/// Wanda importance |W_ij| * sqrt(stat_j). Needs layer::input_stat (length = weight columns).
struct wanda_scorer {
    static constexpr bool row_local = true;      ///< see row_local_scorer
    static constexpr bool finite_scores = true;  ///< see finite_scorer
    void check(const layer& l) const { detail::require_input_stat(l, "wanda_scorer"); }

    void operator()(const layer& l, matrix_view<float> out) const {
        check(l);
        const std::size_t cols = out.extent(1);
        const auto s = detail::sqrt_stat(l);
        detail::visit_matrix(l.weights, [&](auto w) {
            using T = typename decltype(w)::value_type;
            std::vector<float> row;
            for (std::size_t i = 0; i < out.extent(0); ++i) {
                float* o = out.data_handle() + i * cols;
                const float* src = o;
                if constexpr (std::is_same_v<T, float>) {
                    if (w.stride(1) == 1) src = w.data_handle() + static_cast<std::ptrdiff_t>(i) * w.stride(0);
                    else detail::row_to_float(w, i, o);
                } else {
                    detail::row_to_float(w, i, o);
                }
                simd::abs_mul(src, s.data(), o, cols);
            }
        });
    }
};
inline constexpr wanda_scorer wanda{};

/// GBLM-Pruner importance |W_ij| * (sqrt(stat_j) + |G_ij|); with `inverse`, the --gradient_inv
/// form |W_ij| * sqrt(stat_j) / (|G_ij| + 1e-8). Needs input_stat and gradient.
struct gblm_scorer {
    static constexpr bool row_local = true;      ///< see row_local_scorer
    static constexpr bool finite_scores = true;  ///< see finite_scorer
    bool inverse = false;

    void check(const layer& l) const {
        detail::require_input_stat(l, "gblm_scorer");
        detail::require_gradient(l, "gblm_scorer");
    }

    void operator()(const layer& l, matrix_view<float> out) const {
        check(l);
        const auto s = detail::sqrt_stat(l);
        detail::for_each_weight_gradient_row(l, out, [&](float* o, const float* g, std::size_t cols) {
            for (std::size_t j = 0; j < cols; ++j) {
                const float aw = std::fabs(o[j]);
                // upstream: |W|*sqrt(scaler) + |W|*|G| (two products, then the sum)
                o[j] = inverse ? aw * s[j] / (std::fabs(g[j]) + 1e-8f) : aw * s[j] + aw * std::fabs(g[j]);
            }
        });
    }
};
inline constexpr gblm_scorer gblm{};

/// Wanda/GBLM/SparseGPT "prune_n:prune_m" (prune_n PRUNED per prune_m) as select's n_of_m (kept).
/// @throws precondition_error unless 0 <= prune_n <= prune_m and prune_m > 0.
[[nodiscard]] inline n_of_m wanda_n_of_m(std::size_t prune_n, std::size_t prune_m) {
    NNPRUNE_PRECONDITION(prune_m > 0 && prune_n <= prune_m,
                         detail::str("wanda_n_of_m: need prune_n <= prune_m, got ", prune_n, ":", prune_m));
    return n_of_m{prune_m - prune_n, prune_m, nm_tail::reject};
}

static_assert(checked_scorer<wanda_scorer>);
static_assert(checked_scorer<gblm_scorer>);
static_assert(row_local_scorer<wanda_scorer> && row_local_scorer<gblm_scorer>);

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_WANDA_HPP
