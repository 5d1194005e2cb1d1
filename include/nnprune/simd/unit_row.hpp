#ifndef NNPRUNE_SIMD_UNIT_ROW_HPP
#define NNPRUNE_SIMD_UNIT_ROW_HPP

/// @file unit_row.hpp
/// The kernels that make a token's features a unit row (tokens/features.hpp): the squared norm of
/// an f32 row in double, and the row divided by its norm. One order on every tier, so every tier
/// gives the scalar twin's bits (DivPrune compares distances for ties):
///  - squared_norm: 8 double lane sums, lane l accumulating fma(x[i], x[i], .) for every
///    i = l mod 8 (the tail too), then the lanes added in order 0..7 (detail::sum8_in_order);
///  - divide_by: x[i] = float(double(x[i]) / norm), a correctly rounded division on every tier.
/// Fused explicitly (never left to the compiler's contraction, which differs between builds).

#include <cmath>
#include <cstddef>

#include "../config.hpp"
#include "avx2/unit_row.hpp"
#include "avx512/unit_row.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {

/// Scalar twin of simd::squared_norm.
[[nodiscard]] inline double squared_norm(const float* x, std::size_t n) noexcept {
    double lane[8] = {};
    for (std::size_t i = 0; i < n; ++i) {
        const double v = x[i];
        lane[i % 8] = std::fma(v, v, lane[i % 8]);
    }
    return detail::sum8_in_order(lane);
}

/// Scalar twin of simd::divide_by.
inline void divide_by(float* x, std::size_t n, double norm) noexcept {
    for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<double>(x[i]) / norm);
}

}  // namespace reference

/// Sum of x[i]^2 in double, in the order of the file comment, on the active tier.
[[nodiscard]] inline double squared_norm(const float* x, std::size_t n) noexcept {
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            return avx512::squared_norm(x, n);
        case isa::avx2:
            return avx2::squared_norm(x, n);
        case isa::scalar:
            break;
    }
#endif
    return reference::squared_norm(x, n);
}

/// x[i] = float(double(x[i]) / norm) for i < n, on the active tier.
inline void divide_by(float* x, std::size_t n, double norm) noexcept {
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            return avx512::divide_by(x, n, norm);
        case isa::avx2:
            return avx2::divide_by(x, n, norm);
        case isa::scalar:
            break;
    }
#endif
    reference::divide_by(x, n, norm);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_UNIT_ROW_HPP
