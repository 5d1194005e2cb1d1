#ifndef NNPRUNE_SCHEDULES_SCHEDULE_HPP
#define NNPRUNE_SCHEDULES_SCHEDULE_HPP

/// @file schedule.hpp
/// The `schedule` concept (target sparsity at a step + whether to prune at that step), the
/// TF-MOT cadence every schedule shares (begin_step, end_step, frequency; algorithms.md §7a) and
/// the constant (one-shot) schedule. Schedules are tiny constexpr value types.

#include <concepts>
#include <cstdint>

#include "../config.hpp"
#include "../core/errors.hpp"

namespace nnprune {

/// s(step) is the target sparsity in [0, 1]; s.should_prune(step) says whether to prune then.
template <class S>
concept schedule = requires(const S& s, std::int64_t step) {
    { s(step) } -> std::convertible_to<double>;
    { s.should_prune(step) } -> std::convertible_to<bool>;
};

/// When to prune: step >= begin and (step <= end or end < 0) and (step - begin) mod frequency == 0.
struct cadence {
    std::int64_t begin_step = 0;
    std::int64_t end_step = -1;  ///< -1: no end
    std::int64_t frequency = 100;

    [[nodiscard]] constexpr bool should_prune(std::int64_t step) const noexcept {
        if (step < begin_step || (end_step >= 0 && step > end_step) || frequency <= 0) return false;
        const std::int64_t d = step - begin_step;
        return ((d % frequency) + frequency) % frequency == 0;  // floormod
    }

    /// @throws precondition_error unless begin >= 0, frequency > 0 and (end < 0 or end >= begin).
    void validate(const char* fn) const {
        NNPRUNE_PRECONDITION(begin_step >= 0, detail::str(fn, ": begin_step must be >= 0, got ", begin_step));
        NNPRUNE_PRECONDITION(frequency > 0, detail::str(fn, ": frequency must be > 0, got ", frequency));
        NNPRUNE_PRECONDITION(end_step < 0 || end_step >= begin_step,
                             detail::str(fn, ": end_step ", end_step, " is before begin_step ", begin_step));
    }
};

namespace detail {
inline void check_sparsity(double s, const char* fn, const char* what) {
    NNPRUNE_PRECONDITION(s >= 0.0 && s <= 1.0, detail::str(fn, ": ", what, " must be in [0, 1], got ", s));
}
}  // namespace detail

/// TF-MOT ConstantSparsity: the same target at every pruning step; with begin = end it is one-shot.
struct constant_schedule {
    double sparsity = 0.5;
    nnprune::cadence when{0, 0, 1};

    [[nodiscard]] constexpr double operator()(std::int64_t) const noexcept { return sparsity; }

    [[nodiscard]] constexpr bool should_prune(std::int64_t step) const noexcept { return when.should_prune(step); }

    void validate() const {
        detail::check_sparsity(sparsity, "constant_schedule", "sparsity");
        when.validate("constant_schedule");
    }
};

static_assert(schedule<constant_schedule>);
static_assert(constant_schedule{0.5}.should_prune(0) && !constant_schedule{0.5}.should_prune(1));

}  // namespace nnprune

#endif  // NNPRUNE_SCHEDULES_SCHEDULE_HPP
