#ifndef NNPRUNE_SIMD_AVX2_DSNOT_SCAN_HPP
#define NNPRUNE_SIMD_AVX2_DSNOT_SCAN_HPP

/// @file avx2/dsnot_scan.hpp
/// The AVX2 tier of simd/dsnot_scan.hpp: 8 columns per step, the filter in float, e in two vectors
/// of 4 doubles (columns j % 8 in 0..3 and 4..7), so lane L sums acc[L]'s columns in the scalar
/// twin's order.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../bits.hpp"
#include "../isa.hpp"
#include "../results.hpp"
#include "zero.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

/// First: a row's first pass (e, bad and kmin too); wlim: r.wlim rounded up to float.
template <bool First>
std::size_t dsnot_scan(const dsnot_row<float>& r, dsnot_limits lim, double* acc, float* kmin, float wlim, bool& bad,
                       dsnot_hits* out) noexcept {
    const __m256 g0 = _mm256_set1_ps(lim.grow[0]), g1 = _mm256_set1_ps(lim.grow[1]);
    const __m256 k0 = _mm256_set1_ps(lim.keep[0]), k1 = _mm256_set1_ps(lim.keep[1]);
    const __m256 wl = _mm256_set1_ps(wlim);
    const __m256 zero = _mm256_setzero_ps(), sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(HUGE_VALF);
    __m256d a0 = First ? _mm256_loadu_pd(acc) : _mm256_setzero_pd();
    __m256d a1 = First ? _mm256_loadu_pd(acc + 4) : _mm256_setzero_pd();
    __m256 mn = kmin ? _mm256_set1_ps(*kmin) : inf;
    unsigned badm = 0;
    std::size_t chunks = 0;
    for (std::size_t j = 0; j < r.cols; j += 64) {
        const auto cnt = static_cast<unsigned>(std::min<std::size_t>(64, r.cols - j));
        const std::uint64_t kb = load_bits(r.kept, r.base + j, cnt);
        std::uint64_t hits = 0;
        for (unsigned k = 0; k < cnt; k += 8) {
            const std::size_t c = j + k;
            const unsigned live = cnt - k >= 8 ? 0xffu : (1u << (cnt - k)) - 1;
            const unsigned km = static_cast<unsigned>(kb >> k) & live, pm = ~km & live;
            __m256 w, gc, kc, keyc;
            __m256d s0, s1;
            _mm_prefetch(reinterpret_cast<const char*>(r.w + c + 1024), _MM_HINT_T0);  // a page ahead
            if (live == 0xffu) {
                w = _mm256_loadu_ps(r.w + c);
                gc = _mm256_loadu_ps(r.grow + c);
                kc = _mm256_loadu_ps(r.keep + c);
                keyc = _mm256_loadu_ps(r.key + c);
                s0 = _mm256_loadu_pd(r.s + c);
                s1 = _mm256_loadu_pd(r.s + c + 4);
            } else {
                const __m256i lm = lanes32(live);
                w = _mm256_maskload_ps(r.w + c, lm);
                gc = _mm256_maskload_ps(r.grow + c, lm);
                kc = _mm256_maskload_ps(r.keep + c, lm);
                keyc = _mm256_maskload_ps(r.key + c, lm);
                s0 = _mm256_maskload_pd(r.s + c, lanes64(live));
                s1 = _mm256_maskload_pd(r.s + c + 4, lanes64(live >> 4));
            }
            const __m256 aw = _mm256_andnot_ps(sign, w);
            if constexpr (First) {  // +0 for a kept column, as in the scalar twin
                badm |= static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(aw, wl, _CMP_NLT_UQ))) & live;
                const __m256d d0 = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(w)), s0);
                const __m256d d1 = _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(w, 1)), s1);
                a0 = _mm256_add_pd(a0, _mm256_and_pd(d0, _mm256_castsi256_pd(lanes64(pm))));
                a1 = _mm256_add_pd(a1, _mm256_and_pd(d1, _mm256_castsi256_pd(lanes64(pm >> 4))));
            }
            if (First && kmin) {
                const __m256 ok = _mm256_and_ps(_mm256_castsi256_ps(lanes32(km)), _mm256_cmp_ps(aw, zero, _CMP_GT_OQ));
                mn = _mm256_min_ps(mn, _mm256_blendv_ps(inf, _mm256_mul_ps(aw, keyc), ok));
            }
            const __m256 neg = _mm256_xor_ps(w, gc);  // the sign bit: D < 0
            const __m256 gl = _mm256_mul_ps(_mm256_blendv_ps(g0, g1, neg), _mm256_andnot_ps(sign, gc));
            const __m256 kl = _mm256_mul_ps(_mm256_blendv_ps(k0, k1, neg), kc);
            const auto hg = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(aw, gl, _CMP_NLT_UQ)));
            const auto hk = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(aw, kl, _CMP_NGT_UQ)));
            hits |= static_cast<std::uint64_t>((hg & pm) | (hk & km)) << k;
        }
        if (hits) out[chunks++] = {j, hits, kb};
    }
    if constexpr (First) {
        _mm256_storeu_pd(acc, a0);
        _mm256_storeu_pd(acc + 4, a1);
        if (kmin) {
            alignas(32) float m[8];
            _mm256_store_ps(m, mn);
            *kmin = std::min({m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]});
        }
        bad |= badm != 0;
    }
    return chunks;
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_DSNOT_SCAN_HPP
