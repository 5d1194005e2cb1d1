#ifndef NNPRUNE_TOKENS_HIPRUNE_HPP
#define NNPRUNE_TOKENS_HIPRUNE_HPP

/// @file hiprune.hpp
/// HiPrune (Liu et al., arXiv 2508.00553; tokens.md §10): training-free selection from two
/// vision-encoder attention maps [H, N+1, N+1] (an "object" middle layer and a deep layer).
///   g        = mean over all N+1 query rows (the CLS row included) of the head mean, CLS column
///              dropped -> [N] (global attention received, not [CLS] attention);
///   n_a      = round((V * alpha) / 5), half-even;
///   anchors  = top n_a of g_object; buffer = anchors +-1 and +-width, clamped to [0, N-1]
///              (row edges are NOT respected, as upstream: i-1 of column 0 is the previous
///              row's last token); S = anchors u buffer;
///   registers= top (V - |S|) of g_deep over the tokens outside S;  keep = S u registers, ascending.
/// Upstream excludes S by subtracting 1 from g_deep on S; for attention probabilities (g in
/// [0, 1]) that only differs from exclusion on exact ties at 0, so nnprune excludes S outright.
/// g accumulates in double (a 9232-term sum for 16 heads x 577 rows; fixed order, identical for
/// any SIMD tier or thread count) and is stored as float; ties keep the lower index.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>
#include <type_traits>
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

/// HiPrune's inputs besides the maps; defaults from the README for LLaVA-1.5 (576 patches).
struct hiprune_options {
    std::size_t budget = 192;     ///< V: tokens kept per image (or crop: hiprune_crop_budget)
    double alpha = 0.1;           ///< anchor share: n_a = round(V * alpha / 5), alpha in [0, 1]
    std::size_t grid_width = 24;  ///< patches per row (the +-width buffer); N need not be a multiple
    std::size_t cls = 0;          ///< the CLS token's position (row and column dropped from g)
};

/// The outputs: kept (V tokens, ascending), anchors (n_a, highest g_object first), object (S,
/// ascending) and both global-attention scores [N].
struct hiprune_result {
    std::vector<std::size_t> kept, anchors, object;
    std::vector<float> object_scores, deep_scores;
};

struct hiprune_workspace {
    std::vector<double> acc;
    std::vector<float> row, masked;
    std::vector<std::size_t> index;
    std::vector<unsigned char> in_s;
    std::vector<hiprune_result> staged;  ///< batched form: results before they are committed
};

/**
 * @brief The number of anchors n_a = round((budget * alpha) / 5), half-even as Python's round:
 * 192 -> 4, 128 -> 3, 64 -> 1 at alpha = 0.1.
 * @throws precondition_error (alpha outside [0, 1] or NaN).
 */
[[nodiscard]] inline std::size_t hiprune_anchor_count(std::size_t budget, double alpha) {
    NNPRUNE_PRECONDITION(alpha >= 0.0 && alpha <= 1.0,
                         detail::str("hiprune_anchor_count: alpha must be in [0, 1], got ", alpha));
    const double x = (static_cast<double>(budget) * alpha) / 5.0;
    const double fl = std::floor(x), diff = x - fl;  // ties to even, independent of the FP environment
    return static_cast<std::size_t>(diff > 0.5 ? fl + 1 : diff < 0.5 ? fl : (std::fmod(fl, 2.0) == 0.0 ? fl : fl + 1));
}

/**
 * @brief The per-crop budget for anyres: int(budget / crops) (every crop, base image included).
 * @throws precondition_error (crops = 0).
 */
[[nodiscard]] inline std::size_t hiprune_crop_budget(std::size_t budget, std::size_t crops) {
    NNPRUNE_PRECONDITION(crops > 0, "hiprune_crop_budget: crops must be positive");
    return budget / crops;
}

