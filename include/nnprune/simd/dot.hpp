#ifndef NNPRUNE_SIMD_DOT_HPP
#define NNPRUNE_SIMD_DOT_HPP

/// @file dot.hpp
/// Dot products of f32 rows: one pair (dot) and one row against four (dot4). Both accumulate
/// every pair in exactly the same order (one batch-wide accumulator walked over the row with
/// fused multiply-adds, then the batch is summed, then the scalar tail), so dot4(a, b, ...)[i]
/// is bit-identical to dot(a, b[i], ...). Callers that compare distances for ties rely on it.
/// The scalar twins in nnprune::simd::reference use one sequential accumulator.

#include <cstddef>

#include "arch.hpp"

namespace nnprune::simd {

namespace reference {

/// Sequential f32 dot product.
[[nodiscard]] inline float dot(const float* a, const float* b, std::size_t n) noexcept {
    float acc = 0.0f;
    for (std::size_t i = 0; i < n; ++i) acc += a[i] * b[i];
    return acc;
}

/// out[c] = dot(a, b[c], n) for c < 4.
inline void dot4(const float* a, const float* const* b, std::size_t n, float* out) noexcept {
    for (std::size_t c = 0; c < 4; ++c) out[c] = dot(a, b[c], n);
}

}  // namespace reference

/// Dot product kernel: operator()(Arch, a, b, n).
struct dot_kernel {
    template <class Arch>
    [[nodiscard]] float operator()(Arch, const float* a, const float* b, std::size_t n) const noexcept {
#if NNPRUNE_USE_XSIMD
        using batch = xsimd::batch<float, Arch>;
        constexpr std::size_t w = batch::size;
        batch acc(0.0f);
        std::size_t i = 0;
        for (; i + w <= n; i += w) acc = xsimd::fma(batch::load_unaligned(a + i), batch::load_unaligned(b + i), acc);
        float s = xsimd::hadd(acc);
        for (; i < n; ++i) s += a[i] * b[i];
        return s;
#else
        return reference::dot(a, b, n);
#endif
    }
};

/// One row against four: operator()(Arch, a, b[4], n, out[4]); each result equals dot_kernel's.
struct dot4_kernel {
    template <class Arch>
    void operator()(Arch, const float* a, const float* const* b, std::size_t n, float* out) const noexcept {
#if NNPRUNE_USE_XSIMD
        using batch = xsimd::batch<float, Arch>;
        constexpr std::size_t w = batch::size;
        batch acc0(0.0f), acc1(0.0f), acc2(0.0f), acc3(0.0f);
        const float *b0 = b[0], *b1 = b[1], *b2 = b[2], *b3 = b[3];
        std::size_t i = 0;
        for (; i + w <= n; i += w) {
            const batch x = batch::load_unaligned(a + i);
            acc0 = xsimd::fma(x, batch::load_unaligned(b0 + i), acc0);
            acc1 = xsimd::fma(x, batch::load_unaligned(b1 + i), acc1);
            acc2 = xsimd::fma(x, batch::load_unaligned(b2 + i), acc2);
            acc3 = xsimd::fma(x, batch::load_unaligned(b3 + i), acc3);
        }
        float s0 = xsimd::hadd(acc0), s1 = xsimd::hadd(acc1), s2 = xsimd::hadd(acc2), s3 = xsimd::hadd(acc3);
        for (; i < n; ++i) {
            s0 += a[i] * b0[i];
            s1 += a[i] * b1[i];
            s2 += a[i] * b2[i];
            s3 += a[i] * b3[i];
        }
        out[0] = s0;
        out[1] = s1;
        out[2] = s2;
        out[3] = s3;
#else
        reference::dot4(a, b, n, out);
#endif
    }
};

/// dot(a, b) on the default instruction set.
[[nodiscard]] inline float dot(const float* a, const float* b, std::size_t n) noexcept {
    return dot_kernel{}(default_arch{}, a, b, n);
}

/// out[c] = dot(a, b[c]) for c < 4, bit-identical to four calls of dot().
inline void dot4(const float* a, const float* const* b, std::size_t n, float* out) noexcept {
    dot4_kernel{}(default_arch{}, a, b, n, out);
}

}  // namespace nnprune::simd

#endif  // NNPRUNE_SIMD_DOT_HPP
