#ifndef NNPRUNE_TOKENS_CLS_ATTENTION_HPP
#define NNPRUNE_TOKENS_CLS_ATTENTION_HPP

/// @file cls_attention.hpp
/// [CLS]-attention token selection (tokens.md §5), one kernel for two methods:
///  - FasterVLM (Zhang et al., arXiv 2412.01818): score[i] = mean_h attn[h, cls, key i] of one
///    vision layer (the feature layer, LLaVA's -2); keep the top T.
///  - VTC-CLS (Wang et al., arXiv 2412.05819): the same head mean summed over the layers
///    start_layer .. L-2 (the last layer excluded: vtc_cls_layers()).
/// The N image tokens are the keys other than the CLS position, in order (image token i is key i
/// for i < cls, key i + 1 after it). Only the CLS query row of each map is read. Each layer's
/// head sum accumulates in f32 (f64 for f64 maps), a cache line of keys at a time in registers;
/// its mean is added over layers in double and stored as float. The order is fixed, so results
/// do not depend on the SIMD tier or the thread count. Kept indices are ascending; among equal
/// scores the lower index is kept (tokens/rank.hpp). A ratio keeps
/// round(ratio * N) tokens, half-even, as FasterVLM's README derives T (576 * 0.1 -> 58).
/// Encoders without a CLS token (SigLIP) are not supported: the CLS position must be a real token.

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/widen.hpp"
#include "items.hpp"
#include "keep.hpp"
#include "rank.hpp"

namespace nnprune {

/// The attention layers [first, last) of a stack [L, H, N+1, N+1] whose maps are summed.
struct layer_range {
    std::size_t first = 0;
    std::size_t last = 0;
};

/**
 * @brief VTC-CLS's layers for an encoder with `layers` attention maps: [start_layer, layers - 1)
 * (upstream `attentions[start_layer:-1]`, the last layer excluded).
 * @throws precondition_error when the range is empty (start_layer >= layers - 1).
 */
[[nodiscard]] inline layer_range vtc_cls_layers(std::size_t layers, std::size_t start_layer) {
    NNPRUNE_PRECONDITION(layers >= 2 && start_layer < layers - 1,
                         detail::str("vtc_cls_layers: start_layer ", start_layer, " leaves no layer of ", layers,
                                     " (the range is [start_layer, L - 1), the last layer excluded)"));
    return {start_layer, layers - 1};
}

struct cls_attention_options {
    std::size_t cls = 0;  ///< the CLS token's position (query row and key column); 0 for CLIP
};

/// The outputs of one selection: scores [N] of the image tokens and the kept tokens, ascending.
struct cls_attention_result {
    std::vector<float> scores;
    std::vector<std::size_t> kept;
};

namespace detail {

/// Scratch of attn_sum_rows: the row pointers, and rows converted to the accumulator type.
struct attn_row_sums {
    std::vector<float> rows_f;
    std::vector<double> rows_d;
    std::vector<const float*> ptr_f;
    std::vector<const double*> ptr_d;

    template <class Acc>
    std::vector<Acc>& rows() {
        if constexpr (std::is_same_v<Acc, double>)
            return rows_d;
        else
            return rows_f;
    }

