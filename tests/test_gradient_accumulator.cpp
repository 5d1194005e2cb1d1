#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <nnprune/calibration/gradient_accumulator.hpp>
#include <nnprune/core/element.hpp>

using namespace nnprune;

TEST_CASE("gradient_accumulator: sums gradients, rejects bad ones untouched", "[calibration][gradient_accumulator]") {
    gradient_accumulator acc(shape{2, 2});
    REQUIRE_THROWS_WITH(acc.gradient(), Catch::Contains("statistics from zero samples"));
    std::vector<float> g1{1, 2, 3, 4}, g2{-1, 0.5f, 0, 1};
    acc.add(matrix_view<const float>(g1.data(), 2, 2));
    acc.add(matrix_view<const float>(g2.data(), 2, 2));
    REQUIRE(acc.values() == std::vector<float>{0, 2.5f, 3, 5});
    REQUIRE(acc.gradient().shape() == shape{2, 2});
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const float>(g1.data(), 1, 4)), Catch::Contains("gradient has shape 1x4, accumulator has 2x2"));
    g1[2] = NAN;
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const float>(g1.data(), 2, 2)), Catch::Contains("NaN or Inf at flat index 2"));
    REQUIRE(acc.values() == std::vector<float>{0, 2.5f, 3, 5});
}

TEST_CASE("gblm_gradient_accumulator: l2 of g * scale over samples, sqrt at the end", "[calibration][gradient_accumulator]") {
    gblm_gradient_accumulator acc(shape{3}, 100.0f, false);
    std::vector<float> g1{0.03f, 0.0f, -0.01f}, g2{0.04f, 0.0f, 0.01f};
    acc.add(vector_view<const float>(g1.data(), 3));
    acc.add(vector_view<const float>(g2.data(), 3));
    const auto G = acc.gradient().as<const float, 1>();
    REQUIRE(G(0) == Approx(5.0f));  // sqrt(3^2 + 4^2)
    REQUIRE(G(1) == 0.0f);
    REQUIRE(G(2) == Approx(std::sqrt(2.0f)));
    gblm_gradient_accumulator h(shape{1});  // upstream saves fp16
    std::vector<float> g{0.0123456f};
    h.add(vector_view<const float>(g.data(), 1));
    const float v = h.gradient().as<const float, 1>()(0);
    REQUIRE(v == static_cast<float>(float16(std::sqrt((0.0123456f * 100.0f) * (0.0123456f * 100.0f)))));
}
