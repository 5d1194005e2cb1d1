#ifndef NNPRUNE_SELECT_POLICY_HPP
#define NNPRUNE_SELECT_POLICY_HPP

/// @file policy.hpp
/// How many to prune, and what to do with NaN: the explicit choices every selection takes.

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../config.hpp"
#include "../core/errors.hpp"

namespace nnprune {

/**
 * @brief How k (the number pruned in a group of n) is computed from a sparsity ratio s.
 * The product n * s is formed in IEEE double, as Python does, then:
 * - half_even: Python round(), ties to even (torch.prune, LAMP, SNIP, DivPrune, FastV). The default.
 * - truncate:  int() (Wanda, SparseGPT, GBLM, OWL, FLAP, GlobalMP): 100 * 0.29 = 28.999... -> 28.
 * - ceil:      math.ceil (open_lth IMP).
 */
enum class rounding : std::uint8_t { half_even, truncate, ceil };

/// What a NaN score means: an error naming the tensor and index (default), or the lowest /
/// highest possible score. +-Inf are ordinary values.
enum class nan_policy : std::uint8_t { reject, as_lowest, as_highest };

/**
 * @brief k = the number to prune of n elements at sparsity s under rounding rule r.
 * @throws precondition_error when s is not in [0, 1] (NaN included).
 * @code
 * nnprune::count_to_prune(100, 0.29, nnprune::rounding::truncate);  // 28
 * nnprune::count_to_prune(7, 0.5);                                  // 4 (3.5 -> 4, ties to even)
 * @endcode
 */
[[nodiscard]] inline std::size_t count_to_prune(std::size_t n, double s, rounding r = rounding::half_even) {
    NNPRUNE_PRECONDITION(s >= 0.0 && s <= 1.0, detail::str("count_to_prune: sparsity must be in [0, 1], got ", s));
    const double x = static_cast<double>(n) * s;
    double k = 0;
    switch (r) {
        case rounding::half_even: {
            // ties to even without depending on the floating-point environment
            const double fl = std::floor(x), diff = x - fl;
            k = diff > 0.5 ? fl + 1 : diff < 0.5 ? fl : (std::fmod(fl, 2.0) == 0.0 ? fl : fl + 1);
            break;
        }
        case rounding::truncate:
            k = std::trunc(x);
            break;
        case rounding::ceil:
            k = std::ceil(x);
            break;
    }
    const auto kk = static_cast<std::size_t>(k);
    return kk > n ? n : kk;
}

}  // namespace nnprune

#endif  // NNPRUNE_SELECT_POLICY_HPP
