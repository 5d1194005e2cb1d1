#ifndef NNPRUNE_TOKENS_THINK_HPP
#define NNPRUNE_TOKENS_THINK_HPP

/// @file think.hpp
/// ThinK query-driven key-channel pruning (Xu et al., ICLR 2025; SalesforceAIResearch/ThinK@d200577,
/// tokens.md §7). Per query head of q, k [H, T, D]:
///   score_c = mean over the last query_window queries of q_c^2  *  mean over all T keys of k_c^2
///   p = int(D * ratio) channels with the lowest scores are pruned (ties: the lower channel is
///   pruned first); the keys [0, T - recent_size) keep the other D - p channels, the last
///   recent_size keys stay whole. think_gather_keys() builds the pruned keys and
///   think_scatter_keys() puts them back with zeros in the pruned channels (upstream recover_cache).
/// The channel sums of squares: fused f32 squares summed in f32 over blocks of 64 keys, the blocks
/// in double (f64 inputs: double throughout). Upstream sums in the model dtype; either way only
/// channels whose scores agree to that precision can be ordered differently.
/// `ratio` is the fraction PRUNED (upstream's --pruning_ratio); upstream hard-codes the query
/// window to 32, here an input with that default.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/add_squares.hpp"
#include "../simd/widen.hpp"
#include "items.hpp"

namespace nnprune {

struct think_options {
    double ratio = 0.4;             ///< fraction of the D channels pruned: p = int(D * ratio), p < D
    std::size_t query_window = 32;  ///< the last query_window queries score (upstream: hard-coded 32)
    std::size_t recent_size = 32;   ///< the last recent_size keys are not pruned
};

/// Per head: the kept channels (ascending) and the channel mask (1 = kept).
struct think_result {
    std::size_t heads = 0, dim = 0;
    std::size_t pruned = 0;             ///< p per head
    std::size_t kept = 0;               ///< D - p per head
    std::vector<std::size_t> channels;  ///< [heads * kept], ascending per head
    std::vector<unsigned char> mask;    ///< [heads * dim], 1 = kept

    [[nodiscard]] std::span<const std::size_t> channels_of(std::size_t h) const noexcept {
        return {channels.data() + h * kept, kept};
    }

