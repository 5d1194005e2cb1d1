#ifndef NNPRUNE_SIMD_ARCH_HPP
#define NNPRUNE_SIMD_ARCH_HPP

/// @file arch.hpp
/// The SIMD switch. With NNPRUNE_USE_XSIMD, kernels use xsimd::batch on `default_arch` (the best
/// instruction set the consumer's compiler flags enable). Without it, every kernel runs its scalar
/// twin in nnprune::simd::reference, with the same results.

#include "../config.hpp"

#if NNPRUNE_USE_XSIMD
#  include <xsimd/xsimd.hpp>
#endif

namespace nnprune::simd {

#if NNPRUNE_USE_XSIMD
using default_arch = xsimd::default_arch;
inline constexpr bool enabled = true;
#else
struct scalar_arch {
    static constexpr const char* name() noexcept { return "scalar"; }
};
using default_arch = scalar_arch;
inline constexpr bool enabled = false;
#endif

}  // namespace nnprune::simd

#endif  // NNPRUNE_SIMD_ARCH_HPP
