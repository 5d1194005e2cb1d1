#ifndef NNPRUNE_SIMD_AVX512_BRACKET_HPP
#define NNPRUNE_SIMD_AVX512_BRACKET_HPP

/// @file avx512/bracket.hpp
/// The AVX-512 tier of simd/bracket.hpp: bracket, to_keys and sample_keys (f32 scores or u32 keys;
/// bf16/f16 scores or u16 keys with VBMI2). Compiled for AVX-512 whatever the TU's -m flags; the
/// entries call it only when the tier is active.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../../config.hpp"
#include "../../core/element.hpp"
#include "../../select/policy.hpp"
#include "../bits.hpp"
#include "../isa.hpp"
#include "../results.hpp"
#include "../sample_offset.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

// GCC 12's unmasked srai/min/max/permutexvar pass _mm512_undefined_epi32() and raise
// -Wuninitialized wherever they are inlined (the region's pragma cannot reach that), so the kernels
// use the maskz forms with a full mask.

/// Order keys of 16 floats (NaN -> nan_key; the NaN lanes in *nan_mask).
inline __m512i keys16(__m512 x, __m512i nan_key, __mmask16* nan_mask) noexcept {
    *nan_mask = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    x = _mm512_add_ps(x, _mm512_setzero_ps());  // -0 -> +0
    const __m512i u = _mm512_castps_si512(x);
    const __m512i s = _mm512_maskz_srai_epi32(0xFFFF, u, 31);  // maskz: see the note at the top
    const __m512i k = _mm512_xor_si512(u, _mm512_or_si512(s, _mm512_set1_epi32(static_cast<int>(0x80000000u))));
    return _mm512_mask_mov_epi32(k, *nan_mask, nan_key);
}

/// Keys of 16 scores (or 16 keys), with the NaN lanes in *nm (scores only).
template <bool Keys, class T>
inline __m512i load_keys(const T* p, __mmask16 live, bool full, __m512i nan_key, __mmask16* nm) noexcept {
    if constexpr (Keys) {
        *nm = 0;
        return full ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi32(live, p);
    } else {
        return keys16(full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(live, p), nan_key, nm);
    }
}

/// Adds 1 to the lanes of acc selected by m.
inline __m512i count_lanes(__m512i acc, __mmask16 m) noexcept {
    return _mm512_mask_sub_epi32(acc, m, acc, _mm512_set1_epi32(-1));
}

// Horizontal reductions through memory (GCC 12 warns falsely inside its extract intrinsics).
inline std::size_t lane_sum(__m512i acc) noexcept {
    alignas(64) std::uint32_t a[16];
    _mm512_store_si512(a, acc);
    std::size_t s = 0;
    for (auto x : a) s += x;
    return s;
}

inline std::uint32_t lane_min(__m512i v) noexcept {
    alignas(64) std::uint32_t a[16];
    _mm512_store_si512(a, v);
    std::uint32_t m = a[0];
    for (auto x : a) m = x < m ? x : m;
    return m;
}

inline std::uint32_t lane_max(__m512i v) noexcept {
    alignas(64) std::uint32_t a[16];
    _mm512_store_si512(a, v);
    std::uint32_t m = a[0];
    for (auto x : a) m = x > m ? x : m;
    return m;
}

