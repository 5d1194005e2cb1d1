#ifndef NNPRUNE_ALLOCATION_OWL_HPP
#define NNPRUNE_ALLOCATION_OWL_HPP

/// @file owl.hpp
/// OWL, outlier-weighted layer-wise sparsity (algorithms.md §10a):
///  1. per block l, over the Wanda scores of all its layers: D_l = 100 * #{S > M * mean(S)} / numel;
///  2. r = (D - min D) * ((1 / (max D - min D)) * lambda * 2); r = r - mean(r) + (1 - s) (density);
///  3. s_l = 1 - r_l, and s_l <= 0 becomes 0.01.
/// Upstream defaults: M = 3, lambda = 0.08 (README runs: M = 5, lambda = 0.08).

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "allocation.hpp"

namespace nnprune {

/// Allocation for prune(): scores of the layers in each block (block_of[i] = block of layer i;
/// empty: every layer its own block) give each block its sparsity.
struct owl {
    double sparsity = 0.5;
    double m = 5.0;
    double lambda = 0.08;
    std::vector<std::size_t> block_of;
};

/// D = 100 * #{S > M * mean(S)} / numel over the concatenation of the given score spans
/// (mean in double, threshold float32 as torch's float32 mean * M).
[[nodiscard]] inline double owl_outlier_ratio(std::span<const std::span<const float>> scores, double m) {
    double sum = 0.0;
    std::size_t n = 0;
    for (auto s : scores) {
        for (float v : s) sum += v;
        n += s.size();
    }
    NNPRUNE_PRECONDITION(n > 0, "owl_outlier_ratio: no scores");
    const float thr = static_cast<float>(sum / static_cast<double>(n)) * static_cast<float>(m);
    std::size_t c = 0;
    for (auto s : scores)
        for (float v : s) c += v > thr;
    return 100.0 * static_cast<double>(c) / static_cast<double>(n);
}

/**
 * @brief Per-block sparsities from outlier ratios D (in %), target mean sparsity s and lambda.
 * @throws precondition_error (empty D, s outside [0, 1], all D equal: upstream divides by zero).
 */
[[nodiscard]] inline std::vector<double> owl_layer_sparsities(std::span<const double> d, double s, double lambda) {
    constexpr const char* fn = "owl_layer_sparsities";
    NNPRUNE_PRECONDITION(!d.empty(), detail::str(fn, ": no blocks"));
    detail::check_ratio(s, fn);
    const auto [lo, hi] = std::minmax_element(d.begin(), d.end());
    NNPRUNE_PRECONDITION(*hi > *lo, detail::str(fn, ": every outlier ratio is ", *lo, " (max D = min D divides by zero)"));
    const double factor = (1.0 / (*hi - *lo)) * lambda * 2.0;
    std::vector<double> r(d.size());
    double mean = 0.0;
    for (std::size_t i = 0; i < d.size(); ++i) {
        r[i] = (d[i] - *lo) * factor;
        mean += r[i];
    }
    mean /= static_cast<double>(d.size());
    for (auto& x : r) {
        x = x - mean + (1.0 - s);
        x = 1.0 - x;
        if (x <= 0.0) x = 0.01;
    }
    return r;
}

}  // namespace nnprune

#endif  // NNPRUNE_ALLOCATION_OWL_HPP
