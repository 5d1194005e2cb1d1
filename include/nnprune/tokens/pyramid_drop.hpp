#ifndef NNPRUNE_TOKENS_PYRAMID_DROP_HPP
#define NNPRUNE_TOKENS_PYRAMID_DROP_HPP

/// @file pyramid_drop.hpp
/// PyramidDrop (Xing et al., CVPR 2025; tokens.md §6): the image tokens are dropped in stages
/// inside the LLM. At each stage boundary the attention row [H, L] of the last instruction token,
/// computed with the *next* layer's projections before that layer runs, is averaged over heads;
/// of the n_s current image tokens (columns [img_start, img_start + n_s)) the top n_{s+1} stay,
/// ascending. Stage counts are int(N0 * ratio) of the ORIGINAL N0 (truncation), with ratio 1.0
/// prepended (pyramid_drop_schedule). The head sum accumulates in f32 (f64 for f64 rows), is
/// divided by H in double and stored as float (fixed order: identical for any SIMD tier or
/// thread count); ties keep the lower index.

#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "cls_attention.hpp"
#include "items.hpp"
#include "rank.hpp"

namespace nnprune {

/// Upstream's script defaults: drops entering layers 8, 16, 24 to 1/2, 1/4, 1/8 of N0.
struct pdrop_options {
    std::vector<std::size_t> layers = {8, 16, 24};    ///< `layer_list`: 0-based layers whose input is pruned
    std::vector<double> ratios = {0.5, 0.25, 0.125};  ///< `image_token_ratio_list`, relative to N0
};

/// The stages: stage 0 has counts[0] = N0 image tokens (ratio 1.0); stage s >= 1 begins at layer
/// layers[s - 1] with counts[s] = int(N0 * ratios[s]) tokens.
struct pdrop_schedule {
    std::vector<std::size_t> layers;  ///< the S drop layers
    std::vector<double> ratios;       ///< S + 1 ratios, 1.0 first
    std::vector<std::size_t> counts;  ///< S + 1 image-token counts, N0 first
};

/**
 * @brief PyramidDrop's schedule for N0 image tokens: N0 = 576 with the defaults gives 576 / 288 /
 * 144 / 72.
 * @throws precondition_error (N0 = 0, list sizes differ, layers not strictly increasing or 0, a
 *         ratio outside (0, 1] or NaN, a count that grows or truncates to 0).
 */
[[nodiscard]] inline pdrop_schedule pyramid_drop_schedule(std::size_t n0, const pdrop_options& o = {}) {
    constexpr std::string_view fn = "pyramid_drop_schedule";
    NNPRUNE_PRECONDITION(n0 > 0, detail::str(fn, ": no image tokens (N0 = 0)"));
    NNPRUNE_PRECONDITION(o.layers.size() == o.ratios.size(),
                         detail::str(fn, ": ", o.layers.size(), " layers but ", o.ratios.size(), " ratios"));
    pdrop_schedule s;
    s.layers = o.layers;
    s.ratios.reserve(o.ratios.size() + 1);
    s.counts.reserve(o.ratios.size() + 1);
    s.ratios.push_back(1.0);
    s.counts.push_back(n0);
    for (std::size_t i = 0; i < o.ratios.size(); ++i) {
        NNPRUNE_PRECONDITION(
            o.layers[i] > 0 && (i == 0 || o.layers[i] > o.layers[i - 1]),
            detail::str(fn, ": layer ", i, " is ", o.layers[i], ": layers must be positive and strictly increasing"));
        const double r = o.ratios[i];
        NNPRUNE_PRECONDITION(r > 0.0 && r <= 1.0, detail::str(fn, ": ratio ", i, " is ", r, ", must be in (0, 1]"));
        const auto c = static_cast<std::size_t>(static_cast<double>(n0) * r);  // Python int(): truncation
        NNPRUNE_PRECONDITION(
            c > 0 && c <= s.counts.back(),
            detail::str(fn, ": ratio ", i, " (", r, ") gives int(", n0, " * ", r, ") = ", c, " image tokens after ",
                        s.counts.back(), " (counts must be positive and non-increasing)"));
        s.ratios.push_back(r);
        s.counts.push_back(c);
    }
    return s;
}

/// The outputs of one drop: scores [n_s] (head mean of the image columns) and the kept image
/// positions relative to img_start, ascending (n_next of them).
struct pdrop_result {
    std::vector<float> scores;
    std::vector<std::size_t> kept;
};

struct pdrop_workspace {
    std::vector<double> acc;
    std::vector<float> acc_f;
    detail::attn_row_sums sums;
    std::vector<pdrop_result> staged;  ///< batched form: results before they are committed
};

namespace detail {

template <class T>
void check_pdrop_row(const tensor_view<T, 2>& row, std::size_t img_start, std::size_t n_s, std::size_t n_next,
                     std::string_view fn) {
    const std::size_t heads = row.extent(0), len = row.extent(1);
    NNPRUNE_CHECK(heads > 0 && len > 0, shape_error,
                  detail::str(fn, ": attention row is ", heads, "x", len, " (heads x keys), both must be positive"));
    NNPRUNE_CHECK(n_s > 0 && img_start <= len && n_s <= len - img_start, shape_error,
                  detail::str(fn, ": image columns [", img_start, ", ", img_start + n_s, ") are empty or outside the ",
                              len, " keys"));
    NNPRUNE_PRECONDITION(n_next > 0 && n_next <= n_s,
                         detail::str(fn, ": n_next = ", n_next, " must be in [1, n_s = ", n_s, "]"));
}

template <class T>
void pdrop_impl(const tensor_view<T, 2>& row, std::size_t img_start, std::size_t n_s, std::size_t n_next,
                pdrop_result& r, pdrop_workspace& ws, std::string_view fn) {
    check_pdrop_row(row, img_start, n_s, n_next, fn);
    const std::size_t heads = row.extent(0);
    using Acc = attn_sum_type<T>;
    auto& acc = [&]() -> std::vector<Acc>& {
        if constexpr (std::is_same_v<Acc, double>)
            return ws.acc;
        else
            return ws.acc_f;
    }();
    acc.resize(n_s);
    attn_sum_rows<Acc, T>([&](std::size_t h) { return &row(h, img_start); }, heads, row.stride(1), n_s, acc.data(),
                          ws.sums);
    if (!attn_all_finite(acc.data(), n_s)) {
        for (std::size_t h = 0; h < heads; ++h)
            for (std::size_t i = 0; i < n_s; ++i)
                NNPRUNE_CHECK(
                    is_finite(row(h, img_start + i)), value_error,
                    detail::str(fn, ": non-finite attention (NaN or Inf) at head ", h, ", key ", img_start + i));
        NNPRUNE_CHECK(false, value_error, detail::str(fn, ": the attention sum overflows"));
    }
    const double inv = 1.0 / static_cast<double>(heads);
    r.scores.resize(n_s);
    for (std::size_t i = 0; i < n_s; ++i) r.scores[i] = static_cast<float>(static_cast<double>(acc[i]) * inv);
    top_k_kept(r.scores.data(), n_s, n_next, r.kept);
}

}  // namespace detail

/**
 * @brief One PyramidDrop drop: of the n_s image tokens at keys [img_start, img_start + n_s) keep
 * the n_next with the highest head-mean attention from the last instruction token.
 * @param row [H, L] that query's attention probabilities (any dtype, any strides); only the image
 *        columns are read.
 * @throws shape_error (empty row, image columns outside it), precondition_error (n_next 0 or
 *         > n_s), value_error (NaN/Inf attention); r is unchanged when it throws.
 * @code
 * auto sched = nnprune::pyramid_drop_schedule(576);           // 576 / 288 / 144 / 72
 * nnprune::pdrop_select(row, 35, sched.counts[0], sched.counts[1], r, ws);
 * @endcode
 */
template <class T>
void pdrop_select(const tensor_view<T, 2>& row, std::size_t img_start, std::size_t n_s, std::size_t n_next,
                  pdrop_result& r, pdrop_workspace& ws) {
    detail::pdrop_impl(row, img_start, n_s, n_next, r, ws, "pdrop_select");
}

/// The kept image positions (relative to img_start, ascending) of pdrop_select(row, ..., r, ws).
template <class T>
[[nodiscard]] std::vector<std::size_t> pdrop_select(const tensor_view<T, 2>& row, std::size_t img_start,
                                                    std::size_t n_s, std::size_t n_next) {
    pdrop_result r;
    pdrop_workspace ws;
    pdrop_select(row, img_start, n_s, n_next, r, ws);
    return std::move(r.kept);
}

/**
 * @brief Batched drop over rows [B, H, L]: item b's image starts at img_start[b] (or img_start[0]
 * for every item when one value is given); n_s and n_next are shared. out[b] equals the single
 * call; identical for any thread count.
 * @throws shape_error (B = 0, img_start of neither 1 nor B values) and the single call's errors
 *         (of the lowest failing item); out is unchanged when it throws.
 */
template <class T>
void pdrop_select_batch(const tensor_view<T, 3>& rows, std::span<const std::size_t> img_start, std::size_t n_s,
                        std::size_t n_next, std::vector<pdrop_result>& out, std::vector<pdrop_workspace>& ws,
                        unsigned threads = 1) {
    constexpr std::string_view fn = "pdrop_select_batch";
    const std::size_t items = rows.extent(0);
    NNPRUNE_CHECK(items > 0, shape_error, detail::str(fn, ": empty batch (B = 0)"));
    NNPRUNE_CHECK(img_start.size() == 1 || img_start.size() == items, shape_error,
                  detail::str(fn, ": ", img_start.size(), " image starts for ", items, " items (give 1 or B)"));
    for (std::size_t b = 0; b < img_start.size(); ++b)
        detail::check_pdrop_row(detail::item_of(rows, b), img_start[b], n_s, n_next, fn);
    detail::run_staged_items(items, threads, out, ws, [&](std::size_t b, pdrop_result& r, pdrop_workspace& w) {
        detail::pdrop_impl(detail::item_of(rows, b), img_start[img_start.size() == 1 ? 0 : b], n_s, n_next, r, w, fn);
    });
}

template <class T>
[[nodiscard]] std::vector<std::vector<std::size_t>> pdrop_select_batch(const tensor_view<T, 3>& rows,
                                                                       std::span<const std::size_t> img_start,
                                                                       std::size_t n_s, std::size_t n_next,
                                                                       unsigned threads = 1) {
    std::vector<pdrop_result> r;
    std::vector<pdrop_workspace> ws;
    pdrop_select_batch(rows, img_start, n_s, n_next, r, ws, threads);
    std::vector<std::vector<std::size_t>> kept(r.size());
    for (std::size_t b = 0; b < r.size(); ++b) kept[b] = std::move(r[b].kept);
    return kept;
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_PYRAMID_DROP_HPP
