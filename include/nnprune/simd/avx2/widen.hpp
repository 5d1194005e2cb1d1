#ifndef NNPRUNE_SIMD_AVX2_WIDEN_HPP
#define NNPRUNE_SIMD_AVX2_WIDEN_HPP

/// @file avx2/widen.hpp
/// The AVX2 tier of simd/widen.hpp (the avx512 tier uses it too: widening is bound by memory).
/// bfloat16 widens by a shift; float16 by F16C's vcvtph2ps, whose Inf/NaN lanes are then rebuilt
/// as the scalar twin builds them (vcvtph2ps quiets a signalling NaN; the twin keeps its payload).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../config.hpp"
#include "../../core/element.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

/// 8 halves (bfloat16 or float16 bits) widened to float bits.
template <class T>
inline __m256 widen8(const T* p) noexcept {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    if constexpr (std::is_same_v<T, bfloat16>) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    } else {
        const __m256i u = _mm256_cvtepu16_epi32(h);
        const __m256i exp = _mm256_set1_epi32(0x7c00);
        const __m256i special = _mm256_cmpeq_epi32(_mm256_and_si256(u, exp), exp);
        const __m256i sign = _mm256_slli_epi32(_mm256_srli_epi32(u, 15), 31);
        const __m256i rebuilt = _mm256_or_si256(_mm256_or_si256(sign, _mm256_set1_epi32(0x7F800000)),
                                                _mm256_slli_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x3ff)), 13));
        return _mm256_blendv_ps(_mm256_cvtph_ps(h), _mm256_castsi256_ps(rebuilt), _mm256_castsi256_ps(special));
    }
}

/// out[j] = float(p[j]) (|float(p[j])| with Abs), j < n, for T = bfloat16 or float16.
template <bool Abs, class T>
void widen(const T* p, std::size_t n, float* out) noexcept {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    std::size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = widen8(p + j);
        if constexpr (Abs) v = _mm256_and_ps(v, magnitude);
        _mm256_storeu_ps(out + j, v);
    }
    if (j < n) {  // the tail through a zero-padded copy
        T tail[8] = {};
        float wide[8];
        std::memcpy(tail, p + j, (n - j) * sizeof(T));
        __m256 v = widen8(tail);
        if constexpr (Abs) v = _mm256_and_ps(v, magnitude);
        _mm256_storeu_ps(wide, v);
        std::memcpy(out + j, wide, (n - j) * sizeof(float));
    }
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_WIDEN_HPP
