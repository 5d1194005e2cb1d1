#ifndef NNPRUNE_TOKENS_HOLOV_HPP
#define NNPRUNE_TOKENS_HOLOV_HPP

/// @file holov.hpp
/// HoloV (Zou et al., NeurIPS 2025; tokens.md §9): a crop-wise token budget from importance and
/// diversity. Features F [N, D], [CLS] attention a [N] (head-averaged), P crops, K kept:
/// 1. crops are contiguous runs of the flattened order: N / P tokens each, the first N % P one
///    longer, empty crops skipped;
/// 2. a crop of n >= 2 tokens scores mean(1000 a + alpha v'), where with F^ = F / (|F| + eps),
///    S = F^ F^T with a zero diagonal, m_i = sum_j S_ij / (n-1),
///    v_i = sum_j (S_ij - m_i)^2 / (n-1) (the diagonal's (0 - m_i)^2 included) and
///    v' = v mean|1000 a| / (mean|v| + eps); a 1-token crop scores its raw attention;
/// 3. w = score / (sum score + eps), alloc = floor(w K), the K - sum alloc leftovers +1 each to the
///    crops of largest w (at most one each; equal w: the lower crop);
/// 4. per crop in order: alloc >= n takes all its tokens in position order, 0 < alloc < n the alloc
///    tokens of largest attention in descending attention order (equal attention: lower index
///    first); then the concatenation is cut to K.
/// Output: the kept indices in that (upstream) order and ascending, and n_pad = K - kept. Upstream
/// pads its output features with n_pad zero vectors; nnprune returns no zero tokens (documented
/// deviation): the caller decides what to do with the shortfall (frequent with peaked attention:
/// a crop's allocation beyond its size is dropped, not redistributed).
///
/// Arithmetic: G = F F^T per crop in f32 by simd::gram (fixed summation order: the same bits on
/// every SIMD tier) on the features widened to f32 (read in place when contiguous f32), the norms
/// from its diagonal; S = G / ((|F_i| + eps)(|F_j| + eps)), the statistics, crop scores and
/// weights in double, the attention widened to double. Attention and alpha
/// must be non-negative (attention is a probability; upstream accepts negative values, whose
/// weights are meaningless and whose floor can overflow).
/// Memory: one crop's G (ceil(N / P)^2 f32), and its rows widened to f32 unless the features are
/// contiguous f32.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/gram.hpp"
#include "../simd/unit_row.hpp"
#include "../simd/widen.hpp"
#include "features.hpp"
#include "items.hpp"

