#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include "simd_tiers.hpp"
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/wanda.hpp>

using namespace nnprune;

TEST_CASE("wanda: simd abs_mul matches its scalar twin on odd sizes, every tier", "[scorers][wanda][simd]") {
    for (std::size_t n : {0u, 1u, 3u, 7u, 8u, 9u, 15u, 16u, 17u, 31u, 33u, 101u, 1009u}) {
        auto w = test_util::values(n, 3 + n);
        const auto s = test_util::values(n, 9 + n);
        if (n > 2) w[2] = -0.0f;
        if (n > 4) w[4] = -std::numeric_limits<float>::infinity();
        if (n > 6) w[6] = -std::numeric_limits<float>::quiet_NaN();
        std::vector<float> want(n);
        simd::reference::abs_mul(w.data(), s.data(), want.data(), n);
        for (std::size_t j = 0; j < n && j < 2; ++j) REQUIRE(want[j] == std::fabs(w[j]) * s[j]);
        test_util::for_each_vector_tier([&](simd::isa) {
            std::vector<float> got(n, -1.0f);
            simd::abs_mul(w.data(), s.data(), got.data(), n);
            INFO("n=" << n);
            REQUIRE(test_util::bytes_of(got) == test_util::bytes_of(want));  // one multiply per element
        });
    }
}

TEST_CASE("wanda_scorer: |W_ij| * sqrt(stat_j), float32, any weight type", "[scorers][wanda]") {
    std::vector<float> w{1, -2, 3, -4, 5, -6};
    std::vector<float> stat{4, 9, 0.25f};
    auto l = test_util::make_layer("fc", w, 2, 3);
    REQUIRE_THROWS_WITH(score(wanda, l), Catch::Contains("wanda_scorer: layer 'fc' has no input statistic"));
    l.input_stat = vector_view<const float>(stat.data(), 3);
    REQUIRE(score(wanda, l).values() == std::vector<float>{2, 6, 1.5f, 8, 15, 3});
    std::vector<bfloat16> wb;
    for (float x : w) wb.emplace_back(x);
    layer lb{"fcb", matrix_view<const bfloat16>(wb.data(), 2, 3), vector_view<const float>(stat.data(), 3), {}};
    REQUIRE(score(wanda, lb).values() == std::vector<float>{2, 6, 1.5f, 8, 15, 3});
    std::vector<float> bad{1, 2};
    l.input_stat = vector_view<const float>(bad.data(), 2);
    REQUIRE_THROWS_WITH(score(wanda, l), Catch::Contains("layer 'fc': input statistic has 2 elements"));
}

TEST_CASE("wanda: per-row k = int(in * s) truncates (100 x 0.29 = 28), ties prune the lower column",
          "[scorers][wanda]") {
    std::vector<float> w(2 * 100), stat(100, 1.0f);
    for (std::size_t j = 0; j < 100; ++j) {
        w[j] = static_cast<float>(j + 1);
        w[100 + j] = 1.0f;  // row 1: all tied
    }
    auto l = test_util::make_layer("fc", w, 2, 100);
    l.input_stat = vector_view<const float>(stat.data(), 100);
    prune_options o;
    o.round = rounding::truncate;
    auto r = prune(std::span<const layer>(&l, 1), wanda, per_row{}, 0.29, o);
    REQUIRE(r.layers[0].kept == 2 * 72);
    for (std::size_t j = 0; j < 100; ++j) {
        REQUIRE(r.masks[0].test(j) == (j >= 28));
        REQUIRE(r.masks[0].test(100 + j) == (j >= 28));  // ties: columns 0..27 pruned
    }
    // half-even would give round(28.999...) = 29
    r = prune(std::span<const layer>(&l, 1), wanda, per_row{}, 0.29);
    REQUIRE(r.layers[0].kept == 2 * 71);
}

TEST_CASE("wanda: N:M naming, Wanda's 2:4 prunes 2 of every 4, 1:4 prunes 1", "[scorers][wanda]") {
    std::vector<float> w{4, 1, 3, 2, 8, 7, 5, 6}, stat(8, 1.0f);
    auto l = test_util::make_layer("fc", w, 1, 8);
    l.input_stat = vector_view<const float>(stat.data(), 8);
    const auto nm = wanda_n_of_m(2, 4);
    REQUIRE(nm.n == 2);
    REQUIRE(nm.m == 4);
    auto r = prune(std::span<const layer>(&l, 1), wanda, nm);
    REQUIRE(r.masks[0].to_bytes() == std::vector<std::uint8_t>{1, 0, 1, 0, 1, 1, 0, 0});
    r = prune(std::span<const layer>(&l, 1), wanda, wanda_n_of_m(1, 4));
    REQUIRE(r.masks[0].to_bytes() == std::vector<std::uint8_t>{1, 0, 1, 1, 1, 1, 0, 1});
    REQUIRE_THROWS_WITH(wanda_n_of_m(5, 4), Catch::Contains("wanda_n_of_m: need prune_n <= prune_m"));
    // in = 6 is not a multiple of 4: clear error, nothing written
    std::vector<float> w6(6, 1.0f), st6(6, 1.0f);
    auto l6 = test_util::make_layer("odd", w6, 1, 6);
    l6.input_stat = vector_view<const float>(st6.data(), 6);
    prune_options o;
    o.apply = true;
    REQUIRE_THROWS_WITH(prune(std::span<const layer>(&l6, 1), wanda, wanda_n_of_m(2, 4), o),
                        Catch::Contains("layer 'odd': N:M groups of m=4 along rows of 6 elements"));
    REQUIRE(w6 == std::vector<float>(6, 1.0f));
}

TEST_CASE("gblm_scorer: |W| * (sqrt(stat) + |G|) and the inverse form", "[scorers][wanda]") {
    std::vector<float> w{2, -1}, stat{4, 1}, g{-3, 0.5f};
    auto l = test_util::make_layer("fc", w, 1, 2);
    l.input_stat = vector_view<const float>(stat.data(), 2);
    REQUIRE_THROWS_WITH(score(gblm, l), Catch::Contains("gblm_scorer: layer 'fc' has no gradient"));
    l.gradient = matrix_view<const float>(g.data(), 1, 2);
    REQUIRE(score(gblm, l).values() == std::vector<float>{2 * (2 + 3), 1 * (1 + 0.5f)});
    const auto inv = score(gblm_scorer{true}, l).values();
    REQUIRE(inv[0] == Approx(4.0f / 3.0f));
    REQUIRE(inv[1] == Approx(2.0f));
}
