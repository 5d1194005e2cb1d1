#ifndef NNPRUNE_SIMD_AVX512_ADD_SQUARES_HPP
#define NNPRUNE_SIMD_AVX512_ADD_SQUARES_HPP

/// @file avx512/add_squares.hpp
/// The AVX-512 tier of simd/add_squares.hpp.

#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

inline void add_squares(const float* x, float* acc, std::size_t n) noexcept {
    std::size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        const __m512 v = _mm512_loadu_ps(x + j);
        _mm512_storeu_ps(acc + j, _mm512_fmadd_ps(v, v, _mm512_loadu_ps(acc + j)));
    }
    if (j < n) {
        const auto live = static_cast<__mmask16>((1u << (n - j)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(live, x + j);
        _mm512_mask_storeu_ps(acc + j, live, _mm512_fmadd_ps(v, v, _mm512_maskz_loadu_ps(live, acc + j)));
    }
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_ADD_SQUARES_HPP
