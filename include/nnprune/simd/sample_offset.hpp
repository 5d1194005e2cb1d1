#ifndef NNPRUNE_SIMD_SAMPLE_OFFSET_HPP
#define NNPRUNE_SIMD_SAMPLE_OFFSET_HPP

/// @file sample_offset.hpp
/// Where the selection engine's sample runs lie, shared by every tier and by the run sampler of
/// select/kth.hpp. Run i lies inside its own interval [i * spacing, (i + 1) * spacing), at the
/// fractional part of i times the golden ratio: evenly spread, and on no lattice. Runs at a fixed
/// offset of a regular spacing that is a multiple of a matrix's row length would all sample the
/// same few columns, and scores that scale by column (Wanda's |W| * ||X||) would give a sample
/// whose quantiles miss the group's.

#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "isa.hpp"

namespace nnprune::simd::inline NNPRUNE_SIMD_ABI {

/// Start of sample run i of `run` consecutive scores in intervals of `spacing` (>= run) scores.
[[nodiscard]] inline std::size_t sample_offset(std::size_t i, double spacing, std::size_t run) noexcept {
    const auto golden = static_cast<std::uint32_t>(static_cast<std::uint64_t>(i) * 2654435769u);  // 2^32 / phi
    // one score of slack less than the gap, so rounding down keeps runs apart and ascending
    const double slack = spacing > static_cast<double>(run) + 1 ? spacing - static_cast<double>(run) - 1 : 0.0;
    const double at = static_cast<double>(i) * spacing + static_cast<double>(golden) * 0x1p-32 * slack;
    return static_cast<std::size_t>(at);
}

}  // namespace nnprune::simd::inline NNPRUNE_SIMD_ABI

#endif  // NNPRUNE_SIMD_SAMPLE_OFFSET_HPP
