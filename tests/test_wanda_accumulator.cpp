#include <cmath>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "prune_test_util.hpp"
#include "simd_tiers.hpp"
#include <nnprune/calibration/wanda_accumulator.hpp>
#include <nnprune/core/element.hpp>

using namespace nnprune;

TEST_CASE("wanda_accumulator: simd add_squares matches its scalar twin bit for bit on every tier",
          "[calibration][wanda_accumulator][simd]") {
    for (std::size_t n : {0u, 1u, 3u, 7u, 8u, 9u, 15u, 16u, 17u, 31u, 97u, 1009u}) {
        auto x = test_util::values(n, n + 1);
        if (n > 3) x[3] = -0.0f;
        if (n > 5) x[5] = std::numeric_limits<float>::infinity();
        if (n > 7) x[7] = std::numeric_limits<float>::quiet_NaN();
        std::vector<float> b(n, 0.5f);
        for (std::size_t j = 0; j < n; ++j) b[j] = 0.5f + 1e-3f * static_cast<float>(j);
        const auto a0 = b;
        simd::reference::add_squares(x.data(), b.data(), n);
        for (std::size_t j = 0; j < n && j < 3; ++j) REQUIRE(b[j] == std::fma(x[j], x[j], a0[j]));  // one rounding
        test_util::for_each_vector_tier([&](simd::isa) {
            auto a = a0;
            simd::add_squares(x.data(), a.data(), n);
            INFO("n=" << n);
            REQUIRE(test_util::bytes_of(a) == test_util::bytes_of(b));
        });
    }
}

TEST_CASE("wanda_accumulator: the reference's per-call update (sequence-count mean)",
          "[calibration][wanda_accumulator]") {
    const std::size_t in = 5, T = 3;
    wanda_accumulator acc(in);
    REQUIRE_THROWS_WITH(acc.stat(), Catch::Contains("statistics from zero samples"));
    // slow reference, literally the upstream code in float32
    std::vector<float> ref(in, 0.0f);
    std::uint64_t n = 0;
    for (std::uint64_t call = 0; call < 4; ++call) {
        const std::uint64_t B = call == 2 ? 2 : 1;  // one call with a batch of 2 sequences
        auto x = test_util::values(B * T * in, 100 + call);
        if (B == 1)
            acc.add(matrix_view<const float>(x.data(), T, in));
        else
            acc.add(tensor_view<const float, 3>(x.data(), B, T, in));
        const auto ratio = static_cast<float>(static_cast<double>(n) / static_cast<double>(n + B));
        n += B;
        for (std::size_t j = 0; j < in; ++j) {
            double ss = 0;
            for (std::size_t t = 0; t < B * T; ++t) ss += static_cast<double>(x[t * in + j]) * x[t * in + j];
            const float norm = std::sqrt(static_cast<float>(ss));
            ref[j] = ref[j] * ratio + norm * norm / static_cast<float>(n);
        }
    }
    REQUIRE(acc.samples() == 5);
    for (std::size_t j = 0; j < in; ++j) REQUIRE(acc.values()[j] == Approx(ref[j]).epsilon(1e-6));
}

TEST_CASE("wanda_accumulator: equals sum of x^2 over all tokens / number of sequences",
          "[calibration][wanda_accumulator]") {
    const std::size_t in = 7, T = 300;  // > 256 tokens: exercises the blocked partial sums
    wanda_accumulator acc(in);
    std::vector<double> sum(in, 0.0);
    for (int c = 0; c < 3; ++c) {
        auto x = test_util::values(T * in, 7 + static_cast<std::uint64_t>(c));
        std::vector<float16> h;
        for (float v : x) h.emplace_back(v);
        acc.add(matrix_view<const float16>(h.data(), T, in));  // fp16 activations
        for (std::size_t i = 0; i < h.size(); ++i)
            sum[i % in] += static_cast<double>(static_cast<float>(h[i])) * static_cast<float>(h[i]);
    }
    for (std::size_t j = 0; j < in; ++j) REQUIRE(acc.values()[j] == Approx(sum[j] / 3.0).epsilon(1e-5));
}

TEST_CASE("wanda_accumulator: bad batches throw and change nothing", "[calibration][wanda_accumulator]") {
    wanda_accumulator acc(4);
    std::vector<float> x(8, 1.0f);
    acc.add(matrix_view<const float>(x.data(), 2, 4));
    const std::vector<float> before(acc.values().begin(), acc.values().end());
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const float>(x.data(), 4, 2)),
                        Catch::Contains("wanda_accumulator::add: batch 4x2 has 2 features, the accumulator has 4"));
    REQUIRE_THROWS_WITH(acc.add(vector_view<const float>(x.data(), 8)),
                        Catch::Contains("must be [T, in] or [B, T, in]"));
    x[5] = std::nanf("");
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const float>(x.data(), 2, 4)),
                        Catch::Contains("NaN or Inf") && Catch::Contains("at flat index 5"));
    // in a later block of 256 tokens, in a converted (fp64) batch
    std::vector<double> big(600 * 4, 0.5);
    big[4 * 300 + 2] = -INFINITY;
    REQUIRE_THROWS_WITH(acc.add(matrix_view<const double>(big.data(), 600, 4)), Catch::Contains("at flat index 1202"));
    REQUIRE(std::vector<float>(acc.values().begin(), acc.values().end()) == before);
    REQUIRE(acc.samples() == 1);
}
