#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/scorers/flap.hpp>

using namespace nnprune;

namespace {
flap_accumulator two_calls() {
    flap_accumulator acc(2);
    std::vector<float> x1{1, 0, 3, 2}, x2{5, 2, 7, 2};  // [T=2, C=2]
    acc.add(matrix_view<const float>(x1.data(), 2, 2));
    acc.add(matrix_view<const float>(x2.data(), 2, 2));
    return acc;  // channel 0: mu 4, fluc 5, s 42 ; channel 1: mu 1.5, fluc ((2-1.5)^2*2)/2 = 0.25, s (4/2 + 8/2) = 6
}
}  // namespace

TEST_CASE("flap_metric: WIFV, IFV, WIFN and the attention square", "[scorers][flap]") {
    const auto acc = two_calls();
    REQUIRE(acc.fluctuation()[1] == 0.25f);
    std::vector<float> w{1, 2, -3, 4};  // W_out [2, 2]: column sums of squares 10, 20 ; mean |W| 2, 3
    const matrix_view<const float> wv(w.data(), 2, 2);
    REQUIRE(flap_metric(wv, acc) == std::vector<float>{50.0f, 5.0f});
    REQUIRE(flap_metric(wv, acc, flap_metric_kind::ifv) == std::vector<float>{5.0f, 0.25f});
    const auto wifn = flap_metric(wv, acc, flap_metric_kind::wifn);
    REQUIRE(wifn[0] == Approx(2.0 * std::sqrt(42.0)));
    REQUIRE(wifn[1] == Approx(3.0 * std::sqrt(6.0)));
    REQUIRE(flap_metric(wv, acc, flap_metric_kind::wifv, true) == std::vector<float>{2500.0f, 25.0f});
    std::vector<float> w3(6);
    REQUIRE_THROWS_WITH(flap_metric(matrix_view<const float>(w3.data(), 2, 3), acc),
                        Catch::Contains("W_out 2x3 has 3 input channels, the accumulator has 2"));
    REQUIRE_THROWS_WITH(flap_metric(wv, flap_accumulator(2)), Catch::Contains("statistics from zero samples"));
}

TEST_CASE("flap_standardize and head scores", "[scorers][flap]") {
    std::vector<float> x{1, 2, 3, 4};  // mean 2.5, unbiased std sqrt(5/3)
    flap_standardize(x);
    const double sd = std::sqrt(5.0 / 3.0);
    REQUIRE(x[0] == Approx(-1.5 / sd));
    REQUIRE(x[3] == Approx(1.5 / sd));
    const auto h = flap_head_scores(x, 2);
    REQUIRE(h.size() == 2);
    REQUIRE(h[0] == Approx(-1.0 / sd));
    REQUIRE_THROWS_WITH(flap_head_scores(x, 3), Catch::Contains("not a multiple of head_dim 3"));
    std::vector<float> bad{1, NAN, 2};
    flap_standardize(bad);  // upstream quirk: a NaN metric makes the whole layer NaN
    for (float v : bad) REQUIRE(std::isnan(v));
}

TEST_CASE("flap_bias: W_out[:, P] . fp16(mu[P])", "[scorers][flap]") {
    const auto acc = two_calls();  // mu = {4, 1.5}
    std::vector<float> w{1, 2, -3, 4};
    mask kept(shape{2});
    kept.set(0, false);  // channel 0 pruned
    const auto b = flap_bias(matrix_view<const float>(w.data(), 2, 2), acc, kept);
    REQUIRE(b == std::vector<float>{4.0f, -12.0f});
    mask wrong(shape{3});
    REQUIRE_THROWS_WITH(flap_bias(matrix_view<const float>(w.data(), 2, 2), acc, wrong),
                        Catch::Contains("channel mask has 3 elements"));
}

TEST_CASE("flap_bias: the mean is rounded to fp16 first (upstream .half())", "[scorers][flap]") {
    flap_accumulator acc(1);
    std::vector<float> x{0.1f, 0.1f};
    acc.add(matrix_view<const float>(x.data(), 2, 1));
    std::vector<float> w{1.0f};
    mask pruned_all(shape{1}, false);
    const auto b16 = flap_bias(matrix_view<const float>(w.data(), 1, 1), acc, pruned_all);
    REQUIRE(b16[0] == 0.0999755859375f);  // fp16(0.1)
    const auto b32 = flap_bias(matrix_view<const float>(w.data(), 1, 1), acc, pruned_all, false);
    REQUIRE(b32[0] == 0.1f);
}
