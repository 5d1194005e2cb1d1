#ifndef NNPRUNE_TOKENS_SNAPKV_HPP
#define NNPRUNE_TOKENS_SNAPKV_HPP

/// @file snapkv.hpp
/// SnapKV (Li et al., NeurIPS 2024; FasterDecoding/SnapKV@e216ddc, tokens.md §2): prefill KV
/// selection by the attention of the last `window` queries. Per query head (upstream: after RoPE
/// and repeat_kv), with T keys:
///   T < capacity: keep everything (nothing is computed; only shapes are checked).
///   otherwise: logits = q[T-w:] k^T / sqrt(D) (causal inside the window block only), softmax per
///   query, votes[j] = sum over the window queries of P[:, j] for j < T - w, pooled with stride 1
///   (avg: zero padding counted, max: -inf padding), keep the top (capacity - w) prefix keys plus
///   the w window keys.
/// Arithmetic: f32 throughout (bf16/f16/f64 inputs widened or narrowed to f32 first). Each logit
/// is one fused chain over d ascending (simd::gemm's fixed order), then divided by float(sqrt(D));
/// the softmax takes nnprune's own exp (detail::snapkv_exp, within 2 ulp of exp) and sums in 16
/// lanes (detail::snapkv_exp_sum); votes sum queries (and, per KV group, heads) ascending; avgpool
/// sums its window ascending and divides by kernel. Every step is elementwise or a fixed-order
/// sum: the same bits on every SIMD tier and thread count.
/// Upstream casts the probabilities back to the input dtype before summing; nnprune does not (a
/// bf16 call equals the f32 call on the same values), which can only reorder votes that agree to
/// the input dtype's precision.
/// Memory: the workspace holds the [w, T] logits of one head (4 MiB for w = 32, T = 32k) and, for
/// non-f32 keys, 1024 widened keys; f32 keys are read in place (any strides).
/// Result per head: `keep` (ascending) and `upstream_order` (the cache layout upstream builds: the
/// prefix in descending pooled vote, ties lower position first, then the window in order).

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/gemm.hpp"
#include "../simd/widen.hpp"
#include "items.hpp"
#include "rank.hpp"

namespace nnprune {

enum class snapkv_pooling : unsigned char { avg, max };

struct snapkv_options {
    std::size_t window = 32;                       ///< observation window w (the last w queries)
    std::size_t capacity = 2048;                   ///< kept keys per head (max_capacity_prompt); > window
    std::size_t kernel = 5;                        ///< pooling kernel, odd (the LongBench configs use 7)
    snapkv_pooling pooling = snapkv_pooling::avg;  ///< avgpool (upstream default) or maxpool (configs)
    /// 0: one selection per query head (upstream). g > 0: NOT upstream; the votes of each group of
    /// H / g consecutive query heads are summed before pooling and one selection is made per KV
    /// head, so a GQA cache keeps g heads instead of H.
    std::size_t kv_heads = 0;
};

/// Per head (query head, or KV group): `kept` positions. Row h of each is at h * kept.
struct snapkv_result {
    std::size_t heads = 0;                    ///< rows: H, or kv_heads in per-group mode
    std::size_t kept = 0;                     ///< per row: capacity, or T when T < capacity
    bool compressed = false;                  ///< false when T < capacity (everything kept, in order)
    std::vector<std::size_t> keep;            ///< [heads * kept], ascending per row
    std::vector<std::size_t> upstream_order;  ///< [heads * kept], upstream's cache order per row

    [[nodiscard]] std::span<const std::size_t> keep_of(std::size_t h) const noexcept {
        return {keep.data() + h * kept, kept};
    }

