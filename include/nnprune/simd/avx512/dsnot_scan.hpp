#ifndef NNPRUNE_SIMD_AVX512_DSNOT_SCAN_HPP
#define NNPRUNE_SIMD_AVX512_DSNOT_SCAN_HPP

/// @file avx512/dsnot_scan.hpp
/// The AVX-512 tier of simd/dsnot_scan.hpp: 16 columns per step, the filter in float, e in two
/// vectors of 8 doubles whose lane L is column j0 + 16t + L (and + 8), so lane L sums acc[L]'s
/// columns in the scalar twin's order.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../bits.hpp"
#include "../isa.hpp"
#include "../results.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

/// First: a row's first pass (e, bad and kmin too); wlim: r.wlim rounded up to float.
template <bool First>
std::size_t dsnot_scan(const dsnot_row<float>& r, dsnot_limits lim, double* acc, float* kmin, float wlim, bool& bad,
                       dsnot_hits* out) noexcept {
    const __m512 g0 = _mm512_set1_ps(lim.grow[0]), g1 = _mm512_set1_ps(lim.grow[1]);
    const __m512 k0 = _mm512_set1_ps(lim.keep[0]), k1 = _mm512_set1_ps(lim.keep[1]);
    const __m512 wl = _mm512_set1_ps(wlim), zero = _mm512_setzero_ps();
    __m512d a = First ? _mm512_loadu_pd(acc) : _mm512_setzero_pd();
    __m512 mn = _mm512_set1_ps(kmin ? *kmin : 0.0f);
    __mmask16 badm = 0;
    std::size_t chunks = 0;
    for (std::size_t j = 0; j < r.cols; j += 64) {
        const auto cnt = static_cast<unsigned>(std::min<std::size_t>(64, r.cols - j));
        const std::uint64_t kb = load_bits(r.kept, r.base + j, cnt);
        std::uint64_t hits = 0;
        for (unsigned k = 0; k < cnt; k += 16) {
            const std::size_t c = j + k;
            const auto live = static_cast<__mmask16>(cnt - k >= 16 ? 0xffffu : (1u << (cnt - k)) - 1);
            const auto km = static_cast<__mmask16>(static_cast<__mmask16>(kb >> k) & live);
            const auto pm = static_cast<__mmask16>(~km & live);
            _mm_prefetch(reinterpret_cast<const char*>(r.w + c + 1024), _MM_HINT_T0);  // a page ahead
            const __m512 w = _mm512_maskz_loadu_ps(live, r.w + c);
            const __m512 aw = _mm512_abs_ps(w);
            if constexpr (First) {  // a masked add: acc never holds -0, so skipping a kept column = adding +0
                badm |= _mm512_mask_cmp_ps_mask(live, aw, wl, _CMP_NLT_UQ);
                const __m512d d0 = _mm512_mul_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(w)),
                                                 _mm512_maskz_loadu_pd(static_cast<__mmask8>(live), r.s + c));
                a = _mm512_mask_add_pd(a, static_cast<__mmask8>(pm), a, d0);
                const __m512d d1 =
                    _mm512_mul_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(w), 1))),
                                  _mm512_maskz_loadu_pd(static_cast<__mmask8>(live >> 8), r.s + c + 8));
                a = _mm512_mask_add_pd(a, static_cast<__mmask8>(pm >> 8), a, d1);
            }
            if (First && kmin) {
                const __mmask16 nz = _mm512_mask_cmp_ps_mask(km, aw, zero, _CMP_GT_OQ);
                mn = _mm512_mask_min_ps(mn, nz, mn, _mm512_mul_ps(aw, _mm512_maskz_loadu_ps(live, r.key + c)));
            }
            const __m512 gc = _mm512_maskz_loadu_ps(live, r.grow + c);
            const __mmask16 neg = _mm512_movepi32_mask(_mm512_castps_si512(_mm512_xor_ps(w, gc)));  // D < 0
            const __m512 gl = _mm512_mul_ps(_mm512_mask_blend_ps(neg, g0, g1), _mm512_abs_ps(gc));
            const __m512 kl = _mm512_mul_ps(_mm512_mask_blend_ps(neg, k0, k1), _mm512_maskz_loadu_ps(live, r.keep + c));
            const auto h = static_cast<unsigned>(_mm512_mask_cmp_ps_mask(pm, aw, gl, _CMP_NLT_UQ) |
                                                 _mm512_mask_cmp_ps_mask(km, aw, kl, _CMP_NGT_UQ));
            hits |= static_cast<std::uint64_t>(h) << k;
        }
        if (hits) out[chunks++] = {j, hits, kb};
    }
    if constexpr (First) {
        _mm512_storeu_pd(acc, a);
        if (kmin) *kmin = _mm512_reduce_min_ps(mn);
        bad |= badm != 0;
    }
    return chunks;
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_DSNOT_SCAN_HPP
