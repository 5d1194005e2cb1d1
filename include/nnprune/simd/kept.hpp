#ifndef NNPRUNE_SIMD_KEPT_HPP
#define NNPRUNE_SIMD_KEPT_HPP

/// @file kept.hpp
/// The mask pass: once a group's k-th key is known, write the kept bits of a run. Element j
/// (score p[j * stride], mask bit bit0 + j * step) is pruned when it competes and its key is
/// below kth, or equal to kth while `ties` (the equal keys still to prune, in index order) is
/// positive. Non-competing elements (prev bit clear) stay pruned. kth = 0 with ties = 0 prunes
/// nothing. Returns the number of kept bits written.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "../select/keys.hpp"
#include "../select/policy.hpp"
#include "bits.hpp"
#include "bracket.hpp"

namespace nnprune::simd {

/// The tie rule for one competing key, in index order: pruned when below kth, or equal to it
/// while `ties` (the equal keys still to prune, counted down here) lasts.
template <class K>
[[nodiscard]] constexpr bool prunes(K key, K kth, std::size_t& ties) noexcept {
    if (key < kth) return true;
    if (key == kth && ties > 0) {
        --ties;
        return true;
    }
    return false;
}

namespace reference {

template <class K, class T>
std::size_t write_kept(const T* p, std::size_t n, std::ptrdiff_t stride, const std::uint64_t* prev, std::size_t bit0,
                       std::size_t step, K kth, std::size_t& ties, nan_policy np, std::uint64_t* out) noexcept {
    std::size_t kept_total = 0;
    auto kept_at = [&](std::size_t j) {
        const std::size_t b = bit0 + j * step;
        if (prev && !((prev[b >> 6] >> (b & 63)) & 1u)) return false;
        return !prunes(nnprune::detail::key_as<K>(p[static_cast<std::ptrdiff_t>(j) * stride], np), kth, ties);
    };
    if (step == 1) {
        bit_writer w(out, bit0);
        for (std::size_t j = 0; j < n; j += 64) {
            const std::size_t m = n - j < 64 ? n - j : 64;
            std::uint64_t word = 0;
            for (std::size_t b = 0; b < m; ++b) word |= static_cast<std::uint64_t>(kept_at(j + b)) << b;
            kept_total += static_cast<std::size_t>(std::popcount(word));
            w.push(word, static_cast<unsigned>(m));
        }
        w.finish();
    } else {
        for (std::size_t j = 0; j < n; ++j) {
            const bool k = kept_at(j);  // reads prev before the (possibly aliased) write
            kept_total += k;
            store_bit_atomic(out, bit0 + j * step, k);
        }
    }
    return kept_total;
}

/// Scalar twin of simd::write_kept_columns.
template <class K, class T>
std::size_t write_kept_columns(const T* p, std::size_t n, std::uint32_t row, const K* kth, const std::uint32_t* lim,
                               nan_policy np, bit_writer& w) noexcept {
    std::size_t kept = 0;
    for (std::size_t c0 = 0; c0 < n; c0 += 64) {
        const std::size_t nc = n - c0 < 64 ? n - c0 : 64;
        std::uint64_t word = 0;
        for (std::size_t c = 0; c < nc; ++c) {
            const K key = nnprune::detail::key_as<K>(p[c0 + c], np);
            const K t = kth[c0 + c];
            const bool pruned = key < t || (key == t && row < lim[c0 + c]);
            word |= static_cast<std::uint64_t>(!pruned) << c;
        }
        kept += static_cast<std::size_t>(std::popcount(word));
        w.push(word, static_cast<unsigned>(nc));
    }
    return kept;
}

}  // namespace reference

#if NNPRUNE_SIMD_AVX512
// GCC 12 warns inside its own intrinsics (maskz loads) about an uninitialised __Y.
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace avx512 {

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
std::size_t write_kept_f32(const float* p, std::size_t n, const std::uint64_t* prev, std::size_t bit0, std::uint32_t kth,
                           std::size_t& ties_io, nan_policy np, std::uint64_t* out) noexcept {
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
        if (aligned) dst[j >> 6] = word;  // a whole word of this run: no neighbour shares it
        else w.push(word, 64);
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
                comp &= static_cast<__mmask16>(load_bits(prev, bit0 + j + q, left >= 16 ? 16u : static_cast<unsigned>(left)));
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
            const __m512i key = keys16(full ? _mm512_loadu_ps(p + c0 + q) : _mm512_maskz_loadu_ps(live, p + c0 + q), nan_key, &nm);
            const __m512i t = full ? _mm512_loadu_si512(kth + c0 + q) : _mm512_maskz_loadu_epi32(live, kth + c0 + q);
            const __m512i l = full ? _mm512_loadu_si512(lim + c0 + q) : _mm512_maskz_loadu_epi32(live, lim + c0 + q);
            const __mmask16 pr = static_cast<__mmask16>(_mm512_cmplt_epu32_mask(key, t) |
                                                        (_mm512_cmpeq_epu32_mask(key, t) & _mm512_cmplt_epu32_mask(vr, l)));
            word |= static_cast<std::uint64_t>(static_cast<std::uint16_t>(live & ~pr)) << q;
        }
        kept += static_cast<std::size_t>(std::popcount(word));
        w.push(word, static_cast<unsigned>(nc));
    }
    return kept;
}

