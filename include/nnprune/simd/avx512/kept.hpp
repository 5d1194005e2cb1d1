#ifndef NNPRUNE_SIMD_AVX512_KEPT_HPP
#define NNPRUNE_SIMD_AVX512_KEPT_HPP

/// @file avx512/kept.hpp
/// The AVX-512 tier of simd/kept.hpp: write_kept (f32, bf16, f16) and write_kept_columns (f32).
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

/// The lowest t set bits of m.
inline std::uint32_t lowest_bits(std::uint32_t m, std::size_t t) noexcept {
    std::uint32_t r = 0;
    for (std::size_t i = 0; i < t && m; ++i) {
        r |= m & (0u - m);
        m &= m - 1;
    }
    return r;
}

/// Pruned lanes of 16 competing keys (comp): below kth, or equal to kth while ties last (in lane order).
inline __mmask16 pruned16(__m512i key, __mmask16 comp, __m512i vk, std::size_t& ties) noexcept {
    __mmask16 pr = _mm512_mask_cmplt_epu32_mask(comp, key, vk);
    if (ties) {
        const __mmask16 eq = _mm512_mask_cmpeq_epu32_mask(comp, key, vk);
        if (eq) {
            const auto ce = static_cast<std::size_t>(std::popcount(static_cast<unsigned>(eq)));
            if (ce <= ties) {
                pr |= eq;
                ties -= ce;
            } else {
                pr |= static_cast<__mmask16>(lowest_bits(eq, ties));
                ties = 0;
            }
        }
    }
    return pr;
}

template <bool Prev>
std::size_t write_kept_f32(const float* p, std::size_t n, const std::uint64_t* prev, std::size_t bit0,
                           std::uint32_t kth, std::size_t& ties_io, nan_policy np, std::uint64_t* out) noexcept {
    std::size_t ties = ties_io;  // a local: out's stores could alias the reference and force reloads
    const __m512i vk = _mm512_set1_epi32(static_cast<int>(kth));
    const __m512i nan_key = _mm512_set1_epi32(np == nan_policy::as_highest ? -1 : 0);
    std::size_t kept_total = 0;
    bit_writer w(out, bit0);
    const bool aligned = (bit0 & 63) == 0;
    std::uint64_t* dst = out + (bit0 >> 6);
    std::size_t j = 0;
    // full words: plain loads, no tail masks
    for (; j + 64 <= n; j += 64) {
        std::uint64_t word = 0;
        const std::uint64_t pw = Prev ? load_bits(prev, bit0 + j, 64) : ~std::uint64_t{0};
        for (unsigned q = 0; q < 64; q += 16) {
            const auto comp = static_cast<__mmask16>(pw >> q);
            __mmask16 nm;
            const __m512i key = keys16(_mm512_loadu_ps(p + j + q), nan_key, &nm);
            const __mmask16 pr = pruned16(key, comp, vk, ties);
            word |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(comp & ~pr)) << q;
        }
        kept_total += static_cast<std::size_t>(std::popcount(word));
        if (aligned)
            dst[j >> 6] = word;  // a whole word of this run: no neighbour shares it
        else
            w.push(word, 64);
    }
    if (aligned) w = bit_writer(out, bit0 + j);
    if (j < n) {
        const std::size_t m = n - j;
        std::uint64_t word = 0;
        for (std::size_t q = 0; q < m; q += 16) {
            const std::size_t left = m - q;
            const __mmask16 live = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
            __mmask16 comp = live;
            if constexpr (Prev)
                comp &= static_cast<__mmask16>(
                    load_bits(prev, bit0 + j + q, left >= 16 ? 16u : static_cast<unsigned>(left)));
            __mmask16 nm;
            const __m512i key = keys16(_mm512_maskz_loadu_ps(live, p + j + q), nan_key, &nm);
            const __mmask16 pr = pruned16(key, comp, vk, ties);
            word |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(comp & ~pr)) << q;
        }
        kept_total += static_cast<std::size_t>(std::popcount(word));
        w.push(word, static_cast<unsigned>(m));
    }
    w.finish();
    ties_io = ties;
    return kept_total;
}

