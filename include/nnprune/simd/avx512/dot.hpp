#ifndef NNPRUNE_SIMD_AVX512_DOT_HPP
#define NNPRUNE_SIMD_AVX512_DOT_HPP

/// @file avx512/dot.hpp
/// The AVX-512 tier of simd/dot.hpp: the 16 lane sums in one register.

#include <cstddef>

#include "../../config.hpp"
#include "../dot_order.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

/// The lane sums of acc, folded (detail::sum16).
inline float fold(__m512 acc) noexcept {
    alignas(64) float t[16];
    _mm512_store_ps(t, acc);
    return detail::sum16(t);
}

inline float dot(const float* a, const float* b, std::size_t n) noexcept {
    __m512 acc = _mm512_setzero_ps();
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
    return detail::dot_finish(fold(acc), a, b, i, n);
}

inline void dot4(const float* a, const float* const* b, std::size_t n, float* out) noexcept {
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    const float *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(a + i);
        acc0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b0 + i), acc0);
        acc1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b1 + i), acc1);
        acc2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b2 + i), acc2);
        acc3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(b3 + i), acc3);
    }
    out[0] = detail::dot_finish(fold(acc0), a, b0, i, n);
    out[1] = detail::dot_finish(fold(acc1), a, b1, i, n);
    out[2] = detail::dot_finish(fold(acc2), a, b2, i, n);
    out[3] = detail::dot_finish(fold(acc3), a, b3, i, n);
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_DOT_HPP
