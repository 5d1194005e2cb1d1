#ifndef NNPRUNE_SCHEDULES_IMP_HPP
#define NNPRUNE_SCHEDULES_IMP_HPP

/// @file imp.hpp
/// Iterative magnitude pruning (algorithms.md §7b): pruning a fraction p of the remaining weights
/// per round leaves density (1 - p)^r after r rounds; reaching s in R rounds needs
/// p = 1 - (1 - s)^(1/R) (s = 0.9, R = 10: p = 0.20567). Round r (1-based) starts at
/// begin_step + (r - 1) * steps_per_round; its target is 1 - (1 - p)^r.

#include <cmath>
#include <cstdint>

#include "../config.hpp"
#include "schedule.hpp"

namespace nnprune {

/// The per-round rate p = 1 - (1 - s)^(1/R). @throws precondition_error (s outside [0, 1], R = 0).
[[nodiscard]] inline double imp_rate(double target, std::int64_t rounds) {
    detail::check_sparsity(target, "imp_rate", "target");
    NNPRUNE_PRECONDITION(rounds > 0, detail::str("imp_rate: rounds must be > 0, got ", rounds));
    return 1.0 - std::pow(1.0 - target, 1.0 / static_cast<double>(rounds));
}

struct imp_schedule {
    double target = 0.9;
    std::int64_t rounds = 10;
    std::int64_t steps_per_round = 1;  ///< training steps between pruning rounds
    std::int64_t begin_step = 0;

    /// Rounds completed at `step` (pruning happens at the start of each round).
    [[nodiscard]] constexpr std::int64_t round(std::int64_t step) const noexcept {
        if (step < begin_step || steps_per_round <= 0) return 0;
        const std::int64_t r = (step - begin_step) / steps_per_round + 1;
        return r < rounds ? r : rounds;
    }

    [[nodiscard]] double operator()(std::int64_t step) const {
        const std::int64_t r = round(step);
        if (r >= rounds) return target;
        return 1.0 - std::pow(1.0 - imp_rate(target, rounds), static_cast<double>(r));
    }

    [[nodiscard]] constexpr bool should_prune(std::int64_t step) const noexcept {
        if (step < begin_step || steps_per_round <= 0) return false;
        const std::int64_t d = step - begin_step;
        return d % steps_per_round == 0 && d / steps_per_round < rounds;
    }

    void validate() const {
        detail::check_sparsity(target, "imp_schedule", "target");
        NNPRUNE_PRECONDITION(rounds > 0 && steps_per_round > 0 && begin_step >= 0,
                             detail::str("imp_schedule: need rounds > 0, steps_per_round > 0, begin_step >= 0, got ",
                                         rounds, ", ", steps_per_round, ", ", begin_step));
    }
};

static_assert(schedule<imp_schedule>);

}  // namespace nnprune

#endif  // NNPRUNE_SCHEDULES_IMP_HPP
