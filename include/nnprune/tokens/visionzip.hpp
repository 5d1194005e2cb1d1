#ifndef NNPRUNE_TOKENS_VISIONZIP_HPP
#define NNPRUNE_TOKENS_VISIONZIP_HPP

/// @file visionzip.hpp
/// VisionZip (Yang et al., CVPR 2025) from tokens.md §4 (dvlab-research/VisionZip@3151f6d,
/// clip_encoder.py::CLIPVisionTower_VisionZip.forward). All inputs come from ONE vision layer:
/// hidden [N+1, C], attention probabilities [H, N+1, N+1] and the key metric [N+1, c] (keys
/// averaged over heads), with the [CLS] token at row `cls` (0 in CLIP).
///  1. score_k = sum over heads of attn[h, cls, k] for k != cls (f32, heads in order);
///  2. dominant tokens: cls plus the (dominant - 1) highest scores (ties: lower index), ascending;
///  3. the remaining rows R (ascending, n of them); targets are the rows at positions
///     0, step, 2 step, ... of R (step = max(1, n / contextual)), the first `contextual`;
///  4. every other row of R joins the target of highest cosine similarity (first maximum);
///  5. contextual token = hidden[target] + mean(hidden of its members) (target not in the mean,
///     an empty cluster gives the target unchanged).
/// Output rows: the dominant tokens, then the contextual tokens in target order.
///
/// Numerics: cosine similarities from features.hpp's unit rows (norm in double, rows in f32, a
/// zero-norm row has similarity 0 with every target where upstream gives NaN), dots by
/// simd::dot (identical on every tier); member sums in f32, ascending rows, then one division. NaN/Inf attention (in
/// the rows read) and NaN/Inf metric are errors; hidden values are copied and averaged as they are.

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
#include "../simd/dot.hpp"
#include "../simd/widen.hpp"
#include "features.hpp"
#include "items.hpp"
#include "rank.hpp"

