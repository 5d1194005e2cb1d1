#ifndef NNPRUNE_SIMD_BRACKET_HPP
#define NNPRUNE_SIMD_BRACKET_HPP

/// @file bracket.hpp
/// The selection hot loop: one pass over a run of scores that counts the competing keys below
/// lo, those in [lo, hi] and the NaNs, and copies the keys in [lo, hi] (in index order) into a
/// candidate buffer while it has room. Element j of a run is p[j * stride]; it competes when
/// prev is null or bit (bit0 + j * step) of prev is set. The AVX-512 kernel (f32 scores or u32 keys,
/// unit stride; bf16/f16 or u16 keys with VBMI2) runs when the active tier is avx512 (simd/isa.hpp);
/// reference::bracket is its scalar twin and the path for every other case. The candidate buffer needs 16 slack slots
/// past cap.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../config.hpp"
#include "../core/element.hpp"
#include "../select/keys.hpp"
#include "../select/policy.hpp"
#include "avx2/bracket.hpp"
#include "avx512/bracket.hpp"
#include "bits.hpp"
#include "isa.hpp"
#include "results.hpp"
#include "sample_offset.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {

/// Scalar twin of simd::bracket. Candidates go to out[pos...] while pos < cap.
template <class K, class T>
void bracket(const T* p, std::size_t n, std::ptrdiff_t stride, const std::uint64_t* prev, std::size_t bit0,
             std::size_t step, K lo, K hi, nan_policy np, K* out, std::size_t& pos, std::size_t cap,
             bracket_counts& c) noexcept {
    const K span = static_cast<K>(hi - lo);
    std::size_t below = 0, inside = 0, nans = 0;
    for (std::size_t j = 0; j < n; ++j) {
        if (prev && !((prev[(bit0 + j * step) >> 6] >> ((bit0 + j * step) & 63)) & 1u)) continue;
        const T x = p[static_cast<std::ptrdiff_t>(j) * stride];
        nans += nnprune::detail::is_nan_score(x);
        const K key = nnprune::detail::key_as<K>(x, np);
        below += key < lo;
        if (static_cast<K>(key - lo) <= span) {
            ++inside;
            if (pos < cap) out[pos++] = key;
        }
    }
    c.below += below;
    c.inside += inside;
    c.nans += nans;
}

/// Scalar twin of simd::to_keys.
template <class K, class T>
std::size_t to_keys(const T* p, std::size_t n, nan_policy np, K* out, K& kmin, K& kmax) noexcept {
    std::size_t nans = 0;
    K a = std::numeric_limits<K>::max(), b = 0;
    for (std::size_t j = 0; j < n; ++j) {
        nans += nnprune::detail::is_nan_score(p[j]);
        const K k = nnprune::detail::key_as<K>(p[j], np);
        out[j] = k;
        a = k < a ? k : a;
        b = k > b ? k : b;
    }
    kmin = a;
    kmax = b;
    return nans;
}

/// Scalar twin of simd::sample_keys.
template <class K, class T>
void sample_keys(const T* p, std::size_t blocks, std::size_t spacing, nan_policy np, K* out, K& kmin,
                 K& kmax) noexcept {
    K a = std::numeric_limits<K>::max(), b = 0;
    for (std::size_t i = 0; i < blocks * 16; ++i) {
        const K k = nnprune::detail::key_as<K>(p[sample_offset(i / 16, static_cast<double>(spacing), 16) + i % 16], np);
        out[i] = k;
        a = k < a ? k : a;
        b = k > b ? k : b;
    }
    kmin = a;
    kmax = b;
}

}  // namespace reference

/**
 * @brief The evenly spread sample that brackets a rank: keys of `blocks` runs of 16 consecutive
 * scores, run i at sample_offset(i, spacing, 16) (spacing >= 16), into out (16 * blocks), with
 * their minimum and maximum. Runs rather than single scores: one vector load each, a sixteenth of
 * the cache lines.
 */
