#include <catch2/catch.hpp>

#include <cstring>
#include <random>
#include <vector>

#include <nnprune/simd/dot.hpp>

TEST_CASE("simd dot: matches the scalar reference and dot4 matches dot bit for bit", "[simd][dot]") {
    const std::size_t n = GENERATE(std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{7}, std::size_t{8},
                                   std::size_t{9}, std::size_t{15}, std::size_t{17}, std::size_t{31}, std::size_t{1003});
    std::mt19937 rng(42);
    std::normal_distribution<float> g;
    std::vector<float> a(n), b(4 * n + 1);
    for (auto& v : a) v = g(rng);
    for (auto& v : b) v = g(rng);
    const float* rows[4] = {b.data(), b.data() + n, b.data() + 2 * n + 1, b.data() + 3 * n};
    float out[4];
    nnprune::simd::dot4(a.data(), rows, n, out);
    for (std::size_t c = 0; c < 4; ++c) {
        INFO("n=" << n << " c=" << c);
        const float one = nnprune::simd::dot(a.data(), rows[c], n);
        CHECK(std::memcmp(&one, &out[c], sizeof(float)) == 0);
        const float ref = nnprune::simd::reference::dot(a.data(), rows[c], n);
        CHECK(one == Approx(ref).epsilon(1e-5).margin(1e-4));
        float ref4[4];
        nnprune::simd::reference::dot4(a.data(), rows, n, ref4);
        CHECK(ref4[c] == ref);
    }
}
