#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/scorers/lamp.hpp>

using namespace nnprune;

TEST_CASE("lamp_scorer: u_t / sum_{s >= t} u_s by hand", "[scorers][lamp]") {
    std::vector<float> w{-3, 1, 0, 2};  // w^2 = 9 1 0 4 ; ascending 0 1 4 9 ; suffix 14 14 13 9
    auto l = test_util::make_layer("c", w, 2, 2);
    const auto s = score(lamp, l).values();
    REQUIRE(s[0] == 1.0f);
    REQUIRE(s[1] == Approx(1.0 / 14.0));
    REQUIRE(s[2] == 0.0f);
    REQUIRE(s[3] == Approx(4.0 / 13.0));
}

TEST_CASE("lamp_scorer: ties get increasing scores in flat-index order; all-zero layer is NaN", "[scorers][lamp]") {
    std::vector<float> w{1, 1, 1};  // ascending stable: idx 0,1,2 -> 1/3, 1/2, 1
    auto l = test_util::make_layer("t", w, 1, 3);
    const auto s = score(lamp, l).values();
    REQUIRE(s[0] == Approx(1.0 / 3.0));
    REQUIRE(s[1] == Approx(0.5));
    REQUIRE(s[2] == 1.0f);
    std::vector<float> z(4, 0.0f);
    auto lz = test_util::make_layer("z", z, 2, 2);
    const auto sz = score(lamp, lz);
    for (float v : sz.values()) REQUIRE(std::isnan(v));
}

TEST_CASE("lamp_scorer: monotone in |w| inside a layer (random)", "[scorers][lamp]") {
    auto w = test_util::values(17 * 5, 11);
    auto l = test_util::make_layer("r", w, 17, 5);
    const auto s = score(lamp, l).values();
    for (std::size_t a = 0; a < w.size(); ++a)
        for (std::size_t b = 0; b < w.size(); ++b)
            if (std::fabs(w[a]) < std::fabs(w[b])) REQUIRE(s[a] <= s[b]);
}
