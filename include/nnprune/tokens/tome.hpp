#ifndef NNPRUNE_TOKENS_TOME_HPP
#define NNPRUNE_TOKENS_TOME_HPP

/// @file tome.hpp
/// ToMe (Bolya et al., ICLR 2023), bipartite soft matching and its merges, from tokens.md §1
/// (facebookresearch/ToMe@af95e4b, tome/merge.py and tome/utils.py::parse_r).
///
/// Matching over a metric [t, c] (the layer's keys averaged over heads): set A = even rows, set
/// B = odd rows; every A row's best B row by cosine similarity (first maximum); the r A rows
/// with the highest best similarity (a STABLE descending order: equal similarities, lower A
/// index first) merge into their B rows. The output is concat(A rows not merged, all B rows),
/// which is not positional order (tome_matching::positions gives each output row's token).
///
/// Numerics. Unit rows as features.hpp makes them (norm in double, rows in f32; a zero-norm row
/// stays zero, so its similarity with every row is 0, where upstream gives NaN); similarities
/// in f32 by simd::gemm (one fixed fused order, identical on every SIMD tier); NaN or Inf in the
/// metric is an error. Merges accumulate in the output's type (f32 or f64) and sum each
/// destination in edge order, as torch's scatter_reduce does, so f32 merges of f32 inputs are
/// bit-exact against upstream once the matching agrees (each product and sum is its own
/// statement; a build that contracts across statements, e.g. GCC's -std=gnu++20 with FMA, may
/// fuse them). Merges walk the input rows in order and write each output row once.

#include <algorithm>
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
#include "features.hpp"
#include "items.hpp"
#include "rank.hpp"

namespace nnprune {

// ------------------------------------------------------------------------------------------
// parse_r
// ------------------------------------------------------------------------------------------

namespace detail {

/// int(v) of Python for a double: truncation, with a range check (int64).
[[nodiscard]] inline std::int64_t tome_trunc(double v, std::string_view what) {
    NNPRUNE_CHECK(std::isfinite(v) && std::fabs(v) < 9.2e18, value_error,
                  detail::str("tome_r_schedule: ", what, " = ", v, " is not a finite 64-bit integer"));
    return static_cast<std::int64_t>(std::trunc(v));
}

}  // namespace detail

/**
 * @brief Per-layer r of ToMe's parse_r for an int r: [r] * layers.
 * Values <= 0 mean "no merge" at that layer (tome_match treats them as identity).
 */
[[nodiscard]] inline std::vector<std::int64_t> tome_r_schedule(std::size_t layers, std::int64_t r) {
    return std::vector<std::int64_t>(layers, r);
}

/**
 * @brief parse_r for (r, inflect): min = int(r * (1 - inflect)), max = 2r - min,
 * step = (max - min) / (layers - 1) (double), r_i = int(min + step * i), all in double and
 * truncated as Python's int() does. One layer gives [min] (upstream divides by zero there).
 * @throws value_error (inflect not finite, a value outside int64).
 * @code
 * auto rs = nnprune::tome_r_schedule(24, 8, -0.5);   // ToMe's "decreasing" schedule
 * @endcode
 */
[[nodiscard]] inline std::vector<std::int64_t> tome_r_schedule(std::size_t layers, std::int64_t r, double inflect) {
    NNPRUNE_CHECK(std::isfinite(inflect), value_error,
                  detail::str("tome_r_schedule: inflect must be finite, got ", inflect));
    const std::int64_t lo = detail::tome_trunc(static_cast<double>(r) * (1.0 - inflect), "int(r * (1 - inflect))");
    const std::int64_t hi = 2 * r - lo;
    std::vector<std::int64_t> out(layers);
    if (layers == 0) return out;
    if (layers == 1) {
        out[0] = lo;
        return out;
    }
    const double step = static_cast<double>(hi - lo) / static_cast<double>(layers - 1);
    for (std::size_t i = 0; i < layers; ++i)
        out[i] = detail::tome_trunc(static_cast<double>(lo) + step * static_cast<double>(i), "r_i");
    return out;
}

/// parse_r for a list: padded with zeros to `layers`, never truncated (a longer list is kept whole).
[[nodiscard]] inline std::vector<std::int64_t> tome_r_schedule(std::size_t layers, std::span<const std::int64_t> rs) {
    std::vector<std::int64_t> out(rs.begin(), rs.end());
    if (out.size() < layers) out.resize(layers, 0);
    return out;
}

// ------------------------------------------------------------------------------------------
// Matching
// ------------------------------------------------------------------------------------------

/// ToMe's protected tokens: class_token keeps A row 0 (token 0) out of the sources and first in
/// the output; distill_token keeps B row 0 (token 1) from being a destination.
struct tome_options {
    bool class_token = false;
    bool distill_token = false;
};

/**
 * @brief One layer's bipartite matching: everything the merges need, reused across calls
 * (vectors are resized, never shrunk). A index i is token 2i, B index j is token 2j + 1.
 * With r == 0 (r <= 0 asked, or clamped to 0) the matching is the identity: output row o is
 * token o, src/dst/unm and node_max/node_idx are empty.
 */
struct tome_matching {
    std::size_t tokens = 0;  ///< t, the input rows
    std::size_t r = 0;       ///< rows merged away (after the clamp to (t - protected) / 2)
    bool class_token = false;
    bool distill_token = false;
    std::vector<std::size_t> src_idx;       ///< [r] merged A indices, edge order (descending node_max)
    std::vector<std::size_t> dst_idx;       ///< [r] the B index each src_idx merges into
    std::vector<std::size_t> unm_idx;       ///< [ceil(t/2) - r] unmerged A: ascending with class_token, else edge order
    std::vector<float> node_max;            ///< [ceil(t/2)] best similarity of each A row (-inf: protected)
    std::vector<std::size_t> node_idx;      ///< [ceil(t/2)] its B index (first maximum)
    std::vector<std::size_t> positions;     ///< [t - r] the input token each output row stems from
    std::vector<std::size_t> row_of;        ///< [t] the output row each input token lands in
    std::vector<std::size_t> member_begin;  ///< [floor(t/2) + 1] CSR of the sources of each B row
    std::vector<std::size_t> members;       ///< [r] A indices grouped by destination, edge order within

