#ifndef NNPRUNE_SCORERS_MAGNITUDE_HPP
#define NNPRUNE_SCORERS_MAGNITUDE_HPP

/// @file magnitude.hpp
/// Magnitude importance (algorithms.md §1): score = |w| (torch L1Unstructured). For structured
/// groups (whole rows / columns / blocks) combine it with select's aggregates: channels{0,
/// aggregate::l2} on |w| ranks output channels by their L2 norm, aggregate::l1 by their L1 norm.

#include <cmath>
#include <cstddef>
#include <vector>

#include "../config.hpp"
#include "scorer.hpp"

namespace nnprune {

/// score(i, j) = |W(i, j)|, or W(i, j)^2 with `squared` (same order, LAMP's numerator).
struct magnitude_scorer {
    static constexpr bool row_local = true;      ///< see row_local_scorer
    static constexpr bool finite_scores = true;  ///< see finite_scorer
    bool squared = false;

    void operator()(const layer& l, matrix_view<float> out) const {
        const std::size_t cols = out.extent(1);
        detail::visit_matrix(l.weights, [&](auto w) {
            for (std::size_t i = 0; i < out.extent(0); ++i) {
                float* o = out.data_handle() + i * cols;
                detail::row_to_float(w, i, o);
                for (std::size_t j = 0; j < cols; ++j) o[j] = squared ? o[j] * o[j] : std::fabs(o[j]);
            }
        });
    }
};
inline constexpr magnitude_scorer magnitude{};

/// Taylor first-order importance (algorithms.md §4b): score = |w * g| with g the layer's
/// (accumulated) gradient, e.g. from gradient_accumulator.
struct taylor_scorer {
    static constexpr bool row_local = true;      ///< see row_local_scorer
    static constexpr bool finite_scores = true;  ///< see finite_scorer
    void check(const layer& l) const { detail::require_gradient(l, "taylor_scorer"); }

    void operator()(const layer& l, matrix_view<float> out) const {
        check(l);
        detail::for_each_weight_gradient_row(l, out, [](float* o, const float* g, std::size_t cols) {
            for (std::size_t j = 0; j < cols; ++j) o[j] = std::fabs(o[j] * g[j]);
        });
    }
};
inline constexpr taylor_scorer taylor{};

static_assert(scorer<magnitude_scorer>);
static_assert(checked_scorer<taylor_scorer>);
static_assert(row_local_scorer<magnitude_scorer> && row_local_scorer<taylor_scorer>);

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_MAGNITUDE_HPP
