#ifndef NNPRUNE_SCORERS_MAGNITUDE_HPP
#define NNPRUNE_SCORERS_MAGNITUDE_HPP

/// @file magnitude.hpp
/// Magnitude importance (algorithms.md §1): score = |w| (torch L1Unstructured). For structured
/// groups (whole rows / columns / blocks) combine it with select's aggregates: channels{0,
/// aggregate::l2} on |w| ranks output channels by their L2 norm, aggregate::l1 by their L1 norm.

#include <cmath>
#include <cstddef>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../simd/widen.hpp"
#include "bind.hpp"
#include "scorer.hpp"

namespace nnprune {

/// score(i, j) = |W(i, j)|, or W(i, j)^2 with `squared` (same order, LAMP's numerator).
struct magnitude_scorer {
    bool squared = false;

    /// Bound to one layer's weights (bind.hpp).
    struct rows {
        tensor_ref w;
        bool squared = false;

        void operator()(std::size_t first_row, matrix_view<float> out) const {
            const std::size_t cols = out.extent(1);
            detail::visit_matrix(w, [&](auto wm) {
                using T = std::remove_cv_t<typename decltype(wm)::element_type>;
                for (std::size_t i = 0; i < out.extent(0); ++i) {
                    float* o = out.data_handle() + i * cols;
                    if constexpr (!std::is_same_v<T, double>) {
                        if (!squared && wm.stride(1) == 1) {  // one pass: widen and drop the sign
                            simd::widen<true>(&wm(first_row + i, 0), cols, o);
                            continue;
                        }
                    }
                    detail::row_to_float(wm, first_row + i, o);
                    for (std::size_t j = 0; j < cols; ++j) o[j] = squared ? o[j] * o[j] : std::fabs(o[j]);
                }
            });
        }
    };

    [[nodiscard]] rows bind(const layer& l) const { return rows{l.weights, squared}; }

    void operator()(const layer& l, matrix_view<float> out) const { bind(l)(0, out); }
};

inline constexpr magnitude_scorer magnitude{};

template <>
struct scorer_traits<magnitude_scorer> {
    static constexpr bool row_local = true, finite_scores = true;
};

/// Taylor first-order importance (algorithms.md §4b): score = |w * g| with g the layer's
/// (accumulated) gradient, e.g. from gradient_accumulator.
struct taylor_scorer {
    /// Bound to one layer's weights and gradient (the gradient row buffer made once).
    struct rows {
        tensor_ref w, g;
        std::vector<float> gbuf;

        void operator()(std::size_t first_row, matrix_view<float> out) {
            detail::for_each_weight_gradient_row(w, g, first_row, out, gbuf,
                                                 [](float* o, const float* gr, std::size_t cols) {
                                                     for (std::size_t j = 0; j < cols; ++j)
                                                         o[j] = std::fabs(o[j] * gr[j]);
                                                 });
        }
    };

    void check(const layer& l) const { detail::require_gradient(l, "taylor_scorer"); }

    [[nodiscard]] rows bind(const layer& l) const {
        check(l);
        return rows{l.weights, *l.gradient, {}};
    }

    void operator()(const layer& l, matrix_view<float> out) const { bind(l)(0, out); }
};

inline constexpr taylor_scorer taylor{};

template <>
struct scorer_traits<taylor_scorer> {
    static constexpr bool row_local = true, finite_scores = true;
};

static_assert(scorer<magnitude_scorer>);
static_assert(checked_scorer<taylor_scorer>);
static_assert(row_local_scorer<magnitude_scorer> && row_local_scorer<taylor_scorer>);
static_assert(bindable_scorer<magnitude_scorer> && bindable_scorer<taylor_scorer>);

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_MAGNITUDE_HPP
