#ifndef NNPRUNE_TOKENS_GPRUNE_HPP
#define NNPRUNE_TOKENS_GPRUNE_HPP

/// @file gprune.hpp
/// G-Prune (Jiang et al., AAAI 2025; tokens.md §8): information flow on the similarity graph of
/// one image group's features X [N, d]. With Xn = X / max(|X|, 1e-12) (F.normalize):
///   A = Xn Xn^T;  A[A < similarity] = 0;  A /= temperature;  A[|A| < 1e-6] = -5000  (that order)
///   A = softmax(A) per row;  deg_i = #{j : A_ij > 0}  (after the softmax)
///   score = (|X|^T A^iterations) / deg   (raw norms as a row vector; column j divided by deg_j)
/// and keep the k highest scores (ascending indices, equal scores: the lower index).
/// A zero-norm token's row is all -5000, so it is uniform (deg = N); its norm adds nothing.
///
/// Arithmetic (f32 and f64, specified: upstream runs fp16 on GPU, which can change deg):
/// - unit rows in f32, each feature divided in double by the norm taken in double (as
///   tokens/features.hpp); A = Xn Xn^T by simd::gram (fixed summation order);
/// - the threshold test, the division by the temperature, the softmax (max, exp, sum) in double,
///   A stored in f32;
/// - |X|^T A^p as p vector-matrix products (p N^2 instead of the ~p N^3 of a matrix power, the
///   same value up to rounding), each a row-by-row sequence of fused f32 updates (simd::axpy); the
///   scores are f32.
/// Every step has one order on every SIMD tier, so results are bit-identical everywhere. Tokens
/// with bit-equal features get bit-equal scores (their rows and columns of A are equal).
///
/// Memory: the workspace holds the f32 unit rows (N x d) and A (N x N f32: 1.3 MB for 576 tokens,
/// 33 MB for a 2880-token grid).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"
#include "../simd/axpy.hpp"
#include "../simd/gram.hpp"
#include "../simd/unit_row.hpp"
#include "../simd/widen.hpp"
#include "features.hpp"
#include "items.hpp"
#include "rank.hpp"

