#ifndef NNPRUNE_SIMD_AVX512_N_OF_M_HPP
#define NNPRUNE_SIMD_AVX512_N_OF_M_HPP

/// @file avx512/n_of_m.hpp
/// The AVX-512 tier of simd/n_of_m.hpp: the N:M row kernel for m in {2, 4, 8, 16}.
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

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

template <unsigned M>
std::size_t n_of_m_row(const float* p, std::size_t n, std::size_t kk, nan_policy np, bit_writer& w) noexcept {
    static_assert(M >= 2 && M <= 16 && 16 % M == 0);
    __m512i rot[M - 1];
    __mmask16 lower[M - 1];  // lanes whose rotated partner has the lower index
    alignas(64) std::int32_t idx[16];
    for (unsigned r = 1; r < M; ++r) {
        unsigned lm = 0;
        for (unsigned l = 0; l < 16; ++l) {
            idx[l] = static_cast<std::int32_t>((l & ~(M - 1)) | ((l + r) & (M - 1)));
            lm |= static_cast<unsigned>((l & (M - 1)) + r >= M) << l;
        }
        rot[r - 1] = _mm512_load_si512(idx);
        lower[r - 1] = static_cast<__mmask16>(lm);
    }
    const __m512i nan_key = _mm512_set1_epi32(np == nan_policy::as_highest ? -1 : 0);
    const __m512i vkk = _mm512_set1_epi32(static_cast<int>(kk));
    const bool reject = np == nan_policy::reject;
    std::size_t kept = 0;
    auto block = [&](const float* q, __mmask16 live) -> int {
        __mmask16 nm;
        // plain loads for whole blocks: masked loads stream several times slower here
        const __m512i key = keys16(live == 0xFFFF ? _mm512_loadu_ps(q) : _mm512_maskz_loadu_ps(live, q), nan_key, &nm);
        if (reject && (nm & live)) return -1;
        __m512i rank = _mm512_setzero_si512();
        for (unsigned r = 0; r + 1 < M; ++r) {
            const __m512i other = _mm512_maskz_permutexvar_epi32(0xFFFF, rot[r], key);  // maskz: see avx512/bracket.hpp
            const __mmask16 beats =
                static_cast<__mmask16>(_mm512_mask_cmplt_epu32_mask(static_cast<__mmask16>(~lower[r]), other, key) |
                                       _mm512_mask_cmple_epu32_mask(lower[r], other, key));
            rank = count_lanes(rank, beats);
        }
        return static_cast<int>(_mm512_mask_cmpge_epu32_mask(live, rank, vkk));
    };
    std::size_t j = 0;
    for (; j + 64 <= n; j += 64) {
        std::uint64_t word = 0;
        for (unsigned q = 0; q < 64; q += 16) {
            const int b = block(p + j + q, __mmask16(0xFFFF));
            if (b < 0) return nan_found;
            word |= static_cast<std::uint64_t>(b) << q;
        }
        kept += static_cast<std::size_t>(std::popcount(word));
        w.push(word, 64);
    }
    for (; j < n; j += 16) {
        const std::size_t left = n - j < 16 ? n - j : 16;
        const int b = block(p + j, static_cast<__mmask16>((1u << left) - 1));
        if (b < 0) return nan_found;
        kept += static_cast<std::size_t>(std::popcount(static_cast<unsigned>(b)));
        w.push(static_cast<std::uint64_t>(b), static_cast<unsigned>(left));
    }
    return kept;
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_N_OF_M_HPP
