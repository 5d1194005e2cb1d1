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
#include "plan.hpp"

namespace nnprune {

namespace detail {
/// OWL's outlier threshold M * mean from a sum of n scores (mean in double, float32 product).
[[nodiscard]] inline float owl_threshold(double sum, std::size_t n, double m) {
    NNPRUNE_PRECONDITION(n > 0, "owl_outlier_ratio: no scores");
    return static_cast<float>(sum / static_cast<double>(n)) * static_cast<float>(m);
}

[[nodiscard]] inline std::size_t count_above(std::span<const float> s, float thr) noexcept {
    std::size_t c = 0;
    for (float v : s) c += v > thr;
    return c;
}
}  // namespace detail

/// D = 100 * #{S > M * mean(S)} / numel over the concatenation of the given score spans
/// (mean in double, threshold float32 as torch's float32 mean * M).
[[nodiscard]] inline double owl_outlier_ratio(std::span<const std::span<const float>> scores, double m) {
    double sum = 0.0;
    std::size_t n = 0;
    for (auto s : scores) {
        for (float v : s) sum += v;
        n += s.size();
    }
    const float thr = detail::owl_threshold(sum, n, m);
    std::size_t c = 0;
    for (auto s : scores) c += detail::count_above(s, thr);
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
    NNPRUNE_PRECONDITION(*hi > *lo,
                         detail::str(fn, ": every outlier ratio is ", *lo, " (max D = min D divides by zero)"));
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

/// Allocation for prune(): scores of the layers in each block (block_of[i] = block of layer i;
/// empty: every layer its own block; excluded layers take no part) give each block its sparsity.
/// Planning scores each layer once (twice for blocks of several layers: the mean, then the count).
struct owl {
    double sparsity = 0.5;
    double m = 5.0;
    double lambda = 0.08;
    std::vector<std::size_t> block_of;

    [[nodiscard]] std::vector<layer_plan> plan(prune_context& c) const {
        constexpr const char* fn = "prune";
        const std::size_t nl = c.size();
        detail::check_ratio(sparsity, fn);
        NNPRUNE_PRECONDITION(block_of.empty() || block_of.size() == nl,
                             detail::str(fn, ": owl.block_of has ", block_of.size(), " entries for ", nl, " layers"));
        auto block = [&](std::size_t i) { return block_of.empty() ? i : block_of[i]; };
        std::size_t nb = 0;
        for (std::size_t i = 0; i < nl; ++i) nb = std::max(nb, block(i) + 1);
        std::vector<std::size_t> members(nb, 0), n(nb, 0), above(nb, 0);
        for (std::size_t i = 0; i < nl; ++i) members[block(i)] += !c.choice(i).excluded;
        for (std::size_t b = 0; b < nb; ++b)
            NNPRUNE_PRECONDITION(members[b] > 0, detail::str(fn, ": owl block ", b, " has no layer to prune"));
        std::vector<double> sum(nb, 0.0);
        bool several = false;
        for (std::size_t i = 0; i < nl; ++i) {  // the sums (a block of one layer: its count too)
            if (c.choice(i).excluded) continue;
            const std::size_t b = block(i);
            several |= members[b] > 1;
            c.scores(i, [&](const score_tensor& s) {
                for (float v : s.values()) sum[b] += v;
                n[b] += s.size();
                if (members[b] == 1) above[b] = detail::count_above(s.values(), detail::owl_threshold(sum[b], n[b], m));
            });
        }
        for (std::size_t i = 0; several && i < nl; ++i) {  // the counts of blocks of several layers
            const std::size_t b = block(i);
            if (c.choice(i).excluded || members[b] == 1) continue;
            c.scores(i, [&](const score_tensor& s) {
                above[b] += detail::count_above(s.values(), detail::owl_threshold(sum[b], n[b], m));
            });
        }
        std::vector<double> d(nb);
        for (std::size_t b = 0; b < nb; ++b) {
            (void)detail::owl_threshold(sum[b], n[b], m);  // no scores at all: the same error as owl_outlier_ratio
            d[b] = 100.0 * static_cast<double>(above[b]) / static_cast<double>(n[b]);
        }
        const auto sb = owl_layer_sparsities(d, sparsity, lambda);
        std::vector<layer_plan> p(nl);
        for (std::size_t i = 0; i < nl; ++i)
            if (!c.choice(i).excluded) p[i] = layer_plan::ratio(sb[block(i)]);
        return p;
    }
};

}  // namespace nnprune

#endif  // NNPRUNE_ALLOCATION_OWL_HPP
