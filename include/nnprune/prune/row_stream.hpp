#ifndef NNPRUNE_PRUNE_ROW_STREAM_HPP
#define NNPRUNE_PRUNE_ROW_STREAM_HPP

/// @file row_stream.hpp
/// The prune loop's row-streaming path for per_row patterns and scorers that score blocks of
/// rows (bound scorers, scorers/bind.hpp):
/// a layer is scored a block of rows at a time into a small buffer that stays in cache, each row
/// of the block is selected by a row_selector straight into the mask, and (when asked) the row's
/// pruned weights are zeroed right away from its kept words. No layer-sized score tensor, no
/// second read of the scores, no separate apply pass. Same masks, kth and weights as scoring the
/// whole layer and calling select_mask(per_row) then apply(): the scorer is row-local, the
/// row_selector is the one select_rows_classified uses, and rows are split over the same parts.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/layer.hpp"
#include "../core/tensor_ref.hpp"
#include "../core/tensor_view.hpp"
#include "../detail/parallel.hpp"
#include "../masks/apply.hpp"
#include "../masks/mask.hpp"
#include "../scorers/bind.hpp"
#include "../scorers/scorer.hpp"
#include "../select/group.hpp"
#include "../select/options.hpp"
#include "../select/row_selector.hpp"
#include "report.hpp"

namespace nnprune::detail {

/// Whether a finite_scorer surely scores the layer without NaN, its inputs already checked
/// finite (nan_policy::reject): weights and gradient of at most float32 range (a finite double
/// can widen to Inf, and Inf * 0 is NaN) and a statistic whose float32 values are finite and >= 0
/// (sqrt of a negative is NaN).
inline bool scores_surely_finite(const layer& l) {
    if (l.weights.dtype() == dtype::f64 || (l.gradient && l.gradient->dtype() == dtype::f64)) return false;
    if (!l.input_stat) return true;
    bool ok = true;
    visit(*l.input_stat, [&](auto tv) {
        for_each_indexed(tv, [&](std::size_t, auto x) {
            const float f = to_float(x);
            ok = ok && std::isfinite(f) && f >= 0.0f;
        });
    });
    return ok;
}

/// One layer prepared for row_stream (everything that can throw, done before any write).
struct row_stream_layer {
    const layer* l = nullptr;
    matrix_geometry w;  ///< the weights
    std::size_t k = 0;  ///< pruned per row
};

/// The layer prepared, or nullopt when its weights or gradient have no matrix interpretation
/// (the generic path then reports it, or does not need it: magnitude ignores the gradient).
inline std::optional<row_stream_layer> prepare_row_stream(const layer& l, std::size_t k) {
    if (!l.weights.has_matrix() || (l.gradient && !l.gradient->has_matrix())) return std::nullopt;
    return row_stream_layer{&l, geometry_of(l.weights), k};
}

/// Rows scored at a time: about 256 KiB of float scores (they stay in L2 until selected).
[[nodiscard]] inline std::size_t row_stream_block(std::size_t cols) noexcept {
    return std::max<std::size_t>(1, (std::size_t{1} << 16) / cols);
}

/// Float32 scores needed by row_stream for this layer (all parts' block buffers).
[[nodiscard]] inline std::size_t row_stream_buffer(const row_stream_layer& p, unsigned threads) noexcept {
    const std::size_t rows = p.w.rows, cols = p.w.cols;
    return static_cast<std::size_t>(row_parts(rows, cols, threads)) * std::min(rows, row_stream_block(cols)) * cols;
}

/**
 * @brief Scores, selects and (with `zero`) applies one prepared layer (rows, cols > 0) row block
 * by row block; writes every bit of `out` and returns the largest pruned score over the rows
 * (NaN when none). `buf` holds at least row_stream_buffer() floats.
 * @throws value_error on a NaN score under nan_policy::reject (as select_mask(per_row) does).
 * With `zero`, the caller guarantees that nothing throws (no NaN score under reject, or a policy
 * that ranks NaN): rows already zeroed are not restored.
 */
template <row_block_scorer S>
double row_stream(const S& s, const row_stream_layer& p, nan_policy np, unsigned threads, bool zero, mask_view out,
                  float* buf, select_workspace& ws) {
    const layer& l = *p.l;
    const std::size_t rows = p.w.rows, cols = p.w.cols, k = p.k;
    const unsigned parts = row_parts(rows, cols, threads);
    const std::size_t block = std::min(rows, row_stream_block(cols));
    // every allocation and check before the first write: one selector (its scratch) and one
    // bound scorer (validated, set up) per part
    std::vector<row_selector<float>> sel;
    std::vector<decltype(bind_rows(s, l))> bound;
    bound.reserve(parts);
    for (unsigned q = 0; q < parts; ++q) {
        sel.emplace_back(ws.part(q), cols);
        bound.push_back(bind_rows(s, l));
    }
    std::vector<double> kth(parts, std::numeric_limits<double>::quiet_NaN());
    std::uint64_t* words = out.words().data();
    const error_context err{"select_mask(per_row)", l.name};
    parallel_for(rows, parts, [&](std::size_t rb, std::size_t re, unsigned part) {
        row_selector<float>& rs = sel[part];
        float* sc = buf + static_cast<std::size_t>(part) * block * cols;
        double mx = std::numeric_limits<double>::quiet_NaN();
        for (std::size_t b0 = rb; b0 < re; b0 += block) {
            const std::size_t nb = std::min(block, re - b0);
            bound[part](b0, matrix_view<float>(sc, nb, cols));
            for (std::size_t i = 0; i < nb; ++i) {
                const std::size_t r = b0 + i;
                const float* row = sc + i * cols;
                const auto key = rs.select(row, k, np, err, r * cols, i + 1 < nb ? row + cols : nullptr);
                rs.write(words, r * cols);
                mx = max_kth(mx, reported_kth<float>(k, key));
                if (zero)
                    with_type(p.w.type, p.w.data, [&](auto wp) {
                        using T = std::remove_const_t<std::remove_pointer_t<decltype(wp)>>;
                        T* wr = const_cast<T*>(wp) + static_cast<std::ptrdiff_t>(r) * p.w.s0;
                        simd::zero_pruned_row(wr, p.w.s1, cols, rs.kept_words());
                    });
            }
        }
        kth[part] = mx;
    });
    return max_kth(kth);
}

}  // namespace nnprune::detail

#endif  // NNPRUNE_PRUNE_ROW_STREAM_HPP