    [[nodiscard]] std::span<const std::size_t> upstream_order_of(std::size_t h) const noexcept {
        return {upstream_order.data() + h * kept, kept};
    }
};

/// Buffers reused between calls (the result is staged here and swapped in, so a call that throws
/// leaves the caller's result untouched and a steady-state call allocates nothing).
struct snapkv_workspace {
    std::vector<float> q;              ///< window queries [w, D] f32
    std::vector<float> k;              ///< widened key block [block, D]
    std::vector<float> logits;         ///< [w, T]
    std::vector<float> votes, pooled;  ///< [T - w]
    std::vector<std::size_t> index;    ///< top-k buffer
    snapkv_result stage;
    std::vector<snapkv_result> staged;
};

namespace detail {

inline constexpr std::size_t snapkv_block = 1024;  // keys widened at a time (1024 x 128 f32 = 512 KiB)

inline void snapkv_check_options(const snapkv_options& o, std::string_view fn) {
    NNPRUNE_PRECONDITION(o.window > 0, detail::str(fn, ": window must be positive"));
    NNPRUNE_PRECONDITION(o.capacity > o.window,
                         detail::str(fn, ": capacity ", o.capacity, " must exceed the window ", o.window));
    NNPRUNE_PRECONDITION(o.kernel % 2 == 1, detail::str(fn, ": pooling kernel must be odd, got ", o.kernel));
}

template <class T>
void snapkv_check_shapes(const tensor_view<T, 3>& q, const tensor_view<T, 3>& k, const snapkv_options& o,
                         std::string_view fn) {
    const std::size_t h = k.extent(0), t = k.extent(1), d = k.extent(2);
    NNPRUNE_CHECK(
        h > 0 && t > 0 && d > 0, shape_error,
        detail::str(fn, ": keys are ", h, "x", t, "x", d, " (heads x tokens x dim), every extent must be positive"));
    NNPRUNE_CHECK(
        q.extent(0) == h && q.extent(2) == d && (q.extent(1) == t || q.extent(1) == o.window), shape_error,
        detail::str(fn, ": queries are ", q.extent(0), "x", q.extent(1), "x", q.extent(2), ", keys ", h, "x", t, "x", d,
                    " (queries need the keys' heads and dim, and T = ", t, " or window = ", o.window, " rows)"));
    const std::size_t g = o.kv_heads == 0 ? h : o.kv_heads;
    NNPRUNE_CHECK(h % g == 0, shape_error,
                  detail::str(fn, ": ", h, " query heads are not a multiple of kv_heads = ", g));
}

template <class T>
[[noreturn]] void snapkv_report_nonfinite(const tensor_view<T, 3>& q, const tensor_view<T, 3>& k, std::size_t h,
                                          std::size_t w, std::string_view fn) {
    const std::size_t tq = q.extent(1), t = k.extent(1), d = k.extent(2);
    for (std::size_t i = tq - w; i < tq; ++i)
        for (std::size_t c = 0; c < d; ++c)
            NNPRUNE_CHECK(is_finite(q(h, i, c)), value_error,
                          detail::str(fn, ": non-finite query ", to_double(q(h, i, c)), " at head ", h, ", token ", i,
                                      ", channel ", c));
    for (std::size_t j = 0; j < t; ++j)
        for (std::size_t c = 0; c < d; ++c)
            NNPRUNE_CHECK(is_finite(k(h, j, c)), value_error,
                          detail::str(fn, ": non-finite key ", to_double(k(h, j, c)), " at head ", h, ", token ", j,
                                      ", channel ", c));
    throw value_error(detail::str(fn, ": attention logits of head ", h, " overflow float"));
}

/// Rows r of a [rows, d] f32 buffer from x(h, r0 + r, :).
template <class T>
void snapkv_widen_rows(const tensor_view<T, 3>& x, std::size_t h, std::size_t r0, std::size_t rows, float* out) {
    const std::size_t d = x.extent(2);
    for (std::size_t r = 0; r < rows; ++r) {
        float* o = out + r * d;
        if constexpr (!std::is_same_v<std::remove_cv_t<T>, double>)
            if (x.stride(2) == 1) {
                simd::widen(&x(h, r0 + r, 0), d, o);
                continue;
            }
        for (std::size_t c = 0; c < d; ++c) {
            if constexpr (std::is_same_v<std::remove_cv_t<T>, double>) {  // beyond float: NaN, reported as overflow
                const double v = x(h, r0 + r, c);
                o[c] = std::fabs(v) <= std::numeric_limits<float>::max() || !std::isfinite(v)
                           ? static_cast<float>(v)
                           : std::numeric_limits<float>::quiet_NaN();
            } else {
                o[c] = to_float(x(h, r0 + r, c));
            }
        }
    }
}

/// exp(x) for the softmax, x <= 0 (Cephes expf: x = n ln2 + r, |r| <= ln2 / 2, a degree-7
/// polynomial, times 2^n; 0 below -87). Elementwise float and integer code without branches or
/// comparisons of floats, so loops of it vectorize on any target with the scalar form's bits;
/// within 2 ulp of exp.
[[nodiscard]] inline float snapkv_exp(float x) noexcept {
    constexpr std::uint32_t lowest = 0xC2AE0000u;  // -87.0f; for x <= 0, x < -87 iff bits(x) > lowest
    const auto xb = std::bit_cast<std::uint32_t>(x);
    const float c = std::bit_cast<float>(xb < lowest ? xb : lowest);
    const int ni = static_cast<int>(c * 1.44269504088896341f - 0.5f);  // round(c / ln2), c <= 0
    const auto n = static_cast<float>(ni);
    const float r = (c - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const auto e = std::bit_cast<std::uint32_t>(p * std::bit_cast<float>(static_cast<std::uint32_t>(ni + 127) << 23));
    return std::bit_cast<float>(e & (0u - static_cast<std::uint32_t>(xb <= lowest)));
}

/// Order-preserving map of non-NaN floats to int32 (its own inverse on the bits).
[[nodiscard]] inline std::uint32_t snapkv_order_bits(std::uint32_t b) noexcept { return b ^ ((0u - (b >> 31)) >> 1); }

/// l[j] /= scale for j < n; returns their maximum, or NaN when one is not finite (integer max of
/// order-preserving keys and an integer flag: vectorizes, exact in any order).
[[nodiscard]] inline float snapkv_scale_max(float* l, std::size_t n, float scale) noexcept {
    std::int32_t hi = std::numeric_limits<std::int32_t>::min();
    std::uint32_t bad = 0;
    for (std::size_t j = 0; j < n; ++j) {
        const float x = l[j] / scale;
        l[j] = x;
        const auto b = std::bit_cast<std::uint32_t>(x);
        hi = std::max(hi, static_cast<std::int32_t>(snapkv_order_bits(b)));
        bad |= static_cast<std::uint32_t>((b & 0x7f800000u) == 0x7f800000u);
    }
    return bad ? std::numeric_limits<float>::quiet_NaN()
               : std::bit_cast<float>(snapkv_order_bits(static_cast<std::uint32_t>(hi)));
}

/// l[j] = snapkv_exp(l[j] - mx) for j < n and their sum, in a fixed order: 16 lane sums (lane u
/// takes j = u mod 16 below n rounded down to 16), folded in halves (u + 8 onto u, + 4, + 2, + 1),
/// then the tail ascending.
inline float snapkv_exp_sum(float* l, std::size_t n, float mx) noexcept {
    float lane[16] = {};
    std::size_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (std::size_t u = 0; u < 16; ++u) {
            const float e = snapkv_exp(l[j + u] - mx);
            l[j + u] = e;
            lane[u] += e;
        }
    for (std::size_t half = 8; half > 0; half /= 2)
        for (std::size_t u = 0; u < half; ++u) lane[u] += lane[u + half];
    float z = lane[0];
    for (; j < n; ++j) z += (l[j] = snapkv_exp(l[j] - mx));
    return z;
}

/// Adds head h's softmax probabilities over the prefix keys to ws.votes (ascending queries).
template <class T>
void snapkv_head_votes(const tensor_view<T, 3>& q, const tensor_view<T, 3>& k, std::size_t h, std::size_t w,
                       snapkv_workspace& ws, std::string_view fn) {
    const std::size_t tq = q.extent(1), t = k.extent(1), d = k.extent(2), n = t - w;
    float* logits = ws.logits.data();
    snapkv_widen_rows(q, h, tq - w, w, ws.q.data());
    std::fill(logits, logits + w * t, 0.0f);
    const simd::gemm_operand a{ws.q.data(), static_cast<std::ptrdiff_t>(d), 1};
    if constexpr (std::is_same_v<std::remove_cv_t<T>, float>) {  // keys straight from the view (any strides)
        const simd::gemm_operand b{&k(h, 0, 0), k.stride(2), k.stride(1)};
        simd::gemm(simd::gemm_op::add, w, t, d, a, b, logits, t);
    } else {
        for (std::size_t j0 = 0; j0 < t; j0 += snapkv_block) {
            const std::size_t nb = std::min(snapkv_block, t - j0);
            snapkv_widen_rows(k, h, j0, nb, ws.k.data());
            const simd::gemm_operand b{ws.k.data(), 1, static_cast<std::ptrdiff_t>(d)};
            simd::gemm(simd::gemm_op::add, w, nb, d, a, b, logits + j0, t);
        }
    }
    const float scale = static_cast<float>(std::sqrt(static_cast<double>(d)));
    float* votes = ws.votes.data();
    for (std::size_t i = 0; i < w; ++i) {
        float* l = logits + i * t;
        const std::size_t valid = n + i + 1;  // causal inside the window: keys up to position n + i
        const float mx = snapkv_scale_max(l, valid, scale);
        if (std::isnan(mx)) snapkv_report_nonfinite(q, k, h, w, fn);
        const float z = snapkv_exp_sum(l, valid, mx);
        for (std::size_t j = 0; j < n; ++j) votes[j] += l[j] / z;
    }
}

/// Pools ws.votes into ws.pooled and writes row r of the staged result.
inline void snapkv_select_row(const snapkv_options& o, std::size_t n, std::size_t r, snapkv_workspace& ws) {
    const float* v = ws.votes.data();
    float* p = ws.pooled.data();
    const std::size_t half = o.kernel / 2;
    for (std::size_t j = 0; j < n; ++j) {
        const std::size_t lo = j >= half ? j - half : 0, hi = std::min(n - 1, j + half);
        if (o.pooling == snapkv_pooling::avg) {
            float s = 0.0f;
            for (std::size_t t = lo; t <= hi; ++t) s += v[t];
            p[j] = s / static_cast<float>(o.kernel);
        } else {
            float m = v[lo];
            for (std::size_t t = lo + 1; t <= hi; ++t) m = std::max(m, v[t]);
            p[j] = m;
        }
    }
    const std::size_t sel = o.capacity - o.window, kept = o.capacity;
    top_k_descending(p, n, sel, ws.index);
    std::size_t* up = ws.stage.upstream_order.data() + r * kept;
    std::size_t* kp = ws.stage.keep.data() + r * kept;
    std::copy(ws.index.begin(), ws.index.begin() + static_cast<std::ptrdiff_t>(sel), up);
    std::copy(up, up + sel, kp);
    std::sort(kp, kp + sel);
    for (std::size_t j = 0; j < o.window; ++j) up[sel + j] = kp[sel + j] = n + j;
}

/// One item into ws.stage.
template <class T>
void snapkv_into_stage(const tensor_view<T, 3>& q, const tensor_view<T, 3>& k, const snapkv_options& o,
                       snapkv_workspace& ws, std::string_view fn) {
    static_assert(element<std::remove_cv_t<T>>, "snapkv: q and k must be float, double, bfloat16 or float16");
    snapkv_check_options(o, fn);
    snapkv_check_shapes(q, k, o, fn);
    const std::size_t h = k.extent(0), t = k.extent(1), d = k.extent(2);
    const std::size_t g = o.kv_heads == 0 ? h : o.kv_heads, rep = h / g;
    snapkv_result& s = ws.stage;
    s.heads = g;
    if (t < o.capacity) {
        s.kept = t;
        s.compressed = false;
        s.keep.resize(g * t);
        s.upstream_order.resize(g * t);
        for (std::size_t r = 0; r < g; ++r)
            for (std::size_t j = 0; j < t; ++j) s.keep[r * t + j] = s.upstream_order[r * t + j] = j;
        return;
    }
    const std::size_t w = o.window, n = t - w;
    s.kept = o.capacity;
    s.compressed = true;
    s.keep.resize(g * o.capacity);
    s.upstream_order.resize(g * o.capacity);
    ws.q.resize(w * d);
    if constexpr (!std::is_same_v<std::remove_cv_t<T>, float>) ws.k.resize(snapkv_block * d);
    ws.logits.resize(w * t);
    ws.votes.resize(n);
    ws.pooled.resize(n);
    for (std::size_t r = 0; r < g; ++r) {
        std::fill(ws.votes.begin(), ws.votes.end(), 0.0f);
        for (std::size_t hh = r * rep; hh < (r + 1) * rep; ++hh) snapkv_head_votes(q, k, hh, w, ws, fn);
        snapkv_select_row(o, n, r, ws);
    }
}

}  // namespace detail

/**
 * @brief SnapKV selection of one item: per query head (or per KV group, see snapkv_options) the
 * kept key positions, ascending and in upstream's cache order.
 * @param q [H, T, D] queries after RoPE, or just the last `window` of them [H, w, D] (only those
 *        rows are read).
 * @param k [H, T, D] keys after RoPE and repeat_kv (one per query head). f32, f64, bf16 or f16, any strides.
 * @throws precondition_error (window 0, capacity <= window, even kernel), shape_error (empty keys,
 *         mismatched q, H not a multiple of kv_heads), value_error (non-finite window query or key,
 *         overflowing logits). On a throw `result` is unchanged.
 * @code
 * nnprune::snapkv_workspace ws;
 * nnprune::snapkv_result r;
 * nnprune::snapkv(q, k, {.window = 32, .capacity = 2048, .kernel = 7, .pooling = nnprune::snapkv_pooling::max}, ws, r);
 * auto head0 = r.keep_of(0);
 * @endcode
 */
template <class T>
void snapkv(const tensor_view<T, 3>& q, const tensor_view<T, 3>& k, const snapkv_options& o, snapkv_workspace& ws,
            snapkv_result& result) {
    detail::snapkv_into_stage(q, k, o, ws, "snapkv");
    std::swap(ws.stage, result);
}

template <class T>
[[nodiscard]] snapkv_result snapkv(const tensor_view<T, 3>& q, const tensor_view<T, 3>& k,
                                   const snapkv_options& o = {}) {
    snapkv_workspace ws;
    snapkv_result r;
    snapkv(q, k, o, ws, r);
    return r;
}

/**
 * @brief SnapKV per item of q, k [B, H, T, D]: out[b] equals snapkv() of item b, for any thread
 * count. ws grows to one workspace per thread. If an item fails, the lowest failing item's error
 * is rethrown and `out` is unchanged.
 */
template <class T>
void snapkv_batch(const tensor_view<T, 4>& q, const tensor_view<T, 4>& k, const snapkv_options& o,
                  std::vector<snapkv_workspace>& ws, std::vector<snapkv_result>& out, unsigned threads = 1) {
    constexpr std::string_view fn = "snapkv_batch";
    const std::size_t items = k.extent(0);
    NNPRUNE_CHECK(items > 0 && q.extent(0) == items, shape_error,
                  detail::str(fn, ": batch of ", q.extent(0), " query and ", items, " key items (must be equal, > 0)"));
    detail::run_staged_items(items, threads, out, ws, [&](std::size_t b, snapkv_result& r, snapkv_workspace& w) {
        detail::snapkv_into_stage(detail::item_of(q, b), detail::item_of(k, b), o, w, fn);
        std::swap(w.stage, r);
    });
}

template <class T>
[[nodiscard]] std::vector<snapkv_result> snapkv_batch(const tensor_view<T, 4>& q, const tensor_view<T, 4>& k,
                                                      const snapkv_options& o = {}, unsigned threads = 1) {
    std::vector<snapkv_workspace> ws;
    std::vector<snapkv_result> out;
    snapkv_batch(q, k, o, ws, out, threads);
    return out;
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_SNAPKV_HPP
