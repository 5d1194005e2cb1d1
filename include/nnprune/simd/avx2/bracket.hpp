#ifndef NNPRUNE_SIMD_AVX2_BRACKET_HPP
#define NNPRUNE_SIMD_AVX2_BRACKET_HPP

/// @file avx2/bracket.hpp
/// The AVX2 tier of simd/bracket.hpp: bracket (f32 scores or u32 keys; bf16/f16 scores or u16
/// keys), to_keys and sample_keys (f32), and the lane helpers the other AVX2 kernels share.
/// Compiled for AVX2 whatever the TU's -m flags; the entries call it only when the tier is active.
///
/// AVX2 has neither unsigned compares nor mask registers nor compress, so the kernels work on
/// "signed keys" (key ^ sign bit: signed compares order them as the keys), take lane masks to
/// bits with movemask, and compress with a permute (32-bit lanes) or byte shuffle (16-bit lanes)
/// looked up from the lane bits. -0 is made +0 with integer operations, so DAZ cannot change a key.

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
namespace avx2 {

namespace lut {  // not "detail": that would hide simd::detail inside avx2

/// Permute indices that move the lanes set in an 8-bit mask to the front, in order.
constexpr std::array<std::array<std::uint32_t, 8>, 256> compress8_table() noexcept {
    std::array<std::array<std::uint32_t, 8>, 256> t{};
    for (unsigned m = 0; m < 256; ++m) {
        unsigned at = 0;
        for (unsigned l = 0; l < 8; ++l)
            if ((m >> l) & 1u) t[m][at++] = l;
    }
    return t;
}

/// Byte-shuffle controls that move the 16-bit lanes set in an 8-bit mask to the front, in order.
constexpr std::array<std::array<std::uint8_t, 16>, 256> compress8x16_table() noexcept {
    std::array<std::array<std::uint8_t, 16>, 256> t{};
    for (unsigned m = 0; m < 256; ++m) {
        unsigned at = 0;
        for (unsigned l = 0; l < 8; ++l)
            if ((m >> l) & 1u) {
                t[m][at++] = static_cast<std::uint8_t>(2 * l);
                t[m][at++] = static_cast<std::uint8_t>(2 * l + 1);
            }
        while (at < 16) t[m][at++] = 0x80;
    }
    return t;
}

alignas(32) inline constexpr auto compress8 = compress8_table();
alignas(16) inline constexpr auto compress8x16 = compress8x16_table();

}  // namespace lut

/// Largest non-NaN magnitude bits of a 16-bit score type (bf16: 0x7F80, f16: 0x7C00 = Inf).
template <class T>
inline constexpr std::uint16_t inf_bits16 = std::is_same_v<T, bfloat16> ? 0x7F80 : 0x7C00;

/// The key of a NaN score under np, as a signed key.
inline constexpr std::uint32_t nan_skey32(nan_policy np) noexcept {
    return np == nan_policy::as_highest ? 0x7FFF'FFFFu : 0x8000'0000u;
}

inline constexpr std::uint16_t nan_skey16(nan_policy np) noexcept {
    return np == nan_policy::as_highest ? 0x7FFF : 0x8000;
}

NNPRUNE_AVX2_BEGIN

inline __m256i splat32(std::uint32_t x) noexcept { return _mm256_set1_epi32(static_cast<int>(x)); }

inline __m256i splat16(std::uint16_t x) noexcept { return _mm256_set1_epi16(static_cast<short>(x)); }

/// Signed keys of 8 floats (bits u): key ^ 0x80000000, NaN -> nan_s; the NaN lanes in *nm.
inline __m256i skeys8(__m256i u, __m256i nan_s, __m256i* nm) noexcept {
    const __m256i mag = _mm256_and_si256(u, splat32(0x7FFF'FFFFu));
    *nm = _mm256_cmpgt_epi32(mag, splat32(0x7F80'0000u));
    u = _mm256_andnot_si256(_mm256_cmpeq_epi32(mag, _mm256_setzero_si256()), u);  // -0 -> +0
    const __m256i s = _mm256_xor_si256(u, _mm256_and_si256(_mm256_srai_epi32(u, 31), splat32(0x7FFF'FFFFu)));
    return _mm256_blendv_epi8(s, nan_s, *nm);
}

/// Signed keys of 16 bf16/f16 scores (bits u, magnitude above inf is NaN); the NaN lanes in *nm.
inline __m256i skeys16(__m256i u, __m256i inf, __m256i nan_s, __m256i* nm) noexcept {
    const __m256i mag = _mm256_and_si256(u, splat16(0x7FFF));
    *nm = _mm256_cmpgt_epi16(mag, inf);
    u = _mm256_andnot_si256(_mm256_cmpeq_epi16(mag, _mm256_setzero_si256()), u);  // -0 -> +0
    const __m256i s = _mm256_xor_si256(u, _mm256_and_si256(_mm256_srai_epi16(u, 15), splat16(0x7FFF)));
    return _mm256_blendv_epi8(s, nan_s, *nm);
}

/// Lane mask (all ones) of the lanes below `left` (<= 8) of 8 32-bit lanes.
inline __m256i live32(std::size_t left) noexcept {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// 8 32-bit lanes from src: all of them (full) or the live ones (the others read as 0, unread).
inline __m256i load8(const void* src, bool full, __m256i live) noexcept {
    return full ? _mm256_loadu_si256(static_cast<const __m256i*>(src))
                : _mm256_maskload_epi32(static_cast<const int*>(src), live);
}

/// One bit per 32-bit lane.
inline unsigned bits8(__m256i m) noexcept { return static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(m))); }

/// One bit per 16-bit lane.
inline unsigned bits16(__m256i m) noexcept {
    const __m128i packed = _mm_packs_epi16(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    return static_cast<unsigned>(_mm_movemask_epi8(packed));
}

/// Stores the 32-bit lanes of v set in `in` (8 bits) at out, in order; writes 8 slots.
inline void compress_store8(std::uint32_t* out, __m256i v, unsigned in) noexcept {
    const __m256i idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(lut::compress8[in].data()));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permutevar8x32_epi32(v, idx));
}

/// Stores the 16-bit lanes of v set in `in` (16 bits) at out, in order; writes 16 slots.
inline void compress_store16(std::uint16_t* out, __m256i v, unsigned in) noexcept {
    const __m128i lo =
        _mm_shuffle_epi8(_mm256_castsi256_si128(v),
                         _mm_load_si128(reinterpret_cast<const __m128i*>(lut::compress8x16[in & 0xFF].data())));
    const __m128i hi =
        _mm_shuffle_epi8(_mm256_extracti128_si256(v, 1),
                         _mm_load_si128(reinterpret_cast<const __m128i*>(lut::compress8x16[in >> 8].data())));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), lo);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + std::popcount(in & 0xFFu)), hi);
}

// Horizontal reductions through memory.
inline std::size_t lane_sum(__m256i acc) noexcept {
    alignas(32) std::uint32_t a[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(a), acc);
    std::size_t s = 0;
    for (auto x : a) s += x;
    return s;
}

inline std::uint32_t lane_min(__m256i v) noexcept {
    alignas(32) std::uint32_t a[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(a), v);
    std::uint32_t m = a[0];
    for (auto x : a) m = x < m ? x : m;
    return m;
}

inline std::uint32_t lane_max(__m256i v) noexcept {
    alignas(32) std::uint32_t a[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(a), v);
    std::uint32_t m = a[0];
    for (auto x : a) m = x > m ? x : m;
    return m;
}

/// The streaming pass of simd::bracket over n contiguous f32 scores (Keys: u32 keys), element j
/// competing when prev is null or bit bit0 + j of prev is set. Blocks of 8; whole blocks without
/// a previous mask count in per-lane vector counters, the others with movemask and popcount. The
/// candidate store is unconditional while a whole chunk fits in the buffer, checked otherwise.
template <bool Keys, bool Prev, class T>
void bracket_avx2(const T* p, std::size_t n, const std::uint64_t* prev, std::size_t bit0, std::uint32_t lo,
                  std::uint32_t hi, nan_policy np, std::uint32_t* out, std::size_t& pos, std::size_t cap,
                  bracket_counts& c) noexcept {
    const __m256i bias = splat32(0x8000'0000u);
    const __m256i slo = splat32(lo ^ 0x8000'0000u), shi = splat32(hi ^ 0x8000'0000u);
    const __m256i nan_s = splat32(nan_skey32(np));
    constexpr std::size_t chunk = std::size_t{1} << 16;  // per-lane counters stay far below 2^32
    std::size_t at = pos, inside = 0, below = 0, nans = 0;
    for (std::size_t c0 = 0; c0 < n; c0 += chunk) {
        const std::size_t c1 = n - c0 < chunk ? n : c0 + chunk;
        __m256i vb = _mm256_setzero_si256(), vn = _mm256_setzero_si256();
        // one block of 8 from p + j: comp = its competing lanes (8 bits), left = its live lanes
        auto block = [&](std::size_t j, unsigned comp, std::size_t left, auto checked) {
            const bool full = left >= 8;
            const auto* q = reinterpret_cast<const int*>(p + j);
            const __m256i u =
                full ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)) : _mm256_maskload_epi32(q, live32(left));
            __m256i nm = _mm256_setzero_si256(), s;
            if constexpr (Keys)
                s = _mm256_xor_si256(u, bias);
            else
                s = skeys8(u, nan_s, &nm);
            const __m256i lt = _mm256_cmpgt_epi32(slo, s);
            const __m256i out_of = _mm256_or_si256(lt, _mm256_cmpgt_epi32(s, shi));
            if (!Prev && full) {
                vb = _mm256_sub_epi32(vb, lt);
                if constexpr (!Keys) vn = _mm256_sub_epi32(vn, nm);
            } else {
                below += static_cast<std::size_t>(std::popcount(bits8(lt) & comp));
                if constexpr (!Keys) nans += static_cast<std::size_t>(std::popcount(bits8(nm) & comp));
            }
            const unsigned in = ~bits8(out_of) & comp;
            const auto cnt = static_cast<std::size_t>(std::popcount(in));
            if constexpr (!decltype(checked)::value) {
                compress_store8(out + at, _mm256_xor_si256(s, bias), in);
                at += cnt;
            } else {
                if (at < cap) {
                    compress_store8(out + at, _mm256_xor_si256(s, bias), in);
                    at = at + cnt > cap ? cap : at + cnt;
                }
                inside += cnt;
            }
        };
        auto run = [&](auto checked) {
            std::size_t j = c0;
            for (; j + 64 <= c1; j += 64) {
                const std::uint64_t pw = Prev ? load_bits(prev, bit0 + j, 64) : ~std::uint64_t{0};
                for (unsigned q = 0; q < 64; q += 8) block(j + q, static_cast<unsigned>(pw >> q) & 0xFFu, 8, checked);
            }
            for (; j < c1; j += 8) {
                const std::size_t left = c1 - j < 8 ? c1 - j : 8;
                const unsigned live = (1u << left) - 1;
                block(j, Prev ? static_cast<unsigned>(load_bits(prev, bit0 + j, static_cast<unsigned>(left))) : live,
                      left, checked);
            }
        };
        if (cap >= at && cap - at >= c1 - c0) {
            const std::size_t at0 = at;
            run(std::false_type{});
            inside += at - at0;
        } else {
            run(std::true_type{});
        }
        below += lane_sum(vb);
        nans += lane_sum(vn);
    }
    pos = at;
    c.below += below;
    c.inside += inside;
    c.nans += nans;
}

/// bracket_avx2 for 16-bit scores (T bfloat16 / float16) or 16-bit keys (T std::uint16_t), 16
/// lanes a block, counted with movemask and popcount.
template <bool Prev, class T>
void bracket16_avx2(const T* p, std::size_t n, const std::uint64_t* prev, std::size_t bit0, std::uint16_t lo,
                    std::uint16_t hi, nan_policy np, std::uint16_t* out, std::size_t& pos, std::size_t cap,
                    bracket_counts& c) noexcept {
    constexpr bool keys = std::is_same_v<T, std::uint16_t>;
    const __m256i bias = splat16(0x8000);
    const __m256i slo = splat16(static_cast<std::uint16_t>(lo ^ 0x8000)),
                  shi = splat16(static_cast<std::uint16_t>(hi ^ 0x8000));
    const __m256i nan_s = splat16(nan_skey16(np));
    __m256i inf = _mm256_setzero_si256();
    if constexpr (!keys) inf = splat16(inf_bits16<T>);
    std::size_t at = pos, inside = 0, below = 0, nans = 0;
    auto block = [&](std::size_t j, unsigned comp, std::size_t left) {
        __m256i u;
        if (left >= 16) {
            u = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + j));
        } else {
            alignas(32) std::uint16_t tmp[16] = {};
            std::memcpy(tmp, p + j, left * 2);
            u = _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp));
        }
        __m256i nm = _mm256_setzero_si256(), s;
        if constexpr (keys)
            s = _mm256_xor_si256(u, bias);
        else
            s = skeys16(u, inf, nan_s, &nm);
        const __m256i lt = _mm256_cmpgt_epi16(slo, s);
        const __m256i out_of = _mm256_or_si256(lt, _mm256_cmpgt_epi16(s, shi));
        below += static_cast<std::size_t>(std::popcount(bits16(lt) & comp));
        if constexpr (!keys) nans += static_cast<std::size_t>(std::popcount(bits16(nm) & comp));
        const unsigned in = ~bits16(out_of) & comp;
        const auto cnt = static_cast<std::size_t>(std::popcount(in));
        inside += cnt;
        if (at < cap) {  // writes at most 16 slots from at: within the buffer's slack
            compress_store16(out + at, _mm256_xor_si256(s, bias), in);
            at = at + cnt > cap ? cap : at + cnt;
        }
    };
    std::size_t j = 0;
    for (; j + 64 <= n; j += 64) {
        const std::uint64_t pw = Prev ? load_bits(prev, bit0 + j, 64) : ~std::uint64_t{0};
        for (unsigned q = 0; q < 64; q += 16) block(j + q, static_cast<unsigned>(pw >> q) & 0xFFFFu, 16);
    }
    for (; j < n; j += 16) {
        const std::size_t left = n - j < 16 ? n - j : 16;
        const unsigned live = (1u << left) - 1;
        block(j, Prev ? static_cast<unsigned>(load_bits(prev, bit0 + j, static_cast<unsigned>(left))) : live, left);
    }
    pos = at;
    c.below += below;
    c.inside += inside;
    c.nans += nans;
}

