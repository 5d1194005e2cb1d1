#ifndef NNPRUNE_SIMD_AVX2_ADD_SQUARES_HPP
#define NNPRUNE_SIMD_AVX2_ADD_SQUARES_HPP

/// @file avx2/add_squares.hpp
/// The AVX2 tier of simd/add_squares.hpp.

#include <cmath>
#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

inline void add_squares(const float* x, float* acc, std::size_t n) noexcept {
    std::size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 v = _mm256_loadu_ps(x + j);
        _mm256_storeu_ps(acc + j, _mm256_fmadd_ps(v, v, _mm256_loadu_ps(acc + j)));
    }
    for (; j < n; ++j) acc[j] = std::fma(x[j], x[j], acc[j]);
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_ADD_SQUARES_HPP