#  if NNPRUNE_SIMD_AVX512_16
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
            if constexpr (Prev) comp &= static_cast<__mmask32>(load_bits(prev, bit0 + j + q, left >= 32 ? 32u : static_cast<unsigned>(left)));
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
#  endif

}  // namespace avx512
#  pragma GCC diagnostic pop
#endif

/**
 * @brief Writes the kept bits of one row of a column-wise selection: element c is pruned when its
 * key is below kth[c], or equal to it and row < lim[c] (the tie rule as a row limit). Returns the
 * number of kept bits pushed to w.
 */
template <class K, class T>
std::size_t write_kept_columns(const T* p, std::size_t n, std::uint32_t row, const K* kth, const std::uint32_t* lim,
                               nan_policy np, bit_writer& w) noexcept {
#if NNPRUNE_SIMD_AVX512
    if constexpr (std::is_same_v<K, std::uint32_t> && std::is_same_v<T, float>)
        return avx512::write_kept_columns_f32(p, n, row, kth, lim, np, w);
#endif
    return reference::write_kept_columns<K>(p, n, row, kth, lim, np, w);
}

/// Writes the kept bits of one run (see the file comment).
template <class K, class T>
std::size_t write_kept(const T* p, std::size_t n, std::ptrdiff_t stride, const std::uint64_t* prev, std::size_t bit0,
                       std::size_t step, K kth, std::size_t& ties, nan_policy np, std::uint64_t* out) noexcept {
#if NNPRUNE_SIMD_AVX512
    if constexpr (std::is_same_v<K, std::uint32_t> && std::is_same_v<T, float>) {
        if (stride == 1 && step == 1)
            return prev ? avx512::write_kept_f32<true>(p, n, prev, bit0, kth, ties, np, out)
                        : avx512::write_kept_f32<false>(p, n, prev, bit0, kth, ties, np, out);
    }
#  if NNPRUNE_SIMD_AVX512_16
    if constexpr (std::is_same_v<K, std::uint16_t> && (std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>)) {
        if (stride == 1 && step == 1)
            return prev ? avx512::write_kept16<true>(p, n, prev, bit0, kth, ties, np, out)
                        : avx512::write_kept16<false>(p, n, prev, bit0, kth, ties, np, out);
    }
#  endif
#endif
    return reference::write_kept(p, n, stride, prev, bit0, step, kth, ties, np, out);
}

}  // namespace nnprune::simd

#endif  // NNPRUNE_SIMD_KEPT_HPP
