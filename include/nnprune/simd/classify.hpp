#ifndef NNPRUNE_SIMD_CLASSIFY_HPP
#define NNPRUNE_SIMD_CLASSIFY_HPP

/// @file classify.hpp
/// Selection and mask in one read of a contiguous group. classify() keys the scores against a
/// bracket [lo, hi] that holds the k-th key: it marks, per 64-element word, the elements above hi
/// (kept whatever the k-th turns out to be) and those inside the bracket, and copies the inside
/// keys in index order to a candidate buffer. Once the k-th key is found among the candidates,
/// resolve() turns each word's inside bits into kept bits from the candidates alone, so the
/// scores are never read a second time. reference:: holds the scalar twins.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "../select/keys.hpp"
#include "../select/policy.hpp"
#include "bracket.hpp"
#include "kept.hpp"

namespace nnprune::simd {

namespace reference {

/// Scalar twin of simd::classify.
template <class K, class T>
classified classify(const T* p, std::size_t n, K lo, K hi, nan_policy np, K* cand, std::uint64_t* above,
                    std::uint64_t* inside, const T* ahead = nullptr) noexcept {
    (void)ahead;
    classified c;
    const K span = static_cast<K>(hi - lo);
    for (std::size_t j = 0; j < n; j += 64) {
        const std::size_t m = n - j < 64 ? n - j : 64;
        std::uint64_t a = 0, in = 0;
        for (std::size_t b = 0; b < m; ++b) {
            c.nans += nnprune::detail::is_nan_score(p[j + b]);
            const K key = nnprune::detail::key_as<K>(p[j + b], np);
            if (key < lo) {
                ++c.below;
            } else if (static_cast<K>(key - lo) <= span) {
                in |= std::uint64_t{1} << b;
                cand[c.inside++] = key;
            } else {
                a |= std::uint64_t{1} << b;
            }
        }
        above[j >> 6] = a;
        inside[j >> 6] = in;
    }
    return c;
}

/// Scalar twin of simd::resolve.
template <class K>
void resolve(const std::uint64_t* above, const std::uint64_t* inside, std::size_t words, const K* cand, K kth,
             std::size_t ties, std::uint64_t* kept) noexcept {
    std::size_t at = 0;
    for (std::size_t w = 0; w < words; ++w) {
        std::uint64_t word = above[w];
        for (std::uint64_t in = inside[w]; in; in &= in - 1)
            if (!prunes(cand[at++], kth, ties)) word |= in & (0 - in);
        kept[w] = word;
    }
}

}  // namespace reference

#if NNPRUNE_SIMD_AVX512
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace avx512 {

/// Bits of `bits` moved to the set positions of `where`, in order (pdep).
inline std::uint64_t deposit(std::uint64_t bits, std::uint64_t where) noexcept {
#  ifdef __BMI2__
    return _pdep_u64(bits, where);
#  else
    std::uint64_t r = 0;
    for (; where; where &= where - 1, bits >>= 1)
        if (bits & 1u) r |= where & (0 - where);
    return r;
#  endif
}

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
        if (ahead) {  // the next group streams into cache while this one is classified
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

}  // namespace avx512
#  pragma GCC diagnostic pop
#endif

/**
 * @brief Classifies n contiguous scores (see the file comment) into above / inside words
 * (ceil(n / 64) each; the bits past n are zero) and the candidate keys (n + 16 slots). `ahead`,
 * when given, is prefetched (n elements) as the next group to classify.
 */
template <class K, class T>
classified classify(const T* p, std::size_t n, K lo, K hi, nan_policy np, K* cand, std::uint64_t* above,
                    std::uint64_t* inside, const T* ahead = nullptr) noexcept {
#if NNPRUNE_SIMD_AVX512
    if constexpr (std::is_same_v<K, std::uint32_t> && std::is_same_v<T, float>)
        return avx512::classify_f32(p, n, lo, hi, np, cand, above, inside, ahead);
#endif
    return reference::classify<K>(p, n, lo, hi, np, cand, above, inside, ahead);
}

/**
 * @brief The kept words of a classified group whose k-th key is kth: the above bits, plus the
 * inside elements whose candidate key is above kth, or equal to it once `ties` equal keys (the
 * first in index order) have been pruned. kept may alias above.
 */
template <class K>
void resolve(const std::uint64_t* above, const std::uint64_t* inside, std::size_t words, const K* cand, K kth,
             std::size_t ties, std::uint64_t* kept) noexcept {
#if NNPRUNE_SIMD_AVX512
    if constexpr (std::is_same_v<K, std::uint32_t>) return avx512::resolve_u32(above, inside, words, cand, kth, ties, kept);
#endif
    reference::resolve<K>(above, inside, words, cand, kth, ties, kept);
}

}  // namespace nnprune::simd

#endif  // NNPRUNE_SIMD_CLASSIFY_HPP