    template <class Acc>
    std::vector<const Acc*>& ptrs() {
        if constexpr (std::is_same_v<Acc, double>)
            return ptr_d;
        else
            return ptr_f;
    }
};

}  // namespace detail

/// Reused buffers (one per thread in the batched form): no allocation once grown.
struct cls_attention_workspace {
    std::vector<double> total, layer;
    std::vector<float> layer_f;
    detail::attn_row_sums sums;
    std::vector<cls_attention_result> staged;  ///< batched form: results before they are committed
};

namespace detail {

/// The accumulator of a head / query sum: double for f64 inputs, float otherwise (the order is
/// fixed, so the result does not depend on the SIMD tier).
template <class T>
using attn_sum_type = std::conditional_t<std::is_same_v<std::remove_cv_t<T>, double>, double, float>;

/// acc[j] += row[j] (j < n), the row read through stride s; contiguous bf16/f16 rows widen first.
template <class Acc, class T>
void attn_add_row(const T* p, std::ptrdiff_t s, std::size_t n, Acc* acc, std::vector<float>& tmp) {
    using U = std::remove_cv_t<T>;
    if (s == 1) {
        if constexpr (std::is_same_v<U, bfloat16> || std::is_same_v<U, float16>) {
            if (tmp.size() < n) tmp.resize(n);
            simd::widen(p, n, tmp.data());
            for (std::size_t j = 0; j < n; ++j) acc[j] += static_cast<Acc>(tmp[j]);
        } else {
            for (std::size_t j = 0; j < n; ++j) acc[j] += static_cast<Acc>(p[j]);
        }
        return;
    }
    for (std::size_t j = 0; j < n; ++j) acc[j] += static_cast<Acc>(to_double(p[static_cast<std::ptrdiff_t>(j) * s]));
}

/// out[j] = ((0 + rows[0][j]) + rows[1][j]) + ... : the same sums as attn_add_row over the rows in
/// order, a cache line of columns at a time in registers (one store per column, not one per row).
template <class Acc>
void attn_sum_rows_kernel(const Acc* const* rows, std::size_t count, std::size_t n, Acc* out) noexcept {
    constexpr std::size_t B = 64 / sizeof(Acc);
    std::size_t j = 0;
    for (; j + B <= n; j += B) {
        Acc a[B] = {};
        for (std::size_t r = 0; r < count; ++r) {
            const Acc* p = rows[r] + j;
            for (std::size_t t = 0; t < B; ++t) a[t] += p[t];
        }
        for (std::size_t t = 0; t < B; ++t) out[j + t] = a[t];
    }
    for (; j < n; ++j) {
        Acc a = 0;
        for (std::size_t r = 0; r < count; ++r) a += rows[r][j];
        out[j] = a;
    }
}

/// out[j] = sum over r < count (in order, from 0) of element j of row(r) (a const T*, stride s).
/// Rows of another type than Acc, or strided, are converted into `buf` first.
template <class Acc, class T, class RowAt>
void attn_sum_rows(RowAt row, std::size_t count, std::ptrdiff_t s, std::size_t n, Acc* out, attn_row_sums& buf) {
    using U = std::remove_cv_t<T>;
    auto& ptr = buf.ptrs<Acc>();
    ptr.resize(count);
    if constexpr (std::is_same_v<U, Acc>) {
        if (s == 1) {
            for (std::size_t r = 0; r < count; ++r) ptr[r] = row(r);
            return attn_sum_rows_kernel(ptr.data(), count, n, out);
        }
    }
    auto& tmp = buf.rows<Acc>();
    if (tmp.size() < count * n) tmp.resize(count * n);
    for (std::size_t r = 0; r < count; ++r) {
        Acc* d = tmp.data() + r * n;
        const T* p = row(r);
        ptr[r] = d;
        if constexpr (std::is_same_v<Acc, float> && (std::is_same_v<U, bfloat16> || std::is_same_v<U, float16>)) {
            if (s == 1) {
                simd::widen(p, n, d);
                continue;
            }
        }
        for (std::size_t j = 0; j < n; ++j) d[j] = static_cast<Acc>(to_double(p[static_cast<std::ptrdiff_t>(j) * s]));
    }
    attn_sum_rows_kernel(ptr.data(), count, n, out);
}

/// Whether every value is finite (a NaN or Inf input makes its accumulated sum non-finite).
template <class Acc>
[[nodiscard]] bool attn_all_finite(const Acc* v, std::size_t n) noexcept {
    bool ok = true;
    for (std::size_t j = 0; j < n; ++j) ok &= is_finite(v[j]);
    return ok;
}

/// kept = the k best of n scores as ascending indices (tokens/rank.hpp).
inline void top_k_kept(const float* s, std::size_t n, std::size_t k, std::vector<std::size_t>& kept) {
    top_k_ascending(s, n, k, kept);
    kept.resize(k);
}

template <class T>
void check_cls_maps(const tensor_view<T, 4>& a, layer_range layers, std::size_t cls, std::string_view fn) {
    const std::size_t heads = a.extent(1), queries = a.extent(2), keys = a.extent(3);
    NNPRUNE_CHECK(a.extent(0) > 0 && heads > 0 && keys >= 2 && queries == keys, shape_error,
                  detail::str(fn, ": attention is ", a.extent(0), "x", heads, "x", queries, "x", keys,
                              " (layers x heads x (N+1) x (N+1)): needs square maps of at least 2 tokens"));
    NNPRUNE_CHECK(cls < keys, shape_error,
                  detail::str(fn, ": CLS position ", cls, " is outside the ", keys, " tokens"));
    NNPRUNE_CHECK(layers.first < layers.last && layers.last <= a.extent(0), shape_error,
                  detail::str(fn, ": layer range [", layers.first, ", ", layers.last, ") is empty or outside the ",
                              a.extent(0), " layers"));
}

/// Scores into ws.total -> r.scores; validated (shapes by the caller, values here) before r is touched.
template <class T>
void cls_scores_impl(const tensor_view<T, 4>& a, layer_range layers, std::size_t cls, std::vector<float>& scores,
                     cls_attention_workspace& ws, std::string_view fn) {
    using Acc = attn_sum_type<T>;
    const std::size_t heads = a.extent(1), keys = a.extent(3), n = keys - 1;
    std::vector<Acc>& sum = [&]() -> std::vector<Acc>& {
        if constexpr (std::is_same_v<Acc, double>)
            return ws.layer;
        else
            return ws.layer_f;
    }();
    sum.resize(keys);
    const double inv_heads = 1.0 / static_cast<double>(heads);
    const bool one = layers.last - layers.first == 1;
    if (!one) ws.total.assign(keys, 0.0);
    for (std::size_t l = layers.first; l < layers.last; ++l) {
        attn_sum_rows<Acc, T>([&](std::size_t h) { return &a(l, h, cls, 0); }, heads, a.stride(3), keys, sum.data(),
                              ws.sums);
        if (!one)
            for (std::size_t j = 0; j < keys; ++j) ws.total[j] += static_cast<double>(sum[j]) * inv_heads;
    }
    const bool finite = one ? attn_all_finite(sum.data(), keys) : attn_all_finite(ws.total.data(), keys);
    if (!finite) {  // find the offending input for the message
        for (std::size_t l = layers.first; l < layers.last; ++l)
            for (std::size_t h = 0; h < heads; ++h)
                for (std::size_t k = 0; k < keys; ++k)
                    NNPRUNE_CHECK(is_finite(a(l, h, cls, k)), value_error,
                                  detail::str(fn, ": non-finite attention (NaN or Inf) at layer ", l, ", head ", h,
                                              ", CLS row ", cls, ", key ", k));
        NNPRUNE_CHECK(false, value_error, detail::str(fn, ": the [CLS] attention sum overflows"));
    }
    scores.resize(n);
    // one layer: (double(sum) * (1/H)) + 0.0 in double, exactly as the multi-layer total would be
    if (one)
        for (std::size_t i = 0; i < n; ++i)
            scores[i] = static_cast<float>(static_cast<double>(sum[i < cls ? i : i + 1]) * inv_heads);
    else
        for (std::size_t i = 0; i < n; ++i) scores[i] = static_cast<float>(ws.total[i < cls ? i : i + 1]);
}

template <class T>
void cls_attention_impl(const tensor_view<T, 4>& a, layer_range layers, const token_keep& keep, cls_attention_result& r,
                        cls_attention_workspace& ws, std::size_t cls, std::string_view fn) {
    check_cls_maps(a, layers, cls, fn);
    const std::size_t n = a.extent(3) - 1;
    const std::size_t k = keep.k_for(n, fn);
    cls_scores_impl(a, layers, cls, r.scores, ws, fn);  // writes r.scores only once the values are valid
    top_k_kept(r.scores.data(), n, k, r.kept);
}

template <class T>
tensor_view<T, 4> as_one_layer(const tensor_view<T, 3>& a) {
    return tensor_view<T, 4>(a.data_handle(), {1, a.extent(0), a.extent(1), a.extent(2)},
                             {0, a.stride(0), a.stride(1), a.stride(2)});
}

}  // namespace detail

/**
 * @brief [CLS]-attention scores [N] of the image tokens: sum over layers in `layers` of the head
 * mean of attn[l, h, cls, key]. @param attn [L, H, N+1, N+1] attention probabilities (any dtype,
 * any strides; only the CLS rows are read).
 * @throws shape_error (empty or non-square maps, CLS outside, bad layer range), value_error (NaN/Inf).
 */
template <class T>
[[nodiscard]] std::vector<float> cls_attention_scores(const tensor_view<T, 4>& attn, layer_range layers,
                                                      const cls_attention_options& o = {}) {
    constexpr std::string_view fn = "cls_attention_scores";
    detail::check_cls_maps(attn, layers, o.cls, fn);
    cls_attention_workspace ws;
    std::vector<float> s;
    detail::cls_scores_impl(attn, layers, o.cls, s, ws, fn);
    return s;
}

/// One layer [H, N+1, N+1] (FasterVLM): the head mean of the CLS row, CLS column dropped.
template <class T>
[[nodiscard]] std::vector<float> cls_attention_scores(const tensor_view<T, 3>& attn,
                                                      const cls_attention_options& o = {}) {
    return cls_attention_scores(detail::as_one_layer(attn), layer_range{0, 1}, o);
}

/**
 * @brief VTC-CLS / FasterVLM selection into r (r.scores [N], r.kept ascending, k entries).
 * @param attn [L, H, N+1, N+1]; @param layers the summed layers (vtc_cls_layers() for VTC-CLS);
 * @param keep a count, or a ratio (k = round(ratio * N), half-even).
 * @throws shape_error, value_error (NaN/Inf attention), precondition_error (keep 0 or > N, ratio
 *         outside [0, 1]); r is unchanged when it throws.
 * @code
 * nnprune::cls_attention(attn, nnprune::vtc_cls_layers(24, 12), nnprune::keep_count{64}, r, ws);
 * @endcode
 */
template <class T>
void cls_attention(const tensor_view<T, 4>& attn, layer_range layers, const token_keep& keep, cls_attention_result& r,
                   cls_attention_workspace& ws, const cls_attention_options& o = {}) {
    detail::cls_attention_impl(attn, layers, keep, r, ws, o.cls, "cls_attention");
}

/// The kept image tokens (ascending) of cls_attention(attn, layers, keep, r, ws, o).
template <class T>
[[nodiscard]] std::vector<std::size_t> cls_attention(const tensor_view<T, 4>& attn, layer_range layers,
                                                     const token_keep& keep, const cls_attention_options& o = {}) {
    cls_attention_result r;
    cls_attention_workspace ws;
    cls_attention(attn, layers, keep, r, ws, o);
    return std::move(r.kept);
}

/**
 * @brief FasterVLM: one layer's attention [H, N+1, N+1] (LLaVA's feature layer, -2).
 * @code
 * auto kept = nnprune::cls_attention(attn, nnprune::keep_count{58});   // 90 % reduction of 576
 * @endcode
 */
template <class T>
void cls_attention(const tensor_view<T, 3>& attn, const token_keep& keep, cls_attention_result& r,
                   cls_attention_workspace& ws, const cls_attention_options& o = {}) {
    detail::cls_attention_impl(detail::as_one_layer(attn), layer_range{0, 1}, keep, r, ws, o.cls, "cls_attention");
}

template <class T>
[[nodiscard]] std::vector<std::size_t> cls_attention(const tensor_view<T, 3>& attn, const token_keep& keep,
                                                     const cls_attention_options& o = {}) {
    cls_attention_result r;
    cls_attention_workspace ws;
    cls_attention(attn, keep, r, ws, o);
    return std::move(r.kept);
}

namespace detail {

template <class T, class Item>
void cls_attention_batch_impl(std::size_t items, const tensor_view<T, 4>& first, Item item, layer_range layers,
                              const token_keep& keep, std::vector<cls_attention_result>& out,
                              std::vector<cls_attention_workspace>& ws, const cls_attention_options& o,
                              unsigned threads) {
    constexpr std::string_view fn = "cls_attention_batch";
    check_cls_maps(first, layers, o.cls, fn);
    (void)keep.k_for(first.extent(3) - 1, fn);
    run_staged_items(items, threads, out, ws, [&](std::size_t b, cls_attention_result& r, cls_attention_workspace& w) {
        cls_attention_impl(item(b), layers, keep, r, w, o.cls, fn);
    });
}

inline std::vector<std::vector<std::size_t>> cls_kept_of(std::vector<cls_attention_result>& r) {
    std::vector<std::vector<std::size_t>> kept(r.size());
    for (std::size_t b = 0; b < r.size(); ++b) kept[b] = std::move(r[b].kept);
    return kept;
}

}  // namespace detail

/**
 * @brief Batched VTC-CLS / FasterVLM: items[b] is item b's attention stack [L, H, N+1, N+1]
 * (tensor_view has at most rank 4, so the batch is a list of views; their shapes must agree).
 * out[b] is the single call on item b; ws grows to one workspace per thread. Identical results
 * for any thread count.
 * @throws shape_error (B = 0, shapes that differ), the single call's errors (of the lowest
 *         failing item); out is unchanged when it throws.
 */
template <class T>
void cls_attention_batch(const std::vector<tensor_view<T, 4>>& items, layer_range layers, const token_keep& keep,
                         std::vector<cls_attention_result>& out, std::vector<cls_attention_workspace>& ws,
                         const cls_attention_options& o = {}, unsigned threads = 1) {
    constexpr std::string_view fn = "cls_attention_batch";
    NNPRUNE_CHECK(!items.empty(), shape_error, detail::str(fn, ": empty batch (B = 0)"));
    for (std::size_t b = 1; b < items.size(); ++b)
        NNPRUNE_CHECK(items[b].extents() == items[0].extents(), shape_error,
                      detail::str(fn, ": item ", b, " is ", items[b].extent(0), "x", items[b].extent(1), "x",
                                  items[b].extent(2), "x", items[b].extent(3), ", item 0 is ", items[0].extent(0), "x",
                                  items[0].extent(1), "x", items[0].extent(2), "x", items[0].extent(3)));
    detail::cls_attention_batch_impl(
        items.size(), items[0], [&](std::size_t b) { return items[b]; }, layers, keep, out, ws, o, threads);
}

template <class T>
[[nodiscard]] std::vector<std::vector<std::size_t>> cls_attention_batch(const std::vector<tensor_view<T, 4>>& items,
                                                                        layer_range layers, const token_keep& keep,
                                                                        const cls_attention_options& o = {},
                                                                        unsigned threads = 1) {
    std::vector<cls_attention_result> r;
    std::vector<cls_attention_workspace> ws;
    cls_attention_batch(items, layers, keep, r, ws, o, threads);
    return detail::cls_kept_of(r);
}

/// Batched FasterVLM over one layer's attention [B, H, N+1, N+1] (same contract as above).
template <class T>
void cls_attention_batch(const tensor_view<T, 4>& attn, const token_keep& keep, std::vector<cls_attention_result>& out,
                         std::vector<cls_attention_workspace>& ws, const cls_attention_options& o = {},
                         unsigned threads = 1) {
    NNPRUNE_CHECK(attn.extent(0) > 0, shape_error, "cls_attention_batch: empty batch (B = 0)");
    auto item = [&](std::size_t b) { return detail::as_one_layer(detail::item_of(attn, b)); };
    detail::cls_attention_batch_impl(attn.extent(0), item(0), item, layer_range{0, 1}, keep, out, ws, o, threads);
}

template <class T>
[[nodiscard]] std::vector<std::vector<std::size_t>> cls_attention_batch(const tensor_view<T, 4>& attn,
                                                                        const token_keep& keep,
                                                                        const cls_attention_options& o = {},
                                                                        unsigned threads = 1) {
    std::vector<cls_attention_result> r;
    std::vector<cls_attention_workspace> ws;
    cls_attention_batch(attn, keep, r, ws, o, threads);
    return detail::cls_kept_of(r);
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_CLS_ATTENTION_HPP
