#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <numeric>
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

TEST_CASE("lamp_scorer: bit-identical to the textbook stable sort of w^2 (ties, signs, zeros)", "[scorers][lamp]") {
    // the reference: indices stably sorted by u = w^2 in double, suffix sums from the largest
    auto reference = [](const std::vector<float>& w) {
        std::vector<double> u(w.size());
        for (std::size_t i = 0; i < w.size(); ++i) u[i] = static_cast<double>(w[i]) * static_cast<double>(w[i]);
        std::vector<std::size_t> idx(w.size());
        std::iota(idx.begin(), idx.end(), std::size_t{0});
        std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) { return u[a] < u[b]; });
        std::vector<float> out(w.size());
        double suffix = 0.0;
        for (std::size_t t = w.size(); t-- > 0;) {
            suffix += u[idx[t]];
            out[idx[t]] = static_cast<float>(u[idx[t]] / suffix);
        }
        return out;
    };
    for (const std::size_t cols : {1u, 7u, 64u, 301u}) {
        auto w = test_util::values(13 * cols, static_cast<unsigned>(cols));
        for (std::size_t i = 0; i < w.size(); ++i) {
            if (i % 3 == 0) w[i] = std::round(w[i] * 4.0f) / 4.0f;  // ties, of both signs
            if (i % 17 == 0) w[i] = (i % 2) ? -0.0f : 0.0f;
            if (i % 29 == 0) w[i] = 1e-42f;  // subnormal
        }
        auto l = test_util::make_layer("x", w, 13, cols);
        const auto s = score(lamp, l).values();
        const auto r = reference(w);
        REQUIRE(s.size() == r.size());
        for (std::size_t i = 0; i < r.size(); ++i)
            REQUIRE(std::bit_cast<std::uint32_t>(s[i]) == std::bit_cast<std::uint32_t>(r[i]));
    }
}