    /// Output rows, t - r.
    [[nodiscard]] std::size_t rows() const noexcept { return tokens - r; }
};

/// Buffers of tome_match and the merges (reuse one per thread: steady-state calls allocate nothing).
struct tome_workspace {
    token_workspace features;           ///< unit rows of the metric
    std::vector<float> scores;          ///< ceil(t/2) x floor(t/2) similarities
    std::vector<std::size_t> order;     ///< edge order
    std::vector<float> row_f, acc_f;    ///< merge rows (f32 outputs)
    std::vector<double> row_d, acc_d;   ///< merge rows (f64 outputs)
    std::vector<tome_matching> staged;  ///< tome_match_batch's staged results (first workspace only)
};

namespace detail {

/// r after ToMe's clamp: min(r, (t - protected) // 2), and 0 when that is <= 0.
[[nodiscard]] inline std::size_t tome_effective_r(std::size_t t, std::int64_t r, const tome_options& o) noexcept {
    const std::size_t prot = static_cast<std::size_t>(o.class_token) + static_cast<std::size_t>(o.distill_token);
    if (r <= 0 || t <= prot) return 0;
    return std::min(static_cast<std::size_t>(r), (t - prot) / 2);
}

template <class T>
void tome_check_metric(const tensor_view<T, 2>& metric, std::string_view fn) {
    static_assert(element<T>, "tome: the metric must be float, double, bfloat16 or float16");
    NNPRUNE_CHECK(metric.extent(0) > 0 && metric.extent(1) > 0, shape_error,
                  detail::str(fn, ": metric is ", metric.extent(0), "x", metric.extent(1),
                              " (tokens x channels), both must be positive"));
}

/// max of s[0..n) (-inf when n = 0), in 8 independent lanes so the compiler vectorises it.
[[nodiscard]] inline float row_max(const float* s, std::size_t n) noexcept {
    float lane[8];
    for (auto& l : lane) l = -std::numeric_limits<float>::infinity();
    std::size_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (std::size_t l = 0; l < 8; ++l) lane[l] = lane[l] < s[j + l] ? s[j + l] : lane[l];
    for (; j < n; ++j) lane[0] = lane[0] < s[j] ? s[j] : lane[0];
    float m = lane[0];
    for (std::size_t l = 1; l < 8; ++l) m = m < lane[l] ? lane[l] : m;
    return m;
}

/// The fields that depend only on t, r and the A/B assignment (positions, row_of, CSR).
inline void tome_finish(tome_matching& m) {
    const std::size_t t = m.tokens, r = m.r, tb = t / 2;
    m.positions.resize(t - r);
    m.row_of.resize(t);
    m.member_begin.assign(tb + 1, 0);
    m.members.resize(r);
    if (r == 0) {
        for (std::size_t i = 0; i < t; ++i) m.positions[i] = m.row_of[i] = i;
        return;
    }
    const std::size_t nu = m.unm_idx.size();
    // output rows: [unm..., dst...], or [unm0, dst0, unm1.., dst1..] with a distill token
    std::size_t o = 0;
    auto put = [&](std::size_t token) {
        m.positions[o] = token;
        m.row_of[token] = o++;
    };
    if (m.distill_token) {
        if (nu > 0) put(2 * m.unm_idx[0]);
        if (tb > 0) put(1);
        for (std::size_t u = 1; u < nu; ++u) put(2 * m.unm_idx[u]);
        for (std::size_t j = 1; j < tb; ++j) put(2 * j + 1);
    } else {
        for (std::size_t u = 0; u < nu; ++u) put(2 * m.unm_idx[u]);
        for (std::size_t j = 0; j < tb; ++j) put(2 * j + 1);
    }
    for (std::size_t e = 0; e < r; ++e) {
        m.row_of[2 * m.src_idx[e]] = m.row_of[2 * m.dst_idx[e] + 1];
        ++m.member_begin[m.dst_idx[e] + 1];
    }
    for (std::size_t j = 0; j < tb; ++j) m.member_begin[j + 1] += m.member_begin[j];
    // stable counting sort of the sources by destination (edge order kept within one)
    for (std::size_t e = 0; e < r; ++e) m.members[m.member_begin[m.dst_idx[e]]++] = m.src_idx[e];
    for (std::size_t j = tb; j > 0; --j) m.member_begin[j] = m.member_begin[j - 1];
    m.member_begin[0] = 0;
}

/// Matching of a validated metric into m (normalize_tokens may still throw on NaN/Inf before m
/// is written).
template <class T>
void tome_match_impl(const tensor_view<T, 2>& metric, std::int64_t r_in, const tome_options& opt, tome_matching& m,
                     tome_workspace& ws, std::string_view fn) {
    tome_check_metric(metric, fn);
    const std::size_t t = metric.extent(0);
    const unit_rows u = normalize_tokens(metric, ws.features, fn);  // validates values
    const std::size_t r = tome_effective_r(t, r_in, opt);
    const std::size_t ta = (t + 1) / 2, tb = t / 2;
    m.tokens = t;
    m.r = r;
    m.class_token = opt.class_token;
    m.distill_token = opt.distill_token;
    if (r == 0) {
        m.src_idx.clear();
        m.dst_idx.clear();
        m.unm_idx.clear();
        m.node_max.clear();
        m.node_idx.clear();
        tome_finish(m);
        return;
    }
    // S = A B^T (A: even unit rows, B: odd), one fixed fused order on every tier
    ws.scores.assign(ta * tb, 0.0f);
    const auto stride = static_cast<std::ptrdiff_t>(u.stride);
    simd::gemm(simd::gemm_op::add, ta, tb, u.d, simd::gemm_operand{u.data, 2 * stride, 1},
               simd::gemm_operand{u.data + u.stride, 1, 2 * stride}, ws.scores.data(), tb);
    m.node_max.resize(ta);
    m.node_idx.resize(ta);
    constexpr float ninf = -std::numeric_limits<float>::infinity();
    const std::size_t j0 = opt.distill_token ? 1 : 0;  // upstream sets the protected entries to -inf
    for (std::size_t i = 0; i < ta; ++i) {
        if (opt.class_token && i == 0) {
            m.node_max[i] = ninf;
            m.node_idx[i] = 0;  // argmax of an all -inf row
            continue;
        }
        const float* s = ws.scores.data() + i * tb;
        const float best = row_max(s + j0, tb - j0);
        std::size_t arg = 0;
        if (best != ninf) {  // the first maximum (the max is exact, whatever the order)
            arg = j0;
            while (s[arg] != best) ++arg;
        }
        m.node_max[i] = best;
        m.node_idx[i] = arg;
    }
    // stable descending edge order (equal node_max: lower A index first)
    auto& ord = ws.order;
    const auto rr = static_cast<std::ptrdiff_t>(r);
    if (opt.class_token) {  // only the r sources need the score order; unm_idx is ascending
        top_k_descending(m.node_max.data(), ta, r, ord);
        std::sort(ord.begin() + rr, ord.end());
    } else {
        ord.resize(ta);
        for (std::size_t i = 0; i < ta; ++i) ord[i] = i;
        std::sort(ord.begin(), ord.end(), ranks_before{m.node_max.data()});
    }
    m.src_idx.assign(ord.begin(), ord.begin() + rr);
    m.dst_idx.resize(r);
    for (std::size_t e = 0; e < r; ++e) m.dst_idx[e] = m.node_idx[m.src_idx[e]];
    m.unm_idx.assign(ord.begin() + rr, ord.end());
    tome_finish(m);
}

}  // namespace detail

/**
 * @brief ToMe bipartite soft matching of one item's metric [t, c] (f32, f64, bf16, f16; any
 * strides) with r = min(r, (t - protected) / 2) merges; r <= 0 gives the identity matching.
 * @throws shape_error (t = 0 or c = 0), value_error (NaN or Inf metric). On a throw `m` is
 *         unchanged.
 * @code
 * nnprune::tome_matching m;  nnprune::tome_workspace ws;
 * nnprune::tome_match(metric, 16, {.class_token = true}, m, ws);
 * nnprune::tome_merge_wavg(m, x, size, x_out, size_out, ws);
 * @endcode
 */
template <class T>
void tome_match(const tensor_view<T, 2>& metric, std::int64_t r, const tome_options& opt, tome_matching& m,
                tome_workspace& ws) {
    detail::tome_match_impl(metric, r, opt, m, ws, "tome_match");
}

/// tome_match returning the matching by value.
template <class T>
[[nodiscard]] tome_matching tome_match(const tensor_view<T, 2>& metric, std::int64_t r, const tome_options& opt = {}) {
    tome_matching m;
    tome_workspace ws;
    tome_match(metric, r, opt, m, ws);
    return m;
}

/**
 * @brief Batched matching over metric [B, t, c]: out[b] = tome_match(metric[b]). Identical for
 * any thread count. `ws` grows to one workspace per part.
 * @throws as tome_match for the lowest failing item (value errors name the item); `out` is
 *         then unchanged.
 */
template <class T>
void tome_match_batch(const tensor_view<T, 3>& metric, std::int64_t r, const tome_options& opt,
                      std::vector<tome_matching>& out, std::vector<tome_workspace>& ws, unsigned threads = 1) {
    constexpr std::string_view fn = "tome_match_batch";
    const std::size_t batch = metric.extent(0);
    if (batch > 0) detail::tome_check_metric(detail::item_of(metric, 0), fn);
    detail::run_staged_items(batch, threads, out, ws, [&](std::size_t b, tome_matching& m, tome_workspace& w) {
        try {
            detail::tome_match_impl(detail::item_of(metric, b), r, opt, m, w, fn);
        } catch (const value_error& e) {
            throw value_error(detail::str(e.what(), " (item ", b, ")"));
        }
    });
}

/// tome_match_batch returning the matchings by value.
template <class T>
[[nodiscard]] std::vector<tome_matching> tome_match_batch(const tensor_view<T, 3>& metric, std::int64_t r,
                                                          const tome_options& opt = {}, unsigned threads = 1) {
    std::vector<tome_matching> out;
    std::vector<tome_workspace> ws;
    tome_match_batch(metric, r, opt, out, ws, threads);
    return out;
}

/// The input token each output row stems from (A rows: 2 * unm_idx, B rows: 2j + 1).
[[nodiscard]] inline std::span<const std::size_t> tome_output_positions(const tome_matching& m) noexcept {
    return m.positions;
}

// ------------------------------------------------------------------------------------------
// Merges
// ------------------------------------------------------------------------------------------

/// scatter_reduce's modes: sum (dst + sources), mean (that over 1 + count), amax (elementwise max).
enum class tome_reduce : unsigned char { sum, mean, amax };

namespace detail {

template <class O>
[[nodiscard]] std::vector<O>& tome_row_buffer(tome_workspace& ws, bool acc) {
    if constexpr (std::is_same_v<O, float>)
        return acc ? ws.acc_f : ws.row_f;
    else
        return acc ? ws.acc_d : ws.row_d;
}

/// Row i of x in the accumulation type O: the row itself when it already is, else converted into buf.
template <class O, class T>
const O* tome_row(const tensor_view<T, 2>& x, std::size_t i, O* buf) noexcept {
    const std::size_t c = x.extent(1);
    if constexpr (std::is_same_v<std::remove_cv_t<T>, O>) {
        if (x.stride(1) == 1 || c <= 1) return &x(i, 0);
    } else if constexpr (std::is_same_v<O, float> && !std::is_same_v<std::remove_cv_t<T>, double>) {
        if (x.stride(1) == 1 || c <= 1) {
            simd::widen(&x(i, 0), c, buf);
            return buf;
        }
    }
    for (std::size_t j = 0; j < c; ++j) buf[j] = static_cast<O>(to_double(x(i, j)));
    return buf;
}

template <class O>
void tome_store(const tensor_view<O, 2>& out, std::size_t o, const O* row) noexcept {
    const std::size_t c = out.extent(1);
    if (out.stride(1) == 1 || c <= 1)
        std::copy(row, row + c, &out(o, 0));
    else
        for (std::size_t j = 0; j < c; ++j) out(o, j) = row[j];
}

template <class O>
constexpr bool tome_output_type = std::is_same_v<O, float> || std::is_same_v<O, double>;

template <class T, class O>
void tome_check_merge(const tome_matching& m, const tensor_view<T, 2>& x, const tensor_view<O, 2>& out,
                      std::string_view fn) {
    NNPRUNE_CHECK(x.extent(0) == m.tokens, shape_error,
                  detail::str(fn, ": x has ", x.extent(0), " tokens, the matching was made for ", m.tokens));
    NNPRUNE_CHECK(out.extent(0) == m.rows() && out.extent(1) == x.extent(1), shape_error,
                  detail::str(fn, ": output is ", out.extent(0), "x", out.extent(1), ", expected ", m.rows(), "x",
                              x.extent(1), " (t - r rows, x's channels)"));
}

/// NaN-propagating max (torch's amax propagates NaN).
template <class O>
[[nodiscard]] O tome_max(O acc, O v) noexcept {
    return (v > acc || v != v) ? v : acc;
}

template <class T, class O>
void tome_merge_impl(const tome_matching& m, const tensor_view<T, 2>& x, tome_reduce mode, const tensor_view<O, 2>& out,
                     tome_workspace& ws) {
    const std::size_t c = x.extent(1);
    auto& rowb = tome_row_buffer<O>(ws, false);
    auto& accb = tome_row_buffer<O>(ws, true);
    if (rowb.size() < c) rowb.resize(c);
    if (accb.size() < c) accb.resize(c);
    const bool direct = out.stride(1) == 1 || c <= 1;  // accumulate in the output row itself
    // input order (sequential reads; measured 1.6x faster than output order, which reads the
    // even rows, then the odd ones); merged sources are read with their destination
    for (std::size_t p = 0; p < m.tokens; ++p) {
        const std::size_t o = m.row_of[p];
        if (m.positions[o] != p) continue;
        const O* base = tome_row<O>(x, p, rowb.data());
        if (p % 2 == 0) {  // an A row: never a destination
            tome_store(out, o, base);
            continue;
        }
        const std::size_t j = p / 2, mb = m.member_begin[j], me = m.member_begin[j + 1];
        O* acc = direct ? &out(o, 0) : accb.data();
        std::copy(base, base + c, acc);
        for (std::size_t e = mb; e < me; ++e) {
            const O* s = tome_row<O>(x, 2 * m.members[e], rowb.data());
            if (mode == tome_reduce::amax)
                for (std::size_t k = 0; k < c; ++k) acc[k] = tome_max(acc[k], s[k]);
            else
                for (std::size_t k = 0; k < c; ++k) acc[k] += s[k];
        }
        if (mode == tome_reduce::mean) {
            const O n = static_cast<O>(1 + me - mb);
            for (std::size_t k = 0; k < c; ++k) acc[k] /= n;
        }
        if (!direct) tome_store(out, o, acc);
    }
}

template <class S>
[[nodiscard]] double tome_size_at(const tensor_view<S, 1>* size, std::size_t i) noexcept {
    return size ? to_double((*size)(i)) : 1.0;
}

template <class T, class S, class O>
void tome_check_wavg(const tome_matching& m, const tensor_view<T, 2>& x, const tensor_view<S, 1>* size,
                     const tensor_view<O, 2>& out, const tensor_view<O, 1>& size_out, std::string_view fn) {
    tome_check_merge(m, x, out, fn);
    NNPRUNE_CHECK(size_out.extent(0) == m.rows(), shape_error,
                  detail::str(fn, ": size output has ", size_out.extent(0), " entries, expected ", m.rows()));
    if (!size) return;
    NNPRUNE_CHECK(size->extent(0) == m.tokens, shape_error,
                  detail::str(fn, ": size has ", size->extent(0), " entries, x has ", m.tokens, " tokens"));
    for (std::size_t i = 0; i < m.tokens; ++i) {
        const double v = to_double((*size)(i));
        NNPRUNE_CHECK(std::isfinite(v) && v > 0.0, value_error,
                      detail::str(fn, ": size ", v, " at token ", i, " must be positive and finite"));
    }
}

/// merge_wavg: x' = merge_sum(x * size) / merge_sum(size), size' = merge_sum(size), every
/// product rounded to O before it is added, destinations summed in edge order.
template <class T, class S, class O>
void tome_wavg_impl(const tome_matching& m, const tensor_view<T, 2>& x, const tensor_view<S, 1>* size,
                    const tensor_view<O, 2>& out, const tensor_view<O, 1>& size_out, tome_workspace& ws) {
    const std::size_t c = x.extent(1);
    auto& rowb = tome_row_buffer<O>(ws, false);
    auto& accb = tome_row_buffer<O>(ws, true);
    if (rowb.size() < c) rowb.resize(c);
    if (accb.size() < c) accb.resize(c);
    const bool direct = out.stride(1) == 1 || c <= 1;  // accumulate in the output row itself
    // input order (sequential reads; measured 1.6x faster than output order, which reads the
    // even rows, then the odd ones); merged sources are read with their destination
    for (std::size_t p = 0; p < m.tokens; ++p) {
        const std::size_t o = m.row_of[p];
        if (m.positions[o] != p) continue;
        const O* base = tome_row<O>(x, p, rowb.data());
        const O sp = static_cast<O>(tome_size_at(size, p));
        const std::size_t mb = p % 2 == 1 ? m.member_begin[p / 2] : 0, me = p % 2 == 1 ? m.member_begin[p / 2 + 1] : 0;
        if (mb == me) {  // one pass: (x * s) / s, which for s = 1 is exactly x (a copy)
            if (sp == O(1)) {
                tome_store(out, o, base);
            } else {
                O* d = direct ? &out(o, 0) : accb.data();
                for (std::size_t k = 0; k < c; ++k) d[k] = base[k] * sp / sp;
                if (!direct) tome_store(out, o, d);
            }
            size_out(o) = sp;
            continue;
        }
        O* acc = direct ? &out(o, 0) : accb.data();
        for (std::size_t k = 0; k < c; ++k) acc[k] = base[k] * sp;
        O den = sp;
        for (std::size_t e = mb; e < me; ++e) {
            const std::size_t q = 2 * m.members[e];
            const O* s = tome_row<O>(x, q, rowb.data());
            const O sq = static_cast<O>(tome_size_at(size, q));
            for (std::size_t k = 0; k < c; ++k) {
                const O prod = s[k] * sq;  // rounded, then added (no fused multiply-add)
                acc[k] += prod;
            }
            den += sq;
        }
        for (std::size_t k = 0; k < c; ++k) acc[k] /= den;
        if (!direct) tome_store(out, o, acc);
        size_out(o) = den;
    }
}

}  // namespace detail

/**
 * @brief ToMe's merge(x, mode): x [t, C] (any element type and strides) into out [t - r, C]
 * (f32 or f64, any strides, not overlapping x), row o = token m.positions[o] with, for a B row,
 * its sources reduced in edge order. Accumulates in out's type.
 * @throws shape_error (x's tokens != m.tokens, out not [t - r, C]); out is untouched then.
 */
template <class T, class O>
void tome_merge(const tome_matching& m, const tensor_view<T, 2>& x, tome_reduce mode, const tensor_view<O, 2>& out,
                tome_workspace& ws) {
    static_assert(element<T>, "tome_merge: x must be float, double, bfloat16 or float16");
    static_assert(detail::tome_output_type<O>, "tome_merge: the output must be float or double");
    detail::tome_check_merge(m, x, out, "tome_merge");
    detail::tome_merge_impl(m, x, mode, out, ws);
}

template <class T, class O>
void tome_merge(const tome_matching& m, const tensor_view<T, 2>& x, tome_reduce mode, const tensor_view<O, 2>& out) {
    tome_workspace ws;
    tome_merge(m, x, mode, out, ws);
}

/// tome_merge into a new row-major f32 buffer of (t - r) x C.
template <class T>
[[nodiscard]] std::vector<float> tome_merge(const tome_matching& m, const tensor_view<T, 2>& x,
                                            tome_reduce mode = tome_reduce::mean) {
    detail::tome_check_merge(m, x, tensor_view<float, 2>(nullptr, m.rows(), x.extent(1)), "tome_merge");
    std::vector<float> out(m.rows() * x.extent(1));
    tome_merge(m, x, mode, tensor_view<float, 2>(out.data(), m.rows(), x.extent(1)));
    return out;
}

/**
 * @brief ToMe's merge_wavg (the merge the model uses): x' = merge_sum(x ⊙ size) / merge_sum(size),
 * size' = merge_sum(size). x [t, C], size [t] (any element types and strides; the sizes must be
 * positive and finite), out [t - r, C] and size_out [t - r] (f32 or f64). f32 outputs of f32
 * inputs are bit-exact against upstream (each product rounded, then summed in edge order).
 * @throws shape_error (mismatched extents), value_error (a size <= 0, NaN or Inf); outputs untouched.
 */
template <class T, class S, class O>
void tome_merge_wavg(const tome_matching& m, const tensor_view<T, 2>& x, const tensor_view<S, 1>& size,
                     const tensor_view<O, 2>& out, const tensor_view<O, 1>& size_out, tome_workspace& ws) {
    static_assert(element<T> && element<S>, "tome_merge_wavg: x and size must be float, double, bfloat16 or float16");
    static_assert(detail::tome_output_type<O>, "tome_merge_wavg: the outputs must be float or double");
    detail::tome_check_wavg(m, x, &size, out, size_out, "tome_merge_wavg");
    detail::tome_wavg_impl(m, x, &size, out, size_out, ws);
}

/// tome_merge_wavg with size [t, 1] and size_out [t - r, 1] (ToMe's own shapes).
template <class T, class S, class O>
void tome_merge_wavg(const tome_matching& m, const tensor_view<T, 2>& x, const tensor_view<S, 2>& size,
                     const tensor_view<O, 2>& out, const tensor_view<O, 2>& size_out, tome_workspace& ws) {
    NNPRUNE_CHECK(size.extent(1) == 1 && size_out.extent(1) == 1, shape_error,
                  detail::str("tome_merge_wavg: size is ", size.extent(0), "x", size.extent(1), " and size output ",
                              size_out.extent(0), "x", size_out.extent(1), ", expected [t, 1] and [t - r, 1]"));
    tome_merge_wavg(m, x, tensor_view<S, 1>(size.data_handle(), {size.extent(0)}, {size.stride(0)}), out,
                    tensor_view<O, 1>(size_out.data_handle(), {size_out.extent(0)}, {size_out.stride(0)}), ws);
}

/// tome_merge_wavg with size = ones (the first merging layer).
template <class T, class O>
void tome_merge_wavg(const tome_matching& m, const tensor_view<T, 2>& x, const tensor_view<O, 2>& out,
                     const tensor_view<O, 1>& size_out, tome_workspace& ws) {
    static_assert(element<T>, "tome_merge_wavg: x must be float, double, bfloat16 or float16");
    static_assert(detail::tome_output_type<O>, "tome_merge_wavg: the outputs must be float or double");
    const tensor_view<const float, 1>* none = nullptr;
    detail::tome_check_wavg(m, x, none, out, size_out, "tome_merge_wavg");
    detail::tome_wavg_impl(m, x, none, out, size_out, ws);
}

/// The result of the by-value tome_merge_wavg: x' row-major [rows, cols] and size' [rows], f32.
struct tome_merged {
    std::size_t rows = 0, cols = 0;
    std::vector<float> x;
    std::vector<float> size;
};

/// tome_merge_wavg by value (f32 outputs).
template <class T, class S>
[[nodiscard]] tome_merged tome_merge_wavg(const tome_matching& m, const tensor_view<T, 2>& x,
                                          const tensor_view<S, 1>& size) {
    tome_merged r;
    r.rows = m.rows();
    r.cols = x.extent(1);
    detail::tome_check_wavg(m, x, &size, tensor_view<float, 2>(nullptr, r.rows, r.cols),
                            tensor_view<float, 1>(nullptr, r.rows), "tome_merge_wavg");
    r.x.resize(r.rows * r.cols);
    r.size.resize(r.rows);
    tome_workspace ws;
    tome_merge_wavg(m, x, size, tensor_view<float, 2>(r.x.data(), r.rows, r.cols),
                    tensor_view<float, 1>(r.size.data(), r.rows), ws);
    return r;
}

/**
 * @brief Batched merge_wavg: x [B, t, C], size [B, t], out [B, t - r, C], size_out [B, t - r];
 * item b uses ms[b]. Identical for any thread count; everything is validated before any write.
 */
template <class T, class S, class O>
void tome_merge_wavg_batch(std::span<const tome_matching> ms, const tensor_view<T, 3>& x, const tensor_view<S, 2>& size,
                           const tensor_view<O, 3>& out, const tensor_view<O, 2>& size_out,
                           std::vector<tome_workspace>& ws, unsigned threads = 1) {
    static_assert(element<T> && element<S>, "tome_merge_wavg_batch: x and size must be float, double, bf16 or f16");
    static_assert(detail::tome_output_type<O>, "tome_merge_wavg_batch: the outputs must be float or double");
    constexpr std::string_view fn = "tome_merge_wavg_batch";
    const std::size_t batch = x.extent(0);
    NNPRUNE_CHECK(
        ms.size() == batch && size.extent(0) == batch && out.extent(0) == batch && size_out.extent(0) == batch,
        shape_error,
        detail::str(fn, ": batch sizes differ (matchings ", ms.size(), ", x ", batch, ", size ", size.extent(0),
                    ", out ", out.extent(0), ", size out ", size_out.extent(0), ")"));
    for (std::size_t b = 0; b < batch; ++b) {
        const auto sz = detail::item_of(size, b);
        detail::tome_check_wavg(ms[b], detail::item_of(x, b), &sz, detail::item_of(out, b),
                                detail::item_of(size_out, b), fn);
    }
    const unsigned parts = detail::parts_for_items(batch, threads);
    if (ws.size() < parts) ws.resize(parts);
    detail::for_each_item(batch, threads, [&](std::size_t b, unsigned part) {
        const auto sz = detail::item_of(size, b);
        detail::tome_wavg_impl(ms[b], detail::item_of(x, b), &sz, detail::item_of(out, b), detail::item_of(size_out, b),
                               ws[part]);
    });
}

/// Batched merge_wavg with size = ones.
template <class T, class O>
void tome_merge_wavg_batch(std::span<const tome_matching> ms, const tensor_view<T, 3>& x, const tensor_view<O, 3>& out,
                           const tensor_view<O, 2>& size_out, std::vector<tome_workspace>& ws, unsigned threads = 1) {
    static_assert(element<T>, "tome_merge_wavg_batch: x must be float, double, bfloat16 or float16");
    static_assert(detail::tome_output_type<O>, "tome_merge_wavg_batch: the outputs must be float or double");
    constexpr std::string_view fn = "tome_merge_wavg_batch";
    const std::size_t batch = x.extent(0);
    NNPRUNE_CHECK(ms.size() == batch && out.extent(0) == batch && size_out.extent(0) == batch, shape_error,
                  detail::str(fn, ": batch sizes differ (matchings ", ms.size(), ", x ", batch, ", out ", out.extent(0),
                              ", size out ", size_out.extent(0), ")"));
    const tensor_view<const float, 1>* none = nullptr;
    for (std::size_t b = 0; b < batch; ++b)
        detail::tome_check_wavg(ms[b], detail::item_of(x, b), none, detail::item_of(out, b),
                                detail::item_of(size_out, b), fn);
    const unsigned parts = detail::parts_for_items(batch, threads);
    if (ws.size() < parts) ws.resize(parts);
    detail::for_each_item(batch, threads, [&](std::size_t b, unsigned part) {
        detail::tome_wavg_impl(ms[b], detail::item_of(x, b), none, detail::item_of(out, b),
                               detail::item_of(size_out, b), ws[part]);
    });
}

/// Batched merge(x, mode): x [B, t, C] into out [B, t - r, C].
template <class T, class O>
void tome_merge_batch(std::span<const tome_matching> ms, const tensor_view<T, 3>& x, tome_reduce mode,
                      const tensor_view<O, 3>& out, std::vector<tome_workspace>& ws, unsigned threads = 1) {
    static_assert(element<T>, "tome_merge_batch: x must be float, double, bfloat16 or float16");
    static_assert(detail::tome_output_type<O>, "tome_merge_batch: the output must be float or double");
    constexpr std::string_view fn = "tome_merge_batch";
    const std::size_t batch = x.extent(0);
    NNPRUNE_CHECK(
        ms.size() == batch && out.extent(0) == batch, shape_error,
        detail::str(fn, ": batch sizes differ (matchings ", ms.size(), ", x ", batch, ", out ", out.extent(0), ")"));
    for (std::size_t b = 0; b < batch; ++b)
        detail::tome_check_merge(ms[b], detail::item_of(x, b), detail::item_of(out, b), fn);
    const unsigned parts = detail::parts_for_items(batch, threads);
    if (ws.size() < parts) ws.resize(parts);
    detail::for_each_item(batch, threads, [&](std::size_t b, unsigned part) {
        detail::tome_merge_impl(ms[b], detail::item_of(x, b), mode, detail::item_of(out, b), ws[part]);
    });
}

// ------------------------------------------------------------------------------------------
// Source map (merge_source, compact)
// ------------------------------------------------------------------------------------------

/**
 * @brief Which original tokens each current row contains, composed across layers: row_of[i] is
 * the current row of original token i. Row o of upstream's dense merge_source is the set
 * {i : row_of[i] == o} (tome_source_dense writes it).
 */
struct tome_source {
    std::size_t rows = 0;             ///< current rows
    std::vector<std::size_t> row_of;  ///< [t0] current row of each original token
};

/// Starts a source map over t0 original tokens (the identity).
inline void tome_source_reset(tome_source& s, std::size_t t0) {
    s.rows = t0;
    s.row_of.resize(t0);
    for (std::size_t i = 0; i < t0; ++i) s.row_of[i] = i;
}

/**
 * @brief Applies one layer's matching: row_of[i] <- m.row_of[row_of[i]].
 * @throws shape_error when m was made for another number of rows (s unchanged).
 */
inline void tome_source_update(tome_source& s, const tome_matching& m) {
    NNPRUNE_CHECK(
        m.tokens == s.rows, shape_error,
        detail::str("tome_source_update: the source map has ", s.rows, " rows, the matching was made for ", m.tokens));
    for (auto& r : s.row_of) r = m.row_of[r];
    s.rows = m.rows();
}

/**
 * @brief The dense 0/1 source [rows, t0] (upstream's merge_source) into out (any element type
 * that converts from double, any strides).
 * @throws shape_error when out is not [rows, t0] (out unchanged).
 */
template <class O>
void tome_source_dense(const tome_source& s, const tensor_view<O, 2>& out) {
    NNPRUNE_CHECK(out.extent(0) == s.rows && out.extent(1) == s.row_of.size(), shape_error,
                  detail::str("tome_source_dense: output is ", out.extent(0), "x", out.extent(1), ", expected ", s.rows,
                              "x", s.row_of.size()));
    for (std::size_t o = 0; o < s.rows; ++o)
        for (std::size_t i = 0; i < s.row_of.size(); ++i) out(o, i) = from_double<O>(0.0);
    for (std::size_t i = 0; i < s.row_of.size(); ++i) out(s.row_of[i], i) = from_double<O>(1.0);
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_TOME_HPP