namespace detail {

template <class T>
void check_hiprune_maps(const tensor_view<T, 3>& obj, const tensor_view<T, 3>& deep, const hiprune_options& o,
                        std::string_view fn) {
    const std::size_t heads = obj.extent(0), queries = obj.extent(1), keys = obj.extent(2);
    NNPRUNE_CHECK(heads > 0 && keys >= 2 && queries == keys, shape_error,
                  detail::str(fn, ": attn_object is ", heads, "x", queries, "x", keys,
                              " (heads x (N+1) x (N+1)): needs square maps of at least 2 tokens"));
    NNPRUNE_CHECK(deep.extents() == obj.extents(), shape_error,
                  detail::str(fn, ": attn_deep is ", deep.extent(0), "x", deep.extent(1), "x", deep.extent(2),
                              ", attn_object is ", heads, "x", queries, "x", keys));
    const std::size_t n = keys - 1;
    NNPRUNE_CHECK(o.cls < keys, shape_error,
                  detail::str(fn, ": CLS position ", o.cls, " is outside the ", keys, " tokens"));
    NNPRUNE_PRECONDITION(o.grid_width >= 1 && o.grid_width <= n,
                         detail::str(fn, ": grid width ", o.grid_width, " must be in [1, N = ", n, "]"));
    NNPRUNE_PRECONDITION(o.budget >= 1 && o.budget <= n,
                         detail::str(fn, ": budget V = ", o.budget, " must be in [1, N = ", n, "]"));
    NNPRUNE_PRECONDITION(o.alpha >= 0.0 && o.alpha <= 1.0, detail::str(fn, ": alpha must be in [0, 1], got ", o.alpha));
}

/// g[i] = sum_{h, q} a[h, q, key i] / (H (N+1)), key i skipping the CLS column, into `g` only
/// once every value is finite.
template <class T>
void global_attention(const tensor_view<T, 3>& a, std::size_t cls, std::vector<float>& g, hiprune_workspace& ws,
                      std::string_view fn, std::string_view name) {
    const std::size_t heads = a.extent(0), keys = a.extent(2), n = keys - 1;
    ws.acc.assign(keys, 0.0);
    for (std::size_t h = 0; h < heads; ++h)
        for (std::size_t q = 0; q < keys; ++q) attn_add_row(&a(h, q, 0), a.stride(2), keys, ws.acc.data(), ws.row);
    if (!attn_all_finite(ws.acc.data(), keys)) {
        for (std::size_t h = 0; h < heads; ++h)
            for (std::size_t q = 0; q < keys; ++q)
                for (std::size_t k = 0; k < keys; ++k)
                    NNPRUNE_CHECK(is_finite(a(h, q, k)), value_error,
                                  detail::str(fn, ": non-finite ", name, " (NaN or Inf) at head ", h, ", query ", q,
                                              ", key ", k));
        NNPRUNE_CHECK(false, value_error, detail::str(fn, ": the ", name, " sum overflows"));
    }
    const double inv = 1.0 / (static_cast<double>(heads) * static_cast<double>(keys));
    g.resize(n);
    for (std::size_t i = 0; i < n; ++i) g[i] = static_cast<float>(ws.acc[i < cls ? i : i + 1] * inv);
}

template <class T>
void hiprune_impl(const tensor_view<T, 3>& obj, const tensor_view<T, 3>& deep, const hiprune_options& o,
                  hiprune_result& r, hiprune_workspace& ws, std::string_view fn) {
    check_hiprune_maps(obj, deep, o, fn);
    const std::size_t n = obj.extent(2) - 1, v = o.budget, w = o.grid_width;
    // scores into workspace buffers (swapped into r at the end): r is untouched on error
    std::vector<float>& g_obj = ws.masked;
    global_attention(obj, o.cls, g_obj, ws, fn, "attn_object");
    const std::size_t n_a = hiprune_anchor_count(v, o.alpha);
    top_k_descending(g_obj.data(), n, n_a, ws.index);
    ws.in_s.assign(n, 0);
    std::size_t s_size = 0;
    auto mark = [&](std::size_t i) {
        if (!ws.in_s[i]) ws.in_s[i] = 1, ++s_size;
    };
    for (std::size_t t = 0; t < n_a; ++t) {
        const std::size_t a = ws.index[t];
        mark(a);
        mark(a >= 1 ? a - 1 : 0);
        mark(std::min(a + 1, n - 1));
        mark(a >= w ? a - w : 0);
        mark(std::min(a + w, n - 1));
    }
    NNPRUNE_PRECONDITION(s_size <= v, detail::str(fn, ": budget V = ", v, " is smaller than the anchors' set |S| = ",
                                                  s_size, " (", n_a, " anchors and their +-1, +-", w, " neighbours)"));
    global_attention(deep, o.cls, r.deep_scores, ws, fn, "attn_deep");  // validates attn_deep before writing
    r.anchors.resize(n_a);
    for (std::size_t t = 0; t < n_a; ++t) r.anchors[t] = ws.index[t];
    std::swap(r.object_scores, ws.masked);
    // registers: the top (V - |S|) of g_deep outside S; S is pushed to -inf, and V <= N
    // leaves enough finite scores that no S member is picked
    ws.masked.assign(r.deep_scores.begin(), r.deep_scores.end());
    for (std::size_t i = 0; i < n; ++i)
        if (ws.in_s[i]) ws.masked[i] = -std::numeric_limits<float>::infinity();
    top_k_unordered(ws.masked.data(), n, v - s_size, ws.index);
    r.object.clear();
    for (std::size_t i = 0; i < n; ++i)
        if (ws.in_s[i]) r.object.push_back(i);
    for (std::size_t t = 0; t < v - s_size; ++t) ws.in_s[ws.index[t]] = 1;
    r.kept.clear();
    for (std::size_t i = 0; i < n; ++i)
        if (ws.in_s[i]) r.kept.push_back(i);
}

}  // namespace detail

