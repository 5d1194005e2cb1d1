#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include <nnprune/calibration/flap_accumulator.hpp>

using namespace nnprune;

TEST_CASE("flap_accumulator: the upstream update with the alias quirk, by hand", "[calibration][flap_accumulator]") {
    flap_accumulator acc(1);
    // call 1: x = {1, 3} -> mu = 2, fluc = 0 (discarded), s = 10
    std::vector<float> x1{1, 3}, x2{5, 7};
    acc.add(matrix_view<const float>(x1.data(), 2, 1));
    REQUIRE(acc.mean()[0] == 2.0f);
    REQUIRE(acc.fluctuation()[0] == 0.0f);
    REQUIRE(acc.squares()[0] == 10.0f);
    // call 2 (n = 1, B = 1): mu = 2/2 + 6/2 = 4 ; fluc = 0 * 0/1 + ((5-4)^2 + (7-4)^2) / 2 = 5
    // (true Welford would use (x - 4)(x - 2): (3 + 15) / 2 = 9) ; s = 10/2 + 74/2 = 42
    acc.add(matrix_view<const float>(x2.data(), 2, 1));
    REQUIRE(acc.mean()[0] == 4.0f);
    REQUIRE(acc.fluctuation()[0] == 5.0f);
    REQUIRE(acc.squares()[0] == 42.0f);
    REQUIRE(acc.samples() == 2);
}

TEST_CASE("flap_accumulator: slow literal reference over several calls", "[calibration][flap_accumulator]") {
    const std::size_t C = 6, T = 4;
    flap_accumulator acc(C);
    std::vector<double> mu(C, 0), fl(C, 0), s(C, 0);
    double n = 0;
    for (int call = 0; call < 5; ++call) {
        auto x = test_util::values(T * C, 50 + static_cast<std::uint64_t>(call));
        acc.add(matrix_view<const float>(x.data(), T, C));
        for (std::size_t j = 0; j < C; ++j) {
            double m = 0, q = 0;
            for (std::size_t t = 0; t < T; ++t) {
                m += x[t * C + j];
                q += static_cast<double>(x[t * C + j]) * x[t * C + j];
            }
            mu[j] = mu[j] * n / (n + 1) + (m / T) / (n + 1);
            if (n == 0)
                fl[j] = 0;
            else {
                double d = 0;
                for (std::size_t t = 0; t < T; ++t) d += (x[t * C + j] - mu[j]) * (x[t * C + j] - mu[j]);
                fl[j] = fl[j] * (n - 1) / n + d / (n + 1);
            }
            s[j] = s[j] * n / (n + 1) + q / (n + 1);
        }
        n += 1;
    }
    for (std::size_t j = 0; j < C; ++j) {
        REQUIRE(acc.mean()[j] == Approx(mu[j]).epsilon(1e-5).margin(1e-6));
        REQUIRE(acc.fluctuation()[j] == Approx(fl[j]).epsilon(1e-5));
        REQUIRE(acc.squares()[j] == Approx(s[j]).epsilon(1e-5));
    }
}

TEST_CASE("flap_accumulator: bad input throws and changes nothing", "[calibration][flap_accumulator]") {
    flap_accumulator acc(2);
    std::vector<float> x{1, 2, 3, 4};
    acc.add(matrix_view<const float>(x.data(), 2, 2));
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const float>(x.data(), 1, 4)),
                        Catch::Contains("has 4 channels, the accumulator has 2"));
    x[3] = INFINITY;
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const float>(x.data(), 2, 2)),
                        Catch::Contains("NaN or Inf at flat index 3"));
    REQUIRE(acc.samples() == 1);
    REQUIRE(acc.mean()[1] == 3.0f);
}