namespace nnprune {

/// G-Prune's hyper-parameters (upstream hard-codes these values).
struct gprune_options {
    double similarity = 0.5;     ///< edges with cosine similarity below this are dropped
    double temperature = 0.03;   ///< softmax temperature (> 0)
    std::size_t iterations = 5;  ///< power of the transition matrix (0: score = |X| / deg)
};

/// G-Prune's output for one group.
struct gprune_result {
    std::vector<std::size_t> kept;  ///< the k kept tokens, ascending
    std::vector<float> score;       ///< the N scores
};

/// Buffers G-Prune reuses between calls.
struct gprune_workspace {
    std::vector<float> rows;         ///< unit rows, N x stride (stride: d rounded up to 16)
    std::vector<float> matrix;       ///< A, N x N
    std::vector<float> norm;         ///< |x_i|
    std::vector<float> flow, next;   ///< the row vector of the products
    std::vector<double> row;         ///< one row's exponentials
    std::vector<std::size_t> deg;    ///< deg_i
    std::vector<std::size_t> index;  ///< top-k buffer
};

/**
 * @brief Upstream's keep count for a ratio: int((ratio * rows) * cols), the double product
 * evaluated left to right and truncated. Base group: gprune_keep_count(0.5, 576) = 288; an anyres
 * grid of rows x cols tokens: gprune_keep_count(ratio, rows, cols).
 * @throws precondition_error for a ratio outside [0, 1] (NaN included).
 */
[[nodiscard]] inline std::size_t gprune_keep_count(double ratio, std::size_t rows, std::size_t cols = 1) {
    NNPRUNE_PRECONDITION(ratio >= 0.0 && ratio <= 1.0,
                         detail::str("gprune_keep_count: ratio must be in [0, 1], got ", ratio));
    return static_cast<std::size_t>((ratio * static_cast<double>(rows)) * static_cast<double>(cols));
}

namespace detail {

inline void gprune_check_options(const gprune_options& o, std::string_view fn) {
    NNPRUNE_PRECONDITION(std::isfinite(o.similarity),
                         detail::str(fn, ": similarity threshold must be finite, got ", o.similarity));
    NNPRUNE_PRECONDITION(std::isfinite(o.temperature) && o.temperature > 0.0,
                         detail::str(fn, ": temperature must be positive and finite, got ", o.temperature));
}

template <class T>
void gprune_check_args(const tensor_view<T, 2>& x, std::size_t k, const gprune_options& o, std::string_view fn) {
    static_assert(element<T>, "token features must be float, double, bfloat16 or float16");
    const std::size_t n = x.extent(0), d = x.extent(1);
    NNPRUNE_CHECK(n > 0 && d > 0, shape_error,
                  detail::str(fn, ": features are ", n, "x", d, " (tokens x features), both must be positive"));
    NNPRUNE_PRECONDITION(k > 0 && k <= n, detail::str(fn, ": keep k = ", k, " must be in [1, N = ", n, "]"));
    gprune_check_options(o, fn);
}

/// The first non-finite feature of x, named in a value_error (no-op when all are finite).
template <class T>
void gprune_check_finite(const tensor_view<T, 2>& x, std::string_view fn) {
    for (std::size_t i = 0; i < x.extent(0); ++i)
        for (std::size_t j = 0; j < x.extent(1); ++j)
            NNPRUNE_CHECK(
                is_finite(x(i, j)), value_error,
                detail::str(fn, ": non-finite feature ", to_double(x(i, j)), " at token ", i, ", feature ", j));
}

/// ws.rows = X / max(|X|, 1e-12) (f32, rows padded with zeros to the stride), ws.norm = |X| (f32).
/// Throws (before any output is written) on a non-finite feature or a norm beyond f32.
template <class T>
std::size_t gprune_unit_rows(const tensor_view<T, 2>& x, gprune_workspace& ws, std::string_view fn) {
    const std::size_t n = x.extent(0), d = x.extent(1);
    const std::size_t stride = (d + token_row_pad - 1) / token_row_pad * token_row_pad;
    ws.rows.resize(n * stride);
    ws.norm.resize(n);
    const bool contiguous = x.stride(1) == 1;
    bool finite = true;
    for (std::size_t i = 0; i < n; ++i) {
        float* out = ws.rows.data() + i * stride;
        std::fill(out + d, out + stride, 0.0f);
        double ss = 0.0;
        if constexpr (std::is_same_v<std::remove_cv_t<T>, double>) {
            ss = double_squared_norm(x, i);
        } else {
            if (contiguous)
                simd::widen(&x(i, 0), d, out);
            else
                for (std::size_t j = 0; j < d; ++j) out[j] = to_float(x(i, j));
            ss = simd::squared_norm(out, d);
        }
        const double norm = std::sqrt(ss);
        ws.norm[i] = static_cast<float>(norm);
        finite &= std::isfinite(ws.norm[i]);
        const double div = std::max(norm, 1e-12);  // F.normalize's eps
        if constexpr (std::is_same_v<std::remove_cv_t<T>, double>)
            for (std::size_t j = 0; j < d; ++j) out[j] = static_cast<float>(x(i, j) / div);
        else
            simd::divide_by(out, d, div);
    }
    if (!finite) {
        gprune_check_finite(x, fn);
        for (std::size_t i = 0; i < n; ++i)
            NNPRUNE_CHECK(std::isfinite(ws.norm[i]), value_error,
                          detail::str(fn, ": the norm of token ", i, " overflows f32"));
    }
    return stride;
}

/// Thresholded, scaled, row-softmaxed similarities into ws.matrix (in place over the Gram
/// matrix), and deg. Entries that underflow exp in double (t - max < -800) are exactly 0 and skip
/// the exp.
inline void gprune_transition(std::size_t n, const gprune_options& o, gprune_workspace& ws) {
    ws.deg.resize(n);
    ws.row.resize(n);
    double* p = ws.row.data();
    for (std::size_t i = 0; i < n; ++i) {
        float* r = ws.matrix.data() + i * n;
        auto scaled = [&o](float s) {
            const double t = static_cast<double>(s) < o.similarity ? 0.0 : static_cast<double>(s) / o.temperature;
            return std::fabs(t) < 1e-6 ? -5000.0 : t;
        };
        double m = -std::numeric_limits<double>::infinity();
        for (std::size_t j = 0; j < n; ++j) m = std::max(m, scaled(r[j]));
        double z = 0.0;
        for (std::size_t j = 0; j < n; ++j) {
            const double e = scaled(r[j]) - m;
            p[j] = e > -800.0 ? std::exp(e) : 0.0;
            z += p[j];
        }
        std::size_t deg = 0;
        for (std::size_t j = 0; j < n; ++j) {
            r[j] = static_cast<float>(p[j] / z);
            deg += r[j] > 0.0f;
        }
        ws.deg[i] = deg;
    }
}

/// score into `score` (N floats) from ws.rows / ws.norm.
inline void gprune_score(std::size_t n, std::size_t d, std::size_t stride, const gprune_options& o,
                         gprune_workspace& ws, float* score) {
    ws.matrix.resize(n * n);
    simd::gram(ws.rows.data(), n, d, stride, ws.matrix.data(), n);
    gprune_transition(n, o, ws);
    ws.flow.assign(ws.norm.begin(), ws.norm.end());
    ws.next.resize(n);
    for (std::size_t it = 0; it < o.iterations; ++it) {  // flow <- flow^T A
        std::fill(ws.next.begin(), ws.next.end(), 0.0f);
        for (std::size_t i = 0; i < n; ++i)
            if (ws.flow[i] != 0.0f) simd::axpy(ws.flow[i], ws.matrix.data() + i * n, ws.next.data(), n);
        ws.flow.swap(ws.next);
    }
    for (std::size_t j = 0; j < n; ++j) score[j] = ws.flow[j] / static_cast<float>(ws.deg[j]);
}

/// One group, arguments already checked; writes out only after every check passed.
template <class T>
void gprune_item(const tensor_view<T, 2>& x, std::size_t k, gprune_result& out, gprune_workspace& ws,
                 const gprune_options& o, std::string_view fn) {
    const std::size_t n = x.extent(0);
    const std::size_t stride = gprune_unit_rows(x, ws, fn);  // the last check
    out.score.resize(n);
    gprune_score(n, x.extent(1), stride, o, ws, out.score.data());
    top_k_ascending(out.score.data(), n, k, ws.index);
    out.kept.assign(ws.index.begin(), ws.index.begin() + static_cast<std::ptrdiff_t>(k));
}

}  // namespace detail

/**
 * @brief G-Prune on one image group: the k tokens of highest information flow, ascending, and
 * every token's score, into `out` (vectors reused: no allocation in steady state).
 * @param features X [N, d] (f32, f64, bf16 or f16; any strides), the projected features of one group.
 * @param k tokens kept, 1 <= k <= N (gprune_keep_count gives upstream's count for a ratio).
 * @throws shape_error (N = 0 or d = 0), precondition_error (k outside [1, N], temperature not
 *         positive, non-finite threshold), value_error (NaN/Inf feature, norm beyond f32). A throwing
 *         call leaves `out` unchanged.
 * @code
 * nnprune::gprune_result r;
 * nnprune::gprune_workspace ws;
 * nnprune::gprune(nnprune::matrix_view<const float>(x, 576, 4096), nnprune::gprune_keep_count(0.5, 576), r, ws);
 * @endcode
 */
template <class T>
void gprune(const tensor_view<T, 2>& features, std::size_t k, gprune_result& out, gprune_workspace& ws,
            const gprune_options& o = {}) {
    constexpr std::string_view fn = "gprune";
    detail::gprune_check_args(features, k, o, fn);
    detail::gprune_item(features, k, out, ws, o, fn);
}

/// G-Prune returning its result (a fresh workspace per call).
template <class T>
[[nodiscard]] gprune_result gprune(const tensor_view<T, 2>& features, std::size_t k, const gprune_options& o = {}) {
    gprune_result out;
    gprune_workspace ws;
    gprune(features, k, out, ws, o);
    return out;
}

/**
 * @brief G-Prune per item of features [B, N, d] on up to `threads` threads: out[b] equals
 * gprune(item b) for any thread count. ws is grown to one workspace per thread.
 * @throws as gprune (messages start with "gprune_batch"), and shape_error for B = 0. Every item is
 *         checked before any is computed, so a throwing call leaves `out` unchanged.
 */
template <class T>
void gprune_batch(const tensor_view<T, 3>& features, std::size_t k, std::vector<gprune_result>& out,
                  std::vector<gprune_workspace>& ws, const gprune_options& o = {}, unsigned threads = 1) {
    constexpr std::string_view fn = "gprune_batch";
    const std::size_t items = features.extent(0);
    NNPRUNE_CHECK(items > 0, shape_error, "gprune_batch: empty batch (B = 0)");
    detail::gprune_check_args(detail::item_of(features, 0), k, o, fn);
    // every item's values are checked (the unit-row pass) before any result is written
    ws.resize(std::max<std::size_t>(ws.size(), detail::parts_for_items(items, threads)));
    detail::for_each_item(items, threads, [&](std::size_t b, unsigned part) {
        (void)detail::gprune_unit_rows(detail::item_of(features, b), ws[part], fn);
    });
    out.resize(items);
    detail::for_each_item(items, threads, [&](std::size_t b, unsigned part) {
        detail::gprune_item(detail::item_of(features, b), k, out[b], ws[part], o, fn);
    });
}

/// G-Prune per item, returning the results.
template <class T>
[[nodiscard]] std::vector<gprune_result> gprune_batch(const tensor_view<T, 3>& features, std::size_t k,
                                                      const gprune_options& o = {}, unsigned threads = 1) {
    std::vector<gprune_result> out;
    std::vector<gprune_workspace> ws;
    gprune_batch(features, k, out, ws, o, threads);
    return out;
}

}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_GPRUNE_HPP
