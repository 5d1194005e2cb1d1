#include <cmath>

#include <catch2/catch.hpp>

#include <nnprune/schedules/polynomial.hpp>

using namespace nnprune;

TEST_CASE("polynomial_schedule: the TF-MOT unit-test values", "[schedules][polynomial]") {
    constexpr polynomial_schedule s{0.2, 0.8, 100, 110, 3, 2};
    // float32 arithmetic as TF: compare to the float32 value of the decimal within 2 ulp
    auto close = [](float got, float want) {
        return std::fabs(got - want) <= 2 * std::nextafter(want, 2.0f) - 2 * want;
    };
    REQUIRE(close(s(100), 0.2f));
    REQUIRE(close(s(102), 0.4928f));
    REQUIRE(close(s(105), 0.725f));
    REQUIRE(s(110) == 0.8f);
    REQUIRE(close(s(50), 0.2f));  // before begin: initial
    REQUIRE(s(500) == 0.8f);      // after end: final
    static_assert(polynomial_schedule{0.2, 0.8, 100, 110, 3, 2}(110) == 0.8f);
}

TEST_CASE("polynomial_schedule: should_prune truth table (begin, end, frequency)", "[schedules][polynomial]") {
    constexpr polynomial_schedule s{0.2, 0.8, 100, 110, 3, 2};
    static_assert(!s.should_prune(98) && s.should_prune(100) && !s.should_prune(101) && s.should_prune(102));
    REQUIRE(s.should_prune(110));
    REQUIRE_FALSE(s.should_prune(112));
    // (end - begin) % frequency != 0: the last pruning step is before end and never reaches final
    constexpr polynomial_schedule t{0.0, 0.5, 0, 10, 3, 4};
    REQUIRE(t.should_prune(8));
    REQUIRE_FALSE(t.should_prune(10));
    REQUIRE(t(8) < 0.5f);
}

TEST_CASE("polynomial_schedule: cubic shape, linear, validation", "[schedules][polynomial]") {
    constexpr polynomial_schedule c{0.0, 0.8, 0, 100, 3, 1};
    REQUIRE(c(50) == Approx(0.8 * (1 - 0.125)));
    constexpr auto l = linear_schedule(0.0, 0.8, 0, 100);
    REQUIRE(l(25) == Approx(0.2));
    REQUIRE_THROWS_WITH((polynomial_schedule{0.0, 1.0, 0, 10}.validate()),
                        Catch::Contains("final_sparsity must be in [0, 1)"));
    REQUIRE_THROWS_WITH((polynomial_schedule{0.0, 0.5, 10, 5}.validate()),
                        Catch::Contains("end_step 5 is before begin_step 10"));
    REQUIRE_THROWS_WITH((polynomial_schedule{0.0, 0.5, 0, 10, 3, 0}.validate()),
                        Catch::Contains("frequency must be > 0"));
}
