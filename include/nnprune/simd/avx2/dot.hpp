#ifndef NNPRUNE_SIMD_AVX2_DOT_HPP
#define NNPRUNE_SIMD_AVX2_DOT_HPP

/// @file avx2/dot.hpp
/// The AVX2 tier of simd/dot.hpp: the 16 lane sums in two registers (lanes 0-7 and 8-15).

#include <cstddef>

#include "../../config.hpp"
#include "../dot_order.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

/// The lane sums of (lo, hi), folded (detail::sum16).
inline float fold(__m256 lo, __m256 hi) noexcept {
    alignas(32) float t[16];
    _mm256_store_ps(t, lo);
    _mm256_store_ps(t + 8, hi);
    return detail::sum16(t);
}

inline float dot(const float* a, const float* b, std::size_t n) noexcept {
    __m256 lo = _mm256_setzero_ps(), hi = lo;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), hi);
    }
    return detail::dot_finish(fold(lo, hi), a, b, i, n);
}

inline void dot4(const float* a, const float* const* b, std::size_t n, float* out) noexcept {
    __m256 lo[4], hi[4];
    for (std::size_t c = 0; c < 4; ++c) lo[c] = hi[c] = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 x0 = _mm256_loadu_ps(a + i), x1 = _mm256_loadu_ps(a + i + 8);
        for (std::size_t c = 0; c < 4; ++c) {
            lo[c] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(b[c] + i), lo[c]);
            hi[c] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(b[c] + i + 8), hi[c]);
        }
    }
    for (std::size_t c = 0; c < 4; ++c) out[c] = detail::dot_finish(fold(lo[c], hi[c]), a, b[c], i, n);
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_DOT_HPP
