#ifndef NNPRUNE_SIMD_AVX512_UNIT_ROW_HPP
#define NNPRUNE_SIMD_AVX512_UNIT_ROW_HPP

/// @file avx512/unit_row.hpp
/// The AVX-512 tier of simd/unit_row.hpp (the 8 double lanes in one register).

#include <cstddef>

#include "../../config.hpp"
#include "../avx2/unit_row.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

inline double squared_norm(const float* x, std::size_t n) noexcept {
    __m512d acc = _mm512_setzero_pd();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(x + i));
        acc = _mm512_fmadd_pd(v, v, acc);
    }
    if (i < n) {  // absent lanes load 0: fma(0, 0, lane) leaves a lane (>= +0) as it is
        const auto live = static_cast<__mmask8>((1u << (n - i)) - 1);
        const __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(live, x + i));
        acc = _mm512_fmadd_pd(v, v, acc);
    }
    alignas(64) double lane[8];
    _mm512_store_pd(lane, acc);
    return detail::sum8_in_order(lane);
}

inline void divide_by(float* x, std::size_t n, double norm) noexcept {
    const __m512d by = _mm512_set1_pd(norm);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm512_cvtpd_ps(_mm512_div_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + i)), by)));
    if (i < n) {
        const auto live = static_cast<__mmask8>((1u << (n - i)) - 1);
        const __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(live, x + i));
        _mm256_mask_storeu_ps(x + i, live, _mm512_cvtpd_ps(_mm512_div_pd(v, by)));
    }
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_UNIT_ROW_HPP
