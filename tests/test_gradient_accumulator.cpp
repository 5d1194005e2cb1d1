#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

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
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const float>(g1.data(), 1, 4)),
                        Catch::Contains("gradient has shape 1x4, accumulator has 2x2"));
    g1[2] = NAN;
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const float>(g1.data(), 2, 2)),
                        Catch::Contains("NaN or Inf at flat index 2"));
    REQUIRE(acc.values() == std::vector<float>{0, 2.5f, 3, 5});
}

TEST_CASE("gblm_gradient_accumulator: l2 of g * scale over samples, sqrt at the end",
          "[calibration][gradient_accumulator]") {
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

namespace {
// Round a non-negative float to the nearest fp16 by searching the table of every finite fp16
// value (ties to the even bit pattern, >= 65520 to +Inf): independent of core/element.hpp's rounding.
float slow_fp16_round(float x) {
    static const std::vector<std::pair<float, std::uint16_t>> table = [] {
        std::vector<std::pair<float, std::uint16_t>> t;
        for (std::uint32_t b = 0; b < 0x7C00u; ++b)  // +0 .. 65504, increasing with the bits
            t.emplace_back(static_cast<float>(float16::from_bits(static_cast<std::uint16_t>(b))),
                           static_cast<std::uint16_t>(b));
        return t;
    }();
    if (x >= 65520.0f) return INFINITY;
    const auto hi = std::lower_bound(table.begin(), table.end(), x, [](const auto& e, float v) { return e.first < v; });
    if (hi->first == x || hi == table.begin()) return hi->first;
    const auto lo = hi - 1;
    const double dl = static_cast<double>(x) - lo->first, dh = static_cast<double>(hi->first) - x;
    if (dl < dh) return lo->first;
    if (dh < dl) return hi->first;
    return (lo->second & 1u) ? hi->first : lo->first;
}
}  // namespace

TEST_CASE("gblm_gradient_accumulator: l1 += |g * scale| accumulated in fp16 matches a slow scalar loop",
          "[calibration][gradient_accumulator][gblm]") {
    const std::size_t n = 37;
    gblm_gradient_accumulator acc(shape{n}, 100.0f, true, true);
    REQUIRE(acc.tracks_l1());
    REQUIRE_THROWS_WITH(acc.gradient_l1(),
                        Catch::Contains("gblm_gradient_accumulator::gradient_l1: statistics from zero samples"));
    std::mt19937_64 rng(4);
    std::vector<float> slow(n, 0.0f), f32(n, 0.0f);
    for (int sample = 0; sample < 60; ++sample) {
        std::vector<float16> g(n);  // the model is fp16: so are its gradients
        for (auto& x : g) {
            const double mag = std::ldexp(static_cast<double>(rng() % 1000) / 1000.0, -static_cast<int>(rng() % 8));
            x = float16((rng() & 1) ? mag : -mag);
        }
        acc.add(vector_view<const float16>(g.data(), n));
        for (std::size_t i = 0; i < n; ++i) {
            const float a = std::fabs(static_cast<float>(g[i]) * 100.0f);
            slow[i] = slow_fp16_round(slow[i] + a);
            f32[i] += a;
        }
    }
    const auto l1 = acc.gradient_l1();
    REQUIRE(l1.dtype() == dtype::f16);
    REQUIRE(l1.shape() == shape{n});
    const auto v = l1.as<const float16, 1>();
    std::size_t differ = 0;
    for (std::size_t i = 0; i < n; ++i) {
        INFO("element " << i);
        CHECK(static_cast<float>(v(i)) == slow[i]);
        CHECK(static_cast<float>(acc.sum_abs()[i]) == slow[i]);
        differ += static_cast<float>(v(i)) != f32[i];
    }
    CHECK(differ > n / 2);  // an fp16 running sum is not a float32 sum rounded once
}

TEST_CASE("gblm_gradient_accumulator: fp16 l1 known answers (2048 + 1 stays 2048, overflow to Inf)",
          "[calibration][gradient_accumulator][gblm]") {
    gblm_gradient_accumulator acc(shape{3}, 1.0f, true, true);
    std::vector<float> first{2048.0f, 2048.0f, 65504.0f};
    acc.add(vector_view<const float>(first.data(), 3));
    std::vector<float> ones{-1.0f, 3.0f, 15.0f};
    acc.add(vector_view<const float>(ones.data(), 3));
    // 2049 ties between 2048 and 2050: even -> 2048; 2051 ties between 2050 and 2052: even -> 2052;
    // 65519 rounds down to 65504
    CHECK(static_cast<float>(acc.sum_abs()[0]) == 2048.0f);
    CHECK(static_cast<float>(acc.sum_abs()[1]) == 2052.0f);
    CHECK(static_cast<float>(acc.sum_abs()[2]) == 65504.0f);
    for (int k = 0; k < 10; ++k) acc.add(vector_view<const float>(ones.data(), 3));  // + 1 ten times: still 2048
    CHECK(static_cast<float>(acc.sum_abs()[0]) == 2048.0f);                          // (a float32 sum: 2059)
    std::vector<float> more{0.0f, 0.0f, 16.0f};
    acc.add(vector_view<const float>(more.data(), 3));  // 65504 + 16 = 65520: the midpoint to Inf
    CHECK(std::isinf(static_cast<float>(acc.sum_abs()[2])));
    CHECK(acc.sum_squares()[0] == 2048.0f * 2048.0f + 11.0f);  // l2 stays float32

    gblm_gradient_accumulator plain(shape{3});
    CHECK_FALSE(plain.tracks_l1());
    CHECK(plain.sum_abs().empty());
    plain.add(vector_view<const float>(ones.data(), 3));
    REQUIRE_THROWS_WITH(plain.gradient_l1(),
                        Catch::Contains("gblm_gradient_accumulator::gradient_l1: constructed without track_l1"));
}
