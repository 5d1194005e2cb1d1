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
#include "bind.hpp"
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

/// Wanda bound to one layer (bind.hpp): sqrt(stat) computed once, then blocks of rows scored.
class wanda_rows {
public:
    explicit wanda_rows(const layer& l) : m_w(l.weights), m_s(detail::sqrt_stat(l)) {}

    void operator()(std::size_t first_row, matrix_view<float> out) const {
        const std::size_t cols = out.extent(1);
        detail::visit_matrix(m_w, [&](auto w) {
            using T = typename decltype(w)::value_type;
            for (std::size_t i = 0; i < out.extent(0); ++i) {
                const std::size_t r = first_row + i;
                float* o = out.data_handle() + i * cols;
                const float* src = o;
                if constexpr (std::is_same_v<T, float>) {
                    if (w.stride(1) == 1)
                        src = w.data_handle() + static_cast<std::ptrdiff_t>(r) * w.stride(0);
                    else
                        detail::row_to_float(w, r, o);
                } else {
                    detail::row_to_float(w, r, o);
                }
                simd::abs_mul(src, m_s.data(), o, cols);
            }
        });
    }

private:
    tensor_ref m_w;
    std::vector<float> m_s;
};

/// Wanda importance |W_ij| * sqrt(stat_j). Needs layer::input_stat (length = weight columns).
struct wanda_scorer {
    void check(const layer& l) const { detail::require_input_stat(l, "wanda_scorer"); }

    [[nodiscard]] wanda_rows bind(const layer& l) const {
        check(l);
        return wanda_rows(l);
    }

    void operator()(const layer& l, matrix_view<float> out) const { bind(l)(0, out); }
};

inline constexpr wanda_scorer wanda{};

template <>
struct scorer_traits<wanda_scorer> {
    static constexpr bool row_local = true, finite_scores = true;
};

/// GBLM-Pruner importance |W_ij| * (sqrt(stat_j) + |G_ij|); with `inverse`, the --gradient_inv
/// form |W_ij| * sqrt(stat_j) / (|G_ij| + 1e-8). Needs input_stat and gradient.
struct gblm_scorer {
    bool inverse = false;

    /// GBLM bound to one layer: sqrt(stat) and the gradient row buffer made once.
    class rows {
    public:
        rows(const layer& l, bool inverse)
            : m_w(l.weights), m_g(*l.gradient), m_s(detail::sqrt_stat(l)), m_inverse(inverse) {}

        void operator()(std::size_t first_row, matrix_view<float> out) {
            detail::for_each_weight_gradient_row(
                m_w, m_g, first_row, out, m_gbuf, [&](float* o, const float* g, std::size_t cols) {
                    for (std::size_t j = 0; j < cols; ++j) {
                        const float aw = std::fabs(o[j]);
                        // upstream: |W|*sqrt(scaler) + |W|*|G| (two products, then the sum)
                        o[j] = m_inverse ? aw * m_s[j] / (std::fabs(g[j]) + 1e-8f) : aw * m_s[j] + aw * std::fabs(g[j]);
                    }
                });
        }

    private:
        tensor_ref m_w, m_g;
        std::vector<float> m_s, m_gbuf;
        bool m_inverse;
    };

    void check(const layer& l) const {
        detail::require_input_stat(l, "gblm_scorer");
        detail::require_gradient(l, "gblm_scorer");
    }

    [[nodiscard]] rows bind(const layer& l) const {
        check(l);
        return rows(l, inverse);
    }

    void operator()(const layer& l, matrix_view<float> out) const { bind(l)(0, out); }
};

inline constexpr gblm_scorer gblm{};

template <>
struct scorer_traits<gblm_scorer> {
    static constexpr bool row_local = true, finite_scores = true;
};

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
static_assert(bindable_scorer<wanda_scorer> && bindable_scorer<gblm_scorer>);

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_WANDA_HPP
