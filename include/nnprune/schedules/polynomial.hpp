#ifndef NNPRUNE_SCHEDULES_POLYNOMIAL_HPP
#define NNPRUNE_SCHEDULES_POLYNOMIAL_HPP

/// @file polynomial.hpp
/// Zhu & Gupta's gradual schedule = TF-MOT PolynomialDecay (algorithms.md §7a), in float32 as TF:
///   p = min(1, max(0, float32(step - begin) / (end - begin)))
///   sparsity = final + (initial - final) * (1 - p)^power        (power 3: the cubic schedule)
/// and should_prune(step) = begin <= step <= end and (step - begin) mod frequency == 0.
/// PolynomialDecay(0.2, 0.8, 100, 110, 3, 2) gives 0.2, 0.4928, 0.725, 0.8 at 100, 102, 105, 110.
/// linear_schedule is power 1.

#include <cstdint>

#include "../config.hpp"
#include "schedule.hpp"

namespace nnprune {

struct polynomial_schedule {
    double initial_sparsity = 0.0;  ///< Python floats in TF-MOT; converted to float32 where TF does
    double final_sparsity = 0.5;
    std::int64_t begin_step = 0;
    std::int64_t end_step = 1000;
    int power = 3;
    std::int64_t frequency = 100;

    [[nodiscard]] constexpr float progress(std::int64_t step) const noexcept {
        if (end_step == begin_step) return step >= begin_step ? 1.0f : 0.0f;  // TF divides 0/0 here
        const float p = static_cast<float>(step - begin_step) / static_cast<float>(end_step - begin_step);
        return p < 0.0f ? 0.0f : p > 1.0f ? 1.0f : p;
    }

    [[nodiscard]] constexpr float operator()(std::int64_t step) const noexcept {
        const float q = 1.0f - progress(step);
        float r = 1.0f;
        for (int i = 0; i < power; ++i) r *= q;
        // TF: (initial - final) is a Python double made float32; the product and sum are float32
        return static_cast<float>(initial_sparsity - final_sparsity) * r + static_cast<float>(final_sparsity);
    }

    [[nodiscard]] constexpr bool should_prune(std::int64_t step) const noexcept {
        return cadence{begin_step, end_step, frequency}.should_prune(step);
    }

    /// TF-MOT's validation. @throws precondition_error.
    void validate() const {
        NNPRUNE_PRECONDITION(
            initial_sparsity >= 0.0 && initial_sparsity < 1.0,
            detail::str("polynomial_schedule: initial_sparsity must be in [0, 1), got ", initial_sparsity));
        NNPRUNE_PRECONDITION(
            final_sparsity >= 0.0 && final_sparsity < 1.0,
            detail::str("polynomial_schedule: final_sparsity must be in [0, 1), got ", final_sparsity));
        NNPRUNE_PRECONDITION(power >= 0, detail::str("polynomial_schedule: power must be >= 0, got ", power));
        cadence{begin_step, end_step, frequency}.validate("polynomial_schedule");
    }
};

/// Linear ramp from initial to final sparsity over [begin, end].
[[nodiscard]] constexpr polynomial_schedule linear_schedule(double initial, double final, std::int64_t begin,
                                                            std::int64_t end, std::int64_t frequency = 1) noexcept {
    return polynomial_schedule{initial, final, begin, end, 1, frequency};
}

static_assert(schedule<polynomial_schedule>);
static_assert(polynomial_schedule{0.2, 0.8, 100, 110, 3, 2}(110) == 0.8f);

}  // namespace nnprune

#endif  // NNPRUNE_SCHEDULES_POLYNOMIAL_HPP