template <class K, class T>
void sample_keys(const T* p, std::size_t blocks, std::size_t spacing, nan_policy np, K* out, K& kmin,
                 K& kmax) noexcept {
#if NNPRUNE_SIMD_X86
    if constexpr (std::is_same_v<K, std::uint32_t> && std::is_same_v<T, float>) {
        switch (active_isa()) {
            case isa::avx512:
                return avx512::sample_keys_f32(p, blocks, spacing, np, out, kmin, kmax);
            case isa::avx2:
                return avx2::sample_keys_f32(p, blocks, spacing, np, out, kmin, kmax);
            case isa::scalar:
                break;
        }
    }
#endif
    reference::sample_keys<K>(p, blocks, spacing, np, out, kmin, kmax);
}

/// Keys of n contiguous scores into out, their minimum and maximum (max key and 0 when n = 0);
/// returns the number of NaN scores.
template <class K, class T>
std::size_t to_keys(const T* p, std::size_t n, nan_policy np, K* out, K& kmin, K& kmax) noexcept {
#if NNPRUNE_SIMD_X86
    if constexpr (std::is_same_v<K, std::uint32_t> && std::is_same_v<T, float>) {
        switch (active_isa()) {
            case isa::avx512:
                return avx512::to_keys_f32(p, n, np, out, kmin, kmax);
            case isa::avx2:
                return avx2::to_keys_f32(p, n, np, out, kmin, kmax);
            case isa::scalar:
                break;
        }
    }
#endif
    return reference::to_keys<K>(p, n, np, out, kmin, kmax);
}

/**
 * @brief Counts and collects one run (see the file comment). K is the key type of the selection;
 * T the score type (or K itself for a buffer of keys).
 */
template <class K, class T>
void bracket(const T* p, std::size_t n, std::ptrdiff_t stride, const std::uint64_t* prev, std::size_t bit0,
             std::size_t step, K lo, K hi, nan_policy np, K* out, std::size_t& pos, std::size_t cap,
             bracket_counts& c) noexcept {
#if NNPRUNE_SIMD_X86
    if (stride == 1 && (step == 1 || !prev)) {
        if constexpr (std::is_same_v<K, std::uint32_t> &&
                      (std::is_same_v<T, float> || std::is_same_v<T, std::uint32_t>)) {
            constexpr bool keys = std::is_same_v<T, std::uint32_t>;
            switch (active_isa()) {
                case isa::avx512:
                    if (prev)
                        avx512::bracket_avx512<keys, true>(p, n, prev, bit0, lo, hi, np, out, pos, cap, c);
                    else
                        avx512::bracket_avx512<keys, false>(p, n, prev, bit0, lo, hi, np, out, pos, cap, c);
                    return;
                case isa::avx2:
                    if (prev)
                        avx2::bracket_avx2<keys, true>(p, n, prev, bit0, lo, hi, np, out, pos, cap, c);
                    else
                        avx2::bracket_avx2<keys, false>(p, n, prev, bit0, lo, hi, np, out, pos, cap, c);
                    return;
                case isa::scalar:
                    break;
            }
        }
        if constexpr (std::is_same_v<K, std::uint16_t> &&
                      (std::is_same_v<T, bfloat16> || std::is_same_v<T, float16> || std::is_same_v<T, std::uint16_t>)) {
            switch (active_isa()) {
                case isa::avx512:
                    if (cpu_has_avx512_vbmi2()) {  // vpcompressw; the next tier otherwise
                        if (prev)
                            avx512::bracket16_avx512<true>(p, n, prev, bit0, lo, hi, np, out, pos, cap, c);
                        else
                            avx512::bracket16_avx512<false>(p, n, prev, bit0, lo, hi, np, out, pos, cap, c);
                        return;
                    }
                    [[fallthrough]];
                case isa::avx2:
                    if (prev)
                        avx2::bracket16_avx2<true>(p, n, prev, bit0, lo, hi, np, out, pos, cap, c);
                    else
                        avx2::bracket16_avx2<false>(p, n, prev, bit0, lo, hi, np, out, pos, cap, c);
                    return;
                case isa::scalar:
                    break;
            }
        }
    }
#endif
    reference::bracket(p, n, stride, prev, bit0, step, lo, hi, np, out, pos, cap, c);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_BRACKET_HPP