/// Streaming pass: full blocks of 16 use plain loads and per-lane vector counters (no per-element
/// branch, no scalar popcount chain except the candidate cursor); the candidate store is
/// unconditional while a whole chunk fits in the buffer, checked otherwise.
template <bool Keys, bool Prev, class T>
void bracket_avx512(const T* p, std::size_t n, const std::uint64_t* prev, std::size_t bit0, std::uint32_t lo,
                    std::uint32_t hi, nan_policy np, std::uint32_t* out, std::size_t& pos, std::size_t cap,
                    bracket_counts& c) noexcept {
    const __m512i vlo = _mm512_set1_epi32(static_cast<int>(lo));
    const __m512i vspan = _mm512_set1_epi32(static_cast<int>(hi - lo));
    const __m512i nan_key = _mm512_set1_epi32(np == nan_policy::as_highest ? -1 : 0);
    constexpr std::size_t chunk = std::size_t{1} << 16;  // per-lane counters stay far below 2^32
    std::size_t at = pos, inside = 0, below = 0, nans = 0;
    for (std::size_t c0 = 0; c0 < n; c0 += chunk) {
        const std::size_t c1 = n - c0 < chunk ? n : c0 + chunk;
        __m512i vb = _mm512_setzero_si512(), vn = _mm512_setzero_si512();
        const bool room = cap >= at && cap - at >= c1 - c0;
        auto block = [&](std::size_t j, __mmask16 live, bool full, bool checked) {
            __mmask16 comp = live;
            if constexpr (Prev)
                comp &= static_cast<__mmask16>(load_bits(prev, bit0 + j, full ? 16u : static_cast<unsigned>(c1 - j)));
            __mmask16 nm;
            const __m512i key = load_keys<Keys>(p + j, live, full, nan_key, &nm);
            if constexpr (!Keys) vn = count_lanes(vn, static_cast<__mmask16>(nm & comp));
            const __mmask16 lt =
                Prev || !full ? _mm512_mask_cmplt_epu32_mask(comp, key, vlo) : _mm512_cmplt_epu32_mask(key, vlo);
            vb = count_lanes(vb, lt);
            const __mmask16 in = Prev || !full ? _mm512_mask_cmple_epu32_mask(comp, _mm512_sub_epi32(key, vlo), vspan)
                                               : _mm512_cmple_epu32_mask(_mm512_sub_epi32(key, vlo), vspan);
            const auto cnt = static_cast<std::size_t>(std::popcount(static_cast<unsigned>(in)));
            if (!checked) {
                _mm512_storeu_si512(out + at, _mm512_maskz_compress_epi32(in, key));
                at += cnt;
            } else {
                if (at < cap) {
                    _mm512_storeu_si512(out + at, _mm512_maskz_compress_epi32(in, key));
                    at = at + cnt > cap ? cap : at + cnt;
                }
                inside += cnt;
            }
        };
        const std::size_t at0 = at;
        std::size_t j = c0;
        if (room) {
            for (; j + 16 <= c1; j += 16) block(j, __mmask16(0xFFFF), true, false);
            if (j < c1) block(j, static_cast<__mmask16>((1u << (c1 - j)) - 1), false, false);
            inside += at - at0;
        } else {
            for (; j + 16 <= c1; j += 16) block(j, __mmask16(0xFFFF), true, true);
            if (j < c1) block(j, static_cast<__mmask16>((1u << (c1 - j)) - 1), false, true);
        }
        below += lane_sum(vb);
        nans += lane_sum(vn);
    }
    pos = at;
    c.below += below;
    c.inside += inside;
    c.nans += nans;
}

/// Largest non-NaN magnitude bits of a 16-bit score type (bf16: 0x7F80, f16: 0x7C00 = Inf).
template <class T>
inline constexpr std::uint16_t inf_bits16 = std::is_same_v<T, bfloat16> ? 0x7F80 : 0x7C00;

/// Order keys of 32 bf16/f16 scores (bits in u; NaN -> nan_key, the NaN lanes in *nan_mask).
inline __m512i keys32(__m512i u, __m512i inf, __m512i nan_key, __mmask32* nan_mask) noexcept {
    const __m512i mag = _mm512_and_si512(u, _mm512_set1_epi16(0x7FFF));
    *nan_mask = _mm512_cmpgt_epu16_mask(mag, inf);
    u = _mm512_maskz_mov_epi16(_mm512_cmpneq_epi16_mask(mag, _mm512_setzero_si512()), u);  // -0 -> +0
    const __m512i sgn = _mm512_maskz_srai_epi16(0xFFFFFFFFu, u, 15);
    const __m512i k = _mm512_xor_si512(u, _mm512_or_si512(sgn, _mm512_set1_epi16(static_cast<short>(0x8000))));
    return _mm512_mask_mov_epi16(k, *nan_mask, nan_key);
}

inline std::size_t to_keys_f32(const float* p, std::size_t n, nan_policy np, std::uint32_t* out, std::uint32_t& kmin,
                               std::uint32_t& kmax) noexcept {
    const __m512i nan_key = _mm512_set1_epi32(np == nan_policy::as_highest ? -1 : 0);
    __m512i vn = _mm512_setzero_si512(), vmin = _mm512_set1_epi32(-1), vmax = _mm512_setzero_si512();
    std::size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __mmask16 nm;
        const __m512i k = keys16(_mm512_loadu_ps(p + j), nan_key, &nm);
        _mm512_storeu_si512(out + j, k);
        vn = count_lanes(vn, nm);
        vmin = _mm512_maskz_min_epu32(0xFFFF, vmin, k);
        vmax = _mm512_maskz_max_epu32(0xFFFF, vmax, k);
    }
    if (j < n) {
        const auto live = static_cast<__mmask16>((1u << (n - j)) - 1);
        __mmask16 nm;
        const __m512i k = keys16(_mm512_maskz_loadu_ps(live, p + j), nan_key, &nm);
        _mm512_mask_storeu_epi32(out + j, live, k);
        vn = count_lanes(vn, static_cast<__mmask16>(nm & live));
        vmin = _mm512_mask_min_epu32(vmin, live, vmin, k);
        vmax = _mm512_mask_max_epu32(vmax, live, vmax, k);
    }
    kmin = lane_min(vmin);
    kmax = lane_max(vmax);
    return lane_sum(vn);
}

