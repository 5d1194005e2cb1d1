#ifndef NNPRUNE_SIMD_AVX512_CLASSIFY_HPP
#define NNPRUNE_SIMD_AVX512_CLASSIFY_HPP

/// @file avx512/classify.hpp
/// The AVX-512 tier of simd/classify.hpp: classify (f32 scores) and resolve (u32 keys).
/// Compiled for AVX-512 whatever the TU's -m flags; the entries call it only when the tier is active.

#include <bit>
#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../../select/policy.hpp"
#include "../bits.hpp"
#include "../isa.hpp"
#include "../results.hpp"
#include "bracket.hpp"
#include "kept.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

/// Bits of `bits` moved to the set positions of `where`, in order (pdep).
inline std::uint64_t deposit(std::uint64_t bits, std::uint64_t where) noexcept { return _pdep_u64(bits, where); }

/// Classifies 16 scores: their inside / above / NaN lanes; copies the inside keys to cand + at.
inline void classify16(__m512 x, __mmask16 live, __m512i vlo, __m512i vhi, __m512i vspan, __m512i nan_key,
                       std::uint32_t* cand, std::size_t& at, __mmask16& im, __mmask16& am, __mmask16& nm) noexcept {
    const __m512i key = keys16(x, nan_key, &nm);
    im = _mm512_mask_cmple_epu32_mask(live, _mm512_sub_epi32(key, vlo), vspan);
    am = _mm512_mask_cmpgt_epu32_mask(live, key, vhi);
    nm &= live;
    _mm512_storeu_si512(cand + at, _mm512_maskz_compress_epi32(im, key));
    at += static_cast<std::size_t>(std::popcount(static_cast<unsigned>(im)));
}

inline classified classify_f32(const float* p, std::size_t n, std::uint32_t lo, std::uint32_t hi, nan_policy np,
                               std::uint32_t* cand, std::uint64_t* above, std::uint64_t* inside,
                               const float* ahead) noexcept {
    const __m512i vlo = _mm512_set1_epi32(static_cast<int>(lo));
    const __m512i vhi = _mm512_set1_epi32(static_cast<int>(hi));
    const __m512i vspan = _mm512_set1_epi32(static_cast<int>(hi - lo));
    const __m512i nan_key = _mm512_set1_epi32(np == nan_policy::as_highest ? -1 : 0);
    std::size_t at = 0, nans = 0, above_n = 0;
    std::size_t j = 0;
    for (; j + 64 <= n; j += 64) {  // whole words: four blocks of 16, masks joined with kunpack
        if (ahead) {                // the next group streams into cache while this one is classified
            const char* q = reinterpret_cast<const char*>(ahead + j);
            for (unsigned l = 0; l < 256; l += 64) _mm_prefetch(q + l, _MM_HINT_T0);
        }
        __mmask16 i0, i1, i2, i3, a0, a1, a2, a3, n0, n1, n2, n3;
        classify16(_mm512_loadu_ps(p + j), 0xFFFF, vlo, vhi, vspan, nan_key, cand, at, i0, a0, n0);
        classify16(_mm512_loadu_ps(p + j + 16), 0xFFFF, vlo, vhi, vspan, nan_key, cand, at, i1, a1, n1);
        classify16(_mm512_loadu_ps(p + j + 32), 0xFFFF, vlo, vhi, vspan, nan_key, cand, at, i2, a2, n2);
        classify16(_mm512_loadu_ps(p + j + 48), 0xFFFF, vlo, vhi, vspan, nan_key, cand, at, i3, a3, n3);
        const auto join = [](__mmask16 m0, __mmask16 m1, __mmask16 m2, __mmask16 m3) {
            return _cvtmask64_u64(_mm512_kunpackd(_mm512_kunpackw(m3, m2), _mm512_kunpackw(m1, m0)));
        };
        const std::uint64_t a = join(a0, a1, a2, a3);
        above[j >> 6] = a;
        inside[j >> 6] = join(i0, i1, i2, i3);
        above_n += static_cast<std::size_t>(std::popcount(a));
        nans += static_cast<std::size_t>(std::popcount(static_cast<unsigned>(n0 | n1 | n2 | n3)));  // any NaN shows
    }
    if (j < n) {
        std::uint64_t a = 0, in = 0;
        for (std::size_t q = 0; j + q < n; q += 16) {
            const std::size_t left = n - j - q;
            const __mmask16 live = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
            __mmask16 im, am, nm;
            classify16(_mm512_maskz_loadu_ps(live, p + j + q), live, vlo, vhi, vspan, nan_key, cand, at, im, am, nm);
            in |= static_cast<std::uint64_t>(im) << q;
            a |= static_cast<std::uint64_t>(am) << q;
            nans += static_cast<std::size_t>(std::popcount(static_cast<unsigned>(nm)));
        }
        above[j >> 6] = a;
        inside[j >> 6] = in;
        above_n += static_cast<std::size_t>(std::popcount(a));
    }
    return {n - at - above_n, at, nans};
}

inline void resolve_u32(const std::uint64_t* above, const std::uint64_t* inside, std::size_t words,
                        const std::uint32_t* cand, std::uint32_t kth, std::size_t ties, std::uint64_t* kept) noexcept {
    const __m512i vk = _mm512_set1_epi32(static_cast<int>(kth));
    std::size_t at = 0;
    for (std::size_t w = 0; w < words; ++w) {
        const std::uint64_t in = inside[w];
        const std::uint64_t a = above[w];
        if (!in) {
            kept[w] = a;
            continue;
        }
        const auto cnt = static_cast<std::size_t>(std::popcount(in));
        std::uint64_t kb = 0;
        for (std::size_t q = 0; q < cnt; q += 16) {
            const std::size_t left = cnt - q;
            const __mmask16 live = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
            const __m512i key = _mm512_maskz_loadu_epi32(live, cand + at + q);
            const __mmask16 pr = pruned16(key, live, vk, ties);
            kb |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(live & ~pr)) << q;
        }
        at += cnt;
        kept[w] = a | deposit(kb, in);
    }
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_CLASSIFY_HPP
