#ifndef NNPRUNE_SIMD_AVX512_GEMM_HPP
#define NNPRUNE_SIMD_AVX512_GEMM_HPP

/// @file avx512/gemm.hpp
/// The AVX-512 register tile of simd/gemm.hpp: 14 x 32 entries of C in 28 zmm accumulators, one
/// broadcast of packed A and two vectors of packed B per step of k (31 of the 32 registers), and
/// the packing of row-major A (16 x 16 transposes).

#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

/// The 64-bit interleaves of two float vectors (the masked intrinsics with an all-ones mask, as
/// below: GCC 12 warns about _mm512_undefined_* inside the plain ones).
inline __m512 unpacklo64(__m512 a, __m512 b) noexcept {
    return _mm512_castpd_ps(
        _mm512_mask_unpacklo_pd(_mm512_castps_pd(a), 0xFF, _mm512_castps_pd(a), _mm512_castps_pd(b)));
}

inline __m512 unpackhi64(__m512 a, __m512 b) noexcept {
    return _mm512_castpd_ps(
        _mm512_mask_unpackhi_pd(_mm512_castps_pd(a), 0xFF, _mm512_castps_pd(a), _mm512_castps_pd(b)));
}

/// _mm512_shuffle_f32x4 (through its all-ones masked form: GCC 12 warns inside the plain one).
template <int Imm>
inline __m512 shuffle128(__m512 a, __m512 b) noexcept {
    return _mm512_mask_shuffle_f32x4(a, 0xFFFF, a, b, Imm);
}

/// Transposes 16 rows of 16 floats in place: r[j] becomes column j.
inline void transpose16(__m512 (&r)[16]) noexcept {
    __m512 t[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_mask_unpacklo_ps(r[2 * i], 0xFFFF, r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_mask_unpackhi_ps(r[2 * i], 0xFFFF, r[2 * i], r[2 * i + 1]);
    }
    __m512 u[16];  // u[4i + e], lane l: element 4l + e of rows 4i .. 4i + 3
    for (int i = 0; i < 4; ++i) {
        u[4 * i] = unpacklo64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = unpackhi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = unpacklo64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = unpackhi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int e = 0; e < 4; ++e) {
        const __m512 v = shuffle128<0x88>(u[e], u[4 + e]), w = shuffle128<0xdd>(u[e], u[4 + e]);
        const __m512 v2 = shuffle128<0x88>(u[8 + e], u[12 + e]), w2 = shuffle128<0xdd>(u[8 + e], u[12 + e]);
        r[e] = shuffle128<0x88>(v, v2);
        r[8 + e] = shuffle128<0xdd>(v, v2);
        r[4 + e] = shuffle128<0x88>(w, w2);
        r[12 + e] = shuffle128<0xdd>(w, w2);
    }
}

struct gemm_tile {
    static constexpr std::size_t MR = 14, NR = 32, W = 16;  // W: floats per vector

    /// C(r, c) = fma(ap[k * MR + r], bp[k * NR + c], C(r, c)) for k < kc in ascending k, for the
    /// full tile at c (row stride ldc).
    static void run(std::size_t kc, const float* ap, const float* bp, float* c, std::size_t ldc) noexcept {
        __m512 s[MR][2];
#pragma GCC unroll 16
        for (std::size_t r = 0; r < MR; ++r) {
            s[r][0] = _mm512_loadu_ps(c + r * ldc);
            s[r][1] = _mm512_loadu_ps(c + r * ldc + 16);
        }
        for (std::size_t k = 0; k < kc; ++k, ap += MR, bp += NR) {
            const __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 16
            for (std::size_t r = 0; r < MR; ++r) {
                const __m512 av = _mm512_set1_ps(ap[r]);
                s[r][0] = _mm512_fmadd_ps(av, b0, s[r][0]);
                s[r][1] = _mm512_fmadd_ps(av, b1, s[r][1]);
            }
        }
#pragma GCC unroll 16
        for (std::size_t r = 0; r < MR; ++r) {
            _mm512_storeu_ps(c + r * ldc, s[r][0]);
            _mm512_storeu_ps(c + r * ldc + 16, s[r][1]);
        }
    }

    /// Packs `rows` (<= width <= 16) rows of kc floats (row r at src + r * lda) times sign, transposed:
    /// dst[p * ldd + r] for r < width, rows past `rows` zero. Writes whole 16-float rows in
    /// ascending order, so with width < 16 each overhangs the next by 16 - width floats, and the
    /// last one dst[kc * ldd] onwards (the caller's slack).
    static void pack_rows(const float* src, std::ptrdiff_t lda, std::size_t rows, std::size_t kc, float sign,
                          float* dst, std::size_t ldd, std::size_t width) noexcept {
        const __m512 sv = _mm512_set1_ps(sign);
        std::size_t p = 0;
        for (; p + 16 <= kc; p += 16) {
            __m512 r[16];
            for (std::size_t i = 0; i < 16; ++i)
                r[i] =
                    i < rows
                        ? _mm512_loadu_ps(src + static_cast<std::ptrdiff_t>(i) * lda + static_cast<std::ptrdiff_t>(p))
                        : _mm512_setzero_ps();
            transpose16(r);
            for (std::size_t j = 0; j < 16; ++j) _mm512_storeu_ps(dst + (p + j) * ldd, _mm512_mul_ps(r[j], sv));
        }
        for (; p < kc; ++p)
            for (std::size_t i = 0; i < width; ++i)
                dst[p * ldd + i] =
                    i < rows ? sign * src[static_cast<std::ptrdiff_t>(i) * lda + static_cast<std::ptrdiff_t>(p)] : 0.0f;
    }
};

/// simd::trsm_right_lower_t on rows [0, rows / 16 * 16) of x, 16 rows per vector.
inline std::size_t trsm_right_lower_t(float* x, std::size_t ldx, std::size_t rows, std::size_t w, const float* l,
                                      std::size_t ldl) noexcept {
    const std::size_t body = rows / 16 * 16;
    for (std::size_t i = 0; i < body; i += 16)
        for (std::size_t q = 0; q < w; ++q) {
            float* xq = x + q * ldx + i;
            const __m512 v = _mm512_div_ps(_mm512_loadu_ps(xq), _mm512_set1_ps(l[q * ldl + q]));
            _mm512_storeu_ps(xq, v);
            for (std::size_t r = q + 1; r < w; ++r) {
                float* xr = x + r * ldx + i;
                _mm512_storeu_ps(xr, _mm512_fnmadd_ps(v, _mm512_set1_ps(l[r * ldl + q]), _mm512_loadu_ps(xr)));
            }
        }
    return body;
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_GEMM_HPP
