#ifndef NNPRUNE_SIMD_DOT_ORDER_HPP
#define NNPRUNE_SIMD_DOT_ORDER_HPP

/// @file dot_order.hpp
/// The summation order every dot-product kernel shares (see simd/dot.hpp): the fold of the 16
/// lane sums and the fused tail. Plain scalar code: each tier stores its lanes and calls these.

#include <cmath>
#include <cstddef>

#include "../config.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI::detail {

/// Lanes of a dot product's partial sums.
inline constexpr std::size_t dot_lanes = 16;

/// The 16 lane sums folded in halves (l + 8 onto l, then l + 4, l + 2, l + 1).
[[nodiscard]] inline float sum16(const float* acc) noexcept {
    float s[8];
    for (std::size_t l = 0; l < 8; ++l) s[l] = acc[l] + acc[l + 8];
    for (std::size_t l = 0; l < 4; ++l) s[l] += s[l + 4];
    for (std::size_t l = 0; l < 2; ++l) s[l] += s[l + 2];
    return s[0] + s[1];
}

/// The tail every dot kernel ends with: s = fma(a[i], b[i], s) for i in [from, n), in order.
[[nodiscard]] inline float dot_finish(float s, const float* a, const float* b, std::size_t from,
                                      std::size_t n) noexcept {
    for (std::size_t i = from; i < n; ++i) s = std::fma(a[i], b[i], s);
    return s;
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI::detail

#endif  // NNPRUNE_SIMD_DOT_ORDER_HPP
