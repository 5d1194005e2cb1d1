#ifndef NNPRUNE_SIMD_N_OF_M_HPP
#define NNPRUNE_SIMD_N_OF_M_HPP

/// @file n_of_m.hpp
/// The N:M row kernel: n contiguous f32 scores (n a multiple of m, m <= 16) in groups of m; in
/// every group the kk lowest are pruned, the lower index first among equal keys. The rank of
/// element i in its group is the number of elements it beats (i beats j when key_i > key_j, or
/// key_i == key_j and i > j); it is kept when its rank >= kk. Bits go to a bit_writer in element
/// order. The AVX-512 kernel (m in {2, 4, 8, 16}) ranks 16 lanes at once by rotating each group's
/// keys m - 1 times; reference::n_of_m_row is its scalar twin and the path for every other case.
/// Under nan_policy::reject both return `nan_found` at the first NaN without writing its block
/// (the caller then reports it); bits already pushed are the caller's to discard.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../config.hpp"
#include "../select/keys.hpp"
#include "../select/policy.hpp"
#include "bits.hpp"
#include "bracket.hpp"
#include "results.hpp"

namespace nnprune::simd {

namespace reference {

/// Scalar twin of simd::n_of_m_row (any m <= 64).
inline std::size_t n_of_m_row(const float* p, std::size_t n, std::size_t m, std::size_t kk, nan_policy np,
                              bit_writer& w) noexcept {
    std::size_t kept = 0;
    std::uint32_t key[64];
    for (std::size_t g = 0; g < n; g += m) {
        for (std::size_t i = 0; i < m; ++i) {
            if (np == nan_policy::reject && nnprune::is_nan(p[g + i])) return nan_found;
            key[i] = nnprune::detail::key_as<std::uint32_t>(p[g + i], np);
        }
        std::uint64_t bits = 0;
        for (std::size_t i = 0; i < m; ++i) {
            std::size_t rank = 0;
            for (std::size_t j = 0; j < m; ++j) rank += key[j] < key[i] || (key[j] == key[i] && j < i);
            bits |= static_cast<std::uint64_t>(rank >= kk) << i;
        }
        kept += static_cast<std::size_t>(std::popcount(bits));
        w.push(bits, static_cast<unsigned>(m));
    }
    return kept;
}

}  // namespace reference

#if NNPRUNE_SIMD_AVX512
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace avx512 {

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
            const __m512i other = _mm512_maskz_permutexvar_epi32(0xFFFF, rot[r], key);  // maskz: see simd/bracket.hpp
            const __mmask16 beats = static_cast<__mmask16>(_mm512_mask_cmplt_epu32_mask(static_cast<__mmask16>(~lower[r]), other, key) |
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

}  // namespace avx512
#  pragma GCC diagnostic pop
#endif

/**
 * @brief Writes the N:M kept bits of n contiguous f32 scores (n a multiple of m, m <= 64): in each
 * group of m the kk lowest are pruned. Returns the kept count, or nan_found (see the file comment).
 */
inline std::size_t n_of_m_row(const float* p, std::size_t n, std::size_t m, std::size_t kk, nan_policy np,
                              bit_writer& w) noexcept {
#if NNPRUNE_SIMD_AVX512
    switch (m) {
        case 2: return avx512::n_of_m_row<2>(p, n, kk, np, w);
        case 4: return avx512::n_of_m_row<4>(p, n, kk, np, w);
        case 8: return avx512::n_of_m_row<8>(p, n, kk, np, w);
        case 16: return avx512::n_of_m_row<16>(p, n, kk, np, w);
        default: break;
    }
#endif
    return reference::n_of_m_row(p, n, m, kk, np, w);
}

}  // namespace nnprune::simd

#endif  // NNPRUNE_SIMD_N_OF_M_HPP
