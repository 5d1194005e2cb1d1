#ifndef NNPRUNE_TOKENS_FEATURES_HPP
#define NNPRUNE_TOKENS_FEATURES_HPP

/// @file features.hpp
/// Token features [N, d] as unit rows: every row divided once by its Euclidean norm into a
/// reused f32 buffer whose rows are zero-padded to a multiple of 16 floats (so the dot kernels
/// never run a scalar tail). Inputs may be f32, f64, bf16 or f16 with any strides; norms are
/// taken in double (simd/unit_row.hpp: the same bits on every SIMD tier), similarities in f32.
///
/// Zero-norm rule: a token whose features are all zero stays an all-zero row, so its cosine
/// similarity with every token (itself and other zero tokens included) is 0 and its cosine
/// distance 1. Selectors that need a seed never seed from a zero token unless all are zero.
/// Non-finite features (NaN, +-Inf) are rejected with a value_error naming token and feature.

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
#include "../simd/unit_row.hpp"
#include "../simd/widen.hpp"

namespace nnprune {

/// Buffers a token selector reuses between calls (optional: pass one to avoid reallocating).
struct token_workspace {
    std::vector<float> rows;          ///< unit rows, N x stride
    std::vector<unsigned char> zero;  ///< 1 for zero-norm tokens
    std::vector<float> dist;          ///< running minimum distances
    std::vector<std::size_t> index;   ///< per-token counters
    std::vector<double> scratch;      ///< DPP / score scratch
    std::vector<float> matrix;        ///< N x N similarities (DivPrune's Gram path only)
    /// DivPrune computes the full N x N similarity matrix once (register-blocked Gram kernel)
    /// when N * N * 4 bytes fit this budget and k >= N / 8, and otherwise runs lazy searches in O(N) extra
    /// memory. Both give the same selection bit for bit; 0 forces the O(N) path.
    std::size_t matrix_budget_bytes = std::size_t{64} << 20;
};

namespace detail {

inline constexpr std::size_t token_row_pad = 16;

/// Unit rows in a workspace: row i starts at data + i * stride, stride >= d, pad is zero.
struct unit_rows {
    const float* data = nullptr;
    std::size_t n = 0, d = 0, stride = 0;
    const unsigned char* zero = nullptr;
    std::size_t zeros = 0;  ///< number of zero-norm tokens

    [[nodiscard]] const float* row(std::size_t i) const noexcept { return data + i * stride; }
};

/// Row i's squared norm for f64 features, in simd::squared_norm's order (8 fused lane sums).
template <class T>
double double_squared_norm(const tensor_view<T, 2>& x, std::size_t i) noexcept {
    double lane[8] = {};
    for (std::size_t j = 0; j < x.extent(1); ++j) lane[j % 8] = std::fma(x(i, j), x(i, j), lane[j % 8]);
    return simd::detail::sum8_in_order(lane);
}

/// Fills ws.rows / ws.zero and checks shape and values (the features are never written; after a
/// throw the workspace holds scratch).
template <class T>
unit_rows normalize_tokens(const tensor_view<T, 2>& x, token_workspace& ws, std::string_view fn) {
    static_assert(element<T>, "token features must be float, double, bfloat16 or float16");
    const std::size_t n = x.extent(0), d = x.extent(1);
    NNPRUNE_CHECK(n > 0, shape_error, detail::str(fn, ": no tokens (features are ", n, "x", d, ")"));
    NNPRUNE_CHECK(d > 0, shape_error,
                  detail::str(fn, ": tokens have no features (d = 0, features are ", n, "x", d, ")"));
    // One pass per row, in the workspace: widen to f32 (exact for f32, bf16, f16), the squared
    // norm in double, divide. A NaN or Inf makes its row's sum non-finite; only then the slow
    // scan runs to name the first offending feature.
    const std::size_t stride = (d + token_row_pad - 1) / token_row_pad * token_row_pad;
    ws.rows.resize(n * stride);
    ws.zero.assign(n, 0);
    unit_rows u{ws.rows.data(), n, d, stride, ws.zero.data(), 0};
    const bool contiguous = x.stride(1) == 1;
    bool finite = true;
    for (std::size_t i = 0; i < n; ++i) {
        float* out = ws.rows.data() + i * stride;
        std::fill(out + d, out + stride, 0.0f);
        double ss = 0.0;
        if constexpr (std::is_same_v<std::remove_cv_t<T>, double>) {
            ss = double_squared_norm(x, i);  // f64 features: neither widened nor narrowed first
        } else {
            if (contiguous)
                simd::widen(&x(i, 0), d, out);
            else
                for (std::size_t j = 0; j < d; ++j) out[j] = to_float(x(i, j));
            ss = simd::squared_norm(out, d);
        }
        finite &= std::isfinite(ss);
        if (ss == 0.0) {
            std::fill(out, out + d, 0.0f);
            ws.zero[i] = 1;
            ++u.zeros;
            continue;
        }
        const double norm = std::sqrt(ss);
        if constexpr (std::is_same_v<std::remove_cv_t<T>, double>)
            for (std::size_t j = 0; j < d; ++j) out[j] = static_cast<float>(x(i, j) / norm);
        else
            simd::divide_by(out, d, norm);
    }
    if (!finite)  // (a finite f64 sum can still overflow to Inf: then no value is named and we go on)
        for (std::size_t i = 0; i < n; ++i)
            for (std::size_t j = 0; j < d; ++j)
                NNPRUNE_CHECK(
                    is_finite(x(i, j)), value_error,
                    detail::str(fn, ": non-finite feature ", to_double(x(i, j)), " at token ", i, ", feature ", j));
    return u;
}

}  // namespace detail
}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_FEATURES_HPP
