#ifndef NNPRUNE_SIMD_ABS_MUL_HPP
#define NNPRUNE_SIMD_ABS_MUL_HPP

/// @file abs_mul.hpp
/// Wanda's score kernel: out[j] = |w[j]| * s[j]. One rounding per element, so every tier gives
/// the same bits; reference::abs_mul is the scalar twin.

#include <cmath>
#include <cstddef>

#include "../config.hpp"
#include "avx2/abs_mul.hpp"
#include "avx512/abs_mul.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {
/// Scalar twin of simd::abs_mul.
inline void abs_mul(const float* w, const float* s, float* out, std::size_t n) noexcept {
    for (std::size_t j = 0; j < n; ++j) out[j] = std::fabs(w[j]) * s[j];
}
}  // namespace reference

/// out[j] = |w[j]| * s[j] for j < n, on the active tier (out may alias w).
inline void abs_mul(const float* w, const float* s, float* out, std::size_t n) noexcept {
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            return avx512::abs_mul(w, s, out, n);
        case isa::avx2:
            return avx2::abs_mul(w, s, out, n);
        case isa::scalar:
            break;
    }
#endif
    reference::abs_mul(w, s, out, n);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_ABS_MUL_HPP
