#ifndef NNPRUNE_SIMD_CLASSIFY_HPP
#define NNPRUNE_SIMD_CLASSIFY_HPP

/// @file classify.hpp
/// Selection and mask in one read of a contiguous group. classify() keys the scores against a
/// bracket [lo, hi] that holds the k-th key: it marks, per 64-element word, the elements above hi
/// (kept whatever the k-th turns out to be) and those inside the bracket, and copies the inside
/// keys in index order to a candidate buffer. Once the k-th key is found among the candidates,
/// resolve() turns each word's inside bits into kept bits from the candidates alone, so the
/// scores are never read a second time. reference:: holds the scalar twins.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../config.hpp"
#include "../select/keys.hpp"
#include "../select/policy.hpp"
#include "avx2/classify.hpp"
#include "avx512/classify.hpp"
#include "bracket.hpp"
#include "isa.hpp"
#include "kept.hpp"
#include "results.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {

/// Scalar twin of simd::classify.
template <class K, class T>
classified classify(const T* p, std::size_t n, K lo, K hi, nan_policy np, K* cand, std::uint64_t* above,
                    std::uint64_t* inside, const T* ahead = nullptr) noexcept {
    (void)ahead;
    classified c;
    const K span = static_cast<K>(hi - lo);
    for (std::size_t j = 0; j < n; j += 64) {
        const std::size_t m = n - j < 64 ? n - j : 64;
        std::uint64_t a = 0, in = 0;
        for (std::size_t b = 0; b < m; ++b) {
            c.nans += nnprune::detail::is_nan_score(p[j + b]);
            const K key = nnprune::detail::key_as<K>(p[j + b], np);
            if (key < lo) {
                ++c.below;
            } else if (static_cast<K>(key - lo) <= span) {
                in |= std::uint64_t{1} << b;
                cand[c.inside++] = key;
            } else {
                a |= std::uint64_t{1} << b;
            }
        }
        above[j >> 6] = a;
        inside[j >> 6] = in;
    }
    return c;
}

/// Scalar twin of simd::resolve.
template <class K>
void resolve(const std::uint64_t* above, const std::uint64_t* inside, std::size_t words, const K* cand, K kth,
             std::size_t ties, std::uint64_t* kept) noexcept {
    std::size_t at = 0;
    for (std::size_t w = 0; w < words; ++w) {
        std::uint64_t word = above[w];
        for (std::uint64_t in = inside[w]; in; in &= in - 1)
            if (!prunes(cand[at++], kth, ties)) word |= in & (0 - in);
        kept[w] = word;
    }
}

}  // namespace reference

/// Whether the active tier classifies f32 scores with vector code (the one-pass mode pays off then).
[[nodiscard]] inline bool has_vector_classify() noexcept {
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            return true;
        case isa::avx2:
            return true;
        case isa::scalar:
            return false;
    }
#endif
    return false;
}

/**
 * @brief Classifies n contiguous scores (see the file comment) into above / inside words
 * (ceil(n / 64) each; the bits past n are zero) and the candidate keys (n + 16 slots). `ahead`,
 * when given, is prefetched (n elements) as the next group to classify.
 */
template <class K, class T>
classified classify(const T* p, std::size_t n, K lo, K hi, nan_policy np, K* cand, std::uint64_t* above,
                    std::uint64_t* inside, const T* ahead = nullptr) noexcept {
#if NNPRUNE_SIMD_X86
    if constexpr (std::is_same_v<K, std::uint32_t> && std::is_same_v<T, float>) {
        switch (active_isa()) {
            case isa::avx512:
                return avx512::classify_f32(p, n, lo, hi, np, cand, above, inside, ahead);
            case isa::avx2:
                return avx2::classify_f32(p, n, lo, hi, np, cand, above, inside, ahead);
            case isa::scalar:
                break;
        }
    }
#endif
    return reference::classify<K>(p, n, lo, hi, np, cand, above, inside, ahead);
}

/**
 * @brief The kept words of a classified group whose k-th key is kth: the above bits, plus the
 * inside elements whose candidate key is above kth, or equal to it once `ties` equal keys (the
 * first in index order) have been pruned. kept may alias above.
 */
template <class K>
void resolve(const std::uint64_t* above, const std::uint64_t* inside, std::size_t words, const K* cand, K kth,
             std::size_t ties, std::uint64_t* kept) noexcept {
#if NNPRUNE_SIMD_X86
    if constexpr (std::is_same_v<K, std::uint32_t>) {
        switch (active_isa()) {
            case isa::avx512:
                return avx512::resolve_u32(above, inside, words, cand, kth, ties, kept);
            case isa::avx2:
                return avx2::resolve_u32(above, inside, words, cand, kth, ties, kept);
            case isa::scalar:
                break;
        }
    }
#endif
    reference::resolve<K>(above, inside, words, cand, kth, ties, kept);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_CLASSIFY_HPP
