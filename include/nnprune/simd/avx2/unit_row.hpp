#ifndef NNPRUNE_SIMD_AVX2_UNIT_ROW_HPP
#define NNPRUNE_SIMD_AVX2_UNIT_ROW_HPP

/// @file avx2/unit_row.hpp
/// The AVX2 tier of simd/unit_row.hpp (the 8 double lanes in two registers), and the lane sum
/// every tier shares.

#include <cmath>
#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace detail {
/// The 8 lane sums of a squared norm added in order (plain scalar code, shared by every tier).
[[nodiscard]] inline double sum8_in_order(const double* lane) noexcept {
    double s = lane[0];
    for (std::size_t l = 1; l < 8; ++l) s += lane[l];
    return s;
}
}  // namespace detail

#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

inline double squared_norm(const float* x, std::size_t n) noexcept {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), b = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        lo = _mm256_fmadd_pd(a, a, lo);
        hi = _mm256_fmadd_pd(b, b, hi);
    }
    alignas(32) double lane[8];
    _mm256_store_pd(lane, lo);
    _mm256_store_pd(lane + 4, hi);
    for (; i < n; ++i) {
        const double v = x[i];
        lane[i % 8] = std::fma(v, v, lane[i % 8]);
    }
    return detail::sum8_in_order(lane);
}

inline void divide_by(float* x, std::size_t n, double norm) noexcept {
    const __m256d by = _mm256_set1_pd(norm);
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(x + i, _mm256_cvtpd_ps(_mm256_div_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), by)));
    for (; i < n; ++i) x[i] = static_cast<float>(static_cast<double>(x[i]) / norm);
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_UNIT_ROW_HPP
