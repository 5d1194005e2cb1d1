#include <cstring>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "simd_tiers.hpp"
#include <nnprune/simd/gram.hpp>

TEST_CASE("simd gram: every tier bit-identical to its scalar twin and to simd::dot, symmetric", "[simd][gram]") {
    // rows: 0, 1, tile-1..tile+1 (tiles of 3 or 5), over column blocks (18 or 20);
    // row lengths: 0, 1, lane-1, lane+1, primes, not a multiple of the lane count
    const std::size_t rows = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{4}, std::size_t{5},
                                      std::size_t{6}, std::size_t{11}, std::size_t{47}, std::size_t{83});
    const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{15}, std::size_t{16},
                                   std::size_t{17}, std::size_t{31}, std::size_t{97}, std::size_t{1031},
                                   std::size_t{4099});  // over two length chunks of 2048
    if (rows * rows * n > 3'000'000) return;            // keep the suite fast
    const std::size_t stride = n + 3;                   // unaligned rows
    std::mt19937 rng(static_cast<unsigned>(7 * rows + n));
    std::normal_distribution<float> g;
    std::vector<float> x(rows * stride + 1);
    for (auto& v : x) v = g(rng);
    const std::size_t ldo = rows + 2;
    std::vector<float> twin(rows * ldo, -7.0f);
    nnprune::simd::reference::gram(x.data(), rows, n, stride, twin.data(), ldo);
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        std::vector<float> got(rows * ldo, -7.0f);
        nnprune::simd::gram(x.data(), rows, n, stride, got.data(), ldo);
        for (std::size_t i = 0; i < rows; ++i)
            for (std::size_t j = 0; j < rows; ++j) {
                INFO("rows=" << rows << " n=" << n << " i=" << i << " j=" << j);
                const float one = nnprune::simd::dot(x.data() + i * stride, x.data() + j * stride, n);
                REQUIRE(std::memcmp(&one, &got[i * ldo + j], sizeof(float)) == 0);
                REQUIRE(std::memcmp(&got[j * ldo + i], &got[i * ldo + j], sizeof(float)) == 0);
                REQUIRE(std::memcmp(&twin[i * ldo + j], &got[i * ldo + j], sizeof(float)) == 0);
            }
        for (std::size_t i = 0; i < rows; ++i)  // the padding columns of out are untouched
            for (std::size_t j = rows; j < ldo; ++j) REQUIRE(got[i * ldo + j] == -7.0f);
    });
}

TEST_CASE("simd gram: over several row panels and column blocks", "[simd][gram]") {
    const std::size_t rows = 1201, n = 37;  // 1201 > 2 row panels of 600, prime
    std::mt19937 rng(3);
    std::normal_distribution<float> g;
    std::vector<float> x(rows * n);
    for (auto& v : x) v = g(rng);
    test_util::for_each_vector_tier([&](nnprune::simd::isa) {
        std::vector<float> got(rows * rows);
        nnprune::simd::gram(x.data(), rows, n, n, got.data(), rows);
        std::size_t differ = 0;  // counted, not asserted pair by pair (1.4 M pairs)
        for (std::size_t i = 0; i < rows; ++i)
            for (std::size_t j = 0; j < rows; ++j) {
                const float one = nnprune::simd::reference::dot(x.data() + i * n, x.data() + j * n, n);
                differ += std::memcmp(&one, &got[i * rows + j], sizeof(float)) != 0;
            }
        CHECK(differ == 0);
    });
}
