#ifndef NNPRUNE_SIMD_AXPY_HPP
#define NNPRUNE_SIMD_AXPY_HPP

/// @file axpy.hpp
/// y[i] = fma(a, x[i], y[i]): the rank-1 step of SparseGPT's column sweep. Fused on every tier
/// (never left to the compiler's contraction), so every tier gives the same bits;
/// reference::axpy is the scalar twin.

#include <cmath>
#include <cstddef>

#include "../config.hpp"
#include "avx2/axpy.hpp"
#include "avx512/axpy.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {
/// Scalar twin of simd::axpy.
inline void axpy(float a, const float* x, float* y, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
}
}  // namespace reference

/// y[i] += a * x[i] (one rounding) for i < n, on the active tier.
inline void axpy(float a, const float* x, float* y, std::size_t n) noexcept {
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            return avx512::axpy(a, x, y, n);
        case isa::avx2:
            return avx2::axpy(a, x, y, n);
        case isa::scalar:
            break;
    }
#endif
    reference::axpy(a, x, y, n);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_AXPY_HPP
