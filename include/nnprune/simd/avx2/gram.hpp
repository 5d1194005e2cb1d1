#ifndef NNPRUNE_SIMD_AVX2_GRAM_HPP
#define NNPRUNE_SIMD_AVX2_GRAM_HPP

/// @file avx2/gram.hpp
/// The AVX2 register tile of simd/gram.hpp: 2 x 2 entries of 16 lane sums, two registers each
/// (8 accumulators, 4 column halves and two row halves: 14 of the 16 registers).

#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx2 {

NNPRUNE_AVX2_BEGIN

struct gram_tile {
    static constexpr std::size_t R = 2, C = 2;

    static void run(const float* const* a, const float* bp, std::size_t k0, std::size_t k1, float* acc) noexcept {
        __m256 s[R][C][2];
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t c = 0; c < C; ++c)
                for (std::size_t h = 0; h < 2; ++h) s[r][c][h] = _mm256_loadu_ps(acc + (r * C + c) * 16 + h * 8);
        for (std::size_t k = k0; k < k1; k += 16, bp += C * 16) {
            __m256 bv[C][2];
            for (std::size_t c = 0; c < C; ++c)
                for (std::size_t h = 0; h < 2; ++h) bv[c][h] = _mm256_loadu_ps(bp + c * 16 + h * 8);
            for (std::size_t r = 0; r < R; ++r)
                for (std::size_t h = 0; h < 2; ++h) {
                    const __m256 av = _mm256_loadu_ps(a[r] + k + h * 8);
                    for (std::size_t c = 0; c < C; ++c) s[r][c][h] = _mm256_fmadd_ps(av, bv[c][h], s[r][c][h]);
                }
        }
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t c = 0; c < C; ++c)
                for (std::size_t h = 0; h < 2; ++h) _mm256_storeu_ps(acc + (r * C + c) * 16 + h * 8, s[r][c][h]);
    }
};

NNPRUNE_AVX2_END

}  // namespace avx2
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX2_GRAM_HPP
