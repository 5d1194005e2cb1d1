#ifndef NNPRUNE_SIMD_AVX512_AXPY_HPP
#define NNPRUNE_SIMD_AVX512_AXPY_HPP

/// @file avx512/axpy.hpp
/// The AVX-512 tier of simd/axpy.hpp.

#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

inline void axpy(float a, const float* x, float* y, std::size_t n) noexcept {
    const __m512 av = _mm512_set1_ps(a);
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
        _mm512_storeu_ps(y + i + 16, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16)));
    }
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        const auto live = static_cast<__mmask16>((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(
            y + i, live, _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(live, x + i), _mm512_maskz_loadu_ps(live, y + i)));
    }
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_AXPY_HPP