/**
 * @brief HiPrune: the V kept tokens (r.kept, ascending) of one image or crop.
 * @param attn_object [H, N+1, N+1] the object layer's attention (upstream: layer l = 9, 1-based);
 * @param attn_deep [H, N+1, N+1] the deep layer's (upstream: the feature layer, -2). Any dtype
 *        (both the same), any strides; every element is read.
 * @throws shape_error (maps empty, not square or of different shapes, CLS outside),
 *         precondition_error (V outside [1, N], alpha outside [0, 1], grid width outside [1, N],
 *         V smaller than |S|), value_error (NaN/Inf attention); r is unchanged when it throws.
 * @code
 * nnprune::hiprune(attn9, attn23, {.budget = 64}, r, ws);   // 64 of LLaVA-1.5's 576 patches
 * @endcode
 */
template <class T>
void hiprune(const tensor_view<T, 3>& attn_object, const tensor_view<T, 3>& attn_deep, const hiprune_options& o,
             hiprune_result& r, hiprune_workspace& ws) {
    detail::hiprune_impl(attn_object, attn_deep, o, r, ws, "hiprune");
}

/// The kept tokens (ascending) of hiprune(attn_object, attn_deep, o, r, ws).
template <class T>
[[nodiscard]] std::vector<std::size_t> hiprune(const tensor_view<T, 3>& attn_object, const tensor_view<T, 3>& attn_deep,
                                               const hiprune_options& o = {}) {
    hiprune_result r;
    hiprune_workspace ws;
    hiprune(attn_object, attn_deep, o, r, ws);
    return std::move(r.kept);
}

/**
 * @brief Batched HiPrune over maps [B, H, N+1, N+1] (e.g. the crops of one anyres image, with
 * o.budget = hiprune_crop_budget(V, B)); out[b] equals the single call; identical for any thread
 * count.
 * @throws shape_error (B = 0, batches that differ) and the single call's errors (of the lowest
 *         failing item); out is unchanged when it throws.
 */
template <class T>
void hiprune_batch(const tensor_view<T, 4>& attn_object, const tensor_view<T, 4>& attn_deep, const hiprune_options& o,
                   std::vector<hiprune_result>& out, std::vector<hiprune_workspace>& ws, unsigned threads = 1) {
    constexpr std::string_view fn = "hiprune_batch";
    const std::size_t items = attn_object.extent(0);
    NNPRUNE_CHECK(items > 0 && attn_deep.extent(0) == items, shape_error,
                  detail::str(fn, ": batches of ", items, " (attn_object) and ", attn_deep.extent(0),
                              " (attn_deep) items: must be equal and positive"));
    detail::check_hiprune_maps(detail::item_of(attn_object, 0), detail::item_of(attn_deep, 0), o, fn);
    detail::run_staged_items(items, threads, out, ws, [&](std::size_t b, hiprune_result& r, hiprune_workspace& w) {
        detail::hiprune_impl(detail::item_of(attn_object, b), detail::item_of(attn_deep, b), o, r, w, fn);
    });
}

template <class T>
[[nodiscard]] std::vector<std::vector<std::size_t>> hiprune_batch(const tensor_view<T, 4>& attn_object,
                                                                  const tensor_view<T, 4>& attn_deep,
                                                                  const hiprune_options& o = {}, unsigned threads = 1) {
    std::vector<hiprune_result> r;
    std::vector<hiprune_workspace> ws;
    hiprune_batch(attn_object, attn_deep, o, r, ws, threads);
    std::vector<std::vector<std::size_t>> kept(r.size());
    for (std::size_t b = 0; b < r.size(); ++b) kept[b] = std::move(r[b].kept);
    return kept;
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_HIPRUNE_HPP
