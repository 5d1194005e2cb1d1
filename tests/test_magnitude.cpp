#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/core/element.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/magnitude.hpp>

using namespace nnprune;

TEST_CASE("magnitude_scorer: |w| for every element type and layout", "[scorers][magnitude]") {
    std::vector<float> w{-3.0f, 1.5f, 0.0f, -0.25f, 2.0f, -1.0f};
    auto l = test_util::make_layer("w", w, 2, 3);
    const auto s = score(magnitude, l);
    REQUIRE(s.values() == std::vector<float>{3.0f, 1.5f, 0.0f, 0.25f, 2.0f, 1.0f});
    const auto sq = score(magnitude_scorer{true}, l);
    REQUIRE(sq.values() == std::vector<float>{9.0f, 2.25f, 0.0f, 0.0625f, 4.0f, 1.0f});

    std::vector<float16> h;
    for (float x : w) h.emplace_back(x);
    layer lh{"h", matrix_view<const float16>(h.data(), 2, 3), {}, {}};
    REQUIRE(score(magnitude, lh).values() == s.values());

    // a transposed (strided) view: column-major storage of the same matrix
    std::vector<double> t{-3.0, -0.25, 1.5, 2.0, 0.0, -1.0};
    layer lt{"t", matrix_view<const double>(t.data(), {2, 3}, {1, 2}), {}, {}};
    REQUIRE(score(magnitude, lt).values() == s.values());
}

TEST_CASE("taylor_scorer: |w * g|, requires a gradient of the same shape", "[scorers][magnitude]") {
    std::vector<float> w{1.0f, -2.0f, 3.0f, -4.0f}, g{0.5f, 0.5f, -1.0f, 0.0f};
    auto l = test_util::make_layer("fc", w, 2, 2);
    REQUIRE_THROWS_WITH(score(taylor, l), Catch::Contains("taylor_scorer: layer 'fc' has no gradient"));
    l.gradient = matrix_view<const float>(g.data(), 2, 2);
    REQUIRE(score(taylor, l).values() == std::vector<float>{0.5f, 1.0f, 3.0f, 0.0f});
    std::vector<float> g3(3);
    l.gradient = vector_view<const float>(g3.data(), 3);
    REQUIRE_THROWS_WITH(score(taylor, l), Catch::Contains("layer 'fc': gradient has shape 3, weights have 2x2"));
}

TEST_CASE("magnitude prune: torch l1_unstructured rounding is half-even on n * s", "[scorers][magnitude]") {
    // 10 x 0.25 = 2.5 -> 2 ; 7 x 0.5 = 3.5 -> 4 ; ties: lower flat index pruned first
    std::vector<float> w10{5, 1, 1, 1, 9, 8, 7, 6, 4, 3};
    auto l10 = test_util::make_layer("a", w10, 1, 10);
    auto r = prune(std::span<const layer>(&l10, 1), magnitude, per_tensor{}, 0.25);
    REQUIRE(r.layers[0].kept == 8);
    REQUIRE_FALSE(r.masks[0].test(1));
    REQUIRE_FALSE(r.masks[0].test(2));
    REQUIRE(r.masks[0].test(3));  // the third tied 1 survives
    REQUIRE(r.layers[0].kth_score == 1.0);

    std::vector<float> w7{7, 6, 5, 4, 3, 2, 1};
    auto l7 = test_util::make_layer("b", w7, 1, 7);
    r = prune(std::span<const layer>(&l7, 1), magnitude, per_tensor{}, 0.5);
    REQUIRE(r.layers[0].kept == 3);
    REQUIRE(r.layers[0].sparsity == Approx(4.0 / 7.0));
}

TEST_CASE("magnitude prune: random data matches a slow stable-sort reference", "[scorers][magnitude]") {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
        auto w = test_util::tied_values(13 * 11, seed);
        auto l = test_util::make_layer("x", w, 13, 11);
        const double s = 0.37;
        prune_options o;
        o.round = rounding::truncate;
        auto r = prune(std::span<const layer>(&l, 1), magnitude, per_row{}, s, o);
        std::vector<float> a(w.size());
        for (std::size_t i = 0; i < w.size(); ++i) a[i] = std::fabs(w[i]);
        for (std::size_t row = 0; row < 13; ++row) {
            std::vector<std::size_t> idx;
            for (std::size_t j = 0; j < 11; ++j) idx.push_back(row * 11 + j);
            const auto want = test_util::slow_prune_lowest(a, idx, static_cast<std::size_t>(11 * s));  // int(11*0.37)=4
            for (auto i : idx) REQUIRE(r.masks[0].test(i) == !want[i]);
        }
    }
}