namespace nnprune {

/// HoloV's parameters (upstream: num_patches argument, alpha = 0.09 hard-coded, esp = 1e-6).
struct holov_options {
    std::size_t crops = 16;  ///< P, the number of contiguous crops
    double alpha = 0.09;     ///< weight of the similarity variance
    double eps = 1e-6;       ///< added to the norms, to mean|v| and to the score sum (> 0)
};

/// HoloV's output for one item.
struct holov_result {
    std::vector<std::size_t> order;     ///< kept tokens in upstream's order (crop by crop)
    std::vector<std::size_t> kept;      ///< the same tokens, ascending
    std::size_t n_pad = 0;              ///< K - kept.size(): the zero tokens upstream would append
    std::vector<double> crop_score;     ///< per non-empty crop
    std::vector<std::ptrdiff_t> alloc;  ///< per non-empty crop, leftovers included
};

/// Buffers HoloV reuses between calls.
struct holov_workspace {
    std::vector<float> rows;         ///< one crop's rows widened to f32 (unless read in place)
    std::vector<float> sim;          ///< one crop's Gram matrix
    std::vector<double> inv_norm;    ///< 1 / (|F_i| + eps) of one crop
    std::vector<double> weight;      ///< per crop
    std::vector<std::size_t> index;  ///< sort buffer
    holov_result staged;             ///< the result, moved into place once every check passed
};

namespace detail {

template <class T, class A>
void holov_check_args(const tensor_view<T, 2>& f, const tensor_view<A, 1>& a, std::size_t k, const holov_options& o,
                      std::string_view fn) {
    static_assert(element<T> && element<A>, "features and attention must be float, double, bfloat16 or float16");
    const std::size_t n = f.extent(0), d = f.extent(1);
    NNPRUNE_CHECK(n > 0 && d > 0, shape_error,
                  detail::str(fn, ": features are ", n, "x", d, " (tokens x features), both must be positive"));
    NNPRUNE_CHECK(a.extent(0) == n, shape_error,
                  detail::str(fn, ": attention has ", a.extent(0), " entries, features have ", n, " tokens"));
    NNPRUNE_PRECONDITION(k > 0 && k <= n, detail::str(fn, ": keep K = ", k, " must be in [1, N = ", n, "]"));
    NNPRUNE_PRECONDITION(o.crops > 0, detail::str(fn, ": crops P must be positive, got 0"));
    NNPRUNE_PRECONDITION(std::isfinite(o.alpha) && o.alpha >= 0.0,
                         detail::str(fn, ": alpha must be non-negative and finite, got ", o.alpha));
    NNPRUNE_PRECONDITION(std::isfinite(o.eps) && o.eps > 0.0,
                         detail::str(fn, ": eps must be positive and finite, got ", o.eps));
    for (std::size_t i = 0; i < n; ++i) {
        const double v = to_double(a(i));
        NNPRUNE_CHECK(std::isfinite(v) && v >= 0.0, value_error,
                      detail::str(fn, ": attention must be non-negative and finite, got ", v, " at token ", i));
    }
}

template <class T>
void holov_check_finite(const tensor_view<T, 2>& x, std::string_view fn) {
    for (std::size_t i = 0; i < x.extent(0); ++i)
        for (std::size_t j = 0; j < x.extent(1); ++j)
            NNPRUNE_CHECK(
                is_finite(x(i, j)), value_error,
                detail::str(fn, ": non-finite feature ", to_double(x(i, j)), " at token ", i, ", feature ", j));
}

/// Crop c's first token and size (c < crops).
inline std::pair<std::size_t, std::size_t> holov_crop(std::size_t n, std::size_t crops, std::size_t c) noexcept {
    const std::size_t base = n / crops, rem = n % crops;
    return {c * base + std::min(c, rem), base + (c < rem ? 1 : 0)};
}

/// The score of the crop of tokens [first, first + m), m >= 2. G = F F^T of the raw rows (read in
/// place when they are contiguous f32, else widened to f32 first), then
/// S_ij = G_ij / ((sqrt(G_ii) + eps)(sqrt(G_jj) + eps)) in double: the same value as F^ F^T
/// without a pass that writes F^.
template <class T, class A>
double holov_crop_score(const tensor_view<T, 2>& f, const tensor_view<A, 1>& a, std::size_t first, std::size_t m,
                        const holov_options& o, holov_workspace& ws, std::string_view fn) {
    const std::size_t d = f.extent(1);
    const float* rows = nullptr;
    std::size_t stride = 0;
    if constexpr (std::is_same_v<std::remove_cv_t<T>, float>) {
        if (f.stride(1) == 1 && f.stride(0) > 0) rows = &f(first, 0), stride = static_cast<std::size_t>(f.stride(0));
    }
    if (!rows) {
        stride = (d + token_row_pad - 1) / token_row_pad * token_row_pad;
        ws.rows.resize(m * stride);
        for (std::size_t r = 0; r < m; ++r) {
            float* out = ws.rows.data() + r * stride;
            if constexpr (!std::is_same_v<std::remove_cv_t<T>, double>) {
                if (f.stride(1) == 1) {
                    simd::widen(&f(first + r, 0), d, out);
                    continue;
                }
            }
            for (std::size_t j = 0; j < d; ++j) out[j] = to_float(f(first + r, j));
        }
        rows = ws.rows.data();
    }
    ws.sim.resize(m * m);
    simd::gram(rows, m, d, stride, ws.sim.data(), m);
    ws.inv_norm.resize(m);
    for (std::size_t r = 0; r < m; ++r) {
        const float g = ws.sim[r * m + r];
        if (!std::isfinite(g)) {  // a NaN/Inf feature, or a norm beyond f32
            holov_check_finite(f, fn);
            NNPRUNE_CHECK(false, value_error,
                          detail::str(fn, ": the squared norm of token ", first + r, " overflows f32"));
        }
        ws.inv_norm[r] = 1.0 / (std::sqrt(static_cast<double>(g)) + o.eps);
    }
    const double n1 = static_cast<double>(m - 1);
    double sum_abs_a = 0.0, sum_abs_v = 0.0, sum_a = 0.0, sum_v = 0.0;
    for (std::size_t r = 0; r < m; ++r) {
        const float* g = ws.sim.data() + r * m;
        const double* inv = ws.inv_norm.data();
        double mean = 0.0;  // S_rr = 0 adds nothing
        for (std::size_t c = 0; c < m; ++c)
            if (c != r) mean += static_cast<double>(g[c]) * inv[r] * inv[c];
        mean /= n1;
        double var = mean * mean;  // the zeroed diagonal's (0 - m_r)^2
        for (std::size_t c = 0; c < m; ++c)
            if (c != r) {
                const double dev = static_cast<double>(g[c]) * inv[r] * inv[c] - mean;
                var += dev * dev;
            }
        var /= n1;
        const double ah = 1000.0 * to_double(a(first + r));
        sum_abs_a += std::fabs(ah), sum_a += ah;
        sum_abs_v += std::fabs(var), sum_v += var;
    }
    const double md = static_cast<double>(m);
    const double scale = (sum_abs_a / md) / (sum_abs_v / md + o.eps);
    // mean(a^ + alpha v scale) = (sum a^ + alpha scale sum v) / m
    return (sum_a + o.alpha * scale * sum_v) / md;
}

/// One item, arguments already checked; everything goes to ws.staged, then out (swapped).
template <class T, class A>
void holov_item(const tensor_view<T, 2>& f, const tensor_view<A, 1>& a, std::size_t k, holov_result& out,
                holov_workspace& ws, const holov_options& o, std::string_view fn) {
    const std::size_t n = f.extent(0);
    const std::size_t crops = n / o.crops > 0 ? o.crops : n % o.crops;  // the non-empty ones
    holov_result& r = ws.staged;
    r.crop_score.resize(crops);
    double total = 0.0;
    for (std::size_t c = 0; c < crops; ++c) {
        const auto [first, m] = holov_crop(n, o.crops, c);
        r.crop_score[c] = m == 1 ? to_double(a(first)) : holov_crop_score(f, a, first, m, o, ws, fn);
        total += r.crop_score[c];
    }
    // allocation: floor(w K), then +1 for the (K - sum) crops of largest w (at most each once)
    ws.weight.resize(crops);
    r.alloc.resize(crops);
    const double kd = static_cast<double>(k);
    std::ptrdiff_t sum = 0;
    for (std::size_t c = 0; c < crops; ++c) {
        ws.weight[c] = r.crop_score[c] / (total + o.eps);
        const double fl = std::floor(ws.weight[c] * kd);
        // scores are >= 0, so w in [0, 1) unless a score overflowed (attention or alpha ~1e200 and beyond)
        NNPRUNE_CHECK(std::isfinite(fl) && fl >= 0.0 && fl <= kd, value_error,
                      detail::str(fn, ": crop ", c, " gets weight ", ws.weight[c], " (crop scores overflow)"));
        r.alloc[c] = static_cast<std::ptrdiff_t>(fl);
        sum += r.alloc[c];
    }
    const auto left = static_cast<std::ptrdiff_t>(k) - sum;
    if (left > 0) {
        const auto extra = std::min(static_cast<std::size_t>(left), crops);
        ws.index.resize(crops);
        for (std::size_t c = 0; c < crops; ++c) ws.index[c] = c;
        const double* w = ws.weight.data();
        std::partial_sort(ws.index.begin(), ws.index.begin() + static_cast<std::ptrdiff_t>(extra), ws.index.end(),
                          [w](std::size_t x, std::size_t y) { return w[x] > w[y] || (w[x] == w[y] && x < y); });
        for (std::size_t e = 0; e < extra; ++e) ++r.alloc[ws.index[e]];
    }
    // selection, crop by crop
    r.order.clear();
    for (std::size_t c = 0; c < crops && r.order.size() < k; ++c) {
        const auto [first, m] = holov_crop(n, o.crops, c);
        const std::ptrdiff_t al = r.alloc[c];
        if (al <= 0) continue;
        if (static_cast<std::size_t>(al) >= m) {
            for (std::size_t i = first; i < first + m; ++i) r.order.push_back(i);
            continue;
        }
        ws.index.resize(m);
        for (std::size_t i = 0; i < m; ++i) ws.index[i] = first + i;
        auto by_attention = [&a](std::size_t x, std::size_t y) {
            const double ax = to_double(a(x)), ay = to_double(a(y));
            return ax > ay || (ax == ay && x < y);
        };
        const auto mid = ws.index.begin() + al;
        std::partial_sort(ws.index.begin(), mid, ws.index.end(), by_attention);
        r.order.insert(r.order.end(), ws.index.begin(), mid);
    }
    if (r.order.size() > k) r.order.resize(k);
    r.kept.assign(r.order.begin(), r.order.end());
    std::sort(r.kept.begin(), r.kept.end());
    r.n_pad = k - r.order.size();
    std::swap(out, r);  // both keep their capacity: no allocation once warm
}

}  // namespace detail

/**
 * @brief HoloV on one item: the kept tokens in upstream order and ascending, n_pad, and the crop
 * scores and allocations, into `out` (buffers reused).
 * @param features F [N, D] projected features (f32, f64, bf16 or f16; any strides).
 * @param attention a [N], the [CLS] attention of each token averaged over heads (non-negative).
 * @param k K, the budget, 1 <= K <= N. Fewer may be kept (out.n_pad says how many fewer).
 * @throws shape_error (N = 0, D = 0, attention length != N), precondition_error (K outside [1, N],
 *         P = 0, alpha negative or not finite, eps not positive), value_error (NaN/Inf feature,
 *         negative or non-finite attention, crop scores that overflow). A throwing call leaves `out`
 *         unchanged.
 * @code
 * nnprune::holov_result r;
 * nnprune::holov_workspace ws;
 * nnprune::holov(nnprune::matrix_view<const float>(f, 576, 4096), nnprune::tensor_view<const float, 1>(a, {576}),
 *                64, r, ws);   // P = 16 crops of 36 tokens
 * @endcode
 */
template <class T, class A>
void holov(const tensor_view<T, 2>& features, const tensor_view<A, 1>& attention, std::size_t k, holov_result& out,
           holov_workspace& ws, const holov_options& o = {}) {
    constexpr std::string_view fn = "holov";
    detail::holov_check_args(features, attention, k, o, fn);
    detail::holov_item(features, attention, k, out, ws, o, fn);
}

/// HoloV returning its result (a fresh workspace per call).
template <class T, class A>
[[nodiscard]] holov_result holov(const tensor_view<T, 2>& features, const tensor_view<A, 1>& attention, std::size_t k,
                                 const holov_options& o = {}) {
    holov_result out;
    holov_workspace ws;
    holov(features, attention, k, out, ws, o);
    return out;
}

/**
 * @brief HoloV per item of features [B, N, D] and attention [B, N] on up to `threads` threads:
 * out[b] equals holov(item b) for any thread count. ws is grown to one workspace per thread.
 * @throws as holov (messages start with "holov_batch"), and shape_error for B = 0 or mismatched
 *         batches. Every item's inputs are checked (one extra read of the features) before any
 *         result is written, so a throwing call leaves `out` unchanged; the one exception is crop
 *         scores that overflow double (attention or alpha around 1e200), found only while computing.
 */
template <class T, class A>
void holov_batch(const tensor_view<T, 3>& features, const tensor_view<A, 2>& attention, std::size_t k,
                 std::vector<holov_result>& out, std::vector<holov_workspace>& ws, const holov_options& o = {},
                 unsigned threads = 1) {
    constexpr std::string_view fn = "holov_batch";
    const std::size_t items = features.extent(0);
    NNPRUNE_CHECK(items > 0, shape_error, "holov_batch: empty batch (B = 0)");
    NNPRUNE_CHECK(attention.extent(0) == items, shape_error,
                  detail::str(fn, ": attention has ", attention.extent(0), " items, features ", items));
    for (std::size_t b = 0; b < items; ++b)
        detail::holov_check_args(detail::item_of(features, b), detail::item_of(attention, b), k, o, fn);
    detail::for_each_item(items, threads,
                          [&](std::size_t b) { detail::holov_check_finite(detail::item_of(features, b), fn); });
    ws.resize(std::max<std::size_t>(ws.size(), detail::parts_for_items(items, threads)));
    out.resize(items);
    detail::for_each_item(items, threads, [&](std::size_t b, unsigned part) {
        detail::holov_item(detail::item_of(features, b), detail::item_of(attention, b), k, out[b], ws[part], o, fn);
    });
}

/// HoloV per item, returning the results.
template <class T, class A>
[[nodiscard]] std::vector<holov_result> holov_batch(const tensor_view<T, 3>& features,
                                                    const tensor_view<A, 2>& attention, std::size_t k,
                                                    const holov_options& o = {}, unsigned threads = 1) {
    std::vector<holov_result> out;
    std::vector<holov_workspace> ws;
    holov_batch(features, attention, k, out, ws, o, threads);
    return out;
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_HOLOV_HPP
