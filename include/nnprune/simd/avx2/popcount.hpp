#ifndef NNPRUNE_SIMD_AVX2_POPCOUNT_HPP
#define NNPRUNE_SIMD_AVX2_POPCOUNT_HPP

/// @file avx2/popcount.hpp
/// The AVX2 tier of simd/popcount.hpp: the POPCNT instruction (a baseline x86-64 build has none,
/// and std::popcount becomes a library call).

#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

/// Number of set bits of w[0, n).
inline std::size_t popcount(const std::uint64_t* w, std::size_t n) noexcept {
    std::size_t c0 = 0, c1 = 0;
    std::size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        c0 += static_cast<std::size_t>(_mm_popcnt_u64(w[i]));
        c1 += static_cast<std::size_t>(_mm_popcnt_u64(w[i + 1]));
    }
    if (i < n) c0 += static_cast<std::size_t>(_mm_popcnt_u64(w[i]));
    return c0 + c1;
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_POPCOUNT_HPP
