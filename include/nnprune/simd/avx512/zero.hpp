#ifndef NNPRUNE_SIMD_AVX512_ZERO_HPP
#define NNPRUNE_SIMD_AVX512_ZERO_HPP

/// @file avx512/zero.hpp
/// The AVX-512 tier of simd/zero.hpp: zeroing the pruned elements of a contiguous row with masked
/// stores. Compiled for AVX-512 whatever the TU's -m flags; the entry calls it only when the tier is active.

#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

/// Sets to +0 the elements p[j], j < cols, whose kept bit is clear (T of 2, 4 or 8 bytes).
template <class T>
void zero_pruned_row(T* p, std::size_t cols, const std::uint64_t* kept) noexcept {
    const __m512i z = _mm512_setzero_si512();
    const std::size_t nw = (cols + 63) / 64;
    for (std::size_t w = 0; w < nw; ++w) {
        std::uint64_t pruned = ~kept[w];
        if (w + 1 == nw && cols % 64) pruned &= (std::uint64_t{1} << (cols % 64)) - 1;
        if (!pruned) continue;
        T* q = p + w * 64;  // masked-off lanes are neither written nor faulted on
        if constexpr (sizeof(T) == 2) {
            _mm512_mask_storeu_epi16(q, static_cast<__mmask32>(pruned), z);
            _mm512_mask_storeu_epi16(q + 32, static_cast<__mmask32>(pruned >> 32), z);
        } else if constexpr (sizeof(T) == 4) {
            for (unsigned h = 0; h < 64; h += 16)
                _mm512_mask_storeu_epi32(q + h, static_cast<__mmask16>(pruned >> h), z);
        } else {
            for (unsigned h = 0; h < 64; h += 8) _mm512_mask_storeu_epi64(q + h, static_cast<__mmask8>(pruned >> h), z);
        }
    }
}

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_ZERO_HPP
