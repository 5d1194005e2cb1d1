#ifndef NNPRUNE_SCHEDULES_CURVES_HPP
#define NNPRUNE_SCHEDULES_CURVES_HPP

/// @file curves.hpp
/// Two more gradual ramps over [begin, end] with TF-MOT's cadence, p = clamp((step - begin) / (end - begin)):
///  - exponential_schedule: density decays geometrically, 1 - s = (1 - s_i) * ((1 - s_f) / (1 - s_i))^p
///    (the continuous form of iterative magnitude pruning);
///  - cosine_schedule: s = s_f + (s_i - s_f) * (1 + cos(pi * p)) / 2.

#include <cmath>
#include <cstdint>
#include <numbers>

#include "../config.hpp"
#include "schedule.hpp"

namespace nnprune {

namespace detail {
constexpr double ramp(std::int64_t step, std::int64_t begin, std::int64_t end) noexcept {
    if (end <= begin) return step >= begin ? 1.0 : 0.0;
    const double p = static_cast<double>(step - begin) / static_cast<double>(end - begin);
    return p < 0.0 ? 0.0 : p > 1.0 ? 1.0 : p;
}
}  // namespace detail

struct exponential_schedule {
    double initial_sparsity = 0.0;
    double final_sparsity = 0.9;
    std::int64_t begin_step = 0, end_step = 1000, frequency = 100;

    [[nodiscard]] double operator()(std::int64_t step) const noexcept {
        const double p = detail::ramp(step, begin_step, end_step);
        const double di = 1.0 - initial_sparsity, df = 1.0 - final_sparsity;
        if (p >= 1.0) return final_sparsity;
        return 1.0 - di * std::pow(df / di, p);
    }

    [[nodiscard]] constexpr bool should_prune(std::int64_t step) const noexcept {
        return cadence{begin_step, end_step, frequency}.should_prune(step);
    }

    void validate() const {
        NNPRUNE_PRECONDITION(
            initial_sparsity >= 0.0 && initial_sparsity < 1.0,
            detail::str("exponential_schedule: initial_sparsity must be in [0, 1), got ", initial_sparsity));
        detail::check_sparsity(final_sparsity, "exponential_schedule", "final_sparsity");
        cadence{begin_step, end_step, frequency}.validate("exponential_schedule");
    }
};

struct cosine_schedule {
    double initial_sparsity = 0.0;
    double final_sparsity = 0.5;
    std::int64_t begin_step = 0, end_step = 1000, frequency = 100;

    [[nodiscard]] double operator()(std::int64_t step) const noexcept {
        const double p = detail::ramp(step, begin_step, end_step);
        if (p >= 1.0) return final_sparsity;
        return final_sparsity + (initial_sparsity - final_sparsity) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
    }

    [[nodiscard]] constexpr bool should_prune(std::int64_t step) const noexcept {
        return cadence{begin_step, end_step, frequency}.should_prune(step);
    }

    void validate() const {
        detail::check_sparsity(initial_sparsity, "cosine_schedule", "initial_sparsity");
        detail::check_sparsity(final_sparsity, "cosine_schedule", "final_sparsity");
        cadence{begin_step, end_step, frequency}.validate("cosine_schedule");
    }
};

static_assert(schedule<exponential_schedule>);
static_assert(schedule<cosine_schedule>);

}  // namespace nnprune

#endif  // NNPRUNE_SCHEDULES_CURVES_HPP
