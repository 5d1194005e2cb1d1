#ifndef NNPRUNE_SIMD_AVX2_GEMM_HPP
#define NNPRUNE_SIMD_AVX2_GEMM_HPP

/// @file avx2/gemm.hpp
/// The AVX2 register tile of simd/gemm.hpp: 6 x 16 entries of C in 12 ymm accumulators, one
/// broadcast of packed A and two vectors of packed B per step of k (15 of the 16 registers).

#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

struct gemm_tile {
    static constexpr std::size_t MR = 6, NR = 16, W = 8;  // W: floats per vector

    /// C(r, c) = fma(ap[k * MR + r], bp[k * NR + c], C(r, c)) for k < kc in ascending k, for the
    /// full tile at c (row stride ldc).
    static void run(std::size_t kc, const float* ap, const float* bp, float* c, std::size_t ldc) noexcept {
        __m256 s[MR][2];
#pragma GCC unroll 8
        for (std::size_t r = 0; r < MR; ++r) {
            s[r][0] = _mm256_loadu_ps(c + r * ldc);
            s[r][1] = _mm256_loadu_ps(c + r * ldc + 8);
        }
        for (std::size_t k = 0; k < kc; ++k, ap += MR, bp += NR) {
            const __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
#pragma GCC unroll 8
            for (std::size_t r = 0; r < MR; ++r) {
                const __m256 av = _mm256_broadcast_ss(ap + r);
                s[r][0] = _mm256_fmadd_ps(av, b0, s[r][0]);
                s[r][1] = _mm256_fmadd_ps(av, b1, s[r][1]);
            }
        }
#pragma GCC unroll 8
        for (std::size_t r = 0; r < MR; ++r) {
            _mm256_storeu_ps(c + r * ldc, s[r][0]);
            _mm256_storeu_ps(c + r * ldc + 8, s[r][1]);
        }
    }

    /// Packs `rows` (<= width <= 8) rows of kc floats (row r at src + r * lda) times sign, transposed:
    /// dst[p * ldd + r] for r < width, rows past `rows` zero. Writes whole 8-float rows in
    /// ascending order, so with width < 8 each overhangs the next by 8 - width floats, and the
    /// last one dst[kc * ldd] onwards (the caller's slack).
    static void pack_rows(const float* src, std::ptrdiff_t lda, std::size_t rows, std::size_t kc, float sign,
                          float* dst, std::size_t ldd, std::size_t width) noexcept {
        const __m256 sv = _mm256_set1_ps(sign);
        std::size_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 r[8];
            for (std::size_t i = 0; i < 8; ++i)
                r[i] =
                    i < rows
                        ? _mm256_loadu_ps(src + static_cast<std::ptrdiff_t>(i) * lda + static_cast<std::ptrdiff_t>(p))
                        : _mm256_setzero_ps();
            __m256 t[8], u[8];
            for (int i = 0; i < 4; ++i) {
                t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            for (int i = 0; i < 2; ++i) {
                u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
                u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
                u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
                u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
            }
            __m256 o[8];  // column e + 4h from u[e] (half h) and u[4 + e]
            for (int e = 0; e < 4; ++e) {
                o[e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x20);
                o[4 + e] = _mm256_permute2f128_ps(u[e], u[4 + e], 0x31);
            }
            for (std::size_t j = 0; j < 8; ++j)
                _mm256_storeu_ps(dst + (p + j) * ldd,
                                 _mm256_mul_ps(o[j], sv));  // ascending: each store's overhang is overwritten
        }
        for (; p < kc; ++p)
            for (std::size_t i = 0; i < width; ++i)
                dst[p * ldd + i] =
                    i < rows ? sign * src[static_cast<std::ptrdiff_t>(i) * lda + static_cast<std::ptrdiff_t>(p)] : 0.0f;
    }
};

/// simd::trsm_right_lower_t on rows [0, rows / 8 * 8) of x, 8 rows per vector.
inline std::size_t trsm_right_lower_t(float* x, std::size_t ldx, std::size_t rows, std::size_t w, const float* l,
                                      std::size_t ldl) noexcept {
    const std::size_t body = rows / 8 * 8;
    for (std::size_t i = 0; i < body; i += 8)
        for (std::size_t q = 0; q < w; ++q) {
            float* xq = x + q * ldx + i;
            const __m256 v = _mm256_div_ps(_mm256_loadu_ps(xq), _mm256_set1_ps(l[q * ldl + q]));
            _mm256_storeu_ps(xq, v);
            for (std::size_t r = q + 1; r < w; ++r) {
                float* xr = x + r * ldx + i;
                _mm256_storeu_ps(xr, _mm256_fnmadd_ps(v, _mm256_set1_ps(l[r * ldl + q]), _mm256_loadu_ps(xr)));
            }
        }
    return body;
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_GEMM_HPP
