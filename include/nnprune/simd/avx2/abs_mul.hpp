#ifndef NNPRUNE_SIMD_AVX2_ABS_MUL_HPP
#define NNPRUNE_SIMD_AVX2_ABS_MUL_HPP

/// @file avx2/abs_mul.hpp
/// The AVX2 tier of simd/abs_mul.hpp.

#include <cmath>
#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

inline void abs_mul(const float* w, const float* s, float* out, std::size_t n) noexcept {
    const __m256 mag = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    std::size_t j = 0;
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_and_ps(_mm256_loadu_ps(w + j), mag), _mm256_loadu_ps(s + j)));
    for (; j < n; ++j) out[j] = std::fabs(w[j]) * s[j];
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_ABS_MUL_HPP
