#ifndef NNPRUNE_SIMD_AVX2_N_OF_M_HPP
#define NNPRUNE_SIMD_AVX2_N_OF_M_HPP

/// @file avx2/n_of_m.hpp
/// The AVX2 tier of simd/n_of_m.hpp: the N:M row kernel for m in {2, 4, 8, 16}. Compiled for
/// AVX2 whatever the TU's -m flags; the entries call it only when the tier is active. Groups of
/// up to 8 rank within one vector of 8 keys by rotating it m - 1 times; a group of 16 spans two
/// vectors, each ranked within itself and then against the 8 rotations of the other.

#include <bit>
#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../../select/policy.hpp"
#include "../bits.hpp"
#include "../isa.hpp"
#include "../results.hpp"
#include "bracket.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

/// Lanes of key that beat the lanes of other (i beats j: key_i > key_j, or equal and i > j; low:
/// the lanes whose partner in other has the lower index).
inline __m256i beats8(__m256i key, __m256i other, __m256i low) noexcept {
    return _mm256_or_si256(_mm256_cmpgt_epi32(key, other), _mm256_and_si256(_mm256_cmpeq_epi32(key, other), low));
}

/// Signed keys of the `left` (<= 8 counted) scores at q; sets nan when a live one is NaN.
inline __m256i n_of_m_keys(const float* q, std::size_t left, __m256i nan_s, bool& nan) noexcept {
    __m256i nm;
    const __m256i live = left >= 8 ? _mm256_set1_epi32(-1) : live32(left);
    const __m256i u = left >= 8 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))
                                : _mm256_maskload_epi32(reinterpret_cast<const int*>(q), live);
    const __m256i s = skeys8(u, nan_s, &nm);
    nan = nan || !_mm256_testz_si256(nm, live);
    return s;
}

/// Ranks of 8 keys within their groups of G (rot, lower: see n_of_m_row).
template <unsigned G>
inline __m256i rank_in8(__m256i key, const __m256i* rot, const __m256i* lower) noexcept {
    __m256i rank = _mm256_setzero_si256();
    for (unsigned r = 1; r < G; ++r)
        rank = _mm256_sub_epi32(rank, beats8(key, _mm256_permutevar8x32_epi32(key, rot[r]), lower[r]));
    return rank;
}

template <unsigned M>
std::size_t n_of_m_row(const float* p, std::size_t n, std::size_t kk, nan_policy np, bit_writer& w) noexcept {
    static_assert(M >= 2 && M <= 16 && 16 % M == 0);
    constexpr unsigned G = M < 8 ? M : 8;  // the group size within one vector
    __m256i rot[8];    // rot[r]: lane l takes lane (l & ~(G-1)) | ((l + r) & (G-1)); rot[0] is identity
    __m256i lower[8];  // lanes whose rotated partner has the lower index (within the vector's group)
    for (unsigned r = 0; r < 8; ++r) {
        alignas(32) std::int32_t idx[8], lm[8];
        for (unsigned l = 0; l < 8; ++l) {
            const unsigned g = r < G ? r : 0;
            idx[l] = static_cast<std::int32_t>((l & ~(G - 1)) | ((l + (M == 16 ? r : g)) & (M == 16 ? 7 : G - 1)));
            lm[l] = (l & (G - 1)) + g >= G ? -1 : 0;
        }
        rot[r] = _mm256_load_si256(reinterpret_cast<const __m256i*>(idx));
        lower[r] = _mm256_load_si256(reinterpret_cast<const __m256i*>(lm));
    }
    const __m256i nan_s = splat32(nan_skey32(np));
    const bool reject = np == nan_policy::reject;
    const __m256i vkk = _mm256_set1_epi32(static_cast<int>(kk) - 1);  // rank >= kk: rank > kk - 1
    // kept bits of the (up to) 16 elements at q, left of them real; -1 on a NaN under reject
    auto block = [&](const float* q, std::size_t left) -> int {
        bool nan = false;
        const __m256i a = n_of_m_keys(q, left, nan_s, nan);
        __m256i ra = rank_in8<G>(a, rot, lower);
        unsigned bits;
        if constexpr (M == 16) {
            const __m256i b = n_of_m_keys(q + 8, left > 8 ? left - 8 : 0, nan_s, nan);
            if (reject && nan) return -1;
            __m256i rb = rank_in8<G>(b, rot, lower);
            for (unsigned r = 0; r < 8; ++r) {  // a's lanes all precede b's
                ra = _mm256_sub_epi32(ra, _mm256_cmpgt_epi32(a, _mm256_permutevar8x32_epi32(b, rot[r])));
                const __m256i ar = _mm256_permutevar8x32_epi32(a, rot[r]);
                rb = _mm256_sub_epi32(rb, _mm256_or_si256(_mm256_cmpgt_epi32(b, ar), _mm256_cmpeq_epi32(b, ar)));
            }
            bits = bits8(_mm256_cmpgt_epi32(ra, vkk)) | bits8(_mm256_cmpgt_epi32(rb, vkk)) << 8;
        } else {
            if (reject && nan) return -1;
            bits = bits8(_mm256_cmpgt_epi32(ra, vkk));
            if (left > 8) {
                const __m256i b = n_of_m_keys(q + 8, left - 8, nan_s, nan);
                if (reject && nan) return -1;
                bits |= bits8(_mm256_cmpgt_epi32(rank_in8<G>(b, rot, lower), vkk)) << 8;
            }
        }
        return static_cast<int>(bits & ((1u << (left < 16 ? left : 16)) - 1));
    };
    std::size_t kept = 0;
    std::size_t j = 0;
    for (; j + 64 <= n; j += 64) {
        std::uint64_t word = 0;
        for (unsigned q = 0; q < 64; q += 16) {
            const int b = block(p + j + q, 16);
            if (b < 0) return nan_found;
            word |= static_cast<std::uint64_t>(b) << q;
        }
        kept += static_cast<std::size_t>(std::popcount(word));
        w.push(word, 64);
    }
    for (; j < n; j += 16) {
        const std::size_t left = n - j < 16 ? n - j : 16;
        const int b = block(p + j, left);
        if (b < 0) return nan_found;
        kept += static_cast<std::size_t>(std::popcount(static_cast<unsigned>(b)));
        w.push(static_cast<std::uint64_t>(b), static_cast<unsigned>(left));
    }
    return kept;
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_N_OF_M_HPP
