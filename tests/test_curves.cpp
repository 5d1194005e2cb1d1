#include <cmath>

#include <catch2/catch.hpp>

#include <nnprune/schedules/curves.hpp>

using namespace nnprune;

TEST_CASE("exponential_schedule: geometric density decay", "[schedules][curves]") {
    const exponential_schedule e{0.0, 0.75, 0, 100, 10};
    REQUIRE(e(0) == Approx(0.0));
    REQUIRE(e(50) == Approx(0.5));  // density sqrt(0.25)
    REQUIRE(e(100) == 0.75);
    REQUIRE(e.should_prune(20));
    REQUIRE_FALSE(e.should_prune(25));
}

TEST_CASE("cosine_schedule: half-cosine ramp", "[schedules][curves]") {
    const cosine_schedule c{0.0, 0.8, 0, 100, 1};
    REQUIRE(c(0) == Approx(0.0).margin(1e-12));
    REQUIRE(c(50) == Approx(0.4));
    REQUIRE(c(100) == 0.8);
    REQUIRE(c(25) == Approx(0.8 - 0.8 * 0.5 * (1 + std::cos(M_PI * 0.25))));
    REQUIRE_THROWS_WITH((cosine_schedule{0.0, 2.0}.validate()), Catch::Contains("final_sparsity must be in [0, 1]"));
}
