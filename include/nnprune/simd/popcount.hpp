#ifndef NNPRUNE_SIMD_POPCOUNT_HPP
#define NNPRUNE_SIMD_POPCOUNT_HPP

/// @file popcount.hpp
/// Counting the set bits of mask words (mask::count, the kept totals of every report).

#include <bit>
#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "avx2/popcount.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {

/// Scalar twin of simd::popcount.
[[nodiscard]] inline std::size_t popcount(const std::uint64_t* w, std::size_t n) noexcept {
    std::size_t c = 0;
    for (std::size_t i = 0; i < n; ++i) c += static_cast<std::size_t>(std::popcount(w[i]));
    return c;
}

}  // namespace reference

/// Number of set bits of w[0, n).
[[nodiscard]] inline std::size_t popcount(const std::uint64_t* w, std::size_t n) noexcept {
#if NNPRUNE_SIMD_X86
    if (active_isa() != isa::scalar) return avx2::popcount(w, n);
#endif
    return reference::popcount(w, n);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_POPCOUNT_HPP
