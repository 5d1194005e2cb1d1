#ifndef NNPRUNE_SIMD_AVX512_ABS_MUL_HPP
#define NNPRUNE_SIMD_AVX512_ABS_MUL_HPP

/// @file avx512/abs_mul.hpp
/// The AVX-512 tier of simd/abs_mul.hpp.

#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

inline void abs_mul(const float* w, const float* s, float* out, std::size_t n) noexcept {
    const __m512 mag = _mm512_castsi512_ps(_mm512_set1_epi32(0x7FFFFFFF));
    std::size_t j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(out + j, _mm512_mul_ps(_mm512_and_ps(_mm512_loadu_ps(w + j), mag), _mm512_loadu_ps(s + j)));
    if (j < n) {
        const auto live = static_cast<__mmask16>((1u << (n - j)) - 1);
        const __m512 x = _mm512_maskz_loadu_ps(live, w + j), y = _mm512_maskz_loadu_ps(live, s + j);
        _mm512_mask_storeu_ps(out + j, live, _mm512_mul_ps(_mm512_and_ps(x, mag), y));
    }
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_ABS_MUL_HPP
