#include <catch2/catch.hpp>

#include <nnprune/schedules/schedule.hpp>

using namespace nnprune;

TEST_CASE("constant_schedule and cadence", "[schedules][schedule]") {
    constexpr constant_schedule once{0.7};
    static_assert(once(0) == 0.7 && once(1000) == 0.7);
    REQUIRE(once.should_prune(0));
    REQUIRE_FALSE(once.should_prune(1));
    constexpr cadence every{10, -1, 5};
    static_assert(every.should_prune(10) && every.should_prune(1000) && !every.should_prune(12) &&
                  !every.should_prune(5));
    REQUIRE_THROWS_WITH((constant_schedule{1.5}.validate()), Catch::Contains("sparsity must be in [0, 1], got 1.5"));
}
