#ifndef NNPRUNE_SIMD_ZERO_HPP
#define NNPRUNE_SIMD_ZERO_HPP

/// @file zero.hpp
/// The zeroing kernel of apply() and the row stream: set to +0 the elements of a row whose kept
/// bit is clear, leaving the kept ones unwritten. Contiguous rows use masked stores on the avx512
/// tier; reference::zero_pruned_row is the scalar twin and the path for strided rows.

#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "avx2/zero.hpp"
#include "avx512/zero.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {

/// Scalar twin of simd::zero_pruned_row.
template <class T>
void zero_pruned_row(T* p, std::ptrdiff_t s, std::size_t cols, const std::uint64_t* kept) noexcept {
    const T zero{};
    const std::size_t nw = (cols + 63) / 64;
    for (std::size_t w = 0; w < nw; ++w) {
        std::uint64_t pruned = ~kept[w];
        if (w + 1 == nw && cols % 64) pruned &= (std::uint64_t{1} << (cols % 64)) - 1;
        while (pruned) {
            const auto b = static_cast<std::ptrdiff_t>(w * 64) + __builtin_ctzll(pruned);
            p[b * s] = zero;
            pruned &= pruned - 1;
        }
    }
}

}  // namespace reference

/**
 * @brief Sets to +0 the elements p[j * s], j < cols (a weight row, or apply()'s whole contiguous
 * tensor), whose kept bit (kept words LSB first, the bits past cols ignored) is clear; kept
 * elements are not written.
 */
template <class T>
void zero_pruned_row(T* p, std::ptrdiff_t s, std::size_t cols, const std::uint64_t* kept) noexcept {
#if NNPRUNE_SIMD_X86
    if constexpr (sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8) {
        if (s == 1) {
            switch (active_isa()) {
                case isa::avx512:
                    return avx512::zero_pruned_row(p, cols, kept);
                case isa::avx2:
                    return avx2::zero_pruned_row(p, cols, kept);
                case isa::scalar:
                    break;
            }
        }
    }
#endif
    reference::zero_pruned_row(p, s, cols, kept);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_ZERO_HPP