inline std::size_t write_kept_columns_f32(const float* p, std::size_t n, std::uint32_t row, const std::uint32_t* kth,
                                          const std::uint32_t* lim, nan_policy np, bit_writer& w) noexcept {
    const __m512i nan_key = _mm512_set1_epi32(np == nan_policy::as_highest ? -1 : 0);
    const __m512i vr = _mm512_set1_epi32(static_cast<int>(row));
    std::size_t kept = 0;
    for (std::size_t c0 = 0; c0 < n; c0 += 64) {
        const std::size_t nc = n - c0 < 64 ? n - c0 : 64;
        std::uint64_t word = 0;
        for (std::size_t q = 0; q < nc; q += 16) {
            const std::size_t left = nc - q;
            const __mmask16 live = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
            __mmask16 nm;
            const bool full = left >= 16;  // plain loads for whole blocks (masked loads stream slower)
            const __m512i key =
                keys16(full ? _mm512_loadu_ps(p + c0 + q) : _mm512_maskz_loadu_ps(live, p + c0 + q), nan_key, &nm);
            const __m512i t = full ? _mm512_loadu_si512(kth + c0 + q) : _mm512_maskz_loadu_epi32(live, kth + c0 + q);
            const __m512i l = full ? _mm512_loadu_si512(lim + c0 + q) : _mm512_maskz_loadu_epi32(live, lim + c0 + q);
            const __mmask16 pr = static_cast<__mmask16>(
                _mm512_cmplt_epu32_mask(key, t) | (_mm512_cmpeq_epu32_mask(key, t) & _mm512_cmplt_epu32_mask(vr, l)));
            word |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(live & ~pr)) << q;
        }
        kept += static_cast<std::size_t>(std::popcount(word));
        w.push(word, static_cast<unsigned>(nc));
    }
    return kept;
}

/// write_kept_f32 for 16-bit scores (bf16 / f16), 32 lanes at a time.
template <bool Prev, class T>
std::size_t write_kept16(const T* p, std::size_t n, const std::uint64_t* prev, std::size_t bit0, std::uint16_t kth,
                         std::size_t& ties_io, nan_policy np, std::uint64_t* out) noexcept {
    std::size_t ties = ties_io;  // a local, as in write_kept_f32
    const __m512i vk = _mm512_set1_epi16(static_cast<short>(kth));
    const __m512i nan_key = _mm512_set1_epi16(np == nan_policy::as_highest ? -1 : 0);
    const __m512i inf = _mm512_set1_epi16(static_cast<short>(inf_bits16<T>));
    std::size_t kept_total = 0;
    bit_writer w(out, bit0);
    for (std::size_t j = 0; j < n; j += 64) {
        const std::size_t m = n - j < 64 ? n - j : 64;
        std::uint64_t word = 0;
        for (std::size_t q = 0; q < m; q += 32) {
            const std::size_t left = m - q;
            const __mmask32 live = left >= 32 ? ~__mmask32(0) : static_cast<__mmask32>((1u << left) - 1);
            __mmask32 comp = live;
            if constexpr (Prev)
                comp &= static_cast<__mmask32>(
                    load_bits(prev, bit0 + j + q, left >= 32 ? 32u : static_cast<unsigned>(left)));
            __mmask32 nm;
            // plain loads for whole blocks: masked loads stream several times slower here
            const __m512i u = left >= 32 ? _mm512_loadu_si512(p + j + q) : _mm512_maskz_loadu_epi16(live, p + j + q);
            const __m512i key = keys32(u, inf, nan_key, &nm);
            auto pr = static_cast<std::uint32_t>(_mm512_mask_cmplt_epu16_mask(comp, key, vk));
            if (ties) {
                const auto eq = static_cast<std::uint32_t>(_mm512_mask_cmpeq_epu16_mask(comp, key, vk));
                const auto ce = static_cast<std::size_t>(std::popcount(eq));
                if (ce <= ties) {
                    pr |= eq;
                    ties -= ce;
                } else {
                    pr |= lowest_bits(eq, ties);
                    ties = 0;
                }
            }
            word |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(comp) & ~pr) << q;
        }
        kept_total += static_cast<std::size_t>(std::popcount(word));
        w.push(word, static_cast<unsigned>(m));
    }
    w.finish();
    ties_io = ties;
    return kept_total;
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_KEPT_HPP
