#ifndef NNPRUNE_SIMD_DOT_HPP
#define NNPRUNE_SIMD_DOT_HPP

/// @file dot.hpp
/// Dot products of f32 rows: one pair (dot) and one row against four (dot4). Every tier sums in
/// one order, so results are bit-identical across tiers, builds and callers (DivPrune compares
/// distances for ties; simd::gram gives the same entries):
///  1. 16 lane sums: lane l accumulates fma(a[i], b[i], .) for i = l mod 16, i < n rounded down to 16;
///  2. the lanes fold in halves: l + 8 onto l, then l + 4, l + 2, l + 1 (detail::sum16);
///  3. the tail i >= that bound continues with fma, in order (detail::dot_finish).
/// The avx512 tier keeps the 16 lanes in one register, avx2 in two; reference:: is the scalar twin.

#include <cmath>
#include <cstddef>

#include "../config.hpp"
#include "avx2/dot.hpp"
#include "avx512/dot.hpp"
#include "dot_order.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

namespace reference {

/// Scalar twin of simd::dot (the same order, so the same bits).
[[nodiscard]] inline float dot(const float* a, const float* b, std::size_t n) noexcept {
    float acc[16] = {};
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (std::size_t l = 0; l < 16; ++l) acc[l] = std::fma(a[i + l], b[i + l], acc[l]);
    return detail::dot_finish(detail::sum16(acc), a, b, i, n);
}

/// out[c] = dot(a, b[c], n) for c < 4.
inline void dot4(const float* a, const float* const* b, std::size_t n, float* out) noexcept {
    for (std::size_t c = 0; c < 4; ++c) out[c] = dot(a, b[c], n);
}

}  // namespace reference

/// Sum of a[i] * b[i] in the order of the file comment, on the active tier.
[[nodiscard]] inline float dot(const float* a, const float* b, std::size_t n) noexcept {
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            return avx512::dot(a, b, n);
        case isa::avx2:
            return avx2::dot(a, b, n);
        case isa::scalar:
            break;
    }
#endif
    return reference::dot(a, b, n);
}

/// out[c] = dot(a, b[c], n) for c < 4 in one pass over a, bit-identical to four calls of dot().
inline void dot4(const float* a, const float* const* b, std::size_t n, float* out) noexcept {
#if NNPRUNE_SIMD_X86
    switch (active_isa()) {
        case isa::avx512:
            return avx512::dot4(a, b, n, out);
        case isa::avx2:
            return avx2::dot4(a, b, n, out);
        case isa::scalar:
            break;
    }
#endif
    reference::dot4(a, b, n, out);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_DOT_HPP
