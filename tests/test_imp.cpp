#include <cmath>

#include <catch2/catch.hpp>

#include <nnprune/schedules/imp.hpp>

using namespace nnprune;

TEST_CASE("imp_rate: p = 1 - (1 - s)^(1/R)", "[schedules][imp]") {
    REQUIRE(imp_rate(0.9, 10) == Approx(0.20567).epsilon(1e-4));
    REQUIRE(std::pow(1 - imp_rate(0.9, 10), 10) == Approx(0.1));
    REQUIRE_THROWS_WITH(imp_rate(0.9, 0), Catch::Contains("rounds must be > 0"));
    REQUIRE_THROWS_WITH(imp_rate(1.2, 3), Catch::Contains("target must be in [0, 1]"));
}

TEST_CASE("imp_schedule: one target per round", "[schedules][imp]") {
    const imp_schedule s{0.9, 10, 100, 0};
    REQUIRE(s.should_prune(0));
    REQUIRE_FALSE(s.should_prune(50));
    REQUIRE(s.should_prune(900));
    REQUIRE_FALSE(s.should_prune(1000));  // only 10 rounds
    const double p = imp_rate(0.9, 10);
    REQUIRE(s(0) == Approx(p));
    REQUIRE(s(150) == Approx(1 - (1 - p) * (1 - p)));
    REQUIRE(s(5000) == 0.9);
}
