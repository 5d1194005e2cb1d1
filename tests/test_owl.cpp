#include <cmath>
#include <span>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/allocation/owl.hpp>
#include <nnprune/prune/prune.hpp>
#include <nnprune/scorers/wanda.hpp>

using namespace nnprune;

TEST_CASE("owl_outlier_ratio: 100 * #{S > M * mean} / numel", "[allocation][owl]") {
    std::vector<float> a{1, 1, 1, 1, 1, 1, 1, 1, 1, 11};  // mean 2 ; M = 5 -> thr 10 -> 1 outlier of 10
    const std::span<const float> parts[] = {a};
    REQUIRE(owl_outlier_ratio(parts, 5.0) == 10.0);
    REQUIRE(owl_outlier_ratio(parts, 6.0) == 0.0);
    std::vector<float> b{2, 2};  // concatenated with a: mean 24/12 = 2 -> still 1 outlier of 12
    const std::span<const float> two[] = {a, b};
    REQUIRE(owl_outlier_ratio(two, 5.0) == Approx(100.0 / 12.0));
}

TEST_CASE("owl_layer_sparsities: the upstream formula by hand", "[allocation][owl]") {
    // D = {1, 3, 5}: r = (D - 1) / 4 * 2 * 0.1 = {0, 0.1, 0.2} ; - mean(0.1) + 0.5 = {0.4, 0.5, 0.6} ; s = 1 - r
    const std::vector<double> d{1, 3, 5};
    const auto s = owl_layer_sparsities(d, 0.5, 0.1);
    REQUIRE(s[0] == Approx(0.6));
    REQUIRE(s[1] == Approx(0.5));
    REQUIRE(s[2] == Approx(0.4));
    // mean sparsity is the target
    REQUIRE((s[0] + s[1] + s[2]) / 3 == Approx(0.5));
    // s <= 0 becomes 0.01
    const auto t = owl_layer_sparsities(d, 0.05, 0.2);  // r = {0, .2, .4} - .2 + .95 = {.75, .95, 1.15}
    REQUIRE(t[2] == 0.01);
    const std::vector<double> same{2, 2};
    REQUIRE_THROWS_WITH(owl_layer_sparsities(same, 0.5, 0.08), Catch::Contains("max D = min D divides by zero"));
}

TEST_CASE("owl allocation in prune(): blocks with more outliers are pruned less", "[allocation][owl]") {
    const std::size_t rows = 4, cols = 20;
    auto w0 = test_util::values(rows * cols, 1), w1 = test_util::values(rows * cols, 2),
         w2 = test_util::values(rows * cols, 3);
    for (std::size_t i = 0; i < w1.size(); i += 7) w1[i] = 50.0f;  // block 1 has many outliers
    std::vector<float> stat(cols, 1.0f);
    std::vector<layer> L{test_util::make_layer("b0.q", w0, rows, cols), test_util::make_layer("b0.k", w2, rows, cols),
                         test_util::make_layer("b1.q", w1, rows, cols)};
    for (auto& l : L) l.input_stat = vector_view<const float>(stat.data(), cols);
    prune_options o;
    o.round = rounding::truncate;
    const auto r = prune(L, wanda, per_row{}, owl{0.5, 3.0, 0.08, {0, 0, 1}}, o);
    REQUIRE(r.layers[0].target == r.layers[1].target);  // same block, same sparsity
    REQUIRE(r.layers[2].target < r.layers[0].target);
    REQUIRE((r.layers[0].target + r.layers[2].target) / 2 == Approx(0.5));
    REQUIRE(r.layers[0].kept ==
            rows * (cols - static_cast<std::size_t>(static_cast<double>(cols) * r.layers[0].target)));
}
