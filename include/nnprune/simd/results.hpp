#ifndef NNPRUNE_SIMD_RESULTS_HPP
#define NNPRUNE_SIMD_RESULTS_HPP

/// @file results.hpp
/// The kernels' argument and result types shared by every tier: the counts of a bracket pass, of
/// a classified group, the N:M kernel's NaN signal, and DSnoT's row scan.

#include <cstddef>
#include <cstdint>
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

/// One row of DSnoT's scan (simd/dsnot_scan.hpp): the weights, the mask and per-column constants.
template <class W>
struct dsnot_row {
    const W* w;                 ///< the row's weights, contiguous
    const double* s;            ///< sum_row (D_j = w_j · s_j)
    const float* grow;          ///< var^γ / |s_j| rounded down (0: always a hit, inf: never), with s_j's sign
    const float* keep;          ///< 1 / sqrt(scaler_row_j) rounded up
    const float* key;           ///< sqrt(scaler_row_j) rounded, for the kept minimum
    const std::uint64_t* kept;  ///< the mask's words; the row starts at bit `base`
    std::size_t base, cols;     ///< cols: the row's length
    double wlim;                ///< a weight with !(|w| < wlim) is bad
};

/// A scan's limits, by q = (D_j < 0) (the sign of w_j times grow_j's): a pruned column hits when
/// !(|w_j| < grow[q] · |grow_j|), a kept one when !(|w_j| > keep[q] · keep_j) (both in float).
struct dsnot_limits {
    float grow[2], keep[2];
};

/// A chunk of 64 columns (fewer at the row's end) that has hits: bit k is column j0 + k, in
/// `hits` and in the chunk's kept bits.
struct dsnot_hits {
    std::size_t j0;
    std::uint64_t hits, kept;
};

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_RESULTS_HPP
