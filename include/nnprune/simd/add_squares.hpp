#ifndef NNPRUNE_SIMD_ADD_SQUARES_HPP
#define NNPRUNE_SIMD_ADD_SQUARES_HPP

/// @file add_squares.hpp
/// The Wanda statistic's kernel: acc[j] = fma(x[j], x[j], acc[j]). Fused on every tier (never
/// left to the compiler's contraction), so every tier gives the same bits; reference::add_squares
/// is the scalar twin.

#include <cmath>
#include <cstddef>

#include "../config.hpp"
#include "avx2/add_squares.hpp"
#include "avx512/add_squares.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {
/// Scalar twin of simd::add_squares.
inline void add_squares(const float* x, float* acc, std::size_t n) noexcept {
    for (std::size_t j = 0; j < n; ++j) acc[j] = std::fma(x[j], x[j], acc[j]);
}
}  // namespace reference

/// acc[j] += x[j] * x[j] (one rounding) for j < n, on the active tier.
inline void add_squares(const float* x, float* acc, std::size_t n) noexcept {
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            return avx512::add_squares(x, acc, n);
        case isa::avx2:
            return avx2::add_squares(x, acc, n);
        case isa::scalar:
            break;
    }
#endif
    reference::add_squares(x, acc, n);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_ADD_SQUARES_HPP
