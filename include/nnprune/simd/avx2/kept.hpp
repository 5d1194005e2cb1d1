#ifndef NNPRUNE_SIMD_AVX2_KEPT_HPP
#define NNPRUNE_SIMD_AVX2_KEPT_HPP

/// @file avx2/kept.hpp
/// The AVX2 tier of simd/kept.hpp: write_kept (f32, bf16, f16), write_kept_columns (f32) and
/// write_bits. Compiled for AVX2 whatever the TU's -m flags; the entries call it only when the
/// tier is active. Lane compares give bits through movemask; the tie rule then runs on the bits.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

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

/// The lowest t set bits of m (t < popcount(m)): the t-th set bit found by clearing, with
/// blsr, not pdep (microcoded on AMD Zen 1 and 2).
inline std::uint32_t lowest_bits(std::uint32_t m, std::size_t t) noexcept {
    std::uint32_t rest = m;
    for (std::size_t i = 0; i < t; ++i) rest &= rest - 1;
    return m & ~rest;
}

/// The pruned bits among the competing lanes `comp`, given their below-kth bits lt and equal-to-kth
/// bits eq (lane order): lt, and the first `ties` of eq (counted down).
inline std::uint32_t pruned_bits(std::uint32_t lt, std::uint32_t eq, std::uint32_t comp, std::size_t& ties) noexcept {
    std::uint32_t pr = lt & comp;
    if (ties) {
        eq &= comp;
        const auto ce = static_cast<std::size_t>(std::popcount(eq));
        if (ce <= ties) {
            pr |= eq;
            ties -= ce;
        } else {
            pr |= lowest_bits(eq, ties);
            ties = 0;
        }
    }
    return pr;
}

/// Pruned lanes (bits) of 8 competing signed keys s (comp) against the signed k-th key sk.
inline unsigned pruned8(__m256i s, unsigned comp, __m256i sk, std::size_t& ties) noexcept {
    const unsigned lt = bits8(_mm256_cmpgt_epi32(sk, s));
    if (!ties) return lt & comp;
    return pruned_bits(lt, bits8(_mm256_cmpeq_epi32(s, sk)), comp, ties);
}

template <bool Prev>
std::size_t write_kept_f32(const float* p, std::size_t n, const std::uint64_t* prev, std::size_t bit0,
                           std::uint32_t kth, std::size_t& ties_io, nan_policy np, std::uint64_t* out) noexcept {
    std::size_t ties = ties_io;  // a local: out's stores could alias the reference and force reloads
    const __m256i sk = splat32(kth ^ 0x8000'0000u);
    const __m256i nan_s = splat32(nan_skey32(np));
    std::size_t kept_total = 0;
    bit_writer w(out, bit0);
    const bool aligned = (bit0 & 63) == 0;
    std::uint64_t* dst = out + (bit0 >> 6);
    std::size_t j = 0;
    for (; j + 64 <= n; j += 64) {  // full words: plain loads, no tail masks
        std::uint64_t word = 0;
        const std::uint64_t pw = Prev ? load_bits(prev, bit0 + j, 64) : ~std::uint64_t{0};
        for (unsigned q = 0; q < 64; q += 8) {
            const unsigned comp = static_cast<unsigned>(pw >> q) & 0xFFu;
            __m256i nm;
            const __m256i s = skeys8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + j + q)), nan_s, &nm);
            word |= static_cast<std::uint64_t>(comp & ~pruned8(s, comp, sk, ties)) << q;
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
        for (std::size_t q = 0; q < m; q += 8) {
            const std::size_t left = m - q < 8 ? m - q : 8;
            unsigned comp = (1u << left) - 1;
            if constexpr (Prev)
                comp &= static_cast<unsigned>(load_bits(prev, bit0 + j + q, static_cast<unsigned>(left)));
            __m256i nm;
            const __m256i s =
                skeys8(_mm256_maskload_epi32(reinterpret_cast<const int*>(p + j + q), live32(left)), nan_s, &nm);
            word |= static_cast<std::uint64_t>(comp & ~pruned8(s, comp, sk, ties)) << q;
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
    const __m256i bias = splat32(0x8000'0000u);
    const __m256i nan_s = splat32(nan_skey32(np));
    const __m256i sr = splat32(row ^ 0x8000'0000u);
    std::size_t kept = 0;
    for (std::size_t c0 = 0; c0 < n; c0 += 64) {
        const std::size_t nc = n - c0 < 64 ? n - c0 : 64;
        std::uint64_t word = 0;
        for (std::size_t q = 0; q < nc; q += 8) {
            const std::size_t left = nc - q < 8 ? nc - q : 8;
            const bool full = left == 8;
            const __m256i live = full ? _mm256_set1_epi32(-1) : live32(left);
            __m256i nm;
            const __m256i s = skeys8(load8(p + c0 + q, full, live), nan_s, &nm);
            const __m256i t = _mm256_xor_si256(load8(kth + c0 + q, full, live), bias);
            const __m256i l = _mm256_xor_si256(load8(lim + c0 + q, full, live), bias);
            const __m256i pr = _mm256_or_si256(_mm256_cmpgt_epi32(t, s),
                                               _mm256_and_si256(_mm256_cmpeq_epi32(s, t), _mm256_cmpgt_epi32(l, sr)));
            word |= static_cast<std::uint64_t>(bits8(_mm256_andnot_si256(pr, live))) << q;
        }
        kept += static_cast<std::size_t>(std::popcount(word));
        w.push(word, static_cast<unsigned>(nc));
    }
    return kept;
}

/// write_kept_f32 for 16-bit scores (bf16 / f16), 16 lanes a block.
template <bool Prev, class T>
std::size_t write_kept16(const T* p, std::size_t n, const std::uint64_t* prev, std::size_t bit0, std::uint16_t kth,
                         std::size_t& ties_io, nan_policy np, std::uint64_t* out) noexcept {
    std::size_t ties = ties_io;  // a local, as in write_kept_f32
    const __m256i sk = splat16(static_cast<std::uint16_t>(kth ^ 0x8000));
    const __m256i nan_s = splat16(nan_skey16(np));
    const __m256i inf = splat16(inf_bits16<T>);
    std::size_t kept_total = 0;
    bit_writer w(out, bit0);
    for (std::size_t j = 0; j < n; j += 64) {
        const std::size_t m = n - j < 64 ? n - j : 64;
        const std::uint64_t pw = Prev ? load_bits(prev, bit0 + j, static_cast<unsigned>(m)) : ~std::uint64_t{0};
        std::uint64_t word = 0;
        for (std::size_t q = 0; q < m; q += 16) {
            const std::size_t left = m - q < 16 ? m - q : 16;
            const unsigned comp = static_cast<unsigned>(pw >> q) & ((1u << left) - 1);
            __m256i u;
            if (left == 16) {
                u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + j + q));
            } else {
                alignas(32) std::uint16_t tmp[16] = {};
                std::memcpy(tmp, p + j + q, left * 2);
                u = _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp));
            }
            __m256i nm;
            const __m256i s = skeys16(u, inf, nan_s, &nm);
            const unsigned lt = bits16(_mm256_cmpgt_epi16(sk, s));
            const unsigned pr = ties ? pruned_bits(lt, bits16(_mm256_cmpeq_epi16(s, sk)), comp, ties) : lt & comp;
            word |= static_cast<std::uint64_t>(comp & ~pr) << q;
        }
        kept_total += static_cast<std::size_t>(std::popcount(word));
        w.push(word, static_cast<unsigned>(m));
    }
    w.finish();
    ties_io = ties;
    return kept_total;
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_KEPT_HPP
