#ifndef NNPRUNE_SIMD_AVX2_ZERO_HPP
#define NNPRUNE_SIMD_AVX2_ZERO_HPP

/// @file avx2/zero.hpp
/// The AVX2 tier of simd/zero.hpp: zeroing the pruned elements of a contiguous row.
/// Compiled for AVX2 whatever the TU's -m flags; the entry calls it only when the tier is active.
/// AVX2's masked stores (vpmaskmovd / vpmaskmovq) neither write nor fault on masked-off lanes,
/// like AVX-512's; they have no 16-bit form, so 16-bit rows store whole pruned pairs as 32-bit
/// lanes and the lone pruned halves one by one.

#include <cstddef>
#include <cstdint>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

/// The even bits of x (16 bits) packed into 8.
inline unsigned even_bits(unsigned x) noexcept {
    x &= 0x5555u;
    x = (x | (x >> 1)) & 0x3333u;
    x = (x | (x >> 2)) & 0x0F0Fu;
    return (x | (x >> 4)) & 0x00FFu;
}

/// Lane mask of 8 32-bit lanes from 8 bits.
inline __m256i lanes32(unsigned bits) noexcept {
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(static_cast<int>(bits)), sel), sel);
}

/// Lane mask of 4 64-bit lanes from 4 bits.
inline __m256i lanes64(unsigned bits) noexcept {
    const __m256i sel = _mm256_setr_epi64x(1, 2, 4, 8);
    return _mm256_cmpeq_epi64(_mm256_and_si256(_mm256_set1_epi64x(bits), sel), sel);
}

/// Sets to +0 the elements p[j], j < cols, whose kept bit is clear (T of 2, 4 or 8 bytes); kept
/// elements are not written.
template <class T>
void zero_pruned_row(T* p, std::size_t cols, const std::uint64_t* kept) noexcept {
    static_assert(sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8);
    const __m256i z = _mm256_setzero_si256();
    const std::size_t nw = (cols + 63) / 64;
    for (std::size_t w = 0; w < nw; ++w) {
        std::uint64_t pruned = ~kept[w];
        if (w + 1 == nw && cols % 64) pruned &= (std::uint64_t{1} << (cols % 64)) - 1;
        if (!pruned) continue;
        T* q = p + w * 64;
        if constexpr (sizeof(T) == 2) {
            for (unsigned h = 0; h < 64; h += 16) {
                const auto b = static_cast<unsigned>(pruned >> h) & 0xFFFFu;
                if (!b) continue;
                if (b == 0xFFFFu) {  // all 16 pruned: the whole 32 bytes are ours to write
                    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + h), z);
                    continue;
                }
                const unsigned pairs = b & (b >> 1) & 0x5555u;
                if (pairs) _mm256_maskstore_epi32(reinterpret_cast<int*>(q + h), lanes32(even_bits(pairs)), z);
                for (unsigned single = b & ~(pairs | (pairs << 1)); single; single &= single - 1)
                    q[h + static_cast<unsigned>(__builtin_ctz(single))] = T{};
            }
        } else if constexpr (sizeof(T) == 4) {
            for (unsigned h = 0; h < 64; h += 8) {
                const auto b = static_cast<unsigned>(pruned >> h) & 0xFFu;
                if (b) _mm256_maskstore_epi32(reinterpret_cast<int*>(q + h), lanes32(b), z);
            }
        } else {
            for (unsigned h = 0; h < 64; h += 4) {
                const auto b = static_cast<unsigned>(pruned >> h) & 0xFu;
                if (b) _mm256_maskstore_epi64(reinterpret_cast<long long*>(q + h), lanes64(b), z);
            }
        }
    }
}

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_ZERO_HPP
