#ifndef NNPRUNE_SIMD_WIDEN_HPP
#define NNPRUNE_SIMD_WIDEN_HPP

/// @file widen.hpp
/// Widening contiguous bfloat16 / float16 runs to float (every scorer reads its weights, gradients
/// and statistics through it). Exact: the tiers give the scalar twin's bits, NaN payloads too.

#include <cmath>
#include <cstddef>
#include <type_traits>

#include "../config.hpp"
#include "../core/element.hpp"
#include "avx2/widen.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {

/// Scalar twin of simd::widen.
template <bool Abs, class T>
void widen(const T* p, std::size_t n, float* out) noexcept {
    for (std::size_t j = 0; j < n; ++j) {
        const float v = to_float(p[j]);
        out[j] = Abs ? std::fabs(v) : v;
    }
}

}  // namespace reference

/// out[j] = float(p[j]), or |float(p[j])| with Abs, for j < n (T: float, bfloat16 or float16).
template <bool Abs = false, class T>
void widen(const T* p, std::size_t n, float* out) noexcept {
#if NNPRUNE_SIMD_X86
    if constexpr (std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>)
        if (active_isa() != isa::scalar) return avx2::widen<Abs>(p, n, out);
#endif
    reference::widen<Abs>(p, n, out);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_WIDEN_HPP
