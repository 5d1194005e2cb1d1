#ifndef NNPRUNE_TOKENS_FEATURES_HPP
#define NNPRUNE_TOKENS_FEATURES_HPP

/// @file features.hpp
/// Token features [N, d] as unit rows: every row divided once by its Euclidean norm into a
/// reused f32 buffer whose rows are zero-padded to a multiple of 16 floats (so the dot kernels
/// never run a scalar tail). Inputs may be f32, f64, bf16 or f16 with any strides; norms are
/// taken in double, similarities in f32.
///
/// Zero-norm rule: a token whose features are all zero stays an all-zero row, so its cosine
/// similarity with every token (itself and other zero tokens included) is 0 and its cosine
/// distance 1. Selectors that need a seed never seed from a zero token unless all are zero.
/// Non-finite features (NaN, +-Inf) are rejected with a value_error naming token and feature.

#include <cmath>
#include <cstddef>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../core/errors.hpp"
#include "../core/tensor_view.hpp"

namespace nnprune {

/// Buffers a token selector reuses between calls (optional: pass one to avoid reallocating).
struct token_workspace {
    std::vector<float> rows;            ///< unit rows, N x stride
    std::vector<unsigned char> zero;    ///< 1 for zero-norm tokens
    std::vector<float> dist;            ///< running minimum distances
    std::vector<std::size_t> index;     ///< per-token counters
    std::vector<double> scratch;        ///< DPP / score scratch
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

/// Checks shape and values (nothing is written when it throws), then fills ws.rows / ws.zero.
template <class T>
unit_rows normalize_tokens(const tensor_view<T, 2>& x, token_workspace& ws, std::string_view fn) {
    static_assert(element<T>, "token features must be float, double, bfloat16 or float16");
    const std::size_t n = x.extent(0), d = x.extent(1);
    NNPRUNE_CHECK(n > 0, shape_error, detail::str(fn, ": no tokens (features are ", n, "x", d, ")"));
    NNPRUNE_CHECK(d > 0, shape_error, detail::str(fn, ": tokens have no features (d = 0, features are ", n, "x", d, ")"));
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j)
            NNPRUNE_CHECK(is_finite(x(i, j)), value_error,
                          detail::str(fn, ": non-finite feature ", to_double(x(i, j)), " at token ", i, ", feature ", j));
    const std::size_t stride = (d + token_row_pad - 1) / token_row_pad * token_row_pad;
    ws.rows.assign(n * stride, 0.0f);
    ws.zero.assign(n, 0);
    unit_rows u{ws.rows.data(), n, d, stride, ws.zero.data(), 0};
    for (std::size_t i = 0; i < n; ++i) {
        double ss = 0.0;
        for (std::size_t j = 0; j < d; ++j) {
            const double v = to_double(x(i, j));
            ss += v * v;
        }
        float* out = ws.rows.data() + i * stride;
        if (ss == 0.0) {
            ws.zero[i] = 1;
            ++u.zeros;
            continue;
        }
        const double norm = std::sqrt(ss);
        for (std::size_t j = 0; j < d; ++j) out[j] = static_cast<float>(to_double(x(i, j)) / norm);
    }
    return u;
}

}  // namespace detail
}  // namespace nnprune

#endif  // NNPRUNE_TOKENS_FEATURES_HPP
