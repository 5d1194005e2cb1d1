#ifndef NNPRUNE_SIMD_AVX2_CLASSIFY_HPP
#define NNPRUNE_SIMD_AVX2_CLASSIFY_HPP

/// @file avx2/classify.hpp
/// The AVX2 tier of simd/classify.hpp: classify (f32) and resolve (u32 keys). Compiled for AVX2
/// whatever the TU's -m flags; the entries call it only when the tier is active.
///
/// resolve puts each candidate's kept bit at its inside position without pdep (microcoded on AMD
/// Zen 1 and 2, hundreds of cycles): a word with up to 8 inside bits walks them (blsi / blsr), one
/// with more expands the candidates to their positions 8 lanes at a time (the inverse of the
/// compress permute) and applies the tie rule there, in index order all the same.

#include <array>
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
namespace avx2 {

namespace lut {

/// Permute indices that move lane i to the i-th set lane of an 8-bit mask (the inverse of compress8).
constexpr std::array<std::array<std::uint32_t, 8>, 256> expand8_table() noexcept {
    std::array<std::array<std::uint32_t, 8>, 256> t{};
    for (unsigned m = 0; m < 256; ++m) {
        unsigned rank = 0;
        for (unsigned l = 0; l < 8; ++l)
            if ((m >> l) & 1u) t[m][l] = rank++;
    }
    return t;
}

alignas(32) inline constexpr auto expand8 = expand8_table();

}  // namespace lut

NNPRUNE_AVX2_BEGIN

/// Classifies 8 scores (bits u; live: lane mask of the real ones): their inside / above bits,
/// NaN lanes counted in vn; copies the inside keys to cand + at.
inline void classify8(__m256i u, unsigned live, __m256i slo, __m256i shi, __m256i nan_s, __m256i& vn,
                      std::uint32_t* cand, std::size_t& at, unsigned& im, unsigned& am) noexcept {
    __m256i nm;
    const __m256i s = skeys8(u, nan_s, &nm);
    const __m256i lt = _mm256_cmpgt_epi32(slo, s);
    const __m256i gt = _mm256_cmpgt_epi32(s, shi);
    vn = _mm256_sub_epi32(vn, nm);
    am = bits8(gt) & live;
    im = ~bits8(_mm256_or_si256(lt, gt)) & live;
    compress_store8(cand + at, _mm256_xor_si256(s, splat32(0x8000'0000u)), im);
    at += static_cast<std::size_t>(std::popcount(im));
}

inline classified classify_f32(const float* p, std::size_t n, std::uint32_t lo, std::uint32_t hi, nan_policy np,
                               std::uint32_t* cand, std::uint64_t* above, std::uint64_t* inside,
                               const float* ahead) noexcept {
    const __m256i slo = splat32(lo ^ 0x8000'0000u), shi = splat32(hi ^ 0x8000'0000u);
    const __m256i nan_s = splat32(nan_skey32(np));
    __m256i vn = _mm256_setzero_si256();  // NaN lanes; n < 2^32 * 8 for any real group
    std::size_t at = 0, above_n = 0;
    std::size_t j = 0;
    for (; j + 64 <= n; j += 64) {
        if (ahead) {  // the next group streams into cache while this one is classified
            const char* q = reinterpret_cast<const char*>(ahead + j);
            for (unsigned l = 0; l < 256; l += 64) _mm_prefetch(q + l, _MM_HINT_T0);
        }
        std::uint64_t a = 0, in = 0;
        for (unsigned q = 0; q < 64; q += 8) {
            unsigned im, am;
            classify8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + j + q)), 0xFFu, slo, shi, nan_s, vn, cand,
                      at, im, am);
            in |= static_cast<std::uint64_t>(im) << q;
            a |= static_cast<std::uint64_t>(am) << q;
        }
        above[j >> 6] = a;
        inside[j >> 6] = in;
        above_n += static_cast<std::size_t>(std::popcount(a));
    }
    if (j < n) {
        std::uint64_t a = 0, in = 0;
        for (std::size_t q = 0; j + q < n; q += 8) {
            const std::size_t left = n - j - q;
            const __m256i live = live32(left < 8 ? left : 8);
            const __m256i u = _mm256_maskload_epi32(reinterpret_cast<const int*>(p + j + q), live);
            unsigned im, am;  // the dead lanes load +0: never NaN
            classify8(u, bits8(live), slo, shi, nan_s, vn, cand, at, im, am);
            in |= static_cast<std::uint64_t>(im) << q;
            a |= static_cast<std::uint64_t>(am) << q;
        }
        above[j >> 6] = a;
        inside[j >> 6] = in;
        above_n += static_cast<std::size_t>(std::popcount(a));
    }
    return {n - at - above_n, at, lane_sum(vn)};
}

inline void resolve_u32(const std::uint64_t* above, const std::uint64_t* inside, std::size_t words,
                        const std::uint32_t* cand, std::uint32_t kth, std::size_t ties, std::uint64_t* kept) noexcept {
    const __m256i bias = splat32(0x8000'0000u);
    const __m256i sk = splat32(kth ^ 0x8000'0000u);
    std::size_t at = 0;
    for (std::size_t w = 0; w < words; ++w) {
        std::uint64_t in = inside[w];
        std::uint64_t word = above[w];
        const auto cnt = static_cast<std::size_t>(std::popcount(in));
        if (cnt <= 8) {  // few: decide the candidates, then walk the inside bits
            if (cnt) {
                const auto* src = reinterpret_cast<const int*>(cand + at);
                const unsigned live = (1u << cnt) - 1;
                unsigned kb =
                    live & ~pruned8(_mm256_xor_si256(_mm256_maskload_epi32(src, live32(cnt)), bias), live, sk, ties);
                for (; in; in &= in - 1, kb >>= 1) word |= (in & (0 - in)) & (0 - static_cast<std::uint64_t>(kb & 1u));
            }
        } else {  // many: expand the candidates to their positions, 8 at a time
            for (unsigned q = 0; q < 64; q += 8) {
                const unsigned m = static_cast<unsigned>(in >> q) & 0xFFu;
                const auto c = static_cast<std::size_t>(std::popcount(m));
                const __m256i idx = _mm256_load_si256(reinterpret_cast<const __m256i*>(lut::expand8[m].data()));
                const __m256i key = _mm256_maskload_epi32(reinterpret_cast<const int*>(cand + at), live32(c));
                const __m256i s = _mm256_xor_si256(_mm256_permutevar8x32_epi32(key, idx), bias);
                word |= static_cast<std::uint64_t>(m & ~pruned8(s, m, sk, ties)) << q;
                at += c;
            }
            at -= cnt;  // counted block by block
        }
        at += cnt;
        kept[w] = word;
    }
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_CLASSIFY_HPP
