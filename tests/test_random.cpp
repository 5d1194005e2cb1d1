#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/scorers/random.hpp>

using namespace nnprune;

TEST_CASE("random_scorer: splitmix64 known values, reproducible, per-name streams", "[scorers][random]") {
    splitmix64 g(1234567);
    REQUIRE(g() == 6457827717110365317ull);  // published splitmix64 test vector for seed 1234567
    REQUIRE(g() == 3203168211198807973ull);
    std::vector<float> w(20, 1.0f);
    auto a = test_util::make_layer("a", w, 4, 5), b = test_util::make_layer("b", w, 4, 5);
    const auto s1 = score(random_scorer{7}, a).values(), s2 = score(random_scorer{7}, a).values();
    REQUIRE(s1 == s2);
    REQUIRE(score(random_scorer{8}, a).values() != s1);
    REQUIRE(score(random_scorer{7}, b).values() != s1);
    for (float v : s1) {
        REQUIRE(v >= 0.0f);
        REQUIRE(v < 1.0f);
    }
}