namespace nnprune {

/// VisionZip's counts (upstream's code defaults 191 + 30; its README uses 54 + 10) and the
/// [CLS] row. `dominant` includes the [CLS] token.
struct visionzip_options {
    std::size_t dominant = 191;
    std::size_t contextual = 30;
    std::size_t cls = 0;
};

/// The selection and the output tokens of one item (vectors resized, never shrunk).
struct visionzip_result {
    std::vector<std::size_t> dominant;         ///< [dominant] token rows, ascending (cls included)
    std::vector<std::size_t> dominant_ranked;  ///< [dominant] cls, then by descending score (upstream's all_indices)
    std::vector<std::size_t> remaining;        ///< [n] the other rows, ascending
    std::vector<std::size_t> targets;          ///< [contextual] the target rows, in output order
    std::vector<std::size_t> assignment;       ///< [n] the contextual token each remaining row joins
    std::vector<std::size_t> members;          ///< [contextual] rows in each mean (targets not counted)
    std::vector<float> scores;                 ///< [N+1] head-summed [CLS] attention (0 at cls)
    std::size_t rows = 0, cols = 0;            ///< tokens is rows x cols: rows = dominant + contextual
    std::vector<float> tokens;                 ///< output rows, row-major f32
};

/// Buffers reused between calls (one per thread).
struct visionzip_workspace {
    token_workspace features;
    std::vector<float> others;
    std::vector<std::size_t> order;
    std::vector<unsigned char> taken;
    std::vector<float> sums, row;
    std::vector<visionzip_result> staged;  ///< visionzip_batch's staged results (first workspace only)
};

namespace detail {

/// Row i of hidden as f32: the row itself for contiguous f32, else widened into buf.
template <class T>
const float* visionzip_row(const tensor_view<T, 2>& x, std::size_t i, float* buf) noexcept {
    const std::size_t c = x.extent(1);
    if (x.stride(1) == 1 || c <= 1) {
        if constexpr (std::is_same_v<std::remove_cv_t<T>, float>)
            return &x(i, 0);
        else if constexpr (!std::is_same_v<std::remove_cv_t<T>, double>) {
            simd::widen(&x(i, 0), c, buf);
            return buf;
        }
    }
    for (std::size_t j = 0; j < c; ++j) buf[j] = to_float(x(i, j));
    return buf;
}

/// The checks of one item: shapes, counts, NaN or Inf attention in the [CLS] rows (the metric
/// is checked by normalize_tokens, before the result is touched).
template <class TH, class TA, class TM>
void visionzip_check(const tensor_view<TH, 2>& hidden, const tensor_view<TA, 3>& attn, const tensor_view<TM, 2>& metric,
                     const visionzip_options& o, std::string_view fn) {
    static_assert(element<TH> && element<TA> && element<TM>,
                  "visionzip: inputs must be float, double, bfloat16 or float16");
    const std::size_t n1 = hidden.extent(0);
    NNPRUNE_CHECK(
        n1 > 0 && hidden.extent(1) > 0, shape_error,
        detail::str(fn, ": hidden is ", n1, "x", hidden.extent(1), " (tokens x channels), both must be positive"));
    NNPRUNE_CHECK(attn.extent(0) > 0 && attn.extent(1) == n1 && attn.extent(2) == n1, shape_error,
                  detail::str(fn, ": attention is ", attn.extent(0), "x", attn.extent(1), "x", attn.extent(2),
                              ", expected H x ", n1, " x ", n1, " (H > 0, hidden has ", n1, " tokens)"));
    NNPRUNE_CHECK(
        metric.extent(0) == n1 && metric.extent(1) > 0, shape_error,
        detail::str(fn, ": metric is ", metric.extent(0), "x", metric.extent(1), ", expected ", n1, " x c (c > 0)"));
    NNPRUNE_CHECK(o.cls < n1, precondition_error,
                  detail::str(fn, ": cls = ", o.cls, " is not a row of the ", n1, " tokens"));
    NNPRUNE_CHECK(o.dominant >= 1 && o.dominant < n1, precondition_error,
                  detail::str(fn, ": dominant = ", o.dominant, " must be in [1, ", n1 - 1,
                              "] (it includes the CLS token; ", n1, " tokens, at least one must remain)"));
    NNPRUNE_CHECK(o.contextual >= 1 && o.contextual <= n1 - o.dominant, precondition_error,
                  detail::str(fn, ": contextual = ", o.contextual, " must be in [1, N + 1 - dominant] = [1, ",
                              n1 - o.dominant, "]"));
    for (std::size_t h = 0; h < attn.extent(0); ++h)
        for (std::size_t k = 0; k < n1; ++k)
            NNPRUNE_CHECK(is_finite(attn(h, o.cls, k)), value_error,
                          detail::str(fn, ": non-finite attention ", to_double(attn(h, o.cls, k)), " at head ", h,
                                      ", query ", o.cls, ", key ", k));
}

/// One checked item into r; a NaN/Inf metric throws (from normalize_tokens) before r is written.
template <class TH, class TA, class TM>
void visionzip_impl(const tensor_view<TH, 2>& hidden, const tensor_view<TA, 3>& attn, const tensor_view<TM, 2>& metric,
                    const visionzip_options& o, visionzip_result& r, visionzip_workspace& ws, std::string_view fn) {
    const unit_rows u = normalize_tokens(metric, ws.features, fn);
    const std::size_t n1 = hidden.extent(0), heads = attn.extent(0), cdim = hidden.extent(1);
    const std::size_t cls = o.cls, dom = o.dominant, ctx = o.contextual;
    // 1. head sum of the [CLS] row, in head order (f32, as torch sums over dim 1)
    r.scores.assign(n1, 0.0f);
    for (std::size_t h = 0; h < heads; ++h)
        for (std::size_t k = 0; k < n1; ++k)
            if (k != cls) r.scores[k] += to_float(attn(h, cls, k));
    // 2. top (dominant - 1) of the others (ranked without cls: row k >= cls is others[k - 1])
    auto& others = ws.others;
    others.resize(n1 - 1);
    for (std::size_t k = 0, i = 0; k < n1; ++k)
        if (k != cls) others[i++] = r.scores[k];
    auto& ord = ws.order;
    top_k_descending(others.data(), n1 - 1, dom - 1, ord);
    for (std::size_t i = 0; i + 1 < dom; ++i) ord[i] += ord[i] >= cls ? 1 : 0;
    r.dominant_ranked.resize(dom);
    r.dominant_ranked[0] = cls;
    for (std::size_t i = 1; i < dom; ++i) r.dominant_ranked[i] = ord[i - 1];
    r.dominant.assign(r.dominant_ranked.begin(), r.dominant_ranked.end());
    std::sort(r.dominant.begin(), r.dominant.end());
    // 3. the remaining rows and the targets by position
    ws.taken.assign(n1, 0);
    for (auto d : r.dominant) ws.taken[d] = 1;
    r.remaining.clear();
    r.remaining.reserve(n1 - dom);
    for (std::size_t i = 0; i < n1; ++i)
        if (!ws.taken[i]) r.remaining.push_back(i);
    const std::size_t n = r.remaining.size();
    const std::size_t step = std::max<std::size_t>(1, n / ctx);
    r.targets.resize(ctx);
    for (std::size_t t = 0; t < ctx; ++t) r.targets[t] = r.remaining[t * step];
    // 4. assignment by cosine similarity (first maximum over targets in order)
    r.assignment.resize(n);
    r.members.assign(ctx, 0);
    for (std::size_t p = 0; p < n; ++p) {
        if (p % step == 0 && p / step < ctx) {
            r.assignment[p] = p / step;
            continue;
        }
        const float* a = u.row(r.remaining[p]);
        std::size_t arg = 0;
        float best = 0.0f;
        std::size_t t = 0;
        for (; t + 4 <= ctx; t += 4) {
            const float* b[4] = {u.row(r.targets[t]), u.row(r.targets[t + 1]), u.row(r.targets[t + 2]),
                                 u.row(r.targets[t + 3])};
            float d[4];
            simd::dot4(a, b, u.stride, d);
            for (std::size_t q = 0; q < 4; ++q)
                if (t + q == 0 || d[q] > best) best = d[q], arg = t + q;
        }
        for (; t < ctx; ++t) {
            const float d = simd::dot(a, u.row(r.targets[t]), u.stride);
            if (t == 0 || d > best) best = d, arg = t;
        }
        r.assignment[p] = arg;
        ++r.members[arg];
    }
    // 5. output: dominant rows, then target + mean(members)
    r.rows = dom + ctx;
    r.cols = cdim;
    r.tokens.resize(r.rows * cdim);
    ws.row.resize(cdim);
    for (std::size_t i = 0; i < dom; ++i) {
        const float* h = visionzip_row(hidden, r.dominant[i], ws.row.data());
        std::copy(h, h + cdim, r.tokens.data() + i * cdim);
    }
    // member sums in f32 in ascending row order (upstream sums them in an f32 bmm)
    ws.sums.assign(ctx * cdim, 0.0f);
    for (std::size_t p = 0; p < n; ++p) {
        const std::size_t t = r.assignment[p];
        if (r.remaining[p] == r.targets[t]) continue;
        float* s = ws.sums.data() + t * cdim;
        const float* h = visionzip_row(hidden, r.remaining[p], ws.row.data());
        for (std::size_t j = 0; j < cdim; ++j) s[j] += h[j];
    }
    for (std::size_t t = 0; t < ctx; ++t) {
        const float cnt = static_cast<float>(std::max<std::size_t>(1, r.members[t]));
        float* out = r.tokens.data() + (dom + t) * cdim;
        const float* s = ws.sums.data() + t * cdim;
        const float* h = visionzip_row(hidden, r.targets[t], ws.row.data());
        for (std::size_t j = 0; j < cdim; ++j) out[j] = h[j] + s[j] / cnt;
    }
}

}  // namespace detail

/**
 * @brief VisionZip for one image: dominant ([CLS]-attention) tokens plus contextual (merged)
 * tokens from one layer's hidden [N+1, C], attention [H, N+1, N+1] and key metric [N+1, c]
 * (f32, f64, bf16, f16; any strides).
 * @throws shape_error (mismatched or empty shapes), precondition_error (cls outside the rows,
 *         dominant outside [1, N], contextual outside [1, N + 1 - dominant]), value_error (NaN
 *         attention in the [CLS] rows, NaN/Inf metric). On a throw `r` is unchanged.
 * @code
 * nnprune::visionzip_result r;  nnprune::visionzip_workspace ws;
 * nnprune::visionzip(hidden, attn, metric, {.dominant = 54, .contextual = 10}, r, ws);  // 64 tokens
 * @endcode
 */
template <class TH, class TA, class TM>
void visionzip(const tensor_view<TH, 2>& hidden, const tensor_view<TA, 3>& attn, const tensor_view<TM, 2>& metric,
               const visionzip_options& opt, visionzip_result& r, visionzip_workspace& ws) {
    detail::visionzip_check(hidden, attn, metric, opt, "visionzip");
    detail::visionzip_impl(hidden, attn, metric, opt, r, ws, "visionzip");
}

/// visionzip returning the result by value.
template <class TH, class TA, class TM>
[[nodiscard]] visionzip_result visionzip(const tensor_view<TH, 2>& hidden, const tensor_view<TA, 3>& attn,
                                         const tensor_view<TM, 2>& metric, const visionzip_options& opt = {}) {
    visionzip_result r;
    visionzip_workspace ws;
    visionzip(hidden, attn, metric, opt, r, ws);
    return r;
}

/**
 * @brief Batched VisionZip: hidden [B, N+1, C], attn [B, H, N+1, N+1], metric [B, N+1, c];
 * out[b] = visionzip(item b). Identical for any thread count; every item is validated before
 * any result is written (the lowest failing item's error is thrown).
 */
template <class TH, class TA, class TM>
void visionzip_batch(const tensor_view<TH, 3>& hidden, const tensor_view<TA, 4>& attn, const tensor_view<TM, 3>& metric,
                     const visionzip_options& opt, std::vector<visionzip_result>& out,
                     std::vector<visionzip_workspace>& ws, unsigned threads = 1) {
    constexpr std::string_view fn = "visionzip_batch";
    const std::size_t batch = hidden.extent(0);
    NNPRUNE_CHECK(attn.extent(0) == batch && metric.extent(0) == batch, shape_error,
                  detail::str(fn, ": batch sizes differ (hidden ", batch, ", attention ", attn.extent(0), ", metric ",
                              metric.extent(0), ")"));
    for (std::size_t b = 0; b < batch; ++b)
        detail::visionzip_check(detail::item_of(hidden, b), detail::item_of(attn, b), detail::item_of(metric, b), opt,
                                fn);
    detail::run_staged_items(batch, threads, out, ws, [&](std::size_t b, visionzip_result& r, visionzip_workspace& w) {
        try {
            detail::visionzip_impl(detail::item_of(hidden, b), detail::item_of(attn, b), detail::item_of(metric, b),
                                   opt, r, w, fn);
        } catch (const value_error& e) {
            throw value_error(detail::str(e.what(), " (item ", b, ")"));
        }
    });
}

/// visionzip_batch returning the results by value.
template <class TH, class TA, class TM>
[[nodiscard]] std::vector<visionzip_result> visionzip_batch(const tensor_view<TH, 3>& hidden,
                                                            const tensor_view<TA, 4>& attn,
                                                            const tensor_view<TM, 3>& metric,
                                                            const visionzip_options& opt = {}, unsigned threads = 1) {
    std::vector<visionzip_result> out;
    std::vector<visionzip_workspace> ws;
    visionzip_batch(hidden, attn, metric, opt, out, ws, threads);
    return out;
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_VISIONZIP_HPP