    [[nodiscard]] std::span<const unsigned char> mask_of(std::size_t h) const noexcept {
        return {mask.data() + h * dim, dim};
    }
};

/// Buffers reused between calls (the result is staged here and swapped in).
struct think_workspace {
    std::vector<float> row;      ///< one widened row
    std::vector<double> qs, ks;  ///< channel sums of squares
    std::vector<double> score;
    std::vector<std::size_t> order;
    think_result stage;
    std::vector<think_result> staged;
};

namespace detail {

inline constexpr std::size_t think_block = 64;  // rows summed in f32 before each fold into double

/// acc[c] = sum of x(h, t, c)^2 for t in [t0, t1): f64 inputs in double; otherwise fused f32
/// squares (simd::add_squares) over blocks of think_block rows (ascending), each block added to the
/// double sum (elementwise per channel: the same bits on every tier). False when a sum is not finite.
template <class T>
bool think_square_sums(const tensor_view<T, 3>& x, std::size_t h, std::size_t t0, std::size_t t1, double* acc,
                       std::vector<float>& row) {
    const std::size_t d = x.extent(2);
    std::fill(acc, acc + d, 0.0);
    if constexpr (std::is_same_v<std::remove_cv_t<T>, double>) {
        for (std::size_t t = t0; t < t1; ++t)
            for (std::size_t c = 0; c < d; ++c) acc[c] += x(h, t, c) * x(h, t, c);
    } else {
        float* r = row.data();
        float* blk = row.data() + d;
        for (std::size_t b0 = t0; b0 < t1; b0 += think_block) {
            std::fill(blk, blk + d, 0.0f);
            for (std::size_t t = b0; t < std::min(t1, b0 + think_block); ++t) {
                if (x.stride(2) == 1)
                    simd::widen(&x(h, t, 0), d, r);
                else
                    for (std::size_t c = 0; c < d; ++c) r[c] = to_float(x(h, t, c));
                simd::add_squares(r, blk, d);
            }
            for (std::size_t c = 0; c < d; ++c) acc[c] += static_cast<double>(blk[c]);
        }
    }
    bool finite = true;
    for (std::size_t c = 0; c < d; ++c) finite &= std::isfinite(acc[c]);
    return finite;
}

template <class T>
[[noreturn]] void think_report(const tensor_view<T, 3>& x, std::size_t h, std::size_t t0, std::size_t t1,
                               std::string_view what, std::string_view fn) {
    for (std::size_t t = t0; t < t1; ++t)
        for (std::size_t c = 0; c < x.extent(2); ++c)
            NNPRUNE_CHECK(is_finite(x(h, t, c)), value_error,
                          detail::str(fn, ": non-finite ", what, " ", to_double(x(h, t, c)), " at head ", h, ", token ",
                                      t, ", channel ", c));
    throw value_error(detail::str(fn, ": the sum of squared ", what, "s of head ", h, " overflows"));
}

template <class T>
void think_into_stage(const tensor_view<T, 3>& q, const tensor_view<T, 3>& k, const think_options& o,
                      think_workspace& ws, std::string_view fn) {
    static_assert(element<std::remove_cv_t<T>>, "think: q and k must be float, double, bfloat16 or float16");
    NNPRUNE_PRECONDITION(o.ratio >= 0.0 && o.ratio <= 1.0, detail::str(fn, ": ratio must be in [0, 1], got ", o.ratio));
    NNPRUNE_PRECONDITION(o.query_window > 0, detail::str(fn, ": query_window must be positive"));
    const std::size_t h = k.extent(0), t = k.extent(1), d = k.extent(2), tq = q.extent(1);
    NNPRUNE_CHECK(
        h > 0 && t > 0 && d > 0, shape_error,
        detail::str(fn, ": keys are ", h, "x", t, "x", d, " (heads x tokens x dim), every extent must be positive"));
    NNPRUNE_CHECK(q.extent(0) == h && tq > 0 && q.extent(2) == d, shape_error,
                  detail::str(fn, ": queries are ", q.extent(0), "x", tq, "x", q.extent(2), ", keys ", h, "x", t, "x",
                              d, " (same heads and dim, at least one query)"));
    const auto p = static_cast<std::size_t>(static_cast<double>(d) * o.ratio);
    NNPRUNE_PRECONDITION(p < d, detail::str(fn, ": ratio ", o.ratio, " prunes all ", d, " channels"));
    const std::size_t nq = std::min(o.query_window, tq);
    think_result& s = ws.stage;
    s.heads = h;
    s.dim = d;
    s.pruned = p;
    s.kept = d - p;
    s.channels.resize(h * (d - p));
    s.mask.resize(h * d);
    ws.row.resize(2 * d);
    ws.qs.resize(d);
    ws.ks.resize(d);
    ws.score.resize(d);
    ws.order.resize(d);
    for (std::size_t hh = 0; hh < h; ++hh) {
        if (!think_square_sums(q, hh, tq - nq, tq, ws.qs.data(), ws.row)) think_report(q, hh, tq - nq, tq, "query", fn);
        if (!think_square_sums(k, hh, 0, t, ws.ks.data(), ws.row)) think_report(k, hh, 0, t, "key", fn);
        for (std::size_t c = 0; c < d; ++c)
            ws.score[c] = (ws.qs[c] / static_cast<double>(nq)) * (ws.ks[c] / static_cast<double>(t));
        for (std::size_t c = 0; c < d; ++c) ws.order[c] = c;
        const double* sc = ws.score.data();
        // the p lowest scores, equal scores lower channel first
        std::sort(ws.order.begin(), ws.order.end(),
                  [sc](std::size_t a, std::size_t b) { return sc[a] < sc[b] || (sc[a] == sc[b] && a < b); });
        unsigned char* m = s.mask.data() + hh * d;
        std::fill(m, m + d, static_cast<unsigned char>(1));
        for (std::size_t i = 0; i < p; ++i) m[ws.order[i]] = 0;
        std::size_t* ch = s.channels.data() + hh * (d - p);
        for (std::size_t c = 0; c < d; ++c)
            if (m[c]) *ch++ = c;
    }
}

}  // namespace detail

/**
 * @brief ThinK channel selection of one item.
 * @param q [H, Tq, D] queries (only the last query_window rows are read), k [H, T, D] keys (after
 *        repeat_kv: one per query head). f32, f64, bf16 or f16, any strides.
 * @throws precondition_error (ratio outside [0, 1] or pruning every channel, query_window 0),
 *         shape_error (empty, mismatched heads or dim), value_error (non-finite query or key).
 *         On a throw `result` is unchanged.
 * @code
 * nnprune::think_workspace ws;
 * nnprune::think_result r;
 * nnprune::think(q, k, {.ratio = 0.4}, ws, r);   // D = 128: 51 channels pruned, 77 kept per head
 * @endcode
 */
template <class T>
void think(const tensor_view<T, 3>& q, const tensor_view<T, 3>& k, const think_options& o, think_workspace& ws,
           think_result& result) {
    detail::think_into_stage(q, k, o, ws, "think");
    std::swap(ws.stage, result);
}

template <class T>
[[nodiscard]] think_result think(const tensor_view<T, 3>& q, const tensor_view<T, 3>& k, const think_options& o = {}) {
    think_workspace ws;
    think_result r;
    think(q, k, o, ws, r);
    return r;
}

/// ThinK per item of q, k [B, H, T, D]: out[b] equals think() of item b for any thread count; on
/// a throw (the lowest failing item's error) `out` is unchanged.
template <class T>
void think_batch(const tensor_view<T, 4>& q, const tensor_view<T, 4>& k, const think_options& o,
                 std::vector<think_workspace>& ws, std::vector<think_result>& out, unsigned threads = 1) {
    constexpr std::string_view fn = "think_batch";
    const std::size_t items = k.extent(0);
    NNPRUNE_CHECK(items > 0 && q.extent(0) == items, shape_error,
                  detail::str(fn, ": batch of ", q.extent(0), " query and ", items, " key items (must be equal, > 0)"));
    detail::run_staged_items(items, threads, out, ws, [&](std::size_t b, think_result& r, think_workspace& w) {
        detail::think_into_stage(detail::item_of(q, b), detail::item_of(k, b), o, w, fn);
        std::swap(w.stage, r);
    });
}

template <class T>
[[nodiscard]] std::vector<think_result> think_batch(const tensor_view<T, 4>& q, const tensor_view<T, 4>& k,
                                                    const think_options& o = {}, unsigned threads = 1) {
    std::vector<think_workspace> ws;
    std::vector<think_result> out;
    think_batch(q, k, o, ws, out, threads);
    return out;
}

/**
 * @brief The pruned keys: out(h, t, i) = k(h, t, r.channels_of(h)[i]) for t < T - recent_size
 * (none when T <= recent_size). out is [H, max(T - recent_size, 0), r.kept], any strides; values
 * are copied exactly (U may differ from T only by const).
 * @throws shape_error (k or out not matching r).
 */
template <class T, class U>
void think_gather_keys(const tensor_view<T, 3>& k, const think_result& r, std::size_t recent_size,
                       const tensor_view<U, 3>& out) {
    static_assert(std::is_same_v<std::remove_cv_t<T>, U>, "think_gather_keys: out must hold the keys' element type");
    const std::size_t h = k.extent(0), t = k.extent(1), n = t > recent_size ? t - recent_size : 0;
    NNPRUNE_CHECK(
        h == r.heads && k.extent(2) == r.dim && out.extent(0) == h && out.extent(1) == n && out.extent(2) == r.kept,
        shape_error,
        detail::str("think_gather_keys: keys ", h, "x", t, "x", k.extent(2), ", out ", out.extent(0), "x",
                    out.extent(1), "x", out.extent(2), ", result ", r.heads, " heads x ", r.dim, " channels keeping ",
                    r.kept, " (out must be ", h, "x", n, "x", r.kept, ")"));
    for (std::size_t hh = 0; hh < h; ++hh) {
        const auto ch = r.channels_of(hh);
        for (std::size_t j = 0; j < n; ++j)
            for (std::size_t i = 0; i < ch.size(); ++i) out(hh, j, i) = k(hh, j, ch[i]);
    }
}

/**
 * @brief Back to full width (upstream recover_cache): out(h, t, c) = pruned(h, t, i) where c is
 * the i-th kept channel of head h, 0 in the pruned channels. pruned [H, n, kept], out [H, n, D].
 * @throws shape_error (shapes not matching r).
 */
template <class T, class U>
void think_scatter_keys(const tensor_view<T, 3>& pruned, const think_result& r, const tensor_view<U, 3>& out) {
    static_assert(std::is_same_v<std::remove_cv_t<T>, U>, "think_scatter_keys: out must hold the keys' element type");
    const std::size_t h = pruned.extent(0), n = pruned.extent(1);
    NNPRUNE_CHECK(h == r.heads && pruned.extent(2) == r.kept && out.extent(0) == h && out.extent(1) == n &&
                      out.extent(2) == r.dim,
                  shape_error,
                  detail::str("think_scatter_keys: pruned ", h, "x", n, "x", pruned.extent(2), ", out ", out.extent(0),
                              "x", out.extent(1), "x", out.extent(2), ", result ", r.heads, " heads keeping ", r.kept,
                              " of ", r.dim, " channels"));
    for (std::size_t hh = 0; hh < h; ++hh) {
        const auto ch = r.channels_of(hh);
        for (std::size_t j = 0; j < n; ++j) {
            for (std::size_t c = 0; c < r.dim; ++c) out(hh, j, c) = U{};
            for (std::size_t i = 0; i < ch.size(); ++i) out(hh, j, ch[i]) = pruned(hh, j, i);
        }
    }
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_THINK_HPP
