#ifndef NNPRUNE_EXAMPLES_DEMO_SCORES_HPP
#define NNPRUNE_EXAMPLES_DEMO_SCORES_HPP

/// @file scores.hpp
/// Weight importance scores, one per weight of a Linear W [out, in] (a higher score is kept first).
///
/// TEMPORARY: this file computes the scores the way /work/shared/docs/algorithms.md specifies them
/// until nnprune's scorers (include/nnprune/scorers/) land; then score() becomes a few calls to the
/// library and the rest of the demo does not change.

#include <Eigen/Core>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "dataset.hpp"
#include "mlp.hpp"

namespace demo {

enum class method { magnitude, wanda, lamp, taylor, gblm, random };

inline constexpr std::array<method, 6> all_methods{method::magnitude, method::wanda, method::lamp,
                                                    method::taylor,    method::gblm,  method::random};

[[nodiscard]] constexpr std::string_view name_of(method m) {
    switch (m) {
        case method::magnitude: return "magnitude";
        case method::wanda: return "wanda";
        case method::lamp: return "lamp";
        case method::taylor: return "taylor";
        case method::gblm: return "gblm";
        case method::random: return "random";
    }
    return "?";
}

/**
 * Scores of W under a method, from the layer's calibration statistics s (mlp::calibrate):
 * - magnitude |W_ij|                                   (§1)
 * - wanda     |W_ij| * sqrt(scaler_row_j)              (§2)
 * - lamp      w_t^2 / sum_{u >= t} w_u^2 over the layer's squared weights sorted ascending (§3);
 *             within a layer its order is the magnitude order, it matters for global selection
 * - taylor    |W_ij * g_ij|, g the gradient of the mean training loss (§4b)
 * - gblm      |W_ij| * (sqrt(scaler_row_j) + G_ij), G the l2 norm of 100x per-sample gradients (§4c)
 * - random    uniform in [0, 1) from `seed`
 */
[[nodiscard]] inline matrix score(method m, const matrix& w, const layer_stats& s, std::uint64_t seed) {
    switch (m) {
        case method::magnitude: return w.cwiseAbs();
        case method::wanda: return w.cwiseAbs() * s.scaler_row.cwiseSqrt().asDiagonal();
        case method::lamp: {
            const std::size_t n = static_cast<std::size_t>(w.size());
            std::vector<std::size_t> order(n);
            std::iota(order.begin(), order.end(), std::size_t{0});
            auto sq = [&](std::size_t i) { return static_cast<double>(w.data()[i]) * static_cast<double>(w.data()[i]); };
            std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return sq(a) < sq(b); });
            double total = 0;
            for (std::size_t i = 0; i < n; ++i) total += sq(i);
            double before = 0;  // exclusive cumulative sum in ascending order
            matrix out(w.rows(), w.cols());
            for (std::size_t t = 0; t < n; ++t) {
                out.data()[order[t]] = static_cast<float>(sq(order[t]) / (total - before));
                before += sq(order[t]);
            }
            return out;
        }
        case method::taylor: return w.cwiseProduct(s.grad).cwiseAbs();
        case method::gblm:
            return w.cwiseAbs().cwiseProduct((s.grad_l2.rowwise() + s.scaler_row.cwiseSqrt()));
        case method::random: {
            rng r(seed);
            matrix out(w.rows(), w.cols());
            for (Eigen::Index i = 0; i < out.size(); ++i) out.data()[i] = static_cast<float>(r.uniform());
            return out;
        }
    }
    throw std::logic_error("score: unknown method");
}

}  // namespace demo

#endif  // NNPRUNE_EXAMPLES_DEMO_SCORES_HPP
