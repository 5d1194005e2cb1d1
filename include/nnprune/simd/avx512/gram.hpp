#ifndef NNPRUNE_SIMD_AVX512_GRAM_HPP
#define NNPRUNE_SIMD_AVX512_GRAM_HPP

/// @file avx512/gram.hpp
/// The AVX-512 register tile of simd/gram.hpp: 5 x 5 entries of 16 lane sums, one register each
/// (25 accumulators, 5 column steps and one row step: 31 of the 32 registers).

#include <cstddef>

#include "../../config.hpp"
#include "../isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {
#if NNPRUNE_SIMD_X86
namespace avx512 {

NNPRUNE_AVX512_BEGIN

struct gram_tile {
    static constexpr std::size_t R = 5, C = 5;

    static void run(const float* const* a, const float* bp, std::size_t k0, std::size_t k1, float* acc) noexcept {
        __m512 s[R][C];
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t c = 0; c < C; ++c) s[r][c] = _mm512_loadu_ps(acc + (r * C + c) * 16);
        for (std::size_t k = k0; k < k1; k += 16, bp += C * 16) {
            __m512 bv[C];
            for (std::size_t c = 0; c < C; ++c) bv[c] = _mm512_loadu_ps(bp + c * 16);
            for (std::size_t r = 0; r < R; ++r) {
                const __m512 av = _mm512_loadu_ps(a[r] + k);
                for (std::size_t c = 0; c < C; ++c) s[r][c] = _mm512_fmadd_ps(av, bv[c], s[r][c]);
            }
        }
        for (std::size_t r = 0; r < R; ++r)
            for (std::size_t c = 0; c < C; ++c) _mm512_storeu_ps(acc + (r * C + c) * 16, s[r][c]);
    }
};

NNPRUNE_AVX512_END

}  // namespace avx512
#endif
}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AVX512_GRAM_HPP