inline void sample_keys_f32(const float* p, std::size_t blocks, std::size_t spacing, nan_policy np, std::uint32_t* out,
                            std::uint32_t& kmin, std::uint32_t& kmax) noexcept {
    const __m512i nan_key = _mm512_set1_epi32(np == nan_policy::as_highest ? -1 : 0);
    __m512i vmin = _mm512_set1_epi32(-1), vmax = _mm512_setzero_si512();
    for (std::size_t i = 0; i < blocks; ++i) {
        const float* q = p + sample_offset(i, static_cast<double>(spacing), 16);
        __mmask16 nm;
        const __m512i k = keys16(_mm512_loadu_ps(q), nan_key, &nm);
        _mm512_storeu_si512(out + 16 * i, k);
        vmin = _mm512_maskz_min_epu32(0xFFFF, vmin, k);
        vmax = _mm512_maskz_max_epu32(0xFFFF, vmax, k);
    }
    kmin = lane_min(vmin);
    kmax = lane_max(vmax);
}

NNPRUNE_AVX512_END

// vpcompressw: AVX-512 VBMI2 (callers check cpu_has_avx512_vbmi2()).
NNPRUNE_AVX512_VBMI2_BEGIN

/// bracket_avx512 for 16-bit scores (T bfloat16 / float16) or 16-bit keys (T std::uint16_t).
template <bool Prev, class T>
void bracket16_avx512(const T* p, std::size_t n, const std::uint64_t* prev, std::size_t bit0, std::uint16_t lo,
                      std::uint16_t hi, nan_policy np, std::uint16_t* out, std::size_t& pos, std::size_t cap,
                      bracket_counts& c) noexcept {
    constexpr bool keys = std::is_same_v<T, std::uint16_t>;
    const __m512i vlo = _mm512_set1_epi16(static_cast<short>(lo));
    const __m512i vspan = _mm512_set1_epi16(static_cast<short>(static_cast<std::uint16_t>(hi - lo)));
    const __m512i nan_key = _mm512_set1_epi16(np == nan_policy::as_highest ? -1 : 0);
    __m512i inf = _mm512_setzero_si512();
    if constexpr (!keys) inf = _mm512_set1_epi16(static_cast<short>(inf_bits16<T>));
    std::size_t at = pos, inside = 0, below = 0, nans = 0;
    for (std::size_t j = 0; j < n; j += 32) {
        const std::size_t left = n - j;
        const __mmask32 live = left >= 32 ? ~__mmask32(0) : static_cast<__mmask32>((1u << left) - 1);
        __mmask32 comp = live;
        if constexpr (Prev)
            comp &= static_cast<__mmask32>(load_bits(prev, bit0 + j, left >= 32 ? 32u : static_cast<unsigned>(left)));
        const __m512i u = left >= 32 ? _mm512_loadu_si512(p + j) : _mm512_maskz_loadu_epi16(live, p + j);
        __mmask32 nm = 0;
        __m512i key = u;
        if constexpr (!keys) key = keys32(u, inf, nan_key, &nm);
        nans += static_cast<std::size_t>(std::popcount(static_cast<std::uint32_t>(nm & comp)));
        below += static_cast<std::size_t>(
            std::popcount(static_cast<std::uint32_t>(_mm512_mask_cmplt_epu16_mask(comp, key, vlo))));
        const __mmask32 in = _mm512_mask_cmple_epu16_mask(comp, _mm512_sub_epi16(key, vlo), vspan);
        const auto cnt = static_cast<std::size_t>(std::popcount(static_cast<std::uint32_t>(in)));
        inside += cnt;
        if (at + 32 <= cap) {
            _mm512_storeu_si512(out + at, _mm512_maskz_compress_epi16(in, key));
            at += cnt;
        } else if (at < cap) {  // the last slots: store what fits
            alignas(64) std::uint16_t tmp[32];
            _mm512_store_si512(tmp, _mm512_maskz_compress_epi16(in, key));
            for (std::size_t i = 0; i < cnt && at < cap; ++i) out[at++] = tmp[i];
        }
    }
    pos = at;
    c.below += below;
    c.inside += inside;
    c.nans += nans;
}

NNPRUNE_AVX512_VBMI2_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_BRACKET_HPP
