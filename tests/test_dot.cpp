#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "simd_tiers.hpp"
#include <nnprune/simd/dot.hpp>

namespace {
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }
}  // namespace

TEST_CASE("simd dot: the scalar twin sums in the documented order", "[simd][dot]") {
    // 16 lane sums folded in halves, then the fused tail: written out for n = 35
    std::mt19937 rng(5);
    std::normal_distribution<float> g;
    std::vector<float> a(35), b(35);
    for (auto& v : a) v = g(rng);
    for (auto& v : b) v = g(rng);
    float lane[16];
    for (std::size_t l = 0; l < 16; ++l) lane[l] = std::fma(a[l + 16], b[l + 16], std::fma(a[l], b[l], 0.0f));
    float h8[8], h4[4], h2[2];
    for (std::size_t l = 0; l < 8; ++l) h8[l] = lane[l] + lane[l + 8];
    for (std::size_t l = 0; l < 4; ++l) h4[l] = h8[l] + h8[l + 4];
    for (std::size_t l = 0; l < 2; ++l) h2[l] = h4[l] + h4[l + 2];
    float s = h2[0] + h2[1];
    for (std::size_t i = 32; i < 35; ++i) s = std::fma(a[i], b[i], s);
    REQUIRE(same_bits(nnprune::simd::reference::dot(a.data(), b.data(), 35), s));
}

TEST_CASE("simd dot: every tier equals the scalar twin bit for bit, and dot4 equals dot", "[simd][dot]") {
    const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{8},
                                   std::size_t{9}, std::size_t{15}, std::size_t{16}, std::size_t{17}, std::size_t{31},
                                   std::size_t{33}, std::size_t{1003});
    std::mt19937 rng(42);
    std::normal_distribution<float> g;
    std::vector<float> a(n), b(4 * n + 1);
    for (auto& v : a) v = g(rng);
    for (auto& v : b) v = g(rng);
    if (n > 20) b[3 * n + 20] = std::numeric_limits<float>::infinity();  // row 3: Inf
    if (n > 9) b[2 * n + 1 + 9] = -0.0f;
    const float* rows[4] = {b.data(), b.data() + n, b.data() + 2 * n + 1, b.data() + 3 * n};
    float ref[4];
    nnprune::simd::reference::dot4(a.data(), rows, n, ref);
    for (std::size_t c = 0; c < 4; ++c) REQUIRE(same_bits(ref[c], nnprune::simd::reference::dot(a.data(), rows[c], n)));
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        float out[4];
        nnprune::simd::dot4(a.data(), rows, n, out);
        for (std::size_t c = 0; c < 4; ++c) {
            INFO("n=" << n << " c=" << c);
            const float one = nnprune::simd::dot(a.data(), rows[c], n);
            CHECK(same_bits(one, ref[c]));
            CHECK(same_bits(out[c], ref[c]));
        }
    });
}
