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
#include "avx2/kept.hpp"
#include "avx512/kept.hpp"
#include "bits.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

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

/**
 * @brief Writes the kept bits of one row of a column-wise selection: element c is pruned when its
 * key is below kth[c], or equal to it and row < lim[c] (the tie rule as a row limit). Returns the
 * number of kept bits pushed to w.
 */
template <class K, class T>
std::size_t write_kept_columns(const T* p, std::size_t n, std::uint32_t row, const K* kth, const std::uint32_t* lim,
                               nan_policy np, bit_writer& w) noexcept {
#if NNPRUNE_SIMD_X86
    if constexpr (std::is_same_v<K, std::uint32_t> && std::is_same_v<T, float>) {
        switch (active_isa()) {
            case isa::avx512:
                return avx512::write_kept_columns_f32(p, n, row, kth, lim, np, w);
            case isa::avx2:
                return avx2::write_kept_columns_f32(p, n, row, kth, lim, np, w);
            case isa::scalar:
                break;
        }
    }
#endif
    return reference::write_kept_columns<K>(p, n, row, kth, lim, np, w);
}

/// Writes the kept bits of one run (see the file comment).
template <class K, class T>
std::size_t write_kept(const T* p, std::size_t n, std::ptrdiff_t stride, const std::uint64_t* prev, std::size_t bit0,
                       std::size_t step, K kth, std::size_t& ties, nan_policy np, std::uint64_t* out) noexcept {
#if NNPRUNE_SIMD_X86
    if (stride == 1 && step == 1) {
        if constexpr (std::is_same_v<K, std::uint32_t> && std::is_same_v<T, float>) {
            switch (active_isa()) {
                case isa::avx512:
                    return prev ? avx512::write_kept_f32<true>(p, n, prev, bit0, kth, ties, np, out)
                                : avx512::write_kept_f32<false>(p, n, prev, bit0, kth, ties, np, out);
                case isa::avx2:
                    return prev ? avx2::write_kept_f32<true>(p, n, prev, bit0, kth, ties, np, out)
                                : avx2::write_kept_f32<false>(p, n, prev, bit0, kth, ties, np, out);
                case isa::scalar:
                    break;
            }
        }
        if constexpr (std::is_same_v<K, std::uint16_t> && (std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>)) {
            switch (active_isa()) {
                case isa::avx512:
                    return prev ? avx512::write_kept16<true>(p, n, prev, bit0, kth, ties, np, out)
                                : avx512::write_kept16<false>(p, n, prev, bit0, kth, ties, np, out);
                case isa::avx2:
                    return prev ? avx2::write_kept16<true>(p, n, prev, bit0, kth, ties, np, out)
                                : avx2::write_kept16<false>(p, n, prev, bit0, kth, ties, np, out);
                case isa::scalar:
                    break;
            }
        }
    }
#endif
    return reference::write_kept(p, n, stride, prev, bit0, step, kth, ties, np, out);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_KEPT_HPP
