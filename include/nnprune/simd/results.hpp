#ifndef NNPRUNE_SIMD_RESULTS_HPP
#define NNPRUNE_SIMD_RESULTS_HPP

/// @file results.hpp
/// What the selection kernels return, shared by every tier: the counts of a bracket pass, of a
/// classified group, and the N:M kernel's NaN signal.

#include <cstddef>
#include <limits>

#include "../config.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

struct bracket_counts {
    std::size_t below = 0;   ///< competing keys < lo
    std::size_t inside = 0;  ///< competing keys in [lo, hi]
    std::size_t nans = 0;    ///< competing NaN scores
};

struct classified {
    std::size_t below = 0;   ///< keys < lo
    std::size_t inside = 0;  ///< keys in [lo, hi], all copied to the candidates
    std::size_t nans = 0;    ///< nonzero when a score is NaN (keyed under the NaN policy all the same)
};

/// Returned instead of a kept count when a NaN is met under nan_policy::reject.
inline constexpr std::size_t nan_found = std::numeric_limits<std::size_t>::max();

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_RESULTS_HPP