inline std::size_t to_keys_f32(const float* p, std::size_t n, nan_policy np, std::uint32_t* out, std::uint32_t& kmin,
                               std::uint32_t& kmax) noexcept {
    const __m256i bias = splat32(0x8000'0000u);
    const __m256i nan_s = splat32(nan_skey32(np));
    __m256i vn = _mm256_setzero_si256(), vmin = splat32(0xFFFF'FFFFu), vmax = _mm256_setzero_si256();
    std::size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256i nm;
        const __m256i k =
            _mm256_xor_si256(skeys8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + j)), nan_s, &nm), bias);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j), k);
        vn = _mm256_sub_epi32(vn, nm);
        vmin = _mm256_min_epu32(vmin, k);
        vmax = _mm256_max_epu32(vmax, k);
    }
    if (j < n) {
        const __m256i live = live32(n - j);
        __m256i nm;
        const __m256i k = _mm256_xor_si256(
            skeys8(_mm256_maskload_epi32(reinterpret_cast<const int*>(p + j), live), nan_s, &nm), bias);
        _mm256_maskstore_epi32(reinterpret_cast<int*>(out + j), live, k);
        vn = _mm256_sub_epi32(vn, _mm256_and_si256(nm, live));
        vmin = _mm256_min_epu32(vmin, _mm256_or_si256(k, _mm256_xor_si256(live, splat32(0xFFFF'FFFFu))));
        vmax = _mm256_max_epu32(vmax, _mm256_and_si256(k, live));
    }
    kmin = lane_min(vmin);
    kmax = lane_max(vmax);
    return lane_sum(vn);
}

inline void sample_keys_f32(const float* p, std::size_t blocks, std::size_t spacing, nan_policy np, std::uint32_t* out,
                            std::uint32_t& kmin, std::uint32_t& kmax) noexcept {
    const __m256i bias = splat32(0x8000'0000u);
    const __m256i nan_s = splat32(nan_skey32(np));
    __m256i vmin = splat32(0xFFFF'FFFFu), vmax = _mm256_setzero_si256();
    for (std::size_t i = 0; i < blocks; ++i) {
        const float* q = p + sample_offset(i, static_cast<double>(spacing), 16);
        for (unsigned h = 0; h < 16; h += 8) {
            __m256i nm;
            const __m256i k =
                _mm256_xor_si256(skeys8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + h)), nan_s, &nm), bias);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 16 * i + h), k);
            vmin = _mm256_min_epu32(vmin, k);
            vmax = _mm256_max_epu32(vmax, k);
        }
    }
    kmin = lane_min(vmin);
    kmax = lane_max(vmax);
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_BRACKET_HPP
