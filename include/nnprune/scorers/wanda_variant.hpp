#ifndef NNPRUNE_SCORERS_WANDA_VARIANT_HPP
#define NNPRUNE_SCORERS_WANDA_VARIANT_HPP

/// @file wanda_variant.hpp
/// Wanda's "variant" (--use_variant, algorithms.md §2): one layer-wide alpha, found by bisection,
/// gives each row its own threshold. For alpha: sort each row ascending (stable), cs = cumsum,
/// c_i = #{t : cs_it <= alpha * rowsum_i}, thr_i = sorted_i[c_i - 1], prune S_ij <= thr_i (ties at
/// thr pruned too; c_i = 0 prunes nothing in that row). Bisection from alpha = 0.4 in [0, 0.8]
/// while |cur - s| > 0.001 and hi - lo >= 0.001.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <vector>

#include "../config.hpp"
#include "../core/errors.hpp"
#include "../masks/mask.hpp"
#include "../select/options.hpp"
#include "scorer.hpp"

namespace nnprune {

/// What the variant search found.
struct wanda_variant_result {
    double alpha = 0.0;     ///< the final alpha
    double sparsity = 0.0;  ///< the achieved layer sparsity
    std::size_t iterations = 0;
};

/**
 * @brief Writes the Wanda-variant mask (true = kept) of contiguous float32 scores [rows, cols] into out.
 * @throws precondition_error (sparsity outside [0, 1]), shape_error (mask shape), value_error
 *         (NaN or negative scores: the cumulative-sum rule needs non-negative scores).
 */
inline wanda_variant_result wanda_variant_mask(const float* s, const nnprune::shape& shape, double sparsity,
                                               mask_view out) {
    constexpr const char* fn = "wanda_variant_mask";
    NNPRUNE_PRECONDITION(sparsity >= 0.0 && sparsity <= 1.0,
                         detail::str(fn, ": sparsity must be in [0, 1], got ", sparsity));
    NNPRUNE_CHECK(out.shape() == shape, shape_error,
                  detail::str(fn, ": mask has ", out.shape(), " elements, scores have ", shape));
    const std::size_t rows = shape.rows(), cols = shape.cols(), n = shape.numel();
    for (std::size_t i = 0; i < n; ++i)
        NNPRUNE_CHECK(s[i] >= 0.0f, value_error,
                      detail::str(fn, ": score ", s[i], " at flat index ", i, " (need >= 0, not NaN)"));
    // per row: stable ascending order, float32 cumulative sum, float32 row sum
    std::vector<float> sorted(n), cs(n), rowsum(rows);
    std::vector<std::size_t> idx(cols);
    for (std::size_t r = 0; r < rows; ++r) {
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        const float* row = s + r * cols;
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return row[a] < row[b]; });
        float acc = 0.0f;
        double total = 0.0;
        for (std::size_t t = 0; t < cols; ++t) {
            sorted[r * cols + t] = row[idx[t]];
            acc += row[idx[t]];
            cs[r * cols + t] = acc;
            total += row[idx[t]];
        }
        rowsum[r] = static_cast<float>(total);
    }
    // number pruned in row r at alpha: #{S <= thr}, thr = sorted[c - 1]
    auto pruned_in_row = [&](std::size_t r, double alpha, float& thr) -> std::size_t {
        const float lim = static_cast<float>(alpha) * rowsum[r];
        const float* c0 = cs.data() + r * cols;
        const auto c = static_cast<std::size_t>(std::upper_bound(c0, c0 + cols, lim) - c0);
        if (c == 0) return 0;
        const float* s0 = sorted.data() + r * cols;
        thr = s0[c - 1];
        return static_cast<std::size_t>(std::upper_bound(s0, s0 + cols, thr) - s0);
    };
    auto layer_sparsity = [&](double alpha) {
        std::size_t total = 0;
        float thr = 0;
        for (std::size_t r = 0; r < rows; ++r) total += pruned_in_row(r, alpha, thr);
        return n ? static_cast<double>(total) / static_cast<double>(n) : 0.0;
    };
    wanda_variant_result res;
    double alpha = 0.4, lo = 0.0, hi = 0.8;
    double cur = layer_sparsity(alpha);
    while (std::fabs(cur - sparsity) > 0.001 && hi - lo >= 0.001) {
        if (cur > sparsity) {
            const double a = (alpha + lo) / 2.0;
            hi = alpha;
            alpha = a;
        } else {
            const double a = (alpha + hi) / 2.0;
            lo = alpha;
            alpha = a;
        }
        cur = layer_sparsity(alpha);
        ++res.iterations;
    }
    res.alpha = alpha;
    res.sparsity = cur;
    for (std::size_t r = 0; r < rows; ++r) {
        float thr = 0;
        const bool any = pruned_in_row(r, alpha, thr) > 0;
        for (std::size_t j = 0; j < cols; ++j) out.set(r * cols + j, !(any && s[r * cols + j] <= thr));
    }
    return res;
}

/// wanda_variant_mask of a score tensor.
inline wanda_variant_result wanda_variant_mask(const score_tensor& scores, double sparsity, mask_view out) {
    return wanda_variant_mask(scores.data(), scores.shape(), sparsity, out);
}

/// Wanda's variant as a pattern for prune(): per-row thresholds from one layer-wide alpha.
/// Takes a sparsity ratio; contiguous float32 scores; no previous masks.
struct wanda_variant_rows {
    static constexpr std::size_t row_group = 0;  // alpha is layer-wide
};

inline selection select_mask(const tensor_ref& scores, wanda_variant_rows, const amount& a, mask_view out,
                             const select_options& o = {}) {
    NNPRUNE_PRECONDITION(o.previous.size() == 0, "prune(wanda_variant_rows): previous masks are not supported");
    NNPRUNE_PRECONDITION(!a.is_count(), "prune(wanda_variant_rows): needs a sparsity ratio");
    NNPRUNE_PRECONDITION(scores.dtype() == dtype::f32 && scores.is_contiguous(),
                         "wanda_variant_rows: needs contiguous float32 scores");
    wanda_variant_mask(static_cast<const float*>(scores.data_handle()), scores.shape(), a.ratio(), out);
    return selection{out.pruned(), {}};
}

}  // namespace nnprune

#endif  // NNPRUNE_SCORERS_WANDA_VARIANT_HPP
