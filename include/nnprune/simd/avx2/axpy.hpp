#ifndef NNPRUNE_SIMD_AVX2_AXPY_HPP
#define NNPRUNE_SIMD_AVX2_AXPY_HPP

/// @file avx2/axpy.hpp
/// The AVX2 tier of simd/axpy.hpp.

#include <cmath>
#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

inline void axpy(float a, const float* x, float* y, std::size_t n) noexcept {
    const __m256 av = _mm256_set1_ps(a);
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);  // the target region has FMA: one instruction
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_AXPY_HPP
